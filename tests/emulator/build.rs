//! Build script: compiles the daemon's `.proto` files (`../../proto`) with the pure-Rust
//! `protox` compiler into tonic *servers only*. Every message is the daemon's own generated
//! type (`extern_path` of each package → `tidb_changefeed::proto::<package>`), so each message
//! type exists once and the servers speak exactly what the daemon's clients read.

use std::path::PathBuf;

const PROTO_DIR: &str = "../../proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_DIR}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(PROTO_DIR)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|x| x == "proto"));
    files.sort();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [PROTO_DIR])?;
    let mut packages: Vec<String> = fds.file.iter().map(|f| f.package().to_string()).collect();
    packages.sort();
    packages.dedup();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut cfg = tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .out_dir(out);
    for p in &packages {
        cfg = cfg.extern_path(format!(".{p}"), format!("::tidb_changefeed::proto::{p}"));
    }
    cfg.compile_fds(fds)?;
    Ok(())
}
