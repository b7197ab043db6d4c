//! Sessions the control plane observes and runs it drives, recorded as the
//! runtime saw them: a session that ran (in the runtime's base64url id
//! form) while no control plane watched keeps its own times, intent and
//! TTL once discovered; a cancel that reaches the runtime after the session
//! resolved answers 409 and the run ends as the session did.

use crate::support;

use macp_control_plane::api_client::{is_terminal, Client};
use macp_control_plane::demo::decision_request;
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use macp_control_plane::service::Service;
use serde_json::json;
use std::time::Duration;
use support::runtime_peer::{
    both_contribute, converged_commitment, direct_client, send_direct, start_session_directly,
    MULTI_ROUND,
};
use support::{poll_until, running, Engine, TestDb, WAIT};

fn ms(value: &serde_json::Value) -> i64 {
    aggregates::Timestamp::parse(value.as_str().unwrap())
        .unwrap()
        .unix_ms()
}

#[tokio::test]
async fn a_session_that_ran_unwatched_keeps_its_own_times_and_id() {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let direct = direct_client(runtime.address);
    // The runtime's other session-id form: base64url, 22+ characters.
    let session_id = format!("obs_{}", uuid::Uuid::new_v4().simple());
    start_session_directly(&direct, &session_id, MULTI_ROUND, "outside job").await;
    // Time passes between the session's steps (only the clock can make it
    // pass), so that each recorded time can be told from the others.
    tokio::time::sleep(Duration::from_millis(200)).await;
    both_contribute(&direct, &session_id, "same").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before_commit = aggregates::Timestamp::now().unix_ms();
    let commitment = converged_commitment("c-9");
    send_direct(
        &direct,
        &session_id,
        MULTI_ROUND,
        "coord",
        "Commitment",
        commitment,
    )
    .await;
    let after_commit = aggregates::Timestamp::now().unix_ms();
    let session = direct.get_session("coord", &session_id).await.unwrap();

    // Only now does a control plane look.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let noticed_after = aggregates::Timestamp::now().unix_ms();
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config_with_runtime(runtime.address);
    config.discover_sessions = true;
    let service = Service::start(&config).await.unwrap();
    let client = Client::new(&format!("http://{}", service.address));

    // The session id itself finds the run.
    let status = client
        .wait_for_status(&session_id, WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    let run = poll_until(&client, &format!("/runs/{session_id}"), |r| {
        r["endedAt"].is_string()
    })
    .await;
    assert_eq!(run["runtimeSessionId"], session_id.as_str());
    assert_eq!(
        run["id"].as_str().map(String::from),
        aggregates::run_id_of_session(&session_id).map(|id| id.to_string())
    );
    assert_eq!(
        ms(&run["createdAt"]),
        session.started_at_unix_ms,
        "created when the session started"
    );
    assert_eq!(ms(&run["startedAt"]), session.started_at_unix_ms);
    let ended = ms(&run["endedAt"]);
    assert!(
        (before_commit..=after_commit).contains(&ended),
        "ended when the Commitment resolved it ({before_commit}..={after_commit}), not when noticed: {ended}"
    );
    assert!(ended < noticed_after);
    assert_eq!(run["metadata"]["intent"], "outside job", "{run}");
    assert_eq!(run["metadata"]["ttlMs"], 60_000);
    let metrics = poll_until(&client, &format!("/runs/{session_id}/metrics"), |m| {
        m["sessionState"] == "SESSION_STATE_RESOLVED"
    })
    .await;
    assert_eq!(
        metrics["durationMs"].as_i64(),
        Some(ended - session.started_at_unix_ms),
        "the session's own duration: {metrics}"
    );
    assert!(metrics["durationMs"].as_i64().unwrap() >= 350);
    let (status, events) = client
        .get(&format!("/runs/{session_id}/events?limit=100"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "message.received")
            .count(),
        4,
        "SessionStart, two contributions, the Commitment"
    );
}

#[tokio::test]
async fn a_cancel_after_the_session_resolved_answers_409_and_the_run_completes() {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let db = TestDb::new(Engine::Sqlite).await;
    let config = db.config_with_runtime(runtime.address);
    let service = Service::start(&config).await.unwrap();
    let client = &Client::new(&format!("http://{}", service.address));
    let run_id = running(client, &decision_request()).await;
    // The coordinator commits straight to the runtime; the cancel follows
    // at once, before or after the control plane has recorded the end.
    let direct = direct_client(runtime.address);
    let commitment = json!({"commitmentId": "c-1", "action": "ship", "authorityScope": "release",
        "reason": "go", "modeVersion": "1.0.0", "configurationVersion": "config.default",
        "policyVersion": "policy.default", "outcomePositive": true});
    send_direct(
        &direct,
        &run_id,
        "macp.mode.decision.v1",
        "coordinator",
        "Commitment",
        commitment,
    )
    .await;
    let (status, refused) = client
        .post(
            &format!("/runs/{run_id}/cancel"),
            &json!({"reason": "too late"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["errorCode"], "INVALID_STATE_TRANSITION");
    assert!(
        refused["message"].as_str().unwrap().contains("completed"),
        "the run's real status: {refused}"
    );
    let status = client
        .wait_for_status(&run_id, WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    let events = poll_until(client, &format!("/runs/{run_id}/events?limit=200"), |e| {
        e.as_array()
            .is_some_and(|e| e.iter().any(|e| e["type"] == "run.completed"))
    })
    .await;
    assert!(
        !events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "run.cancelled"),
        "no cancel recorded after the decision"
    );
}
