//! The audit log of `GET /audit`: one row per `ActionAudited` event (who
//! asked for which command on which run), keyed by its log position.

use super::{ModelCache, Projector};
use crate::store::read_models::{AuditRow, ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use aggregates::RunEvent;
use async_trait::async_trait;
use serde_json::json;

pub struct AuditLogProjector;

/// Its name (the `rebuild --projection` name too).
pub const AUDIT_LOG: &str = "audit_log";

#[async_trait]
impl Projector for AuditLogProjector {
    fn name(&self) -> &'static str {
        AUDIT_LOG
    }

    fn table(&self) -> ProjectionTable {
        ProjectionTable::AuditLog
    }

    async fn project(
        &self,
        _store: &EventStore,
        events: &[StoredEvent],
        _cache: &mut ModelCache,
    ) -> Result<Vec<ModelWrite>, StoreError> {
        let mut writes = Vec::new();
        for stored in events {
            let RunEvent::ActionAudited { action, actor, at } = &stored.event else {
                continue;
            };
            let doc = json!({
                "id": stored.position,
                "runId": stored.stream_id,
                "at": at,
                "action": action,
                "actor": actor,
            });
            writes.push(ModelWrite::AuditEntry(AuditRow {
                position: stored.position,
                run_id: stored.stream_id,
                at: at.to_string(),
                principal: actor.principal.clone(),
                action: action.clone(),
                doc: doc.to_string(),
            }));
        }
        Ok(writes)
    }
}
