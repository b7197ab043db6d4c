//! The run repository's cached state stays exact when a command is
//! abandoned half-way, as an HTTP handler's is when its client disconnects
//! during the append: the next command decides on what the log holds.

use crate::support;

use aggregates::{ExecutionRequest, RunCommand, RunEvent, Timestamp};
use macp_control_plane::run_repository::RunRepository;
use serde_json::json;
use sqlx::Connection;
use std::time::Duration;
use support::{Engine, TestDb};
use uuid::Uuid;

#[tokio::test]
async fn a_command_abandoned_during_its_append_leaves_nothing_in_the_cached_state() {
    let db = TestDb::new(Engine::Sqlite).await;
    let store = db.store().await;
    let repo = RunRepository::new(store.clone());
    let run_id = Uuid::new_v4();
    let request: ExecutionRequest = serde_json::from_value(json!({
        "mode": "live", "runtime": {"kind": "rust"},
        "session": {"modeName": "macp.mode.decision.v1", "modeVersion": "1.0.0",
                    "configurationVersion": "config.default", "ttlMs": 60000,
                    "participants": [{"id": "alice"}]}}))
    .expect("a valid request");
    repo.execute(
        run_id,
        RunCommand::RequestRun {
            run_id,
            request: Box::new(request),
            trace_id: "0".repeat(32),
            observed: false,
            at: Timestamp::now(),
        },
    )
    .await
    .expect("the run is requested");
    let requested = repo.load(run_id).await.expect("loads").status;

    // Another writer holds SQLite's write lock, so the next append waits;
    // its caller gives up meanwhile.
    let mut writer = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .expect("takes the write lock");
    let cancel = repo.execute(
        run_id,
        RunCommand::CancelRun {
            reason: Some("abandoned".into()),
            at: Timestamp::now(),
        },
    );
    let abandoned = tokio::time::timeout(Duration::from_millis(300), cancel).await;
    assert!(abandoned.is_err(), "the append did not wait: {abandoned:?}");
    sqlx::query("ROLLBACK")
        .execute(&mut writer)
        .await
        .expect("gives the write lock back");

    let stream = store.read_stream(run_id, 0).await.expect("reads");
    assert!(
        !stream
            .iter()
            .any(|e| matches!(e.event, RunEvent::RunCancelled { .. })),
        "the abandoned cancel reached the log"
    );
    assert_eq!(
        repo.load(run_id).await.expect("loads").status,
        requested,
        "the cached state kept the abandoned decision"
    );
}
