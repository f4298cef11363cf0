//! Web Push: a phone or desktop with the console installed rings for a new or escalated alert
//! while the page is closed.
//!
//! Browsers subscribe through the console's service worker (`PushSubscription`, stored per
//! user); fightwatch signs each request with its VAPID key (RFC 8292, made at first start in
//! the data directory), encrypts the payload for the browser (RFC 8291, `aes128gcm`) with
//! `web-push-native`, and POSTs it to the browser's push service with reqwest. A subscriber
//! gets only the alerts of cameras its user may see, read from the event log after the
//! `webpush` cursor like any integration. A push service answering 404/410 has forgotten the
//! browser: the subscription is deleted.
//!
//! The endpoint is a URL a user hands the server, so it is checked against the push services
//! allowed ([`PushSettings::endpoints`]), when stored and again when used: fightwatch never
//! POSTs to an address an account picked.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fightwatch_protocol::{Role, ServerMessage, now_ms};
use fightwatch_store::{AlertStore, PushSubscription, StoreError};
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::{Auth, WebPushBuilder, p256};

use crate::{EventKind, IntegrationError, TargetStatus, kind_of};

/// The name of Web Push in `/api/integrations` and its cursor's.
pub const WEB_PUSH: &str = "webpush";
/// Tries per push (1 s, then 2 s apart) before it is given up for that event.
const TRIES: u32 = 3;
/// Pushes in flight at once, all users: each is its own task, so a slow push service holds
/// only its own place, never the next alert's pushes (audit round two, finding 6).
const CONCURRENCY: usize = 64;
/// Pushes in flight at once for one user (its browsers): one user's dead endpoints cannot take
/// every place.
const PER_USER: usize = 10;
/// Failed attempts a user's pushes may have within [`FAILURE_WINDOW`] before the failing ones
/// are no longer retried.
const FAILURE_BUDGET: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The longest one push may take, connecting included.
pub(crate) const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a push service keeps a push for a browser that is offline.
const TTL: Duration = Duration::from_secs(3600);

/// Push services a browser's endpoint may point at: `https://HOST`, `https://*.SUFFIX`, or for
/// tests and private deployments an exact `http(s)://HOST:PORT`.
pub const DEFAULT_PUSH_SERVICES: &[&str] = &[
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://*.push.apple.com",
    "https://*.notify.windows.com",
];

/// The server's VAPID key pair (P-256), kept in `DATA_DIR/vapid_p256.key` (0600).
pub struct VapidKey(ES256KeyPair);

impl VapidKey {
    /// The usual key file's name in a node's data directory.
    pub const FILE_NAME: &str = "vapid_p256.key";

    /// `FIGHTWATCH_VAPID_KEY` (a key file's contents) when set, else the key file `path`.
    /// Several nodes must share one key (a subscription is bound to the key it was made with),
    /// so `shared` refuses to fall back to a node's own file.
    pub fn load(path: &Path, shared: bool) -> Result<Self, IntegrationError> {
        match std::env::var("FIGHTWATCH_VAPID_KEY") {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text, "FIGHTWATCH_VAPID_KEY"),
            _ if shared => Err(IntegrationError::Config {
                name: WEB_PUSH.into(),
                message: "several nodes need one VAPID key: set FIGHTWATCH_VAPID_KEY on every \
                          node to the contents of one node's DATA_DIR/vapid_p256.key"
                    .into(),
            }),
            _ => Self::load_or_create(path),
        }
    }

    fn parse(text: &str, origin: &str) -> Result<Self, IntegrationError> {
        let err = |m: String| IntegrationError::Config {
            name: WEB_PUSH.into(),
            message: format!("{origin}: {m}"),
        };
        let raw = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|e| err(e.to_string()))?;
        ES256KeyPair::from_bytes(&raw)
            .map(Self)
            .map_err(|e| err(e.to_string()))
    }

    /// Reads the key file `path`, or makes it (0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, IntegrationError> {
        let path = path.to_path_buf();
        let err = |m: String| IntegrationError::Config {
            name: WEB_PUSH.into(),
            message: m,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ES256KeyPair::generate();
                let text = URL_SAFE_NO_PAD.encode(key.to_bytes());
                write_private(&path, text.as_bytes())
                    .map_err(|e| err(format!("writing {}: {e}", path.display())))?;
                Ok(Self(key))
            }
            Err(e) => Err(err(format!("reading {}: {e}", path.display()))),
        }
    }

    /// The public key as browsers want it (`applicationServerKey`): the uncompressed point,
    /// base64url.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.public_key().public_key().to_bytes_uncompressed())
    }
}

/// Creates `path` readable by its owner only (a racing second creator fails, not overwrites).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Web Push settings; `[push]` of a node's configuration file (off without it).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSettings {
    /// Who runs this server (`mailto:` or `https:`), sent to push services with each push.
    pub contact: String,
    /// Push services endpoints may point at (default: [`DEFAULT_PUSH_SERVICES`]: Google's,
    /// Mozilla's, Apple's and Microsoft's).
    #[serde(default = "default_push_services")]
    pub endpoints: Vec<String>,
}

fn default_push_services() -> Vec<String> {
    DEFAULT_PUSH_SERVICES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            contact: "mailto:security@localhost".into(),
            endpoints: default_push_services(),
        }
    }
}

impl PushSettings {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), IntegrationError> {
        let bad = |message: String| IntegrationError::Config {
            name: WEB_PUSH.into(),
            message,
        };
        if !(self.contact.starts_with("mailto:") || self.contact.starts_with("https://")) {
            return Err(bad("contact must be mailto:… or https://…".into()));
        }
        for rule in &self.endpoints {
            Rule::parse(rule).ok_or_else(|| {
                bad(format!(
                    "push service {rule:?}: expected https://HOST, https://*.SUFFIX or http(s)://HOST:PORT"
                ))
            })?;
        }
        Ok(())
    }

    /// Whether a browser's endpoint points at an allowed push service.
    pub fn allows(&self, endpoint: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(endpoint) else {
            return false;
        };
        if !url.username().is_empty() || url.password().is_some() || endpoint.len() > 2048 {
            return false;
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        self.endpoints
            .iter()
            .filter_map(|r| Rule::parse(r))
            .any(|r| r.matches(url.scheme(), host, port))
    }
}

/// One allowed push service.
struct Rule {
    scheme: String,
    host: String,
    suffix: bool,
    port: Option<u16>,
}

impl Rule {
    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.split_once("://")?;
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().ok()?)),
            None => (rest, None),
        };
        // Plain http only for an exact host and port (a test receiver, a private gateway).
        if scheme == "http" && (port.is_none() || host.starts_with("*.")) {
            return None;
        }
        let (host, suffix) = match host.strip_prefix("*.") {
            Some(h) => (h, true),
            None => (host, false),
        };
        if host.is_empty() || host.contains(['/', '@', '*', '?', '#']) {
            return None;
        }
        Some(Self {
            scheme: scheme.into(),
            host: host.to_ascii_lowercase(),
            suffix,
            port,
        })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let host_ok = if self.suffix {
            host.ends_with(&format!(".{}", self.host))
        } else {
            host == self.host
        };
        // A rule without a port allows the scheme's own (443): a push service is not reached
        // on port 22 because its host name matched.
        let wanted = self
            .port
            .unwrap_or(if self.scheme == "https" { 443 } else { 80 });
        scheme == self.scheme && host_ok && port == wanted
    }
}

/// Checks what a browser sends to subscribe: an allowed endpoint, a P-256 public key and a
/// 16-byte secret. `Err` says what is wrong (for a 400).
pub fn check_subscription(
    settings: &PushSettings,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> Result<(), String> {
    if !settings.allows(endpoint) {
        return Err("endpoint is not one of the allowed push services".into());
    }
    decode_keys(p256dh, auth).map(|_| ())
}

fn decode_keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, Auth), String> {
    let key = URL_SAFE_NO_PAD
        .decode(p256dh.trim_end_matches('='))
        .ok()
        .and_then(|raw| p256::PublicKey::from_sec1_bytes(&raw).ok())
        .ok_or("keys.p256dh is not a P-256 public key (base64url)")?;
    let auth = URL_SAFE_NO_PAD
        .decode(auth.trim_end_matches('='))
        .ok()
        .filter(|a| a.len() == 16)
        .ok_or("keys.auth is not 16 bytes (base64url)")?;
    let mut secret = Auth::default();
    secret.copy_from_slice(&auth);
    Ok((key, secret))
}

/// What a browser's service worker gets (JSON, encrypted).
#[derive(serde::Serialize)]
struct Notice<'a> {
    title: String,
    body: String,
    /// Notifications of one alert replace each other.
    tag: &'a str,
    kind: &'static str,
    alert_id: &'a str,
    camera: &'a str,
    site: &'a str,
    /// The console's page of the alert.
    url: String,
}

fn notice<'a>(event: &'a ServerMessage) -> Option<Notice<'a>> {
    let (kind, camera, site) = kind_of(event)?;
    let (id, title) = match event {
        ServerMessage::FightAlert(a) if a.label == "fight" => {
            (a.id.as_str(), format!("Fight on {}", a.camera))
        }
        ServerMessage::FightAlert(a) => (a.id.as_str(), format!("Camera {} is offline", a.camera)),
        ServerMessage::AlertEscalated(e) => (
            e.id.as_str(),
            format!("Unanswered alert on {} (escalation {})", e.camera, e.level),
        ),
        _ => return None,
    };
    Some(Notice {
        title,
        body: format!("Site {site}: open the console to act on it."),
        tag: id,
        kind: kind.as_str(),
        alert_id: id,
        camera,
        site,
        url: format!("/#/live/alert:{id}"),
    })
}

/// Reads the log and starts the pushes.
pub(crate) struct PushWorker {
    pub(crate) sender: Arc<Sender>,
    pub(crate) bus: Option<crate::deliver::BusEvents>,
}

/// Sends pushes, each in its own task (see [`CONCURRENCY`]).
pub(crate) struct Sender {
    pub(crate) settings: PushSettings,
    pub(crate) key: Arc<VapidKey>,
    pub(crate) client: reqwest::Client,
    pub(crate) store: Arc<dyn AlertStore>,
    pub(crate) statuses: Arc<Mutex<BTreeMap<String, TargetStatus>>>,
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
    pub(crate) users: Mutex<BTreeMap<String, UserBudget>>,
}

/// One user's pushes in flight and recent failures.
#[derive(Debug, Default)]
pub(crate) struct UserBudget {
    in_flight: usize,
    failures: std::collections::VecDeque<std::time::Instant>,
}

impl Sender {
    /// A sender of `settings`' pushes, signed with `key`.
    pub(crate) fn new(
        settings: PushSettings,
        key: Arc<VapidKey>,
        client: reqwest::Client,
        store: Arc<dyn AlertStore>,
        statuses: Arc<Mutex<BTreeMap<String, TargetStatus>>>,
    ) -> Self {
        Self {
            settings,
            key,
            client,
            store,
            statuses,
            in_flight: Arc::new(tokio::sync::Semaphore::new(CONCURRENCY)),
            users: Mutex::default(),
        }
    }

    /// Takes one of `user`'s places; false when all are in use.
    fn take_place(&self, user: &str) -> bool {
        let Ok(mut users) = self.users.lock() else {
            return false;
        };
        let budget = users.entry(user.to_string()).or_default();
        if budget.in_flight >= PER_USER {
            return false;
        }
        budget.in_flight += 1;
        true
    }

    fn give_place(&self, user: &str) {
        if let Ok(mut users) = self.users.lock()
            && let Some(budget) = users.get_mut(user)
        {
            budget.in_flight = budget.in_flight.saturating_sub(1);
            if budget.in_flight == 0 && budget.failures.is_empty() {
                users.remove(user);
            }
        }
    }

    /// Counts a failed attempt of `user`'s; whether the user may still retry.
    fn failed(&self, user: &str) -> bool {
        let Ok(mut users) = self.users.lock() else {
            return false;
        };
        let budget = users.entry(user.to_string()).or_default();
        let now = std::time::Instant::now();
        while budget
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW)
        {
            budget.failures.pop_front();
        }
        budget.failures.push_back(now);
        budget.failures.len() < FAILURE_BUDGET
    }
}

/// How one push ended.
enum Sent {
    Taken,
    /// The browser is gone (404/410): forget it.
    Gone,
    /// Refused for good (another 4xx).
    Refused(String),
    /// Down, timed out, 429, 5xx: try again.
    Failed(String),
}

impl Sender {
    fn update(&self, f: impl FnOnce(&mut TargetStatus)) {
        crate::outbox::update_status(&self.statuses, WEB_PUSH, f);
    }

    /// Runs a store call off the runtime's threads.
    async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn AlertStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        fightwatch_store::on_blocking_pool(&self.store, f).await
    }

    async fn forget(&self, endpoint: &str, why: &str) {
        let e = endpoint.to_string();
        match self.store(move |s| s.delete_push_subscription(&e)).await {
            Ok(_) => {
                tracing::info!(endpoint = %endpoint_host(endpoint), reason = why, "Web Push subscription removed.")
            }
            Err(e) => tracing::warn!(error = %e, "Could not remove a Web Push subscription."),
        }
    }

    /// Sends one push, retrying a failure twice.
    async fn push_one(&self, sub: &PushSubscription, body: &[u8]) {
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=TRIES {
            match self.send(sub, body).await {
                Sent::Taken => {
                    self.update(|s| {
                        s.delivered += 1;
                        s.retrying = false;
                        s.last_delivered_at = Some(now_ms());
                    });
                    return;
                }
                Sent::Gone => {
                    self.forget(&sub.endpoint, "the push service says the browser is gone")
                        .await;
                    return;
                }
                Sent::Refused(why) => {
                    tracing::warn!(endpoint = %endpoint_host(&sub.endpoint), reason = %why, "A push was refused.");
                    self.update(|s| {
                        s.rejected += 1;
                        s.last_error = Some(why);
                    });
                    return;
                }
                Sent::Failed(why) => {
                    self.update(|s| {
                        s.failed_attempts += 1;
                        s.last_error = Some(why.clone());
                    });
                    let within_budget = self.failed(&sub.user);
                    if attempt == TRIES || !within_budget {
                        tracing::warn!(endpoint = %endpoint_host(&sub.endpoint), error = %why, attempt, within_budget, "A push failed; given up for this alert.");
                        return;
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }

    async fn send(&self, sub: &PushSubscription, body: &[u8]) -> Sent {
        // Checked again: the list of allowed services may have changed since it was stored.
        if !self.settings.allows(&sub.endpoint) {
            return Sent::Gone;
        }
        let (key, auth) = match decode_keys(&sub.p256dh, &sub.auth) {
            Ok(k) => k,
            Err(_) => return Sent::Gone,
        };
        let Ok(uri) = sub.endpoint.parse::<http::Uri>() else {
            return Sent::Gone;
        };
        let request = WebPushBuilder::new(uri, key, auth)
            .with_valid_duration(TTL)
            .with_vapid(&self.key.0, &self.settings.contact)
            .build(body.to_vec());
        let mut request = match request {
            Ok(r) => r,
            Err(e) => return Sent::Refused(format!("building the push: {e}")),
        };
        // A fight should wake a phone now, not at its next batch.
        request
            .headers_mut()
            .insert("urgency", http::HeaderValue::from_static("high"));
        let request = match reqwest::Request::try_from(request) {
            Ok(r) => r,
            Err(e) => return Sent::Refused(e.without_url().to_string()),
        };
        match self.client.execute(request).await {
            Ok(r) if r.status().is_success() => Sent::Taken,
            Ok(r) if matches!(r.status().as_u16(), 404 | 410) => Sent::Gone,
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                Sent::Refused(format!("HTTP {}", r.status()))
            }
            Ok(r) => Sent::Failed(format!("HTTP {}", r.status())),
            Err(e) if e.is_timeout() => Sent::Failed("timed out".into()),
            Err(e) if e.is_connect() => Sent::Failed("cannot connect".into()),
            Err(e) => Sent::Failed(e.without_url().to_string()),
        }
    }
}

impl crate::outbox::Target for PushWorker {
    fn cursor_name(&self) -> &str {
        WEB_PUSH
    }

    /// New and escalated alerts: what a guard's phone should ring for.
    fn takes(&self, event: &ServerMessage) -> bool {
        matches!(
            kind_of(event),
            Some((EventKind::Raised | EventKind::Escalated, _, _))
        )
    }

    async fn deliver(&mut self, _seq: u64, event: &ServerMessage) {
        self.push_event(event).await;
    }

    fn at(&self, seq: u64) {
        self.sender.update(|s| s.cursor = seq);
    }
}

impl PushWorker {
    pub(crate) async fn run(mut self) {
        tracing::info!(public_key = %self.sender.key.public_key(), "Web Push started.");
        let (store, mut bus) = (self.sender.store.clone(), self.bus.take());
        crate::outbox::run_outbox(&mut self, &store, &mut bus).await;
    }

    /// Pushes one event to every browser whose user may see its camera.
    async fn push_event(&self, event: &ServerMessage) {
        let Some(notice) = notice(event) else { return };
        let Ok(body) = serde_json::to_vec(&notice) else {
            return;
        };
        let subs = match self.sender.store(|s| s.push_subscriptions()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read the Web Push subscriptions.");
                return;
            }
        };
        let mut users = BTreeMap::new();
        let mut targets = Vec::new();
        for sub in subs {
            if !users.contains_key(&sub.user) {
                let name = sub.user.clone();
                let user = self
                    .sender
                    .store(move |s| s.user(&name))
                    .await
                    .ok()
                    .flatten();
                users.insert(sub.user.clone(), user);
            }
            let allowed = users
                .get(&sub.user)
                .and_then(Option::as_ref)
                .is_some_and(|u| {
                    u.role != Role::Detector
                        && u.cameras
                            .as_ref()
                            .is_none_or(|cams| cams.iter().any(|c| c == notice.camera))
                });
            if users.get(&sub.user).is_some_and(Option::is_none) {
                // Its user was deleted: nobody should be rung on its behalf.
                self.sender
                    .forget(&sub.endpoint, "its user no longer exists")
                    .await;
            } else if allowed {
                targets.push(sub);
            }
        }
        // Each push is its own task: the next event's pushes start at once, whatever a slow
        // push service does with this one's.
        let body: Arc<[u8]> = body.into();
        for sub in targets {
            if !self.sender.take_place(&sub.user) {
                tracing::debug!(user = %sub.user, "A user's pushes are all in flight; one skipped.");
                self.sender.update(|s| s.failed_attempts += 1);
                continue;
            }
            let (sender, body) = (self.sender.clone(), body.clone());
            tokio::spawn(async move {
                if let Ok(_permit) = sender.in_flight.clone().acquire_owned().await {
                    sender.push_one(&sub, &body).await;
                }
                sender.give_place(&sub.user);
            });
        }
    }
}

/// The host of an endpoint (its path identifies a browser: kept out of logs).
fn endpoint_host(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_push_services_are_posted_to() {
        let s = PushSettings {
            endpoints: vec![
                "https://fcm.googleapis.com".into(),
                "https://*.push.apple.com".into(),
                "http://127.0.0.1:9000".into(),
            ],
            ..PushSettings::default()
        };
        assert!(s.check().is_ok());
        for ok in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://fcm.googleapis.com:443/fcm/send/abc",
            "https://web.push.apple.com/QGz",
            "http://127.0.0.1:9000/push/1",
        ] {
            assert!(s.allows(ok), "{ok}");
        }
        for bad in [
            "http://fcm.googleapis.com/fcm/send/abc",
            "https://fcm.googleapis.com.evil.example/x",
            "https://push.apple.com/x",
            "https://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9001/push",
            // An allowed host on another port (audit round two: port 22 got a POST).
            "https://fcm.googleapis.com:22/",
            "https://web.push.apple.com:8443/QGz",
            "https://user:pw@fcm.googleapis.com/x",
            "not a url",
        ] {
            assert!(!s.allows(bad), "{bad}");
        }
        for rule in ["http://*.example:80", "http://host", "ftp://x", "https://"] {
            let bad = PushSettings {
                endpoints: vec![rule.into()],
                ..PushSettings::default()
            };
            assert!(bad.check().is_err(), "{rule}");
        }
    }

    #[test]
    fn subscriptions_need_real_keys() {
        let s = PushSettings::default();
        let ua = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let p256dh = URL_SAFE_NO_PAD.encode(
            p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&ua.public_key(), false)
                .as_bytes(),
        );
        let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
        let endpoint = "https://fcm.googleapis.com/fcm/send/x";
        assert!(check_subscription(&s, endpoint, &p256dh, &auth).is_ok());
        assert!(check_subscription(&s, endpoint, "AAAA", &auth).is_err());
        assert!(check_subscription(&s, endpoint, &p256dh, "AAAA").is_err());
        assert!(check_subscription(&s, "https://evil.example/x", &p256dh, &auth).is_err());
    }

    #[test]
    fn the_vapid_key_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(VapidKey::FILE_NAME);
        let a = VapidKey::load_or_create(&file).expect("made");
        let b = VapidKey::load_or_create(&file).expect("read");
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(a.public_key()).expect("b64").len(),
            65
        );
        let mode = std::fs::metadata(dir.path().join("vapid_p256.key"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
