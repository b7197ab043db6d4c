//! The ingest figures: runs loaded by participants sending at once, the
//! control plane's rate (recorded, and projected too) against the
//! runtime's accept rate for the same load, with and without the control
//! plane following it.

use super::{
    clients, contribution, open_session_directly, recorded_and_projected, start_run, wait_ingested,
    PARTICIPANTS,
};
use crate::bench::measure::{Figure, Goal};
use crate::bench::server::ServerProcess;
use crate::runtime::RuntimeClient;
use std::time::Instant;

/// Sends `per_sender` contributions from each participant of each run, all
/// senders at once; answers the seconds until the runtime accepted the last.
async fn send_load(
    runtime: &RuntimeClient,
    run_ids: &[String],
    per_sender: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for run_id in run_ids {
        for participant in PARTICIPANTS {
            let (runtime, run_id) = (runtime.clone(), run_id.clone());
            senders.spawn(async move {
                for n in 0..per_sender {
                    runtime
                        .send(participant, contribution(&run_id, participant, n))
                        .await?;
                }
                anyhow::Ok(())
            });
        }
    }
    while let Some(sent) = senders.join_next().await {
        sent??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Ingest: `runs` concurrent runs, `per_run` envelopes each (spread over
/// four participants sending concurrently). Answers the control plane's
/// rate (recorded and projected), the runtime's accept rate for the same
/// load, and their ratio.
pub async fn ingest(
    server: &ServerProcess,
    runtime_address: &str,
    runs: usize,
    per_run: usize,
    repeat: usize,
) -> anyhow::Result<Vec<Figure>> {
    let (client, runtime) = clients(server, runtime_address)?;
    let label = format!("ingest, {runs} run(s)");
    let mut cp = Figure::new(format!("{label}: recorded+projected"), "env/s", None);
    let mut recorded_only = Figure::new(format!("{label}: recorded"), "env/s", None);
    let mut accepted = Figure::new(format!("{label}: runtime accepted"), "env/s", None);
    let mut ratio = Figure::new(
        format!("{label}: control plane / runtime"),
        "ratio",
        Some(Goal::AtLeast(0.95)),
    );
    let mut alone = Figure::new(
        format!("{label}: runtime accepted, no control plane"),
        "env/s",
        None,
    );
    let mut attached = Figure::new(
        format!("{label}: runtime with / without control plane"),
        "ratio",
        Some(Goal::AtLeast(0.75)),
    );
    for _ in 0..repeat {
        let mut run_ids = Vec::new();
        for _ in 0..runs {
            run_ids.push(start_run(&client).await?);
        }
        // Every SessionStart recorded first, so that the count below is
        // only this load.
        let (before, _) = recorded_and_projected(server).await?;
        let expected_start = before.max(0);
        let per_sender = per_run.div_ceil(PARTICIPANTS.len());
        let total = (per_sender * PARTICIPANTS.len() * runs) as i64;
        // The same load on sessions no control plane follows: the
        // runtime's own rate, to compare the attached rate with.
        let mut unobserved = Vec::with_capacity(runs);
        for _ in 0..runs {
            let session_id = uuid::Uuid::new_v4().to_string();
            open_session_directly(&runtime, &session_id).await?;
            unobserved.push(session_id);
        }
        let alone_seconds = send_load(&runtime, &unobserved, per_sender).await?;
        let started = Instant::now();
        let all_accepted = send_load(&runtime, &run_ids, per_sender).await?;
        // SessionStarts of these runs may still be landing: count them in.
        let (recorded, projected) = wait_ingested(server, expected_start + total).await?;
        let all_ingested = projected.duration_since(started).as_secs_f64();
        cp = cp.with(total as f64 / all_ingested);
        recorded_only =
            recorded_only.with(total as f64 / recorded.duration_since(started).as_secs_f64());
        accepted = accepted.with(total as f64 / all_accepted);
        ratio = ratio.with(all_accepted / all_ingested);
        alone = alone.with(total as f64 / alone_seconds);
        attached = attached.with(alone_seconds / all_accepted);
    }
    Ok(vec![cp, recorded_only, accepted, ratio, alone, attached])
}
