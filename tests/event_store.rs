//! The event store's contract, run against both engines: append, read a
//! stream, read everything from a global position, refuse a stale append,
//! and claim an idempotency key atomically with a stream's first events.

mod support;

use aggregates::{RunEvent, Timestamp};
use macp_control_plane::store::AppendError;
use support::{Engine, TestDb};
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

    let all = store.read_all(0, 100).await.unwrap();
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
