//! The run aggregate: its folded state, and `decide`, which turns a command
//! into the events to append (or refuses it).

use crate::canonical::{
    canonical_event_id, types, CanonicalEvent, DerivedEvent, EventSource, Subject, TraceRef,
    SCHEMA_VERSION,
};
use crate::command::{MessageOutcome, RunCommand};
use crate::error::DomainError;
use crate::event::RunEvent;
use crate::request::ExecutionRequest;
use crate::status::RunStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The kind of the artifact every run gets when it starts running.
pub const TRACE_ARTIFACT_KIND: &str = "trace";

/// The runtime's error code for a message its session's policy refused.
pub const POLICY_DENIED_CODE: &str = "POLICY_DENIED";

/// How the runtime words a policy denial with its reasons:
/// `PolicyDenied: <reason>; <reason>` (its gRPC status message for
/// `PolicyDenied`, `macp-runtime`'s `status_from_error`).
pub const DENIAL_PREFIX: &str = "PolicyDenied: ";
pub const DENIAL_SEPARATOR: &str = "; ";

/// The reasons in a policy refusal's message worded as [`DENIAL_PREFIX`]
/// says; any other wording is one reason.
fn denial_reasons(message: &str) -> Vec<String> {
    match message.strip_prefix(DENIAL_PREFIX) {
        Some(reasons) => reasons.split(DENIAL_SEPARATOR).map(String::from).collect(),
        None => vec![message.to_string()],
    }
}

/// What the aggregate needs to know to decide; folded from the run's events.
/// Serializable because cqrs-es's `Aggregate` is (for its snapshots, which
/// we do not use).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: Option<Uuid>,
    pub status: Option<RunStatus>,
    pub request: Option<Box<ExecutionRequest>>,
    pub trace_id: String,
    pub session_id: Option<String>,
    pub initiator: Option<String>,
    pub runtime_kind: String,
    /// The `seq` of the last canonical event.
    pub last_seq: u64,
    /// How many runtime envelopes are recorded: the stream's resume point.
    pub recorded_ordinals: u64,
    pub seen_participants: BTreeSet<String>,
    /// How many of the request's kickoff messages have an outcome recorded.
    pub kickoff_recorded: usize,
    /// Follows a session someone else started.
    pub observed: bool,
    pub trace_artifact_registered: bool,
    pub archived: bool,
    /// Deleted runs answer every command as if they did not exist.
    pub deleted: bool,
    /// When the run started (its duration runs from here to its end).
    pub started_at: Option<Timestamp>,
    /// The timestamp of the last recorded runtime envelope (its sender's).
    pub last_envelope_at: Option<Timestamp>,
}

impl RunState {
    pub fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunRequested {
                run_id,
                request,
                trace_id,
                observed,
                ..
            } => {
                self.observed = *observed;
                self.run_id = Some(*run_id);
                self.status = Some(RunStatus::Queued);
                self.request = Some(request.clone());
                self.trace_id = trace_id.clone();
                self.runtime_kind = request.runtime.kind.clone();
            }
            RunEvent::RunStarted { at } => {
                self.status = Some(RunStatus::Starting);
                self.started_at.get_or_insert(*at);
            }
            RunEvent::SessionBound {
                session_id,
                initiator,
                runtime_kind,
                ..
            } => {
                self.status = Some(RunStatus::BindingSession);
                self.session_id = Some(session_id.clone());
                self.initiator = Some(initiator.clone());
                self.runtime_kind = runtime_kind.clone();
            }
            RunEvent::SessionStreamOpened { .. } => {
                if self.status == Some(RunStatus::BindingSession) {
                    self.status = Some(RunStatus::Running);
                }
            }
            RunEvent::RuntimeEnvelopeRecorded {
                ordinal, envelope, ..
            } => {
                self.recorded_ordinals = *ordinal;
                self.last_envelope_at = Some(Timestamp::from_unix_ms(envelope.timestamp_unix_ms));
            }
            RunEvent::CanonicalEventRecorded { event } => {
                self.last_seq = event.seq;
                if event.event_type == types::PARTICIPANT_SEEN {
                    if let Some(subject) = &event.subject {
                        self.seen_participants.insert(subject.id.clone());
                    }
                }
            }
            RunEvent::MessageSent { kickoff, .. } | RunEvent::MessageRefused { kickoff, .. } => {
                if *kickoff {
                    self.kickoff_recorded += 1;
                }
            }
            RunEvent::RunCompleted { .. } => self.status = Some(RunStatus::Completed),
            RunEvent::RunFailed { .. } => self.status = Some(RunStatus::Failed),
            RunEvent::RunCancelled { .. } => self.status = Some(RunStatus::Cancelled),
            RunEvent::RunSuspended { .. } => self.status = Some(RunStatus::Suspended),
            RunEvent::RunResumed { .. } => self.status = Some(RunStatus::Running),
            RunEvent::ArtifactRegistered { kind, .. } => {
                if kind == TRACE_ARTIFACT_KIND {
                    self.trace_artifact_registered = true;
                }
            }
            RunEvent::RunArchived { .. } => self.archived = true,
            RunEvent::RunDeleted { .. } => self.deleted = true,
            // Facts no rule of the run depends on.
            RunEvent::DecisionReceiptRecorded { .. } | RunEvent::ActionAudited { .. } => {}
        }
    }

    pub fn fold<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> RunState {
        let mut state = RunState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_some_and(RunStatus::is_terminal)
    }

    fn mode_name(&self) -> &str {
        self.request
            .as_ref()
            .map(|r| r.session.mode_name.as_str())
            .unwrap_or_default()
    }
}

/// Decides what a command means for the run: the events to append, in
/// order, or why not. Pure: no clock, no randomness, no I/O.
pub fn decide(state: &RunState, command: &RunCommand) -> Result<Vec<RunEvent>, DomainError> {
    if let RunCommand::RequestRun {
        run_id,
        request,
        trace_id,
        observed,
        at,
    } = command
    {
        if state.status.is_some() {
            return Err(DomainError::RunAlreadyExists);
        }
        let requested = RunEvent::RunRequested {
            run_id: *run_id,
            request: request.clone(),
            trace_id: trace_id.clone(),
            requested_at: *at,
            observed: *observed,
        };
        let mut fresh = RunState::default();
        fresh.apply(&requested);
        let mut out = Decision::new(&fresh);
        out.fact(requested);
        out.lifecycle(
            *at,
            types::RUN_CREATED,
            json!({
                "runStatus": RunStatus::Queued,
                "modeName": request.session.mode_name,
                "runtimeKind": request.runtime.kind,
                "tags": request.tags(),
                "idempotencyKey": request.idempotency_key(),
                "observed": observed,
            }),
        );
        return Ok(out.events);
    }

    let status = state
        .status
        .filter(|_| !state.deleted)
        .ok_or(DomainError::RunNotFound)?;
    let mut out = Decision::new(state);
    match command {
        RunCommand::RequestRun { .. } => unreachable!("handled above"),
        RunCommand::StartRun { at } => {
            transition(status, RunStatus::Starting)?;
            out.fact(RunEvent::RunStarted { at: *at });
            out.lifecycle(
                *at,
                types::RUN_STARTED,
                json!({"runStatus": RunStatus::Starting}),
            );
        }
        RunCommand::BindSession {
            session_id,
            initiator,
            runtime_kind,
            at,
        } => {
            transition(status, RunStatus::BindingSession)?;
            out.fact(RunEvent::SessionBound {
                session_id: session_id.clone(),
                initiator: initiator.clone(),
                runtime_kind: runtime_kind.clone(),
                at: *at,
            });
            out.canonical(
                *at,
                types::SESSION_BOUND,
                Some(Subject::new("session", session_id.as_str())),
                EventSource::control_plane(),
                json!({
                    "sessionId": session_id,
                    "initiator": initiator,
                    "modeName": state.mode_name(),
                    "runtimeKind": runtime_kind,
                    "runStatus": RunStatus::BindingSession,
                }),
            );
            let declared = state
                .request
                .iter()
                .flat_map(|r| r.session.participants.iter());
            for participant in declared {
                out.participant_seen(*at, &participant.id, participant.role.as_deref());
            }
        }
        RunCommand::RecordOutboundMessage {
            message,
            outcome,
            derived,
            at,
        } => {
            require_session(state, status, "sending a message")?;
            let mut data = json!({
                "messageId": message.message_id,
                "from": message.from,
                "to": message.to,
                "messageType": message.message_type,
                "kickoff": message.kickoff,
            });
            if let Value::Object(fields) = &mut data {
                for (key, value) in &message.details {
                    fields.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            let subject = Some(
                message
                    .subject
                    .clone()
                    .unwrap_or_else(|| Subject::new("message", message.message_id.as_str())),
            );
            match outcome {
                MessageOutcome::Accepted => {
                    out.fact(RunEvent::MessageSent {
                        message_id: message.message_id.clone(),
                        from: message.from.clone(),
                        to: message.to.clone(),
                        message_type: message.message_type.clone(),
                        kickoff: message.kickoff,
                        at: *at,
                    });
                    out.canonical(
                        *at,
                        types::MESSAGE_SENT,
                        subject,
                        EventSource::control_plane(),
                        data,
                    );
                    for event in derived {
                        out.derived(*at, EventSource::control_plane(), event);
                    }
                }
                MessageOutcome::Refused { code, message: why } => {
                    out.fact(RunEvent::MessageRefused {
                        message_id: message.message_id.clone(),
                        from: message.from.clone(),
                        to: message.to.clone(),
                        message_type: message.message_type.clone(),
                        kickoff: message.kickoff,
                        error_code: code.clone(),
                        error_message: why.clone(),
                        at: *at,
                    });
                    data["errorCode"] = json!(code);
                    data["errorMessage"] = json!(why);
                    // A refusal by the session's policy is also the policy's
                    // verdict on what was sent, with the runtime's reasons.
                    let denied = (code == POLICY_DENIED_CODE).then(|| {
                        let payload = &data["decodedPayload"];
                        json!({
                            "commitmentId": payload.get("commitmentId"),
                            "policyVersion": payload.get("policyVersion"),
                            "messageId": message.message_id,
                            "messageType": message.message_type,
                            "sender": message.from,
                            "errorCode": code,
                            "reasons": denial_reasons(why),
                        })
                    });
                    out.canonical(
                        *at,
                        types::MESSAGE_SEND_FAILED,
                        subject.clone(),
                        EventSource::control_plane(),
                        data,
                    );
                    if let Some(denied) = denied {
                        out.canonical(
                            *at,
                            types::POLICY_DENIED,
                            subject,
                            EventSource::control_plane(),
                            denied,
                        );
                    }
                }
            }
        }
        RunCommand::OpenStream {
            after_sequence,
            reconnect,
            at,
        } => {
            require_session(state, status, "opening the stream")?;
            out.fact(RunEvent::SessionStreamOpened {
                after_sequence: *after_sequence,
                reconnect: *reconnect,
                at: *at,
            });
            let session_id = state.session_id.clone().unwrap_or_default();
            out.canonical(
                *at,
                types::SESSION_STREAM_OPENED,
                Some(Subject::new("session", session_id)),
                EventSource::control_plane(),
                json!({
                    "afterSequence": after_sequence,
                    "status": if *reconnect { "reconnecting" } else { "opened" },
                    "runStatus": if status == RunStatus::BindingSession { RunStatus::Running } else { status },
                }),
            );
            // A run that starts running gets its trace artifact.
            if !state.trace_artifact_registered {
                let run_id = state.run_id.unwrap_or_default();
                out.artifact(
                    Uuid::new_v5(&run_id, b"trace-artifact").to_string(),
                    TRACE_ARTIFACT_KIND,
                    "Run trace",
                    Some(format!("/runs/{run_id}/traces")),
                    None,
                    *at,
                );
            }
        }
        RunCommand::RecordEnvelope {
            ordinal,
            envelope,
            derived,
            received_at,
        } => {
            require_session(state, status, "recording an envelope")?;
            let expected = state.recorded_ordinals + 1;
            if *ordinal < expected {
                return Err(DomainError::EnvelopeAlreadyRecorded { ordinal: *ordinal });
            }
            if *ordinal > expected {
                return Err(DomainError::EnvelopeOrdinalGap {
                    expected,
                    got: *ordinal,
                });
            }
            out.fact(RunEvent::RuntimeEnvelopeRecorded {
                ordinal: *ordinal,
                envelope: envelope.clone(),
                received_at: *received_at,
            });
            if !envelope.sender.is_empty() {
                out.participant_seen(*received_at, &envelope.sender, None);
            }
            let source = EventSource::runtime(&state.runtime_kind, &envelope.message_type);
            for event in derived {
                out.derived(*received_at, source.clone(), event);
            }
        }
        RunCommand::CompleteRun {
            session_state,
            at,
            receipt,
        } => {
            transition(status, RunStatus::Completed)?;
            out.fact(RunEvent::RunCompleted {
                session_state: session_state.clone(),
                at: *at,
            });
            let mut data =
                json!({"runStatus": RunStatus::Completed, "sessionState": session_state});
            if let Some(receipt) = receipt {
                // The bytes as a fact; their summary on the canonical event,
                // which the run state (live and replayed) folds.
                out.fact(RunEvent::DecisionReceiptRecorded {
                    receipt: (**receipt).clone(),
                    at: *at,
                });
                data["decisionReceipt"] = json!(receipt.summary());
            }
            out.lifecycle(*at, types::RUN_COMPLETED, data);
        }
        RunCommand::FailRun {
            error_code,
            error_message,
            at,
        } => {
            transition(status, RunStatus::Failed)?;
            out.fact(RunEvent::RunFailed {
                error_code: error_code.clone(),
                error_message: error_message.clone(),
                at: *at,
            });
            out.lifecycle(
                *at,
                types::RUN_FAILED,
                json!({"runStatus": RunStatus::Failed, "errorCode": error_code,
                       "errorMessage": error_message}),
            );
        }
        RunCommand::CancelRun { reason, at } => {
            transition(status, RunStatus::Cancelled)?;
            out.fact(RunEvent::RunCancelled {
                reason: reason.clone(),
                at: *at,
            });
            out.lifecycle(
                *at,
                types::RUN_CANCELLED,
                json!({"runStatus": RunStatus::Cancelled, "reason": reason}),
            );
        }
        RunCommand::SuspendRun { reason, at } => {
            transition(status, RunStatus::Suspended)?;
            out.fact(RunEvent::RunSuspended {
                reason: reason.clone(),
                at: *at,
            });
            out.lifecycle(
                *at,
                types::RUN_SUSPENDED,
                json!({"runStatus": RunStatus::Suspended, "reason": reason}),
            );
        }
        RunCommand::RegisterArtifact {
            artifact_id,
            kind,
            label,
            uri,
            inline,
            at,
        } => {
            out.artifact(
                artifact_id.clone(),
                kind,
                label,
                uri.clone(),
                inline.clone(),
                *at,
            );
        }
        RunCommand::ArchiveRun { at } => {
            if !status.is_terminal() {
                return Err(DomainError::RunNotEnded {
                    status,
                    action: "archived",
                });
            }
            if state.archived {
                return Err(DomainError::RunAlreadyArchived);
            }
            out.fact(RunEvent::RunArchived { at: *at });
        }
        RunCommand::DeleteRun { at } => {
            if !status.is_terminal() {
                return Err(DomainError::RunNotEnded {
                    status,
                    action: "deleted",
                });
            }
            out.fact(RunEvent::RunDeleted { at: *at });
        }
        RunCommand::ResumeRun { reason, at } => {
            if status != RunStatus::Suspended {
                return Err(DomainError::InvalidTransition {
                    from: status,
                    to: RunStatus::Running,
                });
            }
            out.fact(RunEvent::RunResumed {
                reason: reason.clone(),
                at: *at,
            });
            out.lifecycle(
                *at,
                types::RUN_RESUMED,
                json!({"runStatus": RunStatus::Running, "reason": reason}),
            );
        }
    }
    Ok(out.events)
}

fn transition(from: RunStatus, to: RunStatus) -> Result<(), DomainError> {
    if from.can_transition_to(to) {
        Ok(())
    } else {
        Err(DomainError::InvalidTransition { from, to })
    }
}

fn require_session(
    state: &RunState,
    status: RunStatus,
    action: &'static str,
) -> Result<(), DomainError> {
    if state.session_id.is_some() {
        Ok(())
    } else {
        Err(DomainError::SessionNotBound { status, action })
    }
}

/// The events one decision appends, numbering canonical events as it goes.
struct Decision<'a> {
    state: &'a RunState,
    next_seq: u64,
    seen: BTreeSet<String>,
    events: Vec<RunEvent>,
}

impl<'a> Decision<'a> {
    fn new(state: &'a RunState) -> Self {
        Decision {
            state,
            next_seq: state.last_seq + 1,
            seen: BTreeSet::new(),
            events: Vec::new(),
        }
    }

    fn fact(&mut self, event: RunEvent) {
        self.events.push(event);
    }

    fn canonical(
        &mut self,
        ts: Timestamp,
        event_type: &str,
        subject: Option<Subject>,
        source: EventSource,
        data: Value,
    ) {
        let run_id = self.state.run_id.unwrap_or_default();
        let seq = self.next_seq;
        self.next_seq += 1;
        let trace = (!self.state.trace_id.is_empty()).then(|| TraceRef {
            trace_id: Some(self.state.trace_id.clone()),
            span_id: None,
            parent_span_id: None,
        });
        self.events.push(RunEvent::CanonicalEventRecorded {
            event: CanonicalEvent {
                id: canonical_event_id(run_id, seq),
                run_id,
                seq,
                ts,
                event_type: event_type.to_string(),
                schema_version: SCHEMA_VERSION,
                subject,
                source,
                trace,
                data,
            },
        });
    }

    fn lifecycle(&mut self, ts: Timestamp, event_type: &str, data: Value) {
        let run_id = self.state.run_id.unwrap_or_default().to_string();
        self.canonical(
            ts,
            event_type,
            Some(Subject::new("run", run_id)),
            EventSource::control_plane(),
            data,
        );
    }

    fn derived(&mut self, ts: Timestamp, source: EventSource, event: &DerivedEvent) {
        self.canonical(
            ts,
            &event.event_type,
            event.subject.clone(),
            source,
            event.data.clone(),
        );
    }

    /// An artifact and its `artifact.created`.
    fn artifact(
        &mut self,
        artifact_id: String,
        kind: &str,
        label: &str,
        uri: Option<String>,
        inline: Option<Value>,
        at: Timestamp,
    ) {
        let data = json!({"artifactId": artifact_id, "kind": kind, "label": label, "uri": uri,
                          "inline": inline});
        self.fact(RunEvent::ArtifactRegistered {
            artifact_id: artifact_id.clone(),
            kind: kind.to_string(),
            label: label.to_string(),
            uri,
            inline,
            at,
        });
        self.canonical(
            at,
            types::ARTIFACT_CREATED,
            Some(Subject::new("artifact", artifact_id)),
            EventSource::control_plane(),
            data,
        );
    }

    /// `participant.seen`, the first time a participant appears in the run.
    fn participant_seen(&mut self, ts: Timestamp, participant_id: &str, role: Option<&str>) {
        if self.state.seen_participants.contains(participant_id)
            || !self.seen.insert(participant_id.to_string())
        {
            return;
        }
        self.canonical(
            ts,
            types::PARTICIPANT_SEEN,
            Some(Subject::new("participant", participant_id)),
            EventSource::control_plane(),
            json!({"participantId": participant_id, "role": role}),
        );
    }
}

#[cfg(test)]
mod tests;
