//! Agents that take part through the control plane over HTTP only, as a
//! scenario registry's agents do: four processes of our own
//! (`tests/integration/agents/http_agent.py`: one coordinator, three specialists) poll
//! the run and its events and post their messages, through a decision run
//! to `completed`; and a run under a policy that refuses the coordinator's
//! Commitment records `policy.denied` with the runtime's reasons.

use crate::support;

use macp_control_plane::api_client::{is_terminal, Client};
use serde_json::{json, Value};
use std::process::Stdio;
use support::{poll_until, running_within, Engine, TestDb, RECOVERY_WAIT};
use tokio::process::Command;

const SPECIALISTS: [&str; 3] = ["fraud", "compliance", "growth"];

fn request(policy_version: &str) -> Value {
    let mut participants = vec![json!({"id": "coordinator", "role": "coordinator"})];
    participants.extend(SPECIALISTS.map(|s| json!({"id": s, "role": "specialist"})));
    json!({
        "mode": "live", "runtime": {"kind": "rust"},
        "session": {"modeName": "macp.mode.decision.v1", "modeVersion": "1.0.0",
                    "configurationVersion": "config.default", "policyVersion": policy_version,
                    "ttlMs": 120000, "initiatorParticipantId": "coordinator",
                    "participants": participants,
                    "metadata": {"intent": "approve the launch", "scenarioRef": "agents/launch@1"}},
        "kickoff": [{"from": "coordinator", "to": SPECIALISTS, "kind": "proposal",
                     "messageType": "Proposal",
                     "payload": {"proposal_id": "launch-1", "option": "launch on Monday",
                                 "rationale": "ready"}}]
    })
}

/// Submits the request as a registry does (validate, then run) and plays
/// the four agents; answers the run id and the coordinator's exit code.
async fn play(client: &Client, base: &str, policy_version: &str) -> (String, i32) {
    let request = request(policy_version);
    let (status, verdict) = client.post("/runs/validate", &request).await.unwrap();
    assert_eq!(
        (status, &verdict["valid"]),
        (200, &json!(true)),
        "{verdict}"
    );
    let (status, created) = client.post("/runs", &request).await.unwrap();
    assert_eq!(status, 202, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/integration/agents/http_agent.py"
    );
    let agent = |me: &str, role: &str| {
        Command::new("python3")
            .args([
                script,
                base,
                &run_id,
                me,
                role,
                policy_version,
                &SPECIALISTS.join(","),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the agent")
    };
    let specialists: Vec<_> = SPECIALISTS.iter().map(|s| agent(s, "specialist")).collect();
    let coordinator = agent("coordinator", "coordinator");
    for specialist in specialists {
        let out = tokio::time::timeout(RECOVERY_WAIT, specialist.wait_with_output())
            .await
            .expect("a specialist finishes")
            .unwrap();
        assert!(
            out.status.success(),
            "specialist: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = tokio::time::timeout(RECOVERY_WAIT, coordinator.wait_with_output())
        .await
        .expect("the coordinator finishes")
        .unwrap();
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (run_id, out.status.code().unwrap_or(-1))
}

async fn run_events(client: &Client, run_id: &str) -> Vec<Value> {
    let (_, events) = client
        .get(&format!("/runs/{run_id}/events?limit=1000"))
        .await
        .unwrap();
    events.as_array().unwrap().clone()
}

async fn agents_over_http(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let base = service.url();

    let (run_id, code) = play(client, &base, "policy.default").await;
    assert_eq!(code, 0, "the coordinator saw decision.finalized");
    let status = client
        .wait_for_status(&run_id, RECOVERY_WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    let events = run_events(client, &run_id).await;
    // What the agents found the proposal by: the kickoff's message.sent.
    let first = events
        .iter()
        .find(|e| e["data"]["messageType"] == "Proposal")
        .unwrap();
    assert_eq!(first["type"], "message.sent");
    assert_eq!(first["data"]["sender"], "coordinator");
    assert_eq!(first["data"]["payload"]["proposalId"], "launch-1");
    assert_eq!(
        first["subject"],
        json!({"kind": "proposal", "id": "launch-1"})
    );
    for specialist in SPECIALISTS {
        assert!(
            events.iter().any(|e| e["type"] == "proposal.updated"
                && e["data"]["sender"] == specialist
                && e["subject"]["id"] == "launch-1"),
            "{specialist} answered the proposal, not a message id"
        );
    }
    assert!(events.iter().any(|e| e["type"] == "decision.finalized"));
    // The Commitment's unknown fields were dropped from the bytes, kept here.
    let commitment = events
        .iter()
        .find(|e| e["type"] == "message.sent" && e["data"]["messageType"] == "Commitment")
        .unwrap();
    assert_eq!(
        commitment["subject"],
        json!({"kind": "decision", "id": "c-1"})
    );
    let mut dropped: Vec<(String, Value)> = commitment["data"]["droppedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["path"].as_str().unwrap().to_string(), d["value"].clone()))
        .collect();
    dropped.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        dropped,
        vec![
            (
                "payloadEnvelope.proto.value.designated_roles".into(),
                json!(["coordinator"])
            ),
            (
                "payloadEnvelope.proto.value.minimum_confidence".into(),
                json!(0.7)
            ),
            (
                "payloadEnvelope.proto.value.veto_threshold".into(),
                json!(1)
            ),
        ]
    );

    // Under a supermajority (two voters at least), the coordinator's lone
    // Vote does not carry its Commitment.
    let (denied_run, code) = play(client, &base, "policy.std.supermajority").await;
    assert_eq!(code, 3, "the coordinator saw policy.denied");
    let events = run_events(client, &denied_run).await;
    let failed = events
        .iter()
        .find(|e| e["type"] == "message.send_failed")
        .expect("message.send_failed");
    assert_eq!(failed["data"]["errorCode"], "POLICY_DENIED");
    assert_eq!(failed["data"]["sender"], "coordinator");
    let denied = events
        .iter()
        .find(|e| e["type"] == "policy.denied")
        .expect("policy.denied");
    let reasons = denied["data"]["reasons"].as_array().unwrap();
    assert!(
        !reasons.is_empty()
            && reasons
                .iter()
                .all(|r| r.as_str().is_some_and(|r| !r.is_empty())),
        "the runtime's reasons: {denied}"
    );
    assert_eq!(denied["data"]["commitmentId"], "c-1");
    let state = poll_until(client, &format!("/runs/{denied_run}/state"), |s| {
        s["policy"]["commitmentEvaluations"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    })
    .await;
    assert_eq!(
        state["policy"]["commitmentEvaluations"][0]["decision"],
        "deny"
    );
    let (status, _) = client.get(&format!("/runs/{denied_run}")).await.unwrap();
    assert_eq!(status, 200);
}

on_both_engines!(http_agents_finish_a_decision_run => agents_over_http);

/// A message the runtime refuses answers 422 `MESSAGE_SEND_FAILED` (what
/// the OpenAPI document says), and strict mode refuses unknown payload
/// fields with a 400 naming each.
#[tokio::test]
async fn refusals_and_strict_payloads_answer_as_documented() {
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config();
    config.strict_payload_fields = true;
    let service = support::TestService::start(&config).await;
    let client = &service.client;
    let run_id = running_within(client, &request("policy.default"), RECOVERY_WAIT).await;
    let (status, refused) = client
        .post(
            &format!("/runs/{run_id}/messages"),
            &json!({"from": "outsider", "messageType": "Evaluation",
                    "payload": {"proposalId": "launch-1", "recommendation": "APPROVE"}}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, refused["errorCode"].as_str()),
        (422, Some("MESSAGE_SEND_FAILED"))
    );
    let (_, document) = client.get("/openapi.json").await.unwrap();
    assert!(
        document["paths"]["/runs/{id}/messages"]["post"]["responses"]["422"].is_object(),
        "the document lists 422"
    );
    let (status, strict) = client
        .post(
            &format!("/runs/{run_id}/messages"),
            &json!({"from": "fraud", "messageType": "Evaluation",
                    "payload": {"proposalId": "launch-1", "colour": "red"}}),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{strict}");
    assert_eq!(strict["errors"][0]["path"], "payload.colour");
    let (status, unknown) = client
        .post(
            &format!("/runs/{run_id}/messages"),
            &json!({"from": "fraud", "messageType": "Evaluation",
                    "payloadEnvelope": {"encoding": "proto",
                                        "proto": {"typeName": "macp.v1.Nope", "value": {}}}}),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{unknown}");
    assert_eq!(
        unknown["errors"][0]["path"],
        "payloadEnvelope.proto.typeName"
    );

    // Token usage reported beside a message counts.
    let (status, sent) = client
        .post(
            &format!("/runs/{run_id}/messages"),
            &json!({"from": "fraud", "messageType": "Evaluation",
                    "payload": {"proposalId": "launch-1", "recommendation": "APPROVE"},
                    "metadata": {"tokenUsage": {"promptTokens": 120, "completionTokens": 30,
                                                "totalTokens": 150},
                                 "llmCall": {"model": "m-1", "estimatedCostUsd": 0.25}}}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{sent}");
    let metrics = poll_until(client, &format!("/runs/{run_id}/metrics"), |m| {
        m["totalTokens"] == 150
    })
    .await;
    assert_eq!(metrics["promptTokens"], 120);
    let state = poll_until(client, &format!("/runs/{run_id}/state"), |s| {
        s["llm"]["totals"]["callCount"] == 1
    })
    .await;
    assert_eq!(state["llm"]["totals"]["estimatedCostUsd"], 0.25);
    assert_eq!(state["llm"]["calls"][0]["model"], "m-1");
}
