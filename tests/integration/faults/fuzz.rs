//! A property-based fuzz of every JSON endpoint: no 5xx, no partial write.

use super::*;

/// The JSON endpoints, `{id}` standing for a run id (a real one, an
/// unknown one, or not a UUID). Clone is left out: a valid clone starts a
/// live run, whose ingestion would write while the fuzz counts writes.
const JSON_ENDPOINTS: &[&str] = &[
    "/runs",
    "/runs/validate",
    "/runs/compare",
    "/runs/batch/cancel",
    "/runs/batch/archive",
    "/runs/batch/export",
    "/runs/batch/frobnicate",
    "/runs/{id}/artifacts",
    "/runs/{id}/replay",
    "/runs/{id}/messages",
    "/runs/{id}/signal",
    "/runs/{id}/context",
    "/runs/{id}/cancel",
    "/runs/{id}/suspend",
    "/runs/{id}/resume",
    "/runtime/policies",
];

/// Field names of the request bodies, so that the fuzz reaches past the
/// first missing-field check.
const FIELD_NAMES: &[&str] = &[
    "mode",
    "runtime",
    "session",
    "kickoff",
    "execution",
    "kind",
    "modeName",
    "modeVersion",
    "configurationVersion",
    "ttlMs",
    "participants",
    "id",
    "from",
    "to",
    "messageType",
    "payload",
    "payloadEnvelope",
    "encoding",
    "json",
    "proto",
    "typeName",
    "value",
    "reason",
    "context",
    "runIds",
    "leftRunId",
    "rightRunId",
    "speed",
    "fromSeq",
    "toSeq",
    "name",
    "uri",
    "signalType",
    "severity",
    "policyId",
    "rules",
    "idempotencyKey",
    "tags",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9 ._:/-]{0,24}".prop_map(Value::from),
        prop::sample::select(vec![
            "live",
            "sandbox",
            "replay",
            MULTI_ROUND,
            "macp.mode.decision.v1",
            "json",
            "proto",
            "text",
            "base64",
            "alice",
            "coord",
            ""
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELD_NAMES), inner), 0..7).prop_map(
                |fields| Value::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                )
            ),
        ]
    })
}

/// A body: mostly JSON objects, sometimes any JSON, sometimes not JSON.
fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec((prop::sample::select(FIELD_NAMES), json_value()), 0..8)
            .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect()).to_string()),
        2 => json_value().prop_map(|v| v.to_string()),
        1 => ".{0,64}",
    ]
}

#[test]
fn fuzzed_bodies_get_no_5xx_and_no_partial_write() {
    let cases = count(256, 4000) as u32;
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let (db, service, completed) = tokio.block_on(async {
        let db = TestDb::new(Engine::Sqlite).await;
        let service = db.start().await;
        // One finished run, so run-scoped endpoints meet a real one.
        let outcome = macp_control_plane::demo::run(&service.url()).await.unwrap();
        (db, service, outcome.run_id)
    });
    let store = tokio.block_on(db.store());
    let http = reqwest::Client::new();
    let base = service.url();
    let events = |tokio: &tokio::runtime::Runtime| {
        tokio.block_on(async { store.read_all(0, i64::MAX).await.unwrap().len() })
    };
    // Counted across shrinking too (the runner takes a `Fn`).
    let tried = Cell::new(0usize);
    let refused = Cell::new(0usize);
    let server_errors = Cell::new(0usize);
    let partial_writes = Cell::new(0usize);
    let ids = vec![
        completed,
        Uuid::new_v4().to_string(),
        "not-a-uuid".to_string(),
    ];
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (
        prop::sample::select(JSON_ENDPOINTS),
        prop::sample::select(ids),
        body(),
    );
    let result = runner.run(&strategy, |(endpoint, id, body)| {
        let path = endpoint.replace("{id}", &id);
        let before = events(&tokio);
        let status = tokio.block_on(async {
            http.post(format!("{base}{path}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        let status = status.map_err(|e| TestCaseError::fail(format!("{path}: {e}")))?;
        let after = events(&tokio);
        tried.set(tried.get() + 1);
        if status >= 500 {
            server_errors.set(server_errors.get() + 1);
        }
        if status >= 400 {
            refused.set(refused.get() + 1);
            if after != before {
                partial_writes.set(partial_writes.get() + 1);
            }
        }
        prop_assert!(status < 500, "POST {} {} answered {}", path, body, status);
        prop_assert!(
            status < 400 || after == before,
            "POST {} {} was refused ({}) but wrote {} events",
            path,
            body,
            status,
            after - before
        );
        Ok(())
    });
    report(
        "fuzz (proptest)",
        format!(
            "{} bodies tried on {} JSON endpoints, {} refused, {} 5xx, {} partial writes",
            tried.get(),
            JSON_ENDPOINTS.len(),
            refused.get(),
            server_errors.get(),
            partial_writes.get()
        ),
    );
    if let Err(error) = result {
        panic!("{error}");
    }
    drop(service);
}
