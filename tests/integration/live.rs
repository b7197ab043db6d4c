//! Live SSE and deterministic replay, black-box, against the real runtime.

use crate::support;

use macp_control_plane::api_client::Client;
use serde_json::{json, Value};
use std::time::Duration;
use support::runtime_peer::{converged_commitment, multi_round_request};
use support::sse::{seqs, SseClient};
use support::{caught_up, poll_until, running, Engine, TestDb, WAIT};

/// Sends `rounds` disagreeing contributions from each participant, then an
/// agreement and the Commitment that ends the run.
async fn play_multi_round(client: Client, run_id: String, rounds: usize) {
    for round in 0..rounds {
        for sender in ["alice", "bob"] {
            client
                .send(
                    &run_id,
                    sender,
                    "Contribute",
                    json!({"value": format!("{sender}-{round}")}),
                )
                .await
                .unwrap();
        }
    }
    for sender in ["alice", "bob"] {
        client
            .send(&run_id, sender, "Contribute", json!({"value": "agreed"}))
            .await
            .unwrap();
    }
    let commitment = converged_commitment("c-1");
    client
        .send(&run_id, "coord", "Commitment", commitment)
        .await
        .unwrap();
}

fn is_completion(event: &support::sse::SseEvent) -> bool {
    event.name == "canonical_event" && event.data["type"] == "run.completed"
}

#[tokio::test]
async fn the_stream_starts_with_a_snapshot_then_carries_every_live_event_once() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let url = service.url();
    let run_id = running(&service.client, &multi_round_request(120_000)).await;

    let mut sse = SseClient::open(
        &format!("{url}/runs/{run_id}/stream?heartbeatMs=1000"),
        None,
    )
    .await;
    let first = sse.next(WAIT).await.expect("a first event");
    assert_eq!(first.name, "snapshot");
    assert!(first.id.is_empty(), "no id: on a snapshot");
    let start = first.data["timeline"]["latestSeq"].as_u64().unwrap();
    assert_eq!(first.data["run"]["status"], "running");

    let player = tokio::spawn(play_multi_round(Client::new(&url), run_id.clone(), 20));
    let events = sse.until(WAIT, is_completion).await;
    player.await.unwrap();
    let seqs = seqs(&events);
    assert_eq!(
        seqs,
        ((start + 1)..=*seqs.last().unwrap()).collect::<Vec<_>>(),
        "every event once, in order, after the snapshot"
    );
    let snapshots: Vec<_> = events.iter().filter(|e| e.name == "snapshot").collect();
    assert!(
        !snapshots.is_empty(),
        "a fresh snapshot follows ingested batches"
    );
    assert!(events
        .iter()
        .all(|e| ["snapshot", "canonical_event", "heartbeat"].contains(&e.name.as_str())));

    // The stream stays open after the run ended: heartbeats keep coming,
    // named, with a timestamp and no id.
    let after = sse
        .until(Duration::from_secs(5), |e| e.name == "heartbeat")
        .await;
    let heartbeat = after.last().unwrap();
    assert!(heartbeat.data["ts"]
        .as_str()
        .is_some_and(|ts| ts.ends_with('Z')));
    // On the wire: heartbeats and snapshots carry no `id:`, events do.
    let raw_url = format!("{url}/runs/{run_id}/stream?heartbeatMs=1000&afterSeq=1");
    let blocks = support::sse::raw_blocks(&raw_url, "heartbeat", 2, Duration::from_secs(5)).await;
    for block in &blocks {
        let has_id = block.lines().any(|l| l.starts_with("id:"));
        let is_event = block.lines().any(|l| l == "event: canonical_event");
        assert_eq!(has_id, is_event, "{block}");
    }
    let last_snapshot = events
        .iter()
        .chain(after.iter())
        .rfind(|e| e.name == "snapshot")
        .unwrap();
    assert_eq!(last_snapshot.data["run"]["status"], "completed");
}

#[tokio::test]
async fn backfill_and_live_meet_with_no_gap_and_no_duplicate_while_ingesting() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let url = service.url();
    let run_id = running(&service.client, &multi_round_request(120_000)).await;
    let player = tokio::spawn(play_multi_round(Client::new(&url), run_id.clone(), 40));
    // Join mid-flight, asking for everything after seq 3: once the player's
    // messages are being recorded (past seq 3), while the run still runs.
    let joined = poll_until(&service.client, &format!("/runs/{run_id}"), |run| {
        run["lastEventSeq"].as_u64() > Some(3)
    })
    .await;
    assert_eq!(joined["status"], "running", "joined after the run ended");
    let mut sse = SseClient::open(
        &format!("{url}/runs/{run_id}/stream?afterSeq=3&includeSnapshot=false"),
        None,
    )
    .await;
    let events = sse.until(WAIT, is_completion).await;
    player.await.unwrap();
    let seqs = seqs(&events);
    assert_eq!(seqs, (4..=*seqs.last().unwrap()).collect::<Vec<_>>());
    assert!(
        events.iter().all(|e| e.name != "snapshot"),
        "includeSnapshot=false"
    );
}

#[tokio::test]
async fn a_client_resumes_by_after_seq_or_last_event_id() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let url = service.url();
    let outcome = macp_control_plane::demo::run(&url).await.unwrap();
    let last = outcome.events.len() as u64;
    let run_id = outcome.run_id;

    let mut by_query = SseClient::open(
        &format!("{url}/runs/{run_id}/stream?afterSeq=5&includeSnapshot=false"),
        None,
    )
    .await;
    let events = by_query.until(WAIT, is_completion).await;
    assert_eq!(seqs(&events), (6..=last).collect::<Vec<_>>());

    let mut by_header = SseClient::open(
        &format!("{url}/runs/{run_id}/stream?includeSnapshot=false"),
        Some("10"),
    )
    .await;
    let events = by_header.until(WAIT, is_completion).await;
    assert_eq!(seqs(&events), (11..=last).collect::<Vec<_>>());
    let replayed: Vec<Value> = events.iter().map(|e| e.data.clone()).collect();
    assert_eq!(
        replayed,
        outcome.events[10..].to_vec(),
        "the same events, byte for byte as JSON"
    );

    let mut with_snapshot =
        SseClient::open(&format!("{url}/runs/{run_id}/stream?afterSeq=20"), None).await;
    let events = with_snapshot.until(WAIT, is_completion).await;
    assert_eq!(events[0].name, "snapshot");
    assert_eq!(seqs(&events), (21..=last).collect::<Vec<_>>());

    let (status, answer) = service
        .client
        .get(&format!("/runs/{run_id}/stream?heartbeatMs=10"))
        .await
        .unwrap();
    assert_eq!(
        (status, answer["errors"][0]["path"].as_str()),
        (400, Some("heartbeatMs"))
    );
}

#[tokio::test]
async fn replay_streams_the_recording_and_state_is_the_folded_prefix() {
    let db = TestDb::new(Engine::Sqlite).await;
    let service = db.start().await;
    let url = service.url();
    let outcome = macp_control_plane::demo::run(&url).await.unwrap();
    let run_id = outcome.run_id;
    let last = outcome.events.len() as u64;

    let (status, plan) = service
        .client
        .post(
            &format!("/runs/{run_id}/replay"),
            &json!({"mode": "timed", "speed": 50.0, "fromSeq": 3}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        (plan["fromSeq"].as_u64(), plan["toSeq"].as_u64()),
        (Some(3), Some(last))
    );
    let stream_url = plan["streamUrl"].as_str().unwrap();
    let mut replay = SseClient::open(&format!("{url}{stream_url}"), None).await;
    let replayed = replay.collect_to_end(Duration::from_secs(10)).await;
    assert_eq!(
        seqs(&replayed),
        (3..=last).collect::<Vec<_>>(),
        "then the stream ends"
    );
    for (event, original) in replayed.iter().zip(&outcome.events[2..]) {
        assert_eq!(event.data["source"]["kind"], "replay");
        assert_eq!(event.data["type"], original["type"]);
        assert_eq!(event.data["data"], original["data"]);
    }
    let mut instant = SseClient::open(
        &format!("{url}/runs/{run_id}/replay/stream?mode=instant&fromSeq=2&toSeq=4"),
        None,
    )
    .await;
    assert_eq!(
        seqs(&instant.collect_to_end(Duration::from_secs(10)).await),
        vec![2, 3, 4]
    );
    let (status, bad) = service
        .client
        .post(
            &format!("/runs/{run_id}/replay"),
            &json!({"mode": "rewind", "speed": 0.01}),
        )
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(bad["errors"].as_array().unwrap().len(), 2, "{bad}");

    // State at each seq is the prefix folded: as many events as its seq,
    // and the full replay is the live state, byte for byte.
    for seq in 1..=last {
        let (_, state) = service
            .client
            .get(&format!("/runs/{run_id}/replay/state?seq={seq}"))
            .await
            .unwrap();
        assert_eq!(state["timeline"]["latestSeq"], seq);
        assert_eq!(state["timeline"]["totalEvents"], seq);
        let expected_type = &outcome.events[seq as usize - 1]["type"];
        assert_eq!(
            state["timeline"]["recent"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()["type"],
            *expected_type
        );
    }
    let http = reqwest::Client::new();
    poll_until(&service.client, &format!("/runs/{run_id}/state"), |s| {
        s["timeline"]["latestSeq"] == last
    })
    .await;
    let live = http
        .get(format!("{url}/runs/{run_id}/state"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let replayed = http
        .get(format!("{url}/runs/{run_id}/replay/state?seq={last}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        replayed, live,
        "the final replay state equals the live state byte for byte"
    );
    let whole = http
        .get(format!("{url}/runs/{run_id}/replay/state"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(whole, live);
}

/// A run long enough for run-state snapshots: the replay state at every
/// seq around and between them is still exactly the fold of the prefix.
#[tokio::test]
async fn replay_state_from_snapshots_is_the_folded_prefix() {
    use macp_control_plane::projector::SNAPSHOT_EVERY;
    use projections::{Projection, RunStateView};

    let db = TestDb::new(Engine::Sqlite).await;
    let store = db.store().await;
    let envelopes = usize::try_from(SNAPSHOT_EVERY).unwrap() + 200;
    let (run_id, _) = macp_control_plane::seed::seed_run(&store, envelopes)
        .await
        .unwrap();
    let service = db.start().await;
    caught_up(&store).await;
    let log = store.read_stream(run_id, 0).await.unwrap();
    let latest = log
        .iter()
        .filter_map(|e| e.event.canonical())
        .map(|e| e.seq)
        .max()
        .unwrap();
    assert!(
        latest > 2 * SNAPSHOT_EVERY,
        "two snapshots at least: {latest}"
    );
    assert!(
        store
            .latest_snapshot(run_id, latest)
            .await
            .unwrap()
            .is_some(),
        "the snapshots were taken"
    );
    let prefix = |seq: u64| {
        RunStateView::fold(
            log.iter()
                .map(|e| &e.event)
                .take_while(|e| e.canonical().is_none_or(|c| c.seq <= seq)),
        )
    };
    let every = SNAPSHOT_EVERY;
    for seq in [
        1,
        every - 1,
        every,
        every + 1,
        2 * every - 1,
        2 * every,
        2 * every + 7,
        latest,
    ] {
        let (status, state) = service
            .client
            .get(&format!("/runs/{run_id}/replay/state?seq={seq}"))
            .await
            .unwrap();
        assert_eq!(status, 200, "{state}");
        assert_eq!(
            state,
            serde_json::to_value(prefix(seq)).unwrap(),
            "state at seq {seq}"
        );
    }
}
