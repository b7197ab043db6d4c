//! The black-box suite: the real service with the real embedded runtime,
//! HTTP in and out, on SQLite and on PostgreSQL, one module an area.
//!
//! One test binary, not one per file: each binary links the whole service
//! and its dependencies (about 95 MB unoptimised), so 24 of them filled the
//! disk of a CI machine. Tests that install a process-wide log subscriber
//! (`security.rs`, `runtime_auth.rs`) stay binaries of their own, beside
//! this folder.

// `macro_use`: the modules below call `on_both_engines!` by name.
#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod agents;
mod api_docs;
mod cluster;
mod consistency;
mod console;
mod end_to_end;
mod event_store;
mod faults;
mod fuzz_strings;
mod leases;
mod live;
mod migration;
mod modes;
mod observed;
mod operations;
mod poison;
mod postgres_es;
mod read_models;
mod rebuild;
mod repository;
mod resume;
mod telemetry;
mod verify;
mod webhooks;
