//! `/openapi.json` and `/docs`: the document is OpenAPI 3, lists every route
//! of the contract with its parameters and bodies, and the Swagger UI page
//! renders it in headless Chromium with every non-loopback host unreachable.

use crate::support;

use serde_json::Value;
use std::process::Command;
use support::{Engine, TestDb};

/// Every route of `../shared/contract.md`, as (method, OpenAPI path).
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/runs"),
    ("get", "/runs"),
    ("post", "/runs/validate"),
    ("post", "/runs/compare"),
    ("post", "/runs/batch/{operation}"),
    ("get", "/runs/{id}"),
    ("delete", "/runs/{id}"),
    ("post", "/runs/{id}/clone"),
    ("post", "/runs/{id}/archive"),
    ("get", "/runs/{id}/export"),
    ("get", "/runs/{id}/verify"),
    ("get", "/runs/{id}/archive"),
    ("get", "/runs/{id}/metrics"),
    ("get", "/runs/{id}/traces"),
    ("get", "/runs/{id}/artifacts"),
    ("post", "/runs/{id}/artifacts"),
    ("post", "/runs/{id}/projection/rebuild"),
    ("get", "/events"),
    ("get", "/dashboard/overview"),
    ("get", "/dashboard/agents/metrics"),
    ("get", "/runs/{id}/state"),
    ("get", "/runs/{id}/events"),
    ("get", "/runs/{id}/stream"),
    ("post", "/runs/{id}/replay"),
    ("get", "/runs/{id}/replay/stream"),
    ("get", "/runs/{id}/replay/state"),
    ("post", "/runs/{id}/messages"),
    ("get", "/runs/{id}/messages"),
    ("post", "/runs/{id}/signal"),
    ("post", "/runs/{id}/context"),
    ("post", "/runs/{id}/cancel"),
    ("post", "/runs/{id}/suspend"),
    ("post", "/runs/{id}/resume"),
    ("get", "/runtime/manifest"),
    ("get", "/runtime/modes"),
    ("get", "/runtime/roots"),
    ("get", "/runtime/health"),
    ("get", "/runtime/policies"),
    ("post", "/runtime/policies"),
    ("get", "/runtime/policies/{policy_id}"),
    ("delete", "/runtime/policies/{policy_id}"),
    ("get", "/audit"),
    ("post", "/webhooks"),
    ("get", "/webhooks"),
    ("get", "/webhooks/{id}"),
    ("patch", "/webhooks/{id}"),
    ("delete", "/webhooks/{id}"),
    ("get", "/webhooks/{id}/deliveries"),
    ("get", "/admin/circuit-breaker/history"),
    ("post", "/admin/circuit-breaker/reset"),
];

/// Follows a local `$ref` (`#/components/schemas/X`) in the document.
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    document.pointer(pointer)
}

/// Every `$ref` anywhere under `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_of_the_contract() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let (status, document) = service.client.get("/openapi.json").await.unwrap();
    assert_eq!(status, 200);

    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "not OpenAPI 3: {version:?}");
    assert_eq!(document["info"]["title"], "MACP control plane");
    for (method, path) in CONTRACT_ROUTES {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let responses = operation["responses"].as_object().unwrap();
        assert!(!responses.is_empty(), "{method} {path} has no responses");
        // Path parameters are declared, so clients and fuzzers fill them.
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            let declared = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == name && p["in"] == "path");
            assert!(declared, "{method} {path} does not declare {name}");
        }
    }
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        operations,
        CONTRACT_ROUTES.len(),
        "the document has routes the contract list here lacks"
    );

    // Operation ids are unique (clients generate method names from them).
    let mut ids = std::collections::HashSet::new();
    for (method, path) in CONTRACT_ROUTES {
        let id = document["paths"][path][method]["operationId"]
            .as_str()
            .unwrap();
        assert!(ids.insert(id.to_string()), "operationId {id} repeats");
    }
    assert_eq!(
        document["paths"]["/runs/{id}/events"]["get"]["operationId"],
        "getRunsIdEvents"
    );

    // Bodies carry their schemas, and every reference resolves.
    let create = &document["paths"]["/runs"]["post"]["requestBody"];
    let schema_ref = create["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let request = resolve(&document, schema_ref).expect("ExecutionRequest schema");
    assert!(request["properties"]["session"].is_object(), "{request}");
    let mut refs = Vec::new();
    references(&document, &mut refs);
    assert!(refs.len() > 40, "only {} references", refs.len());
    for r in refs {
        assert!(resolve(&document, &r).is_some(), "dangling reference {r}");
    }

    // Keys guard every route but the probes; the guards' refusals are documented.
    assert_eq!(
        document["components"]["securitySchemes"]["apiKey"]["scheme"],
        "bearer"
    );
    assert!(document["paths"]["/runs"]["get"]["security"].is_array());
    assert!(document["paths"]["/healthz"]["get"]["security"].is_null());
    assert!(document["paths"]["/runs/{id}"]["get"]["responses"]["401"].is_object());
    assert!(document["paths"]["/runs"]["post"]["responses"]["429"].is_object());
    assert!(document["paths"]["/healthz"]["get"]["responses"]["429"].is_null());
}

/// Where Debian's Chromium is (`scripts/test` installs the package).
fn chromium() -> &'static str {
    let path = "/usr/bin/chromium";
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: `scripts/test` installs Debian's chromium package"
    );
    path
}

#[tokio::test]
async fn the_docs_page_renders_offline_in_headless_chromium() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let url = format!("{}/docs/", service.url());
    let profile = tempfile::tempdir().unwrap();
    let browser = chromium();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // No host but loopback resolves: a page that fetched its
                // scripts or styles from a CDN would render nothing.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                // Lets Swagger UI fetch /openapi.json and render before the dump.
                "--virtual-time-budget=15000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "chromium failed: {output:?}");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("MACP control plane"),
        "the title was not rendered: {} bytes of DOM",
        dom.len()
    );
    for (_, path) in CONTRACT_ROUTES {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "{path} is not on the rendered page"
        );
    }
}
