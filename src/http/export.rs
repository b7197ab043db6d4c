//! `GET /runs/:id/export` (a run as one bundle, JSON or JSON Lines) and
//! `POST /runs/compare` (two runs side by side).

use super::body::{parse_json, parse_run_id, query_bool, query_int, run_id, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::queries::{model_of, visible_summary};
use aggregates::{RunEvent, Timestamp};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::{RunArtifacts, RunMetrics, RunStateView};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use utoipa::IntoParams;
use uuid::Uuid;

/// What a bundle includes.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    pub canonical: bool,
    pub raw: bool,
    pub event_limit: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            canonical: true,
            raw: false,
            event_limit: 10_000,
        }
    }
}

/// `export`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ExportParams {
    /// Default true
    #[param(value_type = Option<bool>)]
    include_canonical: Option<String>,
    /// Default false
    #[param(value_type = Option<bool>)]
    include_raw: Option<String>,
    /// Default 10000
    #[param(value_type = Option<i64>)]
    event_limit: Option<String>,
    /// json or jsonl: JSON lines only for a client that accepts `application/x-ndjson`; any other client (the web console builds its file itself) gets the JSON object
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/runs/{id}/export",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
        ExportParams,
    ),
    responses(
        (status = 200, description = "The run bundle", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn export(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<ExportParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    let options = ExportOptions {
        canonical: query_bool(
            params.include_canonical.as_deref(),
            "includeCanonical",
            true,
        )?,
        raw: query_bool(params.include_raw.as_deref(), "includeRaw", false)?,
        event_limit: query_int(
            params.event_limit.as_deref(),
            "eventLimit",
            10_000,
            1..=1_000_000,
        )?
        .unsigned_abs() as usize,
    };
    let jsonl = match params.format.as_deref() {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(other) => {
            return Err(AppError::field(
                "format",
                format!("must be json or jsonl, not {other:?}"),
            ))
        }
    };
    // The web console asks for `format=jsonl` and parses the answer with
    // `response.json()`, building the lines itself: lines go only to a
    // client that says it reads them.
    let reads_lines = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/x-ndjson") || v.contains("application/jsonl"));
    let bundle = bundle(&app, run_id, options).await?;
    if !(jsonl && reads_lines) {
        return Ok(Json(bundle).into_response());
    }
    // One record a line: the run's parts first, then each event.
    let mut lines = Vec::new();
    for part in [
        "run",
        "session",
        "projection",
        "metrics",
        "artifacts",
        "receipt",
        "exportedAt",
    ] {
        lines.push(json!({"type": part, "data": bundle[part]}).to_string());
    }
    for (kind, key) in [
        ("canonical_event", "canonicalEvents"),
        ("raw_event", "rawEvents"),
    ] {
        for event in bundle[key].as_array().into_iter().flatten() {
            lines.push(json!({"type": kind, "data": event}).to_string());
        }
    }
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        lines.join("\n") + "\n",
    )
        .into_response())
}

/// `{run, session, projection, metrics, artifacts, receipt,
/// canonicalEvents, rawEvents, exportedAt}`, everything read from the log
/// and read models; `receipt` is the recorded decision receipt
/// (`{receiptJson, keysJson, unavailable, checks}`, the runtime's bytes as
/// served) or null.
pub async fn bundle(
    app: &AppState,
    run_id: Uuid,
    options: ExportOptions,
) -> Result<Value, AppError> {
    let run = visible_summary(&app.store, run_id).await?;
    let state = app.repo.load(run_id).await?;
    let session = state.request.as_ref().map(|request| {
        let session = &request.session;
        json!({
            "sessionId": state.session_id,
            "modeName": session.mode_name,
            "modeVersion": session.mode_version,
            "configurationVersion": session.configuration_version,
            "policyVersion": session.policy_version,
            "initiator": state.initiator,
            "participants": session.participants,
            "ttlMs": session.ttl_ms,
        })
    });
    let mut canonical = Vec::new();
    let mut raw = Vec::new();
    let mut receipt = Value::Null;
    for stored in app.store.read_stream(run_id, 0).await? {
        match stored.event {
            RunEvent::DecisionReceiptRecorded {
                receipt: recorded, ..
            } => {
                receipt = serde_json::to_value(recorded).map_err(AppError::internal)?;
            }
            RunEvent::CanonicalEventRecorded { event }
                if options.canonical && canonical.len() < options.event_limit =>
            {
                canonical.push(serde_json::to_value(event).map_err(AppError::internal)?);
            }
            RunEvent::RuntimeEnvelopeRecorded {
                ordinal,
                envelope,
                received_at,
            } if options.raw && raw.len() < options.event_limit => raw
                .push(json!({"ordinal": ordinal, "envelope": envelope, "receivedAt": received_at})),
            // The bundle holds the receipt, canonical events and raw
            // envelopes, and no more of either kind than asked for.
            RunEvent::CanonicalEventRecorded { .. }
            | RunEvent::RuntimeEnvelopeRecorded { .. }
            | RunEvent::RunRequested { .. }
            | RunEvent::RunStarted { .. }
            | RunEvent::SessionBound { .. }
            | RunEvent::MessageSent { .. }
            | RunEvent::MessageRefused { .. }
            | RunEvent::SessionStreamOpened { .. }
            | RunEvent::RunCompleted { .. }
            | RunEvent::RunFailed { .. }
            | RunEvent::RunCancelled { .. }
            | RunEvent::RunSuspended { .. }
            | RunEvent::RunResumed { .. }
            | RunEvent::ArtifactRegistered { .. }
            | RunEvent::RunArchived { .. }
            | RunEvent::RunDeleted { .. }
            | RunEvent::ActionAudited { .. } => {}
        }
    }
    Ok(json!({
        "run": run,
        "session": session,
        "projection": model_of::<RunStateView>(&app.store, run_id).await?,
        "metrics": model_of::<RunMetrics>(&app.store, run_id).await?,
        "artifacts": model_of::<RunArtifacts>(&app.store, run_id).await?.artifacts,
        "receipt": receipt,
        "canonicalEvents": canonical,
        "rawEvents": raw,
        "exportedAt": Timestamp::now(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompareRequest {
    #[serde(default)]
    pub left_run_id: String,
    #[serde(default)]
    pub right_run_id: String,
}

#[utoipa::path(
    post,
    path = "/runs/compare",
    tag = "runs",
    request_body = CompareRequest,
    responses(
        (status = 200, description = "Differences between two runs", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn compare(State(app): State<AppState>, body: Bytes) -> Result<Json<Value>, AppError> {
    let request: CompareRequest = parse_json(&body)?;
    let left_id = parse_run_id("leftRunId", &request.left_run_id)?;
    let right_id = parse_run_id("rightRunId", &request.right_run_id)?;
    let (left, right) = (
        visible_summary(&app.store, left_id).await?,
        visible_summary(&app.store, right_id).await?,
    );
    let (left_state, right_state) = (
        model_of::<RunStateView>(&app.store, left_id).await?,
        model_of::<RunStateView>(&app.store, right_id).await?,
    );
    let duration = |s: &projections::RunSummary| match (s.started_at, s.ended_at) {
        (Some(start), Some(end)) => Some(end.unix_ms() - start.unix_ms()),
        _ => None,
    };
    let confidence = |s: &RunStateView| s.decision.current.as_ref().and_then(|d| d.confidence);
    let participants = |s: &RunStateView| -> BTreeSet<String> {
        s.participants
            .iter()
            .map(|p| p.participant_id.clone())
            .collect()
    };
    let signals = |s: &RunStateView| -> BTreeSet<String> {
        s.signals.signals.iter().map(|x| x.name.clone()).collect()
    };
    let (lp, rp) = (participants(&left_state), participants(&right_state));
    let (ls, rs) = (signals(&left_state), signals(&right_state));
    let mut comparison = json!({
        "left": left,
        "right": right,
        "statusMatch": left.status == right.status,
        "participantsDiff": {
            "added": rp.difference(&lp).collect::<Vec<_>>(),
            "removed": lp.difference(&rp).collect::<Vec<_>>(),
            "common": lp.intersection(&rp).collect::<Vec<_>>(),
        },
        "signalsDiff": {
            "added": rs.difference(&ls).collect::<Vec<_>>(),
            "removed": ls.difference(&rs).collect::<Vec<_>>(),
        },
    });
    // Deltas only where both sides have the figure (the console reads them
    // as numbers, never null).
    if let Some(delta) = duration(&left).zip(duration(&right)).map(|(l, r)| r - l) {
        comparison["durationDeltaMs"] = json!(delta);
    }
    if let Some(delta) = confidence(&left_state)
        .zip(confidence(&right_state))
        .map(|(l, r)| r - l)
    {
        comparison["confidenceDelta"] = json!(delta);
    }
    Ok(Json(comparison))
}
