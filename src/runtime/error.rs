//! Failures talking to the runtime, kept apart from its refusals so the
//! HTTP layer can answer `RUNTIME_UNAVAILABLE` or the runtime's own code.

use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum RuntimeError {
    /// The runtime could not be reached (connection refused, transport down).
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    #[error("runtime did not answer in time: {0}")]
    Timeout(String),
    /// The runtime answered and said no; `code` is the runtime's own.
    #[error("runtime refused ({code}): {message}")]
    Refused { code: String, message: String },
}

impl RuntimeError {
    pub fn refused(code: impl Into<String>, message: impl Into<String>) -> Self {
        RuntimeError::Refused {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RuntimeError::Unavailable(_) | RuntimeError::Timeout(_)
        )
    }
}

impl From<tonic::Status> for RuntimeError {
    fn from(status: tonic::Status) -> Self {
        use tonic::Code;
        let message = status.message().to_string();
        match status.code() {
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted => {
                RuntimeError::Unavailable(message)
            }
            Code::DeadlineExceeded => RuntimeError::Timeout(message),
            Code::Unauthenticated => RuntimeError::refused("UNAUTHENTICATED", message),
            Code::PermissionDenied => RuntimeError::refused("FORBIDDEN", message),
            Code::NotFound => RuntimeError::refused("SESSION_NOT_FOUND", message),
            Code::ResourceExhausted => RuntimeError::refused("RATE_LIMITED", message),
            Code::InvalidArgument => RuntimeError::refused("INVALID_ENVELOPE", message),
            Code::FailedPrecondition => RuntimeError::refused("SESSION_NOT_OPEN", message),
            Code::AlreadyExists => RuntimeError::refused("SESSION_ALREADY_EXISTS", message),
            Code::Unimplemented => RuntimeError::refused("UNIMPLEMENTED", message),
            other => RuntimeError::refused(format!("GRPC_{other:?}").to_uppercase(), message),
        }
    }
}
