//! MQTT: alert events to a broker in the Frigate / Home Assistant way, from the event log.
//!
//! Topics under the target's prefix (default `fightwatch`):
//! - `PREFIX/available`: `online` (retained) while connected; the broker publishes `offline`
//!   (retained, the connection's last will) when fightwatch dies or loses it;
//! - `PREFIX/alerts`: every alert event, JSON `{kind, seq, event}` like a webhook's body;
//! - `PREFIX/CAMERA/fight`: `ON` while a camera's fight alert is going on, `OFF` when it ended
//!   (retained: a subscriber that connects later learns the state);
//! - `PREFIX/CAMERA/available`: `online` / `offline` (retained) from the camera's state.
//!
//! Everything is QoS 1. Alert events come from the log after the target's stored cursor, which
//! moves only once the broker acknowledged every message of the event (PUBACK), so a broker that
//! is down, restarted or slow delays them and loses none; a repeat after a crash carries the same
//! `seq`. Camera states are not in the log: the last one of each camera is published again on
//! every (re)connection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fightwatch_protocol::{AlertStatus, CameraStatus, ServerMessage, now_ms};
use fightwatch_store::{AlertStore, StoreError};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{IntegrationError, TargetStatus, kind_of};

/// Longest wait for the broker's CONNACK, and for the PUBACKs of one event.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnect delays: 1 s doubling to 30 s, ±20 %.
const RETRY: fightwatch_retry::Backoff = fightwatch_retry::Backoff {
    initial: RETRY_FIRST,
    max: Duration::from_secs(30),
    jitter: 0.2,
};
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The label of fight alerts (camera health alerts have another).
const FIGHT: &str = "fight";

/// One MQTT broker.
#[derive(Clone, PartialEq)]
pub struct MqttTarget {
    /// Unique name (its cursor and status use it).
    pub name: String,
    /// `mqtt://host:port` (1883 when no port is given).
    pub url: String,
    /// Broker user, if it wants one.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// First level of every topic.
    pub topic_prefix: String,
    /// Only these sites (empty: all).
    pub sites: Vec<String>,
    /// Only these cameras (empty: all).
    pub cameras: Vec<String>,
}

impl std::fmt::Debug for MqttTarget {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttTarget")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("topic_prefix", &self.topic_prefix)
            .field("sites", &self.sites)
            .field("cameras", &self.cameras)
            .finish_non_exhaustive()
    }
}

/// Where a broker is ([`MqttTarget::address`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or address.
    pub host: String,
    /// Port (1883, or 8883 for `mqtts://`, when the URL gives none).
    pub port: u16,
    /// `mqtts://`: TLS only, verified against this CA file (`None`: the system's roots).
    pub tls: Option<Option<std::path::PathBuf>>,
}

impl MqttTarget {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), IntegrationError> {
        let bad = |message: String| IntegrationError::Config {
            name: self.name.clone(),
            message,
        };
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(bad("a name is 1–64 of A-Z a-z 0-9 - _ .".into()));
        }
        self.address().map_err(bad)?;
        let p = &self.topic_prefix;
        if p.is_empty()
            || p.len() > 128
            || p.starts_with('/')
            || p.ends_with('/')
            || p.contains(['+', '#', '\0'])
        {
            return Err(bad(format!(
                "topic_prefix {p:?}: 1–128 characters, no + # or leading/trailing /"
            )));
        }
        Ok(())
    }

    /// The broker's host and port, and for `mqtts://` (TLS only) the CA file its certificate
    /// is verified against (`Some(None)`: the system's roots). A CA file on a plaintext
    /// `mqtt://` URL is an error, not ignored.
    pub fn address(&self) -> Result<BrokerAddress, String> {
        let (url, ca_file) = fightwatch_tls::split_ca(&self.url).map_err(|e| e.to_string())?;
        let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (rest, true, 8883)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (rest, false, 1883)
        } else {
            // The URL itself is not repeated: it may hold a password.
            return Err("url must start with mqtt:// or mqtts://".into());
        };
        if !tls && ca_file.is_some() {
            return Err(
                "a CA file (sslrootcert) was given for a plaintext mqtt:// URL; use mqtts://"
                    .into(),
            );
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>().map_err(|_| "url: bad port".to_string())?,
            ),
            None => (rest, default_port),
        };
        if host.contains('@') {
            return Err(
                "url: no user or password in the URL (use username and password_env)".into(),
            );
        }
        if host.is_empty() || host.contains(['/', '?', '#']) {
            return Err("url: expected mqtt[s]://host[:port]".into());
        }
        Ok(BrokerAddress {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            tls: tls.then_some(ca_file),
        })
    }

    fn takes(&self, camera: &str, site: &str) -> bool {
        (self.sites.is_empty() || self.sites.iter().any(|s| s == site))
            && (self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera))
    }

    fn topic(&self, rest: &str) -> String {
        format!("{}/{rest}", self.topic_prefix)
    }

    /// `PREFIX/CAMERA/what`, with the characters MQTT gives a meaning to replaced.
    fn camera_topic(&self, camera: &str, what: &str) -> String {
        let safe: String = camera
            .chars()
            .map(|c| if matches!(c, '/' | '+' | '#') { '_' } else { c })
            .collect();
        self.topic(&format!("{safe}/{what}"))
    }
}

/// Which fight alerts are going on, per camera, and each camera's last published state.
#[derive(Debug, Default)]
struct Fights {
    open: HashMap<String, HashSet<String>>,
    cameras: BTreeMap<String, bool>,
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    topic: String,
    retain: bool,
    payload: Vec<u8>,
}

/// A live connection: the client, and the task that drives its event loop and hands each
/// PUBACK to whoever waits for it.
struct Connection {
    client: AsyncClient,
    waiters: mpsc::UnboundedSender<oneshot::Sender<()>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Connection {
    async fn open(target: &MqttTarget, client_id: &str) -> Result<Self, String> {
        let address = target.address()?;
        let mut opts = MqttOptions::new(client_id, address.host, address.port);
        if let Some(ca_file) = &address.tls {
            let config =
                fightwatch_tls::client_config(ca_file.as_deref()).map_err(|e| e.to_string())?;
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(config),
            ));
        }
        opts.set_keep_alive(Duration::from_secs(10));
        opts.set_clean_session(true);
        opts.set_last_will(LastWill::new(
            target.topic("available"),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &target.username {
            opts.set_credentials(user, target.password.clone().unwrap_or_default());
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (waiters, mut waiting) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
        let (connected_tx, connected) = oneshot::channel::<Result<(), String>>();
        let driver = tokio::spawn(async move {
            let mut connected_tx = Some(connected_tx);
            let mut pending: HashMap<u16, oneshot::Sender<()>> = HashMap::new();
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    // Publishes go out in the order they were asked for, and each asker
                    // queued its waiter first.
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Ok(w) = waiting.try_recv() {
                            pending.insert(pkid, w);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        if let Some(w) = pending.remove(&ack.pkid) {
                            let _ = w.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // Dropping the waiters tells every publisher the connection is gone;
                        // a new connection is made for the retry (never this event loop's
                        // own resend, which would confuse whose PUBACK is whose).
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Err(e.to_string()));
                        }
                        return;
                    }
                }
            }
        });
        let this = Self {
            client,
            waiters,
            driver,
        };
        match tokio::time::timeout(ACK_TIMEOUT, connected).await {
            Ok(Ok(Ok(()))) => Ok(this),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err("connection closed".into()),
            Err(_) => Err("no CONNACK in time".into()),
        }
    }

    /// Publishes `messages` (QoS 1) and waits until the broker acknowledged each.
    async fn publish_all(&self, messages: &[Message]) -> Result<(), String> {
        let mut acks = Vec::with_capacity(messages.len());
        for m in messages {
            let (tx, rx) = oneshot::channel();
            self.waiters
                .send(tx)
                .map_err(|_| "connection closed".to_string())?;
            self.client
                .publish(&m.topic, QoS::AtLeastOnce, m.retain, m.payload.clone())
                .await
                .map_err(|e| e.to_string())?;
            acks.push(rx);
        }
        for ack in acks {
            match tokio::time::timeout(ACK_TIMEOUT, ack).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err("connection lost before the broker acknowledged".into()),
                Err(_) => return Err("no PUBACK in time".into()),
            }
        }
        Ok(())
    }
}

/// Delivers to one broker: alert events from the log, camera states from `cameras`.
pub(crate) struct MqttWorker {
    pub(crate) target: MqttTarget,
    pub(crate) client_id: String,
    pub(crate) store: Arc<dyn AlertStore>,
    pub(crate) statuses: Arc<Mutex<BTreeMap<String, TargetStatus>>>,
    pub(crate) cameras: Option<broadcast::Receiver<Arc<ServerMessage>>>,
    /// The camera state that ended the last wait.
    pub(crate) woke_by: Option<Arc<ServerMessage>>,
}

/// The payload of `PREFIX/alerts`.
#[derive(serde::Serialize)]
struct Payload<'a> {
    kind: &'static str,
    seq: u64,
    event: &'a ServerMessage,
}

impl MqttWorker {
    /// The cursor's name in the store (apart from a webhook of the same name).
    fn cursor_name(&self) -> String {
        format!("mqtt:{}", self.target.name)
    }

    fn update(&self, f: impl FnOnce(&mut TargetStatus)) {
        crate::outbox::update_status(&self.statuses, &self.target.name, f);
    }

    /// Runs a store call off the runtime's threads.
    async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn AlertStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        fightwatch_store::on_blocking_pool(&self.store, f).await
    }

    pub(crate) async fn run(mut self) {
        let name = self.target.name.clone();
        let cursor_name = self.cursor_name();
        let mut cursor = crate::outbox::start_cursor(&self.store, &cursor_name).await;
        self.update(|s| s.cursor = cursor);
        // Each camera's last availability, and fight state.
        let mut available: BTreeMap<String, (String, bool)> = BTreeMap::new();
        let mut fights = Fights::default();
        let mut conn: Option<Connection> = None;
        let mut retry = fightwatch_retry::Retry::new(RETRY);
        loop {
            let c = match conn.take() {
                Some(c) if !c.driver.is_finished() => c,
                _ => match self.connect(&available, &fights).await {
                    Ok(c) => {
                        retry.reset();
                        c
                    }
                    Err(why) => {
                        let delay = retry.next_delay();
                        self.failed(&why, delay);
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                },
            };
            // Camera states that changed since the last round.
            let changed = self.camera_changes(&mut available);
            if !changed.is_empty() {
                let messages: Vec<Message> = changed
                    .iter()
                    .map(|camera| self.availability(camera, available[camera].1))
                    .collect();
                if let Err(why) = c.publish_all(&messages).await {
                    self.failed(&why, retry.upcoming());
                    continue; // reconnects; the states go out again on connecting
                }
            }
            let events = match self
                .store(move |s| s.events_after(cursor, crate::outbox::BATCH))
                .await
            {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(target = %name, error = %e, "Reading the event log failed.");
                    conn = Some(c);
                    tokio::time::sleep(RETRY_FIRST).await;
                    continue;
                }
            };
            if events.is_empty() {
                conn = Some(c);
                self.wait_for_news().await;
                continue;
            }
            let mut lost = false;
            for event in events {
                let Some(seq) = event.seq() else { continue };
                let messages = self.messages(&event, &mut fights).await;
                if !messages.is_empty() {
                    if let Err(why) = c.publish_all(&messages).await {
                        self.failed(&why, retry.upcoming());
                        lost = true;
                        break; // the same event again on the next connection
                    }
                    self.update(|s| {
                        s.delivered += 1;
                        s.retrying = false;
                        s.last_delivered_at = Some(now_ms());
                    });
                }
                cursor = seq;
                let n = cursor_name.clone();
                if let Err(e) = self.store(move |s| s.set_integration_cursor(&n, seq)).await {
                    tracing::warn!(target = %name, error = %e, "Could not store the MQTT target's cursor.");
                }
                self.update(|s| s.cursor = seq);
            }
            if !lost {
                conn = Some(c);
            }
        }
    }

    fn failed(&self, why: &str, delay: Duration) {
        tracing::warn!(target = %self.target.name, error = %why, retry_in_ms = delay.as_millis() as u64, "MQTT delivery failed; reconnecting.");
        self.update(|s| {
            s.failed_attempts += 1;
            s.retrying = true;
            s.last_error = Some(why.to_string());
        });
    }

    /// Connects, says `online` and publishes every known camera state again (the broker may
    /// have forgotten its retained messages).
    async fn connect(
        &self,
        available: &BTreeMap<String, (String, bool)>,
        fights: &Fights,
    ) -> Result<Connection, String> {
        let c = Connection::open(&self.target, &self.client_id).await?;
        let mut hello = vec![Message {
            topic: self.target.topic("available"),
            retain: true,
            payload: b"online".to_vec(),
        }];
        hello.extend(
            available
                .iter()
                .map(|(camera, (_, up))| self.availability(camera, *up)),
        );
        hello.extend(
            fights
                .cameras
                .iter()
                .map(|(camera, on)| self.fight(camera, *on)),
        );
        c.publish_all(&hello).await?;
        tracing::info!(target = %self.target.name, url = %self.target.url, "MQTT broker connected.");
        self.update(|s| {
            s.retrying = false;
        });
        Ok(c)
    }

    fn fight(&self, camera: &str, on: bool) -> Message {
        Message {
            topic: self.target.camera_topic(camera, FIGHT),
            retain: true,
            payload: if on { b"ON".to_vec() } else { b"OFF".to_vec() },
        }
    }

    fn availability(&self, camera: &str, up: bool) -> Message {
        Message {
            topic: self.target.camera_topic(camera, "available"),
            retain: true,
            payload: if up {
                b"online".to_vec()
            } else {
                b"offline".to_vec()
            },
        }
    }

    /// Reads the camera states that arrived; the cameras whose availability changed.
    fn camera_changes(&mut self, available: &mut BTreeMap<String, (String, bool)>) -> Vec<String> {
        let mut changed = Vec::new();
        if let Some(msg) = self.woke_by.take() {
            self.note_state(&msg, available, &mut changed);
        }
        while let Some(rx) = self.cameras.as_mut() {
            match rx.try_recv() {
                Ok(msg) => self.note_state(&msg, available, &mut changed),
                // Missed states: the next ones of those cameras bring them up to date.
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        changed
    }

    fn note_state(
        &self,
        msg: &ServerMessage,
        available: &mut BTreeMap<String, (String, bool)>,
        changed: &mut Vec<String>,
    ) {
        let ServerMessage::CameraStatus(state) = msg else {
            return;
        };
        if !self.target.takes(&state.camera, &state.site) {
            return;
        }
        // A file that ended is not a camera that went dark.
        let up = matches!(state.status, CameraStatus::Online | CameraStatus::Ended);
        let before = available.insert(state.camera.clone(), (state.site.clone(), up));
        if before.map(|b| b.1) != Some(up) && !changed.contains(&state.camera) {
            changed.push(state.camera.clone());
        }
    }

    /// Sleeps until the next poll, until an event is committed, or until a camera state
    /// arrives (kept for [`Self::camera_changes`]).
    async fn wait_for_news(&mut self) {
        let Some(rx) = self.cameras.as_mut() else {
            tokio::time::sleep(crate::outbox::POLL).await;
            return;
        };
        let got = tokio::time::timeout(crate::outbox::POLL, async {
            loop {
                match rx.recv().await {
                    Ok(msg) if matches!(&*msg, ServerMessage::CameraStatus(_)) => {
                        return Some(Some(msg));
                    }
                    // A committed event: the log has something new.
                    Ok(msg) if msg.seq().is_some() => return Some(None),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return Some(None),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .await;
        match got {
            Ok(Some(Some(msg))) => self.woke_by = Some(msg),
            Ok(Some(None)) | Err(_) => {}
            Ok(None) => self.cameras = None,
        }
    }

    /// What one log event becomes.
    async fn messages(&self, event: &ServerMessage, fights: &mut Fights) -> Vec<Message> {
        let Some((kind, camera, site)) = kind_of(event) else {
            return Vec::new();
        };
        if !self.target.takes(camera, site) {
            return Vec::new();
        }
        let Some(seq) = event.seq() else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(2);
        match serde_json::to_vec(&Payload {
            kind: kind.as_str(),
            seq,
            event,
        }) {
            Ok(payload) => out.push(Message {
                topic: self.target.topic("alerts"),
                retain: false,
                payload,
            }),
            Err(e) => tracing::error!(error = %e, seq, "Cannot serialise an event for MQTT."),
        }
        match event {
            ServerMessage::FightAlert(a) if a.label == FIGHT => {
                fights
                    .open
                    .entry(a.camera.clone())
                    .or_default()
                    .insert(a.id.clone());
                fights.cameras.insert(a.camera.clone(), true);
                out.push(self.fight(&a.camera, true));
            }
            ServerMessage::AlertUpdate(u)
                if u.ended_at.is_some()
                    || matches!(u.status, AlertStatus::Ended | AlertStatus::Resolved) =>
            {
                let open = fights.open.entry(u.camera.clone()).or_default();
                let was_on = open.remove(&u.id) || {
                    // Raised before a restart: ask the store what it was.
                    let id = u.id.clone();
                    self.store(move |s| s.alert(&id))
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|a| a.label == FIGHT)
                };
                // Another fight of the camera may still be going on.
                if was_on && fights.open.get(&u.camera).is_none_or(HashSet::is_empty) {
                    fights.open.remove(&u.camera);
                    fights.cameras.insert(u.camera.clone(), false);
                    out.push(self.fight(&u.camera, false));
                }
            }
            _ => {}
        }
        out
    }
}
