//! `GET /runs/:id/verify`: the run's record checked for auditors
//! (`crate::verify`): 200 when every check passes, 409 with the same
//! report when one fails.

use super::body::run_id;
use super::error::{AppError, Problem};
use super::AppState;
use crate::queries::visible_summary;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[utoipa::path(
    get,
    path = "/runs/{id}/verify",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "Verified: `{runId, verified: true, chain: {intact, events, head}, receipt?: {present, unavailable?, checks: {issuer, signed, signatureValid, commitmentMatches, verdict, problems}, asRecorded}, readModels: {matching, caughtUp, models: [{projection, matching, detail?}]}}` (`receipt` absent when the run recorded none)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "A check failed: the same report, `verified: false`, with `chain.firstBad` ({position, sequence, reason}), the receipt's `problems`, the models that differ, or `caughtUp: false` (the projectors had not folded the run's last event within 5 s)", body = serde_json::Value),
    )
)]
pub async fn verify(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    // A deleted run is gone from the API, as everywhere else (its events
    // stay; `macp-control-plane verify --run` still checks its chain).
    visible_summary(&app.store, run_id).await?;
    let report = crate::verify::verify_run(&app.store, run_id)
        .await?
        .ok_or_else(|| AppError::run_not_found(run_id))?;
    let status = if report.verified {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, Json(report)).into_response())
}
