//! `GET /runs/:id/metrics` and `GET /runs/:id/traces`.

use super::body::run_id;
use super::error::ApiError;
use super::runs::read_model;
use super::AppState;
use axum::extract::{Path, State};
use axum::Json;
use projections::{RunMetrics, RunTraces};

pub async fn run_metrics(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunMetrics>, ApiError> {
    let run_id = run_id(&id)?;
    let mut metrics = read_model::<RunMetrics>(&app, run_id).await?;
    metrics.run_id = Some(run_id);
    Ok(Json(metrics))
}

pub async fn traces(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunTraces>, ApiError> {
    let run_id = run_id(&id)?;
    Ok(Json(read_model::<RunTraces>(&app, run_id).await?))
}
