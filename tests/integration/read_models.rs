//! The read side over HTTP, on real runs: the run list, metrics, artifacts,
//! traces, events across runs, export, compare, clone, archive, delete,
//! batches, dashboards and the per-run rebuild.

use crate::support;

use macp_control_plane::api_client::Client;
use macp_control_plane::demo::{self, decision_request};
use serde_json::{json, Value};
use support::{poll_until, running, Engine, TestDb};

/// A decision run tagged `tags`, running.
async fn running_tagged(client: &Client, tags: &[&str]) -> String {
    let mut request = decision_request();
    request["execution"]["tags"] = json!(tags);
    running(client, &request).await
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn read_side_over_real_runs(engine: Engine) {
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let client = &service.client;
    let done = demo::run(&service.url()).await.unwrap();
    let completed = done.run_id.clone();
    let live = running_tagged(client, &["blue", "batch"]).await;
    let cancelled = running_tagged(client, &["red"]).await;
    client
        .post(&format!("/runs/{cancelled}/cancel"), &json!({}))
        .await
        .unwrap();

    // The run list: filters, sort, paging.
    let all = poll_until(client, "/runs?sortOrder=asc", |p| p["total"] == 3).await;
    assert_eq!(
        ids(&all),
        vec![completed.clone(), live.clone(), cancelled.clone()]
    );
    assert_eq!(
        (all["limit"].as_i64(), all["offset"].as_i64()),
        (Some(50), Some(0))
    );
    let page = poll_until(client, "/runs?status=cancelled", |p| p["total"] == 1).await;
    assert_eq!(ids(&page), vec![cancelled.clone()]);
    let (_, tagged) = client.get("/runs?tags=blue").await.unwrap();
    assert_eq!(ids(&tagged), vec![live.clone()]);
    let (_, second) = client
        .get("/runs?limit=1&offset=1&sortOrder=desc")
        .await
        .unwrap();
    assert_eq!(
        (ids(&second), second["total"].as_i64()),
        (vec![live.clone()], Some(3))
    );
    let (_, searched) = client
        .get(&format!("/runs?search={}", &completed[..13]))
        .await
        .unwrap();
    assert_eq!(ids(&searched), vec![completed.clone()]);
    let (status, bad) = client.get("/runs?status=sleeping").await.unwrap();
    assert_eq!(
        (status, bad["errors"][0]["path"].as_str()),
        (400, Some("status"))
    );

    // Metrics, artifacts, traces.
    let metrics = poll_until(client, &format!("/runs/{completed}/metrics"), |m| {
        m["sessionState"] == "SESSION_STATE_RESOLVED"
    })
    .await;
    assert_eq!(metrics["eventCount"], json!(done.events.len()));
    assert_eq!(metrics["messageCount"], 6);
    assert_eq!(
        (
            metrics["proposalCount"].as_u64(),
            metrics["decisionCount"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(metrics["durationMs"].as_i64().unwrap() >= 0);
    let (_, artifacts) = client
        .get(&format!("/runs/{completed}/artifacts"))
        .await
        .unwrap();
    let trace = &artifacts[0];
    assert_eq!(
        (trace["kind"].as_str(), trace["runId"].as_str()),
        (Some("trace"), Some(completed.as_str()))
    );
    let new = json!({"kind": "report", "label": "Summary", "inline": {"verdict": "ship"}});
    let (status, created) = client
        .post(&format!("/runs/{completed}/artifacts"), &new)
        .await
        .unwrap();
    assert_eq!(status, 201, "{created}");
    let (status, bad) = client
        .post(
            &format!("/runs/{completed}/artifacts"),
            &json!({"kind": "movie", "label": ""}),
        )
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(bad["errors"].as_array().unwrap().len(), 3, "{bad}");
    let listed = poll_until(client, &format!("/runs/{completed}/artifacts"), |a| {
        a.as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    assert_eq!(listed[1]["inline"]["verdict"], "ship");
    let (_, traces) = client
        .get(&format!("/runs/{completed}/traces"))
        .await
        .unwrap();
    assert_eq!(traces["traceId"], done.events[0]["trace"]["traceId"]);
    assert_eq!(traces["linkedArtifacts"], json!([trace["id"]]));

    // Events across runs, with a cursor.
    let (_, finals) = client
        .get("/events?type=decision.finalized,run.cancelled")
        .await
        .unwrap();
    assert_eq!(finals["total"], 2);
    let (_, first) = client
        .get(&format!("/events?runId={completed}&limit=5"))
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 5);
    let cursor = first["nextCursor"].as_i64().unwrap();
    let (_, next) = client
        .get(&format!(
            "/events?runId={completed}&limit=5&afterSeq={cursor}"
        ))
        .await
        .unwrap();
    assert_eq!(next["data"][0]["seq"], 6);

    // Export, JSON and JSON Lines.
    let (_, bundle) = client
        .get(&format!("/runs/{completed}/export?includeRaw=true"))
        .await
        .unwrap();
    assert_eq!(
        bundle["canonicalEvents"].as_array().unwrap().len(),
        done.events.len() + 1,
        "+ artifact.created"
    );
    let ordinals: Vec<u64> = bundle["rawEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ordinal"].as_u64().unwrap())
        .collect();
    assert_eq!(ordinals, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(bundle["session"]["sessionId"], completed.as_str());
    assert_eq!(
        bundle["projection"]["decision"]["current"]["finalized"],
        true
    );
    let lines = reqwest::Client::new()
        .get(format!(
            "{}/runs/{completed}/export?format=jsonl",
            service.url()
        ))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let records: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records[0]["type"], "run");
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "canonical_event")
            .count(),
        done.events.len() + 1
    );

    // Compare, clone.
    let (_, diff) = client
        .post(
            "/runs/compare",
            &json!({"leftRunId": completed, "rightRunId": cancelled}),
        )
        .await
        .unwrap();
    assert_eq!(diff["statusMatch"], false);
    assert_eq!(
        diff["participantsDiff"]["common"].as_array().unwrap().len(),
        3
    );
    let (status, copy) = client
        .post(
            &format!("/runs/{completed}/clone"),
            &json!({"tags": ["copy"]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 202, "{copy}");
    let copy_id = copy["runId"].as_str().unwrap().to_string();
    assert_ne!(copy_id, completed);
    let copied = poll_until(client, &format!("/runs/{copy_id}"), |r| {
        r["status"] == "running"
    })
    .await;
    assert_eq!(copied["tags"], json!(["copy"]));

    // Archive and delete only ended runs; a deleted run is gone from reads.
    let (status, _) = client
        .post(&format!("/runs/{live}/archive"), &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 409);
    let (status, archived) = client
        .post(&format!("/runs/{cancelled}/archive"), &json!({}))
        .await
        .unwrap();
    assert_eq!((status, archived["archivedAt"].is_string()), (200, true));
    poll_until(client, "/runs", |p| !ids(p).contains(&cancelled)).await;
    let (_, with_archived) = client.get("/runs?includeArchived=true").await.unwrap();
    assert!(ids(&with_archived).contains(&cancelled));

    // Batches: literal paths, one result per run.
    let bogus = uuid::Uuid::new_v4().to_string();
    let (status, batch) = client
        .post(
            "/runs/batch/cancel",
            &json!({"runIds": [live, bogus, completed]}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{batch}");
    let oks: Vec<bool> = batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, vec![true, false, false]);
    assert_eq!(batch["results"][1]["errorCode"], "RUN_NOT_FOUND");
    assert_eq!(batch["results"][2]["errorCode"], "INVALID_STATE_TRANSITION");
    assert!(batch["results"][2]["error"].is_string(), "{batch}");
    let (_, exported) = client
        .post("/runs/batch/export", &json!({"runIds": [completed]}))
        .await
        .unwrap();
    assert_eq!(exported[0]["run"]["id"], completed.as_str());
    let (status, deleted) = client
        .post("/runs/batch/delete", &json!({"runIds": [cancelled]}))
        .await
        .unwrap();
    assert_eq!(
        (status, deleted["results"][0]["ok"].as_bool()),
        (200, Some(true))
    );
    let (status, _) = client.get(&format!("/runs/{cancelled}")).await.unwrap();
    assert_eq!(status, 404, "a deleted run is gone");
    let (status, _) = client
        .get(&format!("/runs/{cancelled}/events"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    let store = db.store().await;
    assert!(
        !store
            .read_stream(cancelled.parse().unwrap(), 0)
            .await
            .unwrap()
            .is_empty(),
        "its events stay in the log"
    );

    // Dashboards.
    let overview = poll_until(client, "/dashboard/overview?window=1h", |o| {
        o["kpis"]["completedRuns"] == 1
    })
    .await;
    assert_eq!(
        overview["charts"]["runsOverTime"]["labels"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(overview["runtimeHealth"]["ok"], true);
    assert!(overview["kpis"]["successRate"].as_f64().unwrap() > 0.0);
    let (status, _) = client.get("/dashboard/overview?window=2w").await.unwrap();
    assert_eq!(status, 400);
    let (_, agents) = client.get("/dashboard/agents/metrics").await.unwrap();
    let risk = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["participantId"] == "risk-analyst")
        .unwrap();
    assert!(risk["runs"].as_u64().unwrap() >= 3);
    assert!(risk["averageConfidence"].as_f64().unwrap() > 0.0);

    // Rebuilding one run's models gives them back as they were.
    let before = poll_until(client, &format!("/runs/{completed}/state"), |s| {
        s["trace"]["linkedArtifacts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let (status, rebuilt) = client
        .post(&format!("/runs/{completed}/projection/rebuild"), &json!({}))
        .await
        .unwrap();
    assert_eq!((status, rebuilt["rebuilt"].as_bool()), (200, Some(true)));
    assert_eq!(rebuilt["latestSeq"], json!(done.events.len() + 1));
    let (_, after) = client
        .get(&format!("/runs/{completed}/state"))
        .await
        .unwrap();
    assert_eq!(after, before);
}

on_both_engines!(the_read_side_answers_the_contract => read_side_over_real_runs);
