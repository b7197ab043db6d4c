//! The fault suite: kill -9 of the control plane at random points of live
//! runs, a restart of the runtime mid-run, PostgreSQL stopped and started
//! mid-run, 100 concurrent `POST /runs` with one idempotency key, and a
//! property-based fuzz of every JSON endpoint.
//!
//! Counts are small here, inside the test suite; `scripts/faults --soak`
//! runs the same tests with `FAULT_SOAK=1` and larger counts. Each test
//! prints its figures on a `fault figures:` line (`--nocapture` shows them).
//! Losses and doubles are counted against the runtime's own session history.

mod support;

use macp_control_plane::demo::{decision_request, is_terminal, Client};
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use macp_control_plane::runtime::RuntimeClient;
use macp_control_plane::service::Service;
use macp_control_plane::store::EventStore;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::process::{free_port, ControlPlane};
use support::runtime_peer::{
    direct_client, multi_round_request, recorded_history, runtime_history, send_direct, MULTI_ROUND,
};
use support::{Engine, TestDb};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(90);

/// `FAULT_SOAK=1`: the long mode of `scripts/faults --soak`.
fn soak() -> bool {
    std::env::var("FAULT_SOAK").is_ok_and(|v| v == "1")
}

fn count(small: usize, long: usize) -> usize {
    if soak() {
        long
    } else {
        small
    }
}

fn report(test: &str, figures: String) {
    println!("fault figures: {test}: {figures}");
}

/// A number in `0..bound` (fault timing needs variety, not quality).
fn random_below(bound: u64) -> u64 {
    (Uuid::new_v4().as_u128() % u128::from(bound.max(1))) as u64
}

async fn start_running_run(client: &Client) -> String {
    let (status, created) = client
        .post("/runs", &multi_round_request(300_000))
        .await
        .unwrap();
    assert_eq!(status, 202, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    client
        .wait_for_status(&run_id, WAIT, |s| s == "running")
        .await
        .unwrap();
    run_id
}

/// `rounds` contributions from each of alice and bob, never agreeing (so
/// the session stays open), straight to the runtime.
async fn contribute(runtime: &RuntimeClient, run_id: &str, tag: &str, rounds: usize) {
    for i in 0..rounds {
        for sender in ["alice", "bob"] {
            let value = json!({"value": format!("{sender}-{tag}-{i}")});
            send_direct(runtime, run_id, MULTI_ROUND, sender, "Contribute", value).await;
        }
    }
}

/// Agreement and the Commitment, then waits for `completed`.
async fn finish(client: &Client, runtime: &RuntimeClient, run_id: &str) {
    for sender in ["alice", "bob"] {
        let value = json!({"value": "agreed"});
        send_direct(runtime, run_id, MULTI_ROUND, sender, "Contribute", value).await;
    }
    let commitment = json!({"commitmentId": "c-1", "action": "multi_round.converged",
        "authorityScope": "t", "reason": "r", "modeVersion": "1.0.0",
        "configurationVersion": "config.default", "policyVersion": "policy.default",
        "outcomePositive": true});
    let started = Instant::now();
    // The runtime or the store may still be coming back: try until WAIT.
    loop {
        match client
            .send(run_id, "coord", "Commitment", commitment.clone())
            .await
        {
            Ok(_) => break,
            Err(error) => {
                assert!(
                    started.elapsed() < WAIT,
                    "the Commitment never went: {error}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    let status = client
        .wait_for_status(run_id, WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed", "run {run_id}");
}

/// What the control plane recorded against the runtime's history of one
/// session: envelopes lost, envelopes recorded twice, and the total.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    envelopes: usize,
    lost: usize,
    duplicated: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.envelopes += other.envelopes;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
    }
}

async fn tally(runtime: &RuntimeClient, store: &EventStore, run_id: &str) -> Tally {
    let history = runtime_history(runtime, "coord", run_id).await;
    let recorded = recorded_history(store, run_id.parse().unwrap()).await;
    let ids: Vec<&String> = recorded.iter().map(|(_, id)| id).collect();
    let unique: HashSet<&String> = ids.iter().copied().collect();
    let tally = Tally {
        envelopes: history.len(),
        lost: history.iter().filter(|id| !unique.contains(id)).count(),
        duplicated: ids.len() - unique.len(),
    };
    if tally.lost == 0 && tally.duplicated == 0 {
        let in_order: Vec<&String> = history.iter().collect();
        assert_eq!(
            ids, in_order,
            "run {run_id}: recorded in the runtime's order"
        );
        let ordinals: Vec<u64> = recorded.iter().map(|(o, _)| *o).collect();
        assert_eq!(ordinals, (1..=ids.len() as u64).collect::<Vec<_>>());
    }
    tally
}

// ---------------------------------------------------------------------------
// kill -9 of the control plane

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
        runs.push(start_running_run(&client).await);
    }

    for kill in 0..kills {
        // Every run gets a burst of envelopes; the kill lands at a random
        // point of it (a burst takes about 100 ms here).
        let bursts: Vec<_> = runs
            .iter()
            .map(|run_id| {
                let (direct, run_id) = (direct.clone(), run_id.clone());
                tokio::spawn(
                    async move { contribute(&direct, &run_id, &kill.to_string(), 15).await },
                )
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

#[tokio::test]
async fn kill_9_at_random_points_loses_and_doubles_nothing_on_sqlite() {
    kills_lose_and_double_nothing(Engine::Sqlite).await;
}

#[tokio::test]
async fn kill_9_at_random_points_loses_and_doubles_nothing_on_postgres() {
    kills_lose_and_double_nothing(Engine::Postgres).await;
}

// ---------------------------------------------------------------------------
// SIGTERM: graceful shutdown

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
    let run_id = start_running_run(&client).await;

    let burst = {
        let (direct, run_id) = (direct.clone(), run_id.clone());
        tokio::spawn(async move { contribute(&direct, &run_id, "term", 20).await })
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

// ---------------------------------------------------------------------------
// The runtime restarted mid-run

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
            assert!(started.elapsed() < WAIT, "the runtime did not come up");
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
    let mut config = db.config();
    config.runtime_address = Some(bind.to_string());
    config.runtime_auth = Some(macp_control_plane::config::RuntimeAuth::Dev);
    config.run_lease_ms = 1_000;
    let service = Service::start(&config).await.unwrap();
    let client = Client::new(&format!("http://{}", service.address));
    let run_id = start_running_run(&client).await;

    for restart in 0..restarts {
        contribute(&direct, &run_id, &format!("before-{restart}"), 10).await;
        runtime.kill();
        tokio::time::sleep(Duration::from_millis(200 + random_below(800))).await;
        runtime = RuntimeProcess::start(bind, runtime_dir.path()).await;
        contribute(&direct, &run_id, &format!("after-{restart}"), 10).await;
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
    let mut config = db.config();
    config.runtime_address = Some(bind.to_string());
    config.runtime_auth = Some(macp_control_plane::config::RuntimeAuth::Dev);
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

// ---------------------------------------------------------------------------
// PostgreSQL stopped and started mid-run

/// A PostgreSQL server of this test's own (Debian's binaries, a fresh
/// cluster in a temp dir), so stopping it disturbs no other test.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let versions = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql package (scripts/test installs it)");
        let mut bins: Vec<_> = versions
            .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        bins.sort();
        let bin = bins.pop().expect("an initdb under /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        // PostgreSQL refuses to run as root: as root, the cluster belongs
        // to the `postgres` user the package created.
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let data = dir.path().join("data");
        let server = PrivatePostgres {
            bin,
            port: free_port(),
            dir,
        };
        server.pg(&server.bin.join("initdb"), |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-U", "macp", "--auth=trust", "-N"]);
        });
        server.start_server();
        server
    }

    fn url(&self) -> String {
        format!("postgres://macp@127.0.0.1:{}/postgres", self.port)
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.pg(&self.bin.join("pg_ctl"), |c| {
            c.arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-o", &options, "-l"])
                .arg(&log)
                .args(["-w", "start"]);
        });
    }

    fn stop_server(&self) {
        self.pg(&self.bin.join("pg_ctl"), |c| {
            c.arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"]);
        });
    }

    /// Runs a PostgreSQL program as the cluster's owner; fails the test if
    /// it fails.
    fn pg(&self, program: &Path, args: impl FnOnce(&mut Command)) {
        let mut command = self.as_owner(program);
        args(&mut command);
        run(&mut command);
    }

    fn as_owner(&self, program: &Path) -> Command {
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut command = self.as_owner(&self.bin.join("pg_ctl"));
        let data = self.dir.path().join("data");
        let _ = command
            .arg("-D")
            .arg(data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn runs_complete_after_postgres_stops_and_starts_mid_run() {
    let outages = count(1, 4);
    let postgres = tokio::task::spawn_blocking(PrivatePostgres::start)
        .await
        .unwrap();
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let direct = direct_client(runtime.address);
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config();
    config.database_url = Some(postgres.url());
    config.runtime_address = Some(runtime.address.to_string());
    config.runtime_auth = Some(macp_control_plane::config::RuntimeAuth::Dev);
    config.run_lease_ms = 1_000;
    let service = Service::start(&config).await.unwrap();
    let client = Client::new(&format!("http://{}", service.address));
    let run_id = start_running_run(&client).await;

    for outage in 0..outages {
        // The store goes away in the middle of a burst and comes back
        // while envelopes keep arriving at the runtime.
        let burst = {
            let (direct, run_id) = (direct.clone(), run_id.clone());
            tokio::spawn(
                async move { contribute(&direct, &run_id, &format!("o{outage}"), 20).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(random_below(200))).await;
        let server = &postgres;
        std::thread::scope(|s| {
            s.spawn(|| server.stop_server());
        });
        burst.await.unwrap();
        // Not ready while the store is away (load balancers steer clear).
        let (status, ready) = client.get("/readyz").await.unwrap();
        assert_eq!(status, 503, "{ready}");
        assert!(
            ready["database"].is_string() && ready["database"] != "ok",
            "the store's state names why: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(500 + random_below(1000))).await;
        std::thread::scope(|s| {
            s.spawn(|| server.start_server());
        });
    }
    finish(&client, &direct, &run_id).await;
    let (status, ready) = client.get("/readyz").await.unwrap();
    assert_eq!(status, 200, "ready again: {ready}");

    let store = EventStore::open(&postgres.url()).await.unwrap();
    let total = tally(&direct, &store, &run_id).await;
    report(
        "PostgreSQL restart",
        format!(
            "{outages} outages mid-run, run completed, {} envelopes, {} lost, {} duplicated",
            total.envelopes, total.lost, total.duplicated
        ),
    );
    assert_eq!((total.lost, total.duplicated), (0, 0), "{total:?}");
    assert_eq!(total.envelopes, 1 + outages * 40 + 2 + 1);
    drop(service);
}

// ---------------------------------------------------------------------------
// 100 concurrent POST /runs with one idempotency key

async fn one_run_for_one_key(engine: Engine) {
    const REQUESTS: usize = 100;
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let mut request = decision_request();
    let key = format!("key-{}", Uuid::new_v4());
    request["execution"]["idempotencyKey"] = json!(key);
    let answers = futures::future::join_all((0..REQUESTS).map(|_| {
        let (client, request) = (&service.client, &request);
        async move { client.post("/runs", request).await.unwrap() }
    }))
    .await;
    let created = answers.iter().filter(|(status, _)| *status == 202).count();
    let repeated = answers.iter().filter(|(status, _)| *status == 200).count();
    let run_ids: HashSet<&str> = answers
        .iter()
        .filter_map(|(_, body)| body["runId"].as_str())
        .collect();
    let store = db.store().await;
    let recorded = store.count_events("RunRequested").await.unwrap();
    report(
        "same idempotency key",
        format!(
            "{engine:?}: {REQUESTS} concurrent requests → {created} created, {repeated} answered \
             with it, {} run ids, {recorded} runs recorded",
            run_ids.len()
        ),
    );
    assert_eq!((created, repeated), (1, REQUESTS - 1), "{answers:?}");
    assert_eq!(run_ids.len(), 1);
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn a_hundred_concurrent_requests_with_one_key_make_one_run_on_sqlite() {
    one_run_for_one_key(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_hundred_concurrent_requests_with_one_key_make_one_run_on_postgres() {
    one_run_for_one_key(Engine::Postgres).await;
}

// ---------------------------------------------------------------------------
// Fuzz of every JSON endpoint

/// The JSON endpoints, `{id}` standing for a run id (a real one, an
/// unknown one, or not a UUID). Clone is left out: a valid clone starts a
/// live run, whose ingestion would write while the fuzz counts writes.
const JSON_ENDPOINTS: &[&str] = &[
    "/runs",
    "/runs/validate",
    "/runs/compare",
    "/runs/batch/cancel",
    "/runs/batch/archive",
    "/runs/batch/export",
    "/runs/batch/frobnicate",
    "/runs/{id}/artifacts",
    "/runs/{id}/replay",
    "/runs/{id}/messages",
    "/runs/{id}/signal",
    "/runs/{id}/context",
    "/runs/{id}/cancel",
    "/runs/{id}/suspend",
    "/runs/{id}/resume",
    "/runtime/policies",
];

/// Field names of the request bodies, so that the fuzz reaches past the
/// first missing-field check.
const FIELD_NAMES: &[&str] = &[
    "mode",
    "runtime",
    "session",
    "kickoff",
    "execution",
    "kind",
    "modeName",
    "modeVersion",
    "configurationVersion",
    "ttlMs",
    "participants",
    "id",
    "from",
    "to",
    "messageType",
    "payload",
    "payloadEnvelope",
    "encoding",
    "json",
    "proto",
    "typeName",
    "value",
    "reason",
    "context",
    "runIds",
    "leftRunId",
    "rightRunId",
    "speed",
    "fromSeq",
    "toSeq",
    "name",
    "uri",
    "signalType",
    "severity",
    "policyId",
    "rules",
    "idempotencyKey",
    "tags",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9 ._:/-]{0,24}".prop_map(Value::from),
        prop::sample::select(vec![
            "live",
            "sandbox",
            "replay",
            MULTI_ROUND,
            "macp.mode.decision.v1",
            "json",
            "proto",
            "text",
            "base64",
            "alice",
            "coord",
            ""
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELD_NAMES), inner), 0..7).prop_map(
                |fields| Value::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                )
            ),
        ]
    })
}

/// A body: mostly JSON objects, sometimes any JSON, sometimes not JSON.
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec((prop::sample::select(FIELD_NAMES), json_value()), 0..8)
            .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()).to_string()),
        2 => json_value().prop_map(|v| v.to_string()),
        1 => ".{0,64}",
    ]
}

#[test]
fn fuzzed_bodies_get_no_5xx_and_no_partial_write() {
    let cases = count(256, 4000) as u32;
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let (db, service, completed) = tokio.block_on(async {
        let db = TestDb::new(Engine::Sqlite).await;
        let service = db.start().await;
        // One finished run, so run-scoped endpoints meet a real one.
        let outcome = macp_control_plane::demo::run(&service.url()).await.unwrap();
        (db, service, outcome.run_id)
    });
    let store = tokio.block_on(db.store());
    let http = reqwest::Client::new();
    let base = service.url();
    let events = |tokio: &tokio::runtime::Runtime| {
        tokio.block_on(async { store.read_all(0, i64::MAX).await.unwrap().len() })
    };
    // Counted across shrinking too (the runner takes a `Fn`).
    let tried = Cell::new(0usize);
    let refused = Cell::new(0usize);
    let server_errors = Cell::new(0usize);
    let partial_writes = Cell::new(0usize);
    let ids = vec![
        completed,
        Uuid::new_v4().to_string(),
        "not-a-uuid".to_string(),
    ];
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (
        prop::sample::select(JSON_ENDPOINTS),
        prop::sample::select(ids),
        body(),
    );
    let result = runner.run(&strategy, |(endpoint, id, body)| {
        let path = endpoint.replace("{id}", &id);
        let before = events(&tokio);
        let status = tokio.block_on(async {
            http.post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        let status = status.map_err(|e| TestCaseError::fail(format!("{path}: {e}")))?;
        let after = events(&tokio);
        tried.set(tried.get() + 1);
        if status >= 500 {
            server_errors.set(server_errors.get() + 1);
        }
        if status >= 400 {
            refused.set(refused.get() + 1);
            if after != before {
                partial_writes.set(partial_writes.get() + 1);
            }
        }
        prop_assert!(status < 500, "POST {} {} answered {}", path, body, status);
        prop_assert!(
            status < 400 || after == before,
            "POST {} {} was refused ({}) but wrote {} events",
            path,
            body,
            status,
            after - before
        );
        Ok(())
    });
    report(
        "fuzz (proptest)",
        format!(
            "{} bodies tried on {} JSON endpoints, {} refused, {} 5xx, {} partial writes",
            tried.get(),
            JSON_ENDPOINTS.len(),
            refused.get(),
            server_errors.get(),
            partial_writes.get()
        ),
    );
    if let Err(error) = result {
        panic!("{error}");
    }
    drop(service);
}
