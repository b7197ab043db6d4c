//! The run-state projection of `GET /runs/:id/state`: the UI's view of a
//! run (participants, graph, decision, signals, progress, timeline, …).
//!
//! Folds the run's canonical events; `RunRequested` contributes what only
//! the request knows (declared roles, policy version, trace id). Every
//! top-level key is always present.

use crate::Projection;
use aggregates::canonical::types;
use aggregates::{CanonicalEvent, RunEvent, RunStatus, Subject, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// How many recent events the timeline keeps.
pub const TIMELINE_RECENT: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStateView {
    pub run: RunHeader,
    pub participants: Vec<ParticipantView>,
    pub graph: Graph,
    pub decision: DecisionView,
    pub signals: Signals,
    pub progress: Progress,
    pub timeline: Timeline,
    pub trace: TraceView,
    pub outbound_messages: OutboundMessages,
    pub policy: PolicyView,
    pub llm: LlmView,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunHeader {
    pub run_id: Option<Uuid>,
    pub status: Option<RunStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantStatus {
    Idle,
    Active,
    Waiting,
    Completed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    pub participant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub status: ParticipantStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_activity_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_summary: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    /// Where each node id is in `nodes`: a long run has thousands of nodes,
    /// and a linear search per event would make folding it quadratic.
    #[serde(skip)]
    node_index: NodeIndex,
}

/// Derived from `nodes` alone (rebuilt after a load), so it never makes two
/// graphs differ.
#[derive(Debug, Clone, Default)]
struct NodeIndex(std::collections::HashMap<String, usize>);

impl PartialEq for NodeIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Graph {
    fn node_mut(&mut self, id: &str) -> Option<&mut GraphNode> {
        if self.node_index.0.len() != self.nodes.len() {
            self.node_index.0 = (self.nodes.iter().enumerate())
                .map(|(i, node)| (node.id.clone(), i))
                .collect();
        }
        let index = *self.node_index.0.get(id)?;
        self.nodes.get_mut(index)
    }

    fn push_node(&mut self, node: GraphNode) {
        self.node_index.0.insert(node.id.clone(), self.nodes.len());
        self.nodes.push(node);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    pub id: String,
    pub kind: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub kind: String,
    pub ts: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CurrentDecision>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentDecision {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    pub finalized: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_positive: Option<bool>,
    pub proposals: Vec<ProposalEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// The runtime's decision receipt, as `run.completed` recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<aggregates::receipt::ReceiptSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposalEntry {
    pub participant_id: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    pub reasons: Vec<String>,
    pub ts: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    pub signals: Vec<SignalEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalEntry {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_participant_id: Option<String>,
    pub ts: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub entries: Vec<ProgressEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEntry {
    pub participant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub ts: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub latest_seq: u64,
    pub total_events: u64,
    pub recent: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub id: Uuid,
    pub seq: u64,
    pub ts: Timestamp,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub span_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_span_id: Option<String>,
    pub linked_artifacts: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessages {
    pub total: u64,
    pub queued: u64,
    pub accepted: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    pub policy_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_positive: Option<bool>,
    pub commitment_evaluations: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_commitments: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmView {
    pub calls: Vec<Value>,
    pub totals: LlmTotals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmTotals {
    pub call_count: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub estimated_cost_usd: f64,
}

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
            } => {
                if self.run.run_id.is_some() {
                    return;
                }
                self.run.run_id = Some(*run_id);
                self.run.status = Some(RunStatus::Queued);
                self.run.trace_id = Some(trace_id.clone());
                self.run.mode_name = Some(request.session.mode_name.clone());
                self.trace.trace_id = Some(trace_id.clone());
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
            RunEvent::CanonicalEventRecorded { event } => {
                if event.seq <= self.timeline.latest_seq {
                    return;
                }
                self.apply_canonical(event);
            }
            _ => {}
        }
    }
}

impl RunStateView {
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
        match event.event_type.as_str() {
            types::RUN_STARTED => self.run.started_at = Some(event.ts),
            types::RUN_COMPLETED => {
                if let Some(receipt) = data
                    .get("decisionReceipt")
                    .and_then(|r| serde_json::from_value(r.clone()).ok())
                {
                    self.decision
                        .current
                        .get_or_insert_with(Default::default)
                        .receipt = Some(receipt);
                }
            }
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
            types::MESSAGE_RECEIVED => {
                if let Some(sender) = &sender {
                    let participant = self.participant_mut(sender);
                    participant.status = ParticipantStatus::Active;
                    participant.latest_activity_at = Some(event.ts);
                    participant.latest_summary = text(data, "messageType");
                    self.graph_node(sender, "participant", "active");
                }
            }
            types::PROPOSAL_CREATED => self.on_proposal(event, sender, true),
            types::PROPOSAL_UPDATED => self.on_proposal(event, sender, false),
            types::DECISION_FINALIZED => self.on_decision(event, sender),
            types::POLICY_DENIED => self.on_policy_denied(event),
            types::SIGNAL_EMITTED => {
                let payload = &data["decodedPayload"];
                self.signals.signals.push(SignalEntry {
                    id: text(data, "messageId").unwrap_or_else(|| event.id.to_string()),
                    name: text(payload, "signalType")
                        .or_else(|| text(data, "messageType"))
                        .unwrap_or_default(),
                    severity: text(payload, "severity"),
                    source_participant_id: sender,
                    ts: event.ts,
                    confidence: payload.get("confidence").and_then(Value::as_f64),
                    payload: Some(payload.clone()).filter(|p| !p.is_null()),
                });
            }
            types::PROGRESS_REPORTED => {
                let payload = &data["decodedPayload"];
                let progress = payload.get("progress").and_then(Value::as_f64);
                let total = payload.get("total").and_then(Value::as_f64);
                let percentage = match (progress, total) {
                    (Some(p), Some(t)) if t > 0.0 => Some(p / t * 100.0),
                    (Some(p), _) => Some(p),
                    _ => None,
                };
                self.progress.entries.push(ProgressEntry {
                    participant_id: sender.unwrap_or_default(),
                    percentage,
                    message: text(payload, "message").or_else(|| text(payload, "summary")),
                    ts: event.ts,
                });
            }
            types::ARTIFACT_CREATED if data["kind"] == aggregates::run::TRACE_ARTIFACT_KIND => {
                self.trace.linked_artifacts.push(data["artifactId"].clone());
            }
            types::LLM_CALL_COMPLETED => {
                let totals = &mut self.llm.totals;
                totals.call_count += 1;
                let count = |key: &str| data.get(key).and_then(Value::as_u64).unwrap_or(0);
                totals.prompt_tokens += count("promptTokens");
                totals.completion_tokens += count("completionTokens");
                totals.total_tokens += count("totalTokens");
                totals.estimated_cost_usd += data
                    .get("estimatedCostUsd")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                self.llm.calls.push(data.clone());
            }
            _ => {}
        }
        if let Some(status) = event.run_status() {
            self.on_run_status(status, event.ts);
        }
    }

    fn on_run_status(&mut self, status: RunStatus, ts: Timestamp) {
        self.run.status = Some(status);
        if !status.is_terminal() {
            return;
        }
        self.run.ended_at = Some(ts);
        for participant in &mut self.participants {
            let spoke = participant.latest_activity_at.is_some();
            participant.status = match (spoke, status) {
                (false, _) => ParticipantStatus::Skipped,
                (true, RunStatus::Failed) => ParticipantStatus::Failed,
                (true, _) => ParticipantStatus::Completed,
            };
        }
    }

    fn on_proposal(&mut self, event: &CanonicalEvent, sender: Option<String>, created: bool) {
        let data = &event.data;
        let payload = &data["decodedPayload"];
        let subject_id = event.subject.as_ref().map(|s| s.id.clone());
        let message_type = text(data, "messageType").unwrap_or_default();
        if let Some(id) = &subject_id {
            self.graph_node(id, "proposal", if created { "open" } else { "discussed" });
            if let Some(sender) = &sender {
                self.graph.edges.push(GraphEdge {
                    from: sender.clone(),
                    to: id.clone(),
                    kind: message_type.clone(),
                    ts: event.ts,
                });
            }
        }
        let current = self.decision.current.get_or_insert_with(Default::default);
        if current.finalized {
            return;
        }
        let action = [
            "option",
            "recommendation",
            "vote",
            "action",
            "title",
            "summary",
        ]
        .iter()
        .find_map(|key| text(payload, key))
        .unwrap_or_else(|| message_type.clone());
        let confidence = payload.get("confidence").and_then(Value::as_f64);
        let reasons: Vec<String> = ["rationale", "reason", "description"]
            .iter()
            .filter_map(|key| text(payload, key))
            .filter(|r| !r.is_empty())
            .collect();
        if created {
            current.action = action.clone();
            current.proposal_id = subject_id;
            current.confidence = confidence;
            current.reasons = Some(reasons.clone()).filter(|r| !r.is_empty());
        }
        let vote = (message_type == "Vote").then(|| {
            let said = text(payload, "vote").unwrap_or_default().to_lowercase();
            let allow = ["approve", "approved", "yes", "allow", "accept", "for"];
            if allow.contains(&said.as_str()) {
                "allow".to_string()
            } else {
                "deny".to_string()
            }
        });
        current.proposals.push(ProposalEntry {
            participant_id: sender.unwrap_or_default(),
            action,
            confidence,
            reasons,
            ts: event.ts,
            vote,
            message_type: Some(message_type),
        });
    }

    fn on_decision(&mut self, event: &CanonicalEvent, sender: Option<String>) {
        let current = self.decision.current.get_or_insert_with(Default::default);
        if current.finalized {
            return;
        }
        let payload = &event.data["decodedPayload"];
        let outcome_positive = payload
            .get("outcomePositive")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        current.finalized = true;
        current.action = text(payload, "action").unwrap_or_else(|| current.action.clone());
        if let Some(reason) = text(payload, "reason").filter(|r| !r.is_empty()) {
            current.reasons = Some(vec![reason]);
        }
        current.outcome_positive = Some(outcome_positive);
        current.resolved_at = Some(event.ts);
        current.resolved_by = sender;
        self.policy.resolved_at = Some(event.ts);
        self.policy.outcome_positive = Some(outcome_positive);
        if let Some(id) = event.subject.as_ref().map(|s| s.id.clone()) {
            self.graph_node(&id, "decision", "finalized");
        }
        // The runtime accepted the Commitment: its policy allowed it.
        let evaluation = json!({
            "commitmentId": text(payload, "commitmentId").unwrap_or_default(),
            "decision": "allow",
            "reasons": text(payload, "reason").filter(|r| !r.is_empty()).into_iter().collect::<Vec<_>>(),
            "policyVersion": text(payload, "policyVersion"),
            "outcomePositive": outcome_positive,
            "ts": event.ts,
        });
        self.policy.commitment_evaluations.push(evaluation);
    }

    /// A Commitment the runtime refused for policy reasons: a `deny`
    /// evaluation with the runtime's reasons.
    fn on_policy_denied(&mut self, event: &CanonicalEvent) {
        let data = &event.data;
        let reasons: Vec<String> = match data.get("reasons") {
            Some(Value::Array(reasons)) => reasons
                .iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect(),
            _ => text(data, "reason").into_iter().collect(),
        };
        self.policy.commitment_evaluations.push(json!({
            "commitmentId": text(data, "commitmentId")
                .or_else(|| event.subject.as_ref().map(|s| s.id.clone()))
                .unwrap_or_default(),
            "decision": "deny",
            "reasons": reasons,
            "policyVersion": text(data, "policyVersion"),
            "ts": event.ts,
        }));
    }

    fn participant_mut(&mut self, id: &str) -> &mut ParticipantView {
        let index = match self
            .participants
            .iter()
            .position(|p| p.participant_id == id)
        {
            Some(index) => index,
            None => {
                self.participants.push(ParticipantView {
                    participant_id: id.to_string(),
                    role: None,
                    status: ParticipantStatus::Idle,
                    latest_activity_at: None,
                    latest_summary: None,
                });
                self.participants.len() - 1
            }
        };
        &mut self.participants[index]
    }

    fn graph_node(&mut self, id: &str, kind: &str, status: &str) {
        match self.graph.node_mut(id) {
            Some(node) => node.status = status.to_string(),
            None => self.graph.push_node(GraphNode {
                id: id.to_string(),
                kind: kind.to_string(),
                status: status.to_string(),
            }),
        }
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(String::from)
}

#[cfg(test)]
mod tests;
