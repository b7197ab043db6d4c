//! The events one decision appends: facts as given, canonical events
//! numbered (`seq`) after the run's last and stamped with its trace, and
//! the helpers for the canonical events several rules emit.

use super::RunState;
use crate::canonical::{
    canonical_event_id, types, CanonicalEvent, DerivedEvent, EventSource, Subject, TraceRef,
    SCHEMA_VERSION,
};
use crate::event::RunEvent;
use crate::time::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The events one decision appends, numbering canonical events as it goes.
pub(super) struct Decision<'a> {
    state: &'a RunState,
    next_seq: u64,
    seen: BTreeSet<String>,
    events: Vec<RunEvent>,
}

impl<'a> Decision<'a> {
    pub(super) fn new(state: &'a RunState) -> Self {
        Decision {
            state,
            next_seq: state.last_seq + 1,
            seen: BTreeSet::new(),
            events: Vec::new(),
        }
    }

    /// The events decided, in the order they were added.
    pub(super) fn into_events(self) -> Vec<RunEvent> {
        self.events
    }

    pub(super) fn fact(&mut self, event: RunEvent) {
        self.events.push(event);
    }

    pub(super) fn canonical(
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

    pub(super) fn lifecycle(&mut self, ts: Timestamp, event_type: &str, data: Value) {
        let run_id = self.state.run_id.unwrap_or_default().to_string();
        self.canonical(
            ts,
            event_type,
            Some(Subject::new("run", run_id)),
            EventSource::control_plane(),
            data,
        );
    }

    pub(super) fn derived(&mut self, ts: Timestamp, source: EventSource, event: &DerivedEvent) {
        self.canonical(
            ts,
            &event.event_type,
            event.subject.clone(),
            source,
            event.data.clone(),
        );
    }

    /// An artifact and its `artifact.created`.
    pub(super) fn artifact(
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
    pub(super) fn participant_seen(
        &mut self,
        ts: Timestamp,
        participant_id: &str,
        role: Option<&str>,
    ) {
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
