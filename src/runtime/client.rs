//! The gRPC client of the MACP runtime, authenticating each call as one
//! sender (the runtime overwrites `Envelope.sender` with the caller).

use super::error::RuntimeError;
use super::pb::{
    self, macp_runtime_service_client::MacpRuntimeServiceClient, stream_session_response, Envelope,
    StreamSessionRequest,
};
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Streaming};

/// How long a unary call may take before it counts as `RUNTIME_TIMEOUT`.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct RuntimeClient {
    client: MacpRuntimeServiceClient<Channel>,
    address: String,
}

impl RuntimeClient {
    /// A client for `host:port`. The connection is made on first use, so a
    /// runtime that is down does not stop the service from starting.
    pub fn connect_lazy(address: &str) -> Result<Self, RuntimeError> {
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| RuntimeError::Unavailable(format!("bad runtime address: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        Ok(RuntimeClient {
            client: MacpRuntimeServiceClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(16 * 1024 * 1024),
            address: address.to_string(),
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// A request authenticated as `sender` (dev-mode bearer identity).
    fn as_sender<T>(&self, sender: &str, message: T, timeout: Option<Duration>) -> Request<T> {
        let mut request = Request::new(message);
        if let Ok(value) = MetadataValue::try_from(format!("Bearer {sender}")) {
            request.metadata_mut().insert("authorization", value);
        }
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        request
    }

    pub async fn initialize(&self, sender: &str) -> Result<pb::InitializeResponse, RuntimeError> {
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
            .initialize(self.as_sender(sender, request, Some(CALL_TIMEOUT)))
            .await?;
        Ok(response.into_inner())
    }

    /// Sends one envelope as `sender`. A refusal (`ack.ok == false`) is an
    /// `Err(Refused)` carrying the runtime's code; a duplicate is `Ok`.
    pub async fn send(&self, sender: &str, envelope: Envelope) -> Result<pb::Ack, RuntimeError> {
        let request = pb::SendRequest {
            envelope: Some(envelope),
        };
        let response = self
            .client
            .clone()
            .send(self.as_sender(sender, request, Some(CALL_TIMEOUT)))
            .await?;
        let ack = response
            .into_inner()
            .ack
            .ok_or_else(|| RuntimeError::refused("INVALID_RESPONSE", "Send answered no ack"))?;
        if ack.ok {
            return Ok(ack);
        }
        let error = ack.error.clone().unwrap_or_default();
        Err(RuntimeError::refused(
            if error.code.is_empty() {
                "MESSAGE_REFUSED".to_string()
            } else {
                error.code
            },
            error.message,
        ))
    }

    pub async fn get_session(
        &self,
        sender: &str,
        session_id: &str,
    ) -> Result<pb::SessionMetadata, RuntimeError> {
        let request = pb::GetSessionRequest {
            session_id: session_id.to_string(),
        };
        let response = self
            .client
            .clone()
            .get_session(self.as_sender(sender, request, Some(CALL_TIMEOUT)))
            .await?;
        response
            .into_inner()
            .metadata
            .ok_or_else(|| RuntimeError::refused("SESSION_NOT_FOUND", "no session metadata"))
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
        let (writer, outbound) = mpsc::channel::<StreamSessionRequest>(1);
        writer
            .send(StreamSessionRequest {
                envelope: None,
                subscribe_session_id: session_id.to_string(),
                after_sequence,
            })
            .await
            .map_err(|_| RuntimeError::Unavailable("subscription writer closed".into()))?;
        let outbound = tokio_stream::wrappers::ReceiverStream::new(outbound);
        let response = self
            .client
            .clone()
            .stream_session(self.as_sender(sender, outbound, None))
            .await?;
        Ok(SessionSubscription {
            inbound: response.into_inner(),
            _writer: writer,
        })
    }
}

/// An open `StreamSession` subscription.
pub struct SessionSubscription {
    inbound: Streaming<pb::StreamSessionResponse>,
    /// Never used to send, only kept: dropping it half-closes the stream,
    /// and the runtime ends a stream whose client half-closed.
    _writer: mpsc::Sender<StreamSessionRequest>,
}

/// What the subscription delivered next.
pub enum StreamItem {
    Envelope(Envelope),
    /// An inline error frame; the stream stays open.
    Error(pb::MacpError),
}

impl SessionSubscription {
    /// The next item, or `Ok(None)` when the runtime ended the stream.
    pub async fn next(&mut self) -> Result<Option<StreamItem>, RuntimeError> {
        match self.inbound.message().await? {
            None => Ok(None),
            Some(frame) => Ok(match frame.response {
                Some(stream_session_response::Response::Envelope(envelope)) => {
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
