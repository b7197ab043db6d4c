//! Drives one run through its lifecycle on the runtime, recording each step
//! as a command on the run aggregate:
//!
//! queued → `StartRun` → Initialize, SessionStart as the initiator →
//! `BindSession` → each kickoff message as its sender → `OpenStream` →
//! record every accepted envelope (ordinal = recorded count + 1) → when the
//! session ends, complete / fail / cancel the run.
//!
//! Every step reads the run's state from the log first, so a driver that
//! starts on a half-finished run (after a crash) continues where it ended.
//! The stream never announces the session's end, so the driver also polls
//! `GetSession`, and checks at once after a Commitment.

use super::discovery::{observed_time, session_time, SESSION_ID, SESSION_STARTED};
use super::translate::{derive_events, describe_outbound, raw_envelope};
use crate::run_repository::{CommandError, RunRepository};
use crate::runtime::client::StreamItem;
use crate::runtime::payloads::{encode_envelope, encode_payload};
use crate::runtime::pb::{Envelope, Root as PbRoot, SessionStartPayload, SessionState};
use crate::runtime::receipts::has_receipts;
use crate::runtime::{RefusalCode, RuntimeClient, RuntimeError, SessionSubscription, MACP_VERSION};
use aggregates::request::ExecutionRequest;
use aggregates::{
    DomainError, MessageOutcome, OutboundMessage, RunCommand, RunState, RunStatus, Timestamp,
};
use futures::FutureExt;
use prost::Message;
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

/// Tries at a runtime call that fails for transport reasons.
const RUNTIME_TRIES: u32 = 5;
/// Re-subscriptions after a dropped stream before the run fails.
const STREAM_TRIES: u32 = 8;
/// How often the session's state is polled while following the stream.
const SESSION_POLL: Duration = Duration::from_secs(1);
/// After the session ended, how long the stream may stay quiet before the
/// driver stops reading trailing envelopes.
const DRAIN_QUIET: Duration = Duration::from_millis(300);

pub struct RunDriver {
    pub run_id: Uuid,
    pub repo: RunRepository,
    pub runtime: RuntimeClient,
    pub runtime_kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How following the stream ended.
enum StreamEnd {
    /// The session reached a terminal state, now recorded.
    Finished,
    /// The stream dropped; re-subscribe from the recorded count.
    Dropped(RuntimeError),
}

/// An observed run starts when its session did.
pub fn start_observed(request: &ExecutionRequest) -> RunCommand {
    let at = observed_time(request, SESSION_STARTED).unwrap_or_else(Timestamp::now);
    RunCommand::StartRun { at }
}

/// An observed run is bound to the session it observes: the session's own
/// id (a base64url id maps to the run id, not the reverse) and start.
pub fn bind_observed(run_id: Uuid, request: &ExecutionRequest, runtime_kind: &str) -> RunCommand {
    let session_id = request
        .session
        .metadata
        .as_ref()
        .and_then(|m| m.get(SESSION_ID)?.as_str().map(String::from))
        .unwrap_or_else(|| run_id.to_string());
    RunCommand::BindSession {
        session_id,
        initiator: request.initiator().unwrap_or_default().to_string(),
        runtime_kind: runtime_kind.to_string(),
        at: observed_time(request, SESSION_STARTED).unwrap_or_else(Timestamp::now),
    }
}

impl RunDriver {
    pub async fn run(self) -> Result<(), DriveError> {
        loop {
            let state = self.repo.load(self.run_id).await?;
            let (Some(status), Some(request)) = (state.status, state.request.clone()) else {
                return Ok(());
            };
            match status {
                RunStatus::Queued if state.observed => {
                    self.record(start_observed(&request)).await?;
                }
                RunStatus::Queued => {
                    let at = Timestamp::now();
                    self.record(RunCommand::StartRun { at }).await?;
                }
                RunStatus::Starting if state.observed => {
                    let bind = bind_observed(self.run_id, &request, &self.runtime_kind);
                    self.record(bind).await?;
                }
                RunStatus::Starting => self.bind_session(&request).await?,
                RunStatus::BindingSession => self.send_kickoff(&state, &request).await?,
                RunStatus::Running | RunStatus::Suspended => {
                    self.follow_session(&state).await?;
                    return Ok(());
                }
                RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled => return Ok(()),
            }
        }
    }

    /// Records a command; a refusal because the run moved on meanwhile
    /// (cancelled through the API, say) is not an error of the driver.
    async fn record(&self, command: RunCommand) -> Result<(), DriveError> {
        match self.repo.execute(self.run_id, command).await {
            Ok(_) | Err(CommandError::Domain(DomainError::InvalidTransition { .. })) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn fail(&self, code: &str, message: impl Into<String>) -> Result<(), DriveError> {
        let message = message.into();
        tracing::warn!(run_id = %self.run_id, code, %message, "run failed");
        self.record(RunCommand::FailRun {
            error_code: code.to_string(),
            error_message: message,
            at: Timestamp::now(),
        })
        .await
    }

    async fn fail_with(&self, error: RuntimeError) -> Result<(), DriveError> {
        match error {
            RuntimeError::Unavailable(message) => self.fail("RUNTIME_UNAVAILABLE", message).await,
            RuntimeError::Timeout(message) => self.fail("RUNTIME_TIMEOUT", message).await,
            RuntimeError::Refused { code, message } => self.fail(code.as_str(), message).await,
        }
    }

    async fn bind_session(&self, request: &ExecutionRequest) -> Result<(), DriveError> {
        let Some(initiator) = request.initiator().map(String::from) else {
            return self
                .fail("VALIDATION_ERROR", "the request names no initiator")
                .await;
        };
        let mode_name = &request.session.mode_name;
        let init = match with_retries(|| self.runtime.initialize(&initiator)).await {
            Ok(init) => init,
            Err(error) => return self.fail_with(error).await,
        };
        // Extension modes are not listed by Initialize; SessionStart refuses
        // them with MODE_NOT_SUPPORTED if the runtime lacks them.
        if !mode_name.starts_with("ext.") && !init.supported_modes.iter().any(|m| m == mode_name) {
            return self
                .fail(
                    "MODE_NOT_SUPPORTED",
                    format!(
                        "the runtime does not support {mode_name}; it supports {:?}",
                        init.supported_modes
                    ),
                )
                .await;
        }
        let session_id = self.run_id.to_string();
        let start = Envelope {
            macp_version: MACP_VERSION.into(),
            mode: mode_name.clone(),
            message_type: "SessionStart".into(),
            message_id: derived_message_id(self.run_id, "session-start"),
            session_id: session_id.clone(),
            sender: initiator.clone(),
            timestamp_unix_ms: Timestamp::now().unix_ms(),
            payload: session_start_payload(request).encode_to_vec(),
        };
        match with_retries(|| self.runtime.send(&initiator, start.clone())).await {
            // Already there: our own SessionStart, sent before a crash.
            Ok(_)
            | Err(RuntimeError::Refused {
                code: RefusalCode::SessionAlreadyExists,
                ..
            }) => {}
            Err(error) => return self.fail_with(error).await,
        }
        self.record(RunCommand::BindSession {
            session_id,
            initiator,
            runtime_kind: self.runtime_kind.clone(),
            at: Timestamp::now(),
        })
        .await
    }

    /// An observed session exists already: bind to it as it is.
    async fn send_kickoff(
        &self,
        state: &RunState,
        request: &ExecutionRequest,
    ) -> Result<(), DriveError> {
        let session_id = self.run_id.to_string();
        for (index, kickoff) in request
            .kickoff
            .iter()
            .enumerate()
            .skip(state.kickoff_recorded)
        {
            let path = format!("kickoff[{index}]");
            let encoded = match encode_payload(
                &request.session.mode_name,
                &kickoff.message_type,
                kickoff.payload.as_ref(),
                kickoff.payload_envelope.as_ref(),
                &path,
            ) {
                Ok(encoded) => encoded,
                Err(error) => {
                    return self
                        .fail(
                            "VALIDATION_ERROR",
                            format!("{}: {}", error.path, error.message),
                        )
                        .await
                }
            };
            // Derived ids: a kickoff re-sent after a crash is the runtime's
            // duplicate, not a second message.
            let message_id = derived_message_id(self.run_id, &path);
            let envelope = Envelope {
                macp_version: MACP_VERSION.into(),
                mode: request.session.mode_name.clone(),
                message_type: kickoff.message_type.clone(),
                message_id: message_id.clone(),
                session_id: session_id.clone(),
                sender: kickoff.from.clone(),
                timestamp_unix_ms: Timestamp::now().unix_ms(),
                payload: encoded.bytes.clone(),
            };
            let (mut details, subject) = describe_outbound(&envelope);
            if !encoded.dropped.is_empty() {
                details.insert("droppedFields".into(), encoded.dropped_json());
            }
            let result = with_retries(|| self.runtime.send(&kickoff.from, envelope.clone())).await;
            let outcome = match &result {
                Ok(_) => MessageOutcome::Accepted,
                Err(RuntimeError::Refused { code, message }) => MessageOutcome::Refused {
                    code: code.to_string(),
                    message: message.clone(),
                },
                Err(error) => MessageOutcome::Refused {
                    code: if error.is_transient() {
                        "RUNTIME_UNAVAILABLE"
                    } else {
                        "MESSAGE_SEND_FAILED"
                    }
                    .into(),
                    message: error.to_string(),
                },
            };
            let refused = matches!(outcome, MessageOutcome::Refused { .. });
            self.record(RunCommand::RecordOutboundMessage {
                message: OutboundMessage {
                    message_id,
                    from: kickoff.from.clone(),
                    to: kickoff.to.clone(),
                    message_type: kickoff.message_type.clone(),
                    kickoff: true,
                    details,
                    subject,
                },
                outcome,
                derived: Vec::new(),
                at: Timestamp::now(),
            })
            .await?;
            if refused {
                let why = result.err().map(|e| e.to_string()).unwrap_or_default();
                return self
                    .fail(
                        "MESSAGE_SEND_FAILED",
                        format!("kickoff message {index} was refused: {why}"),
                    )
                    .await;
            }
        }
        self.record(RunCommand::OpenStream {
            after_sequence: state.recorded_ordinals,
            reconnect: false,
            at: Timestamp::now(),
        })
        .await
    }

    /// Follows the session's accepted envelopes until the session ends,
    /// re-subscribing after the last recorded ordinal when the stream drops.
    async fn follow_session(&self, state: &RunState) -> Result<(), DriveError> {
        let observer = state.initiator.clone().unwrap_or_default();
        let session_id = state.session_id.clone().unwrap_or_default();
        let mut failures = 0;
        let mut reconnect = false;
        let mut recorded_before = None;
        loop {
            let after = self.repo.load(self.run_id).await?.recorded_ordinals;
            // A stream that delivered something was a working connection:
            // only drops in a row count towards giving up (a runtime
            // restarted now and then must not fail a long run).
            if recorded_before.is_some_and(|before| after > before) {
                failures = 0;
            }
            recorded_before = Some(after);
            let subscription = match self.runtime.subscribe(&observer, &session_id, after).await {
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
                    after_sequence: after,
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
                        let commitment = batch.iter().any(|e| e.message_type == "Commitment");
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

    /// Records envelopes, the first at session ordinal `first`, in one
    /// append. `false` when that is not where the log ends (the aggregate
    /// refuses a recorded or skipped ordinal): re-subscribe to realign.
    async fn record_envelopes(
        &self,
        first: u64,
        envelopes: &[Envelope],
    ) -> Result<bool, DriveError> {
        let received_at = Timestamp::now();
        let translated: Vec<_> = envelopes
            .iter()
            .map(|envelope| (raw_envelope(envelope), derive_events(envelope)))
            .collect();
        let build = |_: &RunState, i: usize| RunCommand::RecordEnvelope {
            ordinal: first + i as u64,
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
                super::ENVELOPES_RECORDED.fetch_add(envelopes.len() as u64, Ordering::Relaxed);
                Ok(true)
            }
            Err(CommandError::Domain(DomainError::EnvelopeAlreadyRecorded { .. }))
            | Err(CommandError::Domain(DomainError::EnvelopeOrdinalGap { .. })) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Reads the session's state and records what changed. `true` once the
    /// session has ended and the run's end is recorded.
    async fn observe_session(
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
            _ => None,
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
            _ => None,
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
            let mode = drained
                .request
                .as_ref()
                .map(|r| r.session.mode_name.as_str());
            if mode.is_some_and(has_receipts) {
                *receipt = Some(Box::new(
                    super::decision_receipt::fetch(
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

/// The SessionStart extension that carries the request's context (the
/// runtime has no other place for it; it stores extensions as given).
pub const CONTEXT_EXTENSION: &str = "context";

fn session_start_payload(request: &ExecutionRequest) -> SessionStartPayload {
    let session = &request.session;
    // Validated at POST /runs, so encoding cannot fail here.
    let context = match (&session.context_envelope, &session.context) {
        (Some(envelope), _) => encode_envelope(envelope, "session.contextEnvelope")
            .ok()
            .map(|encoded| encoded.bytes),
        (None, Some(context)) => Some(context.to_string().into_bytes()),
        (None, None) => None,
    };
    SessionStartPayload {
        extensions: context
            .map(|bytes| std::iter::once((CONTEXT_EXTENSION.to_string(), bytes)).collect())
            .unwrap_or_default(),
        intent: request.intent().to_string(),
        participants: session.participants.iter().map(|p| p.id.clone()).collect(),
        mode_version: session.mode_version.clone(),
        configuration_version: session.configuration_version.clone(),
        policy_version: session.policy_version.clone().unwrap_or_default(),
        ttl_ms: session.ttl_ms.unwrap_or_default(),
        roots: session
            .roots
            .iter()
            .map(|r| PbRoot {
                uri: r.uri.clone(),
                name: r.name.clone().unwrap_or_default(),
            })
            .collect(),
        ..Default::default()
    }
}

/// A message id derived from the run and a name, stable across restarts.
pub fn derived_message_id(run_id: Uuid, name: &str) -> String {
    Uuid::new_v5(&run_id, name.as_bytes()).to_string()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(5))
}

/// Calls `call` until it succeeds, is refused, or fails for transport
/// reasons [`RUNTIME_TRIES`] times.
pub(super) async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RuntimeError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(error) if error.is_transient() && attempt < RUNTIME_TRIES => {
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

/// Most envelopes recorded in one append.
const MAX_ENVELOPE_BATCH: usize = 512;

/// `first` and the envelopes the subscription already holds (without
/// waiting), up to [`MAX_ENVELOPE_BATCH`]; and how the stream ended, if it
/// did right after them.
fn ready_envelopes(
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
fn first_ordinal(subscription: &SessionSubscription, batch: &[Envelope]) -> u64 {
    subscription.ordinal() + 1 - batch.len() as u64
}

fn stream_ended() -> RuntimeError {
    RuntimeError::Unavailable("the runtime ended the stream".into())
}

fn log_error_frame(run_id: Uuid, error: &crate::runtime::pb::MacpError) {
    tracing::warn!(%run_id, code = %error.code, message = %error.message, "runtime stream error frame");
}
