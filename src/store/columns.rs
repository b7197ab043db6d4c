//! How values meet the read models' typed columns. SQLite keeps JSON
//! documents, ids and times as text; PostgreSQL types them (jsonb, uuid,
//! timestamptz; migration 0008), so that its users can query them. The
//! canonical index holds no documents: each row points at the log position
//! whose payload holds the event (migration 0009).
//!
//! sqlx's `Any` driver binds and decodes text only, so on PostgreSQL a
//! parameter is cast into its column's type (`$1::jsonb`) and a typed
//! column is read back as text: a document by `::text`, a time in the
//! contract's form (RFC 3339, UTC, milliseconds: `aggregates::Timestamp`).
//!
//! jsonb cannot hold U+0000, which a runtime may send (an observed
//! session's intent) and documents keep. On PostgreSQL each string of a
//! document that holds U+0000 or U+FFFF is stored escaped, reversibly:
//! U+0000 as U+FFFF `0`, U+FFFF as U+FFFF U+FFFF (U+FFFF is a Unicode
//! noncharacter, meant for such internal use); [`Dialect::doc_from_db`]
//! undoes it. A document without either character is stored as it is.
//! Document keys (`model_key`) are escaped the same way.

use super::Dialect;
use serde_json::Value;
use std::borrow::Cow;

/// The escape character of a stored document's strings on PostgreSQL.
const ESCAPE: char = '\u{FFFF}';
/// What follows [`ESCAPE`] for an escaped U+0000.
const ESCAPED_NUL: char = '0';

impl Dialect {
    /// The cast after a parameter bound into a document (`jsonb`) column.
    pub(crate) fn doc_param(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "::jsonb",
        }
    }

    /// The cast after a parameter bound into a run id (`uuid`) column.
    pub(crate) fn uuid_param(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "::uuid",
        }
    }

    /// The cast after a parameter bound into a time (`timestamptz`) column.
    pub(crate) fn time_param(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "::timestamptz",
        }
    }

    /// A time column read as the contract's text (`2026-01-02T03:04:05.678Z`).
    pub(crate) fn time_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_string(),
            Dialect::Postgres => {
                format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
            }
        }
    }

    /// A document as this engine stores it (see the module docs).
    pub(crate) fn doc_to_db(self, doc: &str) -> Cow<'_, str> {
        // serde_json writes U+0000 as the escape `\u0000`, U+FFFF as itself.
        if self == Dialect::Sqlite || !(doc.contains("\\u0000") || doc.contains(ESCAPE)) {
            return Cow::Borrowed(doc);
        }
        match serde_json::from_str::<Value>(doc) {
            Ok(mut value) => {
                map_strings(&mut value, &escape);
                Cow::Owned(value.to_string())
            }
            // Not JSON: left for the database to refuse.
            Err(_) => Cow::Borrowed(doc),
        }
    }

    /// A document key (a participant id, say) as this engine stores it:
    /// PostgreSQL's text holds no U+0000, which a runtime may send in a
    /// sender's id, so on PostgreSQL a key is escaped as document strings
    /// are. Keys are only compared, never read back.
    pub(crate) fn key_to_db(self, key: &str) -> Cow<'_, str> {
        match self {
            Dialect::Sqlite => Cow::Borrowed(key),
            Dialect::Postgres => escape(key).map_or(Cow::Borrowed(key), Cow::Owned),
        }
    }

    /// A stored document as it was written.
    pub(crate) fn doc_from_db(self, doc: String) -> String {
        if self == Dialect::Sqlite || !doc.contains(ESCAPE) {
            return doc;
        }
        match serde_json::from_str::<Value>(&doc) {
            Ok(mut value) => {
                map_strings(&mut value, &unescape);
                value.to_string()
            }
            Err(_) => doc,
        }
    }
}

/// Rewrites every string and object key in `value` with `f`.
fn map_strings(value: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::String(text) => {
            if let Some(mapped) = f(text) {
                *text = mapped;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| map_strings(item, f)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                map_strings(&mut item, f);
                map.insert(f(&key).unwrap_or(key), item);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with U+0000 and U+FFFF escaped; `None` when it holds neither.
fn escape(text: &str) -> Option<String> {
    if !text.contains(['\0', ESCAPE]) {
        return None;
    }
    let mut escaped = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\0' => escaped.extend([ESCAPE, ESCAPED_NUL]),
            ESCAPE => escaped.extend([ESCAPE, ESCAPE]),
            c => escaped.push(c),
        }
    }
    Some(escaped)
}

/// Undoes [`escape`]; an escape followed by anything else is kept as it is.
fn unescape(text: &str) -> Option<String> {
    if !text.contains(ESCAPE) {
        return None;
    }
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ESCAPE {
            plain.push(c);
            continue;
        }
        match chars.peek() {
            Some(&ESCAPED_NUL) => {
                chars.next();
                plain.push('\0');
            }
            Some(&ESCAPE) => {
                chars.next();
                plain.push(ESCAPE);
            }
            _ => plain.push(c),
        }
    }
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_document_round_trips_through_the_postgres_form() {
        let doc = json!({
            "intent": "ship\u{0}it",
            "odd\u{0}key": ["\u{FFFF}", "\u{FFFF}0", "plain", 1, null],
            "escape\\u0000": "a backslash, not a NUL",
        })
        .to_string();
        let stored = Dialect::Postgres.doc_to_db(&doc).into_owned();
        let mut stored_value: Value = serde_json::from_str(&stored).unwrap();
        map_strings(&mut stored_value, &|text| {
            assert!(!text.contains('\0'), "jsonb cannot hold {text:?}");
            None
        });
        assert_eq!(stored_value["intent"], "ship\u{FFFF}0it");
        let back: Value = serde_json::from_str(&Dialect::Postgres.doc_from_db(stored)).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(&doc).unwrap());
    }

    #[test]
    fn a_plain_document_is_stored_as_it_is() {
        let doc = r#"{"b":1,"a":"text"}"#;
        assert!(matches!(Dialect::Postgres.doc_to_db(doc), Cow::Borrowed(_)));
        assert_eq!(Dialect::Postgres.doc_from_db(doc.to_string()), doc);
        let nul = r#"{"a":"x\u0000"}"#;
        assert_eq!(Dialect::Sqlite.doc_to_db(nul), nul);
    }

    #[test]
    fn times_read_back_in_the_contract_form_on_postgres() {
        assert_eq!(Dialect::Sqlite.time_text("at"), "at");
        assert!(Dialect::Postgres.time_text("at").contains("MS\"Z\""));
    }
}
