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

mod aggregate_repository;
pub mod chain;
mod chain_links;
mod columns;
pub mod read_models;
pub mod webhooks;

use aggregate_repository::AggregateRepository;
use aggregates::event::EventLoadError;
use aggregates::{RunEvent, Timestamp, RUN_AGGREGATE_TYPE};
use chain::ChainHash;
pub use chain_links::{report as chain_report, ChainReport, ChainRow, StreamHead};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};
use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The cast after a text parameter bound into a `json` column (the
    /// log's payload and metadata): the `Any` driver binds text, which
    /// PostgreSQL does not assign to a JSON column uncast. SQLite keeps
    /// JSON as text.
    pub(crate) fn json_param(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "::json",
        }
    }

    /// `column` read as text: the `Any` driver decodes no JSON type.
    pub(crate) fn as_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_string(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }

    /// The columns of a [`StoredEvent`], in the order `stored_event` reads.
    fn event_columns(self) -> String {
        format!(
            "position, aggregate_id, sequence, event_type, event_version, {}",
            self.as_text("payload")
        )
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Load(#[from] EventLoadError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The projector's checkpoint moved under it (a reset, or another
    /// writer): its batch was rolled back.
    #[error("the checkpoint of {0} moved under its writer")]
    CheckpointMoved(String),
    /// postgres-es's event repository failed to read a stream.
    #[error("event repository: {0}")]
    EventRepository(#[from] cqrs_es::persist::PersistenceError),
}

#[derive(Debug, Error)]
pub enum AppendError {
    /// Someone else appended to the stream since it was read.
    #[error("stream was changed concurrently")]
    Conflict,
    /// The idempotency key already belongs to this run.
    #[error("idempotency key already used by run {0}")]
    IdempotencyKeyTaken(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        AppendError::Store(StoreError::Database(error))
    }
}

/// One event as the log holds it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Global, strictly increasing position across all streams.
    pub position: i64,
    pub stream_id: Uuid,
    /// 1-based position within the stream.
    pub version: u64,
    pub event: RunEvent,
}

/// The PostgreSQL NOTIFY channel of runs whose canonical events were indexed.
pub const INDEXED_CHANNEL: &str = "macp_indexed";
/// The PostgreSQL NOTIFY channel of appends (wakes projectors elsewhere).
pub const APPENDED_CHANNEL: &str = "macp_appended";

/// Rows per multi-row INSERT: under SQLite's 999-parameter limit.
pub(crate) const INSERT_CHUNK: usize = 100;

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters each: the
/// VALUES list of a multi-row INSERT, in the syntax both engines accept.
pub(crate) fn values_placeholders(rows: usize, columns: usize) -> String {
    values_placeholders_cast(rows, &vec![""; columns])
}

/// [`values_placeholders`] with each column's parameter followed by its
/// cast (`""` for none): `($1, $2::json)` for `["", "::json"]`.
pub(crate) fn values_placeholders_cast(rows: usize, casts: &[&str]) -> String {
    let columns = casts.len();
    let mut sql = String::with_capacity(rows * columns * 8);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for (column, cast) in casts.iter().enumerate() {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}{cast}", row * columns + column + 1));
        }
        sql.push(')');
    }
    sql
}

#[derive(Clone)]
pub struct EventStore {
    pool: AnyPool,
    dialect: Dialect,
    appended: Arc<Notify>,
    url: Arc<str>,
    /// On PostgreSQL, postgres-es's reader of a run's stream (see
    /// [`EventStore::load_run`]).
    aggregates: Option<Arc<AggregateRepository>>,
    /// The chain head of each run's last append here: (version, hash).
    chain_heads: Arc<std::sync::Mutex<lru::LruCache<Uuid, (u64, ChainHash)>>>,
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
            chain_heads: Arc::new(std::sync::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(chain_links::REMEMBERED_HEADS)
                    .unwrap_or(std::num::NonZeroUsize::MIN),
            ))),
        };
        store.chain_unchained().await?;
        Ok(store)
    }

    /// The chain head remembered for `run_id` if it is the one at `version`.
    fn remembered_head(&self, run_id: Uuid, version: u64) -> Option<ChainHash> {
        let mut heads = self.chain_heads.lock().ok()?;
        heads
            .get(&run_id)
            .filter(|(at, _)| *at == version)
            .map(|(_, head)| *head)
    }

    /// Remembers the heads of a committed append.
    fn remember_heads(&self, heads: impl IntoIterator<Item = (Uuid, u64, ChainHash)>) {
        if let Ok(mut remembered) = self.chain_heads.lock() {
            for (run_id, version, head) in heads {
                remembered.put(run_id, (version, head));
            }
        }
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

    /// Woken after every successful append in this process.
    pub fn appended(&self) -> Arc<Notify> {
        Arc::clone(&self.appended)
    }

    /// Appends `events` to `stream_id`, which must be at `expected_version`
    /// (0 for a new stream). With `idempotency_key`, the key is claimed in
    /// the same transaction: all or nothing. Returns the new version.
    pub async fn append(
        &self,
        stream_id: Uuid,
        expected_version: u64,
        events: &[RunEvent],
        idempotency_key: Option<&str>,
    ) -> Result<u64, AppendError> {
        if events.is_empty() {
            return Ok(expected_version);
        }
        let stream = stream_id.to_string();
        let metadata = event_metadata();
        let head = self.chain_head_at(stream_id, expected_version).await?;
        let mut tx = self.pool.begin().await?;
        if let Some(key) = idempotency_key {
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (idempotency_key, run_id) VALUES ($1, $2)",
            )
            .bind(key)
            .bind(&stream)
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
        }
        let (version, head) = self
            .insert_events(
                &mut tx,
                stream_id,
                (expected_version, head),
                events,
                &metadata,
            )
            .await?;
        self.commit_append(tx).await?;
        self.remember_heads([(stream_id, version, head)]);
        Ok(version)
    }

    /// Appends to several streams in one transaction, each at its expected
    /// version: all or nothing, a conflict on any stream is a conflict of
    /// the whole append. Answers each stream's new version, in order.
    pub async fn append_streams(
        &self,
        streams: &[(Uuid, u64, Vec<RunEvent>)],
    ) -> Result<Vec<u64>, AppendError> {
        let metadata = event_metadata();
        let mut after = Vec::with_capacity(streams.len());
        for (stream_id, expected_version, _) in streams {
            after.push((
                *expected_version,
                self.chain_head_at(*stream_id, *expected_version).await?,
            ));
        }
        let mut tx = self.pool.begin().await?;
        let mut heads = Vec::with_capacity(streams.len());
        for ((stream_id, _, events), after) in streams.iter().zip(after) {
            let (version, head) = self
                .insert_events(&mut tx, *stream_id, after, events, &metadata)
                .await?;
            heads.push((*stream_id, version, head));
        }
        self.commit_append(tx).await?;
        let versions = heads.iter().map(|(_, version, _)| *version).collect();
        self.remember_heads(heads);
        Ok(versions)
    }

    /// Commits an append and wakes whoever follows the log.
    async fn commit_append(&self, mut tx: Transaction<'static, Any>) -> Result<(), AppendError> {
        if self.dialect == Dialect::Postgres {
            // Delivered at commit: wakes the projectors of other instances.
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(APPENDED_CHANNEL)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.appended.notify_waiters();
        Ok(())
    }

    /// The run's events after `after_version`, each with its version: what
    /// the write side folds to decide. On PostgreSQL they are read through
    /// postgres-es's `PostgresEventRepository` (the aggregate's repository,
    /// over the same table); on SQLite by [`read_stream`](Self::read_stream).
    pub async fn load_run(
        &self,
        run_id: Uuid,
        after_version: u64,
    ) -> Result<Vec<(u64, RunEvent)>, StoreError> {
        match &self.aggregates {
            Some(repository) => repository.events_after(run_id, after_version).await,
            None => Ok(self
                .read_stream(run_id, after_version)
                .await?
                .into_iter()
                .map(|stored| (stored.version, stored.event))
                .collect()),
        }
    }

    /// The stream's events after `after_version`, in order.
    pub async fn read_stream(
        &self,
        stream_id: Uuid,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read_stream_limited(stream_id, after_version, i64::MAX)
            .await
    }

    /// At most `limit` of the stream's events after `after_version`.
    pub async fn read_stream_limited(
        &self,
        stream_id: Uuid,
        after_version: u64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND sequence > $3 ORDER BY sequence LIMIT $4",
            self.dialect.event_columns()
        );
        let rows = sqlx::query(&sql)
            .bind(RUN_AGGREGATE_TYPE)
            .bind(stream_id.to_string())
            .bind(i64::try_from(after_version).unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_event).collect()
    }

    /// Up to `limit` events after global `after_position`, never passing an
    /// event whose transaction may still be in flight (so a reader that
    /// remembers the last position it saw never skips one).
    pub async fn read_all(
        &self,
        after_position: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let below_in_flight = match self.dialect {
            // SQLite commits one writer at a time, in position order.
            Dialect::Sqlite => "",
            Dialect::Postgres => "AND tx_id < pg_snapshot_xmin(pg_current_snapshot())",
        };
        let sql = format!(
            "SELECT {} FROM events WHERE position > $1 {below_in_flight} \
             ORDER BY position LIMIT $2",
            self.dialect.event_columns()
        );
        let rows = sqlx::query(&sql)
            .bind(after_position)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_event).collect()
    }

    /// How many events of one type the log holds (by the type index).
    pub async fn count_events(&self, event_type: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

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

    /// Runs whose stream has no terminal event: the ones to resume.
    pub async fn unfinished_runs(&self) -> Result<Vec<Uuid>, StoreError> {
        let rows = sqlx::query(
            "SELECT aggregate_id FROM events WHERE event_type = 'RunRequested' \
             AND aggregate_id NOT IN (SELECT aggregate_id FROM events \
                 WHERE event_type IN ('RunCompleted', 'RunFailed', 'RunCancelled')) \
             ORDER BY position",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| parse_uuid(&row.try_get::<String, _>(0)?))
            .collect()
    }

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

    /// Tells every instance (PostgreSQL NOTIFY) which runs' canonical
    /// events were just indexed. A single-process SQLite store has no one
    /// else to tell.
    pub async fn announce_indexed(
        &self,
        runs: &std::collections::BTreeSet<Uuid>,
    ) -> Result<(), StoreError> {
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

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// What an append records beside its events, as cqrs-es's metadata (a map
/// of strings): when the control plane recorded them.
fn event_metadata() -> String {
    serde_json::json!({"recordedAt": Timestamp::now().to_string()}).to_string()
}

impl EventStore {
    /// Inserts `events` into `stream_id` after `(expected_version, its
    /// chain hash)`, many rows a statement, each chained to the one before
    /// (`chain.rs`); answers the stream's new version and chain head. A
    /// row that exists already (another writer appended at that version)
    /// is a conflict.
    async fn insert_events(
        &self,
        tx: &mut Transaction<'static, Any>,
        stream_id: Uuid,
        (expected_version, mut head): (u64, ChainHash),
        events: &[RunEvent],
        metadata: &str,
    ) -> Result<(u64, ChainHash), AppendError> {
        let stream = stream_id.to_string();
        let json = self.dialect.json_param();
        let mut version = expected_version;
        for chunk in events.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata, chain_hash) VALUES {}",
                values_placeholders_cast(chunk.len(), &["", "", "", "", "", json, json, ""])
            );
            let mut query = sqlx::query(&sql);
            for event in chunk {
                version += 1;
                let version = i64::try_from(version)
                    .map_err(|_| StoreError::Corrupt("stream version overflow".into()))?;
                let payload = event
                    .to_stored()
                    .map_err(|e| StoreError::Corrupt(format!("event does not serialize: {e}")))?;
                let event_version = event.schema_version().to_string();
                head = chain::ChainedRow {
                    aggregate_type: RUN_AGGREGATE_TYPE,
                    aggregate_id: &stream,
                    sequence: version.unsigned_abs(),
                    event_type: event.event_type(),
                    event_version: &event_version,
                    payload: &payload,
                    metadata,
                }
                .link(&head);
                query = query
                    .bind(RUN_AGGREGATE_TYPE)
                    .bind(stream.as_str())
                    .bind(version)
                    .bind(event.event_type())
                    .bind(event_version)
                    .bind(payload)
                    .bind(metadata)
                    .bind(chain::to_hex(&head));
            }
            if let Err(error) = query.execute(&mut **tx).await {
                return Err(if is_unique_violation(&error) {
                    AppendError::Conflict
                } else {
                    error.into()
                });
            }
        }
        Ok((version, head))
    }
}

fn stored_event(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    let payload: String = row.try_get(5)?;
    let event_type: String = row.try_get(3)?;
    let schema_version: String = row.try_get(4)?;
    let version: i64 = row.try_get(2)?;
    Ok(StoredEvent {
        position: row.try_get(0)?,
        stream_id: parse_uuid(&row.try_get::<String, _>(1)?)?,
        version: u64::try_from(version)
            .map_err(|_| StoreError::Corrupt("negative version".into()))?,
        event: load_event(&event_type, &schema_version, &payload)?,
    })
}

/// The event of a row's `event_type`, `event_version` and `payload` text,
/// upcast to the current stored form.
pub(crate) fn load_event(
    event_type: &str,
    event_version: &str,
    payload: &str,
) -> Result<RunEvent, StoreError> {
    let payload = serde_json::from_str(payload)
        .map_err(|e| StoreError::Corrupt(format!("event payload is not JSON: {e}")))?;
    Ok(RunEvent::from_stored(
        event_type,
        parse_schema_version(event_version),
        payload,
    )?)
}

/// A row's `event_version` as our schema version; one that is not a
/// number is past every version this build knows, so its payload is
/// read as the current stored form (and fails to load if it is not).
pub(crate) fn parse_schema_version(text: &str) -> u32 {
    text.parse().unwrap_or(u32::MAX)
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad uuid {text:?}: {e}")))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation())
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

#[cfg(test)]
mod tests {
    #[test]
    fn values_placeholders_number_every_parameter() {
        assert_eq!(super::values_placeholders(1, 2), "($1, $2)");
        assert_eq!(
            super::values_placeholders(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(
            super::values_placeholders_cast(2, &["", "::json"]),
            "($1, $2::json), ($3, $4::json)"
        );
    }
}
