//! `POST /runs/batch/{cancel,archive,delete,export} {runIds}`: the single-run
//! operation on each run, answering `{results: [{runId, ok, error?}]}`
//! (export adds each run's `bundle`). One run's failure stops no other.

use super::body::parse_json;
use super::error::{ApiError, Problem};
use super::export::{bundle, ExportOptions};
use super::lifecycle::cancel_run;
use super::runs::{archive_run, delete_run};
use super::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

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
        (status = 200, description = "`{results: [{runId, ok, error?}]}`", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn run_batch(
    State(app): State<AppState>,
    Path(operation): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if !["cancel", "archive", "delete", "export"].contains(&operation.as_str()) {
        return Err(ApiError::field(
            "operation",
            format!("{operation:?} is not cancel, archive, delete or export"),
        ));
    }
    let request: BatchRequest = parse_json(&body)?;
    if request.run_ids.is_empty() || request.run_ids.len() > MAX_BATCH {
        return Err(ApiError::field(
            "runIds",
            format!("must list 1 to {MAX_BATCH} run ids"),
        ));
    }
    let mut results = Vec::with_capacity(request.run_ids.len());
    for id in &request.run_ids {
        let outcome = match Uuid::parse_str(id) {
            Err(_) => Err(ApiError::field("runIds", format!("{id:?} is not a UUID"))),
            Ok(run_id) => match operation.as_str() {
                "cancel" => cancel_run(&app, run_id, Some("batch cancel".into()))
                    .await
                    .map(|_| None),
                "archive" => archive_run(&app, run_id).await.map(|_| None),
                "delete" => delete_run(&app, run_id).await.map(|_| None),
                _ => bundle(&app, run_id, ExportOptions::default())
                    .await
                    .map(Some),
            },
        };
        results.push(match outcome {
            Ok(None) => json!({"runId": id, "ok": true}),
            Ok(Some(bundle)) => json!({"runId": id, "ok": true, "bundle": bundle}),
            Err(error) => json!({"runId": id, "ok": false, "error": {"errorCode": error.code, "message": error.message}}),
        });
    }
    Ok(Json(json!({"results": results})))
}
