//! The run-state projection's fold of what participants do: who takes
//! part and when each last spoke, the signals and progress they report,
//! and the LLM calls made for them.

use super::{text, ParticipantStatus, ParticipantView, ProgressEntry, RunStateView, SignalEntry};
use aggregates::CanonicalEvent;
use serde_json::Value;

impl RunStateView {
    /// A received message makes its sender active, with the message's type
    /// as its latest activity.
    pub(super) fn on_message_received(&mut self, event: &CanonicalEvent, sender: Option<&str>) {
        if let Some(sender) = sender {
            let participant = self.participant_mut(sender);
            participant.status = ParticipantStatus::Active;
            participant.latest_activity_at = Some(event.ts);
            participant.latest_summary = text(&event.data, "messageType");
            self.graph_node(sender, "participant", "active");
        }
    }

    pub(super) fn on_signal(&mut self, event: &CanonicalEvent, sender: Option<String>) {
        let data = &event.data;
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

    /// A percentage when the report says of how much; its bare figure
    /// otherwise.
    pub(super) fn on_progress(&mut self, event: &CanonicalEvent, sender: Option<String>) {
        let payload = &event.data["decodedPayload"];
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

    pub(super) fn on_llm_call(&mut self, event: &CanonicalEvent) {
        let data = &event.data;
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

    /// The participant `id`, added (idle, no role) the first time it is named.
    pub(super) fn participant_mut(&mut self, id: &str) -> &mut ParticipantView {
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
}
