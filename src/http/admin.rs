//! `/admin`: the circuit breaker in front of the runtime.

use super::AppState;
use crate::runtime::breaker::BreakerReport;
use axum::extract::State;
use axum::Json;

/// The breaker's state and every change of state it remembers, newest last.
#[utoipa::path(
    get,
    path = "/admin/circuit-breaker/history",
    tag = "operations",
    responses(
        (status = 200, description = "`{state, consecutiveFailures, failureThreshold, cooldownMs, history: [{at, from, to, reason}]}`", body = serde_json::Value),
    )
)]
pub async fn breaker_history(State(app): State<AppState>) -> Json<BreakerReport> {
    Json(app.ingestion.runtime().breaker().report())
}

/// Closes the circuit by hand (after the runtime is known to be back).
#[utoipa::path(
    post,
    path = "/admin/circuit-breaker/reset",
    tag = "operations",
    responses(
        (status = 200, description = "The breaker after the reset", body = serde_json::Value),
    )
)]
pub async fn reset_breaker(State(app): State<AppState>) -> Json<BreakerReport> {
    tracing::info!("circuit breaker reset by an operator");
    Json(
        app.ingestion
            .runtime()
            .breaker()
            .reset("reset by an operator (POST /admin/circuit-breaker/reset)"),
    )
}
