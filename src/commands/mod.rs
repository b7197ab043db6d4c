//! The write use cases: every change a caller asks of the service, with
//! the caller (the [`Actor`] the audit log names) an explicit argument.
//! A command validates its input, asks the runtime where the change is
//! the runtime's to make, and decides and appends through the run
//! repository; HTTP handlers only parse, call one command, and render.
//!
//! `runs` starts, clones, archives and deletes runs; `lifecycle` cancels,
//! suspends and resumes them; `messages` sends messages, signals and
//! context updates into a live run; `artifacts` registers what a run
//! produced; `webhooks` and `operations` change what is not a run (webhook
//! subscriptions; runtime policies and the circuit breaker) and record who
//! did.

pub mod artifacts;
pub mod lifecycle;
pub mod messages;
pub mod operations;
pub mod runs;
pub mod webhooks;

use crate::ingestion::Ingestion;
use crate::live::LiveHub;
use crate::run_repository::RunRepository;
use crate::runtime::RuntimeClient;
use crate::store::EventStore;
pub use aggregates::Actor;

/// What the commands work with; cheap to clone (every part is shared).
#[derive(Clone)]
pub struct Commands {
    repo: RunRepository,
    ingestion: Ingestion,
    live: LiveHub,
    /// Unknown fields of `proto` payloads are refused rather than dropped.
    strict_payload_fields: bool,
}

impl Commands {
    pub fn new(
        repo: RunRepository,
        ingestion: Ingestion,
        live: LiveHub,
        strict_payload_fields: bool,
    ) -> Self {
        Commands {
            repo,
            ingestion,
            live,
            strict_payload_fields,
        }
    }

    fn runtime(&self) -> &RuntimeClient {
        self.ingestion.runtime()
    }

    fn store(&self) -> &EventStore {
        self.repo.store()
    }
}
