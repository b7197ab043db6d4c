//! Reading the log: a run's stream by version, the whole log by global
//! position, and a stored row loaded back into its event.

use super::error::parse_uuid;
use super::{Dialect, EventStore, StoreError};
use aggregates::{RunEvent, RUN_AGGREGATE_TYPE};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

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

impl Dialect {
    /// The columns of a [`StoredEvent`], in the order `stored_event` reads.
    fn event_columns(self) -> String {
        format!(
            "position, aggregate_id, sequence, event_type, event_version, {}",
            self.as_text("payload")
        )
    }
}

impl EventStore {
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

    /// The highest position in the log (0 when empty).
    pub async fn head_position(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
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
