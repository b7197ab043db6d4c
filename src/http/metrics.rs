//! `GET /runs/:id/metrics` and `GET /runs/:id/traces`.

use super::body::run_id;
use super::error::{AppError, Problem};
use super::AppState;
use crate::queries::read_model;
use axum::extract::{Path, State};
use axum::Json;
use projections::{RunMetrics, RunTraces};

#[utoipa::path(
    get,
    path = "/runs/{id}/metrics",
    tag = "read models",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The run metrics", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn run_metrics(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunMetrics>, AppError> {
    let run_id = run_id(&id)?;
    let mut metrics = read_model::<RunMetrics>(&app.store, run_id).await?;
    metrics.run_id = Some(run_id);
    Ok(Json(metrics))
}

#[utoipa::path(
    get,
    path = "/runs/{id}/traces",
    tag = "read models",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The run traces", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn traces(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunTraces>, AppError> {
    let run_id = run_id(&id)?;
    Ok(Json(read_model::<RunTraces>(&app.store, run_id).await?))
}
