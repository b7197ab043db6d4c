//! The credential each call carries: whom it authenticates as, and the
//! bearer header built from that (refused here when it could not travel).

use super::RuntimeClient;
use crate::runtime::error::{RefusalCode, RuntimeError};
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::Request;

/// Whom a call authenticates as.
#[derive(Clone, Copy)]
pub(super) enum Caller<'a> {
    /// This sender (SessionStart's initiator, a message's `from`).
    Sender(&'a str),
    /// The observer token, or this participant when there is none.
    Observer(&'a str),
    /// The service identity: calls made on nobody's behalf.
    Service,
    /// A bearer token already looked up (before the breaker, so a missing
    /// token is not counted as a call).
    Bearer(&'a str),
}

impl RuntimeClient {
    /// `message` as a request authenticated as `caller`, with `timeout`
    /// (none for streams, which stay open).
    pub(super) fn request<T>(
        &self,
        caller: Caller<'_>,
        message: T,
        timeout: Option<Duration>,
    ) -> Result<Request<T>, RuntimeError> {
        let bearer = match caller {
            Caller::Sender(sender) => self.credentials.bearer_for(sender)?,
            Caller::Observer(fallback) => self.credentials.observer_bearer(fallback)?,
            Caller::Service => self.credentials.service_bearer()?,
            Caller::Bearer(bearer) => return with_bearer(bearer, message, timeout),
        };
        with_bearer(&bearer, message, timeout)
    }
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
            RefusalCode::Unauthenticated,
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
