//! Whether the projectors are keeping up: the failure of their last batch
//! (which projectors, from which log position, why), kept until a batch
//! commits again. `/readyz` reports a stall as not ready, `/metrics`
//! counts it, and the log names the position at each failure; the group
//! retries by itself, so it recovers once the cause is gone.

use aggregates::Timestamp;
use std::sync::{Arc, Mutex, MutexGuard};

/// Shared between the projector task and the HTTP layer of one service.
#[derive(Clone, Default)]
pub struct ProjectorHealth(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    stall: Option<Stall>,
    failures: u64,
}

/// A batch the projectors could not fold or write.
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    pub projectors: Vec<String>,
    /// The first log position not folded (the checkpoint plus one).
    pub position: i64,
    pub error: String,
    /// When the first failure of this stall happened.
    pub since: Timestamp,
}

impl ProjectorHealth {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a failed batch (the first one starts the stall).
    pub fn failed(&self, projectors: Vec<String>, position: i64, error: String) {
        let mut inner = self.lock();
        inner.failures += 1;
        let since = inner
            .stall
            .as_ref()
            .filter(|s| s.position == position)
            .map_or_else(Timestamp::now, |s| s.since);
        inner.stall = Some(Stall {
            projectors,
            position,
            error,
            since,
        });
    }

    /// A batch committed: whatever stalled is moving again.
    pub fn progressed(&self) {
        self.lock().stall = None;
    }

    pub fn stall(&self) -> Option<Stall> {
        self.lock().stall.clone()
    }

    /// Failed batches since the service started.
    pub fn failures(&self) -> u64 {
        self.lock().failures
    }
}

impl Stall {
    /// What `/readyz` says of it.
    pub fn describe(&self) -> String {
        format!(
            "{} cannot fold log position {} (stalled since {}): {}",
            self.projectors.join(", "),
            self.position,
            self.since,
            self.error
        )
    }
}
