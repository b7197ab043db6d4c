//! Configuration: every setting is a command-line flag and an environment
//! variable (the contract's names), with defaults that run the whole system
//! on a fresh machine with no other server.

use crate::runtime::breaker::BreakerSettings;
use crate::runtime::embedded::EmbeddedStorage;
use crate::runtime::{Credentials, RuntimeTls};
use crate::webhook_delivery::DeliverySettings;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// HTTP port.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,
    /// HTTP bind address.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Event store: `postgres://…` or `sqlite://…`. Unset: a SQLite file in DATA_DIR.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the embedded defaults (SQLite file, embedded runtime's sessions).
    #[arg(long, env = "DATA_DIR", default_value = "./.macp-cp")]
    pub data_dir: PathBuf,
    /// MACP runtime `host:port`. Unset: the reference runtime runs in-process.
    #[arg(long, env = "RUNTIME_ADDRESS")]
    pub runtime_address: Option<String>,
    /// Where the embedded runtime keeps sessions: `file` (under DATA_DIR, survives restarts) or `memory`.
    #[arg(long, env = "EMBEDDED_RUNTIME_STORAGE", value_enum, default_value_t = EmbeddedStorageKind::File)]
    pub embedded_runtime_storage: EmbeddedStorageKind,
    /// How calls authenticate to the runtime: `dev` (`Bearer <sender>`, the
    /// runtime's development mode) or `tokens` (RUNTIME_TOKENS_*). Default:
    /// `dev` for the embedded runtime, `tokens` for RUNTIME_ADDRESS.
    #[arg(long, env = "RUNTIME_AUTH", value_enum)]
    pub runtime_auth: Option<RuntimeAuth>,
    /// Runtime bearer tokens per sender, a JSON object `{"sender": "token"}`.
    #[arg(long, env = "RUNTIME_TOKENS_JSON", hide_env_values = true)]
    pub runtime_tokens_json: Option<String>,
    /// A file holding the RUNTIME_TOKENS_JSON object.
    #[arg(long, env = "RUNTIME_TOKENS_FILE")]
    pub runtime_tokens_file: Option<PathBuf>,
    /// The observer token used to subscribe to sessions and watch them.
    #[arg(long, env = "RUNTIME_OBSERVER_TOKEN", hide_env_values = true)]
    pub runtime_observer_token: Option<String>,
    /// PEM file of the CA that signed the runtime's certificate: enables TLS.
    #[arg(long, env = "RUNTIME_TLS_CA_FILE")]
    pub runtime_tls_ca_file: Option<PathBuf>,
    /// The name on the runtime's certificate (default: RUNTIME_ADDRESS's host).
    #[arg(long, env = "RUNTIME_TLS_DOMAIN")]
    pub runtime_tls_domain: Option<String>,
    /// Watch the runtime's sessions and open an observe-only run for each
    /// session this control plane did not start.
    #[arg(long, env = "DISCOVER_SESSIONS", default_value_t = false)]
    pub discover_sessions: bool,
    /// How long a run's ingestion lease lasts without renewal; after an
    /// instance dies, another takes its runs over once their leases expire.
    #[arg(long, env = "RUN_LEASE_MS", default_value_t = 10_000)]
    pub run_lease_ms: u64,
    /// Default interval of SSE heartbeats (a client may ask for another with `heartbeatMs`).
    #[arg(long, env = "STREAM_SSE_HEARTBEAT_MS", default_value_t = 15_000)]
    pub stream_sse_heartbeat_ms: u64,
    /// The runtime provider name recorded on runs (`runtime.kind`).
    #[arg(long, env = "RUNTIME_KIND", default_value = "rust")]
    pub runtime_kind: String,
    /// API keys, comma-separated: when set, every route but /healthz,
    /// /readyz and /metrics needs `Authorization: Bearer <key>`.
    #[arg(
        long,
        env = "AUTH_API_KEYS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub auth_api_keys: Vec<String>,
    /// Origins allowed to call the API from a browser, comma-separated, or
    /// `*`. Unset: no CORS headers (same-origin only).
    #[arg(long, env = "CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Requests per second per client (API key, else IP); 0: no limit.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 0)]
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once above its rate (default: twice the rate).
    #[arg(long, env = "RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Runtime failures in a row (unreachable or timed out) that open the
    /// circuit breaker: calls then fail at once with RUNTIME_UNAVAILABLE.
    #[arg(long, env = "CIRCUIT_BREAKER_FAILURES", default_value_t = 5)]
    pub circuit_breaker_failures: u32,
    /// How long the circuit stays open before one trial call goes through.
    #[arg(long, env = "CIRCUIT_BREAKER_COOLDOWN_MS", default_value_t = 5_000)]
    pub circuit_breaker_cooldown_ms: u64,
    /// Attempts at a webhook delivery before it is marked failed.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub webhook_max_attempts: u32,
    /// Wait after a delivery's first failed attempt; it doubles after each
    /// (at most an hour).
    #[arg(long, env = "WEBHOOK_RETRY_BASE_MS", default_value_t = 1_000)]
    pub webhook_retry_base_ms: u64,
    /// How long one delivery attempt may take.
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,
    /// Refuse (400, naming each) the fields of a `proto` payload's JSON that
    /// its message type does not know, instead of dropping them with a
    /// warning and keeping them on the `message.sent` event.
    #[arg(long, env = "STRICT_PAYLOAD_FIELDS", default_value_t = false)]
    pub strict_payload_fields: bool,
    /// At SIGTERM or SIGINT: how long open requests get to finish after the
    /// appends in flight have (runs are handed over at once either way).
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// An OTLP collector (HTTP, protobuf; e.g. `http://127.0.0.1:4318`):
    /// spans are exported there, those about a run in the run's trace.
    /// Unset: no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// Log filter, e.g. `info` or `macp_control_plane=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbeddedStorageKind {
    File,
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeAuth {
    Dev,
    Tokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The circuit breaker in front of the runtime.
    pub fn breaker_settings(&self) -> BreakerSettings {
        BreakerSettings {
            failure_threshold: self.circuit_breaker_failures.max(1),
            cooldown: std::time::Duration::from_millis(self.circuit_breaker_cooldown_ms),
        }
    }

    /// How webhook deliveries are sent and retried.
    pub fn webhook_delivery(&self) -> DeliverySettings {
        DeliverySettings {
            max_attempts: self.webhook_max_attempts.max(1),
            retry_base: std::time::Duration::from_millis(self.webhook_retry_base_ms),
            timeout: std::time::Duration::from_millis(self.webhook_timeout_ms.max(1)),
        }
    }

    /// Where the embedded runtime keeps its sessions.
    pub fn embedded_runtime_storage(&self) -> EmbeddedStorage {
        match self.embedded_runtime_storage {
            EmbeddedStorageKind::Memory => EmbeddedStorage::Memory,
            EmbeddedStorageKind::File => EmbeddedStorage::Directory(self.data_dir.join("runtime")),
        }
    }

    /// The event store URL: DATABASE_URL, else `DATA_DIR/control-plane.db`.
    /// A SQLite file is created when missing.
    pub fn resolved_database_url(&self) -> String {
        let url = self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join("control-plane.db").display()
            )
        });
        if url.starts_with("sqlite:") && !url.contains("mode=") {
            let separator = if url.contains('?') { '&' } else { '?' };
            return format!("{url}{separator}mode=rwc");
        }
        url
    }
}

impl Config {
    /// How this service authenticates to an external runtime.
    pub fn runtime_credentials(&self) -> anyhow::Result<Credentials> {
        let tokens = match (&self.runtime_tokens_json, &self.runtime_tokens_file) {
            (Some(json), _) => Some(json.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading RUNTIME_TOKENS_FILE {}", file.display()))?,
            ),
            (None, None) => None,
        };
        match (self.runtime_auth.unwrap_or(RuntimeAuth::Tokens), tokens) {
            (RuntimeAuth::Dev, _) => Ok(Credentials::Dev),
            (RuntimeAuth::Tokens, Some(json)) => {
                Credentials::from_token_map(&json, self.runtime_observer_token.clone())
                    .map_err(anyhow::Error::msg)
            }
            (RuntimeAuth::Tokens, None) => bail!(
                "RUNTIME_ADDRESS is set but no runtime credentials are: set RUNTIME_TOKENS_JSON or \
                 RUNTIME_TOKENS_FILE (sender → token), or RUNTIME_AUTH=dev for a development runtime"
            ),
        }
    }

    /// TLS towards an external runtime, when a CA file is configured.
    pub fn runtime_tls(&self, address: &str) -> anyhow::Result<Option<RuntimeTls>> {
        let Some(ca_file) = &self.runtime_tls_ca_file else {
            return Ok(None);
        };
        let ca_pem = std::fs::read(ca_file)
            .with_context(|| format!("reading RUNTIME_TLS_CA_FILE {}", ca_file.display()))?;
        let domain = match &self.runtime_tls_domain {
            Some(domain) => domain.clone(),
            None => address
                .rsplit_once(':')
                .map_or(address, |(host, _)| host)
                .to_string(),
        };
        Ok(Some(RuntimeTls { ca_pem, domain }))
    }
}
