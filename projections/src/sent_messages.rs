//! `GET /runs/:id/messages`: every message the control plane sent into the
//! run (kickoff and agents'), with the runtime's answer.

use crate::Projection;
use aggregates::{RunEvent, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SentMessages {
    pub messages: Vec<SentMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub message_type: String,
    pub kickoff: bool,
    /// `accepted` or `rejected`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub ts: Timestamp,
}

impl Projection for SentMessages {
    const NAME: &'static str = "sent_messages";

    fn apply(&mut self, event: &RunEvent) {
        let message = match event {
            RunEvent::MessageSent {
                message_id,
                from,
                to,
                message_type,
                kickoff,
                at,
            } => SentMessage {
                message_id: message_id.clone(),
                from: from.clone(),
                to: to.clone(),
                message_type: message_type.clone(),
                kickoff: *kickoff,
                status: "accepted".into(),
                error_code: None,
                error_message: None,
                ts: *at,
            },
            RunEvent::MessageRefused {
                message_id,
                from,
                to,
                message_type,
                kickoff,
                error_code,
                error_message,
                at,
            } => SentMessage {
                message_id: message_id.clone(),
                from: from.clone(),
                to: to.clone(),
                message_type: message_type.clone(),
                kickoff: *kickoff,
                status: "rejected".into(),
                error_code: Some(error_code.clone()),
                error_message: Some(error_message.clone()),
                ts: *at,
            },
            // Facts that are no sent message.
            RunEvent::RunRequested { .. }
            | RunEvent::RunStarted { .. }
            | RunEvent::SessionBound { .. }
            | RunEvent::SessionStreamOpened { .. }
            | RunEvent::RuntimeEnvelopeRecorded { .. }
            | RunEvent::CanonicalEventRecorded { .. }
            | RunEvent::RunCompleted { .. }
            | RunEvent::RunFailed { .. }
            | RunEvent::RunCancelled { .. }
            | RunEvent::RunSuspended { .. }
            | RunEvent::RunResumed { .. }
            | RunEvent::ArtifactRegistered { .. }
            | RunEvent::RunArchived { .. }
            | RunEvent::DecisionReceiptRecorded { .. }
            | RunEvent::RunDeleted { .. }
            | RunEvent::ActionAudited { .. } => return,
        };
        // Message ids are unique per run: a re-delivered event is a no-op.
        if self
            .messages
            .iter()
            .all(|m| m.message_id != message.message_id)
        {
            self.messages.push(message);
        }
    }
}
