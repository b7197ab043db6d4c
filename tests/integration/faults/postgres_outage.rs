//! PostgreSQL (a private cluster) stopped and started mid-run.

use super::*;

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
    let mut config = db.config_with_runtime(runtime.address);
    config.database_url = Some(postgres.url());
    config.run_lease_ms = 1_000;
    let service = Service::start(&config).await.unwrap();
    let client = Client::new(&format!("http://{}", service.address));
    let run_id = running_within(&client, &multi_round_request(300_000), RECOVERY_WAIT).await;

    for outage in 0..outages {
        // The store goes away in the middle of a burst and comes back
        // while envelopes keep arriving at the runtime.
        let burst = {
            let (direct, run_id) = (direct.clone(), run_id.clone());
            tokio::spawn(async move {
                contribute_rounds(&direct, &run_id, &format!("o{outage}"), 20).await;
            })
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
