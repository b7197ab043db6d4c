//! Run statuses and the transitions the contract allows between them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `queued → starting → binding_session → running ⇄ suspended →
/// completed | failed | cancelled`; any non-terminal status may also go to
/// `failed` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Starting,
    BindingSession,
    Running,
    Suspended,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        match self {
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled => true,
            RunStatus::Queued
            | RunStatus::Starting
            | RunStatus::BindingSession
            | RunStatus::Running
            | RunStatus::Suspended => false,
        }
    }

    pub fn can_transition_to(self, next: RunStatus) -> bool {
        use RunStatus::*;
        if self.is_terminal() {
            return false;
        }
        matches!(
            (self, next),
            (Queued, Starting)
                | (Starting, BindingSession)
                | (BindingSession, Running)
                | (Running, Suspended)
                | (Suspended, Running)
                | (Running, Completed)
                | (Suspended, Completed)
                | (_, Failed)
                | (_, Cancelled)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Starting => "starting",
            RunStatus::BindingSession => "binding_session",
            RunStatus::Running => "running",
            RunStatus::Suspended => "suspended",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus::*;

    #[test]
    fn follows_the_contract_lifecycle() {
        assert!(Queued.can_transition_to(Starting));
        assert!(Running.can_transition_to(Suspended));
        assert!(Suspended.can_transition_to(Running));
        assert!(Starting.can_transition_to(Failed));
        assert!(Queued.can_transition_to(Cancelled));
        assert!(
            !Queued.can_transition_to(Running),
            "no skipping the session"
        );
        assert!(!Completed.can_transition_to(Failed), "terminal is final");
        assert!(!Cancelled.can_transition_to(Running));
        assert!(!Starting.can_transition_to(Completed));
    }
}
