//! Build script: compiles our minimal kvproto-compatible `.proto` files in `proto/` into
//! Rust (prost messages + tonic clients; the servers are the emulator crate's, in
//! `tests/emulator`) with the pure-Rust `protox` compiler,
//! so no system `protoc` is needed; and stamps the git commit into the binary for `version`
//! and the build-info metric.

use std::path::PathBuf;
use std::process::Command;

const PROTOS: &[&str] = &[
    "proto/metapb.proto",
    "proto/errorpb.proto",
    "proto/kvrpcpb.proto",
    "proto/cdcpb.proto",
    "proto/pdpb.proto",
    "proto/tikvpb.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    stamp();
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .out_dir(out)
        .compile_fds(fds)?;
    Ok(())
}

fn stamp() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TIDB_CHANGEFEED_GIT_COMMIT={commit}");
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=TIDB_CHANGEFEED_BUILD_PROFILE={profile}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
