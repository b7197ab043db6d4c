//! kill -9 of the control plane at random points of a burst, restarted each
//! time: nothing lost, nothing recorded twice.

use super::*;

async fn kills_lose_and_double_nothing(engine: Engine) {
    const RUNS: usize = 3;
    let kills = count(3, 25);
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let direct = direct_client(runtime.address);
    let db = TestDb::new(engine).await;
    let port = free_port();
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let address = runtime.address.to_string();
    let mut control_plane = ControlPlane::start(&db, port, &address).await;
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        runs.push(running_within(&client, &multi_round_request(300_000), RECOVERY_WAIT).await);
    }

    for kill in 0..kills {
        // Every run gets a burst of envelopes; the kill lands at a random
        // point of it (a burst takes about 100 ms here).
        let bursts: Vec<_> = runs
            .iter()
            .map(|run_id| {
                let (direct, run_id) = (direct.clone(), run_id.clone());
                tokio::spawn(async move {
                    contribute_rounds(&direct, &run_id, &kill.to_string(), 15).await;
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(random_below(120))).await;
        control_plane.kill();
        for burst in bursts {
            burst.await.unwrap();
        }
        control_plane = ControlPlane::start(&db, port, &address).await;
    }
    for run_id in &runs {
        finish(&client, &direct, run_id).await;
    }
    drop(control_plane);

    let store = db.store().await;
    let mut total = Tally::default();
    for run_id in &runs {
        total += tally(&direct, &store, run_id).await;
    }
    report(
        "kill -9",
        format!(
            "{engine:?}: {kills} kills survived over {RUNS} runs, {} envelopes, {} lost, {} duplicated",
            total.envelopes, total.lost, total.duplicated
        ),
    );
    assert_eq!((total.lost, total.duplicated), (0, 0), "{total:?}");
    assert_eq!(total.envelopes, RUNS * (1 + kills * 15 * 2 + 2 + 1));
}

on_both_engines!(kill_9_at_random_points_loses_and_doubles_nothing => kills_lose_and_double_nothing);
