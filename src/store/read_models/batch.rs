//! A projector's batch: the writes it asks for and the checkpoints they
//! move, committed in one transaction.

use super::audit::AuditRow;
use super::run_list::RunRow;
use crate::store::webhooks::NewDelivery;
use crate::store::{Dialect, EventStore, StoreError};
use sqlx::{Any, Transaction};
use uuid::Uuid;

#[cfg(test)]
mod tests;

/// One write a projector asks for; computed before any transaction opens,
/// so that no connection is held while a projector reads.
#[derive(Debug, Clone)]
pub enum ModelWrite {
    /// A `read_models` document under `key` (a run id, or another key such
    /// as a participant id).
    Document {
        projection: &'static str,
        key: String,
        doc: String,
        position: i64,
    },
    RunRow(RunRow),
    /// An indexed canonical event; one indexed already is left as it is.
    CanonicalEvent {
        run_id: Uuid,
        seq: i64,
        event_type: String,
        ts: String,
        /// The log position of the fact that records it: where its bytes
        /// are read from, and the cursor of `GET /events`.
        position: i64,
    },
    /// An audit-log row (one per `ActionAudited` event, by its position).
    AuditEntry(AuditRow),
    /// A webhook delivery to queue; one queued already is left as it is.
    QueuedDelivery(NewDelivery),
    /// A deleted run's deliveries still pending: cancelled, never sent.
    RunDeliveriesCancelled {
        run_id: Uuid,
    },
}

/// A projector's writes for one batch, committed with its checkpoint.
pub struct ProjectionBatch<'a> {
    pub(in crate::store) tx: Transaction<'a, Any>,
    pub(in crate::store) dialect: Dialect,
}

impl EventStore {
    pub async fn begin_projection(&self) -> Result<ProjectionBatch<'static>, StoreError> {
        Ok(ProjectionBatch {
            tx: self.pool().begin().await?,
            dialect: self.dialect(),
        })
    }

    /// Writes a rebuild's output (no checkpoint moves: the log is unchanged).
    pub async fn write_models(&self, writes: &[ModelWrite]) -> Result<(), StoreError> {
        let mut batch = self.begin_projection().await?;
        batch.write_all(writes).await?;
        batch.commit().await
    }
}

impl ProjectionBatch<'_> {
    /// A batch's writes: canonical events, documents and run-list rows in
    /// multi-row statements (they are most of a batch: a busy batch touches
    /// every model of hundreds of runs), the other rows one statement each,
    /// in order.
    pub async fn write_all(&mut self, writes: &[ModelWrite]) -> Result<(), StoreError> {
        let mut events = Vec::new();
        let mut documents = Vec::new();
        let mut run_rows = Vec::new();
        for write in writes {
            match write {
                ModelWrite::CanonicalEvent {
                    run_id,
                    seq,
                    event_type,
                    ts,
                    position,
                } => events.push((run_id.to_string(), *seq, event_type, ts, *position)),
                ModelWrite::Document {
                    projection,
                    key,
                    doc,
                    position,
                } => documents.push((*projection, key.as_str(), doc.as_str(), *position)),
                ModelWrite::RunRow(row) => run_rows.push(row),
                ModelWrite::AuditEntry(row) => self.insert_audit_entry(row).await?,
                ModelWrite::QueuedDelivery(delivery) => self.queue_delivery(delivery).await?,
                ModelWrite::RunDeliveriesCancelled { run_id } => {
                    self.cancel_run_deliveries(*run_id).await?;
                }
            }
        }
        self.insert_canonical_events(&events).await?;
        self.upsert_read_models(documents).await?;
        self.upsert_run_rows(run_rows).await?;
        Ok(())
    }

    /// Moves the projector's checkpoint from `from` to `to` within the
    /// batch; if it is no longer at `from` (a rebuild reset it, or another
    /// writer moved it), the batch fails and nothing of it is written.
    pub async fn advance(&mut self, projector: &str, from: i64, to: i64) -> Result<(), StoreError> {
        let moved = sqlx::query(
            "UPDATE projector_checkpoints SET position = $1 WHERE projector = $2 AND position = $3",
        )
        .bind(to)
        .bind(projector)
        .bind(from)
        .execute(&mut *self.tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::CheckpointMoved(projector.to_string()));
        }
        Ok(())
    }

    /// Commits the writes and the checkpoints moved with them.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// `items` with, for each key, only the last item of that key, in the order
/// of those last items.
pub(super) fn last_per_key<T, K: Eq + std::hash::Hash>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut last = std::collections::HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| last.get(&key(item)) == Some(i))
        .map(|(_, item)| item)
        .collect()
}
