//! `GET /audit`: who asked for what on which run, newest first, from the
//! audit-log read model (folded from the log's `ActionAudited` facts).

use super::body::{cursor, optional_run_id, page, query_int};
use super::error::{ApiError, Problem};
use super::runs::timestamp_param;
use super::AppState;
use crate::store::read_models::AuditQuery;
use axum::extract::{Query, State};
use axum::Json;
use serde_json::Value;
use std::collections::HashMap;

#[utoipa::path(
    get,
    path = "/audit",
    tag = "operations",
    params(
        ("runId" = Option<String>, Query, description = "Only this run"),
        ("actor" = Option<String>, Query, description = "Only this principal (`key:<fingerprint>` or `anonymous`)"),
        ("action" = Option<String>, Query, description = "Only this action, e.g. `run.cancel`"),
        ("after" = Option<String>, Query, description = "RFC 3339"),
        ("before" = Option<String>, Query, description = "RFC 3339"),
        ("limit" = Option<i64>, Query, description = "1..500, default 100"),
        ("cursor" = Option<String>, Query, description = "From the previous page"),
    ),
    responses(
        (status = 200, description = "`{data: [{id, runId, at, action, actor: {principal, requestId?, client?}}], total, nextCursor?}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let query = AuditQuery {
        run_id: optional_run_id(&params)?,
        principal: params.get("actor").cloned(),
        action: params.get("action").cloned(),
        after: timestamp_param(&params, "after")?,
        before: timestamp_param(&params, "before")?,
        limit: query_int(&params, "limit", 100, 1..=500)?,
        offset: cursor(&params)?,
    };
    let (docs, total) = app.store.query_audit(&query).await?;
    Ok(Json(page(&docs, total, query.offset)))
}
