//! Leases: a named role (a run's ingestion, a projector, the webhook
//! sender) that one owner at a time holds in the store until it expires,
//! so that among instances sharing a store exactly one does each job.

use super::dialect::{values_placeholders, INSERT_CHUNK};
use super::{EventStore, StoreError};
use sqlx::Row;
use std::collections::HashSet;

impl EventStore {
    /// [`try_leases`](Self::try_leases) for the one role `name`: `true` if
    /// `owner` holds it now.
    pub async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let held = self
            .try_leases(&[name.to_string()], owner, now_ms, ttl_ms)
            .await?;
        Ok(held.contains(name))
    }

    /// Takes or renews the lease on each role of `names` for `owner` until
    /// `now_ms + ttl_ms`, where it is free, expired, or already `owner`'s,
    /// in one statement per chunk; answers the names `owner` holds now.
    pub async fn try_leases(
        &self,
        names: &[String],
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<HashSet<String>, StoreError> {
        let mut held = HashSet::with_capacity(names.len());
        for chunk in names.chunks(INSERT_CHUNK) {
            // The upsert's WHERE reads the time as the last parameter.
            let now = chunk.len() * 3 + 1;
            let sql = format!(
                "INSERT INTO leases (name, owner, expires_at) VALUES {} \
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE leases.owner = excluded.owner OR leases.expires_at < ${now} RETURNING name",
                values_placeholders(chunk.len(), 3)
            );
            let mut query = sqlx::query(&sql);
            for name in chunk {
                query = query.bind(name.as_str()).bind(owner).bind(now_ms + ttl_ms);
            }
            for row in query.bind(now_ms).fetch_all(&self.pool).await? {
                held.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(held)
    }

    /// Renews, until `now_ms + ttl_ms`, every lease `owner` holds whose
    /// name starts with `prefix`; answers their names. A lease another
    /// owner took, or one released, is not among them.
    pub async fn renew_leases(
        &self,
        owner: &str,
        prefix: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "UPDATE leases SET expires_at = $1 WHERE owner = $2 AND name LIKE $3 RETURNING name",
        )
        .bind(now_ms + ttl_ms)
        .bind(owner)
        .bind(format!("{prefix}%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>(0)?))
            .collect()
    }

    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Who holds role `name` and until when (unix ms), if anyone.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, i64)>, StoreError> {
        let row = sqlx::query("SELECT owner, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| Ok::<_, sqlx::Error>((row.try_get(0)?, row.try_get(1)?)))
            .transpose()?)
    }
}
