//! The caller behind the work in progress, for the audit log.
//!
//! The API's access layer runs each request inside [`acting_as`]; the run
//! repository, deciding a command within it, writes an `ActionAudited`
//! fact with the command's events (one append). Work spawned apart from a
//! request (ingestion, the sweeper) has no actor and writes no audit fact:
//! what the runtime did is in the log already, as envelopes.

use aggregates::Actor;
use std::future::Future;

tokio::task_local! {
    static ACTOR: Actor;
}

/// Runs `work` on behalf of `actor`.
pub async fn acting_as<F: Future>(actor: Actor, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}

/// The caller of the request being served here, if any.
pub fn current_actor() -> Option<Actor> {
    ACTOR.try_with(Actor::clone).ok()
}
