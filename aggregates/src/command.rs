//! Commands: what a caller asks the run aggregate to record.
//!
//! Every command carries its own time (`at`) and identifiers, so deciding
//! is a pure function of the run's state and the command.

use crate::canonical::DerivedEvent;
use crate::event::RawEnvelope;
use crate::request::ExecutionRequest;
use crate::time::Timestamp;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub enum RunCommand {
    /// Record a run: one to start (`observed: false`), or a session found
    /// on the runtime to follow (`observed: true`: no SessionStart, no kickoff).
    RequestRun {
        run_id: Uuid,
        request: Box<ExecutionRequest>,
        trace_id: String,
        observed: bool,
        at: Timestamp,
    },
    StartRun {
        at: Timestamp,
    },
    BindSession {
        session_id: String,
        initiator: String,
        runtime_kind: String,
        at: Timestamp,
    },
    /// Record what the runtime answered to a sent message. `derived` are
    /// canonical events the message yields once accepted that the session
    /// stream will never deliver (signals travel outside sessions).
    RecordOutboundMessage {
        message: OutboundMessage,
        outcome: MessageOutcome,
        derived: Vec<DerivedEvent>,
        at: Timestamp,
    },
    OpenStream {
        after_ordinal: u64,
        reconnect: bool,
        at: Timestamp,
    },
    /// Record one accepted runtime envelope and the canonical events the
    /// translation derived from it (`message.received` and its kind).
    RecordEnvelope {
        ordinal: u64,
        envelope: RawEnvelope,
        derived: Vec<DerivedEvent>,
        received_at: Timestamp,
    },
    CompleteRun {
        session_state: String,
        at: Timestamp,
        /// The session's decision receipt, fetched and checked when it
        /// resolved (a standards-track mode), recorded with the run's end.
        receipt: Option<Box<crate::receipt::DecisionReceipt>>,
    },
    FailRun {
        error_code: String,
        error_message: String,
        at: Timestamp,
    },
    CancelRun {
        reason: Option<String>,
        at: Timestamp,
    },
    SuspendRun {
        reason: Option<String>,
        at: Timestamp,
    },
    ResumeRun {
        reason: Option<String>,
        at: Timestamp,
    },
    RegisterArtifact {
        artifact_id: String,
        kind: String,
        label: String,
        uri: Option<String>,
        inline: Option<serde_json::Value>,
        at: Timestamp,
    },
    ArchiveRun {
        at: Timestamp,
    },
    DeleteRun {
        at: Timestamp,
    },
}

/// A message the control plane sent into the session for a participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub message_type: String,
    /// Part of the request's kickoff, rather than sent later by an agent.
    pub kickoff: bool,
    /// What `message.received` would carry for this envelope (sender,
    /// payload, decodedPayload, payloadTypeName, …, and `droppedFields`),
    /// added to `message.sent` / `message.send_failed`.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// The subject the envelope's derived event has (the proposal or
    /// commitment its payload names); the message itself when `None`.
    pub subject: Option<crate::canonical::Subject>,
}

/// What the runtime answered to a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    Accepted,
    Refused { code: String, message: String },
}
