//! `GET /metrics` in the Prometheus text format, encoded by
//! prometheus-client: HTTP requests by route and status and their latency,
//! envelopes recorded, runs ingesting here, SSE subscribers, runtime calls,
//! each projector's lag behind the log, and the run duration histogram
//! (`macp_run_duration_seconds`, from `run_metrics`).
//!
//! Request figures live in a registry of their own for the life of the
//! service; the others are read at each scrape from where they are kept
//! (ingestion, the breaker, the store) into a registry made for it.

use super::AppState;
use crate::projector;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// A request's labels: method, route template, status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// A request's latency labels: method and route template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    call: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectorLabels {
    projector: &'static str,
}

/// The requests served: counted by method, route and status, timed by
/// method and route.
#[derive(Clone)]
pub struct HttpMetrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        // 1 ms to about 33 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 16))) as fn() -> Histogram,
        );
        let mut registry = Registry::with_prefix("macp");
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "How long requests took to answer (for SSE, to open the stream)",
            latency.clone(),
        );
        HttpMetrics {
            registry: Arc::new(registry),
            requests,
            latency,
        }
    }
}

/// Counts and times each request under its route template
/// (`/runs/{id}`), so that run ids do not become label values.
pub async fn count_requests(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
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
    append(&mut out, &app.http_metrics.registry);
    append(&mut out, crate::run_metrics::registry());
    append(&mut out, &scraped(&app).await);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

/// Appends a registry's text in Prometheus' 0.0.4 format (what the web
/// console and older scrapers parse; `GET /metrics` always answered it).
fn append(out: &mut String, registry: &Registry) {
    let mut text = String::new();
    if encode(&mut text, registry).is_ok() {
        out.push_str(&text_format(&text));
    }
}

/// prometheus-client's OpenMetrics text as the 0.0.4 text format: a
/// counter's `# HELP` and `# TYPE` lines name its samples (`x_total`),
/// where OpenMetrics names the family (`x`), and no closing `# EOF`.
fn text_format(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines().filter(|line| *line != "# EOF") {
        let comment = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match comment {
            Some((prefix, rest)) => {
                let name = rest.split(' ').next().unwrap_or_default();
                text.push_str(prefix);
                text.push_str(name);
                if counters.contains(&name) {
                    text.push_str("_total");
                }
                text.push_str(&rest[name.len()..]);
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// A gauge holding `value` now.
fn gauge(value: i64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value);
    gauge
}

/// A counter that has counted `total` so far (kept elsewhere).
fn counter(total: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(total);
    counter
}

/// The figures kept outside this module, read now.
async fn scraped(app: &AppState) -> Registry {
    let mut registry = Registry::with_prefix("macp");
    registry.register(
        "envelopes_recorded",
        "Runtime envelopes recorded by this process",
        counter(crate::ingestion::ENVELOPES_RECORDED.load(Ordering::Relaxed)),
    );
    registry.register(
        "sessions_not_adopted",
        "Sessions session discovery saw but could not adopt as runs",
        counter(crate::ingestion::discovery::SESSIONS_NOT_ADOPTED.load(Ordering::Relaxed)),
    );
    registry.register(
        "runs_ingesting",
        "Runs whose session this process is following",
        gauge(i64::try_from(app.ingestion.active_runs()).unwrap_or(i64::MAX)),
    );
    registry.register(
        "sse_subscribers",
        "Live SSE subscribers on this process",
        gauge(i64::try_from(app.live.subscriber_count()).unwrap_or(i64::MAX)),
    );
    let breaker = app.runtime.breaker();
    let calls = Family::<CallLabels, Counter>::default();
    for ((call, outcome), count) in breaker.outcomes() {
        calls
            .get_or_create(&CallLabels { call, outcome })
            .inc_by(count);
    }
    registry.register("runtime_calls", "Runtime calls by call and outcome", calls);
    let open = breaker.state() != crate::runtime::breaker::CircuitState::Closed;
    registry.register(
        "runtime_circuit_open",
        "1 while the circuit breaker in front of the runtime is open or half-open",
        gauge(i64::from(open)),
    );
    let stall = app.projector_health.stall();
    registry.register(
        "projectors_stalled",
        "1 while the projectors cannot fold or write the log's next events (see /readyz)",
        gauge(i64::from(stall.is_some())),
    );
    registry.register(
        "projector_batch_failures",
        "Projector batches that failed to fold or commit (each is retried)",
        counter(app.projector_health.failures()),
    );
    if let Some(stall) = &stall {
        registry.register(
            "projector_stalled_position",
            "The log position the stalled projectors cannot get past",
            gauge(stall.position),
        );
    }
    let lags = Family::<ProjectorLabels, Gauge>::default();
    if let (Ok(head), Ok(checkpoints)) = (
        app.store.head_position().await,
        app.store.checkpoints().await,
    ) {
        for projector in projector::served(&app.live) {
            let checkpoint = checkpoints.get(projector.name()).copied().unwrap_or(0);
            lags.get_or_create(&ProjectorLabels {
                projector: projector.name(),
            })
            .set((head - checkpoint).max(0));
        }
    }
    registry.register(
        "projector_lag_events",
        "Log positions a projector has yet to fold",
        lags,
    );
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_and_nothing_follows() {
        let openmetrics = "# HELP macp_x Things.\n# TYPE macp_x counter\nmacp_x_total 3\n\
                           # HELP macp_y Now.\n# TYPE macp_y gauge\nmacp_y 1\n# EOF\n";
        assert_eq!(
            text_format(openmetrics),
            "# HELP macp_x_total Things.\n# TYPE macp_x_total counter\nmacp_x_total 3\n\
             # HELP macp_y Now.\n# TYPE macp_y gauge\nmacp_y 1\n"
        );
    }
}
