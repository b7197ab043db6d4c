//! The demo: a real decision-mode run through a running control plane.
//!
//! It submits an `ExecutionRequest` (a coordinator proposes, two
//! specialists weigh in), then plays the agents through
//! `POST /runs/:id/messages`: two Evaluations, a Vote, and the
//! coordinator's Commitment; and reports the run's final status and
//! decision. The black-box tests drive the same flow.

use crate::api_client::{is_terminal, Client};
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const MODE: &str = "macp.mode.decision.v1";
const COORDINATOR: &str = "coordinator";
const RISK: &str = "risk-analyst";
const SECURITY: &str = "security-reviewer";

/// The decision-mode request the demo submits.
pub fn decision_request() -> Value {
    json!({
        "mode": "live",
        "runtime": {"kind": "rust"},
        "session": {
            "modeName": MODE,
            "modeVersion": "1.0.0",
            "configurationVersion": "config.default",
            "ttlMs": 120000,
            "initiatorParticipantId": COORDINATOR,
            "participants": [
                {"id": COORDINATOR, "role": "coordinator"},
                {"id": RISK, "role": "specialist"},
                {"id": SECURITY, "role": "specialist"}
            ],
            "metadata": {"intent": "decide whether to ship release 2.1", "source": "demo",
                         "sourceRef": "examples/decision"}
        },
        "kickoff": [{
            "from": COORDINATOR, "to": [RISK, SECURITY], "kind": "proposal",
            "messageType": "Proposal",
            "payload": {"proposalId": "p-1", "option": "ship release 2.1 today",
                        "rationale": "all checks are green"}
        }],
        "execution": {"tags": ["demo"], "requester": {"actorId": "demo", "actorType": "user"}}
    })
}

/// What the demo saw at the end.
#[derive(Debug)]
pub struct DemoOutcome {
    pub run_id: String,
    pub status: String,
    pub state: Value,
    pub events: Vec<Value>,
}

pub async fn run(base_url: &str) -> anyhow::Result<DemoOutcome> {
    let client = Client::new(base_url);
    let (status, created) = client
        .post("/runs", &decision_request())
        .await
        .context("POST /runs")?;
    if status != 202 {
        bail!("POST /runs answered {status}: {created}");
    }
    let run_id = created["runId"].as_str().unwrap_or_default().to_string();
    println!(
        "run {run_id} queued (trace {})",
        created["traceId"].as_str().unwrap_or_default()
    );
    client
        .wait_for_status(&run_id, Duration::from_secs(30), |s| {
            s == "running" || is_terminal(s)
        })
        .await?;
    println!("session bound; the specialists evaluate");

    client
        .send(
            &run_id,
            RISK,
            "Evaluation",
            json!({"proposalId": "p-1", "recommendation": "APPROVE",
              "confidence": 0.87, "reason": "rollback plan is tested"}),
        )
        .await?;
    client
        .send(
            &run_id,
            SECURITY,
            "Evaluation",
            json!({"proposalId": "p-1", "recommendation": "APPROVE",
              "confidence": 0.74, "reason": "no open critical findings"}),
        )
        .await?;
    client
        .send(
            &run_id,
            RISK,
            "Vote",
            json!({"proposalId": "p-1", "vote": "APPROVE", "reason": "go"}),
        )
        .await?;
    println!("the coordinator commits");
    client
        .send(
            &run_id,
            COORDINATOR,
            "Commitment",
            json!({
            "commitmentId": "c-1", "action": "ship release 2.1 today",
            "authorityScope": "release", "reason": "both specialists approve",
            "modeVersion": "1.0.0", "policyVersion": "policy.default",
            "configurationVersion": "config.default", "outcomePositive": true}),
        )
        .await?;

    let status = client
        .wait_for_status(&run_id, Duration::from_secs(30), is_terminal)
        .await?;
    // Read models follow the log; give them the moment to fold the end.
    let started = Instant::now();
    let (state, events) = loop {
        let (_, state) = client.get(&format!("/runs/{run_id}/state")).await?;
        let (_, events) = client
            .get(&format!("/runs/{run_id}/events?limit=1000"))
            .await?;
        let events = events.as_array().cloned().unwrap_or_default();
        let folded = state["run"]["status"].as_str().is_some_and(is_terminal);
        let indexed = events.last().is_some_and(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("run.") && t != "run.started" && t != "run.created")
        });
        if (folded && indexed) || started.elapsed() > Duration::from_secs(10) {
            break (state, events);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("run {run_id} {status}");
    println!(
        "decision: {}",
        serde_json::to_string_pretty(&state["decision"])?
    );
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    println!("events: {}", types.join(" → "));
    Ok(DemoOutcome {
        run_id,
        status,
        state,
        events,
    })
}
