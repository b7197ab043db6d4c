//! The delivery figures: how long an envelope sent to the runtime takes to
//! reach an SSE subscriber of its run (latency), and the same with many
//! subscribers on one run (fan-out, with the server's memory each).

use super::{clients, paced_sends, start_run, WAIT};
use crate::bench::measure::{p50_p99, Figure, Goal};
use crate::bench::server::ServerProcess;
use crate::bench::Sizes;
use anyhow::{bail, Context};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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
