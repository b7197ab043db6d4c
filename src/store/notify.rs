//! Telling followers that the log moved: in this process through a
//! [`Notify`], across instances through PostgreSQL's NOTIFY.

use super::{Dialect, EventStore, StoreError};
use sqlx::{Any, Transaction};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// The PostgreSQL NOTIFY channel of runs whose canonical events were indexed.
pub const INDEXED_CHANNEL: &str = "macp_indexed";
/// The PostgreSQL NOTIFY channel of appends (wakes projectors elsewhere).
pub const APPENDED_CHANNEL: &str = "macp_appended";

impl EventStore {
    /// Woken after every successful append in this process.
    pub fn appended(&self) -> Arc<Notify> {
        Arc::clone(&self.appended)
    }

    /// Within an append's transaction: a NOTIFY is delivered at commit, so
    /// the projectors of other instances wake for committed rows only.
    pub(super) async fn announce_appended(
        &self,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<(), sqlx::Error> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(APPENDED_CHANNEL)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Tells every instance (PostgreSQL NOTIFY) which runs' canonical
    /// events were just indexed. A single-process SQLite store has no one
    /// else to tell.
    pub async fn announce_indexed(&self, runs: &BTreeSet<Uuid>) -> Result<(), StoreError> {
        if self.dialect != Dialect::Postgres || runs.is_empty() {
            return Ok(());
        }
        // NOTIFY payloads are limited to 8000 bytes: 36-byte ids, 200 a go.
        let ids: Vec<String> = runs.iter().map(Uuid::to_string).collect();
        for chunk in ids.chunks(200) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(INDEXED_CHANNEL)
                .bind(chunk.join(","))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}
