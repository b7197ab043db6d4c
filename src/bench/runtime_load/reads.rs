//! The read figure: `GET /runs/:id/state` of a run with some history, at a
//! steady rate.

use super::{clients, paced_sends, start_run};
use crate::bench::measure::{p50_p99, Figure, Goal};
use crate::bench::server::ServerProcess;
use crate::bench::Sizes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Reads: `GET /runs/:id/state` at a steady rate; p50 and p99.
pub async fn reads(
    server: &ServerProcess,
    runtime_address: &str,
    sizes: &Sizes,
    repeat: usize,
) -> anyhow::Result<Vec<Figure>> {
    let (client, runtime) = clients(server, runtime_address)?;
    let run_id = start_run(&client).await?;
    // A run with some history: 40 contributions.
    paced_sends(&runtime, &run_id, 40, Duration::from_millis(1)).await?;
    let rate = sizes.reads_per_second;
    let label = format!("GET /runs/:id/state at {rate}/s");
    let mut p50 = Figure::new(format!("{label}: p50"), "ms", None);
    let mut p99 = Figure::new(format!("{label}: p99"), "ms", Some(Goal::AtMost(3.0)));
    let http = reqwest::Client::new();
    let url = format!("{}/runs/{run_id}/state", server.url);
    let count = (rate as f64 * sizes.reads_seconds) as usize;
    for _ in 0..repeat {
        let in_flight = Arc::new(Semaphore::new(64));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..count {
            tick.tick().await;
            let permit = Arc::clone(&in_flight).acquire_owned().await?;
            let (http, url) = (http.clone(), url.clone());
            requests.spawn(async move {
                let started = Instant::now();
                let response = http.get(&url).send().await?;
                let ok = response.status().is_success();
                response.bytes().await?;
                drop(permit);
                anyhow::ensure!(ok, "GET state failed");
                anyhow::Ok(started.elapsed().as_secs_f64() * 1000.0)
            });
        }
        let mut latencies = Vec::with_capacity(count);
        while let Some(done) = requests.join_next().await {
            latencies.push(done??);
        }
        let (median, tail) = p50_p99(latencies);
        p50 = p50.with(median);
        p99 = p99.with(tail);
    }
    Ok(vec![p50, p99])
}
