//! `GET /runs/:id/stream`: a run, live, over SSE. Named events only:
//! `snapshot` (the run-state view), `canonical_event` (`id:` = its seq) and
//! `heartbeat` (`{"ts"}`). The snapshot comes first (unless
//! `includeSnapshot=false`), then every event after `afterSeq` (or
//! `Last-Event-ID`) from the store, then live events, never one twice and
//! none missing; a fresh snapshot follows each live batch. The stream stays
//! open after the run ends: clients close it. When the run is deleted, a
//! last `run_deleted` event (`{runId, ts}`) is sent and the stream ends.

use super::body::{query_bool, query_int, run_id, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::live::{frame, FeedItem, CANONICAL_EVENT, SNAPSHOT};
use crate::queries::{model_of, visible_summary};
use aggregates::Timestamp;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use projections::RunStateView;
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;
use uuid::Uuid;

/// Events read from the store per backfill query.
const BACKFILL_BATCH: i64 = 500;

/// `stream`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct StreamParams {
    /// Resume after this seq (or Last-Event-ID)
    #[param(value_type = Option<i64>)]
    after_seq: Option<String>,
    /// Default true
    #[param(value_type = Option<bool>)]
    include_snapshot: Option<String>,
    /// Heartbeat interval
    #[param(value_type = Option<i64>)]
    heartbeat_ms: Option<String>,
}

#[utoipa::path(
    get,
    path = "/runs/{id}/stream",
    tag = "live",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "Server-sent events: snapshot, canonical_event, heartbeat", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn stream(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<StreamParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .unwrap_or(0);
    let after_seq = query_int(
        params.after_seq.as_deref(),
        "afterSeq",
        last_event_id,
        0..=i64::MAX,
    )?;
    let include_snapshot = query_bool(params.include_snapshot.as_deref(), "includeSnapshot", true)?;
    let default_heartbeat = i64::try_from(app.sse_heartbeat_ms).unwrap_or(15_000);
    let heartbeat_ms = query_int(
        params.heartbeat_ms.as_deref(),
        "heartbeatMs",
        default_heartbeat,
        1000..=3_600_000,
    )?;
    visible_summary(&app.store, run_id).await?;

    // Registered before anything is read: whatever is committed from now on
    // reaches this subscription, and whatever was committed before is in the
    // store. Duplicates at the seam are dropped by seq.
    let mut subscription = app.live.subscribe(run_id);
    let stream = async_stream::stream! {
        let mut sent_seq = u64::try_from(after_seq).unwrap_or_default();
        if include_snapshot {
            match model_of::<RunStateView>(&app.store, run_id).await {
                Ok(view) => {
                    if sent_seq == 0 {
                        sent_seq = view.timeline.latest_seq;
                    }
                    yield frame(SNAPSHOT, None, &serde_json::to_string(&view).unwrap_or_default());
                }
                Err(error) => tracing::warn!(%run_id, message = %error, "stream: no snapshot"),
            }
        }
        for event in backfill(&app, run_id, &mut sent_seq).await {
            yield event;
        }
        let mut heartbeat = tokio::time::interval(Duration::from_millis(heartbeat_ms.unsigned_abs()));
        heartbeat.tick().await;
        loop {
            tokio::select! {
                item = subscription.receiver.recv() => match item {
                    Ok(item) => match &*item {
                        FeedItem::Event { seq, frame: shared } if *seq > sent_seq => {
                            if *seq > sent_seq + 1 {
                                // Published before this subscriber caught up: read the hole.
                                for event in backfill(&app, run_id, &mut sent_seq).await {
                                    yield event;
                                }
                            }
                            if *seq > sent_seq {
                                sent_seq = *seq;
                                yield shared.clone();
                            }
                        }
                        FeedItem::Snapshot { seq, frame: shared } if include_snapshot && *seq == sent_seq => {
                            yield shared.clone();
                        }
                        FeedItem::Deleted => {
                            yield deleted_event(run_id);
                            break;
                        }
                        // Sent already (read back while catching up); or a
                        // snapshot not asked for, or not the state after
                        // this subscriber's last event.
                        FeedItem::Event { .. } | FeedItem::Snapshot { .. } => {}
                    },
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(%run_id, missed, "stream: subscriber lagged; re-reading from the store");
                        for event in backfill(&app, run_id, &mut sent_seq).await {
                            yield event;
                        }
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = heartbeat.tick() => {
                    // Deleted on another instance: no feed item said so.
                    if app.repo.load(run_id).await.is_ok_and(|state| state.deleted) {
                        yield deleted_event(run_id);
                        break;
                    }
                    let ts = Timestamp::now().to_string();
                    yield frame("heartbeat", None, &json!({"ts": ts}).to_string());
                }
            }
        }
    };
    // Frames are written as they are: the live ones were built once for
    // every subscriber (what axum's `Sse` would copy per subscriber).
    let body = Body::from_stream(stream.map(Ok::<Bytes, Infallible>));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response())
}

/// Every indexed event of the run after `sent_seq` (the last seq this
/// subscriber was sent), advancing it.
async fn backfill(app: &AppState, run_id: Uuid, sent_seq: &mut u64) -> Vec<Bytes> {
    let mut events = Vec::new();
    loop {
        let after = i64::try_from(*sent_seq).unwrap_or(i64::MAX);
        let docs = match app
            .store
            .canonical_events(run_id, after, BACKFILL_BATCH)
            .await
        {
            Ok(docs) => docs,
            Err(error) => {
                tracing::warn!(%run_id, %error, "stream: backfill failed");
                return events;
            }
        };
        let full = docs.len() as i64 == BACKFILL_BATCH;
        for doc in docs {
            let Some(seq) = seq_of(&doc) else { continue };
            *sent_seq = seq;
            events.push(frame(CANONICAL_EVENT, Some(seq), &doc));
        }
        if !full {
            return events;
        }
    }
}

/// The `seq` of a stored canonical event document.
fn seq_of(doc: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(doc)
        .ok()?
        .get("seq")?
        .as_u64()
}

/// The last event of a stream on a run that was deleted.
fn deleted_event(run_id: Uuid) -> Bytes {
    let data = json!({"runId": run_id, "ts": Timestamp::now().to_string()});
    frame("run_deleted", None, &data.to_string())
}
