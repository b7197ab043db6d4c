//! The MACP control plane service: HTTP in, the MACP runtime over gRPC,
//! an event-sourced log, and read models folded from it.
//!
//! See `ARCHITECTURE.md` for the map. The run aggregate lives in the
//! `aggregates` crate, the read-model folds in the `projections` crate.

#![warn(clippy::wildcard_enum_match_arm)]
pub mod api_client;
pub mod archive;
pub mod audit;
pub mod bench;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod ingestion;
pub mod live;
pub mod projector;
pub mod queries;
pub mod rebuild;
pub mod run_metrics;
pub mod run_repository;
pub mod runtime;
pub mod seed;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod verify;
pub mod webhook_delivery;
