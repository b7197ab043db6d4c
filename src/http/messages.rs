//! Messages into a live run, sent as participant `from`, with the
//! runtime's answer recorded on the run: `POST /runs/:id/messages` (a
//! session message), `/signal` and `/context` (ambient signals correlated
//! with the run's session), and `GET /runs/:id/messages` (what was sent).

use super::body::{finding_lines, parse_json, run_id};
use super::error::{ApiError, Problem};
use super::runs::read_model;
use super::AppState;
use crate::ingestion::translate::{describe_outbound, llm_call_beside};
use crate::runtime::payloads::encode_payload;
use crate::runtime::pb::{Envelope, SessionState, SignalPayload};
use crate::runtime::{RuntimeError, MACP_VERSION};
use aggregates::canonical::{types, DerivedEvent, Subject};
use aggregates::request::{check_participant_id, PayloadEnvelope};
use aggregates::{FieldError, MessageOutcome, OutboundMessage, RunCommand, RunState, Timestamp};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use projections::sent_messages::SentMessage;
use projections::SentMessages;
use prost::Message;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendSignal {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub message_type: String,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub signal_type: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub confidence: Option<f64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendContext {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub context: Option<Value>,
}

/// The signal type under which `POST /runs/:id/context` travels: the
/// runtime has no context-update message, so it is an ambient signal.
pub const CONTEXT_SIGNAL_TYPE: &str = "context.update";

#[utoipa::path(
    post,
    path = "/runs/{id}/messages",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = SendMessage,
    responses(
        (status = 200, description = "`{messageId, ack, warnings}` (`warnings`: payload fields dropped as unknown)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 422, description = "The runtime refused the message (`MESSAGE_SEND_FAILED`; its code in `errors`); recorded as `message.send_failed`, and `policy.denied` for a policy refusal", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
        (status = 504, description = "The runtime did not answer in time", body = Problem),
    )
)]
pub async fn send(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let run_id = run_id(&id)?;
    let message: SendMessage = parse_json(&body)?;
    let mut errors = Vec::new();
    check_parties(&mut errors, &message.from, &message.to);
    require(&mut errors, "messageType", &message.message_type);
    if let Some(envelope) = &message.payload_envelope {
        envelope.validate_into("payloadEnvelope", &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (state, session_id) = live_run(&app, run_id).await?;
    let mode = state
        .request
        .as_ref()
        .map(|r| r.session.mode_name.clone())
        .unwrap_or_default();
    let encoded = encode_payload(
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
    })?
    .relative_to("body.");
    if app.strict_payload_fields {
        encoded.refuse_dropped().map_err(ApiError::validation)?;
    }
    let message_id = Uuid::new_v4().to_string();
    let envelope = Envelope {
        macp_version: MACP_VERSION.into(),
        mode,
        message_type: message.message_type.clone(),
        message_id: message_id.clone(),
        session_id,
        sender: message.from.clone(),
        timestamp_unix_ms: Timestamp::now().unix_ms(),
        payload: encoded.bytes.clone(),
    };
    let derived = message
        .metadata
        .as_ref()
        .and_then(|metadata| llm_call_beside(&envelope, metadata))
        .into_iter()
        .collect();
    let mut extra = Map::new();
    if !encoded.dropped.is_empty() {
        extra.insert("droppedFields".into(), encoded.dropped_json());
    }
    let Json(mut answer) = deliver(&app, run_id, envelope, message.to, derived, extra).await?;
    answer["warnings"] = json!(finding_lines(&encoded.warnings()));
    Ok(Json(answer))
}

#[utoipa::path(
    post,
    path = "/runs/{id}/signal",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = SendSignal,
    responses(
        (status = 200, description = "`{messageId, ack, warnings}` (`warnings`: payload fields dropped as unknown)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 422, description = "The runtime refused the message (`MESSAGE_SEND_FAILED`; its code in `errors`); recorded as `message.send_failed`, and `policy.denied` for a policy refusal", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
        (status = 504, description = "The runtime did not answer in time", body = Problem),
    )
)]
pub async fn signal(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let run_id = run_id(&id)?;
    let signal: SendSignal = parse_json(&body)?;
    let mut errors = Vec::new();
    check_parties(&mut errors, &signal.from, &signal.to);
    let signal_type = signal
        .signal_type
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| signal.message_type.clone());
    if signal_type.trim().is_empty() {
        errors.push(FieldError::new(
            "signalType",
            "a signalType or messageType is required",
        ));
    }
    if signal.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
        errors.push(FieldError::new("confidence", "must be between 0 and 1"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let data = json!({"payload": signal.payload, "severity": signal.severity, "to": signal.to});
    let (_, session_id) = live_run(&app, run_id).await?;
    let (envelope, derived) = signal_envelope(
        &signal.from,
        &signal_type,
        signal.severity.as_deref(),
        signal.confidence,
        data,
        &session_id,
    );
    deliver(&app, run_id, envelope, signal.to, derived, Map::new()).await
}

#[utoipa::path(
    post,
    path = "/runs/{id}/context",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = SendContext,
    responses(
        (status = 200, description = "`{messageId, ack, warnings}` (`warnings`: payload fields dropped as unknown)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 422, description = "The runtime refused the message (`MESSAGE_SEND_FAILED`; its code in `errors`); recorded as `message.send_failed`, and `policy.denied` for a policy refusal", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
        (status = 504, description = "The runtime did not answer in time", body = Problem),
    )
)]
pub async fn context(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let run_id = run_id(&id)?;
    let update: SendContext = parse_json(&body)?;
    let mut errors = Vec::new();
    check_parties(&mut errors, &update.from, &[]);
    if !update.context.as_ref().is_some_and(Value::is_object) {
        errors.push(FieldError::new("context", "must be a JSON object"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (_, session_id) = live_run(&app, run_id).await?;
    let data = json!({"context": update.context});
    let (envelope, derived) = signal_envelope(
        &update.from,
        CONTEXT_SIGNAL_TYPE,
        None,
        None,
        data,
        &session_id,
    );
    deliver(&app, run_id, envelope, Vec::new(), derived, Map::new()).await
}

/// `GET /runs/:id/messages`: a bare array, in the order they were sent.
#[utoipa::path(
    get,
    path = "/runs/{id}/messages",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "Messages sent through the control plane", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SentMessage>>, ApiError> {
    let run_id = run_id(&id)?;
    Ok(Json(
        read_model::<SentMessages>(&app, run_id).await?.messages,
    ))
}

/// A sender and its addressees: participant ids, as the request's are.
fn check_parties(errors: &mut Vec<FieldError>, from: &str, to: &[String]) {
    check_participant_id(errors, "from", from);
    for (i, to) in to.iter().enumerate() {
        check_participant_id(errors, &format!("to[{i}]"), to);
    }
}

fn require(errors: &mut Vec<FieldError>, path: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(path, "must not be empty"));
    }
}

/// The run and its session id, if it can take messages (409 otherwise).
async fn live_run(app: &AppState, run_id: Uuid) -> Result<(RunState, String), ApiError> {
    let state = app.repo.load(run_id).await?;
    let status = state
        .status
        .ok_or_else(|| ApiError::run_not_found(run_id))?;
    match state.session_id.clone() {
        Some(session_id) if !status.is_terminal() => Ok((state, session_id)),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "INVALID_STATE_TRANSITION",
            format!("run is {status}; messages need a bound, live session"),
        )),
    }
}

/// An ambient Signal correlated with the session, and the `signal.emitted`
/// it yields once accepted.
fn signal_envelope(
    from: &str,
    signal_type: &str,
    severity: Option<&str>,
    confidence: Option<f64>,
    data: Value,
    session_id: &str,
) -> (Envelope, Vec<DerivedEvent>) {
    let message_id = Uuid::new_v4().to_string();
    let payload = SignalPayload {
        signal_type: signal_type.to_string(),
        data: data.to_string().into_bytes(),
        confidence: confidence.unwrap_or_default(),
        correlation_session_id: session_id.to_string(),
    };
    let envelope = Envelope {
        macp_version: MACP_VERSION.into(),
        mode: String::new(),
        message_type: "Signal".into(),
        message_id: message_id.clone(),
        session_id: String::new(),
        sender: from.to_string(),
        timestamp_unix_ms: Timestamp::now().unix_ms(),
        payload: payload.encode_to_vec(),
    };
    let emitted = DerivedEvent::new(
        types::SIGNAL_EMITTED,
        Some(Subject::new("signal", message_id.as_str())),
        json!({
            "messageType": "Signal",
            "messageId": message_id,
            "sessionId": session_id,
            "sender": from,
            "payloadTypeName": "macp.v1.SignalPayload",
            "decodedPayload": {"signalType": signal_type, "severity": severity,
                               "confidence": confidence, "data": data},
        }),
    );
    (envelope, vec![emitted])
}

/// Sends the envelope as its sender, records the runtime's answer on the
/// run, and answers `{messageId, ack}` or the refusal.
async fn deliver(
    app: &AppState,
    run_id: Uuid,
    envelope: Envelope,
    to: Vec<String>,
    derived: Vec<DerivedEvent>,
    extra: Map<String, Value>,
) -> Result<Json<Value>, ApiError> {
    let sender = envelope.sender.clone();
    let message_id = envelope.message_id.clone();
    let message_type = envelope.message_type.clone();
    let (mut details, subject) = describe_outbound(&envelope);
    details.extend(extra);
    let result = app.ingestion.runtime().send(&sender, envelope).await;
    let outcome = match &result {
        Ok(_) => MessageOutcome::Accepted,
        Err(RuntimeError::Refused { code, message }) => MessageOutcome::Refused {
            code: code.to_string(),
            message: message.clone(),
        },
        // Not known to have reached the runtime: nothing to record.
        Err(error) => return Err(error.clone().into()),
    };
    let message = OutboundMessage {
        message_id: message_id.clone(),
        from: sender,
        to,
        message_type,
        kickoff: false,
        details,
        subject,
    };
    app.repo
        .execute(
            run_id,
            RunCommand::RecordOutboundMessage {
                message,
                outcome,
                derived,
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
        "warnings": [],
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
