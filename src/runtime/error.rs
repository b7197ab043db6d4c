//! Failures talking to the runtime, kept apart from its refusals so the
//! HTTP layer can answer `RUNTIME_UNAVAILABLE` or the runtime's own code.

pub use super::refusal::RefusalCode;
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
    Refused { code: RefusalCode, message: String },
}

impl RuntimeError {
    /// A refusal; `code` is a [`RefusalCode`] or its string.
    pub fn refused(code: impl Into<RefusalCode>, message: impl Into<String>) -> Self {
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
    // tonic's `Code`: the statuses named here, and the rest by name.
    #[allow(clippy::wildcard_enum_match_arm)]
    fn from(status: tonic::Status) -> Self {
        use tonic::Code;
        let message = status.message().to_string();
        match status.code() {
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted => {
                RuntimeError::Unavailable(message)
            }
            Code::DeadlineExceeded => RuntimeError::Timeout(message),
            Code::Unauthenticated => RuntimeError::refused(RefusalCode::Unauthenticated, message),
            Code::PermissionDenied => RuntimeError::refused(RefusalCode::Forbidden, message),
            Code::NotFound => RuntimeError::refused(RefusalCode::SessionNotFound, message),
            Code::ResourceExhausted => RuntimeError::refused(RefusalCode::RateLimited, message),
            Code::InvalidArgument => RuntimeError::refused(RefusalCode::InvalidEnvelope, message),
            Code::FailedPrecondition => RuntimeError::refused(RefusalCode::SessionNotOpen, message),
            Code::AlreadyExists => {
                RuntimeError::refused(RefusalCode::SessionAlreadyExists, message)
            }
            Code::Unimplemented => RuntimeError::refused(RefusalCode::Unimplemented, message),
            // Every other status keeps its gRPC name.
            other => RuntimeError::refused(format!("GRPC_{other:?}").to_uppercase(), message),
        }
    }
}
