//! axum extractors every route uses: who is asking (a role, checked once, here) and how
//! errors become responses.

use std::sync::Arc;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fightwatch_protocol::ErrorBody;

use crate::auth::Claims;
use crate::hub::{Hub, HubError};

/// Every error response: a status and `{"error": "..."}`. Internal details go to the log,
/// never to the client.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    retry_after_s: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 429 or 503 with `Retry-After`.
    pub(crate) fn retry_after(
        status: StatusCode,
        seconds: u64,
        message: impl Into<String>,
    ) -> Self {
        Self {
            retry_after_s: Some(seconds),
            ..Self::new(status, message)
        }
    }

    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(s) = self.retry_after_s {
            resp.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        resp
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::Alerts(e) if e.is_no_such_alert() => Self::not_found("no such alert"),
            HubError::Alerts(e) if e.conflict().is_some() => {
                Self::new(StatusCode::CONFLICT, e.conflict().unwrap_or("conflict"))
            }
            HubError::Alerts(fightwatch_alerts::AlertError::Invalid(message)) => {
                Self::bad_request(message)
            }
            HubError::Alerts(fightwatch_alerts::AlertError::Cancelled) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
            }
            HubError::Limited {
                message,
                retry_after_s,
            } => Self::retry_after(StatusCode::TOO_MANY_REQUESTS, retry_after_s, message),
            other => {
                tracing::error!(error = %other, "Request failed.");
                Self::internal()
            }
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    /// A JSON body that could not be read: 413 when it is too large, else 400.
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        Self::new(status, e.body_text())
    }
}

/// A JSON body, or the [`ApiError`] that says why it is not one.
pub(crate) struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    Json<T>: axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

impl<T, S> axum::extract::OptionalFromRequest<S> for Body<T>
where
    Json<T>:
        axum::extract::OptionalFromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// No body (no JSON content type) is `None`; a bad one is still an error.
    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Self>, ApiError> {
        let json =
            <Json<T> as axum::extract::OptionalFromRequest<S>>::from_request(req, state).await?;
        Ok(json.map(|Json(value)| Self(value)))
    }
}

/// The `?token=` of a request's query, if any (for links that cannot set headers, such as
/// `<img src>`); the header and the cookie come first.
fn query_token(parts: &Parts) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    axum::extract::Query::<TokenQuery>::try_from_uri(&parts.uri)
        .ok()?
        .0
        .token
}

/// A signed-in user with a live session, whatever the role: 401 otherwise.
pub(crate) struct Authenticated(pub Claims);

impl FromRequestParts<Arc<Hub>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, ApiError> {
        let token = query_token(parts);
        hub.authenticate(&parts.headers, token.as_deref())
            .await
            .map(Self)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
    }
}

/// Extractors of a role or above: 401 without a live session, 403 for a lower role.
macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $allowed:expr, $refusal:literal) => {
        $(#[$doc])*
        pub(crate) struct $name(pub Claims);

        impl FromRequestParts<Arc<Hub>> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                hub: &Arc<Hub>,
            ) -> Result<Self, ApiError> {
                let Authenticated(claims) = Authenticated::from_request_parts(parts, hub).await?;
                let allowed: fn(crate::Role) -> bool = $allowed;
                if allowed(claims.role) {
                    Ok(Self(claims))
                } else {
                    Err(ApiError::forbidden(format!($refusal, claims.role)))
                }
            }
        }
    };
}

role_extractor!(
    /// Watches alerts, cameras and chat: viewer, operator or admin.
    Viewer,
    crate::Role::can_view,
    "the {} role may not view this"
);
role_extractor!(
    /// Acknowledges alerts: operator or admin.
    Operator,
    crate::Role::can_ack,
    "the {} role may not do this: it needs the operator role"
);
role_extractor!(
    /// Administers the node (tuning reports, integrations' state): admin only. They name every
    /// camera and its settings, or the receivers' addresses.
    Admin,
    |role| role == crate::Role::Admin,
    "the {} role may not do this: it is for admins"
);
role_extractor!(
    /// Reports detections: detector or admin.
    Detector,
    crate::Role::can_detect,
    "the {} role may not report detections: it needs the detector role"
);

/// A camera named by the route's `{name}` that the viewer may see: 403 "not your camera"
/// otherwise (camera names are not secret: they are in every alert of the camera).
pub(crate) struct VisibleCamera {
    /// Who asks.
    pub claims: Claims,
    /// The camera.
    pub name: String,
}

impl FromRequestParts<Arc<Hub>> for VisibleCamera {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, ApiError> {
        let Viewer(claims) = Viewer::from_request_parts(parts, hub).await?;
        let axum::extract::Path(name) =
            axum::extract::Path::<String>::from_request_parts(parts, hub)
                .await
                .map_err(|e| ApiError::bad_request(e.body_text()))?;
        if !claims.may_see(&name) {
            return Err(ApiError::forbidden("not your camera"));
        }
        Ok(Self { claims, name })
    }
}
