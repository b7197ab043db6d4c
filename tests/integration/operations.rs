//! Runtime operations through the control plane, against the real runtime:
//! cancel, suspend / resume, signals, context updates, the sent-messages
//! list, runtime discovery, the policy registry and request validation.

use crate::support;

use macp_control_plane::demo::decision_request;
use serde_json::{json, Value};
use support::{count_type, events_until, poll_until, running, Engine, TestDb, WAIT};

#[tokio::test]
async fn cancel_ends_the_run_and_the_session() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let run_id = running(&service.client, &decision_request()).await;
    let (status, run) = service
        .client
        .post(
            &format!("/runs/{run_id}/cancel"),
            &json!({"reason": "operator"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "cancelled");
    assert!(run["endedAt"].is_string());
    let events = events_until(&service.client, &run_id, "run.cancelled", WAIT).await;
    let cancelled = events
        .iter()
        .find(|e| e["type"] == "run.cancelled")
        .unwrap();
    assert_eq!(cancelled["data"]["reason"], "operator");

    let (status, answer) = service
        .client
        .post(&format!("/runs/{run_id}/cancel"), &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (status, answer["errorCode"].as_str()),
        (409, Some("INVALID_STATE_TRANSITION"))
    );
    let body = json!({"from": "risk-analyst", "messageType": "Vote", "payload": {"proposalId": "p-1", "vote": "APPROVE"}});
    let (status, _) = service
        .client
        .post(&format!("/runs/{run_id}/messages"), &body)
        .await
        .unwrap();
    assert_eq!(status, 409, "a cancelled run takes no messages");
}

#[tokio::test]
async fn suspend_and_resume_go_through_the_runtime() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let run_id = running(&service.client, &decision_request()).await;

    let (status, answer) = client
        .post(&format!("/runs/{run_id}/resume"), &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (status, answer["errorCode"].as_str()),
        (409, Some("INVALID_STATE_TRANSITION")),
        "not suspended"
    );

    let (status, run) = client
        .post(
            &format!("/runs/{run_id}/suspend"),
            &json!({"reason": "lunch"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, run["status"].as_str()),
        (200, Some("suspended")),
        "{run}"
    );

    // The runtime refuses messages to a suspended session, with its own code.
    let body = json!({"from": "risk-analyst", "messageType": "Evaluation",
                      "payload": {"proposalId": "p-1", "recommendation": "APPROVE", "confidence": 0.5}});
    let (status, answer) = client
        .post(&format!("/runs/{run_id}/messages"), &body)
        .await
        .unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errorCode"], "MESSAGE_SEND_FAILED");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("SESSION_NOT_OPEN"),
        "{answer}"
    );

    let (status, run) = client
        .post_raw(&format!("/runs/{run_id}/resume"), "")
        .await
        .unwrap();
    assert_eq!(
        (status, run["status"].as_str()),
        (200, Some("running")),
        "{run}"
    );
    client
        .send(
            &run_id,
            "risk-analyst",
            "Evaluation",
            json!({"proposalId": "p-1", "recommendation": "APPROVE", "confidence": 0.5}),
        )
        .await
        .unwrap();
    let events = events_until(&service.client, &run_id, "run.resumed", WAIT).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let suspended = types.iter().position(|t| *t == "run.suspended").unwrap();
    let resumed = types.iter().position(|t| *t == "run.resumed").unwrap();
    assert!(suspended < resumed);
    let sent = poll_until(client, &format!("/runs/{run_id}/messages"), |m| {
        m.as_array().is_some_and(|m| m.len() == 3)
    })
    .await;
    let statuses: Vec<(&str, &str)> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["messageType"].as_str().unwrap(),
                m["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("Proposal", "accepted"),
            ("Evaluation", "rejected"),
            ("Evaluation", "accepted")
        ]
    );
    let rejected = &sent[1];
    assert_eq!(rejected["errorCode"], "SESSION_NOT_OPEN");
    assert_eq!(sent[0]["kickoff"], true);
}

#[tokio::test]
async fn signals_and_context_updates_are_sent_and_recorded() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let run_id = running(&service.client, &decision_request()).await;

    let body = json!({"from": "risk-analyst", "to": ["coordinator"], "messageType": "Signal",
                      "signalType": "risk.flag", "severity": "high", "confidence": 0.8,
                      "payload": {"note": "latency rising"}});
    let (status, answer) = client
        .post(&format!("/runs/{run_id}/signal"), &body)
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ack"]["ok"], true);

    let (status, answer) = client
        .post(
            &format!("/runs/{run_id}/context"),
            &json!({"from": "coordinator", "context": {"region": "eu"}}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = client
        .post(
            &format!("/runs/{run_id}/context"),
            &json!({"from": "coordinator", "context": 7}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, answer["errors"][0]["path"].as_str()),
        (400, Some("context"))
    );
    let (status, answer) = client
        .post(
            &format!("/runs/{run_id}/signal"),
            &json!({"from": "x", "signalType": "s", "confidence": 2}),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, answer["errors"][0]["path"].as_str()),
        (400, Some("confidence"))
    );

    let events = poll_until(client, &format!("/runs/{run_id}/events?limit=1000"), |e| {
        count_type(e, "signal.emitted") == 2
    })
    .await;
    let signals: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "signal.emitted")
        .collect();
    assert_eq!(
        signals[0]["data"]["decodedPayload"]["data"]["payload"]["note"],
        "latency rising"
    );
    let state = poll_until(client, &format!("/runs/{run_id}/state"), |s| {
        s["signals"]["signals"]
            .as_array()
            .is_some_and(|l| l.len() == 2)
    })
    .await;
    let listed = &state["signals"]["signals"];
    assert_eq!(listed[0]["name"], "risk.flag");
    assert_eq!(listed[0]["severity"], "high");
    assert_eq!(listed[0]["confidence"], 0.8);
    assert_eq!(listed[0]["sourceParticipantId"], "risk-analyst");
    assert_eq!(listed[1]["name"], "context.update");
}

#[tokio::test]
async fn runtime_discovery_answers_from_the_runtime() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let (status, modes) = client.get("/runtime/modes").await.unwrap();
    assert_eq!(status, 200);
    let names: Vec<&str> = modes
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mode"].as_str().unwrap())
        .collect();
    for mode in [
        "macp.mode.decision.v1",
        "macp.mode.proposal.v1",
        "macp.mode.task.v1",
        "macp.mode.handoff.v1",
        "macp.mode.quorum.v1",
        "ext.multi_round.v1",
    ] {
        assert!(names.contains(&mode), "{mode} missing from {names:?}");
    }
    assert!(modes[0]["messageTypes"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    assert!(modes[0]["modeVersion"].is_string());
    let (status, manifest) = client.get("/runtime/manifest").await.unwrap();
    assert_eq!(
        (status, manifest["agentId"].as_str()),
        (200, Some("macp-runtime"))
    );
    let (status, roots) = client.get("/runtime/roots").await.unwrap();
    assert_eq!((status, roots.is_array()), (200, true));
    let (status, health) = client.get("/runtime/health").await.unwrap();
    assert_eq!(
        (status, health["ok"].as_bool()),
        (200, Some(true)),
        "{health}"
    );
    assert_eq!(health["runtimeKind"], "rust");
}

#[tokio::test]
async fn policies_are_registered_read_and_removed_on_the_runtime() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let policy = json!({"policyId": "policy.cp.majority", "mode": "macp.mode.decision.v1",
                        "description": "majority", "schemaVersion": 1,
                        "rules": {"voting": {"algorithm": "majority", "threshold": 0.5}}});
    let (status, created) = client.post("/runtime/policies", &policy).await.unwrap();
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["rules"]["voting"]["algorithm"], "majority");
    let (status, again) = client.post("/runtime/policies", &policy).await.unwrap();
    assert!(
        (400..500).contains(&status),
        "a duplicate is refused: {status} {again}"
    );
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{again}"
    );

    let (_, listed) = client
        .get("/runtime/policies?mode=macp.mode.decision.v1")
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["policyId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"policy.cp.majority") && ids.contains(&"policy.default"),
        "{ids:?}"
    );
    let (status, one) = client
        .get("/runtime/policies/policy.cp.majority")
        .await
        .unwrap();
    assert_eq!(
        (status, one["description"].as_str()),
        (200, Some("majority"))
    );

    let response = reqwest::Client::new()
        .delete(format!(
            "{}/runtime/policies/policy.cp.majority",
            service.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, gone) = client
        .get("/runtime/policies/policy.cp.majority")
        .await
        .unwrap();
    assert_eq!(status, 404, "{gone}");
    let (status, bad) = client
        .post(
            "/runtime/policies",
            &json!({"policyId": "", "mode": "x", "rules": 3}),
        )
        .await
        .unwrap();
    assert_eq!(status, 400);
    let paths: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["policyId", "rules"]);
}

#[tokio::test]
async fn validate_checks_the_request_and_the_runtime_without_starting_anything() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let (status, answer) = client
        .post("/runs/validate", &decision_request())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["runtime"]["reachable"], true);
    assert!(answer["runtime"]["supportedModes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "ext.multi_round.v1"));

    let mut unsupported = decision_request();
    unsupported["session"]["modeName"] = json!("macp.mode.telepathy.v1");
    unsupported["kickoff"] = json!([]);
    let (_, answer) = client.post("/runs/validate", &unsupported).await.unwrap();
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["fieldErrors"][0]["path"], "session.modeName");
    assert!(
        answer["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("session.modeName: ")),
        "{answer}"
    );

    let (_, answer) = client
        .post("/runs/validate", &json!({"mode": "replay"}))
        .await
        .unwrap();
    assert_eq!(answer["valid"], false);
    assert!(answer["errors"].as_array().unwrap().len() >= 5, "{answer}");
    let store = db.store().await;
    assert!(
        store.read_all(0, 1).await.unwrap().is_empty(),
        "validate starts nothing"
    );
}
