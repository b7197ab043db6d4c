//! A test SSE client: named events, as the contract defines them.

#![allow(dead_code)]

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::pin::Pin;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: String,
    pub id: String,
    pub data: Value,
}

pub struct SseClient {
    events: Pin<Box<dyn Stream<Item = SseEvent> + Send>>,
}

impl SseClient {
    /// Opens `url` (with optional `Last-Event-ID`) and checks it is an
    /// uncompressed event stream.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("SSE request");
        assert_eq!(response.status(), 200, "SSE status for {url}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        assert!(
            response.headers().get("content-encoding").is_none(),
            "never compressed"
        );
        let events = response
            .bytes_stream()
            .eventsource()
            .filter_map(|event| async move {
                let event = event.ok()?;
                Some(SseEvent {
                    name: event.event,
                    id: event.id,
                    data: serde_json::from_str(&event.data).unwrap_or(Value::String(event.data)),
                })
            });
        SseClient {
            events: Box::pin(events),
        }
    }

    /// The next event, or `None` if the stream ended or `wait` passed.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.events.next())
            .await
            .ok()
            .flatten()
    }

    /// Events until `stop` holds for one (included), failing after `wait`.
    pub async fn until(
        &mut self,
        wait: Duration,
        stop: impl Fn(&SseEvent) -> bool,
    ) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("stream stopped before the end; saw {seen:?}"));
            let done = stop(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Every event until the server ends the stream.
    pub async fn collect_to_end(&mut self, wait: Duration) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        while let Some(event) = self.next(wait).await {
            seen.push(event);
        }
        seen
    }
}

/// The seqs of the `canonical_event`s among `events`.
pub fn seqs(events: &[SseEvent]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.name == "canonical_event")
        .map(|e| {
            let seq = e.data["seq"].as_u64().unwrap();
            assert_eq!(e.id, seq.to_string(), "id: is the seq");
            seq
        })
        .collect()
}

/// The raw event blocks of `url` as sent on the wire, until `count` blocks
/// naming `event_name` have arrived (what a parser hides, such as whether
/// a block carries `id:`).
pub async fn raw_blocks(url: &str, event_name: &str, count: usize, wait: Duration) -> Vec<String> {
    let response = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("SSE request");
    let mut bytes = response.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    let wanted = format!("event: {event_name}");
    loop {
        let blocks: Vec<String> = text.split("\n\n").map(str::to_string).collect();
        let complete = &blocks[..blocks.len() - 1];
        if complete
            .iter()
            .filter(|b| b.lines().any(|l| l == wanted))
            .count()
            >= count
        {
            return complete.to_vec();
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, bytes.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("no {count} {event_name} blocks in time; got {text}"),
        }
    }
}
