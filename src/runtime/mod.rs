//! Everything that speaks to the MACP runtime: the generated gRPC types,
//! the authenticated client, payload encoding, and the embedded runtime.

pub mod breaker;
pub mod client;
pub mod credentials;
pub mod embedded;
pub mod error;
pub mod payloads;
pub mod receipts;
mod refusal;

/// Types generated from the runtime's `macp.v1` schemas.
#[allow(clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("macp.v1");
}

pub use client::{RuntimeClient, RuntimeTls, SessionSubscription};
pub use credentials::Credentials;
pub use error::{RefusalCode, RuntimeError};

/// The message type that resolves a session (its Commitment envelope).
pub const COMMITMENT: &str = "Commitment";

/// The protocol version this control plane speaks.
pub const MACP_VERSION: &str = "1.0";
