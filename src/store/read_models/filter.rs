//! The WHERE clause of a list query (the run list, the canonical index,
//! the audit log), built condition by condition with its bound values,
//! and the count and page queries that share it.
//!
//! Not sqlx's `QueryBuilder`: with the `Any` driver it writes `?` for each
//! bound value, which SQLite takes and PostgreSQL refuses; every statement
//! here numbers its parameters (`$1`), which both engines take.

use crate::store::{EventStore, StoreError};

/// The WHERE clause of a list query, built condition by condition, with
/// the values its `$n` placeholders stand for.
#[derive(Default)]
pub(super) struct Filter {
    clauses: Vec<String>,
    pub(super) args: Vec<String>,
}

impl Filter {
    /// A condition with no bound value.
    pub(super) fn add(&mut self, clause: &str) {
        self.clauses.push(clause.to_string());
    }

    /// A condition whose `?` stands for `value`.
    pub(super) fn with(&mut self, clause: &str, value: String) {
        self.with_all(clause, [value]);
    }

    /// A condition whose `?`s stand for `values`, in order.
    pub(super) fn with_all(&mut self, clause: &str, values: impl IntoIterator<Item = String>) {
        let mut bound = clause.to_string();
        for value in values {
            self.args.push(value);
            bound = bound.replacen('?', &format!("${}", self.args.len()), 1);
        }
        self.clauses.push(bound);
    }

    /// `column IN (values)`; nothing when `values` is empty.
    pub(super) fn any_of(&mut self, column: &str, values: &[String]) {
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
    pub(super) fn contains(&mut self, column: &str, text: &str) {
        let clause = self.contains_clause(column, text);
        self.clauses.push(clause);
    }

    /// The condition of [`Filter::contains`], its value bound, for a
    /// clause built around it (a subquery).
    pub(super) fn contains_clause(&mut self, column: &str, text: &str) -> String {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        self.args.push(format!("%{escaped}%"));
        format!("{column} LIKE ${} ESCAPE '\\'", self.args.len())
    }

    pub(super) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            return "1 = 1".to_string();
        }
        self.clauses.join(" AND ")
    }
}

impl EventStore {
    /// How many rows of `table` match `filter`.
    pub(super) async fn count_rows(&self, table: &str, filter: &Filter) -> Result<i64, StoreError> {
        let count_sql = format!("SELECT COUNT(*) FROM {table} WHERE {}", filter.sql());
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for value in &filter.args {
            count = count.bind(value.as_str());
        }
        Ok(count.fetch_one(self.pool()).await?)
    }

    /// One page of the `doc` column of `table` (rows matching `filter`, in
    /// `order`), and how many rows match in all.
    pub(super) async fn page_of_docs(
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
}
