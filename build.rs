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
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TIDB_CHANGEFEED_GIT_COMMIT={commit}");
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=TIDB_CHANGEFEED_BUILD_PROFILE={profile}");
    // Re-stamp when HEAD moves: watch HEAD and the branch it names, where git keeps them (a
    // worktree's `.git` is a file pointing elsewhere). Only files that exist are watched: a
    // missing one would make cargo re-run this script, and rebuild the crate, every time.
    let mut watch: Vec<PathBuf> = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watch.push(PathBuf::from(dir).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        let common = PathBuf::from(common);
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(common.join(branch));
        }
        watch.push(common.join("packed-refs"));
    }
    for p in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

/// The trimmed output of `git <args>`, when git runs and says something.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
