//! The concurrency sweep: the same total of envelopes spread over 100, 1,000
//! and 3,000 sessions that agents start straight on the runtime, with the
//! control plane observing them (`DISCOVER_SESSIONS`). Each point gets a
//! fresh runtime, database and server, so that no point inherits another's
//! sessions. Per point: how long discovery takes to adopt every session,
//! the server's memory per open session, and the projected throughput; then
//! how much that throughput falls from the smallest to the largest point.

use super::measure::{Figure, Goal};
use super::runtime_load::{contribution, open_session_directly, wait_ingested, PARTICIPANTS};
use super::server::{fresh_database, ServerProcess};
use crate::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use crate::runtime::{Credentials, RuntimeClient};
use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use std::time::{Duration, Instant};

/// SessionStarts in flight at once while the sessions open.
const OPENING_CONCURRENCY: usize = 64;
/// How long discovery may take before the point fails.
const DISCOVERY_WAIT: Duration = Duration::from_secs(300);

/// Runs every point of `sessions` (ascending), `total` envelopes each.
pub async fn sweep(
    admin: Option<&str>,
    sessions: &[usize],
    total: usize,
    repeat: usize,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let mut throughputs = Vec::new();
    for &count in sessions {
        let largest = Some(&count) == sessions.last();
        let label = format!("sweep, {count} sessions");
        let mut projected = Figure::new(format!("{label}: recorded+projected"), "env/s", None);
        let mut discovered = Figure::new(
            format!("{label}: all discovered after the first start"),
            "ms",
            largest.then_some(Goal::AtMost(3000.0)),
        );
        let mut opened = Figure::new(format!("{label}: runtime opened them in"), "ms", None);
        let mut memory = Figure::new(
            format!("{label}: server RSS per open session"),
            "KB",
            largest.then_some(Goal::AtMost(40.0)),
        );
        for _ in 0..repeat {
            let point = point(admin, count, total).await;
            let point = match point {
                Ok(point) => point,
                Err(error) => {
                    // Keep the points measured so far, and what this one got to.
                    let measured = [opened, discovered, memory];
                    figures.extend(measured.into_iter().filter(|f| !f.samples.is_empty()));
                    return Err(error.context(format!("sweep at {count} sessions")));
                }
            };
            projected = projected.with(point.projected);
            discovered = discovered.with(point.discovered_ms);
            opened = opened.with(point.opened_ms);
            memory = memory.with(point.memory_kb);
        }
        throughputs.push(projected.median());
        figures.extend([opened, discovered, memory, projected]);
    }
    if let (Some(first), Some(last), true) = (
        throughputs.first(),
        throughputs.last(),
        throughputs.len() > 1,
    ) {
        figures.push(
            Figure::new(
                format!(
                    "sweep: throughput at {} / at {} sessions",
                    sessions.last().copied().unwrap_or_default(),
                    sessions.first().copied().unwrap_or_default()
                ),
                "ratio",
                Some(Goal::AtLeast(0.75)),
            )
            .with(last / first),
        );
    }
    Ok(())
}

struct Point {
    opened_ms: f64,
    discovered_ms: f64,
    memory_kb: f64,
    projected: f64,
}

/// One point: `count` sessions opened at once, then `total` envelopes.
async fn point(admin: Option<&str>, count: usize, total: usize) -> anyhow::Result<Point> {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory).await?;
    let address = runtime.address.to_string();
    let db = fresh_database(admin).await?;
    let server = ServerProcess::start_with(&db, &address, &[("DISCOVER_SESSIONS", "true")]).await?;
    let result = measure_point(&server, &address, count, total).await;
    drop(server);
    db.drop_database().await;
    drop(runtime);
    result
}

async fn measure_point(
    server: &ServerProcess,
    address: &str,
    count: usize,
    total: usize,
) -> anyhow::Result<Point> {
    let client = RuntimeClient::connect_lazy(address, Credentials::Dev, None)?;
    let before = server.rss_kib()?;
    let session_ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let started = Instant::now();
    futures::stream::iter(&session_ids)
        .map(|id| open_session_directly(&client, id))
        .buffer_unordered(OPENING_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let opened_ms = started.elapsed().as_secs_f64() * 1000.0;
    let expected = i64::try_from(count)?;
    loop {
        let adopted = server.store.count_events("RunRequested").await?;
        if adopted >= expected {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < DISCOVERY_WAIT,
            "discovery adopted {adopted} of {count} sessions"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let discovered_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Every driver has recorded its SessionStart and the models are folded.
    wait_ingested(server, expected).await?;
    let memory_kb = (server.rss_kib()? - before).max(0.0) * 1.024 / count as f64;
    eprintln!(
        "sweep {count}: opened {opened_ms:.0} ms, discovered {discovered_ms:.0} ms, \
         {memory_kb:.1} KB/session"
    );

    let per_session = total.div_ceil(count);
    let sent_total = i64::try_from(per_session * count)?;
    let sending = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for id in session_ids {
        let client = client.clone();
        senders.spawn(async move {
            for n in 0..per_session {
                let sender = PARTICIPANTS[n % PARTICIPANTS.len()];
                client.send(sender, contribution(&id, sender, n)).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(sent) = senders.join_next().await {
        sent.context("a sender panicked")??;
    }
    let (_, projected_at) = wait_ingested(server, expected + sent_total).await?;
    let projected = sent_total as f64 / projected_at.duration_since(sending).as_secs_f64();
    eprintln!("sweep {count}: {projected:.0} env/s recorded and projected");
    Ok(Point {
        opened_ms,
        discovered_ms,
        memory_kb,
        projected,
    })
}
