//! The rules of the run's runtime session: binding the run to it, and
//! opening (or reopening) its stream, which sets the run running.

use super::decide::Live;
use super::TRACE_ARTIFACT_KIND;
use crate::canonical::{types, EventSource, Subject};
use crate::error::DomainError;
use crate::event::RunEvent;
use crate::status::RunStatus;
use crate::time::Timestamp;
use serde_json::json;
use uuid::Uuid;

/// The run's session, and every participant the request declares seen.
pub(super) fn bind(
    run: Live<'_>,
    session_id: &str,
    initiator: &str,
    runtime_kind: &str,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.transition_to(RunStatus::BindingSession)?;
    let mut out = run.decision();
    out.fact(RunEvent::SessionBound {
        session_id: session_id.to_string(),
        initiator: initiator.to_string(),
        runtime_kind: runtime_kind.to_string(),
        at,
    });
    out.canonical(
        at,
        types::SESSION_BOUND,
        Some(Subject::new("session", session_id)),
        EventSource::control_plane(),
        json!({
            "sessionId": session_id,
            "initiator": initiator,
            "modeName": run.state.mode_name(),
            "runtimeKind": runtime_kind,
            "runStatus": RunStatus::BindingSession,
        }),
    );
    let declared = run
        .state
        .request
        .iter()
        .flat_map(|r| r.session.participants.iter());
    for participant in declared {
        out.participant_seen(at, &participant.id, participant.role.as_deref());
    }
    Ok(out.into_events())
}

/// The stream opened after the envelope `after_ordinal` (the runtime's
/// `after_sequence`, and the canonical event's `afterSequence`); a run
/// binding its session starts running here.
pub(super) fn open_stream(
    run: Live<'_>,
    after_ordinal: u64,
    reconnect: bool,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.require_session("opening the stream")?;
    let mut out = run.decision();
    out.fact(RunEvent::SessionStreamOpened {
        after_ordinal,
        reconnect,
        at,
    });
    let session_id = run.state.session_id.clone().unwrap_or_default();
    let status = run.status;
    out.canonical(
        at,
        types::SESSION_STREAM_OPENED,
        Some(Subject::new("session", session_id)),
        EventSource::control_plane(),
        json!({
            "afterSequence": after_ordinal,
            "status": if reconnect { "reconnecting" } else { "opened" },
            "runStatus": if status == RunStatus::BindingSession { RunStatus::Running } else { status },
        }),
    );
    // A run that starts running gets its trace artifact.
    if !run.state.trace_artifact_registered {
        let run_id = run.state.run_id.unwrap_or_default();
        out.artifact(
            Uuid::new_v5(&run_id, b"trace-artifact").to_string(),
            TRACE_ARTIFACT_KIND,
            "Run trace",
            Some(format!("/runs/{run_id}/traces")),
            None,
            at,
        );
    }
    Ok(out.into_events())
}
