//! The audit log of `GET /audit`: one row per `ActionAudited` event (who
//! asked for which command on which run), keyed by its log position; and
//! the entry shape the operation audit facts share.

use super::{ModelCache, Projector};
use crate::store::read_models::audit::AuditRow;
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use aggregates::{Actor, RunEvent, Timestamp};
use async_trait::async_trait;
use serde_json::{json, Value};

pub struct AuditLogProjector;

/// The resource of a run command's audit entry.
pub const RUN_RESOURCE: &str = "run";

/// An audit entry as `GET /audit` serves it: `{id, actor (text), actorType,
/// action, resource, resourceId?, requestId?, client?, createdAt}` (the web
/// console's shape). An API key is a service's credential; an open API's
/// caller is taken for a person at the console.
pub fn audit_entry(
    id: &str,
    actor: &Actor,
    action: &str,
    resource: &str,
    resource_id: Option<&str>,
    at: Timestamp,
) -> Value {
    let actor_type = if actor.principal.starts_with("key:") {
        "service"
    } else {
        "user"
    };
    let mut entry = json!({
        "id": id,
        "actor": actor.principal,
        "actorType": actor_type,
        "action": action,
        "resource": resource,
        "createdAt": at,
    });
    if let Some(resource_id) = resource_id {
        entry["resourceId"] = json!(resource_id);
    }
    if resource == RUN_RESOURCE {
        entry["runId"] = entry["resourceId"].clone();
    }
    if let Some(request_id) = &actor.request_id {
        entry["requestId"] = json!(request_id);
    }
    if let Some(client) = &actor.client {
        entry["client"] = json!(client);
    }
    entry
}

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
            let run_id = stored.stream_id.to_string();
            let doc = audit_entry(
                &stored.position.to_string(),
                actor,
                action,
                RUN_RESOURCE,
                Some(&run_id),
                *at,
            );
            writes.push(ModelWrite::AuditEntry(AuditRow {
                position: stored.position,
                run_id: stored.stream_id,
                at: at.to_string(),
                principal: actor.principal.clone(),
                action: action.clone(),
                resource: RUN_RESOURCE.into(),
                resource_id: run_id,
                doc: doc.to_string(),
            }));
        }
        Ok(writes)
    }
}
