//! Webhook subscriptions and their delivery outbox.
//!
//! Subscriptions are configuration, kept as rows (like the runtime's
//! policies). The outbox is written by the `webhook_outbox` projector in
//! the transaction that moves its checkpoint, so an event is queued for
//! each subscription exactly once, and a restart loses none; the delivery
//! worker then moves each row to `delivered` or, after its last attempt,
//! `failed`.

use super::read_models::ProjectionBatch;
use super::{EventStore, StoreError};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

/// A subscription as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A subscription with the secret that signs its deliveries.
#[derive(Debug, Clone)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    pub secret: String,
}

/// A queued delivery, as `GET /webhooks/:id/deliveries` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub run_id: String,
    pub event_type: String,
    /// `pending`, `delivered`, `failed`, or `cancelled` (its run was deleted).
    pub status: String,
    pub attempts: i64,
    /// Unix ms of the next attempt, while pending.
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

/// A row for the outbox (written by the projector).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub run_id: String,
    pub event_type: String,
    pub body: String,
    pub created_at: String,
    pub due_at: i64,
}

/// A due delivery with what it takes to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: String,
    pub event_type: String,
    pub body: String,
    pub attempts: i64,
    pub url: String,
    pub secret: String,
}

const WEBHOOK_COLUMNS: &str = "id, url, events, active, created_at, updated_at, secret";
const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, run_id, event_type, status, attempts, \
     next_attempt_at, last_status, last_error, created_at, delivered_at";

fn webhook_from(row: &sqlx::any::AnyRow) -> Result<WebhookWithSecret, StoreError> {
    let events: String = row.try_get("events")?;
    Ok(WebhookWithSecret {
        webhook: Webhook {
            id: row.try_get("id")?,
            url: row.try_get("url")?,
            events: events
                .split(',')
                .filter(|e| !e.is_empty())
                .map(String::from)
                .collect(),
            active: row.try_get::<i64, _>("active")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        },
        secret: row.try_get("secret")?,
    })
}

fn delivery_from(row: &sqlx::any::AnyRow) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        event_id: row.try_get("event_id")?,
        run_id: row.try_get("run_id")?,
        event_type: row.try_get("event_type")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

impl EventStore {
    /// Adds a subscription, or replaces one with the same id (an update).
    pub async fn save_webhook(&self, webhook: &Webhook, secret: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (id, url, events, secret, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
             url = excluded.url, events = excluded.events, secret = excluded.secret, \
             active = excluded.active, updated_at = excluded.updated_at",
        )
        .bind(webhook.id.as_str())
        .bind(webhook.url.as_str())
        .bind(webhook.events.join(","))
        .bind(secret)
        .bind(i64::from(webhook.active))
        .bind(webhook.created_at.as_str())
        .bind(webhook.updated_at.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookWithSecret>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(webhook_from).transpose()
    }

    /// Every subscription, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<WebhookWithSecret>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter().map(webhook_from).collect()
    }

    /// Removes a subscription; its pending deliveries are dropped with it
    /// (delivered and failed ones stay, as a record). Whether it existed.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND status = 'pending'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// The deliveries of one subscription, newest first.
    pub async fn deliveries(
        &self,
        webhook_id: &str,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY created_at DESC, id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(webhook_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(delivery_from).collect()
    }

    /// Pending deliveries due at `now_ms`, oldest first, with their
    /// subscription's URL and secret.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.event_type, d.body, d.attempts, w.url, w.secret \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             ORDER BY d.next_attempt_at, d.id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    id: row.try_get("id")?,
                    event_type: row.try_get("event_type")?,
                    body: row.try_get("body")?,
                    attempts: row.try_get("attempts")?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                })
            })
            .collect()
    }

    /// Records one attempt: `delivered` (with its time), or still
    /// `pending` until `retry_at` (unix ms), or `failed` when `retry_at` is
    /// `None` (no attempts left).
    pub async fn record_attempt(
        &self,
        id: &str,
        http_status: Option<i64>,
        error: Option<&str>,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let (status, next, delivered_at) = match outcome {
            AttemptOutcome::Delivered { at } => ("delivered", 0, Some(at)),
            AttemptOutcome::RetryAt(at) => ("pending", at, None),
            AttemptOutcome::GaveUp => ("failed", 0, None),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
             next_attempt_at = $2, last_status = $3, last_error = $4, delivered_at = $5 \
             WHERE id = $6",
        )
        .bind(status)
        .bind(next)
        .bind(http_status)
        .bind(error)
        .bind(delivered_at)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered { at: String },
    RetryAt(i64),
    GaveUp,
}

impl ProjectionBatch<'_> {
    /// Queues a delivery in the outbox projector's batch; one queued
    /// already (by subscription and event) is left as it is.
    pub(super) async fn queue_delivery(
        &mut self,
        delivery: &NewDelivery,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_id, run_id, event_type, \
             body, status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8) \
             ON CONFLICT (webhook_id, event_id) DO NOTHING",
        )
        .bind(delivery.id.as_str())
        .bind(delivery.webhook_id.as_str())
        .bind(delivery.event_id.as_str())
        .bind(delivery.run_id.as_str())
        .bind(delivery.event_type.as_str())
        .bind(delivery.body.as_str())
        .bind(delivery.due_at)
        .bind(delivery.created_at.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Cancels a deleted run's deliveries still pending: never sent.
    pub(super) async fn cancel_run_deliveries(&mut self, run_id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'cancelled', \
             last_error = 'the run was deleted' WHERE run_id = $1 AND status = 'pending'",
        )
        .bind(run_id.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
