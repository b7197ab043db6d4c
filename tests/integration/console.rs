//! The operators' web console, as a client: every response it reads, on
//! real runs of every mode and every end (completed, declined, failed by
//! expiry, cancelled, suspended), live over SSE and finished, validated
//! against the console's own JSON Schemas (`support::shapes`), on SQLite
//! and PostgreSQL; and every query parameter it sends, honoured.

use crate::support;

use macp_control_plane::api_client::{is_terminal, Client};
use macp_control_plane::demo::{self, decision_request};
use serde_json::{json, Value};
use std::time::Duration;
use support::modes;
use support::shapes::ConsoleShapes;
use support::sse::SseClient;
use support::{poll_until, running, Engine, TestDb, TestService, WAIT};

/// What the console sends with every call: `content-type: application/json`,
/// bodies or not (`lib/api/fetcher.ts`).
async fn call(
    service: &TestService,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", service.url());
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let request = http
        .request(method, url)
        .header("content-type", "application/json")
        .body(body.map(Value::to_string).unwrap_or_default());
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    };
    (status, value)
}

/// GETs `path`, expects 200, validates the body against `schema`.
async fn read(shapes: &ConsoleShapes, service: &TestService, schema: &str, path: &str) -> Value {
    let (status, body) = call(service, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    shapes.check(schema, &format!("GET {path}"), &body);
    body
}

/// POSTs like the console, expects a 2xx, validates the body.
async fn write(
    shapes: &ConsoleShapes,
    service: &TestService,
    schema: &str,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let (status, answer) = call(service, "POST", path, body).await;
    assert!(
        (200..300).contains(&status),
        "POST {path}: {status} {answer}"
    );
    shapes.check(schema, &format!("POST {path}"), &answer);
    answer
}

async fn submit(client: &Client, request: &Value) -> String {
    let (status, created) = client.post("/runs", request).await.unwrap();
    assert_eq!(status, 202, "{created}");
    created["runId"].as_str().unwrap().to_string()
}

/// Waits until the run's read models have folded its end.
async fn settled(client: &Client, run_id: &str, status: &str) {
    poll_until(client, &format!("/runs/{run_id}/state"), |s| {
        s["run"]["status"] == status
    })
    .await;
    poll_until(client, &format!("/runs/{run_id}/metrics"), |m| {
        m["sessionState"]
            .as_str()
            .is_some_and(|s| s != "SESSION_STATE_OPEN")
    })
    .await;
}

/// Everything the run pages read for one run (`/runs/<id>`, the
/// inspector, /traces, export, replay).
async fn read_run(shapes: &ConsoleShapes, service: &TestService, run_id: &str) {
    read(shapes, service, "run", &format!("/runs/{run_id}")).await;
    let state = read(
        shapes,
        service,
        "run-state",
        &format!("/runs/{run_id}/state"),
    )
    .await;
    let events = read(
        shapes,
        service,
        "run-events.list",
        &format!("/runs/{run_id}/events?limit=500&afterSeq=0"),
    )
    .await;
    for event in events.as_array().unwrap() {
        shapes.check("canonical-event", &format!("an event of {run_id}"), event);
    }
    read(
        shapes,
        service,
        "metrics",
        &format!("/runs/{run_id}/metrics"),
    )
    .await;
    read(shapes, service, "traces", &format!("/runs/{run_id}/traces")).await;
    read(
        shapes,
        service,
        "artifacts",
        &format!("/runs/{run_id}/artifacts"),
    )
    .await;
    for format in ["json", "jsonl"] {
        read(
            shapes,
            service,
            "export",
            &format!(
                "/runs/{run_id}/export?includeCanonical=true&includeRaw=true&eventLimit=10000&format={format}"
            ),
        )
        .await;
    }
    let latest = state["timeline"]["latestSeq"].as_u64().unwrap_or(0);
    for seq in [1, latest / 2, latest] {
        read(
            shapes,
            service,
            "run-state",
            &format!("/runs/{run_id}/replay/state?seq={seq}"),
        )
        .await;
    }
    write(
        shapes,
        service,
        "replay-descriptor",
        &format!("/runs/{run_id}/replay"),
        Some(&json!({"mode": "timed", "speed": 1})),
    )
    .await;
}

/// The SSE frames of a live run, from before its first message to after
/// its end: every `snapshot`, `canonical_event` and `heartbeat`.
async fn live_frames(shapes: &ConsoleShapes, service: &TestService) -> String {
    let client = &service.client;
    let case = modes::decision(true);
    let run_id = modes::start(client, &case).await;
    let mut stream = SseClient::open(
        &format!(
            "{}/runs/{run_id}/stream?includeSnapshot=true&afterSeq=0&heartbeatMs=1000",
            service.url()
        ),
        None,
    )
    .await;
    modes::play(client, &run_id, &case).await;
    let frames = stream
        .until(WAIT, |e| {
            e.name == "snapshot" && e.data["run"]["status"] == "completed"
        })
        .await;
    let heartbeat = stream
        .until(Duration::from_secs(5), |e| e.name == "heartbeat")
        .await;
    let mut counts = [0usize; 3];
    for frame in frames.iter().chain(&heartbeat) {
        let (schema, slot) = match frame.name.as_str() {
            "snapshot" => ("run-state", 0),
            "canonical_event" => ("canonical-event", 1),
            "heartbeat" => ("sse-heartbeat", 2),
            other => panic!("unnamed or unknown SSE event {other:?}"),
        };
        counts[slot] += 1;
        shapes.check(
            schema,
            &format!("SSE {} of {run_id}", frame.name),
            &frame.data,
        );
    }
    assert!(
        counts.iter().all(|&n| n > 0),
        "snapshots, events, heartbeats: {counts:?}"
    );
    run_id
}

async fn conformance(engine: Engine) {
    let shapes = ConsoleShapes::load();
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let s = &shapes;
    let svc = &service;

    // Operations pages before any run: /settings, /observability.
    read(s, svc, "healthz", "/healthz").await;
    let ready = read(s, svc, "readyz", "/readyz").await;
    assert_eq!(
        (
            &ready["database"],
            &ready["streamConsumer"],
            &ready["circuitBreaker"]
        ),
        (&json!("ok"), &json!("ok"), &json!("CLOSED")),
        "a healthy service: {ready}"
    );
    read(s, svc, "runtime-health", "/runtime/health").await;
    read(s, svc, "runtime-manifest", "/runtime/manifest").await;
    read(s, svc, "runtime-modes", "/runtime/modes").await;
    read(s, svc, "runtime-roots", "/runtime/roots").await;

    // Webhooks as /settings creates them: any canonical event type.
    let hook = json!({"url": "http://127.0.0.1:9/hooks/macp", "secret": "change-me",
                      "events": ["run.completed", "run.failed", "signal.emitted"]});
    s.check(
        "webhook-create-request",
        "the console's webhook form",
        &hook,
    );
    let created = write(s, svc, "webhooks", "/webhooks", Some(&hook)).await;
    let hook_id = created["id"].as_str().unwrap().to_string();
    let (status, patched) = call(
        svc,
        "PATCH",
        &format!("/webhooks/{hook_id}"),
        Some(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    s.check("webhooks", "PATCH /webhooks/:id", &patched);
    assert_eq!(patched["active"], false);
    read(s, svc, "webhooks", "/webhooks").await;

    // The circuit breaker panel.
    write(
        s,
        svc,
        "circuit-breaker-reset",
        "/admin/circuit-breaker/reset",
        None,
    )
    .await;
    for window in ["", "?window=15m", "?window=30d"] {
        read(
            s,
            svc,
            "circuit-breaker-history",
            &format!("/admin/circuit-breaker/history{window}"),
        )
        .await;
    }

    // The new-run form: a descriptor checked, a bad one answered 200.
    write(
        s,
        svc,
        "validate",
        "/runs/validate",
        Some(&decision_request()),
    )
    .await;
    let mut bad = decision_request();
    bad["session"]["modeName"] = json!("macp.mode.nonexistent.v9");
    let verdict = write(s, svc, "validate", "/runs/validate", Some(&bad)).await;
    assert_eq!(verdict["valid"], false, "{verdict}");

    // A finished run of every mode, positive; the decision mode declined too.
    let mut finished = Vec::new();
    for case in modes::all_cases() {
        if !case.positive && case.mode != modes::decision(false).mode {
            continue;
        }
        let run_id = modes::start(client, &case).await;
        modes::play(client, &run_id, &case).await;
        client
            .wait_for_status(&run_id, WAIT, is_terminal)
            .await
            .unwrap();
        finished.push(run_id);
    }
    let demo_run = demo::run(&service.url()).await.unwrap().run_id;
    finished.push(demo_run.clone());
    let live = live_frames(s, svc).await;
    finished.push(live.clone());

    // Failed by expiry: a session nobody answers.
    let mut short = decision_request();
    short["session"]["ttlMs"] = json!(1500);
    let expired = submit(client, &short).await;
    let status = client
        .wait_for_status(&expired, WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "failed");

    // Cancelled, suspended and resumed, from the run page's buttons.
    let cancelled = running(client, &decision_request()).await;
    let ack = write(
        s,
        svc,
        "mutation-ack",
        &format!("/runs/{cancelled}/cancel"),
        Some(&json!({"reason": "Cancelled from MACP UI"})),
    )
    .await;
    assert_eq!(
        (&ack["id"], &ack["status"]),
        (&json!(cancelled), &json!("cancelled"))
    );
    let suspended = running(client, &decision_request()).await;
    let ack = write(
        s,
        svc,
        "mutation-ack",
        &format!("/runs/{suspended}/suspend"),
        Some(&json!({"reason": "Suspended from MACP UI"})),
    )
    .await;
    assert_eq!(ack["status"], "suspended");
    settled(client, &expired, "failed").await;
    settled(client, &cancelled, "cancelled").await;
    poll_until(client, &format!("/runs/{suspended}/state"), |st| {
        st["run"]["status"] == "suspended"
    })
    .await;
    for run_id in &finished {
        settled(client, run_id, "completed").await;
    }
    for run_id in finished.iter().chain([&expired, &cancelled, &suspended]) {
        read_run(s, svc, run_id).await;
    }
    let resumed = running(client, &decision_request()).await;
    write(
        s,
        svc,
        "mutation-ack",
        &format!("/runs/{resumed}/suspend"),
        None,
    )
    .await;
    client
        .wait_for_status(&resumed, WAIT, |st| st == "suspended")
        .await
        .unwrap();
    let ack = write(
        s,
        svc,
        "mutation-ack",
        &format!("/runs/{resumed}/resume"),
        Some(&json!({"reason": "Resumed from MACP UI"})),
    )
    .await;
    assert_eq!(ack["status"], "running");

    // Clone, compare, archive, rebuild, batches.
    write(s, svc, "create-run", "/runs", Some(&decision_request())).await;
    write(
        s,
        svc,
        "create-run",
        &format!("/runs/{demo_run}/clone"),
        Some(&json!({})),
    )
    .await;
    write(
        s,
        svc,
        "compare",
        "/runs/compare",
        Some(&json!({"leftRunId": demo_run, "rightRunId": live})),
    )
    .await;
    write(
        s,
        svc,
        "rebuild",
        &format!("/runs/{demo_run}/projection/rebuild"),
        None,
    )
    .await;
    write(
        s,
        svc,
        "export",
        "/runs/batch/export",
        Some(&json!({"runIds": [demo_run, expired]})),
    )
    .await;
    let archived = finished[0].clone();
    let ack = write(
        s,
        svc,
        "mutation-ack",
        &format!("/runs/{archived}/archive"),
        None,
    )
    .await;
    assert_eq!(ack["id"], archived.as_str());
    for action in ["cancel", "archive"] {
        write(
            s,
            svc,
            "batch-result",
            &format!("/runs/batch/{action}"),
            Some(&json!({"runIds": [resumed, cancelled]})),
        )
        .await;
    }
    let (status, _) = call(svc, "DELETE", &format!("/runs/{}", finished[1]), None).await;
    assert!((200..300).contains(&status), "delete: {status}");
    write(
        s,
        svc,
        "batch-result",
        "/runs/batch/delete",
        Some(&json!({"runIds": [finished[2]]})),
    )
    .await;

    // Policies: register one as /policies does, read it back, delete it.
    let policy = json!({"policyId": "policy.console-test", "mode": "macp.mode.decision.v1",
        "description": "majority", "rules": {"voting": {"algorithm": "majority", "threshold": 0.5}},
        "schemaVersion": 1});
    let (status, answer) = call(svc, "POST", "/runtime/policies", Some(&policy)).await;
    assert!((200..300).contains(&status), "{status} {answer}");
    read(s, svc, "runtime-policies", "/runtime/policies").await;
    read(
        s,
        svc,
        "runtime-policies",
        "/runtime/policies?mode=macp.mode.decision.v1",
    )
    .await;
    read(
        s,
        svc,
        "runtime-policies",
        "/runtime/policies/policy.console-test",
    )
    .await;
    let (status, _) = call(svc, "DELETE", "/runtime/policies/policy.console-test", None).await;
    assert!((200..300).contains(&status), "policy delete: {status}");

    // Lists, dashboards and the audit log, after all of that.
    for query in [
        "limit=200&offset=0&sortBy=createdAt&sortOrder=desc",
        "limit=200&offset=0&status=suspended&sortBy=updatedAt&sortOrder=asc",
        "limit=20&offset=0&includeArchived=true",
    ] {
        read(s, svc, "runs.list", &format!("/runs?{query}")).await;
    }
    read(s, svc, "events.list", "/events?limit=250").await;
    read(
        s,
        svc,
        "events.list",
        &format!("/events?runId={demo_run}&limit=250"),
    )
    .await;
    let overview = read(s, svc, "dashboard-overview", "/dashboard/overview").await;
    for chart in [
        "runVolume",
        "latency",
        "errorClasses",
        "signalVolume",
        "throughput",
        "queueDepth",
    ] {
        let series = &overview["charts"][chart];
        assert!(
            series["labels"].as_array().is_some_and(|l| !l.is_empty())
                && series["data"].as_array().map(Vec::len)
                    == series["labels"].as_array().map(Vec::len),
            "chart {chart} is drawn from the runs: {overview}"
        );
    }
    for window in ["15m", "24h", "30d"] {
        read(
            s,
            svc,
            "dashboard-overview",
            &format!("/dashboard/overview?window={window}"),
        )
        .await;
    }
    read(s, svc, "agents-metrics", "/dashboard/agents/metrics").await;
    let audit = read(s, svc, "audit.list", "/audit?limit=100&offset=0").await;
    let actions: Vec<(&str, &str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["resource"].as_str().unwrap_or_default(),
                e["resourceId"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("webhook.create", "webhook", hook_id.as_str()),
        ("policy.register", "policy", "policy.console-test"),
        ("policy.delete", "policy", "policy.console-test"),
        ("circuit_breaker.reset", "circuit-breaker", "runtime"),
        ("run.cancel", "run", cancelled.as_str()),
    ] {
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
    read(s, svc, "audit.list", "/audit?limit=10").await;
    let (status, _) = call(svc, "DELETE", &format!("/webhooks/{hook_id}"), None).await;
    assert!((200..300).contains(&status), "webhook delete: {status}");
    read(s, svc, "readyz", "/readyz").await;
    let metrics = reqwest::get(format!("{}/metrics", service.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ended_runs = metrics
        .lines()
        .find_map(|l| l.strip_prefix("macp_run_duration_seconds_count "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert!(
        ended_runs.is_some_and(|n| n >= finished.len() as u64),
        "the observability page's histogram: {ended_runs:?}"
    );

    shapes.finish();
}

on_both_engines!(console_reads_conform => conformance);

/// The validator bites: the examples of the console's README that break
/// it are refused, so a field that goes missing or changes type fails the
/// conformance test.
#[test]
fn the_schemas_refuse_what_breaks_the_console() {
    let shapes = ConsoleShapes::load();
    let evaluation = json!({"commitmentId": "c-1", "outcomePositive": true});
    let mut state = json!({"run": {}, "participants": [], "graph": {"nodes": [], "edges": []},
        "decision": {}, "signals": {"signals": []}, "progress": {"entries": []},
        "timeline": {"latestSeq": 3}, "policy": {"commitmentEvaluations": [evaluation]}});
    assert!(!shapes.conforms("run-state", &state));
    state["policy"]["commitmentEvaluations"][0] =
        json!({"commitmentId": "c-1", "decision": "allow", "reasons": []});
    assert!(shapes.conforms("run-state", &state));
    assert!(!shapes.conforms(
        "audit.list",
        &json!({"data": [{"actor": {"principal": "x"}}]})
    ));
    assert!(!shapes.conforms(
        "readyz",
        &json!({"ok": true, "database": true,
        "streamConsumer": "ok", "circuitBreaker": "closed"})
    ));
    assert!(!shapes.conforms(
        "metrics",
        &json!({"eventCount": 1, "signalCount": 0,
        "toolCallCount": 0, "estimatedCostUsd": "0.10"})
    ));
}

fn ids_of(page: &Value) -> Vec<String> {
    let rows = page["data"].as_array().or(page.as_array());
    rows.into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().or(r["runId"].as_str()).map(String::from))
        .collect()
}

/// A decision run tagged with an environment and a scenario ref.
fn scenario_request(environment: &str, scenario: &str, tag: &str) -> Value {
    let mut request = decision_request();
    request["session"]["metadata"]["environment"] = json!(environment);
    request["session"]["metadata"]["scenarioRef"] = json!(scenario);
    request["execution"]["tags"] = json!([tag]);
    request
}

/// Every query parameter of the console's README narrows what it asks for.
async fn filters(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let svc = &service;
    let prod = running(
        client,
        &scenario_request("prod", "fraud/high-value@1", "team_a"),
    )
    .await;
    let staging = running(
        client,
        &scenario_request("staging", "ops/reindex@2", "teamXa"),
    )
    .await;
    client
        .post(&format!("/runs/{staging}/cancel"), &json!({}))
        .await
        .unwrap();
    poll_until(client, "/runs?status=cancelled", |p| p["total"] == 1).await;
    poll_until(
        client,
        &format!("/runs/{staging}/events?type=run.cancelled"),
        |e| e.as_array().is_some_and(|e| e.len() == 1),
    )
    .await;

    // GET /runs
    let (_, page) = call(svc, "GET", "/runs?environment=prod", None).await;
    assert_eq!(ids_of(&page), vec![prod.clone()]);
    let (_, page) = call(svc, "GET", "/runs?scenarioRef=HIGH-VALUE", None).await;
    assert_eq!(ids_of(&page), vec![prod.clone()], "partial, any case");
    let (_, page) = call(svc, "GET", "/runs?tags=team_a", None).await;
    assert_eq!(ids_of(&page), vec![prod.clone()], "_ is no wildcard");
    // Only the run whose text holds a real `_` (its tag), none for `%`.
    let (_, page) = call(svc, "GET", "/runs?search=_", None).await;
    assert_eq!(ids_of(&page), vec![prod.clone()], "search=_");
    let (_, page) = call(svc, "GET", "/runs?search=%25", None).await;
    assert_eq!(page["total"], 0, "search=%: {page}");
    let today = aggregates::Timestamp::now().to_string()[..10].to_string();
    let (_, page) = call(
        svc,
        "GET",
        &format!("/runs?createdAfter={today}&createdBefore={today}"),
        None,
    )
    .await;
    assert_eq!(page["total"], 2, "a date bound takes its whole day: {page}");
    let (_, page) = call(svc, "GET", "/runs?createdBefore=2000-01-01", None).await;
    assert_eq!(page["total"], 0);

    // GET /runs/:id/events
    let (_, all) = call(
        svc,
        "GET",
        &format!("/runs/{staging}/events?limit=500&afterSeq=0"),
        None,
    )
    .await;
    let all = all.as_array().unwrap().clone();
    let (_, typed) = call(
        svc,
        "GET",
        &format!("/runs/{staging}/events?type=run.created,run.cancelled"),
        None,
    )
    .await;
    let types: Vec<&str> = typed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["run.created", "run.cancelled"]);
    let middle = &all[all.len() / 2];
    let ts = middle["ts"].as_str().unwrap();
    let (_, after) = call(
        svc,
        "GET",
        &format!("/runs/{staging}/events?afterTs={ts}"),
        None,
    )
    .await;
    assert!(after
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["ts"].as_str().unwrap() > ts));
    let (_, before) = call(
        svc,
        "GET",
        &format!("/runs/{staging}/events?beforeTs={ts}"),
        None,
    )
    .await;
    let before = before.as_array().unwrap();
    assert!(!before.is_empty() && before.iter().all(|e| e["ts"].as_str().unwrap() <= ts));

    // GET /events: scenario, type, and the integer cursor as afterSeq.
    let (_, page) = call(svc, "GET", "/events?scenarioRef=reindex&limit=500", None).await;
    assert!(page["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["runId"] == staging.as_str()));
    assert_eq!(page["total"].as_u64(), Some(all.len() as u64));
    let (_, first) = call(svc, "GET", "/events?limit=3", None).await;
    let cursor = first["nextCursor"].as_i64().expect("an integer cursor");
    let (_, second) = call(
        svc,
        "GET",
        &format!("/events?limit=3&afterSeq={cursor}"),
        None,
    )
    .await;
    let (_, both) = call(svc, "GET", "/events?limit=6", None).await;
    let seen: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().clone())
        .collect();
    assert_eq!(&seen, both["data"].as_array().unwrap(), "pages follow on");
    let (_, last) = call(svc, "GET", "/events?limit=1000", None).await;
    assert!(last.get("nextCursor").is_none(), "no cursor at the end");

    // GET /dashboard/overview
    let (_, overview) = call(
        svc,
        "GET",
        "/dashboard/overview?environment=prod&window=24h",
        None,
    )
    .await;
    assert_eq!(ids_of(&json!(overview["recentRuns"])), vec![prod.clone()]);
    assert_eq!(overview["kpis"]["totalRuns"], 1);
    let (_, overview) = call(
        svc,
        "GET",
        "/dashboard/overview?scenarioRef=ops/reindex",
        None,
    )
    .await;
    assert_eq!(overview["kpis"]["cancelledRuns"], 1);
    assert_eq!(overview["kpis"]["totalRuns"], 1);

    // GET /audit
    let (_, audit) = call(
        svc,
        "GET",
        &format!("/audit?resource=run&resourceId={staging}&action=run.cancel"),
        None,
    )
    .await;
    assert_eq!(audit["total"], 1, "{audit}");
    let (_, audit) = call(svc, "GET", "/audit?actor=nonym&limit=10", None).await;
    assert_eq!(audit["total"], 3, "a part of the actor: {audit}");
    let (_, paged) = call(svc, "GET", "/audit?limit=1&offset=1", None).await;
    let (_, whole) = call(svc, "GET", "/audit?limit=2", None).await;
    assert_eq!(paged["data"][0], whole["data"][1]);
    let (_, audit) = call(svc, "GET", &format!("/audit?createdAfter={today}"), None).await;
    assert_eq!(audit["total"], 3);
    let (_, audit) = call(svc, "GET", "/audit?createdBefore=2000-01-01", None).await;
    assert_eq!(audit["total"], 0);

    // GET /admin/circuit-breaker/history?window, GET /runtime/policies?mode
    let (_, history) = call(
        svc,
        "GET",
        "/admin/circuit-breaker/history?window=15m",
        None,
    )
    .await;
    assert_eq!(history["history"][0]["state"], "CLOSED", "{history}");
    let (_, policies) = call(
        svc,
        "GET",
        "/runtime/policies?mode=macp.mode.decision.v1",
        None,
    )
    .await;
    assert!(policies.as_array().unwrap().iter().all(|p| {
        let mode = p["mode"].as_str().unwrap();
        mode == "macp.mode.decision.v1" || mode == "*"
    }));
    let (status, bad) = call(svc, "GET", "/dashboard/overview?window=2w", None).await;
    assert_eq!(
        (status, bad["errors"][0]["path"].as_str()),
        (400, Some("window"))
    );
}

on_both_engines!(console_filters_narrow => filters);
