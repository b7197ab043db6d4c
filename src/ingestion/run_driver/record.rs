//! Recording envelopes: a burst the stream delivered is recorded in one
//! append, each envelope at its ordinal with the canonical events it
//! derives.

use super::{DriveError, RunDriver};
use crate::ingestion::translate::{derive_events, raw_envelope};
use crate::ingestion::ENVELOPES_RECORDED;
use crate::run_repository::CommandError;
use crate::runtime::pb::Envelope;
use aggregates::{DomainError, RunCommand, RunState, Timestamp};
use std::sync::atomic::Ordering;

impl RunDriver {
    /// Records envelopes, the first at session ordinal `first_ordinal`, in
    /// one append. `false` when that is not where the log ends (the
    /// aggregate refuses a recorded or skipped ordinal): re-subscribe to
    /// realign.
    pub(super) async fn record_envelopes(
        &self,
        first_ordinal: u64,
        envelopes: &[Envelope],
    ) -> Result<bool, DriveError> {
        let received_at = Timestamp::now();
        let translated: Vec<_> = envelopes
            .iter()
            .map(|envelope| (raw_envelope(envelope), derive_events(envelope)))
            .collect();
        let build = |_: &RunState, i: usize| RunCommand::RecordEnvelope {
            ordinal: first_ordinal + i as u64,
            envelope: translated[i].0.clone(),
            derived: translated[i].1.clone(),
            received_at,
        };
        match self
            .repo
            .execute_batch(self.run_id, translated.len(), build)
            .await
        {
            Ok(_) => {
                ENVELOPES_RECORDED.fetch_add(envelopes.len() as u64, Ordering::Relaxed);
                Ok(true)
            }
            Err(CommandError::Domain(DomainError::EnvelopeAlreadyRecorded { .. }))
            | Err(CommandError::Domain(DomainError::EnvelopeOrdinalGap { .. })) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
