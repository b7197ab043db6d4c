//! Which projectors this instance writes: each under its lease, those it
//! holds following the log as one group, the others tried again every
//! half lease.

use super::follow::{follow, Follow};
use super::{Projector, ProjectorHealth};
use crate::store::leases::Lease;
use crate::store::{EventStore, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Events read per batch while following the log live.
pub const BATCH_SIZE: i64 = 1000;

/// The name of the lease that says which instance writes a projector.
pub fn lease_name(projector: &str) -> String {
    format!("projector:{projector}")
}

/// The lease on writing `projector`, as `owner` takes it.
pub fn lease(projector: &str, owner: &str, ttl: Duration) -> Lease {
    Lease::new(lease_name(projector), owner, ttl)
}

/// Each of `projectors` with the lease under which `owner` writes it: the
/// one list that [`spawn`] takes and that the service releases at shutdown.
pub fn leased(
    projectors: Vec<Arc<dyn Projector>>,
    owner: &str,
    ttl: Duration,
) -> Vec<(Arc<dyn Projector>, Lease)> {
    projectors
        .into_iter()
        .map(|projector| {
            let lease = lease(projector.name(), owner, ttl);
            (projector, lease)
        })
        .collect()
}

/// Runs `projectors` (each with its lease, from [`leased`]) until the task
/// is aborted: the ones whose leases this
/// instance holds follow the log together (one read and one transaction
/// per batch for all of them: SQLite has one writer, and each extra writer
/// would only wait for it). Leases it lacks are tried again every half
/// lease, so a projector whose holder died is taken over.
pub fn spawn(
    store: EventStore,
    projectors: Vec<(Arc<dyn Projector>, Lease)>,
    lease_ttl: Duration,
    health: ProjectorHealth,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let mut held = Vec::new();
            let mut held_leases = Vec::new();
            for (projector, lease) in &projectors {
                match lease.try_take(&store).await {
                    Ok(true) => {
                        held.push(Arc::clone(projector));
                        held_leases.push(lease);
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(lease = %lease.name, %error, "cannot take the projector's lease");
                    }
                }
            }
            if held.is_empty() {
                tokio::time::sleep(lease_ttl / 2).await;
                continue;
            }
            let keepers = held_leases.iter().map(|lease| Box::pin(lease.keep(&store)));
            // With every lease held there is nothing to look for.
            let look_again = async {
                if held.len() < projectors.len() {
                    tokio::time::sleep(lease_ttl / 2).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let progressed = health.clone();
            let mut progress = move |_, _| progressed.progressed();
            tokio::select! {
                result = follow(&store, &held, Follow::Forever, BATCH_SIZE, &mut progress) => {
                    if let Err(error) = result {
                        stalled(&store, &held, &health, error).await;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                _ = futures::future::select_all(keepers) => {
                    tracing::warn!("lost a projector's lease");
                }
                () = look_again => {}
            }
        }
    })
}

/// Records and logs a batch the projectors could not fold or write: which
/// projectors, the first log position they have not folded, and why.
async fn stalled(
    store: &EventStore,
    held: &[Arc<dyn Projector>],
    health: &ProjectorHealth,
    error: StoreError,
) {
    let names: Vec<String> = held.iter().map(|p| p.name().to_string()).collect();
    let checkpoints = store.checkpoints().await.unwrap_or_default();
    let position = names
        .iter()
        .map(|name| checkpoints.get(name).copied().unwrap_or(0))
        .min()
        .unwrap_or(0)
        + 1;
    tracing::error!(
        projectors = %names.join(","),
        position,
        %error,
        "projectors cannot fold or write the events from this log position; retrying"
    );
    health.failed(names, position, error.to_string());
}
