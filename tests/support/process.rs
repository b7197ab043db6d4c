//! The control plane as its own OS process (the built binary), for tests
//! that kill it or run several instances on one store.

#![allow(dead_code)]

use super::{TestDb, PROCESS_WAIT};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Lease of a run in these tests: short, so takeovers happen quickly.
pub const TEST_LEASE_MS: &str = "1000";

/// A running control plane process, killed with SIGKILL on drop.
pub struct ControlPlane {
    child: Child,
    pub port: u16,
}

impl ControlPlane {
    pub async fn start(db: &TestDb, port: u16, runtime: &str) -> ControlPlane {
        Self::start_with(db, port, runtime, &[]).await
    }

    /// As [`start`](Self::start), with more environment variables.
    pub async fn start_with(
        db: &TestDb,
        port: u16,
        runtime: &str,
        env: &[(&str, &str)],
    ) -> ControlPlane {
        let child = Command::new(env!("CARGO_BIN_EXE_macp-control-plane"))
            .envs(env.iter().copied())
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("DATABASE_URL", &db.url)
            .env("DATA_DIR", db.data_dir.path())
            .env("RUNTIME_ADDRESS", runtime)
            .env("RUNTIME_AUTH", "dev")
            .env("RUN_LEASE_MS", TEST_LEASE_MS)
            .env("LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the control plane binary starts");
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < PROCESS_WAIT,
                "the control plane did not come up"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        ControlPlane { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl ControlPlane {
    /// SIGTERM, then waits for the process to exit; its exit status and
    /// how long it took.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM was not delivered");
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < PROCESS_WAIT,
                "the control plane did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
