//! Who may call the API and how often: API keys (`Authorization: Bearer
//! <key>`) on every route but the open probes, a token bucket per client
//! (429 with `Retry-After`), and a JSON problem body for oversized bodies.
//!
//! Keys are compared in constant time and never logged or echoed: an error
//! says a key is missing or wrong, never which.

use super::error::AppError;
use aggregates::Actor;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Routes that answer without a key: probes and scrapes.
pub const OPEN_ROUTES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The access policy the middleware enforces.
#[derive(Clone, Default)]
pub struct Access {
    keys: Arc<Vec<String>>,
    limiter: Option<Arc<RateLimiter>>,
}

impl Access {
    /// `keys` empty: the API is open. `requests_per_second` 0: no limit.
    pub fn new(keys: Vec<String>, requests_per_second: u32, burst: u32) -> Access {
        Access {
            keys: Arc::new(keys.into_iter().filter(|k| !k.is_empty()).collect()),
            limiter: (requests_per_second > 0)
                .then(|| Arc::new(RateLimiter::new(requests_per_second, burst))),
        }
    }

    /// The key presented, if it is one of ours. Every key is compared in
    /// constant time (`subtle`), so the time taken does not tell how much
    /// of a key was right.
    fn accepts(&self, presented: &str) -> bool {
        self.keys.iter().fold(false, |found, key| {
            found | bool::from(key.as_bytes().ct_eq(presented.as_bytes()))
        })
    }
}

/// The middleware: key check, then the client's rate limit.
pub async fn enforce(State(access): State<Access>, mut request: Request, next: Next) -> Response {
    let open = OPEN_ROUTES.contains(&request.uri().path());
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    if !open && !access.keys.is_empty() {
        match presented {
            None => return unauthenticated("missing API key: send Authorization: Bearer <key>"),
            Some(key) if !access.accepts(key) => return unauthenticated("invalid API key"),
            Some(_) => {}
        }
    }
    let address = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    let principal = match presented {
        Some(key) if !access.keys.is_empty() => format!("key:{}", fingerprint(key)),
        _ => "anonymous".to_string(),
    };
    if let (false, Some(limiter)) = (open, &access.limiter) {
        let client = match (principal.as_str(), &address) {
            ("anonymous", Some(address)) => address.clone(),
            ("anonymous", None) => "unknown".to_string(),
            (key, _) => key.to_string(),
        };
        if let Err(wait_seconds) = limiter.take(&client) {
            return AppError::RateLimited {
                retry_after_seconds: wait_seconds,
            }
            .into_response();
        }
    }
    let actor = Actor {
        principal,
        request_id: request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        client: address,
    };
    // Handlers take it as [`Caller`] and hand it to their command.
    request.extensions_mut().insert(actor);
    next.run(request).await
}

/// The caller of the request being served, as the access layer named it
/// (`anonymous` if the layer did not run, as for a router built without
/// it): the actor a command records in the audit log.
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(
            parts
                .extensions
                .get::<Actor>()
                .cloned()
                .unwrap_or_else(|| Actor {
                    principal: "anonymous".into(),
                    request_id: None,
                    client: None,
                }),
        ))
    }
}

fn unauthenticated(message: &'static str) -> Response {
    AppError::Unauthenticated(message).into_response()
}

/// A short, non-reversible, stable name for a key (the first 12 hex
/// digits of its SHA-256): who the audit log says acted, and the rate
/// limiter's bucket, without the key itself being kept anywhere.
pub fn fingerprint(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..6])
}

/// Turns the body-limit layer's bare 413 into the API's problem body.
pub async fn explain_payload_too_large(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return AppError::PayloadTooLarge.into_response();
    }
    response
}

/// A rate limit per client (governor's GCRA, the token bucket's
/// equivalent): `rate` requests a second, at most `burst` at once.
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    /// When idle clients were last forgotten: a scan of every client, so
    /// at most once a second, however many requests arrive.
    pruned: Mutex<Instant>,
}

/// Clients remembered at most; past it idle clients (whose limit is whole
/// again) are forgotten.
const MAX_CLIENTS: usize = 10_000;
/// How often idle clients are forgotten at most.
const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

impl RateLimiter {
    /// `rate` and `burst` of 0 count as 1 (the caller turns a 0 rate into
    /// no limiter at all).
    pub fn new(rate: u32, burst: u32) -> RateLimiter {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        RateLimiter {
            limiter: governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            pruned: Mutex::new(Instant::now()),
        }
    }

    /// Admits a request of `client`, or answers how many whole seconds
    /// (at least 1) until one is admitted again.
    pub fn take(&self, client: &str) -> Result<(), u64> {
        if self.limiter.len() >= MAX_CLIENTS {
            let mut pruned = self
                .pruned
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if pruned.elapsed() >= PRUNE_INTERVAL {
                self.limiter.retain_recent();
                *pruned = Instant::now();
            }
        }
        self.limiter
            .check_key(&client.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                wait.as_secs_f64().ceil().max(1.0) as u64
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_says_when_to_retry() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert_eq!(limiter.take("a"), Ok(()));
        }
        assert_eq!(limiter.take("a"), Err(1));
        assert_eq!(limiter.take("b"), Ok(()), "clients are limited apart");
    }

    #[test]
    fn keys_match_exactly() {
        let access = Access::new(vec!["k-1".into(), String::new()], 0, 0);
        assert!(access.accepts("k-1"));
        assert!(!access.accepts("k-2"));
        assert!(!access.accepts("k-1 "));
        assert!(!access.accepts(""), "an empty configured key is no key");
    }
}
