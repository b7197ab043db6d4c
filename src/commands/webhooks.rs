//! Webhook subscriptions: created, changed and removed by a caller, each
//! change recorded in the operation audit with who made it.

use super::{Actor, Commands};
use crate::audit::record_operation;
use crate::error::AppError;
use crate::projector::webhook_outbox::DEFAULT_WEBHOOK_EVENTS;
use crate::store::webhooks::Webhook;
use aggregates::canonical::types;
use aggregates::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

/// A subscription as a caller sends it (every field optional on a change).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    /// Where deliveries are POSTed (http or https).
    pub url: Option<String>,
    /// Canonical event types to deliver; absent or empty: run.started,
    /// run.completed, run.failed, run.cancelled.
    pub events: Option<Vec<String>>,
    /// Signs each delivery (HMAC-SHA256); at least 8 characters. Never
    /// shown again.
    pub secret: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// Shortest secret accepted: the signature is only as strong as it. The
/// web console's form offers the placeholder `change-me` (9 characters)
/// and may send it unchanged, so the floor sits below that.
const MIN_SECRET_LENGTH: usize = 8;

/// The resource of webhook commands' audit entries.
const WEBHOOK: &str = "webhook";

fn checked_url(url: &str) -> Result<String, AppError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| AppError::field("url", format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AppError::field(
            "url",
            "must be an http or https URL with a host",
        ));
    }
    Ok(url.to_string())
}

/// Any canonical event types; none means the run's lifecycle.
fn checked_events(events: Vec<String>) -> Result<Vec<String>, AppError> {
    if events.is_empty() {
        return Ok(DEFAULT_WEBHOOK_EVENTS.map(String::from).to_vec());
    }
    for (i, event) in events.iter().enumerate() {
        if !types::ALL.contains(&event.as_str()) {
            return Err(AppError::field(
                &format!("events[{i}]"),
                format!("{event:?} is not a canonical event type ({:?})", types::ALL),
            ));
        }
    }
    Ok(events)
}

fn checked_secret(secret: String) -> Result<String, AppError> {
    if secret.chars().count() < MIN_SECRET_LENGTH {
        return Err(AppError::field(
            "secret",
            format!("must be at least {MIN_SECRET_LENGTH} characters"),
        ));
    }
    Ok(secret)
}

impl Commands {
    /// Registers a subscription; `url` and `secret` are required.
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        body: WebhookBody,
    ) -> Result<Webhook, AppError> {
        let url = checked_url(
            body.url
                .as_deref()
                .ok_or_else(|| AppError::field("url", "is required"))?,
        )?;
        let secret = checked_secret(
            body.secret
                .ok_or_else(|| AppError::field("secret", "is required"))?,
        )?;
        let events = checked_events(body.events.unwrap_or_default())?;
        let now = Timestamp::now().to_string();
        let webhook = Webhook {
            id: Uuid::new_v4().to_string(),
            url,
            events,
            active: body.active.unwrap_or(true),
            created_at: now.clone(),
            updated_at: now,
        };
        self.store().save_webhook(&webhook, &secret).await?;
        tracing::info!(webhook = %webhook.id, "webhook registered");
        record_operation(
            self.store(),
            actor,
            "webhook.create",
            WEBHOOK,
            Some(&webhook.id),
        )
        .await;
        Ok(webhook)
    }

    /// Changes the fields `body` has; the secret stays unless one is given.
    pub async fn update_webhook(
        &self,
        actor: &Actor,
        id: &str,
        body: WebhookBody,
    ) -> Result<Webhook, AppError> {
        let current = self
            .store()
            .webhook(id)
            .await?
            .ok_or_else(|| AppError::WebhookNotFound(id.to_string()))?;
        let mut webhook = current.webhook;
        if let Some(url) = &body.url {
            webhook.url = checked_url(url)?;
        }
        if let Some(events) = body.events {
            webhook.events = checked_events(events)?;
        }
        if let Some(active) = body.active {
            webhook.active = active;
        }
        let secret = match body.secret {
            Some(secret) => checked_secret(secret)?,
            None => current.secret,
        };
        webhook.updated_at = Timestamp::now().to_string();
        self.store().save_webhook(&webhook, &secret).await?;
        record_operation(
            self.store(),
            actor,
            "webhook.update",
            WEBHOOK,
            Some(&webhook.id),
        )
        .await;
        Ok(webhook)
    }

    /// Removes a subscription with its pending deliveries.
    pub async fn delete_webhook(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        if !self.store().delete_webhook(id).await? {
            return Err(AppError::WebhookNotFound(id.to_string()));
        }
        tracing::info!(webhook = %id, "webhook removed");
        record_operation(self.store(), actor, "webhook.delete", WEBHOOK, Some(id)).await;
        Ok(())
    }
}
