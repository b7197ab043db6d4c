//! The group's follow loop: one read of the log for every projector it
//! holds, their writes and moved checkpoints committed together.

use super::{ModelCache, Projector};
use crate::store::{EventStore, StoreError, StoredEvent};
use std::sync::Arc;
use std::time::Duration;

/// Events read per batch by a rebuild: larger batches, fewer transactions.
pub const REBUILD_BATCH_SIZE: i64 = 5000;
/// How long an idle projector waits before looking at the log again when no
/// append woke it.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How long [`follow`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Follow {
    Forever,
    /// Until it finds no event after its checkpoint (a rebuild job).
    UntilCaughtUp,
}

/// Folds the log into `projectors` from their stored checkpoints: the log
/// is read once for all of them, and each commit writes the models and
/// moves the checkpoints of the projectors it folded for, in one
/// transaction.
///
/// A projector that [commits first](Projector::commits_first) (the
/// canonical index, which live feeds wait on) commits every batch it reads.
/// The others fold what was read since their last commit in one go, when
/// it is due: the log went quiet, a full batch is waiting, or the first
/// event they have not folded has waited [`DEFER_FOR`] and four times as
/// long as their last commit took (so that writing takes at most a fifth
/// of their time). A run's documents grow with the run (the run state's
/// graph holds every message), so writing them once per read made busy
/// runs cost the square of their length. Their checkpoints move only when
/// they commit, so a crash in between re-folds from the log.
/// `progress(position, events)` after each read batch is handled.
pub async fn follow(
    store: &EventStore,
    projectors: &[Arc<dyn Projector>],
    how: Follow,
    batch_size: i64,
    progress: &mut (dyn FnMut(i64, usize) + Send),
) -> Result<(), StoreError> {
    let appended = store.appended();
    // Valid for this call only: an error ends the call, and with it every
    // model folded from a batch that was not committed.
    let mut cache = ModelCache::default();
    let mut checkpoints = Vec::with_capacity(projectors.len());
    for projector in projectors {
        checkpoints.push(store.ensure_checkpoint(projector.name()).await?);
    }
    let (first, rest): (Vec<usize>, Vec<usize>) =
        (0..projectors.len()).partition(|&i| projectors[i].commits_first());
    let mut group = Group {
        store,
        projectors,
        checkpoints,
        cache: &mut cache,
        batch_size,
    };
    // Where the next read starts.
    let mut read_to = group.checkpoints.iter().copied().min().unwrap_or(0);
    // The next batch, read while the previous one committed.
    let mut prefetched: Option<Vec<StoredEvent>> = None;
    // Events read that the projectors in `rest` have not committed yet,
    // and since when the oldest of them waits.
    let mut deferred: Vec<StoredEvent> = Vec::new();
    let mut deferred_since = tokio::time::Instant::now();
    let mut defer_for = DEFER_FOR;
    loop {
        let woken = appended.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let events = match prefetched.take() {
            Some(events) => events,
            None => store.read_all(read_to, batch_size).await?,
        };
        let Some(last) = events.last().map(|e| e.position) else {
            if !deferred.is_empty() {
                // The log is quiet: what was deferred is written now.
                let waiting = std::mem::take(&mut deferred);
                group.commit_read(&rest, &waiting, None).await?;
                continue;
            }
            if how == Follow::UntilCaughtUp {
                return Ok(());
            }
            let idle = tokio::select! {
                _ = woken => false,
                _ = tokio::time::sleep(POLL_INTERVAL) => true,
            };
            if idle && group.reload_checkpoints().await? {
                read_to = group.checkpoints.iter().copied().min().unwrap_or(0);
            }
            continue;
        };
        read_to = last;
        let count = events.len();
        let full = count as i64 >= batch_size;
        if deferred.is_empty() {
            deferred_since = tokio::time::Instant::now();
        }
        let start = deferred.len();
        deferred.extend(events);
        let due = full
            || deferred.len() as i64 >= batch_size
            || deferred_since.elapsed() >= defer_for
            || rest.is_empty();
        if full {
            // Catching up (a rebuild, a backlog): no live reader waits on
            // the first part, so everything commits in one transaction.
            let all: Vec<usize> = (0..projectors.len()).collect();
            prefetched = group.commit_read(&all, &deferred, Some(last)).await?;
        } else {
            if !first.is_empty() {
                let read_next = (!due).then_some(last);
                prefetched = group
                    .commit_read(&first, &deferred[start..], read_next)
                    .await?;
            }
            if due && !rest.is_empty() {
                let writing = tokio::time::Instant::now();
                prefetched = group.commit_read(&rest, &deferred, Some(last)).await?;
                defer_for = DEFER_FOR.max(writing.elapsed() * 4);
            }
        }
        if due {
            deferred.clear();
        }
        progress(last, count);
    }
}

/// How long the projectors that do not commit first leave events they read
/// unfolded at least while the log keeps growing (see [`follow`]).
pub const DEFER_FOR: Duration = Duration::from_millis(100);

/// The projectors [`follow`] folds for, with their checkpoints and models.
struct Group<'a> {
    store: &'a EventStore,
    projectors: &'a [Arc<dyn Projector>],
    checkpoints: Vec<i64>,
    cache: &'a mut ModelCache,
    batch_size: i64,
}

impl Group<'_> {
    /// Folds `events` into the projectors `lane` (each from its own
    /// checkpoint) and commits their writes and checkpoints together.
    /// With `read_next`, reads the log after that position while the
    /// commit runs, and answers what it read (none if nothing).
    async fn commit_read(
        &mut self,
        lane: &[usize],
        events: &[StoredEvent],
        read_next: Option<i64>,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(None);
        };
        // What each projector has not folded yet: one ahead of the others
        // skips what it has, and one past the batch is left alone.
        let unseen: Vec<&[StoredEvent]> = lane
            .iter()
            .map(|&i| &events[events.partition_point(|e| e.position <= self.checkpoints[i])..])
            .collect();
        let mut writes = Vec::new();
        for (&i, unseen) in lane.iter().zip(&unseen) {
            writes.extend(
                self.projectors[i]
                    .project(self.store, unseen, self.cache)
                    .await?,
            );
        }
        let mut batch = self.store.begin_projection().await?;
        batch.write_all(&writes).await?;
        for (&i, unseen) in lane.iter().zip(&unseen) {
            if !unseen.is_empty() {
                batch
                    .advance(self.projectors[i].name(), self.checkpoints[i], last)
                    .await?;
            }
        }
        let next = match read_next {
            // The log after `last` does not depend on this commit: read it
            // meanwhile. An empty read is dropped, to be done again once
            // the wake-up is armed, so that no append slips between the two.
            Some(after) => {
                let (committed, next) =
                    tokio::join!(batch.commit(), self.store.read_all(after, self.batch_size));
                committed?;
                Some(next?).filter(|next| !next.is_empty())
            }
            None => {
                batch.commit().await?;
                None
            }
        };
        for (&i, unseen) in lane.iter().zip(&unseen) {
            if !unseen.is_empty() {
                self.projectors[i].committed(self.store, unseen).await;
                self.checkpoints[i] = last;
            }
        }
        Ok(next)
    }

    /// A rebuild resets checkpoints without appending anything, so an idle
    /// group would never notice at commit time: compares its checkpoints
    /// with the stored ones, takes the stored ones and forgets its models
    /// if any moved. Answers whether one did.
    async fn reload_checkpoints(&mut self) -> Result<bool, StoreError> {
        let stored = self.store.checkpoints().await?;
        let mut moved = false;
        for (projector, checkpoint) in self.projectors.iter().zip(self.checkpoints.iter_mut()) {
            let stored = stored.get(projector.name()).copied().unwrap_or(0);
            if stored != *checkpoint {
                *checkpoint = stored;
                moved = true;
            }
        }
        if moved {
            self.cache.clear();
        }
        Ok(moved)
    }
}
