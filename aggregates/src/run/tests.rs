//! Given / when / then tests of the run aggregate, in cqrs-es's
//! `TestFramework`: given the events of a history, when a command is
//! handled (our `decide`), then these events or this error.

use super::*;
use crate::canonical::{DerivedEvent, Subject};
use crate::command::{MessageOutcome, OutboundMessage, RunCommand};
use crate::error::DomainError;
use crate::event::RawEnvelope;
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use serde_json::json;

const T: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

fn run_id() -> Uuid {
    Uuid::parse_str("0190f5a4-0000-7000-8000-000000000001").unwrap()
}

fn request() -> Box<ExecutionRequest> {
    Box::new(
        serde_json::from_value(json!({
            "mode": "live",
            "runtime": {"kind": "rust"},
            "session": {"modeName": "macp.mode.decision.v1", "modeVersion": "1.0.0",
                        "configurationVersion": "c1", "ttlMs": 1000,
                        "participants": [{"id": "alpha", "role": "critic"}, {"id": "beta"}]},
        }))
        .unwrap(),
    )
}

/// The framework over `events`.
fn given(events: &[RunEvent]) -> AggregateTestExecutor<RunState> {
    TestFramework::<RunState>::with(()).given(events.to_vec())
}

/// The events a history of accepted commands leaves in the log, each
/// command handled by the framework on the events before it.
fn history(commands: &[RunCommand]) -> Vec<RunEvent> {
    let mut log = Vec::new();
    for command in commands {
        let events = given(&log)
            .when(command.clone())
            .inspect_result()
            .expect("the history's commands are accepted");
        log.extend(events);
    }
    log
}

/// The events `command` yields after `history`.
fn accepted(history: &[RunEvent], command: RunCommand) -> Vec<RunEvent> {
    given(history)
        .when(command)
        .inspect_result()
        .expect("the command is accepted")
}

fn request_run() -> RunCommand {
    RunCommand::RequestRun {
        run_id: run_id(),
        request: request(),
        trace_id: "trace-1".into(),
        observed: false,
        at: T,
    }
}

fn bound_run() -> Vec<RunCommand> {
    vec![
        request_run(),
        RunCommand::StartRun { at: T },
        RunCommand::BindSession {
            session_id: run_id().to_string(),
            initiator: "alpha".into(),
            runtime_kind: "rust".into(),
            at: T,
        },
        RunCommand::OpenStream {
            after_ordinal: 0,
            reconnect: false,
            at: T,
        },
    ]
}

fn envelope(ordinal: u64, sender: &str) -> RunCommand {
    RunCommand::RecordEnvelope {
        ordinal,
        envelope: RawEnvelope {
            macp_version: "1.0".into(),
            mode: "macp.mode.decision.v1".into(),
            message_type: "Evaluation".into(),
            message_id: format!("m{ordinal}"),
            session_id: run_id().to_string(),
            sender: sender.into(),
            timestamp_unix_ms: 1,
            payload_base64: String::new(),
        },
        derived: vec![DerivedEvent::new(
            types::MESSAGE_RECEIVED,
            None,
            json!({"messageId": format!("m{ordinal}")}),
        )],
        received_at: T,
    }
}

fn canonical_types(events: &[RunEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(RunEvent::canonical)
        .map(|e| e.event_type.as_str())
        .collect()
}

#[test]
fn a_run_is_requested_once() {
    let events = accepted(&[], request_run());
    assert_eq!(RunState::fold(&events).status, Some(RunStatus::Queued));
    assert_eq!(canonical_types(&events), vec!["run.created"]);
    given(&events)
        .when(request_run())
        .then_expect_error(DomainError::RunAlreadyExists);
}

#[test]
fn commands_on_a_missing_run_are_refused() {
    TestFramework::<RunState>::with(())
        .given_no_previous_events()
        .when(RunCommand::StartRun { at: T })
        .then_expect_error(DomainError::RunNotFound);
}

#[test]
fn binding_sees_every_declared_participant_and_the_stream_makes_it_running() {
    let events = history(&bound_run());
    assert_eq!(RunState::fold(&events).status, Some(RunStatus::Running));
    assert_eq!(
        canonical_types(&events),
        vec![
            "run.created",
            "run.started",
            "session.bound",
            "participant.seen",
            "participant.seen",
            "session.stream.opened",
            "artifact.created"
        ]
    );
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(RunEvent::canonical)
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 4, 5, 6, 7],
        "seq is gap-free across decisions"
    );
}

#[test]
fn an_envelope_is_recorded_exactly_once_and_in_order() {
    let mut commands = bound_run();
    commands.push(envelope(1, "alpha"));
    let events = history(&commands);
    assert_eq!(RunState::fold(&events).last_ordinal, 1);
    given(&events)
        .when(envelope(1, "alpha"))
        .then_expect_error(DomainError::EnvelopeAlreadyRecorded { ordinal: 1 });
    given(&events)
        .when(envelope(3, "alpha"))
        .then_expect_error(DomainError::EnvelopeOrdinalGap {
            expected: 2,
            got: 3,
        });
}

#[test]
fn an_undeclared_sender_is_seen_the_first_time_only() {
    let mut commands = bound_run();
    commands.push(envelope(1, "outsider"));
    let events = history(&commands);
    let types = canonical_types(&events);
    assert_eq!(
        &types[types.len() - 2..],
        ["participant.seen", "message.received"]
    );
    let again = accepted(&events, envelope(2, "outsider"));
    assert_eq!(canonical_types(&again), vec!["message.received"]);
}

#[test]
fn a_terminal_run_refuses_further_transitions() {
    let mut commands = bound_run();
    commands.push(RunCommand::CompleteRun {
        session_state: "RESOLVED".into(),
        at: T,
        receipt: None,
    });
    let events = history(&commands);
    assert_eq!(RunState::fold(&events).status, Some(RunStatus::Completed));
    assert_eq!(canonical_types(&events).last(), Some(&"run.completed"));
    given(&events)
        .when(RunCommand::FailRun {
            error_code: "X".into(),
            error_message: "late".into(),
            at: T,
        })
        .then_expect_error(DomainError::InvalidTransition {
            from: RunStatus::Completed,
            to: RunStatus::Failed,
        });
}

#[test]
fn a_decision_receipt_is_recorded_with_the_end_and_summed_up_on_it() {
    let receipt = crate::receipt::DecisionReceipt {
        receipt_json: Some(r#"{"receipt_format":"macp-receipt/1"}"#.into()),
        keys_json: Some(r#"{"keys":[]}"#.into()),
        unavailable: None,
        checks: crate::receipt::ReceiptChecks {
            issuer: Some("runtime:test".into()),
            commitment_matches: true,
            verdict: Some("integrity_only".into()),
            ..Default::default()
        },
    };
    let events = accepted(
        &history(&bound_run()),
        RunCommand::CompleteRun {
            session_state: "RESOLVED".into(),
            at: T,
            receipt: Some(Box::new(receipt.clone())),
        },
    );
    let recorded = events.iter().find_map(|event| match event {
        RunEvent::DecisionReceiptRecorded { receipt, .. } => Some(receipt),
        _ => None,
    });
    assert_eq!(recorded, Some(&receipt), "the bytes, as served");
    let completed = events
        .iter()
        .filter_map(RunEvent::canonical)
        .find(|event| event.event_type == "run.completed")
        .expect("run.completed");
    assert_eq!(
        completed.data["decisionReceipt"],
        json!({"present": true, "signed": false, "verified": true,
               "issuer": "runtime:test", "commitmentMatches": true,
               "verdict": "integrity_only", "problems": []})
    );
}

#[test]
fn suspend_and_resume_alternate() {
    let mut commands = bound_run();
    commands.push(RunCommand::SuspendRun {
        reason: None,
        at: T,
    });
    let events = history(&commands);
    assert_eq!(RunState::fold(&events).status, Some(RunStatus::Suspended));
    given(&events)
        .when(RunCommand::SuspendRun {
            reason: None,
            at: T,
        })
        .then_expect_error(DomainError::InvalidTransition {
            from: RunStatus::Suspended,
            to: RunStatus::Suspended,
        });
    let resumed = accepted(
        &events,
        RunCommand::ResumeRun {
            reason: None,
            at: T,
        },
    );
    assert_eq!(canonical_types(&resumed), vec!["run.resumed"]);
}

#[test]
fn a_refused_message_is_recorded_as_send_failed() {
    let mut commands = bound_run();
    commands.push(RunCommand::RecordOutboundMessage {
        message: OutboundMessage {
            message_id: "m-1".into(),
            from: "mallory".into(),
            to: vec![],
            message_type: "Vote".into(),
            kickoff: false,
            details: Default::default(),
            subject: None,
        },
        outcome: MessageOutcome::Refused {
            code: "FORBIDDEN".into(),
            message: "not a participant".into(),
        },
        derived: vec![DerivedEvent::new(types::SIGNAL_EMITTED, None, json!({}))],
        at: T,
    });
    let events = history(&commands);
    assert_eq!(
        RunState::fold(&events).status,
        Some(RunStatus::Running),
        "the run goes on"
    );
    let failed = events.last().and_then(RunEvent::canonical).unwrap();
    assert_eq!(failed.event_type, "message.send_failed");
    assert_eq!(failed.data["errorCode"], "FORBIDDEN");
    assert!(
        !canonical_types(&events).contains(&"signal.emitted"),
        "a refused message yields none of its derived events"
    );
}

#[test]
fn a_sent_message_carries_what_received_would_and_a_policy_refusal_is_denied() {
    let details = json!({"sender": "lead", "payload": {"commitmentId": "c-9"},
                         "decodedPayload": {"commitmentId": "c-9", "policyVersion": "p.q"},
                         "payloadTypeName": "macp.v1.CommitmentPayload"});
    let message = OutboundMessage {
        message_id: "m-2".into(),
        from: "lead".into(),
        to: vec![],
        message_type: "Commitment".into(),
        kickoff: false,
        details: details.as_object().cloned().unwrap(),
        subject: Some(Subject::new("decision", "c-9")),
    };
    let bound = history(&bound_run());
    let events = accepted(
        &bound,
        RunCommand::RecordOutboundMessage {
            message: message.clone(),
            outcome: MessageOutcome::Accepted,
            derived: vec![],
            at: T,
        },
    );
    let sent = events.last().and_then(RunEvent::canonical).unwrap();
    assert_eq!(sent.event_type, "message.sent");
    assert_eq!(sent.subject, Some(Subject::new("decision", "c-9")));
    assert_eq!(sent.data["sender"], "lead");
    assert_eq!(sent.data["decodedPayload"]["commitmentId"], "c-9");

    let events = accepted(
        &bound,
        RunCommand::RecordOutboundMessage {
            message,
            outcome: MessageOutcome::Refused {
                code: "POLICY_DENIED".into(),
                message: "quorum not reached".into(),
            },
            derived: vec![],
            at: T,
        },
    );
    let types = canonical_types(&events);
    assert_eq!(
        types[types.len() - 2..],
        ["message.send_failed", "policy.denied"]
    );
    let denied = events.last().and_then(RunEvent::canonical).unwrap();
    assert_eq!(denied.data["reasons"], json!(["quorum not reached"]));
    assert_eq!(denied.data["commitmentId"], "c-9");
}

#[test]
fn deciding_is_deterministic() {
    let bound = history(&bound_run());
    let first = accepted(&bound, envelope(1, "beta"));
    given(&bound)
        .when(envelope(1, "beta"))
        .then_expect_events(first);
}

#[test]
fn a_run_that_starts_running_gets_one_trace_artifact() {
    let events = history(&bound_run());
    let types = canonical_types(&events);
    assert_eq!(types.last(), Some(&"artifact.created"));
    assert!(RunState::fold(&events).trace_artifact_registered);
    let again = accepted(
        &events,
        RunCommand::OpenStream {
            after_ordinal: 3,
            reconnect: true,
            at: T,
        },
    );
    assert_eq!(canonical_types(&again), vec!["session.stream.opened"]);
}

#[test]
fn only_ended_runs_are_archived_or_deleted_and_deleted_runs_are_gone() {
    let running = history(&bound_run());
    let refused = given(&running)
        .when(RunCommand::DeleteRun { at: T })
        .inspect_result();
    assert!(
        matches!(refused, Err(DomainError::RunNotEnded { .. })),
        "{refused:?}"
    );
    let mut commands = bound_run();
    commands.push(RunCommand::CancelRun {
        reason: None,
        at: T,
    });
    commands.push(RunCommand::ArchiveRun { at: T });
    let archived = history(&commands);
    given(&archived)
        .when(RunCommand::ArchiveRun { at: T })
        .then_expect_error(DomainError::RunAlreadyArchived);
    commands.push(RunCommand::DeleteRun { at: T });
    let deleted = history(&commands);
    given(&deleted)
        .when(RunCommand::ArchiveRun { at: T })
        .then_expect_error(DomainError::RunNotFound);
}

/// The framework's `handle` is `decide` and its `apply` our fold: the
/// same history folds to the same state through either.
#[test]
fn the_framework_and_the_fold_agree() {
    let mut commands = bound_run();
    commands.push(envelope(1, "alpha"));
    let events = history(&commands);
    let mut through_framework = RunState::default();
    for event in events.clone() {
        <RunState as cqrs_es::Aggregate>::apply(&mut through_framework, event);
    }
    assert_eq!(through_framework, RunState::fold(&events));
}
