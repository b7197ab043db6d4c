//! Payload bytes ⇄ JSON, using the runtime's published protobuf schemas.
//!
//! The descriptor set is compiled by `build.rs` and embedded in the binary,
//! so nothing is read from disk at run time. Standard modes take protobuf
//! payloads; extension modes (`ext.*`) take UTF-8 JSON.
//!
//! This file holds the schemas and decoding (bytes → JSON, for the
//! canonical events and the runtime's own messages); encoding (JSON → bytes,
//! for what the service sends) is in `payloads/encode.rs`.

mod encode;

pub use encode::{encode_envelope, encode_payload, DroppedField, EncodedPayload};

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
