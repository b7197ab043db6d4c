//! `GET /events?runId&scenarioRef&type&afterTs&beforeTs&afterSeq&limit`:
//! canonical events across runs, oldest first, `{data, total, nextCursor?,
//! limit}`. `nextCursor` is the integer to send as `afterSeq` for the next
//! page (a keyset cursor: rows that arrive between pages neither repeat nor
//! shift it); absent on the last page.

use super::body::{csv_param, optional_run_id, query_int, text_param, time_bound, DayEdge};
use super::error::{ApiError, Problem};
use super::AppState;
use crate::store::read_models::canonical::EventQuery;
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(
        ("runId" = Option<String>, Query, description = "Run id"),
        ("scenarioRef" = Option<String>, Query, description = "Case-insensitive part of the runs' scenario ref"),
        ("type" = Option<String>, Query, description = "Comma-separated event types"),
        ("afterTs" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("beforeTs" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("afterSeq" = Option<i64>, Query, description = "The previous page's `nextCursor` (with `runId`: a seq of that run)"),
        ("limit" = Option<i64>, Query, description = "1..1000, default 200"),
    ),
    responses(
        (status = 200, description = "`{data, total, nextCursor?, limit}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = query_int(&params, "limit", 200, 1..=1000)?;
    // `cursor` is what earlier answers called it.
    let after = match params.contains_key("afterSeq") {
        true => query_int(&params, "afterSeq", 0, 0..=i64::MAX)?,
        false => query_int(&params, "cursor", 0, 0..=i64::MAX)?,
    };
    let query = EventQuery {
        run_id: optional_run_id(&params)?,
        scenario_ref: text_param(&params, "scenarioRef"),
        types: csv_param(&params, "type"),
        after_ts: time_bound(&params, "afterTs", DayEdge::Start)?,
        before_ts: time_bound(&params, "beforeTs", DayEdge::End)?,
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
