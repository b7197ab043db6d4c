//! The HTTP API: one module per resource, all sharing [`AppState`].
//! [`router`] builds the whole API, so tests can serve it directly.

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
pub mod replay;
pub mod runs;
pub mod runtime_info;
pub mod stream;

use crate::ingestion::Ingestion;
use crate::live::LiveHub;
use crate::run_repository::RunRepository;
use crate::store::EventStore;
use axum::routing::{get, post};
use axum::Router;
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
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
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
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
