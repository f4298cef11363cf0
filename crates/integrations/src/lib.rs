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
and refuses old timestamps (replay). [`signature`] computes it:

```
use fightwatch_integrations::signature;

// What a receiver does with a POST: the same HMAC over the same bytes, compared.
let (secret, timestamp, body) = ("shared with the receiver", 1_796_000_000, br#"{"type":"fight_alert"}"#);
let header = signature(secret, timestamp, body);
assert!(header.starts_with("v1=") && header.len() == 3 + 64);
assert_eq!(signature(secret, timestamp, body), header);
assert_ne!(signature(secret, timestamp + 1, body), header, "a replayed timestamp does not match");
assert_ne!(signature("another secret", timestamp, body), header);
```

Delivery itself reads a store (`no_run`: it posts to the URL):

```no_run
use std::sync::Arc;
use std::time::Duration;

use fightwatch_integrations::{Integrations, WebhookTarget};
use fightwatch_store::{AlertStore, SqliteStore};

# let rt = tokio::runtime::Runtime::new()?;
# rt.block_on(async {
let store: Arc<dyn AlertStore> = Arc::new(SqliteStore::open("fightwatch.db".as_ref())?);
let integrations = Integrations::new(store, None);
integrations.add_webhook(WebhookTarget {
    name: "soc".into(),
    url: "https://soc.example/hooks/fightwatch".into(),
    secret: "shared with the receiver".into(),
    sites: vec![],
    cameras: vec![],
    events: vec![],
    timeout: Duration::from_secs(5),
})?;
integrations.run(); // a task per target, each from its stored cursor
# Ok::<(), Box<dyn std::error::Error>>(())
# })?;
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/

mod deliver;
mod mqtt;
mod outbox;
mod push;
mod settings;
mod target;

pub use deliver::{Integrations, TargetStatus};
pub use mqtt::{BrokerAddress, MqttTarget};
pub use push::{DEFAULT_PUSH_SERVICES, PushSettings, VapidKey, WEB_PUSH, check_subscription};
pub use settings::{MqttSettings, WebhookSettings};
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
