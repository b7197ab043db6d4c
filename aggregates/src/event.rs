//! Domain events of a run: what happened, in the past tense.
//!
//! Appended to the run's stream and never changed. Each variant is stored
//! with its name as the event type and [`STORED_SCHEMA_VERSION`]; an old
//! payload is upcast by [`RunEvent::from_stored`] before it is read.
//!
//! The stored form (schema version 2) is the event's serde form,
//! `{"type": "<event type>", "data": {<fields, camelCase>}}`: what cqrs-es
//! writes for a `DomainEvent`, so a row that postgres-es commits and a row
//! that our store appends read the same way. Version 1 stored the `data`
//! object alone; [`upcast`] wraps it.

use crate::audit::Actor;
use crate::canonical::CanonicalEvent;
use crate::request::ExecutionRequest;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum RunEvent {
    #[serde(rename_all = "camelCase")]
    RunRequested {
        run_id: Uuid,
        request: Box<ExecutionRequest>,
        trace_id: String,
        requested_at: Timestamp,
        /// A session this control plane did not start, only follows.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        observed: bool,
    },
    #[serde(rename_all = "camelCase")]
    RunStarted { at: Timestamp },
    #[serde(rename_all = "camelCase")]
    SessionBound {
        session_id: String,
        initiator: String,
        runtime_kind: String,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    MessageSent {
        message_id: String,
        from: String,
        to: Vec<String>,
        message_type: String,
        kickoff: bool,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    MessageRefused {
        message_id: String,
        from: String,
        to: Vec<String>,
        message_type: String,
        kickoff: bool,
        error_code: String,
        error_message: String,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    SessionStreamOpened {
        /// The ordinal of the last envelope recorded before the stream
        /// opened. Stored as `afterSequence` before it had the standard
        /// name; such payloads load under either.
        #[serde(alias = "afterSequence")]
        after_ordinal: u64,
        reconnect: bool,
        at: Timestamp,
    },
    /// One accepted envelope exactly as the runtime delivered it. `ordinal`
    /// is its 1-based number in the session (SessionStart is 1).
    #[serde(rename_all = "camelCase")]
    RuntimeEnvelopeRecorded {
        ordinal: u64,
        envelope: RawEnvelope,
        received_at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    CanonicalEventRecorded { event: CanonicalEvent },
    #[serde(rename_all = "camelCase")]
    RunCompleted {
        session_state: String,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    RunFailed {
        error_code: String,
        error_message: String,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    RunCancelled {
        reason: Option<String>,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    RunSuspended {
        reason: Option<String>,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    RunResumed {
        reason: Option<String>,
        at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    ArtifactRegistered {
        artifact_id: String,
        kind: String,
        label: String,
        uri: Option<String>,
        inline: Option<Value>,
        at: Timestamp,
    },
    /// Hidden from lists unless asked for; nothing else changes.
    #[serde(rename_all = "camelCase")]
    RunArchived { at: Timestamp },
    /// The runtime's decision receipt for the run's resolved session, as
    /// served, with what checking it found (a failed check is recorded,
    /// never dropped), or why there is none.
    #[serde(rename_all = "camelCase")]
    DecisionReceiptRecorded {
        receipt: crate::receipt::DecisionReceipt,
        at: Timestamp,
    },
    /// A tombstone: the run is gone from every read model, its events stay
    /// in the log (they are never deleted).
    #[serde(rename_all = "camelCase")]
    RunDeleted { at: Timestamp },
    /// An API caller asked for the command whose events precede this one
    /// in the same append (see `audit.rs`). Changes no state.
    #[serde(rename_all = "camelCase")]
    ActionAudited {
        action: String,
        actor: Actor,
        at: Timestamp,
    },
}

/// A runtime envelope, field for field, with the payload bytes in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEnvelope {
    pub macp_version: String,
    pub mode: String,
    pub message_type: String,
    pub message_id: String,
    pub session_id: String,
    pub sender: String,
    pub timestamp_unix_ms: i64,
    pub payload_base64: String,
}

/// A stored event that does not load: its type is unknown to this build or
/// its payload does not match its schema.
#[derive(Debug, thiserror::Error)]
#[error("stored event {event_type} v{schema_version} does not load: {reason}")]
pub struct EventLoadError {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}

impl RunEvent {
    /// When the run ended, if this is its end (completed, failed or
    /// cancelled).
    pub fn run_ended_at(&self) -> Option<Timestamp> {
        match self {
            RunEvent::RunCompleted { at, .. }
            | RunEvent::RunFailed { at, .. }
            | RunEvent::RunCancelled { at, .. } => Some(*at),
            RunEvent::RunRequested { .. }
            | RunEvent::RunStarted { .. }
            | RunEvent::SessionBound { .. }
            | RunEvent::MessageSent { .. }
            | RunEvent::MessageRefused { .. }
            | RunEvent::SessionStreamOpened { .. }
            | RunEvent::RuntimeEnvelopeRecorded { .. }
            | RunEvent::CanonicalEventRecorded { .. }
            | RunEvent::RunSuspended { .. }
            | RunEvent::RunResumed { .. }
            | RunEvent::ArtifactRegistered { .. }
            | RunEvent::RunArchived { .. }
            | RunEvent::DecisionReceiptRecorded { .. }
            | RunEvent::RunDeleted { .. }
            | RunEvent::ActionAudited { .. } => None,
        }
    }

    pub fn event_type(&self) -> &'static str {
        match self {
            RunEvent::RunRequested { .. } => "RunRequested",
            RunEvent::RunStarted { .. } => "RunStarted",
            RunEvent::SessionBound { .. } => "SessionBound",
            RunEvent::MessageSent { .. } => "MessageSent",
            RunEvent::MessageRefused { .. } => "MessageRefused",
            RunEvent::SessionStreamOpened { .. } => "SessionStreamOpened",
            RunEvent::RuntimeEnvelopeRecorded { .. } => "RuntimeEnvelopeRecorded",
            RunEvent::CanonicalEventRecorded { .. } => "CanonicalEventRecorded",
            RunEvent::RunCompleted { .. } => "RunCompleted",
            RunEvent::RunFailed { .. } => "RunFailed",
            RunEvent::RunCancelled { .. } => "RunCancelled",
            RunEvent::RunSuspended { .. } => "RunSuspended",
            RunEvent::RunResumed { .. } => "RunResumed",
            RunEvent::ArtifactRegistered { .. } => "ArtifactRegistered",
            RunEvent::RunArchived { .. } => "RunArchived",
            RunEvent::DecisionReceiptRecorded { .. } => "DecisionReceiptRecorded",
            RunEvent::RunDeleted { .. } => "RunDeleted",
            RunEvent::ActionAudited { .. } => "ActionAudited",
        }
    }

    /// The schema version written with new events of this type: every type
    /// is at [`STORED_SCHEMA_VERSION`]. Bump it when a payload changes shape,
    /// and teach [`upcast`] the old shape.
    pub fn schema_version(&self) -> u32 {
        STORED_SCHEMA_VERSION
    }

    /// The payload as stored: the event's serde form (see the module docs).
    pub fn to_stored(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Loads a stored event, upcasting older schema versions first. The
    /// payload's own type tag must be the row's event type.
    pub fn from_stored(
        event_type: &str,
        schema_version: u32,
        payload: Value,
    ) -> Result<RunEvent, EventLoadError> {
        let load_error = |reason: String| EventLoadError {
            event_type: event_type.to_string(),
            schema_version,
            reason,
        };
        let payload = upcast(event_type, schema_version, payload);
        let event: RunEvent =
            serde_json::from_value(payload).map_err(|e| load_error(e.to_string()))?;
        if event.event_type() != event_type {
            return Err(load_error(format!(
                "its payload holds a {} event",
                event.event_type()
            )));
        }
        Ok(event)
    }

    pub fn canonical(&self) -> Option<&CanonicalEvent> {
        match self {
            RunEvent::CanonicalEventRecorded { event } => Some(event),
            RunEvent::RunRequested { .. }
            | RunEvent::RunStarted { .. }
            | RunEvent::SessionBound { .. }
            | RunEvent::MessageSent { .. }
            | RunEvent::MessageRefused { .. }
            | RunEvent::SessionStreamOpened { .. }
            | RunEvent::RuntimeEnvelopeRecorded { .. }
            | RunEvent::RunCompleted { .. }
            | RunEvent::RunFailed { .. }
            | RunEvent::RunCancelled { .. }
            | RunEvent::RunSuspended { .. }
            | RunEvent::RunResumed { .. }
            | RunEvent::ArtifactRegistered { .. }
            | RunEvent::RunArchived { .. }
            | RunEvent::DecisionReceiptRecorded { .. }
            | RunEvent::RunDeleted { .. }
            | RunEvent::ActionAudited { .. } => None,
        }
    }
}

/// The schema version of the stored form written today (see the module
/// docs for what each version holds).
pub const STORED_SCHEMA_VERSION: u32 = 2;

/// Moves a stored payload of `schema_version` to the current stored form.
/// Version 1 held the `data` object alone: it is wrapped with its type.
/// The one rule for both readers of the log: our store's and cqrs-es's
/// (through the upcaster in `cqrs.rs`).
pub fn upcast(event_type: &str, schema_version: u32, payload: Value) -> Value {
    if schema_version < 2 {
        serde_json::json!({"type": event_type, "data": payload})
    } else {
        payload
    }
}

/// The canonical event held by a stored `CanonicalEventRecorded` payload
/// of `schema_version`, as the exact JSON text it was recorded with: the
/// canonical index keeps only where each event is in the log, and serves
/// these bytes without parsing them into a value and back. Version 2 holds
/// it at `data.event`, version 1 at `event` (see [`upcast`]).
///
/// # Errors
/// The payload is not JSON, or has no event where its version puts one.
pub fn stored_canonical_json(
    schema_version: u32,
    payload: &str,
) -> Result<&str, serde_json::Error> {
    #[derive(Deserialize)]
    struct Recorded<'a> {
        #[serde(borrow)]
        event: &'a serde_json::value::RawValue,
    }
    #[derive(Deserialize)]
    struct Tagged<'a> {
        #[serde(borrow)]
        data: Recorded<'a>,
    }
    let recorded = if schema_version < 2 {
        serde_json::from_str::<Recorded>(payload)?
    } else {
        serde_json::from_str::<Tagged>(payload)?.data
    };
    Ok(recorded.event.get())
}

#[cfg(test)]
mod tests;
