//! `GET /dashboard/overview?window=` (KPIs, charts, recent runs, runtime
//! health over a time window) and `GET /dashboard/agents/metrics`.

use super::error::{ApiError, Problem};
use super::AppState;
use crate::store::read_models::RunQuery;
use aggregates::{RunStatus, Timestamp};
use axum::extract::{Query, State};
use axum::Json;
use projections::{AgentMetrics, Projection, RunMetrics, RunSummary};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Runs a window's KPIs are computed over, at most.
const WINDOW_RUNS: i64 = 10_000;
/// Buckets of the runs-over-time chart.
const BUCKETS: i64 = 12;

#[utoipa::path(
    get,
    path = "/dashboard/overview",
    tag = "read models",
    params(
        ("window" = Option<String>, Query, description = "24h, 7d or 30d"),
    ),
    responses(
        (status = 200, description = "Counts and charts", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn overview(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let window = params.get("window").map(String::as_str).unwrap_or("24h");
    let window_ms: i64 = match window {
        "15m" => 15 * 60_000,
        "1h" => 3_600_000,
        "6h" => 6 * 3_600_000,
        "24h" => 24 * 3_600_000,
        "7d" => 7 * 86_400_000,
        "30d" => 30 * 86_400_000,
        other => {
            return Err(ApiError::field(
                "window",
                format!("must be 15m, 1h, 6h, 24h, 7d or 30d, not {other:?}"),
            ))
        }
    };
    let now = Timestamp::now().unix_ms();
    let since = now - window_ms;
    let query = RunQuery {
        created_after: Some(Timestamp::from_unix_ms(since).to_string()),
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
    let count = |status: RunStatus| runs.iter().filter(|r| r.status == Some(status)).count();
    let (completed, failed, cancelled) = (
        count(RunStatus::Completed),
        count(RunStatus::Failed),
        count(RunStatus::Cancelled),
    );
    let ended = completed + failed + cancelled;
    let durations: Vec<i64> = runs
        .iter()
        .filter_map(|r| Some(r.ended_at?.unix_ms() - r.started_at?.unix_ms()))
        .collect();
    let run_ids: Vec<_> = runs.iter().filter_map(|r| r.id).collect();
    let metrics: Vec<RunMetrics> = app
        .store
        .read_models_for(RunMetrics::NAME, &run_ids)
        .await?
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let statuses = [
        RunStatus::Queued,
        RunStatus::Starting,
        RunStatus::BindingSession,
        RunStatus::Running,
        RunStatus::Suspended,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];
    let bucket_ms = (window_ms / BUCKETS).max(1);
    let mut over_time = vec![0u64; BUCKETS as usize];
    for run in &runs {
        if let Some(created) = run.created_at {
            let index = ((created.unix_ms() - since) / bucket_ms).clamp(0, BUCKETS - 1);
            over_time[index as usize] += 1;
        }
    }
    let runtime_health = match app.ingestion.runtime().handshake().await {
        Ok(_) => json!({"ok": true, "runtimeKind": app.runtime_kind}),
        Err(error) => {
            json!({"ok": false, "runtimeKind": app.runtime_kind, "detail": error.to_string()})
        }
    };
    Ok(Json(json!({
        "window": window,
        "kpis": {
            "totalRuns": runs.len(),
            "activeRuns": runs.iter().filter(|r| r.status.is_some_and(|s| !s.is_terminal())).count(),
            "completedRuns": completed,
            "failedRuns": failed,
            "cancelledRuns": cancelled,
            "suspendedRuns": count(RunStatus::Suspended),
            "successRate": if ended == 0 { 0.0 } else { completed as f64 / ended as f64 },
            "avgDurationMs": if durations.is_empty() { 0 } else { durations.iter().sum::<i64>() / durations.len() as i64 },
            "totalSignals": metrics.iter().map(|m| m.signal_count).sum::<u64>(),
            "totalTokens": metrics.iter().map(|m| m.total_tokens).sum::<u64>(),
            "estimatedCostUsd": metrics.iter().map(|m| m.estimated_cost_usd).sum::<f64>(),
        },
        "charts": {
            "runsByStatus": {
                "labels": statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "data": statuses.iter().map(|s| count(*s)).collect::<Vec<_>>(),
            },
            "runsOverTime": {
                "labels": (0..BUCKETS).map(|i| Timestamp::from_unix_ms(since + i * bucket_ms).to_string()).collect::<Vec<_>>(),
                "data": over_time,
            },
        },
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
pub async fn agents(State(app): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
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
