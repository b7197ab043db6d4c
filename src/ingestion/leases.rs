//! The run leases this instance holds, renewed together: one statement a
//! round renews every run driven here, where each driver used to renew its
//! own (3,000 open runs were 900 lease writes a second with the default
//! 10 s lease, and 9,000 with the bench's 1 s).
//!
//! Each round is announced to the drivers: a driver whose lease was not
//! among those renewed (another instance took it), or whose renewals have
//! failed for a whole lease, stops. Rounds that began before a driver took
//! its lease say nothing about it.

use crate::store::leases::Lease;
use crate::store::EventStore;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

/// The prefix of every run lease's name.
pub const RUN_LEASE_PREFIX: &str = "run:";

/// The lease that says which instance ingests a run.
pub fn lease_name(run_id: Uuid) -> String {
    format!("{RUN_LEASE_PREFIX}{run_id}")
}

/// One renewal round, as the drivers see it.
#[derive(Clone)]
struct Round {
    started: Instant,
    /// The runs whose leases it renewed; `None` if the renewal failed.
    renewed: Option<Arc<HashSet<Uuid>>>,
    /// When the last successful round started.
    last_renewed: Instant,
}

/// Renews this instance's run leases and tells drivers when they lost one.
#[derive(Clone)]
pub struct RunLeases {
    rounds: watch::Sender<Round>,
    ttl: Duration,
}

impl RunLeases {
    pub fn new(ttl: Duration) -> Self {
        let now = Instant::now();
        let (rounds, _) = watch::channel(Round {
            started: now,
            renewed: None,
            last_renewed: now,
        });
        RunLeases { rounds, ttl }
    }

    /// Renews every run lease `owner` holds, every third of a lease, until
    /// `stopping()` (at shutdown the leases are released: renewing would
    /// take them back).
    pub fn spawn_keeper(
        &self,
        store: EventStore,
        owner: String,
        stopping: impl Fn() -> bool + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last_renewed = Instant::now();
            loop {
                tokio::time::sleep(this.ttl / 3).await;
                if stopping() {
                    return;
                }
                let started = Instant::now();
                let renewed =
                    match Lease::renew_all(&store, &owner, RUN_LEASE_PREFIX, this.ttl).await {
                        Ok(names) => {
                            last_renewed = started;
                            let runs = names
                                .iter()
                                .filter_map(|name| name.strip_prefix(RUN_LEASE_PREFIX))
                                .filter_map(|id| Uuid::parse_str(id).ok())
                                .collect();
                            Some(Arc::new(runs))
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot renew the run leases");
                            None
                        }
                    };
                this.rounds.send_replace(Round {
                    started,
                    renewed,
                    last_renewed,
                });
            }
        })
    }

    /// Returns once the lease of `run_id`, taken at `taken`, is lost: not
    /// renewed by a round that began after it was taken, or not renewed at
    /// all for a whole lease.
    pub async fn lost(&self, run_id: Uuid, taken: Instant) {
        let mut rounds = self.rounds.subscribe();
        loop {
            if rounds.changed().await.is_err() {
                // No keeper any more: nothing will say the lease was lost.
                std::future::pending::<()>().await;
            }
            let round = rounds.borrow_and_update().clone();
            if round.started < taken {
                continue;
            }
            // Lost when a round renewed the other leases but not this one,
            // or when no round has renewed anything for a whole lease.
            let lost = match round.renewed {
                Some(runs) => !runs.contains(&run_id),
                None => round.last_renewed.max(taken).elapsed() >= self.ttl,
            };
            if lost {
                return;
            }
        }
    }
}
