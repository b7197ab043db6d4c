//! Canonical events: the contract's public, scenario-agnostic vocabulary.
//!
//! Each one is stored as a fact (`RunEvent::CanonicalEventRecorded`) with
//! its `seq`, so what a client read once it reads again, byte for byte.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub const SCHEMA_VERSION: u32 = 1;
pub const CONTROL_PLANE_SOURCE: &str = "macp-control-plane";

/// The event type names of the contract's "Events" section.
pub mod types {
    pub const RUN_CREATED: &str = "run.created";
    pub const RUN_STARTED: &str = "run.started";
    pub const RUN_COMPLETED: &str = "run.completed";
    pub const RUN_FAILED: &str = "run.failed";
    pub const RUN_CANCELLED: &str = "run.cancelled";
    pub const RUN_SUSPENDED: &str = "run.suspended";
    pub const RUN_RESUMED: &str = "run.resumed";
    pub const SESSION_BOUND: &str = "session.bound";
    pub const SESSION_STREAM_OPENED: &str = "session.stream.opened";
    pub const SESSION_STATE_CHANGED: &str = "session.state.changed";
    pub const PARTICIPANT_SEEN: &str = "participant.seen";
    pub const MESSAGE_SENT: &str = "message.sent";
    pub const MESSAGE_RECEIVED: &str = "message.received";
    pub const MESSAGE_SEND_FAILED: &str = "message.send_failed";
    pub const SIGNAL_EMITTED: &str = "signal.emitted";
    pub const PROPOSAL_CREATED: &str = "proposal.created";
    pub const PROPOSAL_UPDATED: &str = "proposal.updated";
    pub const DECISION_FINALIZED: &str = "decision.finalized";
    pub const PROGRESS_REPORTED: &str = "progress.reported";
    pub const LLM_CALL_COMPLETED: &str = "llm.call.completed";
    pub const ARTIFACT_CREATED: &str = "artifact.created";
    pub const POLICY_DENIED: &str = "policy.denied";
    pub const POLICY_COMMITMENT_EVALUATED: &str = "policy.commitment.evaluated";
    pub const SIGNAL_ACKNOWLEDGED: &str = "signal.acknowledged";
    pub const TOOL_CALLED: &str = "tool.called";
    pub const TOOL_COMPLETED: &str = "tool.completed";

    /// Every canonical type of the contract (webhooks subscribe to these).
    pub const ALL: [&str; 26] = [
        RUN_CREATED,
        RUN_STARTED,
        RUN_COMPLETED,
        RUN_FAILED,
        RUN_CANCELLED,
        RUN_SUSPENDED,
        RUN_RESUMED,
        SESSION_BOUND,
        SESSION_STREAM_OPENED,
        SESSION_STATE_CHANGED,
        PARTICIPANT_SEEN,
        MESSAGE_SENT,
        MESSAGE_RECEIVED,
        MESSAGE_SEND_FAILED,
        SIGNAL_EMITTED,
        SIGNAL_ACKNOWLEDGED,
        PROPOSAL_CREATED,
        PROPOSAL_UPDATED,
        DECISION_FINALIZED,
        PROGRESS_REPORTED,
        LLM_CALL_COMPLETED,
        ARTIFACT_CREATED,
        POLICY_DENIED,
        POLICY_COMMITMENT_EVALUATED,
        TOOL_CALLED,
        TOOL_COMPLETED,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanonicalEvent {
    pub id: Uuid,
    pub run_id: Uuid,
    pub seq: u64,
    pub ts: Timestamp,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    pub source: EventSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceRef>,
    pub data: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub kind: String,
    pub id: String,
}

impl Subject {
    pub fn new(kind: &str, id: impl Into<String>) -> Self {
        Subject {
            kind: kind.to_string(),
            id: id.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_type: Option<String>,
}

impl EventSource {
    pub fn control_plane() -> Self {
        EventSource {
            kind: "macp-control-plane".into(),
            name: CONTROL_PLANE_SOURCE.into(),
            raw_type: None,
        }
    }

    pub fn runtime(runtime_kind: &str, raw_type: &str) -> Self {
        EventSource {
            kind: "runtime".into(),
            name: runtime_kind.into(),
            raw_type: Some(raw_type.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
}

impl CanonicalEvent {
    /// The run's status after this event, for the events that change it
    /// (`run.*`, `session.bound`, `session.stream.opened`): the aggregate
    /// writes it as `data.runStatus`, so read models need no rules of their own.
    pub fn run_status(&self) -> Option<crate::RunStatus> {
        self.data
            .get("runStatus")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
    }
}

/// A canonical event before the aggregate gives it its place in the run
/// (`seq`, id, timestamp). The translation of runtime envelopes produces
/// these; the aggregate decides which of them become facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DerivedEvent {
    pub event_type: String,
    pub subject: Option<Subject>,
    pub data: Value,
}

impl DerivedEvent {
    pub fn new(event_type: &str, subject: Option<Subject>, data: Value) -> Self {
        DerivedEvent {
            event_type: event_type.to_string(),
            subject,
            data,
        }
    }
}

/// The id of the canonical event at `seq` of `run_id`: derived, not drawn,
/// so deciding the same command twice yields the same event.
pub fn canonical_event_id(run_id: Uuid, seq: u64) -> Uuid {
    Uuid::new_v5(&run_id, &seq.to_be_bytes())
}
