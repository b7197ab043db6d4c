//! Guarding the API: API keys on every route but the probes, a body limit
//! and a rate limit with the API's problem body, request ids, CORS, the
//! readiness and metrics endpoints, and no secret in any log line.

mod support;

use macp_control_plane::demo::decision_request;
use reqwest::StatusCode;
use serde_json::Value;
use support::{CapturedLogs, Engine, TestDb};

const KEY: &str = "s3cret-key-1";
const WRONG_KEY: &str = "wrong-key-2";
const OPERATOR_KEY: &str = "operator-key-3";
const WEBHOOK_SECRET: &str = "webhook-secret-4-long-enough";

async fn body(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_api_is_guarded_and_says_why_it_refuses() {
    let logs = CapturedLogs::install();

    // Keys, on PostgreSQL (so that its URL's password is about too).
    let db = TestDb::new(Engine::Postgres).await;
    let mut config = db.config();
    config.auth_api_keys = vec![KEY.into(), OPERATOR_KEY.into()];
    config.body_limit_bytes = 64 * 1024;
    let service = macp_control_plane::service::Service::start(&config)
        .await
        .unwrap();
    let url = format!("http://{}", service.address);
    let http = reqwest::Client::new();

    let (status, refused) = body(http.get(format!("{url}/runs")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(refused["errorCode"], "UNAUTHENTICATED");
    let wrong = http
        .get(format!("{url}/runs"))
        .bearer_auth(WRONG_KEY)
        .send()
        .await
        .unwrap();
    let (status, refused) = body(wrong).await;
    assert_eq!(
        (status, refused["message"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid API key"))
    );
    let created = http
        .post(format!("{url}/runs"))
        .bearer_auth(KEY)
        .json(&decision_request())
        .send()
        .await
        .unwrap();
    let request_id = created
        .headers()
        .get("x-request-id")
        .expect("every response carries a request id")
        .to_str()
        .unwrap()
        .to_string();
    assert!(!request_id.is_empty());
    let (status, run) = body(created).await;
    assert_eq!(status, 202, "{run}");
    let echoed = http
        .get(format!("{url}/runs"))
        .bearer_auth(KEY)
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-id");

    // The audit log says who did what to the run, by key fingerprint.
    let run_id = run["runId"].as_str().unwrap().to_string();
    let get = |path: String, key: &'static str| {
        let http = http.clone();
        let url = url.clone();
        async move {
            body(
                http.get(format!("{url}{path}"))
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let started = std::time::Instant::now();
    while get(format!("/runs/{run_id}"), KEY).await.1["status"] != "running" {
        assert!(started.elapsed() < support::WAIT, "the run never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let cancelled = http
        .post(format!("{url}/runs/{run_id}/cancel"))
        .bearer_auth(OPERATOR_KEY)
        .json(&serde_json::json!({"reason": "audit test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let audit = loop {
        let (status, audit) = get(format!("/audit?runId={run_id}"), KEY).await;
        assert_eq!(status, 200, "{audit}");
        if audit["total"] == 2 {
            break audit;
        }
        assert!(started.elapsed() < support::WAIT, "{audit}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let fingerprint = macp_control_plane::http::access::fingerprint;
    let entries = audit["data"].as_array().unwrap();
    assert_eq!(entries[0]["action"], "run.cancel", "newest first: {audit}");
    assert_eq!(
        entries[0]["actor"],
        format!("key:{}", fingerprint(OPERATOR_KEY))
    );
    assert_eq!(entries[1]["action"], "run.create");
    assert_eq!(entries[1]["actor"], format!("key:{}", fingerprint(KEY)));
    assert_eq!(entries[1]["requestId"], request_id.as_str());
    assert_eq!(entries[1]["runId"], run_id.as_str());
    let by_operator = format!("/audit?actor=key:{}", fingerprint(OPERATOR_KEY));
    assert_eq!(get(by_operator, KEY).await.1["total"], 1);
    let audit_text = audit.to_string();
    assert!(!audit_text.contains(KEY) && !audit_text.contains(OPERATOR_KEY));

    // A webhook's secret goes in and never comes out.
    let hook = http
        .post(format!("{url}/webhooks"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET}))
        .send()
        .await
        .unwrap();
    let (status, hook) = body(hook).await;
    assert_eq!(status, 201, "{hook}");
    assert!(!hook.to_string().contains(WEBHOOK_SECRET));

    // The probes and the scrape need no key.
    let (status, ready) = body(http.get(format!("{url}/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        (ready["database"].as_str(), ready["runtime"]["ok"].as_bool()),
        (Some("ok"), Some(true))
    );
    assert_eq!(
        http.get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = http.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    for expected in [
        "macp_http_requests_total{method=\"GET\",route=\"/runs\",status=\"401\"} 2",
        "macp_http_requests_total{method=\"POST\",route=\"/runs\",status=\"202\"} 1",
        "macp_http_request_duration_seconds_count{method=\"POST\",route=\"/runs\"} 1",
        // The 0.0.4 text format names a counter by its samples.
        "# TYPE macp_http_requests_total counter",
        "macp_runtime_calls_total{call=\"send\",outcome=\"ok\"}",
        "macp_projector_lag_events{projector=\"run_state\"}",
        "macp_envelopes_recorded_total",
        "macp_sse_subscribers 0",
    ] {
        assert!(metrics.contains(expected), "{expected} in\n{metrics}");
    }

    // A body over the limit: 413 with the problem body, nothing started.
    let mut huge = decision_request();
    huge["session"]["metadata"]["blob"] = Value::String("x".repeat(100 * 1024));
    let too_large = http
        .post(format!("{url}/runs"))
        .bearer_auth(KEY)
        .json(&huge)
        .send()
        .await
        .unwrap();
    let (status, refused) = body(too_large).await;
    assert_eq!(
        (status, refused["errorCode"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("PAYLOAD_TOO_LARGE"))
    );
    let (_, runs) = body(
        http.get(format!("{url}/runs"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(runs["total"].as_i64(), Some(1), "{runs}");
    drop(service);

    // A rate limit and browser origins, on SQLite.
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config();
    config.rate_limit_per_second = 1;
    config.rate_limit_burst = Some(2);
    config.cors_origin = vec!["http://ui.example".into()];
    let service = macp_control_plane::service::Service::start(&config)
        .await
        .unwrap();
    let url = format!("http://{}", service.address);
    let statuses = [
        http.get(format!("{url}/runs"))
            .send()
            .await
            .unwrap()
            .status(),
        http.get(format!("{url}/runs"))
            .send()
            .await
            .unwrap()
            .status(),
    ];
    assert_eq!(statuses, [200, 200], "the burst is allowed");
    let limited = http.get(format!("{url}/runs")).send().await.unwrap();
    let retry_after = limited.headers().get("retry-after").cloned();
    let (status, refused) = body(limited).await;
    assert_eq!(
        (status, refused["errorCode"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("RATE_LIMITED"))
    );
    assert_eq!(retry_after.unwrap(), "1");
    assert_eq!(
        http.get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "probes are not limited"
    );
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{url}/runs"))
        .header("origin", "http://ui.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://ui.example"
    );
    drop(service);

    // Secrets never reach a log line, though requests carried them.
    let text = logs.text();
    assert!(text.contains(&request_id), "the request id is logged");
    let password = db_password(&std::env::var("TEST_DATABASE_URL").unwrap());
    for secret in [
        KEY.to_string(),
        WRONG_KEY.to_string(),
        OPERATOR_KEY.to_string(),
        WEBHOOK_SECRET.to_string(),
        format!(":{password}@"),
    ] {
        assert!(
            !text.contains(&secret),
            "a secret ({secret}) is in the logs"
        );
    }
}

/// The password of a `postgres://user:password@host/db` URL.
fn db_password(url: &str) -> String {
    let credentials = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    credentials
        .split(':')
        .nth(1)
        .unwrap_or_default()
        .to_string()
}
