//! `GET /audit`: who asked for what on which run, newest first, from the
//! audit-log read model (folded from the log's `ActionAudited` facts).

use super::body::{
    optional_run_id, query_int, storable_time, text_param, time_bound, DayEdge, Params,
};
use super::error::{AppError, Problem};
use super::AppState;
use crate::store::read_models::audit::AuditQuery;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// `list`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AuditParams {
    /// Only this run
    run_id: Option<String>,
    /// Part of the principal (`key:<fingerprint>` or `anonymous`)
    actor: Option<String>,
    /// Only this action, e.g. `run.cancel`, `webhook.create`
    action: Option<String>,
    /// run, webhook, policy or circuit-breaker
    resource: Option<String>,
    /// Only this resource
    resource_id: Option<String>,
    /// RFC 3339 or YYYY-MM-DD, exclusive (`after` too)
    created_after: Option<String>,
    /// RFC 3339 or YYYY-MM-DD, inclusive (`before` too)
    created_before: Option<String>,
    /// 1..500, default 100
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Default 0
    #[param(value_type = Option<i64>)]
    offset: Option<String>,
    /// The previous page's `nextCursor` (a keyset cursor: entries recorded meanwhile neither repeat nor shift the page); instead of `offset`
    cursor: Option<String>,
    /// What `createdAfter` was called before
    after: Option<String>,
    /// What `createdBefore` was called before
    before: Option<String>,
}

#[utoipa::path(
    get,
    path = "/audit",
    tag = "operations",
    params(AuditParams),
    responses(
        (status = 200, description = "`{data: [{id, actor, actorType, action, resource, resourceId?, requestId?, createdAt}], total, nextCursor?}`, newest first", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Params(params): Params<AuditParams>,
) -> Result<Json<Value>, AppError> {
    // The console's names first; the earlier `after`/`before` still work.
    let bound = |names: [(&str, &Option<String>); 2], edge| -> Result<Option<String>, AppError> {
        let [(name, value), (earlier_name, earlier_value)] = names;
        match time_bound(value.as_deref(), name, edge)? {
            Some(bound) => Ok(Some(bound)),
            None => time_bound(earlier_value.as_deref(), earlier_name, edge),
        }
    };
    let query = AuditQuery {
        run_id: optional_run_id(params.run_id.as_deref())?,
        principal: text_param(params.actor.as_deref()),
        action: text_param(params.action.as_deref()),
        resource: text_param(params.resource.as_deref()),
        resource_id: text_param(params.resource_id.as_deref()),
        after: bound(
            [
                ("createdAfter", &params.created_after),
                ("after", &params.after),
            ],
            DayEdge::Start,
        )?,
        before: bound(
            [
                ("createdBefore", &params.created_before),
                ("before", &params.before),
            ],
            DayEdge::End,
        )?,
        limit: query_int(params.limit.as_deref(), "limit", 100, 1..=500)?,
        offset: query_int(params.offset.as_deref(), "offset", 0, 0..=i64::MAX)?,
        after_cursor: params
            .cursor
            .as_ref()
            .map(|cursor| {
                // The time part is compared with a time column: it must
                // be one (PostgreSQL would refuse the cast with a 500).
                cursor
                    .rsplit_once('|')
                    .and_then(|(at, key)| Some((storable_time(at)?.to_string(), key.to_string())))
                    .ok_or_else(|| AppError::field("cursor", "not a cursor this service issued"))
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
