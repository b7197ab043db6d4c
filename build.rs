//! Compiles the runtime's published protobuf schemas (from the `macp-proto`
//! crate, never copied into this repository) with protox, a pure-Rust
//! compiler: the tonic client for `macp.v1`, and the descriptor set that
//! `prost-reflect` uses to encode and decode mode payloads at run time.
//! Also compiles the control plane's own schemas in `proto/` (the run
//! archive) into prost messages.

use prost::Message;
use std::path::PathBuf;

/// Every schema the runtime publishes: the core service and the payloads of
/// the five standard modes and the multi-round extension.
const PROTOS: [&str; 9] = [
    "macp/v1/envelope.proto",
    "macp/v1/core.proto",
    "macp/v1/policy.proto",
    "macp/modes/decision/v1/decision.proto",
    "macp/modes/proposal/v1/proposal.proto",
    "macp/modes/task/v1/task.proto",
    "macp/modes/handoff/v1/handoff.proto",
    "macp/modes/quorum/v1/quorum.proto",
    "macp/modes/multi_round/v1/multi_round.proto",
];

/// The control plane's own schemas, under `proto/`.
const OWN_PROTOS: [&str; 1] = ["macp/control_plane/archive/v1/run_archive.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = macp_proto::proto_dir();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, [&proto_dir])?;
    std::fs::write(
        out_dir.join("macp_descriptors.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(descriptors)?;
    let own = protox::compile(OWN_PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .compile_fds(own)?;
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
