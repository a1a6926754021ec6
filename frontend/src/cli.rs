//! The command line for people: `aishell-frontend check SPEC`, `aishell-frontend llb SPEC`.

use std::process::ExitCode;

const USAGE: &str = "aishell-frontend — a BuildKit frontend for aishell image specs

Run by BuildKit through `# syntax=` (no arguments). For people:

  aishell-frontend check SPEC     parse and validate a spec; exit 1 on errors
  aishell-frontend --version      print the version
";

/// Runs a subcommand; returns the process exit code.
pub fn main(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("--version" | "-V") => {
            out(&format!("aishell-frontend {}", env!("CARGO_PKG_VERSION")));
            ExitCode::SUCCESS
        }
        Some("--help" | "-h" | "help") => {
            out(USAGE);
            ExitCode::SUCCESS
        }
        Some("check") => check(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::print_stdout)] // the CLI's output is stdout
fn out(s: &str) {
    println!("{s}");
}

fn check(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("usage: aishell-frontend check SPEC");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::spec::parse_spec(path, &text) {
        Ok(_) => {
            out(&format!("{path}: ok"));
            ExitCode::SUCCESS
        }
        Err(d) => {
            eprintln!("{d}");
            ExitCode::FAILURE
        }
    }
}
