//! The rule for recording what the runtime answered to a message the
//! control plane sent: `message.sent` and the events derived from it, or
//! `message.send_failed` (and `policy.denied` when the policy refused it).

use super::decide::Live;
use super::decision::Decision;
use crate::canonical::{types, DerivedEvent, EventSource, Subject};
use crate::command::{MessageOutcome, OutboundMessage};
use crate::error::DomainError;
use crate::event::RunEvent;
use crate::time::Timestamp;
use serde_json::{json, Value};

/// The runtime's error code for a message its session's policy refused.
pub const POLICY_DENIED_CODE: &str = "POLICY_DENIED";

/// How the runtime words a policy denial with its reasons:
/// `PolicyDenied: <reason>; <reason>` (its gRPC status message for
/// `PolicyDenied`, `macp-runtime`'s `status_from_error`).
pub const DENIAL_PREFIX: &str = "PolicyDenied: ";
pub const DENIAL_SEPARATOR: &str = "; ";

/// The reasons in a policy refusal's message worded as [`DENIAL_PREFIX`]
/// says; any other wording is one reason.
fn denial_reasons(message: &str) -> Vec<String> {
    match message.strip_prefix(DENIAL_PREFIX) {
        Some(reasons) => reasons.split(DENIAL_SEPARATOR).map(String::from).collect(),
        None => vec![message.to_string()],
    }
}

/// Needs a bound session: a message is sent into one.
pub(super) fn record_outbound(
    run: Live<'_>,
    message: &OutboundMessage,
    outcome: &MessageOutcome,
    derived: &[DerivedEvent],
    at: Timestamp,
) -> Result<Vec<RunEvent>, DomainError> {
    run.require_session("sending a message")?;
    let mut out = run.decision();
    let mut data = json!({
        "messageId": message.message_id,
        "from": message.from,
        "to": message.to,
        "messageType": message.message_type,
        "kickoff": message.kickoff,
    });
    // The envelope's details never overwrite the message's own fields.
    if let Value::Object(fields) = &mut data {
        for (key, value) in &message.details {
            fields.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let subject = Some(
        message
            .subject
            .clone()
            .unwrap_or_else(|| Subject::new("message", message.message_id.as_str())),
    );
    match outcome {
        MessageOutcome::Accepted => accepted(&mut out, message, derived, subject, data, at),
        MessageOutcome::Refused { code, message: why } => {
            refused(&mut out, message, code, why, subject, data, at);
        }
    }
    Ok(out.into_events())
}

fn accepted(
    out: &mut Decision<'_>,
    message: &OutboundMessage,
    derived: &[DerivedEvent],
    subject: Option<Subject>,
    data: Value,
    at: Timestamp,
) {
    out.fact(RunEvent::MessageSent {
        message_id: message.message_id.clone(),
        from: message.from.clone(),
        to: message.to.clone(),
        message_type: message.message_type.clone(),
        kickoff: message.kickoff,
        at,
    });
    out.canonical(
        at,
        types::MESSAGE_SENT,
        subject,
        EventSource::control_plane(),
        data,
    );
    for event in derived {
        out.derived(at, EventSource::control_plane(), event);
    }
}

fn refused(
    out: &mut Decision<'_>,
    message: &OutboundMessage,
    code: &str,
    why: &str,
    subject: Option<Subject>,
    mut data: Value,
    at: Timestamp,
) {
    out.fact(RunEvent::MessageRefused {
        message_id: message.message_id.clone(),
        from: message.from.clone(),
        to: message.to.clone(),
        message_type: message.message_type.clone(),
        kickoff: message.kickoff,
        error_code: code.to_string(),
        error_message: why.to_string(),
        at,
    });
    data["errorCode"] = json!(code);
    data["errorMessage"] = json!(why);
    // A refusal by the session's policy is also the policy's
    // verdict on what was sent, with the runtime's reasons.
    let denied = (code == POLICY_DENIED_CODE).then(|| {
        let payload = &data["decodedPayload"];
        json!({
            "commitmentId": payload.get("commitmentId"),
            "policyVersion": payload.get("policyVersion"),
            "messageId": message.message_id,
            "messageType": message.message_type,
            "sender": message.from,
            "errorCode": code,
            "reasons": denial_reasons(why),
        })
    });
    out.canonical(
        at,
        types::MESSAGE_SEND_FAILED,
        subject.clone(),
        EventSource::control_plane(),
        data,
    );
    if let Some(denied) = denied {
        out.canonical(
            at,
            types::POLICY_DENIED,
            subject,
            EventSource::control_plane(),
            denied,
        );
    }
}
