//! Tests of the request's parsing (unknown fields kept), its structural
//! validation and its initiator fallback.

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
