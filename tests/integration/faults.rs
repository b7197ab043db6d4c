//! The fault suite: kill -9 of the control plane at random points of live
//! runs, a restart of the runtime mid-run, PostgreSQL stopped and started
//! mid-run, 100 concurrent `POST /runs` with one idempotency key, and a
//! property-based fuzz of every JSON endpoint.
//!
//! Counts are small here, inside the test suite; `scripts/faults --soak`
//! runs the same tests with `FAULT_SOAK=1` and larger counts. Each test
//! prints its figures on a `fault figures:` line (`--nocapture` shows them).
//! Losses and doubles are counted against the runtime's own session history.

use crate::support;

use macp_control_plane::api_client::{is_terminal, Client};
use macp_control_plane::demo::decision_request;
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use macp_control_plane::runtime::RuntimeClient;
use macp_control_plane::service::Service;
use macp_control_plane::store::EventStore;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::process::{free_port, ControlPlane};
use support::runtime_peer::{
    both_contribute, contribute_rounds, converged_commitment, direct_client, multi_round_request,
    recorded_history, runtime_history, MULTI_ROUND,
};
use support::{running_within, Engine, TestDb, RECOVERY_WAIT};
use uuid::Uuid;

/// `FAULT_SOAK=1`: the long mode of `scripts/faults --soak`.
fn soak() -> bool {
    std::env::var("FAULT_SOAK").is_ok_and(|v| v == "1")
}

fn count(small: usize, long: usize) -> usize {
    if soak() {
        long
    } else {
        small
    }
}

fn report(test: &str, figures: String) {
    println!("fault figures: {test}: {figures}");
}

/// A number in `0..bound` (fault timing needs variety, not quality).
fn random_below(bound: u64) -> u64 {
    (Uuid::new_v4().as_u128() % u128::from(bound.max(1))) as u64
}

/// Agreement and the Commitment, then waits for `completed`.
async fn finish(client: &Client, runtime: &RuntimeClient, run_id: &str) {
    both_contribute(runtime, run_id, "agreed").await;
    let commitment = converged_commitment("c-1");
    let started = Instant::now();
    // The runtime or the store may still be coming back: try until RECOVERY_WAIT.
    loop {
        match client
            .send(run_id, "coord", "Commitment", commitment.clone())
            .await
        {
            Ok(_) => break,
            Err(error) => {
                assert!(
                    started.elapsed() < RECOVERY_WAIT,
                    "the Commitment never went: {error}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    let status = client
        .wait_for_status(run_id, RECOVERY_WAIT, is_terminal)
        .await
        .unwrap();
    assert_eq!(status, "completed", "run {run_id}");
}

/// What the control plane recorded against the runtime's history of one
/// session: envelopes lost, envelopes recorded twice, and the total.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    envelopes: usize,
    lost: usize,
    duplicated: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.envelopes += other.envelopes;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
    }
}

async fn tally(runtime: &RuntimeClient, store: &EventStore, run_id: &str) -> Tally {
    let history = runtime_history(runtime, "coord", run_id).await;
    let recorded = recorded_history(store, run_id.parse().unwrap()).await;
    let ids: Vec<&String> = recorded.iter().map(|(_, id)| id).collect();
    let unique: HashSet<&String> = ids.iter().copied().collect();
    let tally = Tally {
        envelopes: history.len(),
        lost: history.iter().filter(|id| !unique.contains(id)).count(),
        duplicated: ids.len() - unique.len(),
    };
    if tally.lost == 0 && tally.duplicated == 0 {
        let in_order: Vec<&String> = history.iter().collect();
        assert_eq!(
            ids, in_order,
            "run {run_id}: recorded in the runtime's order"
        );
        let ordinals: Vec<u64> = recorded.iter().map(|(o, _)| *o).collect();
        assert_eq!(ordinals, (1..=ids.len() as u64).collect::<Vec<_>>());
    }
    tally
}

// One module a fault, in `faults/`.
mod fuzz;
mod idempotency;
mod kills;
mod postgres_outage;
mod runtime_restart;
mod sigterm;
