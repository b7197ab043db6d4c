//! Starting a run: `StartRun`, then (for a run of this service) Initialize
//! and SessionStart as the initiator, `BindSession`, and each kickoff
//! message as its sender, then `OpenStream`; an observed run is started
//! and bound as its session already is.

use super::{derived_message_id, with_retries, DriveError, RunDriver};
use crate::ingestion::discovery::{observed_time, SESSION_ID, SESSION_STARTED};
use crate::ingestion::translate::describe_outbound;
use crate::runtime::payloads::{encode_envelope, encode_payload};
use crate::runtime::pb::{Envelope, Root as PbRoot, SessionStartPayload};
use crate::runtime::{RefusalCode, RuntimeError, MACP_VERSION};
use aggregates::request::ExecutionRequest;
use aggregates::{MessageOutcome, OutboundMessage, RunCommand, RunState, Timestamp};
use prost::Message;
use uuid::Uuid;

/// An observed run starts when its session did.
pub fn start_observed(request: &ExecutionRequest) -> RunCommand {
    let at = observed_time(request, SESSION_STARTED).unwrap_or_else(Timestamp::now);
    RunCommand::StartRun { at }
}

/// An observed run is bound to the session it observes: the session's own
/// id (a base64url id maps to the run id, not the reverse) and start.
pub fn bind_observed(run_id: Uuid, request: &ExecutionRequest, runtime_kind: &str) -> RunCommand {
    let session_id = request
        .session
        .metadata
        .as_ref()
        .and_then(|m| m.get(SESSION_ID)?.as_str().map(String::from))
        .unwrap_or_else(|| run_id.to_string());
    RunCommand::BindSession {
        session_id,
        initiator: request.initiator().unwrap_or_default().to_string(),
        runtime_kind: runtime_kind.to_string(),
        at: observed_time(request, SESSION_STARTED).unwrap_or_else(Timestamp::now),
    }
}

impl RunDriver {
    pub(super) async fn bind_session(&self, request: &ExecutionRequest) -> Result<(), DriveError> {
        let Some(initiator) = request.initiator().map(String::from) else {
            return self
                .fail("VALIDATION_ERROR", "the request names no initiator")
                .await;
        };
        let mode_name = &request.session.mode_name;
        let init = match with_retries(|| self.runtime.initialize(&initiator)).await {
            Ok(init) => init,
            Err(error) => return self.fail_with(error).await,
        };
        // Extension modes are not listed by Initialize; SessionStart refuses
        // them with MODE_NOT_SUPPORTED if the runtime lacks them.
        if !mode_name.starts_with("ext.") && !init.supported_modes.iter().any(|m| m == mode_name) {
            return self
                .fail(
                    "MODE_NOT_SUPPORTED",
                    format!(
                        "the runtime does not support {mode_name}; it supports {:?}",
                        init.supported_modes
                    ),
                )
                .await;
        }
        let session_id = self.run_id.to_string();
        let start = Envelope {
            macp_version: MACP_VERSION.into(),
            mode: mode_name.clone(),
            message_type: "SessionStart".into(),
            message_id: derived_message_id(self.run_id, "session-start"),
            session_id: session_id.clone(),
            sender: initiator.clone(),
            timestamp_unix_ms: Timestamp::now().unix_ms(),
            payload: session_start_payload(request).encode_to_vec(),
        };
        match with_retries(|| self.runtime.send(&initiator, start.clone())).await {
            // Already there: our own SessionStart, sent before a crash.
            Ok(_)
            | Err(RuntimeError::Refused {
                code: RefusalCode::SessionAlreadyExists,
                ..
            }) => {}
            Err(error) => return self.fail_with(error).await,
        }
        self.record(RunCommand::BindSession {
            session_id,
            initiator,
            runtime_kind: self.runtime_kind.clone(),
            at: Timestamp::now(),
        })
        .await
    }

    /// Sends the kickoff messages not yet recorded, each as its sender and
    /// recorded with its outcome, then opens the stream; a refused one fails
    /// the run.
    pub(super) async fn send_kickoff(
        &self,
        state: &RunState,
        request: &ExecutionRequest,
    ) -> Result<(), DriveError> {
        let session_id = self.run_id.to_string();
        for (index, kickoff) in request
            .kickoff
            .iter()
            .enumerate()
            .skip(state.kickoff_recorded)
        {
            let path = format!("kickoff[{index}]");
            let encoded = match encode_payload(
                &request.session.mode_name,
                &kickoff.message_type,
                kickoff.payload.as_ref(),
                kickoff.payload_envelope.as_ref(),
                &path,
            ) {
                Ok(encoded) => encoded,
                Err(error) => {
                    return self
                        .fail(
                            "VALIDATION_ERROR",
                            format!("{}: {}", error.path, error.message),
                        )
                        .await
                }
            };
            // Derived ids: a kickoff re-sent after a crash is the runtime's
            // duplicate, not a second message.
            let message_id = derived_message_id(self.run_id, &path);
            let envelope = Envelope {
                macp_version: MACP_VERSION.into(),
                mode: request.session.mode_name.clone(),
                message_type: kickoff.message_type.clone(),
                message_id: message_id.clone(),
                session_id: session_id.clone(),
                sender: kickoff.from.clone(),
                timestamp_unix_ms: Timestamp::now().unix_ms(),
                payload: encoded.bytes.clone(),
            };
            let (mut details, subject) = describe_outbound(&envelope);
            if !encoded.dropped.is_empty() {
                details.insert("droppedFields".into(), encoded.dropped_json());
            }
            let result = with_retries(|| self.runtime.send(&kickoff.from, envelope.clone())).await;
            let outcome = match &result {
                Ok(_) => MessageOutcome::Accepted,
                Err(RuntimeError::Refused { code, message }) => MessageOutcome::Refused {
                    code: code.to_string(),
                    message: message.clone(),
                },
                Err(error @ (RuntimeError::Unavailable(_) | RuntimeError::Timeout(_))) => {
                    MessageOutcome::Refused {
                        code: "RUNTIME_UNAVAILABLE".into(),
                        message: error.to_string(),
                    }
                }
            };
            let refused = matches!(outcome, MessageOutcome::Refused { .. });
            self.record(RunCommand::RecordOutboundMessage {
                message: OutboundMessage {
                    message_id,
                    from: kickoff.from.clone(),
                    to: kickoff.to.clone(),
                    message_type: kickoff.message_type.clone(),
                    kickoff: true,
                    details,
                    subject,
                },
                outcome,
                derived: Vec::new(),
                at: Timestamp::now(),
            })
            .await?;
            if refused {
                let why = result.err().map(|e| e.to_string()).unwrap_or_default();
                return self
                    .fail(
                        "MESSAGE_SEND_FAILED",
                        format!("kickoff message {index} was refused: {why}"),
                    )
                    .await;
            }
        }
        self.record(RunCommand::OpenStream {
            after_ordinal: state.last_ordinal,
            reconnect: false,
            at: Timestamp::now(),
        })
        .await
    }
}

/// The SessionStart extension that carries the request's context (the
/// runtime has no other place for it; it stores extensions as given).
const CONTEXT_EXTENSION: &str = "context";

fn session_start_payload(request: &ExecutionRequest) -> SessionStartPayload {
    let session = &request.session;
    // Validated at POST /runs, so encoding cannot fail here.
    let context = match (&session.context_envelope, &session.context) {
        (Some(envelope), _) => encode_envelope(envelope, "session.contextEnvelope")
            .ok()
            .map(|encoded| encoded.bytes),
        (None, Some(context)) => Some(context.to_string().into_bytes()),
        (None, None) => None,
    };
    SessionStartPayload {
        extensions: context
            .map(|bytes| std::iter::once((CONTEXT_EXTENSION.to_string(), bytes)).collect())
            .unwrap_or_default(),
        intent: request.intent().to_string(),
        participants: session.participants.iter().map(|p| p.id.clone()).collect(),
        mode_version: session.mode_version.clone(),
        configuration_version: session.configuration_version.clone(),
        policy_version: session.policy_version.clone().unwrap_or_default(),
        ttl_ms: session.ttl_ms.unwrap_or_default(),
        roots: session
            .roots
            .iter()
            .map(|r| PbRoot {
                uri: r.uri.clone(),
                name: r.name.clone().unwrap_or_default(),
            })
            .collect(),
        ..Default::default()
    }
}
