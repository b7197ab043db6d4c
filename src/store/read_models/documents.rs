//! The `read_models` table: one JSON document per (projection, key).

use super::batch::{last_per_key, ProjectionBatch};
use crate::store::dialect::{values_placeholders_cast, INSERT_CHUNK};
use crate::store::{EventStore, StoreError};
use sqlx::{Any, Row};
use uuid::Uuid;

impl EventStore {
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
        self.read_model_row(projection, &run_id.to_string()).await
    }

    /// A document of `read_models` by its key (a run id, or another key
    /// such as a participant id).
    pub async fn read_model_by_key(
        &self,
        projection: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self.read_model_row(projection, key).await?;
        Ok(row.map(|(doc, _)| doc))
    }

    /// A document by its key, and the log position it was written at.
    async fn read_model_row(
        &self,
        projection: &str,
        key: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let sql = format!(
            "SELECT {}, position FROM read_models WHERE projection = $1 AND model_key = $2",
            self.dialect().as_text("doc")
        );
        let key = self.dialect().key_to_db(key).into_owned();
        let row = sqlx::query(&sql)
            .bind(projection)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((self.dialect().doc_from_db(row.try_get(0)?), row.try_get(1)?)))
            .transpose()
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
    pub(super) fn docs_from_db(&self, docs: Vec<String>) -> Vec<String> {
        docs.into_iter()
            .map(|doc| self.dialect().doc_from_db(doc))
            .collect()
    }

    /// The one document a query selects, if any, as it was written.
    pub(super) async fn one_doc<'q>(
        &self,
        query: sqlx::query::QueryScalar<'q, Any, String, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Option<String>, StoreError> {
        let doc = query.fetch_optional(self.pool()).await?;
        Ok(doc.map(|doc| self.dialect().doc_from_db(doc)))
    }
}

impl ProjectionBatch<'_> {
    /// Upserts documents, many rows a statement. A key written twice in
    /// the batch keeps its last document (one statement may not touch a
    /// row twice on PostgreSQL).
    pub(super) async fn upsert_read_models(
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
}
