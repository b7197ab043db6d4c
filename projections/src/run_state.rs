//! The run-state projection of `GET /runs/:id/state`: the UI's view of a
//! run (participants, graph, decision, signals, progress, timeline, …).
//!
//! Folds the run's canonical events; `RunRequested` contributes what only
//! the request knows (declared roles, policy version, trace id). Every
//! top-level key is always present.
//!
//! This module dispatches each event; the view's types are in
//! `run_state/view.rs` (the graph's in `run_state/graph.rs`), the fold of
//! the decision and the policy in `run_state/decision.rs`, and that of
//! what participants do (messages, signals, progress, LLM calls) in
//! `run_state/activity.rs`.

use crate::Projection;
use aggregates::canonical::types;
use aggregates::request::ExecutionRequest;
use aggregates::{CanonicalEvent, RunEvent, RunStatus, Timestamp};
use serde_json::Value;
use uuid::Uuid;

mod activity;
mod decision;
mod graph;
mod view;

pub use graph::{Graph, GraphEdge, GraphNode};
pub use view::{
    CurrentDecision, DecisionView, LlmTotals, LlmView, OutboundMessages, ParticipantStatus,
    ParticipantView, PolicyView, Progress, ProgressEntry, ProposalEntry, RunHeader, RunStateView,
    SignalEntry, Signals, Timeline, TimelineEntry, TraceView,
};

/// How many recent events the timeline keeps.
pub const TIMELINE_RECENT: usize = 50;

/// The default policy the runtime binds when a request names none.
const DEFAULT_POLICY_VERSION: &str = "policy.default";

impl Projection for RunStateView {
    const NAME: &'static str = "run_state";

    fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunRequested {
                run_id,
                request,
                trace_id,
                ..
            } => self.on_requested(*run_id, request, trace_id),
            RunEvent::CanonicalEventRecorded { event } => {
                if event.seq <= self.timeline.latest_seq {
                    return;
                }
                self.apply_canonical(event);
            }
            // Facts the view reads from their canonical events, or not at all.
            RunEvent::RunStarted { .. }
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
            | RunEvent::ActionAudited { .. } => {}
        }
    }
}

impl RunStateView {
    /// What only the request knows; a request seen again changes nothing.
    fn on_requested(&mut self, run_id: Uuid, request: &ExecutionRequest, trace_id: &str) {
        if self.run.run_id.is_some() {
            return;
        }
        self.run.run_id = Some(run_id);
        self.run.status = Some(RunStatus::Queued);
        self.run.trace_id = Some(trace_id.to_string());
        self.run.mode_name = Some(request.session.mode_name.clone());
        self.trace.trace_id = Some(trace_id.to_string());
        for participant in &request.session.participants {
            self.participant_mut(&participant.id).role = participant.role.clone();
        }
        self.policy.policy_version = request
            .session
            .policy_version
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_POLICY_VERSION.to_string());
        self.policy.expected_commitments = request.session.commitments.clone();
    }

    /// A canonical event not folded yet: the timeline and trace count every
    /// one; its type says which part of the view it changes.
    fn apply_canonical(&mut self, event: &CanonicalEvent) {
        self.timeline.latest_seq = event.seq;
        self.timeline.total_events += 1;
        self.timeline.recent.push(TimelineEntry {
            id: event.id,
            seq: event.seq,
            ts: event.ts,
            event_type: event.event_type.clone(),
            subject: event.subject.clone(),
        });
        if self.timeline.recent.len() > TIMELINE_RECENT {
            let excess = self.timeline.recent.len() - TIMELINE_RECENT;
            self.timeline.recent.drain(..excess);
        }
        if let Some(span_id) = event.trace.as_ref().and_then(|t| t.span_id.clone()) {
            self.trace.span_count += 1;
            self.trace.last_span_id = Some(span_id);
        }

        let data = &event.data;
        let sender = text(data, "sender");
        // Event types are the contract's open vocabulary (strings): a type
        // this view does not show changes only the timeline.
        match event.event_type.as_str() {
            types::RUN_STARTED => self.run.started_at = Some(event.ts),
            types::RUN_COMPLETED => self.on_run_completed(event),
            types::SESSION_BOUND => self.run.runtime_session_id = text(data, "sessionId"),
            types::PARTICIPANT_SEEN => {
                if let Some(id) = text(data, "participantId") {
                    self.participant_mut(&id);
                    self.graph_node(&id, "participant", "idle");
                }
            }
            types::MESSAGE_SENT => {
                self.outbound_messages.total += 1;
                self.outbound_messages.accepted += 1;
            }
            types::MESSAGE_SEND_FAILED => {
                self.outbound_messages.total += 1;
                self.outbound_messages.rejected += 1;
            }
            types::MESSAGE_RECEIVED => self.on_message_received(event, sender.as_deref()),
            types::PROPOSAL_CREATED => self.on_proposal(event, sender, true),
            types::PROPOSAL_UPDATED => self.on_proposal(event, sender, false),
            types::DECISION_FINALIZED => self.on_decision(event, sender),
            types::POLICY_DENIED => self.on_policy_denied(event),
            types::SIGNAL_EMITTED => self.on_signal(event, sender),
            types::PROGRESS_REPORTED => self.on_progress(event, sender),
            types::ARTIFACT_CREATED if data["kind"] == aggregates::run::TRACE_ARTIFACT_KIND => {
                self.trace.linked_artifacts.push(data["artifactId"].clone());
            }
            types::LLM_CALL_COMPLETED => self.on_llm_call(event),
            _ => {}
        }
        if let Some(status) = event.run_status() {
            self.on_run_status(status, event.ts);
        }
    }

    /// The run's status as the event states it; at the run's end, every
    /// participant ends too: skipped if it never spoke.
    fn on_run_status(&mut self, status: RunStatus, ts: Timestamp) {
        self.run.status = Some(status);
        // How a participant that spoke ends with the run (the terminal
        // statuses, `RunStatus::is_terminal`); a run not ended returns.
        let spoke_ends = match status {
            RunStatus::Failed => ParticipantStatus::Failed,
            RunStatus::Completed | RunStatus::Cancelled => ParticipantStatus::Completed,
            RunStatus::Queued
            | RunStatus::Starting
            | RunStatus::BindingSession
            | RunStatus::Running
            | RunStatus::Suspended => return,
        };
        self.run.ended_at = Some(ts);
        for participant in &mut self.participants {
            let spoke = participant.latest_activity_at.is_some();
            participant.status = if spoke {
                spoke_ends
            } else {
                ParticipantStatus::Skipped
            };
        }
    }
}

/// The string at `key`, if there is one.
fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(String::from)
}

#[cfg(test)]
mod tests;
