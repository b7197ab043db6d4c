//! The run aggregate: its folded state ([`RunState`], whose `apply` is the
//! fold) and [`decide`], which turns a command into the events to append
//! (or refuses it).
//!
//! `decide` lives in `run/decide.rs`, which dispatches each command to its
//! rule: `run/lifecycle.rs` (request, start, complete, fail, cancel,
//! suspend, resume), `run/session.rs` (bind the session, open its stream),
//! `run/envelopes.rs` (record a runtime envelope), `run/messages.rs` (record
//! what the runtime answered to a sent message) and `run/records.rs`
//! (artifacts, archive, delete). `run/decision.rs` builds the events one
//! decision appends, numbering the canonical ones.

use crate::canonical::types;
use crate::event::RunEvent;
use crate::request::ExecutionRequest;
use crate::status::RunStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

mod decide;
mod decision;
mod envelopes;
mod lifecycle;
mod messages;
mod records;
mod session;

pub use decide::decide;
pub use messages::{DENIAL_PREFIX, DENIAL_SEPARATOR, POLICY_DENIED_CODE};

/// The kind of the artifact every run gets when it starts running.
pub const TRACE_ARTIFACT_KIND: &str = "trace";

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
    /// The `ordinal` of the last recorded runtime envelope (so also how
    /// many are recorded): the stream's resume point.
    pub last_ordinal: u64,
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
                self.last_ordinal = *ordinal;
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

    /// The run's mode, or `""` before it was requested.
    pub fn mode_name(&self) -> &str {
        self.request
            .as_ref()
            .map(|r| r.session.mode_name.as_str())
            .unwrap_or_default()
    }
}

// The tests pick one kind of event out of a history (`_ => None`): a
// filter, not a rule a new event should make anyone revisit.
#[cfg(test)]
#[allow(clippy::wildcard_enum_match_arm)]
mod tests;
