//! The six runtime modes as scripts: who sends what, and what the
//! control plane derives from each message. `tests/modes.rs` checks the
//! derived events; the console conformance test plays the same runs.

#![allow(dead_code)]

use macp_control_plane::api_client::Client;
use serde_json::{json, Value};

pub struct Step {
    pub from: &'static str,
    pub message_type: &'static str,
    pub payload: Value,
    /// The derived canonical event and its subject `(kind, id)`.
    pub derived: (&'static str, &'static str, &'static str),
}

pub fn step(
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

pub struct Case {
    pub mode: &'static str,
    pub participants: &'static [&'static str],
    pub initiator: &'static str,
    pub steps: Vec<Step>,
    pub action: &'static str,
    pub positive: bool,
    /// The protobuf type mode payloads decode as (None: JSON payloads).
    pub payload_type: Option<&'static str>,
}

pub const CREATED: &str = "proposal.created";
pub const UPDATED: &str = "proposal.updated";
pub const PROGRESS: &str = "progress.reported";

pub fn decision(positive: bool) -> Case {
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

pub fn proposal(positive: bool) -> Case {
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

pub fn task(positive: bool) -> Case {
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

pub fn handoff(positive: bool) -> Case {
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

pub fn quorum(positive: bool) -> Case {
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

pub fn multi_round(positive: bool) -> Case {
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

/// The case's `ExecutionRequest`: a sandbox session of its mode.
pub fn request(case: &Case) -> Value {
    let participants: Vec<Value> = case.participants.iter().map(|p| json!({"id": p})).collect();
    json!({
        "mode": "sandbox", "runtime": {"kind": "rust"},
        "session": {"modeName": case.mode, "modeVersion": "1.0.0",
                    "configurationVersion": "config.default", "ttlMs": 60000,
                    "initiatorParticipantId": case.initiator, "participants": participants}
    })
}

/// Submits the case's run and waits until its session is open.
pub async fn start(client: &Client, case: &Case) -> String {
    super::running(client, &request(case)).await
}

/// Sends every step, then the initiator's Commitment (`c-1`).
pub async fn play(client: &Client, run_id: &str, case: &Case) {
    for step in &case.steps {
        client
            .send(run_id, step.from, step.message_type, step.payload.clone())
            .await
            .unwrap();
    }
    let commitment = json!({
        "commitmentId": "c-1", "action": case.action, "authorityScope": "test", "reason": "done",
        "modeVersion": "1.0.0", "configurationVersion": "config.default",
        "policyVersion": "policy.default", "outcomePositive": case.positive
    });
    client
        .send(run_id, case.initiator, "Commitment", commitment)
        .await
        .unwrap();
}

/// Every mode's cases, positive and negative.
pub fn all_cases() -> Vec<Case> {
    [true, false]
        .into_iter()
        .flat_map(|positive| {
            [
                decision(positive),
                proposal(positive),
                task(positive),
                handoff(positive),
                quorum(positive),
                multi_round(positive),
            ]
        })
        .collect()
}
