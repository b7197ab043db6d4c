//! Ingestion: drives each run on the runtime and records what happens.
//!
//! One task per active run ([`run_driver`]). On start-up every run whose
//! log has no terminal event is picked up again where its log ends.

pub mod discovery;
pub mod run_driver;
pub mod translate;

use crate::run_repository::RunRepository;
use crate::runtime::RuntimeClient;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[derive(Clone)]
pub struct Ingestion {
    inner: Arc<Inner>,
}

struct Inner {
    repo: RunRepository,
    runtime: RuntimeClient,
    runtime_kind: String,
    active: Mutex<HashSet<Uuid>>,
}

impl Ingestion {
    pub fn new(repo: RunRepository, runtime: RuntimeClient, runtime_kind: &str) -> Self {
        Ingestion {
            inner: Arc::new(Inner {
                repo,
                runtime,
                runtime_kind: runtime_kind.to_string(),
                active: Mutex::new(HashSet::new()),
            }),
        }
    }

    pub fn runtime(&self) -> &RuntimeClient {
        &self.inner.runtime
    }

    pub fn repo(&self) -> &RunRepository {
        &self.inner.repo
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

    /// Starts driving `run_id` unless this process drives it already.
    pub fn drive(&self, run_id: Uuid) {
        if !self.active().insert(run_id) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let driver = run_driver::RunDriver {
                run_id,
                repo: this.inner.repo.clone(),
                runtime: this.inner.runtime.clone(),
                runtime_kind: this.inner.runtime_kind.clone(),
            };
            if let Err(error) = driver.run().await {
                tracing::error!(%run_id, %error, "run driver stopped");
            }
            this.active().remove(&run_id);
            this.inner.repo.evict(run_id);
        });
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
