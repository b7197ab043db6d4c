//! Idempotency keys: a request's key is claimed by the append that makes
//! its run, so a repeated request finds that run instead of making another.

use super::error::{is_unique_violation, parse_uuid};
use super::{AppendError, EventStore, StoreError};
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

impl EventStore {
    pub async fn idempotent_run(&self, key: &str) -> Result<Option<Uuid>, StoreError> {
        let row = sqlx::query("SELECT run_id FROM idempotency_keys WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| parse_uuid(&row.try_get::<String, _>(0)?))
            .transpose()
    }

    /// Frees `key` if it still belongs to `run_id` (a deleted run), so a
    /// request repeated with it makes a new run. The deleted run's events
    /// stay; only the reservation goes.
    pub async fn release_idempotency_key(&self, key: &str, run_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE idempotency_key = $1 AND run_id = $2")
            .bind(key)
            .bind(run_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Claims `key` for `stream_id` in the append's transaction `tx`, and
    /// hands `tx` back. A key another run holds ends the append: `tx` is
    /// rolled back first, giving its connection back before the lookup of
    /// the holder takes one.
    pub(super) async fn claim_idempotency_key(
        &self,
        mut tx: Transaction<'static, Any>,
        key: &str,
        stream_id: Uuid,
    ) -> Result<Transaction<'static, Any>, AppendError> {
        let claimed =
            sqlx::query("INSERT INTO idempotency_keys (idempotency_key, run_id) VALUES ($1, $2)")
                .bind(key)
                .bind(stream_id.to_string())
                .execute(&mut *tx)
                .await;
        if let Err(error) = claimed {
            if is_unique_violation(&error) {
                drop(tx);
                let owner = self.idempotent_run(key).await?.unwrap_or(stream_id);
                return Err(AppendError::IdempotencyKeyTaken(owner));
            }
            return Err(error.into());
        }
        Ok(tx)
    }
}
