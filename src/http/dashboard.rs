//! `GET /dashboard/overview?window=` (KPIs, charts, recent runs, runtime
//! health over a time window) and `GET /dashboard/agents/metrics`.

use super::body::{text_param, time_bound, window_ms, DayEdge, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::store::read_models::run_list::RunQuery;
use aggregates::Timestamp;
use axum::extract::State;
use axum::Json;
use projections::dashboard::dashboard_overview;
use projections::{AgentMetrics, Projection, RunMetrics, RunSummary};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// Runs a window's KPIs are computed over, at most.
const WINDOW_RUNS: i64 = 10_000;

/// `overview`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct OverviewParams {
    /// 15m, 1h, 6h, 24h, 7d, 30d, or all (the default)
    window: Option<String>,
    /// RFC 3339 or YYYY-MM-DD: an explicit range instead of `window`
    from: Option<String>,
    /// RFC 3339 or YYYY-MM-DD, inclusive; default now
    to: Option<String>,
    /// Only runs whose scenario ref contains this
    scenario_ref: Option<String>,
    /// Only runs of this `metadata.environment`
    environment: Option<String>,
}

#[utoipa::path(
    get,
    path = "/dashboard/overview",
    tag = "read models",
    params(OverviewParams),
    responses(
        (status = 200, description = "`{window, kpis, charts: {runVolume, latency, errorClasses, signalVolume, throughput, queueDepth, runsByStatus, runsOverTime: {labels, data}}, recentRuns, runtimeHealth}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn overview(
    State(app): State<AppState>,
    Params(params): Params<OverviewParams>,
) -> Result<Json<Value>, AppError> {
    let now = Timestamp::now().unix_ms();
    let from = time_bound(params.from.as_deref(), "from", DayEdge::Start)?;
    let to = time_bound(params.to.as_deref(), "to", DayEdge::End)?;
    let window = window_ms(params.window.as_deref())?;
    let since = match (&from, window) {
        (Some(from), _) => Timestamp::parse(from).map(Timestamp::unix_ms),
        (None, Some(window)) => Some(now - window),
        (None, None) => None,
    };
    let until = to
        .as_deref()
        .and_then(Timestamp::parse)
        .map_or(now, Timestamp::unix_ms);
    let query = RunQuery {
        created_after: since.map(|ms| Timestamp::from_unix_ms(ms).to_string()),
        created_before: to.clone(),
        environment: text_param(params.environment.as_deref()),
        scenario_ref: text_param(params.scenario_ref.as_deref()),
        include_archived: true,
        descending: true,
        limit: WINDOW_RUNS,
        ..Default::default()
    };
    let (docs, _) = app.store.list_runs(&query).await?;
    let runs: Vec<RunSummary> = docs
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let run_ids: Vec<_> = runs.iter().filter_map(|r| r.id).collect();
    let metrics: Vec<RunMetrics> = app
        .store
        .read_models_for(RunMetrics::NAME, &run_ids)
        .await?
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    // "All": the buckets span from the oldest run shown to now.
    let start = since.unwrap_or_else(|| {
        runs.iter()
            .filter_map(|r| r.created_at.map(Timestamp::unix_ms))
            .min()
            .unwrap_or(until - 3_600_000)
    });
    let runtime_health = match app.runtime.handshake().await {
        Ok(_) => json!({"ok": true, "runtimeKind": app.runtime_kind}),
        Err(error) => {
            json!({"ok": false, "runtimeKind": app.runtime_kind, "detail": error.to_string()})
        }
    };
    let overview = dashboard_overview(&runs, &metrics, start, until);
    Ok(Json(json!({
        "window": params.window.as_deref().unwrap_or("all"),
        "kpis": overview.kpis,
        "charts": overview.charts,
        "recentRuns": runs.iter().take(10).collect::<Vec<_>>(),
        "runtimeHealth": runtime_health,
    })))
}

/// `[{participantId, runs, signals, messages, averageConfidence}]`.
#[utoipa::path(
    get,
    path = "/dashboard/agents/metrics",
    tag = "read models",
    responses(
        (status = 200, description = "Per-participant figures", body = serde_json::Value),
    )
)]
pub async fn agents(State(app): State<AppState>) -> Result<Json<Vec<Value>>, AppError> {
    let docs = app
        .store
        .read_models_of(crate::projector::AGENT_METRICS)
        .await?;
    let agents = docs
        .iter()
        .filter_map(|d| serde_json::from_str::<AgentMetrics>(d).ok())
        .map(|a| {
            json!({"participantId": a.participant_id, "runs": a.runs, "signals": a.signals,
                   "messages": a.messages, "averageConfidence": a.average_confidence})
        })
        .collect();
    Ok(Json(agents))
}
