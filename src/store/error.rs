//! The store's errors, and the checks that turn what the database answers
//! into them.

use aggregates::event::EventLoadError;
use std::str::FromStr;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Load(#[from] EventLoadError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The projector's checkpoint moved under it (a reset, or another
    /// writer): its batch was rolled back.
    #[error("the checkpoint of {0} moved under its writer")]
    CheckpointMoved(String),
    /// postgres-es's event repository failed to read a stream.
    #[error("event repository: {0}")]
    EventRepository(#[from] cqrs_es::persist::PersistenceError),
}

#[derive(Debug, Error)]
pub enum AppendError {
    /// Someone else appended to the stream since it was read.
    #[error("stream was changed concurrently")]
    Conflict,
    /// The idempotency key already belongs to this run.
    #[error("idempotency key already used by run {0}")]
    IdempotencyKeyTaken(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(error: sqlx::Error) -> Self {
        AppendError::Store(StoreError::Database(error))
    }
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::from_str(text).map_err(|e| StoreError::Corrupt(format!("bad uuid {text:?}: {e}")))
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}
