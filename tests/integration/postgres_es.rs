//! The log on PostgreSQL is postgres-es's table: cqrs-es's
//! `PersistedEventStore` over `PostgresEventRepository` loads a run the
//! service recorded to the state the service folds, and an event that
//! cqrs-es commits there is folded by the service's projectors and seen by
//! its write side.

use crate::support;

use aggregates::{RunCommand, RunState, StoredFormUpcaster, Timestamp};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{CqrsFramework, EventStore as _};
use macp_control_plane::demo;
use macp_control_plane::run_repository::RunRepository;
use macp_control_plane::store::chain_report;
use postgres_es::PostgresEventRepository;
use serde_json::json;
use sqlx::PgPool;
use support::{poll_until, Engine, TestDb};
use uuid::Uuid;

type RunEventStore = PersistedEventStore<PostgresEventRepository, RunState>;

async fn cqrs_event_store(db: &TestDb) -> RunEventStore {
    let pool = PgPool::connect(&db.url).await.expect("connect");
    PersistedEventStore::new_event_store(PostgresEventRepository::new(pool))
        .with_upcasters(vec![Box::new(StoredFormUpcaster)])
}

#[tokio::test]
async fn a_run_loaded_through_postgres_es_is_the_state_the_service_folds() {
    let db = TestDb::new(Engine::Postgres).await;
    let service = db.start().await;
    let done = demo::run(&service.url()).await.expect("a decision run");
    assert_eq!(done.status, "completed");
    let run_id: Uuid = done.run_id.parse().unwrap();

    let loaded = cqrs_event_store(&db)
        .await
        .load_aggregate(&done.run_id)
        .await
        .expect("postgres-es loads the run");

    let store = db.store().await;
    let stream = store.read_stream(run_id, 0).await.unwrap();
    let folded = RunState::fold(stream.iter().map(|stored| &stored.event));
    assert_eq!(loaded.current_sequence, stream.len());
    assert!(folded.is_terminal(), "{folded:?}");
    assert_eq!(loaded.aggregate, folded, "the same fold of the same events");
    let repository = RunRepository::new(store);
    assert_eq!(repository.load(run_id).await.unwrap(), folded);
}

#[tokio::test]
async fn an_event_committed_through_postgres_es_reaches_every_side_of_the_service() {
    let db = TestDb::new(Engine::Postgres).await;
    let service = db.start().await;
    let client = &service.client;
    let done = demo::run(&service.url()).await.expect("a decision run");
    // The service's write side has the run in its cache at this point.
    let (status, _) = client.get(&format!("/runs/{}", done.run_id)).await.unwrap();
    assert_eq!(status, 200);

    let cqrs = CqrsFramework::new(cqrs_event_store(&db).await, vec![], ());
    cqrs.execute(
        &done.run_id,
        RunCommand::ArchiveRun {
            at: Timestamp::now(),
        },
    )
    .await
    .expect("cqrs-es archives the ended run");

    // The projectors fold the row postgres-es wrote.
    let run = poll_until(client, &format!("/runs/{}", done.run_id), |run| {
        run["archivedAt"].is_string()
    })
    .await;
    assert_eq!(run["status"], "completed");
    // The service's write side decides on it: the run is archived already.
    let (status, refused) = client
        .post(&format!("/runs/{}/archive", done.run_id), &json!({}))
        .await
        .unwrap();
    assert_eq!(
        (status, refused["errorCode"].as_str()),
        (409, Some("INVALID_STATE_TRANSITION")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("archived"),
        "{refused}"
    );

    // postgres-es wrote no chain hash; the service's next append chains
    // the stream first, and the chain holds over every row.
    let deleted = reqwest::Client::new()
        .delete(format!("{}/runs/{}", service.url(), done.run_id))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{deleted:?}");
    // Read through the service's own store: opening another would chain
    // what it finds unchained itself.
    let rows = service
        .service
        .store
        .chain_rows(done.run_id.parse().unwrap())
        .await
        .unwrap();
    let types: Vec<&str> = rows.iter().map(|row| row.event_type.as_str()).collect();
    let archived = types.iter().position(|t| *t == "RunArchived");
    let deleted = types.iter().position(|t| *t == "RunDeleted");
    assert!(archived < deleted && archived.is_some(), "{types:?}");
    assert!(rows.iter().all(|row| row.chain_hash.is_some()));
    let chain = chain_report(&rows);
    assert!(chain.intact, "{chain:?}");
}
