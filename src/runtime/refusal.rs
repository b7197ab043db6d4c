//! The code a runtime refusal carries, typed: the runtime's own codes (its
//! error-codes registry, `macp_core::error::ERROR_CODE_REGISTRY`), the few
//! this client gives a refusal it finds itself, and `Other` for any code
//! neither knows, kept as sent.
//!
//! The wire form (`as_str`, `Display`, `Debug`) is the UPPER_SNAKE string
//! the code always was: it is written into events (`message.send_failed`,
//! a failed run's `errorCode`) and HTTP bodies, which must not change.

use std::convert::Infallible;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Declares the known codes once, so the variant, its string and its
/// parse can never disagree.
macro_rules! refusal_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)*) => {
        /// Why the runtime (or this client, for it) refused a call.
        #[derive(Clone)]
        pub enum RefusalCode {
            $($(#[$doc])* $variant,)*
            /// A code this service does not know, exactly as received.
            /// Never one of the codes above: [`From`] and [`FromStr`] pick
            /// the variant, and equality compares the strings anyway.
            Other(String),
        }

        impl RefusalCode {
            /// The code as the runtime spells it (`SESSION_NOT_FOUND`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(RefusalCode::$variant => $code,)*
                    RefusalCode::Other(code) => code,
                }
            }

            /// The variant `code` names, if it is a known one.
            fn known(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(RefusalCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

refusal_codes! {
    // The runtime's registry.
    Unauthenticated = "UNAUTHENTICATED",
    Forbidden = "FORBIDDEN",
    SessionNotFound = "SESSION_NOT_FOUND",
    SessionNotOpen = "SESSION_NOT_OPEN",
    DuplicateMessage = "DUPLICATE_MESSAGE",
    SessionAlreadyExists = "SESSION_ALREADY_EXISTS",
    InvalidEnvelope = "INVALID_ENVELOPE",
    UnsupportedProtocolVersion = "UNSUPPORTED_PROTOCOL_VERSION",
    ModeNotSupported = "MODE_NOT_SUPPORTED",
    PayloadTooLarge = "PAYLOAD_TOO_LARGE",
    RateLimited = "RATE_LIMITED",
    InvalidSessionId = "INVALID_SESSION_ID",
    InternalError = "INTERNAL_ERROR",
    UnknownPolicyVersion = "UNKNOWN_POLICY_VERSION",
    PolicyDenied = "POLICY_DENIED",
    InvalidPolicyDefinition = "INVALID_POLICY_DEFINITION",
    RegistryReadOnly = "REGISTRY_READ_ONLY",
    InvalidRequest = "INVALID_REQUEST",
    StreamLagged = "STREAM_LAGGED",
    AgentNotFound = "AGENT_NOT_FOUND",
    HistoryUnavailable = "HISTORY_UNAVAILABLE",
    /// `GetDecisionReceipt` of a session that has no receipt.
    ReceiptUnavailable = "RECEIPT_UNAVAILABLE",
    // Given by this client.
    /// Not in the runtime's registry, but a runtime may answer it: the
    /// HTTP layer takes it for "not found" like `SESSION_NOT_FOUND`.
    NotFound = "NOT_FOUND",
    /// A gRPC `UNIMPLEMENTED` status: the runtime lacks the RPC.
    Unimplemented = "UNIMPLEMENTED",
    /// The runtime answered without the part the call needs (no ack).
    InvalidResponse = "INVALID_RESPONSE",
    /// An ack that is not ok and names no code.
    Refused = "REFUSED",
    /// The policy registry said no with a text that starts with no code.
    PolicyRegistryRefused = "POLICY_REGISTRY_REFUSED",
}

impl From<&str> for RefusalCode {
    fn from(code: &str) -> Self {
        RefusalCode::known(code).unwrap_or_else(|| RefusalCode::Other(code.to_string()))
    }
}

impl From<String> for RefusalCode {
    fn from(code: String) -> Self {
        RefusalCode::known(&code).unwrap_or(RefusalCode::Other(code))
    }
}

impl FromStr for RefusalCode {
    type Err = Infallible;

    fn from_str(code: &str) -> Result<Self, Infallible> {
        Ok(RefusalCode::from(code))
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As the quoted string, as when the code was a `String`: a refusal's
/// `Debug` (in logs, in test failures) reads as it did.
impl fmt::Debug for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

// Equal when the strings are: an `Other` built by hand with a known code
// still equals its variant.
impl PartialEq for RefusalCode {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RefusalCode {}

impl Hash for RefusalCode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for RefusalCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RefusalCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_parse_to_their_variant_and_print_as_sent() {
        let code = RefusalCode::from("SESSION_ALREADY_EXISTS");
        assert!(matches!(code, RefusalCode::SessionAlreadyExists));
        assert_eq!(code.to_string(), "SESSION_ALREADY_EXISTS");
        assert_eq!(format!("{code:?}"), "\"SESSION_ALREADY_EXISTS\"");
        assert_eq!(
            RefusalCode::from(String::from("FORBIDDEN")),
            RefusalCode::Forbidden
        );
    }

    #[test]
    fn unknown_codes_are_kept_exactly() {
        let code: RefusalCode = "GRPC_DATALOSS".parse().unwrap_or(RefusalCode::Refused);
        assert_eq!(code, RefusalCode::Other("GRPC_DATALOSS".into()));
        assert_eq!(code.as_str(), "GRPC_DATALOSS");
        assert_eq!(RefusalCode::from("forbidden").as_str(), "forbidden");
        assert_eq!(
            RefusalCode::Other("FORBIDDEN".into()),
            RefusalCode::Forbidden
        );
        assert_eq!(RefusalCode::from(""), "");
    }
}
