//! The whole frontend flow against the shared fake builder (tests/common/builder.rs), which
//! runs the guards' steps with the steps' own code over the listings a test gives it: what
//! is solved and returned.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::guards::step;
use aishell_frontend::session::gateway::GwResult;
use aishell_proto::gateway as gw;
use aishell_proto::pb;
use llb_graph::{decode_op, validate};
use serde_json::{Value, json};
use std::collections::BTreeMap;

mod common;
use common::builder::{Builder, Hooks, Listing, Local, Solved};
use common::{
    assert_mentions, assert_returned_ok, by_digest, error_of, exec_of, frontend_env as env,
    own_image, solved_with, subgraph,
};

/// Runs the frontend as BuildKit starts it, with its own image.
async fn run(fake: &mut Fake, env: Vec<(String, String)>) -> Result<(), String> {
    aishell_frontend::session::build::run_as(&fake.live(), env, Some(&own_image())).await
}

/// The shared builder with what this suite's tests change.
type Fake = Builder<FlowHooks>;

/// What this suite changes in the builder: its Dockerfile frontend, whose result is set
/// here so the tests can check what of it reaches the image (and build one that is not on
/// the foundation), and the answers of the SBOM scanner.
#[derive(Default)]
struct FlowHooks {
    /// How the fake Dockerfile frontend builds: on the foundation input, or from elsewhere.
    dockerfile_on_foundation: bool,
}

impl Hooks for FlowHooks {
    async fn solve(
        &self,
        req: &gw::SolveRequest,
        id: &str,
        _what: &Solved,
    ) -> Option<GwResult<gw::SolveResponse>> {
        (req.frontend == "dockerfile.v0")
            .then(|| Ok(dockerfile_result(req, id, self.dockerfile_on_foundation)))
    }

    async fn read_file(
        &self,
        req: &gw::ReadFileRequest,
        def: Option<&pb::Definition>,
    ) -> Option<GwResult<Vec<u8>>> {
        req.file_path.ends_with("/inventory.json").then(|| {
            let def = def.expect("an inventory is read from a solved graph");
            Ok(fake_inventory(def, &req.file_path))
        })
    }
}

impl Fake {
    fn new(spec: &str, merge_enabled: bool) -> Self {
        let mut fake = Builder::serving(spec).with_hooks(FlowHooks::default());
        // Any image resolves to this config, with no digest: the graph keeps the
        // references as the spec and the options write them.
        fake.unpinned = Some(
            json!({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]}}),
        );
        if !merge_enabled {
            fake.caps = vec![
                ("mergeop", false),
                ("diffop", false),
                ("source.local", true),
            ];
        }
        fake
    }

    /// Runs the frontend with options `opts` (`key=value`) on a builder that can merge, for
    /// `spec`; returns the builder with what it recorded.
    async fn ran(spec: &str, opts: &[&str]) -> Self {
        let mut fake = Fake::new(spec, true);
        run(&mut fake, env(opts)).await.unwrap();
        fake
    }

    /// Builds `spec` on a builder that can merge and whose layers list as `listings`, and
    /// returns the builder with what it recorded.
    async fn built(spec: &str, listings: Vec<Listing>) -> Self {
        let mut fake = Fake::new(spec, true);
        fake.listings = listings;
        run(&mut fake, env(&[])).await.unwrap();
        fake
    }

    /// The references resolved, in order.
    fn resolved(&self) -> Vec<&str> {
        self.resolves.iter().map(|r| r.r#ref.as_str()).collect()
    }

    /// The short text of each warning shown, in order.
    fn warning_texts(&self) -> Vec<String> {
        self.warnings
            .iter()
            .map(|w| String::from_utf8(w.short.clone()).unwrap())
            .collect()
    }
}

/// Plays BuildKit's Dockerfile frontend: one RUN on the named context (or, with
/// `on_foundation` false, on an image of its own), and a config with an environment and a
/// working folder of its own.
fn dockerfile_result(req: &gw::SolveRequest, id: &str, on_foundation: bool) -> gw::SolveResponse {
    let input = &req.frontend_inputs["aishell-foundation"];
    let base = if on_foundation {
        llb_graph::State::from_definition(input).unwrap()
    } else {
        llb_graph::Source::image("docker.io/library/debian:13").build(llb_graph::Meta::default())
    };
    let st = llb_graph::Exec::new(base, ["/bin/sh", "-c", "echo ext"])
        .build(llb_graph::Meta::named("RUN echo ext"));
    let def = llb_graph::marshal(&st, &[]);
    let cfg = json!({"config": {"Env": ["PATH=/usr/bin:/bin", "JAVA_HOME=/opt/java"], "WorkingDir": "/work"}});
    let metadata = BTreeMap::from([(
        "containerimage.config".to_string(),
        serde_json::to_vec(&cfg).unwrap(),
    )]);
    solved_with(id, Some(def), metadata)
}

/// Plays BuildKit building an SBOM inventory: finds the step whose output the collect op
/// copies to `path` (`/<i>/inventory.json`), and answers for the part it mounts: a system
/// scan finds `bash` (and `git` when the part holds the extension's step), an npm scan
/// finds the tool its layer installs, with one dependency.
fn fake_inventory(def: &pb::Definition, path: &str) -> Vec<u8> {
    let ops = by_digest(def);
    let terminal = decode_op(def.def.last().unwrap()).unwrap();
    let collect = &ops[&terminal.inputs[0].digest];
    let Some(pb::op::Op::File(f)) = &collect.op else {
        panic!("the inventories are not collected by a file op")
    };
    let copy = f
        .actions
        .iter()
        .find(|a| matches!(&a.action, Some(pb::file_action::Action::Copy(c)) if c.dest == path))
        .unwrap_or_else(|| panic!("nothing is copied to {path}"));
    let step_op = &ops[&collect.inputs[copy.secondary_input as usize].digest];
    let (args, mounts) = exec_of(step_op);
    assert_eq!(args[1..3], [step::ARG, "inventory"]);
    let layer = mounts.iter().find(|m| m.dest == step::LAYER).unwrap();
    assert!(layer.readonly, "the part is mounted read-only");
    let text: String = subgraph(&ops, &step_op.inputs[layer.input as usize].digest)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let req: Value = serde_json::from_str(&args[3]).unwrap();
    let pkg = |name: &str, version: &str, path: &str, deps: &[&str]| json!({"ecosystem": if path.is_empty() {"deb"} else {"npm"}, "name": name, "version": version, "path": path, "depends": deps});
    let inv = if req == json!("system") {
        let mut p = vec![pkg("bash", "5.2", "", &[])];
        if text.contains("echo extension") {
            p.push(pkg("git", "2.47", "", &[]));
        }
        json!({"os": {"id": "debian", "version_id": "13"}, "packages": p})
    } else {
        assert_eq!(req["npm"]["dir"], "/tools/npm/lib/node_modules");
        assert!(
            text.contains("npm install"),
            "an npm scan mounts the tool's layer: {text}"
        );
        json!({"packages": [
            pkg("semver", "7.6.3", "semver", &["semver/node_modules/lru"]),
            pkg("lru", "1.0.0", "semver/node_modules/lru", &[]),
        ]})
    };
    serde_json::to_vec(&inv).unwrap()
}

const SPEC: &str = "# syntax=ghcr.io/org/aishell-frontend:1
version: 1
foundation:
  from: aishell-test/busybox:1
  run:
    - echo foundation > /foundation.txt
extension:
  run:
    - echo extension > /extension.txt
harness:
  binaries:
    hello:
      url: http://127.0.0.1:9/hello-1.2.3
      sha256: \"0000000000000000000000000000000000000000000000000000000000000001\"
image:
  env: {TERM: xterm}
  cmd: [/bin/sh]
";

fn ops(def: &pb::Definition) -> Vec<pb::Op> {
    def.def.iter().map(|b| decode_op(b).unwrap()).collect()
}

#[tokio::test]
async fn builds_a_merge_of_three_parts_and_returns_once() {
    let fake = Fake::ran(SPEC, &[]).await;
    assert_eq!(fake.returns.len(), 1);
    let ret = &fake.returns[0];
    assert!(ret.error.is_none(), "{:?}", ret.error);
    let result = ret.result.as_ref().unwrap();
    let Some(gw::result::Result::Ref(r)) = &result.result else {
        panic!("no ref")
    };
    // Three solves: the spec's folder, the guards' verdict (read once), and last the image,
    // whose ref is returned.
    assert_eq!(fake.solves.len(), 3);
    assert_eq!(fake.verdicts_read().len(), 1);
    assert_eq!(r.id, format!("ref-{}", fake.solves.len() - 1));
    assert_eq!(fake.resolved(), vec!["docker.io/aishell-test/busybox:1"]);

    // The solved graph: the image merge of foundation, the extension diff and the tool.
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    validate(&def).unwrap();
    let by_digest = by_digest(&def);
    let top = image_top(&def);
    let Some(pb::op::Op::Merge(m)) = &top.op else {
        panic!("top is not a merge: {top:?}")
    };
    assert_eq!(m.inputs.len(), 3);
    let kinds: Vec<&str> = top
        .inputs
        .iter()
        .map(|i| match by_digest[&i.digest].op.as_ref().unwrap() {
            pb::op::Op::Exec(_) => "exec",
            pb::op::Op::Diff(_) => "diff",
            pb::op::Op::File(_) => "file",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["exec", "diff", "file"]);
    // The tool layer depends on nothing but its download: no exec, no foundation.
    let tool = &by_digest[&top.inputs[2].digest];
    assert_eq!(tool.inputs.len(), 1);
    let Some(pb::op::Op::Source(src)) = &by_digest[&tool.inputs[0].digest].op else {
        panic!()
    };
    assert_eq!(src.identifier, "http://127.0.0.1:9/hello-1.2.3");
    assert_eq!(
        src.attrs["http.checksum"],
        format!("sha256:{}0001", "0".repeat(60))
    );
    // Progress names are readable.
    let names: Vec<&String> = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname"))
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("[harness] hello -> /tools/bin/hello")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("[extension] run echo extension")),
        "{names:?}"
    );
    // Source map points at the spec.
    let source = def.source.as_ref().unwrap();
    assert_eq!(source.infos[0].filename, "image.yaml");
    let tool_digest = &top.inputs[2].digest;
    let line = source.locations[tool_digest].locations[0].ranges[0]
        .start
        .unwrap()
        .line;
    assert_eq!(line, 13);

    let config: Value = serde_json::from_slice(&result.metadata["containerimage.config"]).unwrap();
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(env[0], "PATH=/tools/npm/bin:/tools/bin:/usr/bin:/bin");
    assert!(env.contains(&"TERM=xterm"));
    assert_eq!(config["config"]["Cmd"], json!(["/bin/sh"]));
    assert_eq!(
        config["config"]["Labels"]["dev.aishell.harness.hello"],
        json!("1.2.3")
    );
    assert_eq!(config["os"], json!("linux"));
    assert_eq!(config["architecture"], json!("amd64"));
    assert!(config.get("rootfs").is_none());
    // The base image's config, so that rewrite-timestamp keeps the base image's layers.
    let base: Value =
        serde_json::from_slice(&result.metadata["containerimage.base.config"]).unwrap();
    assert_eq!(base["rootfs"]["diff_ids"], json!(["sha256:aa"]));
}

#[tokio::test]
async fn the_harness_target_has_no_base_image_and_two_platforms_have_one_each() {
    let fake = Fake::ran(SPEC, &["target=harness"]).await;
    let result = fake.returns[0].result.as_ref().unwrap();
    assert!(result.metadata.contains_key("containerimage.config"));
    assert!(
        !result.metadata.contains_key("containerimage.base.config"),
        "the harness target starts from scratch"
    );

    let fake = Fake::ran(SPEC, &["platform=linux/amd64,linux/arm64"]).await;
    let result = fake.returns[0].result.as_ref().unwrap();
    for p in ["linux/amd64", "linux/arm64"] {
        let base: Value =
            serde_json::from_slice(&result.metadata[&format!("containerimage.base.config/{p}")])
                .unwrap();
        assert_eq!(base["rootfs"]["diff_ids"], json!(["sha256:aa"]), "{p}");
    }
}

/// The image's own top op, below the merge that keeps the guards' verdict in the graph
/// (`Merge(image, Diff(verdict, verdict))`), which this checks on the way.
fn image_top(def: &pb::Definition) -> pb::Op {
    let ops = ops(def);
    let by_digest = by_digest(def);
    let top = &ops[ops.len() - 2];
    assert!(
        matches!(top.op, Some(pb::op::Op::Merge(_))),
        "the top is the merge with the verdict: {top:?}"
    );
    let empty = &by_digest[&top.inputs[1].digest];
    let Some(pb::op::Op::Diff(_)) = &empty.op else {
        panic!("the verdict's input is not a diff: {empty:?}")
    };
    assert_eq!(
        empty.inputs.len(),
        2,
        "the diff of the verdict with itself: {empty:?}"
    );
    assert_eq!(empty.inputs[0], empty.inputs[1]);
    let (args, _) = exec_of(&by_digest[&empty.inputs[0].digest]);
    assert_eq!(args[2], "verdict");
    by_digest[&top.inputs[0].digest].clone()
}

#[tokio::test]
async fn a_builder_without_merge_gets_a_clear_error() {
    let mut fake = Fake::new(SPEC, false);
    run(&mut fake, env(&[])).await.unwrap();
    assert_mentions(
        error_of(&fake.returns),
        &["containerd image store", "AISHELL_MERGE=stack"],
    );
    assert_eq!(fake.solves.len(), 1, "nothing but the spec is solved");
}

#[tokio::test]
async fn stack_mode_builds_without_merge_and_warns() {
    let mut fake = Fake::new(SPEC, false);
    run(&mut fake, env(&["build-arg:AISHELL_MERGE=stack"]))
        .await
        .unwrap();
    assert_returned_ok(&fake.returns);
    let def = fake.solves[1].definition.clone().unwrap();
    validate(&def).unwrap();
    assert!(
        ops(&def)
            .iter()
            .all(|o| !matches!(o.op, Some(pb::op::Op::Merge(_)) | Some(pb::op::Op::Diff(_))))
    );
    assert_eq!(
        fake.warning_texts()
            .iter()
            .filter(|w| w.contains("AISHELL_MERGE=stack"))
            .count(),
        1
    );
}

#[tokio::test]
async fn spec_checks_are_shown_as_warnings_during_a_build_unless_skipped() {
    // The rule names of the warnings a build of `spec` showed.
    async fn warned(spec: &str) -> Vec<String> {
        let fake = Fake::ran(spec, &[]).await;
        assert_returned_ok(&fake.returns);
        let texts = fake.warning_texts();
        let rules = texts.iter().map(|w| w.split(": ").next().unwrap());
        rules.map(String::from).collect()
    }
    let all = warned(SPEC).await;
    assert!(all.contains(&"FoundationNotPinned".into()), "{all:?}");
    assert!(all.contains(&"PlainHttpDownload".into()), "{all:?}");

    let skipped = SPEC.replacen('\n', "\n# check=skip=FoundationNotPinned\n", 1);
    let left = warned(&skipped).await;
    assert!(!left.contains(&"FoundationNotPinned".into()), "{left:?}");
    assert!(left.contains(&"PlainHttpDownload".into()), "{left:?}");
}

#[tokio::test]
async fn warnings_link_their_rule_and_check_error_true_stops_the_build_before_it_builds() {
    let fake = Fake::ran(SPEC, &[]).await;
    let i = fake
        .warning_texts()
        .iter()
        .position(|w| w.starts_with("FoundationNotPinned: "))
        .unwrap();
    assert!(
        fake.warnings[i]
            .url
            .ends_with("/docs/checks.md#foundationnotpinned"),
        "{:?}",
        fake.warnings.iter().map(|w| &w.url).collect::<Vec<_>>()
    );

    // `error=true` in the spec: the warnings are shown, then the build fails at the
    // directive's line, having solved nothing but the spec.
    let strict = SPEC.replacen('\n', "\n# check=skip=PlainHttpDownload;error=true\n", 1);
    let fake = Fake::ran(&strict, &[]).await;
    let err = error_of(&fake.returns);
    assert_mentions(
        err,
        &[
            "lint violation found for rules: FoundationNotPinned",
            "image.yaml:2:",
        ],
    );
    assert!(
        !err.contains("PlainHttpDownload"),
        "skipped rules do not count: {err}"
    );
    assert_eq!(fake.solves.len(), 1, "only the spec was loaded");
    assert!(
        fake.warning_texts()
            .iter()
            .any(|w| w.starts_with("FoundationNotPinned: "))
    );

    // The same from the command line, which replaces the spec's directive.
    let fake = Fake::ran(SPEC, &["build-arg:BUILDKIT_DOCKERFILE_CHECK=error=true"]).await;
    assert_mentions(
        error_of(&fake.returns),
        &["lint violation found for rules: FoundationNotPinned, PlainHttpDownload"],
    );
    let fake = Fake::ran(&strict, &["build-arg:BUILDKIT_DOCKERFILE_CHECK=skip=all"]).await;
    assert_returned_ok(&fake.returns);

    // A directive that cannot be read stops the build with what is wrong.
    let bad = SPEC.replacen('\n', "\n# check=error=sometimes\n", 1);
    let fake = Fake::ran(&bad, &[]).await;
    assert_mentions(
        error_of(&fake.returns),
        &["`error=sometimes` is not true or false", "image.yaml:2:"],
    );
}

#[tokio::test]
async fn spec_errors_come_back_with_positions_all_at_once() {
    let bad =
        "version: 1\nfoundation:\n  form: x\nharness:\n  binaries:\n    t: {url: http://x/t}\n";
    let fake = Fake::ran(bad, &[]).await;
    assert_mentions(
        error_of(&fake.returns),
        &[
            "image.yaml:3:3: error: foundation.form: unknown key `form`",
            "did you mean `from`",
            "no checksum",
            "foundation.from: is required",
        ],
    );
    let err = fake.returns[0].error.as_ref().unwrap();
    assert_eq!(err.code, 2, "Unknown: the CLI prints no code name");
    assert!(!err.details.is_empty());
    assert_eq!(
        err.details[0].type_url,
        "github.com/moby/buildkit/errdefs.Source+json"
    );
    let detail: Value = serde_json::from_slice(&err.details[0].value).unwrap();
    assert_eq!(detail["info"]["filename"], json!("image.yaml"));
    assert!(detail["ranges"][0]["start"]["line"].as_i64().unwrap() >= 1);
}

#[tokio::test]
async fn unsupported_subrequests_are_unimplemented() {
    let fake = Fake::ran(SPEC, &["requestid=frontend.unknown"]).await;
    let err = fake.returns[0].error.as_ref().unwrap();
    assert_eq!(err.code, 12);
    assert!(
        err.details
            .iter()
            .any(|d| d.type_url.ends_with("errdefs.Subrequest+json"))
    );
}

#[tokio::test]
async fn two_platforms_give_a_refs_map_with_platform_metadata() {
    let fake = Fake::ran(SPEC, &["platform=linux/amd64,linux/arm64"]).await;
    let result = fake.returns[0].result.as_ref().unwrap();
    let Some(gw::result::Result::Refs(m)) = &result.result else {
        panic!("no refs map")
    };
    assert_eq!(
        m.refs.keys().collect::<Vec<_>>(),
        vec!["linux/amd64", "linux/arm64"]
    );
    let platforms: Value = serde_json::from_slice(&result.metadata["refs.platforms"]).unwrap();
    assert_eq!(platforms["Platforms"][1]["ID"], json!("linux/arm64"));
    let cfg: Value =
        serde_json::from_slice(&result.metadata["containerimage.config/linux/arm64"]).unwrap();
    assert_eq!(cfg["architecture"], json!("arm64"));
}

const DOCKERFILE_SPEC: &str = "version: 1
foundation:
  from: aishell-test/busybox:1
  env: {LANG: C.UTF-8}
extension:
  dockerfile: Dockerfile
harness:
  binaries:
    hello: {url: http://127.0.0.1:9/h, sha256: \"0000000000000000000000000000000000000000000000000000000000000001\"}
";

#[tokio::test]
async fn extension_dockerfiles_are_built_by_the_dockerfile_frontend_on_the_foundation() {
    let mut fake = Fake::new(DOCKERFILE_SPEC, true);
    fake.hooks.dockerfile_on_foundation = true;
    run(
        &mut fake,
        env(&["build-arg:JDK=21", "build-arg:AISHELL_MERGE=merge"]),
    )
    .await
    .unwrap();
    let ret = &fake.returns[0];
    assert!(ret.error.is_none(), "{:?}", ret.error);
    let nested = fake
        .solves
        .iter()
        .find(|s| s.frontend == "dockerfile.v0")
        .expect("a nested Dockerfile build");
    assert_eq!(nested.frontend_opt["filename"], "Dockerfile");
    assert_eq!(
        nested.frontend_opt["context:aishell:base"],
        "input:aishell-foundation"
    );
    assert_eq!(nested.frontend_opt["build-arg:JDK"], "21");
    assert!(nested.definition.is_none());
    // The foundation passed in is the foundation merged below: same digest.
    let foundation_input = &nested.frontend_inputs["aishell-foundation"];
    let fdigest = llb_graph::State::from_definition(foundation_input)
        .unwrap()
        .digest()
        .unwrap()
        .to_string();
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    validate(&def).unwrap();
    let top = image_top(&def);
    assert!(matches!(top.op, Some(pb::op::Op::Merge(_))));
    assert_eq!(top.inputs[0].digest, fdigest);
    let config: Value =
        serde_json::from_slice(&ret.result.as_ref().unwrap().metadata["containerimage.config"])
            .unwrap();
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"JAVA_HOME=/opt/java"), "{env:?}");
    assert!(env.contains(&"LANG=C.UTF-8"), "{env:?}");
    assert_eq!(config["config"]["WorkingDir"], json!("/work"));
}

#[tokio::test]
async fn an_extension_dockerfile_not_built_on_the_foundation_is_an_error() {
    let mut fake = Fake::new(DOCKERFILE_SPEC, true);
    fake.hooks.dockerfile_on_foundation = false;
    run(&mut fake, env(&[])).await.unwrap();
    assert_mentions(
        error_of(&fake.returns),
        &["image.yaml:6:15", "FROM aishell:base"],
    );
    let err = fake.returns[0].error.as_ref().unwrap();
    assert!(!err.details.is_empty(), "the spec excerpt is attached");
}

#[tokio::test]
async fn a_tool_writing_outside_the_prefix_fails_with_the_paths() {
    let fake = Fake::built(
        SPEC,
        vec![
            (
                "/tools/bin/hello",
                "/",
                vec![("tools", true), ("etc", true)],
            ),
            ("/tools/bin/hello", "/tools", vec![("bin", true)]),
        ],
    )
    .await;
    assert_mentions(
        error_of(&fake.returns),
        &[
            "harness tool hello writes outside the harness prefix: /etc",
            "image.yaml:12:5:", // the tool's line
        ],
    );
    assert_eq!(fake.returns[0].error.as_ref().unwrap().code, 2);
}

#[tokio::test]
async fn an_extension_writing_under_the_prefix_fails_with_the_paths() {
    let fake = Fake::built(
        SPEC,
        vec![("echo extension", "/tools", vec![("mine", false)])],
    )
    .await;
    assert_mentions(
        error_of(&fake.returns),
        &["the extension writes under the harness prefix: /tools/mine"],
    );
}

#[tokio::test]
async fn two_tools_providing_the_same_file_fail() {
    let spec = "version: 1
foundation:
  from: aishell-test/busybox:1
harness:
  npm:
    a-tool: 1.0.0
    b-tool: 2.0.0
";
    let fake = Fake::built(
        spec,
        vec![
            (
                "a-tool@1.0.0",
                "/tools/npm/bin",
                vec![("x", false), ("a", false)],
            ),
            ("b-tool@2.0.0", "/tools/npm/bin", vec![("x", false)]),
        ],
    )
    .await;
    assert_mentions(
        error_of(&fake.returns),
        &["harness tools a-tool and b-tool both provide /tools/npm/bin/x"],
    );
    // Without the collision the same spec builds.
    let ok = Fake::built(
        spec,
        vec![
            ("a-tool@1.0.0", "/tools/npm/bin", vec![("a", false)]),
            ("b-tool@2.0.0", "/tools/npm/bin", vec![("b", false)]),
        ],
    )
    .await;
    assert_returned_ok(&ok.returns);
}

#[tokio::test]
async fn an_extension_adding_files_inside_a_foundation_folder_under_the_prefix_is_found() {
    // The foundation already has /tools/bin; the extension adds /tools/bin/mine.
    let fake = Fake::built(
        SPEC,
        vec![
            ("echo extension", "/tools", vec![("bin", true)]),
            (
                "echo extension",
                "/tools/bin",
                vec![("mine", false), ("base-tool", false)],
            ),
            ("echo foundation", "/tools", vec![("bin", true)]),
            ("echo foundation", "/tools/bin", vec![("base-tool", false)]),
        ],
    )
    .await;
    assert_mentions(
        error_of(&fake.returns),
        &["the extension writes under the harness prefix: /tools/bin/mine ("],
    );
}

const TWO_TOOLS: &str = "version: 1
foundation:
  from: aishell-test/busybox:1
extension:
  run: [echo extension]
harness:
  npm:
    a-tool: 1.0.0
    b-tool: 2.0.0
";

#[tokio::test]
async fn the_guards_are_one_definition_of_facts_steps_and_a_verdict_read_once() {
    let fake = Fake::ran(TWO_TOOLS, &[]).await;
    assert_returned_ok(&fake.returns);
    // One read of one verdict whose definition holds every part's facts step: BuildKit
    // builds the parts side by side, and a cached build reads one small file.
    let verdicts = fake.verdicts_read();
    assert_eq!(verdicts.len(), 1, "one verdict read");
    let verdict = &verdicts[0];
    for part in ["a-tool@1.0.0", "b-tool@2.0.0", "echo extension"] {
        assert!(verdict.contains(part), "{part} is judged by the verdict");
    }
    for name in [
        "[guards] list harness layer a-tool",
        "[guards] list harness layer b-tool",
        "[guards] list the extension",
        "[guards] list the foundation",
        "[guards] check the merge",
    ] {
        assert!(verdict.contains(name), "{name} in {verdict}");
    }
}

/// A base image whose config has a field of the wrong type fails the build with the image
/// and the field named.
#[tokio::test]
async fn a_base_config_with_a_field_of_the_wrong_type_names_the_field() {
    let mut fake = Fake::new(TWO_TOOLS, true);
    fake.unpinned =
        Some(json!({"architecture": "amd64", "os": "linux", "config": {"Env": "PATH=/bin"}}));
    run(&mut fake, env(&[])).await.unwrap();
    assert_mentions(
        error_of(&fake.returns),
        &[
            "aishell-test/busybox:1",
            "is not an OCI image config: config.Env: invalid type",
        ],
    );
}

/// A fresh CI runner finds a guard's listing of a layer in the imported cache without
/// pulling the layer only when the listing is keyed by the layer's graph, not its files: the
/// frontend asks for that where the builder has the capability.
#[tokio::test]
async fn guard_listings_key_their_layer_by_graph_where_the_builder_can() {
    let listings = |cap: bool| async move {
        let mut fake = Fake::new(TWO_TOOLS, true);
        if cap {
            fake.caps.push(("exec.mount.cache.content", true));
        }
        run(&mut fake, env(&[])).await.unwrap();
        assert_returned_ok(&fake.returns);
        fake.verdicts_read().remove(0)
    };
    let keyed = listings(true).await;
    // Four listings (two tools, the extension, the foundation), each of one layer.
    assert_eq!(
        keyed.matches(r#""content_cache":"off""#).count(),
        4,
        "{keyed}"
    );
    assert!(keyed.contains("exec.mount.cache.content"), "{keyed}");
    let by_content = listings(false).await;
    assert!(!by_content.contains("content_cache"), "{by_content}");
    assert!(
        !by_content.contains("exec.mount.cache.content"),
        "{by_content}"
    );
    // Nothing else differs: the same steps, the same names.
    assert_eq!(
        keyed.matches("[guards] list").count(),
        by_content.matches("[guards] list").count()
    );
}

#[tokio::test]
async fn without_its_own_image_the_frontend_says_what_the_guards_need() {
    let mut fake = Fake::new(TWO_TOOLS, true);
    aishell_frontend::session::build::run_as(&fake.live(), env(&[]), None)
        .await
        .unwrap();
    assert_mentions(
        error_of(&fake.returns),
        &[
            "/run/config/buildkit/metadata/frontend.bin",
            "BuildKit 0.10",
        ],
    );
    // A stacked build has no guards and needs no own image.
    let mut stacked = Fake::new(TWO_TOOLS, false);
    aishell_frontend::session::build::run_as(
        &stacked.live(),
        env(&["build-arg:AISHELL_MERGE=stack"]),
        None,
    )
    .await
    .unwrap();
    assert_returned_ok(&stacked.returns);
}

#[tokio::test]
async fn a_tool_that_fails_to_build_is_named_in_the_error() {
    let mut fake = Fake::new(TWO_TOOLS, true);
    fake.failing = vec![("b-tool@2.0.0", "npm ERR! code E500")];
    run(&mut fake, env(&[])).await.unwrap();
    assert_mentions(
        error_of(&fake.returns),
        &[
            "building harness layer b-tool (npm install b-tool@2.0.0",
            "npm ERR! code E500",
        ],
    );
}

#[tokio::test]
async fn an_extension_that_fails_to_build_is_named_in_the_error() {
    let mut fake = Fake::new(TWO_TOOLS, true);
    fake.failing = vec![("echo extension", "process did not complete: exit code 1")];
    run(&mut fake, env(&[])).await.unwrap();
    assert_mentions(
        error_of(&fake.returns),
        &["building the extension: process did not complete: exit code 1"],
    );
}

#[tokio::test]
async fn a_foundation_that_fails_to_build_is_named_in_the_error() {
    let mut fake = Fake::new(TWO_TOOLS, true);
    fake.failing = vec![("aishell-test/busybox", "pull access denied")];
    run(&mut fake, env(&[])).await.unwrap();
    assert_mentions(
        error_of(&fake.returns),
        &["building the foundation: pull access denied"],
    );
}

#[tokio::test]
async fn small_context_files_are_written_from_the_graph_and_the_rest_copied_from_the_context() {
    let spec = "version: 1
foundation:
  from: aishell-test/busybox:1
  copy:
    - {src: ./docker/entrypoint.sh, dest: /usr/local/bin/entrypoint.sh}
    - {src: conf, dest: /etc/conf}
    - {src: big.bin, dest: /big.bin}
    - {src: missing, dest: /missing}
";
    let big = aishell_frontend::graph::context::FILE_MAX as usize + 1;
    let script = b"#!/bin/sh\nexec \"$@\"\n".to_vec();
    let mut fake = Fake::new(spec, true);
    fake.locals.insert(
        "context".into(),
        Local::files([
            ("docker/entrypoint.sh", 0o775, script.clone()),
            ("conf", (1 << 31) | 0o755, Vec::new()),
            ("big.bin", 0o644, vec![0; big]),
        ]),
    );
    run(&mut fake, env(&[])).await.unwrap();
    assert_returned_ok(&fake.returns);
    assert_eq!(
        fake.files_read("context"),
        ["docker/entrypoint.sh"],
        "only the small file is read"
    );

    // The context was solved once to read it, restricted to the copied paths.
    let local_solves: Vec<Vec<String>> = fake
        .solves
        .iter()
        .filter_map(|r| r.definition.as_ref())
        .flat_map(ops)
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Source(s)) if s.identifier == "local://context" => {
                Some(serde_json::from_str(&s.attrs["local.includepattern"]).unwrap())
            }
            _ => None,
        })
        .collect();
    let all = ["big.bin", "conf", "docker/entrypoint.sh", "missing"];
    assert_eq!(local_solves[0], all);

    // In the image, the script is written by its copy's own file op; the other three
    // paths still come from the context.
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    validate(&def).unwrap();
    let image_ops = ops(&def);
    let sources: Vec<Vec<String>> = image_ops
        .iter()
        .filter_map(|op| match &op.op {
            Some(pb::op::Op::Source(s)) if s.identifier == "local://context" => {
                Some(serde_json::from_str(&s.attrs["local.includepattern"]).unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(sources, [["big.bin", "conf", "missing"]]);
    let file_ops: Vec<&pb::FileOp> = image_ops
        .iter()
        .filter_map(|op| match &op.op {
            Some(pb::op::Op::File(f)) => Some(f),
            _ => None,
        })
        .collect();
    let written: Vec<&pb::FileOp> = file_ops
        .iter()
        .copied()
        .filter(|f| {
            f.actions
                .iter()
                .any(|a| matches!(a.action, Some(pb::file_action::Action::Mkfile(_))))
        })
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let [mk, cp] = &written[0].actions[..] else {
        panic!("a mkfile and a copy: {:?}", written[0])
    };
    let Some(pb::file_action::Action::Mkfile(m)) = &mk.action else {
        panic!()
    };
    assert_eq!(
        (m.path.as_str(), m.mode, &m.data, m.timestamp),
        ("/entrypoint.sh", 0o775, &script, 0)
    );
    assert_eq!(mk.input, -1, "written into scratch");
    let Some(pb::file_action::Action::Copy(c)) = &cp.action else {
        panic!()
    };
    assert_eq!(
        (c.src.as_str(), c.dest.as_str()),
        ("/entrypoint.sh", "/usr/local/bin/entrypoint.sh")
    );
    assert_eq!(c.mode, 0o775, "the copy sets the permission bits");
    assert_eq!(cp.input, 0, "onto the foundation (the op's one input)");
    assert_eq!(cp.secondary_input, 1, "from the first action's result");
    // Its progress name is the copy's, as before.
    let names: Vec<&String> = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname"))
        .collect();
    assert!(
        names.iter().any(|n| n
            .starts_with("[foundation] copy docker/entrypoint.sh -> /usr/local/bin/entrypoint.sh")),
        "{names:?}"
    );
}

#[tokio::test]
async fn proxy_build_args_reach_every_step_that_may_use_the_network() {
    let spec = "version: 1
foundation:
  from: aishell-test/busybox:1
  apt: [curl]
  run: [echo f]
extension:
  run: [echo e]
harness:
  npm:
    semver: \"7.6.3\"
";
    let execs = |fake: &Fake| -> Vec<pb::ExecOp> {
        let def = fake.solves.last().unwrap().definition.clone().unwrap();
        ops(&def)
            .into_iter()
            .filter_map(|op| match op.op {
                Some(pb::op::Op::Exec(e)) if e.meta.as_ref().unwrap().args[0] == "/bin/sh" => {
                    Some(e)
                }
                _ => None,
            })
            .collect()
    };
    let mut fake = Fake::new(spec, true);
    let args = [
        "build-arg:HTTP_PROXY=http://proxy.example:3128",
        "build-arg:https_proxy=http://proxy.example:3129",
        "build-arg:no_proxy=localhost,.internal",
    ];
    run(&mut fake, env(&args)).await.unwrap();
    assert_returned_ok(&fake.returns);
    let proxied = execs(&fake);
    // apt, the foundation's run, the extension's run and the npm install
    assert_eq!(proxied.len(), 4, "{proxied:?}");
    for e in &proxied {
        let meta = e.meta.as_ref().unwrap();
        let p = meta.proxy_env.as_ref().expect("proxy env");
        assert_eq!(
            (
                p.http_proxy.as_str(),
                p.https_proxy.as_str(),
                p.no_proxy.as_str(),
                p.ftp_proxy.as_str()
            ),
            (
                "http://proxy.example:3128",
                "http://proxy.example:3129",
                "localhost,.internal",
                ""
            )
        );
        // Never in the step's environment or in the image: only BuildKit's proxy field.
        assert!(
            !meta.env.iter().any(|v| v.to_lowercase().contains("proxy")),
            "{:?}",
            meta.env
        );
    }
    let ret = fake.returns[0].result.as_ref().unwrap();
    let config = String::from_utf8_lossy(&ret.metadata["containerimage.config"]).to_lowercase();
    assert!(!config.contains("proxy"), "{config}");

    let plain = Fake::ran(spec, &[]).await;
    assert!(
        execs(&plain)
            .iter()
            .all(|e| e.meta.as_ref().unwrap().proxy_env.is_none())
    );
}

#[tokio::test]
async fn network_hosts_ulimits_shm_and_no_cache_filter_reach_the_steps_they_concern() {
    let spec = "version: 1
foundation:
  from: aishell-test/busybox:1
  run: [echo f]
extension:
  run: [echo e]
harness:
  npm:
    semver: \"7.6.3\"
";
    let mut fake = Fake::new(spec, true);
    let opts = [
        "force-network-mode=none",
        "add-hosts=registry.internal=10.0.0.5",
        "ulimit=nofile=1024:2048",
        "shm-size=67108864",
        "no-cache=harness",
    ];
    run(&mut fake, env(&opts)).await.unwrap();
    assert_returned_ok(&fake.returns);
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    let by_digest = by_digest(&def);
    let mut seen = 0;
    for (digest, op) in &by_digest {
        let Some(pb::op::Op::Exec(e)) = &op.op else {
            continue;
        };
        let meta = e.meta.as_ref().unwrap();
        let name = &def.metadata[digest].description["llb.customname"];
        if name.contains("[guards]") {
            // The guards never use a network and need none of these.
            assert_eq!(e.network, pb::NetMode::None as i32, "{name}");
            assert!(
                meta.extra_hosts.is_empty() && meta.ulimit.is_empty(),
                "{name}"
            );
            continue;
        }
        seen += 1;
        assert_eq!(e.network, pb::NetMode::None as i32, "{name}");
        assert_eq!(meta.extra_hosts.len(), 1, "{name}");
        assert_eq!(
            (
                meta.extra_hosts[0].host.as_str(),
                meta.extra_hosts[0].ip.as_str()
            ),
            ("registry.internal", "10.0.0.5")
        );
        assert_eq!(
            (
                meta.ulimit[0].name.as_str(),
                meta.ulimit[0].soft,
                meta.ulimit[0].hard
            ),
            ("nofile", 1024, 2048)
        );
        let shm = e
            .mounts
            .iter()
            .find(|m| m.dest == "/dev/shm")
            .expect("/dev/shm");
        assert_eq!(shm.mount_type, pb::MountType::Tmpfs as i32);
        assert_eq!(shm.tmpfs_opt.as_ref().unwrap().size, 64 << 20);
        // --no-cache-filter harness: only the harness's steps ignore the cache.
        let ignore = def.metadata[digest].ignore_cache;
        assert_eq!(ignore, name.starts_with("[harness]"), "{name}");
    }
    assert_eq!(
        seen, 3,
        "the foundation's and the extension's run and the npm install"
    );
    let caps: Vec<&String> = def.metadata.values().flat_map(|m| m.caps.keys()).collect();
    for cap in [
        "exec.meta.network",
        "exec.meta.ulimit",
        "exec.mount.tmpfs.size",
    ] {
        assert!(caps.iter().any(|c| *c == cap), "{cap} in {caps:?}");
    }

    // A flag the frontend does not honour fails, naming it.
    let fake = Fake::ran(spec, &["cgroup-parent=/ci"]).await;
    assert_mentions(
        error_of(&fake.returns),
        &["--cgroup-parent is not supported"],
    );
}

#[tokio::test]
async fn a_named_context_replaces_an_image_of_the_spec() {
    let mirror = "context:aishell-test/busybox:1=docker-image://mirror.example/busybox:1";
    let fake = Fake::ran(SPEC, &[mirror]).await;
    assert_returned_ok(&fake.returns);
    assert_eq!(fake.resolved(), ["mirror.example/busybox:1"]);
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    let images: Vec<String> = ops(&def)
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Source(s)) if s.identifier.starts_with("docker-image://") => {
                Some(s.identifier)
            }
            _ => None,
        })
        .collect();
    assert!(
        images
            .iter()
            .any(|i| i == "docker-image://mirror.example/busybox:1"),
        "{images:?}"
    );
    assert!(
        !images.iter().any(|i| i.contains("aishell-test/busybox")),
        "{images:?}"
    );

    // One for another platform does not apply.
    let mut fake = Fake::new(SPEC, true);
    let other = "context:aishell-test/busybox:1::linux/arm64=docker-image://mirror.example/b:1";
    run(&mut fake, env(&[other])).await.unwrap();
    assert_eq!(fake.resolved(), ["docker.io/aishell-test/busybox:1"]);
    // A git or HTTP context cannot be an image.
    let fake = Fake::ran(
        SPEC,
        &["context:aishell-test/busybox:1=https://example.invalid/x.git"],
    )
    .await;
    assert_mentions(
        error_of(&fake.returns),
        &[
            "can be replaced by docker-image://<reference>, oci-layout://",
            "image.yaml:4:",
        ],
    );
}

fn sources(fake: &Fake) -> Vec<pb::SourceOp> {
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    ops(&def)
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Source(s)) => Some(s),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_oci_layout_or_a_folder_context_replaces_an_image_of_the_spec() {
    // buildx sends `oci-layout://<store id>:<tag>@<digest>` for a layout it read.
    let digest = format!("sha256:{}", "ab".repeat(32));
    let layout = format!("context:aishell-test/busybox:1=oci-layout://s0re:1@{digest}");
    let fake = Fake::ran(SPEC, &[&layout, "local-sessionid:context=x"]).await;
    assert_returned_ok(&fake.returns);
    let reference = format!("docker.io/aishell-test/busybox:1@{digest}");
    assert_eq!(fake.resolved(), std::slice::from_ref(&reference));
    assert_eq!(
        fake.resolves[0].resolver_type, 1,
        "resolved in the client's OCI store"
    );
    assert_eq!(fake.resolves[0].store_id, "s0re");
    let src = sources(&fake)
        .into_iter()
        .find(|s| s.identifier.starts_with("oci-layout://"))
        .expect("an oci-layout source");
    assert_eq!(src.identifier, format!("oci-layout://{reference}"));
    assert_eq!(src.attrs["oci.store"], "s0re");
    assert_eq!(src.attrs["oci.session"], fake.resolves[0].session_id);
    assert!(
        !sources(&fake).iter().any(|s| s
            .identifier
            .starts_with("docker-image://docker.io/aishell-test/busybox")),
        "the registry image is gone"
    );

    // A folder (`--build-context <image>=./rootfs`, sent as `local:<name>`) is the image's
    // files; it has no config to resolve and no base config to return.
    let fake = Fake::ran(
        SPEC,
        &["context:aishell-test/busybox:1=local:aishell-test/busybox:1"],
    )
    .await;
    assert_returned_ok(&fake.returns);
    assert!(fake.resolved().is_empty(), "{:?}", fake.resolved());
    assert!(
        sources(&fake)
            .iter()
            .any(|s| s.identifier == "local://aishell-test/busybox:1"),
        "{:?}",
        sources(&fake)
    );
    let result = fake.returns[0].result.as_ref().unwrap();
    assert!(!result.metadata.contains_key("containerimage.base.config"));
}

const SBOM_SPEC: &str = "version: 1
foundation:
  from: aishell-test/busybox:1
extension:
  run:
    - echo extension > /extension.txt
harness:
  npm:
    semver: \"7.6.3\"
  binaries:
    hello:
      url: http://127.0.0.1:9/hello-1.2.3
      sha256: \"0000000000000000000000000000000000000000000000000000000000000001\"
";

/// The SPDX document of a returned attestation, from the mkfile of its ref's definition.
fn sbom_of(fake: &Fake, att: &gw::Attestation) -> Value {
    let def = fake.definition(&att.r#ref.as_ref().unwrap().id).unwrap();
    for op in ops(def) {
        if let Some(pb::op::Op::File(f)) = op.op {
            for a in f.actions {
                if let Some(pb::file_action::Action::Mkfile(m)) = a.action
                    && m.path == att.path
                {
                    return serde_json::from_slice(&m.data).unwrap();
                }
            }
        }
    }
    panic!("no document at {} in the attestation's ref", att.path)
}

#[tokio::test]
async fn sbom_true_returns_the_frontends_own_spdx_document_of_every_part() {
    let fake = Fake::ran(
        SBOM_SPEC,
        &["attest:sbom=", "build-arg:SOURCE_DATE_EPOCH=86400"],
    )
    .await;
    let result = fake.returns[0].result.as_ref().unwrap();
    let atts = &result.attestations["linux/amd64"].attestation;
    assert_eq!(atts.len(), 1);
    let att = &atts[0];
    assert_eq!(att.kind, gw::AttestationKind::InToto as i32);
    assert_eq!(att.in_toto_predicate_type, "https://spdx.dev/Document");
    assert_eq!(att.in_toto_subjects.len(), 1);
    assert_eq!(
        att.in_toto_subjects[0].kind,
        gw::InTotoSubjectKind::Self_ as i32
    );
    assert_eq!(att.metadata["reason"], b"sbom");
    let doc = sbom_of(&fake, att);
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "1970-01-02T00:00:00Z");
    let find = |name: &str| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {doc:#}"))
            .clone()
    };
    assert_eq!(find("bash")["comment"], "aishell part: foundation");
    assert_eq!(find("git")["comment"], "aishell part: extension");
    assert_eq!(
        find("semver")["externalRefs"][0]["referenceLocator"],
        "pkg:npm/semver@7.6.3"
    );
    assert_eq!(find("lru")["versionInfo"], "1.0.0");
    let hello = find("hello");
    assert_eq!(hello["downloadLocation"], "http://127.0.0.1:9/hello-1.2.3");
    assert_eq!(
        hello["checksums"][0]["checksumValue"],
        "0000000000000000000000000000000000000000000000000000000000000001"
    );
    // The image itself is solved and returned as without --sbom.
    let Some(gw::result::Result::Ref(r)) = &result.result else {
        panic!("no ref")
    };
    assert_ne!(r.id, att.r#ref.as_ref().unwrap().id);
}

#[tokio::test]
async fn each_part_is_read_by_a_step_of_its_own_and_the_document_is_built_on_them() {
    let fake = Fake::ran(SBOM_SPEC, &["attest:sbom="]).await;
    let att = &fake.returns[0].result.as_ref().unwrap().attestations["linux/amd64"].attestation[0];
    let def = fake.definition(&att.r#ref.as_ref().unwrap().id).unwrap();
    let names: Vec<String> = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname").cloned())
        .filter(|n| n.starts_with("[sbom]"))
        .collect();
    for want in [
        "[sbom] read the foundation's packages",
        "[sbom] read the extension's packages",
        "[sbom] read npm semver@7.6.3",
        "[sbom] SPDX document",
    ] {
        assert!(names.iter().any(|n| n == want), "{want}: {names:?}");
    }
    // No step for the binary tool: the spec pins it.
    assert_eq!(
        ops(def)
            .iter()
            .filter(|o| matches!(&o.op, Some(pb::op::Op::Exec(e)) if e.meta.as_ref().unwrap().args.get(2).is_some_and(|a| a == "inventory")))
            .count(),
        3
    );
}

#[tokio::test]
async fn without_sbom_or_with_a_named_scanner_the_frontend_returns_no_attestation() {
    for opts in [
        &[][..],
        &["attest:sbom=generator=example.invalid/scanner:1"][..],
        &["attest:sbom=disabled=true"][..],
    ] {
        let fake = Fake::ran(SBOM_SPEC, opts).await;
        let result = fake.returns[0].result.as_ref().unwrap();
        assert!(result.attestations.is_empty(), "{opts:?}");
        assert!(
            !fake
                .solves
                .iter()
                .filter_map(|s| s.definition.as_ref())
                .any(|d| d.metadata.values().any(|m| m
                    .description
                    .get("llb.customname")
                    .is_some_and(|n| n.starts_with("[sbom]")))),
            "{opts:?}: no SBOM step is built"
        );
    }
}

#[tokio::test]
async fn the_sbom_of_each_platform_is_keyed_by_its_platform() {
    let fake = Fake::ran(
        SBOM_SPEC,
        &["attest:sbom=", "platform=linux/amd64,linux/arm64"],
    )
    .await;
    let result = fake.returns[0].result.as_ref().unwrap();
    let keys: Vec<&String> = result.attestations.keys().collect();
    assert_eq!(keys, ["linux/amd64", "linux/arm64"]);
    let doc = sbom_of(&fake, &result.attestations["linux/arm64"].attestation[0]);
    assert_eq!(doc["name"], "aishell image linux/arm64");
}

const CROSS_SPEC: &str = "version: 1
foundation:
  from: aishell-test/debian-${TARGETARCH}:13
harness:
  npm:
    semver: \"7.6.3\"
    \"@acme/native\": {version: \"1.0.0\", emulate: true}
";

/// The npm install steps of `def`: (package@version, its op, its root's subgraph text).
fn npm_installs(def: &pb::Definition) -> Vec<(String, pb::Op, String)> {
    let ops = by_digest(def);
    let mut out = Vec::new();
    for op in ops.values() {
        let Some(pb::op::Op::Exec(e)) = &op.op else {
            continue;
        };
        let args = &e.meta.as_ref().unwrap().args;
        let Some(cmd) = args
            .get(2)
            .filter(|c| c.contains("npm install --global --prefix"))
        else {
            continue;
        };
        let spec = ["semver@7.6.3", "@acme/native@1.0.0"]
            .into_iter()
            .find(|s| cmd.contains(&format!(" {s}")))
            .unwrap_or("?")
            .to_string();
        let root = e.mounts.iter().find(|m| m.dest == "/").unwrap();
        let text: String = subgraph(&ops, &op.inputs[root.input as usize].digest)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        out.push((spec, op.clone(), text));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn npm_tools_for_another_platform_are_cross_installed_on_the_build_machines_foundation() {
    let fake = Fake::ran(CROSS_SPEC, &["platform=linux/amd64,linux/arm64"]).await;
    assert_returned_ok(&fake.returns);
    // The last solve is the arm64 image.
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    let installs = npm_installs(&def);
    assert_eq!(
        installs.len(),
        2,
        "{:?}",
        installs.iter().map(|i| &i.0).collect::<Vec<_>>()
    );
    let (_, native, native_root) = &installs[0];
    let (_, semver, semver_root) = &installs[1];
    // semver: on the amd64 foundation, for arm64 (shown to its install scripts), checked.
    let (args, _) = exec_of(semver);
    assert!(
        args[2].contains("--os=linux --cpu=arm64 semver@7.6.3")
            && args[2].contains(
                "NODE_OPTIONS=--require=/tmp/.aishell-target-arch.js npm_config_arch=arm64"
            ),
        "{}",
        args[2]
    );
    assert!(
        args[2].contains("node -e \"$AISHELL_ELF_CHECK\" /tools/npm 183 "),
        "{}",
        args[2]
    );
    assert_eq!(semver.platform.as_ref().unwrap().architecture, "amd64");
    assert!(semver_root.contains("debian-amd64"), "{semver_root}");
    assert!(!semver_root.contains("debian-arm64"), "{semver_root}");
    let Some(pb::op::Op::Exec(e)) = &semver.op else {
        panic!()
    };
    assert!(
        e.meta
            .as_ref()
            .unwrap()
            .env
            .iter()
            .any(|v| v.starts_with("AISHELL_ELF_CHECK="))
    );
    let env = &e.meta.as_ref().unwrap().env;
    assert!(
        env.iter()
            .any(|v| v.starts_with("AISHELL_TARGET_ARCH_MODULE=") && v.contains("value:\"arm64\"")),
        "{env:?}"
    );
    // The opted-out tool: on the arm64 foundation, as before.
    let (args, _) = exec_of(native);
    assert!(!args[2].contains("--cpu"), "{}", args[2]);
    assert_eq!(native.platform.as_ref().unwrap().architecture, "arm64");
    assert!(native_root.contains("debian-arm64"), "{native_root}");
    // The image is built on the arm64 foundation.
    let top = image_top(&def);
    let ops = by_digest(&def);
    let below: String = subgraph(&ops, &top.inputs[0].digest)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert!(
        below.contains("debian-arm64") && !below.contains("debian-amd64"),
        "{below}"
    );

    // The build machine's own platform installs natively.
    let amd64 = fake
        .solves
        .iter()
        .filter_map(|s| s.definition.clone())
        .find(|d| {
            npm_installs(d).iter().any(|(_, op, _)| {
                op.platform.as_ref().unwrap().architecture == "amd64"
                    && !exec_of(op).0[2].contains("--cpu")
            })
        });
    assert!(amd64.is_some(), "the amd64 image installs without --cpu");
}

#[tokio::test]
async fn one_foreign_platform_is_cross_installed_too_but_not_when_stacked() {
    let fake = Fake::ran(CROSS_SPEC, &["platform=linux/arm64"]).await;
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    let installs = npm_installs(&def);
    assert!(exec_of(&installs[1].1).0[2].contains("--cpu=arm64"));

    let fake = Fake::ran(
        CROSS_SPEC,
        &["platform=linux/arm64", "build-arg:AISHELL_MERGE=stack"],
    )
    .await;
    let def = fake.solves.last().unwrap().definition.clone().unwrap();
    for (spec, op, _) in npm_installs(&def) {
        assert!(!exec_of(&op).0[2].contains("--cpu"), "{spec}");
        assert_eq!(op.platform.as_ref().unwrap().architecture, "arm64");
    }
}

/// Holds back the merge guards' verdict of each platform until the other platform's verdict
/// has been asked for too: a frontend that builds its platforms one after the other never
/// gets the first answer.
struct SideBySide(tokio::sync::Barrier);

impl Hooks for SideBySide {
    async fn read_file(
        &self,
        req: &gw::ReadFileRequest,
        _def: Option<&pb::Definition>,
    ) -> Option<GwResult<Vec<u8>>> {
        if req.file_path == step::VERDICT_FILE {
            self.0.wait().await;
        }
        None
    }
}

#[tokio::test]
async fn the_platforms_of_one_build_are_built_side_by_side() {
    let mut fake = Builder::serving(SPEC).with_hooks(SideBySide(tokio::sync::Barrier::new(2)));
    fake.unpinned = Some(json!({"config": {"Env": ["PATH=/usr/bin:/bin"]}}));
    let ran = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        aishell_frontend::session::build::run_as(
            &fake.live(),
            env(&["platform=linux/amd64,linux/arm64"]),
            Some(&own_image()),
        ),
    )
    .await;
    assert!(
        ran.is_ok(),
        "the second platform's guards were not started while the first platform's were building"
    );
    ran.unwrap().unwrap();
    assert_returned_ok(&fake.returns);
    assert_eq!(fake.verdicts_read().len(), 2, "one verdict per platform");
    let result = fake.returns[0].result.as_ref().unwrap();
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(
            result
                .metadata
                .contains_key(&format!("containerimage.config/{p}")),
            "{p} is in the result"
        );
    }
}
