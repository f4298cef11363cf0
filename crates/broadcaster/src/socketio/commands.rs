//! Client events: parsed into the protocol's client messages, run in order per connection
//! through the shared session core, answered by acknowledgement or `error` event.

use std::sync::Arc;

use fightwatch_protocol::ClientMessage;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, Value};

use super::Dashboard;
use super::delivery::emit_message;
use crate::hub::Hub;
use crate::session::{self, Refusal};

/// Whether the client asked for an acknowledgement.
pub(super) struct AckWanted(pub(super) bool);

impl<A: socketioxide::adapter::Adapter> FromMessageParts<A> for AckWanted {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket<A>>,
        _: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(Self(ack_id.is_some()))
    }
}

/// How a client message is answered: its acknowledgement, or an `error` event on refusal.
pub(super) struct Answer {
    pub(super) ack: AckSender,
    pub(super) wanted: bool,
}

impl Answer {
    fn give(self, socket: &SocketRef, result: Result<(), Refusal>) {
        let sent = match (&result, self.wanted) {
            (Ok(()), true) => self.ack.send(&serde_json::json!({ "ok": true })),
            (Err(r), true) => self.ack.send(&serde_json::json!({
                "ok": false, "code": r.code, "message": r.message,
            })),
            (Ok(()), false) => Ok(()),
            (Err(r), false) => emit_message(socket, &r.to_message()),
        };
        if let Err(e) = sent {
            tracing::debug!(sid = %socket.id, error = %e, "Cannot answer a Socket.IO client.");
        }
    }
}

/// A client event: parsed and prepared at once (so joins and posts keep their order); what
/// needs the store is queued. True when a task must work through the queue.
pub(super) fn receive(
    hub: &Hub,
    dashboard: &Dashboard,
    socket: &SocketRef,
    name: &str,
    data: Result<serde_json::Value, String>,
    answer: Answer,
) -> bool {
    let msg = data.and_then(|data| client_message(name, data));
    let Ok(mut state) = dashboard.state.lock() else {
        return false;
    };
    if state.view.claims.exp <= fightwatch_protocol::now_ms() / 1000 {
        drop(state);
        answer.give(
            socket,
            Err(Refusal::new(
                "token_expired",
                "token expired: sign in again",
            )),
        );
        return false;
    }
    match session::prepare(hub, &mut state.view, msg) {
        Ok(None) => {
            drop(state);
            answer.give(socket, Ok(()));
            false
        }
        Ok(Some(ClientMessage::Resume { .. })) => {
            drop(state);
            answer.give(
                socket,
                Err(Refusal::new(
                    "bad_message",
                    "on Socket.IO, missed events come on reconnecting with auth.after_seq",
                )),
            );
            false
        }
        Ok(Some(msg)) => {
            state.commands.push_back((msg, answer));
            if state.running {
                return false;
            }
            state.running = true;
            true
        }
        Err(refusal) => {
            drop(state);
            answer.give(socket, Err(refusal));
            false
        }
    }
}

/// Works through a dashboard's queued client messages, one at a time.
pub(super) async fn run_commands(hub: &Arc<Hub>, dashboard: &Dashboard, socket: &SocketRef) {
    loop {
        let (next, claims) = {
            let Ok(mut state) = dashboard.state.lock() else {
                return;
            };
            match state.commands.pop_front() {
                Some(next) => (next, state.view.claims.clone()),
                None => {
                    state.running = false;
                    return;
                }
            }
        };
        let (msg, answer) = next;
        let result = session::execute(hub, &claims, msg).await;
        answer.give(socket, result);
    }
}

/// The protocol's client message for Socket.IO event `name` with body `data`: the body with
/// `type` added (`join_room` / `leave_room` also take the bare room name).
pub(super) fn client_message(name: &str, data: serde_json::Value) -> Result<ClientMessage, String> {
    let body = match data {
        serde_json::Value::Object(mut body) => {
            body.insert("type".into(), name.into());
            serde_json::Value::Object(body)
        }
        serde_json::Value::String(room) if name == "join_room" || name == "leave_room" => {
            serde_json::json!({ "type": name, "room": room })
        }
        serde_json::Value::Null => serde_json::json!({ "type": name }),
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

    #[test]
    fn client_events_become_protocol_messages() {
        assert_eq!(
            client_message("join_room", "camera:lobby".into()),
            Ok(ClientMessage::JoinRoom {
                room: "camera:lobby".into()
            })
        );
        assert_eq!(
            client_message(
                "send_message",
                serde_json::json!({"room": "ops", "text": "hi"})
            ),
            Ok(ClientMessage::SendMessage {
                room: "ops".into(),
                text: "hi".into()
            })
        );
        // The body cannot smuggle another type in: the event name wins.
        assert!(matches!(
            client_message(
                "leave_room",
                serde_json::json!({"type": "fight_detected", "room": "ops"})
            ),
            Ok(ClientMessage::LeaveRoom { .. })
        ));
        assert!(client_message("send_message", "hi".into()).is_err());
        assert!(client_message("no_such_event", serde_json::json!({})).is_err());
        assert!(client_message("join_room", serde_json::json!([1, 2])).is_err());
    }
}
