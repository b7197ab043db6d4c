//! Tests of payload encoding and decoding against the embedded schemas.

use super::*;
use aggregates::request::PayloadEnvelope;

const DECISION: &str = "macp.mode.decision.v1";

#[test]
fn a_standard_mode_payload_round_trips_through_protobuf() {
    let payload = json!({"proposal_id": "p1", "option": "ship", "supportingData": "AQI="});
    let bytes = encode_payload(DECISION, "Proposal", Some(&payload), None, "kickoff[0]")
        .unwrap()
        .bytes;
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
    let bytes = encode_payload(DECISION, "Commitment", Some(&payload), None, "p")
        .unwrap()
        .bytes;
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

    let err =
        encode_payload(DECISION, "Vote", Some(&json!({"vote": 3})), None, "body").unwrap_err();
    assert_eq!(
        err.path, "body.payload",
        "a wrong value type names the payload"
    );
}

#[test]
fn unknown_fields_are_dropped_listed_and_refused_when_strict() {
    let commitment = json!({
        "commitmentId": "c-1", "action": "ship",
        "designated_roles": ["lead"], "vetoThreshold": 1,
        "minimum_confidence": 0.8
    });
    let encoded = encode_payload(DECISION, "Commitment", Some(&commitment), None, "body").unwrap();
    let decoded = decode_payload(DECISION, "Commitment", &encoded.bytes);
    assert_eq!(
        decoded.value["commitmentId"], "c-1",
        "the known fields are sent"
    );
    assert_eq!(decoded.value["action"], "ship");
    let mut dropped: Vec<(String, Value)> = encoded
        .dropped
        .iter()
        .map(|d| (d.path.clone(), d.value.clone()))
        .collect();
    dropped.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        dropped,
        vec![
            ("body.payload.designated_roles".to_string(), json!(["lead"])),
            ("body.payload.minimum_confidence".to_string(), json!(0.8)),
            ("body.payload.vetoThreshold".to_string(), json!(1)),
        ],
        "nothing is lost"
    );
    let refused = encoded.refuse_dropped().unwrap_err();
    assert_eq!(refused.len(), 3);
    assert!(refused
        .iter()
        .any(|e| e.path == "body.payload.vetoThreshold"));
    assert!(encode_payload(
        DECISION,
        "Commitment",
        Some(&json!({"action": "x"})),
        None,
        "b"
    )
    .unwrap()
    .refuse_dropped()
    .is_ok());
}

#[test]
fn bytes_that_are_json_and_canonical_protobuf_read_as_protobuf() {
    // A ContributePayload whose value is 123 bytes long: its tag byte
    // (0x0a) is JSON whitespace and its length byte is `{`, so with
    // this value the bytes are also a JSON object (the runtime's
    // issue #192), whose JSON reading would be the value "xxx…".
    let value = format!("\"value\": \"{}\"}}", "x".repeat(111));
    assert_eq!(value.len(), 123);
    let descriptor = payload_descriptor("ext.multi_round.v1", "Contribute").unwrap();
    let bytes = DynamicMessage::deserialize(descriptor, &json!({"value": value}))
        .unwrap()
        .encode_to_vec();
    assert_eq!(bytes[..2], [0x0a, b'{']);
    assert!(
        serde_json::from_slice::<Value>(&bytes).is_ok(),
        "valid JSON too"
    );
    let decoded = decode_payload("ext.multi_round.v1", "Contribute", &bytes);
    assert_eq!(
        decoded.type_name.as_deref(),
        Some("macp.modes.multi_round.v1.ContributePayload")
    );
    assert_eq!(decoded.value["value"], value.as_str());
    // Plain JSON stays JSON.
    let json_bytes = br#"{"value":"a"}"#;
    let decoded = decode_payload("ext.multi_round.v1", "Contribute", json_bytes);
    assert_eq!(decoded.type_name.as_deref(), Some("application/json"));
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
    .unwrap()
    .bytes;
    assert_eq!(bytes, br#"{"value":3}"#);
    assert_eq!(
        decode_payload("ext.multi_round.v1", "Contribute", &bytes).value,
        payload
    );

    let garbage = decode_payload(DECISION, "Vote", &[0xff, 0xff, 0xff]);
    assert_eq!(garbage.value, json!({"base64": "////"}));
    assert!(garbage.decode_error.is_some());
}
