//! Build script: compiles the minimal kvproto-compatible `.proto` files in
//! `proto/` into Rust (prost messages + tonic clients/servers) with the
//! pure-Rust `protox` compiler, so no system `protoc` is needed.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/metapb.proto",
    "proto/errorpb.proto",
    "proto/kvrpcpb.proto",
    "proto/cdcpb.proto",
    "proto/pdpb.proto",
    "proto/tikvpb.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out)
        .compile_fds(fds)?;
    Ok(())
}
