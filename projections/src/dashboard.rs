//! The dashboard of `GET /dashboard/overview`: KPIs and chart series over a
//! time range, computed from the run list's summaries and the runs'
//! metrics (a pure view over read models, no fold of its own).
//!
//! Every series is `{labels, data}` with one value per label, the shape the
//! web console draws; time series share [`BUCKETS`] equal buckets of the
//! range, labelled by their start (RFC 3339).

use crate::{RunMetrics, RunSummary};
use aggregates::{RunStatus, Timestamp};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Buckets of every time series.
pub const BUCKETS: usize = 12;

/// KPIs and charts of one range.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardOverview {
    pub kpis: Value,
    pub charts: Value,
}

/// The overview of `runs` (created within `[start_ms, end_ms]`) and their
/// `metrics`.
pub fn dashboard_overview(
    runs: &[RunSummary],
    metrics: &[RunMetrics],
    start_ms: i64,
    end_ms: i64,
) -> DashboardOverview {
    let buckets = Buckets::new(start_ms, end_ms);
    let by_run: HashMap<_, &RunMetrics> = metrics
        .iter()
        .filter_map(|m| Some((m.run_id?, m)))
        .collect();
    let count = |status: RunStatus| runs.iter().filter(|r| r.status == Some(status)).count();
    let (completed, failed, cancelled) = (
        count(RunStatus::Completed),
        count(RunStatus::Failed),
        count(RunStatus::Cancelled),
    );
    let ended = completed + failed + cancelled;
    let duration = |r: &RunSummary| Some(r.ended_at?.unix_ms() - r.started_at?.unix_ms());
    let durations: Vec<i64> = runs.iter().filter_map(duration).collect();
    let metric = |r: &RunSummary| r.id.and_then(|id| by_run.get(&id).copied());

    let mut volume = buckets.zeros();
    let mut failures = buckets.zeros();
    let mut signals = buckets.zeros();
    let mut throughput = buckets.zeros();
    let mut latency_sum = buckets.zeros();
    let mut latency_count = buckets.zeros();
    for run in runs {
        let created = run.created_at.map(Timestamp::unix_ms);
        if let Some(i) = created.and_then(|t| buckets.index(t)) {
            volume[i] += 1.0;
            if run.status == Some(RunStatus::Failed) {
                failures[i] += 1.0;
            }
            signals[i] += metric(run).map_or(0.0, |m| m.signal_count as f64);
        }
        let ended_at = run.ended_at.map(Timestamp::unix_ms);
        if let Some(i) = ended_at.and_then(|t| buckets.index(t)) {
            throughput[i] += 1.0;
            if let Some(ms) = duration(run) {
                latency_sum[i] += ms as f64;
                latency_count[i] += 1.0;
            }
        }
    }
    let latency: Vec<Value> = latency_sum
        .iter()
        .zip(&latency_count)
        .map(|(sum, n)| {
            if *n > 0.0 {
                json!(sum / n)
            } else {
                Value::Null
            }
        })
        .collect();
    // Runs open at each bucket's end: created by then and not yet ended.
    let queue_depth: Vec<f64> = (0..BUCKETS)
        .map(|i| {
            let at = buckets.end_of(i);
            runs.iter()
                .filter(|r| r.created_at.is_some_and(|t| t.unix_ms() <= at))
                .filter(|r| r.ended_at.is_none_or(|t| t.unix_ms() > at))
                .count() as f64
        })
        .collect();
    let mut error_classes: BTreeMap<String, u64> = BTreeMap::new();
    for run in runs {
        match run.status {
            Some(RunStatus::Failed) => {
                let class = run.error_code.clone().unwrap_or_else(|| "UNKNOWN".into());
                *error_classes.entry(class).or_default() += 1;
            }
            Some(RunStatus::Cancelled) => {
                *error_classes.entry("CANCELLED".into()).or_default() += 1;
            }
            // Not ended in an error.
            None
            | Some(
                RunStatus::Queued
                | RunStatus::Starting
                | RunStatus::BindingSession
                | RunStatus::Running
                | RunStatus::Suspended
                | RunStatus::Completed,
            ) => {}
        }
    }
    let statuses = [
        RunStatus::Queued,
        RunStatus::Starting,
        RunStatus::BindingSession,
        RunStatus::Running,
        RunStatus::Suspended,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];
    let labels = buckets.labels();
    let series = |data: Vec<Value>| json!({"labels": labels, "data": data});
    let numbers = |data: &[f64]| data.iter().map(|v| json!(v)).collect::<Vec<_>>();
    let mut charts = Map::new();
    charts.insert("runVolume".into(), series(numbers(&volume)));
    charts.insert("latency".into(), series(latency));
    charts.insert(
        "errorClasses".into(),
        json!({"labels": error_classes.keys().collect::<Vec<_>>(),
               "data": error_classes.values().collect::<Vec<_>>()}),
    );
    charts.insert("signalVolume".into(), series(numbers(&signals)));
    charts.insert("throughput".into(), series(numbers(&throughput)));
    charts.insert("queueDepth".into(), series(numbers(&queue_depth)));
    charts.insert("errorVolume".into(), series(numbers(&failures)));
    charts.insert(
        "runsByStatus".into(),
        json!({"labels": statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
               "data": statuses.iter().map(|s| count(*s)).collect::<Vec<_>>()}),
    );
    charts.insert("runsOverTime".into(), series(numbers(&volume)));

    let cost: f64 = metrics.iter().map(|m| m.estimated_cost_usd).sum();
    let kpis = json!({
        "totalRuns": runs.len(),
        "activeRuns": runs.iter().filter(|r| r.status.is_some_and(|s| !s.is_terminal())).count(),
        "completedRuns": completed,
        "failedRuns": failed,
        "cancelledRuns": cancelled,
        "suspendedRuns": count(RunStatus::Suspended),
        "successRate": if ended == 0 { 0.0 } else { completed as f64 / ended as f64 },
        "avgDurationMs": if durations.is_empty() { 0.0 } else { durations.iter().sum::<i64>() as f64 / durations.len() as f64 },
        "totalSignals": metrics.iter().map(|m| m.signal_count).sum::<u64>(),
        "totalTokens": metrics.iter().map(|m| m.total_tokens).sum::<u64>(),
        "totalCostUsd": cost,
        "estimatedCostUsd": cost,
    });
    DashboardOverview {
        kpis,
        charts: Value::Object(charts),
    }
}

/// [`BUCKETS`] equal slices of a time range (milliseconds).
struct Buckets {
    start: i64,
    width: i64,
}

impl Buckets {
    fn new(start: i64, end: i64) -> Self {
        let span = (end - start).max(1);
        Buckets {
            start,
            width: (span + BUCKETS as i64 - 1) / BUCKETS as i64,
        }
    }

    fn zeros(&self) -> Vec<f64> {
        vec![0.0; BUCKETS]
    }

    /// The bucket of `at`, if it is in the range.
    fn index(&self, at: i64) -> Option<usize> {
        let offset = at - self.start;
        let i = usize::try_from(offset / self.width.max(1)).ok()?;
        (offset >= 0).then_some(i.min(BUCKETS - 1))
    }

    fn end_of(&self, i: usize) -> i64 {
        self.start + self.width * (i as i64 + 1)
    }

    fn labels(&self) -> Vec<String> {
        (0..BUCKETS)
            .map(|i| Timestamp::from_unix_ms(self.start + self.width * i as i64).to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn run(status: RunStatus, created: i64, ended: Option<i64>) -> RunSummary {
        RunSummary {
            id: Some(Uuid::new_v4()),
            status: Some(status),
            created_at: Some(Timestamp::from_unix_ms(created)),
            started_at: Some(Timestamp::from_unix_ms(created)),
            ended_at: ended.map(Timestamp::from_unix_ms),
            error_code: (status == RunStatus::Failed).then(|| "SESSION_EXPIRED".into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_series_has_a_value_per_label_and_counts_its_runs() {
        let runs = [
            run(RunStatus::Completed, 0, Some(600)),
            run(RunStatus::Failed, 500, Some(1_100)),
            run(RunStatus::Running, 1_150, None),
        ];
        let overview = dashboard_overview(&runs, &[], 0, 1_200);
        for (name, chart) in overview.charts.as_object().unwrap() {
            if name == "errorClasses" {
                continue;
            }
            assert_eq!(
                chart["labels"].as_array().unwrap().len(),
                chart["data"].as_array().unwrap().len(),
                "{name}"
            );
        }
        let volume: f64 = overview.charts["runVolume"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .sum();
        assert_eq!(volume, 3.0);
        assert_eq!(
            overview.charts["errorClasses"],
            json!({"labels": ["SESSION_EXPIRED"], "data": [1]})
        );
        assert_eq!(overview.charts["queueDepth"]["data"][BUCKETS - 1], 1.0);
        assert_eq!(overview.kpis["avgDurationMs"], 600.0);
        assert_eq!(overview.kpis["successRate"], 0.5);
    }
}
