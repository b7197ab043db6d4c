//! The event store's contract, run against both engines: append, read a
//! stream, read everything from a global position, refuse a stale append,
//! and claim an idempotency key atomically with a stream's first events.

use crate::support;

use aggregates::{RunEvent, Timestamp};
use macp_control_plane::store::AppendError;
use sqlx::Connection;
use support::{read_all_settled, Engine, TestDb};
use uuid::Uuid;

fn started(ms: i64) -> RunEvent {
    RunEvent::RunStarted {
        at: Timestamp::from_unix_ms(ms),
    }
}

async fn contract(engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());

    assert_eq!(
        store
            .append(a, 0, &[started(1), started(2)], None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.append(b, 0, &[started(3)], None).await.unwrap(), 1);
    assert_eq!(store.append(a, 2, &[started(4)], None).await.unwrap(), 3);

    let stream = store.read_stream(a, 0).await.unwrap();
    assert_eq!(
        stream.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(stream[2].event, started(4));
    assert_eq!(store.read_stream(a, 2).await.unwrap().len(), 1);

    let all = read_all_settled(&store, 0, 4).await;
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2).all(|w| w[0].position < w[1].position),
        "positions increase"
    );
    let from_second = store.read_all(all[1].position, 100).await.unwrap();
    assert_eq!(from_second.len(), 2);
    assert_eq!(store.read_all(0, 1).await.unwrap().len(), 1, "limit");

    // A writer that read version 2 of `a` is stale now: nothing is written.
    assert!(matches!(
        store.append(a, 2, &[started(5)], None).await,
        Err(AppendError::Conflict)
    ));
    assert_eq!(store.read_stream(a, 0).await.unwrap().len(), 3);

    // One idempotency key, one stream: the loser writes nothing.
    let (c, d) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .append(c, 0, &[started(6)], Some("key-1"))
        .await
        .unwrap();
    match store.append(d, 0, &[started(7)], Some("key-1")).await {
        Err(AppendError::IdempotencyKeyTaken(owner)) => assert_eq!(owner, c),
        other => panic!("expected the key to be taken, got {other:?}"),
    }
    assert!(store.read_stream(d, 0).await.unwrap().is_empty());
    assert_eq!(store.idempotent_run("key-1").await.unwrap(), Some(c));

    let unfinished = store.unfinished_runs().await.unwrap();
    assert!(unfinished.is_empty(), "no RunRequested yet: {unfinished:?}");
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_contract() {
    contract(Engine::Sqlite).await;
}

#[tokio::test]
async fn the_postgres_store_keeps_the_contract() {
    contract(Engine::Postgres).await;
}

/// Two appends commit out of position order: the first to take a position
/// commits last. A reader following the log by position must not pass the
/// later one while the earlier is in flight, or it would skip it for good.
#[tokio::test]
async fn a_reader_never_passes_an_append_still_in_flight_on_postgres() {
    let db = TestDb::new(Engine::Postgres).await;
    let store = db.store().await;
    let (slow, fast) = (Uuid::now_v7(), Uuid::now_v7());
    store.append(slow, 0, &[started(1)], None).await.unwrap();
    let seen = read_all_settled(&store, 0, 1).await;
    let mut position = seen.last().unwrap().position;

    // The slow writer takes the next position and holds its transaction
    // open (it copies a real row, so the event is a valid one).
    let mut slow_writer = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN")
        .execute(&mut slow_writer)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) SELECT aggregate_type, aggregate_id, 2, event_type, event_version, \
         payload, metadata FROM events WHERE aggregate_id = $1 AND sequence = 1",
    )
    .bind(slow.to_string())
    .execute(&mut slow_writer)
    .await
    .unwrap();

    // The fast writer takes a later position and commits first.
    store.append(fast, 0, &[started(2)], None).await.unwrap();
    assert!(
        store.read_all(position, 100).await.unwrap().is_empty(),
        "nothing past the in-flight append is visible yet"
    );

    sqlx::query("COMMIT")
        .execute(&mut slow_writer)
        .await
        .unwrap();
    let after = read_all_settled(&store, position, 2).await;
    let streams: Vec<Uuid> = after.iter().map(|e| e.stream_id).collect();
    assert_eq!(streams, vec![slow, fast], "both, in position order");
    position = after.last().unwrap().position;
    assert!(store.read_all(position, 100).await.unwrap().is_empty());
}
