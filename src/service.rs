//! Wires the service together: event store, runtime (remote or embedded),
//! projectors, ingestion and the HTTP API. `main` and the black-box tests
//! both start the service through [`Service::start`].

use crate::config::{Config, EmbeddedStorageKind};
use crate::http::access::Access;
use crate::http::{router, AppState, Guard};
use crate::ingestion::Ingestion;
use crate::live::LiveHub;
use crate::projector;
use crate::run_repository::RunRepository;
use crate::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use crate::runtime::{Credentials, RuntimeClient};
use crate::store::EventStore;
use anyhow::Context;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running service. Dropping it stops serving, projecting and the
/// embedded runtime (runs in flight resume at the next start).
pub struct Service {
    pub address: SocketAddr,
    pub store: EventStore,
    tasks: Vec<JoinHandle<()>>,
    _embedded: Option<EmbeddedRuntime>,
}

impl Drop for Service {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Service {
    pub async fn start(config: &Config) -> anyhow::Result<Service> {
        let database_url = config.resolved_database_url();
        let store = EventStore::open(&database_url)
            .await
            .with_context(|| format!("opening the event store at {}", redact(&database_url)))?;
        tracing::info!(database = %redact(&database_url), "event store ready");

        let (runtime, embedded) = match &config.runtime_address {
            Some(address) => {
                let client = RuntimeClient::connect_lazy(
                    address,
                    config.runtime_credentials()?,
                    config.runtime_tls(address)?,
                )?;
                (client, None)
            }
            None => {
                let storage = match config.embedded_runtime_storage {
                    EmbeddedStorageKind::Memory => EmbeddedStorage::Memory,
                    EmbeddedStorageKind::File => {
                        EmbeddedStorage::Directory(config.data_dir.join("runtime"))
                    }
                };
                let embedded = EmbeddedRuntime::start(storage)
                    .await
                    .context("starting the embedded runtime")?;
                let client = RuntimeClient::connect_lazy(
                    &embedded.address.to_string(),
                    Credentials::Dev,
                    None,
                )?;
                (client, Some(embedded))
            }
        };
        let runtime_address = runtime.address().to_string();
        let repo = RunRepository::new(store.clone());
        let lease = std::time::Duration::from_millis(config.run_lease_ms.max(100));
        let instance_id = uuid::Uuid::new_v4().to_string();
        let ingestion = Ingestion::new(
            repo.clone(),
            runtime,
            &config.runtime_kind,
            &instance_id,
            lease,
        );

        let live = LiveHub::new(store.clone());
        let mut tasks: Vec<JoinHandle<()>> = vec![projector::spawn(
            store.clone(),
            projector::all(&live),
            instance_id.clone(),
            lease,
        )];
        if config.discover_sessions {
            tasks.push(crate::ingestion::discovery::spawn(
                ingestion.clone(),
                config.runtime_kind.clone(),
            ));
        }
        if store.dialect() == crate::store::Dialect::Postgres {
            tasks.push(crate::live::cluster::spawn_listener(
                store.clone(),
                live.clone(),
            ));
        }
        let resumed = ingestion.resume_unfinished().await?;
        tasks.push(ingestion.spawn_sweeper());
        if resumed > 0 {
            tracing::info!(resumed, "resuming unfinished runs");
        }

        let rate = config.rate_limit_per_second;
        let guard = Guard {
            access: Access::new(
                config.auth_api_keys.clone(),
                rate,
                config.rate_limit_burst.unwrap_or(rate.saturating_mul(2)),
            ),
            body_limit_bytes: config.body_limit_bytes,
            cors_origins: config.cors_origin.clone(),
        };
        let app = router(
            AppState {
                store: store.clone(),
                repo,
                ingestion,
                runtime_kind: config.runtime_kind.clone(),
                live,
                sse_heartbeat_ms: config.stream_sse_heartbeat_ms,
                http_counters: Default::default(),
            },
            guard,
        );
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let address = listener.local_addr()?;
        tasks.push(tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "HTTP server stopped");
            }
        }));
        tracing::info!(%address, runtime = %runtime_address, "macp-control-plane listening");
        Ok(Service {
            address,
            store,
            tasks,
            _embedded: embedded,
        })
    }
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_database_passwords() {
        assert_eq!(
            super::redact("postgres://cp:s3cret@db:5432/cp"),
            "postgres://cp:***@db:5432/cp"
        );
        assert_eq!(super::redact("sqlite://./x.db"), "sqlite://./x.db");
    }
}
