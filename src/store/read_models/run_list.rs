//! The run list: one row per run, the columns `GET /runs` filters and
//! sorts by, and the run summary it answers.

use super::batch::{last_per_key, ProjectionBatch};
use super::filter::Filter;
use crate::store::dialect::{values_placeholders_cast, INSERT_CHUNK};
use crate::store::{EventStore, StoreError};
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

/// Text for a column that lists filter on (tags, search text, environment,
/// scenario ref): U+0000 becomes U+FFFD. What a runtime sent can hold it
/// (an observed session's intent), PostgreSQL's text cannot, and the
/// documents keep the value as it was (JSON escapes it); the API refuses it
/// in what it takes, so no filter looks for it.
fn index_text(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

impl EventStore {
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
}

impl ProjectionBatch<'_> {
    /// Upserts run-list rows, many a statement (the last row of a run wins).
    pub(super) async fn upsert_run_rows(&mut self, rows: Vec<&RunRow>) -> Result<(), StoreError> {
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
}
