//! Session discovery (off by default, `DISCOVER_SESSIONS`): watches the
//! runtime's sessions and opens an observe-only run, with run id = session
//! id, for each session that has no run in the log (one this control plane,
//! or another instance sharing its store, did not start). Observed runs are
//! folded and served like any other.

use super::Ingestion;
use crate::run_repository::CommandError;
use crate::runtime::pb::SessionMetadata;
use crate::runtime::RuntimeError;
use aggregates::request::{Participant, RuntimeSelector, SessionSpec, MAX_TTL_MS};
use aggregates::{run_id_of_session, DomainError, ExecutionRequest, RunCommand, Timestamp};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
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

async fn watch(ingestion: &Ingestion, runtime_kind: &str) -> Result<(), RuntimeError> {
    let mut sessions = ingestion.runtime().watch_sessions().await?;
    while let Some(response) = sessions.message().await? {
        let Some(session) = response.event.and_then(|event| event.session) else {
            continue;
        };
        if let Err(error) = adopt(ingestion, runtime_kind, &session).await {
            SESSIONS_NOT_ADOPTED.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(session_id = %session.session_id, %error, "session discovery: cannot adopt");
        }
    }
    Ok(())
}

async fn adopt(
    ingestion: &Ingestion,
    runtime_kind: &str,
    session: &SessionMetadata,
) -> Result<(), CommandError> {
    // A UUID session id is the run id; a base64url one maps to one.
    let Some(run_id) = run_id_of_session(&session.session_id) else {
        SESSIONS_NOT_ADOPTED.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(session_id = %session.session_id, "session discovery: not a session id this service can key a run by; not adopted");
        return Ok(());
    };
    if ingestion.repo().load(run_id).await?.status.is_some() {
        return Ok(());
    }
    let command = RunCommand::RequestRun {
        run_id,
        request: Box::new(observed_request(
            runtime_kind,
            ingestion.runtime().address(),
            session,
        )),
        trace_id: Uuid::new_v4().simple().to_string(),
        observed: true,
        // The run began when its session did, not when it was noticed.
        at: session_time(session.started_at_unix_ms).unwrap_or_else(Timestamp::now),
    };
    match ingestion.repo().execute(run_id, command).await {
        Ok(_) => {
            tracing::info!(%run_id, mode = %session.mode, "session discovery: following a session")
        }
        Err(CommandError::Domain(DomainError::RunAlreadyExists)) => return Ok(()),
        Err(error) => return Err(error),
    }
    ingestion.drive(run_id);
    Ok(())
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
