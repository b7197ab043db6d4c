//! Storage of the read side: projector checkpoints, one JSON document per
//! (projection, key), the run list, the canonical-event index and the
//! audit log. Everything here is disposable and rebuilt from the log. On
//! PostgreSQL documents are jsonb, run ids uuid and times timestamptz
//! (`columns.rs` says how values cross into them).

use super::dialect::{values_placeholders_cast, INSERT_CHUNK};
use super::{Dialect, EventStore, StoreError};
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

/// A run-list row: the run summary and the columns lists are queried by.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub run_id: Uuid,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub archived: bool,
    pub deleted: bool,
    /// `,tag1,tag2,`, so that `LIKE '%,tag,%'` finds a tag.
    pub tags: String,
    /// Lowercased text a search looks in.
    pub search: String,
    /// `metadata.environment`, for the exact filter.
    pub environment: Option<String>,
    /// `metadata.scenarioRef`, else the source's ref, lowercased, for the
    /// partial filter.
    pub scenario_ref: Option<String>,
    pub doc: String,
}

/// One write a projector asks for; computed before any transaction opens,
/// so that no connection is held while a projector reads.
#[derive(Debug, Clone)]
pub enum ModelWrite {
    /// A `read_models` document under `key` (a run id, or another key such
    /// as a participant id).
    Document {
        projection: &'static str,
        key: String,
        doc: String,
        position: i64,
    },
    RunRow(RunRow),
    /// An indexed canonical event; one indexed already is left as it is.
    CanonicalEvent {
        run_id: Uuid,
        seq: i64,
        event_type: String,
        ts: String,
        /// The log position of the fact that records it: where its bytes
        /// are read from, and the cursor of `GET /events`.
        position: i64,
    },
    /// An audit-log row (one per `ActionAudited` event, by its position).
    AuditEntry(AuditRow),
    /// A webhook delivery to queue; one queued already is left as it is.
    QueuedDelivery(super::webhooks::NewDelivery),
    /// A deleted run's deliveries still pending: cancelled, never sent.
    RunDeliveriesCancelled {
        run_id: Uuid,
    },
}

/// A row of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub position: i64,
    pub run_id: Uuid,
    pub at: String,
    pub principal: String,
    pub action: String,
    /// What the entry is about (`run`), and its id.
    pub resource: String,
    pub resource_id: String,
    pub doc: String,
}

/// Text for a column that lists filter on (tags, search text, environment,
/// scenario ref): U+0000 becomes U+FFFD. What a runtime sent can hold it
/// (an observed session's intent), PostgreSQL's text cannot, and the
/// documents keep the value as it was (JSON escapes it); the API refuses it
/// in what it takes, so no filter looks for it.
fn index_text(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// What `GET /audit` asks of the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub run_id: Option<Uuid>,
    /// A part of the actor's principal.
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    /// Exclusive lower and inclusive upper bound on the entry's time.
    pub after: Option<String>,
    pub before: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Entries after this keyset cursor (`at`, `key`), instead of `offset`.
    pub after_cursor: Option<(String, String)>,
}

/// A page of the audit log: the entries' documents, how many match in
/// all, and the cursor of the next page (none on the last).
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub docs: Vec<String>,
    pub total: i64,
    pub next_cursor: Option<String>,
}

/// An audit fact about something that is not a run (a webhook, a runtime
/// policy, the circuit breaker): written once, never changed.
#[derive(Debug, Clone)]
pub struct OperationAudit {
    pub id: String,
    pub at: String,
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub doc: String,
}

/// What `GET /runs` asks of the run list.
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub statuses: Vec<String>,
    pub tags: Vec<String>,
    /// Exclusive lower and inclusive upper bound on `createdAt`.
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub search: Option<String>,
    /// Exact `metadata.environment`.
    pub environment: Option<String>,
    /// A part of the scenario ref (case-insensitive).
    pub scenario_ref: Option<String>,
    pub include_archived: bool,
    pub sort_by_updated: bool,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

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

/// Which tables a projector writes, for a reset.
#[derive(Debug, Clone, Copy)]
pub enum ProjectionTable {
    /// `read_models` rows with `projection = name`.
    Documents,
    RunList,
    CanonicalIndex,
    AuditLog,
    /// The webhook outbox: not disposable (rows are deliveries owed), so a
    /// reset only rewinds the checkpoint, and re-folding queues nothing twice.
    WebhookOutbox,
}

/// A projector's writes for one batch, committed with its checkpoint.
pub struct ProjectionBatch<'a> {
    tx: Transaction<'a, Any>,
    dialect: Dialect,
}

/// The WHERE clause of a list query, built condition by condition, with
/// the values its `$n` placeholders stand for.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    args: Vec<String>,
}

impl Filter {
    /// A condition with no bound value.
    fn add(&mut self, clause: &str) {
        self.clauses.push(clause.to_string());
    }

    /// A condition whose `?` stands for `value`.
    fn with(&mut self, clause: &str, value: String) {
        self.with_all(clause, [value]);
    }

    /// A condition whose `?`s stand for `values`, in order.
    fn with_all(&mut self, clause: &str, values: impl IntoIterator<Item = String>) {
        let mut bound = clause.to_string();
        for value in values {
            self.args.push(value);
            bound = bound.replacen('?', &format!("${}", self.args.len()), 1);
        }
        self.clauses.push(bound);
    }

    /// `column IN (values)`; nothing when `values` is empty.
    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let first = self.args.len() + 1;
        let marks: Vec<String> = (first..first + values.len())
            .map(|i| format!("${i}"))
            .collect();
        self.args.extend(values.iter().cloned());
        self.clauses
            .push(format!("{column} IN ({})", marks.join(", ")));
    }

    /// `column` contains `text`: a `LIKE` whose wildcards in `text` are
    /// escaped, so `_` and `%` match only themselves.
    fn contains(&mut self, column: &str, text: &str) {
        let clause = self.contains_clause(column, text);
        self.clauses.push(clause);
    }

    /// The condition of [`Filter::contains`], its value bound, for a
    /// clause built around it (a subquery).
    fn contains_clause(&mut self, column: &str, text: &str) -> String {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        self.args.push(format!("%{escaped}%"));
        format!("{column} LIKE ${} ESCAPE '\\'", self.args.len())
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            return "1 = 1".to_string();
        }
        self.clauses.join(" AND ")
    }
}

impl EventStore {
    /// The checkpoint row of a projector, created at 0 if missing.
    pub async fn ensure_checkpoint(&self, projector: &str) -> Result<i64, StoreError> {
        sqlx::query(
            "INSERT INTO projector_checkpoints (projector, position) VALUES ($1, 0) \
             ON CONFLICT (projector) DO NOTHING",
        )
        .bind(projector)
        .execute(self.pool())
        .await?;
        self.checkpoint(projector).await
    }

    /// Drops what a projector wrote and sets its checkpoint to 0, in one
    /// transaction; its writer (wherever it runs) notices at its next batch
    /// and re-folds from the start of the log.
    pub async fn reset_projection(
        &self,
        projector: &str,
        table: ProjectionTable,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let delete = match table {
            ProjectionTable::Documents => {
                Some(sqlx::query("DELETE FROM read_models WHERE projection = $1").bind(projector))
            }
            ProjectionTable::RunList => Some(sqlx::query("DELETE FROM run_list")),
            ProjectionTable::CanonicalIndex => Some(sqlx::query("DELETE FROM canonical_events")),
            ProjectionTable::AuditLog => Some(sqlx::query("DELETE FROM audit_log")),
            ProjectionTable::WebhookOutbox => None,
        };
        if let Some(delete) = delete {
            delete.execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO projector_checkpoints (projector, position) VALUES ($1, 0) \
             ON CONFLICT (projector) DO UPDATE SET position = 0",
        )
        .bind(projector)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops every per-run read model of one run (its documents, run-list
    /// row and indexed events), for a rebuild of that run.
    pub async fn delete_run_models(
        &self,
        run_id: Uuid,
        documents: &[&str],
    ) -> Result<(), StoreError> {
        let id = run_id.to_string();
        let mut tx = self.pool().begin().await?;
        for projection in documents {
            sqlx::query("DELETE FROM read_models WHERE projection = $1 AND model_key = $2")
                .bind(*projection)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        let uuid = self.dialect().uuid_param();
        for table in ["run_list", "canonical_events", "audit_log"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE run_id = $1{uuid}"))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes a rebuild's output (no checkpoint moves: the log is unchanged).
    pub async fn write_models(&self, writes: &[ModelWrite]) -> Result<(), StoreError> {
        let mut batch = self.begin_projection().await?;
        batch.write_all(writes).await?;
        batch.commit().await
    }

    /// The run summary documents a query selects, and how many match it.
    pub async fn list_runs(&self, query: &RunQuery) -> Result<(Vec<String>, i64), StoreError> {
        let time = self.dialect().time_param();
        let mut filter = Filter::default();
        filter.add("deleted = 0");
        if !query.include_archived {
            filter.add("archived = 0");
        }
        filter.any_of("status", &query.statuses);
        for tag in &query.tags {
            filter.contains("tags", &format!(",{tag},"));
        }
        if let Some(after) = &query.created_after {
            filter.with(&format!("created_at > ?{time}"), after.clone());
        }
        if let Some(before) = &query.created_before {
            filter.with(&format!("created_at <= ?{time}"), before.clone());
        }
        if let Some(search) = query.search.as_ref().filter(|s| !s.is_empty()) {
            filter.contains("search", &search.to_lowercase());
        }
        if let Some(environment) = &query.environment {
            filter.with("environment = ?", environment.clone());
        }
        if let Some(scenario) = query.scenario_ref.as_ref().filter(|s| !s.is_empty()) {
            filter.contains("scenario_ref", &scenario.to_lowercase());
        }
        let direction = if query.descending { "DESC" } else { "ASC" };
        let column = if query.sort_by_updated {
            "updated_at"
        } else {
            "created_at"
        };
        let order = format!("{column} {direction}, run_id {direction}");
        self.page_of_docs("run_list", &filter, &order, query.limit, query.offset)
            .await
    }

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

    /// Audit entries, newest first, and how many match: the run audit log
    /// and the operation audit facts, read as one list. A page starts at
    /// the query's offset, or after its keyset cursor; with each page comes
    /// the cursor of its last entry (`at|key`: rows that arrive between
    /// pages neither repeat nor shift the next one).
    pub async fn query_audit(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let dialect = self.dialect();
        let (uuid, time) = (dialect.uuid_param(), dialect.time_param());
        let mut filter = Filter::default();
        if let Some(run_id) = query.run_id {
            filter.with(&format!("run_id = ?{uuid}"), run_id.to_string());
        }
        if let Some(principal) = query.principal.as_ref().filter(|p| !p.is_empty()) {
            filter.contains("principal", principal);
        }
        if let Some(action) = &query.action {
            filter.with("action = ?", action.clone());
        }
        if let Some(resource) = &query.resource {
            filter.with("resource = ?", resource.clone());
        }
        if let Some(resource_id) = &query.resource_id {
            filter.with("resource_id = ?", resource_id.clone());
        }
        if let Some(after) = &query.after {
            filter.with(&format!("at > ?{time}"), after.clone());
        }
        if let Some(before) = &query.before {
            filter.with(&format!("at <= ?{time}"), before.clone());
        }
        // A run entry's key is its log position, zero-padded so that keys
        // sort as numbers; an operation entry's, its time-ordered UUID.
        let position_key = match dialect {
            Dialect::Sqlite => "'L' || substr('0000000000000000000' || position, -19, 19)",
            Dialect::Postgres => "'L' || lpad(position::text, 19, '0')",
        };
        let entries = format!(
            "(SELECT at, {position_key} AS entry_key, principal, action, resource, resource_id, \
             run_id, doc FROM audit_log UNION ALL SELECT at, 'O' || id AS entry_key, principal, \
             action, resource, resource_id, NULL AS run_id, doc FROM operation_audit) AS entries"
        );
        let total = self.count_rows(&entries, &filter).await?;
        let mut offset = query.offset;
        if let Some((at, key)) = &query.after_cursor {
            filter.with_all(
                &format!("(at < ?{time} OR (at = ?{time} AND entry_key < ?))"),
                [at.clone(), at.clone(), key.clone()],
            );
            offset = 0;
        }
        let sql = format!(
            "SELECT {}, {}, entry_key FROM {entries} WHERE {} \
             ORDER BY at DESC, entry_key DESC LIMIT ${} OFFSET ${}",
            dialect.as_text("doc"),
            dialect.time_text("at"),
            filter.sql(),
            filter.args.len() + 1,
            filter.args.len() + 2
        );
        let mut select = sqlx::query(&sql);
        for value in &filter.args {
            select = select.bind(value.as_str());
        }
        let rows = select
            .bind(query.limit + 1)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let more = rows.len() as i64 > query.limit;
        let mut docs = Vec::with_capacity(rows.len());
        let mut next = None;
        for row in rows.iter().take(usize::try_from(query.limit).unwrap_or(0)) {
            docs.push(dialect.doc_from_db(row.try_get::<String, _>(0)?));
            next = Some(format!(
                "{}|{}",
                row.try_get::<String, _>(1)?,
                row.try_get::<String, _>(2)?
            ));
        }
        Ok(AuditPage {
            docs,
            total,
            next_cursor: next.filter(|_| more),
        })
    }

    /// Records an audit fact about a configuration command.
    pub async fn record_operation(&self, entry: &OperationAudit) -> Result<(), StoreError> {
        let dialect = self.dialect();
        let sql = format!(
            "INSERT INTO operation_audit (id, at, principal, action, resource, resource_id, doc) \
             VALUES ($1, $2{}, $3, $4, $5, $6, $7{})",
            dialect.time_param(),
            dialect.doc_param()
        );
        sqlx::query(&sql)
            .bind(entry.id.as_str())
            .bind(entry.at.as_str())
            .bind(entry.principal.as_str())
            .bind(entry.action.as_str())
            .bind(entry.resource.as_str())
            .bind(entry.resource_id.as_deref())
            .bind(dialect.doc_to_db(&entry.doc).as_ref())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How many rows of `table` match `filter`.
    async fn count_rows(&self, table: &str, filter: &Filter) -> Result<i64, StoreError> {
        let count_sql = format!("SELECT COUNT(*) FROM {table} WHERE {}", filter.sql());
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for value in &filter.args {
            count = count.bind(value.as_str());
        }
        Ok(count.fetch_one(self.pool()).await?)
    }

    /// One page of the `doc` column of `table` (rows matching `filter`, in
    /// `order`), and how many rows match in all.
    async fn page_of_docs(
        &self,
        table: &str,
        filter: &Filter,
        order: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<String>, i64), StoreError> {
        let condition = filter.sql();
        let total = self.count_rows(table, filter).await?;
        let sql = format!(
            "SELECT {} FROM {table} WHERE {condition} ORDER BY {order} LIMIT ${} OFFSET ${}",
            self.dialect().as_text("doc"),
            filter.args.len() + 1,
            filter.args.len() + 2
        );
        let mut select = sqlx::query_scalar::<_, String>(&sql);
        for value in &filter.args {
            select = select.bind(value.as_str());
        }
        let docs = select
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        Ok((self.docs_from_db(docs), total))
    }

    /// The documents of `projection` for these runs (missing ones left out).
    pub async fn read_models_for(
        &self,
        projection: &str,
        run_ids: &[Uuid],
    ) -> Result<Vec<String>, StoreError> {
        let mut docs = Vec::new();
        for chunk in run_ids.chunks(400) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {} FROM read_models WHERE projection = $1 AND model_key IN ({})",
                self.dialect().as_text("doc"),
                marks.join(", ")
            );
            let mut select = sqlx::query(&sql).bind(projection);
            for run_id in chunk {
                select = select.bind(run_id.to_string());
            }
            for row in select.fetch_all(self.pool()).await? {
                docs.push(self.dialect().doc_from_db(row.try_get(0)?));
            }
        }
        Ok(docs)
    }

    /// Every projector's checkpoint, in one query (a projector with no row
    /// yet is absent: its checkpoint is 0).
    pub async fn checkpoints(&self) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let rows = sqlx::query("SELECT projector, position FROM projector_checkpoints")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// The lowest checkpoint of any projector: the log is fully projected
    /// up to it.
    pub async fn slowest_checkpoint(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MIN(position), 0) FROM projector_checkpoints")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Every document of a projection (e.g. all agents' metrics).
    pub async fn read_models_of(&self, projection: &str) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT {} FROM read_models WHERE projection = $1 ORDER BY model_key",
            self.dialect().as_text("doc")
        );
        let docs = sqlx::query_scalar(&sql)
            .bind(projection)
            .fetch_all(self.pool())
            .await?;
        Ok(self.docs_from_db(docs))
    }

    /// Documents as they were written (see `columns.rs`).
    fn docs_from_db(&self, docs: Vec<String>) -> Vec<String> {
        docs.into_iter()
            .map(|doc| self.dialect().doc_from_db(doc))
            .collect()
    }

    /// The one document a query selects, if any, as it was written.
    async fn one_doc<'q>(
        &self,
        query: sqlx::query::QueryScalar<'q, Any, String, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Option<String>, StoreError> {
        let doc = query.fetch_optional(self.pool()).await?;
        Ok(doc.map(|doc| self.dialect().doc_from_db(doc)))
    }

    /// A document of `read_models` by its key (a run id, or another key
    /// such as a participant id).
    pub async fn read_model_by_key(
        &self,
        projection: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = format!(
            "SELECT {} FROM read_models WHERE projection = $1 AND model_key = $2",
            self.dialect().as_text("doc")
        );
        let key = self.dialect().key_to_db(key);
        self.one_doc(sqlx::query_scalar(&sql).bind(projection).bind(key.as_ref()))
            .await
    }

    /// The stored run summary of the run list.
    pub async fn run_row(&self, run_id: Uuid) -> Result<Option<String>, StoreError> {
        let dialect = self.dialect();
        let sql = format!(
            "SELECT {} FROM run_list WHERE run_id = $1{}",
            dialect.as_text("doc"),
            dialect.uuid_param()
        );
        self.one_doc(sqlx::query_scalar(&sql).bind(run_id.to_string()))
            .await
    }

    pub async fn checkpoint(&self, projector: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT position FROM projector_checkpoints WHERE projector = $1")
            .bind(projector)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => 0,
        })
    }

    pub async fn read_model(
        &self,
        projection: &str,
        run_id: Uuid,
    ) -> Result<Option<String>, StoreError> {
        self.read_model_by_key(projection, &run_id.to_string())
            .await
    }

    /// A run's document of `projection` and the log position of the last
    /// event folded into it.
    pub async fn read_model_at(
        &self,
        projection: &str,
        run_id: Uuid,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let sql = format!(
            "SELECT {}, position FROM read_models WHERE projection = $1 AND model_key = $2",
            self.dialect().as_text("doc")
        );
        let key = self.dialect().key_to_db(&run_id.to_string()).into_owned();
        let row = sqlx::query(&sql)
            .bind(projection)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((self.dialect().doc_from_db(row.try_get(0)?), row.try_get(1)?)))
            .transpose()
    }

    /// The latest run-state snapshot of a run taken at or below `seq` (see
    /// `projector::snapshots`), as JSON.
    pub async fn latest_snapshot(
        &self,
        run_id: Uuid,
        seq: u64,
    ) -> Result<Option<String>, StoreError> {
        let sql = format!(
            "SELECT {} FROM read_models WHERE projection = $1 AND model_key > $2 \
             AND model_key <= $3 ORDER BY model_key DESC LIMIT 1",
            self.dialect().as_text("doc")
        );
        self.one_doc(
            sqlx::query_scalar(&sql)
                .bind(crate::projector::SNAPSHOTS)
                .bind(format!("{run_id}@"))
                .bind(crate::projector::snapshot_key(run_id, seq)),
        )
        .await
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

    pub async fn begin_projection(&self) -> Result<ProjectionBatch<'static>, StoreError> {
        Ok(ProjectionBatch {
            tx: self.pool().begin().await?,
            dialect: self.dialect(),
        })
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
    aggregates::event::stored_canonical_json(super::log::parse_schema_version(&version), &payload)
        .map(str::to_string)
        .map_err(|e| StoreError::Corrupt(format!("canonical event payload: {e}")))
}

impl ProjectionBatch<'_> {
    /// Upserts documents, many rows a statement. A key written twice in
    /// the batch keeps its last document (one statement may not touch a
    /// row twice on PostgreSQL).
    async fn upsert_read_models(
        &mut self,
        documents: Vec<(&str, &str, &str, i64)>,
    ) -> Result<(), StoreError> {
        let dialect = self.dialect;
        let documents = last_per_key(documents, |(projection, key, _, _)| (*projection, *key));
        for chunk in documents.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO read_models (projection, model_key, doc, position) VALUES {} \
                 ON CONFLICT (projection, model_key) DO UPDATE SET doc = excluded.doc, position = excluded.position",
                values_placeholders_cast(chunk.len(), &["", "", dialect.doc_param(), ""])
            );
            let docs: Vec<_> = chunk
                .iter()
                .map(|(_, key, doc, _)| (dialect.key_to_db(key), dialect.doc_to_db(doc)))
                .collect();
            let mut query = sqlx::query(&sql);
            for ((projection, _, _, position), (key, doc)) in chunk.iter().zip(&docs) {
                query = query
                    .bind(*projection)
                    .bind(key.as_ref())
                    .bind(doc.as_ref())
                    .bind(*position);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Upserts run-list rows, many a statement (the last row of a run wins).
    async fn upsert_run_rows(&mut self, rows: Vec<&RunRow>) -> Result<(), StoreError> {
        let dialect = self.dialect;
        let (uuid, time, doc) = (
            dialect.uuid_param(),
            dialect.time_param(),
            dialect.doc_param(),
        );
        let casts = [
            uuid, "", time, time, time, time, "", "", "", "", doc, "", "",
        ];
        let rows = last_per_key(rows, |row| row.run_id);
        for chunk in rows.chunks(INSERT_CHUNK / 2) {
            let sql = format!(
                "INSERT INTO run_list (run_id, status, created_at, updated_at, started_at, ended_at, archived, \
                 deleted, tags, search, doc, environment, scenario_ref) VALUES {} \
                 ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at, started_at = excluded.started_at, ended_at = excluded.ended_at, \
                 archived = excluded.archived, deleted = excluded.deleted, tags = excluded.tags, \
                 search = excluded.search, doc = excluded.doc, environment = excluded.environment, \
                 scenario_ref = excluded.scenario_ref",
                values_placeholders_cast(chunk.len(), &casts)
            );
            let docs: Vec<_> = chunk
                .iter()
                .map(|row| dialect.doc_to_db(&row.doc))
                .collect();
            let mut query = sqlx::query(&sql);
            for (row, doc) in chunk.iter().zip(&docs) {
                query = query
                    .bind(row.run_id.to_string())
                    .bind(&row.status)
                    .bind(&row.created_at)
                    .bind(&row.updated_at)
                    .bind(&row.started_at)
                    .bind(&row.ended_at)
                    .bind(i64::from(row.archived))
                    .bind(i64::from(row.deleted))
                    .bind(index_text(&row.tags))
                    .bind(index_text(&row.search))
                    .bind(doc.as_ref())
                    .bind(row.environment.as_deref().map(index_text))
                    .bind(row.scenario_ref.as_deref().map(index_text));
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// A batch's writes: canonical events, documents and run-list rows in
    /// multi-row statements (they are most of a batch: a busy batch touches
    /// every model of hundreds of runs), the other rows one statement each,
    /// in order.
    pub async fn write_all(&mut self, writes: &[ModelWrite]) -> Result<(), StoreError> {
        let dialect = self.dialect;
        let (uuid, time, doc_cast) = (
            dialect.uuid_param(),
            dialect.time_param(),
            dialect.doc_param(),
        );
        let mut events = Vec::new();
        let mut documents = Vec::new();
        let mut run_rows = Vec::new();
        for write in writes {
            match write {
                ModelWrite::CanonicalEvent {
                    run_id,
                    seq,
                    event_type,
                    ts,
                    position,
                } => events.push((run_id.to_string(), *seq, event_type, ts, *position)),
                ModelWrite::Document {
                    projection,
                    key,
                    doc,
                    position,
                } => documents.push((*projection, key.as_str(), doc.as_str(), *position)),
                ModelWrite::RunRow(row) => run_rows.push(row),
                ModelWrite::AuditEntry(row) => {
                    let sql = format!(
                        "INSERT INTO audit_log (position, run_id, at, principal, action, doc, resource, \
                         resource_id) VALUES ($1, $2{uuid}, $3{time}, $4, $5, $6{doc_cast}, $7, $8) \
                         ON CONFLICT (position) DO NOTHING"
                    );
                    sqlx::query(&sql)
                        .bind(row.position)
                        .bind(row.run_id.to_string())
                        .bind(row.at.as_str())
                        .bind(row.principal.as_str())
                        .bind(row.action.as_str())
                        .bind(dialect.doc_to_db(&row.doc).as_ref())
                        .bind(row.resource.as_str())
                        .bind(row.resource_id.as_str())
                        .execute(&mut *self.tx)
                        .await?;
                }
                ModelWrite::QueuedDelivery(delivery) => {
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, run_id, event_type, \
                         body, status, attempts, next_attempt_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8) \
                         ON CONFLICT (webhook_id, event_id) DO NOTHING",
                    )
                    .bind(delivery.id.as_str())
                    .bind(delivery.webhook_id.as_str())
                    .bind(delivery.event_id.as_str())
                    .bind(delivery.run_id.as_str())
                    .bind(delivery.event_type.as_str())
                    .bind(delivery.body.as_str())
                    .bind(delivery.due_at)
                    .bind(delivery.created_at.as_str())
                    .execute(&mut *self.tx)
                    .await?;
                }
                ModelWrite::RunDeliveriesCancelled { run_id } => {
                    sqlx::query(
                        "UPDATE webhook_deliveries SET status = 'cancelled', \
                         last_error = 'the run was deleted' WHERE run_id = $1 AND status = 'pending'",
                    )
                    .bind(run_id.to_string())
                    .execute(&mut *self.tx)
                    .await?;
                }
            }
        }
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
        self.upsert_read_models(documents).await?;
        self.upsert_run_rows(run_rows).await?;
        Ok(())
    }

    /// Moves the projector's checkpoint from `from` to `to` within the
    /// batch; if it is no longer at `from` (a rebuild reset it, or another
    /// writer moved it), the batch fails and nothing of it is written.
    pub async fn advance(&mut self, projector: &str, from: i64, to: i64) -> Result<(), StoreError> {
        let moved = sqlx::query(
            "UPDATE projector_checkpoints SET position = $1 WHERE projector = $2 AND position = $3",
        )
        .bind(to)
        .bind(projector)
        .bind(from)
        .execute(&mut *self.tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::CheckpointMoved(projector.to_string()));
        }
        Ok(())
    }

    /// Commits the writes and the checkpoints moved with them.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// `items` with, for each key, only the last item of that key, in the order
/// of those last items.
fn last_per_key<T, K: Eq + std::hash::Hash>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut last = std::collections::HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(key(item), i);
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| last.get(&key(item)) == Some(i))
        .map(|(_, item)| item)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::last_per_key;

    #[test]
    fn only_the_last_item_of_each_key_is_kept() {
        let items = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        assert_eq!(
            last_per_key(items, |(key, _)| *key),
            vec![("a", 3), ("c", 4), ("b", 5)]
        );
    }
}
