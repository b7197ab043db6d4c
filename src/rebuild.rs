//! `macp-control-plane rebuild [--projection NAME] [--run ID]`: drops read
//! models and re-folds them from the log, while the service keeps serving.
//!
//! A whole projector is reset (its rows dropped, its checkpoint set to 0 in
//! one transaction). Then whoever holds its lease re-folds it: this command,
//! when no service runs, or else the running service's own projector, whose
//! next batch notices the reset (compare-and-set checkpoint). The projectors
//! folded here share one pass over the log (each event read and decoded
//! once, each batch committed in one transaction). Either way the command
//! shows progress until every projector reaches the head of the log, then
//! prints a summary. With `--run`, only that run's per-run models are
//! dropped and re-folded, at once.

use crate::live::LiveHub;
use crate::projector::{self, Follow, Projector, REBUILD_BATCH_SIZE};
use crate::store::leases::Lease;
use crate::store::EventStore;
use anyhow::{bail, Context};
use futures::future::select_all;
use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The lease the command takes to fold a projector itself.
const LEASE_TTL: Duration = Duration::from_secs(10);

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildSummary {
    pub projections: usize,
    /// The log's head position when the rebuild started.
    pub log_events: i64,
    /// Projections folded by this process (the others by a running service).
    pub folded_here: usize,
    pub seconds: f64,
}

impl RebuildSummary {
    /// Log events re-folded per second, all chosen projections together.
    pub fn events_per_second(&self) -> f64 {
        self.log_events as f64 / self.seconds.max(1e-9)
    }
}

/// The command: a one-run rebuild, or a rebuild of one or all projections
/// with progress bars; prints a summary.
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
    let chosen = choose(&live, projection.as_deref())?;
    let summary = rebuild(&store, chosen, true).await?;
    let by_service = summary.projections - summary.folded_here;
    println!(
        "rebuilt {} projection(s){} over {} log events in {:.2} s: {:.0} log events/s",
        summary.projections,
        if by_service > 0 {
            format!(" ({by_service} by the running service)")
        } else {
            String::new()
        },
        summary.log_events,
        summary.seconds,
        summary.events_per_second()
    );
    Ok(())
}

/// The projectors named (all of them without a name).
pub fn choose(live: &LiveHub, name: Option<&str>) -> anyhow::Result<Vec<Arc<dyn Projector>>> {
    let all = projector::all(live);
    let Some(name) = name else {
        return Ok(all);
    };
    let found: Vec<_> = all.iter().filter(|p| p.name() == name).cloned().collect();
    if found.is_empty() {
        let names: Vec<&str> = all.iter().map(|p| p.name()).collect();
        bail!(
            "no projection named {name:?}; the projections are {}",
            names.join(", ")
        );
    }
    Ok(found)
}

/// Resets `chosen` and waits until each is re-folded to the log's head as
/// it was at the start: here for those whose lease is free, by their holder
/// otherwise. `show_progress` draws bars on the terminal.
pub async fn rebuild(
    store: &EventStore,
    chosen: Vec<Arc<dyn Projector>>,
    show_progress: bool,
) -> anyhow::Result<RebuildSummary> {
    let head = store.head_position().await?;
    let owner = format!("rebuild-{}", Uuid::new_v4());
    let started = Instant::now();
    let projections = chosen.len();
    let (mut here, mut elsewhere) = (Vec::new(), Vec::new());
    for projector in chosen {
        store
            .reset_projection(projector.name(), projector.table())
            .await?;
        if projector::lease(projector.name(), &owner, LEASE_TTL)
            .try_take(store)
            .await?
        {
            here.push(projector);
        } else {
            elsewhere.push(projector);
        }
    }
    let bars = if show_progress {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
    };
    let style = ProgressStyle::with_template(
        "{prefix:>22} {bar:32} {pos}/{len} log positions  {rate}  ETA {eta}",
    )
    .context("progress bar template")?
    .with_key(
        "rate",
        |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0} events/s", state.per_sec());
        },
    );
    let bar = |prefix: String, shown: bool| {
        if !shown {
            return ProgressBar::hidden();
        }
        let bar = bars.add(ProgressBar::new(head.unsigned_abs()));
        bar.set_style(style.clone());
        bar.set_prefix(prefix);
        bar
    };
    let folded_here = here.len();
    let watched_bar = bar("by the service".into(), !elsewhere.is_empty());
    let folded_bar = bar(format!("{folded_here} folded here"), folded_here > 0);
    let watch = watch_elsewhere(store, &elsewhere, head, &owner, watched_bar);
    let fold = fold_here(store, &here, &owner, folded_bar);
    let (watched, folded) = tokio::join!(watch, fold);
    let taken_over = watched?;
    folded?;
    Ok(RebuildSummary {
        projections,
        log_events: head,
        folded_here: folded_here + taken_over,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Folds `projectors` (whose leases `owner` holds) in one pass over the
/// log, renewing their leases meanwhile, then releases them.
async fn fold_here(
    store: &EventStore,
    projectors: &[Arc<dyn Projector>],
    owner: &str,
    bar: ProgressBar,
) -> anyhow::Result<()> {
    if projectors.is_empty() {
        bar.finish_and_clear();
        return Ok(());
    }
    let leases: Vec<Lease> = projectors
        .iter()
        .map(|p| projector::lease(p.name(), owner, LEASE_TTL))
        .collect();
    let mut progress = |position: i64, _events: usize| {
        bar.set_position(position.clamp(0, i64::MAX).unsigned_abs());
    };
    let keepers = leases.iter().map(|lease| Box::pin(lease.keep(store)));
    let result = tokio::select! {
        result = projector::follow(store, projectors, Follow::UntilCaughtUp, REBUILD_BATCH_SIZE, &mut progress) => result,
        _ = select_all(keepers) => bail!("lost a projector's lease while rebuilding it"),
    };
    for lease in &leases {
        lease.release(store).await?;
    }
    result?;
    bar.finish();
    Ok(())
}

/// Waits until a running service has re-folded `projectors` to `head`. A
/// projector whose checkpoint stops moving for a lease's life is taken over
/// once its lease lapses (its holder died without releasing it) and folded
/// here. Answers how many it took over.
async fn watch_elsewhere(
    store: &EventStore,
    projectors: &[Arc<dyn Projector>],
    head: i64,
    owner: &str,
    bar: ProgressBar,
) -> anyhow::Result<usize> {
    if projectors.is_empty() {
        bar.finish_and_clear();
        return Ok(0);
    }
    let mut waiting = projectors.to_vec();
    let mut taken_over = 0;
    let (mut last_seen, mut last_move) = (-1, Instant::now());
    loop {
        let stored = store.checkpoints().await?;
        let slowest = waiting
            .iter()
            .map(|p| stored.get(p.name()).copied().unwrap_or(0))
            .fold(head, i64::min);
        bar.set_position(slowest.clamp(0, head).unsigned_abs());
        if slowest >= head {
            bar.finish();
            return Ok(taken_over);
        }
        if slowest != last_seen {
            (last_seen, last_move) = (slowest, Instant::now());
        } else if last_move.elapsed() > LEASE_TTL {
            let mut taken = Vec::new();
            let mut still_waiting = Vec::new();
            for projector in waiting {
                if projector::lease(projector.name(), owner, LEASE_TTL)
                    .try_take(store)
                    .await?
                {
                    taken.push(projector);
                } else {
                    still_waiting.push(projector);
                }
            }
            waiting = still_waiting;
            if !taken.is_empty() {
                taken_over += taken.len();
                fold_here(store, &taken, owner, ProgressBar::hidden()).await?;
            }
            if waiting.is_empty() {
                bar.finish();
                return Ok(taken_over);
            }
            last_move = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
