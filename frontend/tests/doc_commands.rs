//! Every command shown in the docs is exercised by a test.
//!
//! This test reads every Markdown file of the repository and takes the fenced code blocks
//! whose language is `sh` as commands a reader is meant to run, one per line (a line ending
//! in `\` continues on the next). Other blocks are illustrations (`text` for output samples
//! and for commands that only show what something runs, `yaml`, `mermaid`, …). Each command
//! is one of:
//!
//! * **run here**: `aishell-frontend …` and the file commands around it (`cp`, `sed`, `git`,
//!   …). Each document's runnable commands run in order, in one bash session, in a fresh
//!   sandbox: a copy of `examples/hello` as the project (`.aishell/image.yaml`), `examples/`
//!   beside it, a git history of two commits, `HOME` and `/tmp/` inside the sandbox, the
//!   built `aishell-frontend` on `PATH`. Each must exit with the documented status: 0, or
//!   the `N` of an `# exits N` comment on its line.
//! * **needs an engine**: `docker …` and `scripts/…`, which this test does not run. Each must
//!   match an entry of [`ENGINE_COMMANDS`] naming the end-to-end test (or script) that does
//!   the same thing; the entry is checked to still exist in that file.
//! * anything else fails the test, with the file, line and the ways to fix it.
//!
//! An output sample fenced ```` ```text output ```` right after an `sh` block is checked
//! against what that block's last command printed (stdout and stderr): each of its lines
//! must be a line of the output, or, where it has `…`, start one.
//!
//! [`NOT_YET_TESTED`] lists the few documented commands no test exercises yet; they are
//! printed on every run so the gap stays visible.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_proto::pb;
use prost::Message;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aishell-frontend");

/// A documented command that needs an engine, and the test that exercises the same thing.
struct Mapped {
    /// The command as written in the docs (whitespace collapsed, comment removed); `*`
    /// matches any text.
    pattern: &'static str,
    /// The file holding the test, relative to the repository root.
    test: &'static str,
    /// Text that must occur in that file: the test function (or script line) itself.
    item: &'static str,
}

/// Commands that need a Docker engine or the repository's engine scripts.
const ENGINE_COMMANDS: &[Mapped] = &[
    // docs/buildx.md: the buildx features, each exercised by tests/e2e/tests/buildx.rs
    // (listed first: the generic build pattern below would also match some of them).
    // docs/ci.md: CI runners (a fresh standalone buildkitd per job, a registry cache),
    // each exercised by tests/e2e/tests/ci_runners.rs.
    Mapped {
        pattern: "docker buildx create --name ci --driver remote unix://*",
        test: "tests/e2e/tests/ci_runners.rs",
        item: "fn a_harness_bump_on_a_fresh_runner_pulls_nothing_of_the_extension",
    },
    // The project job with two caches first: the one-cache pattern would match it too.
    Mapped {
        pattern: "docker buildx build --builder ci -f .aishell/image.yaml -t * --push --cache-from type=registry,ref=* --cache-from type=registry,ref=* --cache-to type=registry,ref=*,mode=max .",
        test: "tests/e2e/tests/ci_runners.rs",
        item: "fn projects_import_the_harness_job_cache_and_install_nothing",
    },
    Mapped {
        pattern: "docker buildx build --builder ci -f .aishell/image.yaml -t * --push --cache-from type=registry,ref=* --cache-to type=registry,ref=*,mode=max .",
        test: "tests/e2e/tests/ci_runners.rs",
        item: "fn a_harness_bump_on_a_fresh_runner_pulls_nothing_of_the_extension",
    },
    Mapped {
        pattern: "buildctl --addr unix://* build --frontend dockerfile.v0 --local context=. --local dockerfile=.aishell --opt filename=image.yaml --output type=image,name=*,push=true --import-cache type=registry,ref=* --export-cache type=registry,ref=*,mode=max",
        test: "tests/e2e/tests/ci_runners.rs",
        item: "fn buildctl_runs_the_same_job",
    },
    Mapped {
        pattern: "docker buildx build --builder ci -f .aishell/image.yaml --target harness --cache-to type=registry,ref=*,mode=max .",
        test: "tests/e2e/tests/ci_runners.rs",
        item: "fn projects_import_the_harness_job_cache_and_install_nothing",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml --provenance=mode=max --sbom=true --push -t * .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn sbom_lists_every_part_and_a_bump_reads_only_the_bumped_tool",
    },
    Mapped {
        pattern: "docker buildx imagetools inspect * --format '{{ json .SBOM.SPDX }}'",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn sbom_lists_every_part_and_a_bump_reads_only_the_bumped_tool",
    },
    Mapped {
        pattern: "docker buildx build --secret id=npmrc,src=* -f .aishell/image.yaml .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn an_npmrc_secret_configures_npm_and_is_in_no_layer",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml --secret id=npmrc,src=* -t * --load .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn an_npmrc_secret_configures_npm_and_is_in_no_layer",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml --output type=image,name=*,oci-mediatypes=true,compression=zstd,push=true .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn a_zstd_export_compresses_the_new_layers_with_zstd_and_runs",
    },
    Mapped {
        pattern: "docker build -f .aishell/image.yaml -t * .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml --build-arg * -t * --load .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml --target * -t * --load .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --load --metadata-file * .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Mapped {
        pattern: "jq -r '.\"containerimage.digest\", .\"image.name\"' build.json",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --push .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn push_to_a_registry_and_a_harness_bump_pushes_one_new_layer",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --load --cache-to type=registry,* --cache-from type=registry,* .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn registry_cache_survives_a_pruned_builder",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --load --cache-to type=local,* --cache-from type=local,* .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn local_cache_survives_a_pruned_builder",
    },
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml --platform linux/amd64,linux/arm64 -t * --push .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn several_platforms_give_one_index_with_the_right_binaries",
    },
    Mapped {
        pattern: "SOURCE_DATE_EPOCH=* docker buildx build -f .aishell/image.yaml --target harness --output type=oci,dest=*,rewrite-timestamp=true .",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn harness_layers_are_reproducible_from_clean_caches",
    },
    Mapped {
        pattern: "docker buildx bake --print image",
        test: "tests/e2e/tests/buildx.rs",
        item: "fn the_bake_file_of_the_docs_resolves",
    },
    // Building a spec through `# syntax=`.
    Mapped {
        pattern: "docker buildx build -f .aishell/image.yaml -t * .",
        test: "tests/e2e/tests/merge.rs",
        item: "fn three_parts_merge_and_a_harness_bump_changes_only_its_layer",
    },
    Mapped {
        pattern: "docker buildx build -f examples/aishell/.aishell/image.yaml --build-arg NPM_REGISTRY=\"$(npm config get registry | sed 's:/*$::')\" -t * examples/aishell",
        test: "tests/e2e/tests/examples.rs",
        item: "fn example_aishell",
    },
    Mapped {
        pattern: "docker buildx build --call check -f .aishell/image.yaml .",
        test: "tests/e2e/tests/calls.rs",
        item: "fn call_check_on_a_clean_spec_exits_zero",
    },
    // Looking at the result.
    Mapped {
        pattern: "docker run --rm -it aishell:ext-example",
        test: "tests/e2e/tests/examples.rs",
        item: "fn example_aishell",
    },
    Mapped {
        pattern: "docker run --rm hello:*",
        test: "tests/e2e/tests/examples.rs",
        item: "fn example_hello",
    },
    Mapped {
        pattern: "docker image inspect --format '{{json .RootFS.Layers}}' *",
        test: "tests/e2e/tests/merge.rs",
        item: "fn three_parts_merge_and_a_harness_bump_changes_only_its_layer",
    },
    Mapped {
        pattern: "docker image inspect --format '{{json .Config.Labels}}' *",
        test: "tests/e2e/tests/examples.rs",
        item: "fn check_example",
    },
    // A harness tool served from loopback, as the examples' test serves it.
    Mapped {
        pattern: "python3 -m http.server --bind 127.0.0.1 8765 --directory *",
        test: "tests/e2e/tests/examples.rs",
        item: "fn serve(",
    },
    // The engine scripts, run by scripts/test before the end-to-end tests.
    Mapped {
        pattern: "eval \"$(scripts/engine up)\"",
        test: "scripts/test",
        item: "eval \"$(scripts/engine up",
    },
    Mapped {
        pattern: "scripts/engine down",
        test: "scripts/test",
        item: "scripts/engine down",
    },
    Mapped {
        pattern: "scripts/base-images --debian",
        test: "scripts/test",
        item: "BASE_IMAGE_ARGS=--debian",
    },
    Mapped {
        pattern: "scripts/base-images",
        test: "scripts/test",
        item: "scripts/base-images",
    },
    Mapped {
        pattern: "scripts/frontend-image",
        test: "scripts/test",
        item: "scripts/frontend-image",
    },
    Mapped {
        pattern: "scripts/test --unit",
        test: "scripts/test",
        item: "--unit",
    },
    // Installing the command line: `cargo test` builds (and this test runs) the same binary.
    Mapped {
        pattern: "cargo install --locked --path frontend",
        test: "scripts/test",
        item: "cargo test --workspace",
    },
    // CI runs exactly the test command the README gives.
    Mapped {
        pattern: "scripts/test",
        test: ".ci/run",
        item: "exec scripts/test",
    },
    // Publishing through a registry (docs/getting-started.md, docs/buildx.md).
    Mapped {
        pattern: "AISHELL_FRONTEND_IMAGE=* scripts/frontend-image",
        test: "tests/e2e/tests/publish.rs",
        item: "fn the_frontend_image_is_published_to_a_registry_and_pulled_from_it",
    },
    Mapped {
        pattern: "docker buildx bake --push",
        test: "tests/e2e/tests/publish.rs",
        item: "fn the_bake_file_of_the_docs_pushes_the_image_and_exports_the_harness",
    },
    Mapped {
        pattern: "docker buildx bake harness",
        test: "tests/e2e/tests/publish.rs",
        item: "fn the_bake_file_of_the_docs_pushes_the_image_and_exports_the_harness",
    },
    Mapped {
        pattern: "docker buildx build -f Dockerfile.frontend -t ghcr.io/org/aishell-frontend:1 .",
        test: "tests/e2e/tests/publish.rs",
        item: "fn the_frontend_image_compiles_from_dockerfile_frontend_as_documented",
    },
    // Cross-compiled for arm64 on the build platform and pushed to a local registry.
    Mapped {
        pattern: "docker buildx build -f Dockerfile.frontend --platform linux/amd64,linux/arm64 -t ghcr.io/org/aishell-frontend:1 --push .",
        test: "tests/e2e/tests/publish.rs",
        item: "fn the_frontend_image_is_compiled_for_two_platforms_and_pushed_as_documented",
    },
    // The benchmark's CI smoke, run by scripts/test on Docker 26.1.
    Mapped {
        pattern: "pip install matplotlib",
        test: "scripts/test",
        item: "pip install matplotlib",
    },
    Mapped {
        pattern: "bench/run --quick --check",
        test: "scripts/test",
        item: "bench/run --quick --check",
    },
    Mapped {
        pattern: "bench/run --quick",
        test: "scripts/test",
        item: "bench/run --quick --check",
    },
    // The emission benchmark: scripts/test runs it in criterion's test mode (each benchmark
    // once, with the checks it makes before timing).
    Mapped {
        pattern: "cargo bench -p aishell-frontend --bench emit",
        test: "scripts/test",
        item: "cargo test -p aishell-frontend --bench emit",
    },
    Mapped {
        pattern: "bench/overhead*",
        test: "scripts/test",
        item: "bench/overhead --check",
    },
    // Every other benchmark command: run with --dry-run by this file (the real runs take
    // an hour and more; their results are committed under bench/results).
    Mapped {
        pattern: "bench/run*",
        test: "frontend/tests/doc_commands.rs",
        item: "fn documented_benchmark_commands_pass_a_dry_run",
    },
    Mapped {
        pattern: "bench/cross*",
        test: "frontend/tests/doc_commands.rs",
        item: "fn the_cross_benchmark_passes_a_dry_run",
    },
    // scripts/demo builds examples/hello and examples/aishell; so do these tests.
    Mapped {
        pattern: "scripts/demo",
        test: "tests/e2e/tests/examples.rs",
        item: "fn every_example_has_a_test",
    },
];

/// Documented commands that no test exercises yet, with the reason. Printed on every run.
/// (Empty since the two-platform build of Dockerfile.frontend got its test; kept so a gap
/// can be recorded honestly instead of hidden.)
const NOT_YET_TESTED: &[(&str, &str)] = &[];

/// Commands this test runs in the sandbox, besides `aishell-frontend`.
const LOCAL_COMMANDS: &[&str] = &[
    "cd",
    "cp",
    "mkdir",
    "sed",
    "cat",
    "echo",
    "printf",
    "ls",
    "git",
    "chmod",
    "tar",
    "sha256sum",
    "cut",
    "head",
    "tail",
    "grep",
    "mv",
    "rm",
    "true",
];

/// Programs a command may pipe `aishell-frontend` output into. When one is missing (or can
/// never run here, like `buildctl`, which needs a BuildKit daemon), the pipe is cut and the
/// output that program would read is checked instead.
const PIPE_TARGETS: &[&str] = &["jq", "buildctl"];

/// Fence languages that would hide commands from this test.
const SHELL_ALIASES: &[&str] = &[
    "bash",
    "shell",
    "console",
    "zsh",
    "shell-session",
    "sh-session",
    "terminal",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every Markdown file of the repository (not build output, not hidden folders), sorted.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(&path, out);
                }
            } else if ft.is_file() && name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo(), &mut out);
    out
}

/// A fenced code block: the line of its opening fence, its language and its lines.
#[derive(Debug)]
struct Block {
    line: usize,
    lang: String,
    /// The words of the info string after the language (`output` in ```` ```text output ````).
    flags: Vec<String>,
    body: Vec<(usize, String)>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, Block)> = None;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim_start();
        let fence_char = t
            .chars()
            .next()
            .filter(|c| matches!(c, '`' | '~'))
            .unwrap_or(' ');
        let run: String = t.chars().take_while(|c| *c == fence_char).collect();
        let is_fence = fence_char != ' ' && run.len() >= 3;
        match &mut open {
            Some((fence, block)) => {
                if is_fence
                    && t.trim_end() == run
                    && run.len() >= fence.len()
                    && run.starts_with(fence.as_str())
                {
                    out.push(open.take().unwrap().1);
                } else {
                    block.body.push((i + 1, raw.to_string()));
                }
            }
            None if is_fence => {
                let mut info = t[run.len()..].split_whitespace().map(str::to_string);
                let lang = info.next().unwrap_or_default();
                open = Some((
                    run,
                    Block {
                        line: i + 1,
                        lang,
                        flags: info.collect(),
                        body: Vec::new(),
                    },
                ));
            }
            None => {}
        }
    }
    out
}

/// One command of an `sh` block: where it is, its text without the comment (whitespace
/// collapsed), and the exit status it documents.
#[derive(Debug, Clone)]
struct Cmd {
    file: String,
    line: usize,
    text: String,
    expect: i32,
}

/// Splits a shell line at its comment (a `#` starting a word outside quotes).
fn split_comment(line: &str) -> (&str, &str) {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        } else if c == '#' && !single && !double && prev_space {
            return (&line[..i], &line[i + 1..]);
        }
        prev_space = c.is_whitespace();
    }
    (line, "")
}

/// The status an `# exits N` (or `exit status N`) comment documents; 0 without one.
fn documented_status(comment: &str) -> i32 {
    let words: Vec<&str> = comment.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let next = |k: usize| {
            words
                .get(i + k)
                .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        };
        if *w == "exits"
            && let Some(n) = next(1)
        {
            return n;
        }
        if *w == "exit"
            && words.get(i + 1) == Some(&"status")
            && let Some(n) = next(2)
        {
            return n;
        }
    }
    0
}

fn commands(file: &str, block: &Block) -> Vec<Cmd> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in &block.body {
        let (code, comment) = split_comment(raw);
        let code = code.trim_end();
        let (start, mut text) = pending.take().unwrap_or((*n, String::new()));
        if let Some(head) = code.strip_suffix('\\') {
            text.push_str(head);
            text.push(' ');
            pending = Some((start, text));
            continue;
        }
        text.push_str(code);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            out.push(Cmd {
                file: file.to_string(),
                line: start,
                text,
                expect: documented_status(comment),
            });
        }
    }
    out
}

/// `*` matches any text, everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(text) = text.strip_prefix(head) else {
                return false;
            };
            (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .any(|i| glob(rest, &text[i..]))
        }
    }
}

/// The simple commands of a line: split at `|`, `||`, `&&` and `;` outside quotes and
/// `$(…)`. Each is returned with its start offset.
fn segments(line: &str) -> Vec<(usize, char, &str)> {
    let (mut single, mut double, mut escaped, mut depth) = (false, false, false, 0usize);
    let mut out = Vec::new();
    let (mut start, mut sep) = (0, ';');
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        } else if !single && c == '$' && bytes.get(i + 1) == Some(&b'(') {
            depth += 1;
            i += 1;
        } else if !single && depth > 0 && c == ')' {
            depth -= 1;
        } else if !single && !double && depth == 0 && matches!(c, '|' | '&' | ';') {
            let two = bytes.get(i + 1) == Some(&(c as u8));
            if c != '&' || two {
                out.push((start, sep, &line[start..i]));
                sep = if c == '|' && !two { '|' } else { ';' };
                i += if two { 2 } else { 1 };
                start = i;
                continue;
            }
        }
        i += 1;
    }
    out.push((start, sep, &line[start..]));
    out
}

/// The words of a simple command, split at whitespace outside quotes and `$(…)`.
fn words(segment: &str) -> Vec<&str> {
    let (mut single, mut double, mut escaped, mut depth) = (false, false, false, 0usize);
    let mut out = Vec::new();
    let mut start = None;
    let bytes = segment.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let c = b as char;
        let outside = !single && !double && depth == 0;
        if c.is_whitespace() && outside && !escaped {
            if let Some(s) = start.take() {
                out.push(&segment[s..i]);
            }
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        } else if !single && c == '$' && bytes.get(i + 1) == Some(&b'(') {
            depth += 1;
        } else if !single && depth > 0 && c == ')' {
            depth -= 1;
        }
    }
    if let Some(s) = start {
        out.push(&segment[s..]);
    }
    out
}

/// The program a simple command runs (after `NAME=value` assignments); `None` for a bare
/// assignment.
fn program(segment: &str) -> Option<&str> {
    words(segment).into_iter().find(|w| {
        let is_assignment = w.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        !is_assignment
    })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// What to check of a command whose pipe into `target` was cut.
#[derive(Debug, Clone)]
enum CutPipe {
    /// `jq` was missing: the output must be JSON.
    Json,
    /// `buildctl build`: the output must be a definition whose local sources are all given
    /// with `--local NAME=…`.
    Definition(Vec<String>),
}

/// A command to run here, possibly with its last pipe cut.
#[derive(Debug)]
struct Runnable {
    cmd: Cmd,
    script: String,
    cut: Option<CutPipe>,
    expect: i32,
    stderr_must_contain: Option<&'static str>,
}

enum Kind {
    Run(Runnable),
    Engine(usize),
    NotYet(usize),
    Unknown(String),
}

fn classify(cmd: &Cmd) -> Kind {
    if let Some(i) = ENGINE_COMMANDS
        .iter()
        .position(|m| glob(m.pattern, &cmd.text))
    {
        return Kind::Engine(i);
    }
    if let Some(i) = NOT_YET_TESTED.iter().position(|(p, _)| glob(p, &cmd.text)) {
        return Kind::NotYet(i);
    }
    let segs = segments(&cmd.text);
    let mut script = cmd.text.clone();
    let mut cut = None;
    for (start, sep, seg) in &segs {
        let Some(prog) = program(seg) else { continue };
        if prog == "aishell-frontend" || LOCAL_COMMANDS.contains(&prog) {
            continue;
        }
        if *sep == '|' && PIPE_TARGETS.contains(&prog) {
            let cut_here = match prog {
                "jq" if !on_path("jq") => Some(CutPipe::Json),
                "buildctl" => {
                    let words: Vec<&str> = seg.split_whitespace().collect();
                    let locals = words
                        .windows(2)
                        .filter(|w| w[0] == "--local")
                        .filter_map(|w| w[1].split_once('=').map(|(n, _)| n.to_string()))
                        .collect();
                    Some(CutPipe::Definition(locals))
                }
                _ => None,
            };
            if let Some(c) = cut_here {
                // Cut at the `|` before this segment; nothing after it runs.
                let bar = cmd.text[..*start].rfind('|').unwrap();
                script = cmd.text[..bar].trim_end().to_string();
                cut = Some(c);
                break;
            }
            continue;
        }
        return Kind::Unknown(prog.to_string());
    }
    // `--format svg` needs Graphviz; without it the documented behaviour is exit 2.
    let (mut expect, mut stderr_must_contain) = (cmd.expect, None);
    if cmd.text.contains("--format svg") && !on_path("dot") {
        expect = 2;
        stderr_must_contain = Some("apt-get install graphviz");
    }
    Kind::Run(Runnable {
        cmd: cmd.clone(),
        script,
        cut,
        expect,
        stderr_must_contain,
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "docs")
        .env("GIT_AUTHOR_EMAIL", "docs@example.invalid")
        .env("GIT_COMMITTER_NAME", "docs")
        .env("GIT_COMMITTER_EMAIL", "docs@example.invalid")
        .output()
        .expect("git must be installed for the doc commands test");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sandbox: `<root>/project` is a copy of examples/hello with `examples/` beside its
/// spec and two commits (the first with an older hello tool), `<root>/home` is `HOME`,
/// `<root>/tmp` stands for `/tmp`, `<root>/bin` holds `aishell-frontend` and an `npm`
/// that only answers `npm config get registry`.
fn sandbox() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("aishell-doc-commands-")
        .tempdir()
        .unwrap();
    let r = root.path();
    for d in ["home", "tmp", "bin"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::os::unix::fs::symlink(BIN, r.join("bin/aishell-frontend")).unwrap();
    let npm = r.join("bin/npm");
    std::fs::write(
        &npm,
        "#!/bin/sh\n# offline stand-in: the commands shown use the registry URL as text only\n\
         [ \"$*\" = 'config get registry' ] && { echo https://registry.invalid/; exit 0; }\n\
         echo \"npm stand-in: only 'npm config get registry'\" >&2; exit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();

    let project = r.join("project");
    let examples = repo().join("examples");
    copy_dir(&examples.join("hello"), &project);
    copy_dir(&examples, &project.join("examples"));
    let spec = project.join(".aishell/image.yaml");
    let current = std::fs::read_to_string(&spec).unwrap();
    git(&project, &["init", "-q"]);
    std::fs::write(&spec, current.replace("hello-1.0.0", "hello-0.9.0")).unwrap();
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "-q", "-m", "hello 0.9.0"]);
    std::fs::write(&spec, current).unwrap();
    git(&project, &["commit", "-q", "-a", "-m", "hello 1.0.0"]);
    root
}

/// Runs one document's commands in order in one bash session; returns each one's exit
/// status, stdout and stderr.
fn run_all(runs: &[Runnable]) -> Vec<(i32, Vec<u8>, String)> {
    let sb = sandbox();
    let r = sb.path();
    let out = r.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut script = String::from("set -o pipefail\ncd \"$AISHELL_DOC_ROOT/project\" || exit 99\n");
    // Each command is read back and `eval`ed, so a syntax error fails that command only,
    // and `cd` or an assignment carries over to the next one, as in a terminal.
    for (i, run) in runs.iter().enumerate() {
        let line = run.script.replace("/tmp/", "$AISHELL_DOC_ROOT/tmp/");
        std::fs::write(out.join(format!("{i}.sh")), line).unwrap();
        writeln!(
            script,
            "{{ eval \"$(cat \"$AISHELL_DOC_ROOT/out/{i}.sh\")\"\n}} >\"$AISHELL_DOC_ROOT/out/{i}.out\" 2>\"$AISHELL_DOC_ROOT/out/{i}.err\" </dev/null; echo $? >\"$AISHELL_DOC_ROOT/out/{i}.status\""
        )
        .unwrap();
    }
    let path = std::env::join_paths(std::iter::once(r.join("bin")).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("AISHELL_DOC_ROOT", r)
        .env("HOME", r.join("home"))
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("DOCKER_HOST")
        .status()
        .expect("bash");
    assert!(
        status.success() || status.code() != Some(99),
        "sandbox setup failed"
    );
    (0..runs.len())
        .map(|i| {
            let read =
                |ext: &str| std::fs::read(out.join(format!("{i}.{ext}"))).unwrap_or_default();
            let code = String::from_utf8_lossy(&read("status"))
                .trim()
                .parse()
                .unwrap_or(-1);
            (
                code,
                read("out"),
                String::from_utf8_lossy(&read("err")).into_owned(),
            )
        })
        .collect()
}

/// Every line of an output sample must be a line of the actual output (trailing blanks
/// ignored); a sample line with `…` only has to match up to it. Digests (runs of 12 or more
/// hex digits) match any digest: they change with every change of the emitted graph, which
/// the golden tests pin, while the docs show what a reader sees.
fn sample_matches(sample: &[String], output: &str) -> Result<(), String> {
    let actual: Vec<String> = output.lines().map(|l| mask_digests(l.trim_end())).collect();
    for want in sample
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
    {
        let masked = mask_digests(want);
        let found = match masked.split_once('…') {
            Some((head, _)) => actual.iter().any(|a| a.starts_with(head)),
            None => actual.contains(&masked),
        };
        if !found {
            return Err(format!("no line of the output reads `{want}`"));
        }
    }
    Ok(())
}

/// Replaces each run of 12 or more hex digits (between non-alphanumerics) by `<hex>`.
fn mask_digests(line: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = word.len() >= 12
            && word
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            && word.chars().any(|c| c.is_ascii_digit());
        out.push_str(if hex { "<hex>" } else { word.as_str() });
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Checks the output a cut pipe would have fed to its program.
fn check_cut(cut: &CutPipe, stdout: &[u8]) -> Result<(), String> {
    match cut {
        CutPipe::Json => serde_json::from_slice::<serde_json::Value>(stdout)
            .map(|_| ())
            .map_err(|e| format!("the output piped into jq is not JSON: {e}")),
        CutPipe::Definition(locals) => {
            let def = pb::Definition::decode(stdout).map_err(|e| {
                format!("the output piped into buildctl is not a pb.Definition: {e}")
            })?;
            for bytes in &def.def {
                let op = pb::Op::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
                if let Some(pb::op::Op::Source(s)) = &op.op
                    && let Some(name) = s.identifier.strip_prefix("local://")
                    && !locals.iter().any(|l| l == name)
                {
                    return Err(format!(
                        "the definition reads the local `{name}`, but buildctl is given only {locals:?} with --local"
                    ));
                }
            }
            Ok(())
        }
    }
}

fn excerpt(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let tail = &lines[lines.len().saturating_sub(15)..];
    tail.join("\n")
}

#[test]
fn every_documented_command_is_exercised() {
    let root = repo();
    let mut failures: Vec<String> = Vec::new();
    let mut used_mappings = BTreeSet::new();
    let mut used_gaps = BTreeSet::new();
    let mut ran = 0;
    let mut checked_samples = 0;

    for path in markdown_files() {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut runs: Vec<Runnable> = Vec::new();
        // Output samples (```text output) and the command whose output they show.
        let mut samples: Vec<(usize, usize, Vec<String>)> = Vec::new();
        let mut last_sh_command: Option<usize> = None;
        for block in blocks(&text) {
            let follows = last_sh_command.take();
            if block.flags.iter().any(|f| f == "output") {
                match follows {
                    Some(i) => samples.push((
                        block.line,
                        i,
                        block.body.iter().map(|(_, l)| l.clone()).collect(),
                    )),
                    None => failures.push(format!(
                        "{rel}:{}: an output sample (```{} output) must come right after an sh block whose last command this test runs",
                        block.line, block.lang
                    )),
                }
            }
            if block.lang.is_empty() {
                failures.push(format!(
                    "{rel}:{}: a code fence without a language: write ```sh for commands a reader runs (this test then runs or maps them), ```text for output samples and illustrations",
                    block.line
                ));
                continue;
            }
            if SHELL_ALIASES.contains(&block.lang.as_str()) {
                failures.push(format!(
                    "{rel}:{}: fence language `{}`: write ```sh for commands a reader runs, ```text for output samples",
                    block.line, block.lang
                ));
                continue;
            }
            if block.lang != "sh" {
                continue;
            }
            for cmd in commands(&rel, &block) {
                last_sh_command = None;
                match classify(&cmd) {
                    Kind::Run(r) => {
                        runs.push(r);
                        last_sh_command = Some(runs.len() - 1);
                    }
                    Kind::Engine(i) => {
                        used_mappings.insert(i);
                    }
                    Kind::NotYet(i) => {
                        used_gaps.insert(i);
                    }
                    Kind::Unknown(prog) => failures.push(format!(
                        "{}:{}: `{}` is not exercised by any test: `{prog}` is neither `aishell-frontend` nor a file command this test runs ({}). \
                         If it needs an engine, add it to ENGINE_COMMANDS in frontend/tests/doc_commands.rs with the end-to-end test that does the same thing \
                         (write that test first if there is none); if it only illustrates, use a ```text fence",
                        cmd.file,
                        cmd.line,
                        cmd.text,
                        LOCAL_COMMANDS.join(", ")
                    )),
                }
            }
        }
        if runs.is_empty() {
            continue;
        }
        let results = run_all(&runs);
        checked_samples += samples.len();
        for (line, i, sample) in &samples {
            let (_, stdout, stderr) = &results[*i];
            let output = format!("{}\n{stderr}", String::from_utf8_lossy(stdout));
            if let Err(e) = sample_matches(sample, &output) {
                failures.push(format!(
                    "{rel}:{line}: the output sample of `{}` (line {}) is out of date: {e}\n--- actual output ---\n{output}",
                    runs[*i].cmd.text, runs[*i].cmd.line
                ));
            }
        }
        for (run, (code, stdout, stderr)) in runs.iter().zip(results) {
            ran += 1;
            let at = format!("{}:{}: `{}`", run.cmd.file, run.cmd.line, run.cmd.text);
            if code != run.expect {
                failures.push(format!(
                    "{at} exited {code}, the docs say {} (write `# exits N` after a command that is meant to fail)\n--- stderr ---\n{}",
                    run.expect,
                    excerpt(&stderr)
                ));
                continue;
            }
            if let Some(needle) = run.stderr_must_contain
                && !stderr.contains(needle)
            {
                failures.push(format!("{at}: stderr does not say `{needle}`:\n{stderr}"));
            }
            if let Some(cut) = &run.cut
                && let Err(e) = check_cut(cut, &stdout)
            {
                failures.push(format!("{at}: {e}"));
            }
        }
    }

    // The allow-list must point at tests that exist, and hold no stale entries.
    for (i, m) in ENGINE_COMMANDS.iter().enumerate() {
        match std::fs::read_to_string(root.join(m.test)) {
            Ok(body) if body.contains(m.item) => {}
            Ok(_) => failures.push(format!(
                "ENGINE_COMMANDS maps `{}` to {}, which no longer contains `{}`",
                m.pattern, m.test, m.item
            )),
            Err(e) => failures.push(format!(
                "ENGINE_COMMANDS maps `{}` to {}, which cannot be read: {e}",
                m.pattern, m.test
            )),
        }
        if !used_mappings.contains(&i) {
            failures.push(format!(
                "ENGINE_COMMANDS entry `{}` matches no documented command any more; remove it",
                m.pattern
            ));
        }
    }
    for (i, (pattern, why)) in NOT_YET_TESTED.iter().enumerate() {
        if used_gaps.contains(&i) {
            eprintln!("documented but not tested yet: `{pattern}`: {why}");
        } else {
            failures.push(format!(
                "NOT_YET_TESTED entry `{pattern}` matches no documented command any more; remove it"
            ));
        }
    }
    eprintln!(
        "ran {ran} documented command(s) and checked {checked_samples} output sample(s); {} mapped to end-to-end tests",
        used_mappings.len()
    );
    assert!(ran > 0, "no aishell-frontend command found in the docs");
    assert!(
        failures.is_empty(),
        "{} problem(s) with the commands in the docs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_parser_understands_continuations_comments_and_pipes() {
    let b = blocks(
        "text\n```sh\naishell-frontend check a.yaml   # exits 1\ndocker buildx build \\\n  -f x.yaml .\n```\n````text\n```sh\n````\n",
    );
    assert_eq!(b.len(), 2);
    assert!(blocks("---\n***\ntext\n").is_empty());
    assert_eq!(b[0].lang, "sh");
    assert_eq!(b[1].lang, "text");
    assert!(b[1].flags.is_empty());
    assert_eq!(blocks("```text output\nx\n```\n")[0].flags, ["output"]);
    let out = "a: 1\nnote: long text\n";
    assert!(sample_matches(&["a: 1".into(), "note: long …".into()], out).is_ok());
    assert!(sample_matches(&["a: 2".into()], out).is_err());
    assert_eq!(
        mask_digests("1  hello  8754f52d4ea8  sha256:07a6ff9b3c51c55f x"),
        "1  hello  <hex>  sha256:<hex> x"
    );
    let c = commands("f.md", &b[0]);
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].text.as_str(), c[0].expect, c[0].line),
        ("aishell-frontend check a.yaml", 1, 3)
    );
    assert_eq!(
        (c[1].text.as_str(), c[1].line),
        ("docker buildx build -f x.yaml .", 4)
    );
    assert_eq!(
        split_comment("echo '#x' \"#y\" a#b # c"),
        ("echo '#x' \"#y\" a#b ", " c")
    );
    let s = segments(
        "A=$(npm config get registry | sed 's:|::') && aishell-frontend plan x | jq '.a | .b'",
    );
    let progs: Vec<_> = s.iter().map(|(_, sep, seg)| (*sep, program(seg))).collect();
    assert_eq!(
        progs,
        [
            (';', None),
            (';', Some("aishell-frontend")),
            ('|', Some("jq"))
        ]
    );
    assert!(glob("docker run --rm hello:*", "docker run --rm hello:2"));
    assert!(!glob(
        "docker run --rm hello:*",
        "docker run --rm -it hello:2"
    ));
    assert_eq!(documented_status("Graphviz source (default)"), 0);
    assert_eq!(documented_status("exit status 2 without dot"), 2);
}

/// The benchmark commands of the docs, each run as written plus `--dry-run` (and an `--out`
/// folder of its own, and a registry URL so the host's npm is not asked): the arguments are
/// accepted and every build's files (Dockerfiles, specs) are written, with no engine.
#[test]
fn documented_benchmark_commands_pass_a_dry_run() {
    let root = repo();
    let mut ran = Vec::new();
    for path in markdown_files() {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        for block in blocks(&text).into_iter().filter(|b| b.lang == "sh") {
            for cmd in commands(&rel, &block) {
                let Some(args) = cmd.text.strip_prefix("bench/run") else {
                    continue;
                };
                let out = tempfile::tempdir().unwrap();
                let mut args: Vec<String> = args.split_whitespace().map(str::to_string).collect();
                if !args.iter().any(|a| a == "--dry-run") {
                    args.push("--dry-run".into());
                }
                args.extend([
                    "--out".into(),
                    out.path().display().to_string(),
                    "--npm-registry".into(),
                    "https://registry.invalid".into(),
                ]);
                let r = Command::new(root.join("bench/run"))
                    .args(&args)
                    .current_dir(&root)
                    .output()
                    .expect("python3 runs bench/run");
                assert!(
                    r.status.success(),
                    "{}:{}: `{}` --dry-run failed:\n{}",
                    cmd.file,
                    cmd.line,
                    cmd.text,
                    String::from_utf8_lossy(&r.stderr)
                );
                let written = std::fs::read_dir(out.path().join("builds"))
                    .map(|d| d.count())
                    .unwrap_or(0);
                assert!(written > 0, "`{}` wrote no build files", cmd.text);
                ran.push(cmd.text.clone());
            }
        }
    }
    assert!(
        ran.len() >= 5,
        "the docs show the benchmark commands: {ran:?}"
    );
}

/// bench/cross (documented in bench/README.md) plans its three variants: one platform,
/// two cross-installed, two emulated, each a warm build then bumps.
#[test]
fn the_cross_benchmark_passes_a_dry_run() {
    let root = repo();
    let r = Command::new(root.join("bench/cross"))
        .args(["--dry-run", "--runs", "2"])
        .current_dir(&root)
        .output()
        .expect("python3 runs bench/cross");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = String::from_utf8_lossy(&r.stdout);
    let builds: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("docker buildx build"))
        .collect();
    assert_eq!(
        builds.len(),
        9,
        "three variants, a warm build and two bumps each:\n{out}"
    );
    assert!(
        builds[0].contains("--platform linux/amd64 "),
        "{}",
        builds[0]
    );
    assert!(
        builds[3].contains("--platform linux/amd64,linux/arm64 "),
        "{}",
        builds[3]
    );
    assert_eq!(
        builds
            .iter()
            .filter(|b| b.contains("--no-cache-filter harness"))
            .count(),
        6
    );
}
