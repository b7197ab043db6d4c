//! Every runtime mode driven to its Commitment through the control plane,
//! with a positive and a negative outcome, against the real runtime. Each
//! case asserts the canonical events the contract derives, their subjects
//! and their decoded payloads.

use crate::support;

use macp_control_plane::api_client::is_terminal;
use modes::{decision, handoff, multi_round, proposal, quorum, task};
use serde_json::{json, Value};
use std::time::Duration;
use support::modes::{self, Case};
use support::{events_until, Engine, TestDb, WAIT};

async fn drive(case: Case) {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let run_id = modes::start(client, &case).await;
    modes::play(client, &run_id, &case).await;
    let status = client
        .wait_for_status(&run_id, WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed", "{} {}", case.mode, case.action);

    let events = events_until(client, &run_id, "run.completed", Duration::from_secs(10)).await;
    let received: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message.received")
        .collect();
    assert_eq!(
        received.len(),
        case.steps.len() + 2,
        "SessionStart, each step, the Commitment"
    );

    for step in &case.steps {
        let (event_type, kind, id) = step.derived;
        let event = events
            .iter()
            .find(|e| {
                e["type"] == event_type
                    && e["data"]["messageType"] == step.message_type
                    && e["data"]["sender"] == step.from
            })
            .unwrap_or_else(|| panic!("{}: no {event_type} for {}", case.mode, step.message_type));
        let subject = &event["subject"];
        assert_eq!(subject["kind"], kind, "{} {}", case.mode, step.message_type);
        if id != "*" {
            assert_eq!(subject["id"], id, "{} {}", case.mode, step.message_type);
        }
        assert_eq!(event["data"]["sender"], step.from);
        assert_eq!(event["source"]["kind"], "runtime");
        assert_eq!(event["source"]["rawType"], step.message_type);
        if let Some(type_prefix) = case.payload_type {
            let type_name = format!("{type_prefix}.{}Payload", step.message_type);
            assert_eq!(event["data"]["payloadTypeName"], type_name.as_str());
        }
        // Decoded from protobuf: the payload's own (camelCase) keys come back.
        let decoded = &event["data"]["decodedPayload"];
        for key in step.payload.as_object().unwrap().keys() {
            assert!(
                decoded.get(key).is_some(),
                "{} {}: {key} missing in {decoded}",
                case.mode,
                step.message_type
            );
        }
    }
    let finalized = events
        .iter()
        .find(|e| e["type"] == "decision.finalized")
        .expect("decision.finalized");
    assert_eq!(
        finalized["subject"],
        json!({"kind": "decision", "id": "c-1"})
    );
    assert_eq!(
        finalized["data"]["decodedPayload"]["outcomePositive"],
        case.positive
    );
    assert_eq!(
        finalized["data"]["payloadTypeName"],
        "macp.v1.CommitmentPayload"
    );

    let state = support::poll_until(client, &format!("/runs/{run_id}/state"), |s| {
        s["run"]["status"] == "completed"
    })
    .await;
    let decision = &state["decision"]["current"];
    assert_eq!(decision["finalized"], true);
    assert_eq!(decision["outcomePositive"], case.positive);
    assert_eq!(decision["action"], case.action);
}

#[tokio::test]
async fn decision_mode_positive() {
    drive(decision(true)).await;
}
#[tokio::test]
async fn decision_mode_negative() {
    drive(decision(false)).await;
}
#[tokio::test]
async fn proposal_mode_positive() {
    drive(proposal(true)).await;
}
#[tokio::test]
async fn proposal_mode_negative() {
    drive(proposal(false)).await;
}
#[tokio::test]
async fn task_mode_positive() {
    drive(task(true)).await;
}
#[tokio::test]
async fn task_mode_negative() {
    drive(task(false)).await;
}
#[tokio::test]
async fn handoff_mode_positive() {
    drive(handoff(true)).await;
}
#[tokio::test]
async fn handoff_mode_negative() {
    drive(handoff(false)).await;
}
#[tokio::test]
async fn quorum_mode_positive() {
    drive(quorum(true)).await;
}
#[tokio::test]
async fn quorum_mode_negative() {
    drive(quorum(false)).await;
}
#[tokio::test]
async fn multi_round_mode_positive() {
    drive(multi_round(true)).await;
}
#[tokio::test]
async fn multi_round_mode_negative() {
    drive(multi_round(false)).await;
}
