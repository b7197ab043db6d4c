//! Dropping read models so that they are folded again: a whole projection
//! (its checkpoint back to 0), or one run's models.

use crate::store::{EventStore, StoreError};
use uuid::Uuid;

/// Which tables a projector writes, for a reset.
#[derive(Debug, Clone, Copy)]
pub enum ProjectionTable {
    /// `read_models` rows with `projection = name`.
    Documents,
    RunList,
    CanonicalIndex,
    AuditLog,
    /// The webhook outbox: not disposable (rows are deliveries owed), so a
    /// reset only rewinds the checkpoint, and re-folding queues nothing twice.
    WebhookOutbox,
}

impl EventStore {
    /// Drops what a projector wrote and sets its checkpoint to 0, in one
    /// transaction; its writer (wherever it runs) notices at its next batch
    /// and re-folds from the start of the log.
    pub async fn reset_projection(
        &self,
        projector: &str,
        table: ProjectionTable,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let delete = match table {
            ProjectionTable::Documents => {
                Some(sqlx::query("DELETE FROM read_models WHERE projection = $1").bind(projector))
            }
            ProjectionTable::RunList => Some(sqlx::query("DELETE FROM run_list")),
            ProjectionTable::CanonicalIndex => Some(sqlx::query("DELETE FROM canonical_events")),
            ProjectionTable::AuditLog => Some(sqlx::query("DELETE FROM audit_log")),
            ProjectionTable::WebhookOutbox => None,
        };
        if let Some(delete) = delete {
            delete.execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO projector_checkpoints (projector, position) VALUES ($1, 0) \
             ON CONFLICT (projector) DO UPDATE SET position = 0",
        )
        .bind(projector)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops every per-run read model of one run (its documents, run-list
    /// row and indexed events), for a rebuild of that run.
    pub async fn delete_run_models(
        &self,
        run_id: Uuid,
        documents: &[&str],
    ) -> Result<(), StoreError> {
        let id = run_id.to_string();
        let mut tx = self.pool().begin().await?;
        for projection in documents {
            sqlx::query("DELETE FROM read_models WHERE projection = $1 AND model_key = $2")
                .bind(*projection)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        let uuid = self.dialect().uuid_param();
        for table in ["run_list", "canonical_events", "audit_log"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE run_id = $1{uuid}"))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
