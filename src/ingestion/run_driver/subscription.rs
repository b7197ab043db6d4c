//! Following a session's stream: subscribe after the last recorded
//! ordinal, take each burst of envelopes it delivers, check the session's
//! state on a timer and after a Commitment, and re-subscribe when the
//! stream drops.

use super::{backoff, DriveError, RunDriver};
use crate::runtime::client::StreamItem;
use crate::runtime::pb::{Envelope, MacpError};
use crate::runtime::{RuntimeError, SessionSubscription, COMMITMENT};
use aggregates::{RunCommand, RunState, Timestamp};
use futures::FutureExt;
use std::time::Duration;
use uuid::Uuid;

/// Re-subscriptions after a dropped stream before the run fails.
const STREAM_TRIES: u32 = 8;
/// How often the session's state is polled while following the stream.
const SESSION_POLL: Duration = Duration::from_secs(1);

/// How following the stream ended.
enum StreamEnd {
    /// The session reached a terminal state, now recorded.
    Finished,
    /// The stream dropped; re-subscribe after the last recorded ordinal.
    Dropped(RuntimeError),
}

impl RunDriver {
    /// Follows the session's accepted envelopes until the session ends,
    /// re-subscribing after the last recorded ordinal when the stream drops.
    pub(super) async fn follow_session(&self, state: &RunState) -> Result<(), DriveError> {
        let observer = state.initiator.clone().unwrap_or_default();
        let session_id = state.session_id.clone().unwrap_or_default();
        let mut failures = 0;
        let mut reconnect = false;
        let mut last_after_ordinal = None;
        loop {
            let after_ordinal = self.repo.load(self.run_id).await?.last_ordinal;
            // A stream that delivered something was a working connection:
            // only drops in a row count towards giving up (a runtime
            // restarted now and then must not fail a long run).
            if last_after_ordinal.is_some_and(|before| after_ordinal > before) {
                failures = 0;
            }
            last_after_ordinal = Some(after_ordinal);
            let subscribed = self
                .runtime
                .subscribe(&observer, &session_id, after_ordinal)
                .await;
            let subscription = match subscribed {
                Ok(subscription) => subscription,
                Err(error) => {
                    failures += 1;
                    if failures >= STREAM_TRIES || !error.is_transient() {
                        return self.fail_with(error).await;
                    }
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            };
            if reconnect {
                self.record(RunCommand::OpenStream {
                    after_ordinal,
                    reconnect: true,
                    at: Timestamp::now(),
                })
                .await?;
            }
            match self.stream(subscription, &observer, &session_id).await? {
                StreamEnd::Finished => return Ok(()),
                StreamEnd::Dropped(error) => {
                    failures += 1;
                    tracing::warn!(run_id = %self.run_id, %error, failures, "session stream dropped");
                    if failures >= STREAM_TRIES {
                        return self.fail_with(error).await;
                    }
                    reconnect = true;
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }

    /// Reads one subscription until the session's end is recorded or the
    /// stream drops.
    async fn stream(
        &self,
        mut subscription: SessionSubscription,
        observer: &str,
        session_id: &str,
    ) -> Result<StreamEnd, DriveError> {
        let mut poll = tokio::time::interval(SESSION_POLL);
        loop {
            let check_now = tokio::select! {
                item = subscription.next() => match item {
                    Ok(Some(StreamItem::Envelope(envelope))) => {
                        // Whatever else the stream already holds is recorded
                        // in the same append: one transaction per burst.
                        let (batch, end) = ready_envelopes(self.run_id, envelope, &mut subscription);
                        let commitment = batch.iter().any(|e| e.message_type == COMMITMENT);
                        if !self.record_envelopes(first_ordinal(&subscription, &batch), &batch).await? {
                            return Ok(StreamEnd::Dropped(RuntimeError::Unavailable(
                                "envelope ordinals out of step; re-subscribing".into(),
                            )));
                        }
                        if let Some(end) = end {
                            return Ok(StreamEnd::Dropped(end));
                        }
                        commitment
                    }
                    Ok(Some(StreamItem::Error(error))) => {
                        log_error_frame(self.run_id, &error);
                        false
                    }
                    Ok(None) => return Ok(StreamEnd::Dropped(stream_ended())),
                    Err(error) => return Ok(StreamEnd::Dropped(error)),
                },
                _ = poll.tick() => true,
            };
            if check_now
                && self
                    .observe_session(observer, session_id, &mut subscription)
                    .await?
            {
                return Ok(StreamEnd::Finished);
            }
        }
    }
}

/// Most envelopes recorded in one append.
const MAX_ENVELOPE_BATCH: usize = 512;

/// `first` and the envelopes the subscription already holds (without
/// waiting), up to [`MAX_ENVELOPE_BATCH`]; and how the stream ended, if it
/// did right after them.
pub(super) fn ready_envelopes(
    run_id: Uuid,
    first: Envelope,
    subscription: &mut SessionSubscription,
) -> (Vec<Envelope>, Option<RuntimeError>) {
    let mut batch = vec![first];
    while batch.len() < MAX_ENVELOPE_BATCH {
        // `next` is cancel-safe: a frame not yet complete stays buffered.
        match subscription.next().now_or_never() {
            None => break,
            Some(Ok(Some(StreamItem::Envelope(envelope)))) => batch.push(envelope),
            Some(Ok(Some(StreamItem::Error(error)))) => log_error_frame(run_id, &error),
            Some(Ok(None)) => return (batch, Some(stream_ended())),
            Some(Err(error)) => return (batch, Some(error)),
        }
    }
    (batch, None)
}

/// The session ordinal of the first envelope of `batch`, the subscription
/// having delivered them all.
pub(super) fn first_ordinal(subscription: &SessionSubscription, batch: &[Envelope]) -> u64 {
    subscription.ordinal() + 1 - batch.len() as u64
}

pub(super) fn stream_ended() -> RuntimeError {
    RuntimeError::Unavailable("the runtime ended the stream".into())
}

pub(super) fn log_error_frame(run_id: Uuid, error: &MacpError) {
    tracing::warn!(%run_id, code = %error.code, message = %error.message, "runtime stream error frame");
}
