//! `GET /audit`: who asked for what on which run, newest first, from the
//! audit-log read model (folded from the log's `ActionAudited` facts).

use super::body::{optional_run_id, query_int, storable_time, text_param, time_bound, DayEdge};
use super::error::{ApiError, Problem};
use super::AppState;
use crate::store::read_models::audit::AuditQuery;
use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

#[utoipa::path(
    get,
    path = "/audit",
    tag = "operations",
    params(
        ("runId" = Option<String>, Query, description = "Only this run"),
        ("actor" = Option<String>, Query, description = "Part of the principal (`key:<fingerprint>` or `anonymous`)"),
        ("action" = Option<String>, Query, description = "Only this action, e.g. `run.cancel`, `webhook.create`"),
        ("resource" = Option<String>, Query, description = "run, webhook, policy or circuit-breaker"),
        ("resourceId" = Option<String>, Query, description = "Only this resource"),
        ("createdAfter" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD, exclusive (`after` too)"),
        ("createdBefore" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD, inclusive (`before` too)"),
        ("limit" = Option<i64>, Query, description = "1..500, default 100"),
        ("offset" = Option<i64>, Query, description = "Default 0"),
        ("cursor" = Option<String>, Query, description = "The previous page's `nextCursor` (a keyset cursor: entries recorded meanwhile neither repeat nor shift the page); instead of `offset`"),
    ),
    responses(
        (status = 200, description = "`{data: [{id, actor, actorType, action, resource, resourceId?, requestId?, createdAt}], total, nextCursor?}`, newest first", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    // The console's names first; the earlier `after`/`before` still work.
    let bound = |names: [&str; 2], edge| -> Result<Option<String>, ApiError> {
        match time_bound(&params, names[0], edge)? {
            Some(bound) => Ok(Some(bound)),
            None => time_bound(&params, names[1], edge),
        }
    };
    let query = AuditQuery {
        run_id: optional_run_id(&params)?,
        principal: text_param(&params, "actor"),
        action: text_param(&params, "action"),
        resource: text_param(&params, "resource"),
        resource_id: text_param(&params, "resourceId"),
        after: bound(["createdAfter", "after"], DayEdge::Start)?,
        before: bound(["createdBefore", "before"], DayEdge::End)?,
        limit: query_int(&params, "limit", 100, 1..=500)?,
        offset: query_int(&params, "offset", 0, 0..=i64::MAX)?,
        after_cursor: params
            .get("cursor")
            .map(|cursor| {
                // The time part is compared with a time column: it must
                // be one (PostgreSQL would refuse the cast with a 500).
                cursor
                    .rsplit_once('|')
                    .and_then(|(at, key)| Some((storable_time(at)?.to_string(), key.to_string())))
                    .ok_or_else(|| ApiError::field("cursor", "not a cursor this service issued"))
            })
            .transpose()?,
    };
    let page = app.store.query_audit(&query).await?;
    let data: Vec<Value> = page
        .docs
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let mut body = json!({"data": data, "total": page.total, "limit": query.limit});
    if let Some(next) = page.next_cursor {
        body["nextCursor"] = json!(next);
    }
    Ok(Json(body))
}
