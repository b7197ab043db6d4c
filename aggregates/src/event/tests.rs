//! The stored form of events: round trips, upcasts, refusals.

use super::*;

fn failed() -> RunEvent {
    RunEvent::RunFailed {
        error_code: "RUNTIME_UNAVAILABLE".into(),
        error_message: "connection refused".into(),
        at: Timestamp::from_unix_ms(1_000),
    }
}

#[test]
fn a_stream_opened_before_ordinal_was_its_name_loads() {
    let event = RunEvent::SessionStreamOpened {
        after_ordinal: 7,
        reconnect: true,
        at: Timestamp::from_unix_ms(1_000),
    };
    let written = event.to_stored().unwrap();
    assert!(written.contains("\"afterOrdinal\":7"), "{written}");
    let earlier: Value =
        serde_json::from_str(&written.replace("afterOrdinal", "afterSequence")).unwrap();
    let loaded =
        RunEvent::from_stored(event.event_type(), event.schema_version(), earlier).unwrap();
    assert_eq!(loaded, event);
}

#[test]
fn the_stored_form_round_trips() {
    let event = failed();
    let stored: Value = serde_json::from_str(&event.to_stored().unwrap()).unwrap();
    assert_eq!(stored["type"], "RunFailed");
    assert_eq!(stored["data"]["errorCode"], "RUNTIME_UNAVAILABLE");
    let loaded = RunEvent::from_stored(event.event_type(), event.schema_version(), stored).unwrap();
    assert_eq!(loaded, event);
}

#[test]
fn a_version_1_payload_is_upcast() {
    let event = failed();
    let v1 = serde_json::json!({
        "errorCode": "RUNTIME_UNAVAILABLE",
        "errorMessage": "connection refused",
        "at": "1970-01-01T00:00:01.000Z",
    });
    assert_eq!(RunEvent::from_stored("RunFailed", 1, v1).unwrap(), event);
}

#[test]
fn a_payload_of_another_type_than_its_row_does_not_load() {
    let stored: Value = serde_json::from_str(&failed().to_stored().unwrap()).unwrap();
    let err = RunEvent::from_stored("RunStarted", 2, stored).unwrap_err();
    assert!(err.reason.contains("RunFailed"), "{}", err.reason);
}

#[test]
fn a_stored_canonical_event_is_read_back_as_its_recorded_bytes() {
    let run_id = Uuid::from_u128(7);
    let canonical = CanonicalEvent {
        id: crate::canonical::canonical_event_id(run_id, 3),
        run_id,
        seq: 3,
        ts: Timestamp::from_unix_ms(2_000),
        event_type: "message.received".into(),
        schema_version: 1,
        subject: None,
        source: crate::canonical::EventSource::control_plane(),
        trace: None,
        data: serde_json::json!({"note": "caf\u{e9} \u{0}", "n": 1.5e-7}),
    };
    let recorded = RunEvent::CanonicalEventRecorded {
        event: canonical.clone(),
    };
    let written = serde_json::to_string(&canonical).unwrap();
    let v2 = recorded.to_stored().unwrap();
    assert_eq!(stored_canonical_json(2, &v2).unwrap(), written);
    let v1 = format!("{{\"event\":{written}}}");
    assert_eq!(stored_canonical_json(1, &v1).unwrap(), written);
    assert!(stored_canonical_json(2, &v1).is_err());
    assert!(stored_canonical_json(2, "not json").is_err());
}

#[test]
fn an_unknown_event_type_is_a_load_error_not_a_panic() {
    let err = RunEvent::from_stored("RunTeleported", 1, serde_json::json!({})).unwrap_err();
    assert_eq!(err.event_type, "RunTeleported");
}
