//! Web Push subscriptions: `GET /api/push` (the VAPID key), `POST` and `DELETE
//! /api/push/subscriptions` (a browser of the signed-in user). The sender lives in
//! fightwatch-integrations.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fightwatch_protocol::{
    ErrorBody, PushInfo, PushSubscribeRequest, PushUnsubscribeRequest, now_ms,
};
use fightwatch_store::PushSubscription;

use crate::extract::{ApiError, Body, Viewer};
use crate::hub::Hub;

/// Browsers one user may have subscribed at once; a new one beyond replaces the oldest.
pub(crate) const MAX_PER_USER: usize = 10;

/// Whether Web Push is on, and the key to subscribe with.
#[utoipa::path(get, path = "/api/push", tag = "session",
    responses((status = 200, body = PushInfo)))]
pub(crate) async fn info(State(hub): State<Arc<Hub>>, Viewer(_): Viewer) -> Json<PushInfo> {
    let push = hub.push();
    Json(PushInfo {
        enabled: push.is_some(),
        public_key: push.map(|(_, key)| key.public_key()),
    })
}

/// Subscribes this browser: it is rung for new and escalated alerts of the user's cameras.
#[utoipa::path(post, path = "/api/push/subscriptions", tag = "session",
    request_body = PushSubscribeRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn subscribe(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Body(body): Body<PushSubscribeRequest>,
) -> Result<Response, ApiError> {
    let Some((settings, _)) = hub.push() else {
        return Err(ApiError::not_found(
            "Web Push is not configured on this server",
        ));
    };
    if body.keys.p256dh.len() > 256 || body.keys.auth.len() > 64 {
        return Err(ApiError::bad_request("keys too long"));
    }
    fightwatch_integrations::check_subscription(
        settings,
        &body.endpoint,
        &body.keys.p256dh,
        &body.keys.auth,
    )
    .map_err(ApiError::bad_request)?;
    let sub = PushSubscription {
        user: claims.sub.clone(),
        endpoint: body.endpoint,
        p256dh: body.keys.p256dh,
        auth: body.keys.auth,
        created_at: now_ms(),
    };
    let stored = hub
        .blocking({
            let name = claims.sub.clone();
            move |s| s.user(&name)
        })
        .await?;
    if stored.is_none() {
        // Pushes follow the stored account's cameras, role and deletion.
        return Err(ApiError::forbidden(
            "Web Push needs a user account (fightwatch user add), not a bare token",
        ));
    }
    let stored = hub
        .blocking(move |s| {
            let all = s.push_subscriptions()?;
            if all
                .iter()
                .any(|p| p.endpoint == sub.endpoint && p.user != sub.user)
            {
                return Ok(false);
            }
            let mine: Vec<PushSubscription> = all
                .into_iter()
                .filter(|p| p.user == sub.user && p.endpoint != sub.endpoint)
                .collect();
            // Oldest first: drop what would go beyond the limit.
            for old in mine
                .iter()
                .take((mine.len() + 1).saturating_sub(MAX_PER_USER))
            {
                s.delete_push_subscription(&old.endpoint)?;
            }
            // The store checks the owner again, atomically (two requests at once).
            s.put_push_subscription(&sub)
        })
        .await?;
    if !stored {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this push endpoint belongs to another user: that user must unsubscribe it first",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Unsubscribes a browser (one of the user's own; an admin may remove any).
#[utoipa::path(delete, path = "/api/push/subscriptions", tag = "session",
    request_body = PushUnsubscribeRequest,
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn unsubscribe(
    State(hub): State<Arc<Hub>>,
    Viewer(claims): Viewer,
    Body(body): Body<PushUnsubscribeRequest>,
) -> Result<Response, ApiError> {
    let admin = claims.role == crate::Role::Admin;
    let user = claims.sub.clone();
    let removed = hub
        .blocking(move |s| {
            let owned = s
                .push_subscriptions()?
                .into_iter()
                .any(|p| p.endpoint == body.endpoint && (admin || p.user == user));
            Ok(owned && s.delete_push_subscription(&body.endpoint)?)
        })
        .await?;
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("no such subscription of yours"))
    }
}
