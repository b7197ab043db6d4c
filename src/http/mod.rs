//! The HTTP API: one module per resource, all sharing [`AppState`].
//! [`router`] builds the whole API, so tests can serve it directly.

pub mod access;
pub mod artifacts;
pub mod batch;
pub mod body;
pub mod dashboard;
pub mod error;
pub mod events;
pub mod export;
pub mod health;
pub mod lifecycle;
pub mod messages;
pub mod metrics;
pub mod prometheus;
pub mod replay;
pub mod runs;
pub mod runtime_info;
pub mod stream;

use crate::ingestion::Ingestion;
use crate::live::LiveHub;
use crate::run_repository::RunRepository;
use crate::store::EventStore;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub store: EventStore,
    pub repo: RunRepository,
    pub ingestion: Ingestion,
    pub runtime_kind: String,
    pub live: LiveHub,
    /// Default interval of SSE heartbeats.
    pub sse_heartbeat_ms: u64,
    pub http_counters: prometheus::HttpCounters,
}

/// What guards the API: keys, rate limit, body limit, browser origins.
#[derive(Clone, Default)]
pub struct Guard {
    pub access: access::Access,
    pub body_limit_bytes: usize,
    /// Allowed origins, or `*`; empty: no CORS headers.
    pub cors_origins: Vec<String>,
}

pub fn router(state: AppState, guard: Guard) -> Router {
    let counters = state.http_counters.clone();
    routes()
        // Each layer wraps the ones above it, so a request meets the last
        // one first: its id is set before anything else, and every log line
        // and response carries it.
        .layer(middleware::from_fn_with_state(guard.access, access::enforce))
        // BODY_LIMIT_BYTES alone decides, not axum's own 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(guard.body_limit_bytes))
        .layer(middleware::from_fn(access::explain_payload_too_large))
        // Outside the guards, so that refusals are counted too.
        .layer(middleware::from_fn_with_state(
            counters,
            prometheus::count_requests,
        ))
        .layer(cors(&guard.cors_origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// The header that carries each request's id (set when the client sent none).
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn cors(origins: &[String]) -> CorsLayer {
    if origins.is_empty() {
        return CorsLayer::new();
    }
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([REQUEST_ID.clone()]);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(allowed))
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(prometheus::metrics))
        .route("/runs", post(runs::create).get(runs::list))
        .route("/runs/validate", post(runs::validate))
        .route("/runs/compare", post(export::compare))
        .route("/runs/batch/{operation}", post(batch::run_batch))
        .route("/runs/{id}", get(runs::get_run).delete(runs::delete))
        .route("/runs/{id}/clone", post(runs::clone_run))
        .route("/runs/{id}/archive", post(runs::archive))
        .route("/runs/{id}/export", get(export::export))
        .route("/runs/{id}/metrics", get(metrics::run_metrics))
        .route("/runs/{id}/traces", get(metrics::traces))
        .route(
            "/runs/{id}/artifacts",
            get(artifacts::list).post(artifacts::register),
        )
        .route(
            "/runs/{id}/projection/rebuild",
            post(runs::rebuild_projection),
        )
        .route("/events", get(events::list))
        .route("/dashboard/overview", get(dashboard::overview))
        .route("/dashboard/agents/metrics", get(dashboard::agents))
        .route("/runs/{id}/state", get(runs::get_state))
        .route("/runs/{id}/events", get(runs::list_events))
        .route("/runs/{id}/stream", get(stream::stream))
        .route("/runs/{id}/replay", post(replay::describe))
        .route("/runs/{id}/replay/stream", get(replay::stream))
        .route("/runs/{id}/replay/state", get(replay::state))
        .route(
            "/runs/{id}/messages",
            post(messages::send).get(messages::list),
        )
        .route("/runs/{id}/signal", post(messages::signal))
        .route("/runs/{id}/context", post(messages::context))
        .route("/runs/{id}/cancel", post(lifecycle::cancel))
        .route("/runs/{id}/suspend", post(lifecycle::suspend))
        .route("/runs/{id}/resume", post(lifecycle::resume))
        .route("/runtime/manifest", get(runtime_info::manifest))
        .route("/runtime/modes", get(runtime_info::modes))
        .route("/runtime/roots", get(runtime_info::roots))
        .route("/runtime/health", get(runtime_info::health))
        .route(
            "/runtime/policies",
            get(runtime_info::list_policies).post(runtime_info::register_policy),
        )
        .route(
            "/runtime/policies/{policy_id}",
            get(runtime_info::get_policy).delete(runtime_info::delete_policy),
        )
}
