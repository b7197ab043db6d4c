//! Request bodies and query strings, parsed so that every problem names
//! its field (`session.ttlMs`), instead of axum's plain-text rejections.

use super::error::AppError;
use aggregates::{FieldError, Timestamp};
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// Parses a JSON body into `T`, naming the path of the first mismatch. A
/// string holding U+0000 anywhere in the body is refused, naming where:
/// PostgreSQL's text cannot hold it, and both engines must answer alike.
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, AppError> {
    if body.is_empty() {
        return Err(AppError::field("body", "a JSON body is required"));
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(path) = nul_path(&value, "") {
            return Err(AppError::field(&path, NUL_REFUSED));
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." {
            "body".to_string()
        } else {
            path
        };
        AppError::validation(vec![FieldError::new(path, error.into_inner().to_string())])
    })?;
    deserializer.end().map_err(|e| {
        AppError::field(
            "body",
            format!("trailing characters after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// Refuses a request whose path or query holds U+0000 (`%00`), naming
/// the query parameter (or `path`): like a body's strings, such a value
/// never reaches a table or a query.
pub async fn refuse_nul_in_uri(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let uri = request.uri();
    if percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .contains('\0')
    {
        return AppError::field("path", NUL_REFUSED).into_response();
    }
    let query = uri.query().unwrap_or_default().as_bytes();
    for (name, value) in form_urlencoded::parse(query) {
        if name.contains('\0') || value.contains('\0') {
            let name = name.replace('\0', "\\u0000");
            return AppError::field(&name, NUL_REFUSED).into_response();
        }
    }
    next.run(request).await
}

/// Why a value holding U+0000 is refused.
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// The path (`session.metadata.intent`, `kickoff[0].to[1]`) of the first
/// string or object key in `value` that holds U+0000.
// serde_json's `Value`: only strings, arrays and objects can hold text.
#[allow(clippy::wildcard_enum_match_arm)]
fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "body".into()
        } else {
            path.into()
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(&key.replace('\0', "\\u0000")))
            } else {
                nul_path(item, &join(key))
            }
        }),
        _ => None,
    }
}

/// Like [`parse_json`], but an empty body is `T::default()` (for bodies
/// whose every field is optional, such as `{reason?}`).
pub fn parse_optional_json<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(body)
}

/// A run id from the path: a UUID, or a runtime session id of the
/// base64url form (the run observing that session); else 400.
pub fn run_id(text: &str) -> Result<Uuid, AppError> {
    parse_run_id("id", text)
}

/// A run id named `name` (a body field or query parameter), as [`run_id`].
pub fn parse_run_id(name: &str, text: &str) -> Result<Uuid, AppError> {
    aggregates::run_id_of_session(text).ok_or_else(|| {
        AppError::field(
            name,
            format!("{text:?} is not a UUID or a base64url session id (22+ characters)"),
        )
    })
}

/// Query parameters as `T`, a struct of text fields (`Option<String>`,
/// documented for OpenAPI by its `utoipa::IntoParams`): the last of a
/// repeated name wins and unknown names are ignored, as the console
/// expects; the handler then checks each value, so that an error names
/// its parameter.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        // Collected into a map first: a later value replaces an earlier.
        let pairs: serde_json::Map<String, serde_json::Value> =
            form_urlencoded::parse(query.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned().into()))
                .collect();
        serde_json::from_value(serde_json::Value::Object(pairs))
            .map(Params)
            .map_err(|error| AppError::field("query", error.to_string()))
    }
}

/// An optional boolean query parameter `name`: `true`/`1` or `false`/`0`.
pub fn query_bool(value: Option<&str>, name: &str, default: bool) -> Result<bool, AppError> {
    match value {
        None => Ok(default),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(AppError::field(
            name,
            format!("must be true or false, got {other:?}"),
        )),
    }
}

/// An optional integer query parameter `name` within `range`.
pub fn query_int(
    value: Option<&str>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, AppError> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(AppError::field(
            name,
            format!(
                "must be an integer from {} to {}, got {text:?}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `runId` of a query, when given: a UUID.
pub fn optional_run_id(value: Option<&str>) -> Result<Option<Uuid>, AppError> {
    value.map(|id| parse_run_id("runId", id)).transpose()
}

/// Which end of its day a date-only bound (`YYYY-MM-DD`, what a date
/// input sends) stands for.
#[derive(Debug, Clone, Copy)]
pub enum DayEdge {
    /// Midnight UTC: a lower bound takes the whole day in.
    Start,
    /// The day's last millisecond: an upper bound takes the whole day in.
    End,
}

/// The instants a stored time can hold, in Unix milliseconds: from
/// 0001-01-01T00:00:00Z (RFC 3339 allows year 0000, PostgreSQL's
/// timestamptz has no year 0) to 9999-12-31T23:59:59.999Z (RFC 3339's
/// four-digit years).
const STORED_MS: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

/// An RFC 3339 time that the stores' time columns can hold.
pub fn storable_time(text: &str) -> Option<Timestamp> {
    Timestamp::parse(text).filter(|ts| STORED_MS.contains(&ts.unix_ms()))
}

/// An optional time bound named `name`: RFC 3339, or a date taken at
/// `edge` of that day (UTC), from year 0001 on; answered in the stored
/// timestamps' text form.
pub fn time_bound(
    value: Option<&str>,
    name: &str,
    edge: DayEdge,
) -> Result<Option<String>, AppError> {
    let Some(text) = value.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let ms = match Timestamp::parse(text) {
        Some(ts) => ts.unix_ms(),
        None => {
            let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                AppError::field(
                    name,
                    format!("not an RFC 3339 timestamp or a YYYY-MM-DD date: {text:?}"),
                )
            })?;
            let start = day
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
                .unwrap_or_default();
            match edge {
                DayEdge::Start => start,
                DayEdge::End => start + 86_400_000 - 1,
            }
        }
    };
    if !STORED_MS.contains(&ms) {
        return Err(AppError::field(
            name,
            "must be between 0001-01-01 and 9999-12-31",
        ));
    }
    Ok(Some(Timestamp::from_unix_ms(ms).to_string()))
}

/// The console's time windows, in milliseconds.
const WINDOWS: [(&str, i64); 6] = [
    ("15m", 15 * 60_000),
    ("1h", 3_600_000),
    ("6h", 6 * 3_600_000),
    ("24h", 24 * 3_600_000),
    ("7d", 7 * 86_400_000),
    ("30d", 30 * 86_400_000),
];

/// `window` (`15m`, `1h`, `6h`, `24h`, `7d`, `30d`) in milliseconds;
/// absent, empty or `all`: `None` (no cut-off).
pub fn window_ms(value: Option<&str>) -> Result<Option<i64>, AppError> {
    match value {
        None | Some("") | Some("all") => Ok(None),
        Some(window) => WINDOWS
            .iter()
            .find(|(name, _)| *name == window)
            .map(|(_, ms)| Some(*ms))
            .ok_or_else(|| {
                AppError::field(
                    "window",
                    format!("must be 15m, 1h, 6h, 24h, 7d, 30d or all, not {window:?}"),
                )
            }),
    }
}

/// A comma-separated list parameter (empty items dropped).
pub fn csv_param(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A non-empty text parameter.
pub fn text_param(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty()).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(text: &str, edge: DayEdge) -> Result<Option<String>, AppError> {
        time_bound(Some(text), "createdAfter", edge)
    }

    #[test]
    fn a_time_bound_is_taken_within_the_stored_years_only() {
        assert_eq!(
            bound("2026-01-02T03:04:05.6+01:00", DayEdge::Start).unwrap(),
            Some("2026-01-02T02:04:05.600Z".to_string())
        );
        assert_eq!(
            bound("9999-12-31", DayEdge::End).unwrap(),
            Some("9999-12-31T23:59:59.999Z".to_string())
        );
        assert_eq!(
            bound("0001-01-01", DayEdge::Start).unwrap(),
            Some("0001-01-01T00:00:00.000Z".to_string())
        );
        for outside in ["0000-06-01T00:00:00Z", "0000-12-31"] {
            assert!(bound(outside, DayEdge::Start).is_err(), "{outside}");
        }
        assert!(bound("yesterday", DayEdge::Start).is_err());
        assert_eq!(bound("", DayEdge::Start).unwrap(), None);
    }
}
