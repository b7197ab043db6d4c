//! Production auth towards the runtime: TLS, a bearer token per sender and
//! an observer token for subscribing, against a runtime that accepts only
//! its static tokens (dev-mode `Bearer <sender>` is refused there).

mod support;

use macp_control_plane::api_client::Client;
use macp_control_plane::config::RuntimeAuth;
use macp_control_plane::demo;
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage, RuntimeSecurity};
use macp_control_plane::runtime::pb::Envelope;
use macp_control_plane::runtime::{Credentials, RuntimeClient, RuntimeError, RuntimeTls};
use macp_control_plane::service::Service;
use serde_json::json;
use support::{CapturedLogs, Engine, TestDb};

const RUNTIME_TOKENS: &str = r#"[
  {"token": "tok-coordinator", "sender": "coordinator"},
  {"token": "tok-risk", "sender": "risk-analyst"},
  {"token": "tok-security", "sender": "security-reviewer"},
  {"token": "tok-watcher", "sender": "watcher", "is_observer": true, "can_start_sessions": false}
]"#;

#[tokio::test]
async fn the_control_plane_runs_a_session_over_tls_with_a_token_per_sender() {
    let logs = CapturedLogs::install();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = certified.cert.pem().into_bytes();
    let key_pem = certified.signing_key.serialize_pem().into_bytes();
    let runtime = EmbeddedRuntime::start_secured(
        EmbeddedStorage::Memory,
        RuntimeSecurity {
            static_tokens_json: Some(RUNTIME_TOKENS.into()),
            tls_cert_pem: Some(cert_pem.clone()),
            tls_key_pem: Some(key_pem),
            receipt_key: None,
        },
    )
    .await
    .unwrap();

    let db = TestDb::new(Engine::Sqlite).await;
    let ca_file = db.data_dir.path().join("runtime-ca.pem");
    std::fs::write(&ca_file, &cert_pem).unwrap();
    let mut config = db.config();
    config.runtime_address = Some(runtime.address.to_string());
    config.runtime_auth = Some(RuntimeAuth::Tokens);
    config.runtime_tokens_json = Some(
        json!({"coordinator": "tok-coordinator", "risk-analyst": "tok-risk",
               "security-reviewer": "tok-security"})
        .to_string(),
    );
    config.runtime_observer_token = Some("tok-watcher".into());
    config.runtime_tls_ca_file = Some(ca_file);
    config.runtime_tls_domain = Some("localhost".into());
    let service = Service::start(&config).await.unwrap();
    let url = format!("http://{}", service.address);

    let outcome = demo::run(&url)
        .await
        .expect("the demo runs over TLS with tokens");
    assert_eq!(outcome.status, "completed");
    assert_eq!(outcome.state["decision"]["current"]["finalized"], true);

    // A sender the control plane holds no token for is refused before any
    // call is made, not sent in dev mode.
    let client = Client::new(&url);
    let run_id = &support::running(&client, &demo::decision_request()).await;
    let body = json!({"from": "mallory", "messageType": "Evaluation",
                      "payload": {"proposalId": "p-1", "recommendation": "APPROVE"}});
    let (status, answer) = client
        .post(&format!("/runs/{run_id}/messages"), &body)
        .await
        .unwrap();
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("UNAUTHENTICATED"),
        "{answer}"
    );

    // The runtime itself refuses dev-mode identities.
    let tls = RuntimeTls {
        ca_pem: cert_pem,
        domain: "localhost".into(),
    };
    let dev =
        RuntimeClient::connect_lazy(&runtime.address.to_string(), Credentials::Dev, Some(tls))
            .unwrap();
    let envelope = Envelope {
        macp_version: "1.0".into(),
        mode: demo::MODE.into(),
        message_type: "Evaluation".into(),
        message_id: uuid::Uuid::new_v4().to_string(),
        session_id: run_id.into(),
        sender: "risk-analyst".into(),
        ..Default::default()
    };
    match dev.send("risk-analyst", envelope).await {
        Err(RuntimeError::Refused { code, .. }) => assert_eq!(code, "UNAUTHENTICATED"),
        other => panic!("dev-mode auth must be refused, got {other:?}"),
    }

    // No runtime token reached a log line or an answer, though every call
    // carried one.
    let (_, state) = client.get(&format!("/runs/{run_id}/state")).await.unwrap();
    let seen = format!("{}{answer}{state}", logs.text());
    assert!(logs.text().contains("run_id"), "the logs were captured");
    for token in ["tok-coordinator", "tok-risk", "tok-security", "tok-watcher"] {
        assert!(!seen.contains(token), "the runtime token {token} was shown");
    }
}

#[tokio::test]
async fn an_external_runtime_without_credentials_is_a_clear_start_up_error() {
    let db = TestDb::new(Engine::Sqlite).await;
    let mut config = db.config();
    config.runtime_address = Some("127.0.0.1:1".into());
    let error = Service::start(&config)
        .await
        .err()
        .expect("start-up refuses")
        .to_string();
    assert!(
        error.contains("RUNTIME_TOKENS_JSON") && error.contains("RUNTIME_AUTH=dev"),
        "{error}"
    );
}
