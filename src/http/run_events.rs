//! `GET /runs/:id/events`: a run's canonical events in `seq` order,
//! filtered by type and time when asked.

use super::body::{csv_param, query_int, run_id, time_bound, DayEdge, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::queries::visible_summary;
use crate::store::read_models::canonical::EventQuery;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

/// `list_events`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunEventsParams {
    /// Exclusive; default 0
    #[serde(rename = "afterSeq")]
    #[param(rename = "afterSeq")]
    #[param(value_type = Option<i64>)]
    after_seq: Option<String>,
    /// 1..1000, default 200
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Comma-separated event types
    #[serde(rename = "type")]
    #[param(rename = "type")]
    types: Option<String>,
    /// RFC 3339, exclusive
    #[serde(rename = "afterTs")]
    #[param(rename = "afterTs")]
    after_ts: Option<String>,
    /// RFC 3339, inclusive
    #[serde(rename = "beforeTs")]
    #[param(rename = "beforeTs")]
    before_ts: Option<String>,
}

/// `GET /runs/:id/events?afterSeq&limit&type&afterTs&beforeTs`: a bare
/// array in seq order.
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    tag = "events",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
        RunEventsParams,
    ),
    responses(
        (status = 200, description = "Canonical events after a seq", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn list_events(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<RunEventsParams>,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    let after_seq = query_int(params.after_seq.as_deref(), "afterSeq", 0, 0..=i64::MAX)?;
    let limit = query_int(params.limit.as_deref(), "limit", 200, 1..=1000)?;
    let types = csv_param(params.types.as_deref());
    let after_ts = time_bound(params.after_ts.as_deref(), "afterTs", DayEdge::Start)?;
    let before_ts = time_bound(params.before_ts.as_deref(), "beforeTs", DayEdge::End)?;
    visible_summary(&app.store, run_id).await?;
    let docs = if types.is_empty() && after_ts.is_none() && before_ts.is_none() {
        app.store.canonical_events(run_id, after_seq, limit).await?
    } else {
        let query = EventQuery {
            run_id: Some(run_id),
            types,
            after_ts,
            before_ts,
            after: after_seq,
            limit,
            ..Default::default()
        };
        let (page, _) = app.store.query_canonical(&query).await?;
        page.into_iter().map(|(doc, _)| doc).collect()
    };
    // The stored documents are already JSON: splice them, do not re-parse.
    let body = format!("[{}]", docs.join(","));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}
