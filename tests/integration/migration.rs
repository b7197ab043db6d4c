//! Migration 0007 moves a log written by the previous schema (0001–0006:
//! `stream_id`, `version`, `schema_version`, data-only version-1 payloads,
//! `recorded_at`) into postgres-es's layout, on both engines: every event
//! keeps its position, stream, version and meaning, and the log goes on
//! from there. After 0008 (typed read models on PostgreSQL) the service
//! lists the runs the old read models held, after 0009 serves their
//! canonical events from the log's version-1 payloads, and after 0010 has
//! chained every old event.

use crate::support;

use aggregates::{decide, RawEnvelope, RunCommand, RunEvent, RunState, Timestamp};
use macp_control_plane::demo::decision_request;
use macp_control_plane::run_repository::RunRepository;
use macp_control_plane::store::chain_report;
use projections::run_summary::RunSummary;
use projections::Projection;
use serde_json::{json, Value};
use sqlx::migrate::Migrator;
use sqlx::Connection;
use std::borrow::Cow;
use support::{poll_until, read_all_settled, Engine, TestDb, TestService};
use uuid::Uuid;

/// The last migration of the previous schema.
const PREVIOUS_SCHEMA: i64 = 6;

const AT: Timestamp = Timestamp::from_unix_ms(1_750_000_000_000);

/// A run's events from request to completion, with an envelope whose
/// sender holds U+0000 (a runtime may send it; the log must keep it).
fn recorded_run(run_id: Uuid) -> Vec<RunEvent> {
    let request = serde_json::from_value(decision_request()).expect("the demo request");
    let commands = vec![
        RunCommand::RequestRun {
            run_id,
            request: Box::new(request),
            trace_id: "trace-migrated".into(),
            observed: false,
            at: AT,
        },
        RunCommand::StartRun { at: AT },
        RunCommand::BindSession {
            session_id: run_id.to_string(),
            initiator: "coordinator".into(),
            runtime_kind: "rust".into(),
            at: AT,
        },
        RunCommand::OpenStream {
            after_ordinal: 0,
            reconnect: false,
            at: AT,
        },
        RunCommand::RecordEnvelope {
            ordinal: 1,
            envelope: RawEnvelope {
                macp_version: "1.0".into(),
                mode: "macp.mode.decision.v1".into(),
                message_type: "Evaluation".into(),
                message_id: "m-1".into(),
                session_id: run_id.to_string(),
                sender: "risk\u{0}agent".into(),
                timestamp_unix_ms: 1_750_000_000_001,
                payload_base64: String::new(),
            },
            derived: vec![],
            received_at: AT,
        },
        RunCommand::CompleteRun {
            session_state: "RESOLVED".into(),
            at: AT,
            receipt: None,
        },
    ];
    let mut state = RunState::default();
    let mut events = Vec::new();
    for command in &commands {
        for event in decide(&state, command).expect("accepted") {
            state.apply(&event);
            events.push(event);
        }
    }
    events
}

/// The previous schema's stored form: the variant's fields alone.
fn version_1_payload(event: &RunEvent) -> String {
    let tagged = serde_json::to_value(event).unwrap();
    tagged["data"].to_string()
}

fn previous_schema(engine: Engine) -> Migrator {
    let mut migrator = match engine {
        Engine::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Engine::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    let previous: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= PREVIOUS_SCHEMA)
        .cloned()
        .collect();
    assert_eq!(previous.len(), PREVIOUS_SCHEMA as usize);
    migrator.migrations = Cow::Owned(previous);
    migrator
}

const OLD_INSERT: &str = "INSERT INTO events (stream_id, version, event_type, schema_version, \
     payload, recorded_at) VALUES ($1, $2, $3, 1, $4, $5)";

/// A run-list row as the previous schema held it (all text), and the run
/// list projector's checkpoint at the head of the log: what a service of
/// the previous version left behind.
const OLD_RUN_ROW: &str = "INSERT INTO run_list (run_id, status, created_at, updated_at, \
     started_at, ended_at, archived, deleted, tags, search, doc) \
     VALUES ($1, $2, $3, $4, $5, $6, 0, 0, ',demo,', '', $7)";
const OLD_CHECKPOINT: &str = "INSERT INTO projector_checkpoints (projector, position) \
     SELECT 'run_list', MAX(position) FROM events";

/// Writes `runs` as the previous schema did, on a database at that schema.
async fn write_with_previous_schema(engine: Engine, url: &str, runs: &[(Uuid, Vec<RunEvent>)]) {
    macro_rules! write_on {
        ($conn:expr) => {{
            let mut conn = $conn;
            previous_schema(engine)
                .run(&mut conn)
                .await
                .expect("old schema");
            for (run_id, events) in runs {
                for (i, event) in events.iter().enumerate() {
                    sqlx::query(OLD_INSERT)
                        .bind(run_id.to_string())
                        .bind(i as i64 + 1)
                        .bind(event.event_type())
                        .bind(version_1_payload(event))
                        .bind(AT.to_string())
                        .execute(&mut conn)
                        .await
                        .expect("old insert");
                }
                let summary = RunSummary::fold(events);
                let text = |at: Option<Timestamp>| at.map(|at| at.to_string());
                sqlx::query(OLD_RUN_ROW)
                    .bind(run_id.to_string())
                    .bind(summary.status.map(|status| status.as_str()))
                    .bind(text(summary.created_at))
                    .bind(text(summary.updated_at))
                    .bind(text(summary.started_at))
                    .bind(text(summary.ended_at))
                    .bind(serde_json::to_string(&summary).unwrap())
                    .execute(&mut conn)
                    .await
                    .expect("old run row");
            }
            sqlx::query(OLD_CHECKPOINT)
                .execute(&mut conn)
                .await
                .expect("old checkpoint");
        }};
    }
    match engine {
        Engine::Sqlite => write_on!(sqlx::SqliteConnection::connect(url).await.unwrap()),
        Engine::Postgres => write_on!(sqlx::PgConnection::connect(url).await.unwrap()),
    }
}

async fn an_old_log_migrates_whole(engine: Engine) {
    let db = TestDb::new(engine).await;
    let runs: Vec<(Uuid, Vec<RunEvent>)> = (0..2)
        .map(|_| {
            let run_id = Uuid::now_v7();
            (run_id, recorded_run(run_id))
        })
        .collect();
    write_with_previous_schema(engine, &db.url, &runs).await;

    // Opening the store applies 0007 and what follows.
    let store = db.store().await;
    let written: Vec<(Uuid, u64, &RunEvent)> = runs
        .iter()
        .flat_map(|(run_id, events)| {
            events
                .iter()
                .enumerate()
                .map(|(i, event)| (*run_id, i as u64 + 1, event))
        })
        .collect();
    let log = read_all_settled(&store, 0, written.len()).await;
    let read: Vec<(Uuid, u64, &RunEvent)> = log
        .iter()
        .map(|stored| (stored.stream_id, stored.version, &stored.event))
        .collect();
    assert_eq!(read, written, "every event, in its place, meaning the same");
    let positions: Vec<i64> = log.iter().map(|stored| stored.position).collect();
    assert_eq!(positions, (1..=written.len() as i64).collect::<Vec<_>>());

    // What was recorded beside each event is now its metadata, and every
    // row names its aggregate type.
    let rows = metadata_rows(engine, &db.url).await;
    assert_eq!(rows.len(), written.len());
    for (aggregate_type, metadata) in rows {
        assert_eq!(aggregate_type, "run");
        assert_eq!(metadata, json!({"recordedAt": AT.to_string()}));
    }

    // The write side loads each migrated run and the log goes on after it.
    let (run_id, events) = &runs[0];
    let repository = RunRepository::new(store.clone());
    let state = repository.load(*run_id).await.unwrap();
    assert_eq!(state, RunState::fold(events));
    let next = RunEvent::RunArchived { at: AT };
    let version = store
        .append(
            *run_id,
            events.len() as u64,
            std::slice::from_ref(&next),
            None,
        )
        .await
        .unwrap();
    assert_eq!(version, events.len() as u64 + 1);
    let tail = read_all_settled(&store, *positions.last().unwrap(), 1).await;
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].event, next);
    assert!(tail[0].position > *positions.last().unwrap());

    // Opening the store chained the old events (0010), and the append
    // after them continued that chain.
    for (run_id, events) in &runs {
        let rows = store.chain_rows(*run_id).await.unwrap();
        let report = chain_report(&rows);
        assert!(report.intact, "{report:?}");
        let appended = usize::from(run_id == &runs[0].0);
        assert_eq!(report.events as usize, events.len() + appended);
    }

    // The service lists both runs: the run list holds them, kept or folded
    // again from the log.
    let service = TestService::start(&db.config()).await;
    let page = poll_until(&service.client, "/runs?includeArchived=true", |page| {
        page["total"] == 2
    })
    .await;
    for run in page["data"].as_array().unwrap() {
        assert_eq!(run["status"], "completed", "{run}");
    }

    // The canonical index points into the log: a migrated run's canonical
    // events are served from their version-1 payloads, by the plain read
    // and by the filtered one alike.
    let recorded: Vec<Value> = events
        .iter()
        .filter_map(RunEvent::canonical)
        .map(|event| serde_json::to_value(event).unwrap())
        .collect();
    assert!(recorded.len() > 3, "the run records canonical events");
    let served = poll_until(
        &service.client,
        &format!("/runs/{run_id}/events"),
        |events| events.as_array().map(Vec::len) == Some(recorded.len()),
    )
    .await;
    assert_eq!(served, Value::Array(recorded.clone()));
    let types: Vec<&str> = recorded
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect();
    let (status, filtered) = service
        .client
        .get(&format!("/runs/{run_id}/events?type={}", types.join(",")))
        .await
        .unwrap();
    assert_eq!(status, 200, "{filtered}");
    assert_eq!(filtered, Value::Array(recorded));
}

/// `(aggregate_type, metadata)` of every row, in position order.
async fn metadata_rows(engine: Engine, url: &str) -> Vec<(String, Value)> {
    let sql = match engine {
        Engine::Sqlite => "SELECT aggregate_type, metadata FROM events ORDER BY position",
        Engine::Postgres => "SELECT aggregate_type, metadata::text FROM events ORDER BY position",
    };
    let rows: Vec<(String, String)> = match engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
        }
    };
    rows.into_iter()
        .map(|(aggregate_type, metadata)| {
            (aggregate_type, serde_json::from_str(&metadata).unwrap())
        })
        .collect()
}

on_both_engines!(an_old_log_migrates_whole);
