//! OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, the control plane
//! exports spans over OTLP/HTTP, and the spans about a run carry the run's
//! `traceId` as their trace id.

use crate::support;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use macp_control_plane::api_client::Client;
use macp_control_plane::demo::decision_request;
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::process::{free_port, ControlPlane};
use support::{Engine, TestDb};

/// Every span a collector received: (trace id in hex, name, run_id attribute).
type Spans = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

async fn collect(State(spans): State<Spans>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
    let mut spans = spans.lock().unwrap();
    for span in request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        let run_id = span
            .attributes
            .iter()
            .find(|a| a.key == "run_id")
            .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(v) => {
                    Some(v.clone())
                }
                _ => None,
            });
        spans.push((hex::encode(&span.trace_id), span.name.clone(), run_id));
    }
    "ok"
}

#[tokio::test]
async fn spans_about_a_run_are_exported_in_the_runs_trace() {
    let spans: Spans = Arc::default();
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/traces", post(collect))
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(collector, app).await });

    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let db = TestDb::new(Engine::Sqlite).await;
    let port = free_port();
    let _control_plane = ControlPlane::start_with(
        &db,
        port,
        &runtime.address.to_string(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let (status, created) = client.post("/runs", &decision_request()).await.unwrap();
    assert_eq!(status, 202, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    let trace_id = created["traceId"].as_str().unwrap().to_string();

    let started = Instant::now();
    loop {
        let in_trace: Vec<_> = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(trace, _, _)| *trace == trace_id)
            .cloned()
            .collect();
        let appended = in_trace
            .iter()
            .filter(|(_, name, run)| {
                name == "run.append" && run.as_deref() == Some(run_id.as_str())
            })
            .count();
        // run.create, run.start, session.bind, the kickoff, the stream...
        if appended >= 4 {
            break;
        }
        assert!(
            started.elapsed() < support::WAIT,
            "spans in the run's trace {trace_id}: {in_trace:?}; all: {:?}",
            spans.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let others = spans
        .lock()
        .unwrap()
        .iter()
        .filter(|(trace, name, run)| {
            name == "run.append" && run.as_deref() == Some(run_id.as_str()) && *trace != trace_id
        })
        .count();
    assert_eq!(others, 0, "every append of the run is in its trace");
}
