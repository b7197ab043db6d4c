//! How the application's errors look over HTTP: each [`AppError`] variant's
//! status and `errorCode` (one exhaustive match, so a new variant must be
//! given both), and the JSON problem body
//! `{statusCode, errorCode, message, errors?: [{path, message}]}`.
//! Internal failures are logged when answered, and answered without detail.

pub use crate::error::AppError;
use crate::runtime::RefusalCode;
use aggregates::{DomainError, FieldError};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The problem body every error answers with (documented in the OpenAPI
/// document; [`AppError`] renders it).
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub struct Problem {
    #[schema(rename = "statusCode")]
    status_code: u16,
    /// A stable UPPER_SNAKE name, such as `VALIDATION_ERROR`.
    #[schema(rename = "errorCode")]
    error_code: String,
    message: String,
    errors: Option<Vec<FieldError>>,
}

/// A runtime refusal's HTTP status and `errorCode`, by its code: the
/// caller's input, its rights, a missing thing, the session's state, or
/// the runtime's own failure. A code this service does not know is the
/// runtime's answer and no more: 502 `RUNTIME_REFUSED`.
fn refusal_status(code: &RefusalCode) -> (StatusCode, &'static str) {
    use RefusalCode as C;
    match code {
        C::Forbidden | C::Unauthenticated => (StatusCode::FORBIDDEN, "FORBIDDEN"),
        C::PolicyDenied => (StatusCode::FORBIDDEN, "POLICY_DENIED"),
        C::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        C::UnknownPolicyVersion
        | C::SessionNotFound
        | C::NotFound
        | C::AgentNotFound
        | C::ReceiptUnavailable => (StatusCode::NOT_FOUND, "NOT_FOUND"),
        C::InvalidPolicyDefinition
        | C::InvalidEnvelope
        | C::InvalidSessionId
        | C::InvalidRequest
        | C::UnsupportedProtocolVersion => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
        C::ModeNotSupported => (StatusCode::BAD_REQUEST, "MODE_NOT_SUPPORTED"),
        C::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
        C::SessionNotOpen
        | C::SessionAlreadyExists
        | C::DuplicateMessage
        | C::RegistryReadOnly
        | C::Refused
        | C::PolicyRegistryRefused => (StatusCode::CONFLICT, "INVALID_STATE_TRANSITION"),
        C::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "NOT_IMPLEMENTED"),
        C::InternalError
        | C::InvalidResponse
        | C::StreamLagged
        | C::HistoryUnavailable
        | C::Other(_) => (StatusCode::BAD_GATEWAY, "RUNTIME_REFUSED"),
    }
}

/// A refusal by the run aggregate: its status and `errorCode`.
fn domain_status(error: &DomainError) -> (StatusCode, &'static str) {
    match error {
        DomainError::RunNotFound => (StatusCode::NOT_FOUND, "RUN_NOT_FOUND"),
        DomainError::RunAlreadyExists => (StatusCode::CONFLICT, "RUN_ALREADY_EXISTS"),
        DomainError::InvalidTransition { .. }
        | DomainError::SessionNotBound { .. }
        | DomainError::RunNotEnded { .. }
        | DomainError::RunAlreadyArchived => (StatusCode::CONFLICT, "INVALID_STATE_TRANSITION"),
        // The service's own envelopes out of order: its fault, not the caller's.
        DomainError::EnvelopeAlreadyRecorded { .. } | DomainError::EnvelopeOrdinalGap { .. } => {
            INTERNAL
        }
    }
}

const INTERNAL: (StatusCode, &str) = (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR");

impl AppError {
    /// The HTTP status and stable `errorCode` of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            AppError::RunsNotFound(_) | AppError::RunNotFound(_) => {
                (StatusCode::NOT_FOUND, "RUN_NOT_FOUND")
            }
            AppError::WebhookNotFound(_) => (StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND"),
            AppError::InvalidTransition(_) => (StatusCode::CONFLICT, "INVALID_STATE_TRANSITION"),
            AppError::Domain(error) => domain_status(error),
            AppError::IdempotencyConflict(_) => (StatusCode::CONFLICT, "IDEMPOTENCY_CONFLICT"),
            AppError::Contended(_) => (StatusCode::CONFLICT, "CONCURRENT_MODIFICATION"),
            AppError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "SHUTTING_DOWN"),
            AppError::MessageRefused { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "MESSAGE_SEND_FAILED")
            }
            AppError::RuntimeRefused { code, .. } => refusal_status(code),
            AppError::RuntimeUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "RUNTIME_UNAVAILABLE")
            }
            AppError::RuntimeTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "RUNTIME_TIMEOUT"),
            AppError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            AppError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            AppError::Internal(_) => INTERNAL,
        }
    }

    /// What the client is told: the error's own text, except for the
    /// service's own failures, which only the log details.
    pub fn client_message(&self) -> String {
        match self.status_and_code() {
            (StatusCode::INTERNAL_SERVER_ERROR, _) => {
                "the control plane failed to handle the request; see its logs".to_string()
            }
            _ => self.to_string(),
        }
    }
}

impl AppError {
    /// Logs the service's own failure, whose detail the client is not
    /// told: wherever such an error is answered (a response, a batch's
    /// result), the log has it.
    pub fn log_if_internal(&self) {
        if self.status_and_code().0 == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "internal error");
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        self.log_if_internal();
        let mut body = json!({
            "statusCode": status.as_u16(),
            "errorCode": code,
            "message": self.client_message(),
        });
        let errors = self.findings();
        if !errors.is_empty() {
            body["errors"] = json!(errors);
        }
        let mut response = (status, Json(body)).into_response();
        if let AppError::RateLimited {
            retry_after_seconds,
        } = self
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests;
