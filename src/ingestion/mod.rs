//! Ingestion: drives each run on the runtime and records what happens.
//!
//! One task per active run ([`run_driver`]), under a lease in the store so
//! that among instances sharing a store exactly one ingests a run. A
//! sweeper picks up every run whose log has no terminal event and whose
//! lease is free or expired (at start-up, and when another instance died),
//! and the driver continues where the log ends.

pub mod discovery;
pub mod run_driver;
pub mod translate;

use crate::run_repository::{CommandError, RunRepository};
use crate::runtime::RuntimeClient;
use aggregates::Timestamp;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// The lease that says which instance ingests a run.
fn lease_name(run_id: Uuid) -> String {
    format!("run:{run_id}")
}

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
            if let Err(error) = store
                .release_lease(&lease_name(run_id), &self.inner.instance_id)
                .await
            {
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
        if self.inner.stopping.load(Ordering::SeqCst) || !self.active().insert(run_id) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.drive_leased(run_id).await;
            this.active().remove(&run_id);
            this.inner.repo.evict(run_id);
        });
    }

    async fn drive_leased(&self, run_id: Uuid) {
        let store = self.inner.repo.store();
        let owner = self.inner.instance_id.as_str();
        let ttl_ms = i64::try_from(self.inner.lease_ttl.as_millis()).unwrap_or(i64::MAX);
        match store
            .try_lease(
                &lease_name(run_id),
                owner,
                Timestamp::now().unix_ms(),
                ttl_ms,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%run_id, %error, "cannot take the run's lease");
                return;
            }
        }
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
            () = self.keep_lease(run_id) => {
                tracing::warn!(%run_id, "lost the run's lease; another instance takes over");
            }
        }
        if let Err(error) = store.release_lease(&lease_name(run_id), owner).await {
            tracing::warn!(%run_id, %error, "cannot release the run's lease (it will expire)");
        }
    }

    /// Renews the lease every third of its life; returns once it is lost
    /// (taken by another instance, or not renewed in time).
    async fn keep_lease(&self, run_id: Uuid) {
        let store = self.inner.repo.store();
        let ttl = self.inner.lease_ttl;
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(ttl / 3).await;
            if self.inner.stopping.load(Ordering::SeqCst) {
                // Released at shutdown: renewing would take it back.
                std::future::pending::<()>().await;
            }
            match store
                .try_lease(
                    &lease_name(run_id),
                    &self.inner.instance_id,
                    Timestamp::now().unix_ms(),
                    ttl_ms,
                )
                .await
            {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%run_id, %error, "cannot renew the run's lease");
                    if renewed.elapsed() >= ttl {
                        return;
                    }
                }
            }
        }
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
        for run_id in &runs {
            self.drive(*run_id);
        }
        Ok(runs.len())
    }
}
