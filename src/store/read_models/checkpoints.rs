//! Where each projector is in the log: its checkpoint, a log position.

use crate::store::{EventStore, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

impl EventStore {
    /// The checkpoint row of a projector, created at 0 if missing.
    pub async fn ensure_checkpoint(&self, projector: &str) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO projector_checkpoints (projector, position) VALUES ($1, 0) \
             ON CONFLICT (projector) DO NOTHING",
        )
        .bind(projector)
        .execute(self.pool())
        .await?;
        self.checkpoint(projector).await
    }

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

    /// Every projector's checkpoint, in one query (a projector with no row
    /// yet is absent: its checkpoint is 0).
    pub async fn checkpoints(&self) -> Result<HashMap<String, i64>, StoreError> {
        let rows = sqlx::query("SELECT projector, position FROM projector_checkpoints")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Waits, `wait` at most, until every projector of `projectors` has
    /// folded the log up to `position`, reading the checkpoints again every
    /// `poll`: `true` once they have, `false` if the time ran out first.
    pub async fn wait_for_checkpoints(
        &self,
        projectors: &[&str],
        position: i64,
        wait: Duration,
        poll: Duration,
    ) -> Result<bool, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            let checkpoints = self.checkpoints().await?;
            let behind = projectors
                .iter()
                .any(|name| checkpoints.get(*name).copied().unwrap_or(0) < position);
            if !behind {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The lowest checkpoint of any projector: the log is fully projected
    /// up to it.
    pub async fn slowest_checkpoint(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MIN(position), 0) FROM projector_checkpoints")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }
}
