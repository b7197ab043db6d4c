//! The two calls that stay open: a session's accepted envelopes
//! (`StreamSession`, passive subscription) and the runtime's session
//! lifecycle events (`WatchSessions`).

use super::auth::Caller;
use super::RuntimeClient;
use crate::runtime::error::RuntimeError;
use crate::runtime::pb::{self, stream_session_response, Envelope, StreamSessionRequest};
use futures::StreamExt;
use tonic::Streaming;

impl RuntimeClient {
    /// Passive subscription to a session's accepted envelopes after the
    /// one at `after_ordinal` (0 = from SessionStart). The returned
    /// subscription holds our write side open: closing it would end the
    /// stream.
    pub async fn subscribe(
        &self,
        sender: &str,
        session_id: &str,
        after_ordinal: u64,
    ) -> Result<SessionSubscription, RuntimeError> {
        self.guarded("subscribe", async move {
            // The subscription request, then a write side that stays open
            // and never sends (the runtime ends a stream whose client
            // half-closed): no channel, whose buffer cost ~7 KB a session.
            let subscribe = StreamSessionRequest {
                envelope: None,
                subscribe_session_id: session_id.to_string(),
                after_sequence: after_ordinal,
            };
            let outbound = futures::stream::once(std::future::ready(subscribe))
                .chain(futures::stream::pending());
            let response = self
                .client
                .clone()
                .stream_session(self.request(Caller::Observer(sender), outbound, None)?)
                .await?;
            Ok(SessionSubscription {
                inbound: response.into_inner(),
                ordinal: after_ordinal,
            })
        })
        .await
    }

    /// The runtime's session lifecycle events (first CREATED for every
    /// existing session), as the service identity.
    pub async fn watch_sessions(
        &self,
    ) -> Result<Streaming<pb::WatchSessionsResponse>, RuntimeError> {
        self.guarded("watch_sessions", async move {
            let request = self.request(Caller::Service, pb::WatchSessionsRequest {}, None)?;
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

/// An open `StreamSession` subscription.
pub struct SessionSubscription {
    /// Its request side stays open until the subscription is dropped.
    inbound: Streaming<pb::StreamSessionResponse>,
    /// The session ordinal of the last envelope delivered (the runtime's
    /// envelopes carry none: the subscription counts from where it
    /// started, the runtime's `after_sequence`).
    ordinal: u64,
}

/// What the subscription delivered next.
pub enum StreamItem {
    Envelope(Envelope),
    /// An inline error frame; the stream stays open.
    Error(pb::MacpError),
}

impl SessionSubscription {
    /// The session ordinal of the last envelope [`next`](Self::next)
    /// delivered (the one subscribed after, before the first).
    pub fn ordinal(&self) -> u64 {
        self.ordinal
    }

    /// The next item, or `Ok(None)` when the runtime ended the stream.
    pub async fn next(&mut self) -> Result<Option<StreamItem>, RuntimeError> {
        match self.inbound.message().await? {
            None => Ok(None),
            Some(frame) => Ok(match frame.response {
                Some(stream_session_response::Response::Envelope(envelope)) => {
                    self.ordinal += 1;
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
