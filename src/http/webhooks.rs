//! `/webhooks`: subscriptions to run events, delivered signed and retried
//! from the outbox (`webhook_delivery`). A secret goes in, never out.

use super::access::Caller;
use super::body::{parse_json, query_int, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::commands::webhooks::WebhookBody;
use crate::store::webhooks::{Delivery, Webhook};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

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
    Caller(actor): Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Webhook>), AppError> {
    let body: WebhookBody = parse_json(&body)?;
    let webhook = app.commands.create_webhook(&actor, body).await?;
    Ok((StatusCode::CREATED, Json(webhook)))
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    responses((status = 200, description = "Every subscription (no secrets)", body = serde_json::Value))
)]
pub async fn list(State(app): State<AppState>) -> Result<Json<Vec<Webhook>>, AppError> {
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
) -> Result<Json<Webhook>, AppError> {
    let hook = app
        .store
        .webhook(&id)
        .await?
        .ok_or_else(|| AppError::WebhookNotFound(id.clone()))?;
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
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Webhook>, AppError> {
    let body: WebhookBody = parse_json(&body)?;
    let webhook = app.commands.update_webhook(&actor, &id, body).await?;
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
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    app.commands.delete_webhook(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `deliveries`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// 1..500, default 100
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "Webhook id"),
        DeliveriesParams,
    ),
    responses(
        (status = 200, description = "`[{id, eventId, runId, eventType, status, attempts, nextAttemptAt, lastStatus?, lastError?, createdAt, deliveredAt?}]`, newest first", body = serde_json::Value),
        (status = 404, description = "No such webhook", body = Problem),
    )
)]
pub async fn deliveries(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<DeliveriesParams>,
) -> Result<Json<Vec<Delivery>>, AppError> {
    let limit = query_int(params.limit.as_deref(), "limit", 100, 1..=500)?;
    app.store
        .webhook(&id)
        .await?
        .ok_or_else(|| AppError::WebhookNotFound(id.clone()))?;
    Ok(Json(app.store.deliveries(&id, limit).await?))
}
