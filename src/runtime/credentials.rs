//! Who the control plane is when it calls the runtime. Each RPC
//! authenticates one sender: SessionStart as the initiator, each message as
//! its `from`, the subscription as an observer (or the initiator).
//!
//! Two schemes: `Dev` (`Bearer <sender>`, which the runtime accepts only in
//! its development mode; the embedded runtime uses it), and `Tokens` (one
//! bearer token per sender, plus an optional observer token). A sender with
//! no token is refused here, never silently sent in dev mode.

use super::error::{RefusalCode, RuntimeError};
use std::collections::HashMap;

#[derive(Clone)]
pub enum Credentials {
    Dev,
    Tokens {
        by_sender: HashMap<String, String>,
        observer: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    // Never prints a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Dev => f.write_str("Credentials::Dev"),
            Credentials::Tokens {
                by_sender,
                observer,
            } => f
                .debug_struct("Credentials::Tokens")
                .field("senders", &by_sender.keys().collect::<Vec<_>>())
                .field("observer", &observer.is_some())
                .finish(),
        }
    }
}

impl Credentials {
    /// Parses a JSON object `{"sender": "token", …}`.
    pub fn from_token_map(json: &str, observer: Option<String>) -> Result<Self, String> {
        let by_sender: HashMap<String, String> = serde_json::from_str(json)
            .map_err(|e| format!("runtime tokens must be a JSON object of sender → token: {e}"))?;
        if by_sender.values().any(|t| t.trim().is_empty()) {
            return Err("runtime tokens must not be empty".into());
        }
        Ok(Credentials::Tokens {
            by_sender,
            observer,
        })
    }

    /// The bearer token that authenticates `sender`.
    pub fn bearer_for(&self, sender: &str) -> Result<String, RuntimeError> {
        match self {
            Credentials::Dev => Ok(sender.to_string()),
            Credentials::Tokens { by_sender, .. } => {
                by_sender.get(sender).cloned().ok_or_else(|| {
                    RuntimeError::refused(
                        RefusalCode::Unauthenticated,
                        format!("no runtime token is configured for sender {sender:?}"),
                    )
                })
            }
        }
    }

    /// The bearer token for subscribing and watching: the observer token
    /// when there is one, else `fallback` (a participant, e.g. the initiator).
    pub fn observer_bearer(&self, fallback: &str) -> Result<String, RuntimeError> {
        match self {
            Credentials::Tokens {
                observer: Some(token),
                ..
            } => Ok(token.clone()),
            Credentials::Tokens { observer: None, .. } | Credentials::Dev => {
                self.bearer_for(fallback)
            }
        }
    }
}

/// The identity of calls made on nobody's behalf (discovery, policies,
/// session watching): the token map's entry for this name, else the
/// observer token; in dev mode, this name.
pub const SERVICE_IDENTITY: &str = "macp-control-plane";

impl Credentials {
    pub fn service_bearer(&self) -> Result<String, RuntimeError> {
        match self {
            Credentials::Dev => Ok(SERVICE_IDENTITY.to_string()),
            Credentials::Tokens {
                by_sender,
                observer,
            } => by_sender
                .get(SERVICE_IDENTITY)
                .or(observer.as_ref())
                .cloned()
                .ok_or_else(|| {
                    RuntimeError::refused(
                        RefusalCode::Unauthenticated,
                        format!("no runtime token for {SERVICE_IDENTITY:?} and no observer token"),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_only_their_senders_and_never_print() {
        let credentials =
            Credentials::from_token_map(r#"{"alice": "t-a"}"#, Some("t-obs".into())).unwrap();
        assert_eq!(credentials.bearer_for("alice").unwrap(), "t-a");
        assert!(
            credentials.bearer_for("mallory").is_err(),
            "no dev fallback"
        );
        assert_eq!(credentials.observer_bearer("alice").unwrap(), "t-obs");
        let printed = format!("{credentials:?}");
        assert!(
            !printed.contains("t-a") && !printed.contains("t-obs"),
            "{printed}"
        );
        assert_eq!(Credentials::Dev.bearer_for("bob").unwrap(), "bob");
        assert!(Credentials::from_token_map("[1]", None).is_err());
    }
}
