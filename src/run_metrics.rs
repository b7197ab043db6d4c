//! Run-level Prometheus metrics: `macp_run_duration_seconds`, a histogram
//! of how long runs took from start to end, observed once, by the instance
//! whose append records the end, and encoded by `GET /metrics`.

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

struct RunMetrics {
    registry: Registry,
    durations: Histogram,
}

static METRICS: LazyLock<RunMetrics> = LazyLock::new(|| {
    // 0.1 s to about 14 h: runs are seconds to hours.
    let durations = Histogram::new(exponential_buckets(0.1, 2.0, 20));
    let mut registry = Registry::with_prefix("macp");
    registry.register(
        "run_duration_seconds",
        "How long runs took, from start to end (completed, failed or cancelled)",
        durations.clone(),
    );
    RunMetrics {
        registry,
        durations,
    }
});

/// Records a run that ended after `seconds`.
pub fn observe_run_duration(seconds: f64) {
    METRICS.durations.observe(seconds.max(0.0));
}

/// The registry holding these metrics, for `GET /metrics` to encode.
pub fn registry() -> &'static Registry {
    &METRICS.registry
}
