//! Messages into a live run: `POST /runs/:id/messages` (a session
//! message), `/signal` and `/context` (ambient signals correlated with the
//! run's session), each one command (`commands::messages`), and
//! `GET /runs/:id/messages` (what was sent).

use super::access::Caller;
use super::body::{parse_json, run_id};
use super::error::{AppError, Problem};
use super::AppState;
use crate::commands::messages::{MessageSent, SendContext, SendMessage, SendSignal};
use crate::queries::read_model;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use projections::sent_messages::SentMessage;
use projections::SentMessages;

#[utoipa::path(
    post,
    path = "/runs/{id}/messages",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = SendMessage,
    responses(
        (status = 200, description = "`{messageId, ack, warnings}` (`warnings`: payload fields dropped as unknown)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 422, description = "The runtime refused the message (`MESSAGE_SEND_FAILED`; its code in `errors`); recorded as `message.send_failed`, and `policy.denied` for a policy refusal", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
        (status = 504, description = "The runtime did not answer in time", body = Problem),
    )
)]
pub async fn send(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<MessageSent>, AppError> {
    let run_id = run_id(&id)?;
    let message: SendMessage = parse_json(&body)?;
    Ok(Json(
        app.commands.send_message(&actor, run_id, message).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/runs/{id}/signal",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = SendSignal,
    responses(
        (status = 200, description = "`{messageId, ack, warnings}` (`warnings`: payload fields dropped as unknown)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 422, description = "The runtime refused the message (`MESSAGE_SEND_FAILED`; its code in `errors`); recorded as `message.send_failed`, and `policy.denied` for a policy refusal", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
        (status = 504, description = "The runtime did not answer in time", body = Problem),
    )
)]
pub async fn signal(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<MessageSent>, AppError> {
    let run_id = run_id(&id)?;
    let signal: SendSignal = parse_json(&body)?;
    Ok(Json(
        app.commands.send_signal(&actor, run_id, signal).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/runs/{id}/context",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = SendContext,
    responses(
        (status = 200, description = "`{messageId, ack, warnings}` (`warnings`: payload fields dropped as unknown)", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 422, description = "The runtime refused the message (`MESSAGE_SEND_FAILED`; its code in `errors`); recorded as `message.send_failed`, and `policy.denied` for a policy refusal", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
        (status = 504, description = "The runtime did not answer in time", body = Problem),
    )
)]
pub async fn context(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<MessageSent>, AppError> {
    let run_id = run_id(&id)?;
    let update: SendContext = parse_json(&body)?;
    Ok(Json(
        app.commands.send_context(&actor, run_id, update).await?,
    ))
}

/// `GET /runs/:id/messages`: a bare array, in the order they were sent.
#[utoipa::path(
    get,
    path = "/runs/{id}/messages",
    tag = "messages",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "Messages sent through the control plane", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<SentMessage>>, AppError> {
    let run_id = run_id(&id)?;
    Ok(Json(
        read_model::<SentMessages>(&app.store, run_id)
            .await?
            .messages,
    ))
}
