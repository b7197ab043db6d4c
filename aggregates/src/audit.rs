//! Who asked for what: the audit fact written with a command's events.
//!
//! A command that an API caller asked for (rather than one ingestion
//! decided on its own) is recorded with an [`RunEvent::ActionAudited`] in
//! the same append, so the log says who did what to which run, and no
//! audit row can exist without the change it describes, or the reverse.

use crate::command::RunCommand;
use crate::event::RunEvent;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The caller behind a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// `key:<fingerprint>` (the first 12 hex digits of the API key's
    /// SHA-256, never the key), or `anonymous` when the API is open.
    pub principal: String,
    /// The HTTP request's `x-request-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl RunCommand {
    /// The command's name in the audit log.
    pub fn action(&self) -> &'static str {
        match self {
            RunCommand::RequestRun { .. } => "run.create",
            RunCommand::StartRun { .. } => "run.start",
            RunCommand::BindSession { .. } => "session.bind",
            RunCommand::RecordOutboundMessage { .. } => "message.send",
            RunCommand::OpenStream { .. } => "stream.open",
            RunCommand::RecordEnvelope { .. } => "envelope.record",
            RunCommand::CompleteRun { .. } => "run.complete",
            RunCommand::FailRun { .. } => "run.fail",
            RunCommand::CancelRun { .. } => "run.cancel",
            RunCommand::SuspendRun { .. } => "run.suspend",
            RunCommand::ResumeRun { .. } => "run.resume",
            RunCommand::RegisterArtifact { .. } => "artifact.register",
            RunCommand::ArchiveRun { .. } => "run.archive",
            RunCommand::DeleteRun { .. } => "run.delete",
        }
    }
}

/// The audit fact for `command`, asked for by `actor` at `at`.
pub fn audited(command: &RunCommand, actor: &Actor, at: Timestamp) -> RunEvent {
    RunEvent::ActionAudited {
        action: command.action().to_string(),
        actor: actor.clone(),
        at,
    }
}
