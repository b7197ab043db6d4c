//! Payload bytes ⇄ JSON, using the runtime's published protobuf schemas.
//!
//! The descriptor set is compiled by `build.rs` and embedded in the binary,
//! so nothing is read from disk at run time. Standard modes take protobuf
//! payloads; extension modes (`ext.*`) take UTF-8 JSON.

use aggregates::request::PayloadEnvelope;
use aggregates::FieldError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::{json, Value};
use std::sync::LazyLock;

static DESCRIPTORS: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(
        include_bytes!(concat!(env!("OUT_DIR"), "/macp_descriptors.bin")).as_ref(),
    )
    .expect("build.rs embeds a valid descriptor set")
});

/// The protobuf message a `(mode, messageType)` payload is written in:
/// the mode's own `<Type>Payload` first, then the core one (`SessionStart`,
/// `Commitment`, `Signal`, `Progress`, …).
pub fn payload_descriptor(mode_name: &str, message_type: &str) -> Option<MessageDescriptor> {
    let in_mode = mode_package(mode_name).and_then(|package| {
        DESCRIPTORS.get_message_by_name(&format!("{package}.{message_type}Payload"))
    });
    in_mode.or_else(|| DESCRIPTORS.get_message_by_name(&format!("macp.v1.{message_type}Payload")))
}

/// `macp.mode.decision.v1` → `macp.modes.decision.v1`;
/// `ext.multi_round.v1` → `macp.modes.multi_round.v1`.
fn mode_package(mode_name: &str) -> Option<String> {
    let rest = mode_name
        .strip_prefix("macp.mode.")
        .or_else(|| mode_name.strip_prefix("ext."))?;
    Some(format!("macp.modes.{rest}"))
}

fn is_standard_mode(mode_name: &str) -> bool {
    mode_name.starts_with("macp.mode.")
}

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

/// A payload as the canonical events show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedPayload {
    /// The protobuf type it was decoded as, or `application/json`.
    pub type_name: Option<String>,
    /// The decoded value, or `{"base64": …}` when it could not be decoded.
    pub value: Value,
    pub decode_error: Option<String>,
}

/// Decodes payload bytes into JSON: camelCase keys, enums as names, bytes
/// as base64, every field present. JSON payloads (extension modes) are
/// parsed as JSON; anything undecodable keeps its base64 and says why.
pub fn decode_payload(mode_name: &str, message_type: &str, bytes: &[u8]) -> DecodedPayload {
    let descriptor = payload_descriptor(mode_name, message_type);
    if looks_like_json(bytes) {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            // The runtime's tie-break (macp-modes, `parse_contribute_value`):
            // bytes that parse as JSON are JSON, unless they are also the
            // canonical protobuf encoding of the mode's message, byte for
            // byte; then the protobuf reading wins.
            let canonical_proto = descriptor.as_ref().is_some_and(|d| {
                DynamicMessage::decode(d.clone(), bytes).is_ok_and(|m| m.encode_to_vec() == bytes)
            });
            if !canonical_proto {
                return DecodedPayload {
                    type_name: Some("application/json".into()),
                    value,
                    decode_error: None,
                };
            }
        }
    }
    let undecodable = |reason: String| DecodedPayload {
        type_name: None,
        value: json!({"base64": BASE64.encode(bytes)}),
        decode_error: Some(reason),
    };
    let Some(descriptor) = descriptor else {
        if bytes.is_empty() {
            return DecodedPayload {
                type_name: None,
                value: json!({}),
                decode_error: None,
            };
        }
        return undecodable(format!("no schema for {mode_name} {message_type}"));
    };
    let message = match DynamicMessage::decode(descriptor.clone(), bytes) {
        Ok(message) => message,
        Err(e) => return undecodable(format!("not a {}: {e}", descriptor.full_name())),
    };
    let options = SerializeOptions::new().skip_default_fields(false);
    match message.serialize_with_options(serde_json::value::Serializer, &options) {
        Ok(value) => DecodedPayload {
            type_name: Some(descriptor.full_name().to_string()),
            value,
            decode_error: None,
        },
        Err(e) => undecodable(format!(
            "{} does not serialize: {e}",
            descriptor.full_name()
        )),
    }
}

/// Any `macp.v1` message as contract JSON (camelCase, enums by name, every
/// field present, 64-bit integers as JSON numbers: clients compute with
/// them, e.g. `registeredAtUnixMs` as a date), e.g. the runtime's manifest
/// or mode descriptors.
pub fn message_to_json<M: Message>(type_name: &str, message: &M) -> Value {
    let Some(descriptor) = DESCRIPTORS.get_message_by_name(type_name) else {
        return Value::Null;
    };
    let options = SerializeOptions::new()
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .ok()
        .and_then(|m| {
            m.serialize_with_options(serde_json::value::Serializer, &options)
                .ok()
        })
        .unwrap_or(Value::Null)
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

#[cfg(test)]
mod tests;
