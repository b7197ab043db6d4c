//! Figures driven by real sessions: participants send `Contribute`
//! envelopes of `ext.multi_round.v1` straight to the runtime (as agents
//! do), and the control plane under test records, projects and serves
//! what the runtime accepted.

use super::measure::{p50_p99, Figure, Goal};
use super::server::ServerProcess;
use super::Sizes;
use crate::demo::Client;
use crate::runtime::pb::{Envelope, SessionStartPayload};
use crate::runtime::{Credentials, RuntimeClient, MACP_VERSION};
use anyhow::{bail, Context};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use prost::Message;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

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

/// Sends `per_sender` contributions from each participant of each run, all
/// senders at once; answers the seconds until the runtime accepted the last.
async fn send_load(
    runtime: &RuntimeClient,
    run_ids: &[String],
    per_sender: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for run_id in run_ids {
        for participant in PARTICIPANTS {
            let (runtime, run_id) = (runtime.clone(), run_id.clone());
            senders.spawn(async move {
                for n in 0..per_sender {
                    runtime
                        .send(participant, contribution(&run_id, participant, n))
                        .await?;
                }
                anyhow::Ok(())
            });
        }
    }
    while let Some(sent) = senders.join_next().await {
        sent??;
    }
    Ok(started.elapsed().as_secs_f64())
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

/// Ingest: `runs` concurrent runs, `per_run` envelopes each (spread over
/// four participants sending concurrently). Answers the control plane's
/// rate (recorded and projected), the runtime's accept rate for the same
/// load, and their ratio.
pub async fn ingest(
    server: &ServerProcess,
    runtime_address: &str,
    runs: usize,
    per_run: usize,
    repeat: usize,
) -> anyhow::Result<Vec<Figure>> {
    let (client, runtime) = clients(server, runtime_address)?;
    let label = format!("ingest, {runs} run(s)");
    let mut cp = Figure::new(format!("{label}: recorded+projected"), "env/s", None);
    let mut recorded_only = Figure::new(format!("{label}: recorded"), "env/s", None);
    let mut accepted = Figure::new(format!("{label}: runtime accepted"), "env/s", None);
    let mut ratio = Figure::new(
        format!("{label}: control plane / runtime"),
        "ratio",
        Some(Goal::AtLeast(0.95)),
    );
    let mut alone = Figure::new(
        format!("{label}: runtime accepted, no control plane"),
        "env/s",
        None,
    );
    let mut attached = Figure::new(
        format!("{label}: runtime with / without control plane"),
        "ratio",
        Some(Goal::AtLeast(0.75)),
    );
    for _ in 0..repeat {
        let mut run_ids = Vec::new();
        for _ in 0..runs {
            run_ids.push(start_run(&client).await?);
        }
        // Every SessionStart recorded first, so that the count below is
        // only this load.
        let (before, _) = recorded_and_projected(server).await?;
        let expected_start = before.max(0);
        let per_sender = per_run.div_ceil(PARTICIPANTS.len());
        let total = (per_sender * PARTICIPANTS.len() * runs) as i64;
        // The same load on sessions no control plane follows: the
        // runtime's own rate, to compare the attached rate with.
        let mut unobserved = Vec::with_capacity(runs);
        for _ in 0..runs {
            let session_id = uuid::Uuid::new_v4().to_string();
            open_session_directly(&runtime, &session_id).await?;
            unobserved.push(session_id);
        }
        let alone_seconds = send_load(&runtime, &unobserved, per_sender).await?;
        let started = Instant::now();
        let all_accepted = send_load(&runtime, &run_ids, per_sender).await?;
        // SessionStarts of these runs may still be landing: count them in.
        let (recorded, projected) = wait_ingested(server, expected_start + total).await?;
        let all_ingested = projected.duration_since(started).as_secs_f64();
        cp = cp.with(total as f64 / all_ingested);
        recorded_only =
            recorded_only.with(total as f64 / recorded.duration_since(started).as_secs_f64());
        accepted = accepted.with(total as f64 / all_accepted);
        ratio = ratio.with(all_accepted / all_ingested);
        alone = alone.with(total as f64 / alone_seconds);
        attached = attached.with(alone_seconds / all_accepted);
    }
    Ok(vec![cp, recorded_only, accepted, ratio, alone, attached])
}

/// An SSE subscriber of a run's stream: reports `(messageId, when)` for each
/// `message.received` it gets, and once when its snapshot arrives. Aborting
/// the task closes its connection.
fn subscribe(
    url: String,
    deliveries: mpsc::UnboundedSender<(String, Instant)>,
    connected: mpsc::UnboundedSender<()>,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let Ok(response) = reqwest::get(&url).await else {
            return;
        };
        let mut events = response.bytes_stream().eventsource();
        while let Some(Ok(event)) = events.next().await {
            let at = Instant::now();
            if event.event == "snapshot" {
                let _ = connected.send(());
                continue;
            }
            if event.event != "canonical_event" {
                continue;
            }
            let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
                continue;
            };
            if data["type"] == "message.received" {
                if let Some(id) = data["data"]["messageId"].as_str() {
                    if deliveries.send((id.to_string(), at)).is_err() {
                        return;
                    }
                }
            }
        }
    })
    .abort_handle()
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

/// Waits for `expected` deliveries (or 10 s without one) and answers each
/// delivery's delay after its send, in ms.
async fn delays(
    deliveries: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    sent: &std::collections::HashMap<String, Instant>,
    expected: usize,
) -> Vec<f64> {
    let mut delays = Vec::with_capacity(expected);
    while delays.len() < expected {
        match tokio::time::timeout(Duration::from_secs(10), deliveries.recv()).await {
            Ok(Some((id, at))) => {
                if let Some(sent_at) = sent.get(&id) {
                    delays.push(at.saturating_duration_since(*sent_at).as_secs_f64() * 1000.0);
                }
            }
            _ => break,
        }
    }
    delays
}

/// Latency: an envelope sent to the runtime → its `message.received`
/// delivered to an SSE subscriber, at a steady 200 envelopes/s.
pub async fn latency(
    server: &ServerProcess,
    runtime_address: &str,
    count: usize,
    repeat: usize,
) -> anyhow::Result<Figure> {
    let (client, runtime) = clients(server, runtime_address)?;
    let mut p50 = Vec::new();
    let mut p99 = Figure::new(
        "latency runtime send -> SSE delivery p99",
        "ms",
        Some(Goal::AtMost(20.0)),
    );
    for _ in 0..repeat {
        let run_id = start_run(&client).await?;
        let (deliver, mut deliveries) = mpsc::unbounded_channel();
        let (connect, mut connected) = mpsc::unbounded_channel();
        let subscriber = subscribe(
            format!("{}/runs/{run_id}/stream", server.url),
            deliver,
            connect,
        );
        connected
            .recv()
            .await
            .context("the subscriber never connected")?;
        let sent = paced_sends(&runtime, &run_id, count, Duration::from_millis(5)).await?;
        let delays = delays(&mut deliveries, &sent, count).await;
        subscriber.abort();
        if delays.len() < count {
            bail!("the subscriber got {} of {count} envelopes", delays.len());
        }
        let (median, tail) = p50_p99(delays);
        p50.push(median);
        p99 = p99.with(tail);
    }
    eprintln!("latency p50 per repetition (ms): {p50:.2?}");
    Ok(p99)
}

/// Fan-out: many SSE subscribers on one live run; delivery p99 over every
/// (subscriber, envelope) pair, and the server's memory per subscriber.
pub async fn fanout(
    server: &ServerProcess,
    runtime_address: &str,
    sizes: &Sizes,
    repeat: usize,
) -> anyhow::Result<Vec<Figure>> {
    let (client, runtime) = clients(server, runtime_address)?;
    let subscribers = sizes.fanout_subscribers;
    let label = format!("fan-out, {subscribers} SSE subscribers");
    let mut p99 = Figure::new(
        format!("{label}: delivery p99"),
        "ms",
        Some(Goal::AtMost(25.0)),
    );
    let mut memory = Figure::new(
        format!("{label}: server RSS each"),
        "KB",
        Some(Goal::AtMost(30.0)),
    );
    for _ in 0..repeat {
        let run_id = start_run(&client).await?;
        let before = server.rss_kib()?;
        let (deliver, mut deliveries) = mpsc::unbounded_channel();
        let (connect, mut connected) = mpsc::unbounded_channel();
        let url = format!("{}/runs/{run_id}/stream", server.url);
        let mut subscribers_open = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            subscribers_open.push(subscribe(url.clone(), deliver.clone(), connect.clone()));
        }
        drop((deliver, connect));
        for _ in 0..subscribers {
            tokio::time::timeout(WAIT, connected.recv())
                .await
                .context("subscribers did not all connect")?
                .context("a subscriber failed to connect")?;
        }
        memory = memory.with((server.rss_kib()? - before).max(0.0) * 1.024 / subscribers as f64);
        let count = sizes.fanout_envelopes;
        let sent = paced_sends(&runtime, &run_id, count, Duration::from_millis(100)).await?;
        let expected = count * subscribers;
        let delays = delays(&mut deliveries, &sent, expected).await;
        if delays.len() < expected {
            bail!("subscribers got {} of {expected} deliveries", delays.len());
        }
        p99 = p99.with(p50_p99(delays).1);
        // Closed before the next repetition or figure, which must not share
        // the server with them.
        subscribers_open
            .iter()
            .for_each(tokio::task::AbortHandle::abort);
    }
    Ok(vec![p99, memory])
}

/// Reads: `GET /runs/:id/state` at a steady rate; p50 and p99.
pub async fn reads(
    server: &ServerProcess,
    runtime_address: &str,
    sizes: &Sizes,
    repeat: usize,
) -> anyhow::Result<Vec<Figure>> {
    let (client, runtime) = clients(server, runtime_address)?;
    let run_id = start_run(&client).await?;
    // A run with some history: 40 contributions.
    paced_sends(&runtime, &run_id, 40, Duration::from_millis(1)).await?;
    let rate = sizes.reads_per_second;
    let label = format!("GET /runs/:id/state at {rate}/s");
    let mut p50 = Figure::new(format!("{label}: p50"), "ms", None);
    let mut p99 = Figure::new(format!("{label}: p99"), "ms", Some(Goal::AtMost(3.0)));
    let http = reqwest::Client::new();
    let url = format!("{}/runs/{run_id}/state", server.url);
    let count = (rate as f64 * sizes.reads_seconds) as usize;
    for _ in 0..repeat {
        let in_flight = Arc::new(Semaphore::new(64));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..count {
            tick.tick().await;
            let permit = Arc::clone(&in_flight).acquire_owned().await?;
            let (http, url) = (http.clone(), url.clone());
            requests.spawn(async move {
                let started = Instant::now();
                let response = http.get(&url).send().await?;
                let ok = response.status().is_success();
                response.bytes().await?;
                drop(permit);
                anyhow::ensure!(ok, "GET state failed");
                anyhow::Ok(started.elapsed().as_secs_f64() * 1000.0)
            });
        }
        let mut latencies = Vec::with_capacity(count);
        while let Some(done) = requests.join_next().await {
            latencies.push(done??);
        }
        let (median, tail) = p50_p99(latencies);
        p50 = p50.with(median);
        p99 = p99.with(tail);
    }
    Ok(vec![p50, p99])
}
