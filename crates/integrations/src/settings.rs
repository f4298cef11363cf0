//! `[[webhooks]]` and `[[mqtt]]` of a node's configuration file: targets as an operator writes
//! them (secrets named by environment variable, durations in seconds), made into
//! [`WebhookTarget`] and [`MqttTarget`] with their secrets read and every value checked.

use std::time::Duration;

use serde::Deserialize;

use crate::{EventKind, IntegrationError, MqttTarget, WebhookTarget};

/// One `[[webhooks]]` entry (docs/integrations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Unique name.
    pub name: String,
    /// `https://…`.
    pub url: String,
    /// HMAC-SHA256 key (at least 16 characters); better from the environment:
    /// `secret_env = "VAR"`.
    #[serde(default)]
    pub secret: Option<String>,
    /// The environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Only these sites (default all).
    #[serde(default)]
    pub sites: Vec<String>,
    /// Only these cameras (default all).
    #[serde(default)]
    pub cameras: Vec<String>,
    /// raised, escalated, resolved, updated (default: raised, escalated, resolved).
    #[serde(default)]
    pub events: Vec<String>,
    /// Seconds a POST may take (default 5).
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
}

fn default_timeout_s() -> f64 {
    5.0
}

/// The value of environment variable `var`, which must be set.
fn from_env(name: &str, var: &str) -> Result<String, IntegrationError> {
    std::env::var(var).map_err(|_| IntegrationError::Config {
        name: name.into(),
        message: format!("${var} is not set"),
    })
}

impl WebhookSettings {
    /// The target, its secret read from the environment where named there.
    pub fn target(&self) -> Result<WebhookTarget, IntegrationError> {
        let bad = |message: String| IntegrationError::Config {
            name: self.name.clone(),
            message,
        };
        let secret = match (&self.secret, &self.secret_env) {
            (Some(secret), None) => secret.clone(),
            (None, Some(var)) => from_env(&self.name, var)?,
            _ => return Err(bad("give secret or secret_env (one of them)".into())),
        };
        let events = self
            .events
            .iter()
            .map(|e| {
                EventKind::parse(e).ok_or_else(|| {
                    bad(format!(
                        "event {e:?} is not raised, escalated, resolved or updated"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0 && self.timeout_s <= 60.0) {
            return Err(bad("timeout_s must be 0 to 60".into()));
        }
        let target = WebhookTarget {
            name: self.name.clone(),
            url: self.url.clone(),
            secret,
            sites: self.sites.clone(),
            cameras: self.cameras.clone(),
            events,
            timeout: Duration::from_secs_f64(self.timeout_s),
        };
        target.check()?;
        Ok(target)
    }
}

/// One `[[mqtt]]` broker (docs/integrations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    /// Unique name (webhooks and brokers share the names).
    pub name: String,
    /// `mqtt://host[:port]`.
    pub url: String,
    /// Broker user.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the user's password (never in the file).
    #[serde(default)]
    pub password_env: Option<String>,
    /// First level of every topic (default `fightwatch`).
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Only these sites (default all).
    #[serde(default)]
    pub sites: Vec<String>,
    /// Only these cameras (default all).
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_topic_prefix() -> String {
    "fightwatch".into()
}

impl MqttSettings {
    /// The target, its password read from the environment.
    pub fn target(&self) -> Result<MqttTarget, IntegrationError> {
        let password = self
            .password_env
            .as_deref()
            .map(|var| from_env(&self.name, var))
            .transpose()?;
        let target = MqttTarget {
            name: self.name.clone(),
            url: self.url.clone(),
            username: self.username.clone(),
            password,
            topic_prefix: self.topic_prefix.clone(),
            sites: self.sites.clone(),
            cameras: self.cameras.clone(),
        };
        target.check()?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(extra: &str) -> WebhookSettings {
        toml::from_str(&format!(
            "name = \"soc\"\nurl = \"https://soc.example/hook\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn a_webhook_needs_one_secret_known_events_and_a_sane_timeout() {
        let target = webhook("secret = \"0123456789abcdef\"").target().unwrap();
        assert_eq!(target.timeout, Duration::from_secs(5));
        for bad in [
            "",
            "secret = \"0123456789abcdef\"\nsecret_env = \"X\"",
            "secret = \"0123456789abcdef\"\nevents = [\"deleted\"]",
            "secret = \"0123456789abcdef\"\ntimeout_s = 0",
            "secret_env = \"FIGHTWATCH_TEST_UNSET_SECRET_VARIABLE\"",
        ] {
            let err = webhook(bad).target().unwrap_err().to_string();
            assert!(err.starts_with("integration soc: "), "{bad:?}: {err}");
        }
        assert!(
            toml::from_str::<WebhookSettings>("name = \"a\"\nurl = \"https://x\"\nsecrt = \"\"")
                .is_err()
        );
    }

    #[test]
    fn a_brokers_password_comes_from_the_environment_only() {
        let broker: MqttSettings =
            toml::from_str("name = \"bms\"\nurl = \"mqtt://127.0.0.1:1883\"").unwrap();
        assert_eq!(broker.target().unwrap().topic_prefix, "fightwatch");
        let unset = MqttSettings {
            password_env: Some("FIGHTWATCH_TEST_UNSET_MQTT_PASSWORD".into()),
            ..broker
        };
        assert!(
            unset
                .target()
                .unwrap_err()
                .to_string()
                .contains("is not set")
        );
        assert!(
            toml::from_str::<MqttSettings>("name = \"a\"\nurl = \"mqtt://h\"\npassword = \"x\"")
                .is_err()
        );
    }
}
