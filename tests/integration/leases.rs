//! Run leases, renewed for every run of an instance at once: a run whose
//! lease another instance took stops being driven here, and the lease is
//! left to its new holder, on both engines.

use crate::support;

use sqlx::Connection;
use support::runtime_peer::multi_round_request;
use support::{poll_until, running, Engine, TestDb, TestService};

async fn a_run_whose_lease_another_instance_took_is_no_longer_driven_here(engine: Engine) {
    let db = TestDb::new(engine).await;
    let mut config = db.config();
    config.run_lease_ms = 600;
    let service = TestService::start(&config).await;
    let run_id = running(&service.client, &multi_round_request(120_000)).await;
    poll_until(&service.client, "/readyz", |ready| ready["activeRuns"] == 1).await;

    // Another instance's claim, as a sweeper there would make it once the
    // lease looked expired to it.
    let lease = format!("run:{run_id}");
    let until = aggregates::Timestamp::now().unix_ms() + 3_600_000;
    let store = db.store().await;
    let mut conn = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("a connection of the other instance");
    let taken = sqlx::query(
        "UPDATE leases SET owner = 'another-instance', expires_at = $1 WHERE name = $2",
    )
    .bind(until)
    .bind(lease.as_str())
    .execute(&mut conn)
    .await
    .expect("the lease changes hands");
    assert_eq!(taken.rows_affected(), 1, "no lease {lease}");

    poll_until(&service.client, "/readyz", |ready| ready["activeRuns"] == 0).await;
    let holder = store.lease_holder(&lease).await.expect("reads the lease");
    assert_eq!(
        holder.map(|(owner, _)| owner).as_deref(),
        Some("another-instance"),
        "the lease was taken back or released by the instance that lost it"
    );
}

#[tokio::test]
async fn sqlite_a_run_whose_lease_another_instance_took_is_no_longer_driven_here() {
    a_run_whose_lease_another_instance_took_is_no_longer_driven_here(Engine::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_run_whose_lease_another_instance_took_is_no_longer_driven_here() {
    a_run_whose_lease_another_instance_took_is_no_longer_driven_here(Engine::Postgres).await;
}
