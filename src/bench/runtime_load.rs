//! Figures driven by real sessions: participants send `Contribute`
//! envelopes of `ext.multi_round.v1` straight to the runtime (as agents
//! do), and the control plane under test records, projects and serves
//! what the runtime accepted.
//!
//! This file holds what the figures share (clients, a run to load, the
//! envelopes and how they are sent, waiting for the log to catch up); the
//! figures are in `runtime_load/`: `ingest.rs` (the ingest rate beside the
//! runtime's own), `delivery.rs` (SSE latency and fan-out) and `reads.rs`
//! (state reads under load).

mod delivery;
mod ingest;
mod reads;

pub use delivery::{fanout, latency};
pub use ingest::ingest;
pub use reads::reads;

use super::server::ServerProcess;
use crate::api_client::Client;
use crate::runtime::pb::{Envelope, SessionStartPayload};
use crate::runtime::{Credentials, RuntimeClient, MACP_VERSION};
use anyhow::{bail, Context};
use prost::Message;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MODE: &str = "ext.multi_round.v1";
pub(super) const PARTICIPANTS: [&str; 4] = ["p0", "p1", "p2", "p3"];
/// Who opens the sessions started straight on the runtime.
const COORDINATOR: &str = "coord";
const WAIT: Duration = Duration::from_secs(300);

/// An HTTP client of the server under test, and a runtime client for the
/// participants (dev-mode auth: each send authenticates as its sender).
fn clients(
    server: &ServerProcess,
    runtime_address: &str,
) -> anyhow::Result<(Client, RuntimeClient)> {
    let runtime = RuntimeClient::connect_lazy(runtime_address, Credentials::Dev, None)?;
    Ok((Client::new(&server.url), runtime))
}

/// Starts a multi-round run and waits until the control plane follows it.
async fn start_run(client: &Client) -> anyhow::Result<String> {
    let participants: Vec<Value> = PARTICIPANTS.iter().map(|p| json!({"id": p})).collect();
    let request = json!({"mode": "live", "runtime": {"kind": "rust"},
        "session": {"modeName": MODE, "modeVersion": "1.0.0", "configurationVersion": "config.default",
                    "ttlMs": 3_600_000, "initiatorParticipantId": "coord",
                    "participants": participants},
        "execution": {"tags": ["bench"]}});
    let (status, created) = client.post("/runs", &request).await?;
    if status != 202 {
        bail!("POST /runs answered {status}: {created}");
    }
    let run_id = created["runId"]
        .as_str()
        .context("no runId in the answer")?
        .to_string();
    client
        .wait_for_status(&run_id, WAIT, |s| s == "running")
        .await?;
    Ok(run_id)
}

pub(super) fn contribution(run_id: &str, sender: &str, n: usize) -> Envelope {
    Envelope {
        macp_version: "1.0".into(),
        mode: MODE.into(),
        message_type: "Contribute".into(),
        message_id: uuid::Uuid::new_v4().to_string(),
        session_id: run_id.to_string(),
        sender: sender.into(),
        timestamp_unix_ms: aggregates::Timestamp::now().unix_ms(),
        payload: json!({"value": format!("{sender}-{n}")})
            .to_string()
            .into_bytes(),
    }
}

/// Opens session `session_id` straight on the runtime, as an agent
/// coordinator would: the participants of every figure, a long TTL.
pub(super) async fn open_session_directly(
    runtime: &RuntimeClient,
    session_id: &str,
) -> anyhow::Result<()> {
    let start = SessionStartPayload {
        intent: "bench".into(),
        participants: PARTICIPANTS.iter().map(|p| p.to_string()).collect(),
        mode_version: "1.0.0".into(),
        configuration_version: "config.default".into(),
        ttl_ms: 3_600_000,
        ..Default::default()
    };
    let envelope = Envelope {
        macp_version: MACP_VERSION.into(),
        mode: MODE.into(),
        message_type: "SessionStart".into(),
        message_id: uuid::Uuid::new_v4().to_string(),
        session_id: session_id.into(),
        sender: COORDINATOR.into(),
        timestamp_unix_ms: aggregates::Timestamp::now().unix_ms(),
        payload: start.encode_to_vec(),
    };
    runtime.send(COORDINATOR, envelope).await?;
    Ok(())
}

/// How many envelopes the log holds, and whether every projector has
/// folded the whole log.
async fn recorded_and_projected(server: &ServerProcess) -> anyhow::Result<(i64, bool)> {
    let store = &server.store;
    let recorded = store.count_events("RuntimeEnvelopeRecorded").await?;
    let head = store.head_position().await?;
    Ok((recorded, store.slowest_checkpoint().await? >= head))
}

/// Waits until `expected` envelopes are recorded, then until they are
/// projected; answers both moments.
pub(super) async fn wait_ingested(
    server: &ServerProcess,
    expected: i64,
) -> anyhow::Result<(Instant, Instant)> {
    let started = Instant::now();
    let mut recorded_at = None;
    loop {
        let (recorded, projected) = recorded_and_projected(server).await?;
        if recorded >= expected {
            let recorded_at = *recorded_at.get_or_insert_with(Instant::now);
            if projected {
                return Ok((recorded_at, Instant::now()));
            }
        }
        if started.elapsed() > WAIT {
            if recorded >= expected {
                bail!("all {expected} envelopes recorded, but the projectors were still behind after {WAIT:?}");
            }
            bail!("only {recorded} of {expected} envelopes recorded after {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `count` envelopes into `run_id`, one every `gap`, and answers when
/// each was sent, by message id.
async fn paced_sends(
    runtime: &RuntimeClient,
    run_id: &str,
    count: usize,
    gap: Duration,
) -> anyhow::Result<std::collections::HashMap<String, Instant>> {
    let mut sent = std::collections::HashMap::new();
    let mut tick = tokio::time::interval(gap);
    for n in 0..count {
        tick.tick().await;
        let sender = PARTICIPANTS[n % PARTICIPANTS.len()];
        let envelope = contribution(run_id, sender, n);
        sent.insert(envelope.message_id.clone(), Instant::now());
        runtime.send(sender, envelope).await?;
    }
    Ok(sent)
}
