//! The audit of commands on what is not a run (webhooks, runtime policies,
//! the circuit breaker): [`record_operation`].
//!
//! A command on a run is audited by the run repository instead, which
//! writes an `ActionAudited` fact naming the command's caller with the
//! command's events (one append). Work spawned apart from a request
//! (ingestion, the sweeper) has no caller and writes no audit fact: what
//! the runtime did is in the log already, as envelopes.

use crate::projector::audit_log::audit_entry;
use crate::store::read_models::audit::OperationAudit;
use crate::store::EventStore;
use aggregates::{Actor, Timestamp};
use uuid::Uuid;

/// Records that `actor` did `action` to a resource that is not a run (`webhook`, `policy`, `circuit-breaker`), as
/// an operation audit fact read by `GET /audit`. Recording is best effort
/// after the change itself succeeded: a failure is logged, not answered.
pub async fn record_operation(
    store: &EventStore,
    actor: &Actor,
    action: &str,
    resource: &str,
    resource_id: Option<&str>,
) {
    let at = Timestamp::now();
    let id = Uuid::now_v7().to_string();
    let entry = OperationAudit {
        doc: audit_entry(&id, actor, action, resource, resource_id, at).to_string(),
        id,
        at: at.to_string(),
        principal: actor.principal.clone(),
        action: action.into(),
        resource: resource.into(),
        resource_id: resource_id.map(String::from),
    };
    if let Err(error) = store.record_operation(&entry).await {
        tracing::warn!(%error, action, resource, "could not record the audit entry");
    }
}
