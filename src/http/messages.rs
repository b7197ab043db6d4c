//! `POST /runs/:id/messages`: an agent's message sent into a live run as
//! participant `from`, with the runtime's answer recorded on the run.

use super::body::{parse_json, run_id};
use super::error::ApiError;
use super::AppState;
use crate::runtime::payloads::encode_payload;
use crate::runtime::pb::{Envelope, SessionState};
use crate::runtime::{RuntimeError, MACP_VERSION};
use aggregates::request::PayloadEnvelope;
use aggregates::{FieldError, MessageOutcome, OutboundMessage, RunCommand, Timestamp};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub message_type: String,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub payload_envelope: Option<PayloadEnvelope>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

pub async fn send(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let run_id = run_id(&id)?;
    let message: SendMessage = parse_json(&body)?;
    let mut errors = Vec::new();
    if message.from.trim().is_empty() {
        errors.push(FieldError::new("from", "must not be empty"));
    }
    if message.message_type.trim().is_empty() {
        errors.push(FieldError::new("messageType", "must not be empty"));
    }
    if let Some(envelope) = &message.payload_envelope {
        envelope.validate_into("payloadEnvelope", &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    let state = app.repo.load(run_id).await?;
    let (Some(status), Some(request)) = (state.status, state.request.as_ref()) else {
        return Err(ApiError::run_not_found(run_id));
    };
    let Some(session_id) = state.session_id.clone().filter(|_| !status.is_terminal()) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "INVALID_STATE_TRANSITION",
            format!("run is {status}; messages need a bound, live session"),
        ));
    };
    let mode = request.session.mode_name.clone();
    let payload = encode_payload(
        &mode,
        &message.message_type,
        message.payload.as_ref(),
        message.payload_envelope.as_ref(),
        "body",
    )
    .map_err(|e| {
        ApiError::validation(vec![FieldError::new(
            e.path.trim_start_matches("body."),
            e.message,
        )])
    })?;

    let message_id = Uuid::new_v4().to_string();
    let envelope = Envelope {
        macp_version: MACP_VERSION.into(),
        mode,
        message_type: message.message_type.clone(),
        message_id: message_id.clone(),
        session_id,
        sender: message.from.clone(),
        timestamp_unix_ms: Timestamp::now().unix_ms(),
        payload,
    };
    let result = app.ingestion.runtime().send(&message.from, envelope).await;
    let outcome = match &result {
        Ok(_) => MessageOutcome::Accepted,
        Err(RuntimeError::Refused { code, message }) => MessageOutcome::Refused {
            code: code.clone(),
            message: message.clone(),
        },
        // Not known to have reached the runtime: nothing to record.
        Err(error) => return Err(error.clone().into()),
    };
    app.repo
        .execute(
            run_id,
            RunCommand::RecordOutboundMessage {
                message: OutboundMessage {
                    message_id: message_id.clone(),
                    from: message.from,
                    to: message.to,
                    message_type: message.message_type,
                    kickoff: false,
                },
                outcome,
                at: Timestamp::now(),
            },
        )
        .await?;
    let ack = result?;
    let session_state = SessionState::try_from(ack.session_state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("SESSION_STATE_")
                .to_string()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "messageId": message_id,
        "ack": {
            "ok": ack.ok,
            "duplicate": ack.duplicate,
            "messageId": ack.message_id,
            "sessionId": ack.session_id,
            "acceptedAtUnixMs": ack.accepted_at_unix_ms,
            "sessionState": session_state,
        }
    })))
}
