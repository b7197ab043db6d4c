//! Encoding a payload for the wire: JSON (or a payload envelope) into the
//! bytes the runtime takes, protobuf by the embedded schemas where the mode
//! uses them, and the fields the schema lacks dropped and listed.

use super::{is_standard_mode, payload_descriptor, DESCRIPTORS};
use aggregates::request::PayloadEnvelope;
use aggregates::FieldError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use serde_json::{json, Value};

/// A payload encoded for the wire, and the fields of its JSON that the
/// protobuf schema does not know (dropped from the bytes, kept here so the
/// caller can warn about them and record them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedPayload {
    pub bytes: Vec<u8>,
    pub dropped: Vec<DroppedField>,
}

/// A field of a `proto` payload's JSON that its message type lacks: where
/// it was (`body.payload.designated_roles`) and its value as sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DroppedField {
    pub path: String,
    pub value: Value,
}

impl EncodedPayload {
    fn bytes(bytes: Vec<u8>) -> Self {
        EncodedPayload {
            bytes,
            dropped: Vec::new(),
        }
    }

    /// `dropped` as the refusal strict mode answers: a 400 naming each
    /// unknown field.
    pub fn refuse_dropped(&self) -> Result<(), Vec<FieldError>> {
        if self.dropped.is_empty() {
            return Ok(());
        }
        Err(self.findings("is not a field of the payload's message type"))
    }

    /// `dropped` as the warnings of an answer that accepted the payload.
    pub fn warnings(&self) -> Vec<FieldError> {
        self.findings("not a field of the payload's message type; dropped (kept on message.sent)")
    }

    fn findings(&self, message: &str) -> Vec<FieldError> {
        self.dropped
            .iter()
            .map(|d| FieldError::new(d.path.as_str(), message))
            .collect()
    }

    /// `dropped` as JSON `[{path, value}]` (the `droppedFields` of an event).
    pub fn dropped_json(&self) -> Value {
        json!(self.dropped)
    }

    /// The same, its dropped fields' paths without `prefix` (`body.`: the
    /// request body, as error paths name fields).
    pub fn relative_to(mut self, prefix: &str) -> Self {
        for field in &mut self.dropped {
            if let Some(rest) = field.path.strip_prefix(prefix) {
                field.path = rest.to_string();
            }
        }
        self
    }
}

/// Encodes a message's payload for the wire. `payload_envelope` wins when
/// given; a bare `payload` object is protobuf for standard modes (when the
/// message type has a schema) and JSON otherwise. Fields of a protobuf
/// payload's JSON that its message type does not know are dropped and
/// listed (real clients send them; see [`EncodedPayload::refuse_dropped`]
/// for strict mode). Errors (an unknown type, a wrong value type) name the
/// field below `path`.
pub fn encode_payload(
    mode_name: &str,
    message_type: &str,
    payload: Option<&Value>,
    payload_envelope: Option<&PayloadEnvelope>,
    path: &str,
) -> Result<EncodedPayload, FieldError> {
    if let Some(envelope) = payload_envelope {
        return encode_envelope(envelope, &format!("{path}.payloadEnvelope"));
    }
    let Some(payload) = payload else {
        return Ok(EncodedPayload::default());
    };
    // Core messages (SessionStart, Commitment, Signal, Progress) are
    // protobuf in every mode; mode messages only in the standard modes.
    let protobuf = is_standard_mode(mode_name) || is_core_message(message_type);
    match payload_descriptor(mode_name, message_type) {
        Some(descriptor) if protobuf => {
            encode_proto(descriptor, payload, &format!("{path}.payload"))
        }
        _ => Ok(EncodedPayload::bytes(payload.to_string().into_bytes())),
    }
}

fn is_core_message(message_type: &str) -> bool {
    DESCRIPTORS
        .get_message_by_name(&format!("macp.v1.{message_type}Payload"))
        .is_some()
}

pub fn encode_envelope(
    envelope: &PayloadEnvelope,
    path: &str,
) -> Result<EncodedPayload, FieldError> {
    match envelope.encoding.as_str() {
        "json" => Ok(EncodedPayload::bytes(
            envelope
                .json
                .as_ref()
                .map(|v| v.to_string().into_bytes())
                .unwrap_or_default(),
        )),
        "text" => Ok(EncodedPayload::bytes(
            envelope.text.clone().unwrap_or_default().into_bytes(),
        )),
        "base64" => BASE64
            .decode(envelope.base64.as_deref().unwrap_or_default())
            .map(EncodedPayload::bytes)
            .map_err(|e| FieldError::new(format!("{path}.base64"), format!("not base64: {e}"))),
        "proto" => {
            let proto = envelope.proto.as_ref().ok_or_else(|| {
                FieldError::new(
                    format!("{path}.proto"),
                    "is required when encoding is \"proto\"",
                )
            })?;
            let descriptor = DESCRIPTORS
                .get_message_by_name(&proto.type_name)
                .ok_or_else(|| {
                    FieldError::new(
                        format!("{path}.proto.typeName"),
                        format!("unknown protobuf message type {:?}", proto.type_name),
                    )
                })?;
            encode_proto(descriptor, &proto.value, &format!("{path}.proto.value"))
        }
        other => Err(FieldError::new(
            format!("{path}.encoding"),
            format!("unknown encoding {other:?}"),
        )),
    }
}

/// JSON (snake_case or camelCase field names) → protobuf bytes. Fields the
/// message type lacks are dropped and listed; a wrong value type is an
/// error naming the field.
fn encode_proto(
    descriptor: MessageDescriptor,
    value: &Value,
    path: &str,
) -> Result<EncodedPayload, FieldError> {
    let mut known = value.clone();
    let mut dropped = Vec::new();
    drop_unknown_fields(&descriptor, &mut known, path, &mut dropped);
    let message = DynamicMessage::deserialize(descriptor.clone(), &known).map_err(|e| {
        FieldError::new(
            path,
            format!("does not fit {}: {e}", descriptor.full_name()),
        )
    })?;
    Ok(EncodedPayload {
        bytes: message.encode_to_vec(),
        dropped,
    })
}

/// Removes from `value` (the JSON of a `descriptor` message) every field
/// the message lacks, at any depth of nested messages, recording each.
/// Well-known types (`google.protobuf.*`) have JSON forms of their own and
/// are left as they are.
// serde_json's `Value`: a list field's items, else the value itself.
#[allow(clippy::wildcard_enum_match_arm)]
fn drop_unknown_fields(
    descriptor: &MessageDescriptor,
    value: &mut Value,
    path: &str,
    dropped: &mut Vec<DroppedField>,
) {
    if descriptor.full_name().starts_with("google.protobuf.") {
        return;
    }
    let Value::Object(fields) = value else {
        return;
    };
    let names: Vec<String> = fields.keys().cloned().collect();
    for name in names {
        let field = descriptor
            .get_field_by_name(&name)
            .or_else(|| descriptor.get_field_by_json_name(&name));
        let Some(field) = field else {
            if let Some(value) = fields.remove(&name) {
                dropped.push(DroppedField {
                    path: format!("{path}.{name}"),
                    value,
                });
            }
            continue;
        };
        let prost_reflect::Kind::Message(inner) = field.kind() else {
            continue;
        };
        if field.is_map() {
            continue;
        }
        let Some(nested) = fields.get_mut(&name) else {
            continue;
        };
        match nested {
            Value::Array(items) if field.is_list() => {
                for (i, item) in items.iter_mut().enumerate() {
                    drop_unknown_fields(&inner, item, &format!("{path}.{name}[{i}]"), dropped);
                }
            }
            _ => drop_unknown_fields(&inner, nested, &format!("{path}.{name}"), dropped),
        }
    }
}
