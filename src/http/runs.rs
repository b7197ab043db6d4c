//! `/runs`: submit an execution request, clone, archive and delete a run
//! (each a command, `commands::runs`), read a run and its state, re-fold
//! its read models. The list is `run_list.rs`, the events `run_events.rs`.

use super::access::Caller;
use super::body::{parse_json, run_id};
use super::error::{AppError, Problem};
use super::AppState;
use crate::commands::runs::{CloneChanges, RunStarted};
use crate::error::finding_lines;
use crate::queries::{read_model_json, visible_summary};
use aggregates::{ExecutionRequest, FieldError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::{RunStateView, RunSummary};
use serde_json::{json, Value};

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
    let (mut errors, mut warnings) = app.commands.request_findings(&request);
    let runtime = &app.runtime;
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
