//! Run ids for runtime session ids. A run's id is its session's id when
//! that is a UUID; the runtime's other form (base64url, 22 or more
//! characters: `macp-runtime`'s session-id rule) maps to a name-based UUID
//! (v5), so every stream stays keyed by a UUID and the session id itself
//! still finds the run.

use uuid::Uuid;

/// Namespace of the v5 run ids of base64url session ids.
const SESSION_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d61_6370_7365_7373_696f_6e2d_6964_7321);

/// Shortest base64url session id the runtime accepts.
pub const MIN_BASE64URL_SESSION_ID: usize = 22;

/// The run id of `session_id`: the UUID itself (lowercase canonical form,
/// as the runtime requires), or the v5 UUID of a base64url id; `None` for
/// anything else.
pub fn run_id_of_session(session_id: &str) -> Option<Uuid> {
    if let Ok(uuid) = Uuid::parse_str(session_id) {
        return Some(uuid);
    }
    is_base64url_session_id(session_id)
        .then(|| Uuid::new_v5(&SESSION_ID_NAMESPACE, session_id.as_bytes()))
}

/// Whether `text` is a base64url session id (`[A-Za-z0-9_-]`, 22+ long).
pub fn is_base64url_session_id(text: &str) -> bool {
    text.len() >= MIN_BASE64URL_SESSION_ID
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_themselves_and_base64url_ids_map_to_one_stable_uuid() {
        let uuid = Uuid::now_v7();
        assert_eq!(run_id_of_session(&uuid.to_string()), Some(uuid));
        let session = "aGVsbG8td29ybGQtc2Vzc2lvbg";
        let run = run_id_of_session(session).unwrap();
        assert_eq!(run_id_of_session(session), Some(run), "stable");
        assert_ne!(run_id_of_session("aGVsbG8td29ybGQtc2Vzc2lvbh"), Some(run));
        assert_eq!(run_id_of_session("too-short"), None);
        assert_eq!(run_id_of_session("has spaces in it, 22+ chars"), None);
    }
}
