//! Ingestion: drives each run on the runtime and records what happens.
//!
//! One task per active run ([`run_driver`]), under a lease in the store so
//! that among instances sharing a store exactly one ingests a run. A
//! sweeper picks up every run whose log has no terminal event and whose
//! lease is free or expired (at start-up, and when another instance died),
//! and the driver continues where the log ends.

pub mod decision_receipt;
pub mod discovery;
mod leases;
pub mod run_driver;
pub mod translate;

use crate::run_repository::{CommandError, RunRepository};
use crate::runtime::RuntimeClient;
use crate::store::leases::Lease;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

use leases::{lease_name, RunLeases};

/// Runtime envelopes this process has recorded (for `/metrics`).
pub static ENVELOPES_RECORDED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Clone)]
pub struct Ingestion {
    inner: Arc<Inner>,
}

struct Inner {
    repo: RunRepository,
    runtime: RuntimeClient,
    runtime_kind: String,
    active: Mutex<HashSet<Uuid>>,
    /// This process, as a lease owner.
    instance_id: String,
    lease_ttl: Duration,
    leases: RunLeases,
    /// Set at shutdown: no run is started or kept any more.
    stopping: AtomicBool,
    /// Why the sweeper's last look for unfinished runs failed, if it did.
    sweep_error: Mutex<Option<String>>,
}

impl Ingestion {
    pub fn new(
        repo: RunRepository,
        runtime: RuntimeClient,
        runtime_kind: &str,
        instance_id: &str,
        lease_ttl: Duration,
    ) -> Self {
        Ingestion {
            inner: Arc::new(Inner {
                repo,
                runtime,
                runtime_kind: runtime_kind.to_string(),
                active: Mutex::new(HashSet::new()),
                instance_id: instance_id.to_string(),
                lease_ttl,
                leases: RunLeases::new(lease_ttl),
                stopping: AtomicBool::new(false),
                sweep_error: Mutex::new(None),
            }),
        }
    }

    pub fn runtime(&self) -> &RuntimeClient {
        &self.inner.runtime
    }

    pub fn repo(&self) -> &RunRepository {
        &self.inner.repo
    }

    /// At shutdown, once the repository is closed (no append can start):
    /// gives up the lease of every run driven here, so that another
    /// instance, or this one restarted, resumes them at once rather than
    /// when the leases lapse.
    pub async fn release_leases(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let runs: Vec<Uuid> = self.active().iter().copied().collect();
        let store = self.inner.repo.store();
        for run_id in runs {
            if let Err(error) = self.run_lease(run_id).release(store).await {
                tracing::warn!(%run_id, %error, "cannot release the run's lease (it will lapse)");
            }
        }
    }

    /// Whether ingestion is taking runs: not shutting down, and the last
    /// look for unfinished runs worked (else why not).
    pub fn readiness(&self) -> Result<(), String> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err("shutting down".into());
        }
        match self
            .inner
            .sweep_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            Some(error) => Err(format!("looking for unfinished runs failed: {error}")),
            None => Ok(()),
        }
    }

    pub fn active_runs(&self) -> usize {
        self.active().len()
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.inner
            .active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts driving `run_id` unless this process drives it already or
    /// another instance holds its lease.
    pub fn drive(&self, run_id: Uuid) {
        self.drive_all(vec![run_id]);
    }

    /// Starts driving each of `run_ids` that this process does not drive
    /// already and whose lease no other instance holds: their leases are
    /// taken in one statement (a burst of adopted sessions, or the
    /// unfinished runs found at start-up), then each run gets its driver.
    pub fn drive_all(&self, run_ids: Vec<Uuid>) {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let run_ids: Vec<Uuid> = {
            let mut active = self.active();
            run_ids
                .into_iter()
                .filter(|id| active.insert(*id))
                .collect()
        };
        if run_ids.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let leased = this.take_leases(&run_ids).await;
            // Renewal rounds from now on see these leases in the store.
            let taken = tokio::time::Instant::now();
            for run_id in run_ids {
                if !leased.contains(&run_id) {
                    this.active().remove(&run_id);
                    continue;
                }
                let this = this.clone();
                tokio::spawn(async move {
                    this.drive_leased(run_id, taken).await;
                    this.active().remove(&run_id);
                    this.inner.repo.evict(run_id);
                });
            }
        });
    }

    /// The lease on ingesting `run_id`, as this instance takes it.
    fn run_lease(&self, run_id: Uuid) -> Lease {
        Lease::new(
            lease_name(run_id),
            self.inner.instance_id.as_str(),
            self.inner.lease_ttl,
        )
    }

    /// Takes the leases of `run_ids` for this instance; answers the runs
    /// whose lease it holds now (none if the store failed).
    async fn take_leases(&self, run_ids: &[Uuid]) -> HashSet<Uuid> {
        let leases: Vec<Lease> = run_ids.iter().map(|id| self.run_lease(*id)).collect();
        match Lease::try_take_all(self.inner.repo.store(), &leases).await {
            Ok(taken) => run_ids
                .iter()
                .zip(&leases)
                .filter(|(_, lease)| taken.contains(&lease.name))
                .map(|(id, _)| *id)
                .collect(),
            Err(error) => {
                tracing::warn!(runs = run_ids.len(), %error, "cannot take the runs' leases");
                HashSet::new()
            }
        }
    }

    /// Drives a run whose lease was taken at `taken`, until it ends or the
    /// lease is lost; then gives the lease back.
    async fn drive_leased(&self, run_id: Uuid, taken: tokio::time::Instant) {
        let driver = run_driver::RunDriver {
            run_id,
            repo: self.inner.repo.clone(),
            runtime: self.inner.runtime.clone(),
            runtime_kind: self.inner.runtime_kind.clone(),
        };
        // The whole drive as one span of the run's trace.
        let span = tracing::info_span!("run.drive", run_id = %run_id);
        if let Ok(state) = self.inner.repo.load(run_id).await {
            crate::telemetry::link_to_run(&span, &state.trace_id);
        }
        tokio::select! {
            result = driver.run().instrument(span) => {
                match result {
                    Ok(()) => {}
                    Err(run_driver::DriveError::Command(CommandError::ShuttingDown)) => {
                        tracing::info!(%run_id, "run handed over at shutdown");
                    }
                    Err(error) => tracing::error!(%run_id, %error, "run driver stopped"),
                }
            }
            () = self.inner.leases.lost(run_id, taken) => {
                tracing::warn!(%run_id, "lost the run's lease; another instance takes over");
            }
        }
        let store = self.inner.repo.store();
        if let Err(error) = self.run_lease(run_id).release(store).await {
            tracing::warn!(%run_id, %error, "cannot release the run's lease (it will expire)");
        }
    }

    /// Renews the leases of the runs driven here, all in one statement,
    /// every third of a lease, and stops a driver whose lease is lost.
    pub fn spawn_lease_keeper(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        self.inner.leases.spawn_keeper(
            self.inner.repo.store().clone(),
            self.inner.instance_id.clone(),
            move || this.inner.stopping.load(Ordering::SeqCst),
        )
    }

    /// Looks for unfinished runs no instance is driving, now and then.
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let interval = (self.inner.lease_ttl / 2).max(Duration::from_millis(200));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let swept = this.resume_unfinished().await;
                if let Err(error) = &swept {
                    tracing::warn!(%error, "looking for unfinished runs failed");
                }
                *this
                    .inner
                    .sweep_error
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    swept.err().map(|e| e.to_string());
            }
        })
    }

    /// Picks up every unfinished run in the log.
    pub async fn resume_unfinished(&self) -> anyhow::Result<usize> {
        let runs = self.inner.repo.store().unfinished_runs().await?;
        let count = runs.len();
        self.drive_all(runs);
        Ok(count)
    }
}
