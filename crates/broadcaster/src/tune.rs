//! The last `fightwatch tune` report, for the console's tuning page (admins): `GET /api/tune`
//! and its plots, `GET /api/tune/{file}` (`tune-CAMERA.png`). The report is made offline, where
//! the model runs (`fightwatch tune -c CONFIG` writes it to `DATA_DIR/tune/`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fightwatch_protocol::{ErrorBody, TuneReport};

use crate::extract::{Admin, ApiError};
use crate::hub::Hub;

/// A report is a few KB per camera; anything bigger is not one.
const MAX_REPORT_BYTES: u64 = 8 * 1024 * 1024;
const MAX_PLOT_BYTES: u64 = 4 * 1024 * 1024;

async fn read(path: std::path::PathBuf, max: u64) -> Result<Option<Vec<u8>>, ApiError> {
    match tokio::fs::metadata(&path).await {
        Ok(m) if m.len() > max => Err(ApiError::internal()),
        Ok(_) => tokio::fs::read(&path).await.map(Some).map_err(|e| {
            tracing::error!(error = %e, path = %path.display(), "Reading a tuning file failed.");
            ApiError::internal()
        }),
        Err(_) => Ok(None),
    }
}

/// The last tuning report: per camera the current and proposed `start_threshold` /
/// `min_windows` and how many confirmed fights and false alarms each would raise.
#[utoipa::path(get, path = "/api/tune", tag = "operations",
    responses((status = 200, body = TuneReport), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn report(
    State(hub): State<Arc<Hub>>,
    Admin(admin): Admin,
) -> Result<Response, ApiError> {
    // It names every camera and its settings: who looked is worth a line in the log.
    tracing::info!(user = %admin.sub, "The tuning report was read.");
    let dir = hub
        .tune_dir()
        .ok_or_else(|| ApiError::not_found("no tuning report"))?;
    let bytes = read(dir.join("tune.json"), MAX_REPORT_BYTES)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "no tuning report yet: run `fightwatch tune -c CONFIG` where the model is",
            )
        })?;
    // Only a report is served: a file that is not one (hand-edited, another version's) is
    // an error, not passed through.
    let report: TuneReport = serde_json::from_slice(&bytes).map_err(|e| {
        tracing::error!(error = %e, "The tuning report is unreadable.");
        ApiError::internal()
    })?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(report)).into_response())
}

/// A camera's trade-off plot of the last report.
#[utoipa::path(get, path = "/api/tune/{file}", tag = "operations",
    params(("file" = String, Path, description = "tune-CAMERA.png, as the report names it")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn plot(
    State(hub): State<Arc<Hub>>,
    Admin(_): Admin,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    // Only names tune writes: no separators, no dot files.
    let plain = file.starts_with("tune-")
        && file.ends_with(".png")
        && file.len() <= 200
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let dir = hub.tune_dir().filter(|_| plain && !file.contains(".."));
    let Some(dir) = dir else {
        return Err(ApiError::not_found("no such plot"));
    };
    let bytes = read(dir.join(&file), MAX_PLOT_BYTES)
        .await?
        .ok_or_else(|| ApiError::not_found("no such plot"))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}
