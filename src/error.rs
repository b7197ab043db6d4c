//! The application's one error type: every way a command or a query can
//! fail, said in the service's own terms. `http::error` maps each variant
//! to an HTTP status and `errorCode`, exhaustively, and renders the problem
//! body; nothing else decides what a failure looks like to a client.

use crate::run_repository::CommandError;
use crate::runtime::{RefusalCode, RuntimeError};
use crate::store::StoreError;
use aggregates::{DomainError, FieldError};
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum AppError {
    /// Bad input; each finding names its field.
    #[error("{}", summary(.0))]
    Validation(Vec<FieldError>),
    /// Runs that do not exist, each finding naming where it was asked for
    /// (a batch export names every missing id).
    #[error("{}", summary(.0))]
    RunsNotFound(Vec<FieldError>),
    #[error("run {0} does not exist")]
    RunNotFound(String),
    #[error("webhook {0} does not exist")]
    WebhookNotFound(String),
    /// The run's state does not allow what was asked; the text says why
    /// (a rule checked before the runtime is asked, or the runtime's answer).
    #[error("{0}")]
    InvalidTransition(String),
    /// The run aggregate refused the command.
    #[error(transparent)]
    Domain(DomainError),
    #[error("the idempotency key belongs to run {0}")]
    IdempotencyConflict(Uuid),
    #[error("run {0} is being changed concurrently; try again")]
    Contended(Uuid),
    #[error("the service is shutting down; try again on another instance or after restart")]
    ShuttingDown,
    /// The runtime refused a message sent into a run (the refusal is
    /// recorded on the run as well).
    #[error("the runtime refused the message ({code}): {message}")]
    MessageRefused { code: RefusalCode, message: String },
    /// The runtime refused another call (a lifecycle change, the registry).
    #[error("the runtime refused ({code}): {message}")]
    RuntimeRefused { code: RefusalCode, message: String },
    #[error("the MACP runtime is unavailable: {0}")]
    RuntimeUnavailable(String),
    #[error("the MACP runtime did not answer in time: {0}")]
    RuntimeTimeout(String),
    /// No API key, or one the service does not know.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller's rate limit is spent for `retry_after_seconds`.
    #[error("too many requests; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("the request body is larger than the service accepts (BODY_LIMIT_BYTES)")]
    PayloadTooLarge,
    /// A failure of the service itself; the text goes to the log, never
    /// to the client.
    #[error("{0}")]
    Internal(String),
}

fn summary(errors: &[FieldError]) -> String {
    finding_lines(errors).join("; ")
}

/// Findings as lines of text, `path: message` (what answers list as
/// `errors` or `warnings` for people to read).
pub fn finding_lines(findings: &[FieldError]) -> Vec<String> {
    findings
        .iter()
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect()
}

impl AppError {
    pub fn validation(errors: Vec<FieldError>) -> Self {
        AppError::Validation(errors)
    }

    /// Bad input at one field.
    pub fn field(path: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(path, message)])
    }

    pub fn run_not_found(run_id: impl std::fmt::Display) -> Self {
        AppError::RunNotFound(run_id.to_string())
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        AppError::Internal(error.to_string())
    }

    /// The findings that go with the error in the problem body's `errors`:
    /// the fields of bad input, or the runtime's own code of a refusal.
    pub fn findings(&self) -> Vec<FieldError> {
        match self {
            AppError::Validation(errors) | AppError::RunsNotFound(errors) => errors.clone(),
            AppError::MessageRefused { code, message }
            | AppError::RuntimeRefused { code, message } => {
                vec![FieldError::new("runtime", format!("{code}: {message}"))]
            }
            AppError::RunNotFound(_)
            | AppError::WebhookNotFound(_)
            | AppError::InvalidTransition(_)
            | AppError::Domain(_)
            | AppError::IdempotencyConflict(_)
            | AppError::Contended(_)
            | AppError::ShuttingDown
            | AppError::RuntimeUnavailable(_)
            | AppError::RuntimeTimeout(_)
            | AppError::Unauthenticated(_)
            | AppError::RateLimited { .. }
            | AppError::PayloadTooLarge
            | AppError::Internal(_) => Vec::new(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::Internal(error.to_string())
    }
}

impl From<RuntimeError> for AppError {
    fn from(error: RuntimeError) -> Self {
        match error {
            RuntimeError::Unavailable(message) => AppError::RuntimeUnavailable(message),
            RuntimeError::Timeout(message) => AppError::RuntimeTimeout(message),
            RuntimeError::Refused { code, message } => AppError::RuntimeRefused { code, message },
        }
    }
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        AppError::Domain(error)
    }
}

impl From<CommandError> for AppError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Domain(domain) => AppError::Domain(domain),
            CommandError::IdempotencyKeyTaken(run_id) => AppError::IdempotencyConflict(run_id),
            CommandError::Contended(run_id) => AppError::Contended(run_id),
            CommandError::Store(store) => store.into(),
            CommandError::ShuttingDown => AppError::ShuttingDown,
        }
    }
}
