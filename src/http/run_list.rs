//! `GET /runs`: the run list, filtered, sorted and paged.

use super::body::{csv_param, query_int, text_param, time_bound, DayEdge, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::store::read_models::run_list::RunQuery;
use aggregates::RunStatus;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// `list`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct RunListParams {
    /// Comma-separated statuses
    status: Option<String>,
    /// Comma-separated tags, all required
    tags: Option<String>,
    /// RFC 3339 or YYYY-MM-DD (exclusive; a date from its start)
    created_after: Option<String>,
    /// RFC 3339 or YYYY-MM-DD (inclusive; a date to its end)
    created_before: Option<String>,
    /// Case-insensitive substring of id, mode, tags, source and metadata values
    search: Option<String>,
    /// Exactly this `metadata.environment`
    environment: Option<String>,
    /// Case-insensitive part of `metadata.scenarioRef` (else the source ref)
    scenario_ref: Option<String>,
    /// 1..200, default 50
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Default 0
    #[param(value_type = Option<i64>)]
    offset: Option<String>,
    /// createdAt or updatedAt
    sort_by: Option<String>,
    /// asc or desc
    sort_order: Option<String>,
    /// Include archived runs
    #[param(value_type = Option<bool>)]
    include_archived: Option<String>,
}

/// `GET /runs`: `{data, total, limit, offset}` from the run list.
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(RunListParams),
    responses(
        (status = 200, description = "`{data: [Run], total, limit, offset}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Params(params): Params<RunListParams>,
) -> Result<Json<Value>, AppError> {
    let limit = query_int(params.limit.as_deref(), "limit", 50, 1..=200)?;
    let offset = query_int(params.offset.as_deref(), "offset", 0, 0..=i64::MAX)?;
    let statuses = csv_param(params.status.as_deref());
    for status in &statuses {
        if serde_json::from_value::<RunStatus>(json!(status)).is_err() {
            return Err(AppError::field(
                "status",
                format!("{status:?} is not a run status"),
            ));
        }
    }
    let sort_by_updated = match params.sort_by.as_deref() {
        None | Some("createdAt") => false,
        Some("updatedAt") => true,
        Some(other) => {
            return Err(AppError::field(
                "sortBy",
                format!("must be createdAt or updatedAt, not {other:?}"),
            ))
        }
    };
    let descending = match params.sort_order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(AppError::field(
                "sortOrder",
                format!("must be asc or desc, not {other:?}"),
            ))
        }
    };
    let query = RunQuery {
        statuses,
        tags: csv_param(params.tags.as_deref()),
        created_after: time_bound(
            params.created_after.as_deref(),
            "createdAfter",
            DayEdge::Start,
        )?,
        created_before: time_bound(
            params.created_before.as_deref(),
            "createdBefore",
            DayEdge::End,
        )?,
        search: text_param(params.search.as_deref()),
        environment: text_param(params.environment.as_deref()),
        scenario_ref: text_param(params.scenario_ref.as_deref()),
        include_archived: matches!(params.include_archived.as_deref(), Some("true") | Some("1")),
        sort_by_updated,
        descending,
        limit,
        offset,
    };
    let (docs, total) = app.store.list_runs(&query).await?;
    let data: Vec<Value> = docs
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    Ok(Json(
        json!({"data": data, "total": total, "limit": limit, "offset": offset}),
    ))
}
