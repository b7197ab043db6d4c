//! Deterministic replay: `POST /runs/:id/replay` describes a replay,
//! `GET /runs/:id/replay/stream` plays the recorded canonical events back
//! over SSE (source kind `replay`) and ends, and `GET /runs/:id/replay/state`
//! is the run-state view folded from the events with `seq ≤ N`, by the same
//! fold as the live view: replay is re-folding the stream.

use super::body::{parse_json, query_int, run_id, Params};
use super::error::{AppError, Problem};
use super::AppState;
use crate::projector::Snapshot;
use crate::queries::visible_summary;
use aggregates::{CanonicalEvent, FieldError, RunEvent};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;
use projections::{Projection, RunStateView};
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::IntoParams;
use uuid::Uuid;

/// No single wait between replayed events is longer than this.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Events read per query while replaying.
const REPLAY_BATCH: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pace {
    /// As fast as the client reads.
    Instant,
    /// The original gaps between events, divided by speed.
    Timed,
    /// One event per second, divided by speed.
    Step,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    pace: Pace,
    speed: f64,
    from_seq: u64,
    to_seq: u64,
}

impl Plan {
    fn check(
        mode: &str,
        speed: f64,
        from_seq: u64,
        to_seq: u64,
        latest: u64,
    ) -> Result<Plan, AppError> {
        let mut errors = Vec::new();
        let pace = match mode {
            "instant" => Pace::Instant,
            "timed" => Pace::Timed,
            "step" => Pace::Step,
            _ => {
                errors.push(FieldError::new("mode", "must be instant, timed or step"));
                Pace::Instant
            }
        };
        if !(speed.is_finite() && speed >= 0.1) {
            errors.push(FieldError::new("speed", "must be a number ≥ 0.1"));
        }
        if from_seq > to_seq {
            errors.push(FieldError::new(
                "fromSeq",
                format!("must not be after toSeq ({to_seq})"),
            ));
        }
        if !errors.is_empty() {
            return Err(AppError::validation(errors));
        }
        Ok(Plan {
            pace,
            speed,
            from_seq: from_seq.max(1),
            to_seq: to_seq.min(latest),
        })
    }

    fn mode(&self) -> &'static str {
        match self.pace {
            Pace::Instant => "instant",
            Pace::Timed => "timed",
            Pace::Step => "step",
        }
    }

    /// How long to wait before an event `gap_ms` after the previous one.
    fn wait(&self, gap_ms: i64) -> Duration {
        let ms = match self.pace {
            Pace::Instant => 0.0,
            Pace::Timed => gap_ms.max(0) as f64 / self.speed,
            Pace::Step => 1000.0 / self.speed,
        };
        Duration::from_secs_f64(ms / 1000.0).min(MAX_WAIT)
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRequest {
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub speed: Option<f64>,
    #[serde(default)]
    pub from_seq: Option<u64>,
    #[serde(default)]
    pub to_seq: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/runs/{id}/replay",
    tag = "replay",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "The replay descriptor", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn describe(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let run_id = run_id(&id)?;
    let request: ReplayRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReplayRequest {
            mode: None,
            speed: None,
            from_seq: None,
            to_seq: None,
        }
    } else {
        parse_json(&body)?
    };
    let latest = visible_summary(&app.store, run_id).await?.last_event_seq;
    let plan = Plan::check(
        request.mode.as_deref().unwrap_or("instant"),
        request.speed.unwrap_or(1.0),
        request.from_seq.unwrap_or(1),
        request.to_seq.unwrap_or(latest),
        latest,
    )?;
    Ok(Json(json!({
        "runId": run_id,
        "mode": plan.mode(),
        "speed": plan.speed,
        "fromSeq": plan.from_seq,
        "toSeq": plan.to_seq,
        "streamUrl": format!("/runs/{run_id}/replay/stream?mode={}&speed={}&fromSeq={}&toSeq={}",
                             plan.mode(), plan.speed, plan.from_seq, plan.to_seq),
        "stateUrl": format!("/runs/{run_id}/replay/state"),
    })))
}

/// `stream`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ReplayParams {
    /// instant, timed or step
    mode: Option<String>,
    /// Timed playback speed
    #[param(value_type = Option<f64>)]
    speed: Option<String>,
    /// Start after this seq
    #[param(value_type = Option<i64>)]
    from_seq: Option<String>,
    /// End at this seq (default: the run's latest)
    #[param(value_type = Option<i64>)]
    to_seq: Option<String>,
}

#[utoipa::path(
    get,
    path = "/runs/{id}/replay/stream",
    tag = "replay",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
        ReplayParams,
    ),
    responses(
        (status = 200, description = "Server-sent events of the replayed run", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn stream(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<ReplayParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let run_id = run_id(&id)?;
    let latest = visible_summary(&app.store, run_id).await?.last_event_seq;
    let speed = match params.speed.as_ref() {
        None => 1.0,
        Some(text) => text
            .parse::<f64>()
            .map_err(|_| AppError::field("speed", "must be a number ≥ 0.1"))?,
    };
    let from_seq =
        query_int(params.from_seq.as_deref(), "fromSeq", 1, 0..=i64::MAX)?.unsigned_abs();
    let to_seq = query_int(
        params.to_seq.as_deref(),
        "toSeq",
        i64::try_from(latest).unwrap_or(i64::MAX),
        0..=i64::MAX,
    )?
    .unsigned_abs();
    let mode = params.mode.as_deref().unwrap_or("instant");
    let plan = Plan::check(mode, speed, from_seq, to_seq, latest)?;

    let stream = async_stream::stream! {
        let mut replayed_seq = plan.from_seq.saturating_sub(1);
        let mut previous_ts: Option<i64> = None;
        'replay: while replayed_seq < plan.to_seq {
            let after = i64::try_from(replayed_seq).unwrap_or(i64::MAX);
            let docs = match app.store.canonical_events(run_id, after, REPLAY_BATCH).await {
                Ok(docs) if !docs.is_empty() => docs,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%run_id, %error, "replay: read failed");
                    break;
                }
            };
            for doc in docs {
                let Ok(mut event) = serde_json::from_str::<CanonicalEvent>(&doc) else { continue };
                if event.seq > plan.to_seq {
                    break 'replay;
                }
                replayed_seq = event.seq;
                let ts = event.ts.unix_ms();
                let wait = plan.wait(previous_ts.map_or(0, |previous| ts - previous));
                previous_ts = Some(ts);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                event.source.kind = "replay".into();
                let data = serde_json::to_string(&event).unwrap_or_default();
                yield Ok(Event::default().event("canonical_event").id(event.seq.to_string()).data(data));
            }
        }
    };
    Ok(Sse::new(stream))
}

/// `state`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayStateParams {
    /// The state after this seq
    #[param(value_type = Option<i64>)]
    seq: Option<String>,
}

/// `GET /runs/:id/replay/state?seq=N`: the view folded from `seq ≤ N`
/// (the whole run without `seq`).
#[utoipa::path(
    get,
    path = "/runs/{id}/replay/state",
    tag = "replay",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
        ReplayStateParams,
    ),
    responses(
        (status = 200, description = "The run-state view at a seq", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn state(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Params(params): Params<ReplayStateParams>,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    let seq = query_int(params.seq.as_deref(), "seq", i64::MAX, 0..=i64::MAX)?.unsigned_abs();
    let view = state_at(&app, run_id, seq).await?;
    let body = serde_json::to_string(&view).map_err(AppError::internal)?;
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// The run-state view after canonical event `seq`, reading nothing past it:
/// the latest snapshot at or below `seq` (else the request, the stream's
/// first event) and the indexed events after it up to `seq`; or, when the
/// index has not caught up, the log up to `seq`.
pub async fn state_at(app: &AppState, run_id: Uuid, seq: u64) -> Result<RunStateView, AppError> {
    let latest = visible_summary(&app.store, run_id).await?.last_event_seq;
    let target = seq.min(latest);
    let mut view = match app.store.latest_snapshot(run_id, target).await? {
        Some(doc) => {
            serde_json::from_str::<Snapshot>(&doc)
                .map_err(AppError::internal)?
                .view
        }
        None => {
            let first = app.store.read_stream_limited(run_id, 0, 1).await?;
            RunStateView::fold(first.iter().map(|e| &e.event))
        }
    };
    let after = view.timeline.latest_seq;
    let docs = app
        .store
        .canonical_events(
            run_id,
            i64::try_from(after).unwrap_or(i64::MAX),
            i64::try_from(target.saturating_sub(after)).unwrap_or(i64::MAX),
        )
        .await?;
    for doc in &docs {
        let event: CanonicalEvent = serde_json::from_str(doc).map_err(AppError::internal)?;
        view.apply(&RunEvent::CanonicalEventRecorded { event });
    }
    if view.timeline.latest_seq >= target {
        return Ok(view);
    }
    // The index lags the log: fold the log itself, stopping at `target`.
    let mut view = RunStateView::default();
    for stored in app.store.read_stream(run_id, 0).await? {
        if stored.event.canonical().is_some_and(|e| e.seq > target) {
            break;
        }
        view.apply(&stored.event);
    }
    Ok(view)
}
