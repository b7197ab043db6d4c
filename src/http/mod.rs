//! The HTTP API: one module per resource, all sharing [`AppState`].
//! [`router`] builds the whole API, so tests can serve it directly.

pub mod body;
pub mod error;
pub mod health;
pub mod messages;
pub mod runs;

use crate::ingestion::Ingestion;
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
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/runs", post(runs::create))
        .route("/runs/{id}", get(runs::get_run))
        .route("/runs/{id}/state", get(runs::get_state))
        .route("/runs/{id}/events", get(runs::list_events))
        .route("/runs/{id}/messages", post(messages::send))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
