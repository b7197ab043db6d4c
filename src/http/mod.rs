//! The HTTP API: one module per resource, all sharing [`AppState`].
//! [`router`] builds the whole API, so tests can serve it directly.

pub mod access;
pub mod admin;
pub mod archive;
pub mod artifacts;
pub mod audit;
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
pub mod openapi;
pub mod prometheus;
pub mod replay;
pub mod run_events;
pub mod run_list;
pub mod runs;
pub mod runtime_info;
pub mod stream;
pub mod verify;
pub mod webhooks;

use crate::commands::Commands;
use crate::ingestion::Ingestion;
use crate::live::LiveHub;
use crate::run_repository::RunRepository;
use crate::runtime::RuntimeClient;
use crate::store::EventStore;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
use axum::Router;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone)]
pub struct AppState {
    /// Every write use case; handlers call one each.
    pub commands: Commands,
    pub store: EventStore,
    /// The runtime, for what the API reads from it (discovery, health,
    /// validation); changes go through `commands`.
    pub runtime: RuntimeClient,
    pub repo: RunRepository,
    pub ingestion: Ingestion,
    pub runtime_kind: String,
    pub live: LiveHub,
    /// Default interval of SSE heartbeats.
    pub sse_heartbeat_ms: u64,
    pub http_metrics: prometheus::HttpMetrics,
    /// Whether the projectors keep up (`/readyz`, `/metrics`).
    pub projector_health: crate::projector::ProjectorHealth,
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
    let counters = state.http_metrics.clone();
    routes()
        // Each layer wraps the ones above it, so a request meets the last
        // one first: its id is set before anything else, and every log line
        // and response carries it.
        .layer(middleware::from_fn(body::refuse_nul_in_uri))
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

/// Every route, each documented by its handler's `#[utoipa::path]`: the
/// router and the OpenAPI document come out of the same list.
fn routes() -> Router<AppState> {
    let (router, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(prometheus::metrics))
        .routes(routes!(runs::create, run_list::list))
        .routes(routes!(runs::validate))
        .routes(routes!(export::compare))
        .routes(routes!(batch::run_batch))
        .routes(routes!(runs::get_run, runs::delete))
        .routes(routes!(runs::clone_run))
        .routes(routes!(runs::archive))
        .routes(routes!(export::export))
        .routes(routes!(verify::verify))
        .routes(routes!(archive::archive))
        .routes(routes!(metrics::run_metrics))
        .routes(routes!(metrics::traces))
        .routes(routes!(artifacts::list, artifacts::register))
        .routes(routes!(runs::rebuild_projection))
        .routes(routes!(events::list))
        .routes(routes!(dashboard::overview))
        .routes(routes!(dashboard::agents))
        .routes(routes!(runs::get_state))
        .routes(routes!(run_events::list_events))
        .routes(routes!(stream::stream))
        .routes(routes!(replay::describe))
        .routes(routes!(replay::stream))
        .routes(routes!(replay::state))
        .routes(routes!(messages::send, messages::list))
        .routes(routes!(messages::signal))
        .routes(routes!(messages::context))
        .routes(routes!(lifecycle::cancel))
        .routes(routes!(lifecycle::suspend))
        .routes(routes!(lifecycle::resume))
        .routes(routes!(runtime_info::manifest))
        .routes(routes!(runtime_info::modes))
        .routes(routes!(runtime_info::roots))
        .routes(routes!(runtime_info::health))
        .routes(routes!(
            runtime_info::list_policies,
            runtime_info::register_policy
        ))
        .routes(routes!(
            runtime_info::get_policy,
            runtime_info::delete_policy
        ))
        .routes(routes!(audit::list))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(admin::breaker_history))
        .routes(routes!(admin::reset_breaker))
        .split_for_parts();
    router.merge(openapi::docs(openapi::finish(document)))
}
