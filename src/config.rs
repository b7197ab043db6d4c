//! Configuration: every setting is a command-line flag and an environment
//! variable (the contract's names), with defaults that run the whole system
//! on a fresh machine with no other server.

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
    /// The runtime provider name recorded on runs (`runtime.kind`).
    #[arg(long, env = "RUNTIME_KIND", default_value = "rust")]
    pub runtime_kind: String,
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
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
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
