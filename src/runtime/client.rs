//! The gRPC client of the MACP runtime, authenticating each call as one
//! sender (the runtime overwrites `Envelope.sender` with the caller).

use super::breaker::{BreakerSettings, CircuitBreaker};
use super::credentials::Credentials;
use super::error::RuntimeError;
use super::pb::{
    self, macp_runtime_service_client::MacpRuntimeServiceClient, stream_session_response, Envelope,
    StreamSessionRequest,
};
use aggregates::run::{DENIAL_PREFIX, DENIAL_SEPARATOR};
use futures::StreamExt;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Streaming};

/// How long a unary call may take before it counts as `RUNTIME_TIMEOUT`.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct RuntimeClient {
    client: MacpRuntimeServiceClient<Channel>,
    address: String,
    credentials: Credentials,
    breaker: CircuitBreaker,
}

/// TLS towards the runtime: the CA that signed its certificate and the
/// name the certificate is for.
#[derive(Debug, Clone)]
pub struct RuntimeTls {
    pub ca_pem: Vec<u8>,
    pub domain: String,
}

impl RuntimeClient {
    /// A client for `host:port`. The connection is made on first use, so a
    /// runtime that is down does not stop the service from starting.
    pub fn connect_lazy(
        address: &str,
        credentials: Credentials,
        tls: Option<RuntimeTls>,
    ) -> Result<Self, RuntimeError> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(|e| RuntimeError::Unavailable(format!("bad runtime address: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if let Some(tls) = tls {
            let config = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(tls.ca_pem))
                .domain_name(tls.domain);
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| RuntimeError::Unavailable(format!("runtime TLS: {e}")))?;
        }
        Ok(RuntimeClient {
            client: MacpRuntimeServiceClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(16 * 1024 * 1024),
            address: address.to_string(),
            credentials,
            breaker: CircuitBreaker::default(),
        })
    }

    /// This client with its own circuit breaker (the default opens after 5
    /// failures in a row and tries again after 5 s).
    pub fn with_breaker(mut self, settings: BreakerSettings) -> Self {
        self.breaker = CircuitBreaker::new(settings);
        self
    }

    /// The circuit breaker every call of this client (and its clones) goes
    /// through.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Runs one call through the circuit breaker and counts its outcome.
    async fn guarded<T>(
        &self,
        call: &'static str,
        rpc: impl std::future::Future<Output = Result<T, RuntimeError>>,
    ) -> Result<T, RuntimeError> {
        self.breaker.admit(call)?;
        let result = rpc.await;
        self.breaker.record(call, &result);
        result
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A request authenticated as `sender`.
    fn as_sender<T>(
        &self,
        sender: &str,
        message: T,
        timeout: Option<Duration>,
    ) -> Result<Request<T>, RuntimeError> {
        let bearer = self.credentials.bearer_for(sender)?;
        with_bearer(&bearer, message, timeout)
    }

    /// A request authenticated as the observer (or `fallback`, a participant).
    fn as_observer<T>(
        &self,
        fallback: &str,
        message: T,
        timeout: Option<Duration>,
    ) -> Result<Request<T>, RuntimeError> {
        let bearer = self.credentials.observer_bearer(fallback)?;
        with_bearer(&bearer, message, timeout)
    }

    pub async fn initialize(&self, sender: &str) -> Result<pb::InitializeResponse, RuntimeError> {
        let bearer = self.credentials.bearer_for(sender)?;
        self.initialize_as(&bearer).await
    }

    async fn initialize_as(&self, bearer: &str) -> Result<pb::InitializeResponse, RuntimeError> {
        self.guarded("initialize", async move {
            let request = pb::InitializeRequest {
                supported_protocol_versions: vec![super::MACP_VERSION.to_string()],
                client_info: Some(pb::ClientInfo {
                    name: "macp-control-plane".into(),
                    title: "MACP control plane".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                capabilities: None,
            };
            let response = self
                .client
                .clone()
                .initialize(with_bearer(bearer, request, Some(CALL_TIMEOUT))?)
                .await?;
            Ok(response.into_inner())
        })
        .await
    }

    /// Sends one envelope as `sender`. A refusal (`ack.ok == false`) is an
    /// `Err(Refused)` carrying the runtime's code; a duplicate is `Ok`.
    pub async fn send(&self, sender: &str, envelope: Envelope) -> Result<pb::Ack, RuntimeError> {
        self.guarded("send", async move {
            let request = pb::SendRequest {
                envelope: Some(envelope),
            };
            let response = self
                .client
                .clone()
                .send(self.as_sender(sender, request, Some(CALL_TIMEOUT))?)
                .await?;
            accepted(response.into_inner().ack)
        })
        .await
    }

    pub async fn get_session(
        &self,
        sender: &str,
        session_id: &str,
    ) -> Result<pb::SessionMetadata, RuntimeError> {
        self.guarded("get_session", async move {
            let request = pb::GetSessionRequest {
                session_id: session_id.to_string(),
            };
            let response = self
                .client
                .clone()
                .get_session(self.as_observer(sender, request, Some(CALL_TIMEOUT))?)
                .await?;
            response
                .into_inner()
                .metadata
                .ok_or_else(|| RuntimeError::refused("SESSION_NOT_FOUND", "no session metadata"))
        })
        .await
    }

    /// The decision receipt of a resolved session of a standards-track
    /// mode: the `macp-receipt/1` JSON text as served (stable bytes once
    /// issued). Another session is refused with `RECEIPT_UNAVAILABLE`.
    pub async fn get_decision_receipt(
        &self,
        sender: &str,
        session_id: &str,
    ) -> Result<String, RuntimeError> {
        self.guarded("get_decision_receipt", async move {
            let request = pb::GetDecisionReceiptRequest {
                session_id: session_id.to_string(),
            };
            let response = self
                .client
                .clone()
                .get_decision_receipt(self.as_observer(sender, request, Some(CALL_TIMEOUT))?)
                .await?;
            Ok(response.into_inner().receipt_json)
        })
        .await
    }

    /// The JWKS receipts are signed under (`{"keys":[]}` when unsigned).
    pub async fn get_receipt_keys(&self) -> Result<String, RuntimeError> {
        self.guarded("get_receipt_keys", async move {
            let response = self
                .client
                .clone()
                .get_receipt_keys(self.as_service(pb::GetReceiptKeysRequest {})?)
                .await?;
            Ok(response.into_inner().jwks_json)
        })
        .await
    }

    /// Passive subscription to a session's accepted envelopes after
    /// `after_sequence` (0 = from SessionStart). The returned subscription
    /// holds our write side open: closing it would end the stream.
    pub async fn subscribe(
        &self,
        sender: &str,
        session_id: &str,
        after_sequence: u64,
    ) -> Result<SessionSubscription, RuntimeError> {
        self.guarded("subscribe", async move {
            // The subscription request, then a write side that stays open
            // and never sends (the runtime ends a stream whose client
            // half-closed): no channel, whose buffer cost ~7 KB a session.
            let subscribe = StreamSessionRequest {
                envelope: None,
                subscribe_session_id: session_id.to_string(),
                after_sequence,
            };
            let outbound = futures::stream::once(std::future::ready(subscribe))
                .chain(futures::stream::pending());
            let response = self
                .client
                .clone()
                .stream_session(self.as_observer(sender, outbound, None)?)
                .await?;
            Ok(SessionSubscription {
                inbound: response.into_inner(),
                delivered: after_sequence,
            })
        })
        .await
    }
}

impl RuntimeClient {
    fn as_service<T>(&self, message: T) -> Result<Request<T>, RuntimeError> {
        let bearer = self.credentials.service_bearer()?;
        with_bearer(&bearer, message, Some(CALL_TIMEOUT))
    }

    /// Cancels the session as `initiator` (only it, or a delegated authority, may).
    pub async fn cancel_session(
        &self,
        initiator: &str,
        session_id: &str,
        reason: &str,
    ) -> Result<pb::Ack, RuntimeError> {
        self.guarded("cancel_session", async move {
            let request = pb::CancelSessionRequest {
                session_id: session_id.into(),
                reason: reason.into(),
            };
            let response = self
                .client
                .clone()
                .cancel_session(self.as_sender(initiator, request, Some(CALL_TIMEOUT))?)
                .await?;
            accepted(response.into_inner().ack)
        })
        .await
    }

    pub async fn suspend_session(
        &self,
        initiator: &str,
        session_id: &str,
        reason: &str,
    ) -> Result<pb::Ack, RuntimeError> {
        self.guarded("suspend_session", async move {
            let request = pb::SuspendSessionRequest {
                session_id: session_id.into(),
                reason: reason.into(),
            };
            let response = self
                .client
                .clone()
                .suspend_session(self.as_sender(initiator, request, Some(CALL_TIMEOUT))?)
                .await?;
            accepted(response.into_inner().ack)
        })
        .await
    }

    pub async fn resume_session(
        &self,
        initiator: &str,
        session_id: &str,
        reason: &str,
    ) -> Result<pb::Ack, RuntimeError> {
        self.guarded("resume_session", async move {
            let request = pb::ResumeSessionRequest {
                session_id: session_id.into(),
                reason: reason.into(),
            };
            let response = self
                .client
                .clone()
                .resume_session(self.as_sender(initiator, request, Some(CALL_TIMEOUT))?)
                .await?;
            accepted(response.into_inner().ack)
        })
        .await
    }

    /// Initialize as the service identity: reachability and capabilities.
    pub async fn handshake(&self) -> Result<pb::InitializeResponse, RuntimeError> {
        let bearer = self.credentials.service_bearer()?;
        self.initialize_as(&bearer).await
    }

    pub async fn get_manifest(&self) -> Result<pb::AgentManifest, RuntimeError> {
        self.guarded("get_manifest", async move {
            let response = self
                .client
                .clone()
                .get_manifest(self.as_service(pb::GetManifestRequest::default())?)
                .await?;
            Ok(response.into_inner().manifest.unwrap_or_default())
        })
        .await
    }

    /// Standard modes and extension modes, in that order.
    pub async fn list_modes(&self) -> Result<Vec<pb::ModeDescriptor>, RuntimeError> {
        self.guarded("list_modes", async move {
            let mut client = self.client.clone();
            let mut modes = client
                .list_modes(self.as_service(pb::ListModesRequest {})?)
                .await?
                .into_inner()
                .modes;
            let extensions = client
                .list_ext_modes(self.as_service(pb::ListExtModesRequest {})?)
                .await?
                .into_inner()
                .modes;
            modes.extend(extensions);
            Ok(modes)
        })
        .await
    }

    pub async fn list_roots(&self) -> Result<Vec<pb::Root>, RuntimeError> {
        self.guarded("list_roots", async move {
            let response = self
                .client
                .clone()
                .list_roots(self.as_service(pb::ListRootsRequest {})?)
                .await?;
            Ok(response.into_inner().roots)
        })
        .await
    }

    pub async fn list_policies(
        &self,
        mode: &str,
    ) -> Result<Vec<pb::PolicyDescriptor>, RuntimeError> {
        self.guarded("list_policies", async move {
            let request = pb::ListPoliciesRequest { mode: mode.into() };
            let response = self
                .client
                .clone()
                .list_policies(self.as_service(request)?)
                .await?;
            Ok(response.into_inner().descriptors)
        })
        .await
    }

    pub async fn get_policy(&self, policy_id: &str) -> Result<pb::PolicyDescriptor, RuntimeError> {
        self.guarded("get_policy", async move {
            let request = pb::GetPolicyRequest {
                policy_id: policy_id.into(),
            };
            let response = self
                .client
                .clone()
                .get_policy(self.as_service(request)?)
                .await?;
            response.into_inner().policy_descriptor.ok_or_else(|| {
                RuntimeError::refused("UNKNOWN_POLICY_VERSION", format!("no policy {policy_id:?}"))
            })
        })
        .await
    }

    pub async fn register_policy(
        &self,
        descriptor: pb::PolicyDescriptor,
    ) -> Result<(), RuntimeError> {
        self.guarded("register_policy", async move {
            let request = pb::RegisterPolicyRequest {
                policy_descriptor: Some(descriptor),
            };
            let response = self
                .client
                .clone()
                .register_policy(self.as_service(request)?)
                .await?
                .into_inner();
            registry_answer(response.ok, response.error)
        })
        .await
    }

    pub async fn unregister_policy(&self, policy_id: &str) -> Result<(), RuntimeError> {
        self.guarded("unregister_policy", async move {
            let request = pb::UnregisterPolicyRequest {
                policy_id: policy_id.into(),
            };
            let response = self
                .client
                .clone()
                .unregister_policy(self.as_service(request)?)
                .await?
                .into_inner();
            registry_answer(response.ok, response.error)
        })
        .await
    }

    /// The runtime's session lifecycle events (first CREATED for every
    /// existing session), as the service identity.
    pub async fn watch_sessions(
        &self,
    ) -> Result<Streaming<pb::WatchSessionsResponse>, RuntimeError> {
        self.guarded("watch_sessions", async move {
            let bearer = self.credentials.service_bearer()?;
            let request = with_bearer(&bearer, pb::WatchSessionsRequest {}, None)?;
            Ok(self
                .client
                .clone()
                .watch_sessions(request)
                .await?
                .into_inner())
        })
        .await
    }
}

/// The policy registry answers `{ok, error}`; its error text starts with
/// the runtime's code when it has one.
fn registry_answer(ok: bool, error: String) -> Result<(), RuntimeError> {
    if ok {
        return Ok(());
    }
    let code = error
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .next()
        .filter(|c| c.len() > 3)
        .unwrap_or("POLICY_REGISTRY_REFUSED")
        .to_string();
    Err(RuntimeError::refused(code, error))
}

/// Longest bearer token sent: longer would pass the headers a server takes
/// (the runtime answers HTTP 431, a transport failure to the breaker).
const MAX_BEARER: usize = 4096;

/// `message` with its credential. One that cannot travel as a header (too
/// long, or not visible ASCII) is refused here as `UNAUTHENTICATED`: it
/// names a sender the runtime could never authenticate.
fn with_bearer<T>(
    bearer: &str,
    message: T,
    timeout: Option<Duration>,
) -> Result<Request<T>, RuntimeError> {
    let refused = || {
        RuntimeError::refused(
            "UNAUTHENTICATED",
            "the sender's credential cannot be sent (too long, or not visible ASCII)",
        )
    };
    if bearer.len() > MAX_BEARER {
        return Err(refused());
    }
    let value = MetadataValue::try_from(format!("Bearer {bearer}")).map_err(|_| refused())?;
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", value);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    Ok(request)
}

/// Refuses an ack that is not ok, with the runtime's own code.
fn accepted(ack: Option<pb::Ack>) -> Result<pb::Ack, RuntimeError> {
    let ack = ack
        .ok_or_else(|| RuntimeError::refused("INVALID_RESPONSE", "the runtime answered no ack"))?;
    if ack.ok {
        return Ok(ack);
    }
    let error = ack.error.unwrap_or_default();
    let code = if error.code.is_empty() {
        "REFUSED".to_string()
    } else {
        error.code
    };
    // Acks carry a denial's reasons only as details: word them as the
    // runtime's own status message does, so the run records them.
    let message = match denial_reasons(&error.details) {
        Some(reasons) => format!("{DENIAL_PREFIX}{}", reasons.join(DENIAL_SEPARATOR)),
        None => error.message,
    };
    Err(RuntimeError::refused(code, message))
}

/// The reasons of a policy denial's details (`{"reasons": [..], "denials":
/// [..]}` as JSON bytes), if it has any.
fn denial_reasons(details: &[u8]) -> Option<Vec<String>> {
    let details: serde_json::Value = serde_json::from_slice(details).ok()?;
    let reasons: Vec<String> = details["reasons"]
        .as_array()?
        .iter()
        .filter_map(|r| r.as_str().map(String::from))
        .collect();
    (!reasons.is_empty()).then_some(reasons)
}

/// An open `StreamSession` subscription.
pub struct SessionSubscription {
    /// Its request side stays open until the subscription is dropped.
    inbound: Streaming<pb::StreamSessionResponse>,
    /// The session ordinal of the last envelope delivered (the runtime's
    /// envelopes carry none: the subscription counts from `after_sequence`).
    delivered: u64,
}

/// What the subscription delivered next.
pub enum StreamItem {
    Envelope(Envelope),
    /// An inline error frame; the stream stays open.
    Error(pb::MacpError),
}

impl SessionSubscription {
    /// The session ordinal of the last envelope [`next`](Self::next)
    /// delivered (`after_sequence` before the first).
    pub fn last_ordinal(&self) -> u64 {
        self.delivered
    }

    /// The next item, or `Ok(None)` when the runtime ended the stream.
    pub async fn next(&mut self) -> Result<Option<StreamItem>, RuntimeError> {
        match self.inbound.message().await? {
            None => Ok(None),
            Some(frame) => Ok(match frame.response {
                Some(stream_session_response::Response::Envelope(envelope)) => {
                    self.delivered += 1;
                    Some(StreamItem::Envelope(envelope))
                }
                Some(stream_session_response::Response::Error(error)) => {
                    Some(StreamItem::Error(error))
                }
                None => Some(StreamItem::Error(pb::MacpError {
                    code: "EMPTY_FRAME".into(),
                    message: "stream frame with neither envelope nor error".into(),
                    ..Default::default()
                })),
            }),
        }
    }
}
