//! Verification of a run's record, for auditors (`GET /runs/:id/verify`,
//! `macp-control-plane verify --run`): the stream's hash chain is intact
//! (`store/chain.rs`), the recorded decision receipt checks again from its
//! recorded bytes (`runtime/receipts.rs`), and every per-run read model
//! equals a fresh fold of the stream by the same projections live
//! ingestion runs.
//!
//! What each check proves: an intact chain, that no event of the stream
//! was changed, removed, inserted or reordered since it was appended (up
//! to whoever can also rewrite every later hash: compare the head with
//! one recorded elsewhere, such as an export); a verified receipt, that
//! the runtime that issued it (its key, published by `GetReceiptKeys`)
//! vouches for the decision, and that the decision is the Commitment the
//! run recorded; equal read models, that what the API serves about the
//! run is what its events say.

use crate::runtime::receipts::{recheck, ReceiptReport};
use crate::store::{chain_report, ChainReport, ChainRow, EventStore, StoreError};
use aggregates::RunEvent;
use projections::{
    Projection, RunArtifacts, RunMetrics, RunStateView, RunSummary, RunTraces, SentMessages,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// How long verification waits for the projectors to fold the run's last
/// event before it compares read models (they lag the log by design).
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(5);
/// How often the checkpoints are read again meanwhile.
const CATCH_UP_POLL: Duration = Duration::from_millis(50);

/// The outcome of verifying one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunVerification {
    pub run_id: Uuid,
    /// Every check passed.
    pub verified: bool,
    pub chain: ChainReport,
    /// The decision receipt, checked again from the recorded bytes;
    /// absent when the run recorded none (not a standards-track mode, or
    /// not completed). One the runtime did not serve is `present: false`
    /// and fails nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptReport>,
    pub read_models: ReadModelsReport,
}

/// The per-run read models compared with a fresh fold of the stream.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadModelsReport {
    /// Every model equals its fold.
    pub matching: bool,
    /// Whether the projectors had folded the run's last event (if not, the
    /// comparison is not made and `matching` is false).
    pub caught_up: bool,
    pub models: Vec<ModelCheck>,
}

/// One read model against its fold.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCheck {
    /// The projection's name (its stored documents' `projection`).
    pub projection: &'static str,
    pub matching: bool,
    /// Why not, when it does not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The projections of one document per run, as `projector::all` runs them.
const DOCUMENT_PROJECTIONS: [&str; 6] = [
    RunSummary::NAME,
    RunStateView::NAME,
    SentMessages::NAME,
    RunMetrics::NAME,
    RunArtifacts::NAME,
    RunTraces::NAME,
];

/// Verifies `run_id`'s record; `None` when the log holds no such run.
///
/// The stored models are read before the stream they are compared with,
/// and each is compared with the fold of the stream up to the log
/// position it was written at, so a run that goes on meanwhile verifies
/// too.
///
/// # Errors
/// The store failed to answer.
pub async fn verify_run(
    store: &EventStore,
    run_id: Uuid,
) -> Result<Option<RunVerification>, StoreError> {
    let Some(last) = store.stream_head(run_id).await?.map(|head| head.position) else {
        return Ok(None);
    };
    let caught_up = store
        .wait_for_checkpoints(&DOCUMENT_PROJECTIONS, last, CATCH_UP_WAIT, CATCH_UP_POLL)
        .await?;
    let stored = match caught_up {
        true => Some(stored_models(store, run_id).await?),
        false => None,
    };
    // Read after the models: it holds every event they were folded from.
    let rows = store.chain_rows(run_id).await?;
    let RowsCheck {
        chain,
        events,
        receipt,
    } = check_rows(&rows);
    let models = match (&events, stored) {
        (_, None) => Vec::new(),
        (Ok(events), Some(stored)) => compare_models(&stored, &rows, events),
        // Nothing can be folded from a stream that does not load.
        (Err(detail), Some(_)) => DOCUMENT_PROJECTIONS
            .iter()
            .map(|projection| ModelCheck {
                projection,
                matching: false,
                detail: Some(detail.clone()),
            })
            .collect(),
    };
    let read_models = ReadModelsReport {
        matching: caught_up && models.iter().all(|m| m.matching),
        caught_up,
        models,
    };
    Ok(Some(RunVerification {
        run_id,
        verified: chain.intact
            && read_models.matching
            && !receipt.as_ref().is_some_and(ReceiptReport::fails),
        chain,
        receipt,
        read_models,
    }))
}

/// A run's stored document of a projection and the log position it was
/// written at.
type StoredModel = Option<(String, i64)>;

/// The run's stored documents, by projection.
async fn stored_models(
    store: &EventStore,
    run_id: Uuid,
) -> Result<BTreeMap<&'static str, StoredModel>, StoreError> {
    let mut stored = BTreeMap::new();
    for projection in DOCUMENT_PROJECTIONS {
        stored.insert(projection, store.read_model_at(projection, run_id).await?);
    }
    Ok(stored)
}

fn compare_models(
    stored: &BTreeMap<&'static str, StoredModel>,
    rows: &[ChainRow],
    events: &[RunEvent],
) -> Vec<ModelCheck> {
    // Borrowed: a run state's document grows with the run.
    let of = |name: &str| stored.get(name).and_then(Option::as_ref);
    vec![
        check::<RunSummary>(of(RunSummary::NAME), rows, events),
        check::<RunStateView>(of(RunStateView::NAME), rows, events),
        check::<SentMessages>(of(SentMessages::NAME), rows, events),
        check::<RunMetrics>(of(RunMetrics::NAME), rows, events),
        check::<RunArtifacts>(of(RunArtifacts::NAME), rows, events),
        check::<RunTraces>(of(RunTraces::NAME), rows, events),
    ]
}

/// Folds the `events` (of `rows`, one each) up to the stored document's
/// position with `P` and compares the result with the document, both in
/// canonical form (keys sorted at every level, numbers and strings as
/// serde_json writes them): PostgreSQL's jsonb keeps keys in its own
/// order, so the stored bytes are not the fold's.
fn check<P: Projection>(
    stored: Option<&(String, i64)>,
    rows: &[ChainRow],
    events: &[RunEvent],
) -> ModelCheck {
    let detail = match stored {
        None => Some("no stored model".to_string()),
        Some((doc, position)) => {
            let folded_upto = rows.partition_point(|row| row.position <= *position);
            match (
                serde_json::from_str::<Value>(doc),
                serde_json::to_value(P::fold(&events[..folded_upto])),
            ) {
                (Err(e), _) => Some(format!("the stored model is not JSON: {e}")),
                (_, Err(e)) => Some(format!("the fold does not serialize: {e}")),
                (Ok(stored), Ok(folded)) if canonical(&stored) == canonical(&folded) => None,
                (Ok(_), Ok(_)) => Some(format!(
                    "the stored model differs from the fold of the stream up to position \
                     {position}"
                )),
            }
        }
    };
    ModelCheck {
        projection: P::NAME,
        matching: detail.is_none(),
        detail,
    }
}

/// `value` as JSON text with the keys of every object sorted.
fn canonical(value: &Value) -> String {
    // serde_json's `Value`: only objects and arrays hold keys to sort.
    #[allow(clippy::wildcard_enum_match_arm)]
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|key| (key.clone(), sorted(&map[key])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// What an auditor checks of a run's stored rows, wherever they were read
/// (the log, an archive): the chain, that every event loads, and the
/// recorded decision receipt checked again from its bytes.
pub struct RowsCheck {
    pub chain: ChainReport,
    /// The events, or why one of them does not load.
    pub events: Result<Vec<RunEvent>, String>,
    /// `None` when the events do not load or hold no receipt.
    pub receipt: Option<ReceiptReport>,
}

/// Checks `rows` (one run's stream, in order): see [`RowsCheck`].
pub fn check_rows(rows: &[ChainRow]) -> RowsCheck {
    let events: Result<Vec<RunEvent>, String> = rows.iter().map(ChainRow::event).collect();
    RowsCheck {
        chain: chain_report(rows),
        receipt: events.as_ref().ok().and_then(recheck),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_ignores_key_order_only() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"y":2,"x":3}],"c":null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"c":null,"d":[1,{"x":3,"y":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":null,"d":[1,{"x":3,"y":2}]},"b":1}"#
        );
        let c: Value =
            serde_json::from_str(r#"{"a":{"c":null,"d":[{"x":3,"y":2},1]},"b":1}"#).unwrap();
        assert_ne!(canonical(&a), canonical(&c));
    }
}
