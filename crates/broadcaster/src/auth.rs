//! JWT (HS256) authentication and roles.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use fightwatch_protocol::Role;

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
    /// The session this token belongs to (revocable server-side; see [`crate::Hub::authenticate`]).
    pub jti: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
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
    /// The token's session was revoked (logout, user changed or deleted) or is unknown.
    #[error("session ended: sign in again")]
    Revoked,
    /// The signing secret is too short to resist guessing.
    #[error("the JWT secret has {0} bytes; at least {min} are needed", min = Auth::MIN_SECRET_BYTES)]
    WeakSecret(usize),
}

impl Auth {
    /// The shortest secret accepted: HS256 with less than 256 bits of key can be brute-forced.
    pub const MIN_SECRET_BYTES: usize = 32;

    /// Tokens signed with `secret`, which must have at least [`Auth::MIN_SECRET_BYTES`] bytes
    /// (an empty key would let anyone sign).
    pub fn new(secret: &[u8]) -> Result<Self, AuthError> {
        if secret.len() < Self::MIN_SECRET_BYTES {
            return Err(AuthError::WeakSecret(secret.len()));
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// Claims for a new token of session `jti`: `user` with `role`, valid for `ttl_s` seconds.
    pub fn claims(
        user: &str,
        role: Role,
        ttl_s: u64,
        cameras: Option<Vec<String>>,
        jti: String,
    ) -> Claims {
        let now = fightwatch_protocol::now_ms() / 1000;
        Claims {
            sub: user.into(),
            role,
            exp: now + ttl_s,
            cameras,
            jti,
            iat: now,
        }
    }

    /// Signs `claims`. The token only works once its session is stored (see
    /// [`crate::Hub::issue_token`], which does both).
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// Checks a token's signature and expiry (not its session: [`crate::Hub::authenticate`]).
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

    /// Verifies the request's token's signature and expiry (not its session).
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
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let t = auth
            .sign(&Auth::claims("ops", Role::Operator, 60, None, "s1".into()))
            .unwrap();
        let c = auth.verify(&t).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.role, c.jti.as_str()),
            ("ops", Role::Operator, "s1")
        );
        assert_eq!(Auth::new(b"").err(), Some(AuthError::WeakSecret(0)));
        assert!(Auth::new(&[7; 31]).is_err());
        let other = Auth::new(b"another secret another secret 12").unwrap();
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
    }
}
