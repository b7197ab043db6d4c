//! Rebuilding every projector from the log gives exactly the read models
//! that live projection built, byte for byte: once while the service keeps
//! serving (its own projectors re-fold), once with the service stopped
//! without releasing its leases (the rebuild job takes them over once they
//! lapse and folds everything itself), once by the job alone.

use crate::support;

use macp_control_plane::demo::{self, decision_request};
use macp_control_plane::live::LiveHub;
use macp_control_plane::rebuild;
use serde_json::json;
use sqlx::{AnyConnection, Connection, Row};
use support::{caught_up, running, Engine, TestDb, WAIT};

/// Every row of every read-model table, in a fixed order, as text.
async fn dump_read_models(url: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await.expect("connect");
    let queries = [
        "SELECT projection || '|' || model_key || '|' || CAST(position AS TEXT) || '|' || \
         CAST(doc AS TEXT) FROM read_models ORDER BY projection, model_key",
        "SELECT CAST(run_id AS TEXT) || '|' || status || '|' || CAST(created_at AS TEXT) || '|' || \
         CAST(updated_at AS TEXT) || '|' || COALESCE(CAST(started_at AS TEXT), '-') || '|' || \
         COALESCE(CAST(ended_at AS TEXT), '-') || '|' || CAST(archived AS TEXT) || '|' || \
         CAST(deleted AS TEXT) || '|' || tags || '|' || search || '|' || CAST(doc AS TEXT) \
         FROM run_list ORDER BY run_id",
        "SELECT CAST(run_id AS TEXT) || '|' || CAST(seq AS TEXT) || '|' || event_type || '|' || \
         CAST(ts AS TEXT) || '|' || CAST(position AS TEXT) FROM canonical_events \
         ORDER BY run_id, seq",
        "SELECT CAST(position AS TEXT) || '|' || CAST(run_id AS TEXT) || '|' || CAST(at AS TEXT) \
         || '|' || principal || '|' || action || '|' || CAST(doc AS TEXT) FROM audit_log \
         ORDER BY position",
    ];
    let mut rows = Vec::new();
    for sql in queries {
        for row in sqlx::query(sql).fetch_all(&mut conn).await.expect(sql) {
            rows.push(row.try_get::<String, _>(0).expect("text row"));
        }
    }
    rows
}

async fn rebuilt_models_equal_live_ones(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;

    // Several real runs that touch every model: a decided run, a run with an
    // artifact and a refused message, and a cancelled one.
    demo::run(&service.url()).await.unwrap();
    let second = running(client, &decision_request()).await;
    let artifact = json!({"kind": "report", "label": "notes", "inline": {"ok": true}});
    let (status, _) = client
        .post(&format!("/runs/{second}/artifacts"), &artifact)
        .await
        .unwrap();
    assert_eq!(status, 201);
    let refused = client
        .send(
            &second,
            "mallory",
            "Vote",
            json!({"proposalId": "p1", "vote": "yes"}),
        )
        .await;
    assert!(refused.is_err(), "a non-participant's message is refused");
    let (status, _) = client
        .post(
            &format!("/runs/{second}/cancel"),
            &json!({"reason": "test"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    client
        .wait_for_status(&second, WAIT, |s| s == "cancelled")
        .await
        .unwrap();

    let store = db.store().await;
    caught_up(&store).await;
    let live = dump_read_models(&db.url).await;
    assert!(
        live.len() > 40,
        "the runs produced read models: {}",
        live.len()
    );

    // While the service serves: it holds every lease, so its own projectors
    // re-fold from the reset.
    let hub = LiveHub::new(store.clone());
    let all = rebuild::choose(&hub, None).unwrap();
    let summary = rebuild::rebuild(&store, all, false).await.unwrap();
    assert_eq!(summary.folded_here, 0, "the service folded them");
    caught_up(&store).await;
    assert_eq!(dump_read_models(&db.url).await, live);

    // With the service stopped, killed as it were, its leases are left
    // behind: the job waits for them to lapse, takes the projectors over and
    // folds them itself.
    drop(service);
    let all = rebuild::choose(&hub, None).unwrap();
    let count = all.len();
    let summary = rebuild::rebuild(&store, all, false).await.unwrap();
    assert_eq!(summary.folded_here, count);
    assert_eq!(dump_read_models(&db.url).await, live);
    let all = rebuild::choose(&hub, None).unwrap();
    let summary = rebuild::rebuild(&store, all, false).await.unwrap();
    assert_eq!(summary.folded_here, count, "no lease held: all folded here");
    assert_eq!(dump_read_models(&db.url).await, live);

    // One projection by name; an unknown name is an error naming the others.
    let one = rebuild::choose(&hub, Some("run_state")).unwrap();
    rebuild::rebuild(&store, one, false).await.unwrap();
    assert_eq!(dump_read_models(&db.url).await, live);
    let unknown = rebuild::choose(&hub, Some("nope")).err().unwrap();
    assert!(unknown.to_string().contains("run_state"), "{unknown}");
}

on_both_engines!(rebuilt_models_equal_live_ones);
