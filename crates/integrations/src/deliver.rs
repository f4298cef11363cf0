//! One task per target: read the log after the target's cursor, post what it takes, retry with
//! backoff until the receiver takes it, then move the cursor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fightwatch_protocol::{ServerMessage, now_ms};
use fightwatch_store::AlertStore;
use serde::Serialize;

use crate::{IntegrationError, WebhookTarget, kind_of, signature};

/// A failed delivery is retried 1 s, 2 s, 4 s … up to 60 s later, ±20 %.
const RETRY: fightwatch_retry::Backoff = fightwatch_retry::Backoff {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(60),
    jitter: 0.2,
};

pub use fightwatch_protocol::TargetStatus;

/// The node's event bus, for waking delivery as soon as an event is committed.
pub type BusEvents = tokio::sync::broadcast::Receiver<Arc<ServerMessage>>;

/// The integrations of this node: what to deliver where, and the tasks delivering it.
///
/// Targets are added once; [`Integrations::run`] starts a task per target (each from its stored
/// cursor) and [`Integrations::stop`] ends them, so that in a cluster only the node holding the
/// integrations duty delivers (the next one resumes from the same cursors).
#[derive(Clone, Default)]
pub struct Integrations {
    statuses: Arc<Mutex<BTreeMap<String, TargetStatus>>>,
    /// Subscribes to the node's bus; without it, targets look at the log every 250 ms.
    bus: Option<Arc<dyn Fn() -> BusEvents + Send + Sync>>,
    inner: Arc<Mutex<Inner>>,
}

/// The targets and the tasks delivering to them.
#[derive(Default)]
struct Inner {
    store: Option<Arc<dyn AlertStore>>,
    webhooks: Vec<(WebhookTarget, reqwest::Client)>,
    mqtt: Vec<(crate::MqttTarget, String)>,
    push: Option<(crate::PushSettings, Arc<crate::VapidKey>, reqwest::Client)>,
    running: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Waits until the bus brings a committed event (or lagged), at most `poll`; without a bus,
/// sleeps `poll`. The log stays the source: this only says when to look again.
pub(crate) async fn wait_for_events(bus: &mut Option<BusEvents>, poll: Duration) {
    let Some(rx) = bus.as_mut() else {
        tokio::time::sleep(poll).await;
        return;
    };
    let closed = tokio::time::timeout(poll, async {
        loop {
            match rx.recv().await {
                Ok(msg) if msg.seq().is_some() => return false,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return false,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return true,
            }
        }
    })
    .await
    .unwrap_or(false);
    if closed {
        *bus = None;
    }
}

/// What a receiver gets.
#[derive(Serialize)]
struct Payload<'a> {
    /// `raised`, `escalated`, `resolved` or `updated`.
    kind: &'static str,
    /// The event's seq (also in `event`); the idempotency key is `fightwatch-SEQ`.
    seq: u64,
    /// The event as dashboards get it.
    event: &'a ServerMessage,
}

impl Integrations {
    /// Integrations reading `store`'s log; `bus` subscribes to the node's event bus, so that
    /// delivery starts as soon as an event is committed instead of at the next look at the log
    /// (every 250 ms). Nothing runs before [`Integrations::run`].
    pub fn new(
        store: Arc<dyn AlertStore>,
        bus: Option<Arc<dyn Fn() -> BusEvents + Send + Sync>>,
    ) -> Self {
        // reqwest uses rustls without a provider of its own: ring (see Cargo.toml).
        fightwatch_tls::install_provider();
        let this = Self {
            bus,
            ..Self::default()
        };
        if let Ok(mut inner) = this.inner.lock() {
            inner.store = Some(store);
        }
        this
    }

    /// [`Integrations::new`] with `targets`, running (on the current tokio runtime).
    pub fn start(
        store: Arc<dyn AlertStore>,
        targets: Vec<WebhookTarget>,
        bus: Option<Arc<dyn Fn() -> BusEvents + Send + Sync>>,
    ) -> Result<Self, IntegrationError> {
        let this = Self::new(store, bus);
        for target in targets {
            this.add_webhook(target)?;
        }
        this.run();
        Ok(this)
    }

    fn subscribe(&self) -> Option<BusEvents> {
        self.bus.as_ref().map(|subscribe| subscribe())
    }

    /// Registers a target's status; its name must be new.
    fn register(&self, name: &str, endpoint: String) -> Result<(), IntegrationError> {
        let mut s = self
            .statuses
            .lock()
            .map_err(|_| IntegrationError::Client("status lock poisoned".into()))?;
        if s.contains_key(name) {
            return Err(IntegrationError::Config {
                name: name.into(),
                message: "a webhook or MQTT target has this name already".into(),
            });
        }
        s.insert(
            name.into(),
            TargetStatus {
                name: name.into(),
                endpoint,
                ..TargetStatus::default()
            },
        );
        Ok(())
    }

    /// Adds a webhook (delivering at once when running).
    pub fn add_webhook(&self, target: WebhookTarget) -> Result<(), IntegrationError> {
        target.check()?;
        let client = reqwest::Client::builder()
            .timeout(target.timeout)
            .connect_timeout(target.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| IntegrationError::Client(e.to_string()))?;
        self.register(&target.name, endpoint(&target.url))?;
        self.with_inner(|inner| {
            if inner.running {
                let task = self.webhook_task(inner, &target, &client);
                inner.tasks.extend(task);
            }
            inner.webhooks.push((target, client));
        });
        Ok(())
    }

    /// Adds an MQTT broker; camera states come from the bus given to [`Integrations::new`].
    /// `client_id` must be unique per broker (a node's name in it).
    pub fn add_mqtt(
        &self,
        target: crate::MqttTarget,
        client_id: String,
    ) -> Result<(), IntegrationError> {
        target.check()?;
        let endpoint = target
            .address()
            .map(|a| {
                let scheme = if a.tls.is_some() { "mqtts" } else { "mqtt" };
                format!("{scheme}://{}:{}", a.host, a.port)
            })
            .unwrap_or_default();
        self.register(&target.name, endpoint)?;
        self.with_inner(|inner| {
            if inner.running {
                let task = self.mqtt_task(inner, &target, &client_id);
                inner.tasks.extend(task);
            }
            inner.mqtt.push((target, client_id));
        });
        Ok(())
    }

    /// Adds Web Push to the browsers subscribed in the store, signed with `key`.
    pub fn add_web_push(
        &self,
        settings: crate::PushSettings,
        key: Arc<crate::VapidKey>,
    ) -> Result<(), IntegrationError> {
        settings.check()?;
        let client = reqwest::Client::builder()
            .timeout(crate::push::PUSH_TIMEOUT)
            .connect_timeout(crate::push::PUSH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| IntegrationError::Client(e.to_string()))?;
        self.register(crate::WEB_PUSH, "web push".into())?;
        self.with_inner(|inner| {
            if inner.running {
                let task = self.push_task(inner, &settings, &key, &client);
                inner.tasks.extend(task);
            }
            inner.push = Some((settings, key, client));
        });
        Ok(())
    }

    fn with_inner(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut inner) = self.inner.lock() {
            f(&mut inner);
        }
    }

    fn webhook_task(
        &self,
        inner: &Inner,
        target: &WebhookTarget,
        client: &reqwest::Client,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let worker = Worker {
            target: target.clone(),
            client: client.clone(),
            store: inner.store.clone()?,
            statuses: self.statuses.clone(),
            bus: self.subscribe(),
        };
        Some(tokio::spawn(worker.run()))
    }

    fn mqtt_task(
        &self,
        inner: &Inner,
        target: &crate::MqttTarget,
        client_id: &str,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let worker = crate::mqtt::MqttWorker {
            target: target.clone(),
            client_id: client_id.into(),
            store: inner.store.clone()?,
            statuses: self.statuses.clone(),
            cameras: self.subscribe(),
            woke_by: None,
        };
        Some(tokio::spawn(worker.run()))
    }

    fn push_task(
        &self,
        inner: &Inner,
        settings: &crate::PushSettings,
        key: &Arc<crate::VapidKey>,
        client: &reqwest::Client,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let worker = crate::push::PushWorker {
            sender: Arc::new(crate::push::Sender::new(
                settings.clone(),
                key.clone(),
                client.clone(),
                inner.store.clone()?,
                self.statuses.clone(),
            )),
            bus: self.subscribe(),
        };
        Some(tokio::spawn(worker.run()))
    }

    /// Starts a delivery task per target on the current tokio runtime, each from its stored
    /// cursor (nothing when already running).
    pub fn run(&self) {
        self.with_inner(|inner| {
            if inner.running {
                return;
            }
            let mut tasks = Vec::new();
            for (t, c) in &inner.webhooks {
                tasks.extend(self.webhook_task(inner, t, c));
            }
            for (t, id) in &inner.mqtt {
                tasks.extend(self.mqtt_task(inner, t, id));
            }
            if let Some((s, k, c)) = &inner.push {
                tasks.extend(self.push_task(inner, s, k, c));
            }
            inner.tasks = tasks;
            inner.running = true;
        });
    }

    /// Ends every delivery task (an event being delivered is delivered again by whoever runs
    /// next: delivery is at least once).
    pub fn stop(&self) {
        self.with_inner(|inner| {
            for task in inner.tasks.drain(..) {
                task.abort();
            }
            inner.running = false;
        });
    }

    /// Whether the delivery tasks run on this node.
    pub fn is_running(&self) -> bool {
        self.inner.lock().is_ok_and(|i| i.running)
    }

    /// Every target's state, by name.
    pub fn status(&self) -> Vec<TargetStatus> {
        self.statuses
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// `https://host:port` of a URL.
fn endpoint(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or(host); // no user:password
            format!("{scheme}://{host}")
        }
        None => String::new(),
    }
}

struct Worker {
    target: WebhookTarget,
    client: reqwest::Client,
    store: Arc<dyn AlertStore>,
    statuses: Arc<Mutex<BTreeMap<String, TargetStatus>>>,
    bus: Option<BusEvents>,
}

impl crate::outbox::Target for Worker {
    fn cursor_name(&self) -> &str {
        &self.target.name
    }

    fn takes(&self, event: &ServerMessage) -> bool {
        self.target.takes(event)
    }

    async fn deliver(&mut self, seq: u64, event: &ServerMessage) {
        self.post(seq, event).await;
    }

    fn at(&self, seq: u64) {
        self.update(|s| s.cursor = seq);
    }
}

/// How one attempt ended.
enum Attempt {
    Taken,
    /// Refused for good (a 4xx): retrying cannot help.
    Rejected(String),
    /// Down, timed out, 5xx, 408, 429: try again later.
    Failed(String),
}

impl Worker {
    fn update(&self, f: impl FnOnce(&mut TargetStatus)) {
        crate::outbox::update_status(&self.statuses, &self.target.name, f);
    }

    async fn run(mut self) {
        tracing::info!(target = %self.target.name, endpoint = %endpoint(&self.target.url), "Webhook delivery started.");
        let (store, mut bus) = (self.store.clone(), self.bus.take());
        crate::outbox::run_outbox(&mut self, &store, &mut bus).await;
    }

    async fn post(&self, seq: u64, event: &ServerMessage) {
        let kind = kind_of(event).map_or("updated", |(k, _, _)| k.as_str());
        let body = match serde_json::to_vec(&Payload { kind, seq, event }) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, seq, "Cannot serialise an event for a webhook.");
                return;
            }
        };
        let mut retry = fightwatch_retry::Retry::new(RETRY);
        loop {
            match self.attempt(seq, &body).await {
                Attempt::Taken => {
                    self.update(|s| {
                        s.delivered += 1;
                        s.retrying = false;
                        s.last_delivered_at = Some(now_ms());
                    });
                    return;
                }
                Attempt::Rejected(why) => {
                    tracing::error!(target = %self.target.name, seq, reason = %why, "The webhook refused an event for good; skipped.");
                    self.update(|s| {
                        s.rejected += 1;
                        s.retrying = false;
                        s.last_error = Some(why);
                    });
                    return;
                }
                Attempt::Failed(why) => {
                    let delay = retry.next_delay();
                    tracing::warn!(target = %self.target.name, seq, error = %why, retry_in_ms = delay.as_millis() as u64, "Webhook delivery failed; retrying.");
                    self.update(|s| {
                        s.failed_attempts += 1;
                        s.retrying = true;
                        s.last_error = Some(why);
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(&self, seq: u64, body: &[u8]) -> Attempt {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let sent = self
            .client
            .post(&self.target.url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("fightwatch/", env!("CARGO_PKG_VERSION")),
            )
            .header("idempotency-key", format!("fightwatch-{seq}"))
            .header("x-fightwatch-timestamp", ts.to_string())
            .header(
                "x-fightwatch-signature",
                signature(&self.target.secret, ts, body),
            )
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Attempt::Taken,
            Ok(r)
                if r.status().is_client_error()
                    && r.status() != reqwest::StatusCode::REQUEST_TIMEOUT
                    && r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS =>
            {
                Attempt::Rejected(format!("HTTP {}", r.status()))
            }
            Ok(r) => Attempt::Failed(format!("HTTP {}", r.status())),
            // reqwest's message names the URL; keep only its kind.
            Err(e) if e.is_timeout() => Attempt::Failed("timed out".into()),
            Err(e) if e.is_connect() => Attempt::Failed("cannot connect".into()),
            Err(e) => Attempt::Failed(e.without_url().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hide_paths_and_credentials() {
        assert_eq!(
            endpoint("https://user:pw@hooks.example:8443/t/abc?token=1"),
            "https://hooks.example:8443"
        );
        assert_eq!(endpoint("http://127.0.0.1:9/x"), "http://127.0.0.1:9");
    }
}
