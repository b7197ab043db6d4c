//! SIGTERM mid-burst: a clean exit, and the runs handed over at once.

use super::*;

#[tokio::test]
async fn sigterm_mid_burst_exits_cleanly_and_hands_the_runs_over_at_once() {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let direct = direct_client(runtime.address);
    let db = TestDb::new(Engine::Sqlite).await;
    let port = free_port();
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let address = runtime.address.to_string();
    let control_plane = ControlPlane::start(&db, port, &address).await;
    let run_id = running_within(&client, &multi_round_request(300_000), RECOVERY_WAIT).await;

    let burst = {
        let (direct, run_id) = (direct.clone(), run_id.clone());
        tokio::spawn(async move { contribute_rounds(&direct, &run_id, "term", 20).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (status, took) = tokio::task::spawn_blocking(move || control_plane.terminate())
        .await
        .unwrap();
    burst.await.unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    // The run's lease was given back, not left to lapse.
    let store = db.store().await;
    let holder = store.lease_holder(&format!("run:{run_id}")).await.unwrap();
    assert_eq!(holder, None, "the run's lease is still held");
    // So were the projectors': a restart follows the log at once.
    for projector in ["run_list", "canonical_events", "audit_log"] {
        let lease = macp_control_plane::projector::lease_name(projector);
        let holder = store.lease_holder(&lease).await.unwrap();
        assert_eq!(holder, None, "{lease} is still held");
    }

    let control_plane = ControlPlane::start(&db, port, &address).await;
    finish(&client, &direct, &run_id).await;
    drop(control_plane);
    let total = tally(&direct, &store, &run_id).await;
    report(
        "SIGTERM",
        format!(
            "exit code {:?} after {} ms, lease released, {} envelopes, {} lost, {} duplicated",
            status.code(),
            took.as_millis(),
            total.envelopes,
            total.lost,
            total.duplicated
        ),
    );
    assert_eq!((total.lost, total.duplicated), (0, 0), "{total:?}");
}
