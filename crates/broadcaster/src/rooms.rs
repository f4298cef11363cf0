//! Rooms and who may use them. `camera:NAME` and `site:NAME` narrow a dashboard's alert feed;
//! `chat:SITE` is a site's chat (`chat:all` everyone's); `dm:A:B` is a private conversation of
//! two users; any other name is an open chat room. A user limited to some cameras may only use
//! the rooms of those cameras and of their sites: the same rule on REST history and WS join.

use crate::Hub;
use crate::auth::Claims;

/// Whether joining `room` narrows the alert feed.
pub(crate) fn is_feed_room(room: &str) -> bool {
    room.starts_with("camera:") || room.starts_with("site:")
}

/// Whether `user` is one of the two people of a well-formed `dm:A:B` room.
pub(crate) fn is_participant(room: &str, user: &str) -> bool {
    dm_pair(room).is_some_and(|(a, b)| a == user || b == user)
}

/// The two user names of a `dm:A:B` room (both valid user names).
fn dm_pair(room: &str) -> Option<(&str, &str)> {
    let (a, b) = room.strip_prefix("dm:")?.split_once(':')?;
    (crate::users::valid_user_name(a) && crate::users::valid_user_name(b)).then_some((a, b))
}

/// Whether `room` is a well-formed room name.
pub(crate) fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= 128
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c))
}

/// Why a room may not be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RoomRefusal {
    /// Not a room name.
    Malformed,
    /// Someone else's conversation, or a camera or site this user may not see.
    Forbidden,
}

/// Whether the user of `claims` may join `room` or read its history.
pub(crate) fn may_use(hub: &Hub, claims: &Claims, room: &str) -> Result<(), RoomRefusal> {
    if !valid_room(room) {
        return Err(RoomRefusal::Malformed);
    }
    if room.starts_with("dm:") {
        return if is_participant(room, &claims.sub) {
            Ok(())
        } else {
            Err(RoomRefusal::Forbidden)
        };
    }
    if let Some(camera) = room.strip_prefix("camera:") {
        return if claims.may_see(camera) {
            Ok(())
        } else {
            Err(RoomRefusal::Forbidden)
        };
    }
    let site = room
        .strip_prefix("site:")
        .or_else(|| room.strip_prefix("chat:").filter(|s| *s != "all"));
    match (site, hub.sites_of(claims)) {
        (Some(site), Some(mine)) if !mine.contains(site) => Err(RoomRefusal::Forbidden),
        _ => Ok(()),
    }
}

/// Whether a chat message of `room` reaches a connection of `user` that joined `rooms`.
pub(crate) fn reaches(rooms: &std::collections::HashSet<String>, user: &str, room: &str) -> bool {
    rooms.contains(room) || is_participant(room, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert!(valid_room("camera:lobby-1") && valid_room("site:hq") && valid_room("ops"));
        assert!(!valid_room("") && !valid_room("a b") && !valid_room(&"x".repeat(200)));
        assert!(is_participant("dm:ann:bob", "bob"));
        assert!(
            !is_participant("dm:admin:bob:yardop", "bob"),
            "three names is no dm room"
        );
        assert!(!is_participant("dm:ann", "ann"));
    }
}
