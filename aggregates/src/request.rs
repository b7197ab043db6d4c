//! The `ExecutionRequest` a client submits, and its structural validation.
//!
//! The control plane never interprets scenario meaning: it checks that the
//! request is well formed (every problem named by its JSON path) and keeps
//! every field it does not know, so the stored request is what was sent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

pub const MAX_TTL_MS: i64 = 86_400_000;

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

/// One problem with a request, named by its JSON path (`session.ttlMs`,
/// `kickoff[0].from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

const KICKOFF_KINDS: [&str; 4] = ["request", "broadcast", "proposal", "context"];
const ACTOR_TYPES: [&str; 3] = ["user", "service", "system"];
const ENCODINGS: [&str; 4] = ["json", "text", "base64", "proto"];

impl ExecutionRequest {
    /// Every structural problem of the request, in document order. Payload
    /// contents (proto types and fields) are checked where the descriptors
    /// live, when they are encoded.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self.mode.as_str() {
            "live" | "sandbox" => {}
            "replay" => errors.push(FieldError::new(
                "mode",
                "\"replay\" is not an execution mode: use POST /runs/:id/replay",
            )),
            "" => errors.push(FieldError::new("mode", "is required (live or sandbox)")),
            other => errors.push(FieldError::new(
                "mode",
                format!("must be \"live\" or \"sandbox\", not {other:?}"),
            )),
        }
        require_text(&mut errors, "runtime.kind", &self.runtime.kind);
        self.session.validate_into(&mut errors);
        for (i, message) in self.kickoff.iter().enumerate() {
            message.validate_into(&format!("kickoff[{i}]"), &mut errors);
        }
        if let Some(requester) = self.execution.as_ref().and_then(|e| e.requester.as_ref()) {
            // The initiator when the request names no other.
            if let Some(actor_id) = &requester.actor_id {
                check_participant_id(&mut errors, "execution.requester.actorId", actor_id);
            }
            if let Some(actor_type) = &requester.actor_type {
                if !ACTOR_TYPES.contains(&actor_type.as_str()) {
                    errors.push(FieldError::new(
                        "execution.requester.actorType",
                        format!("must be one of {ACTOR_TYPES:?}"),
                    ));
                }
            }
        }
        errors
    }

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

impl SessionSpec {
    fn validate_into(&self, errors: &mut Vec<FieldError>) {
        require_text(errors, "session.modeName", &self.mode_name);
        require_text(errors, "session.modeVersion", &self.mode_version);
        require_text(
            errors,
            "session.configurationVersion",
            &self.configuration_version,
        );
        match self.ttl_ms {
            None => errors.push(FieldError::new("session.ttlMs", "is required")),
            Some(ttl) if !(1..=MAX_TTL_MS).contains(&ttl) => errors.push(FieldError::new(
                "session.ttlMs",
                format!("must be between 1 and {MAX_TTL_MS}, got {ttl}"),
            )),
            Some(_) => {}
        }
        if self.participants.is_empty() {
            errors.push(FieldError::new(
                "session.participants",
                "at least one participant is required",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, participant) in self.participants.iter().enumerate() {
            let path = format!("session.participants[{i}].id");
            let before = errors.len();
            check_participant_id(errors, &path, &participant.id);
            if errors.len() > before {
                continue;
            }
            if !seen.insert(participant.id.as_str()) {
                errors.push(FieldError::new(
                    path,
                    format!("duplicate participant {:?}", participant.id),
                ));
            }
        }
        if let Some(initiator) = &self.initiator_participant_id {
            check_participant_id(errors, "session.initiatorParticipantId", initiator);
        }
        for (i, root) in self.roots.iter().enumerate() {
            require_text(errors, &format!("session.roots[{i}].uri"), &root.uri);
        }
        if let Some(envelope) = &self.context_envelope {
            envelope.validate_into("session.contextEnvelope", errors);
        }
    }
}

impl KickoffMessage {
    fn validate_into(&self, path: &str, errors: &mut Vec<FieldError>) {
        check_participant_id(errors, &format!("{path}.from"), &self.from);
        require_text(errors, &format!("{path}.messageType"), &self.message_type);
        if !KICKOFF_KINDS.contains(&self.kind.as_str()) {
            errors.push(FieldError::new(
                format!("{path}.kind"),
                format!("must be one of {KICKOFF_KINDS:?}"),
            ));
        }
        for (i, to) in self.to.iter().enumerate() {
            check_participant_id(errors, &format!("{path}.to[{i}]"), to);
        }
        if let Some(envelope) = &self.payload_envelope {
            envelope.validate_into(&format!("{path}.payloadEnvelope"), errors);
        }
    }
}

impl PayloadEnvelope {
    /// Checks that the field the encoding names is present.
    pub fn validate_into(&self, path: &str, errors: &mut Vec<FieldError>) {
        let present = match self.encoding.as_str() {
            "json" => self.json.is_some(),
            "text" => self.text.is_some(),
            "base64" => self.base64.is_some(),
            "proto" => match &self.proto {
                Some(proto) if proto.type_name.trim().is_empty() => {
                    errors.push(FieldError::new(
                        format!("{path}.proto.typeName"),
                        "must name a fully qualified protobuf message type",
                    ));
                    true
                }
                other => other.is_some(),
            },
            _ => {
                errors.push(FieldError::new(
                    format!("{path}.encoding"),
                    format!("must be one of {ENCODINGS:?}"),
                ));
                return;
            }
        };
        if !present {
            errors.push(FieldError::new(
                format!("{path}.{}", self.encoding),
                format!("is required when encoding is {:?}", self.encoding),
            ));
        }
    }
}

/// Longest participant id: an id is the runtime identity messages are sent
/// as (in dev mode, the bearer token itself), and a credential far longer
/// than any header a server takes would fail as a transport error.
pub const MAX_PARTICIPANT_ID: usize = 256;

/// A participant id at `path`: not empty, at most [`MAX_PARTICIPANT_ID`]
/// characters, no control characters (none can travel in a credential).
pub fn check_participant_id(errors: &mut Vec<FieldError>, path: &str, id: &str) {
    if id.trim().is_empty() {
        errors.push(FieldError::new(path, "must not be empty"));
    } else if id.chars().count() > MAX_PARTICIPANT_ID {
        errors.push(FieldError::new(
            path,
            format!("must be at most {MAX_PARTICIPANT_ID} characters"),
        ));
    } else if id.chars().any(char::is_control) {
        errors.push(FieldError::new(path, "must not contain control characters"));
    }
}

fn require_text(errors: &mut Vec<FieldError>, path: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(path, "must not be empty"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "mode": "live",
            "runtime": {"kind": "rust"},
            "session": {
                "modeName": "macp.mode.decision.v1",
                "modeVersion": "1.0.0",
                "configurationVersion": "config.default",
                "ttlMs": 60000,
                "participants": [{"id": "alpha", "role": "specialist"}, {"id": "coordinator"}],
                "futureField": {"kept": true}
            },
            "kickoff": [{"from": "coordinator", "to": ["alpha"], "kind": "proposal",
                         "messageType": "Proposal", "payload": {"proposalId": "p1"}}]
        })
    }

    fn parse(value: Value) -> ExecutionRequest {
        serde_json::from_value(value).unwrap()
    }

    fn paths(value: Value) -> Vec<String> {
        parse(value)
            .validate()
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    #[test]
    fn a_complete_request_has_no_errors_and_keeps_unknown_fields() {
        let request = parse(valid());
        assert_eq!(request.validate(), vec![]);
        let back = serde_json::to_value(&request).unwrap();
        assert_eq!(back["session"]["futureField"], json!({"kept": true}));
    }

    #[test]
    fn names_each_wrong_field() {
        let mut body = valid();
        body["session"]["participants"] = json!([]);
        body["session"]["modeName"] = json!("");
        body["session"]["ttlMs"] = json!(86_400_001);
        body["kickoff"][0]["kind"] = json!("shout");
        assert_eq!(
            paths(body),
            vec![
                "session.modeName",
                "session.ttlMs",
                "session.participants",
                "kickoff[0].kind"
            ]
        );
    }

    #[test]
    fn refuses_replay_mode_and_duplicate_participants() {
        let mut body = valid();
        body["mode"] = json!("replay");
        body["session"]["participants"] = json!([{"id": "a"}, {"id": "a"}]);
        let errors = parse(body).validate();
        assert_eq!(errors[0].path, "mode");
        assert!(errors[0].message.contains("/replay"));
        assert_eq!(errors[1].path, "session.participants[1].id");
    }

    #[test]
    fn payload_envelope_needs_the_field_its_encoding_names() {
        let mut body = valid();
        body["kickoff"][0]["payloadEnvelope"] = json!({"encoding": "proto"});
        assert_eq!(paths(body), vec!["kickoff[0].payloadEnvelope.proto"]);
    }

    #[test]
    fn initiator_follows_the_fallback_chain() {
        let mut body = valid();
        assert_eq!(parse(body.clone()).initiator(), Some("coordinator"));
        body["session"]["initiatorParticipantId"] = json!("alpha");
        assert_eq!(parse(body.clone()).initiator(), Some("alpha"));
        body["session"]
            .as_object_mut()
            .unwrap()
            .remove("initiatorParticipantId");
        body["kickoff"] = json!([]);
        body["execution"] = json!({"requester": {"actorId": "ops"}});
        assert_eq!(parse(body.clone()).initiator(), Some("ops"));
        body["execution"] = json!({});
        assert_eq!(parse(body).initiator(), Some("alpha"));
    }
}
