//! Lossless resume: whatever drops (the gRPC stream, the control plane
//! process), every envelope the runtime accepted is recorded exactly once,
//! in order. Checked against the runtime's own replay of the session.

use crate::support;

use macp_control_plane::api_client::{is_terminal, Client};
use macp_control_plane::demo::decision_request;
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use macp_control_plane::service::Service;
use macp_control_plane::store::chain_report;
use serde_json::json;
use std::time::Duration;
use support::process::{free_port, ControlPlane};
use support::runtime_peer::{
    assert_recorded_exactly_once, both_contribute, contribute_rounds, converged_commitment,
    direct_client, multi_round_request, send_direct, start_session_directly, FaultProxy,
    MULTI_ROUND,
};
use support::{running_within, Engine, TestDb, PROCESS_WAIT};

const DECISION: &str = "macp.mode.decision.v1";

#[tokio::test]
async fn a_dropped_stream_resumes_after_the_last_recorded_envelope() {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let proxy = FaultProxy::start(runtime.address).await;
    let db = TestDb::new(Engine::Sqlite).await;
    let config = db.config_with_runtime(proxy.address);
    let service = Service::start(&config).await.unwrap();
    let client = Client::new(&format!("http://{}", service.address));

    let run_id = running_within(&client, &decision_request(), PROCESS_WAIT).await;
    client
        .send(
            &run_id,
            "risk-analyst",
            "Evaluation",
            json!({"proposalId": "p-1", "recommendation": "APPROVE", "confidence": 0.8}),
        )
        .await
        .unwrap();

    assert!(
        proxy.sever() > 0,
        "the control plane's connections were cut"
    );
    // Accepted while the control plane's stream is down.
    let direct = direct_client(runtime.address);
    send_direct(
        &direct,
        &run_id,
        DECISION,
        "security-reviewer",
        "Evaluation",
        json!({"proposalId": "p-1", "recommendation": "APPROVE", "confidence": 0.6}),
    )
    .await;
    send_direct(
        &direct,
        &run_id,
        DECISION,
        "risk-analyst",
        "Vote",
        json!({"proposalId": "p-1", "vote": "APPROVE"}),
    )
    .await;
    let commitment = json!({"commitmentId": "c-1", "action": "decision.selected", "authorityScope": "t",
        "reason": "r", "modeVersion": "1.0.0", "configurationVersion": "config.default",
        "policyVersion": "policy.default", "outcomePositive": true});
    send_direct(
        &direct,
        &run_id,
        DECISION,
        "coordinator",
        "Commitment",
        commitment,
    )
    .await;

    let status = client
        .wait_for_status(&run_id, PROCESS_WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    let (_, events) = client
        .get(&format!("/runs/{run_id}/events?limit=1000"))
        .await
        .unwrap();
    let reconnects = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "session.stream.opened" && e["data"]["status"] == "reconnecting")
        .count();
    assert!(
        reconnects >= 1,
        "the re-subscription is on record: {events}"
    );
    let store = db.store().await;
    let count =
        assert_recorded_exactly_once(&direct, &store, run_id.parse().unwrap(), "coordinator").await;
    assert_eq!(
        count, 6,
        "SessionStart, Proposal, 2 Evaluations, Vote, Commitment"
    );
}

#[tokio::test]
async fn a_killed_control_plane_resumes_its_runs_losing_and_doubling_nothing() {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let runtime_address = runtime.address.to_string();
    let db = TestDb::new(Engine::Sqlite).await;
    let port = free_port();
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let direct = direct_client(runtime.address);

    let mut control_plane = ControlPlane::start(&db, port, &runtime_address).await;
    let request = multi_round_request(120_000);
    let run_id = running_within(&client, &request, PROCESS_WAIT).await;

    // Two kills, each in the middle of a burst of contributions (alice and
    // bob never agree, so the session stays open), each followed by a restart.
    for kill in 0..2 {
        let burst = {
            let (direct, run_id) = (direct.clone(), run_id.clone());
            tokio::spawn(
                async move { contribute_rounds(&direct, &run_id, &kill.to_string(), 40).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(60 + 40 * kill)).await;
        control_plane.kill();
        burst.await.unwrap();
        control_plane = ControlPlane::start(&db, port, &runtime_address).await;
    }

    both_contribute(&direct, &run_id, "agreed").await;
    let commitment = converged_commitment("c-1");
    client
        .send(&run_id, "coord", "Commitment", commitment)
        .await
        .unwrap();
    let status = client
        .wait_for_status(&run_id, PROCESS_WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed");
    drop(control_plane);

    let store = db.store().await;
    let count =
        assert_recorded_exactly_once(&direct, &store, run_id.parse().unwrap(), "coord").await;
    assert_eq!(
        count,
        1 + 2 * 40 * 2 + 2 + 1,
        "SessionStart, 160 contributions, 2 agreeing, the Commitment"
    );
    // Each restarted process continued the run's hash chain from the log.
    let chain = chain_report(&store.chain_rows(run_id.parse().unwrap()).await.unwrap());
    assert!(chain.intact, "{chain:?}");
}

#[tokio::test]
async fn discovery_follows_a_session_the_control_plane_did_not_start() {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config_with_runtime(runtime.address);
    config.discover_sessions = true;
    let service = Service::start(&config).await.unwrap();
    let client = Client::new(&format!("http://{}", service.address));

    // Someone else starts a session on the runtime.
    let direct = direct_client(runtime.address);
    let session_id = uuid::Uuid::new_v4().to_string();
    start_session_directly(&direct, &session_id, MULTI_ROUND, "outside job").await;
    both_contribute(&direct, &session_id, "same").await;
    let status = client
        .wait_for_status(&session_id, PROCESS_WAIT, |s| s == "running")
        .await
        .unwrap();
    assert_eq!(
        status, "running",
        "the session became a run with its own id"
    );
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
    assert_eq!(
        client
            .wait_for_status(&session_id, PROCESS_WAIT, is_terminal)
            .await
            .unwrap(),
        "completed"
    );

    let (_, run) = client.get(&format!("/runs/{session_id}")).await.unwrap();
    assert_eq!(run["source"]["kind"], "discovered");
    let store = db.store().await;
    let count =
        assert_recorded_exactly_once(&direct, &store, session_id.parse().unwrap(), "coord").await;
    assert_eq!(count, 4);
    let (_, sent) = client
        .get(&format!("/runs/{session_id}/messages"))
        .await
        .unwrap();
    assert_eq!(sent, json!([]), "an observed run sends nothing");
}
