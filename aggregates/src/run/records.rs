//! The rules for a run's records rather than its progress: registering an
//! artifact, archiving the run, deleting it.

use super::decide::Live;
use crate::error::DomainError;
use crate::event::RunEvent;
use crate::time::Timestamp;
use serde_json::Value;

/// An artifact and its `artifact.created`, whatever the run's status: no
/// lifecycle rule applies, only that the run exists.
pub(super) fn register_artifact(
    run: Live<'_>,
    artifact_id: &str,
    kind: &str,
    label: &str,
    uri: &Option<String>,
    inline: &Option<Value>,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    let mut out = run.decision();
    out.artifact(
        artifact_id.to_string(),
        kind,
        label,
        uri.clone(),
        inline.clone(),
        at,
    );
    Ok(out.into_events())
}

/// Only an ended run is archived, and once.
pub(super) fn archive(run: Live<'_>, at: Timestamp) -> Result<Vec<RunEvent>, DomainError> {
    if !run.status.is_terminal() {
        return Err(DomainError::RunNotEnded {
            status: run.status,
            action: "archived",
        });
    }
    if run.state.archived {
        return Err(DomainError::RunAlreadyArchived);
    }
    let mut out = run.decision();
    out.fact(RunEvent::RunArchived { at });
    Ok(out.into_events())
}

/// Only an ended run is deleted; after that it answers as if it never
/// existed (see `live` in `decide.rs`), so a second delete is `RunNotFound`.
pub(super) fn delete(run: Live<'_>, at: Timestamp) -> Result<Vec<RunEvent>, DomainError> {
    if !run.status.is_terminal() {
        return Err(DomainError::RunNotEnded {
            status: run.status,
            action: "deleted",
        });
    }
    let mut out = run.decision();
    out.fact(RunEvent::RunDeleted { at });
    Ok(out.into_events())
}
