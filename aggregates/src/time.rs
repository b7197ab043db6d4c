//! Timestamps as the contract writes them: RFC 3339, UTC, milliseconds.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time with millisecond precision, always serialized as
/// `2026-01-02T03:04:05.678Z` so that folding the same events always
/// produces the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_ms(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_millis())
    }

    pub fn unix_ms(self) -> i64 {
        self.0
    }

    fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// Parses an RFC 3339 string (any offset) into UTC milliseconds.
    pub fn parse(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|dt| Timestamp(dt.with_timezone(&Utc).timestamp_millis()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {text}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_in_utc_and_round_trips() {
        let ts = Timestamp::from_unix_ms(1_767_323_045_678);
        assert_eq!(ts.to_string(), "2026-01-02T03:04:05.678Z");
        let json = serde_json::to_string(&ts).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), ts);
        assert_eq!(
            Timestamp::parse("2026-01-02T04:04:05.678+01:00"),
            Some(ts),
            "offsets are normalized to UTC"
        );
    }
}
