//! What one dashboard connection may see and do, whatever its wire format: fightwatch's own
//! WebSocket protocol (`ws.rs`) and Socket.IO (`socketio/`) both [`admit`] a connection the
//! same way, keep a [`View`] per connection and run client messages through [`prepare`] and
//! [`execute`], so the two answer alike and share the same limits.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use fightwatch_protocol::{AlertUpdate, ClientMessage, ServerMessage};

use crate::auth::Claims;
use crate::hub::Hub;
use crate::rooms::is_feed_room;

/// Alerts a connection remembers for routing updates that do not name their camera (stored by
/// older versions); an update of an older alert then reaches unrestricted clients only.
const ROUTED_ALERTS: usize = 1024;

/// Why a dashboard connection was not admitted.
#[derive(Debug)]
pub(crate) enum NotAdmitted {
    /// A browser page of another site.
    Origin,
    /// No token, or one that is bad or revoked.
    Auth(crate::AuthError),
    /// `max_websockets` connections are open.
    Full,
    /// The client's address has `max_connections_per_ip` open.
    AddressFull,
}

/// The checks every dashboard connection passes, in this order: its `Origin`, its token (from
/// `token` or the request's header or cookie) and the token's session, the connections open
/// in all, then those of its address (`peer`; the slot is held while the connection lives).
pub(crate) async fn admit(
    hub: &Hub,
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::IpAddr>,
    token: Option<&str>,
) -> Result<(Claims, Option<crate::limits::Slot>), NotAdmitted> {
    if let Some(origin) = crate::guard::foreign_origin(hub, headers) {
        tracing::warn!(%origin, "Refused a cross-origin dashboard connection.");
        return Err(NotAdmitted::Origin);
    }
    let claims = hub
        .authenticate(headers, token)
        .await
        .map_err(NotAdmitted::Auth)?;
    if hub.connections() >= hub.config.max_websockets {
        return Err(NotAdmitted::Full);
    }
    let slot = match peer {
        Some(ip) => Some(hub.ws_per_ip.take(ip).ok_or(NotAdmitted::AddressFull)?),
        None => None,
    };
    Ok((claims, slot))
}

/// One connection's user, rooms and position in the event log.
pub(crate) struct View {
    pub(crate) claims: Claims,
    pub(crate) rooms: HashSet<String>,
    /// The newest alerts this client was sent: id → (camera, site), to route their updates
    /// (at most [`ROUTED_ALERTS`]: a console open for weeks must not grow without bound).
    alerts: HashMap<String, (String, String)>,
    /// `alerts`' ids, oldest first.
    alert_order: VecDeque<String>,
    /// Highest seq sent: anything at or below it is never sent again.
    pub(crate) sent: u64,
}

/// What a connection sends for an event it may see.
pub(crate) enum Admitted<'m> {
    /// The event as it is: its shared JSON may be sent.
    AsIs(&'m ServerMessage),
    /// The event narrowed to this user's cameras (a restricted user's metrics).
    Narrowed(Box<ServerMessage>),
}

impl View {
    pub(crate) fn new(claims: Claims) -> Self {
        Self {
            claims,
            rooms: HashSet::new(),
            alerts: HashMap::new(),
            alert_order: VecDeque::new(),
            sent: 0,
        }
    }

    /// What of `msg` this connection gets: nothing when it was sent already (by seq) or is not
    /// for this user and these rooms. Advances `sent`.
    pub(crate) fn admit<'m>(&mut self, msg: &'m ServerMessage) -> Option<Admitted<'m>> {
        if let Some(seq) = msg.seq() {
            if seq <= self.sent {
                return None;
            }
            self.sent = seq;
        }
        // Live-only messages (camera_status, metric_update) are filtered too: a restricted
        // user learns nothing of other cameras, a detector nothing at all.
        if !self.visible(msg) {
            return None;
        }
        // A camera-restricted user's metrics name only its cameras.
        match (msg, &self.claims.cameras) {
            (ServerMessage::MetricUpdate(m), Some(_)) => {
                let mut m = m.clone();
                m.cameras.retain(|c| self.claims.may_see(&c.camera));
                Some(Admitted::Narrowed(Box::new(ServerMessage::MetricUpdate(m))))
            }
            _ => Some(Admitted::AsIs(msg)),
        }
    }

    fn visible(&mut self, msg: &ServerMessage) -> bool {
        if !self.claims.role.can_view() {
            return matches!(
                msg,
                ServerMessage::Error { .. } | ServerMessage::WelcomeMessage { .. }
            );
        }
        // Only `camera:` and `site:` rooms narrow the feed; chat rooms do not.
        let unfiltered = |rooms: &HashSet<String>| !rooms.iter().any(|r| is_feed_room(r));
        // Compared in place: no string is built per event and connection.
        let in_rooms = |rooms: &HashSet<String>, camera: &str, site: &str| {
            unfiltered(rooms)
                || rooms.iter().any(|r| {
                    r.strip_prefix("camera:") == Some(camera)
                        || r.strip_prefix("site:") == Some(site)
                })
        };
        match msg {
            ServerMessage::FightAlert(a) => {
                let ok =
                    self.claims.may_see(&a.camera) && in_rooms(&self.rooms, &a.camera, &a.site);
                if ok
                    && self
                        .alerts
                        .insert(a.id.clone(), (a.camera.clone(), a.site.clone()))
                        .is_none()
                {
                    self.alert_order.push_back(a.id.clone());
                    if self.alert_order.len() > ROUTED_ALERTS
                        && let Some(old) = self.alert_order.pop_front()
                    {
                        self.alerts.remove(&old);
                    }
                }
                ok
            }
            ServerMessage::AlertEscalated(e) => {
                self.claims.may_see(&e.camera) && in_rooms(&self.rooms, &e.camera, &e.site)
            }
            ServerMessage::AlertUpdate(u) if !u.camera.is_empty() => {
                self.claims.may_see(&u.camera) && in_rooms(&self.rooms, &u.camera, &u.site)
            }
            // Updates stored before they named their camera: route by the alert when this
            // connection saw it, else only to unrestricted, unfiltered clients.
            ServerMessage::AlertUpdate(u) => match self.alerts.get(&u.id) {
                Some((camera, site)) => {
                    self.claims.may_see(camera) && in_rooms(&self.rooms, camera, site)
                }
                None => self.claims.cameras.is_none() && unfiltered(&self.rooms),
            },
            ServerMessage::CameraStatus(c) => self.claims.may_see(&c.camera),
            ServerMessage::ReceiveMessage(m) => {
                crate::rooms::reaches(&self.rooms, &self.claims.sub, &m.room)
            }
            _ => true,
        }
    }
}

/// A client message refused: the `error` message's code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The `error` message that tells the client.
    pub(crate) fn to_message(&self) -> ServerMessage {
        ServerMessage::Error {
            code: self.code.into(),
            message: self.message.clone(),
        }
    }

    fn internal() -> Self {
        Self::new("internal", "internal error")
    }
}

/// A replay from `after` to `position` that would pass `max_resume_events`: the refusal that
/// tells the client to reload from REST instead, so one resume cannot make the server read the
/// whole log.
pub(crate) fn too_far_behind(hub: &Hub, after: u64, position: u64) -> Option<Refusal> {
    let behind = position.saturating_sub(after);
    let max = hub.config.max_resume_events;
    (behind > max).then(|| {
        Refusal::new(
            "resume_too_far",
            format!(
                "{behind} events missed, more than {max} a resume replays: reload from GET /api/alerts"
            ),
        )
    })
}

/// The first, synchronous half of a client message: the user's message rate (over all of its
/// connections, so reconnecting does not refill it), then whatever needs only the connection's
/// own state (joining and leaving rooms, posting to a room not joined). What is left to do,
/// if anything, is for [`execute`] (or, for `resume`, the transport's replay).
pub(crate) fn prepare(
    hub: &Hub,
    view: &mut View,
    msg: Result<ClientMessage, String>,
) -> Result<Option<ClientMessage>, Refusal> {
    if crate::limits::check(&hub.messages, &view.claims.sub).is_err() {
        return Err(Refusal::new("rate_limited", "too many messages: slow down"));
    }
    let msg = msg.map_err(|e| Refusal::new("bad_message", e))?;
    match msg {
        ClientMessage::JoinRoom { room } => join_room(hub, view, room).map(|()| None),
        ClientMessage::LeaveRoom { room } => {
            view.rooms.remove(&room);
            Ok(None)
        }
        ClientMessage::SendMessage { ref room, .. } => {
            if !view.claims.role.can_view() {
                return Err(Refusal::new("forbidden", "detectors cannot chat"));
            }
            if !view.rooms.contains(room) {
                return Err(Refusal::new(
                    "bad_room",
                    format!("join {room:?} before posting to it"),
                ));
            }
            Ok(Some(msg))
        }
        other => Ok(Some(other)),
    }
}

/// `join_room`: a room this user may use, within the per-connection limit.
fn join_room(hub: &Hub, view: &mut View, room: String) -> Result<(), Refusal> {
    match crate::rooms::may_use(hub, &view.claims, &room) {
        Ok(()) if view.rooms.contains(&room) => Ok(()),
        Ok(()) if view.rooms.len() >= hub.config.max_rooms_per_connection => Err(Refusal::new(
            "too_many_rooms",
            format!(
                "a connection joins at most {} rooms",
                hub.config.max_rooms_per_connection
            ),
        )),
        Ok(()) => {
            view.rooms.insert(room);
            Ok(())
        }
        // A room of a camera or site this user may not see, or someone else's
        // conversation: joining would let this client read it.
        Err(crate::rooms::RoomRefusal::Forbidden) => Err(Refusal::new(
            "forbidden",
            format!("{room:?} is not your room"),
        )),
        Err(crate::rooms::RoomRefusal::Malformed) => Err(Refusal::new(
            "bad_room",
            "a room is camera:NAME, site:NAME, chat:SITE or a chat room name \
             (letters, digits, - _ : ., up to 128)",
        )),
    }
}

/// The second half of a client message [`prepare`] left: what needs the store. Its effect
/// reaches the client as the event it causes (`receive_message`, `fight_alert`,
/// `alert_update`); only a refusal is answered here. `resume` is the transport's.
pub(crate) async fn execute(
    hub: &Arc<Hub>,
    claims: &Claims,
    msg: ClientMessage,
) -> Result<(), Refusal> {
    match msg {
        ClientMessage::SendMessage { room, text } => chat(hub, claims, &room, &text).await,
        ClientMessage::PrivateMessage { to, text } => private_message(hub, claims, to, text).await,
        ClientMessage::FightDetected(detection) => fight_detected(hub, claims, detection).await,
        ClientMessage::AckAlert { id, note } => {
            workflow(claims, hub.acknowledge(claims, &id, note)).await
        }
        ClientMessage::TakeAlert { id } => workflow(claims, hub.assign(claims, &id, None)).await,
        ClientMessage::AssignAlert { id, to } => {
            workflow(claims, hub.assign(claims, &id, Some(&to))).await
        }
        ClientMessage::ResolveAlert {
            id,
            outcome,
            reason,
            note,
        } => workflow(claims, hub.resolve(claims, &id, outcome, reason, note)).await,
        ClientMessage::JoinRoom { .. }
        | ClientMessage::LeaveRoom { .. }
        | ClientMessage::Resume { .. } => Ok(()),
    }
}

async fn chat(hub: &Hub, claims: &Claims, room: &str, text: &str) -> Result<(), Refusal> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 2000 {
        return Err(Refusal::new(
            "bad_message",
            "a message is 1 to 2,000 characters",
        ));
    }
    hub.post_message(room, &claims.sub, text)
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::error!(error = %e, "Storing a chat message failed.");
            Refusal::internal()
        })
}

/// `private_message` to an existing user, in the pair's `dm:` room.
async fn private_message(
    hub: &Hub,
    claims: &Claims,
    to: String,
    text: String,
) -> Result<(), Refusal> {
    if !claims.role.can_view() || !crate::users::valid_user_name(&to) {
        return Err(Refusal::new(
            "bad_message",
            "private messages go to a user name",
        ));
    }
    let name = to.clone();
    match hub.blocking(move |s| s.user(&name)).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(Refusal::new("bad_message", format!("no user {to:?}"))),
        Err(e) => {
            tracing::error!(error = %e, "Cannot look a user up.");
            return Err(Refusal::internal());
        }
    }
    let room = fightwatch_protocol::private_room(&claims.sub, &to);
    chat(hub, claims, &room, &text).await
}

/// `fight_detected` from a detector client: stored (grouped) and published like the
/// pipeline's.
async fn fight_detected(
    hub: &Hub,
    claims: &Claims,
    detection: fightwatch_protocol::Detection,
) -> Result<(), Refusal> {
    if !claims.role.can_detect() {
        return Err(Refusal::new(
            "forbidden",
            "fight_detected needs the detector role",
        ));
    }
    match hub.detection(detection, &claims.sub).await {
        Ok(_) => Ok(()),
        Err(crate::HubError::Alerts(fightwatch_alerts::AlertError::Invalid(m))) => {
            Err(Refusal::new("bad_detection", m))
        }
        Err(crate::HubError::Limited { message, .. }) => Err(Refusal::new("rate_limited", message)),
        Err(e) => {
            tracing::error!(error = %e, "Storing a detection failed.");
            Err(Refusal::internal())
        }
    }
}

/// A workflow change (acknowledge, take, assign, resolve) for an operator.
async fn workflow(
    claims: &Claims,
    change: impl std::future::Future<Output = Result<AlertUpdate, crate::HubError>>,
) -> Result<(), Refusal> {
    if !claims.role.can_ack() {
        return Err(Refusal::new(
            "forbidden",
            "the alert workflow needs the operator role",
        ));
    }
    match change.await {
        Ok(_) => Ok(()),
        // Hidden and unknown alerts get the same answer: ids cannot be probed.
        Err(crate::HubError::Alerts(e)) if e.is_no_such_alert() => {
            Err(Refusal::new("not_found", "no such alert"))
        }
        Err(crate::HubError::Alerts(fightwatch_alerts::AlertError::Invalid(m))) => {
            Err(Refusal::new("bad_message", m))
        }
        Err(crate::HubError::Alerts(e)) if e.conflict().is_some() => Err(Refusal::new(
            "conflict",
            e.conflict().unwrap_or_default().to_string(),
        )),
        Err(e) => {
            tracing::error!(error = %e, "An alert workflow change failed.");
            Err(Refusal::internal())
        }
    }
}
