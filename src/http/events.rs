//! `GET /events?runId&type&afterTs&beforeTs&limit&cursor`: canonical events
//! across runs, oldest first, `{data, total, nextCursor?}`.

use super::body::{cursor, optional_run_id, page, query_int};
use super::error::{ApiError, Problem};
use super::runs::timestamp_param;
use super::AppState;
use crate::store::read_models::EventQuery;
use axum::extract::{Query, State};
use axum::Json;
use serde_json::Value;
use std::collections::HashMap;

#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(
        ("runId" = Option<String>, Query, description = "Run id"),
        ("type" = Option<String>, Query, description = "Comma-separated event types"),
        ("afterTs" = Option<String>, Query, description = "RFC 3339"),
        ("beforeTs" = Option<String>, Query, description = "RFC 3339"),
        ("limit" = Option<i64>, Query, description = "1..1000, default 200"),
        ("cursor" = Option<String>, Query, description = "From the previous page"),
    ),
    responses(
        (status = 200, description = "`{data, total, nextCursor?}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let run_id = optional_run_id(&params)?;
    let limit = query_int(&params, "limit", 200, 1..=1000)?;
    let offset = cursor(&params)?;
    let types = params
        .get("type")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let query = EventQuery {
        run_id,
        types,
        after_ts: timestamp_param(&params, "afterTs")?,
        before_ts: timestamp_param(&params, "beforeTs")?,
        limit,
        offset,
    };
    let (docs, total) = app.store.query_canonical(&query).await?;
    Ok(Json(page(&docs, total, offset)))
}
