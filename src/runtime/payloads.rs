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

/// Encodes a message's payload for the wire. `payload_envelope` wins when
/// given; a bare `payload` object is protobuf for standard modes (when the
/// message type has a schema) and JSON otherwise. Errors name the field
/// below `path`.
pub fn encode_payload(
    mode_name: &str,
    message_type: &str,
    payload: Option<&Value>,
    payload_envelope: Option<&PayloadEnvelope>,
    path: &str,
) -> Result<Vec<u8>, FieldError> {
    if let Some(envelope) = payload_envelope {
        return encode_envelope(envelope, &format!("{path}.payloadEnvelope"));
    }
    let Some(payload) = payload else {
        return Ok(Vec::new());
    };
    // Core messages (SessionStart, Commitment, Signal, Progress) are
    // protobuf in every mode; mode messages only in the standard modes.
    let protobuf = is_standard_mode(mode_name) || is_core_message(message_type);
    match payload_descriptor(mode_name, message_type) {
        Some(descriptor) if protobuf => {
            encode_proto(descriptor, payload, &format!("{path}.payload"))
        }
        _ => Ok(payload.to_string().into_bytes()),
    }
}

fn is_core_message(message_type: &str) -> bool {
    DESCRIPTORS
        .get_message_by_name(&format!("macp.v1.{message_type}Payload"))
        .is_some()
}

pub fn encode_envelope(envelope: &PayloadEnvelope, path: &str) -> Result<Vec<u8>, FieldError> {
    match envelope.encoding.as_str() {
        "json" => Ok(envelope
            .json
            .as_ref()
            .map(|v| v.to_string().into_bytes())
            .unwrap_or_default()),
        "text" => Ok(envelope.text.clone().unwrap_or_default().into_bytes()),
        "base64" => BASE64
            .decode(envelope.base64.as_deref().unwrap_or_default())
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

/// JSON (snake_case or camelCase field names) → protobuf bytes; an unknown
/// field or a wrong type is an error naming it.
fn encode_proto(
    descriptor: MessageDescriptor,
    value: &Value,
    path: &str,
) -> Result<Vec<u8>, FieldError> {
    let message = DynamicMessage::deserialize(descriptor.clone(), value).map_err(|e| {
        FieldError::new(
            path,
            format!("does not fit {}: {e}", descriptor.full_name()),
        )
    })?;
    Ok(message.encode_to_vec())
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
    if looks_like_json(bytes) {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            return DecodedPayload {
                type_name: Some("application/json".into()),
                value,
                decode_error: None,
            };
        }
    }
    let undecodable = |reason: String| DecodedPayload {
        type_name: None,
        value: json!({"base64": BASE64.encode(bytes)}),
        decode_error: Some(reason),
    };
    let Some(descriptor) = payload_descriptor(mode_name, message_type) else {
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
mod tests {
    use super::*;

    const DECISION: &str = "macp.mode.decision.v1";

    #[test]
    fn a_standard_mode_payload_round_trips_through_protobuf() {
        let payload = json!({"proposal_id": "p1", "option": "ship", "supportingData": "AQI="});
        let bytes =
            encode_payload(DECISION, "Proposal", Some(&payload), None, "kickoff[0]").unwrap();
        assert!(
            !looks_like_json(&bytes),
            "standard modes are sent as protobuf"
        );
        let decoded = decode_payload(DECISION, "Proposal", &bytes);
        assert_eq!(
            decoded.type_name.as_deref(),
            Some("macp.modes.decision.v1.ProposalPayload")
        );
        assert_eq!(decoded.value["proposalId"], "p1");
        assert_eq!(decoded.value["supportingData"], "AQI=", "bytes stay base64");
        assert_eq!(decoded.value["rationale"], "", "every field is present");
    }

    #[test]
    fn core_messages_use_the_core_schema() {
        let payload = json!({"commitmentId": "c1", "outcomePositive": false});
        let bytes = encode_payload(DECISION, "Commitment", Some(&payload), None, "p").unwrap();
        let decoded = decode_payload(DECISION, "Commitment", &bytes);
        assert_eq!(
            decoded.type_name.as_deref(),
            Some("macp.v1.CommitmentPayload")
        );
        assert_eq!(decoded.value["outcomePositive"], false);
    }

    #[test]
    fn an_unknown_type_or_field_names_the_field() {
        let envelope = PayloadEnvelope {
            encoding: "proto".into(),
            proto: Some(aggregates::request::ProtoPayload {
                type_name: "macp.modes.decision.v1.Nope".into(),
                value: json!({}),
            }),
            ..Default::default()
        };
        let err =
            encode_payload(DECISION, "Proposal", None, Some(&envelope), "kickoff[0]").unwrap_err();
        assert_eq!(err.path, "kickoff[0].payloadEnvelope.proto.typeName");

        let err = encode_payload(
            DECISION,
            "Vote",
            Some(&json!({"colour": "red"})),
            None,
            "body",
        )
        .unwrap_err();
        assert_eq!(err.path, "body.payload");
        assert!(err.message.contains("colour"), "{}", err.message);
    }

    #[test]
    fn extension_modes_take_json_and_garbage_keeps_its_base64() {
        let payload = json!({"value": 3});
        let bytes = encode_payload(
            "ext.multi_round.v1",
            "Contribute",
            Some(&payload),
            None,
            "p",
        )
        .unwrap();
        assert_eq!(bytes, br#"{"value":3}"#);
        assert_eq!(
            decode_payload("ext.multi_round.v1", "Contribute", &bytes).value,
            payload
        );

        let garbage = decode_payload(DECISION, "Vote", &[0xff, 0xff, 0xff]);
        assert_eq!(garbage.value, json!({"base64": "////"}));
        assert!(garbage.decode_error.is_some());
    }
}
