//! `GET /metrics` in the Prometheus text format: HTTP requests by route and
//! status, envelopes recorded, runs ingesting here, SSE subscribers, and
//! each projector's lag behind the log, and the run duration histogram
//! (`macp_run_duration_seconds`, from `run_metrics`).

use super::AppState;
use crate::projector;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A counter's labels: method, route template, status.
type RequestLabels = (String, String, u16);

/// HTTP requests served, by method, route and status.
#[derive(Clone, Default)]
pub struct HttpCounters {
    counts: Arc<Mutex<BTreeMap<RequestLabels, u64>>>,
}

impl HttpCounters {
    fn add(&self, method: &str, route: &str, status: u16) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }
}

/// Counts each request under its route template (`/runs/{id}`), so that
/// run ids do not become label values.
pub async fn count_requests(
    State(counters): State<HttpCounters>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let response = next.run(request).await;
    counters.add(&method, &route, response.status().as_u16());
    response
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
    )
)]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP macp_http_requests_total HTTP requests served.\n");
    out.push_str("# TYPE macp_http_requests_total counter\n");
    {
        let counts = app
            .http_counters
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((method, route, status), count) in counts.iter() {
            let _ = writeln!(
                out,
                "macp_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
    }
    crate::run_metrics::encode_run_metrics(&mut out);
    metric(
        &mut out,
        "macp_envelopes_recorded_total",
        "counter",
        "Runtime envelopes recorded by this process.",
        crate::ingestion::ENVELOPES_RECORDED.load(Ordering::Relaxed) as f64,
    );
    metric(
        &mut out,
        "macp_sessions_not_adopted_total",
        "counter",
        "Sessions session discovery saw but could not adopt as runs.",
        crate::ingestion::discovery::SESSIONS_NOT_ADOPTED.load(Ordering::Relaxed) as f64,
    );
    metric(
        &mut out,
        "macp_runs_ingesting",
        "gauge",
        "Runs whose session this process is following.",
        app.ingestion.active_runs() as f64,
    );
    metric(
        &mut out,
        "macp_sse_subscribers",
        "gauge",
        "Live SSE subscribers on this process.",
        app.live.subscriber_count() as f64,
    );
    let breaker = app.ingestion.runtime().breaker();
    out.push_str("# HELP macp_runtime_calls_total Runtime calls by call and outcome.\n");
    out.push_str("# TYPE macp_runtime_calls_total counter\n");
    for ((call, outcome), count) in breaker.outcomes() {
        let _ = writeln!(
            out,
            "macp_runtime_calls_total{{call=\"{call}\",outcome=\"{outcome}\"}} {count}"
        );
    }
    metric(
        &mut out,
        "macp_runtime_circuit_open",
        "gauge",
        "1 while the circuit breaker in front of the runtime is open or half-open.",
        f64::from(u8::from(
            breaker.state() != crate::runtime::breaker::CircuitState::Closed,
        )),
    );
    let stall = app.projector_health.stall();
    metric(
        &mut out,
        "macp_projectors_stalled",
        "gauge",
        "1 while the projectors cannot fold or write the log's next events (see /readyz).",
        f64::from(u8::from(stall.is_some())),
    );
    metric(
        &mut out,
        "macp_projector_batch_failures_total",
        "counter",
        "Projector batches that failed to fold or commit (each is retried).",
        app.projector_health.failures() as f64,
    );
    if let Some(stall) = &stall {
        let _ = writeln!(out, "macp_projector_stalled_position {}", stall.position);
    }
    out.push_str("# HELP macp_projector_lag_events Log positions a projector has yet to fold.\n");
    out.push_str("# TYPE macp_projector_lag_events gauge\n");
    if let (Ok(head), Ok(checkpoints)) = (
        app.store.head_position().await,
        app.store.checkpoints().await,
    ) {
        for projector in projector::served(&app.live) {
            let checkpoint = checkpoints.get(projector.name()).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "macp_projector_lag_events{{projector=\"{}\"}} {}",
                projector.name(),
                (head - checkpoint).max(0)
            );
        }
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}
