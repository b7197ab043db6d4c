//! Test harness: starts the real service (embedded reference runtime) on a
//! fresh SQLite file or a fresh PostgreSQL database, and talks HTTP to it.

#![allow(dead_code)]

pub mod modes;
pub mod process;
pub mod runtime_peer;
pub mod shapes;
pub mod sse;

use macp_control_plane::api_client::Client;
use macp_control_plane::config::{Config, EmbeddedStorageKind, LogFormat};
use macp_control_plane::service::Service;
use macp_control_plane::store::EventStore;
use sqlx::Connection;
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A fresh, empty event store for one test, and where the service keeps
/// its embedded data.
pub struct TestDb {
    pub url: String,
    pub data_dir: TempDir,
}

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let url = match engine {
            Engine::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                data_dir.path().join("cp.db").display()
            ),
            Engine::Postgres => fresh_postgres_database().await,
        };
        TestDb { url, data_dir }
    }

    pub fn config(&self) -> Config {
        Config {
            port: 0,
            host: "127.0.0.1".into(),
            database_url: Some(self.url.clone()),
            data_dir: PathBuf::from(self.data_dir.path()),
            runtime_address: None,
            embedded_runtime_storage: EmbeddedStorageKind::File,
            runtime_auth: None,
            runtime_tokens_json: None,
            runtime_tokens_file: None,
            runtime_observer_token: None,
            runtime_tls_ca_file: None,
            runtime_tls_domain: None,
            discover_sessions: false,
            stream_sse_heartbeat_ms: 15_000,
            run_lease_ms: 10_000,
            runtime_kind: "rust".into(),
            auth_api_keys: vec![],
            cors_origin: vec![],
            body_limit_bytes: 2 * 1024 * 1024,
            rate_limit_per_second: 0,
            rate_limit_burst: None,
            circuit_breaker_failures: 5,
            circuit_breaker_cooldown_ms: 5_000,
            webhook_max_attempts: 10,
            webhook_retry_base_ms: 1_000,
            webhook_timeout_ms: 10_000,
            strict_payload_fields: false,
            shutdown_grace_ms: 10_000,
            otel_exporter_otlp_endpoint: None,
            log_level: "warn".into(),
            log_format: LogFormat::Text,
        }
    }

    pub async fn start(&self) -> TestService {
        TestService::start(&self.config()).await
    }

    /// The configuration for a runtime of the test's own at `address`
    /// (dev-mode auth), instead of the embedded one.
    pub fn config_with_runtime(&self, address: impl std::fmt::Display) -> Config {
        let mut config = self.config();
        config.runtime_address = Some(address.to_string());
        config.runtime_auth = Some(macp_control_plane::config::RuntimeAuth::Dev);
        config
    }

    pub async fn store(&self) -> EventStore {
        EventStore::open(&self.url).await.expect("store opens")
    }
}

/// GETs `path` until `done` holds for its body (read models follow the
/// log, each at its own pace), or fails after [`WAIT`] with the last body.
pub async fn poll_until(
    client: &Client,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll_until_within(client, path, WAIT, done).await
}

/// As [`poll_until`], failing after `wait`.
pub async fn poll_until_within(
    client: &Client,
    path: &str,
    wait: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let (_, body) = client.get(path).await.expect("GET");
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < wait, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `read_all(after, …)` once it returns `count` events, or what it
/// returns after [`WAIT`]. On PostgreSQL the log is read only below the
/// oldest write transaction still open in the whole cluster, so another
/// test's transaction, in another database, may hide a commit a moment.
pub async fn read_all_settled(
    store: &EventStore,
    after: i64,
    count: usize,
) -> Vec<macp_control_plane::store::StoredEvent> {
    let started = std::time::Instant::now();
    loop {
        let events = store.read_all(after, 1_000).await.expect("read_all");
        if events.len() >= count || started.elapsed() > WAIT {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every projector the service runs has folded the log as far
/// as it goes now; fails after [`WAIT`] with the checkpoints.
pub async fn caught_up(store: &EventStore) {
    let projectors = macp_control_plane::projector::served(
        &macp_control_plane::live::LiveHub::new(store.clone()),
    );
    let names: Vec<&str> = projectors.iter().map(|p| p.name()).collect();
    let head = store.head_position().await.expect("head position");
    let folded = store
        .wait_for_checkpoints(&names, head, WAIT, Duration::from_millis(50))
        .await
        .expect("checkpoints");
    let checkpoints = store.checkpoints().await.expect("checkpoints");
    assert!(folded, "projectors behind the head {head}: {checkpoints:?}");
}

/// How long a test waits for the service in its own process to get
/// somewhere (a run to run, a read model to catch up) before it fails.
pub const WAIT: Duration = Duration::from_secs(30);
/// The same, where the service runs as processes of its own that are
/// killed and started again.
pub const PROCESS_WAIT: Duration = Duration::from_secs(60);
/// The same, where recovery (after a fault) or agents in processes of their
/// own (Python) stand between the test and the result.
pub const RECOVERY_WAIT: Duration = Duration::from_secs(90);

/// Submits `request` (`POST /runs`, expecting 202) and waits until the run
/// is running; answers its id.
pub async fn running(client: &Client, request: &serde_json::Value) -> String {
    running_within(client, request, WAIT).await
}

/// As [`running`], waiting `wait` at most.
pub async fn running_within(
    client: &Client,
    request: &serde_json::Value,
    wait: Duration,
) -> String {
    let (status, created) = client.post("/runs", request).await.expect("POST /runs");
    assert_eq!(status, 202, "{created}");
    let run_id = created["runId"].as_str().expect("runId").to_string();
    client
        .wait_for_status(&run_id, wait, |s| s == "running")
        .await
        .expect("the run runs");
    run_id
}

/// The run's canonical events once one of type `event_type` is among them
/// (waiting `wait` at most).
pub async fn events_until(
    client: &Client,
    run_id: &str,
    event_type: &str,
    wait: Duration,
) -> Vec<serde_json::Value> {
    let path = format!("/runs/{run_id}/events?limit=1000");
    let events = poll_until_within(client, &path, wait, |events| {
        count_type(events, event_type) > 0
    })
    .await;
    events.as_array().cloned().unwrap_or_default()
}

/// Two tests of each `scenario(engine)`, `scenario::on_sqlite` and
/// `scenario::on_postgres` (or `name::on_…` for `name => scenario`): the
/// behaviour both engines must share.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident => $scenario:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn on_sqlite() {
                super::$scenario($crate::support::Engine::Sqlite).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                super::$scenario($crate::support::Engine::Postgres).await;
            }
        }
    )+};
    ($($scenario:ident),+ $(,)?) => {
        $crate::on_both_engines!($($scenario => $scenario),+);
    };
}

/// How many items of a JSON array have `type == event_type`.
pub fn count_type(events: &serde_json::Value, event_type: &str) -> usize {
    events.as_array().map_or(0, |events| {
        events.iter().filter(|e| e["type"] == event_type).count()
    })
}

pub struct TestService {
    pub service: Service,
    pub client: Client,
}

impl TestService {
    /// The service with `config` (for a test that changes a setting).
    pub async fn start(config: &Config) -> TestService {
        let service = Service::start(config).await.expect("service starts");
        let client = Client::new(&format!("http://{}", service.address));
        TestService { service, client }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.service.address)
    }
}

/// The PostgreSQL server the suite runs against: `TEST_DATABASE_URL`
/// (`scripts/test` installs and starts one and sets it).
fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need TEST_DATABASE_URL=postgres://user:pass@host:port/db; \
             `scripts/test` installs PostgreSQL, starts it and sets it"
        )
    })
}

/// Creates an empty database for one test and returns its URL.
async fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("cp_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// Every log line the code under test writes in this test binary, at
/// debug level, for tests that check what never reaches a log.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Installs the capture as this binary's subscriber (one per binary:
    /// call it from one test only).
    pub fn install() -> CapturedLogs {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug,h2=info,hyper=info,tower=info")
            .with_writer(move || writer.clone())
            .init();
        logs
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}
