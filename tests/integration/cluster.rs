//! Several control-plane processes on one PostgreSQL: any instance serves
//! any run live, exactly one ingests a run, and when it dies another takes
//! the run over and finishes it from the log.

use crate::support;

use macp_control_plane::api_client::{is_terminal, Client};
use macp_control_plane::runtime::embedded::{EmbeddedRuntime, EmbeddedStorage};
use macp_control_plane::store::chain_report;
use support::process::{free_port, ControlPlane};
use support::runtime_peer::{
    assert_recorded_exactly_once, both_contribute, contribute_rounds, converged_commitment,
    direct_client, multi_round_request,
};
use support::sse::{seqs, SseClient};
use support::{Engine, TestDb, PROCESS_WAIT};

#[tokio::test]
async fn a_run_started_on_one_instance_is_watched_on_another_which_finishes_it_when_the_first_dies()
{
    let runtime = EmbeddedRuntime::start(EmbeddedStorage::Memory)
        .await
        .unwrap();
    let runtime_address = runtime.address.to_string();
    let db = TestDb::new(Engine::Postgres).await;
    let a = ControlPlane::start(&db, free_port(), &runtime_address).await;
    let b = ControlPlane::start(&db, free_port(), &runtime_address).await;
    let (client_a, client_b) = (Client::new(&a.url()), Client::new(&b.url()));
    let direct = direct_client(runtime.address);

    let request = multi_round_request(120_000);
    let (status, created) = client_a.post("/runs", &request).await.unwrap();
    assert_eq!(status, 202, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    client_b
        .wait_for_status(&run_id, PROCESS_WAIT, |s| s == "running")
        .await
        .unwrap();

    // B follows the run live from its first event.
    let mut watch = SseClient::open(
        &format!("{}/runs/{run_id}/stream?includeSnapshot=false", b.url()),
        None,
    )
    .await;

    // The burst sends its first half, then waits until A is dead to send
    // the second, so A dies mid-burst however fast the runtime answers.
    let (a_dead, a_is_dead) = tokio::sync::oneshot::channel::<()>();
    let burst = {
        let (direct, run_id) = (direct.clone(), run_id.clone());
        tokio::spawn(async move {
            contribute_rounds(&direct, &run_id, "first", 20).await;
            a_is_dead.await.expect("A killed");
            contribute_rounds(&direct, &run_id, "second", 20).await;
        })
    };
    // A dies once B has seen one of the burst's envelopes recorded.
    let mut events = watch
        .until(PROCESS_WAIT, |e| {
            e.name == "canonical_event" && e.data["type"] == "message.received"
        })
        .await;
    assert!(!burst.is_finished(), "the burst's second half waits for A");
    a.kill();
    a_dead.send(()).expect("the burst waits");
    burst.await.unwrap();
    both_contribute(&direct, &run_id, "agreed").await;
    let commitment = converged_commitment("c-1");
    client_b
        .send(&run_id, "coord", "Commitment", commitment)
        .await
        .unwrap();

    events.extend(
        watch
            .until(PROCESS_WAIT, |e| {
                e.name == "canonical_event" && e.data["type"] == "run.completed"
            })
            .await,
    );
    let seqs = seqs(&events);
    assert_eq!(
        seqs,
        (1..=*seqs.last().unwrap()).collect::<Vec<_>>(),
        "B saw every event once, in order"
    );
    assert_eq!(
        client_b
            .wait_for_status(&run_id, PROCESS_WAIT, is_terminal)
            .await
            .unwrap(),
        "completed"
    );

    let store = db.store().await;
    let count =
        assert_recorded_exactly_once(&direct, &store, run_id.parse().unwrap(), "coord").await;
    assert_eq!(count, 1 + 80 + 2 + 1);
    // The instance that took the run over continued its hash chain.
    let chain = chain_report(&store.chain_rows(run_id.parse().unwrap()).await.unwrap());
    assert!(chain.intact, "{chain:?}");
}
