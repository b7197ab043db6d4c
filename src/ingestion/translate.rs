//! Translates one accepted runtime envelope into the canonical events the
//! contract derives from it: `message.received` plus, by message type,
//! `proposal.created|updated`, `decision.finalized`, `signal.emitted`,
//! `progress.reported`, and `llm.call.completed` for token usage.
//! (`participant.seen` needs the run's history: the aggregate adds it.)

use crate::runtime::payloads::{decode_payload, DecodedPayload};
use crate::runtime::pb::Envelope;
use aggregates::canonical::{types, DerivedEvent, Subject};
use aggregates::RawEnvelope;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};

/// The canonical type a message type maps to, beyond `message.received`.
pub fn canonical_type(message_type: &str) -> Option<&'static str> {
    Some(match message_type {
        "Commitment" => types::DECISION_FINALIZED,
        "Proposal" | "CounterProposal" | "ApprovalRequest" | "TaskRequest" | "HandoffOffer" => {
            types::PROPOSAL_CREATED
        }
        "Signal" => types::SIGNAL_EMITTED,
        "Progress" | "TaskUpdate" | "TaskComplete" | "TaskFail" => types::PROGRESS_REPORTED,
        "Evaluation" | "Objection" | "Vote" | "Accept" | "Reject" | "Withdraw" | "Approve"
        | "Abstain" | "Contribute" => types::PROPOSAL_UPDATED,
        other if other.starts_with("Task") || other.starts_with("Handoff") => {
            types::PROPOSAL_UPDATED
        }
        _ => return None,
    })
}

pub fn raw_envelope(envelope: &Envelope) -> RawEnvelope {
    RawEnvelope {
        macp_version: envelope.macp_version.clone(),
        mode: envelope.mode.clone(),
        message_type: envelope.message_type.clone(),
        message_id: envelope.message_id.clone(),
        session_id: envelope.session_id.clone(),
        sender: envelope.sender.clone(),
        timestamp_unix_ms: envelope.timestamp_unix_ms,
        payload_base64: BASE64.encode(&envelope.payload),
    }
}

/// What every event derived from an envelope carries: its mode, type, id,
/// session and sender, and for an undecodable payload its bytes and why.
fn common_data(envelope: &Envelope, decoded: &DecodedPayload) -> Map<String, Value> {
    let mut common = Map::new();
    common.insert("modeName".into(), json!(envelope.mode));
    common.insert("messageType".into(), json!(envelope.message_type));
    common.insert("messageId".into(), json!(envelope.message_id));
    common.insert("sessionId".into(), json!(envelope.session_id));
    common.insert("sender".into(), json!(envelope.sender));
    if let Some(error) = &decoded.decode_error {
        common.insert(
            "payloadBase64".into(),
            json!(BASE64.encode(&envelope.payload)),
        );
        common.insert("decodeError".into(), json!(error));
    }
    common
}

/// What `message.sent` / `message.send_failed` carry for an envelope the
/// control plane sends: what `message.received` carries (mode, type, id,
/// session, sender, `payload`) plus `decodedPayload` and
/// `payloadTypeName`; and the subject its derived event has (the proposal
/// or commitment the payload names; `None`: the message itself). Agents
/// that take part over HTTP find the proposal to answer here.
pub fn describe_outbound(envelope: &Envelope) -> (Map<String, Value>, Option<Subject>) {
    let decoded = decode_payload(&envelope.mode, &envelope.message_type, &envelope.payload);
    let mut data = common_data(envelope, &decoded);
    data.insert("payload".into(), decoded.value.clone());
    data.insert("decodedPayload".into(), decoded.value.clone());
    data.insert("payloadTypeName".into(), json!(decoded.type_name));
    let subject = canonical_type(&envelope.message_type)
        .map(|kind| subject_of(kind, envelope, &decoded.value));
    (data, subject)
}

/// `llm.call.completed` for token usage reported beside a message (the
/// `metadata` of a posted message), or `None`.
pub fn llm_call_beside(envelope: &Envelope, metadata: &Value) -> Option<DerivedEvent> {
    let usage = llm_usage(&json!({ "metadata": metadata }))?;
    let decoded = DecodedPayload {
        type_name: None,
        value: Value::Null,
        decode_error: None,
    };
    Some(llm_call_event(
        envelope,
        common_data(envelope, &decoded),
        usage,
    ))
}

fn llm_call_event(
    envelope: &Envelope,
    mut data: Map<String, Value>,
    usage: Map<String, Value>,
) -> DerivedEvent {
    data.insert("participantId".into(), json!(envelope.sender));
    data.extend(usage);
    DerivedEvent::new(
        types::LLM_CALL_COMPLETED,
        Some(Subject::new("message", envelope.message_id.as_str())),
        Value::Object(data),
    )
}

pub fn derive_events(envelope: &Envelope) -> Vec<DerivedEvent> {
    let decoded = decode_payload(&envelope.mode, &envelope.message_type, &envelope.payload);
    let common = common_data(envelope, &decoded);

    let mut received = common.clone();
    received.insert("payload".into(), decoded.value.clone());
    let mut events = vec![DerivedEvent::new(
        types::MESSAGE_RECEIVED,
        Some(Subject::new("message", envelope.message_id.as_str())),
        Value::Object(received),
    )];

    if let Some(kind) = canonical_type(&envelope.message_type) {
        let mut data = common.clone();
        data.insert("decodedPayload".into(), decoded.value.clone());
        data.insert("payloadTypeName".into(), json!(decoded.type_name));
        events.push(DerivedEvent::new(
            kind,
            Some(subject_of(kind, envelope, &decoded.value)),
            Value::Object(data),
        ));
    }
    if let Some(usage) = llm_usage(&decoded.value) {
        events.push(llm_call_event(envelope, common, usage));
    }
    events
}

/// Proposals by their proposal (or request, task, handoff) id; decisions by
/// commitment id; anything else by its message id.
fn subject_of(kind: &str, envelope: &Envelope, payload: &Value) -> Subject {
    let field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| {
                payload
                    .get(*k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
            .map(String::from)
    };
    let by_message = || Subject::new("message", envelope.message_id.as_str());
    match kind {
        types::DECISION_FINALIZED => field(&["commitmentId"])
            .map(|id| Subject::new("decision", id))
            .unwrap_or_else(by_message),
        types::PROPOSAL_CREATED | types::PROPOSAL_UPDATED => {
            field(&["proposalId", "requestId", "taskId", "handoffId"])
                .map(|id| Subject::new("proposal", id))
                .unwrap_or_else(by_message)
        }
        types::SIGNAL_EMITTED => Subject::new("signal", envelope.message_id.as_str()),
        _ => by_message(),
    }
}

/// Token usage a payload reports, at its top level or under `metadata`.
fn llm_usage(payload: &Value) -> Option<Map<String, Value>> {
    let holder = [Some(payload), payload.get("metadata")]
        .into_iter()
        .flatten()
        .find(|v| v.get("tokenUsage").is_some() || v.get("llmCall").is_some())?;
    let mut usage = Map::new();
    for key in ["llmCall", "tokenUsage"] {
        if let Some(Value::Object(fields)) = holder.get(key) {
            usage.extend(fields.clone());
        }
    }
    Some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::payloads::encode_payload;

    fn envelope(message_type: &str, payload: Value) -> Envelope {
        let mode = "macp.mode.decision.v1";
        Envelope {
            macp_version: "1.0".into(),
            mode: mode.into(),
            message_type: message_type.into(),
            message_id: "m-1".into(),
            session_id: "s-1".into(),
            sender: "alpha".into(),
            timestamp_unix_ms: 5,
            payload: encode_payload(mode, message_type, Some(&payload), None, "p")
                .unwrap()
                .bytes,
        }
    }

    #[test]
    fn a_commitment_is_a_decision_about_its_commitment_id() {
        let events = derive_events(&envelope(
            "Commitment",
            json!({"commitmentId": "c-9", "action": "go"}),
        ));
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, vec!["message.received", "decision.finalized"]);
        assert_eq!(events[1].subject, Some(Subject::new("decision", "c-9")));
        assert_eq!(events[1].data["decodedPayload"]["action"], "go");
        assert_eq!(
            events[1].data["payloadTypeName"],
            "macp.v1.CommitmentPayload"
        );
    }

    #[test]
    fn a_sent_proposal_carries_its_sender_payload_and_proposal_subject() {
        let (data, subject) = describe_outbound(&envelope(
            "Proposal",
            json!({"proposal_id": "p-7", "option": "ship"}),
        ));
        assert_eq!(subject, Some(Subject::new("proposal", "p-7")));
        assert_eq!(data["sender"], "alpha");
        assert_eq!(data["messageType"], "Proposal");
        assert_eq!(data["payload"]["proposalId"], "p-7");
        assert_eq!(data["decodedPayload"]["option"], "ship");
        assert_eq!(
            data["payloadTypeName"],
            "macp.modes.decision.v1.ProposalPayload"
        );
        let (_, subject) = describe_outbound(&envelope("SessionStart", json!({})));
        assert_eq!(subject, None, "no derived event: the message itself");
    }

    #[test]
    fn token_usage_beside_a_message_is_an_llm_call() {
        let env = envelope("Evaluation", json!({"proposalId": "p1"}));
        let call = llm_call_beside(
            &env,
            &json!({"tokenUsage": {"totalTokens": 9}, "llmCall": {"model": "m"}}),
        )
        .unwrap();
        assert_eq!(call.event_type, "llm.call.completed");
        assert_eq!(call.data["totalTokens"], 9);
        assert_eq!(call.data["model"], "m");
        assert_eq!(call.data["participantId"], "alpha");
        assert!(llm_call_beside(&env, &json!({"note": 1})).is_none());
    }

    #[test]
    fn evaluations_update_the_proposal_they_name() {
        let events = derive_events(&envelope(
            "Evaluation",
            json!({"proposalId": "p1", "confidence": 0.5}),
        ));
        assert_eq!(events[1].event_type, "proposal.updated");
        assert_eq!(events[1].subject, Some(Subject::new("proposal", "p1")));
    }

    #[test]
    fn an_undecodable_payload_keeps_its_bytes_and_says_so() {
        let mut env = envelope("Vote", json!({}));
        env.payload = vec![0xff, 0x01];
        let events = derive_events(&env);
        assert_eq!(events[0].data["payloadBase64"], "/wE=");
        assert!(events[0].data["decodeError"].is_string());
    }

    #[test]
    fn session_start_yields_only_message_received() {
        assert_eq!(canonical_type("SessionStart"), None);
        assert_eq!(canonical_type("TaskAccept"), Some("proposal.updated"));
        assert_eq!(canonical_type("TaskComplete"), Some("progress.reported"));
    }
}
