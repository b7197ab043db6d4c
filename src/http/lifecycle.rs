//! `POST /runs/:id/cancel | suspend | resume`: one lifecycle command
//! (`commands::lifecycle`) each. Answers the Run as it is after the change.

use super::access::Caller;
use super::body::{parse_optional_json, run_id};
use super::error::{AppError, Problem};
use super::AppState;
use crate::commands::lifecycle::Change;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use projections::RunSummary;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/runs/{id}/cancel",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
    )
)]
pub async fn cancel(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<RunSummary>, AppError> {
    change(state, caller, id, body, Change::Cancel).await
}

#[utoipa::path(
    post,
    path = "/runs/{id}/suspend",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
    )
)]
pub async fn suspend(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<RunSummary>, AppError> {
    change(state, caller, id, body, Change::Suspend).await
}

#[utoipa::path(
    post,
    path = "/runs/{id}/resume",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
    )
)]
pub async fn resume(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<RunSummary>, AppError> {
    change(state, caller, id, body, Change::Resume).await
}

async fn change(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: Bytes,
    change: Change,
) -> Result<Json<RunSummary>, AppError> {
    let run_id = run_id(&id)?;
    let ReasonBody { reason } = parse_optional_json(&body)?;
    let run = app
        .commands
        .change_lifecycle(&actor, run_id, change, reason)
        .await?;
    Ok(Json(run))
}
