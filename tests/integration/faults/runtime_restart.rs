//! The runtime (its own process) SIGKILLed and restarted mid-run, and the
//! circuit breaker in front of a dead runtime.

use super::*;

/// The reference runtime as its own process (`macp-control-plane runtime`),
/// keeping sessions in files, so that it can be killed and started again.
struct RuntimeProcess {
    child: Child,
}

impl RuntimeProcess {
    async fn start(bind: SocketAddr, data_dir: &Path) -> RuntimeProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_macp-control-plane"))
            .arg("runtime")
            .env("RUNTIME_BIND", bind.to_string())
            .env("DATA_DIR", data_dir)
            .env("EMBEDDED_RUNTIME_STORAGE", "file")
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the runtime process starts");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(bind).await.is_err() {
            assert!(
                started.elapsed() < RECOVERY_WAIT,
                "the runtime did not come up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        RuntimeProcess { child }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for RuntimeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn runs_complete_after_the_runtime_restarts_mid_run() {
    let restarts = count(2, 10);
    let runtime_dir = tempfile::tempdir().unwrap();
    let bind: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut runtime = RuntimeProcess::start(bind, runtime_dir.path()).await;
    let direct = direct_client(bind);
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config_with_runtime(bind);
    config.run_lease_ms = 1_000;
    let service = Service::start(&config).await.unwrap();
    let client = Client::new(&format!("http://{}", service.address));
    let run_id = running_within(&client, &multi_round_request(300_000), RECOVERY_WAIT).await;

    for restart in 0..restarts {
        contribute_rounds(&direct, &run_id, &format!("before-{restart}"), 10).await;
        runtime.kill();
        tokio::time::sleep(Duration::from_millis(200 + random_below(800))).await;
        runtime = RuntimeProcess::start(bind, runtime_dir.path()).await;
        contribute_rounds(&direct, &run_id, &format!("after-{restart}"), 10).await;
    }
    finish(&client, &direct, &run_id).await;

    let store = db.store().await;
    let total = tally(&direct, &store, &run_id).await;
    let (_, run) = client.get(&format!("/runs/{run_id}")).await.unwrap();
    report(
        "runtime restart",
        format!(
            "{restarts} restarts mid-run, run {}, {} envelopes, {} lost, {} duplicated",
            run["status"], total.envelopes, total.lost, total.duplicated
        ),
    );
    assert_eq!((total.lost, total.duplicated), (0, 0), "{total:?}");
    assert_eq!(total.envelopes, 1 + restarts * 40 + 2 + 1);
    drop(service);
}

#[tokio::test]
async fn the_circuit_breaker_opens_on_a_dead_runtime_and_closes_when_it_is_back() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let bind: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config_with_runtime(bind);
    config.circuit_breaker_failures = 3;
    config.circuit_breaker_cooldown_ms = 300;
    let service = Service::start(&config).await.unwrap();
    let client = &service_client(&service);

    // Nothing listens: three failures open the circuit, the next call is
    // refused at once without trying.
    for _ in 0..3 {
        let (status, body) = client.get("/runtime/modes").await.unwrap();
        assert_eq!(
            (status, body["errorCode"].as_str()),
            (503, Some("RUNTIME_UNAVAILABLE"))
        );
    }
    let (_, breaker) = client.get("/admin/circuit-breaker/history").await.unwrap();
    assert_eq!(breaker["state"], "OPEN", "{breaker}");
    let started = Instant::now();
    let (status, body) = client.get("/runtime/modes").await.unwrap();
    assert_eq!(status, 503);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "not refused at once"
    );
    let (_, metrics) = raw_get(&service, "/metrics").await;
    assert!(metrics.contains("macp_runtime_circuit_open 1"), "{metrics}");
    assert!(metrics.contains("outcome=\"rejected\""), "{metrics}");

    // The runtime comes back; after the cooldown one trial closes the circuit.
    // (The cooldown is time itself: nothing to wait on but the clock.)
    let _runtime = RuntimeProcess::start(bind, runtime_dir.path()).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, _) = client.get("/runtime/modes").await.unwrap();
    assert_eq!(status, 200);
    let (_, breaker) = client.get("/admin/circuit-breaker/history").await.unwrap();
    let states: Vec<&str> = breaker["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["CLOSED", "OPEN", "HALF_OPEN", "CLOSED"],
        "oldest first: {breaker}"
    );

    // A reset by hand is recorded too.
    let (status, breaker) = client
        .post("/admin/circuit-breaker/reset", &json!({}))
        .await
        .unwrap();
    assert_eq!((status, breaker["state"].as_str()), (200, Some("CLOSED")));
    report(
        "circuit breaker",
        format!("opened after 3 failures, refused at once while open, closed by a trial call: {states:?}"),
    );
}

fn service_client(service: &Service) -> Client {
    Client::new(&format!("http://{}", service.address))
}

async fn raw_get(service: &Service, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{}{path}", service.address))
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}
