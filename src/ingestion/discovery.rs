//! Session discovery (off by default, `DISCOVER_SESSIONS`): watches the
//! runtime's sessions and opens an observe-only run, with run id = session
//! id, for each session that has no run in the log (one this control plane,
//! or another instance sharing its store, did not start). Observed runs are
//! folded and served like any other.

use super::run_driver::{bind_observed, start_observed};
use super::Ingestion;
use crate::run_repository::CommandError;
use crate::runtime::pb::SessionMetadata;
use crate::runtime::RuntimeError;
use aggregates::request::{Participant, RuntimeSelector, SessionSpec, MAX_TTL_MS};
use aggregates::{run_id_of_session, DomainError, ExecutionRequest, RunCommand, Timestamp};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Sessions that could not be adopted (for `/metrics`).
pub static SESSIONS_NOT_ADOPTED: AtomicU64 = AtomicU64::new(0);

/// Keys of an observed run's request metadata: the session's own id, and
/// when it started and expires (epoch ms), as the runtime reported them.
pub const SESSION_ID: &str = "runtimeSessionId";
pub const SESSION_STARTED: &str = "sessionStartedAtUnixMs";
pub const SESSION_EXPIRES: &str = "sessionExpiresAtUnixMs";

/// A time the runtime reported (epoch ms), if it reported one.
pub fn session_time(unix_ms: i64) -> Option<Timestamp> {
    (unix_ms > 0).then(|| Timestamp::from_unix_ms(unix_ms))
}

/// The observed session's own time under `key` of the request metadata.
pub fn observed_time(request: &ExecutionRequest, key: &str) -> Option<Timestamp> {
    let metadata = request.session.metadata.as_ref()?;
    session_time(metadata.get(key)?.as_i64()?)
}

pub fn spawn(ingestion: Ingestion, runtime_kind: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            match watch(&ingestion, &runtime_kind).await {
                Ok(()) => failures = 0,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, failures, "session discovery: watch failed; retrying");
                }
            }
            tokio::time::sleep(Duration::from_millis(
                500 * u64::from(failures.min(10)) + 250,
            ))
            .await;
        }
    })
}

/// Sessions adopted in one append at most: a burst of sessions started
/// together is recorded in a few transactions, not one each (3,000 one
/// after another took 9–14 s).
const ADOPTED_PER_APPEND: usize = 256;
/// Appends of adopted sessions in flight at once.
const APPENDS_AT_ONCE: usize = 4;

async fn watch(ingestion: &Ingestion, runtime_kind: &str) -> Result<(), RuntimeError> {
    let mut sessions = ingestion.runtime().watch_sessions().await?;
    let (found, pending) = mpsc::unbounded_channel();
    tokio::spawn(adopt_as_found(
        ingestion.clone(),
        runtime_kind.to_string(),
        pending,
    ));
    // Read as fast as the runtime sends, whatever adoption's pace: the
    // runtime cuts a watcher that falls behind off, and on reconnecting
    // sends every session again.
    while let Some(response) = sessions.message().await? {
        if let Some(session) = response.event.and_then(|event| event.session) {
            // The adopter ends only when this sender is dropped.
            let _ = found.send(session);
        }
    }
    Ok(())
}

/// Adopts the sessions the watch found, up to a batch an append, a few
/// appends at a time; finishes what was found after the watch ended.
async fn adopt_as_found(
    ingestion: Ingestion,
    runtime_kind: String,
    mut pending: mpsc::UnboundedReceiver<SessionMetadata>,
) {
    let appends = Arc::new(Semaphore::new(APPENDS_AT_ONCE));
    let mut batch = Vec::with_capacity(ADOPTED_PER_APPEND);
    while pending.recv_many(&mut batch, ADOPTED_PER_APPEND).await > 0 {
        let Ok(permit) = Arc::clone(&appends).acquire_owned().await else {
            return;
        };
        let sessions = std::mem::take(&mut batch);
        let (ingestion, runtime_kind) = (ingestion.clone(), runtime_kind.clone());
        tokio::spawn(async move {
            adopt(&ingestion, &runtime_kind, &sessions).await;
            drop(permit);
        });
    }
}

/// Opens an observe-only run for each of `sessions` that has none, started
/// and bound to its session, all in one append; then drives the new ones
/// (whose drivers go straight to following their sessions).
async fn adopt(ingestion: &Ingestion, runtime_kind: &str, sessions: &[SessionMetadata]) {
    let mut commands = Vec::with_capacity(sessions.len());
    let mut modes = Vec::with_capacity(sessions.len());
    for session in sessions {
        // A UUID session id is the run id; a base64url one maps to one.
        let Some(run_id) = run_id_of_session(&session.session_id) else {
            SESSIONS_NOT_ADOPTED.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(session_id = %session.session_id, "session discovery: not a session id this service can key a run by; not adopted");
            continue;
        };
        let request = observed_request(runtime_kind, ingestion.runtime().address(), session);
        let start = start_observed(&request);
        let bind = bind_observed(run_id, &request, runtime_kind);
        let requested = RunCommand::RequestRun {
            run_id,
            request: Box::new(request),
            trace_id: Uuid::new_v4().simple().to_string(),
            observed: true,
            // The run began when its session did, not when it was noticed.
            at: session_time(session.started_at_unix_ms).unwrap_or_else(Timestamp::now),
        };
        commands.push((run_id, vec![requested, start, bind]));
        modes.push(session.mode.as_str());
    }
    let run_ids: Vec<Uuid> = commands.iter().map(|(run_id, _)| *run_id).collect();
    let outcomes = match ingestion.repo().request_runs(commands).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            SESSIONS_NOT_ADOPTED.fetch_add(run_ids.len() as u64, Ordering::Relaxed);
            tracing::warn!(sessions = run_ids.len(), %error, "session discovery: cannot adopt");
            return;
        }
    };
    let mut adopted = Vec::with_capacity(run_ids.len());
    for ((run_id, mode), outcome) in run_ids.into_iter().zip(modes).zip(outcomes) {
        match outcome {
            Ok(events) if events.is_empty() => {}
            Ok(_) => {
                tracing::info!(%run_id, %mode, "session discovery: following a session");
                adopted.push(run_id);
            }
            Err(CommandError::Domain(DomainError::RunAlreadyExists)) => {}
            Err(error) => {
                SESSIONS_NOT_ADOPTED.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%run_id, %error, "session discovery: cannot adopt");
            }
        }
    }
    ingestion.drive_all(adopted);
}

/// The request such a session would have been started with.
fn observed_request(
    runtime_kind: &str,
    runtime_address: &str,
    session: &SessionMetadata,
) -> ExecutionRequest {
    let ttl_ms = (session.expires_at_unix_ms - session.started_at_unix_ms).clamp(1, MAX_TTL_MS);
    let mut metadata = serde_json::Map::new();
    metadata.insert("source".into(), json!("discovered"));
    metadata.insert("sourceRef".into(), json!(runtime_address));
    metadata.insert(SESSION_ID.into(), json!(session.session_id));
    metadata.insert(SESSION_STARTED.into(), json!(session.started_at_unix_ms));
    metadata.insert(SESSION_EXPIRES.into(), json!(session.expires_at_unix_ms));
    ExecutionRequest {
        mode: "live".into(),
        runtime: RuntimeSelector {
            kind: runtime_kind.into(),
            ..Default::default()
        },
        session: SessionSpec {
            mode_name: session.mode.clone(),
            mode_version: session.mode_version.clone(),
            configuration_version: session.configuration_version.clone(),
            policy_version: Some(session.policy_version.clone()).filter(|v| !v.is_empty()),
            ttl_ms: Some(ttl_ms),
            initiator_participant_id: Some(session.initiator.clone()).filter(|i| !i.is_empty()),
            participants: session
                .participants
                .iter()
                .map(|id| Participant {
                    id: id.clone(),
                    ..Default::default()
                })
                .collect(),
            metadata: Some(metadata),
            ..Default::default()
        },
        kickoff: Vec::new(),
        execution: None,
        extra: serde_json::Map::new(),
    }
}
