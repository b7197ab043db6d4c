//! Every runtime mode driven to its Commitment through the control plane,
//! with a positive and a negative outcome, against the real runtime. Each
//! case asserts the canonical events the contract derives, their subjects
//! and their decoded payloads.

mod support;

use macp_control_plane::demo::is_terminal;
use serde_json::{json, Value};
use std::time::Duration;
use support::{Engine, TestDb};

struct Step {
    from: &'static str,
    message_type: &'static str,
    payload: Value,
    /// The derived canonical event and its subject `(kind, id)`.
    derived: (&'static str, &'static str, &'static str),
}

fn step(
    from: &'static str,
    message_type: &'static str,
    payload: Value,
    derived: (&'static str, &'static str, &'static str),
) -> Step {
    Step {
        from,
        message_type,
        payload,
        derived,
    }
}

struct Case {
    mode: &'static str,
    participants: &'static [&'static str],
    initiator: &'static str,
    steps: Vec<Step>,
    action: &'static str,
    positive: bool,
    /// The protobuf type mode payloads decode as (None: JSON payloads).
    payload_type: Option<&'static str>,
}

async fn drive(case: Case) {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let participants: Vec<Value> = case.participants.iter().map(|p| json!({"id": p})).collect();
    let request = json!({
        "mode": "sandbox", "runtime": {"kind": "rust"},
        "session": {"modeName": case.mode, "modeVersion": "1.0.0",
                    "configurationVersion": "config.default", "ttlMs": 60000,
                    "initiatorParticipantId": case.initiator, "participants": participants}
    });
    let (status, created) = client.post("/runs", &request).await.unwrap();
    assert_eq!(status, 202, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    client
        .wait_for_status(&run_id, Duration::from_secs(30), |s| s == "running")
        .await
        .unwrap();

    for step in &case.steps {
        client
            .send(&run_id, step.from, step.message_type, step.payload.clone())
            .await
            .unwrap();
    }
    let commitment = json!({
        "commitmentId": "c-1", "action": case.action, "authorityScope": "test", "reason": "done",
        "modeVersion": "1.0.0", "configurationVersion": "config.default",
        "policyVersion": "policy.default", "outcomePositive": case.positive
    });
    client
        .send(&run_id, case.initiator, "Commitment", commitment)
        .await
        .unwrap();
    let status = client
        .wait_for_status(&run_id, Duration::from_secs(30), is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed", "{} {}", case.mode, case.action);

    let events = wait_for_type(client, &run_id, "run.completed").await;
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

async fn wait_for_type(
    client: &macp_control_plane::demo::Client,
    run_id: &str,
    event_type: &str,
) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let (_, events) = client
            .get(&format!("/runs/{run_id}/events?limit=1000"))
            .await
            .unwrap();
        let events = events.as_array().cloned().unwrap_or_default();
        if events.iter().any(|e| e["type"] == event_type) {
            return events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {event_type}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const CREATED: &str = "proposal.created";
const UPDATED: &str = "proposal.updated";
const PROGRESS: &str = "progress.reported";

fn decision(positive: bool) -> Case {
    let vote = if positive { "APPROVE" } else { "REJECT" };
    Case {
        mode: "macp.mode.decision.v1",
        participants: &["orch", "analyst"],
        initiator: "orch",
        steps: vec![
            step(
                "analyst",
                "Proposal",
                json!({"proposalId": "p1", "option": "deploy", "rationale": "green"}),
                (CREATED, "proposal", "p1"),
            ),
            step(
                "analyst",
                "Evaluation",
                json!({"proposalId": "p1", "recommendation": "APPROVE", "confidence": 0.9}),
                (UPDATED, "proposal", "p1"),
            ),
            step(
                "orch",
                "Objection",
                json!({"proposalId": "p1", "reason": "cost", "severity": "low"}),
                (UPDATED, "proposal", "p1"),
            ),
            step(
                "analyst",
                "Vote",
                json!({"proposalId": "p1", "vote": vote}),
                (UPDATED, "proposal", "p1"),
            ),
        ],
        action: if positive {
            "decision.selected"
        } else {
            "decision.rejected"
        },
        positive,
        payload_type: Some("macp.modes.decision.v1"),
    }
}

fn proposal(positive: bool) -> Case {
    let mut steps = vec![step(
        "seller",
        "Proposal",
        json!({"proposalId": "p1", "title": "offer"}),
        (CREATED, "proposal", "p1"),
    )];
    if positive {
        steps.push(step(
            "seller",
            "Accept",
            json!({"proposalId": "p1"}),
            (UPDATED, "proposal", "p1"),
        ));
        steps.push(step(
            "buyer",
            "Accept",
            json!({"proposalId": "p1", "reason": "fair"}),
            (UPDATED, "proposal", "p1"),
        ));
    } else {
        steps.push(step(
            "buyer",
            "Reject",
            json!({"proposalId": "p1", "terminal": true, "reason": "no"}),
            (UPDATED, "proposal", "p1"),
        ));
    }
    Case {
        mode: "macp.mode.proposal.v1",
        participants: &["buyer", "seller"],
        initiator: "buyer",
        steps,
        action: if positive {
            "proposal.accepted"
        } else {
            "proposal.rejected"
        },
        positive,
        payload_type: Some("macp.modes.proposal.v1"),
    }
}

fn task(positive: bool) -> Case {
    let request = step(
        "planner",
        "TaskRequest",
        json!({"taskId": "t1", "title": "index", "requestedAssignee": "worker"}),
        (CREATED, "proposal", "t1"),
    );
    let steps = if positive {
        vec![
            request,
            step(
                "worker",
                "TaskAccept",
                json!({"taskId": "t1", "assignee": "worker"}),
                (UPDATED, "proposal", "t1"),
            ),
            step(
                "worker",
                "TaskUpdate",
                json!({"taskId": "t1", "status": "running", "progress": 0.5, "message": "half"}),
                (PROGRESS, "message", "*"),
            ),
            step(
                "worker",
                "TaskComplete",
                json!({"taskId": "t1", "assignee": "worker", "output": "b2s=", "summary": "ok"}),
                (PROGRESS, "message", "*"),
            ),
        ]
    } else {
        vec![
            request,
            step(
                "worker",
                "TaskReject",
                json!({"taskId": "t1", "reason": "busy"}),
                (UPDATED, "proposal", "t1"),
            ),
        ]
    };
    Case {
        mode: "macp.mode.task.v1",
        participants: &["planner", "worker"],
        initiator: "planner",
        steps,
        action: if positive {
            "task.completed"
        } else {
            "task.failed"
        },
        positive,
        payload_type: Some("macp.modes.task.v1"),
    }
}

fn handoff(positive: bool) -> Case {
    let mut steps = vec![
        step(
            "owner",
            "HandoffOffer",
            json!({"handoffId": "h1", "targetParticipant": "target", "scope": "billing"}),
            (CREATED, "proposal", "h1"),
        ),
        step(
            "owner",
            "HandoffContext",
            json!({"handoffId": "h1", "contentType": "text/plain", "context": "aGk="}),
            (UPDATED, "proposal", "h1"),
        ),
    ];
    steps.push(if positive {
        step(
            "target",
            "HandoffAccept",
            json!({"handoffId": "h1", "acceptedBy": "target"}),
            (UPDATED, "proposal", "h1"),
        )
    } else {
        step(
            "target",
            "HandoffDecline",
            json!({"handoffId": "h1", "declinedBy": "target", "reason": "full"}),
            (UPDATED, "proposal", "h1"),
        )
    });
    Case {
        mode: "macp.mode.handoff.v1",
        participants: &["owner", "target"],
        initiator: "owner",
        steps,
        action: if positive {
            "handoff.accepted"
        } else {
            "handoff.declined"
        },
        positive,
        payload_type: Some("macp.modes.handoff.v1"),
    }
}

fn quorum(positive: bool) -> Case {
    let required = if positive { 1 } else { 2 };
    let ballot = if positive {
        step(
            "alice",
            "Approve",
            json!({"requestId": "r1", "reason": "ok"}),
            (UPDATED, "proposal", "r1"),
        )
    } else {
        step(
            "alice",
            "Reject",
            json!({"requestId": "r1", "reason": "risky"}),
            (UPDATED, "proposal", "r1"),
        )
    };
    Case {
        mode: "macp.mode.quorum.v1",
        participants: &["alice", "bob"],
        initiator: "coord",
        steps: vec![
            step(
                "coord",
                "ApprovalRequest",
                json!({"requestId": "r1", "action": "deploy", "requiredApprovals": required}),
                (CREATED, "proposal", "r1"),
            ),
            ballot,
        ],
        action: if positive {
            "quorum.approved"
        } else {
            "quorum.rejected"
        },
        positive,
        payload_type: Some("macp.modes.quorum.v1"),
    }
}

fn multi_round(positive: bool) -> Case {
    Case {
        mode: "ext.multi_round.v1",
        participants: &["alice", "bob"],
        initiator: "coord",
        steps: vec![
            step(
                "alice",
                "Contribute",
                json!({"value": "option_a"}),
                (UPDATED, "message", "*"),
            ),
            step(
                "bob",
                "Contribute",
                json!({"value": "option_a"}),
                (UPDATED, "message", "*"),
            ),
        ],
        action: if positive {
            "multi_round.converged"
        } else {
            "multi_round.rejected"
        },
        positive,
        payload_type: None,
    }
}

#[tokio::test]
async fn decision_mode_positive() {
    drive(decision(true)).await
}
#[tokio::test]
async fn decision_mode_negative() {
    drive(decision(false)).await
}
#[tokio::test]
async fn proposal_mode_positive() {
    drive(proposal(true)).await
}
#[tokio::test]
async fn proposal_mode_negative() {
    drive(proposal(false)).await
}
#[tokio::test]
async fn task_mode_positive() {
    drive(task(true)).await
}
#[tokio::test]
async fn task_mode_negative() {
    drive(task(false)).await
}
#[tokio::test]
async fn handoff_mode_positive() {
    drive(handoff(true)).await
}
#[tokio::test]
async fn handoff_mode_negative() {
    drive(handoff(false)).await
}
#[tokio::test]
async fn quorum_mode_positive() {
    drive(quorum(true)).await
}
#[tokio::test]
async fn quorum_mode_negative() {
    drive(quorum(false)).await
}
#[tokio::test]
async fn multi_round_mode_positive() {
    drive(multi_round(true)).await
}
#[tokio::test]
async fn multi_round_mode_negative() {
    drive(multi_round(false)).await
}
