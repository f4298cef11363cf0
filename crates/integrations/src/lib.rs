/*!
Alert delivery to other systems: signed webhooks, MQTT ([`MqttTarget`]: Frigate / Home
Assistant topics) and Web Push to the console's service worker ([`PushSettings`]), fed from the
event log so nothing is lost.

Every alert event (`fight_alert` — fights and `camera_offline` alike —, `alert_update`,
`alert_escalated`) is already committed to the store's numbered event log in the same
transaction as the change it describes. That log *is* the outbox: each target keeps a cursor
(the last `seq` it was given, stored too), and a task per target reads the events after its
cursor, posts the ones its filter takes, and moves the cursor only once the receiver answered
2xx. A restart, a `kill -9` or a receiver that is down for hours only delays delivery; a target
that stays down holds back only itself. Delivery is at least once; the `Idempotency-Key`
(`fightwatch-SEQ`) lets a receiver drop the repeat a crash between its 2xx and the cursor write
can cause.

Each POST carries `X-Fightwatch-Timestamp` (Unix seconds) and `X-Fightwatch-Signature:
v1=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` under the target's secret: a receiver checks it
and refuses old timestamps (replay). [`signature`] computes it.
*/

mod deliver;
mod mqtt;
mod outbox;
mod push;
mod target;

pub use deliver::{Integrations, TargetStatus};
pub use mqtt::MqttTarget;
pub use push::{DEFAULT_PUSH_SERVICES, PushSettings, VapidKey, WEB_PUSH, check_subscription};
pub use target::{EventKind, WebhookTarget, kind_of, signature};

/// Errors of starting the integrations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrationError {
    /// A target's settings are wrong.
    #[error("integration {name}: {message}")]
    Config {
        /// The target.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}
