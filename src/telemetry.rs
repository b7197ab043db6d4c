//! Logs and traces. Logs go to stderr (text or JSON); with
//! OTEL_EXPORTER_OTLP_ENDPOINT set, spans are also exported over OTLP
//! (HTTP, protobuf). Spans about a run are put in the run's own trace: its
//! `traceId` (the one `POST /runs` answers and every run and event shows)
//! is their trace id, so a tracing backend finds a run by the id the API
//! gave out.

use crate::config::LogFormat;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Which spans are exported: this service's, at info and above.
const SPAN_FILTER: &str = "macp_control_plane=info";

/// The service name spans are exported under.
const SERVICE_NAME: &str = "macp-control-plane";

/// Installed telemetry; [`Telemetry::shutdown`] flushes the spans not yet
/// exported.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                eprintln!("exporting the last spans failed: {error}");
            }
        }
    }
}

/// Installs the global subscriber: `filter` (a tracing filter), logs in
/// `format`, and OTLP export to `otlp_endpoint` when given (its
/// `/v1/traces` path is added unless it is there already).
pub fn init(
    filter: &str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    };
    let provider = otlp_endpoint
        .filter(|e| !e.trim().is_empty())
        .map(exporting_provider)
        .transpose()?;
    // Spans are exported at info whatever LOG_LEVEL keeps out of the logs.
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(SERVICE_NAME))
            .with_filter(EnvFilter::new(SPAN_FILTER))
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .init();
    Ok(Telemetry { provider })
}

fn exporting_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let base = endpoint.trim_end_matches('/');
    let url = if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(SERVICE_NAME)
                .build(),
        )
        .build())
}

/// Makes `span` part of the run's trace (`trace_id`: 32 hex digits). Its
/// parent is the run's root, a span id derived from the trace id, as if the
/// run's creator had propagated it. Without export, or with an id that is
/// not a trace id, nothing changes.
pub fn link_to_run(span: &tracing::Span, trace_id: &str) {
    let Ok(trace) = TraceId::from_hex(trace_id) else {
        return;
    };
    if trace == TraceId::INVALID {
        return;
    }
    let bytes = trace.to_bytes();
    let mut root = [0u8; 8];
    root.copy_from_slice(&bytes[8..]);
    root[0] |= 1; // never the invalid (all-zero) span id
    let parent = SpanContext::new(
        trace,
        SpanId::from_bytes(root),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    // Refused only when the span is disabled or has started: nothing to link.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
}
