//! Why the aggregate refuses a command. These are domain answers, not
//! failures of storage or transport: the service maps them to 409/400.

use crate::status::RunStatus;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("run already exists")]
    RunAlreadyExists,
    #[error("run does not exist")]
    RunNotFound,
    #[error("run is {status}; only an ended run can be {action}")]
    RunNotEnded {
        status: RunStatus,
        action: &'static str,
    },
    #[error("run is archived already")]
    RunAlreadyArchived,
    #[error("cannot go from {from} to {to}")]
    InvalidTransition { from: RunStatus, to: RunStatus },
    #[error("run is {status}; {action} needs a bound session")]
    SessionNotBound {
        status: RunStatus,
        action: &'static str,
    },
    /// The envelope was recorded already: a re-delivery after a resume.
    #[error("envelope ordinal {ordinal} is already recorded")]
    EnvelopeAlreadyRecorded { ordinal: u64 },
    /// An envelope arrived with a hole before it: recording it would lose one.
    #[error("envelope ordinal {got} arrived but {expected} is the next one")]
    EnvelopeOrdinalGap { expected: u64, got: u64 },
}
