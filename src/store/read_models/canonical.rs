//! The canonical-event index: (run, seq, type, time) and the log position
//! whose payload holds each event; reads join the log for the bytes.

use super::batch::ProjectionBatch;
use super::filter::Filter;
use crate::store::dialect::{values_placeholders_cast, INSERT_CHUNK};
use crate::store::log::parse_schema_version;
use crate::store::{Dialect, EventStore, StoreError};
use sqlx::Row;
use uuid::Uuid;

/// What `GET /events` asks of the canonical index.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub run_id: Option<Uuid>,
    /// Only runs whose scenario ref contains this (case-insensitive).
    pub scenario_ref: Option<String>,
    pub types: Vec<String>,
    /// Exclusive lower and inclusive upper bound on `ts`.
    pub after_ts: Option<String>,
    pub before_ts: Option<String>,
    /// The cursor: events after it. With `run_id`, a `seq` of that run;
    /// across runs, a log position (what `nextCursor` gave).
    pub after: i64,
    pub limit: i64,
}

impl EventStore {
    /// Canonical events after the query's cursor, oldest first, each with
    /// its cursor value, and how many match the filter in all.
    pub async fn query_canonical(
        &self,
        query: &EventQuery,
    ) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let dialect = self.dialect();
        let (uuid, time) = (dialect.uuid_param(), dialect.time_param());
        let mut filter = Filter::default();
        if let Some(run_id) = query.run_id {
            filter.with(&format!("run_id = ?{uuid}"), run_id.to_string());
        }
        if let Some(scenario) = query.scenario_ref.as_ref().filter(|s| !s.is_empty()) {
            let runs = filter.contains_clause("scenario_ref", &scenario.to_lowercase());
            filter.add(&format!(
                "run_id IN (SELECT run_id FROM run_list WHERE {runs})"
            ));
        }
        if let Some(after) = &query.after_ts {
            filter.with(&format!("ts > ?{time}"), after.clone());
        }
        if let Some(before) = &query.before_ts {
            filter.with(&format!("ts <= ?{time}"), before.clone());
        }
        filter.any_of("event_type", &query.types);
        let total = self.count_rows("canonical_events", &filter).await?;
        // One run pages by its seq; across runs, by log position.
        let (key, order) = match query.run_id {
            Some(_) => ("seq", "seq"),
            None => ("position", "position, run_id, seq"),
        };
        let index = format!(
            "SELECT {key} AS cursor, position, run_id, seq FROM canonical_events \
             WHERE {} AND {key} > ${} ORDER BY {order} LIMIT ${}",
            filter.sql(),
            filter.args.len() + 1,
            filter.args.len() + 2
        );
        let sql = events_at(dialect, &index, order);
        let mut select = sqlx::query(&sql);
        for value in &filter.args {
            select = select.bind(value.as_str());
        }
        let rows = select
            .bind(query.after)
            .bind(query.limit)
            .fetch_all(self.pool())
            .await?;
        let page = rows
            .iter()
            .map(|row| Ok((canonical_json(row)?, row.try_get::<i64, _>(2)?)))
            .collect::<Result<_, StoreError>>()?;
        Ok((page, total))
    }

    /// Canonical events of a run with `seq > after_seq`, in order, as JSON.
    pub async fn canonical_events(
        &self,
        run_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let dialect = self.dialect();
        let index = format!(
            "SELECT seq AS cursor, position, seq FROM canonical_events WHERE run_id = $1{} \
             AND seq > $2 ORDER BY seq LIMIT $3",
            dialect.uuid_param()
        );
        sqlx::query(&events_at(dialect, &index, "seq"))
            .bind(run_id.to_string())
            .bind(after_seq)
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(canonical_json)
            .collect()
    }
}

/// Reads the canonical events that the index rows `index` selects from the
/// log: `index` is a query on `canonical_events` answering `cursor`,
/// `position` and the columns of `order` (a comma-separated list). The
/// result answers, in that order, the recording event's `event_version`
/// and payload (read by [`canonical_json`]) and the row's `cursor`.
fn events_at(dialect: Dialect, index: &str, order: &str) -> String {
    let order: Vec<String> = order
        .split(',')
        .map(|c| format!("c.{}", c.trim()))
        .collect();
    format!(
        "SELECT e.event_version, {}, c.cursor FROM ({index}) c \
         JOIN events e ON e.position = c.position ORDER BY {}",
        dialect.as_text("e.payload"),
        order.join(", ")
    )
}

/// The canonical event of a row of [`events_at`], as the JSON it was
/// recorded with.
fn canonical_json(row: &sqlx::any::AnyRow) -> Result<String, StoreError> {
    let version: String = row.try_get(0)?;
    let payload: String = row.try_get(1)?;
    aggregates::event::stored_canonical_json(parse_schema_version(&version), &payload)
        .map(str::to_string)
        .map_err(|e| StoreError::Corrupt(format!("canonical event payload: {e}")))
}

impl ProjectionBatch<'_> {
    /// Indexes canonical events, many a statement; one indexed already is
    /// left as it is.
    pub(super) async fn insert_canonical_events(
        &mut self,
        events: &[(String, i64, &String, &String, i64)],
    ) -> Result<(), StoreError> {
        let dialect = self.dialect;
        let (uuid, time) = (dialect.uuid_param(), dialect.time_param());
        for chunk in events.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO canonical_events (run_id, seq, event_type, ts, position) VALUES {} \
                 ON CONFLICT (run_id, seq) DO NOTHING",
                values_placeholders_cast(chunk.len(), &[uuid, "", "", time, ""])
            );
            let mut query = sqlx::query(&sql);
            for (run_id, seq, event_type, ts, position) in chunk {
                query = query
                    .bind(run_id.as_str())
                    .bind(*seq)
                    .bind(event_type.as_str())
                    .bind(ts.as_str())
                    .bind(*position);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}
