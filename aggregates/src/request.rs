//! The `ExecutionRequest` a client submits, and its structural validation
//! (`request/validate.rs`).
//!
//! The control plane never interprets scenario meaning: it checks that the
//! request is well formed (every problem named by its JSON path) and keeps
//! every field it does not know, so the stored request is what was sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod validate;

pub use validate::{check_participant_id, FieldError, MAX_PARTICIPANT_ID, MAX_TTL_MS};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRequest {
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub runtime: RuntimeSelector,
    #[serde(default)]
    pub session: SessionSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kickoff: Vec<KickoffMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<ExecutionOptions>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeSelector {
    #[serde(default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSpec {
    #[serde(default)]
    pub mode_name: String,
    #[serde(default)]
    pub mode_version: String,
    #[serde(default)]
    pub configuration_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator_participant_id: Option<String>,
    #[serde(default)]
    pub participants: Vec<Participant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roots: Vec<Root>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_envelope: Option<PayloadEnvelope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_hints: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitments: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Root {
    #[serde(default)]
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KickoffMessage {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub message_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_envelope: Option<PayloadEnvelope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

/// A payload with an explicit encoding; `proto` payloads name a fully
/// qualified message type of the runtime's published descriptors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayloadEnvelope {
    #[serde(default)]
    pub encoding: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<ProtoPayload>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProtoPayload {
    #[serde(default)]
    pub type_name: String,
    #[serde(default)]
    pub value: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Requester {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_type: Option<String>,
}

impl ExecutionRequest {
    /// The SessionStart sender: `initiatorParticipantId`, else the first
    /// kickoff sender, else the requester, else the first participant.
    pub fn initiator(&self) -> Option<&str> {
        self.session
            .initiator_participant_id
            .as_deref()
            .or_else(|| self.kickoff.first().map(|k| k.from.as_str()))
            .or_else(|| {
                self.execution
                    .as_ref()
                    .and_then(|e| e.requester.as_ref())
                    .and_then(|r| r.actor_id.as_deref())
            })
            .or_else(|| self.session.participants.first().map(|p| p.id.as_str()))
            .filter(|id| !id.is_empty())
    }

    pub fn idempotency_key(&self) -> Option<&str> {
        self.execution
            .as_ref()
            .and_then(|e| e.idempotency_key.as_deref())
            .filter(|key| !key.is_empty())
    }

    pub fn tags(&self) -> &[String] {
        self.execution
            .as_ref()
            .map(|e| e.tags.as_slice())
            .unwrap_or_default()
    }

    /// `session.metadata.intent`, which becomes the SessionStart intent.
    pub fn intent(&self) -> &str {
        self.session
            .metadata
            .as_ref()
            .and_then(|m| m.get("intent"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
