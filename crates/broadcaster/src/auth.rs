//! JWT (HS256) authentication and roles.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a user may do. Ordered: viewer < operator < admin; detector only ingests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reports detections; may not watch.
    Detector,
    /// Watches alerts.
    Viewer,
    /// Watches and acknowledges alerts.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detector => "detector",
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// Whether this role may watch dashboards.
    pub fn can_view(self) -> bool {
        self >= Self::Viewer
    }

    /// Whether this role may acknowledge alerts.
    pub fn can_ack(self) -> bool {
        self >= Self::Operator
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "detector" => Ok(Self::Detector),
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            _ => Err(format!(
                "unknown role {s:?}: use viewer, operator, admin or detector"
            )),
        }
    }
}

/// The token's claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// User name.
    pub sub: String,
    /// Role.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Cameras this user may see; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cameras: Option<Vec<String>>,
}

impl Claims {
    /// Whether the user may see `camera`.
    pub fn may_see(&self, camera: &str) -> bool {
        self.cameras
            .as_ref()
            .is_none_or(|c| c.iter().any(|x| x == camera))
    }
}

/// Signs and checks tokens with one HS256 secret.
#[derive(Clone)]
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    /// No token in the header, cookie or query.
    #[error("no token: send Authorization: Bearer TOKEN, the fightwatch_token cookie, or ?token=")]
    Missing,
    /// The token is expired, forged or malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl Auth {
    /// Tokens signed with `secret` (at least 32 bytes is advisable).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A signed token for `user` with `role`, valid for `ttl_s` seconds.
    pub fn issue(
        &self,
        user: &str,
        role: Role,
        ttl_s: u64,
        cameras: Option<Vec<String>>,
    ) -> Result<String, AuthError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            sub: user.into(),
            role,
            exp: now + ttl_s,
            cameras,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// Checks a token's signature and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// The token of a request: `Authorization: Bearer`, the `fightwatch_token` cookie, or
    /// `?token=` (browsers cannot set headers on a WebSocket).
    pub fn token_from(headers: &HeaderMap, query_token: Option<&str>) -> Option<String> {
        if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok())
            && let Some(t) = v.strip_prefix("Bearer ")
        {
            return Some(t.trim().to_string());
        }
        if let Some(cookies) = headers.get("cookie").and_then(|v| v.to_str().ok()) {
            for c in cookies.split(';') {
                if let Some(t) = c.trim().strip_prefix("fightwatch_token=") {
                    return Some(t.to_string());
                }
            }
        }
        query_token.map(str::to_string)
    }

    /// Verifies the request's token.
    pub fn check(
        &self,
        headers: &HeaderMap,
        query_token: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let token = Self::token_from(headers, query_token).ok_or(AuthError::Missing)?;
        self.verify(&token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_and_refuse() {
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef");
        let t = auth.issue("ops", Role::Operator, 60, None).unwrap();
        let c = auth.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.role), ("ops", Role::Operator));
        let other = Auth::new(b"another secret another secret 12");
        assert!(
            matches!(other.verify(&t), Err(AuthError::Invalid(_))),
            "forged"
        );
        assert!(auth.verify("not.a.token").is_err());
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=b; fightwatch_token=xyz".parse().unwrap());
        assert_eq!(Auth::token_from(&h, None).as_deref(), Some("xyz"));
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(Auth::token_from(&h, Some("q")).as_deref(), Some("abc"));
        assert!(Role::Operator.can_ack() && !Role::Viewer.can_ack() && !Role::Detector.can_view());
    }
}
