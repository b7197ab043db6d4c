//! `GET /runs/:id/metrics`: counts, tokens, cost and timing of one run.

use crate::Projection;
use aggregates::canonical::types;
use aggregates::{RunEvent, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunMetrics {
    pub run_id: Option<Uuid>,
    pub event_count: u64,
    pub message_count: u64,
    pub signal_count: u64,
    pub proposal_count: u64,
    pub tool_call_count: u64,
    pub decision_count: u64,
    pub stream_reconnect_count: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub estimated_cost_usd: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_state: Option<String>,
    /// The last canonical event folded (the idempotency guard).
    #[serde(default)]
    pub latest_seq: u64,
}

impl Projection for RunMetrics {
    const NAME: &'static str = "run_metrics";

    fn apply(&mut self, event: &RunEvent) {
        let Some(event) = event.canonical() else {
            return;
        };
        if event.seq <= self.latest_seq {
            return;
        }
        self.latest_seq = event.seq;
        self.run_id = Some(event.run_id);
        self.event_count += 1;
        self.first_event_at.get_or_insert(event.ts);
        self.last_event_at = Some(event.ts);
        let first = self.first_event_at.unwrap_or(event.ts);
        self.duration_ms = Some(event.ts.unix_ms() - first.unix_ms());
        let count = |key: &str| event.data.get(key).and_then(Value::as_u64).unwrap_or(0);
        match event.event_type.as_str() {
            types::MESSAGE_RECEIVED => self.message_count += 1,
            types::SIGNAL_EMITTED => self.signal_count += 1,
            types::PROPOSAL_CREATED => self.proposal_count += 1,
            types::DECISION_FINALIZED => self.decision_count += 1,
            "tool.called" => self.tool_call_count += 1,
            types::SESSION_STREAM_OPENED if event.data["status"] == "reconnecting" => {
                self.stream_reconnect_count += 1;
            }
            types::LLM_CALL_COMPLETED => {
                self.prompt_tokens += count("promptTokens");
                self.completion_tokens += count("completionTokens");
                self.total_tokens += count("totalTokens");
                self.estimated_cost_usd += event
                    .data
                    .get("estimatedCostUsd")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
            }
            // The runtime session's state, by the protocol's names
            // (`SESSION_STATE_*`, as the web console compares them).
            types::SESSION_BOUND | types::RUN_RESUMED => self.session_state = session_state("OPEN"),
            types::RUN_SUSPENDED => self.session_state = session_state("SUSPENDED"),
            types::RUN_COMPLETED => {
                self.session_state = event
                    .data
                    .get("sessionState")
                    .and_then(Value::as_str)
                    .and_then(session_state);
            }
            types::RUN_FAILED if event.data["errorCode"] == "SESSION_EXPIRED" => {
                self.session_state = session_state("EXPIRED");
            }
            types::RUN_CANCELLED => self.session_state = session_state("CANCELLED"),
            _ => {}
        }
    }
}

/// `RESOLVED` → `SESSION_STATE_RESOLVED` (the protobuf enum's value name);
/// a name already in that form is kept.
fn session_state(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(if name.starts_with("SESSION_STATE_") {
        name.to_string()
    } else {
        format!("SESSION_STATE_{name}")
    })
}
