//! The corpus of broken specs (`tests/corpus/*.yaml`): each must produce exactly the
//! diagnostics in its `.expected` file, and no input (corpus files, or truncated and
//! garbled variants of the examples) may panic. See `tests/corpus/README.md`.
//!
//! `UPDATE_CORPUS=1 cargo test -p aishell-frontend --test corpus` rewrites the
//! `.expected` files from what the frontend reports; read the diff before committing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::spec::platform::Platform;
use aishell_frontend::spec::{BuildArgs, parse_spec, resolve};
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The `# platform:` and `# build-arg:` directives of the leading comment block.
struct Directives {
    platform: Platform,
    build_args: BuildArgs,
}

fn directives(name: &str, text: &str) -> Directives {
    let mut d = Directives {
        platform: Platform::linux_amd64(),
        build_args: BuildArgs::new(),
    };
    for line in text.lines() {
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim();
        if let Some(p) = comment.strip_prefix("platform:") {
            d.platform = Platform::parse(p.trim())
                .unwrap_or_else(|e| panic!("{name}: bad `# platform:` directive: {e}"));
        } else if let Some(arg) = comment.strip_prefix("build-arg:") {
            let (k, v) = arg
                .trim()
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}: `# build-arg:` needs NAME=VALUE"));
            d.build_args.insert(k.to_string(), v.to_string());
        }
    }
    d
}

/// Every diagnostic the frontend reports for `text`, rendered one per line.
fn diagnose(name: &str, text: &str) -> Vec<String> {
    let d = directives(name, text);
    let diags = match parse_spec(name, text) {
        Err(diags) => diags,
        Ok(spec) => match resolve(&spec, name, &d.build_args, &d.platform, &d.platform) {
            Err(diags) => diags,
            Ok(_) => return Vec::new(),
        },
    };
    diags.items.iter().map(|x| x.render(name)).collect()
}

fn specs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_broken_spec_reports_exactly_the_expected_diagnostics() {
    let update = std::env::var_os("UPDATE_CORPUS").is_some_and(|v| v == "1");
    let specs = specs();
    assert!(
        specs.len() >= 30,
        "the corpus has only {} specs",
        specs.len()
    );
    let mut failures = Vec::new();
    for path in &specs {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let got = diagnose(&name, &text);
        let expected_path = path.with_extension("expected");
        if update {
            let mut body = got.join("\n");
            if !body.is_empty() {
                body.push('\n');
            }
            std::fs::write(&expected_path, body).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{name}: missing {}", expected_path.display()));
        let expected: Vec<&str> = expected.lines().collect();
        if got.is_empty() {
            failures.push(format!(
                "{name}: no diagnostics at all; a broken spec must fail"
            ));
        } else if got != expected {
            failures.push(format!(
                "{name}:\n  expected:\n    {}\n  got:\n    {}",
                expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus spec(s) differ (UPDATE_CORPUS=1 rewrites the .expected files):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_file_has_its_spec() {
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "expected") {
            assert!(
                p.with_extension("yaml").exists(),
                "{} has no spec next to it",
                p.display()
            );
        }
    }
}

/// Variants of a valid spec that a user (or an editor mid-save) might hand us: cut at
/// every line and at odd character positions, with lines dropped, indentation shifted,
/// brackets and quotes sprinkled in.
fn mangled(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    for n in (0..chars.len()).step_by(7) {
        out.push(chars[..n].iter().collect());
    }
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..lines.len() {
        let mut without = lines.clone();
        without.remove(i);
        out.push(without.join("\n"));
        let mut shifted: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        shifted[i] = format!("  {}", shifted[i]);
        out.push(shifted.join("\n"));
        for junk in [
            "[", "]", "{", "\"", "'", ": ", "- ", "&a ", "*a", "${", "\t", "\u{feff}",
        ] {
            let mut garbled: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let mid = garbled[i].chars().count() / 2;
            let (head, tail): (String, String) = (
                garbled[i].chars().take(mid).collect(),
                garbled[i].chars().skip(mid).collect(),
            );
            garbled[i] = format!("{head}{junk}{tail}");
            out.push(garbled.join("\n"));
        }
    }
    out
}

#[test]
fn no_input_panics() {
    let mut inputs: Vec<(String, String)> = Vec::new();
    for path in specs() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        inputs.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut valid = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let spec = entry.unwrap().path().join(".aishell/image.yaml");
        if spec.exists() {
            valid.push(std::fs::read_to_string(&spec).unwrap());
        }
    }
    assert!(
        !valid.is_empty(),
        "no examples found under {}",
        examples.display()
    );
    for text in &valid {
        for (i, v) in mangled(text).into_iter().enumerate() {
            inputs.push((format!("mangled-{i}.yaml"), v));
        }
    }
    // Pathological shapes that are valid YAML but nothing like a spec.
    for extra in [
        "\u{0}",
        "version: 1\nfoundation: &f\n  from: *f\n",
        "version: 1\n? [a, b]\n: c\n",
        "version: 1\nfoundation:\n  from: \"${\"\n",
        "version: 1\nfoundation:\n  from: x\nharness:\n  binaries:\n    t:\n      url: {}\n      sha256: {}\n",
        "version: 1\nfoundation:\n  from: x\nimage:\n  order: []\n",
        "version: 1\nfoundation:\n  from: x\n  copy: [{src: \"\", dest: \"\"}]\n",
        "version: !!binary aGVsbG8=\n",
        "version: 1\nfoundation: {from: \"é\"}\nharness: {prefix: \"/ü\"}\n",
    ] {
        inputs.push(("extra.yaml".into(), extra.into()));
    }
    let mut panicked = Vec::new();
    for (name, text) in &inputs {
        let outcome = std::panic::catch_unwind(|| diagnose(name, text));
        if outcome.is_err() {
            panicked.push(format!("{name}:\n{text}"));
        }
    }
    assert!(
        panicked.is_empty(),
        "{} input(s) panicked:\n{}",
        panicked.len(),
        panicked.join("\n---\n")
    );
}
