//! Black-box tests: HTTP in, HTTP out, against the real MACP runtime and a
//! real event store (SQLite and PostgreSQL).

use crate::support;

use macp_control_plane::api_client::{is_terminal, Client};
use macp_control_plane::demo::{self, decision_request};
use serde_json::{json, Value};
use support::{events_until, running, Engine, TestDb, WAIT};

async fn demo_run_completes(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let outcome = demo::run(&service.url()).await.expect("demo runs");
    assert_eq!(outcome.status, "completed");
    let decision = &outcome.state["decision"]["current"];
    assert_eq!(decision["finalized"], true, "state: {}", outcome.state);
    assert_eq!(decision["action"], "ship release 2.1 today");
    assert_eq!(decision["resolvedBy"], "coordinator");

    let seqs: Vec<u64> = outcome
        .events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "seq is 1..n in order"
    );
    let types: Vec<&str> = outcome
        .events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"run.created"));
    assert_eq!(types.last(), Some(&"run.completed"));
    let finalized = types
        .iter()
        .position(|t| *t == "decision.finalized")
        .expect("decision.finalized");
    assert_eq!(
        outcome.events[finalized]["data"]["decodedPayload"]["commitmentId"],
        "c-1"
    );
    for expected in [
        "run.started",
        "session.bound",
        "participant.seen",
        "message.sent",
        "session.stream.opened",
        "message.received",
        "proposal.created",
        "proposal.updated",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }

    // Every accepted envelope is recorded raw exactly once, in ordinal order:
    // SessionStart, the kickoff Proposal, 2 Evaluations, a Vote, the Commitment.
    let store = db.store().await;
    let run_id = outcome.run_id.parse().unwrap();
    let ordinals: Vec<(u64, String)> = store
        .read_stream(run_id, 0)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            aggregates::RunEvent::RuntimeEnvelopeRecorded {
                ordinal, envelope, ..
            } => Some((ordinal, envelope.message_type)),
            _ => None,
        })
        .collect();
    let expected = [
        "SessionStart",
        "Proposal",
        "Evaluation",
        "Evaluation",
        "Vote",
        "Commitment",
    ];
    assert_eq!(
        ordinals,
        expected
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u64 + 1, t.to_string()))
            .collect::<Vec<_>>()
    );

    let (status, run) = service
        .client
        .get(&format!("/runs/{}", outcome.run_id))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(run["status"], "completed");
    assert_eq!(
        run["runtimeSessionId"],
        outcome.run_id.as_str(),
        "run id is the session id"
    );
    assert_eq!(run["lastEventSeq"], json!(seqs.len()));
    assert_eq!(
        run["source"],
        json!({"kind": "demo", "ref": "examples/decision"})
    );
}

on_both_engines!(demo_run_completes);

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).expect("pointer exists") = value;
    body
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_writes_nothing() {
    let db = TestDb::new(Engine::Sqlite).await;
    // Strict: unknown payload fields are bad input too.
    let mut config = db.config();
    config.strict_payload_fields = true;
    let service = support::TestService::start(&config).await;
    let good = decision_request();
    let proto_kickoff = |proto: Value| {
        with(
            good.clone(),
            "/kickoff/0",
            json!({"from": "coordinator", "to": [], "kind": "proposal",
            "messageType": "Proposal", "payloadEnvelope": {"encoding": "proto", "proto": proto}}),
        )
    };
    let cases = [
        (
            with(good.clone(), "/session/participants", json!([])),
            "session.participants",
        ),
        (
            with(good.clone(), "/session/modeName", json!("")),
            "session.modeName",
        ),
        (
            with(good.clone(), "/session/ttlMs", json!(0)),
            "session.ttlMs",
        ),
        (
            with(good.clone(), "/session/ttlMs", json!(86_400_001)),
            "session.ttlMs",
        ),
        (
            with(good.clone(), "/session/ttlMs", json!("soon")),
            "session.ttlMs",
        ),
        (with(good.clone(), "/mode", json!("replay")), "mode"),
        (
            proto_kickoff(json!({"typeName": "macp.modes.decision.v1.Nope", "value": {}})),
            "kickoff[0].payloadEnvelope.proto.typeName",
        ),
        (
            proto_kickoff(json!({"typeName": "macp.modes.decision.v1.ProposalPayload",
                              "value": {"proposalId": "p", "flavour": "x"}})),
            "kickoff[0].payloadEnvelope.proto.value.flavour",
        ),
        (
            with(good.clone(), "/kickoff/0/payload", json!({"colour": "red"})),
            "kickoff[0].payload.colour",
        ),
        (
            with(
                good.clone(),
                "/kickoff/0/payload",
                json!({"proposalId": ["not", "text"]}),
            ),
            "kickoff[0].payload",
        ),
    ];
    for (body, path) in cases {
        let (status, answer) = service.client.post("/runs", &body).await.unwrap();
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["errorCode"], "VALIDATION_ERROR");
        assert_eq!(answer["statusCode"], 400);
        let paths: Vec<&str> = answer["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert!(paths.contains(&path), "expected {path} in {answer}");
    }
    let (status, answer) = service.client.post_raw("/runs", "{not json").await.unwrap();
    assert_eq!(
        (status, answer["errorCode"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );

    let store = db.store().await;
    assert!(
        store.read_all(0, 10).await.unwrap().is_empty(),
        "nothing was written"
    );

    let (status, answer) = service.client.get("/runs/not-a-uuid").await.unwrap();
    assert_eq!(
        (status, answer["errorCode"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let missing = uuid::Uuid::new_v4();
    let (status, answer) = service
        .client
        .get(&format!("/runs/{missing}/state"))
        .await
        .unwrap();
    assert_eq!(
        (status, answer["errorCode"].as_str()),
        (404, Some("RUN_NOT_FOUND"))
    );
}

#[tokio::test]
async fn a_runtime_refusal_is_an_error_with_its_code_and_is_recorded() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let run_id = &running(&service.client, &decision_request()).await;

    let body = json!({"from": "mallory", "messageType": "Evaluation",
                      "payload": {"proposalId": "p-1", "recommendation": "REJECT"}});
    let (status, answer) = service
        .client
        .post(&format!("/runs/{run_id}/messages"), &body)
        .await
        .unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errorCode"], "MESSAGE_SEND_FAILED");
    let runtime_code = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        !runtime_code.is_empty() && runtime_code.contains(':'),
        "{answer}"
    );

    let failed = first_of_type(&service.client, run_id, "message.send_failed").await;
    assert_eq!(failed["data"]["from"], "mallory");
    assert!(failed["data"]["errorCode"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    let (_, run) = service
        .client
        .get(&format!("/runs/{run_id}"))
        .await
        .unwrap();
    assert_eq!(
        run["status"], "running",
        "an agent's refused message does not end the run"
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_answers_the_first_run() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let body = with(decision_request(), "/execution/tags", json!(["once"]));
    let body = with(body, "/execution", json!({"idempotencyKey": "order-42"}));
    let (first, created) = service.client.post("/runs", &body).await.unwrap();
    let (second, again) = service.client.post("/runs", &body).await.unwrap();
    assert_eq!((first, second), (202, 200));
    assert_eq!(created["runId"], again["runId"]);
    assert_eq!(created["traceId"], again["traceId"]);
}

#[tokio::test]
async fn an_unsupported_mode_fails_the_run_with_the_reason() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let body = with(
        decision_request(),
        "/session/modeName",
        json!("macp.mode.telepathy.v1"),
    );
    let body = with(body, "/kickoff", json!([]));
    let (_, created) = service.client.post("/runs", &body).await.unwrap();
    let run_id = created["runId"].as_str().unwrap();
    let status = service
        .client
        .wait_for_status(run_id, WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "failed");
    let (_, run) = service
        .client
        .get(&format!("/runs/{run_id}"))
        .await
        .unwrap();
    assert_eq!(run["errorCode"], "MODE_NOT_SUPPORTED");
}

async fn restart_keeps_every_run_and_event(engine: Engine) {
    let db = TestDb::new(engine).await;
    let before = {
        let service = db.start().await;
        let outcome = demo::run(&service.url()).await.expect("demo runs");
        let (_, run) = service
            .client
            .get(&format!("/runs/{}", outcome.run_id))
            .await
            .unwrap();
        (outcome, run)
    };
    let service = db.start().await;
    let (outcome, run) = before;
    let (_, run_after) = service
        .client
        .get(&format!("/runs/{}", outcome.run_id))
        .await
        .unwrap();
    let (_, state_after) = service
        .client
        .get(&format!("/runs/{}/state", outcome.run_id))
        .await
        .unwrap();
    let (_, events_after) = service
        .client
        .get(&format!("/runs/{}/events?limit=1000", outcome.run_id))
        .await
        .unwrap();
    assert_eq!(run_after, run);
    assert_eq!(state_after, outcome.state);
    assert_eq!(events_after, Value::Array(outcome.events));
}

on_both_engines!(restart_keeps_every_run_and_event);

#[tokio::test]
async fn the_request_context_and_intent_reach_the_session_start() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let mut body = decision_request();
    body["session"]["context"] = json!({"ticket": "OPS-7"});
    body["session"]["roots"] = json!([{"uri": "file:///srv/app", "name": "app"}]);
    body["session"]["policyHints"] = json!({"strict": true});
    body["futureField"] = json!("kept");
    let run_id = &running(&service.client, &body).await;
    let start = first_of_type(&service.client, run_id, "message.received").await;
    let payload = &start["data"]["payload"];
    assert_eq!(start["data"]["messageType"], "SessionStart");
    assert_eq!(payload["intent"], "decide whether to ship release 2.1");
    assert_eq!(payload["roots"][0]["uri"], "file:///srv/app");
    use base64::Engine as _;
    let context = base64::engine::general_purpose::STANDARD
        .decode(payload["extensions"]["context"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&context).unwrap(),
        json!({"ticket": "OPS-7"})
    );

    // The stored request keeps what the control plane does not interpret.
    let store = db.store().await;
    let first = store
        .read_stream(run_id.parse().unwrap(), 0)
        .await
        .unwrap()
        .remove(0);
    let aggregates::RunEvent::RunRequested { request, .. } = first.event else {
        panic!("first event")
    };
    let stored = serde_json::to_value(&request).unwrap();
    assert_eq!(stored["futureField"], "kept");
    assert_eq!(stored["session"]["policyHints"], json!({"strict": true}));
}

/// By default a field the payload's protobuf type lacks is dropped from
/// the bytes, not refused: the answer warns, and the kickoff's
/// `message.sent` keeps it with its value.
#[tokio::test]
async fn unknown_payload_fields_are_dropped_with_a_warning_and_kept() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let request = with(
        decision_request(),
        "/kickoff/0/payload",
        json!({"proposalId": "p-1", "option": "ship", "colour": "red"}),
    );
    let (status, created) = service.client.post("/runs", &request).await.unwrap();
    assert_eq!(status, 202, "{created}");
    assert_eq!(
        created["warnings"],
        json!([
            "kickoff[0].payload.colour: not a field of the payload's message type; dropped (kept on message.sent)"
        ])
    );
    let run_id = created["runId"].as_str().unwrap();
    let events = support::poll_until(
        &service.client,
        &format!("/runs/{run_id}/events?type=message.sent"),
        |e| e.as_array().is_some_and(|e| !e.is_empty()),
    )
    .await;
    assert_eq!(
        events[0]["data"]["droppedFields"],
        json!([{"path": "kickoff[0].payload.colour", "value": "red"}])
    );
    assert_eq!(events[0]["data"]["decodedPayload"]["option"], "ship");
}

/// The run's first event of `event_type`, once there is one.
async fn first_of_type(client: &Client, run_id: &str, event_type: &str) -> Value {
    let events = events_until(client, run_id, event_type, WAIT).await;
    events
        .into_iter()
        .find(|e| e["type"] == event_type)
        .expect("the event waited for")
}
