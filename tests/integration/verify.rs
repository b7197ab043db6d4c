//! An auditor's checks of a run's record (`GET /runs/:id/verify` and
//! `macp-control-plane verify --run`), on both engines: a completed run
//! verifies and its summary shows the chain head; one byte of one stored
//! event changed by SQL makes both name that event's position; two
//! instances appending to one stream keep its chain exact; a signed
//! decision receipt verifies and a forged one does not; an archive
//! verifies offline.

use crate::support;

use aggregates::{RunEvent, Timestamp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use macp_control_plane::api_client::Client;
use macp_control_plane::demo;
use macp_control_plane::runtime::embedded::{
    EmbeddedRuntime, EmbeddedStorage, ReceiptKey, RuntimeSecurity,
};
use macp_control_plane::store::{chain_report, AppendError, EventStore};
use macp_core::receipt::ReceiptSigner;
use serde_json::json;
use serde_json::Value;
use sqlx::Connection;
use std::process::Command;
use support::runtime_peer::multi_round_request;
use support::{poll_until, running, Engine, TestDb, TestService};

/// Runs `macp-control-plane verify --run <run_id>` on `url`'s database;
/// answers its exit code and the report it printed.
fn verify_command(url: &str, run_id: &str, data_dir: &std::path::Path) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_macp-control-plane"))
        .args(["verify", "--run", run_id])
        .env("DATABASE_URL", url)
        .env("DATA_DIR", data_dir)
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("the binary runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no report ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

/// Changes one digit of the stored payload of the event at `position`
/// (the JSON stays valid, so only the chain can tell).
async fn change_one_byte(engine: Engine, url: &str, position: i64) {
    let read = match engine {
        Engine::Sqlite => "SELECT payload FROM events WHERE position = $1",
        Engine::Postgres => "SELECT payload::text FROM events WHERE position = $1",
    };
    let write = match engine {
        Engine::Sqlite => "UPDATE events SET payload = $1 WHERE position = $2",
        Engine::Postgres => "UPDATE events SET payload = $1::json WHERE position = $2",
    };
    macro_rules! tamper {
        ($conn:expr) => {{
            let mut conn = $conn;
            let payload: String = sqlx::query_scalar(read)
                .bind(position)
                .fetch_one(&mut conn)
                .await
                .expect("the event");
            let at = payload
                .find(|c: char| c.is_ascii_digit())
                .expect("a digit in the payload");
            let mut bytes = payload.into_bytes();
            bytes[at] = if bytes[at] == b'9' {
                b'8'
            } else {
                bytes[at] + 1
            };
            let changed = String::from_utf8(bytes).expect("still UTF-8");
            let updated = sqlx::query(write)
                .bind(changed)
                .bind(position)
                .execute(&mut conn)
                .await
                .expect("the update");
            assert_eq!(updated.rows_affected(), 1);
        }};
    }
    match engine {
        Engine::Sqlite => tamper!(sqlx::SqliteConnection::connect(url).await.unwrap()),
        Engine::Postgres => tamper!(sqlx::PgConnection::connect(url).await.unwrap()),
    }
}

async fn a_run_verifies_and_a_changed_byte_is_found(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let outcome = demo::run(&service.url()).await.unwrap();
    assert_eq!(outcome.status, "completed");
    let run_id = outcome.run_id;

    let (status, report) = client.get(&format!("/runs/{run_id}/verify")).await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["chain"]["intact"], true);
    assert_eq!(report["readModels"]["matching"], true, "{report}");
    assert_eq!(report["readModels"]["models"].as_array().unwrap().len(), 6);
    // The embedded runtime serves unsigned receipts: present, checked,
    // the Commitment the run recorded.
    assert_eq!(report["receipt"]["present"], true, "{report}");
    assert_eq!(report["receipt"]["checks"]["signed"], false);
    assert_eq!(report["receipt"]["checks"]["commitmentMatches"], true);
    let store = db.store().await;
    let rows = store.chain_rows(run_id.parse().unwrap()).await.unwrap();
    assert_eq!(report["chain"]["events"], rows.len());

    // The summary carries the head of the same chain.
    let (_, run) = client.get(&format!("/runs/{run_id}")).await.unwrap();
    assert_eq!(run["chain"]["head"], report["chain"]["head"], "{run}");
    assert_eq!(run["chain"]["version"], rows.len());
    let head = run["chain"]["head"].as_str().unwrap();
    assert_eq!(head.len(), 64);
    assert!(head.bytes().all(|b| b.is_ascii_hexdigit()));

    let (code, cli_report) = verify_command(&db.url, &run_id, db.data_dir.path());
    assert_eq!(code, 0, "{cli_report}");
    assert_eq!(cli_report["chain"], report["chain"]);

    // One byte of one event in the middle of the stream.
    let tampered = &rows[rows.len() / 2];
    change_one_byte(engine, &db.url, tampered.position).await;

    let (status, report) = client.get(&format!("/runs/{run_id}/verify")).await.unwrap();
    assert_eq!(status, 409, "{report}");
    assert_eq!(report["verified"], false);
    assert_eq!(report["chain"]["intact"], false);
    assert_eq!(report["chain"]["firstBad"]["position"], tampered.position);
    assert_eq!(report["chain"]["firstBad"]["sequence"], tampered.sequence);

    let (code, cli_report) = verify_command(&db.url, &run_id, db.data_dir.path());
    assert_eq!(code, 1, "{cli_report}");
    assert_eq!(
        cli_report["chain"]["firstBad"]["position"],
        tampered.position
    );

    // A run the log does not hold is not found.
    let (status, other) = client
        .get(&format!("/runs/{}/verify", uuid::Uuid::now_v7()))
        .await
        .unwrap();
    assert_eq!(status, 404, "{other}");
    assert_eq!(other["errorCode"], "RUN_NOT_FOUND");
}

/// Runs the binary with `args` in `dir`, with no database configured;
/// answers its exit code and what it printed.
fn offline(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_macp-control-plane"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("LOG_LEVEL", "warn")
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// A run's archive, from the service and from the export command, verifies
/// offline (no service, no database); one byte changed inside one event's
/// payload makes it fail naming that event, and a file that is no archive
/// fails too.
async fn an_archive_verifies_offline(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let outcome = demo::run(&service.url()).await.unwrap();
    let run_id = outcome.run_id;
    let (_, run) = service
        .client
        .get(&format!("/runs/{run_id}"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let response = reqwest::get(format!("{}/runs/{run_id}/archive", service.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/x-protobuf"
    );
    let served = response.bytes().await.unwrap();
    let served_file = dir.path().join("served.macp-archive");
    std::fs::write(&served_file, &served).unwrap();

    let exported_file = dir.path().join("exported.macp-archive");
    let exported = Command::new(env!("CARGO_BIN_EXE_macp-control-plane"))
        .args(["export", "--run", &run_id, "--archive"])
        .arg(&exported_file)
        .env("DATABASE_URL", &db.url)
        .env("DATA_DIR", db.data_dir.path())
        .env("LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(exported.status.success(), "{exported:?}");

    for file in [&served_file, &exported_file] {
        let (code, printed) = offline(dir.path(), &["verify", "--archive", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{printed}");
        let report: Value = serde_json::from_str(&printed).expect("a JSON report");
        assert_eq!(report["verified"], true);
        assert_eq!(report["runId"], run_id.as_str());
        assert_eq!(report["chain"]["head"], run["chain"]["head"]);
    }

    // One digit inside one event's payload: the protobuf still decodes,
    // and the chain names the event.
    let mut bytes = served.to_vec();
    let marker = b"\"type\":\"RunCompleted\"";
    let at = bytes
        .windows(marker.len())
        .position(|window| window == marker)
        .expect("the archive holds the run's end");
    let digit = at + bytes[at..].iter().position(u8::is_ascii_digit).unwrap();
    bytes[digit] = if bytes[digit] == b'9' {
        b'8'
    } else {
        bytes[digit] + 1
    };
    let flipped = dir.path().join("flipped.macp-archive");
    std::fs::write(&flipped, &bytes).unwrap();
    let (code, printed) = offline(
        dir.path(),
        &["verify", "--archive", flipped.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{printed}");
    let report: Value = serde_json::from_str(&printed).expect("a JSON report");
    assert_eq!(report["verified"], false);
    let store = db.store().await;
    let rows = store.chain_rows(run_id.parse().unwrap()).await.unwrap();
    let ended = rows
        .iter()
        .find(|row| row.event_type == "RunCompleted")
        .unwrap();
    assert_eq!(report["chain"]["firstBad"]["position"], ended.position);

    let garbage = dir.path().join("garbage.macp-archive");
    std::fs::write(&garbage, b"\xff\xff\xff not an archive").unwrap();
    let (code, printed) = offline(
        dir.path(),
        &["verify", "--archive", garbage.to_str().unwrap()],
    );
    assert_ne!(code, 0, "{printed}");
    assert!(printed.contains("not a run archive"), "{printed}");
}

on_both_engines!(an_archive_verifies_offline);

/// A runtime that signs receipts (a key made here): the run's receipt is
/// fetched, checked and recorded with its end; the run state, the
/// verification, the export and the archive show it signed and verified;
/// the same receipt forged in the database fails.
async fn a_signed_receipt_is_kept_and_verifies(engine: Engine) {
    let seed = [42u8; 32];
    let signer = ReceiptSigner::from_seed(&seed, "test-key-1").unwrap();
    let mut private_jwk = signer.public_jwk();
    private_jwk["d"] = URL_SAFE_NO_PAD.encode(seed).into();
    let runtime = EmbeddedRuntime::start_secured(
        EmbeddedStorage::Memory,
        RuntimeSecurity {
            receipt_key: Some(ReceiptKey {
                key_text: private_jwk.to_string(),
                kid: None,
                runtime_id: "verify-test".into(),
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let db = TestDb::new(engine).await;
    let service = TestService::start(&db.config_with_runtime(runtime.address)).await;
    let outcome = demo::run(&service.url()).await.unwrap();
    assert_eq!(outcome.status, "completed");
    let run_id = outcome.run_id;

    let state = poll_until(&service.client, &format!("/runs/{run_id}/state"), |state| {
        state["decision"]["current"]["receipt"].is_object()
    })
    .await;
    let receipt = &state["decision"]["current"]["receipt"];
    assert_eq!(receipt["present"], true, "{receipt}");
    assert_eq!(receipt["signed"], true, "{receipt}");
    assert_eq!(receipt["verified"], true, "{receipt}");
    assert_eq!(receipt["signatureValid"], true);
    assert_eq!(receipt["commitmentMatches"], true);
    assert_eq!(receipt["issuer"], "runtime:verify-test");
    assert_eq!(receipt["verdict"], "attested");

    let (status, report) = service
        .client
        .get(&format!("/runs/{run_id}/verify"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["receipt"]["present"], true);
    assert_eq!(report["receipt"]["checks"]["signatureValid"], true);
    assert_eq!(report["receipt"]["asRecorded"], true);

    let (_, export) = service
        .client
        .get(&format!("/runs/{run_id}/export"))
        .await
        .unwrap();
    let served: Value =
        serde_json::from_str(export["receipt"]["receiptJson"].as_str().unwrap()).unwrap();
    assert_eq!(served["issuer"], "runtime:verify-test");
    assert_eq!(served["receipt_format"], "macp-receipt/1");
    let keys: Value =
        serde_json::from_str(export["receipt"]["keysJson"].as_str().unwrap()).unwrap();
    assert_eq!(keys["keys"][0]["kid"], "test-key-1");

    let archive = reqwest::get(format!("{}/runs/{run_id}/archive", service.url()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let offline = macp_control_plane::archive::verify(&archive).unwrap();
    assert!(offline.verified, "{offline:?}");
    let rechecked = offline.receipt.expect("the archive holds the receipt");
    assert!(rechecked.verified());
    assert_eq!(rechecked.checks.signature_valid, Some(true));

    // A forged receipt: its issuer rewritten in the database. The signature
    // no longer holds, and the chain names the event.
    let forge = match engine {
        Engine::Sqlite => {
            "UPDATE events SET payload = replace(payload, 'runtime:verify-test', \
             'runtime:forged-test') WHERE event_type = 'DecisionReceiptRecorded' RETURNING position"
        }
        Engine::Postgres => {
            "UPDATE events SET payload = replace(payload::text, 'runtime:verify-test', \
             'runtime:forged-test')::json WHERE event_type = 'DecisionReceiptRecorded' \
             RETURNING position"
        }
    };
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let forged: i64 = sqlx::query_scalar(forge)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let (status, report) = service
        .client
        .get(&format!("/runs/{run_id}/verify"))
        .await
        .unwrap();
    assert_eq!(status, 409, "{report}");
    assert_eq!(
        report["receipt"]["checks"]["signatureValid"], false,
        "{report}"
    );
    assert_eq!(report["receipt"]["checks"]["issuer"], "runtime:forged-test");
    assert_eq!(report["chain"]["firstBad"]["position"], forged);
}

on_both_engines!(a_signed_receipt_is_kept_and_verifies);

/// A run that goes on while it is verified verifies every time: each
/// stored model is compared with the fold of the stream up to the
/// position it was written at, not with a stream read at another moment.
async fn a_run_in_progress_verifies(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let run_id = running(client, &multi_round_request(120_000)).await;
    let sending = {
        let client = Client::new(&service.url());
        let run_id = run_id.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                for sender in ["alice", "bob"] {
                    let value = format!("{sender}-{i}");
                    client
                        .send(&run_id, sender, "Contribute", json!({"value": value}))
                        .await
                        .expect("a contribution is accepted");
                }
            }
        })
    };
    let mut verified = 0;
    while !sending.is_finished() {
        let (status, report) = client.get(&format!("/runs/{run_id}/verify")).await.unwrap();
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["readModels"]["matching"], true, "{report}");
        verified += 1;
    }
    sending.await.unwrap();
    assert!(verified > 0, "verified while the run went on");
}

on_both_engines!(a_run_in_progress_verifies);

/// Two store handles (two instances) append to one stream at once, each
/// retrying on a version conflict: every append lands, and the chain over
/// all of them is exact, whichever handle wrote each link.
async fn concurrent_appenders_keep_the_chain_exact(engine: Engine) {
    let db = TestDb::new(engine).await;
    let run_id = uuid::Uuid::now_v7();
    let appender = |store: EventStore, from: i64| async move {
        for i in 0..20 {
            let event = RunEvent::RunArchived {
                at: Timestamp::from_unix_ms(from + i),
            };
            loop {
                let version = store.read_stream(run_id, 0).await.unwrap().len() as u64;
                match store
                    .append(run_id, version, std::slice::from_ref(&event), None)
                    .await
                {
                    Ok(_) => break,
                    Err(AppendError::Conflict) => continue,
                    Err(error) => panic!("append failed: {error}"),
                }
            }
        }
    };
    let (first, second) = (db.store().await, db.store().await);
    tokio::join!(appender(first, 1_000), appender(second, 2_000));
    let store = db.store().await;
    let report = chain_report(&store.chain_rows(run_id).await.unwrap());
    assert!(report.intact, "{report:?}");
    assert_eq!(report.events, 40);
}

on_both_engines!(concurrent_appenders_keep_the_chain_exact);

on_both_engines!(a_run_verifies_and_a_changed_byte_is_found);
