//! Storage of the read side: projector checkpoints, one JSON document per
//! (projection, key), the run list, the canonical-event index and the
//! audit log. Everything here is disposable and rebuilt from the log. On
//! PostgreSQL documents are jsonb, run ids uuid and times timestamptz
//! (`columns.rs` says how values cross into them).
//!
//! `batch.rs` is a projector's transaction, and each table's module adds
//! the statements that write it there as well as the queries that read
//! it: `documents.rs`, `run_list.rs`, `canonical.rs`, `audit.rs`,
//! `snapshots.rs` (a kind of document); `checkpoints.rs` and `reset.rs`
//! are where each projector is and how it starts over; `filter.rs` the
//! WHERE clauses of the list queries.

pub mod audit;
mod batch;
pub mod canonical;
mod checkpoints;
mod documents;
mod filter;
mod reset;
pub mod run_list;
pub mod snapshots;

pub use batch::{ModelWrite, ProjectionBatch};
pub use reset::ProjectionTable;
