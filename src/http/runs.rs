//! `/runs`: submit an execution request (a command, `commands::runs`),
//! read a run, its state, its events.

use super::access::Caller;
use super::body::Params;
use super::body::{csv_param, parse_json, query_int, run_id, text_param, time_bound, DayEdge};
use super::error::{AppError, Problem};
use super::AppState;
use crate::commands::runs::{payload_findings, CloneChanges, RunStarted};
use crate::error::finding_lines;
use crate::queries::{read_model_json, visible_summary};
use crate::store::read_models::canonical::EventQuery;
use crate::store::read_models::run_list::RunQuery;
use aggregates::{ExecutionRequest, FieldError, RunStatus};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::{RunStateView, RunSummary};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

/// `POST /runs`: validate, record the request, start driving it.
#[utoipa::path(
    post,
    path = "/runs",
    tag = "runs",
    request_body = ExecutionRequest,
    responses(
        (status = 202, description = "Queued: `{runId, status, traceId}`", body = serde_json::Value),
        (status = 200, description = "The idempotency key already made this run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    Caller(actor): Caller,
    body: Bytes,
) -> Result<Response, AppError> {
    let request: ExecutionRequest = parse_json(&body)?;
    let started = app.commands.start_run(&actor, request).await?;
    Ok(started_response(started))
}

/// 202 with a new run, 200 with the run an idempotency key made before.
fn started_response(started: RunStarted) -> Response {
    let status = if started.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, Json(started)).into_response()
}

/// `POST /runs/validate`: the same checks as `POST /runs`, plus whether the
/// runtime is reachable and supports the mode; starts nothing. An
/// unreachable runtime is a warning, an unsupported mode an error.
#[utoipa::path(
    post,
    path = "/runs/validate",
    tag = "runs",
    request_body = ExecutionRequest,
    responses(
        (status = 200, description = "`{valid, errors: [text], warnings: [text], fieldErrors: [{path, message}], fieldWarnings, runtime}`, also for a body that is not an ExecutionRequest", body = serde_json::Value),
    )
)]
pub async fn validate(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, AppError> {
    // Every finding is a 200 `{valid: false}`: the web console shows this
    // answer and nothing for an error status.
    let request: ExecutionRequest = match parse_json(&body) {
        Ok(request) => request,
        Err(refusal) => return Ok(Json(verdict(refusal.findings(), Vec::new(), Value::Null))),
    };
    let mut errors = request.validate();
    let (payload_errors, mut warnings) = payload_findings(&request, app.strict_payload_fields);
    errors.extend(payload_errors);
    let runtime = app.ingestion.runtime();
    let runtime_view = match runtime.handshake().await {
        Ok(init) => {
            let modes: Vec<String> = match runtime.list_modes().await {
                Ok(modes) => modes.into_iter().map(|m| m.mode).collect(),
                Err(_) => init.supported_modes.clone(),
            };
            let mode = &request.session.mode_name;
            if !mode.is_empty() && !modes.contains(mode) {
                errors.push(FieldError::new(
                    "session.modeName",
                    format!("MODE_NOT_SUPPORTED: the runtime does not support {mode:?}"),
                ));
            }
            let capabilities = init
                .capabilities
                .as_ref()
                .map(|c| crate::runtime::payloads::message_to_json("macp.v1.Capabilities", c));
            json!({"reachable": true, "supportedModes": modes, "capabilities": capabilities})
        }
        Err(error) => {
            warnings.push(FieldError::new(
                "runtime",
                format!("the runtime is unreachable: {error}"),
            ));
            json!({"reachable": false, "supportedModes": []})
        }
    };
    Ok(Json(verdict(errors, warnings, runtime_view)))
}

/// `{valid, errors, warnings, fieldErrors, fieldWarnings, runtime}`:
/// `errors` and `warnings` as lines of text (`path: message`, what the
/// console lists), the same findings with their paths apart in
/// `fieldErrors` / `fieldWarnings` for programs.
fn verdict(errors: Vec<FieldError>, warnings: Vec<FieldError>, runtime: Value) -> Value {
    json!({
        "valid": errors.is_empty(),
        "errors": finding_lines(&errors),
        "warnings": finding_lines(&warnings),
        "fieldErrors": errors,
        "fieldWarnings": warnings,
        "runtime": runtime,
    })
}

#[utoipa::path(
    get,
    path = "/runs/{id}",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The run, with `chain`: its stream's hash-chain head (`version`, `head`: 64 hex digits of SHA-256) as the log holds it now", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn get_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let run_id = run_id(&id)?;
    let summary = visible_summary(&app.store, run_id).await?;
    let mut body = serde_json::to_value(&summary).map_err(AppError::internal)?;
    let head = app.store.stream_head(run_id).await?;
    if let (Some(head), Some(fields)) = (head, body.as_object_mut()) {
        if let Some(hash) = head.chain_hash {
            fields.insert(
                "chain".into(),
                serde_json::json!({"version": head.version, "head": hash}),
            );
        }
    }
    Ok(Json(body))
}

#[utoipa::path(
    get,
    path = "/runs/{id}/state",
    tag = "read models",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The run-state view", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn get_state(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    let body = read_model_json::<RunStateView>(&app.store, run_id).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

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

/// `POST /runs/:id/clone {tags?, context?}`: a new run from the stored
/// request, without its idempotency key.
#[utoipa::path(
    post,
    path = "/runs/{id}/clone",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = CloneChanges,
    responses(
        (status = 202, description = "A new run from the stored request", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn clone_run(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    let changes: CloneChanges = super::body::parse_optional_json(&body)?;
    let started = app.commands.clone_run(&actor, run_id, changes).await?;
    Ok(started_response(started))
}

/// `POST /runs/:id/archive`: hidden from lists unless `includeArchived`.
#[utoipa::path(
    post,
    path = "/runs/{id}/archive",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The archived run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn archive(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<RunSummary>, AppError> {
    let run_id = run_id(&id)?;
    Ok(Json(app.commands.archive_run(&actor, run_id).await?))
}

/// `DELETE /runs/:id` (ended runs only): the run disappears from every
/// read; its events stay in the log.
#[utoipa::path(
    delete,
    path = "/runs/{id}",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 204, description = "Deleted (terminal runs only)"),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let run_id = run_id(&id)?;
    app.commands.delete_run(&actor, run_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /runs/:id/projection/rebuild`: drops and re-folds this run's read
/// models from its events.
#[utoipa::path(
    post,
    path = "/runs/{id}/projection/rebuild",
    tag = "read models",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The re-folded projection", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn rebuild_projection(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let run_id = run_id(&id)?;
    visible_summary(&app.store, run_id).await?;
    let latest = crate::projector::rebuild_run(&app.store, &app.live, run_id).await?;
    Ok(Json(json!({"rebuilt": true, "latestSeq": latest})))
}
