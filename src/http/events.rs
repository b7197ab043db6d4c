//! `GET /events?runId&scenarioRef&type&afterTs&beforeTs&afterSeq&limit`:
//! canonical events across runs, oldest first, `{data, total, nextCursor?,
//! limit}`. `nextCursor` is the integer to send as `afterSeq` for the next
//! page (a keyset cursor: rows that arrive between pages neither repeat nor
//! shift it); absent on the last page.

use super::body::{csv_param, optional_run_id, query_int, text_param, time_bound, DayEdge, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::store::read_models::canonical::EventQuery;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// `GET /events`' query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct EventsParams {
    /// Run id
    run_id: Option<String>,
    /// Case-insensitive part of the runs' scenario ref
    scenario_ref: Option<String>,
    /// Comma-separated event types
    #[serde(rename = "type")]
    #[param(rename = "type")]
    types: Option<String>,
    /// RFC 3339, exclusive
    after_ts: Option<String>,
    /// RFC 3339, inclusive
    before_ts: Option<String>,
    /// The previous page's `nextCursor` (with `runId`: a seq of that run)
    #[param(value_type = Option<i64>)]
    after_seq: Option<String>,
    /// What earlier answers called `afterSeq`
    #[param(value_type = Option<i64>)]
    cursor: Option<String>,
    /// 1..1000, default 200
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(EventsParams),
    responses(
        (status = 200, description = "`{data, total, nextCursor?, limit}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Params(params): Params<EventsParams>,
) -> Result<Json<Value>, AppError> {
    let limit = query_int(params.limit.as_deref(), "limit", 200, 1..=1000)?;
    let after = match &params.after_seq {
        Some(after_seq) => query_int(Some(after_seq), "afterSeq", 0, 0..=i64::MAX)?,
        None => query_int(params.cursor.as_deref(), "cursor", 0, 0..=i64::MAX)?,
    };
    let query = EventQuery {
        run_id: optional_run_id(params.run_id.as_deref())?,
        scenario_ref: text_param(params.scenario_ref.as_deref()),
        types: csv_param(params.types.as_deref()),
        after_ts: time_bound(params.after_ts.as_deref(), "afterTs", DayEdge::Start)?,
        before_ts: time_bound(params.before_ts.as_deref(), "beforeTs", DayEdge::End)?,
        after,
        // One more than asked says whether another page follows.
        limit: limit + 1,
    };
    let (mut page, total) = app.store.query_canonical(&query).await?;
    let more = page.len() as i64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = page.last().map(|(_, key)| *key).filter(|_| more);
    let data: Vec<Value> = page
        .iter()
        .filter_map(|(doc, _)| serde_json::from_str(doc).ok())
        .collect();
    let mut body = json!({"data": data, "total": total, "limit": limit});
    if let Some(next) = next {
        body["nextCursor"] = json!(next);
    }
    Ok(Json(body))
}
