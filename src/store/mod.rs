//! The event store: an append-only log of run streams in SQL, on SQLite
//! (the embedded default) or PostgreSQL, behind one type.
//!
//! Both engines run the same statements through sqlx's `Any` driver; the
//! few places where they differ are in [`Dialect`]. The `events` table has
//! postgres-es's layout (`aggregate_type`, `aggregate_id`, `sequence`,
//! `event_type`, `event_version`, `payload`, `metadata`; its `db/init.sql`)
//! plus the global `position` and, on PostgreSQL, the `tx_id` that keeps
//! readers below in-flight commits. Optimistic concurrency is the
//! `UNIQUE (aggregate_type, aggregate_id, sequence)` constraint: a stale
//! writer's insert fails with a unique violation and becomes
//! [`AppendError::Conflict`].
//!
//! This file opens the store; each job is a module of its own, adding its
//! methods to [`EventStore`]: `append.rs` and `log.rs` write and read the
//! log, `chain.rs` and `chain_links.rs` its hash chain, `idempotency.rs`
//! the request keys an append claims, `leases.rs` the roles one instance
//! at a time holds, `notify.rs` the wake-ups of whoever follows the log,
//! `read_models/` the read side's tables, `webhooks.rs` the webhook
//! subscriptions and outbox. `dialect.rs` and `columns.rs` are where the
//! engines differ, `error.rs` what fails.

mod aggregate_repository;
mod append;
pub mod chain;
mod chain_links;
mod columns;
mod dialect;
mod error;
mod idempotency;
pub mod leases;
mod log;
mod notify;
pub mod read_models;
pub mod webhooks;

use aggregate_repository::AggregateRepository;
pub use chain_links::{report as chain_report, ChainReport, ChainRow, StreamHead};
pub use dialect::Dialect;
pub use error::{AppendError, StoreError};
pub use log::StoredEvent;
pub use notify::{APPENDED_CHANNEL, INDEXED_CHANNEL};
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The store of one database: clones share its pool and caches.
#[derive(Clone)]
pub struct EventStore {
    pool: AnyPool,
    dialect: Dialect,
    appended: Arc<Notify>,
    url: Arc<str>,
    /// On PostgreSQL, postgres-es's reader of a run's stream (see
    /// [`EventStore::load_run`]).
    aggregates: Option<Arc<AggregateRepository>>,
    /// The chain head of each run's last append here.
    chain_heads: Arc<chain_links::RememberedHeads>,
}

impl EventStore {
    /// Opens (creating if needed) the store at `database_url` and applies
    /// the migrations of its engine.
    pub async fn open(database_url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if database_url.starts_with("postgres") {
            Dialect::Postgres
        } else if database_url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            return Err(StoreError::Corrupt(format!(
                "DATABASE_URL must start with postgres:// or sqlite://, got {database_url:?}"
            )));
        };
        let pool = match dialect {
            Dialect::Sqlite => {
                prepare_sqlite_file(database_url)?;
                // One writer at a time is SQLite's model; a small pool with a
                // busy timeout avoids SQLITE_BUSY under concurrent appends.
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA busy_timeout = 30000")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(database_url)
                    .await?
            }
            Dialect::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(database_url)
                    .await?
            }
        };
        match dialect {
            Dialect::Sqlite => {
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            }
            Dialect::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        let aggregates = match dialect {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(Arc::new(AggregateRepository::connect(database_url).await?)),
        };
        let store = EventStore {
            pool,
            dialect,
            appended: Arc::new(Notify::new()),
            url: database_url.into(),
            aggregates,
            chain_heads: Arc::new(chain_links::remembered_heads()),
        };
        store.chain_unchained().await?;
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Creates the directory of a SQLite file URL, so a fresh machine needs no
/// set-up. `sqlite://path/to/file.db?mode=rwc` → `path/to/`.
fn prepare_sqlite_file(url: &str) -> Result<(), StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}
