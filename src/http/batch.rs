//! `POST /runs/batch/{cancel,archive,delete,export} {runIds}`: the single-run
//! operation on each run, answering `{results: [{runId, ok, error?,
//! errorCode?}]}`; one run's failure stops no other. Export answers the
//! bare list of bundles (the web console saves it as a file), or a
//! problem naming each run id that has none.

use super::access::Caller;
use super::body::{parse_json, parse_run_id};
use super::error::{AppError, Problem};
use super::export::{bundle, ExportOptions};
use super::AppState;
use crate::commands::lifecycle::Change;
use aggregates::FieldError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Runs per batch request.
const MAX_BATCH: usize = 500;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    #[serde(default)]
    pub run_ids: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/runs/batch/{operation}",
    tag = "runs",
    params(
        ("operation" = String, Path, description = "cancel, archive, delete or export"),
    ),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "`{results: [{runId, ok, error?, errorCode?}]}`; export: `[bundle]`", body = serde_json::Value),
        (status = 404, description = "Export: a run id has no run (each is named)", body = Problem),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn run_batch(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(operation): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    if !["cancel", "archive", "delete", "export"].contains(&operation.as_str()) {
        return Err(AppError::field(
            "operation",
            format!("{operation:?} is not cancel, archive, delete or export"),
        ));
    }
    let request: BatchRequest = parse_json(&body)?;
    if request.run_ids.is_empty() || request.run_ids.len() > MAX_BATCH {
        return Err(AppError::field(
            "runIds",
            format!("must list 1 to {MAX_BATCH} run ids"),
        ));
    }
    if operation == "export" {
        return export_all(&app, &request.run_ids).await;
    }
    let commands = &app.commands;
    let mut results = Vec::with_capacity(request.run_ids.len());
    for id in &request.run_ids {
        let outcome = match parse_run_id("runIds", id) {
            Err(error) => Err(error),
            Ok(run_id) => match operation.as_str() {
                "cancel" => commands
                    .change_lifecycle(&actor, run_id, Change::Cancel, Some("batch cancel".into()))
                    .await
                    .map(|_| ()),
                "archive" => commands.archive_run(&actor, run_id).await.map(|_| ()),
                _ => commands.delete_run(&actor, run_id).await.map(|_| ()),
            },
        };
        results.push(match outcome {
            Ok(()) => json!({"runId": id, "ok": true}),
            Err(error) => {
                error.log_if_internal();
                let (_, code) = error.status_and_code();
                json!({"runId": id, "ok": false, "error": error.client_message(), "errorCode": code})
            }
        });
    }
    Ok(Json(json!({"results": results})))
}

/// Every run's bundle, in the order asked; a run id without a run fails
/// the whole export, naming each such id (a partial file would pass for
/// a whole one).
async fn export_all(app: &AppState, run_ids: &[String]) -> Result<Json<Value>, AppError> {
    let mut bundles = Vec::with_capacity(run_ids.len());
    let mut missing = Vec::new();
    for (i, id) in run_ids.iter().enumerate() {
        let path = format!("runIds[{i}]");
        match parse_run_id(&path, id) {
            Err(error) => missing.extend(error.findings()),
            Ok(run_id) => match bundle(app, run_id, ExportOptions::default()).await {
                Ok(bundle) => bundles.push(bundle),
                Err(error) if error.status_and_code().0 == StatusCode::NOT_FOUND => {
                    missing.push(FieldError::new(path, error.client_message()));
                }
                Err(error) => return Err(error),
            },
        }
    }
    if !missing.is_empty() {
        return Err(AppError::RunsNotFound(missing));
    }
    Ok(Json(Value::Array(bundles)))
}
