//! The hash chain of a run's stream, which makes its record tamper-evident:
//! every event row records, in `events.chain_hash`, a SHA-256 over the
//! previous row's hash and the row's canonical bytes, so changing,
//! removing or reordering one event breaks its hash and every later one.
//!
//! **Canonical bytes** (version 1 of the encoding), in this order:
//! the tag `macp-control-plane/chain/1` and one zero byte; the previous
//! row's hash (32 bytes; 32 zero bytes before the stream's first event);
//! then the row's `aggregate_type`, `aggregate_id`, `sequence`,
//! `event_type`, `event_version`, `payload` and `metadata`, each as an
//! 8-byte big-endian length followed by its bytes (text as UTF-8, exactly
//! as the log holds it: PostgreSQL's `json` keeps the text it was given;
//! `sequence` as 8 bytes big-endian, with no length). The hash is stored
//! as 64 lowercase hex digits. The lengths keep one field's bytes from
//! passing for another's.
//!
//! Events appended before the chain existed (migration 0010) are chained
//! when the store opens ([`super::EventStore::chain_unchained`]), in
//! stream order, by the same rule.

use sha2::{Digest, Sha256};

/// A link of the chain: SHA-256 output.
pub type ChainHash = [u8; 32];

/// What the first event of a stream is chained to.
pub const GENESIS: ChainHash = [0; 32];

/// The name and version of this encoding. The canonical bytes open with
/// it and a NUL, so a later encoding cannot collide with this one; an
/// archive names it too.
pub const ENCODING: &str = "macp-control-plane/chain/1";

/// One event row as the chain covers it: the log's columns, as stored.
#[derive(Debug, Clone, Copy)]
pub struct ChainedRow<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: u64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a str,
    pub metadata: &'a str,
}

impl ChainedRow<'_> {
    /// This row's hash, chained to `previous` (see the module docs).
    pub fn link(&self, previous: &ChainHash) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(ENCODING.as_bytes());
        hasher.update([0]);
        hasher.update(previous);
        field(&mut hasher, self.aggregate_type.as_bytes());
        field(&mut hasher, self.aggregate_id.as_bytes());
        hasher.update(self.sequence.to_be_bytes());
        field(&mut hasher, self.event_type.as_bytes());
        field(&mut hasher, self.event_version.as_bytes());
        field(&mut hasher, self.payload.as_bytes());
        field(&mut hasher, self.metadata.as_bytes());
        hasher.finalize().into()
    }
}

/// A variable-length field of the canonical bytes: its length, then it.
fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// A hash as stored: 64 lowercase hex digits.
pub fn to_hex(hash: &ChainHash) -> String {
    hex::encode(hash)
}

/// A stored hash, if it is one.
pub fn from_hex(text: &str) -> Option<ChainHash> {
    let mut hash = GENESIS;
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

/// The first place a stream's chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainBreak {
    /// Global log position of the row.
    pub position: i64,
    /// Its version within the stream.
    pub sequence: u64,
    /// What is wrong there.
    pub reason: String,
}

/// Walks a stream's rows in order, each with the hash it records, and
/// answers the head (the last row's hash, `None` for an empty stream) or
/// the first row whose recorded hash is missing or not the one its bytes
/// and its predecessor give, or whose sequence is not the next one.
pub fn check<'a>(
    rows: impl IntoIterator<Item = (i64, ChainedRow<'a>, Option<&'a str>)>,
) -> Result<Option<ChainHash>, ChainBreak> {
    let mut previous = GENESIS;
    let mut head = None;
    for (expected_sequence, (position, row, recorded)) in (1u64..).zip(rows) {
        let fail = |reason: String| ChainBreak {
            position,
            sequence: row.sequence,
            reason,
        };
        if row.sequence != expected_sequence {
            return Err(fail(format!(
                "the stream's version {expected_sequence} is missing"
            )));
        }
        let computed = row.link(&previous);
        match recorded {
            None => return Err(fail("the event has no chain hash".into())),
            Some(text) if from_hex(text) != Some(computed) => {
                return Err(fail(
                    "the recorded hash is not the hash of the event's bytes and its \
                     predecessor's hash"
                        .into(),
                ))
            }
            Some(_) => {}
        }
        previous = computed;
        head = Some(computed);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sequence: u64, payload: &str) -> ChainedRow<'_> {
        ChainedRow {
            aggregate_type: "run",
            aggregate_id: "0190d1a0-0000-7000-8000-000000000001",
            sequence,
            event_type: "RunArchived",
            event_version: "2",
            payload,
            metadata: r#"{"recordedAt":"2026-11-30T00:00:00.000Z"}"#,
        }
    }

    fn chained<'a>(rows: &[ChainedRow<'a>]) -> Vec<(i64, ChainedRow<'a>, String)> {
        let mut previous = GENESIS;
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                previous = row.link(&previous);
                (i as i64 + 10, *row, to_hex(&previous))
            })
            .collect()
    }

    #[test]
    fn the_encoding_is_stable() {
        // A known answer, computed apart from this code from the module
        // docs' encoding: changing the encoding changes it, and so breaks
        // every stored chain; such a change needs a new tag.
        let first = row(1, r#"{"type":"RunArchived","data":{"at":"x"}}"#).link(&GENESIS);
        assert_eq!(
            to_hex(&first),
            "cebe83eab1167e4d5caea006b08fd43b566e9fdf99e3e3d05223400915d25c96"
        );
        let first = row(1, r#"{"type":"RunArchived","data":{"at":"x"}}"#).link(&GENESIS);
        assert_ne!(
            first,
            row(2, r#"{"type":"RunArchived","data":{"at":"x"}}"#).link(&GENESIS)
        );
        assert_ne!(
            first,
            row(1, r#"{"type":"RunArchived","data":{"at":"y"}}"#).link(&GENESIS)
        );
        assert_ne!(
            first,
            row(1, r#"{"type":"RunArchived","data":{"at":"x"}}"#).link(&first)
        );
    }

    #[test]
    fn fields_cannot_trade_bytes() {
        let mut a = row(1, "{}");
        let mut b = row(1, "{}");
        a.event_type = "Run";
        a.event_version = "Archived2";
        b.event_type = "RunArchived";
        b.event_version = "2";
        assert_ne!(a.link(&GENESIS), b.link(&GENESIS));
    }

    #[test]
    fn an_intact_chain_answers_its_head() {
        let rows = [row(1, "{}"), row(2, "[]"), row(3, "1")];
        let stored = chained(&rows);
        let head = check(stored.iter().map(|(p, r, h)| (*p, *r, Some(h.as_str())))).unwrap();
        assert_eq!(head.map(|h| to_hex(&h)), Some(stored[2].2.clone()));
        assert_eq!(check(std::iter::empty()), Ok(None));
    }

    #[test]
    fn a_changed_byte_is_named_by_its_position() {
        let rows = [row(1, "{}"), row(2, "[]"), row(3, "1")];
        let stored = chained(&rows);
        let mut changed = stored.clone();
        changed[1].1.payload = "[ ]";
        let broken = check(changed.iter().map(|(p, r, h)| (*p, *r, Some(h.as_str()))));
        assert_eq!(broken.unwrap_err().position, 11);
        // A recorded hash rewritten to match its changed bytes still
        // breaks the next link.
        changed[1].2 = to_hex(&changed[1].1.link(&from_hex(&stored[0].2).unwrap()));
        let broken = check(changed.iter().map(|(p, r, h)| (*p, *r, Some(h.as_str()))));
        assert_eq!(broken.unwrap_err().position, 12);
    }

    #[test]
    fn a_missing_event_or_hash_breaks_the_chain() {
        let rows = [row(1, "{}"), row(2, "[]"), row(3, "1")];
        let stored = chained(&rows);
        let skipped = [&stored[0], &stored[2]];
        let broken = check(skipped.iter().map(|(p, r, h)| (*p, *r, Some(h.as_str()))));
        assert_eq!(broken.unwrap_err().sequence, 3);
        let unhashed = check(stored.iter().map(|(p, r, _)| (*p, *r, None)));
        assert_eq!(unhashed.unwrap_err().position, 10);
    }

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_a_hash() {
        let hash = row(1, "{}").link(&GENESIS);
        assert_eq!(from_hex(&to_hex(&hash)), Some(hash));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex(&"g".repeat(64)), None);
    }
}
