//! `/runs`: submit an execution request, read a run, its state, its events.

use super::body::{
    csv_param, finding_lines, parse_json, query_int, run_id, text_param, time_bound, DayEdge,
};
use super::error::{ApiError, Problem};
use super::AppState;
use crate::projector::load_model;
use crate::run_repository::CommandError;
use crate::runtime::payloads::encode_payload;
use crate::store::read_models::canonical::EventQuery;
use crate::store::read_models::run_list::RunQuery;
use aggregates::{ExecutionRequest, FieldError, RunCommand, RunStatus, Timestamp};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::{Projection, RunStateView, RunSummary};
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

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
pub async fn create(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: ExecutionRequest = parse_json(&body)?;
    start_run(&app, request).await
}

/// Validates a request and records it as a new run (or answers the run
/// its idempotency key already made), then starts driving it.
pub async fn start_run(app: &AppState, request: ExecutionRequest) -> Result<Response, ApiError> {
    let mut errors = request.validate();
    let (payload_errors, warnings) = payload_findings(&request, app.strict_payload_fields);
    errors.extend(payload_errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let key = request.idempotency_key().map(String::from);
    if let Some(key) = &key {
        if let Some(existing) = app.store.idempotent_run(key).await? {
            if !release_if_deleted(app, key, existing).await? {
                return existing_run(app, existing).await;
            }
        }
    }
    let run_id = Uuid::now_v7();
    let trace_id = Uuid::new_v4().simple().to_string();
    let command = RunCommand::RequestRun {
        run_id,
        request: Box::new(request),
        trace_id: trace_id.clone(),
        observed: false,
        at: Timestamp::now(),
    };
    match app
        .repo
        .execute_with_key(run_id, command, key.as_deref())
        .await
    {
        Ok(_) => {}
        // Another request with the key made its run first.
        Err(CommandError::IdempotencyKeyTaken(existing)) => {
            return existing_run(app, existing).await
        }
        Err(error) => return Err(error.into()),
    }
    tracing::info!(%run_id, "run requested");
    app.ingestion.drive(run_id);
    let mut body = json!({"runId": run_id, "status": "queued", "traceId": trace_id});
    if !warnings.is_empty() {
        body["warnings"] = json!(finding_lines(&warnings));
    }
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
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
pub async fn validate(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    // Every finding is a 200 `{valid: false}`: the web console shows this
    // answer and nothing for an error status.
    let request: ExecutionRequest = match parse_json(&body) {
        Ok(request) => request,
        Err(refusal) => return Ok(Json(verdict(refusal.errors, Vec::new(), Value::Null))),
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

/// Whether `key` belonged to `run_id`, a deleted run, and is free again:
/// a request repeated after its run was deleted makes a new run rather
/// than answering with a run that no longer exists.
async fn release_if_deleted(app: &AppState, key: &str, run_id: Uuid) -> Result<bool, ApiError> {
    if !app.repo.load(run_id).await?.deleted {
        return Ok(false);
    }
    app.store.release_idempotency_key(key, run_id).await?;
    Ok(true)
}

/// The answer to a repeated idempotency key: the run it already made.
async fn existing_run(app: &AppState, run_id: Uuid) -> Result<Response, ApiError> {
    let state = app.repo.load(run_id).await?;
    let body = json!({"runId": run_id, "status": state.status, "traceId": state.trace_id});
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Kickoff and context payloads that cannot be encoded (errors), and the
/// unknown fields of their `proto` payloads: warnings (they are dropped,
/// and kept on `message.sent`), or errors when `strict`.
fn payload_findings(
    request: &ExecutionRequest,
    strict: bool,
) -> (Vec<FieldError>, Vec<FieldError>) {
    let mode = &request.session.mode_name;
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for (i, message) in request.kickoff.iter().enumerate() {
        match encode_payload(
            mode,
            &message.message_type,
            message.payload.as_ref(),
            message.payload_envelope.as_ref(),
            &format!("kickoff[{i}]"),
        ) {
            Err(error) => errors.push(error),
            Ok(encoded) => match encoded.refuse_dropped() {
                Err(dropped) if strict => errors.extend(dropped),
                Err(_) => warnings.extend(encoded.warnings()),
                Ok(()) => {}
            },
        }
    }
    if let Some(envelope) = &request.session.context_envelope {
        if let Err(error) =
            crate::runtime::payloads::encode_envelope(envelope, "session.contextEnvelope")
        {
            errors.push(error);
        }
    }
    (errors, warnings)
}

/// A run's read model; when the projector has not caught up with a run
/// that exists, the same fold is run over its stream (read-your-writes).
pub async fn read_model<P: Projection>(app: &AppState, run_id: Uuid) -> Result<P, ApiError> {
    visible_summary(app, run_id).await?;
    match app.store.read_model(P::NAME, run_id).await? {
        Some(doc) => parse_model(&doc),
        None => Ok(fold_stream(app, run_id).await?),
    }
}

/// As [`read_model`], as JSON: the stored document is answered as it is,
/// without parsing it and serializing it again.
pub async fn read_model_json<P: Projection>(
    app: &AppState,
    run_id: Uuid,
) -> Result<String, ApiError> {
    visible_summary(app, run_id).await?;
    match app.store.read_model(P::NAME, run_id).await? {
        Some(doc) => Ok(doc),
        None => {
            serde_json::to_string(&fold_stream::<P>(app, run_id).await?).map_err(ApiError::internal)
        }
    }
}

fn parse_model<P: Projection>(doc: &str) -> Result<P, ApiError> {
    serde_json::from_str(doc).map_err(|e| ApiError::internal(format!("stored {}: {e}", P::NAME)))
}

async fn fold_stream<P: Projection>(app: &AppState, run_id: Uuid) -> Result<P, ApiError> {
    let events = app.store.read_stream(run_id, 0).await?;
    Ok(P::fold(events.iter().map(|e| &e.event)))
}

/// The run's summary, or 404 when there is no such run or it was deleted.
pub async fn visible_summary(app: &AppState, run_id: Uuid) -> Result<RunSummary, ApiError> {
    let summary: RunSummary = match app.store.read_model(RunSummary::NAME, run_id).await? {
        Some(doc) => parse_model(&doc)?,
        None => fold_stream(app, run_id).await?,
    };
    match summary.id {
        Some(_) if !summary.deleted => Ok(summary),
        _ => Err(ApiError::run_not_found(run_id)),
    }
}

/// The run summary once it includes canonical event `seq` (the effect of a
/// command just executed); folded from the stream if the projector is slow.
pub async fn summary_at_least(
    app: &AppState,
    run_id: Uuid,
    seq: u64,
) -> Result<RunSummary, ApiError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let summary = load_model::<RunSummary>(&app.store, run_id).await?;
        if summary.last_event_seq >= seq {
            return Ok(summary);
        }
        if tokio::time::Instant::now() > deadline {
            let events = app.store.read_stream(run_id, 0).await?;
            return Ok(RunSummary::fold(events.iter().map(|e| &e.event)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
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
) -> Result<Json<Value>, ApiError> {
    let run_id = run_id(&id)?;
    let summary = visible_summary(&app, run_id).await?;
    let mut body = serde_json::to_value(&summary).map_err(ApiError::internal)?;
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
) -> Result<Response, ApiError> {
    let run_id = run_id(&id)?;
    let body = read_model_json::<RunStateView>(&app, run_id).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// `GET /runs/:id/events?afterSeq&limit&type&afterTs&beforeTs`: a bare
/// array in seq order.
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    tag = "events",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
        ("afterSeq" = Option<i64>, Query, description = "Exclusive; default 0"),
        ("limit" = Option<i64>, Query, description = "1..1000, default 200"),
        ("type" = Option<String>, Query, description = "Comma-separated event types"),
        ("afterTs" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("beforeTs" = Option<String>, Query, description = "RFC 3339, inclusive"),
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
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let run_id = run_id(&id)?;
    let after_seq = query_int(&params, "afterSeq", 0, 0..=i64::MAX)?;
    let limit = query_int(&params, "limit", 200, 1..=1000)?;
    let types = csv_param(&params, "type");
    let after_ts = time_bound(&params, "afterTs", DayEdge::Start)?;
    let before_ts = time_bound(&params, "beforeTs", DayEdge::End)?;
    visible_summary(&app, run_id).await?;
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

/// `GET /runs`: `{data, total, limit, offset}` from the run list.
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(
        ("status" = Option<String>, Query, description = "Comma-separated statuses"),
        ("tags" = Option<String>, Query, description = "Comma-separated tags, all required"),
        ("createdAfter" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD (exclusive; a date from its start)"),
        ("createdBefore" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD (inclusive; a date to its end)"),
        ("search" = Option<String>, Query, description = "Case-insensitive substring of id, mode, tags, source and metadata values"),
        ("environment" = Option<String>, Query, description = "Exactly this `metadata.environment`"),
        ("scenarioRef" = Option<String>, Query, description = "Case-insensitive part of `metadata.scenarioRef` (else the source ref)"),
        ("limit" = Option<i64>, Query, description = "1..200, default 50"),
        ("offset" = Option<i64>, Query, description = "Default 0"),
        ("sortBy" = Option<String>, Query, description = "createdAt or updatedAt"),
        ("sortOrder" = Option<String>, Query, description = "asc or desc"),
        ("includeArchived" = Option<bool>, Query, description = "Include archived runs"),
    ),
    responses(
        (status = 200, description = "`{data: [Run], total, limit, offset}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = query_int(&params, "limit", 50, 1..=200)?;
    let offset = query_int(&params, "offset", 0, 0..=i64::MAX)?;
    let statuses = csv_param(&params, "status");
    for status in &statuses {
        if serde_json::from_value::<RunStatus>(json!(status)).is_err() {
            return Err(ApiError::field(
                "status",
                format!("{status:?} is not a run status"),
            ));
        }
    }
    let sort_by_updated = match params.get("sortBy").map(String::as_str) {
        None | Some("createdAt") => false,
        Some("updatedAt") => true,
        Some(other) => {
            return Err(ApiError::field(
                "sortBy",
                format!("must be createdAt or updatedAt, not {other:?}"),
            ))
        }
    };
    let descending = match params.get("sortOrder").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(ApiError::field(
                "sortOrder",
                format!("must be asc or desc, not {other:?}"),
            ))
        }
    };
    let query = RunQuery {
        statuses,
        tags: csv_param(&params, "tags"),
        created_after: time_bound(&params, "createdAfter", DayEdge::Start)?,
        created_before: time_bound(&params, "createdBefore", DayEdge::End)?,
        search: text_param(&params, "search"),
        environment: text_param(&params, "environment"),
        scenario_ref: text_param(&params, "scenarioRef"),
        include_archived: matches!(
            params.get("includeArchived").map(String::as_str),
            Some("true") | Some("1")
        ),
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

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct CloneBody {
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub context: Option<Value>,
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
    request_body = CloneBody,
    responses(
        (status = 202, description = "A new run from the stored request", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn clone_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let run_id = run_id(&id)?;
    let changes: CloneBody = super::body::parse_optional_json(&body)?;
    visible_summary(&app, run_id).await?;
    let state = app.repo.load(run_id).await?;
    let Some(mut request) = state.request.map(|r| *r) else {
        return Err(ApiError::run_not_found(run_id));
    };
    let execution = request.execution.get_or_insert_with(Default::default);
    execution.idempotency_key = None;
    if let Some(tags) = changes.tags {
        execution.tags = tags;
    }
    if let Some(context) = changes.context {
        request.session.context = Some(context);
        request.session.context_envelope = None;
    }
    start_run(&app, request).await
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
    Path(id): Path<String>,
) -> Result<Json<RunSummary>, ApiError> {
    let run_id = run_id(&id)?;
    Ok(Json(archive_run(&app, run_id).await?))
}

pub async fn archive_run(app: &AppState, run_id: Uuid) -> Result<RunSummary, ApiError> {
    visible_summary(app, run_id).await?;
    app.repo
        .execute(
            run_id,
            RunCommand::ArchiveRun {
                at: Timestamp::now(),
            },
        )
        .await?;
    wait_for_run_models(app).await?;
    visible_summary(app, run_id).await
}

/// Waits (2 s at most) until the run summary and the run list have folded
/// everything appended so far, so that a client reads its own change
/// (archiving and deleting add no canonical event to wait for).
async fn wait_for_run_models(app: &AppState) -> Result<(), ApiError> {
    let head = app.store.head_position().await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    for projector in [RunSummary::NAME, "run_list"] {
        while app.store.checkpoint(projector).await? < head
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    Ok(())
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
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let run_id = run_id(&id)?;
    delete_run(&app, run_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_run(app: &AppState, run_id: Uuid) -> Result<(), ApiError> {
    visible_summary(app, run_id).await?;
    app.repo
        .execute(
            run_id,
            RunCommand::DeleteRun {
                at: Timestamp::now(),
            },
        )
        .await?;
    app.live.deleted(run_id);
    wait_for_run_models(app).await
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
) -> Result<Json<Value>, ApiError> {
    let run_id = run_id(&id)?;
    visible_summary(&app, run_id).await?;
    let latest = crate::projector::rebuild_run(&app.store, &app.live, run_id).await?;
    Ok(Json(json!({"rebuilt": true, "latestSeq": latest})))
}
