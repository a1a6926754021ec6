//! The `aishell-frontend` command line, run as a user runs it: the built binary on spec
//! files in a temporary folder, asserting on stdout, stderr and the exit status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_proto::pb;
use prost::Message;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_aishell-frontend");

/// A spec with all three parts, two npm tools and a binary.
const SPEC: &str = r#"# syntax=ghcr.io/org/aishell-frontend:1
version: 1
foundation:
  from: debian:trixie-slim@sha256:1111111111111111111111111111111111111111111111111111111111111111
  apt: [git, curl, ca-certificates, nodejs, npm]
  copy:
    - src: docker/entrypoint.sh
      dest: /usr/local/bin/entrypoint.sh
      mode: "0755"
extension:
  run:
    - mkdir -p /opt/project
harness:
  npm:
    "@openai/codex": "0.168.0"
    "@anthropic-ai/claude-code": "2.1.332"
  binaries:
    gitleaks:
      url: https://github.com/gitleaks/gitleaks/releases/download/v8.30.0/gitleaks_8.30.0_linux_${TARGETARCH}.tar.gz
      sha256: "2222222222222222222222222222222222222222222222222222222222222222"
      extract: gitleaks
image:
  cmd: [/bin/bash]
"#;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }
}

/// Runs the binary in `dir` with `args`; `NO_COLOR` and the terminal are whatever the
/// test says, never inherited.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap(),
        stdout,
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn run(dir: &Dir, args: &[&str]) -> Run {
    run_in(dir.path(), args, &[])
}

#[test]
fn check_shows_every_error_with_its_line_and_a_caret() {
    let d = Dir::new();
    let bad = SPEC
        .replace("\"0.168.0\"", "\"^0.168.0\"")
        .replace("\"2222", "\"zz22");
    d.write("image.yaml", &bad);
    let r = run(&d, &["check", "image.yaml"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let e = &r.stderr;
    // The version error: headline, location, the line itself, carets under the value.
    assert!(
        e.contains("error: harness.npm.@openai/codex: `^0.168.0` is not an exact version"),
        "{e}"
    );
    assert!(e.contains("  --> image.yaml:15:22\n"), "{e}");
    assert!(
        e.contains("15 |     \"@openai/codex\": \"^0.168.0\"\n"),
        "{e}"
    );
    assert!(
        e.contains(&format!("   | {}^^^^^^^^^^\n", " ".repeat(21))),
        "{e}"
    );
    assert!(e.contains("   = help: write the exact version"), "{e}");
    // And the checksum error, in the same run.
    assert!(
        e.contains("error: harness.binaries.gitleaks.sha256: `zz22"),
        "{e}"
    );
    assert!(e.contains("error: image.yaml: 2 errors"), "{e}");
    // Output to a pipe has no colours.
    assert!(!e.contains('\x1b'));
}

#[test]
fn check_passes_with_warnings_and_honours_skip_directives() {
    let d = Dir::new();
    let unpinned = SPEC.replace(
        "@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "",
    );
    d.write("image.yaml", &unpinned);
    let r = run(
        &d,
        &[
            "check",
            "image.yaml",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "image.yaml: ok for linux/amd64, linux/arm64\n");
    assert!(
        r.stderr
            .contains("warning[FoundationNotPinned]: foundation.from:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(" --> image.yaml:4:9\n"), "{}", r.stderr);
    assert!(r.stderr.contains("warning: image.yaml: 1 warning"));

    let skipped = unpinned.replacen(
        "\nversion: 1",
        "\n# check=skip=FoundationNotPinned\nversion: 1",
        1,
    );
    d.write("skipped.yaml", &skipped);
    let r = run(&d, &["check", "skipped.yaml"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stderr, "");
}

#[test]
fn colours_follow_the_flag_and_no_color() {
    let d = Dir::new();
    d.write("image.yaml", "version: 1\nfoundation:\n  form: x\n");
    let r = run(&d, &["check", "image.yaml", "--color", "always"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("\x1b[1;31merror\x1b[0m"), "{}", r.stderr);
    let r = run_in(d.path(), &["check", "image.yaml"], &[("NO_COLOR", "1")]);
    assert!(!r.stderr.contains('\x1b'));
    let r = run(&d, &["check", "image.yaml", "--color=never"]);
    assert!(!r.stderr.contains('\x1b'));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let d = Dir::new();
    let r = run(&d, &["check", "missing.yaml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: cannot read missing.yaml:"),
        "{}",
        r.stderr
    );
    for args in [
        vec!["frobnicate"],
        vec!["plan"],
        vec!["plan", "x.yaml", "--platform", "linux"],
        vec!["plan", "x.yaml", "--target", "everything"],
        vec!["graph", "x.yaml", "--format", "png"],
    ] {
        let r = run(&d, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
    d.write("image.yaml", SPEC);
    let r = run(
        &d,
        &[
            "plan",
            "image.yaml",
            "--build-arg",
            "AISHELL_MERGE=sideways",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("AISHELL_MERGE=sideways"), "{}", r.stderr);

    // Bytes that are not text are a problem of the spec, not of the file system.
    std::fs::write(d.path().join("binary.yaml"), b"version: 1\n\xff\xfe\n").unwrap();
    let r = run(&d, &["check", "binary.yaml"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "error: binary.yaml is not UTF-8 text\n");
}

#[test]
fn help_documents_the_exit_codes() {
    let d = Dir::new();
    let r = run(&d, &["--help"]);
    assert_eq!(r.code, 0);
    let out = r.out();
    assert!(out.contains("Exit status:"));
    for cmd in ["check", "plan", "diff", "graph", "llb"] {
        assert!(out.contains(&format!("  {cmd} ")), "{cmd}");
        let r = run(&d, &[cmd, "--help"]);
        assert_eq!(r.code, 0, "{cmd}");
        let help = r.out();
        assert!(help.contains("Exit status:"), "{cmd}");
        assert!(help.contains("Example"), "{cmd}");
        assert!(help.contains("--platform <P>"), "{cmd}");
        assert!(help.contains("--build-arg <K=V>"), "{cmd}");
        assert!(help.contains("--target <T>"), "{cmd}");
    }
    let r = run(&d, &["--version"]);
    assert_eq!(r.code, 0);
    assert!(r.out().starts_with("aishell-frontend "));
}

#[test]
fn no_arguments_is_the_frontend() {
    let d = Dir::new();
    let r = run(&d, &[]);
    // It speaks HTTP/2 (gRPC) on stdout at once, and fails because nobody answers.
    assert!(r.stdout.starts_with(b"PRI * HTTP/2.0\r\n"), "{:?}", r.out());
    assert_ne!(r.code, 0);
    assert!(!r.stderr.contains("Usage:"));
}

#[test]
fn plan_lists_the_layers_bottom_to_top() {
    let d = Dir::new();
    d.write("image.yaml", SPEC);
    let r = run(&d, &["plan", "image.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "image.yaml (linux/amd64, target image): 5 layers, bottom to top"
    );
    let cells: Vec<Vec<&str>> = lines[2..7]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let order: Vec<(&str, &str, &str)> = cells.iter().map(|c| (c[0], c[1], c[2])).collect();
    assert_eq!(
        order,
        [
            ("1", "foundation", "-"),
            ("2", "extension", "-"),
            ("3", "harness", "@anthropic-ai/claude-code"),
            ("4", "harness", "@openai/codex"),
            ("5", "harness", "gitleaks"),
        ]
    );
    assert_eq!(cells[3][3], "0.168.0");
    assert_eq!(cells[4][3], "8.30.0");
    // 12 hex digits of each layer's graph digest.
    assert!(
        cells
            .iter()
            .all(|c| c[4].len() == 12 && c[4].chars().all(|x| x.is_ascii_hexdigit()))
    );
    assert!(out.contains("\nnote: images are not resolved without an engine: docker.io/library/debian:trixie-slim@sha256:1111"), "{out}");

    // Targets and --no-trunc; the JSON form carries the full digests.
    let r = run(&d, &["plan", "image.yaml", "--target", "harness", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let layers = v[0]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    assert!(layers.iter().all(|l| l["part"] == "harness"));
    let full = layers[2]["digest"].as_str().unwrap();
    assert_eq!(full.len(), 71);
    let r = run(&d, &["plan", "image.yaml", "--no-trunc"]);
    assert!(r.out().contains(full));
}

#[test]
fn plan_reports_spec_errors_like_check() {
    let d = Dir::new();
    d.write("image.yaml", &SPEC.replace("\"2.1.332\"", "latest"));
    let r = run(&d, &["plan", "image.yaml"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("  --> image.yaml:16:34\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn diff_of_a_harness_bump_rebuilds_that_tool_only() {
    let d = Dir::new();
    d.write("old.yaml", SPEC);
    d.write("new.yaml", &SPEC.replace("0.168.0", "0.169.0"));
    let r = run(&d, &["diff", "old.yaml", "new.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    assert!(out.starts_with("old.yaml → new.yaml (linux/amd64, target image)\n"));
    assert!(out.contains("\nfoundation: unchanged, reused\n"), "{out}");
    assert!(out.contains("\nextension: unchanged, reused\n"), "{out}");
    assert!(out.contains("\nharness/@openai/codex: version 0.168.0 → 0.169.0, rebuilt\n"));
    assert!(out.contains("\nharness/@anthropic-ai/claude-code: unchanged, reused\n"));
    assert!(out.contains("\nharness/gitleaks: unchanged, reused\n"));
    assert_eq!(out.matches("rebuilt\n").count(), 1, "{out}");
    assert!(out.contains("5 layers: 1 rebuilt, 4 reused\n"));
    assert!(out.contains("note: images are not resolved"));
}

#[test]
fn diff_of_a_foundation_change_and_tool_list_changes() {
    let d = Dir::new();
    d.write("old.yaml", SPEC);
    let new = SPEC
        .replace("apt: [git, curl,", "apt: [git, curl, ripgrep,")
        .replace(
            "    \"@anthropic-ai/claude-code\": \"2.1.332\"\n",
            "    \"@google/gemini-cli\": \"0.9.0\"\n",
        );
    d.write("new.yaml", &new);
    let r = run(
        &d,
        &["diff", "old.yaml", "new.yaml", "--platform", "linux/arm64"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    assert!(out.contains(
        "foundation: changed (apt: +ripgrep), rebuilt; everything built on it rebuilds\n"
    ));
    assert!(out.contains("extension: rebuilt (the foundation changed)\n"));
    assert!(out.contains("harness/@google/gemini-cli: added (0.9.0), built\n"));
    assert!(out.contains("harness/@anthropic-ai/claude-code: removed\n"));
    // The binary is placed on scratch: independent of the foundation.
    assert!(
        out.contains("harness/gitleaks: unchanged, reused\n"),
        "{out}"
    );
}

#[test]
fn llb_prints_a_valid_definition_and_a_readable_dump() {
    let d = Dir::new();
    d.write("image.yaml", SPEC);
    let raw = run(&d, &["llb", "image.yaml"]);
    assert_eq!(raw.code, 0, "{}", raw.stderr);
    assert!(raw.stderr.contains("note: images are not resolved"));
    let def = pb::Definition::decode(raw.stdout.as_slice()).unwrap();
    llb_graph::validate(&def).unwrap();
    // The spec travels with the definition, so buildctl shows spec lines on failure.
    let infos = &def.source.as_ref().unwrap().infos;
    assert_eq!(infos[0].filename, "image.yaml");
    assert_eq!(infos[0].data, SPEC.as_bytes());

    let json = run(&d, &["llb", "image.yaml", "--json"]);
    assert_eq!(json.code, 0);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let ops = v["ops"].as_array().unwrap();
    assert_eq!(ops.len(), def.def.len());
    assert_eq!(v, llb_graph::definition_to_json(&def));
    assert!(ops.iter().any(|o| o["op"].get("merge").is_some()));

    // One definition is one platform.
    let r = run(
        &d,
        &["llb", "image.yaml", "--platform", "linux/amd64,linux/arm64"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("single --platform"), "{}", r.stderr);
}

#[test]
fn graph_draws_dot_mermaid_and_svg() {
    let d = Dir::new();
    d.write("image.yaml", SPEC);
    let r = run(&d, &["graph", "image.yaml", "--format", "dot"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dot = r.out();
    assert!(dot.starts_with("digraph aishell {"));
    for label in [
        "subgraph cluster_foundation",
        "apt-get install git curl",
        "layer (diff against the foundation)",
        "npm @openai/codex@0.168.0 layer",
        "gitleaks -> /tools/bin/gitleaks",
        "merge foundation + extension + 3 harness",
    ] {
        assert!(dot.contains(label), "{label}: {dot}");
    }
    let r = run(&d, &["graph", "image.yaml", "--format", "mermaid"]);
    assert_eq!(r.code, 0);
    assert!(r.out().starts_with("flowchart BT\n"));

    // Without Graphviz, svg says what to install.
    let empty = tempfile::tempdir().unwrap();
    let r = run_in(
        d.path(),
        &["graph", "image.yaml", "--format", "svg"],
        &[("PATH", empty.path().to_str().unwrap())],
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("Graphviz"), "{}", r.stderr);
    // With it (when this machine has it), a picture.
    if Command::new("dot").arg("-V").output().is_ok() {
        let r = run(&d, &["graph", "image.yaml", "--format", "svg"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.out().contains("<svg"));
    }
}
