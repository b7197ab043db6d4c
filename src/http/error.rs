//! The one error type of the HTTP API and its JSON problem body:
//! `{statusCode, errorCode, message, errors?: [{path, message}]}`.
//! Internal failures are logged here and answered without detail.

use crate::run_repository::CommandError;
use crate::runtime::RuntimeError;
use crate::store::StoreError;
use aggregates::{DomainError, FieldError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The problem body every error answers with (documented in the OpenAPI
/// document; [`ApiError`] renders it).
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

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            errors: Vec::new(),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let summary = errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            errors,
            ..ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", summary)
        }
    }

    pub fn field(path: &str, message: impl Into<String>) -> Self {
        ApiError::validation(vec![FieldError::new(path, message)])
    }

    pub fn run_not_found(run_id: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "RUN_NOT_FOUND",
            format!("run {run_id} does not exist"),
        )
    }

    /// A refusal by the runtime of a lifecycle or registry call: the HTTP
    /// status its code means, with the runtime's code kept in `errors`.
    pub fn runtime_refusal(error: RuntimeError) -> Self {
        let RuntimeError::Refused { code, message } = &error else {
            return error.into();
        };
        let (status, error_code) = match code.as_str() {
            "FORBIDDEN" | "UNAUTHENTICATED" => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            "POLICY_DENIED" => (StatusCode::FORBIDDEN, "POLICY_DENIED"),
            "RATE_LIMITED" => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            "UNKNOWN_POLICY_VERSION" | "SESSION_NOT_FOUND" | "NOT_FOUND" => {
                (StatusCode::NOT_FOUND, "NOT_FOUND")
            }
            "INVALID_POLICY_DEFINITION" | "INVALID_ENVELOPE" => {
                (StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
            }
            _ => (StatusCode::CONFLICT, "INVALID_STATE_TRANSITION"),
        };
        ApiError {
            errors: vec![FieldError::new("runtime", format!("{code}: {message}"))],
            ..ApiError::new(
                status,
                error_code,
                format!("the runtime refused ({code}): {message}"),
            )
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "the control plane failed to handle the request; see its logs",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "errorCode": self.code,
            "message": self.message,
        });
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Unavailable(message) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RUNTIME_UNAVAILABLE",
                format!("the MACP runtime is unavailable: {message}"),
            ),
            RuntimeError::Timeout(message) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "RUNTIME_TIMEOUT",
                format!("the MACP runtime did not answer in time: {message}"),
            ),
            RuntimeError::Refused { code, message } => ApiError {
                errors: vec![FieldError::new("runtime", format!("{code}: {message}"))],
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "MESSAGE_SEND_FAILED",
                    format!("the runtime refused the message ({code}): {message}"),
                )
            },
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Domain(domain) => domain.into(),
            CommandError::IdempotencyKeyTaken(run_id) => ApiError::new(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_CONFLICT",
                format!("the idempotency key belongs to run {run_id}"),
            ),
            CommandError::Contended(run_id) => ApiError::new(
                StatusCode::CONFLICT,
                "CONCURRENT_MODIFICATION",
                format!("run {run_id} is being changed concurrently; try again"),
            ),
            CommandError::Store(store) => store.into(),
            CommandError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SHUTTING_DOWN",
                "the service is shutting down; try again on another instance or after restart",
            ),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let message = error.to_string();
        match error {
            DomainError::RunNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "RUN_NOT_FOUND", message)
            }
            DomainError::RunAlreadyExists => {
                ApiError::new(StatusCode::CONFLICT, "RUN_ALREADY_EXISTS", message)
            }
            DomainError::InvalidTransition { .. }
            | DomainError::SessionNotBound { .. }
            | DomainError::RunNotEnded { .. }
            | DomainError::RunAlreadyArchived => {
                ApiError::new(StatusCode::CONFLICT, "INVALID_STATE_TRANSITION", message)
            }
            DomainError::EnvelopeAlreadyRecorded { .. }
            | DomainError::EnvelopeOrdinalGap { .. } => ApiError::internal(message),
        }
    }
}
