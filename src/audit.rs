//! The caller behind the work in progress, for the audit log.
//!
//! The API's access layer runs each request inside [`acting_as`]; the run
//! repository, deciding a command within it, writes an `ActionAudited`
//! fact with the command's events (one append). Work spawned apart from a
//! request (ingestion, the sweeper) has no actor and writes no audit fact:
//! what the runtime did is in the log already, as envelopes. Commands on
//! what is not a run (webhooks, runtime policies, the circuit breaker) are
//! recorded by [`record_operation`].

use crate::projector::audit_log::audit_entry;
use crate::store::read_models::audit::OperationAudit;
use crate::store::EventStore;
use aggregates::{Actor, Timestamp};
use std::future::Future;
use uuid::Uuid;

tokio::task_local! {
    static ACTOR: Actor;
}

/// Runs `work` on behalf of `actor`.
pub async fn acting_as<F: Future>(actor: Actor, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}

/// The caller of the request being served here, if any.
pub fn current_actor() -> Option<Actor> {
    ACTOR.try_with(Actor::clone).ok()
}

/// Records that the caller of the request being served did `action` to a
/// resource that is not a run (`webhook`, `policy`, `circuit-breaker`), as
/// an operation audit fact read by `GET /audit`. Recording is best effort
/// after the change itself succeeded: a failure is logged, not answered.
pub async fn record_operation(
    store: &EventStore,
    action: &str,
    resource: &str,
    resource_id: Option<&str>,
) {
    let actor = current_actor().unwrap_or_else(|| Actor {
        principal: "anonymous".into(),
        request_id: None,
        client: None,
    });
    let at = Timestamp::now();
    let id = Uuid::now_v7().to_string();
    let entry = OperationAudit {
        doc: audit_entry(&id, &actor, action, resource, resource_id, at).to_string(),
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
