//! Probes: liveness (`/healthz`: the process serves) and readiness
//! (`/readyz`: the store answers, the runtime answers, ingestion runs).

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// How long readiness waits for the store or the runtime.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The service is up", body = serde_json::Value),
    )
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"ok": true, "service": "macp-control-plane"}))
}

/// `{ok, database, runtime: {ok, runtimeKind, detail?}, streamConsumer}`;
/// 503 unless the store and the runtime answer and ingestion is taking
/// runs (its last sweep for unfinished runs worked; not shutting down).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Store, runtime and ingestion answer", body = serde_json::Value),
        (status = 503, description = "Not ready: the body says which part", body = serde_json::Value),
    )
)]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    // The console shows `database` and `streamConsumer` as badges, green
    // only for exactly "ok"; anything else is the reason they are not.
    let database = match tokio::time::timeout(PROBE_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => READY.to_string(),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "the event store did not answer in time".to_string(),
    };
    let runtime = &app.runtime;
    let circuit_breaker = runtime.breaker().state();
    let runtime = match tokio::time::timeout(PROBE_TIMEOUT, runtime.handshake()).await {
        Ok(Ok(_)) => json!({"ok": true, "runtimeKind": app.runtime_kind}),
        Ok(Err(error)) => {
            json!({"ok": false, "runtimeKind": app.runtime_kind, "detail": error.to_string()})
        }
        Err(_) => json!({"ok": false, "runtimeKind": app.runtime_kind,
                         "detail": "the runtime did not answer in time"}),
    };
    let stream_consumer = match app.ingestion.readiness() {
        Ok(()) => READY.to_string(),
        Err(detail) => detail,
    };
    let projectors = app
        .projector_health
        .stall()
        .map_or_else(|| READY.to_string(), |stall| stall.describe());
    let ok = database == READY
        && runtime["ok"] == true
        && stream_consumer == READY
        && projectors == READY;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ok": ok,
        "database": database,
        "runtime": runtime,
        "streamConsumer": stream_consumer,
        "projectors": projectors,
        "circuitBreaker": circuit_breaker,
        "activeRuns": app.ingestion.active_runs(),
    });
    (status, Json(body))
}

/// What a part that is ready says.
const READY: &str = "ok";
