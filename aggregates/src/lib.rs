//! The run aggregate: the write side's language and its rules.
//!
//! A run is one event stream. [`RunCommand`]s ask for something to happen;
//! [`decide`] checks a command against the folded [`RunState`] and answers
//! with the [`RunEvent`]s to append (facts, in the past tense) or a
//! [`DomainError`]; [`RunState::apply`] folds an event into the state. The
//! same pair is cqrs-es's `Aggregate` (`cqrs.rs`).
//!
//! Architecture invariant: this crate does no I/O and knows nothing of
//! HTTP, gRPC or SQL. Clocks and identifiers come in through commands, so
//! the same command on the same state always yields the same events.

// A match on one of our enums lists its variants, so a new variant is a
// decision at every match rather than a silent `_`.
#![warn(clippy::wildcard_enum_match_arm)]

pub mod audit;
pub mod canonical;
pub mod command;
pub mod cqrs;
pub mod error;
pub mod event;
pub mod receipt;
pub mod request;
pub mod run;
pub mod session_id;
pub mod status;
pub mod time;

pub use audit::{audited, Actor};
pub use canonical::{CanonicalEvent, DerivedEvent, EventSource, Subject};
pub use command::{MessageOutcome, OutboundMessage, RunCommand};
pub use cqrs::{StoredFormUpcaster, RUN_AGGREGATE_TYPE};
pub use error::DomainError;
pub use event::{RawEnvelope, RunEvent};
pub use request::{ExecutionRequest, FieldError};
pub use run::{decide, RunState};
pub use session_id::run_id_of_session;
pub use status::RunStatus;
pub use time::Timestamp;
