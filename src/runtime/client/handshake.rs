//! Initialize, and what the runtime says about itself: its manifest, modes,
//! roots and the keys its decision receipts are signed under.

use super::auth::Caller;
use super::RuntimeClient;
use crate::runtime::error::RuntimeError;
use crate::runtime::pb;

impl RuntimeClient {
    pub async fn initialize(&self, sender: &str) -> Result<pb::InitializeResponse, RuntimeError> {
        let bearer = self.credentials.bearer_for(sender)?;
        self.initialize_as(&bearer).await
    }

    /// Initialize as the service identity: reachability and capabilities.
    pub async fn handshake(&self) -> Result<pb::InitializeResponse, RuntimeError> {
        let bearer = self.credentials.service_bearer()?;
        self.initialize_as(&bearer).await
    }

    async fn initialize_as(&self, bearer: &str) -> Result<pb::InitializeResponse, RuntimeError> {
        let request = pb::InitializeRequest {
            supported_protocol_versions: vec![crate::runtime::MACP_VERSION.to_string()],
            client_info: Some(pb::ClientInfo {
                name: "macp-control-plane".into(),
                title: "MACP control plane".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            capabilities: None,
        };
        self.call(
            "initialize",
            Caller::Bearer(bearer),
            request,
            |mut grpc, request| async move { grpc.initialize(request).await },
            Ok,
        )
        .await
    }

    pub async fn get_manifest(&self) -> Result<pb::AgentManifest, RuntimeError> {
        self.call(
            "get_manifest",
            Caller::Service,
            pb::GetManifestRequest::default(),
            |mut grpc, request| async move { grpc.get_manifest(request).await },
            |response| Ok(response.manifest.unwrap_or_default()),
        )
        .await
    }

    /// Standard modes and extension modes, in that order.
    pub async fn list_modes(&self) -> Result<Vec<pb::ModeDescriptor>, RuntimeError> {
        self.guarded("list_modes", async move {
            let mut modes = self
                .unary(
                    Caller::Service,
                    pb::ListModesRequest {},
                    |mut grpc, request| async move { grpc.list_modes(request).await },
                )
                .await?
                .modes;
            let extensions = self
                .unary(
                    Caller::Service,
                    pb::ListExtModesRequest {},
                    |mut grpc, request| async move { grpc.list_ext_modes(request).await },
                )
                .await?
                .modes;
            modes.extend(extensions);
            Ok(modes)
        })
        .await
    }

    pub async fn list_roots(&self) -> Result<Vec<pb::Root>, RuntimeError> {
        self.call(
            "list_roots",
            Caller::Service,
            pb::ListRootsRequest {},
            |mut grpc, request| async move { grpc.list_roots(request).await },
            |response| Ok(response.roots),
        )
        .await
    }

    /// The JWKS receipts are signed under (`{"keys":[]}` when unsigned).
    pub async fn get_receipt_keys(&self) -> Result<String, RuntimeError> {
        self.call(
            "get_receipt_keys",
            Caller::Service,
            pb::GetReceiptKeysRequest {},
            |mut grpc, request| async move { grpc.get_receipt_keys(request).await },
            |response| Ok(response.jwks_json),
        )
        .await
    }
}
