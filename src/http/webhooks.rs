//! `/webhooks`: subscriptions to run events, delivered signed and retried
//! from the outbox (`webhook_delivery`). A secret goes in, never out.

use super::body::{parse_json, query_int};
use super::error::{ApiError, Problem};
use super::AppState;
use crate::audit::record_operation;
use crate::projector::webhook_outbox::DEFAULT_WEBHOOK_EVENTS;
use crate::store::webhooks::{Delivery, Webhook};
use aggregates::canonical::types;
use aggregates::Timestamp;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

/// Shortest secret accepted: the signature is only as strong as it. The
/// web console's form offers the placeholder `change-me` (9 characters)
/// and may send it unchanged, so the floor sits below that.
const MIN_SECRET_LENGTH: usize = 8;

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

/// The resource of webhook commands' audit entries.
const WEBHOOK: &str = "webhook";

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "WEBHOOK_NOT_FOUND",
        format!("webhook {id} does not exist"),
    )
}

fn checked_url(url: &str) -> Result<String, ApiError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ApiError::field("url", format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::field(
            "url",
            "must be an http or https URL with a host",
        ));
    }
    Ok(url.to_string())
}

/// Any canonical event types; none means the run's lifecycle.
fn checked_events(events: Vec<String>) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Ok(DEFAULT_WEBHOOK_EVENTS.map(String::from).to_vec());
    }
    for (i, event) in events.iter().enumerate() {
        if !types::ALL.contains(&event.as_str()) {
            return Err(ApiError::field(
                &format!("events[{i}]"),
                format!("{event:?} is not a canonical event type ({:?})", types::ALL),
            ));
        }
    }
    Ok(events)
}

fn checked_secret(secret: String) -> Result<String, ApiError> {
    if secret.chars().count() < MIN_SECRET_LENGTH {
        return Err(ApiError::field(
            "secret",
            format!("must be at least {MIN_SECRET_LENGTH} characters"),
        ));
    }
    Ok(secret)
}

#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "`{id, url, events, active, createdAt, updatedAt}` (no secret)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    let body: WebhookBody = parse_json(&body)?;
    let url = checked_url(
        body.url
            .as_deref()
            .ok_or_else(|| ApiError::field("url", "is required"))?,
    )?;
    let secret = checked_secret(
        body.secret
            .ok_or_else(|| ApiError::field("secret", "is required"))?,
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
    app.store.save_webhook(&webhook, &secret).await?;
    tracing::info!(webhook = %webhook.id, "webhook registered");
    record_operation(&app.store, "webhook.create", WEBHOOK, Some(&webhook.id)).await;
    Ok((StatusCode::CREATED, Json(webhook)))
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    responses((status = 200, description = "Every subscription (no secrets)", body = serde_json::Value))
)]
pub async fn list(State(app): State<AppState>) -> Result<Json<Vec<Webhook>>, ApiError> {
    let hooks = app.store.webhooks().await?;
    Ok(Json(hooks.into_iter().map(|h| h.webhook).collect()))
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The subscription (no secret)", body = serde_json::Value),
        (status = 404, description = "No such webhook", body = Problem),
    )
)]
pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    let hook = app
        .store
        .webhook(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(hook.webhook))
}

#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    request_body = WebhookBody,
    responses(
        (status = 200, description = "The updated subscription (no secret)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such webhook", body = Problem),
    )
)]
pub async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Webhook>, ApiError> {
    let body: WebhookBody = parse_json(&body)?;
    let current = app
        .store
        .webhook(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
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
    app.store.save_webhook(&webhook, &secret).await?;
    record_operation(&app.store, "webhook.update", WEBHOOK, Some(&webhook.id)).await;
    Ok(Json(webhook))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Removed, with its pending deliveries"),
        (status = 404, description = "No such webhook", body = Problem),
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !app.store.delete_webhook(&id).await? {
        return Err(not_found(&id));
    }
    tracing::info!(webhook = %id, "webhook removed");
    record_operation(&app.store, "webhook.delete", WEBHOOK, Some(&id)).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Webhook id"),
        ("limit" = Option<i64>, Query, description = "1..500, default 100"),
    ),
    responses(
        (status = 200, description = "`[{id, eventId, runId, eventType, status, attempts, nextAttemptAt, lastStatus?, lastError?, createdAt, deliveredAt?}]`, newest first", body = serde_json::Value),
        (status = 404, description = "No such webhook", body = Problem),
    )
)]
pub async fn deliveries(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let limit = query_int(&params, "limit", 100, 1..=500)?;
    app.store
        .webhook(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(app.store.deliveries(&id, limit).await?))
}
