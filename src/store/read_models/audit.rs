//! The audit log: run entries (one per `ActionAudited` event) and the
//! operation audit facts, read as one list by `GET /audit`.

use super::batch::ProjectionBatch;
use super::filter::Filter;
use crate::store::{Dialect, EventStore, StoreError};
use sqlx::Row;
use uuid::Uuid;

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

impl EventStore {
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
}

impl ProjectionBatch<'_> {
    /// Writes an audit-log row; one written already (by its position) is
    /// left as it is.
    pub(super) async fn insert_audit_entry(&mut self, row: &AuditRow) -> Result<(), StoreError> {
        let dialect = self.dialect;
        let (uuid, time, doc_cast) = (
            dialect.uuid_param(),
            dialect.time_param(),
            dialect.doc_param(),
        );
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
        Ok(())
    }
}
