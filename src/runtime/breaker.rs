//! The circuit breaker in front of the runtime, and the count of runtime
//! call outcomes for `/metrics`.
//!
//! After `failure_threshold` transport failures in a row (unreachable or
//! timed out; a refusal is an answer, not a failure) the circuit opens and
//! calls fail at once with `RUNTIME_UNAVAILABLE` instead of each waiting
//! for a dead runtime. After `cooldown` one trial call goes through
//! (half-open): success closes the circuit, failure opens it again. An
//! operator can close it by hand (`POST /admin/circuit-breaker/reset`).
//! Every change of state is kept, newest last, for
//! `GET /admin/circuit-breaker/history`.

use super::error::RuntimeError;
use aggregates::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// State changes kept for the history endpoint.
const HISTORY_LENGTH: usize = 200;

/// Upper-case on the wire (`CLOSED`, `OPEN`, `HALF_OPEN`): the console
/// compares them exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

/// One change of state: the state entered, when, why, and the state it
/// left (`None` for the first entry, the state the breaker starts in).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub state: CircuitState,
    pub entered_at: Timestamp,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<CircuitState>,
}

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failure_threshold: 5,
            cooldown: Duration::from_secs(5),
        }
    }
}

#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Mutex<Inner>>,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::new(BreakerSettings::default())
    }
}

#[derive(Default)]
struct Inner {
    settings: BreakerSettings,
    state: Option<CircuitState>,
    failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
    history: VecDeque<Transition>,
    /// (call, outcome) → count.
    outcomes: BTreeMap<(&'static str, &'static str), u64>,
}

/// What `GET /admin/circuit-breaker/history` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerReport {
    pub state: CircuitState,
    pub consecutive_failures: u32,
    pub failure_threshold: u32,
    pub cooldown_ms: u64,
    pub history: Vec<Transition>,
}

impl Inner {
    fn state(&self) -> CircuitState {
        self.state.unwrap_or(CircuitState::Closed)
    }

    fn move_to(&mut self, to: CircuitState, reason: String) {
        let from = self.state();
        if from == to {
            return;
        }
        tracing::warn!(?from, ?to, %reason, "runtime circuit breaker");
        self.state = Some(to);
        self.opened_at = (to == CircuitState::Open).then(Instant::now);
        if self.history.len() == HISTORY_LENGTH {
            self.history.pop_front();
        }
        self.history.push_back(Transition {
            state: to,
            entered_at: Timestamp::now(),
            reason,
            from: Some(from),
        });
    }
}

impl CircuitBreaker {
    /// A closed breaker; its history starts with that state, so a
    /// timeline has a band from the start.
    pub fn new(settings: BreakerSettings) -> Self {
        let started = Transition {
            state: CircuitState::Closed,
            entered_at: Timestamp::now(),
            reason: "started".into(),
            from: None,
        };
        CircuitBreaker {
            inner: Arc::new(Mutex::new(Inner {
                settings,
                history: VecDeque::from([started]),
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a call may go to the runtime now; refused calls are counted
    /// as `rejected`.
    pub fn admit(&self, call: &'static str) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        let admitted = match inner.state() {
            CircuitState::Closed => true,
            CircuitState::Open => {
                let cooled = inner
                    .opened_at
                    .is_none_or(|at| at.elapsed() >= inner.settings.cooldown);
                if cooled {
                    inner.move_to(
                        CircuitState::HalfOpen,
                        "cooldown over: one trial call".into(),
                    );
                    inner.trial_in_flight = true;
                }
                cooled
            }
            CircuitState::HalfOpen if !inner.trial_in_flight => {
                inner.trial_in_flight = true;
                true
            }
            CircuitState::HalfOpen => false,
        };
        if admitted {
            return Ok(());
        }
        *inner.outcomes.entry((call, "rejected")).or_default() += 1;
        Err(RuntimeError::Unavailable(
            "the circuit breaker is open after repeated runtime failures; it tries again after \
             its cooldown (POST /admin/circuit-breaker/reset closes it)"
                .into(),
        ))
    }

    /// Records how an admitted call went.
    pub fn record<T>(&self, call: &'static str, result: &Result<T, RuntimeError>) {
        let mut inner = self.lock();
        let outcome = match result {
            Ok(_) => "ok",
            Err(RuntimeError::Refused { .. }) => "refused",
            Err(RuntimeError::Unavailable(_)) => "unavailable",
            Err(RuntimeError::Timeout(_)) => "timeout",
        };
        *inner.outcomes.entry((call, outcome)).or_default() += 1;
        let was_trial = std::mem::take(&mut inner.trial_in_flight);
        match result {
            Err(error) if error.is_transient() => {
                inner.failures = inner.failures.saturating_add(1);
                let reason = format!("{call}: {error}");
                if was_trial && inner.state() == CircuitState::HalfOpen {
                    inner.move_to(CircuitState::Open, format!("trial call failed: {reason}"));
                } else if inner.state() == CircuitState::Closed
                    && inner.failures >= inner.settings.failure_threshold
                {
                    let failures = inner.failures;
                    inner.move_to(
                        CircuitState::Open,
                        format!("{failures} runtime failures in a row, the last {reason}"),
                    );
                }
            }
            // An answer, even a refusal: the runtime is there.
            _ => {
                inner.failures = 0;
                if inner.state() != CircuitState::Closed {
                    inner.move_to(CircuitState::Closed, format!("{call} answered"));
                }
            }
        }
    }

    /// Closes the circuit by hand.
    pub fn reset(&self, reason: &str) -> BreakerReport {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.trial_in_flight = false;
        inner.move_to(CircuitState::Closed, reason.to_string());
        report(&inner)
    }

    pub fn report(&self) -> BreakerReport {
        report(&self.lock())
    }

    /// The report with only the history since `since`, plus the entry in
    /// force at `since` (so the oldest band still says which state the
    /// window opened in).
    pub fn report_since(&self, since: Timestamp) -> BreakerReport {
        let mut report = self.report();
        let in_window = report
            .history
            .iter()
            .position(|t| t.entered_at >= since)
            .unwrap_or(report.history.len());
        report.history.drain(..in_window.saturating_sub(1));
        report
    }

    pub fn state(&self) -> CircuitState {
        self.lock().state()
    }

    /// Runtime calls by call and outcome (`ok`, `refused`, `unavailable`,
    /// `timeout`, `rejected` by the open circuit).
    pub fn outcomes(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.lock()
            .outcomes
            .iter()
            .map(|(key, count)| (*key, *count))
            .collect()
    }
}

fn report(inner: &Inner) -> BreakerReport {
    BreakerReport {
        state: inner.state(),
        consecutive_failures: inner.failures,
        failure_threshold: inner.settings.failure_threshold,
        cooldown_ms: u64::try_from(inner.settings.cooldown.as_millis()).unwrap_or(u64::MAX),
        history: inner.history.iter().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cooldown_ms: u64) -> CircuitBreaker {
        CircuitBreaker::new(BreakerSettings {
            failure_threshold: 3,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    fn down() -> Result<(), RuntimeError> {
        Err(RuntimeError::Unavailable("connection refused".into()))
    }

    #[test]
    fn opens_after_failures_in_a_row_and_refusals_do_not_count() {
        let b = breaker(60_000);
        for _ in 0..2 {
            b.admit("send").unwrap();
            b.record("send", &down());
        }
        b.admit("send").unwrap();
        b.record::<()>("send", &Err(RuntimeError::refused("FORBIDDEN", "no")));
        assert_eq!(b.state(), CircuitState::Closed, "a refusal is an answer");
        for _ in 0..3 {
            b.admit("send").unwrap();
            b.record("send", &down());
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.admit("send").is_err(), "fails fast while open");
        let outcomes = b.outcomes();
        assert!(
            outcomes.contains(&(("send", "rejected"), 1)),
            "{outcomes:?}"
        );
        assert!(
            outcomes.contains(&(("send", "unavailable"), 5)),
            "{outcomes:?}"
        );
    }

    #[test]
    fn half_open_lets_one_trial_through_and_its_outcome_decides() {
        let b = breaker(0);
        for _ in 0..3 {
            b.admit("send").unwrap();
            b.record("send", &down());
        }
        assert_eq!(b.state(), Open);
        b.admit("send").unwrap();
        assert_eq!(b.state(), HalfOpen);
        assert!(b.admit("send").is_err(), "one trial at a time");
        b.record("send", &down());
        assert_eq!(b.state(), Open, "a failed trial opens again");
        b.admit("send").unwrap();
        b.record::<()>("send", &Ok(()));
        assert_eq!(b.state(), Closed);
        let states: Vec<_> = b.report().history.iter().map(|t| t.state).collect();
        use CircuitState::*;
        assert_eq!(states, [Closed, Open, HalfOpen, Open, HalfOpen, Closed]);
    }

    #[test]
    fn a_reset_closes_it_and_is_kept_in_the_history() {
        let b = breaker(60_000);
        for _ in 0..3 {
            b.admit("send").unwrap();
            b.record("send", &down());
        }
        let report = b.reset("reset by an operator");
        assert_eq!(report.state, CircuitState::Closed);
        assert_eq!(
            report.history.last().unwrap().reason,
            "reset by an operator"
        );
        b.admit("send").unwrap();
    }
}
