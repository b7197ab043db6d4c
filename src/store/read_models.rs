//! Storage of the read side: projector checkpoints, one JSON document per
//! (projection, run), and the canonical-event index. Everything here is
//! disposable and rebuilt from the log.

use super::{EventStore, StoreError};
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

/// A projector's writes for one batch, committed with its checkpoint.
pub struct ProjectionBatch<'a> {
    tx: Transaction<'a, Any>,
}

impl EventStore {
    pub async fn checkpoint(&self, projector: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT position FROM projector_checkpoints WHERE projector = $1")
            .bind(projector)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => 0,
        })
    }

    pub async fn read_model(
        &self,
        projection: &str,
        run_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT doc FROM read_models WHERE projection = $1 AND run_id = $2")
            .bind(projection)
            .bind(run_id.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    /// Canonical events of a run with `seq > after_seq`, in order, as JSON.
    pub async fn canonical_events(
        &self,
        run_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT doc FROM canonical_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id.to_string())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }

    /// Canonical events of a run with `seq ≤ through_seq`, in order.
    pub async fn canonical_events_through(
        &self,
        run_id: Uuid,
        through_seq: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT doc FROM canonical_events WHERE run_id = $1 AND seq <= $2 ORDER BY seq",
        )
        .bind(run_id.to_string())
        .bind(through_seq)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }

    pub async fn begin_projection(&self) -> Result<ProjectionBatch<'static>, StoreError> {
        Ok(ProjectionBatch {
            tx: self.pool().begin().await?,
        })
    }
}

impl ProjectionBatch<'_> {
    pub async fn upsert_read_model(
        &mut self,
        projection: &str,
        run_id: Uuid,
        doc: &str,
        position: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO read_models (projection, run_id, doc, position) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (projection, run_id) DO UPDATE SET doc = excluded.doc, position = excluded.position",
        )
        .bind(projection)
        .bind(run_id.to_string())
        .bind(doc)
        .bind(position)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Indexes one canonical event; an event indexed already is left as is.
    pub async fn insert_canonical_event(
        &mut self,
        run_id: Uuid,
        seq: i64,
        event_type: &str,
        ts: &str,
        doc: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO canonical_events (run_id, seq, event_type, ts, doc) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id, seq) DO NOTHING",
        )
        .bind(run_id.to_string())
        .bind(seq)
        .bind(event_type)
        .bind(ts)
        .bind(doc)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Moves the projector's checkpoint and commits the batch with it.
    pub async fn commit(mut self, projector: &str, position: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO projector_checkpoints (projector, position) VALUES ($1, $2) \
             ON CONFLICT (projector) DO UPDATE SET position = excluded.position",
        )
        .bind(projector)
        .bind(position)
        .execute(&mut *self.tx)
        .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
