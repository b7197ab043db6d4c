//! Where the hash chain meets the log (the encoding is `chain.rs`): the
//! link an append continues from, chaining rows that have none (appended
//! before migration 0010, or by another writer of postgres-es's layout),
//! and a stream's rows as the chain covers them, for verification.

use super::chain::{self, ChainBreak, ChainHash, ChainedRow, GENESIS};
use super::log::load_event;
use super::{AppendError, EventStore, StoreError};
use aggregates::{RunEvent, RUN_AGGREGATE_TYPE};
use sqlx::AnyPool;
use sqlx::Row;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use uuid::Uuid;

/// Chain heads remembered per run: an append continues from the head of
/// its own previous append without reading it back.
const REMEMBERED_HEADS: usize = 32_768;

/// The chain head of each run's last append here: (version, hash).
pub(super) type RememberedHeads = Mutex<lru::LruCache<Uuid, (u64, ChainHash)>>;

/// An empty [`RememberedHeads`] of its full size.
pub(super) fn remembered_heads() -> RememberedHeads {
    Mutex::new(lru::LruCache::new(
        NonZeroUsize::new(REMEMBERED_HEADS).unwrap_or(NonZeroUsize::MIN),
    ))
}

/// A stream's row as the chain covers it, with the hash it records.
#[derive(Debug, Clone)]
pub struct ChainRow {
    pub position: i64,
    pub aggregate_id: String,
    pub sequence: u64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub chain_hash: Option<String>,
}

impl ChainRow {
    /// The row's event, or why it does not load (naming its position).
    pub fn event(&self) -> Result<RunEvent, String> {
        load_event(&self.event_type, &self.event_version, &self.payload)
            .map_err(|e| format!("the event at position {}: {e}", self.position))
    }

    pub fn chained(&self) -> ChainedRow<'_> {
        ChainedRow {
            aggregate_type: RUN_AGGREGATE_TYPE,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }
}

/// A stream's last event (see [`EventStore::stream_head`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    /// Its global log position.
    pub position: i64,
    /// Its version: the stream's length.
    pub version: u64,
    /// The hash it records (`None` when it is not chained yet).
    pub chain_hash: Option<String>,
}

/// What a stream's chain says: its length and head, or where it breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub intact: bool,
    /// Events in the stream.
    pub events: u64,
    /// The last event's hash (64 hex digits) when the chain is intact.
    pub head: Option<String>,
    pub first_bad: Option<ChainBreak>,
}

/// Checks rows of one stream, in stream order (see [`chain::check`]).
pub fn report(rows: &[ChainRow]) -> ChainReport {
    let checked = chain::check(
        rows.iter()
            .map(|row| (row.position, row.chained(), row.chain_hash.as_deref())),
    );
    let events = rows.len() as u64;
    match checked {
        Ok(head) => ChainReport {
            intact: true,
            events,
            head: head.as_ref().map(chain::to_hex),
            first_bad: None,
        },
        Err(broken) => ChainReport {
            intact: false,
            events,
            head: None,
            first_bad: Some(broken),
        },
    }
}

impl EventStore {
    /// The chain head remembered for `run_id` if it is the one at `version`.
    fn remembered_head(&self, run_id: Uuid, version: u64) -> Option<ChainHash> {
        let mut heads = self.chain_heads.lock().ok()?;
        heads
            .get(&run_id)
            .filter(|(at, _)| *at == version)
            .map(|(_, head)| *head)
    }

    /// Remembers the heads of a committed append.
    pub(super) fn remember_heads(&self, heads: impl IntoIterator<Item = (Uuid, u64, ChainHash)>) {
        if let Ok(mut remembered) = self.chain_heads.lock() {
            for (run_id, version, head) in heads {
                remembered.put(run_id, (version, head));
            }
        }
    }

    /// The stream's rows in stream order, as the chain covers them.
    pub async fn chain_rows(&self, run_id: Uuid) -> Result<Vec<ChainRow>, StoreError> {
        stream_rows(self.pool(), self.dialect(), &run_id.to_string()).await
    }

    /// The stream's last event: where it is and the hash it records
    /// (`None` for a run the log does not hold).
    pub async fn stream_head(&self, run_id: Uuid) -> Result<Option<StreamHead>, StoreError> {
        let row = sqlx::query(
            "SELECT position, sequence, chain_hash FROM events WHERE aggregate_type = $1 \
             AND aggregate_id = $2 ORDER BY sequence DESC LIMIT 1",
        )
        .bind(RUN_AGGREGATE_TYPE)
        .bind(run_id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            let sequence: i64 = row.try_get(1)?;
            Ok(StreamHead {
                position: row.try_get(0)?,
                version: sequence.unsigned_abs(),
                chain_hash: row.try_get(2)?,
            })
        })
        .transpose()
    }

    /// The hash of the stream's event at `version` (the genesis before
    /// the first), for an append after it. Read before the append's
    /// transaction begins: the row at `version` never changes once its
    /// hash is set, and on SQLite a transaction that reads before it
    /// writes cannot wait for the write lock (`SQLITE_BUSY` when another
    /// writer committed in between). A stream that is not at `version` is
    /// a conflict: the append would leave a gap. A row without a hash
    /// (appended before the chain, or by another writer) has its stream
    /// chained first.
    pub(super) async fn chain_head_at(
        &self,
        run_id: Uuid,
        version: u64,
    ) -> Result<ChainHash, AppendError> {
        if version == 0 {
            return Ok(GENESIS);
        }
        if let Some(head) = self.remembered_head(run_id, version) {
            return Ok(head);
        }
        let stream = run_id.to_string();
        let recorded: Option<Option<String>> = sqlx::query_scalar(
            "SELECT chain_hash FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND sequence = $3",
        )
        .bind(RUN_AGGREGATE_TYPE)
        .bind(&stream)
        .bind(i64::try_from(version).unwrap_or(i64::MAX))
        .fetch_optional(self.pool())
        .await?;
        match recorded {
            None => Err(AppendError::Conflict),
            Some(Some(text)) => chain::from_hex(&text).ok_or_else(|| {
                StoreError::Corrupt(format!("chain hash {text:?} of run {run_id}")).into()
            }),
            // Not chained yet: chain the stream, and take the row's link.
            Some(None) => chain_stream(self.pool(), self.dialect(), &stream)
                .await?
                .into_iter()
                .find(|(sequence, _)| *sequence == version)
                .map(|(_, hash)| hash)
                .ok_or(AppendError::Conflict),
        }
    }

    /// Chains every row that has no hash yet (appended before migration
    /// 0010, or by another writer), stream by stream; answers how many
    /// streams it chained. Logs its progress: a large old log takes a
    /// while, once.
    pub(super) async fn chain_unchained(&self) -> Result<usize, StoreError> {
        let streams: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT aggregate_id FROM events WHERE chain_hash IS NULL \
                 AND aggregate_type = $1",
        )
        .bind(RUN_AGGREGATE_TYPE)
        .fetch_all(self.pool())
        .await?;
        if streams.is_empty() {
            return Ok(0);
        }
        tracing::info!(
            streams = streams.len(),
            "chaining the events appended before the hash chain"
        );
        for (done, stream) in streams.iter().enumerate() {
            chain_stream(self.pool(), self.dialect(), stream).await?;
            if (done + 1) % 1_000 == 0 {
                tracing::info!(done = done + 1, of = streams.len(), "chained streams");
            }
        }
        tracing::info!(streams = streams.len(), "every event is chained");
        Ok(streams.len())
    }
}

/// The rows of `stream`, in stream order.
async fn stream_rows(
    pool: &AnyPool,
    dialect: super::Dialect,
    stream: &str,
) -> Result<Vec<ChainRow>, StoreError> {
    let sql = format!(
        "SELECT position, sequence, event_type, event_version, {}, {}, chain_hash FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
        dialect.as_text("payload"),
        dialect.as_text("metadata")
    );
    let rows = sqlx::query(&sql)
        .bind(RUN_AGGREGATE_TYPE)
        .bind(stream)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let sequence: i64 = row.try_get(1)?;
            Ok(ChainRow {
                position: row.try_get(0)?,
                aggregate_id: stream.to_string(),
                sequence: u64::try_from(sequence)
                    .map_err(|_| StoreError::Corrupt("negative sequence".into()))?,
                event_type: row.try_get(2)?,
                event_version: row.try_get(3)?,
                payload: row.try_get(4)?,
                metadata: row.try_get(5)?,
                chain_hash: row.try_get(6)?,
            })
        })
        .collect()
}

/// Records a hash on every row of `stream` that has none, continuing from
/// the hashes rows already record (a row whose recorded hash is wrong
/// stays wrong, for verification to find); answers each row's sequence
/// and link.
/// The rows are read first and the hashes written in a transaction of
/// their own that starts with a write (on SQLite, one that read first
/// could not wait for the write lock). Writing is idempotent: a hash is
/// set only where there is none, and two writers compute the same one.
async fn chain_stream(
    pool: &AnyPool,
    dialect: super::Dialect,
    stream: &str,
) -> Result<Vec<(u64, ChainHash)>, StoreError> {
    let rows = stream_rows(pool, dialect, stream).await?;
    let mut previous = GENESIS;
    let mut missing = Vec::new();
    let mut links = Vec::with_capacity(rows.len());
    for row in &rows {
        previous = match row.chain_hash.as_deref().and_then(chain::from_hex) {
            Some(hash) => hash,
            None => {
                let hash = row.chained().link(&previous);
                missing.push((row.position, chain::to_hex(&hash)));
                hash
            }
        };
        links.push((row.sequence, previous));
    }
    if !missing.is_empty() {
        let mut tx = pool.begin().await?;
        for (position, hash) in missing {
            sqlx::query(
                "UPDATE events SET chain_hash = $1 WHERE position = $2 AND chain_hash IS NULL",
            )
            .bind(hash)
            .bind(position)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(links)
}
