//! A webhook target: where, with which secret, and which events.

use std::time::Duration;

use fightwatch_protocol::{AlertStatus, ServerMessage};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::IntegrationError;

/// Kinds of alert events a target may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new alert (`fight_alert`: a fight, or a camera offline).
    Raised,
    /// An alert nobody acknowledged in time (`alert_escalated`).
    Escalated,
    /// An update of a resolved alert (`alert_update` with status `resolved`).
    Resolved,
    /// Any other `alert_update` (peak, end, acknowledgement, owner, clip, export).
    Updated,
}

impl EventKind {
    /// The name in the config and in the payload.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raised => "raised",
            Self::Escalated => "escalated",
            Self::Resolved => "resolved",
            Self::Updated => "updated",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Raised, Self::Escalated, Self::Resolved, Self::Updated]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The kind of an event, with its camera and site; `None` for events that are not about an
/// alert (chat).
pub fn kind_of(msg: &ServerMessage) -> Option<(EventKind, &str, &str)> {
    match msg {
        ServerMessage::FightAlert(a) => Some((EventKind::Raised, &a.camera, &a.site)),
        ServerMessage::AlertEscalated(e) => Some((EventKind::Escalated, &e.camera, &e.site)),
        ServerMessage::AlertUpdate(u) if u.status == AlertStatus::Resolved => {
            Some((EventKind::Resolved, &u.camera, &u.site))
        }
        ServerMessage::AlertUpdate(u) => Some((EventKind::Updated, &u.camera, &u.site)),
        _ => None,
    }
}

/// One webhook.
#[derive(Clone, PartialEq)]
pub struct WebhookTarget {
    /// Unique name (its cursor and metrics use it).
    pub name: String,
    /// `https://…` (or `http://` on a trusted network).
    pub url: String,
    /// The HMAC key.
    pub secret: String,
    /// Only these sites (empty: all).
    pub sites: Vec<String>,
    /// Only these cameras (empty: all).
    pub cameras: Vec<String>,
    /// Only these kinds (empty: raised, escalated and resolved).
    pub events: Vec<EventKind>,
    /// Longest a POST may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookTarget {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("sites", &self.sites)
            .field("cameras", &self.cameras)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl WebhookTarget {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), IntegrationError> {
        let bad = |message: &str| IntegrationError::Config {
            name: self.name.clone(),
            message: message.into(),
        };
        let plain = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !plain(&self.name) {
            return Err(bad("a name is 1–64 of A-Z a-z 0-9 - _ ."));
        }
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return Err(bad("url must be http:// or https://"));
        }
        if self.secret.len() < 16 {
            return Err(bad("secret must be at least 16 characters"));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            return Err(bad("timeout must be 0 to 60 s"));
        }
        Ok(())
    }

    /// Whether this target takes `msg`.
    pub fn takes(&self, msg: &ServerMessage) -> bool {
        let Some((kind, camera, site)) = kind_of(msg) else {
            return false;
        };
        let kinds_ok = if self.events.is_empty() {
            kind != EventKind::Updated
        } else {
            self.events.contains(&kind)
        };
        kinds_ok
            && (self.sites.is_empty() || self.sites.iter().any(|s| s == site))
            && (self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera))
    }
}

/// `v1=HEX`: HMAC-SHA256 of `TIMESTAMP.BODY` under `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length: new_from_slice cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

#[cfg(test)]
mod tests {
    use fightwatch_protocol::FightAlert;

    use super::*;

    fn target() -> WebhookTarget {
        WebhookTarget {
            name: "soc".into(),
            url: "https://soc.example/hook".into(),
            secret: "0123456789abcdef".into(),
            sites: vec!["hq".into()],
            cameras: vec![],
            events: vec![],
            timeout: Duration::from_secs(5),
        }
    }

    fn alert(site: &str) -> ServerMessage {
        ServerMessage::FightAlert(FightAlert {
            id: "a1".into(),
            seq: 1,
            camera: "gate".into(),
            site: site.into(),
            label: "fight".into(),
            score: 0.9,
            started_at: 1,
            snapshot_url: None,
            source: "pipeline".into(),
            region: None,
            heatmap_url: None,
        })
    }

    #[test]
    fn filters_and_settings() {
        let t = target();
        assert!(t.check().is_ok());
        assert!(t.takes(&alert("hq")));
        assert!(!t.takes(&alert("depot")));
        let short = WebhookTarget {
            secret: "short".into(),
            ..target()
        };
        assert!(short.check().is_err());
        assert!(
            !format!("{t:?}").contains("0123456789abcdef"),
            "no secret in logs"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 style check: a known key and message.
        let sig = signature("key", 1, b"x");
        assert_eq!(sig.len(), 3 + 64);
        assert_eq!(sig, signature("key", 1, b"x"));
        assert_ne!(sig, signature("key", 2, b"x"), "the timestamp is signed");
        assert_ne!(sig, signature("other", 1, b"x"));
    }
}
