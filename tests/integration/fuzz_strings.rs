//! Adversarial strings into every string field of the write endpoints, on
//! SQLite and PostgreSQL: U+0000 and other control characters, a long
//! string, non-BMP and right-to-left text, quotes, SQL and `LIKE`
//! metacharacters. No answer is a 5xx; every accepted value is in the log
//! exactly as sent (and a refusal is a 400 naming the field); afterwards
//! every projector has reached the head of the log and the service is
//! ready. Prints `fuzz figures:` lines (the README quotes them).

use crate::support;

use macp_control_plane::config::EmbeddedStorageKind;
use macp_control_plane::demo::decision_request;
use serde_json::{json, Value};
use support::{caught_up, poll_until, running, Engine, TestDb, TestService};

fn adversarial() -> Vec<String> {
    vec![
        "\u{0}".into(),
        "nul\u{0}inside".into(),
        "bell\u{7}tab\tnewline\nescape\u{1b}del\u{7f}".into(),
        "x".repeat(20_000),
        "non-BMP 😀𝄞 𠜎".into(),
        "\u{202e}right-to-left مرحبا\u{202c}".into(),
        "'single' \"double\" `back`".into(),
        "Robert'); DROP TABLE events;--".into(),
        "%_\\ like metacharacters _%".into(),
        "\u{feff}bom and \u{200b}zero width".into(),
    ]
}

/// Every string leaf of `value`, as (JSON pointer, dotted field path).
fn string_leaves(value: &Value, pointer: &str, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(_) => out.push((pointer.to_string(), path.to_string())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_leaves(
                    item,
                    &format!("{pointer}/{i}"),
                    &format!("{path}[{i}]"),
                    out,
                );
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let dotted = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                string_leaves(item, &format!("{pointer}/{key}"), &dotted, out);
            }
        }
        _ => {}
    }
}

/// A string as failure messages show it: its first characters and length.
fn shown(text: &str) -> String {
    format!(
        "{:?}… ({} chars)",
        text.chars().take(40).collect::<String>(),
        text.chars().count()
    )
}

/// An answer as failure messages show it, cut short.
fn cut(answer: &Value) -> String {
    answer.to_string().chars().take(300).collect()
}

fn holds(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(text) => text == wanted,
        Value::Array(items) => items.iter().any(|i| holds(i, wanted)),
        Value::Object(fields) => fields.values().any(|v| holds(v, wanted)),
        _ => false,
    }
}

/// What the fuzz sent and how it was answered (every answer is below 500:
/// the first 5xx fails the test).
#[derive(Default, Debug)]
struct Tally {
    requests: u64,
    /// 2xx.
    accepted: u64,
    /// 400, naming the field.
    refused: u64,
    /// Other 4xx: the runtime refused a message (422), say.
    other: u64,
}

/// One write endpoint: where it is, a good body, and which stream its
/// accepted writes land in (to read them back from the log).
struct Target {
    name: &'static str,
    path: String,
    body: Value,
    stream: Option<String>,
}

async fn fuzz(engine: Engine) -> Tally {
    let db = TestDb::new(engine).await;
    let mut config = db.config();
    config.embedded_runtime_storage = EmbeddedStorageKind::Memory;
    let service = TestService::start(&config).await;
    let client = &service.client;
    let store = db.store().await;

    let mut live = decision_request();
    live["session"]["ttlMs"] = json!(600_000);
    let run_id = running(client, &live).await;
    let mut run_request = decision_request();
    run_request["session"]["metadata"]["environment"] = json!("prod");
    run_request["session"]["metadata"]["scenarioRef"] = json!("pack/scenario@1");
    run_request["execution"]["idempotencyKey"] = json!("key");
    let targets = vec![
        Target {
            name: "POST /runs",
            path: "/runs".into(),
            body: run_request,
            stream: None,
        },
        Target {
            name: "POST /runs/:id/messages",
            path: format!("/runs/{run_id}/messages"),
            body: json!({"from": "risk-analyst", "to": ["coordinator"], "messageType": "Evaluation",
                         "payload": {"proposalId": "p-1", "reason": "fine"}}),
            stream: Some(run_id.clone()),
        },
        Target {
            name: "POST /runs/:id/signal",
            path: format!("/runs/{run_id}/signal"),
            body: json!({"from": "risk-analyst", "to": ["coordinator"], "messageType": "Signal",
                         "signalType": "risk.flag", "severity": "high",
                         "payload": {"note": "n"}}),
            stream: Some(run_id.clone()),
        },
        Target {
            name: "POST /runs/:id/artifacts",
            path: format!("/runs/{run_id}/artifacts"),
            body: json!({"kind": "json", "label": "report", "uri": "https://example.invalid/r",
                         "inline": {"note": "n"}}),
            stream: Some(run_id.clone()),
        },
        Target {
            name: "POST /runs/validate",
            path: "/runs/validate".into(),
            body: decision_request(),
            stream: None,
        },
        Target {
            name: "POST /webhooks",
            path: "/webhooks".into(),
            body: json!({"url": "http://127.0.0.1:9/hook", "secret": "a-long-secret",
                         "events": ["run.completed"]}),
            stream: None,
        },
    ];
    let mut tally = Tally::default();
    for target in &targets {
        let mut leaves = Vec::new();
        string_leaves(&target.body, "", "", &mut leaves);
        for (pointer, field) in &leaves {
            for (i, text) in adversarial().into_iter().enumerate() {
                let mut body = target.body.clone();
                *body.pointer_mut(pointer).unwrap() = json!(text);
                if target.path == "/runs" {
                    // Each accepted request makes its own run.
                    body["execution"]["idempotencyKey"] = match field.as_str() {
                        "execution.idempotencyKey" => json!(text),
                        _ => json!(format!("{field}-{i}")),
                    };
                }
                let (status, answer) = client.post(&target.path, &body).await.unwrap();
                tally.requests += 1;
                assert!(
                    status < 500,
                    "{} {field} {text:?}: {status} {answer}",
                    target.name
                );
                if status == 400 {
                    tally.refused += 1;
                    let named = answer["errors"].as_array().into_iter().flatten().any(|e| {
                        let path = e["path"].as_str().unwrap_or_default();
                        path == field || field.starts_with(path) || path.starts_with(field.as_str())
                    });
                    assert!(
                        named,
                        "{} {field}: the 400 names another field: {answer}",
                        target.name
                    );
                    continue;
                }
                if status < 300 {
                    tally.accepted += 1;
                } else {
                    tally.other += 1;
                }
                let stream = match (&target.stream, target.path.as_str()) {
                    (Some(stream), _) => Some(stream.clone()),
                    (None, "/runs") => answer["runId"].as_str().map(String::from),
                    _ => None,
                };
                if let Some(stream) = stream {
                    // The value is in the log exactly as sent.
                    let events = store.read_stream(stream.parse().unwrap(), 0).await.unwrap();
                    let log =
                        serde_json::to_value(events.iter().map(|e| &e.event).collect::<Vec<_>>())
                            .unwrap();
                    // A signal the runtime refused is recorded as refused
                    // (message.send_failed: sender, type, the runtime's
                    // code); what it would have signalled is not a fact.
                    let refused_by_runtime = status == 422;
                    assert!(
                        holds(&log, &text) || refused_by_runtime && target.path.contains("/signal"),
                        "{} {field}: {} not in the log as sent ({status} {})",
                        target.name,
                        shown(&text),
                        cut(&answer)
                    );
                }
                if target.path == "/webhooks" && status == 201 {
                    let id = answer["id"].as_str().unwrap();
                    let (_, stored) = client.get(&format!("/webhooks/{id}")).await.unwrap();
                    if field != "secret" {
                        assert!(holds(&stored, &text), "webhook {field}: {}", cut(&stored));
                    }
                }
            }
        }
    }
    // Every projector reaches the head of the log; the service is ready.
    caught_up(&store).await;
    let ready = poll_until(client, "/readyz", |r| r["ok"] == true).await;
    assert_eq!(ready["projectors"], "ok");
    // No input reached the runtime as a transport failure.
    assert_eq!(ready["circuitBreaker"], "CLOSED", "{}", cut(&ready));
    // The lists still answer with what the fuzz wrote.
    let (status, page) = client.get("/runs?search=%25_&limit=200").await.unwrap();
    assert_eq!(status, 200, "{}", cut(&page));
    tally
}

#[tokio::test]
async fn adversarial_strings_on_sqlite() {
    let tally = fuzz(Engine::Sqlite).await;
    println!("fuzz figures: SQLite {tally:?}");
}

#[tokio::test]
async fn adversarial_strings_on_postgres() {
    let tally = fuzz(Engine::Postgres).await;
    println!("fuzz figures: PostgreSQL {tally:?}");
}
