//! Property: every projection folds any valid event sequence to the same
//! bytes, however it is delivered: twice over, in chunks stored and loaded
//! between them (as the projector's batches are), and with events delivered
//! again (at-least-once delivery). The sequences come from random commands
//! decided by the real aggregate, so they are the sequences the log holds.

use aggregates::canonical::{types, DerivedEvent, Subject};
use aggregates::{
    decide, MessageOutcome, OutboundMessage, RawEnvelope, RunCommand, RunEvent, RunState, Timestamp,
};
use projections::{
    Projection, RunArtifacts, RunMetrics, RunStateView, RunSummary, RunTraces, SentMessages,
};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

const SENDERS: [&str; 4] = ["lead", "alpha", "beta", "stranger"];

/// One step a run can take, before it is turned into a command.
#[derive(Debug, Clone)]
enum Step {
    Envelope {
        sender: usize,
        kind: usize,
        proposal: u8,
        confidence: u8,
        tokens: u16,
    },
    Sent {
        sender: usize,
        refused: bool,
    },
    Artifact {
        label: u8,
    },
    Reconnect,
    Suspend,
    Resume,
    Complete,
    Fail,
    Cancel,
    Archive,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0..SENDERS.len(), 0..6usize, 0..3u8, 0..=100u8, 0..500u16).prop_map(
            |(sender, kind, proposal, confidence, tokens)| Step::Envelope {
                sender, kind, proposal, confidence, tokens
            }
        ),
        2 => (0..SENDERS.len(), any::<bool>()).prop_map(|(sender, refused)| Step::Sent { sender, refused }),
        1 => (0..4u8).prop_map(|label| Step::Artifact { label }),
        1 => Just(Step::Reconnect),
        1 => Just(Step::Suspend),
        1 => Just(Step::Resume),
        1 => Just(Step::Complete),
        1 => Just(Step::Fail),
        1 => Just(Step::Cancel),
        1 => Just(Step::Archive),
    ]
}

/// The message type, canonical kind and payload of an envelope step.
fn envelope_parts(
    kind: usize,
    proposal: u8,
    confidence: u8,
    tokens: u16,
) -> (&'static str, &'static str, Subject, serde_json::Value) {
    let proposal_id = format!("p{proposal}");
    let subject = Subject::new("proposal", proposal_id.clone());
    let confidence = f64::from(confidence) / 100.0;
    match kind {
        0 => (
            "Proposal",
            types::PROPOSAL_CREATED,
            subject,
            json!({"proposalId": proposal_id, "option": "go", "rationale": "r"}),
        ),
        1 => (
            "Evaluation",
            types::PROPOSAL_UPDATED,
            subject,
            json!({"proposalId": proposal_id, "recommendation": "APPROVE", "confidence": confidence}),
        ),
        2 => (
            "Vote",
            types::PROPOSAL_UPDATED,
            subject,
            json!({"proposalId": proposal_id, "vote": if proposal.is_multiple_of(2) { "approve" } else { "reject" }}),
        ),
        3 => (
            "Progress",
            types::PROGRESS_REPORTED,
            subject,
            json!({"percentage": confidence * 100.0, "message": "working",
                     "tokenUsage": {"promptTokens": tokens, "completionTokens": tokens / 2}}),
        ),
        4 => (
            "Signal",
            types::SIGNAL_EMITTED,
            Subject::new("signal", proposal_id),
            json!({"signalType": "alert", "severity": "high", "confidence": confidence}),
        ),
        _ => (
            "Commitment",
            types::DECISION_FINALIZED,
            Subject::new("decision", proposal_id.clone()),
            json!({"commitmentId": proposal_id, "action": "go", "outcomePositive": proposal.is_multiple_of(2)}),
        ),
    }
}

/// Decides the steps in order against the real aggregate; steps it
/// refuses (a transition the status does not allow) leave no event.
fn events_of(steps: &[Step]) -> Vec<RunEvent> {
    let run_id = Uuid::from_u128(0x0190_f5a4_0000_7000_8000_0000_0000_0007);
    let mut state = RunState::default();
    let mut log = Vec::new();
    let mut ms = 1_700_000_000_000i64;
    let mut at = || {
        ms += 37;
        Timestamp::from_unix_ms(ms)
    };
    let request = serde_json::from_value(json!({
        "mode": "live", "runtime": {"kind": "rust"},
        "session": {"modeName": "macp.mode.decision.v1", "modeVersion": "1.0.0",
                    "configurationVersion": "c1", "ttlMs": 1000, "initiatorParticipantId": "lead",
                    "participants": [{"id": "lead"}, {"id": "alpha", "role": "critic"}, {"id": "beta"}]},
        "execution": {"tags": ["prop"]}
    }))
    .expect("a valid request");
    let setup = [
        RunCommand::RequestRun {
            run_id,
            request: Box::new(request),
            trace_id: "t".into(),
            observed: false,
            at: at(),
        },
        RunCommand::StartRun { at: at() },
        RunCommand::BindSession {
            session_id: run_id.to_string(),
            initiator: "lead".into(),
            runtime_kind: "rust".into(),
            at: at(),
        },
        RunCommand::OpenStream {
            after_ordinal: 0,
            reconnect: false,
            at: at(),
        },
    ];
    for command in &setup {
        apply(&mut state, &mut log, command);
    }
    for (i, step) in steps.iter().enumerate() {
        let ordinal = state.last_ordinal;
        let command = match step {
            Step::Envelope {
                sender,
                kind,
                proposal,
                confidence,
                tokens,
            } => {
                let ordinal = ordinal + 1;
                let (message_type, kind, subject, payload) =
                    envelope_parts(*kind, *proposal, *confidence, *tokens);
                let sender = SENDERS[*sender];
                let data = json!({"modeName": "macp.mode.decision.v1", "messageType": message_type,
                                  "messageId": format!("m{ordinal}"), "sender": sender,
                                  "decodedPayload": payload});
                RunCommand::RecordEnvelope {
                    ordinal,
                    envelope: RawEnvelope {
                        macp_version: "1.0".into(),
                        mode: "macp.mode.decision.v1".into(),
                        message_type: message_type.into(),
                        message_id: format!("m{ordinal}"),
                        session_id: run_id.to_string(),
                        sender: sender.into(),
                        timestamp_unix_ms: 1_700_000_000_000 + i as i64,
                        payload_base64: String::new(),
                    },
                    derived: vec![
                        DerivedEvent::new(types::MESSAGE_RECEIVED, None, data.clone()),
                        DerivedEvent::new(kind, Some(subject), data),
                    ],
                    received_at: at(),
                }
            }
            Step::Sent { sender, refused } => RunCommand::RecordOutboundMessage {
                message: OutboundMessage {
                    message_id: format!("out-{i}"),
                    from: SENDERS[*sender].into(),
                    to: vec![],
                    message_type: "Evaluation".into(),
                    kickoff: false,
                    details: Default::default(),
                    subject: None,
                },
                outcome: if *refused {
                    MessageOutcome::Refused {
                        code: "FORBIDDEN".into(),
                        message: "no".into(),
                    }
                } else {
                    MessageOutcome::Accepted
                },
                derived: vec![],
                at: at(),
            },
            Step::Artifact { label } => RunCommand::RegisterArtifact {
                artifact_id: format!("a-{i}"),
                kind: "report".into(),
                label: format!("label {label}"),
                uri: None,
                inline: Some(json!({"n": label})),
                at: at(),
            },
            Step::Reconnect => RunCommand::OpenStream {
                after_ordinal: ordinal,
                reconnect: true,
                at: at(),
            },
            Step::Suspend => RunCommand::SuspendRun {
                reason: Some("pause".into()),
                at: at(),
            },
            Step::Resume => RunCommand::ResumeRun {
                reason: None,
                at: at(),
            },
            Step::Complete => RunCommand::CompleteRun {
                session_state: "RESOLVED".into(),
                at: at(),
                receipt: None,
            },
            Step::Fail => RunCommand::FailRun {
                error_code: "RUNTIME_UNAVAILABLE".into(),
                error_message: "gone".into(),
                at: at(),
            },
            Step::Cancel => RunCommand::CancelRun {
                reason: Some("stop".into()),
                at: at(),
            },
            Step::Archive => RunCommand::ArchiveRun { at: at() },
        };
        apply(&mut state, &mut log, &command);
    }
    log
}

/// Decides `command` and folds what it yields into the state and the log.
fn apply(state: &mut RunState, log: &mut Vec<RunEvent>, command: &RunCommand) {
    // A refusal (say, an envelope after the run ended) leaves no event.
    if let Ok(events) = decide(state, command) {
        for event in events {
            state.apply(&event);
            log.push(event);
        }
    }
}

fn bytes<P: Projection>(model: &P) -> String {
    serde_json::to_string(model).expect("a model serializes")
}

/// Folds in chunks ending at `cuts`, storing and loading the model between
/// chunks and delivering each chunk's first `redelivered` events again.
fn fold_in_chunks<P: Projection>(
    events: &[RunEvent],
    cuts: &[usize],
    redelivered: usize,
) -> String {
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (events.len() + 1)).collect();
    ends.push(events.len());
    ends.sort_unstable();
    let mut stored = bytes(&P::default());
    let mut start = 0;
    for end in ends {
        let mut model: P = serde_json::from_str(&stored).expect("a stored model loads");
        for event in &events[start..end] {
            model.apply(event);
        }
        // At-least-once delivery: part of the batch arrives again.
        for event in events[start..end].iter().take(redelivered) {
            model.apply(event);
        }
        stored = bytes(&model);
        start = end;
    }
    stored
}

fn check<P: Projection>(
    events: &[RunEvent],
    cuts: &[usize],
    redelivered: usize,
) -> Result<(), TestCaseError> {
    let once = bytes(&P::fold(events));
    prop_assert_eq!(
        &once,
        &bytes(&P::fold(events)),
        "{} folds the same twice",
        P::NAME
    );
    prop_assert_eq!(
        &once,
        &fold_in_chunks::<P>(events, cuts, redelivered),
        "{} in chunks",
        P::NAME
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_projection_folds_to_the_same_bytes_however_delivered(
        steps in prop::collection::vec(step(), 0..60),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        redelivered in 0..4usize,
    ) {
        let events = events_of(&steps);
        check::<RunStateView>(&events, &cuts, redelivered)?;
        check::<RunSummary>(&events, &cuts, redelivered)?;
        check::<RunMetrics>(&events, &cuts, redelivered)?;
        check::<RunArtifacts>(&events, &cuts, redelivered)?;
        check::<RunTraces>(&events, &cuts, redelivered)?;
        check::<SentMessages>(&events, &cuts, redelivered)?;
    }
}
