//! End to end: `docker buildx build --call outline|targets|check` through `# syntax=`.
//!
//! buildx ≥ 0.15 (Docker 27+) has `--call`; it prints outline and targets itself from our
//! `result.json`, prints the check's warnings and exits with our `result.statuscode`.
//! Older buildx (Docker 26 ships 0.13) has no `--call`: then these tests fail with a clear
//! message, unless `AISHELL_E2E_NO_CALL=1` says that engine is known not to have it.
//! Nothing is built by a call, so the specs may name digests that exist nowhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{Docker, Project, Run, busybox_image, engine};
use serde_json::Value;

/// A digest for specs that are only read, never built.
fn fake_digest() -> String {
    format!("sha256:{}", "a".repeat(64))
}

/// A spec with no check findings: the foundation is pinned, the download is https, every
/// argument is used, the harness is on top.
fn clean_spec() -> String {
    format!(
        "version: 1
args:
  # The codex release to install.
  CODEX_VERSION: \"0.169.0\"
foundation:
  from: {base}@{digest}
extension:
  run: [echo e > /e.txt]
harness:
  npm:
    \"@openai/codex\": \"${{CODEX_VERSION}}\"
  binaries:
    hello:
      url: https://example.invalid/hello-1.0.0.tar.gz
      sha256: \"{sum}\"
      extract: hello
  npm_secret: npmrc
",
        base = busybox_image(),
        digest = fake_digest(),
        sum = "b".repeat(64)
    )
}

/// The clean spec with three findings: no pin, plain http, an unused argument.
fn spec_with_warnings() -> String {
    clean_spec()
        .replace(&format!("@{}", fake_digest()), "")
        .replace("https://example.invalid", "http://127.0.0.1:9")
        .replace("args:\n", "args:\n  LEFTOVER: x\n")
}

/// The engine, if `--call` can be tested on it; see the module docs.
fn engine_with_call() -> Option<Docker> {
    let docker = engine()?;
    let help = docker.cmd(&["buildx", "build", "--help"]);
    if help.stdout.contains("--call") {
        return Some(docker);
    }
    // Say which of the two it is: no buildx at all, or a buildx that is too old.
    let what = if help.ok {
        let version = docker.cmd(&["buildx", "version"]).stdout;
        format!(
            "`docker buildx build --help` lists no --call flag (buildx {})",
            version.trim()
        )
    } else {
        format!(
            "`docker buildx build --help` failed: {}",
            help.stderr.trim()
        )
    };
    if std::env::var("AISHELL_E2E_NO_CALL").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED --call test (AISHELL_E2E_NO_CALL=1): {what}");
        return None;
    }
    panic!(
        "{what}; --call needs buildx 0.15 or newer (Docker 27+). Run these tests with such a buildx, or set AISHELL_E2E_NO_CALL=1 to skip them knowingly."
    );
}

/// `docker buildx build --call <call> -f <project>/.aishell/image.yaml <project>`.
fn call(docker: &Docker, project: &Project, call: &str, extra: &[&str]) -> Run {
    let spec = project
        .path()
        .join(".aishell/image.yaml")
        .display()
        .to_string();
    let dir = project.path().display().to_string();
    let mut args = vec!["buildx", "build", "--progress=plain", "--call", call];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-f", &spec, &dir]);
    docker.cmd(&args)
}

fn output(r: &Run) -> String {
    format!("--- stdout\n{}\n--- stderr\n{}", r.stdout, r.stderr)
}

#[test]
fn call_outline_lists_args_and_the_npm_secret() {
    let Some(docker) = engine_with_call() else {
        return;
    };
    let project = Project::new();
    project.spec(&clean_spec());

    let r = call(&docker, &project, "outline", &[]);
    assert!(r.ok, "{}", output(&r));
    // buildx prints the outline itself from our result.json.
    assert!(r.stdout.contains("TARGET:"), "{}", output(&r));
    assert!(r.stdout.contains("image"), "{}", output(&r));
    assert!(r.stdout.contains("BUILD ARG"), "{}", output(&r));
    let arg_line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("CODEX_VERSION"))
        .unwrap_or_else(|| panic!("no CODEX_VERSION row:\n{}", output(&r)));
    assert!(arg_line.contains("0.169.0"), "{arg_line}");
    assert!(
        arg_line.contains("The codex release to install."),
        "{arg_line}"
    );
    assert!(r.stdout.contains("SECRET"), "{}", output(&r));
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("npmrc") && l.contains("true")),
        "{}",
        output(&r)
    );

    // The JSON form, with a --build-arg and another target.
    let r = call(
        &docker,
        &project,
        "outline,format=json",
        &["--build-arg", "CODEX_VERSION=0.170.0"],
    );
    assert!(r.ok, "{}", output(&r));
    let j: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(j["args"][0]["name"], "CODEX_VERSION");
    assert_eq!(j["args"][0]["value"], "0.170.0");
    let r = call(
        &docker,
        &project,
        "outline,format=json",
        &["--target", "foundation"],
    );
    assert!(r.ok, "{}", output(&r));
    let j: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(j["name"], "foundation");
    assert!(
        j.get("args").is_none(),
        "the foundation uses no argument: {j}"
    );
}

#[test]
fn call_targets_lists_the_four_targets() {
    let Some(docker) = engine_with_call() else {
        return;
    };
    let project = Project::new();
    project.spec(&clean_spec());
    let r = call(&docker, &project, "targets", &[]);
    assert!(r.ok, "{}", output(&r));
    let first: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        first,
        vec!["TARGET", "foundation", "extension", "harness", "image"],
        "{}",
        output(&r)
    );
    assert!(r.stdout.contains("image (default)"), "{}", output(&r));
}

#[test]
fn call_check_on_a_clean_spec_exits_zero() {
    let Some(docker) = engine_with_call() else {
        return;
    };
    let project = Project::new();
    project.spec(&clean_spec());
    let r = call(&docker, &project, "check", &[]);
    assert!(r.ok, "{}", output(&r));
    assert!(
        r.stdout.contains("Check complete, no warnings found."),
        "{}",
        output(&r)
    );
}

#[test]
fn call_check_with_warnings_prints_them_and_exits_non_zero() {
    let Some(docker) = engine_with_call() else {
        return;
    };
    let project = Project::new();
    project.spec(&spec_with_warnings());

    let r = call(&docker, &project, "check", &[]);
    assert!(!r.ok, "warnings make --call check fail:\n{}", output(&r));
    assert!(
        r.stdout
            .contains("Check complete, 3 warnings have been found!"),
        "{}",
        output(&r)
    );
    for rule in ["FoundationNotPinned", "PlainHttpDownload", "UnusedArg"] {
        assert!(
            r.stdout.contains(&format!("WARNING: {rule}")),
            "{rule}:\n{}",
            output(&r)
        );
        // with the link to the rule's section of docs/checks.md
        assert!(
            r.stdout
                .contains(&format!("docs/checks.md#{}", rule.to_lowercase())),
            "{rule}:\n{}",
            output(&r)
        );
    }
    // The excerpt marks the spec line.
    assert!(r.stdout.contains(">>>"), "{}", output(&r));

    // `--check` is the same call; `ignorestatus` keeps the report and exits 0.
    let r = docker.cmd(&[
        "buildx",
        "build",
        "--check",
        "-f",
        &project
            .path()
            .join(".aishell/image.yaml")
            .display()
            .to_string(),
        &project.path().display().to_string(),
    ]);
    assert!(!r.ok, "{}", output(&r));
    let r = call(&docker, &project, "check,ignorestatus=true", &[]);
    assert!(r.ok, "{}", output(&r));
    assert!(r.stdout.contains("WARNING: UnusedArg"), "{}", output(&r));

    // Rules skipped by the directive are not reported.
    project.spec(&format!(
        "# check=skip=FoundationNotPinned,PlainHttpDownload,UnusedArg\n{}",
        spec_with_warnings()
    ));
    let r = call(&docker, &project, "check", &[]);
    assert!(r.ok, "{}", output(&r));
}

#[test]
fn a_build_with_check_error_true_stops_at_a_warning_before_building() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    // busybox by tag only: FoundationNotPinned.
    let body = format!(
        "version: 1\nfoundation:\n  from: {}\n  run: [echo built > /built]\n",
        busybox_image()
    );
    project.spec(&format!("# check=error=true\n{body}"));
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/check-error:1",
        &[],
    );
    assert!(!r.ok, "{}", output(&r));
    assert!(
        r.stderr
            .contains("lint violation found for rules: FoundationNotPinned"),
        "{}",
        output(&r)
    );
    assert!(
        !r.stderr.contains("run echo built"),
        "nothing is built:\n{}",
        output(&r)
    );
    // The command line's directive replaces the spec's: the same spec builds.
    docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/check-error:1",
        &[
            "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=FoundationNotPinned",
        ],
    );
}

#[test]
fn call_check_reports_a_broken_spec_as_an_error() {
    let Some(docker) = engine_with_call() else {
        return;
    };
    let project = Project::new();
    project.spec(&format!(
        "version: 1\nfoundation:\n  form: {}\n",
        busybox_image()
    ));
    let r = call(&docker, &project, "check", &[]);
    assert!(!r.ok, "{}", output(&r));
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("unknown key `form`"), "{}", output(&r));
}
