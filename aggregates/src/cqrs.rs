//! The run aggregate in cqrs-es's terms: [`RunState`] is a
//! `cqrs_es::Aggregate`, [`RunEvent`] a `cqrs_es::DomainEvent`, and
//! [`StoredFormUpcaster`] the `EventUpcaster` that lets cqrs-es's
//! `PersistedEventStore` read every schema version our log holds.
//!
//! `handle` is [`decide`] and nothing more: it writes decide's events into
//! the sink (which applies each to the state, as our repository does), so
//! the rules live in one place and cqrs-es's `TestFramework` tests them
//! (`run/tests.rs`). The service loads and appends through its own
//! repository (batched appends, a cached state per run); cqrs-es's stores
//! re-fold a whole stream per command and are used only where that is
//! what is wanted (the postgres-es load test).

use crate::command::RunCommand;
use crate::error::DomainError;
use crate::event::{upcast, RunEvent, STORED_SCHEMA_VERSION};
use crate::run::{decide, RunState};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};

/// The `aggregate_type` of a run's events in the log.
pub const RUN_AGGREGATE_TYPE: &str = "run";

impl DomainEvent for RunEvent {
    fn event_type(&self) -> String {
        RunEvent::event_type(self).to_string()
    }

    fn event_version(&self) -> String {
        self.schema_version().to_string()
    }
}

impl Aggregate for RunState {
    const TYPE: &'static str = RUN_AGGREGATE_TYPE;
    type Command = RunCommand;
    type Event = RunEvent;
    type Error = DomainError;
    /// Deciding needs nothing from outside: clocks and ids come in commands.
    type Services = ();

    async fn handle(
        &mut self,
        command: RunCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        for event in decide(self, &command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: RunEvent) {
        RunState::apply(self, &event);
    }
}

/// Brings a stored event of an older schema version to the current stored
/// form, by the same [`upcast`] our store applies. An `event_version` that
/// is not a number is left alone (its payload then fails to deserialize,
/// which cqrs-es reports).
pub struct StoredFormUpcaster;

impl EventUpcaster for StoredFormUpcaster {
    fn can_upcast(&self, _event_type: &str, event_version: &str) -> bool {
        event_version
            .parse::<u32>()
            .is_ok_and(|version| version < STORED_SCHEMA_VERSION)
    }

    fn upcast(&self, event: SerializedEvent) -> SerializedEvent {
        let version = event
            .event_version
            .parse::<u32>()
            .unwrap_or(STORED_SCHEMA_VERSION);
        SerializedEvent {
            payload: upcast(&event.event_type, version, event.payload),
            event_version: STORED_SCHEMA_VERSION.to_string(),
            ..event
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_version_1_row_is_upcast_to_the_stored_form() {
        let row = SerializedEvent::new(
            "0190f5a4-0000-7000-8000-000000000001".into(),
            1,
            RUN_AGGREGATE_TYPE.into(),
            "RunStarted".into(),
            "1".into(),
            json!({"at": "1970-01-01T00:00:01.000Z"}),
            json!({}),
        );
        assert!(StoredFormUpcaster.can_upcast("RunStarted", "1"));
        assert!(!StoredFormUpcaster.can_upcast("RunStarted", "2"));
        let upcast = StoredFormUpcaster.upcast(row);
        assert_eq!(upcast.event_version, "2");
        let event: RunEvent = serde_json::from_value(upcast.payload).unwrap();
        assert_eq!(
            event,
            RunEvent::RunStarted {
                at: crate::Timestamp::from_unix_ms(1_000)
            }
        );
    }
}
