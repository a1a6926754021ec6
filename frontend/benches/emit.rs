//! Graph emission without an engine: the frontend's own overhead on a build.
//!
//! Each benchmark times what `aishell-frontend llb SPEC --build-arg …` does once the spec
//! text is in memory: the build options, parsing and validating the spec, resolving it for
//! the platform, converting it to the LLB state (the offline stand-ins for images and, for
//! `examples/aishell`, the extension Dockerfile placeholder, which reads that Dockerfile
//! as the command line does) and marshalling the definition to protobuf bytes.
//!
//! Run with `cargo bench -p aishell-frontend --bench emit`; `bench/overhead` runs it and reads
//! criterion's `target/criterion/emit_*/new/estimates.json`. Before timing, each spec is
//! emitted once and its definition checked (it converts, validates, is not empty and has
//! the expected layers), so a benchmark can never time an error path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::graph::offline::{self, SpecFile};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

/// One benchmarked spec.
struct Case {
    /// The benchmark's id (criterion's folder under `target/criterion/`).
    id: &'static str,
    /// The example's folder under `examples/`.
    example: &'static str,
    /// `--build-arg` values the example needs (what `scripts/demo` passes).
    build_args: &'static [&'static str],
    /// The layer names the emitted image must have, bottom to top.
    layers: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        id: "emit_aishell",
        example: "aishell",
        build_args: &["NPM_REGISTRY=https://registry.npmjs.org"],
        layers: &[
            "foundation",
            "extension",
            "@anthropic-ai/claude-code",
            "@google/gemini-cli",
            "@openai/codex",
            "opencode",
        ],
    },
    Case {
        id: "emit_hello",
        example: "hello",
        build_args: &["TOOLS_URL=http://127.0.0.1:8765"],
        layers: &["foundation", "extension", "hello"],
    },
];

/// The spec as the command line reads it when run from the repository root.
fn spec_file(example: &str) -> SpecFile {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(example)
        .join(".aishell");
    let text = std::fs::read_to_string(dir.join("image.yaml"))
        .unwrap_or_else(|e| panic!("cannot read examples/{example}/.aishell/image.yaml: {e}"));
    SpecFile {
        name: format!("examples/{example}/.aishell/image.yaml"),
        text,
        dir: Some(dir),
    }
}

/// Spec text → LLB definition bytes, as `aishell-frontend llb` makes them; also the layer
/// names, for the check before timing.
fn emit(spec: &SpecFile, build_args: &[String]) -> (Vec<u8>, Vec<String>) {
    let options = offline::options(&spec.name, &[], build_args, None)
        .unwrap_or_else(|e| panic!("options: {e}"));
    let builds = offline::convert_all(spec, &options).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(builds.len(), 1, "one platform");
    let build = &builds[0];
    let def = llb_graph::marshal(&build.conversion.state, &[offline::source_file(spec)]);
    let bytes = llb_graph::encode_definition(&def);
    let layers = build
        .conversion
        .layers
        .iter()
        .map(|l| l.name.clone())
        .collect();
    (bytes, layers)
}

/// Emits `case` once and checks the result is a real definition, not an error path.
fn check(case: &Case, spec: &SpecFile, build_args: &[String]) {
    let (bytes, layers) = emit(spec, build_args);
    assert!(!bytes.is_empty(), "{}: empty definition", case.id);
    let def = <llb_graph::pb::Definition as prost::Message>::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{}: the bytes do not decode: {e}", case.id));
    llb_graph::validate(&def).unwrap_or_else(|e| panic!("{}: invalid definition: {e}", case.id));
    assert!(
        def.def.len() > case.layers.len(),
        "{}: only {} ops",
        case.id,
        def.def.len()
    );
    assert_eq!(layers, case.layers, "{}: layers", case.id);
    let (again, _) = emit(spec, build_args);
    assert_eq!(bytes, again, "{}: emission is deterministic", case.id);
}

fn emission(c: &mut Criterion) {
    for case in CASES {
        let spec = spec_file(case.example);
        let build_args: Vec<String> = case.build_args.iter().map(|s| s.to_string()).collect();
        check(case, &spec, &build_args);
        c.bench_function(case.id, |b| {
            b.iter(|| emit(black_box(&spec), black_box(&build_args)))
        });
    }
}

criterion_group!(benches, emission);
criterion_main!(benches);
