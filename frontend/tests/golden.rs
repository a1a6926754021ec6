//! Golden tests of the graph the offline conversion emits (`graph::offline`, the code behind
//! `aishell-frontend graph|llb|plan`, with stand-in image configs): for each example (and a
//! few variants), the readable dump of the definition and the image config are compared with
//! an insta snapshot in `tests/golden/offline/<name>.snap`, the definition is marshalled
//! twice and compared byte for byte, and each vertex's recorded progress name
//! (`Conversion::names`) must be the name the definition gives it. `golden_build.rs` pins
//! what a real build sends instead.
//!
//! A vertex digest is a user's cache key: if one of these snapshots changes, every user's
//! cache for that vertex is busted. A mismatch fails the test (and under `CI` or
//! `INSTA_UPDATE=no`, as scripts/test runs it, writes nothing); accept a change only on
//! purpose, with `cargo insta review` (or `INSTA_UPDATE=always` and a look at `git diff`),
//! and say why in the commit (docs/architecture.md, "Golden snapshots").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::graph::names::ProgressNames;
use aishell_frontend::graph::offline::{self, SpecFile};
use llb_graph::{definition_to_json, encode_definition, marshal, validate};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

mod common;

/// Where these snapshots live, under `tests/golden/`.
const DIR: &str = "offline";

/// Every snapshot the tests below compare with; [`no_snapshot_without_a_test`] checks the
/// folder holds exactly these.
const NAMES: &[&str] = &[
    "aishell",
    "aishell-multiplatform",
    "hello",
    "hello-stack-epoch",
    "hello-target-extension",
    "hello-target-foundation",
    "hello-target-harness",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn spec_file(example: &str) -> SpecFile {
    let dir = root().join("examples").join(example).join(".aishell");
    SpecFile {
        name: "image.yaml".into(),
        text: std::fs::read_to_string(dir.join("image.yaml")).unwrap(),
        dir: Some(dir),
    }
}

/// Every vertex of `def` has its progress name recorded (what `aishell-frontend graph`
/// groups it by), and the name recorded is the one the definition gives it.
fn names_are_recorded(def: &llb_graph::pb::Definition, names: &ProgressNames) {
    let (_, ops) = def.def.split_last().unwrap();
    assert_eq!(names.len(), ops.len(), "one name per vertex, no other");
    for op in ops {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(op)));
        let text = &def.metadata[&digest].description["llb.customname"];
        assert_eq!(
            names.get(&digest).map(ToString::to_string).as_ref(),
            Some(text)
        );
    }
}

fn golden(name: &str, spec: &SpecFile, platforms: &[&str], args: &[&str], target: Option<&str>) {
    let platforms: Vec<String> = platforms.iter().map(|s| s.to_string()).collect();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let options = offline::options("image.yaml", &platforms, &args, target).unwrap();
    let builds = offline::convert_all(spec, &options).unwrap_or_else(|d| panic!("{d}"));
    let mut out = Vec::new();
    for b in &builds {
        let def = marshal(&b.conversion.state, &[offline::source_file(spec)]);
        validate(&def).unwrap();
        let again = marshal(&b.conversion.state, &[offline::source_file(spec)]);
        assert_eq!(
            encode_definition(&def),
            encode_definition(&again),
            "marshalling is deterministic"
        );
        names_are_recorded(&def, &b.conversion.names);
        let mut dump = definition_to_json(&def);
        // The spec text is in the source map; the golden file shows the graph, not the text.
        dump.as_object_mut().unwrap().remove("source");
        out.push(json!({
            "platform": b.platform.to_string(),
            "layers": b.conversion.layers.iter().map(|l| json!({
                "part": l.part.name(), "name": l.name, "version": l.version, "digest": l.state.digest().map(ToString::to_string),
            })).collect::<Vec<_>>(),
            "config": b.conversion.config.to_json(),
            "definition": dump,
        }));
    }
    let got = serde_json::to_string_pretty(&Value::Array(out)).unwrap() + "\n";
    assert!(NAMES.contains(&name), "{name} is missing from NAMES");
    let example = spec.dir.as_ref().map_or(spec.name.clone(), |d| {
        d.strip_prefix(root())
            .unwrap()
            .join(&spec.name)
            .display()
            .to_string()
    });
    let list = |v: &[String]| match v {
        [] => "none".to_string(),
        v => v.join(", "),
    };
    let description = format!(
        "offline conversion of {example}; platforms: {}; build args: {}; target: {}",
        list(&platforms),
        list(&args),
        target.unwrap_or("image")
    );
    // The body is the dump exactly as the JSON goldens before insta held it (insta trims
    // the final newline and writes one back).
    common::golden_settings(DIR, description).bind(|| insta::assert_snapshot!(name, got));
}

#[test]
fn hello() {
    golden(
        "hello",
        &spec_file("hello"),
        &[],
        &["TOOLS_URL=http://127.0.0.1:8765"],
        None,
    );
}

#[test]
fn aishell() {
    golden(
        "aishell",
        &spec_file("aishell"),
        &[],
        &["NPM_REGISTRY=https://npm.example.invalid"],
        None,
    );
}

#[test]
fn aishell_two_platforms() {
    golden(
        "aishell-multiplatform",
        &spec_file("aishell"),
        &["linux/amd64", "linux/arm64"],
        &["NPM_REGISTRY=https://npm.example.invalid"],
        Some("harness"),
    );
}

#[test]
fn hello_targets() {
    for target in ["foundation", "extension", "harness"] {
        golden(
            &format!("hello-target-{target}"),
            &spec_file("hello"),
            &[],
            &["TOOLS_URL=http://127.0.0.1:8765"],
            Some(target),
        );
    }
}

#[test]
fn hello_stacked_with_epoch() {
    golden(
        "hello-stack-epoch",
        &spec_file("hello"),
        &[],
        &[
            "TOOLS_URL=http://127.0.0.1:8765",
            "AISHELL_MERGE=stack",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
        None,
    );
}

#[test]
fn tool_order_in_the_spec_does_not_matter() {
    let a = "version: 1\nfoundation: {from: busybox:1}\nharness:\n  npm: {b-tool: 1.0.0, a-tool: 2.0.0}\n";
    let b = "version: 1\nfoundation: {from: busybox:1}\nharness:\n  npm: {a-tool: 2.0.0, b-tool: 1.0.0}\n";
    let options = offline::options("image.yaml", &[], &[], None).unwrap();
    let da = offline::convert_all(&SpecFile::from_text("image.yaml", a), &options).unwrap();
    let db = offline::convert_all(&SpecFile::from_text("image.yaml", b), &options).unwrap();
    assert_eq!(
        da[0].conversion.state.digest(),
        db[0].conversion.state.digest()
    );
}

#[test]
fn no_snapshot_without_a_test() {
    common::assert_golden_dir_holds(DIR, NAMES);
}
