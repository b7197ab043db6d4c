//! When a run of a standards-track mode completes, its decision receipt is
//! fetched from the runtime (`GetDecisionReceipt`, with the keys of
//! `GetReceiptKeys`), checked against the Commitment envelope the run
//! recorded (`runtime/receipts.rs`), and recorded with the run's end, in
//! the same append (`RunCommand::CompleteRun`'s receipt). A refusal, a
//! runtime that serves no receipts, a mismatch or a bad signature are
//! recorded as such, never dropped.

use super::run_driver::with_retries;
use crate::runtime::receipts;
use crate::runtime::RuntimeClient;
use crate::store::{EventStore, StoreError};
use aggregates::receipt::DecisionReceipt;
use uuid::Uuid;

/// `session_id`'s receipt as `observer` reads it, with what checking it
/// found, for run `run_id` (whose envelopes are recorded up to its end).
pub async fn fetch(
    runtime: &RuntimeClient,
    store: &EventStore,
    run_id: Uuid,
    observer: &str,
    session_id: &str,
) -> Result<DecisionReceipt, StoreError> {
    let events = store.read_stream(run_id, 0).await?;
    let commitment = receipts::recorded_commitment(events.iter().map(|stored| &stored.event));
    // A runtime that is briefly unreachable is asked again, with backoff:
    // what is recorded here is recorded for good.
    let served = with_retries(|| runtime.get_decision_receipt(observer, session_id)).await;
    let receipt = match served {
        Ok(receipt_json) => {
            let (keys_json, keys_problem) = match with_retries(|| runtime.get_receipt_keys()).await
            {
                Ok(keys) => (Some(keys), None),
                Err(error) => (None, Some(format!("{}: {error}", receipts::KEYS_UNFETCHED))),
            };
            let mut checks =
                receipts::check(&receipt_json, keys_json.as_deref(), commitment.as_deref());
            checks.problems.extend(keys_problem);
            if !checks.problems.is_empty() {
                tracing::warn!(%run_id, problems = ?checks.problems, "the decision receipt did not check");
            }
            DecisionReceipt {
                receipt_json: Some(receipt_json),
                keys_json,
                unavailable: None,
                checks,
            }
        }
        Err(error) => {
            tracing::info!(%run_id, %error, "no decision receipt");
            DecisionReceipt {
                receipt_json: None,
                keys_json: None,
                unavailable: Some(error.to_string()),
                checks: Default::default(),
            }
        }
    };
    Ok(receipt)
}
