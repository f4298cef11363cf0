//! Engine.IO 4 / Socket.IO 5 packets as they travel in WebSocket text frames (one packet per
//! frame): what `/socket.io/`'s own WebSocket transport reads and writes. Only the default
//! namespace `/` is served, and no packet carries binary attachments.

use serde_json::Value;

/// Engine.IO's ping, sent by the server every [`PING_INTERVAL`](super::PING_INTERVAL).
pub(crate) const PING: &str = "2";
/// Socket.IO's disconnect from the default namespace.
pub(crate) const DISCONNECT: &str = "41";

/// A packet from the client.
#[derive(Debug, PartialEq)]
pub(crate) enum Inbound {
    /// Engine.IO close (`1`) or a disconnect from the namespace (`41`).
    Close,
    /// Engine.IO ping from the client (`2`): answered with a pong.
    Ping,
    /// A packet that needs no answer: pong (`3`), noop (`6`), an acknowledgement of a server
    /// event (`43…`; the server asks for none), or a packet for another namespace.
    Nothing,
    /// Connect to the default namespace (`40`), with the handshake's `auth` JSON if any.
    Connect(Option<Value>),
    /// An event (`42`): its name, its first argument (`null` if none), and the acknowledgement
    /// id when the client waits for one.
    Event {
        ack: Option<u64>,
        name: String,
        data: Value,
    },
    /// A binary event or acknowledgement (`45…`, `46…`): refused, no client message has binary.
    Binary,
    /// Not an Engine.IO / Socket.IO packet.
    Malformed(&'static str),
}

/// Reads one packet.
pub(crate) fn parse(text: &str) -> Inbound {
    let mut chars = text.chars();
    match (chars.next(), chars.as_str()) {
        (Some('1'), "") => Inbound::Close,
        (Some('2'), "") => Inbound::Ping,
        (Some('3' | '6'), "") => Inbound::Nothing,
        (Some('4'), socket) => parse_socket(socket),
        _ => Inbound::Malformed("not an Engine.IO packet"),
    }
}

/// A Socket.IO packet: type, then `/namespace,` (absent for `/`), then the ack id, then JSON.
fn parse_socket(packet: &str) -> Inbound {
    let mut chars = packet.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    if rest.starts_with('/') {
        // Another namespace: there is none (a connect to one is never answered `40`, so the
        // client's own timeout reports it).
        return Inbound::Nothing;
    }
    match kind {
        Some('0') if rest.is_empty() => Inbound::Connect(None),
        Some('0') => match serde_json::from_str::<Value>(rest) {
            Ok(auth @ Value::Object(_)) => Inbound::Connect(Some(auth)),
            _ => Inbound::Malformed("the connect's auth is not a JSON object"),
        },
        Some('1') if rest.is_empty() => Inbound::Close,
        Some('2') => parse_event(rest),
        Some('3') => Inbound::Nothing,
        Some('5' | '6') => Inbound::Binary,
        _ => Inbound::Malformed("not a Socket.IO packet"),
    }
}

/// `[ack id]["name", data, …]`.
fn parse_event(packet: &str) -> Inbound {
    let json_at = packet.find(['[']).unwrap_or(packet.len());
    let (id, json) = packet.split_at(json_at);
    let ack = match id {
        "" => None,
        digits => match digits.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return Inbound::Malformed("the acknowledgement id is not a number"),
        },
    };
    let Ok(mut args) = serde_json::from_str::<Vec<Value>>(json) else {
        return Inbound::Malformed("an event is a JSON array");
    };
    if args.is_empty() {
        return Inbound::Malformed("an event names itself first");
    }
    let data = if args.len() > 1 {
        args.swap_remove(1)
    } else {
        Value::Null
    };
    match args.swap_remove(0) {
        Value::String(name) => Inbound::Event { ack, name, data },
        _ => Inbound::Malformed("an event's name is a string"),
    }
}

/// Engine.IO's open packet: the session id and the heartbeat the client should expect.
pub(crate) fn open(sid: &str, max_payload: usize) -> String {
    let open = serde_json::json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": super::PING_INTERVAL.as_millis() as u64,
        "pingTimeout": super::PING_TIMEOUT.as_millis() as u64,
        "maxPayload": max_payload,
    });
    format!("0{open}")
}

/// The connect accepted: `40{"sid": …}`.
pub(crate) fn connected(sid: &str) -> String {
    format!("40{}", serde_json::json!({ "sid": sid }))
}

/// The connect refused: the client's `connect_error` with `message`.
pub(crate) fn connect_error(message: &str) -> String {
    format!("44{}", serde_json::json!({ "message": message }))
}

/// `json` (a protocol message, its `type` first, as serde writes it) as the event its type
/// names; `None` for JSON without a leading type.
pub(crate) fn event(json: &str) -> Option<String> {
    let name = event_name(json)?;
    // The name came out of a JSON string between plain quotes: it needs no escaping.
    let mut packet = String::with_capacity(json.len() + name.len() + 8);
    packet.push_str("42[\"");
    packet.push_str(name);
    packet.push_str("\",");
    packet.push_str(json);
    packet.push(']');
    Some(packet)
}

/// What an acknowledgement carries: `{ok: true}`, or `{ok: false, code, message}` (the codes
/// of the protocol's `error`).
pub(crate) fn answer(refused: Option<&crate::session::Refusal>) -> Value {
    match refused {
        None => serde_json::json!({ "ok": true }),
        Some(r) => serde_json::json!({ "ok": false, "code": r.code, "message": r.message }),
    }
}

/// `resume` on Socket.IO: refused, missed events come with the reconnect's `auth.after_seq`.
pub(crate) fn resume_refused() -> crate::session::Refusal {
    crate::session::Refusal::new(
        "bad_message",
        "on Socket.IO, missed events come on reconnecting with auth.after_seq",
    )
}

/// The answer to event `id`: `43<id>[body]`.
pub(crate) fn ack(id: u64, body: &Value) -> String {
    format!("43{id}[{body}]")
}

/// The `type` of a message's JSON (serde writes the tag first).
pub(crate) fn event_name(json: &str) -> Option<&str> {
    let name = json.strip_prefix(r#"{"type":""#)?.split('"').next()?;
    (!name.contains('\\')).then_some(name)
}

/// The protocol's client message for Socket.IO event `name` with body `data`: the body with
/// `type` added (`join_room` / `leave_room` also take the bare room name).
pub(crate) fn client_message(
    name: &str,
    data: Value,
) -> Result<fightwatch_protocol::ClientMessage, String> {
    let body = match data {
        Value::Object(mut body) => {
            body.insert("type".into(), name.into());
            Value::Object(body)
        }
        Value::String(room) if name == "join_room" || name == "leave_room" => {
            serde_json::json!({ "type": name, "room": room })
        }
        Value::Null => serde_json::json!({ "type": name }),
        _ => {
            return Err(format!(
                "{name:?} takes a JSON object, as docs/protocol.md says"
            ));
        }
    };
    serde_json::from_value(body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fightwatch_protocol::ClientMessage;
    use serde_json::json;

    #[test]
    fn packets_are_read() {
        assert_eq!(parse("1"), Inbound::Close);
        assert_eq!(parse("41"), Inbound::Close);
        assert_eq!(parse("2"), Inbound::Ping);
        assert_eq!(parse("3"), Inbound::Nothing);
        assert_eq!(parse("431[{}]"), Inbound::Nothing);
        assert_eq!(parse("40"), Inbound::Connect(None));
        assert_eq!(
            parse(r#"40{"token":"t","after_seq":4}"#),
            Inbound::Connect(Some(json!({"token": "t", "after_seq": 4})))
        );
        assert_eq!(
            parse(r#"42["join_room","ops"]"#),
            Inbound::Event {
                ack: None,
                name: "join_room".into(),
                data: json!("ops")
            }
        );
        assert_eq!(
            parse(r#"4217["ack_alert",{"id":"a"},"extra"]"#),
            Inbound::Event {
                ack: Some(17),
                name: "ack_alert".into(),
                data: json!({"id": "a"})
            }
        );
        assert_eq!(
            parse(r#"42["leave_room"]"#),
            Inbound::Event {
                ack: None,
                name: "leave_room".into(),
                data: Value::Null
            }
        );
        assert_eq!(parse(r#"40/admin,{"token":"t"}"#), Inbound::Nothing);
        assert_eq!(parse(r#"451-["fight_detected",{}]"#), Inbound::Binary);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bad in [
            "",
            "9",
            "4",
            "4zzz",
            "42",
            "42[",
            "42[]",
            "42[1,2]",
            "42x[\"a\"]",
            "4299999999999999999999[\"a\"]",
            "40[1]",
            "40{",
            "10",
            "é",
            "4é",
        ] {
            assert!(matches!(parse(bad), Inbound::Malformed(_)), "{bad:?}");
        }
    }

    #[test]
    fn events_are_framed_by_their_type() {
        let json = r#"{"type":"fight_alert","id":"a","seq":3}"#;
        let packet = event(json).unwrap();
        assert_eq!(packet, format!(r#"42["fight_alert",{json}]"#));
        let v: Value = serde_json::from_str(&packet[2..]).unwrap();
        assert_eq!(v[0], "fight_alert");
        assert_eq!(v[1]["seq"], 3);
        assert_eq!(event(r#"{"id":"a","type":"x"}"#), None);
        assert_eq!(event(r#"{"type":"a\"b"}"#), None);
        assert_eq!(ack(7, &json!({"ok": true})), r#"437[{"ok":true}]"#);
        assert_eq!(
            connect_error("invalid token: \"x\""),
            r#"44{"message":"invalid token: \"x\""}"#
        );
        assert!(open("abc", 1024).starts_with(r#"0{"#));
    }

    #[test]
    fn client_events_become_protocol_messages() {
        assert_eq!(
            client_message("join_room", "camera:lobby".into()),
            Ok(ClientMessage::JoinRoom {
                room: "camera:lobby".into()
            })
        );
        assert_eq!(
            client_message("send_message", json!({"room": "ops", "text": "hi"})),
            Ok(ClientMessage::SendMessage {
                room: "ops".into(),
                text: "hi".into()
            })
        );
        // The body cannot smuggle another type in: the event name wins.
        assert!(matches!(
            client_message(
                "leave_room",
                json!({"type": "fight_detected", "room": "ops"})
            ),
            Ok(ClientMessage::LeaveRoom { .. })
        ));
        assert!(client_message("send_message", "hi".into()).is_err());
        assert!(client_message("no_such_event", json!({})).is_err());
        assert!(client_message("join_room", json!([1, 2])).is_err());
    }
}
