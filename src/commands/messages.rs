//! Messages into a live run, sent as participant `from`, with the
//! runtime's answer recorded on the run: a session message, and ambient
//! signals and context updates correlated with the run's session.

use super::{Actor, Commands};
use crate::error::{finding_lines, AppError};
use crate::ingestion::translate::{describe_outbound, llm_call_beside};
use crate::runtime::payloads::encode_payload;
use crate::runtime::pb::{Ack, Envelope, SessionState, SignalPayload};
use crate::runtime::{RuntimeError, MACP_VERSION};
use aggregates::canonical::{types, DerivedEvent, Subject};
use aggregates::request::{check_participant_id, PayloadEnvelope};
use aggregates::{FieldError, MessageOutcome, OutboundMessage, RunCommand, RunState, Timestamp};
use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// A session message, as a caller sends it.
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

/// An ambient signal, as a caller sends it.
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

/// A context update, as a caller sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendContext {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub context: Option<Value>,
}

/// The signal type under which a context update travels: the runtime has
/// no context-update message, so it is an ambient signal.
pub const CONTEXT_SIGNAL_TYPE: &str = "context.update";

/// What a delivered message answers: `{messageId, warnings, ack}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSent {
    pub message_id: String,
    /// Payload fields dropped as unknown, as `path: message` lines.
    pub warnings: Vec<String>,
    pub ack: AckView,
}

/// The runtime's acknowledgement of a message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AckView {
    pub ok: bool,
    pub duplicate: bool,
    pub message_id: String,
    pub session_id: String,
    pub accepted_at_unix_ms: i64,
    /// The session's state after the message, such as `OPEN` or `RESOLVED`.
    pub session_state: String,
}

impl From<Ack> for AckView {
    fn from(ack: Ack) -> Self {
        let session_state = SessionState::try_from(ack.session_state)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("SESSION_STATE_")
                    .to_string()
            })
            .unwrap_or_default();
        AckView {
            ok: ack.ok,
            duplicate: ack.duplicate,
            message_id: ack.message_id,
            session_id: ack.session_id,
            accepted_at_unix_ms: ack.accepted_at_unix_ms,
            session_state,
        }
    }
}

impl Commands {
    /// Sends a session message into the run as `message.from`.
    pub async fn send_message(
        &self,
        actor: &Actor,
        run_id: Uuid,
        message: SendMessage,
    ) -> Result<MessageSent, AppError> {
        let mut errors = Vec::new();
        check_parties(&mut errors, &message.from, &message.to);
        require(&mut errors, "messageType", &message.message_type);
        if let Some(envelope) = &message.payload_envelope {
            envelope.validate_into("payloadEnvelope", &mut errors);
        }
        if !errors.is_empty() {
            return Err(AppError::validation(errors));
        }
        let (state, session_id) = self.live_run(run_id).await?;
        let mode = state.mode_name().to_string();
        let encoded = encode_payload(
            &mode,
            &message.message_type,
            message.payload.as_ref(),
            message.payload_envelope.as_ref(),
            "body",
        )
        .map_err(|e| {
            AppError::validation(vec![FieldError::new(
                e.path.trim_start_matches("body."),
                e.message,
            )])
        })?
        .relative_to("body.");
        if self.strict_payload_fields {
            encoded.refuse_dropped().map_err(AppError::validation)?;
        }
        let envelope = Envelope {
            macp_version: MACP_VERSION.into(),
            mode,
            message_type: message.message_type.clone(),
            message_id: Uuid::new_v4().to_string(),
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
        let mut sent = self
            .deliver(actor, run_id, envelope, message.to, derived, extra)
            .await?;
        sent.warnings = finding_lines(&encoded.warnings());
        Ok(sent)
    }

    /// Sends an ambient signal correlated with the run's session.
    pub async fn send_signal(
        &self,
        actor: &Actor,
        run_id: Uuid,
        signal: SendSignal,
    ) -> Result<MessageSent, AppError> {
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
            return Err(AppError::validation(errors));
        }
        let data = json!({"payload": signal.payload, "severity": signal.severity, "to": signal.to});
        let (_, session_id) = self.live_run(run_id).await?;
        let (envelope, derived) = signal_envelope(
            &signal.from,
            &signal_type,
            signal.severity.as_deref(),
            signal.confidence,
            data,
            &session_id,
        );
        self.deliver(actor, run_id, envelope, signal.to, derived, Map::new())
            .await
    }

    /// Sends a context update, as a signal of [`CONTEXT_SIGNAL_TYPE`].
    pub async fn send_context(
        &self,
        actor: &Actor,
        run_id: Uuid,
        update: SendContext,
    ) -> Result<MessageSent, AppError> {
        let mut errors = Vec::new();
        check_parties(&mut errors, &update.from, &[]);
        if !update.context.as_ref().is_some_and(Value::is_object) {
            errors.push(FieldError::new("context", "must be a JSON object"));
        }
        if !errors.is_empty() {
            return Err(AppError::validation(errors));
        }
        let (_, session_id) = self.live_run(run_id).await?;
        let data = json!({"context": update.context});
        let (envelope, derived) = signal_envelope(
            &update.from,
            CONTEXT_SIGNAL_TYPE,
            None,
            None,
            data,
            &session_id,
        );
        self.deliver(actor, run_id, envelope, Vec::new(), derived, Map::new())
            .await
    }

    /// The run and its session id, if it can take messages (409 otherwise).
    async fn live_run(&self, run_id: Uuid) -> Result<(RunState, String), AppError> {
        let state = self.repo.load(run_id).await?;
        let status = state
            .status
            .ok_or_else(|| AppError::run_not_found(run_id))?;
        match state.session_id.clone() {
            Some(session_id) if !status.is_terminal() => Ok((state, session_id)),
            _ => Err(AppError::InvalidTransition(format!(
                "run is {status}; messages need a bound, live session"
            ))),
        }
    }

    /// Sends the envelope as its sender, records the runtime's answer on
    /// the run (accepted or refused), and answers the acknowledgement or
    /// the refusal.
    async fn deliver(
        &self,
        actor: &Actor,
        run_id: Uuid,
        envelope: Envelope,
        to: Vec<String>,
        derived: Vec<DerivedEvent>,
        extra: Map<String, Value>,
    ) -> Result<MessageSent, AppError> {
        let sender = envelope.sender.clone();
        let message_id = envelope.message_id.clone();
        let message_type = envelope.message_type.clone();
        let (mut details, subject) = describe_outbound(&envelope);
        details.extend(extra);
        // The answer is recorded either way; a refusal is then the
        // message's own error (`MESSAGE_SEND_FAILED`).
        let (outcome, answer) = match self.runtime().send(&sender, envelope).await {
            Ok(ack) => (MessageOutcome::Accepted, Ok(ack)),
            Err(RuntimeError::Refused { code, message }) => (
                MessageOutcome::Refused {
                    code: code.to_string(),
                    message: message.clone(),
                },
                Err(AppError::MessageRefused { code, message }),
            ),
            // Not known to have reached the runtime: nothing to record.
            Err(error @ (RuntimeError::Unavailable(_) | RuntimeError::Timeout(_))) => {
                return Err(error.into())
            }
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
        let command = RunCommand::RecordOutboundMessage {
            message,
            outcome,
            derived,
            at: Timestamp::now(),
        };
        self.repo.execute_as(actor, run_id, command).await?;
        let ack = answer?;
        Ok(MessageSent {
            message_id,
            warnings: Vec::new(),
            ack: ack.into(),
        })
    }
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
