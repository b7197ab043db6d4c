//! The gRPC client of the MACP runtime, authenticating each call as one
//! sender (the runtime overwrites `Envelope.sender` with the caller).
//!
//! This file holds the connection and the one path every unary call takes
//! (circuit breaker, credential, timeout, error mapping); the RPCs
//! themselves are grouped by job in `client/`.

mod auth;
mod handshake;
mod policies;
mod sessions;
mod streams;

pub use streams::{SessionSubscription, StreamItem};

use super::breaker::{BreakerSettings, CircuitBreaker};
use super::credentials::Credentials;
use super::error::RuntimeError;
use super::pb::macp_runtime_service_client::MacpRuntimeServiceClient;
use auth::Caller;
use std::future::Future;
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};

/// How long a unary call may take before it counts as `RUNTIME_TIMEOUT`.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The generated client the RPC closures are handed (a clone per call:
/// the tonic client needs `&mut` and clones share one channel).
type Grpc = MacpRuntimeServiceClient<Channel>;

#[derive(Clone)]
pub struct RuntimeClient {
    client: Grpc,
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

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs one call through the circuit breaker and counts its outcome.
    async fn guarded<T>(
        &self,
        call: &'static str,
        rpc: impl Future<Output = Result<T, RuntimeError>>,
    ) -> Result<T, RuntimeError> {
        self.breaker.admit(call)?;
        let result = rpc.await;
        self.breaker.record(call, &result);
        result
    }

    /// One unary RPC as `caller`, with the call timeout, not guarded: for
    /// calls made of several RPCs under one breaker entry.
    async fn unary<Req, Resp, Fut>(
        &self,
        caller: Caller<'_>,
        message: Req,
        rpc: impl FnOnce(Grpc, Request<Req>) -> Fut,
    ) -> Result<Resp, RuntimeError>
    where
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let request = self.request(caller, message, Some(CALL_TIMEOUT))?;
        Ok(rpc(self.client.clone(), request).await?.into_inner())
    }

    /// One unary RPC through the circuit breaker: `message` sent as
    /// `caller` by `rpc`, its response turned into the answer by `answer`.
    /// `answer` runs inside the breaker's count, so a refusal it finds in
    /// the response (an ack that is not ok) is counted as `refused`.
    async fn call<Req, Resp, T, Fut>(
        &self,
        name: &'static str,
        caller: Caller<'_>,
        message: Req,
        rpc: impl FnOnce(Grpc, Request<Req>) -> Fut,
        answer: impl FnOnce(Resp) -> Result<T, RuntimeError>,
    ) -> Result<T, RuntimeError>
    where
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.guarded(name, async move {
            answer(self.unary(caller, message, rpc).await?)
        })
        .await
    }
}
