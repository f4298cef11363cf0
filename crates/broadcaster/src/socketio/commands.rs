//! Client events: parsed into the protocol's client messages, run in order per connection
//! through the shared session core, answered by acknowledgement or `error` event.

use std::sync::Arc;

use fightwatch_protocol::ClientMessage;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::{FromMessageParts, Value};

use super::Dashboard;
use super::delivery::emit_message;
use super::packet::{answer, client_message, resume_refused};
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
            (_, true) => self.ack.send(&answer(result.as_ref().err())),
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
            answer.give(socket, Err(resume_refused()));
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
