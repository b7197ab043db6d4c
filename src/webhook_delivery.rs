//! Sends the webhook outbox: each due delivery is POSTed to its
//! subscription's URL, signed with HMAC-SHA256 of the body under the
//! subscription's secret (`X-MACP-Signature: sha256=<hex>`), and retried
//! with exponential backoff until it is answered 2xx or its attempts run
//! out. One instance sends at a time (a lease in the store); what it had
//! not sent when it died is still in the outbox for the next holder.

use crate::store::leases::Lease;
use crate::store::webhooks::{AttemptOutcome, DueDelivery};
use crate::store::EventStore;
use aggregates::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The lease that says which instance sends.
const LEASE: &str = "webhook_delivery";
/// Deliveries sent at once.
const BATCH: i64 = 32;
/// How often the worker looks for due deliveries when it found none.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Attempts before a delivery is marked `failed`.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each.
    pub retry_base: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body): the `X-MACP-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC accepts keys of every length")
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempts + 1`, after `attempts` failures.
fn backoff(base: Duration, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    base.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

/// Runs the delivery worker until the task is aborted.
pub fn spawn(
    store: EventStore,
    settings: DeliverySettings,
    owner: String,
    lease_ttl: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let http = match reqwest::Client::builder().timeout(settings.timeout).build() {
            Ok(http) => http,
            Err(error) => {
                tracing::error!(%error, "webhook delivery cannot start its HTTP client");
                return;
            }
        };
        let lease = Lease::new(LEASE, owner, lease_ttl);
        loop {
            let now = Timestamp::now().unix_ms();
            match lease.try_take_at(&store, now).await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::time::sleep(lease_ttl / 2).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery cannot take its lease");
                    tokio::time::sleep(lease_ttl / 2).await;
                    continue;
                }
            }
            let due = match store.due_deliveries(now, BATCH).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery cannot read the outbox");
                    tokio::time::sleep(POLL_INTERVAL).await;
                    continue;
                }
            };
            if due.is_empty() {
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            }
            futures::future::join_all(
                due.into_iter()
                    .map(|delivery| attempt(&store, &http, settings, delivery)),
            )
            .await;
        }
    })
}

/// One attempt at one delivery, and its outcome recorded.
async fn attempt(
    store: &EventStore,
    http: &reqwest::Client,
    settings: DeliverySettings,
    delivery: DueDelivery,
) {
    let sent = http
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("x-macp-event", &delivery.event_type)
        .header("x-macp-delivery", &delivery.id)
        .header(
            "x-macp-signature",
            signature(&delivery.secret, delivery.body.as_bytes()),
        )
        .body(delivery.body.clone())
        .send()
        .await;
    let (status, error) = match sent {
        Ok(response) if response.status().is_success() => {
            (Some(i64::from(response.status().as_u16())), None)
        }
        Ok(response) => (
            Some(i64::from(response.status().as_u16())),
            Some(format!("answered {}", response.status())),
        ),
        // Without the URL: it may carry a token of the receiver's.
        Err(error) => (None, Some(transport_error(&error))),
    };
    let attempts = delivery.attempts + 1;
    let outcome = match &error {
        None => AttemptOutcome::Delivered {
            at: Timestamp::now().to_string(),
        },
        Some(_) if attempts >= i64::from(settings.max_attempts) => AttemptOutcome::GaveUp,
        Some(_) => {
            let wait = backoff(settings.retry_base, attempts);
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            AttemptOutcome::RetryAt(Timestamp::now().unix_ms().saturating_add(wait_ms))
        }
    };
    if let Some(error) = &error {
        tracing::warn!(delivery = %delivery.id, attempts, %error, ?outcome, "webhook delivery failed");
    }
    if let Err(store_error) = store
        .record_attempt(&delivery.id, status, error.as_deref(), outcome)
        .await
    {
        // Not recorded: it stays due and is sent again (at least once).
        tracing::warn!(delivery = %delivery.id, error = %store_error, "cannot record a webhook attempt");
    }
}

fn transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        "transport error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 1), Duration::from_secs(1));
        assert_eq!(backoff(base, 2), Duration::from_secs(2));
        assert_eq!(backoff(base, 5), Duration::from_secs(16));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }
}
