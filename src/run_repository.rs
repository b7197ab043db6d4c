//! Executes commands against runs: load the stream, decide, append with
//! the version it was loaded at. The log is the truth; a conflicting append
//! (another writer got there first) reloads and decides again.
//!
//! Folded states are cached per run, so a long run is not re-read for
//! every envelope; commands on one run are serialized in this process.

use crate::store::{AppendError, EventStore, StoreError};
use aggregates::{audited, decide, Actor, DomainError, RunCommand, RunEvent, RunState, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::sync::{Mutex as AsyncMutex, RwLock};
use tracing::Instrument;
use uuid::Uuid;

/// Attempts at one command when appends keep conflicting.
const CONFLICT_RETRIES: usize = 5;

#[derive(Debug, Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("idempotency key already used by run {0}")]
    IdempotencyKeyTaken(Uuid),
    #[error("run {0} kept changing concurrently")]
    Contended(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service is shutting down and takes no more writes.
    #[error("the service is shutting down")]
    ShuttingDown,
}

#[derive(Default)]
struct Loaded {
    state: RunState,
    version: u64,
    fresh: bool,
}

/// The events of commands decided in order, and the first command's
/// action (what the append's span is named after).
struct Decided {
    events: Vec<RunEvent>,
    action: &'static str,
}

/// Decides `count` commands in order on `state`, command `i` built by
/// `build` from the state the ones before it left, and advances `state` by
/// each decision; a command that changed something is followed by its
/// `ActionAudited` fact when a caller (`actor`) is known. A refusal answers
/// the index of the refused command with why.
fn decide_each(
    state: &mut RunState,
    count: usize,
    build: impl Fn(&RunState, usize) -> RunCommand,
    actor: Option<&Actor>,
) -> Result<Decided, (usize, DomainError)> {
    let mut decided = Decided {
        events: Vec::new(),
        action: "",
    };
    for i in 0..count {
        let command = build(state, i);
        if i == 0 {
            decided.action = command.action();
        }
        let events = decide(state, &command).map_err(|refused| (i, refused))?;
        let changed = !events.is_empty();
        for event in events {
            state.apply(&event);
            decided.events.push(event);
        }
        // A caller's command that changed something is recorded with who
        // asked, in the same append.
        if let (true, Some(actor)) = (changed, actor) {
            let fact = audited(&command, actor, Timestamp::now());
            state.apply(&fact);
            decided.events.push(fact);
        }
    }
    Ok(decided)
}

/// A cached state being decided on. Deciding advances it in place, so a
/// decision that is not appended (refused half-way, conflicting, failed,
/// or abandoned at an `.await` because its caller went away, as an HTTP
/// handler is when its client disconnects) must not stay in the cache:
/// dropped without `kept`, it resets the cache, which the next command
/// reads again from the log.
struct Tentative<'a> {
    loaded: &'a mut Loaded,
    kept: bool,
}

impl std::ops::Deref for Tentative<'_> {
    type Target = Loaded;
    fn deref(&self) -> &Loaded {
        self.loaded
    }
}

impl std::ops::DerefMut for Tentative<'_> {
    fn deref_mut(&mut self) -> &mut Loaded {
        self.loaded
    }
}

impl Drop for Tentative<'_> {
    fn drop(&mut self) {
        if !self.kept {
            *self.loaded = Loaded::default();
        }
    }
}

#[derive(Clone)]
pub struct RunRepository {
    store: EventStore,
    runs: Arc<Mutex<HashMap<Uuid, Arc<AsyncMutex<Loaded>>>>>,
    /// Held shared by every append and exclusively by [`close`](Self::close),
    /// so that shutdown waits for the appends in flight and then admits no
    /// more; `true` once closed.
    appends: Arc<RwLock<bool>>,
}

impl RunRepository {
    pub fn new(store: EventStore) -> Self {
        RunRepository {
            store,
            runs: Arc::default(),
            appends: Arc::default(),
        }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    fn entry(&self, run_id: Uuid) -> Arc<AsyncMutex<Loaded>> {
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(runs.entry(run_id).or_default())
    }

    /// The run's state, folded from its stream (`status: None` if no run).
    pub async fn load(&self, run_id: Uuid) -> Result<RunState, StoreError> {
        let entry = self.entry(run_id);
        let mut loaded = entry.lock().await;
        self.catch_up(run_id, &mut loaded).await?;
        Ok(loaded.state.clone())
    }

    async fn catch_up(&self, run_id: Uuid, loaded: &mut Loaded) -> Result<(), StoreError> {
        for (version, event) in self.store.load_run(run_id, loaded.version).await? {
            loaded.state.apply(&event);
            loaded.version = version;
        }
        loaded.fresh = true;
        Ok(())
    }

    /// Decides `command` of the service's own (no caller: ingestion, the
    /// sweeper) on the run's current state and appends the result.
    pub async fn execute(
        &self,
        run_id: Uuid,
        command: RunCommand,
    ) -> Result<Vec<RunEvent>, CommandError> {
        self.execute_with_key(None, run_id, command, None).await
    }

    /// As [`execute`](Self::execute), for a caller's command: a command
    /// that changes something is followed, in the same append, by its
    /// `ActionAudited` fact naming `actor`.
    pub async fn execute_as(
        &self,
        actor: &Actor,
        run_id: Uuid,
        command: RunCommand,
    ) -> Result<Vec<RunEvent>, CommandError> {
        self.execute_with_key(Some(actor), run_id, command, None)
            .await
    }

    /// As [`execute_as`](Self::execute_as), also claiming an idempotency
    /// key in the same append (for a run's first command).
    pub async fn execute_with_key(
        &self,
        actor: Option<&Actor>,
        run_id: Uuid,
        command: RunCommand,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<RunEvent>, CommandError> {
        self.decide_and_append(actor, run_id, 1, |_, _| command.clone(), idempotency_key)
            .await
    }

    /// Decides `count` commands in order, command `i` built by `build` from
    /// the state the ones before it left, and appends all their events in
    /// one append (one transaction for a batch of envelopes). All or
    /// nothing: a refused command fails the batch and nothing is written.
    pub async fn execute_batch(
        &self,
        run_id: Uuid,
        count: usize,
        build: impl Fn(&RunState, usize) -> RunCommand,
    ) -> Result<Vec<RunEvent>, CommandError> {
        self.decide_and_append(None, run_id, count, build, None)
            .await
    }

    /// Load (from the cache when fresh) → decide each command → append at
    /// the loaded version; on a conflict, reload and decide again.
    async fn decide_and_append(
        &self,
        actor: Option<&Actor>,
        run_id: Uuid,
        count: usize,
        build: impl Fn(&RunState, usize) -> RunCommand,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<RunEvent>, CommandError> {
        let entry = self.entry(run_id);
        let mut cached = entry.lock().await;
        // Decisions advance the cached state itself; until an append went
        // through, it is tentative (see `Tentative`).
        let mut loaded = Tentative {
            loaded: &mut cached,
            kept: false,
        };
        for _ in 0..CONFLICT_RETRIES {
            if !loaded.fresh {
                self.catch_up(run_id, &mut loaded).await?;
            }
            // Decided on the cached state itself, which each decision
            // advances for the next; if the batch is not appended after all,
            // the cache is dropped and re-read from the log.
            let Decided { events, action } =
                match decide_each(&mut loaded.state, count, &build, actor) {
                    Ok(decided) => decided,
                    Err((refused_at, refused)) => {
                        // Refused before anything was applied: still exact.
                        loaded.kept = refused_at == 0;
                        return Err(refused.into());
                    }
                };
            let gate = self.appends.read().await;
            if *gate {
                return Err(CommandError::ShuttingDown);
            }
            // In the run's own trace (exported when OTLP is configured).
            let span = tracing::info_span!(
                "run.append",
                run_id = %run_id,
                action,
                events = events.len(),
                version = loaded.version,
            );
            crate::telemetry::link_to_run(&span, &loaded.state.trace_id);
            let appended = self
                .store
                .append(run_id, loaded.version, &events, idempotency_key)
                .instrument(span)
                .await;
            drop(gate);
            match appended {
                Ok(version) => {
                    loaded.version = version;
                    loaded.kept = true;
                    let ended = events.iter().find_map(RunEvent::run_ended_at);
                    if let (Some(ended), Some(started)) = (ended, loaded.state.started_at) {
                        let ms = ended.unix_ms() - started.unix_ms();
                        crate::run_metrics::observe_run_duration(ms as f64 / 1000.0);
                    }
                    return Ok(events);
                }
                Err(AppendError::Conflict) => {
                    tracing::debug!(%run_id, "append conflicted; reloading");
                    *loaded.loaded = Loaded::default();
                }
                Err(AppendError::IdempotencyKeyTaken(owner)) => {
                    return Err(CommandError::IdempotencyKeyTaken(owner));
                }
                Err(AppendError::Store(error)) => return Err(error.into()),
            }
        }
        Err(CommandError::Contended(run_id))
    }

    /// Requests several runs at once: for each run id, its commands (a
    /// `RunCommand::RequestRun` and what follows it) are decided in order,
    /// and every run's events are appended in one transaction. This is a
    /// burst of runs recorded together, as session discovery adopts
    /// sessions started together. Answers, per run in order, its events or
    /// why one of its commands was refused (a run that exists, or one
    /// named twice, is `RunAlreadyExists`); a refused run leaves the others
    /// to be appended. If the append itself conflicts (another writer got
    /// to one of the runs), each run's commands are executed again on
    /// their own.
    pub async fn request_runs(
        &self,
        runs: Vec<(Uuid, Vec<RunCommand>)>,
    ) -> Result<Vec<Result<Vec<RunEvent>, CommandError>>, CommandError> {
        // Locked in id order, as no other path locks two runs: no deadlock.
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by_key(|&i| runs[i].0);
        order.dedup_by_key(|i| runs[*i].0);
        let entries: Vec<_> = order.iter().map(|&i| self.entry(runs[i].0)).collect();
        let mut guards = Vec::with_capacity(entries.len());
        for entry in &entries {
            guards.push(entry.lock().await);
        }
        let mut outcomes: Vec<Option<Result<Vec<RunEvent>, CommandError>>> =
            (0..runs.len()).map(|_| None).collect();
        let mut appends = Vec::new();
        for (&i, loaded) in order.iter().zip(guards.iter_mut()) {
            let (run_id, commands) = &runs[i];
            if !loaded.fresh {
                self.catch_up(*run_id, loaded).await?;
            }
            // Decided on a copy: the cached state reads the events back
            // from the log once they are in.
            let mut state = loaded.state.clone();
            let build = |_: &RunState, n: usize| commands[n].clone();
            // A burst of the service's own (discovery): no caller to audit.
            match decide_each(&mut state, commands.len(), build, None) {
                Ok(decided) if decided.events.is_empty() => outcomes[i] = Some(Ok(Vec::new())),
                Ok(decided) => appends.push((i, (*run_id, loaded.version, decided.events))),
                Err((_, refused)) => outcomes[i] = Some(Err(refused.into())),
            }
        }
        let gate = self.appends.read().await;
        if *gate {
            return Err(CommandError::ShuttingDown);
        }
        let streams: Vec<_> = appends.iter().map(|(_, stream)| stream.clone()).collect();
        let appended = self.store.append_streams(&streams).await;
        drop(gate);
        for loaded in guards.iter_mut() {
            loaded.fresh = false;
        }
        drop(guards);
        match appended {
            Ok(_) => {
                for (i, (_, _, events)) in appends {
                    outcomes[i] = Some(Ok(events));
                }
            }
            Err(AppendError::Conflict) => {
                for (i, _) in appends {
                    let (run_id, commands) = &runs[i];
                    let outcome = self
                        .execute_batch(*run_id, commands.len(), |_, n| commands[n].clone())
                        .await;
                    outcomes[i] = Some(outcome);
                }
            }
            Err(AppendError::IdempotencyKeyTaken(owner)) => {
                return Err(CommandError::IdempotencyKeyTaken(owner))
            }
            Err(AppendError::Store(error)) => return Err(error.into()),
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(Err(DomainError::RunAlreadyExists.into())))
            .collect())
    }

    /// Waits for the appends in flight to finish, then refuses every later
    /// one with [`CommandError::ShuttingDown`] (graceful shutdown).
    pub async fn close(&self) {
        *self.appends.write().await = true;
    }

    /// Forgets the cached state of a run that this process no longer drives.
    pub fn evict(&self, run_id: Uuid) {
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        runs.remove(&run_id);
    }
}
