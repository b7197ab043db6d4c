//! The rules of the run's lifecycle: request it, start it, end it
//! (complete, fail, cancel), suspend and resume it. Each is a status
//! change the lifecycle allows (`status.rs`) and its canonical event.

use super::decide::Live;
use super::decision::Decision;
use super::RunState;
use crate::canonical::types;
use crate::error::DomainError;
use crate::event::RunEvent;
use crate::receipt::DecisionReceipt;
use crate::request::ExecutionRequest;
use crate::status::RunStatus;
use crate::time::Timestamp;
use serde_json::json;
use uuid::Uuid;

/// A new run: only where there is none yet.
pub(super) fn request_run(
    state: &RunState,
    run_id: Uuid,
    request: &ExecutionRequest,
    trace_id: &str,
    observed: bool,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    if state.status.is_some() {
        return Err(DomainError::RunAlreadyExists);
    }
    let requested = RunEvent::RunRequested {
        run_id,
        request: Box::new(request.clone()),
        trace_id: trace_id.to_string(),
        requested_at: at,
        observed,
    };
    // `run.created` is numbered and traced as the requested run's first
    // event, so it is decided on the state the request leaves.
    let mut fresh = RunState::default();
    fresh.apply(&requested);
    let mut out = Decision::new(&fresh);
    out.fact(requested);
    out.lifecycle(
        at,
        types::RUN_CREATED,
        json!({
            "runStatus": RunStatus::Queued,
            "modeName": request.session.mode_name,
            "runtimeKind": request.runtime.kind,
            "tags": request.tags(),
            "idempotencyKey": request.idempotency_key(),
            "observed": observed,
        }),
    );
    Ok(out.into_events())
}

pub(super) fn start(run: Live<'_>, at: Timestamp) -> Result<Vec<RunEvent>, DomainError> {
    run.transition_to(RunStatus::Starting)?;
    let mut out = run.decision();
    out.fact(RunEvent::RunStarted { at });
    out.lifecycle(
        at,
        types::RUN_STARTED,
        json!({"runStatus": RunStatus::Starting}),
    );
    Ok(out.into_events())
}

pub(super) fn complete(
    run: Live<'_>,
    session_state: &str,
    receipt: Option<&DecisionReceipt>,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.transition_to(RunStatus::Completed)?;
    let mut out = run.decision();
    out.fact(RunEvent::RunCompleted {
        session_state: session_state.to_string(),
        at,
    });
    let mut data = json!({"runStatus": RunStatus::Completed, "sessionState": session_state});
    if let Some(receipt) = receipt {
        // The bytes as a fact; their summary on the canonical event,
        // which the run state (live and replayed) folds.
        out.fact(RunEvent::DecisionReceiptRecorded {
            receipt: receipt.clone(),
            at,
        });
        data["decisionReceipt"] = json!(receipt.summary());
    }
    out.lifecycle(at, types::RUN_COMPLETED, data);
    Ok(out.into_events())
}

pub(super) fn fail(
    run: Live<'_>,
    error_code: &str,
    error_message: &str,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.transition_to(RunStatus::Failed)?;
    let mut out = run.decision();
    out.fact(RunEvent::RunFailed {
        error_code: error_code.to_string(),
        error_message: error_message.to_string(),
        at,
    });
    out.lifecycle(
        at,
        types::RUN_FAILED,
        json!({"runStatus": RunStatus::Failed, "errorCode": error_code,
               "errorMessage": error_message}),
    );
    Ok(out.into_events())
}

pub(super) fn cancel(
    run: Live<'_>,
    reason: &Option<String>,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.transition_to(RunStatus::Cancelled)?;
    let mut out = run.decision();
    out.fact(RunEvent::RunCancelled {
        reason: reason.clone(),
        at,
    });
    out.lifecycle(
        at,
        types::RUN_CANCELLED,
        json!({"runStatus": RunStatus::Cancelled, "reason": reason}),
    );
    Ok(out.into_events())
}

pub(super) fn suspend(
    run: Live<'_>,
    reason: &Option<String>,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.transition_to(RunStatus::Suspended)?;
    let mut out = run.decision();
    out.fact(RunEvent::RunSuspended {
        reason: reason.clone(),
        at,
    });
    out.lifecycle(
        at,
        types::RUN_SUSPENDED,
        json!({"runStatus": RunStatus::Suspended, "reason": reason}),
    );
    Ok(out.into_events())
}

/// Only a suspended run resumes: the lifecycle's table also lets a run
/// binding its session become `Running` (its stream opening), no resume.
pub(super) fn resume(
    run: Live<'_>,
    reason: &Option<String>,
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    if run.status != RunStatus::Suspended {
        return Err(DomainError::InvalidTransition {
            from: run.status,
            to: RunStatus::Running,
        });
    }
    let mut out = run.decision();
    out.fact(RunEvent::RunResumed {
        reason: reason.clone(),
        at,
    });
    out.lifecycle(
        at,
        types::RUN_RESUMED,
        json!({"runStatus": RunStatus::Running, "reason": reason}),
    );
    Ok(out.into_events())
}
