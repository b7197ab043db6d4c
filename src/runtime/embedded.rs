//! The MACP reference runtime, run in-process on a loopback port so that
//! one command starts the whole system with no other server.
//!
//! Storage is the runtime's own file backend under the data directory, so
//! open sessions survive a restart and can be re-subscribed from any
//! ordinal. Terminal session logs are kept (not compacted), so a run can be
//! resumed or audited after its session ended. Authentication is dev mode:
//! `Bearer <sender>` authenticates as that sender, which is safe only
//! because the port is bound to loopback.

use macp_runtime::log_store::LogStore;
use macp_runtime::macp_core::receipt::{KeySet, ReceiptSigner};
use macp_runtime::mode_registry::ModeRegistry;
use macp_runtime::policy::registry::PolicyRegistry;
use macp_runtime::receipts::ReceiptConfig;
use macp_runtime::registry::SessionRegistry;
use macp_runtime::runtime::Runtime;
use macp_runtime::security::SecurityLayer;
use macp_runtime::server::MacpServer;
use macp_runtime::storage::{
    cleanup_temp_files, migrate_if_needed, FileBackend, MemoryBackend, StorageBackend,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How often the embedded runtime expires sessions past their TTL (the
/// standalone binary's maintenance loop does the same every 60 s).
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(1);

/// Where the embedded runtime keeps its sessions.
#[derive(Debug, Clone)]
pub enum EmbeddedStorage {
    Memory,
    Directory(PathBuf),
}

/// How a runtime started by [`EmbeddedRuntime::start_secured`] authenticates
/// callers and serves: static bearer tokens (the runtime's
/// `MACP_AUTH_TOKENS_JSON` format), a TLS certificate and key (PEM), and
/// the key it signs decision receipts with.
#[derive(Clone, Default)]
pub struct RuntimeSecurity {
    pub static_tokens_json: Option<String>,
    pub tls_cert_pem: Option<Vec<u8>>,
    pub tls_key_pem: Option<Vec<u8>>,
    /// Without it, the runtime's own variables decide
    /// (`MACP_RECEIPT_SIGNING_KEY[_PATH]`, `MACP_RECEIPT_SIGNING_KID`,
    /// `MACP_RECEIPT_PUBLIC_KEYS_PATH`, `MACP_RUNTIME_ID`; unset: unsigned).
    pub receipt_key: Option<ReceiptKey>,
}

/// A decision-receipt signing key, as the runtime reads one.
#[derive(Clone)]
pub struct ReceiptKey {
    /// A PKCS#8 PEM or a private OKP JWK (Ed25519).
    pub key_text: String,
    /// The key's `kid` (required for a PEM).
    pub kid: Option<String>,
    /// The receipts' issuer is `runtime:<runtime_id>`.
    pub runtime_id: String,
}

/// The runtime's receipt configuration: `key`, else its variables.
fn receipt_config(key: Option<&ReceiptKey>) -> anyhow::Result<ReceiptConfig> {
    let config = match key {
        None => ReceiptConfig::from_env(),
        Some(key) => {
            let signer = ReceiptSigner::load(&key.key_text, key.kid.as_deref())
                .map_err(|e| anyhow::anyhow!("receipt signing key: {e}"))?;
            ReceiptConfig::new(Some(signer), KeySet::new(), Some(&key.runtime_id))
        }
    };
    config.map_err(|e| anyhow::anyhow!("decision receipts: {e}"))
}

/// A running in-process runtime. Dropping it stops the server.
pub struct EmbeddedRuntime {
    pub address: SocketAddr,
    server: JoinHandle<()>,
    maintenance: JoinHandle<()>,
}

impl Drop for EmbeddedRuntime {
    fn drop(&mut self) {
        self.server.abort();
        self.maintenance.abort();
    }
}

impl EmbeddedRuntime {
    /// The embedded default: dev-mode auth on plaintext loopback.
    pub async fn start(storage: EmbeddedStorage) -> anyhow::Result<Self> {
        Self::start_secured(storage, RuntimeSecurity::default()).await
    }

    /// A runtime that authenticates with static tokens and/or serves TLS,
    /// as a production runtime would (used to test the production client).
    pub async fn start_secured(
        storage: EmbeddedStorage,
        security: RuntimeSecurity,
    ) -> anyhow::Result<Self> {
        Self::serve(storage, security, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// The embedded default on a chosen address (the `runtime` command: a
    /// runtime process that can be stopped and started again where its
    /// clients expect it).
    pub async fn start_on(storage: EmbeddedStorage, bind: SocketAddr) -> anyhow::Result<Self> {
        Self::serve(storage, RuntimeSecurity::default(), bind).await
    }

    async fn serve(
        storage: EmbeddedStorage,
        security: RuntimeSecurity,
        bind: SocketAddr,
    ) -> anyhow::Result<Self> {
        let registry = Arc::new(SessionRegistry::new());
        let log_store = Arc::new(LogStore::new());
        let mode_registry = Arc::new(ModeRegistry::build_default(Arc::new(
            macp_runtime::policy::DefaultPolicyEvaluator,
        )));
        let policy_registry = Arc::new(PolicyRegistry::new());
        let backend: Arc<dyn StorageBackend> = match &storage {
            EmbeddedStorage::Memory => Arc::new(MemoryBackend),
            EmbeddedStorage::Directory(dir) => {
                std::fs::create_dir_all(dir)?;
                migrate_if_needed(dir)?;
                cleanup_temp_files(dir);
                let backend = Arc::new(FileBackend::new(dir.clone())?);
                let report = macp_runtime::recovery::recover_sessions(
                    backend.as_ref(),
                    &registry,
                    &log_store,
                    &mode_registry,
                    &policy_registry,
                    false,
                )
                .await?;
                tracing::info!(?report, dir = %dir.display(), "embedded runtime recovered sessions");
                backend
            }
        };
        let runtime = Arc::new(
            Runtime::with_registries(backend, registry, log_store, mode_registry, policy_registry)
                .with_compact_terminal_logs(false)
                .with_receipt_config(receipt_config(security.receipt_key.as_ref())?),
        );
        let mut layer = SecurityLayer::dev_mode();
        if let Some(tokens) = &security.static_tokens_json {
            layer = layer
                .with_static_tokens(tokens)
                .map_err(|e| anyhow::anyhow!("runtime static tokens: {e}"))?;
        }
        let service = macp_runtime::pb::macp_runtime_service_server::MacpRuntimeServiceServer::new(
            MacpServer::new(Arc::clone(&runtime), layer),
        )
        .max_decoding_message_size(16 * 1024 * 1024);
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let mut builder = tonic::transport::Server::builder();
        if let (Some(cert), Some(key)) = (&security.tls_cert_pem, &security.tls_key_pem) {
            let identity = tonic::transport::Identity::from_pem(cert, key);
            builder =
                builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
        }
        let server = tokio::spawn(async move {
            let result = builder
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
            if let Err(error) = result {
                tracing::error!(%error, "embedded runtime stopped");
            }
        });
        let maintenance = tokio::spawn(async move {
            let mut tick = tokio::time::interval(MAINTENANCE_INTERVAL);
            loop {
                tick.tick().await;
                runtime.cleanup_expired_sessions().await;
                runtime.sweep_due_synthetic_accepts().await;
            }
        });
        tracing::info!(%address, ?storage, "embedded MACP runtime listening");
        Ok(EmbeddedRuntime {
            address,
            server,
            maintenance,
        })
    }
}
