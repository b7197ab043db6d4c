//! Appending to the log: one stream or several in one transaction, each
//! row chained to the one before, a stale writer's rows refused by the
//! stream's unique version.

use super::chain::{self, ChainHash};
use super::dialect::{values_placeholders_cast, INSERT_CHUNK};
use super::error::is_unique_violation;
use super::{AppendError, EventStore, StoreError};
use aggregates::{RunEvent, Timestamp, RUN_AGGREGATE_TYPE};
use sqlx::{Any, Transaction};
use uuid::Uuid;

impl EventStore {
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
        let metadata = event_metadata();
        let head = self.chain_head_at(stream_id, expected_version).await?;
        let mut tx = self.pool.begin().await?;
        if let Some(key) = idempotency_key {
            tx = self.claim_idempotency_key(tx, key, stream_id).await?;
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
        self.announce_appended(&mut tx).await?;
        tx.commit().await?;
        self.appended.notify_waiters();
        Ok(())
    }

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

/// What an append records beside its events, as cqrs-es's metadata (a map
/// of strings): when the control plane recorded them.
fn event_metadata() -> String {
    serde_json::json!({"recordedAt": Timestamp::now().to_string()}).to_string()
}
