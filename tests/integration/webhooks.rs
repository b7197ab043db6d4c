//! Webhooks: subscriptions are validated and never show their secret;
//! run events are delivered signed (HMAC-SHA256 in `X-MACP-Signature`),
//! retried with backoff after failures, and survive a restart of the
//! control plane in the outbox, each delivered once.

use crate::support;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use macp_control_plane::api_client::Client;
use macp_control_plane::demo;
use macp_control_plane::service::Service;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{poll_until, Engine, TestDb, WAIT};

const SECRET: &str = "a-webhook-secret-of-some-length";

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    signature: String,
    body: Bytes,
}

/// A webhook receiver: answers 500 to its first `failures` requests, then 204.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    failures: Arc<AtomicUsize>,
}

impl Receiver {
    async fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })
    }

    fn accepted(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` deliveries were accepted.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            assert!(started.elapsed() < WAIT, "accepted only {accepted:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let failing = receiver
        .failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    receiver.received.lock().unwrap().push(Received {
        event: header("x-macp-event"),
        delivery: header("x-macp-delivery"),
        signature: header("x-macp-signature"),
        body,
    });
    StatusCode::NO_CONTENT
}

/// What the signature must be, computed here independently.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks every accepted delivery: signed, typed, about `run_id`, once each.
fn check_deliveries(accepted: &[Received], run_id: &str) {
    let mut ids = HashSet::new();
    for delivery in accepted {
        assert_eq!(delivery.signature, expected_signature(&delivery.body));
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(body["type"], delivery.event.as_str());
        assert_eq!(body["id"], delivery.delivery.as_str());
        assert_eq!(body["runId"], run_id);
        assert_eq!(body["event"]["type"], delivery.event.as_str());
        assert!(
            ids.insert(delivery.delivery.clone()),
            "delivered twice: {delivery:?}"
        );
    }
    let mut events: Vec<&str> = accepted.iter().map(|d| d.event.as_str()).collect();
    events.sort();
    assert_eq!(events, ["run.completed", "run.started"]);
}

async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

#[tokio::test]
async fn subscriptions_are_checked_and_never_show_their_secret() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let client = &service.client;
    let url = "http://127.0.0.1:9/hook";
    for (body, field) in [
        (json!({"url": url}), "secret"),
        (json!({"url": url, "secret": "short"}), "secret"),
        (json!({"secret": SECRET}), "url"),
        (json!({"url": "ftp://example/x", "secret": SECRET}), "url"),
        (
            json!({"url": url, "secret": SECRET, "events": ["run.teleported"]}),
            "events[0]",
        ),
        (
            json!({"url": url, "secret": SECRET, "active": "yes"}),
            "active",
        ),
    ] {
        let (status, refused) = client.post("/webhooks", &body).await.unwrap();
        assert_eq!(status, 400, "{body} → {refused}");
        assert_eq!(refused["errors"][0]["path"], field, "{refused}");
    }

    let (status, created) = client
        .post(
            "/webhooks",
            &json!({"url": url, "secret": SECRET, "events": ["run.failed"]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["events"], json!(["run.failed"]));
    assert_eq!(created["active"], true);
    let (_, listed) = client.get("/webhooks").await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let response = reqwest::Client::new()
        .patch(format!("{}/webhooks/{id}", service.url()))
        .json(&json!({"active": false, "secret": "another-long-secret-value"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["active"], false);
    for shown in [&created, &listed, &updated] {
        let text = shown.to_string();
        assert!(
            !text.contains(SECRET) && !text.contains("another-long-secret"),
            "{text}"
        );
    }

    let deleted = reqwest::Client::new()
        .delete(format!("{}/webhooks/{id}", service.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let (status, missing) = client.get(&format!("/webhooks/{id}")).await.unwrap();
    assert_eq!(
        (status, missing["errorCode"].as_str()),
        (404, Some("WEBHOOK_NOT_FOUND"))
    );
}

#[tokio::test]
async fn run_events_are_delivered_signed_and_retried_after_failures() {
    let receiver = Receiver::default();
    receiver.failures.store(2, Ordering::SeqCst);
    let (socket, address) = listener().await;
    let _server = receiver.serve(socket).await;
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config();
    config.webhook_retry_base_ms = 50;
    let service = Service::start(&config).await.unwrap();
    let base = format!("http://{}", service.address);
    let client = Client::new(&base);
    let (status, hook) = client
        .post(
            "/webhooks",
            &json!({"url": format!("http://{address}/hook"), "secret": SECRET}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{hook}");

    let outcome = demo::run(&base).await.unwrap();
    assert_eq!(outcome.status, "completed");
    let accepted = receiver.wait_for(2).await;
    check_deliveries(&accepted, &outcome.run_id);

    // The two refused attempts are on record, and then the success. The
    // sender records an outcome after the receiver answered: the second
    // accepted delivery may be seen before its record lands.
    let hook_id = hook["id"].as_str().unwrap();
    let deliveries = support::poll_until(
        &client,
        &format!("/webhooks/{hook_id}/deliveries"),
        |deliveries| {
            deliveries
                .as_array()
                .is_some_and(|all| all.iter().all(|d| d["status"] == "delivered"))
        },
    )
    .await;
    let deliveries = deliveries.as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    let attempts: i64 = deliveries
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap())
        .sum();
    assert_eq!(attempts, 4, "2 refused + 2 accepted: {deliveries:?}");
    drop(service);
}

#[tokio::test]
async fn queued_deliveries_survive_a_restart_of_the_control_plane() {
    let db = TestDb::new(Engine::Postgres).await;
    let mut config = db.config();
    config.webhook_retry_base_ms = 50;
    config.run_lease_ms = 1_000;
    // The receiver is down while the run happens.
    let (socket, address) = listener().await;
    drop(socket);
    let service = Service::start(&config).await.unwrap();
    let base = format!("http://{}", service.address);
    let client = Client::new(&base);
    let (_, hook) = client
        .post(
            "/webhooks",
            &json!({"url": format!("http://{address}/hook"), "secret": SECRET}),
        )
        .await
        .unwrap();
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let outcome = demo::run(&base).await.unwrap();
    poll_until(&client, &format!("/webhooks/{hook_id}/deliveries"), |d| {
        d.as_array().is_some_and(|d| {
            d.len() == 2
                && d.iter()
                    .all(|d| d["attempts"].as_i64() >= Some(1) && d["status"] == "pending")
        })
    })
    .await;
    drop(service);

    // The receiver comes up, then the control plane again: the outbox is
    // still there, and each event arrives once.
    let receiver = Receiver::default();
    let socket = tokio::net::TcpListener::bind(address).await.unwrap();
    let _server = receiver.serve(socket).await;
    let service = Service::start(&config).await.unwrap();
    let accepted = receiver.wait_for(2).await;
    // Once the outbox marks both delivered, nothing more is sent: a
    // duplicate would have arrived by then.
    let client = Client::new(&format!("http://{}", service.address));
    poll_until(&client, &format!("/webhooks/{hook_id}/deliveries"), |d| {
        d.as_array()
            .is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["status"] == "delivered"))
    })
    .await;
    check_deliveries(&receiver.accepted(), &outcome.run_id);
    assert_eq!(accepted.len(), 2);
    assert_eq!(receiver.accepted().len(), 2, "each event arrives once");
    drop(service);
}
