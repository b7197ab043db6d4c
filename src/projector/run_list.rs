//! The run list of `GET /runs` and the dashboard: the run summary fold,
//! stored as a row with the columns lists filter and sort on.

use super::documents::by_run;
use super::{ModelCache, Projector};
use crate::store::read_models::run_list::RunRow;
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use async_trait::async_trait;
use projections::{Projection, RunSummary};
use serde_json::Value;

pub struct RunListProjector;

#[async_trait]
impl Projector for RunListProjector {
    fn name(&self) -> &'static str {
        "run_list"
    }

    fn table(&self) -> ProjectionTable {
        ProjectionTable::RunList
    }

    async fn project(
        &self,
        store: &EventStore,
        events: &[StoredEvent],
        cache: &mut ModelCache,
    ) -> Result<Vec<ModelWrite>, StoreError> {
        let mut writes = Vec::new();
        for (run_id, events) in by_run(events) {
            let key = run_id.to_string();
            let cached = cache.take::<RunSummary>(self.name(), &key);
            let mut summary: RunSummary = match cached {
                Some(summary) => summary,
                None => match store.run_row(run_id).await? {
                    Some(doc) => serde_json::from_str(&doc).map_err(|e| {
                        StoreError::Corrupt(format!("stored run row does not load: {e}"))
                    })?,
                    None => RunSummary::default(),
                },
            };
            for event in &events {
                summary.apply(&event.event);
            }
            if summary.id.is_none() {
                cache.put(self.name(), key, summary);
                continue;
            }
            let doc = serde_json::to_string(&summary)
                .map_err(|e| StoreError::Corrupt(format!("run summary does not serialize: {e}")))?;
            let text = |ts: Option<aggregates::Timestamp>| ts.map(|t| t.to_string());
            writes.push(ModelWrite::RunRow(RunRow {
                run_id,
                status: summary
                    .status
                    .map(|s| s.as_str())
                    .unwrap_or("queued")
                    .to_string(),
                created_at: text(summary.created_at).unwrap_or_default(),
                updated_at: text(summary.updated_at).unwrap_or_default(),
                started_at: text(summary.started_at),
                ended_at: text(summary.ended_at),
                archived: summary.archived_at.is_some(),
                deleted: summary.deleted,
                tags: format!(",{},", summary.tags.join(",")),
                search: searchable(&summary),
                environment: metadata_text(&summary, "environment"),
                scenario_ref: metadata_text(&summary, "scenarioRef")
                    .or_else(|| summary.source.as_ref().and_then(|s| s.reference.clone()))
                    .map(|r| r.to_lowercase()),
                doc,
            }));
            cache.put(self.name(), key, summary);
        }
        Ok(writes)
    }
}

/// A text value of the run's metadata.
fn metadata_text(summary: &RunSummary, key: &str) -> Option<String> {
    summary
        .metadata
        .get(key)
        .and_then(Value::as_str)
        .map(String::from)
}

/// What `search` matches: the run's id, mode, runtime, tags, source and
/// metadata values, lowercased.
// serde_json's `Value`: a string is its text, anything else its JSON.
#[allow(clippy::wildcard_enum_match_arm)]
fn searchable(summary: &RunSummary) -> String {
    let mut words = vec![
        summary.id.map(|id| id.to_string()).unwrap_or_default(),
        summary.mode.clone(),
        summary.runtime_kind.clone(),
    ];
    words.extend(summary.tags.iter().cloned());
    if let Some(source) = &summary.source {
        words.push(source.kind.clone());
        words.extend(source.reference.clone());
    }
    for value in summary.metadata.values() {
        match value {
            Value::String(text) => words.push(text.clone()),
            other => words.push(other.to_string()),
        }
    }
    words.join(" ").to_lowercase()
}
