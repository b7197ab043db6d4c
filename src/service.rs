//! Wires the service together: event store, runtime (remote or embedded),
//! projectors, ingestion and the HTTP API. `main` and the black-box tests
//! both start the service through [`Service::start`].

use crate::commands::Commands;
use crate::config::Config;
use crate::http::access::Access;
use crate::http::{router, AppState, Guard};
use crate::ingestion::Ingestion;
use crate::live::LiveHub;
use crate::projector;
use crate::run_repository::RunRepository;
use crate::runtime::embedded::EmbeddedRuntime;
use crate::runtime::{Credentials, RuntimeClient};
use crate::store::leases::Lease;
use crate::store::EventStore;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A running service. Dropping it stops serving, projecting and the
/// embedded runtime (runs in flight resume at the next start).
pub struct Service {
    pub address: SocketAddr,
    pub store: EventStore,
    /// Background work that stops when the service does (projectors,
    /// sweeper, discovery, cluster listener, webhook delivery).
    tasks: Vec<JoinHandle<()>>,
    http: JoinHandle<()>,
    /// Tells the HTTP server to stop accepting and drain.
    stop_accepting: Arc<Notify>,
    repo: RunRepository,
    ingestion: Ingestion,
    /// The projectors' leases (this instance their owner), released at
    /// shutdown so that a restart follows the log at once.
    projector_leases: Vec<Lease>,
    _embedded: Option<EmbeddedRuntime>,
}

impl Drop for Service {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.http.abort();
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
                )?
                .with_breaker(config.breaker_settings());
                (client, None)
            }
            None => {
                let embedded = EmbeddedRuntime::start(config.embedded_runtime_storage())
                    .await
                    .context("starting the embedded runtime")?;
                let client = RuntimeClient::connect_lazy(
                    &embedded.address.to_string(),
                    Credentials::Dev,
                    None,
                )?
                .with_breaker(config.breaker_settings());
                (client, Some(embedded))
            }
        };
        let runtime_address = runtime.address().to_string();
        let repo = RunRepository::new(store.clone());
        let lease = Duration::from_millis(config.run_lease_ms.max(100));
        let instance_id = uuid::Uuid::new_v4().to_string();
        let ingestion = Ingestion::new(
            repo.clone(),
            runtime,
            &config.runtime_kind,
            &instance_id,
            lease,
        );

        let live = LiveHub::new(store.clone());
        let projector_health = projector::ProjectorHealth::default();
        let projectors = projector::leased(projector::served(&live), &instance_id, lease);
        let projector_leases = projectors.iter().map(|(_, lease)| lease.clone()).collect();
        let mut tasks: Vec<JoinHandle<()>> = vec![projector::spawn(
            store.clone(),
            projectors,
            lease,
            projector_health.clone(),
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
        tasks.push(crate::webhook_delivery::spawn(
            store.clone(),
            config.webhook_delivery(),
            instance_id.clone(),
            lease,
        ));
        let resumed = ingestion.resume_unfinished().await?;
        tasks.push(ingestion.spawn_lease_keeper());
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
                commands: Commands::new(
                    repo.clone(),
                    ingestion.clone(),
                    live.clone(),
                    config.strict_payload_fields,
                ),
                store: store.clone(),
                runtime: ingestion.runtime().clone(),
                repo: repo.clone(),
                ingestion: ingestion.clone(),
                runtime_kind: config.runtime_kind.clone(),
                live,
                sse_heartbeat_ms: config.stream_sse_heartbeat_ms,
                http_metrics: Default::default(),
                projector_health,
            },
            guard,
        );
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let address = listener.local_addr()?;
        let stop_accepting = Arc::new(Notify::new());
        let stopped = Arc::clone(&stop_accepting);
        let http = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.notified().await });
            if let Err(error) = served.await {
                tracing::error!(%error, "HTTP server stopped");
            }
        });
        tracing::info!(%address, runtime = %runtime_address, "macp-control-plane listening");
        Ok(Service {
            address,
            store,
            tasks,
            http,
            stop_accepting,
            repo,
            ingestion,
            projector_leases,
            _embedded: embedded,
        })
    }

    /// Graceful shutdown: stop accepting requests, let the appends in flight
    /// finish and admit no more, hand every run this instance drives back
    /// (its lease released, so a restart or another instance resumes it at
    /// once), and give open requests until `grace` to finish. Nothing is
    /// lost either way: a run resumes after its last recorded envelope.
    pub async fn shutdown(mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.stop_accepting.notify_one();
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if tokio::time::timeout_at(deadline, self.repo.close())
            .await
            .is_err()
        {
            tracing::warn!("appends still in flight at the end of the grace period");
        }
        self.ingestion.release_leases().await;
        // The projector tasks are stopped: their leases are free for the
        // next instance at once, not after they lapse.
        for lease in &self.projector_leases {
            if let Err(error) = lease.release(&self.store).await {
                tracing::warn!(lease = %lease.name, %error, "cannot release the projector's lease (it will expire)");
            }
        }
        // Live streams (SSE) stay open until their clients leave, so the
        // drain is bounded by the grace period.
        if tokio::time::timeout_at(deadline, &mut self.http)
            .await
            .is_err()
        {
            tracing::info!("closing the connections still open after the grace period");
        }
        tracing::info!("shut down");
    }
}

/// Resolves at SIGINT or SIGTERM, the signals that stop the service.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
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
