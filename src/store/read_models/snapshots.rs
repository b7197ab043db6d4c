//! Run-state snapshots: documents of `read_models` keyed so that the
//! latest one at or below a seq is one range lookup (the projector that
//! takes them is `projector::snapshots`).

use crate::store::{EventStore, StoreError};
use uuid::Uuid;

/// The projection (in `read_models`) that holds the snapshots.
pub const SNAPSHOTS: &str = "run_state_snapshots";

/// The `read_models` key of a run's snapshot at `seq`: the seq zero-padded,
/// so that keys sort as numbers.
pub fn snapshot_key(run_id: Uuid, seq: u64) -> String {
    format!("{run_id}@{seq:020}")
}

impl EventStore {
    /// The latest run-state snapshot of a run taken at or below `seq` (see
    /// `projector::snapshots`), as JSON.
    pub async fn latest_snapshot(
        &self,
        run_id: Uuid,
        seq: u64,
    ) -> Result<Option<String>, StoreError> {
        let sql = format!(
            "SELECT {} FROM read_models WHERE projection = $1 AND model_key > $2 \
             AND model_key <= $3 ORDER BY model_key DESC LIMIT 1",
            self.dialect().as_text("doc")
        );
        self.one_doc(
            sqlx::query_scalar(&sql)
                .bind(SNAPSHOTS)
                .bind(format!("{run_id}@"))
                .bind(snapshot_key(run_id, seq)),
        )
        .await
    }
}
