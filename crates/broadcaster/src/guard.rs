//! Cross-site request checks and the console's security headers.
//!
//! A login cookie is sent by the browser with any request to this host, whatever page made
//! it; `SameSite=Strict` does not cover another port of the same host or a sibling subdomain
//! (they are the same *site*). So every state-changing request must come from an allowed
//! Origin (or from no browser at all) and carry `Content-Type: application/json`, which a
//! cross-origin HTML form cannot send and a cross-origin script cannot send without a CORS
//! preflight this server never answers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Hub;

/// Whether a browser `origin` may talk to this server: listed, or the server's own host.
pub(crate) fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == origin || a == "*") {
        return true;
    }
    let bare = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    host.is_some_and(|h| h == bare)
}

/// The request's Origin, when a browser sent one and it is not allowed.
pub(crate) fn foreign_origin(hub: &Hub, headers: &axum::http::HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return Some("(unreadable)".into());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    (!origin_allowed(origin, host, &hub.config.allowed_origins)).then(|| origin.to_string())
}

/// Why a request did not come from this server's own pages (or from no browser at all): a
/// foreign Origin, or a browser's `Sec-Fetch-Site` other than `same-origin` or `none` (typed
/// or bookmarked). `None` when it did.
pub(crate) fn not_same_origin(hub: &Hub, headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(origin) = foreign_origin(hub, headers) {
        return Some(format!("origin {origin}"));
    }
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        None | Some(b"same-origin") | Some(b"none") => None,
        Some(other) => Some(format!(
            "Sec-Fetch-Site {}",
            String::from_utf8_lossy(other).escape_debug()
        )),
    }
}

/// The REST error body every route answers with (`ErrorBody`: `{"error"}`).
fn refuse(status: StatusCode, message: &str) -> Response {
    crate::extract::ApiError::new(status, message).into_response()
}

/// Refuses state-changing requests from foreign origins (403) or without a JSON body type (415,
/// except Socket.IO's long-polling).
pub(crate) async fn state_changes(
    State(hub): State<Arc<Hub>>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if let Some(origin) = foreign_origin(&hub, req.headers()) {
        tracing::warn!(%origin, path = %req.uri().path(), "Refused a cross-origin request.");
        return refuse(StatusCode::FORBIDDEN, "origin not allowed");
    }
    if req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return refuse(StatusCode::FORBIDDEN, "cross-site request");
    }
    // Engine.IO's long-polling posts its own text framing; its origin was checked above, and
    // a post names a session only the handshake's reader knows.
    if req.uri().path().starts_with(crate::socketio::PATH) {
        return next.run(req).await;
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        );
    }
    next.run(req).await
}

/// The console's Content Security Policy: its own scripts, styles, images, media (`blob:`: the
/// live video's Media Source) and WebSocket only;
/// no framing (clickjacking), no plugins, no foreign form targets.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers for every response (set unless a handler set them).
pub(crate) fn headers() -> [(header::HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let allowed = vec!["https://console.example".to_string()];
        assert!(origin_allowed("https://console.example", None, &allowed));
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &allowed
        ));
        assert!(!origin_allowed(
            "http://127.0.0.1:9999",
            Some("127.0.0.1:8080"),
            &allowed
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080"),
            &allowed
        ));
    }
}
