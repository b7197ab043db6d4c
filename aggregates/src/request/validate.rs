//! The structural validation of an `ExecutionRequest`: every problem
//! named by its JSON path, in document order. Scenario meaning is never
//! checked here.

use super::{ExecutionRequest, KickoffMessage, PayloadEnvelope, SessionSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const MAX_TTL_MS: i64 = 86_400_000;

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
