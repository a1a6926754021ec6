//! The command line for people: `check`, `plan`, `diff`, `graph`, `llb` and `schema`.
//!
//! The same binary is the BuildKit frontend: started with no arguments (as `# syntax=`
//! starts it) it speaks the gateway protocol, see `main.rs`. With a subcommand it works on
//! spec files on disk, without an engine — images are not resolved, and every command that
//! builds a graph says so — using the frontend's own parser, resolver and conversion, so
//! what it shows is what a build would do.
//!
//! Exit status: 0 success, 1 the spec (or `check`) has errors, 2 usage or I/O errors.
//!
//! ```
//! use aishell_frontend::cli;
//! let code = cli::run(["aishell-frontend", "--version"]);
//! assert_eq!(code, 0);
//! let code = cli::run(["aishell-frontend", "plan"]); // SPEC is missing
//! assert_eq!(code, 2);
//! ```

mod commands;

use commands::{check, diff_cmd, graph_cmd, llb_cmd, plan_cmd};
pub mod dump;
pub mod plan;
pub mod render;

use crate::graph::offline::{self, Offline, SpecFile};
use crate::graph::options::Options;
use crate::graph::targets::Target;
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::load::{load, merge_unique};
use crate::spec::platform::Platform;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use dump::Graph;
use render::Style;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Success (for `check`: no errors; warnings are allowed).
pub const EXIT_OK: u8 = 0;
/// The spec has errors (`check` found errors, or a command could not convert the spec).
pub const EXIT_SPEC: u8 = 1;
/// Usage error, unreadable file, unwritable output, or a missing external tool.
pub const EXIT_USAGE: u8 = 2;

const EXIT_HELP: &str = "\
Exit status:
  0  success (check: no errors; warnings are allowed)
  1  the spec has errors
  2  usage error, a file that cannot be read or written, or a missing tool (graphviz)";

const ABOUT: &str = "A BuildKit frontend for aishell image specs, and tools to inspect them";

const LONG_ABOUT: &str = "\
A BuildKit frontend for aishell image specs, and tools to inspect them.

Run with no arguments, aishell-frontend is the frontend itself: BuildKit starts it for a spec
whose first line is `# syntax=ghcr.io/org/aishell-frontend:1` and it speaks the gateway
protocol on stdin/stdout.

With a subcommand it works on spec files on disk, with no engine. Image references cannot be
resolved then: commands that build a graph use the references unpinned with an empty image
config, and say so in a note.";

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// When the stream is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    /// Always, even into pipes and files.
    Always,
    /// Never, even on a terminal.
    Never,
}

/// `aishell-frontend` with a subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "aishell-frontend",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_HELP,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// When to use colours
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorWhen::Auto,
        global = true
    )]
    pub color: ColorWhen,
    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// The build flags every command shares, spelt as `docker buildx build` spells them.
#[derive(Debug, Clone, Args)]
pub struct BuildFlags {
    /// Target platform; repeat it or give a comma-separated list [default: linux/amd64]
    #[arg(long = "platform", value_name = "P", value_delimiter = ',', value_parser = parse_platform)]
    pub platforms: Vec<String>,
    /// Build argument NAME=VALUE; repeatable (NAME alone takes the value from the environment)
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// Target: foundation, extension, harness or image [default: image]
    #[arg(long, value_name = "T", value_parser = parse_target)]
    pub target: Option<Target>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec: parse, resolve and lint it, and show every problem at once
    #[command(after_help = CHECK_HELP)]
    Check {
        /// The spec file, e.g. .aishell/image.yaml
        spec: PathBuf,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// List the layers the image will have, bottom to top, with their graph digests
    #[command(after_help = PLAN_HELP)]
    Plan {
        /// The spec file
        spec: PathBuf,
        #[command(flatten)]
        build: BuildFlags,
        /// Show whole digests instead of their first 12 hex digits
        #[arg(long)]
        no_trunc: bool,
        /// Print JSON (one object per platform) instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show which layers of NEW are rebuilt compared with OLD, and why
    #[command(after_help = DIFF_HELP)]
    Diff {
        /// The spec as it was
        old: PathBuf,
        /// The spec as it is now
        new: PathBuf,
        #[command(flatten)]
        build: BuildFlags,
    },
    /// Draw the merge graph (Graphviz dot, Mermaid, or SVG through Graphviz)
    #[command(after_help = GRAPH_HELP)]
    Graph {
        /// The spec file
        spec: PathBuf,
        #[command(flatten)]
        build: BuildFlags,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
    },
    /// Print the LLB definition (for `buildctl build`), or a readable dump with --json
    #[command(after_help = LLB_HELP)]
    Llb {
        /// The spec file
        spec: PathBuf,
        #[command(flatten)]
        build: BuildFlags,
        /// Print a readable JSON dump instead of the protobuf bytes
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON schema of the spec, for editors (docs/spec.md, "Editor support")
    Schema,
}

/// `graph --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Graphviz source
    Dot,
    /// Mermaid flowchart (renders in GitHub Markdown)
    Mermaid,
    /// SVG, drawn by Graphviz's `dot` (must be installed)
    Svg,
}

const CHECK_HELP: &str = "\
Parses the spec, resolves it for each platform (build args substituted, per-platform URLs
and checksums selected) and runs the lint checks (docs/checks.md), without an engine.
Problems are printed rustc-style on stderr with the spec line and a caret.

Example:
  aishell-frontend check .aishell/image.yaml --platform linux/amd64,linux/arm64

Exit status:
  0  no errors (warnings are allowed)
  1  the spec has errors
  2  usage error or the file cannot be read";

const PLAN_HELP: &str = "\
Each layer is an input of the image's MergeOp: the foundation, the extension (a diff against
the foundation) and one layer per harness tool. The digest is the layer's graph digest:
BuildKit's cache key for it. Images are not resolved without an engine (see the note).

Example:
  aishell-frontend plan .aishell/image.yaml --build-arg CLAUDE_CODE_VERSION=2.1.332

Exit status:
  0  success
  1  the spec has errors
  2  usage error or the file cannot be read";

const DIFF_HELP: &str = "\
Layers are matched by part and tool name and compared by graph digest: an equal digest is a
layer the builder reuses, a different one is rebuilt. The reasons come from the two specs.

Example:
  git show HEAD~1:.aishell/image.yaml > /tmp/old.yaml
  aishell-frontend diff /tmp/old.yaml .aishell/image.yaml

Exit status:
  0  success, whatever changed
  1  one of the specs has errors
  2  usage error or a file cannot be read";

const GRAPH_HELP: &str = "\
One box per LLB vertex, grouped by part: foundation steps, extension, diff ops, tool
layers and the final merge, bottom to top. One platform per picture.

Examples:
  aishell-frontend graph .aishell/image.yaml > graph.dot
  aishell-frontend graph .aishell/image.yaml --format svg > graph.svg
  aishell-frontend graph .aishell/image.yaml --format mermaid

Exit status:
  0  success
  1  the spec has errors
  2  usage error, the file cannot be read, or Graphviz's `dot` is missing (svg)";

const LLB_HELP: &str = "\
The definition a build would solve for one platform, as protobuf bytes for
`buildctl build` (never written to a terminal), or with --json as a readable dump.
Images are not resolved without an engine (see the note on stderr).

Examples:
  aishell-frontend llb .aishell/image.yaml | buildctl build --local context=. --output type=image,name=x
  aishell-frontend llb .aishell/image.yaml --json | jq '.ops[].name'

Exit status:
  0  success
  1  the spec has errors
  2  usage error, the file cannot be read, or stdout is a terminal (without --json)";

fn parse_platform(s: &str) -> Result<String, String> {
    Platform::parse(s).map(|p| p.to_string())
}

fn parse_target(s: &str) -> Result<Target, String> {
    Target::parse(s)
}

/// The outcome of a command that did not succeed: its exit status, with the message (if
/// any) still to print on stderr.
#[derive(Debug)]
struct Exit {
    code: u8,
    message: Option<String>,
}

impl Exit {
    fn usage(message: impl Into<String>) -> Self {
        Exit {
            code: EXIT_USAGE,
            message: Some(message.into()),
        }
    }

    fn spec() -> Self {
        Exit {
            code: EXIT_SPEC,
            message: None,
        }
    }
}

/// A write to stdout failed. A closed pipe (`| head`) is a normal end, not an error.
impl From<std::io::Error> for Exit {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Exit {
                code: EXIT_OK,
                message: None,
            }
        } else {
            Exit::usage(format!("cannot write the output: {e}"))
        }
    }
}

/// Output streams and their styles, decided once.
struct Io {
    out: Style,
    err: Style,
}

impl Io {
    fn new(when: ColorWhen) -> Self {
        Io {
            out: style_for(when, std::io::stdout().is_terminal()),
            err: style_for(when, std::io::stderr().is_terminal()),
        }
    }

    fn print(&self, text: &str) -> Result<(), Exit> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    fn note(&self, text: &str) {
        eprintln!("{}", note_line(self.err, text));
    }

    fn warning(&self, text: &str) {
        eprintln!(
            "{}{} {text}",
            self.err.severity(crate::spec::diag::Severity::Warning),
            self.err.paint("1", ":")
        );
    }

    fn error(&self, text: &str) {
        eprintln!(
            "{}{} {text}",
            self.err.severity(crate::spec::diag::Severity::Error),
            self.err.paint("1", ":")
        );
    }

    /// Prints every diagnostic against the spec text, then the count.
    fn diagnostics(&self, diags: &Diagnostics, text: &str) {
        if diags.items.is_empty() {
            return;
        }
        eprintln!("{}", render::render_all(diags, text, self.err));
        if let Some(s) = render::summary(diags, self.err) {
            eprintln!("{s}");
        }
    }
}

/// `note: <text>`, the way rustc prints notes.
fn note_line(style: Style, text: &str) -> String {
    format!(
        "{}{} {text}",
        style.paint("1;36", "note"),
        style.paint("1", ":")
    )
}

/// Whether a stream gets colours: `always`/`never` as asked; `auto` when it is a terminal
/// and `NO_COLOR` is unset or empty (<https://no-color.org>).
///
/// ```
/// use aishell_frontend::cli::{ColorWhen, style_for};
/// assert!(!style_for(ColorWhen::Auto, false).color);
/// assert!(style_for(ColorWhen::Always, false).color);
/// assert!(!style_for(ColorWhen::Never, true).color);
/// ```
pub fn style_for(when: ColorWhen, is_terminal: bool) -> Style {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    match when {
        ColorWhen::Always => Style::colored(),
        ColorWhen::Never => Style::plain(),
        ColorWhen::Auto if is_terminal && !no_color => Style::colored(),
        ColorWhen::Auto => Style::plain(),
    }
}

/// `--color` as written on the command line, read before clap parses, so that clap's own
/// help and error messages follow it too.
fn early_color(args: &[OsString]) -> Option<clap::ColorChoice> {
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--color") {
            Some("") => it.next().map(|v| v.to_string()),
            Some(v) if v.starts_with('=') => Some(v[1..].to_string()),
            _ => None,
        };
        match value.as_deref() {
            Some("always") => return Some(clap::ColorChoice::Always),
            Some("never") => return Some(clap::ColorChoice::Never),
            Some(_) => return Some(clap::ColorChoice::Auto),
            None => {}
        }
    }
    None
}

/// Parses `args` (program name first) and runs the command; returns the exit status.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = Cli::command();
    match early_color(&args) {
        Some(c) => cmd = cmd.color(c),
        // clap colours on its own when stderr is a terminal; NO_COLOR must stop it too.
        None if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
            cmd = cmd.color(clap::ColorChoice::Never)
        }
        None => {}
    }
    let cli = match cmd
        .try_get_matches_from(args)
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m))
    {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are errors to clap, printed on stdout with status 0.
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let io = Io::new(cli.color);
    let result = match &cli.command {
        Command::Check { spec, build } => check(&io, spec, build),
        Command::Plan {
            spec,
            build,
            no_trunc,
            json,
        } => plan_cmd(&io, spec, build, *no_trunc, *json),
        Command::Diff { old, new, build } => diff_cmd(&io, old, new, build),
        Command::Graph {
            spec,
            build,
            format,
        } => graph_cmd(&io, spec, build, *format),
        Command::Llb { spec, build, json } => llb_cmd(&io, spec, build, *json),
        Command::Schema => io.print(&crate::spec::schema::json()),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(exit) => {
            if let Some(m) = &exit.message {
                io.error(m);
            }
            exit.code
        }
    }
}

/// The entry point `main` calls with the arguments after the program name.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let argv = std::iter::once(OsString::from("aishell-frontend")).chain(args);
    ExitCode::from(run(argv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse_like_buildx() {
        let cli = Cli::try_parse_from([
            "aishell-frontend",
            "plan",
            "s.yaml",
            "--platform",
            "linux/amd64,linux/aarch64",
            "--platform=linux/arm/v7",
            "--build-arg",
            "A=1",
            "--build-arg=B=x=y",
            "--target",
            "harness",
        ])
        .unwrap();
        let Command::Plan { build, .. } = cli.command else {
            panic!("not plan")
        };
        assert_eq!(
            build.platforms,
            ["linux/amd64", "linux/arm64", "linux/arm/v7"]
        );
        assert_eq!(build.build_args, ["A=1", "B=x=y"]);
        assert_eq!(build.target, Some(Target::Harness));
        for bad in [
            vec!["aishell-frontend", "plan", "s.yaml", "--platform", "linux"],
            vec!["aishell-frontend", "plan", "s.yaml", "--target", "nope"],
            vec!["aishell-frontend", "graph", "s.yaml", "--format", "png"],
            vec!["aishell-frontend", "diff", "a.yaml"],
        ] {
            assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn color_is_read_early() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            early_color(&args(&["x", "--color", "never", "check"])),
            Some(clap::ColorChoice::Never)
        );
        assert_eq!(
            early_color(&args(&["x", "check", "--color=always"])),
            Some(clap::ColorChoice::Always)
        );
        assert_eq!(early_color(&args(&["x", "check", "s.yaml"])), None);
    }
}
