//! Queues webhook deliveries: each canonical event, for every active
//! subscription to its type that existed when it happened. The queue rows
//! are written in the transaction that moves this projector's checkpoint,
//! so nothing is queued twice or lost across restarts; `webhook_delivery`
//! sends them.

use super::{ModelCache, Projector};
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::webhooks::NewDelivery;
use crate::store::{EventStore, StoreError, StoredEvent};
use aggregates::canonical::types;
use aggregates::{RunEvent, Timestamp};
use async_trait::async_trait;
use serde_json::json;
use uuid::Uuid;

/// What a subscription that names no event types gets: the run's
/// lifecycle.
pub const DEFAULT_WEBHOOK_EVENTS: [&str; 4] = [
    types::RUN_STARTED,
    types::RUN_COMPLETED,
    types::RUN_FAILED,
    types::RUN_CANCELLED,
];

/// Namespace of delivery ids (v5 of webhook id and event id: the same
/// delivery always gets the same id).
const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x6d61_6370_7765_6268_6f6f_6b64_656c_6976);

pub struct WebhookOutbox;

#[async_trait]
impl Projector for WebhookOutbox {
    fn name(&self) -> &'static str {
        "webhook_outbox"
    }

    fn table(&self) -> ProjectionTable {
        ProjectionTable::WebhookOutbox
    }

    fn per_run(&self) -> bool {
        false
    }

    async fn project(
        &self,
        store: &EventStore,
        events: &[StoredEvent],
        _cache: &mut ModelCache,
    ) -> Result<Vec<ModelWrite>, StoreError> {
        // A deleted run's deliveries not yet sent are cancelled, in log
        // order with the ones queued before: nothing goes out about a run
        // that no longer exists.
        let deleted: Vec<ModelWrite> = events
            .iter()
            .filter(|e| matches!(e.event, RunEvent::RunDeleted { .. }))
            .map(|e| ModelWrite::RunDeliveriesCancelled {
                run_id: e.stream_id,
            })
            .collect();
        let due: Vec<_> = events.iter().filter_map(|e| e.event.canonical()).collect();
        if due.is_empty() {
            return Ok(deleted);
        }
        let subscriptions = store.webhooks().await?;
        if subscriptions.is_empty() {
            return Ok(deleted);
        }
        let now = Timestamp::now();
        let mut writes = Vec::new();
        for event in due {
            let happened = event.ts.to_string();
            for subscription in &subscriptions {
                let hook = &subscription.webhook;
                // A subscription gets what happens after it was made.
                if !hook.active
                    || !hook.events.contains(&event.event_type)
                    || hook.created_at > happened
                {
                    continue;
                }
                let id = Uuid::new_v5(
                    &DELIVERY_NAMESPACE,
                    format!("{}/{}", hook.id, event.id).as_bytes(),
                );
                let body = json!({
                    "id": id,
                    "type": event.event_type,
                    "runId": event.run_id,
                    "occurredAt": happened,
                    "event": event,
                });
                writes.push(ModelWrite::QueuedDelivery(NewDelivery {
                    id: id.to_string(),
                    webhook_id: hook.id.clone(),
                    event_id: event.id.to_string(),
                    run_id: event.run_id.to_string(),
                    event_type: event.event_type.clone(),
                    body: body.to_string(),
                    created_at: now.to_string(),
                    due_at: now.unix_ms(),
                }));
            }
        }
        writes.extend(deleted);
        Ok(writes)
    }
}
