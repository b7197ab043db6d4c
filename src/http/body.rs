//! Request bodies and query strings, parsed so that every problem names
//! its field (`session.ttlMs`), instead of axum's plain-text rejections.

use super::error::ApiError;
use aggregates::FieldError;
use axum::body::Bytes;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use uuid::Uuid;

/// Parses a JSON body into `T`, naming the path of the first mismatch.
pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::field("body", "a JSON body is required"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::validation(vec![FieldError::new(path, error.into_inner().to_string())])
    })?;
    deserializer.end().map_err(|e| {
        ApiError::field(
            "body",
            format!("trailing characters after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// Like [`parse_json`], but an empty body is `T::default()` (for bodies
/// whose every field is optional, such as `{reason?}`).
pub fn parse_optional_json<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(body)
}

/// A run id from the path: a UUID, or 400.
pub fn run_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::field("id", format!("{text:?} is not a UUID")))
}

/// An optional integer query parameter within `range`.
pub fn query_int(
    params: &HashMap<String, String>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    let Some(text) = params.get(name) else {
        return Ok(default);
    };
    match text.parse::<i64>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(ApiError::field(
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
pub fn optional_run_id(params: &HashMap<String, String>) -> Result<Option<Uuid>, ApiError> {
    params
        .get("runId")
        .map(|id| {
            Uuid::parse_str(id)
                .map_err(|_| ApiError::field("runId", format!("{id:?} is not a UUID")))
        })
        .transpose()
}

/// The `cursor` of a paged list: opaque to clients, here the offset of the
/// next page (0 without one).
pub fn cursor(params: &HashMap<String, String>) -> Result<i64, ApiError> {
    match params.get("cursor") {
        Some(cursor) => cursor
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| ApiError::field("cursor", "not a cursor this service issued")),
        None => Ok(0),
    }
}

/// A page of stored JSON documents: `{data, total, nextCursor?}`.
pub fn page(docs: &[String], total: i64, offset: i64) -> serde_json::Value {
    let next = offset + docs.len() as i64;
    let data: Vec<serde_json::Value> = docs
        .iter()
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let mut body = serde_json::json!({"data": data, "total": total});
    if next < total {
        body["nextCursor"] = serde_json::json!(next.to_string());
    }
    body
}
