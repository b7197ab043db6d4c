//! `GET /events?runId&type&afterTs&beforeTs&limit&cursor`: canonical events
//! across runs, oldest first, `{data, total, nextCursor?}`.

use super::body::query_int;
use super::error::ApiError;
use super::error::Problem;
use super::runs::timestamp_param;
use super::AppState;
use crate::store::read_models::EventQuery;
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

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
    let run_id = params
        .get("runId")
        .map(|id| {
            Uuid::parse_str(id)
                .map_err(|_| ApiError::field("runId", format!("{id:?} is not a UUID")))
        })
        .transpose()?;
    let limit = query_int(&params, "limit", 200, 1..=1000)?;
    // The cursor is opaque to clients; here it is the offset of the next page.
    let offset = match params.get("cursor") {
        Some(cursor) => cursor
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| ApiError::field("cursor", "not a cursor this service issued"))?,
        None => 0,
    };
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
    let next = offset + docs.len() as i64;
    let data: Vec<Value> = docs
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let mut body = json!({"data": data, "total": total});
    if next < total {
        body["nextCursor"] = json!(next.to_string());
    }
    Ok(Json(body))
}
