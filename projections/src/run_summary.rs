//! The `Run` resource of `GET /runs/:id`: status, timestamps, tags and the
//! request's identifying metadata.

use crate::Projection;
use aggregates::canonical::types;
use aggregates::{RunEvent, RunStatus, Timestamp};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub id: Option<Uuid>,
    pub status: Option<RunStatus>,
    pub mode: String,
    pub runtime_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub last_event_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RunSource>,
    pub tags: Vec<String>,
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub created_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    /// A deleted run is kept here so that the fold stays total, and hidden
    /// from every endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSource {
    pub kind: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

impl Projection for RunSummary {
    const NAME: &'static str = "run_summary";

    fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunRequested {
                run_id,
                request,
                trace_id,
                requested_at,
                ..
            } => {
                if self.id.is_some() {
                    return;
                }
                let metadata = request.session.metadata.clone().unwrap_or_default();
                let text = |key: &str| metadata.get(key).and_then(Value::as_str).map(String::from);
                self.id = Some(*run_id);
                self.status = Some(RunStatus::Queued);
                self.mode = request.mode.clone();
                self.runtime_kind = request.runtime.kind.clone();
                self.runtime_version = request.runtime.version.clone();
                self.trace_id = Some(trace_id.clone());
                self.idempotency_key = request.idempotency_key().map(String::from);
                self.source = text("source").map(|kind| RunSource {
                    kind,
                    reference: text("sourceRef"),
                });
                self.tags = request.tags().to_vec();
                self.metadata = metadata;
                self.created_at = Some(*requested_at);
                self.updated_at = Some(*requested_at);
            }
            RunEvent::CanonicalEventRecorded { event } => {
                if event.seq <= self.last_event_seq {
                    return;
                }
                self.last_event_seq = event.seq;
                // `max`: an observed session's end is stamped with its own
                // time, which may come before when its messages were seen.
                self.updated_at = self.updated_at.max(Some(event.ts));
                match event.event_type.as_str() {
                    types::MESSAGE_RECEIVED if event.data["messageType"] == "SessionStart" => {
                        self.keep_session_start(&event.data["payload"]);
                    }
                    types::RUN_STARTED => self.started_at = Some(event.ts),
                    types::SESSION_BOUND => {
                        self.runtime_session_id = event
                            .data
                            .get("sessionId")
                            .and_then(Value::as_str)
                            .map(String::from);
                    }
                    types::RUN_FAILED => {
                        let text = |key: &str| {
                            event
                                .data
                                .get(key)
                                .and_then(Value::as_str)
                                .map(String::from)
                        };
                        self.error_code = text("errorCode");
                        self.error_message = text("errorMessage");
                    }
                    _ => {}
                }
                if let Some(status) = event.run_status() {
                    self.status = Some(status);
                    if status.is_terminal() {
                        self.ended_at = Some(event.ts);
                    }
                }
            }
            // `max`: an archive or delete delivered again must not move
            // `updatedAt` back past what came after it.
            RunEvent::RunArchived { at } => {
                self.archived_at = Some(*at);
                self.updated_at = self.updated_at.max(Some(*at));
            }
            RunEvent::RunDeleted { at } => {
                self.deleted = true;
                self.updated_at = self.updated_at.max(Some(*at));
            }
            // Facts the summary reads from their canonical events, or not at all.
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
            | RunEvent::DecisionReceiptRecorded { .. }
            | RunEvent::ActionAudited { .. } => {}
        }
    }
}

impl RunSummary {
    /// What a session's SessionStart said, as sent, in the run's metadata
    /// where the request did not say it: its `intent`, `ttlMs`,
    /// `contextId` and `context` (the `context` extension, as JSON when it
    /// is JSON). A run this service started has them from its request
    /// already; an observed one gets them here.
    fn keep_session_start(&mut self, payload: &Value) {
        let mut keep = |key: &str, value: Option<Value>| {
            if let Some(value) = value.filter(|v| !v.is_null() && *v != "" && *v != 0) {
                self.metadata.entry(key.to_string()).or_insert(value);
            }
        };
        keep("intent", payload.get("intent").cloned());
        // A `Value` (serde_json's enum) that is no string is kept as it is.
        #[allow(clippy::wildcard_enum_match_arm)]
        keep(
            "ttlMs",
            payload.get("ttlMs").cloned().map(|ttl| match ttl {
                // int64 fields decode as strings in proto JSON.
                Value::String(text) => text.parse::<i64>().map_or(Value::String(text), Value::from),
                other => other,
            }),
        );
        keep("contextId", payload.get("contextId").cloned());
        let context = payload["extensions"]["context"].as_str().map(|base64| {
            BASE64
                .decode(base64)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                .unwrap_or_else(|| Value::String(base64.to_string()))
        });
        keep("context", context);
    }
}
