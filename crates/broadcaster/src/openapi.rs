//! The REST API's OpenAPI 3.1 document (`GET /api/openapi.json`), made by `utoipa` from the
//! handlers' `#[utoipa::path]` attributes and the `crates/protocol` types they answer.
//!
//! `docs/openapi.json` is a checked-in copy; a test fails when it is stale. Regenerate it
//! with `UPDATE_GENERATED=1 cargo test -p fightwatch-broadcaster --lib openapi`.

use std::sync::LazyLock;

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{live_video, media, push, rest, tune};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "fightwatch",
        description = "Fight alerts, their history and workflow, cameras and chat. Live events \
            come over the WebSocket at /ws (docs/protocol.md). Every route but /api/login, \
            /api/logout, /healthz and this document needs a token: `Authorization: Bearer`, \
            the `fightwatch_token` cookie that login sets, or `?token=`."
    ),
    paths(
        rest::login, rest::logout, rest::me, rest::alerts, rest::alert, rest::alert_events,
        rest::snapshot, rest::heatmap, rest::detection_media, rest::ack, rest::take, rest::assign, rest::resolve, rest::detections, rest::users, rest::messages, rest::cameras,
        rest::camera_latest, rest::prometheus, rest::healthz, rest::integrations, media::clip, media::evidence,
        media::live, live_video::live_video, push::info, push::subscribe, push::unsubscribe, tune::report, tune::plot
    ),
    modifiers(&Security),
    security(("bearer" = []), ("cookie" = []), ("query" = [])),
    tags(
        (name = "alerts", description = "Alert history, snapshots, clips, evidence exports, acknowledgement, detections"),
        (name = "session", description = "Sign in and out"),
        (name = "cameras", description = "Cameras, their latest frame and live view"),
        (name = "chat", description = "Chat history and users"),
        (name = "operations", description = "Health and Prometheus metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("fightwatch_token"))),
        );
        components.add_security_scheme(
            "query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))),
        );
    }
}

/// The document as JSON, made once.
pub(crate) fn json() -> &'static str {
    static JSON: LazyLock<String> =
        LazyLock::new(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default());
    &JSON
}

/// `GET /api/openapi.json` (no token: it describes the public source, nothing more).
pub(crate) async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checked_in_openapi_document_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let fresh = format!("{}\n", super::json());
        if std::env::var_os("UPDATE_GENERATED").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == fresh,
            "docs/openapi.json is stale: the REST API or a type it answers changed. Regenerate \
             it with\n  UPDATE_GENERATED=1 cargo test -p fightwatch-broadcaster --lib openapi"
        );
        let doc: serde_json::Value = serde_json::from_str(&fresh).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["paths"]["/api/alerts"]["get"].is_object());
        assert!(doc["components"]["schemas"]["AlertRecord"].is_object());
    }
}
