//! The rule for recording a runtime envelope: exactly the next ordinal of
//! the session, its sender seen, and the canonical events derived from it.

use super::decide::Live;
use crate::canonical::{DerivedEvent, EventSource};
use crate::error::DomainError;
use crate::event::{RawEnvelope, RunEvent};
use crate::time::Timestamp;

/// Envelopes are recorded in order, each once: an ordinal already recorded
/// is a redelivery, one past the next is a gap in the stream.
pub(super) fn record(
    run: Live<'_>,
    ordinal: u64,
    envelope: &RawEnvelope,
    derived: &[DerivedEvent],
    received_at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.require_session("recording an envelope")?;
    let expected = run.state.last_ordinal + 1;
    if ordinal < expected {
        return Err(DomainError::EnvelopeAlreadyRecorded { ordinal });
    }
    if ordinal > expected {
        return Err(DomainError::EnvelopeOrdinalGap {
            expected,
            got: ordinal,
        });
    }
    let mut out = run.decision();
    out.fact(RunEvent::RuntimeEnvelopeRecorded {
        ordinal,
        envelope: envelope.clone(),
        received_at,
    });
    if !envelope.sender.is_empty() {
        out.participant_seen(received_at, &envelope.sender, None);
    }
    let source = EventSource::runtime(&run.state.runtime_kind, &envelope.message_type);
    for event in derived {
        out.derived(received_at, source.clone(), event);
    }
    Ok(out.into_events())
}
