//! The service under test as its own process, on a database of its own.

use super::measure::{Figure, Goal};
use crate::store::EventStore;
use anyhow::Context;
use sqlx::Connection;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's lease of runs and projectors: short, so that a rebuild
/// after the server stopped can take its projectors soon.
pub const LEASE: Duration = Duration::from_millis(1000);

/// A fresh event store for one engine's figures.
pub struct BenchDb {
    pub url: String,
    pub data_dir: PathBuf,
    /// The PostgreSQL server and database name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

/// A new SQLite file (`admin` = None) or a new database on the PostgreSQL
/// server at `admin`.
pub async fn fresh_database(admin: Option<&str>) -> anyhow::Result<BenchDb> {
    let name = format!("macp_bench_{}", uuid::Uuid::new_v4().simple());
    let data_dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&data_dir)?;
    let Some(admin) = admin else {
        let url = format!("sqlite://{}?mode=rwc", data_dir.join("bench.db").display());
        return Ok(BenchDb {
            url,
            data_dir,
            postgres: None,
        });
    };
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .context("connecting to the bench's PostgreSQL server")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let (base, _) = admin
        .rsplit_once('/')
        .context("the PostgreSQL URL names no database")?;
    Ok(BenchDb {
        url: format!("{base}/{name}"),
        data_dir,
        postgres: Some((admin.to_string(), name)),
    })
}

impl BenchDb {
    /// Removes the database and its files (best effort: a leftover is
    /// harmless and named `macp_bench_*`).
    pub async fn drop_database(self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::query(&sql).execute(&mut conn).await;
            }
        }
    }
}

/// The control plane binary serving on a free loopback port; killed on drop.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    /// The server's event store, opened here too, to watch its progress.
    pub store: EventStore,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    pub async fn start(db: &BenchDb, runtime_address: &str) -> anyhow::Result<ServerProcess> {
        Self::start_with(db, runtime_address, &[]).await
    }

    /// As [`ServerProcess::start`], with more settings (`NAME`, value).
    pub async fn start_with(
        db: &BenchDb,
        runtime_address: &str,
        settings: &[(&str, &str)],
    ) -> anyhow::Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("DATABASE_URL", &db.url)
            .env("DATA_DIR", &db.data_dir)
            .env("RUNTIME_ADDRESS", runtime_address)
            .env("RUNTIME_AUTH", "dev")
            .env("RUN_LEASE_MS", LEASE.as_millis().to_string())
            .env("LOG_LEVEL", "error")
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the control plane")?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http.get(format!("{url}/healthz")).send().await.is_err() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "the control plane did not come up"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Opened once the server has migrated the store (SQLite migrations
        // do not lock out a second migrator).
        Ok(ServerProcess {
            child,
            url,
            store: EventStore::open(&db.url).await?,
        })
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading the server's /proc status")?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS line")?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("no VmRSS value")?
            .parse()?;
        Ok(kib)
    }

    /// Resident memory right after start, with no run yet, in MB.
    pub fn idle_rss_figure(&self) -> anyhow::Result<Figure> {
        Ok(Figure::new("idle RSS", "MB", Some(Goal::AtMost(60.0))).with(self.rss_kib()? / 1024.0))
    }
}
