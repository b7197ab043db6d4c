//! `macp-control-plane seed --runs N --envelopes M`: appends N synthetic,
//! completed multi-round runs of M contributions each to the log, through
//! the production aggregate (`decide`) and translation, without a runtime.
//! For rebuild and replay figures on large logs.

use crate::ingestion::translate::{derive_events, raw_envelope};
use crate::runtime::pb::Envelope;
use crate::store::EventStore;
use aggregates::{decide, ExecutionRequest, RunCommand, RunEvent, RunState, Timestamp};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::time::Instant;
use uuid::Uuid;

/// Events per append.
const APPEND_CHUNK: usize = 2000;

pub async fn run(store: &EventStore, runs: usize, envelopes: usize) -> anyhow::Result<u64> {
    let bar = ProgressBar::new(runs as u64);
    bar.set_style(ProgressStyle::with_template(
        "seeding {bar:32} {pos}/{len} runs  {per_sec}  ETA {eta}",
    )?);
    let started = Instant::now();
    let mut total = 0u64;
    for _ in 0..runs {
        total += seed_run(store, envelopes).await?.1;
        bar.inc(1);
    }
    bar.finish();
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "seeded {runs} runs, {total} events in {seconds:.1} s ({:.0} events/s)",
        total as f64 / seconds
    );
    Ok(total)
}

/// One run: request, start, bind, stream, `envelopes` contributions, end.
/// Answers the run's id and how many events it appended.
pub async fn seed_run(store: &EventStore, envelopes: usize) -> anyhow::Result<(Uuid, u64)> {
    let run_id = Uuid::now_v7();
    let session_id = run_id.to_string();
    let request: ExecutionRequest = serde_json::from_value(json!({
        "mode": "sandbox", "runtime": {"kind": "rust"},
        "session": {"modeName": "ext.multi_round.v1", "modeVersion": "1.0.0",
                    "configurationVersion": "config.default", "ttlMs": 3_600_000,
                    "initiatorParticipantId": "coord",
                    "participants": [{"id": "alice"}, {"id": "bob"}, {"id": "carol"}],
                    "metadata": {"source": "seed"}},
        "execution": {"tags": ["seed"]}
    }))?;
    let start = Timestamp::now().unix_ms();
    let mut tick = 0i64;
    // Synthetic time: 7 ms between consecutive events.
    let mut at = || {
        tick += 1;
        Timestamp::from_unix_ms(start + 7 * tick)
    };
    let mut commands = vec![
        RunCommand::RequestRun {
            run_id,
            request: Box::new(request),
            trace_id: run_id.simple().to_string(),
            observed: false,
            at: at(),
        },
        RunCommand::StartRun { at: at() },
        RunCommand::BindSession {
            session_id: session_id.clone(),
            initiator: "coord".into(),
            runtime_kind: "rust".into(),
            at: at(),
        },
        RunCommand::OpenStream {
            after_ordinal: 0,
            reconnect: false,
            at: at(),
        },
    ];
    let senders = ["alice", "bob", "carol"];
    for i in 0..envelopes {
        let sender = senders[i % senders.len()];
        let envelope = Envelope {
            macp_version: "1.0".into(),
            mode: "ext.multi_round.v1".into(),
            message_type: "Contribute".into(),
            message_id: Uuid::new_v4().to_string(),
            session_id: session_id.clone(),
            sender: sender.into(),
            timestamp_unix_ms: start + 7 * i as i64,
            payload: json!({"value": format!("{sender}-{i}")})
                .to_string()
                .into_bytes(),
        };
        commands.push(RunCommand::RecordEnvelope {
            ordinal: i as u64 + 1,
            envelope: raw_envelope(&envelope),
            derived: derive_events(&envelope),
            received_at: at(),
        });
    }
    commands.push(RunCommand::CompleteRun {
        session_state: "RESOLVED".into(),
        at: at(),
        receipt: None,
    });

    let mut state = RunState::default();
    let mut events: Vec<RunEvent> = Vec::new();
    for command in &commands {
        for event in decide(&state, command)? {
            state.apply(&event);
            events.push(event);
        }
    }
    let mut version = 0;
    for chunk in events.chunks(APPEND_CHUNK) {
        version = store.append(run_id, version, chunk, None).await?;
    }
    Ok((run_id, events.len() as u64))
}
