//! Leases: a named role (a run's ingestion, a projector, the webhook
//! sender) that one owner at a time holds in the store until it expires,
//! so that among instances sharing a store exactly one does each job.
//! Times are the wall clock's (unix ms): instances compare them.

use super::dialect::{values_placeholders, INSERT_CHUNK};
use super::{EventStore, StoreError};
use aggregates::Timestamp;
use sqlx::Row;
use std::collections::HashSet;
use std::time::Duration;

/// `duration` in whole milliseconds, as the lease table keeps times.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;

/// A role `owner` holds, or means to, for `ttl` after it last took or
/// renewed it; once that has passed, any owner may take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub owner: String,
    pub ttl: Duration,
}

impl Lease {
    pub fn new(name: impl Into<String>, owner: impl Into<String>, ttl: Duration) -> Self {
        Lease {
            name: name.into(),
            owner: owner.into(),
            ttl,
        }
    }

    fn ttl_ms(&self) -> i64 {
        millis(self.ttl)
    }

    /// Takes the lease where it is free or expired, or renews it where
    /// `owner` holds it already: `true` if `owner` holds it now.
    pub async fn try_take(&self, store: &EventStore) -> Result<bool, StoreError> {
        self.try_take_at(store, Timestamp::now().unix_ms()).await
    }

    /// [`try_take`](Self::try_take) at `now_ms`, for a caller that reads
    /// the clock once for the lease and for what it does under it.
    pub async fn try_take_at(&self, store: &EventStore, now_ms: i64) -> Result<bool, StoreError> {
        let held = take_all(store, std::slice::from_ref(self), now_ms).await?;
        Ok(held.contains(&self.name))
    }

    /// [`try_take`](Self::try_take) for each of `leases`, in one statement
    /// per chunk (a burst of runs takes its leases together); answers the
    /// names whose owner holds them now.
    pub async fn try_take_all(
        store: &EventStore,
        leases: &[Lease],
    ) -> Result<HashSet<String>, StoreError> {
        take_all(store, leases, Timestamp::now().unix_ms()).await
    }

    /// Renews, for `ttl`, every lease `owner` holds whose name starts with
    /// `prefix`, in one statement; answers their names. A lease another
    /// owner took, or one released, is not among them.
    pub async fn renew_all(
        store: &EventStore,
        owner: &str,
        prefix: &str,
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let ttl_ms = millis(ttl);
        let rows = sqlx::query(
            "UPDATE leases SET expires_at = $1 WHERE owner = $2 AND name LIKE $3 RETURNING name",
        )
        .bind(Timestamp::now().unix_ms() + ttl_ms)
        .bind(owner)
        .bind(format!("{prefix}%"))
        .fetch_all(store.pool())
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>(0)?))
            .collect()
    }

    /// Gives the lease up if `owner` still holds it, so that the next
    /// owner need not wait for it to expire.
    pub async fn release(&self, store: &EventStore) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(self.name.as_str())
            .bind(self.owner.as_str())
            .execute(store.pool())
            .await?;
        Ok(())
    }

    /// Renews the lease every third of its life; returns once it is lost:
    /// another owner holds it, or no renewal has worked for a whole `ttl`.
    pub async fn keep(&self, store: &EventStore) {
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.ttl / 3).await;
            match self.try_take(store).await {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(lease = %self.name, %error, "cannot renew the lease");
                    if renewed.elapsed() >= self.ttl {
                        return;
                    }
                }
            }
        }
    }
}

/// Takes or renews each of `leases` for its owner until `now_ms` plus its
/// ttl, where it is free, expired, or already its owner's; answers the
/// names held now.
async fn take_all(
    store: &EventStore,
    leases: &[Lease],
    now_ms: i64,
) -> Result<HashSet<String>, StoreError> {
    let mut held = HashSet::with_capacity(leases.len());
    for chunk in leases.chunks(INSERT_CHUNK) {
        // The upsert's WHERE reads the time as the last parameter.
        let now = chunk.len() * 3 + 1;
        let sql = format!(
            "INSERT INTO leases (name, owner, expires_at) VALUES {} \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
             WHERE leases.owner = excluded.owner OR leases.expires_at < ${now} RETURNING name",
            values_placeholders(chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for lease in chunk {
            query = query
                .bind(lease.name.as_str())
                .bind(lease.owner.as_str())
                .bind(now_ms + lease.ttl_ms());
        }
        for row in query.bind(now_ms).fetch_all(store.pool()).await? {
            held.insert(row.try_get::<String, _>(0)?);
        }
    }
    Ok(held)
}

impl EventStore {
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
