//! Lists and references stay honest: a keyset cursor neither repeats nor
//! skips an entry when rows arrive between pages, and nothing points at a
//! deleted run (its idempotency key makes a new run, live streams on it
//! end, its webhook deliveries are cancelled, batches and the dashboard do
//! not list it). On SQLite and PostgreSQL.

use crate::support;

use macp_control_plane::demo::decision_request;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use support::sse::SseClient;
use support::{poll_until, running, Engine, TestDb, WAIT};

fn entry_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].to_string())
        .collect()
}

async fn cursors_while_writing(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    for _ in 0..3 {
        running(client, &decision_request()).await;
    }
    // Three run.create entries so far; page through them by twos while a
    // fourth command arrives between the pages.
    let first = poll_until(client, "/audit?limit=2", |p| p["total"] == 3).await;
    let cursor = first["nextCursor"].as_str().expect("a cursor").to_string();
    running(client, &decision_request()).await;
    poll_until(client, "/audit?limit=1", |p| p["total"] == 4).await;
    let (_, second) = client
        .get(&format!("/audit?limit=2&cursor={}", urlencode(&cursor)))
        .await
        .unwrap();
    let (a, b) = (entry_ids(&first), entry_ids(&second));
    assert_eq!(
        b.len(),
        1,
        "the one older entry, not the new one again: {second}"
    );
    assert!(
        a.iter().all(|id| !b.contains(id)),
        "no entry twice: {a:?} {b:?}"
    );
    assert!(second.get("nextCursor").is_none(), "the last page");
    // Offset paging stays where the client asks for it.
    let (_, by_offset) = client.get("/audit?limit=2&offset=2").await.unwrap();
    assert_eq!(by_offset["data"].as_array().unwrap().len(), 2);

    // GET /events: oldest first, the cursor an integer log position.
    let (_, page) = client.get("/events?limit=5").await.unwrap();
    let cursor = page["nextCursor"].as_i64().unwrap();
    running(client, &decision_request()).await;
    let mut seen: BTreeSet<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].to_string())
        .collect();
    let mut after = cursor;
    loop {
        let (_, page) = client
            .get(&format!("/events?limit=7&afterSeq={after}"))
            .await
            .unwrap();
        for event in page["data"].as_array().unwrap() {
            assert!(seen.insert(event["id"].to_string()), "repeated: {event}");
        }
        match page["nextCursor"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let (_, all) = client.get("/events?limit=1000").await.unwrap();
    assert_eq!(
        seen.len() as u64,
        all["total"].as_u64().unwrap(),
        "none skipped"
    );
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

on_both_engines!(cursors_are_stable_while_rows_arrive => cursors_while_writing);

async fn deleted_runs(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    // A webhook that never answers: the run's delivery stays pending.
    let (status, hook) = client
        .post(
            "/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "secret": "a-long-secret",
                    "events": ["run.cancelled"]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let mut request = decision_request();
    request["execution"]["idempotencyKey"] = json!("order-42");
    let run_id = running(client, &request).await;
    client
        .post(&format!("/runs/{run_id}/cancel"), &json!({}))
        .await
        .unwrap();
    poll_until(client, &format!("/webhooks/{hook_id}/deliveries"), |d| {
        d.as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let mut stream = SseClient::open(
        &format!("{}/runs/{run_id}/stream?heartbeatMs=60000", service.url()),
        None,
    )
    .await;
    stream.until(WAIT, |e| e.name == "snapshot").await;

    let response = reqwest::Client::new()
        .delete(format!("{}/runs/{run_id}", service.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    // The live stream gets a last event, then ends.
    let last = stream.until(WAIT, |e| e.name == "run_deleted").await;
    assert_eq!(last.last().unwrap().data["runId"], run_id.as_str());
    assert!(
        stream.next(Duration::from_secs(2)).await.is_none(),
        "the stream ended"
    );
    // The key makes a new run, not an answer naming the deleted one.
    let (status, again) = client.post("/runs", &request).await.unwrap();
    assert_eq!(status, 202, "{again}");
    let new_run = again["runId"].as_str().unwrap().to_string();
    assert_ne!(new_run, run_id);
    let (status, _) = client.get(&format!("/runs/{new_run}")).await.unwrap();
    assert_eq!(status, 200);
    let (status, repeated) = client.post("/runs", &request).await.unwrap();
    assert_eq!(
        (status, repeated["runId"].as_str()),
        (200, Some(new_run.as_str()))
    );
    // Nothing else points at it.
    let deliveries = poll_until(client, &format!("/webhooks/{hook_id}/deliveries"), |d| {
        d.as_array()
            .is_some_and(|d| d.iter().all(|d| d["status"] == "cancelled"))
    })
    .await;
    assert_eq!(deliveries[0]["runId"], run_id.as_str());
    let (_, batch) = client
        .post("/runs/batch/cancel", &json!({"runIds": [run_id]}))
        .await
        .unwrap();
    assert_eq!(batch["results"][0]["errorCode"], "RUN_NOT_FOUND");
    let (_, overview) = client.get("/dashboard/overview").await.unwrap();
    assert!(
        overview["recentRuns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != run_id.as_str()),
        "{overview}"
    );
    let (status, _) = client.get(&format!("/runs/{run_id}/stream")).await.unwrap();
    assert_eq!(status, 404);
}

on_both_engines!(nothing_points_at_a_deleted_run => deleted_runs);
