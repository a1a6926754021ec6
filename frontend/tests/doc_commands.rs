//! Every command shown in the docs is exercised by a test, or listed as untested with the
//! reason.
//!
//! This test reads every Markdown file of the repository (as CommonMark, with
//! `pulldown-cmark`) and takes the fenced code blocks whose language is `sh` as commands a
//! reader is meant to run, one per line (a line ending in `\` continues on the next). Other
//! blocks are illustrations (`text` for output samples and for commands that only show what
//! something runs, `yaml`, `mermaid`, …). The words of each command are shell words (`shlex`).
//! Each command is one of:
//!
//! * **run here**: `aishell-frontend …` and the file commands around it (`cp`, `sed`, `git`,
//!   …). Each document's runnable commands run in order, in one bash session, in a fresh
//!   sandbox: a copy of `examples/hello` as the project (`.aishell/image.yaml`), `examples/`
//!   beside it, a git history of two commits, `HOME` and `/tmp/` inside the sandbox, the
//!   built `aishell-frontend` on `PATH`. Each must exit with the documented status: 0, or
//!   the `N` of an `# exits N` comment on its line.
//! * **an engine command** (`docker …`, `buildctl …`): it must match an entry of
//!   [`ENGINE_COMMANDS`] naming the end-to-end test function that runs it, and that
//!   function's code (with the functions it calls, in its file and in the end-to-end
//!   library) must pass every option the documented command passes: see [`shape_wants`] for
//!   what counts. Or it is listed in [`UNTESTED`] with the reason no test runs it.
//! * **a script or a long run** (`scripts/…`, `bench/…`, installers): it must match an entry
//!   of [`SCRIPT_COMMANDS`] naming the file (a script or a test) that runs the same thing and
//!   the text that shows it there.
//! * anything else fails the test, with the file, line and the ways to fix it.
//!
//! An output sample fenced ```` ```text output ```` right after an `sh` block is checked
//! against what that block's last command printed (stdout and stderr): each of its lines
//! must be a line of the output, or, where it has `…`, start one.
//!
//! Nothing is printed when every check passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_proto::pb;
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use prost::Message;
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aishell-frontend");

/// The end-to-end library: the helpers through which the tests run `docker` (`Docker::build`
/// adds `-f`, `-t` and `--load`, for example), so a test's arguments are read with theirs.
const E2E_LIB: &str = "tests/e2e/src/lib.rs";

/// A documented engine command and the end-to-end test function that runs it.
struct Engine {
    /// The command as written in the docs (whitespace collapsed, comment removed); `*`
    /// matches any text. The first entry that matches is the command's.
    pattern: &'static str,
    /// The file holding the test, relative to the repository root.
    test: &'static str,
    /// The test function. Its code, and the code of the functions it calls, must pass each
    /// option of the documented command ([`shape_wants`]).
    function: &'static str,
}

/// Engine commands (`docker …`, `buildctl …`) of the docs, each with the end-to-end test
/// that runs the same command (with its own tags, registry and paths).
const ENGINE_COMMANDS: &[Engine] = &[
    // docs/ci.md: CI runners (a fresh standalone buildkitd per job, a registry cache),
    // each exercised by tests/e2e/tests/ci_runners.rs. The project job with two caches
    // comes first: the one-cache pattern would match it too.
    Engine {
        pattern: "docker buildx create --name ci --driver remote unix://*",
        test: "tests/e2e/tests/ci_runners.rs",
        function: "a_harness_bump_on_a_fresh_runner_pulls_nothing_of_the_extension",
    },
    Engine {
        pattern: "docker buildx build --builder ci -f .aishell/image.yaml -t * --push --cache-from type=registry,ref=* --cache-from type=registry,ref=* --cache-to type=registry,ref=*,mode=max .",
        test: "tests/e2e/tests/ci_runners.rs",
        function: "projects_import_the_harness_job_cache_and_install_nothing",
    },
    Engine {
        pattern: "docker buildx build --builder ci -f .aishell/image.yaml -t * --push --cache-from type=registry,ref=* --cache-to type=registry,ref=*,mode=max .",
        test: "tests/e2e/tests/ci_runners.rs",
        function: "a_harness_bump_on_a_fresh_runner_pulls_nothing_of_the_extension",
    },
    Engine {
        pattern: "buildctl --addr unix://* build --frontend dockerfile.v0 --local context=. --local dockerfile=.aishell --opt filename=image.yaml --output type=image,name=*,push=true --import-cache type=registry,ref=* --export-cache type=registry,ref=*,mode=max",
        test: "tests/e2e/tests/ci_runners.rs",
        function: "buildctl_runs_the_same_job",
    },
    Engine {
        pattern: "docker buildx build --builder ci -f .aishell/image.yaml --target harness --cache-to type=registry,ref=*,mode=max .",
        test: "tests/e2e/tests/ci_runners.rs",
        function: "projects_import_the_harness_job_cache_and_install_nothing",
    },
    // docs/buildx.md: the buildx features, each exercised by tests/e2e/tests/buildx.rs
    // (listed before the generic build pattern below, which would match some of them).
    Engine {
        pattern: "docker buildx imagetools inspect * --format '{{ json .SBOM.SPDX }}'",
        test: "tests/e2e/tests/buildx.rs",
        function: "sbom_lists_every_part_and_a_bump_reads_only_the_bumped_tool",
    },
    Engine {
        pattern: "docker buildx build --secret id=npmrc,src=* -f .aishell/image.yaml .",
        test: "tests/e2e/tests/buildx.rs",
        function: "an_npmrc_secret_configures_npm_and_is_in_no_layer",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml --secret id=npmrc,src=* -t * --load .",
        test: "tests/e2e/tests/buildx.rs",
        function: "an_npmrc_secret_configures_npm_and_is_in_no_layer",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml --output type=image,name=*,oci-mediatypes=true,compression=zstd,push=true .",
        test: "tests/e2e/tests/buildx.rs",
        function: "a_zstd_export_compresses_the_new_layers_with_zstd_and_runs",
    },
    Engine {
        pattern: "docker build -f .aishell/image.yaml -t * .",
        test: "tests/e2e/tests/buildx.rs",
        function: "metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml --build-arg * -t * --load .",
        test: "tests/e2e/tests/buildx.rs",
        function: "metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml --target * -t * --load .",
        test: "tests/e2e/tests/buildx.rs",
        function: "metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --load --metadata-file * .",
        test: "tests/e2e/tests/buildx.rs",
        function: "metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --push .",
        test: "tests/e2e/tests/buildx.rs",
        function: "push_to_a_registry_and_a_harness_bump_pushes_one_new_layer",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --load --cache-to type=registry,* --cache-from type=registry,* .",
        test: "tests/e2e/tests/buildx.rs",
        function: "registry_cache_survives_a_pruned_builder",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml -t * --load --cache-to type=local,* --cache-from type=local,* .",
        test: "tests/e2e/tests/buildx.rs",
        function: "local_cache_survives_a_pruned_builder",
    },
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml --platform linux/amd64,linux/arm64 -t * --push .",
        test: "tests/e2e/tests/buildx.rs",
        function: "several_platforms_give_one_index_with_the_right_binaries",
    },
    // The test passes SOURCE_DATE_EPOCH as the build argument buildx makes of the variable.
    Engine {
        pattern: "SOURCE_DATE_EPOCH=* docker buildx build -f .aishell/image.yaml --target harness --output type=oci,dest=*,rewrite-timestamp=true .",
        test: "tests/e2e/tests/buildx.rs",
        function: "harness_layers_are_reproducible_from_clean_caches",
    },
    Engine {
        pattern: "docker buildx bake --print image",
        test: "tests/e2e/tests/buildx.rs",
        function: "the_bake_file_of_the_docs_resolves",
    },
    // Building a spec through `# syntax=`, and looking at the result.
    Engine {
        pattern: "docker buildx build -f .aishell/image.yaml -t * .",
        test: "tests/e2e/tests/merge.rs",
        function: "three_parts_merge_and_a_harness_bump_changes_only_its_layer",
    },
    Engine {
        pattern: "docker buildx build -f examples/aishell/.aishell/image.yaml --build-arg NPM_REGISTRY=\"$(npm config get registry | sed 's:/*$::')\" -t * examples/aishell",
        test: "tests/e2e/tests/examples.rs",
        function: "example_aishell",
    },
    Engine {
        pattern: "docker buildx build --call check -f .aishell/image.yaml .",
        test: "tests/e2e/tests/calls.rs",
        function: "call_check_on_a_clean_spec_exits_zero",
    },
    Engine {
        pattern: "docker run --rm hello:*",
        test: "tests/e2e/tests/examples.rs",
        function: "example_hello",
    },
    Engine {
        pattern: "docker image inspect --format '{{json .RootFS.Layers}}' *",
        test: "tests/e2e/tests/merge.rs",
        function: "three_parts_merge_and_a_harness_bump_changes_only_its_layer",
    },
    // Publishing through a registry (docs/getting-started.md, docs/buildx.md): the tests
    // push to a registry on loopback in place of ghcr.io and registry.example.com.
    Engine {
        pattern: "docker buildx bake --push",
        test: "tests/e2e/tests/publish.rs",
        function: "the_bake_file_of_the_docs_pushes_the_image_and_exports_the_harness",
    },
    Engine {
        pattern: "docker buildx bake harness",
        test: "tests/e2e/tests/publish.rs",
        function: "the_bake_file_of_the_docs_pushes_the_image_and_exports_the_harness",
    },
    Engine {
        pattern: "docker buildx build -f Dockerfile.frontend -t ghcr.io/org/aishell-frontend:1 .",
        test: "tests/e2e/tests/publish.rs",
        function: "the_frontend_image_compiles_from_dockerfile_frontend_as_documented",
    },
    Engine {
        pattern: "docker buildx build -f Dockerfile.frontend --platform linux/amd64,linux/arm64 -t ghcr.io/org/aishell-frontend:1 --push .",
        test: "tests/e2e/tests/publish.rs",
        function: "the_frontend_image_is_compiled_for_two_platforms_and_pushed_as_documented",
    },
];

/// Documented commands that no test runs, each with the reason. A command here must not
/// also match [`ENGINE_COMMANDS`]: it is one or the other.
const UNTESTED: &[(&str, &str)] = &[
    (
        "docker buildx build -f .aishell/image.yaml --provenance=mode=max --sbom=true --push -t * .",
        "no test passes both: provenance_names_the_foundation_the_tools_and_the_frontend builds with --provenance=mode=max, sbom_lists_every_part_and_a_bump_reads_only_the_bumped_tool with --sbom=true and --provenance=false",
    ),
    (
        "docker run --rm -it aishell:ext-example",
        "-it needs a terminal, which a test has not; example_aishell runs the image's commands with docker run --rm",
    ),
    (
        "docker image inspect --format '{{json .Config.Labels}}' *",
        "the tests read labels through --format '{{json .Config}}' (Docker::config of the end-to-end library), not this template",
    ),
    (
        "buildctl build --local context=. --output type=oci,dest=*",
        "no end-to-end test solves a definition piped from aishell-frontend llb; this test checks that the piped bytes are a definition and that buildctl gets every local it reads",
    ),
];

/// A documented command that is not an engine command but needs the engine's machine or a
/// long run (the repository's scripts, installers, benchmarks), and where the same thing runs.
struct Scripted {
    /// As in [`Engine::pattern`].
    pattern: &'static str,
    /// The file that runs it (a script or a test), relative to the repository root.
    file: &'static str,
    /// Text that must occur in that file: the script line or test function itself.
    item: &'static str,
}

const SCRIPT_COMMANDS: &[Scripted] = &[
    // Reading the metadata file of the `--metadata-file` build.
    Scripted {
        pattern: "jq -r '.\"containerimage.digest\", .\"image.name\"' build.json",
        file: "tests/e2e/tests/buildx.rs",
        item: "fn metadata_file_load_target_build_arg_and_plain_docker_build",
    },
    // A harness tool served from loopback, as the examples' test serves it.
    Scripted {
        pattern: "python3 -m http.server --bind 127.0.0.1 8765 --directory *",
        file: "tests/e2e/tests/examples.rs",
        item: "fn serve(",
    },
    // The engine scripts, run by scripts/test before the end-to-end tests.
    Scripted {
        pattern: "eval \"$(scripts/engine up)\"",
        file: "scripts/test",
        item: "eval \"$(scripts/engine up",
    },
    Scripted {
        pattern: "scripts/engine down",
        file: "scripts/test",
        item: "scripts/engine down",
    },
    Scripted {
        pattern: "scripts/base-images --debian",
        file: "scripts/test",
        item: "BASE_IMAGE_ARGS=--debian",
    },
    Scripted {
        pattern: "scripts/base-images",
        file: "scripts/test",
        item: "scripts/base-images",
    },
    Scripted {
        pattern: "scripts/frontend-image",
        file: "scripts/test",
        item: "scripts/frontend-image",
    },
    Scripted {
        pattern: "scripts/test --unit",
        file: "scripts/test",
        item: "--unit",
    },
    // Installing the command line: `cargo test` builds (and this test runs) the same binary.
    Scripted {
        pattern: "cargo install --locked --path frontend",
        file: "scripts/test",
        item: "cargo test --workspace",
    },
    // CI runs exactly the test command the README gives.
    Scripted {
        pattern: "scripts/test",
        file: ".ci/run",
        item: "exec scripts/test",
    },
    // Publishing the frontend image under another name (docs/getting-started.md).
    Scripted {
        pattern: "AISHELL_FRONTEND_IMAGE=* scripts/frontend-image",
        file: "tests/e2e/tests/publish.rs",
        item: "fn the_frontend_image_is_published_to_a_registry_and_pulled_from_it",
    },
    // The benchmark's CI smoke, run by scripts/test on Docker 26.1.
    Scripted {
        pattern: "pip install matplotlib",
        file: "scripts/test",
        item: "pip install matplotlib",
    },
    Scripted {
        pattern: "bench/run --quick --check",
        file: "scripts/test",
        item: "bench/run --quick --check",
    },
    Scripted {
        pattern: "bench/run --quick",
        file: "scripts/test",
        item: "bench/run --quick --check",
    },
    // The emission benchmark: scripts/test runs it in criterion's test mode (each benchmark
    // once, with the checks it makes before timing).
    Scripted {
        pattern: "cargo bench -p aishell-frontend --bench emit",
        file: "scripts/test",
        item: "cargo test -p aishell-frontend --bench emit",
    },
    Scripted {
        pattern: "bench/overhead*",
        file: "scripts/test",
        item: "bench/overhead --check",
    },
    // Every other benchmark command: run with --dry-run by this file (the real runs take
    // an hour and more; their results are committed under bench/results).
    Scripted {
        pattern: "bench/run*",
        file: "frontend/tests/doc_commands.rs",
        item: "fn documented_benchmark_commands_pass_a_dry_run",
    },
    Scripted {
        pattern: "bench/cross*",
        file: "frontend/tests/doc_commands.rs",
        item: "fn the_cross_benchmark_passes_a_dry_run",
    },
    // scripts/demo builds examples/hello and examples/aishell; so do these tests.
    Scripted {
        pattern: "scripts/demo",
        file: "tests/e2e/tests/examples.rs",
        item: "fn every_example_has_a_test",
    },
];

/// Programs whose commands are engine commands: mapped to a test that runs them in
/// [`ENGINE_COMMANDS`], or listed in [`UNTESTED`], and nowhere else.
const ENGINE_PROGRAMS: &[&str] = &["docker", "buildctl"];

/// Engine options that take no value (every other option takes the next word, unless it
/// is written `--option=value` or another option follows).
const FLAGS: &[&str] = &[
    "--push",
    "--load",
    "--rm",
    "-it",
    "-i",
    "--print",
    "--no-cache",
    "--pull",
    "--quiet",
    "-q",
];

/// Options whose value is each test's own (a tag, a builder, a file to write, a build
/// argument of its own spec): the option must be passed, with any value.
const OWN_VALUE: &[&str] = &[
    "-t",
    "--tag",
    "--builder",
    "--name",
    "--addr",
    "--metadata-file",
    "--build-arg",
];

/// Keys of comma-separated values that name a place (a registry reference, a path): the
/// test must pass the key, with a place of its own.
const PLACE_KEYS: &[&str] = &["ref", "name", "dest", "src", "context", "dockerfile"];

/// Macros and methods whose string arguments are messages, not arguments of a command: a
/// test's `expect("run docker")` must not count as passing `run`.
const MESSAGES: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "panic",
    "eprintln",
    "println",
    "eprint",
    "print",
    "unreachable",
    "expect",
];

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
/// output that program would read is checked instead; a cut engine command is then
/// classified as any other engine command is (mapped to a test, or untested).
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

/// A code block: the line of its opening fence (of its first line, for an indented block),
/// its language and its lines.
#[derive(Debug)]
struct Block {
    line: usize,
    /// False for an indented code block, which has no info string.
    fenced: bool,
    lang: String,
    /// The words of the info string after the language (`output` in ```` ```text output ````).
    flags: Vec<String>,
    body: Vec<(usize, String)>,
}

/// The code blocks of a Markdown text, as CommonMark reads them (so a fence inside a longer
/// fence, a list or a quote is what a renderer shows), with line numbers.
fn blocks(text: &str) -> Vec<Block> {
    let line_at = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut open: Option<(Block, String)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let (fenced, info) = match kind {
                    CodeBlockKind::Fenced(info) => (true, info.to_string()),
                    CodeBlockKind::Indented => (false, String::new()),
                };
                let mut words = info.split_whitespace().map(str::to_string);
                let block = Block {
                    line: line_at(range.start),
                    fenced,
                    lang: words.next().unwrap_or_default(),
                    flags: words.collect(),
                    body: Vec::new(),
                };
                open = Some((block, String::new()));
            }
            Event::Text(t) => {
                if let Some((_, body)) = &mut open {
                    body.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((mut block, body)) = open.take() {
                    // A fenced block's content starts on the line after its fence, an
                    // indented one's on its first line.
                    let first = block.line + usize::from(block.fenced);
                    block.body = body
                        .lines()
                        .enumerate()
                        .map(|(i, l)| (first + i, l.to_string()))
                        .collect();
                    out.push(block);
                }
            }
            _ => {}
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

/// Splits a shell line at its comment: the first `#` that starts a word after complete shell
/// words (shlex reads the text before it, so a `#` inside quotes is not one).
fn split_comment(line: &str) -> (&str, &str) {
    for (i, _) in line.match_indices('#') {
        let starts_word = line[..i]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        if starts_word && shlex::split(&line[..i]).is_some() {
            return (&line[..i], &line[i + 1..]);
        }
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

/// A simple command of a command line: its shell words, and the operator before it (`|`
/// after a pipe, `;` for the first and after `;`, `&&` or `||`).
#[derive(Debug, Clone, PartialEq)]
struct Simple {
    sep: char,
    words: Vec<String>,
}

impl Simple {
    /// The program it runs (after `NAME=value` assignments); `None` for a bare assignment.
    fn program(&self) -> Option<&str> {
        self.words
            .iter()
            .find(|w| !is_assignment(w))
            .map(String::as_str)
    }
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The simple commands of a line (`None` when its quotes do not close). The words are
/// shlex's, with two things shlex leaves to a shell: an unquoted `$(…)` that holds blanks
/// is one word again (so a `|` inside it is not a pipe), and the operator words `|`, `||`,
/// `&&` and `;` (written with blanks around them, as the docs do) separate commands.
fn simple_commands(line: &str) -> Option<Vec<Simple>> {
    let mut words: Vec<String> = Vec::new();
    let mut depth = 0usize;
    for w in shlex::split(line)? {
        let opens = w.matches("$(").count();
        let closes = w.matches(')').count();
        match words.last_mut() {
            Some(last) if depth > 0 => {
                last.push(' ');
                last.push_str(&w);
            }
            _ => words.push(w),
        }
        depth = (depth + opens).saturating_sub(closes);
    }
    let mut out = vec![Simple {
        sep: ';',
        words: Vec::new(),
    }];
    for w in words {
        let sep = match w.as_str() {
            "|" => '|',
            "||" | "&&" | ";" => ';',
            _ => {
                out.last_mut().unwrap().words.push(w);
                continue;
            }
        };
        out.push(Simple {
            sep,
            words: Vec::new(),
        });
    }
    Some(out)
}

/// An operator (`|`, `||`, `&&`, `;`) written outside quotes and `$(…)` without blanks
/// around it (`a|b`, `cd x; ls`): shlex would keep it inside a word, so the commands on
/// either side would not be told apart.
fn glued_operator(line: &str) -> Option<&'static str> {
    let bytes = line.as_bytes();
    let blank = |i: Option<usize>| {
        i.and_then(|i| bytes.get(i))
            .is_none_or(u8::is_ascii_whitespace)
    };
    for (i, &b) in bytes.iter().enumerate() {
        let op = match (b, bytes.get(i + 1)) {
            (b'|', Some(b'|')) => "||",
            (b'&', Some(b'&')) => "&&",
            (b'|', _) if i == 0 || bytes[i - 1] != b'|' => "|",
            (b';', _) => ";",
            _ => continue,
        };
        let before = &line[..i];
        let outside = shlex::split(before).is_some()
            && before.matches("$(").count() <= before.matches(')').count();
        // `;` ends a word by itself in a shell only where a blank follows or nothing does.
        let glued = if op == ";" {
            !blank(Some(i + 1)) || !blank(i.checked_sub(1))
        } else {
            !blank(i.checked_sub(1)) || !blank(Some(i + op.len()))
        };
        if outside && glued {
            return Some(op);
        }
    }
    None
}

/// The text of `line` before the pipe into `program` (the last one), trimmed: the `|`
/// with the text before it read as complete shell words and `program` right after it.
fn before_pipe_into<'a>(line: &'a str, program: &str) -> Option<&'a str> {
    line.rmatch_indices(" | ").find_map(|(i, bar)| {
        let after = simple_commands(&line[i + bar.len()..])?;
        (shlex::split(&line[..i]).is_some() && after[0].program() == Some(program))
            .then(|| line[..i].trim_end())
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
    /// The engine command a cut pipe fed (`buildctl build …`): it is an engine command of
    /// its own, so it is classified as one.
    engine_tail: Option<Cmd>,
    expect: i32,
    stderr_must_contain: Option<&'static str>,
}

enum Kind {
    Run(Runnable),
    Engine(usize),
    Scripted(usize),
    Untested(usize),
    /// A failure, described.
    Problem(String),
}

/// The entry of [`ENGINE_COMMANDS`] or [`UNTESTED`] an engine command matches.
fn classify_engine(cmd: &Cmd) -> Kind {
    let engine = ENGINE_COMMANDS
        .iter()
        .position(|m| glob(m.pattern, &cmd.text));
    let untested = UNTESTED.iter().position(|(p, _)| glob(p, &cmd.text));
    match (engine, untested) {
        (Some(e), None) => Kind::Engine(e),
        (None, Some(u)) => Kind::Untested(u),
        (Some(e), Some(u)) => Kind::Problem(format!(
            "{}:{}: `{}` matches both ENGINE_COMMANDS `{}` and UNTESTED `{}`: it is tested or it is not; remove one",
            cmd.file, cmd.line, cmd.text, ENGINE_COMMANDS[e].pattern, UNTESTED[u].0
        )),
        (None, None) => Kind::Problem(format!(
            "{}:{}: `{}` is an engine command that no test runs: add it to ENGINE_COMMANDS in frontend/tests/doc_commands.rs with the end-to-end test function that runs it \
             (write that test first if there is none), or to UNTESTED with the reason; if it only illustrates, use a ```text fence",
            cmd.file, cmd.line, cmd.text
        )),
    }
}

fn classify(cmd: &Cmd) -> Kind {
    let Some(simple) = simple_commands(&cmd.text) else {
        return Kind::Problem(format!(
            "{}:{}: `{}`: its quotes do not close",
            cmd.file, cmd.line, cmd.text
        ));
    };
    if let Some(op) = glued_operator(&cmd.text) {
        return Kind::Problem(format!(
            "{}:{}: `{}`: write `{op}` with a blank on each side, so this test tells its commands apart",
            cmd.file, cmd.line, cmd.text
        ));
    }
    // A command that runs an engine program is an engine command, whatever else it holds,
    // unless the program only reads a pipe this test cuts (checking what it would read).
    let runs_an_engine = simple.iter().any(|s| {
        s.program().is_some_and(|p| {
            ENGINE_PROGRAMS.contains(&p) && !(s.sep == '|' && PIPE_TARGETS.contains(&p))
        })
    });
    if runs_an_engine {
        return classify_engine(cmd);
    }
    if let Some(i) = SCRIPT_COMMANDS
        .iter()
        .position(|m| glob(m.pattern, &cmd.text))
    {
        return Kind::Scripted(i);
    }
    if let Some(i) = UNTESTED.iter().position(|(p, _)| glob(p, &cmd.text)) {
        return Kind::Untested(i);
    }
    let mut script = cmd.text.clone();
    let mut cut = None;
    let mut engine_tail = None;
    for s in &simple {
        let Some(prog) = s.program() else { continue };
        if prog == "aishell-frontend" || LOCAL_COMMANDS.contains(&prog) {
            continue;
        }
        if s.sep == '|' && PIPE_TARGETS.contains(&prog) {
            let cut_here = match prog {
                "jq" if !on_path("jq") => Some(CutPipe::Json),
                "buildctl" => {
                    let locals = s
                        .words
                        .windows(2)
                        .filter(|w| w[0] == "--local")
                        .filter_map(|w| w[1].split_once('=').map(|(n, _)| n.to_string()))
                        .collect();
                    Some(CutPipe::Definition(locals))
                }
                _ => None,
            };
            if let Some(c) = cut_here {
                // Cut at the `|` before this command; nothing after it runs.
                let Some(head) = before_pipe_into(&cmd.text, prog) else {
                    return Kind::Problem(format!(
                        "{}:{}: `{}`: write ` | ` (blanks around it) before `{prog}`",
                        cmd.file, cmd.line, cmd.text
                    ));
                };
                if ENGINE_PROGRAMS.contains(&prog) {
                    engine_tail = Some(Cmd {
                        text: cmd.text[head.len()..]
                            .trim_start()
                            .trim_start_matches('|')
                            .trim_start()
                            .to_string(),
                        ..cmd.clone()
                    });
                }
                script = head.to_string();
                cut = Some(c);
                break;
            }
            continue;
        }
        return Kind::Problem(format!(
            "{}:{}: `{}` is not exercised by any test: `{prog}` is neither `aishell-frontend` nor a file command this test runs ({}). \
             If it needs an engine or a script, add it to SCRIPT_COMMANDS in frontend/tests/doc_commands.rs with what runs the same thing \
             (write that first if there is none), or to UNTESTED with the reason; if it only illustrates, use a ```text fence",
            cmd.file,
            cmd.line,
            cmd.text,
            LOCAL_COMMANDS.join(", ")
        ));
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
        engine_tail,
        expect,
        stderr_must_contain,
    })
}

/// What shows that a test passes a piece of a documented engine command, looking at the
/// string literals of its code.
#[derive(Debug, Clone, PartialEq)]
enum Need {
    /// An option: a literal that is it, that starts with `it=`, or that has it as a word.
    Option(String),
    /// A whole value or argument (`extension`, a `--format` template, a platform list, a
    /// subcommand): a literal that is it, or that has it as a word.
    Word(String),
    /// A piece of a literal: a `key=value` of a comma-separated value, or `key=` where the
    /// value names a place, the file name of `-f`, a variable set for the command.
    Part(String),
}

/// One piece of a documented engine command (an option with its value, an argument, a
/// variable) and what shows that a test passes it.
#[derive(Debug, Clone, PartialEq)]
struct Want {
    /// The piece as the docs write it.
    shown: String,
    needs: Vec<Need>,
    /// `--option=value` as a whole: a literal holding it passes the option and its value
    /// at once.
    joined: Option<String>,
}

/// What a documented engine command (its shell words) asks of the test that runs it:
/// * each variable set for it (`SOURCE_DATE_EPOCH=…`): its name;
/// * each option, and its value unless the value is the test's own ([`OWN_VALUE`]: tags,
///   builders, files written, build arguments): a comma-separated `key=value` list (caches,
///   outputs, secrets) key by key, with only `key=` for [`PLACE_KEYS`]; the file name for
///   `-f`; any other value whole (`--target harness`, `--format '{{json …}}'`);
/// * each bare-word argument: subcommands (`buildx build`, `image inspect`), bake targets.
///   Other arguments (the build context, image references, socket addresses) are places
///   each test chooses.
fn shape_wants(words: &[String]) -> Vec<Want> {
    let mut wants = Vec::new();
    let vars = words.iter().take_while(|w| is_assignment(w));
    for w in vars.clone() {
        let name = w.split_once('=').map_or(w.as_str(), |(n, _)| n);
        wants.push(Want {
            shown: w.clone(),
            needs: vec![Need::Part(name.to_string())],
            joined: None,
        });
    }
    // After the variables, the program, then its words.
    let mut rest = words.iter().skip(vars.count() + 1).peekable();
    while let Some(w) = rest.next() {
        if w.len() > 1 && w.starts_with('-') && w != "--" {
            let (option, value) = match w.split_once('=') {
                Some((o, v)) => (o.to_string(), Some(v.to_string())),
                None if FLAGS.contains(&w.as_str()) => (w.clone(), None),
                None => (w.clone(), rest.next_if(|v| !v.starts_with('-')).cloned()),
            };
            let mut needs = vec![Need::Option(option.clone())];
            if let Some(v) = &value {
                needs.extend(value_needs(&option, v));
            }
            wants.push(Want {
                shown: match &value {
                    Some(v) => format!("{option} {v}"),
                    None => option.clone(),
                },
                joined: value.map(|v| format!("{option}={v}")),
                needs,
            });
        } else if w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            wants.push(Want {
                shown: w.clone(),
                needs: vec![Need::Word(w.clone())],
                joined: None,
            });
        }
    }
    wants
}

fn value_needs(option: &str, value: &str) -> Vec<Need> {
    if OWN_VALUE.contains(&option) {
        return Vec::new();
    }
    if option == "-f" || option == "--file" {
        let name = value.rsplit('/').next().unwrap_or(value);
        return vec![Need::Part(name.to_string())];
    }
    if !value.contains('=') {
        return vec![Need::Word(value.to_string())];
    }
    value
        .split(',')
        .map(|item| match item.split_once('=') {
            Some((key, _)) if PLACE_KEYS.contains(&key) => Need::Part(format!("{key}=")),
            _ => Need::Part(item.to_string()),
        })
        .collect()
}

fn has_word(literal: &str, word: &str) -> bool {
    literal == word || literal.split_whitespace().any(|w| w == word)
}

fn satisfied(need: &Need, literals: &[String]) -> bool {
    literals.iter().any(|l| match need {
        Need::Option(o) => {
            has_word(l, o)
                || l.split_whitespace().any(|w| {
                    w.strip_prefix(o.as_str())
                        .is_some_and(|r| r.starts_with('='))
                })
        }
        Need::Word(w) => has_word(l, w),
        Need::Part(p) => l.contains(p.as_str()),
    })
}

/// The pieces of `wants` that none of `literals` shows, as the docs write them.
fn missing(wants: &[Want], literals: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for w in wants {
        if w.joined
            .as_ref()
            .is_some_and(|j| literals.iter().any(|l| l.contains(j.as_str())))
        {
            continue;
        }
        let gaps: Vec<&str> = w
            .needs
            .iter()
            .filter(|n| !satisfied(n, literals))
            .map(|n| match n {
                Need::Option(s) | Need::Word(s) | Need::Part(s) => s.as_str(),
            })
            .collect();
        // Name what is missing when it is less than the whole piece.
        match gaps.as_slice() {
            [] => {}
            [only] if *only == w.shown => out.push(format!("`{only}`")),
            _ => out.push(format!("`{}` (no `{}`)", w.shown, gaps.join("`, `"))),
        }
    }
    out
}

/// How code calls a function: `name(…)`, `value.name(…)` or `Path::name(…)` (with the
/// path's last segment).
#[derive(Debug, Clone, PartialEq)]
enum CallKind {
    Free,
    Method,
    Path(String),
}

/// What a shape check reads of a function of the end-to-end tests: its string literals
/// (messages left out) and the functions it calls.
#[derive(Debug, Default)]
struct FnSource {
    name: String,
    /// The type of the `impl` block it is defined in (a method or an associated function).
    owner: Option<String>,
    /// Marked `#[test]`: a mapping names a test, which the end-to-end run runs.
    is_test: bool,
    literals: Vec<String>,
    calls: Vec<(CallKind, String)>,
}

/// The functions of a Rust source file, read with proc-macro2's tokenizer (comments are
/// not tokens, and a brace inside a string is not a block).
fn functions(source: &str) -> Result<Vec<FnSource>, String> {
    let stream: TokenStream = source.parse().map_err(|e| format!("{e:?}"))?;
    let mut out = Vec::new();
    collect_functions(stream, None, &mut out);
    Ok(out)
}

fn brace_group(tree: &TokenTree) -> Option<TokenStream> {
    match tree {
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => Some(g.stream()),
        _ => None,
    }
}

/// The type an `impl` block's header (the tokens between `impl` and the block) is for: its
/// last name outside `<…>` (`impl Drop for Runner` is for `Runner`).
fn impl_owner(header: &[TokenTree]) -> Option<String> {
    let mut depth = 0i32;
    let mut owner = None;
    for t in header {
        match t {
            TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
            TokenTree::Punct(p) if p.as_char() == '>' => depth -= 1,
            TokenTree::Ident(name) if depth == 0 && name != "for" => owner = Some(name.to_string()),
            _ => {}
        }
    }
    owner
}

fn collect_functions(stream: TokenStream, owner: Option<String>, out: &mut Vec<FnSource>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            TokenTree::Ident(kw) if kw == "fn" || kw == "impl" || kw == "trait" => {
                // The item's block: the first brace group after the keyword (a signature
                // holds none); a `fn` without one is a declaration.
                let Some(j) = (i + 1..tokens.len()).find(|&j| {
                    brace_group(&tokens[j]).is_some()
                        || matches!(&tokens[j], TokenTree::Punct(p) if p.as_char() == ';')
                }) else {
                    break;
                };
                if let Some(block) = brace_group(&tokens[j]) {
                    match (kw == "fn", tokens.get(i + 1)) {
                        (true, Some(TokenTree::Ident(name))) => {
                            let mut f = FnSource {
                                name: name.to_string(),
                                owner: owner.clone(),
                                is_test: marked_test(&tokens[..i]),
                                ..FnSource::default()
                            };
                            read_body(block.clone(), false, &mut f);
                            out.push(f);
                            collect_functions(block, None, out);
                        }
                        (true, _) => {}
                        (false, _) => {
                            let owner = impl_owner(&tokens[i + 1..j]).unwrap_or_default();
                            collect_functions(block, Some(owner), out);
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            TokenTree::Group(g) => collect_functions(g.stream(), None, out),
            _ => {}
        }
        i += 1;
    }
}

fn is_group(tree: Option<&TokenTree>, delimiter: Delimiter) -> bool {
    matches!(tree, Some(TokenTree::Group(g)) if g.delimiter() == delimiter)
}

/// Reads a function's code into `f`. With `messages`, the string literals at this level are
/// the messages of an assertion or an `expect` (what they run, in nested groups, counts).
/// Whether the item that follows `before` (its keyword and modifiers aside) has a `#[test]`
/// attribute.
fn marked_test(before: &[TokenTree]) -> bool {
    let mut k = before.len();
    while k > 0 && matches!(&before[k - 1], TokenTree::Ident(_)) {
        k -= 1;
    }
    while k >= 2 {
        let (TokenTree::Punct(hash), TokenTree::Group(attr)) = (&before[k - 2], &before[k - 1])
        else {
            break;
        };
        if hash.as_char() != '#' || attr.delimiter() != Delimiter::Bracket {
            break;
        }
        if attr.stream().to_string() == "test" {
            return true;
        }
        k -= 2;
    }
    false
}

fn read_body(stream: TokenStream, messages: bool, f: &mut FnSource) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        let next = tokens.get(i + 1);
        match &tokens[i] {
            // Attributes, doc comments among them.
            TokenTree::Punct(p) if p.as_char() == '#' && is_group(next, Delimiter::Bracket) => {
                i += 2;
                continue;
            }
            TokenTree::Ident(name) => {
                let name = name.to_string();
                let bang = matches!(next, Some(TokenTree::Punct(p)) if p.as_char() == '!');
                let call = is_group(next, Delimiter::Parenthesis);
                let before = |k: usize| i.checked_sub(k).map(|k| &tokens[k]);
                let kind = match before(1) {
                    Some(TokenTree::Punct(p)) if p.as_char() == '.' => CallKind::Method,
                    Some(TokenTree::Punct(p)) if p.as_char() == ':' => match before(3) {
                        Some(TokenTree::Ident(q)) => CallKind::Path(q.to_string()),
                        _ => CallKind::Path(String::new()),
                    },
                    _ => CallKind::Free,
                };
                if (bang || call && kind == CallKind::Method) && MESSAGES.contains(&name.as_str()) {
                    let at = if bang { i + 2 } else { i + 1 };
                    if let Some(TokenTree::Group(g)) = tokens.get(at) {
                        read_body(g.stream(), true, f);
                    }
                    i = at + 1;
                    continue;
                }
                if call {
                    f.calls.push((kind, name));
                }
            }
            TokenTree::Literal(l) if !messages => {
                f.literals.extend(string_value(&l.to_string()));
            }
            TokenTree::Literal(_) => {}
            TokenTree::Group(g) => read_body(g.stream(), false, f),
            TokenTree::Punct(_) => {}
        }
        i += 1;
    }
}

/// The value of a string literal token (`"…"`, `r#"…"#`; byte and C strings alike), with
/// its escapes read; `None` for other literals.
fn string_value(token: &str) -> Option<String> {
    let t = token.trim_start_matches(['b', 'c']);
    if let Some(raw) = t.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let inner = raw.get(hashes + 1..raw.len() - hashes - 1)?;
        return Some(inner.to_string());
    }
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            // A line continuation: the newline and the next line's indentation go.
            Some('\n') => while chars.next_if(|c| c.is_whitespace()).is_some() {},
            Some('x' | 'u') => out.push('\u{fffd}'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

/// The string literals of test function `function` of `test` and of every function it
/// calls, in that file and in the end-to-end library, resolved by name (a method call to
/// the methods of that name, a plain call to the free functions, a path call to both).
fn test_literals(
    root: &Path,
    test: &str,
    function: &str,
    cache: &mut BTreeMap<String, Vec<FnSource>>,
) -> Result<Vec<String>, String> {
    for file in [test, E2E_LIB] {
        if !cache.contains_key(file) {
            let source = std::fs::read_to_string(root.join(file))
                .map_err(|e| format!("{file} cannot be read: {e}"))?;
            let fns = functions(&source).map_err(|e| format!("{file} cannot be tokenized: {e}"))?;
            cache.insert(file.to_string(), fns);
        }
    }
    let fns: Vec<&FnSource> = [test, E2E_LIB].iter().flat_map(|f| &cache[*f]).collect();
    let Some(start) = cache[test]
        .iter()
        .position(|f| f.name == function && f.owner.is_none())
    else {
        return Err(format!("{test} has no function `{function}`"));
    };
    if !fns[start].is_test {
        return Err(format!(
            "`{function}` in {test} is not a #[test] function: name the test that runs it"
        ));
    }
    Ok(reachable(&fns, start)
        .into_iter()
        .flat_map(|i| fns[i].literals.iter().cloned())
        .collect())
}

/// The functions `fns[start]` calls, directly or not, and itself, resolved by name: a
/// method call can be any type's; `Type::name` is that type's, and a module path's
/// (`aishell_e2e::sha256`, `tempfile::Builder::new`) a free function's or none.
fn reachable(fns: &[&FnSource], start: usize) -> BTreeSet<usize> {
    let owners: BTreeSet<&str> = fns.iter().filter_map(|f| f.owner.as_deref()).collect();
    let mut seen = BTreeSet::from([start]);
    let mut todo = vec![start];
    while let Some(i) = todo.pop() {
        for (kind, name) in &fns[i].calls {
            for (j, g) in fns.iter().enumerate() {
                let kind_fits = match kind {
                    CallKind::Free => g.owner.is_none(),
                    CallKind::Method => g.owner.is_some(),
                    CallKind::Path(q) if q == "Self" => g.owner.is_some(),
                    CallKind::Path(q) if owners.contains(q.as_str()) => {
                        g.owner.as_deref() == Some(q.as_str())
                    }
                    CallKind::Path(_) => g.owner.is_none(),
                };
                if kind_fits && &g.name == name && seen.insert(j) {
                    todo.push(j);
                }
            }
        }
    }
    seen
}

/// Checks that the test `m` maps `cmd` to passes what the command passes. Each piece must
/// show in the literals of the code the test runs; which literal goes with which option is
/// not checked (tests build their arguments in helpers and `format!`s), so the check is of
/// the options and values a test uses, not of their order.
fn check_shape(
    root: &Path,
    cmd: &Cmd,
    m: &Engine,
    cache: &mut BTreeMap<String, Vec<FnSource>>,
) -> Result<(), String> {
    let at = format!("{}:{}: `{}`", cmd.file, cmd.line, cmd.text);
    let literals = test_literals(root, m.test, m.function, cache)
        .map_err(|e| format!("{at}: ENGINE_COMMANDS maps it to `{}`: {e}", m.function))?;
    let simple = simple_commands(&cmd.text).unwrap_or_default();
    let Some(engine) = simple
        .iter()
        .find(|s| s.program().is_some_and(|p| ENGINE_PROGRAMS.contains(&p)))
    else {
        return Err(format!(
            "{at}: ENGINE_COMMANDS lists it, but it runs no engine program ({}); move it to SCRIPT_COMMANDS",
            ENGINE_PROGRAMS.join(", ")
        ));
    };
    let gaps = missing(&shape_wants(&engine.words), &literals);
    if gaps.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{at}: ENGINE_COMMANDS maps it to `{}` in {}, which (with the functions it calls) does not pass {}. \
         Map the command to a test that runs it with these, make the docs say what the test runs, or list the command in UNTESTED with the reason",
        m.function,
        m.test,
        gaps.join(", ")
    ))
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
    let mut used_engine = BTreeSet::new();
    let mut used_scripted = BTreeSet::new();
    let mut used_untested = BTreeSet::new();
    let mut sources = BTreeMap::new();
    let mut ran = 0;

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
            if !block.fenced {
                failures.push(format!(
                    "{rel}:{}: an indented code block: fence it, with ```sh for commands a reader runs (this test then runs or maps them), ```text for output samples and illustrations",
                    block.line
                ));
                continue;
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
                let mut kinds = vec![(cmd.clone(), classify(&cmd))];
                if let (_, Kind::Run(r)) = &kinds[0]
                    && let Some(tail) = &r.engine_tail
                {
                    kinds.push((tail.clone(), classify_engine(tail)));
                }
                for (cmd, kind) in kinds {
                    match kind {
                        Kind::Run(r) => {
                            runs.push(r);
                            last_sh_command = Some(runs.len() - 1);
                        }
                        Kind::Engine(i) => {
                            used_engine.insert(i);
                            if let Err(e) =
                                check_shape(&root, &cmd, &ENGINE_COMMANDS[i], &mut sources)
                            {
                                failures.push(e);
                            }
                        }
                        Kind::Scripted(i) => {
                            used_scripted.insert(i);
                        }
                        Kind::Untested(i) => {
                            used_untested.insert(i);
                        }
                        Kind::Problem(p) => failures.push(p),
                    }
                }
            }
        }
        if runs.is_empty() {
            continue;
        }
        let results = run_all(&runs);
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

    // The tables must hold no stale entries, and scripted entries must point at what runs.
    for (i, m) in ENGINE_COMMANDS.iter().enumerate() {
        if !used_engine.contains(&i) {
            failures.push(format!(
                "ENGINE_COMMANDS entry `{}` matches no documented command any more; remove it",
                m.pattern
            ));
        }
    }
    for (i, m) in SCRIPT_COMMANDS.iter().enumerate() {
        match std::fs::read_to_string(root.join(m.file)) {
            Ok(body) if body.contains(m.item) => {}
            Ok(_) => failures.push(format!(
                "SCRIPT_COMMANDS maps `{}` to {}, which no longer contains `{}`",
                m.pattern, m.file, m.item
            )),
            Err(e) => failures.push(format!(
                "SCRIPT_COMMANDS maps `{}` to {}, which cannot be read: {e}",
                m.pattern, m.file
            )),
        }
        if !used_scripted.contains(&i) {
            failures.push(format!(
                "SCRIPT_COMMANDS entry `{}` matches no documented command any more; remove it",
                m.pattern
            ));
        }
    }
    for (i, (pattern, _)) in UNTESTED.iter().enumerate() {
        if !used_untested.contains(&i) {
            failures.push(format!(
                "UNTESTED entry `{pattern}` matches no documented command any more; remove it"
            ));
        }
    }
    assert!(ran > 0, "no aishell-frontend command found in the docs");
    assert!(
        failures.is_empty(),
        "{} problem(s) with the commands in the docs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_parser_understands_fences_continuations_comments_and_pipes() {
    let b = blocks(
        "text\n```sh\naishell-frontend check a.yaml   # exits 1\ndocker buildx build \\\n  -f x.yaml .\n```\n````text\n```sh\n````\n",
    );
    assert_eq!(b.len(), 2);
    assert!(blocks("---\n***\ntext\n").is_empty());
    assert_eq!((b[0].lang.as_str(), b[0].line), ("sh", 2));
    assert_eq!(
        b[0].body[0],
        (3, "aishell-frontend check a.yaml   # exits 1".into())
    );
    assert_eq!(b[1].lang, "text");
    assert_eq!(b[1].body, [(8, "```sh".to_string())]);
    assert!(b[1].flags.is_empty());
    assert_eq!(blocks("```text output\nx\n```\n")[0].flags, ["output"]);
    // In a list item, and unclosed at the end of the text (CommonMark closes it there).
    let listed = blocks("1. step\n\n   ```sh\n   aishell-frontend plan x\n   ```\n\n```sh\nls\n");
    assert_eq!(listed[0].body, [(4, "aishell-frontend plan x".to_string())]);
    assert_eq!(listed[1].body, [(8, "ls".to_string())]);
    let indented = blocks("text\n\n    ls\n");
    assert_eq!((indented[0].fenced, indented[0].line), (false, 3));
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
    assert_eq!(split_comment("echo 'a # b'"), ("echo 'a # b'", ""));
    let line =
        "A=$(npm config get registry | sed 's:|::') && aishell-frontend plan x | jq '.a | .b'";
    let s = simple_commands(line).unwrap();
    let progs: Vec<_> = s.iter().map(|s| (s.sep, s.program())).collect();
    assert_eq!(
        progs,
        [
            (';', None),
            (';', Some("aishell-frontend")),
            ('|', Some("jq"))
        ]
    );
    assert_eq!(s[0].words, ["A=$(npm config get registry | sed s:|::)"]);
    assert_eq!(
        before_pipe_into(line, "jq"),
        Some("A=$(npm config get registry | sed 's:|::') && aishell-frontend plan x")
    );
    assert_eq!(simple_commands("echo 'open"), None);
    assert_eq!(glued_operator(line), None);
    assert_eq!(glued_operator("a|b"), Some("|"));
    assert_eq!(glued_operator("cd x; ls"), Some(";"));
    assert_eq!(glued_operator("a && b||c"), Some("||"));
    assert_eq!(
        glued_operator("echo 'a|b' \"c;d\" $(x|y) 2>&1 && find . -exec rm {} \\;"),
        None
    );
    assert!(glob("docker run --rm hello:*", "docker run --rm hello:2"));
    assert!(!glob(
        "docker run --rm hello:*",
        "docker run --rm -it hello:2"
    ));
    assert_eq!(documented_status("Graphviz source (default)"), 0);
    assert_eq!(documented_status("exit status 2 without dot"), 2);
}

/// The shape check: what a documented engine command asks, and how a test's code shows it.
#[test]
fn engine_commands_are_compared_option_by_option() {
    let words = |s: &str| shlex::split(s).unwrap();
    let wants = shape_wants(&words(
        "SOURCE_DATE_EPOCH=$(date) docker buildx build -f .aishell/image.yaml --target harness \
         -t x:1 --load --provenance=mode=max --cache-to type=registry,ref=r/x:c,mode=max \
         --format '{{json .Config}}' .",
    ));
    let shown: Vec<&str> = wants.iter().map(|w| w.shown.as_str()).collect();
    assert_eq!(
        shown,
        [
            "SOURCE_DATE_EPOCH=$(date)",
            "buildx",
            "build",
            "-f .aishell/image.yaml",
            "--target harness",
            "-t x:1",
            "--load",
            "--provenance mode=max",
            "--cache-to type=registry,ref=r/x:c,mode=max",
            "--format {{json .Config}}",
        ]
    );
    let cache = &wants[8].needs;
    assert_eq!(
        cache[1..],
        [
            Need::Part("type=registry".into()),
            Need::Part("ref=".into()),
            Need::Part("mode=max".into())
        ]
    );
    assert_eq!(wants[5].needs, [Need::Option("-t".into())]);

    let test = r##"
        fn helper(extra: &[&str]) { let _ = ["buildx", "build", "-f", ".aishell/image.yaml"]; }
        impl Docker {
            fn cmd(&self, args: &[&str]) { run(args).expect("run docker"); }
            fn sh(&self) -> String { self.cmd(&["run", "--rm"]) }
        }
        impl<T> Drop for Runner<T> { fn drop(&mut self) { let _ = Project::new(); } }
        impl Project { fn new() -> Self { let _ = ["--push"]; } }
        impl Registry { fn new() -> Self { let _ = ["--no-cache"]; } }
        #[test]
        fn the_test() {
            /// `--load`, said in a comment, is not passed.
            // --push neither
            let cache = format!("type=registry,ref={}", "r");
            helper(&["--target", "harness", "-t", "t", "--provenance=mode=max"]);
            let template = r#"{{json .Config}}"#;
            docker.cmd(&["--cache-to", &format!("{cache},mode=max"), "--format", template]);
            assert!(ok, "--load");
            assert_eq!(docker.sh(), "out");
            let _ = (Runner::new(), tempfile::Builder::new());
        }
    "##;
    let fns = functions(test).unwrap();
    let names: Vec<(&str, Option<&str>)> = fns
        .iter()
        .map(|f| (f.name.as_str(), f.owner.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("helper", None),
            ("cmd", Some("Docker")),
            ("sh", Some("Docker")),
            ("drop", Some("Runner")),
            ("new", Some("Project")),
            ("new", Some("Registry")),
            ("the_test", None)
        ]
    );
    assert!(!fns[1].literals.contains(&"run docker".to_string()));
    let tests: Vec<bool> = fns.iter().map(|f| f.is_test).collect();
    assert_eq!(tests, [false, false, false, false, false, false, true]);
    let the_test = &fns[6];
    assert!(!the_test.literals.contains(&"--load".to_string()));
    // A call inside an assertion runs; its message is no argument.
    assert_eq!(
        the_test.calls,
        [
            (CallKind::Free, "helper".to_string()),
            (CallKind::Method, "cmd".to_string()),
            (CallKind::Method, "sh".to_string()),
            (CallKind::Path("Runner".to_string()), "new".to_string()),
            (CallKind::Path("Builder".to_string()), "new".to_string())
        ]
    );
    // `Runner::new` is no function here, and `Builder::new` none of the `new`s of other
    // types: neither `--push` nor `--no-cache` is passed.
    let refs: Vec<&FnSource> = fns.iter().collect();
    assert_eq!(reachable(&refs, 6), BTreeSet::from([0, 1, 2, 6]));
    let literals: Vec<String> = reachable(&refs, 6)
        .into_iter()
        .flat_map(|i| fns[i].literals.clone())
        .collect();
    assert_eq!(
        missing(&wants, &literals),
        [
            "`SOURCE_DATE_EPOCH=$(date)` (no `SOURCE_DATE_EPOCH`)",
            "`--load`"
        ]
    );
    assert_eq!(
        string_value(
            r#""a \"b\"\n\
                        c""#
        ),
        Some("a \"b\"\nc".to_string())
    );
    assert_eq!(string_value("r#\"x\"#"), Some("x".to_string()));
    assert_eq!(string_value("'x'"), None);
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
                // Its shell words, as bench/run gets them.
                let mut args = shlex::split(&cmd.text).unwrap_or_default();
                if args.first().map(String::as_str) != Some("bench/run") {
                    continue;
                }
                args.remove(0);
                let out = tempfile::tempdir().unwrap();
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

/// `bench/cross --variants single,cross` (bench/README.md) plans only those two, and an
/// unknown variant is refused with the known ones.
#[test]
fn the_cross_benchmark_runs_a_chosen_subset() {
    let root = repo();
    let run = |variants: &str| {
        Command::new(root.join("bench/cross"))
            .args(["--dry-run", "--runs", "1", "--variants", variants])
            .current_dir(&root)
            .output()
            .expect("python3 runs bench/cross")
    };
    let r = run("single,cross");
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = String::from_utf8_lossy(&r.stdout);
    let platforms: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("docker buildx build"))
        .filter_map(|l| l.split("--platform ").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(
        platforms,
        [
            "linux/amd64",
            "linux/amd64",
            "linux/amd64,linux/arm64",
            "linux/amd64,linux/arm64"
        ],
        "{out}"
    );
    let r = run("single,nope");
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("single, cross, emulated"), "{err}");
}
