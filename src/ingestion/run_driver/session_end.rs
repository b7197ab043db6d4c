//! The run's end: the stream never announces the session's end, so its
//! state is read (on a timer, and after a Commitment) and a change is
//! recorded; once it ended, the envelopes still in flight are recorded,
//! then the run's end (with its decision receipt, for a standards-track
//! mode).

use super::subscription::{first_ordinal, ready_envelopes};
use super::{DriveError, RunDriver};
use crate::ingestion::decision_receipt;
use crate::ingestion::discovery::session_time;
use crate::runtime::client::StreamItem;
use crate::runtime::pb::SessionState;
use crate::runtime::receipts::has_receipts;
use crate::runtime::SessionSubscription;
use aggregates::{RunCommand, RunStatus, Timestamp};
use std::time::Duration;

/// After the session ended, how long the stream may stay quiet before the
/// driver stops reading trailing envelopes.
const DRAIN_QUIET: Duration = Duration::from_millis(300);

impl RunDriver {
    /// Reads the session's state and records what changed. `true` once the
    /// session has ended and the run's end is recorded.
    pub(super) async fn observe_session(
        &self,
        observer: &str,
        session_id: &str,
        subscription: &mut SessionSubscription,
    ) -> Result<bool, DriveError> {
        let metadata = match self.runtime.get_session(observer, session_id).await {
            Ok(metadata) => metadata,
            Err(error) => {
                tracing::debug!(run_id = %self.run_id, %error, "session poll failed");
                return Ok(false);
            }
        };
        let state = self.repo.load(self.run_id).await?;
        let status = state.status;
        let session_state =
            SessionState::try_from(metadata.state).unwrap_or(SessionState::Unspecified);
        // An observed run ends when its session did by the runtime's
        // account (its resolving message, its expiry), however late this
        // service noticed; a run of its own, when it is recorded.
        let at = match session_state {
            SessionState::Expired if state.observed => session_time(metadata.expires_at_unix_ms),
            SessionState::Expired
            | SessionState::Unspecified
            | SessionState::Open
            | SessionState::Resolved
            | SessionState::Suspended
            | SessionState::Cancelled => None,
        }
        .unwrap_or_else(Timestamp::now);
        let ending = match session_state {
            SessionState::Resolved => Some(RunCommand::CompleteRun {
                session_state: "RESOLVED".into(),
                at,
                receipt: None,
            }),
            SessionState::Expired => Some(RunCommand::FailRun {
                error_code: "SESSION_EXPIRED".into(),
                error_message: "the session's TTL passed before it resolved".into(),
                at,
            }),
            SessionState::Cancelled => Some(RunCommand::CancelRun {
                reason: Some("the session was cancelled".into()),
                at,
            }),
            SessionState::Suspended if status == Some(RunStatus::Running) => {
                self.record(RunCommand::SuspendRun { reason: None, at })
                    .await?;
                None
            }
            SessionState::Open if status == Some(RunStatus::Suspended) => {
                self.record(RunCommand::ResumeRun { reason: None, at })
                    .await?;
                None
            }
            // Still open (or suspended) as the run already says.
            SessionState::Suspended | SessionState::Open | SessionState::Unspecified => None,
        };
        if status.is_some_and(RunStatus::is_terminal) && ending.is_none() {
            return Ok(true);
        }
        let Some(mut ending) = ending else {
            return Ok(false);
        };
        self.drain(subscription).await?;
        if let RunCommand::CompleteRun { at, receipt, .. } = &mut ending {
            // Its resolving message, now recorded, says when it resolved:
            // stamped by its sender's clock, so kept between the session's
            // start and now (a skewed agent cannot end a run before it
            // began, or in the future).
            let drained = self.repo.load(self.run_id).await?;
            if let Some(resolved) = drained.last_envelope_at.filter(|_| drained.observed) {
                let earliest = drained.started_at.unwrap_or(resolved);
                *at = resolved.max(earliest).min((*at).max(earliest));
            }
            // A standards-track mode's resolved session has a decision
            // receipt: fetched and checked now, recorded with the end.
            if has_receipts(drained.mode_name()) {
                *receipt = Some(Box::new(
                    decision_receipt::fetch(
                        &self.runtime,
                        self.repo.store(),
                        self.run_id,
                        observer,
                        session_id,
                    )
                    .await?,
                ));
            }
        }
        self.record(ending).await?;
        Ok(true)
    }

    /// Records envelopes still in flight after the session ended.
    async fn drain(&self, subscription: &mut SessionSubscription) -> Result<(), DriveError> {
        while let Ok(Ok(Some(item))) = tokio::time::timeout(DRAIN_QUIET, subscription.next()).await
        {
            if let StreamItem::Envelope(envelope) = item {
                let (batch, end) = ready_envelopes(self.run_id, envelope, subscription);
                let first = first_ordinal(subscription, &batch);
                if !self.record_envelopes(first, &batch).await? || end.is_some() {
                    break;
                }
            }
        }
        Ok(())
    }
}
