//! `macp-control-plane rebuild [--projection NAME] [--run ID]`: drops read
//! models and re-folds them from the log, while the service keeps serving.
//!
//! A whole projector is reset (its rows dropped, its checkpoint set to 0 in
//! one transaction). Then whoever holds its lease re-folds it: this command,
//! when no service runs, or else the running service's own projector, whose
//! next batch notices the reset (compare-and-set checkpoint). Either way
//! the command shows progress until the projector reaches the head of the
//! log, then prints a summary. With `--run`, only that run's per-run models
//! are dropped and re-folded, at once.

use crate::live::LiveHub;
use crate::projector::{self, Follow, Projector};
use crate::store::EventStore;
use aggregates::Timestamp;
use anyhow::{bail, Context};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The lease the command takes to fold a projector itself.
const LEASE_TTL: Duration = Duration::from_secs(10);

pub async fn run(
    store: EventStore,
    projection: Option<String>,
    run: Option<Uuid>,
) -> anyhow::Result<()> {
    let live = LiveHub::new(store.clone());
    if let Some(run_id) = run {
        let started = Instant::now();
        let latest = projector::rebuild_run(&store, &live, run_id).await?;
        println!(
            "rebuilt run {run_id}: latest seq {latest} in {:.1?}",
            started.elapsed()
        );
        return Ok(());
    }
    let all = projector::all(&live);
    let names: Vec<&str> = all.iter().map(|p| p.name()).collect();
    let chosen: Vec<Arc<dyn Projector>> = match &projection {
        Some(name) => {
            let found: Vec<_> = all.iter().filter(|p| p.name() == name).cloned().collect();
            if found.is_empty() {
                bail!(
                    "no projection named {name:?}; the projections are {}",
                    names.join(", ")
                );
            }
            found
        }
        None => all.clone(),
    };
    let head = store.head_position().await?;
    let owner = format!("rebuild-{}", Uuid::new_v4());
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template(
        "{prefix:>18} {bar:32} {pos}/{len} positions  {per_sec}  ETA {eta}  {msg}",
    )
    .context("progress bar template")?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for projector in chosen {
        store
            .reset_projection(projector.name(), projector.table())
            .await?;
        let bar = bars.add(ProgressBar::new(head.unsigned_abs()));
        bar.set_style(style.clone());
        bar.set_prefix(projector.name());
        let (store, owner) = (store.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            fold_or_watch(store, projector, owner, head, bar).await
        }));
    }
    let mut total = 0u64;
    for task in tasks {
        total += task.await.context("rebuild task")??;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "rebuilt {} projection(s) over {head} log events in {seconds:.2} s: {:.0} log events/s; \
         {total} events folded here ({:.0}/s across projections)",
        projection.as_deref().map_or(names.len(), |_| 1),
        head as f64 / seconds,
        total as f64 / seconds
    );
    Ok(())
}

/// Folds the projector here if its lease is free, else watches its holder
/// re-fold it. Returns how many events this process folded.
async fn fold_or_watch(
    store: EventStore,
    projector: Arc<dyn Projector>,
    owner: String,
    head: i64,
    bar: ProgressBar,
) -> anyhow::Result<u64> {
    let lease = projector::lease_name(projector.name());
    let ttl_ms = i64::try_from(LEASE_TTL.as_millis()).unwrap_or(i64::MAX);
    if store
        .try_lease(&lease, &owner, Timestamp::now().unix_ms(), ttl_ms)
        .await?
    {
        bar.set_message("folding here");
        let mut folded = 0u64;
        let mut progress = |checkpoint: i64, events: usize| {
            folded += events as u64;
            bar.set_position(
                checkpoint
                    .unsigned_abs()
                    .min(bar.length().unwrap_or(u64::MAX)),
            );
        };
        let result = tokio::select! {
            result = projector::follow(&store, projector.as_ref(), Follow::UntilCaughtUp, &mut progress) => result,
            () = projector::keep_lease(&store, &lease, &owner, LEASE_TTL) => {
                bail!("lost the lease of {} while folding", projector.name())
            }
        };
        store.release_lease(&lease, &owner).await?;
        result?;
        bar.finish_with_message("done");
        return Ok(folded);
    }
    bar.set_message("the running service folds it");
    loop {
        let checkpoint = store.checkpoint(projector.name()).await?;
        bar.set_position(checkpoint.clamp(0, head).unsigned_abs());
        if checkpoint >= head {
            bar.finish_with_message("done (by the service)");
            return Ok(0);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
