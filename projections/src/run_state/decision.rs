//! The run-state projection's fold of the decision: proposals and votes,
//! the finalized decision, and the policy's evaluations (allowed
//! Commitments and policy denials).

use super::{text, GraphEdge, ProposalEntry, RunStateView};
use aggregates::CanonicalEvent;
use serde::Deserialize;
use serde_json::{json, Value};

impl RunStateView {
    /// `run.completed` carries the runtime's decision receipt, if any.
    pub(super) fn on_run_completed(&mut self, event: &CanonicalEvent) {
        if let Some(receipt) = event
            .data
            .get("decisionReceipt")
            .and_then(|r| aggregates::receipt::ReceiptSummary::deserialize(r).ok())
        {
            self.decision
                .current
                .get_or_insert_with(Default::default)
                .receipt = Some(receipt);
        }
    }

    /// A proposal, or a message about one: its graph node and its sender's
    /// edge; until the decision is final, an entry in its proposals (a new
    /// proposal also becomes the current option).
    pub(super) fn on_proposal(
        &mut self,
        event: &CanonicalEvent,
        sender: Option<String>,
        created: bool,
    ) {
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

    /// The decision finalized (the first time only), and the policy's
    /// `allow` evaluation of its Commitment.
    pub(super) fn on_decision(&mut self, event: &CanonicalEvent, sender: Option<String>) {
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
    pub(super) fn on_policy_denied(&mut self, event: &CanonicalEvent) {
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
}
