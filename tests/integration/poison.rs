//! One bad input never stops or misleads the service. U+0000, which
//! PostgreSQL's text cannot hold, is refused at the edge with a 400 naming
//! where, alike on both engines; sent by the runtime (an observed
//! session's intent) it is kept in the documents and stops no projector;
//! and a projector batch that cannot be written is reported by `/readyz`
//! and `/metrics` until the cause is gone, then the projectors catch up.

use crate::support;

use macp_control_plane::api_client::is_terminal;
use macp_control_plane::demo::decision_request;
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use serde_json::json;
use sqlx::Connection;
use std::time::Duration;
use support::runtime_peer::{direct_client, start_session_directly, MULTI_ROUND};
use support::{poll_until, Engine, TestDb, TestService, WAIT};

async fn refused_alike(engine: Engine) -> Vec<(u16, String)> {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let mut answers = Vec::new();
    let mut intent = decision_request();
    intent["session"]["metadata"]["intent"] = json!("ship\u{0}it");
    let mut key = decision_request();
    key["execution"]["idempotencyKey"] = json!("key-\u{0}-1");
    let mut tag = decision_request();
    tag["execution"]["tags"] = json!(["ok", "bad\u{0}tag"]);
    for (body, path) in [
        (intent, "session.metadata.intent"),
        (key, "execution.idempotencyKey"),
        (tag, "execution.tags[1]"),
    ] {
        let (status, answer) = client.post("/runs", &body).await.unwrap();
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["errors"][0]["path"], path, "{answer}");
        answers.push((
            status,
            answer["errors"][0]["path"].as_str().unwrap().to_string(),
        ));
    }
    for (query, name) in [
        ("/runs?search=a%00b", "search"),
        ("/events?type=%00", "type"),
    ] {
        let (status, answer) = client.get(query).await.unwrap();
        assert_eq!(
            (status, answer["errors"][0]["path"].as_str()),
            (400, Some(name)),
            "{answer}"
        );
        answers.push((status, name.to_string()));
    }
    let (status, answer) = client.get("/webhooks/a%00b").await.unwrap();
    assert_eq!(
        (status, answer["errors"][0]["path"].as_str()),
        (400, Some("path"))
    );
    let (status, _) = client
        .post(
            "/webhooks",
            &json!({"url": "http://127.0.0.1:9/h", "secret": "long-enough\u{0}"}),
        )
        .await
        .unwrap();
    answers.push((status, "secret".into()));
    assert_eq!(status, 400);
    // Nothing of it was written, and the service goes on.
    let store = db.store().await;
    assert!(store.read_all(0, 10).await.unwrap().is_empty());
    let (status, _) = client.post("/runs", &decision_request()).await.unwrap();
    assert_eq!(status, 202);
    answers
}

#[tokio::test]
async fn nul_is_refused_at_the_edge_alike_on_both_engines() {
    let sqlite = refused_alike(Engine::Sqlite).await;
    let postgres = refused_alike(Engine::Postgres).await;
    assert_eq!(sqlite, postgres, "both engines give the same answers");
}

/// An observed session whose SessionStart intent holds U+0000: recorded,
/// listed, its intent kept as sent, and every projector reaches the head.
async fn runtime_sent_nul(engine: Engine) {
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let db = TestDb::new(engine).await;
    let mut config = db.config_with_runtime(runtime.address);
    config.discover_sessions = true;
    let service = TestService::start(&config).await;
    let client = &service.client;
    let direct = direct_client(runtime.address);
    let session_id = uuid::Uuid::new_v4().to_string();
    start_session_directly(&direct, &session_id, MULTI_ROUND, "poison\u{0}pill").await;
    let run = poll_until(client, &format!("/runs/{session_id}"), |r| {
        r["metadata"]["intent"].is_string()
    })
    .await;
    assert_eq!(run["metadata"]["intent"], "poison\u{0}pill", "kept as sent");
    let page = poll_until(client, "/runs?search=poison", |p| p["total"] == 1).await;
    assert_eq!(page["data"][0]["id"], session_id.as_str());
    // A run after it is listed too: nothing stalled.
    let (_, created) = client.post("/runs", &decision_request()).await.unwrap();
    let later = created["runId"].as_str().unwrap().to_string();
    poll_until(client, &format!("/runs?search={}", &later[..18]), |p| {
        p["total"] == 1
    })
    .await;
    let (status, ready) = client.get("/readyz").await.unwrap();
    assert_eq!(
        (status, &ready["projectors"]),
        (200, &json!("ok")),
        "{ready}"
    );
}

on_both_engines!(a_runtime_sent_nul_stops_no_projector => runtime_sent_nul);

/// Runs `sql` on the test database directly (what an operator or a broken
/// disk would do to the service's tables).
async fn execute(db: &TestDb, engine: Engine, sql: &str) {
    match engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    }
}

async fn metrics_text(service: &TestService) -> String {
    reqwest::get(format!("{}/metrics", service.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A projector batch the store refuses to write (a trigger that aborts the
/// run list's inserts) is a stall: `/readyz` answers 503 naming the
/// projectors and the log position, `/metrics` shows it; once the trigger
/// is gone the projectors catch up by themselves.
async fn stall_is_reported_and_recovers(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let (_, created) = client.post("/runs", &decision_request()).await.unwrap();
    let first = created["runId"].as_str().unwrap().to_string();
    poll_until(client, "/runs", |p| p["total"] == 1).await;
    let poison = match engine {
        Engine::Sqlite => {
            "CREATE TRIGGER poison BEFORE INSERT ON run_list \
                           BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END"
        }
        Engine::Postgres => {
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                             RAISE EXCEPTION 'poisoned by the test'; END $$ LANGUAGE plpgsql; \
                             CREATE TRIGGER poison BEFORE INSERT ON run_list \
                             FOR EACH ROW EXECUTE FUNCTION poison();"
        }
    };
    execute(&db, engine, poison).await;
    let (_, created) = client.post("/runs", &decision_request()).await.unwrap();
    let second = created["runId"].as_str().unwrap().to_string();
    let started = std::time::Instant::now();
    let ready = loop {
        let (status, ready) = client.get("/readyz").await.unwrap();
        if status == 503 {
            break ready;
        }
        assert!(started.elapsed() < WAIT, "/readyz never said 503: {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let said = ready["projectors"].as_str().unwrap();
    assert!(
        said.contains("run_list") && said.contains("log position") && said.contains("poisoned"),
        "names the projectors, the position and why: {ready}"
    );
    assert_eq!(ready["ok"], false);
    let metrics = metrics_text(&service).await;
    assert!(metrics.contains("macp_projectors_stalled 1"), "{metrics}");
    assert!(
        metrics.contains("macp_projector_stalled_position "),
        "{metrics}"
    );
    let (_, page) = client.get("/runs").await.unwrap();
    assert_eq!(page["total"], 1, "the second run is not listed yet");

    let cure = match engine {
        Engine::Sqlite => "DROP TRIGGER poison",
        Engine::Postgres => "DROP TRIGGER poison ON run_list; DROP FUNCTION poison();",
    };
    execute(&db, engine, cure).await;
    let page = poll_until(client, "/runs?sortOrder=asc", |p| p["total"] == 2).await;
    assert_eq!(page["data"][0]["id"], first.as_str());
    assert_eq!(page["data"][1]["id"], second.as_str());
    let ready = poll_until(client, "/readyz", |r| r["ok"] == true).await;
    assert_eq!(ready["projectors"], "ok");
    assert!(metrics_text(&service)
        .await
        .contains("macp_projectors_stalled 0"));
    let status = client
        .wait_for_status(&second, WAIT, |s| s == "running" || is_terminal(s))
        .await
        .unwrap();
    assert_eq!(status, "running");
}

on_both_engines!(a_stalled_projector_is_reported_and_recovers => stall_is_reported_and_recovers);
