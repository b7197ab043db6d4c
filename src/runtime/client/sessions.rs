//! The calls on one session: sending an envelope, reading its metadata and
//! decision receipt, and cancelling, suspending or resuming it; and how an
//! ack that is not ok becomes a refusal with the runtime's own code.

use super::auth::Caller;
use super::RuntimeClient;
use crate::runtime::error::{RefusalCode, RuntimeError};
use crate::runtime::pb::{self, Envelope};
use aggregates::run::{DENIAL_PREFIX, DENIAL_SEPARATOR};

impl RuntimeClient {
    /// Sends one envelope as `sender`. A refusal (`ack.ok == false`) is an
    /// `Err(Refused)` carrying the runtime's code; a duplicate is `Ok`.
    pub async fn send(&self, sender: &str, envelope: Envelope) -> Result<pb::Ack, RuntimeError> {
        let request = pb::SendRequest {
            envelope: Some(envelope),
        };
        self.call(
            "send",
            Caller::Sender(sender),
            request,
            |mut grpc, request| async move { grpc.send(request).await },
            |response| accepted(response.ack),
        )
        .await
    }

    pub async fn get_session(
        &self,
        sender: &str,
        session_id: &str,
    ) -> Result<pb::SessionMetadata, RuntimeError> {
        let request = pb::GetSessionRequest {
            session_id: session_id.to_string(),
        };
        self.call(
            "get_session",
            Caller::Observer(sender),
            request,
            |mut grpc, request| async move { grpc.get_session(request).await },
            |response| {
                response.metadata.ok_or_else(|| {
                    RuntimeError::refused(RefusalCode::SessionNotFound, "no session metadata")
                })
            },
        )
        .await
    }

    /// The decision receipt of a resolved session of a standards-track
    /// mode: the `macp-receipt/1` JSON text as served (stable bytes once
    /// issued). Another session is refused with `RECEIPT_UNAVAILABLE`.
    pub async fn get_decision_receipt(
        &self,
        sender: &str,
        session_id: &str,
    ) -> Result<String, RuntimeError> {
        let request = pb::GetDecisionReceiptRequest {
            session_id: session_id.to_string(),
        };
        self.call(
            "get_decision_receipt",
            Caller::Observer(sender),
            request,
            |mut grpc, request| async move { grpc.get_decision_receipt(request).await },
            |response| Ok(response.receipt_json),
        )
        .await
    }

    /// Cancels the session as `initiator` (only it, or a delegated authority, may).
    pub async fn cancel_session(
        &self,
        initiator: &str,
        session_id: &str,
        reason: &str,
    ) -> Result<pb::Ack, RuntimeError> {
        let request = pb::CancelSessionRequest {
            session_id: session_id.into(),
            reason: reason.into(),
        };
        self.call(
            "cancel_session",
            Caller::Sender(initiator),
            request,
            |mut grpc, request| async move { grpc.cancel_session(request).await },
            |response| accepted(response.ack),
        )
        .await
    }

    pub async fn suspend_session(
        &self,
        initiator: &str,
        session_id: &str,
        reason: &str,
    ) -> Result<pb::Ack, RuntimeError> {
        let request = pb::SuspendSessionRequest {
            session_id: session_id.into(),
            reason: reason.into(),
        };
        self.call(
            "suspend_session",
            Caller::Sender(initiator),
            request,
            |mut grpc, request| async move { grpc.suspend_session(request).await },
            |response| accepted(response.ack),
        )
        .await
    }

    pub async fn resume_session(
        &self,
        initiator: &str,
        session_id: &str,
        reason: &str,
    ) -> Result<pb::Ack, RuntimeError> {
        let request = pb::ResumeSessionRequest {
            session_id: session_id.into(),
            reason: reason.into(),
        };
        self.call(
            "resume_session",
            Caller::Sender(initiator),
            request,
            |mut grpc, request| async move { grpc.resume_session(request).await },
            |response| accepted(response.ack),
        )
        .await
    }
}

/// Refuses an ack that is not ok, with the runtime's own code.
fn accepted(ack: Option<pb::Ack>) -> Result<pb::Ack, RuntimeError> {
    let ack = ack.ok_or_else(|| {
        RuntimeError::refused(RefusalCode::InvalidResponse, "the runtime answered no ack")
    })?;
    if ack.ok {
        return Ok(ack);
    }
    let error = ack.error.unwrap_or_default();
    let code = if error.code.is_empty() {
        RefusalCode::Refused
    } else {
        RefusalCode::from(error.code)
    };
    // Acks carry a denial's reasons only as details: word them as the
    // runtime's own status message does, so the run records them.
    let message = match denial_reasons(&error.details) {
        Some(reasons) => format!("{DENIAL_PREFIX}{}", reasons.join(DENIAL_SEPARATOR)),
        None => error.message,
    };
    Err(RuntimeError::refused(code, message))
}

/// The reasons of a policy denial's details (`{"reasons": [..], "denials":
/// [..]}` as JSON bytes), if it has any.
fn denial_reasons(details: &[u8]) -> Option<Vec<String>> {
    let details: serde_json::Value = serde_json::from_slice(details).ok()?;
    let reasons: Vec<String> = details["reasons"]
        .as_array()?
        .iter()
        .filter_map(|r| r.as_str().map(String::from))
        .collect();
    (!reasons.is_empty()).then_some(reasons)
}
