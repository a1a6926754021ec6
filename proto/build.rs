//! Compiles our `.proto` files with `protox` (pure Rust, no `protoc` needed)
//! and generates prost messages plus tonic client (and, with the `server`
//! feature, server) code into `OUT_DIR`.

use std::error::Error;
use std::path::Path;

/// Root that import paths inside the `.proto` files are relative to.
const PROTO_ROOT: &str = "proto";

/// Every file we own. Imports between them are resolved from `PROTO_ROOT`.
const PROTO_FILES: &[&str] = &[
    "pb/ops.proto",
    "moby/buildkit/v1/apicaps/caps.proto",
    "moby/buildkit/v1/types/worker.proto",
    "moby/buildkit/v1/frontend/gateway.proto",
    "fsutil/types/stat.proto",
    "google/rpc/status.proto",
];

/// Name of the generated file that nests every package as a module.
const INCLUDE_FILE: &str = "aishell_proto.rs";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in PROTO_FILES {
        println!(
            "cargo:rerun-if-changed={}",
            Path::new(PROTO_ROOT).join(file).display()
        );
    }

    let mut fds = protox::compile(PROTO_FILES, [PROTO_ROOT])?;

    // protox also hands us its built-in google/protobuf/*.proto files (Any,
    // Timestamp), which we generate ourselves instead of pulling in
    // prost-types. Their upstream comments contain code samples that rustdoc
    // would try to run as doctests, so drop their comments.
    for file in &mut fds.file {
        if file.package() == "google.protobuf" {
            file.source_code_info = None;
        }
    }

    let build_server = std::env::var_os("CARGO_FEATURE_SERVER").is_some();

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(build_server)
        // Server trait methods default to "unimplemented", so a fake daemon in
        // a test only has to write the RPCs it cares about.
        .generate_default_stubs(true)
        // Every map becomes a BTreeMap: encoding then walks keys in sorted
        // order, so equal messages always give equal bytes (and LLB digests).
        .btree_map(".")
        .compile_well_known_types(true)
        .include_file(INCLUDE_FILE)
        .compile_fds(fds)?;

    Ok(())
}
