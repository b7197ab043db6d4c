//! Reads of a run's read models that commands and HTTP handlers share:
//! the stored document, or, while the projector has not caught up with a
//! run that exists, the same fold over its stream (read-your-writes).

use crate::error::AppError;
use crate::store::EventStore;
use projections::{Projection, RunSummary};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How long a command waits for the projectors to show its own change.
const OWN_WRITE_WAIT: Duration = Duration::from_secs(2);
/// How often it looks again meanwhile.
const OWN_WRITE_POLL: Duration = Duration::from_millis(5);

/// A visible run's read model `P` (404 for no run or a deleted one).
pub async fn read_model<P: Projection>(store: &EventStore, run_id: Uuid) -> Result<P, AppError> {
    visible_summary(store, run_id).await?;
    model_of(store, run_id).await
}

/// The run's read model `P`, for a caller that has found the run visible
/// already ([`visible_summary`]): the stored document, else the fold.
pub async fn model_of<P: Projection>(store: &EventStore, run_id: Uuid) -> Result<P, AppError> {
    match store.read_model(P::NAME, run_id).await? {
        Some(doc) => parse_model(&doc),
        None => fold_stream(store, run_id).await,
    }
}

/// As [`read_model`], as JSON: the stored document is answered as it is,
/// without parsing it and serializing it again.
pub async fn read_model_json<P: Projection>(
    store: &EventStore,
    run_id: Uuid,
) -> Result<String, AppError> {
    visible_summary(store, run_id).await?;
    match store.read_model(P::NAME, run_id).await? {
        Some(doc) => Ok(doc),
        None => serde_json::to_string(&fold_stream::<P>(store, run_id).await?)
            .map_err(AppError::internal),
    }
}

fn parse_model<P: Projection>(doc: &str) -> Result<P, AppError> {
    serde_json::from_str(doc).map_err(|e| AppError::internal(format!("stored {}: {e}", P::NAME)))
}

async fn fold_stream<P: Projection>(store: &EventStore, run_id: Uuid) -> Result<P, AppError> {
    let events = store.read_stream(run_id, 0).await?;
    Ok(P::fold(events.iter().map(|e| &e.event)))
}

/// The run's summary, or 404 when there is no such run or it was deleted.
pub async fn visible_summary(store: &EventStore, run_id: Uuid) -> Result<RunSummary, AppError> {
    let summary: RunSummary = model_of(store, run_id).await?;
    match summary.id {
        Some(_) if !summary.deleted => Ok(summary),
        _ => Err(AppError::run_not_found(run_id)),
    }
}

/// The run summary once it includes canonical event `seq` (the effect of a
/// command just executed); folded from the stream if the projector is slow.
pub async fn summary_at_least(
    store: &EventStore,
    run_id: Uuid,
    seq: u64,
) -> Result<RunSummary, AppError> {
    let deadline = Instant::now() + OWN_WRITE_WAIT;
    loop {
        let summary = model_of::<RunSummary>(store, run_id).await?;
        if summary.last_event_seq >= seq {
            return Ok(summary);
        }
        if Instant::now() > deadline {
            return fold_stream(store, run_id).await;
        }
        tokio::time::sleep(OWN_WRITE_POLL).await;
    }
}

/// Waits (2 s at most) until the run summary and the run list have folded
/// everything appended so far, so that a client reads its own change
/// (archiving and deleting add no canonical event to wait for).
pub async fn wait_for_run_models(store: &EventStore) -> Result<(), AppError> {
    let head = store.head_position().await?;
    let models = [RunSummary::NAME, "run_list"];
    store
        .wait_for_checkpoints(&models, head, OWN_WRITE_WAIT, OWN_WRITE_POLL)
        .await?;
    Ok(())
}
