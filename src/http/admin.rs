//! `/admin`: the circuit breaker in front of the runtime.

use super::access::Caller;
use super::body::window_ms;
use super::body::Params;
use super::error::{AppError, Problem};
use super::AppState;
use crate::runtime::breaker::BreakerReport;
use aggregates::Timestamp;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

/// `breaker_history`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 15m, 1h, 6h, 24h, 7d, 30d or all (default): the changes within it, plus the state the window opened in
    window: Option<String>,
}

/// The breaker's state and every change of state it remembers, newest last.
#[utoipa::path(
    get,
    path = "/admin/circuit-breaker/history",
    tag = "operations",
    params(HistoryParams),
    responses(
        (status = 200, description = "`{state, consecutiveFailures, failureThreshold, cooldownMs, history: [{state: CLOSED|OPEN|HALF_OPEN, enteredAt, reason, from?}]}`, oldest first", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn breaker_history(
    State(app): State<AppState>,
    Params(params): Params<HistoryParams>,
) -> Result<Json<BreakerReport>, AppError> {
    let breaker = app.runtime.breaker();
    Ok(Json(match window_ms(params.window.as_deref())? {
        Some(window) => {
            breaker.report_since(Timestamp::from_unix_ms(Timestamp::now().unix_ms() - window))
        }
        None => breaker.report(),
    }))
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
pub async fn reset_breaker(
    State(app): State<AppState>,
    Caller(actor): Caller,
) -> Json<BreakerReport> {
    Json(app.commands.reset_breaker(&actor).await)
}
