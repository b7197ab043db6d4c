//! `GET /dashboard/agents/metrics`: per participant across every run, the
//! runs it took part in, its messages and signals, and its average stated
//! confidence. One document per participant.

use aggregates::canonical::types;
use aggregates::CanonicalEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentMetrics {
    pub participant_id: String,
    pub runs: u64,
    pub signals: u64,
    pub messages: u64,
    pub average_confidence: f64,
    #[serde(default)]
    pub confidence_samples: u64,
    /// The log position of the last event folded (the idempotency guard:
    /// these documents span runs, so a run's seq cannot serve).
    #[serde(default)]
    pub last_position: i64,
}

impl AgentMetrics {
    /// The participant a canonical event is about, if it counts for one.
    pub fn participant_of(event: &CanonicalEvent) -> Option<&str> {
        let key = match event.event_type.as_str() {
            types::PARTICIPANT_SEEN => "participantId",
            types::MESSAGE_RECEIVED | types::SIGNAL_EMITTED => "sender",
            _ => return None,
        };
        event
            .data
            .get(key)
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
    }

    /// Folds one of the participant's events, found at `position` in the
    /// log; an event at or before the last folded position changes nothing.
    pub fn apply(&mut self, position: i64, event: &CanonicalEvent) {
        if position <= self.last_position {
            return;
        }
        self.last_position = position;
        match event.event_type.as_str() {
            types::PARTICIPANT_SEEN => self.runs += 1,
            types::SIGNAL_EMITTED => self.signals += 1,
            types::MESSAGE_RECEIVED => {
                self.messages += 1;
                let confidence = event.data["payload"]
                    .get("confidence")
                    .and_then(Value::as_f64);
                if let Some(confidence) = confidence {
                    let n = self.confidence_samples as f64;
                    self.average_confidence =
                        (self.average_confidence * n + confidence) / (n + 1.0);
                    self.confidence_samples += 1;
                }
            }
            _ => {}
        }
    }
}
