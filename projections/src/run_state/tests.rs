//! The run-state fold, driven by events that the real aggregate decided.

use super::*;
use aggregates::canonical::DerivedEvent;
use aggregates::{decide, RawEnvelope, RunCommand, RunState, Subject};
use serde_json::json;

const T: Timestamp = Timestamp::from_unix_ms(1_700_000_000_000);

fn run_id() -> Uuid {
    Uuid::parse_str("0190f5a4-0000-7000-8000-000000000002").unwrap()
}

struct Run {
    state: RunState,
    log: Vec<RunEvent>,
}

impl Run {
    fn new() -> Self {
        let mut run = Run {
            state: RunState::default(),
            log: vec![],
        };
        let request = serde_json::from_value(json!({
            "mode": "live", "runtime": {"kind": "rust"},
            "session": {"modeName": "macp.mode.decision.v1", "modeVersion": "1.0.0",
                        "configurationVersion": "c1", "ttlMs": 1000,
                        "participants": [{"id": "alpha", "role": "critic"}, {"id": "beta"},
                                         {"id": "lead"}]}
        }))
        .unwrap();
        run.run(RunCommand::RequestRun {
            run_id: run_id(),
            request: Box::new(request),
            trace_id: "trace-9".into(),
            observed: false,
            at: T,
        });
        run.run(RunCommand::StartRun { at: T });
        run.run(RunCommand::BindSession {
            session_id: run_id().to_string(),
            initiator: "lead".into(),
            runtime_kind: "rust".into(),
            at: T,
        });
        run.run(RunCommand::OpenStream {
            after_ordinal: 0,
            reconnect: false,
            at: T,
        });
        run
    }

    fn run(&mut self, command: RunCommand) {
        for event in decide(&self.state, &command).unwrap() {
            self.state.apply(&event);
            self.log.push(event);
        }
    }

    fn envelope(
        &mut self,
        sender: &str,
        message_type: &str,
        kind: &str,
        subject: Subject,
        payload: Value,
    ) {
        let ordinal = self.state.last_ordinal + 1;
        let data = json!({"messageType": message_type, "sender": sender,
                          "messageId": format!("m{ordinal}"), "decodedPayload": payload});
        self.run(RunCommand::RecordEnvelope {
            ordinal,
            envelope: RawEnvelope {
                macp_version: "1.0".into(),
                mode: "macp.mode.decision.v1".into(),
                message_type: message_type.into(),
                message_id: format!("m{ordinal}"),
                session_id: run_id().to_string(),
                sender: sender.into(),
                timestamp_unix_ms: 0,
                payload_base64: String::new(),
            },
            derived: vec![
                DerivedEvent::new(types::MESSAGE_RECEIVED, None, data.clone()),
                DerivedEvent::new(kind, Some(subject), data),
            ],
            received_at: T,
        });
    }
}

fn decided_run() -> Run {
    let mut run = Run::new();
    let p1 = Subject::new("proposal", "p1");
    run.envelope(
        "alpha",
        "Proposal",
        types::PROPOSAL_CREATED,
        p1.clone(),
        json!({"proposalId": "p1", "option": "ship it", "rationale": "tests pass"}),
    );
    run.envelope(
        "beta",
        "Evaluation",
        types::PROPOSAL_UPDATED,
        p1.clone(),
        json!({"proposalId": "p1", "recommendation": "APPROVE", "confidence": 0.9}),
    );
    run.envelope(
        "beta",
        "Vote",
        types::PROPOSAL_UPDATED,
        p1,
        json!({"proposalId": "p1", "vote": "approve"}),
    );
    run.envelope(
        "lead",
        "Commitment",
        types::DECISION_FINALIZED,
        Subject::new("decision", "c1"),
        json!({"commitmentId": "c1", "action": "ship it", "outcomePositive": true}),
    );
    run.run(RunCommand::CompleteRun {
        session_state: "RESOLVED".into(),
        at: T,
        receipt: None,
    });
    run
}

#[test]
fn a_decision_run_folds_into_the_ui_view() {
    let run = decided_run();
    let view = RunStateView::fold(&run.log);
    assert_eq!(view.run.status, Some(RunStatus::Completed));
    let decision = view.decision.current.as_ref().unwrap();
    assert!(decision.finalized);
    assert_eq!(decision.action, "ship it");
    assert_eq!(decision.outcome_positive, Some(true));
    assert_eq!(decision.resolved_by.as_deref(), Some("lead"));
    assert_eq!(decision.proposals.len(), 3);
    assert_eq!(decision.proposals[2].vote.as_deref(), Some("allow"));
    let alpha = &view.participants[0];
    assert_eq!(
        (alpha.participant_id.as_str(), alpha.role.as_deref()),
        ("alpha", Some("critic"))
    );
    assert_eq!(alpha.status, ParticipantStatus::Completed);
    assert_eq!(view.timeline.latest_seq, run.state.last_seq);
    assert_eq!(view.policy.policy_version, "policy.default");
}

#[test]
fn a_finalized_decision_stays_finalized() {
    let mut run = decided_run();
    let before = RunStateView::fold(&run.log).decision;
    run.envelope(
        "alpha",
        "Proposal",
        types::PROPOSAL_CREATED,
        Subject::new("proposal", "p2"),
        json!({"proposalId": "p2", "option": "roll back"}),
    );
    assert_eq!(RunStateView::fold(&run.log).decision, before);
}

#[test]
fn participants_that_never_spoke_are_skipped_at_the_end() {
    let mut run = Run::new();
    run.run(RunCommand::FailRun {
        error_code: "E".into(),
        error_message: "x".into(),
        at: T,
    });
    let view = RunStateView::fold(&run.log);
    assert!(view
        .participants
        .iter()
        .all(|p| p.status == ParticipantStatus::Skipped));
}

#[test]
fn refolding_events_already_seen_changes_nothing() {
    let run = decided_run();
    let once = RunStateView::fold(&run.log);
    let twice = RunStateView::fold(run.log.iter().chain(run.log.iter()));
    assert_eq!(
        serde_json::to_vec(&once).unwrap(),
        serde_json::to_vec(&twice).unwrap()
    );
}

#[test]
fn every_top_level_key_is_always_present() {
    let json = serde_json::to_value(RunStateView::default()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
            "run",
            "participants",
            "graph",
            "decision",
            "signals",
            "progress",
            "timeline",
            "trace",
            "outboundMessages",
            "policy",
            "llm"
        ]
    );
}

#[test]
fn binding_and_opening_the_stream_make_the_run_running() {
    let run = Run::new();
    let view = RunStateView::fold(&run.log);
    assert_eq!(view.run.status, Some(RunStatus::Running));
    assert_eq!(view.run.runtime_session_id, Some(run_id().to_string()));
    let summary = crate::RunSummary::fold(&run.log);
    assert_eq!(summary.status, Some(RunStatus::Running));
    assert!(summary.started_at.is_some());
}
