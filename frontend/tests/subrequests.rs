//! `--call outline|targets|check` and `frontend.subrequests.describe` against the shared
//! fake builder (tests/common/builder.rs): the metadata and JSON buildx reads, and that nothing but the spec is loaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::session::build::run;
use aishell_proto::gateway as gw;
use aishell_proto::pb;
use base64::Engine as _;
use llb_graph::decode_op;
use serde_json::{Value, json};

mod common;
use common::builder::Builder;
use common::frontend_env;

/// The shared builder serving one spec file, as is: it records every call.
type Fake = Builder;

impl Fake {
    /// Runs the frontend with the options `opts` (e.g. `requestid=frontend.outline`) on a
    /// builder serving `spec`, and returns the builder with what it recorded.
    async fn call(spec: &str, opts: &[&str]) -> Self {
        let mut fake = Fake::serving(spec);
        run(&fake.live(), env(opts)).await.unwrap();
        fake
    }

    /// The single `Return`, which must be a result.
    fn result(&self) -> &gw::Result {
        assert_eq!(self.returns.len(), 1, "Return is called exactly once");
        let r = &self.returns[0];
        assert!(r.error.is_none(), "unexpected error: {:?}", r.error);
        r.result.as_ref().expect("a result")
    }

    /// Only the spec's own local source was solved, and only its file was read.
    fn only_the_spec_was_loaded(&self) {
        assert_eq!(self.solves.len(), 1, "one solve: the spec file");
        let def = self.solves[0].definition.as_ref().unwrap();
        let sources: Vec<String> = def
            .def
            .iter()
            .filter_map(|b| match decode_op(b).unwrap().op {
                Some(pb::op::Op::Source(s)) => Some(s.identifier),
                _ => None,
            })
            .collect();
        assert_eq!(sources, vec!["local://dockerfile"]);
        // The spec's file, from the ref of the spec's solve.
        let spec_read = ("ref-0".to_string(), "image.yaml".to_string());
        assert_eq!(self.reads, [spec_read]);
        assert!(self.resolves.is_empty(), "no image is resolved");
        // Answered before anything a build needs: no capabilities asked for, nothing of
        // the context looked at, nothing shown.
        assert_eq!(self.pings, 0);
        assert!(self.stats.is_empty() && self.warnings.is_empty());
    }
}

fn env(extra: &[&str]) -> Vec<(String, String)> {
    // buildx sends this with every --call.
    let mut opts = vec!["frontend.caps=moby.buildkit.frontend.subrequests+forward"];
    opts.extend(extra);
    frontend_env(&opts)
}

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

/// A spec with no findings; line numbers matter to the tests below.
fn clean_spec() -> String {
    format!(
        "# syntax=ghcr.io/org/aishell-frontend:1
version: 1
args:
  # The codex release to install.
  CODEX_VERSION: \"0.169.0\"
  GITLEAKS_VERSION: 8.30.0   # gitleaks release
foundation:
  from: debian:trixie-slim@sha256:{a}
  apt: [nodejs, npm]
extension:
  run:
    - echo extension > /extension.txt
harness:
  npm:
    \"@openai/codex\": \"${{CODEX_VERSION}}\"
  binaries:
    gitleaks:
      url: https://example.invalid/gitleaks_${{GITLEAKS_VERSION}}_${{TARGETARCH}}.tar.gz
      sha256: \"{b}\"
      extract: gitleaks
  npm_secret: npmrc
image:
  cmd: [/bin/bash]
",
        a = sha('a'),
        b = sha('b')
    )
}

/// The same spec with four findings.
fn spec_with_warnings() -> String {
    clean_spec()
        .replace(&format!("@sha256:{}", sha('a')), "")
        .replace("https://example.invalid", "http://127.0.0.1:8080")
        .replace("  GITLEAKS_VERSION", "  UNUSED: x\n  GITLEAKS_VERSION")
        .replace(
            "  cmd: [/bin/bash]\n",
            "  order: [foundation, harness, extension]\n",
        )
}

fn meta<'a>(r: &'a gw::Result, key: &str) -> &'a [u8] {
    r.metadata
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", r.metadata.keys()))
}

fn meta_str(r: &gw::Result, key: &str) -> String {
    String::from_utf8(meta(r, key).to_vec()).unwrap()
}

fn result_json(r: &gw::Result) -> Value {
    serde_json::from_slice(meta(r, "result.json")).unwrap()
}

fn b64decode(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn first_line(location: &Value) -> i64 {
    location["ranges"][0]["start"]["line"].as_i64().unwrap()
}

/// Metadata only: no ref of any kind, and the common keys.
fn assert_subrequest_shape(r: &gw::Result, with_status: bool) {
    assert!(r.result.is_none(), "the result oneof stays unset");
    assert!(r.attestations.is_empty());
    assert_eq!(meta_str(r, "version"), "1.0.0");
    assert!(!meta(r, "result.txt").is_empty());
    assert_eq!(r.metadata.contains_key("result.statuscode"), with_status);
    assert!(!r.metadata.contains_key("containerimage.config"));
}

#[tokio::test]
async fn describe_lists_the_requests_without_reading_anything() {
    let fake = Fake::call(
        "not even read",
        &["requestid=frontend.subrequests.describe"],
    )
    .await;
    let r = fake.result();
    assert_subrequest_shape(r, false);
    assert!(fake.solves.is_empty() && fake.reads.is_empty() && fake.resolves.is_empty());
    let list = result_json(r);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "frontend.outline",
            "frontend.targets",
            "frontend.lint",
            "frontend.subrequests.describe"
        ]
    );
    for d in list.as_array().unwrap() {
        assert_eq!(d["type"], json!("rpc"));
        assert_eq!(d["version"], json!("1.0.0"));
        assert!(
            d["metadata"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "result.json")
        );
    }
    let lint = &list[2];
    assert!(
        lint["metadata"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "result.statuscode")
    );
    let txt = meta_str(r, "result.txt");
    assert!(txt.starts_with("NAME"), "{txt}");
    assert!(
        txt.contains("\noutline "),
        "the frontend. prefix is dropped:\n{txt}"
    );
}

#[tokio::test]
async fn targets_lists_the_four_targets_with_image_as_default() {
    let spec = clean_spec();
    let fake = Fake::call(&spec, &["requestid=frontend.targets"]).await;
    fake.only_the_spec_was_loaded();
    let r = fake.result();
    assert_subrequest_shape(r, false);
    let j = result_json(r);
    let targets = j["targets"].as_array().unwrap();
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["foundation", "extension", "harness", "image"]);
    let defaults: Vec<bool> = targets
        .iter()
        .map(|t| t.get("default").is_some_and(|d| d == &json!(true)))
        .collect();
    assert_eq!(defaults, vec![false, false, false, true]);
    // Go leaves `false` out.
    assert!(targets[0].get("default").is_none());
    assert!(
        targets
            .iter()
            .all(|t| !t["description"].as_str().unwrap().is_empty())
    );
    assert!(
        targets[2]["description"]
            .as_str()
            .unwrap()
            .contains("@openai/codex, gitleaks")
    );
    // Locations point at the sections' keys.
    let lines: Vec<i64> = targets.iter().map(|t| first_line(&t["location"])).collect();
    assert_eq!(lines, vec![7, 10, 13, 22]);
    // `sources` holds the spec file itself, base64.
    assert_eq!(b64decode(&j["sources"][0]), spec.as_bytes());
    let txt = meta_str(r, "result.txt");
    assert!(txt.starts_with("TARGET"), "{txt}");
    assert!(txt.contains("image (default)"), "{txt}");
}

#[tokio::test]
async fn outline_lists_used_args_with_values_descriptions_and_the_npm_secret() {
    let spec = clean_spec().replace("args:\n", "args:\n  LEFTOVER: x\n");
    let fake = Fake::call(&spec, &["requestid=frontend.outline"]).await;
    fake.only_the_spec_was_loaded();
    let r = fake.result();
    assert_subrequest_shape(r, false);
    let j = result_json(r);
    assert_eq!(j["name"], json!("image"));
    let args = j["args"].as_array().unwrap();
    assert_eq!(
        args.iter().map(|a| &a["name"]).collect::<Vec<_>>(),
        vec!["CODEX_VERSION", "GITLEAKS_VERSION"],
        "an unused argument is not part of the outline"
    );
    assert_eq!(args[0]["value"], json!("0.169.0"));
    assert_eq!(
        args[0]["description"],
        json!("The codex release to install.")
    );
    assert_eq!(first_line(&args[0]["location"]), 6);
    assert_eq!(args[1]["description"], json!("gitleaks release"));
    assert_eq!(
        j["secrets"],
        json!([{"name": "npmrc", "required": true, "location": {"ranges": [{"start": {"line": 22, "character": 14}, "end": {"line": 22, "character": 19}}]}}])
    );
    assert_eq!(b64decode(&j["sources"][0]), spec.as_bytes());
    let txt = meta_str(r, "result.txt");
    assert!(txt.starts_with("TARGET:"), "{txt}");
    assert!(txt.contains("BUILD ARG"), "{txt}");
    assert!(txt.contains("CODEX_VERSION      0.169.0"), "{txt}");
    assert!(txt.contains("SECRET"), "{txt}");
}

#[tokio::test]
async fn outline_follows_build_args_and_the_target() {
    let opts = [
        "requestid=frontend.outline",
        "build-arg:CODEX_VERSION=0.170.0",
    ];
    let fake = Fake::call(&clean_spec(), &opts).await;
    let j = result_json(fake.result());
    assert_eq!(j["args"][0]["value"], json!("0.170.0"));

    // The foundation uses no argument and no secret.
    let fake = Fake::call(
        &clean_spec(),
        &["requestid=frontend.outline", "target=foundation"],
    )
    .await;
    let j = result_json(fake.result());
    assert_eq!(j["name"], json!("foundation"));
    assert!(j.get("args").is_none(), "{j}");
    assert!(j.get("secrets").is_none(), "{j}");
}

#[tokio::test]
async fn check_with_warnings_has_status_1_and_buildx_shaped_json() {
    let spec = spec_with_warnings();
    let fake = Fake::call(&spec, &["requestid=frontend.lint"]).await;
    fake.only_the_spec_was_loaded();
    let r = fake.result();
    assert_subrequest_shape(r, true);
    assert_eq!(meta_str(r, "result.statuscode"), "1");
    let j = result_json(r);
    assert!(j.get("buildError").is_none());
    let warnings = j["warnings"].as_array().unwrap();
    let rules: Vec<&str> = warnings
        .iter()
        .map(|w| w["ruleName"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        vec![
            "UnusedArg",
            "FoundationNotPinned",
            "PlainHttpDownload",
            "HarnessBelowExtension"
        ]
    );
    for w in warnings {
        assert!(!w["description"].as_str().unwrap().is_empty());
        assert!(!w["detail"].as_str().unwrap().is_empty());
        // Each rule's page in docs/checks.md (its heading's anchor).
        let rule = w["ruleName"].as_str().unwrap();
        assert_eq!(
            w["url"],
            json!(format!(
                "https://github.com/org/aishell-frontend/blob/main/docs/checks.md#{}",
                rule.to_lowercase()
            ))
        );
        // Every warning has a location in source 0 (sourceIndex 0 is left out, as Go does).
        assert!(w["location"].get("sourceIndex").is_none());
        assert!(first_line(&w["location"]) >= 1);
        assert!(w["location"]["ranges"][0]["end"]["line"].as_i64().unwrap() >= 1);
    }
    assert_eq!(first_line(&warnings[0]["location"]), 6);
    assert!(
        warnings[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("foundation.from: ")
    );
    let source = &j["sources"][0];
    assert_eq!(source["filename"], json!("image.yaml"));
    assert_eq!(source["language"], json!("yaml"));
    assert_eq!(b64decode(&source["data"]), spec.as_bytes());
    let txt = meta_str(r, "result.txt");
    assert!(
        txt.starts_with("Check complete, 4 warnings have been found!\n"),
        "{txt}"
    );
    assert!(
        txt.contains(
            "WARNING: FoundationNotPinned - https://github.com/org/aishell-frontend/blob/main/docs/checks.md#foundationnotpinned\n"
        ),
        "{txt}"
    );
    assert!(txt.contains("image.yaml:9\n"), "{txt}");
}

#[tokio::test]
async fn a_clean_check_has_status_0() {
    let fake = Fake::call(&clean_spec(), &["requestid=frontend.lint"]).await;
    let r = fake.result();
    assert_eq!(meta_str(r, "result.statuscode"), "0");
    let j = result_json(r);
    assert_eq!(j["warnings"], json!([]));
    assert_eq!(
        meta_str(r, "result.txt"),
        "Check complete, no warnings found.\n"
    );
}

#[tokio::test]
async fn skipped_rules_are_not_reported() {
    let spec = spec_with_warnings().replacen(
        "\n",
        "\n# check=skip=UnusedArg,FoundationNotPinned,PlainHttpDownload,HarnessBelowExtension\n",
        1,
    );
    let fake = Fake::call(&spec, &["requestid=frontend.lint"]).await;
    let r = fake.result();
    assert_eq!(
        meta_str(r, "result.statuscode"),
        "0",
        "{}",
        meta_str(r, "result.txt")
    );
}

#[tokio::test]
async fn the_check_directive_of_the_build_argument_wins_and_a_bad_one_is_the_build_error() {
    // BUILDKIT_DOCKERFILE_CHECK replaces the spec's directive, as for a Dockerfile.
    let skipped = spec_with_warnings().replacen("\n", "\n# check=skip=all\n", 1);
    let opts = [
        "requestid=frontend.lint",
        "build-arg:BUILDKIT_DOCKERFILE_CHECK=skip=UnusedArg",
    ];
    let fake = Fake::call(&skipped, &opts).await;
    let j = result_json(fake.result());
    assert_eq!(j["warnings"].as_array().unwrap().len(), 3, "{j}");

    let bad = clean_spec().replacen("\n", "\n# check=skip=all;eror=true\n", 1);
    let fake = Fake::call(&bad, &["requestid=frontend.lint"]).await;
    let r = fake.result();
    assert_eq!(meta_str(r, "result.statuscode"), "1");
    let j = result_json(r);
    let e = &j["buildError"];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `eror`"),
        "{e}"
    );
    assert_eq!(first_line(&e["location"]), 2);
}

#[tokio::test]
async fn check_reports_spec_errors_as_the_build_error() {
    let bad = "# syntax=x\nversion: 1\nfoundation:\n  form: debian\n";
    let fake = Fake::call(bad, &["requestid=frontend.lint"]).await;
    let r = fake.result();
    assert_eq!(meta_str(r, "result.statuscode"), "1");
    let j = result_json(r);
    assert_eq!(j["warnings"], json!([]));
    let e = &j["buildError"];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("unknown key `form`"),
        "{e}"
    );
    assert_eq!(first_line(&e["location"]), 4);
    // The error's location indexes `sources`, so the source is there.
    assert_eq!(j["sources"].as_array().unwrap().len(), 1);
    assert!(meta_str(r, "result.txt").contains("ERROR: "));

    // An error found only when resolving (an undeclared argument) counts too, and the
    // warnings are still reported next to it.
    let unresolved = clean_spec().replace("debian:trixie-slim@", "debian:${MISSING}-slim@");
    let fake = Fake::call(&unresolved, &["requestid=frontend.lint"]).await;
    let r = fake.result();
    assert_eq!(meta_str(r, "result.statuscode"), "1");
    let j = result_json(r);
    assert!(
        j["buildError"]["message"]
            .as_str()
            .unwrap()
            .contains("MISSING"),
        "{j}"
    );
    assert_eq!(first_line(&j["buildError"]["location"]), 8);
}

#[tokio::test]
async fn outline_of_a_broken_spec_is_an_error_with_the_excerpt() {
    let fake = Fake::call(
        "version: 1\nfoundation:\n  form: debian\n",
        &["requestid=frontend.outline"],
    )
    .await;
    let err = fake.returns[0].error.as_ref().expect("an error");
    // An ordinary failure, not "unsupported" (which would make buildx give up on --call).
    assert_ne!(err.code, 12);
    assert!(
        err.message.contains("unknown key `form`"),
        "{}",
        err.message
    );
    assert!(
        err.details
            .iter()
            .any(|d| d.type_url == "github.com/moby/buildkit/errdefs.Source+json")
    );
}

#[tokio::test]
async fn an_unknown_subrequest_is_unimplemented_and_reads_nothing() {
    let fake = Fake::call(&clean_spec(), &["requestid=frontend.convertllb"]).await;
    assert_eq!(fake.returns.len(), 1);
    let err = fake.returns[0].error.as_ref().expect("an error");
    assert_eq!(err.code, 12);
    let detail = err
        .details
        .iter()
        .find(|d| d.type_url == "github.com/moby/buildkit/errdefs.Subrequest+json")
        .expect("an errdefs.Subrequest detail");
    let body: Value = serde_json::from_slice(&detail.value).unwrap();
    assert_eq!(body, json!({"name": "frontend.convertllb"}));
    assert!(fake.solves.is_empty() && fake.reads.is_empty());
}
