//! Figures over a large log, seeded through the production aggregate
//! (`seed`): a rebuild of every projector from position 0, and the replay
//! state of a long run at two points.

use super::measure::{Figure, Goal};
use super::server::{BenchDb, ServerProcess};
use super::Sizes;
use crate::live::LiveHub;
use crate::rebuild;
use crate::store::EventStore;
use anyhow::bail;
use std::time::{Duration, Instant};

/// Rebuild: all projectors re-folded from position 0 by the rebuild job,
/// over a log of about `rebuild_runs × rebuild_envelopes_per_run × 3`
/// events. No server runs meanwhile: the job folds everything itself.
pub async fn rebuild(db: &BenchDb, sizes: &Sizes, repeat: usize) -> anyhow::Result<Figure> {
    let store = EventStore::open(&db.url).await?;
    crate::seed::run(&store, sizes.rebuild_runs, sizes.rebuild_envelopes_per_run).await?;
    // The stopped server's projector leases lapse first.
    tokio::time::sleep(super::server::LEASE + Duration::from_millis(200)).await;
    let head = store.head_position().await?;
    let mut figure = Figure::new(
        format!("rebuild all projectors, {head} log events"),
        "events/s",
        Some(Goal::AtLeast(300_000.0)),
    );
    let live = LiveHub::new(store.clone());
    for _ in 0..repeat {
        let summary = rebuild::rebuild(&store, rebuild::choose(&live, None)?, true).await?;
        if summary.folded_here != summary.projections {
            bail!("a running service folded part of the rebuild");
        }
        figure = figure.with(summary.events_per_second());
    }
    Ok(figure)
}

/// Replay: `GET /runs/:id/replay/state?seq=N` of one long run, at its middle
/// and at its end.
pub async fn replay(
    db: &BenchDb,
    runtime_address: &str,
    sizes: &Sizes,
    repeat: usize,
) -> anyhow::Result<Vec<Figure>> {
    let store = EventStore::open(&db.url).await?;
    let (run_id, _) = crate::seed::seed_run(&store, sizes.replay_envelopes).await?;
    let server = ServerProcess::start(db, runtime_address).await?;
    let started = Instant::now();
    while store.slowest_checkpoint().await? < store.head_position().await? {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the server did not project the seeded run in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let http = reqwest::Client::new();
    let summary: serde_json::Value = http
        .get(format!("{}/runs/{run_id}", server.url))
        .send()
        .await?
        .json()
        .await?;
    let latest = summary["lastEventSeq"].as_u64().unwrap_or(0);
    let mut figures = Vec::new();
    for seq in [latest / 2, latest] {
        let mut figure = Figure::new(
            format!("replay state at seq {seq} of {latest}"),
            "ms",
            Some(Goal::AtMost(150.0)),
        );
        for _ in 0..repeat.max(5) {
            let started = Instant::now();
            let response = http
                .get(format!(
                    "{}/runs/{run_id}/replay/state?seq={seq}",
                    server.url
                ))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("replay state answered {}", response.status());
            }
            let view: serde_json::Value = response.json().await?;
            figure = figure.with(started.elapsed().as_secs_f64() * 1000.0);
            if view["timeline"]["latestSeq"].as_u64() != Some(seq) {
                bail!(
                    "the replay state at {seq} is at {}",
                    view["timeline"]["latestSeq"]
                );
            }
        }
        figures.push(figure);
    }
    Ok(figures)
}
