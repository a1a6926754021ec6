//! Golden tests of what a build sends to BuildKit: each example (and the aishell example on
//! two platforms) is built through the frontend's real session code (`session::build`)
//! against the fake builder of `common::builder`, whose `ResolveImageConfig` answers come from
//! [`images`] — fixed configs and digests, as a registry would pin them. The requests the
//! frontend made and the metadata of its one `Return` are dumped (definitions with
//! llb-graph's readable dump, as `golden.rs` does) and compared with the insta snapshot
//! `tests/golden/build/<name>.snap`.
//!
//! `golden.rs` pins the offline conversion, with stand-in configs and without the builder's
//! answers; these pin the graph users' caches are actually keyed on: the images pinned by
//! digest, the image configs' environment in every step, the small context files read
//! through the gateway and inlined, the merge guards' steps the image carries for the cache.
//!
//! Which solves are recorded, and why: every one, in order, because each is deterministic
//! once the builder's answers are — nothing in them comes from a clock, a random source or
//! the machine (the session id is the fake's `s1`, context files' modes are what git records):
//! - the spec's load (`local dockerfile`) and the build context's (`local context`): small,
//!   and their digests are what warnings and errors attach to;
//! - the nested Dockerfile frontend call of an extension Dockerfile: its options (build
//!   args, platform, the foundation's config) and the foundation graph handed to it;
//! - the merge guards' verdict: a change to what is listed or judged shows here first;
//! - the image, whose ref the `Return` names (the final solve of each platform).
//!
//! The guards' verdict graph and the foundation handed to the Dockerfile frontend are part of
//! the image's graph (the image carries the verdict for the build cache; the extension is
//! diffed against the foundation). Dumping them in full a second time would double the
//! snapshots for nothing new to read, so they are recorded as the digests of their ops, and
//! the test checks that each of those ops is in the image's dump, where it can be read.
//!
//! The SBOM (`--sbom`) is not requested: its solves depend on a scanner's answers, which
//! flow.rs fakes and checks. Each build is also run twice and the requests compared byte for
//! byte, as `golden.rs` marshals twice.
//!
//! Updating: as for `golden.rs` (`cargo insta review`; docs/architecture.md, "Golden
//! snapshots"). A change here and not in `golden.rs` is a change in what the session adds
//! to the conversion, or in what the builder is asked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::session::build::run_as;
use aishell_proto::gateway as gw;
use aishell_proto::pb;
use llb_graph::{definition_to_json, validate};
use prost::Message;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod common;
use common::builder::{Builder, PinnedImage, platform_of};
use common::{assert_returned_ok, frontend_env, own_image};

/// Where these snapshots live, under `tests/golden/`.
const DIR: &str = "build";

/// Every snapshot the tests below compare with; [`no_snapshot_without_a_test`] checks the
/// folder holds exactly these.
const NAMES: &[&str] = &["aishell", "aishell-multiplatform", "hello"];

/// The images the examples start from, as the builder resolves them: one digest per
/// platform (a registry resolves a multi-platform tag to each platform's manifest) and a
/// config whose environment and command the frontend carries into the image's. A new image
/// in an example fails its build here until it is pinned in this table.
fn images() -> Vec<PinnedImage> {
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let config = |arch: &str, variant: Option<&str>, cmd: &str, diff_id: &str| {
        let mut c = json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Env": [path], "Cmd": [cmd]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        });
        if let Some(v) = variant {
            c["variant"] = json!(v);
        }
        c
    };
    vec![
        PinnedImage {
            reference: "docker.io/aishell-test/busybox:1",
            platform: "linux/amd64",
            digest: "sha256:b05b0b05b0b05b0b05b0b05b0b05b0b05b0b05b0b05b0b05b0b05b0b05b0b05b",
            config: config(
                "amd64",
                None,
                "sh",
                "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            ),
        },
        PinnedImage {
            reference: "docker.io/aishell-test/debian:trixie",
            platform: "linux/amd64",
            digest: "sha256:deb1a4deb1a4deb1a4deb1a4deb1a4deb1a4deb1a4deb1a4deb1a4deb1a4deb1",
            config: config(
                "amd64",
                None,
                "bash",
                "sha256:2222222222222222222222222222222222222222222222222222222222222222",
            ),
        },
        PinnedImage {
            reference: "docker.io/aishell-test/debian:trixie",
            platform: "linux/arm64",
            digest: "sha256:deb1a64deb1a64deb1a64deb1a64deb1a64deb1a64deb1a64deb1a64deb1a64d",
            config: config(
                "arm64",
                Some("v8"),
                "bash",
                "sha256:3333333333333333333333333333333333333333333333333333333333333333",
            ),
        },
    ]
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// Builds `examples/<example>` as `docker buildx build -f examples/<example>/.aishell/image.yaml
/// examples/<example>` sends it (the spec's folder as the `dockerfile` local, the example
/// as the context), with the frontend options `opts`.
async fn build(example_name: &str, opts: &[&str]) -> Builder {
    let dir = example(example_name);
    let mut b = Builder::new(&dir.join(".aishell"), &dir, images());
    run_as(&b.live(), frontend_env(opts), Some(&own_image()))
        .await
        .unwrap();
    assert_returned_ok(&b.returns);
    b
}

/// The refs the `Return` names, by platform (`""` for a single image).
fn returned_refs(b: &Builder) -> Vec<(String, String)> {
    match b.returns[0]
        .result
        .as_ref()
        .unwrap()
        .result
        .as_ref()
        .unwrap()
    {
        gw::result::Result::Ref(r) => vec![(String::new(), r.id.clone())],
        gw::result::Result::Refs(m) => m
            .refs
            .iter()
            .map(|(p, r)| (p.clone(), r.id.clone()))
            .collect(),
        other => panic!("unexpected result {other:?}"),
    }
}

/// The digests of a definition's ops.
fn op_digests(def: &pb::Definition) -> Vec<String> {
    def.def
        .iter()
        .map(|b| format!("sha256:{}", hex::encode(Sha256::digest(b))))
        .collect()
}

/// A metadata value or frontend option as shown: JSON (objects shown as such, with the
/// SHA-256 of the exact bytes, since a config's bytes are hashed into the image) or text.
fn bytes_json(v: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(v) {
        Ok(j @ Value::Object(_)) | Ok(j @ Value::Array(_)) => json!({
            "sha256": hex::encode(Sha256::digest(v)),
            "json": j,
        }),
        _ => json!(String::from_utf8_lossy(v)),
    }
}

/// The dump of everything `b` was sent, checking on the way that each definition is valid
/// and that the graphs shown by digest only are inside an image graph shown in full.
fn dump(b: &Builder) -> Value {
    let returned: BTreeSet<usize> = returned_refs(b)
        .into_iter()
        .map(|(_, r)| r.strip_prefix("ref-").unwrap().parse().unwrap())
        .collect();
    let image_ops: BTreeSet<String> = returned
        .iter()
        .flat_map(|&n| op_digests(b.solves[n].definition.as_ref().unwrap()))
        .collect();
    // A definition's last op only names its result (it has no content of its own), so it
    // is shown as the digest it names.
    let by_digest = |what: &str, def: &pb::Definition| {
        let mut ops = op_digests(def);
        ops.pop();
        for d in &ops {
            assert!(
                image_ops.contains(d),
                "op {d} of {what} is in no image graph: dump it in full instead"
            );
        }
        let terminal = llb_graph::decode_op(def.def.last().unwrap()).unwrap();
        json!({"result": terminal.inputs[0].digest, "ops": ops})
    };
    let resolves: Vec<Value> = b
        .resolves
        .iter()
        .map(|r| {
            let platform = platform_of(r.platform.as_ref());
            let pinned = b
                .images
                .iter()
                .find(|i| i.reference == r.r#ref && i.platform == platform)
                .unwrap();
            json!({
                "ref": r.r#ref, "platform": platform, "resolveMode": r.resolve_mode,
                "logName": r.log_name, "answered": pinned.digest,
            })
        })
        .collect();
    let solves: Vec<Value> = b
        .solves
        .iter()
        .enumerate()
        .map(|(n, req)| {
            let mut o = Map::new();
            let kind = if returned.contains(&n) {
                "image (returned)".to_string()
            } else {
                b.kind(n)
            };
            o.insert("ref".into(), json!(format!("ref-{n}")));
            o.insert("kind".into(), json!(kind));
            let cache_imports: Vec<Value> = req
                .cache_imports
                .iter()
                .map(|c| json!({"type": c.r#type, "attrs": c.attrs}))
                .collect();
            o.insert(
                "request".into(),
                json!({
                    "allowResultReturn": req.allow_result_return,
                    "allowResultArrayRef": req.allow_result_array_ref,
                    "evaluate": req.evaluate,
                    "cacheImports": cache_imports,
                }),
            );
            if !req.frontend.is_empty() {
                o.insert("frontend".into(), json!(req.frontend));
                let opts: Map<String, Value> = req
                    .frontend_opt
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                o.insert("frontendOpt".into(), Value::Object(opts));
                // The foundation's config travels base64-encoded in an option: shown decoded
                // too, so a change to it reads as one.
                if let Some(meta) = req.frontend_opt.get("input-metadata:aishell-foundation") {
                    use base64::Engine as _;
                    let meta: Value = serde_json::from_str(meta).unwrap();
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(meta["containerimage.config"].as_str().unwrap())
                        .unwrap();
                    o.insert("foundationConfig (decoded)".into(), bytes_json(&raw));
                }
                let inputs: Map<String, Value> = req
                    .frontend_inputs
                    .iter()
                    .map(|(k, def)| {
                        validate(def).unwrap();
                        (k.clone(), by_digest(&format!("input {k}"), def))
                    })
                    .collect();
                o.insert("frontendInputs".into(), Value::Object(inputs));
            }
            if let Some(def) = &req.definition {
                validate(def).unwrap();
                let shown = if kind == "merge guards' verdict" {
                    by_digest(&kind, def)
                } else {
                    definition_to_json(def)
                };
                o.insert("definition".into(), shown);
            }
            Value::Object(o)
        })
        .collect();
    let ret = b.returns[0].result.as_ref().unwrap();
    let metadata: Map<String, Value> = ret
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), bytes_json(v)))
        .collect();
    let result = match returned_refs(b).as_slice() {
        [(p, r)] if p.is_empty() => json!({ "ref": r }),
        refs => {
            let by_platform: Map<String, Value> =
                refs.iter().map(|(p, r)| (p.clone(), json!(r))).collect();
            json!({ "refs": by_platform })
        }
    };
    json!({
        "resolveImageConfig": resolves,
        "solves": solves,
        "return": {
            "result": result,
            "metadata": metadata,
            "attestations": ret.attestations.keys().collect::<Vec<_>>(),
        },
    })
}

/// Builds `example` with `opts` twice, checks both builds sent the same bytes, and compares
/// the dump with snapshot `name`.
async fn golden(name: &str, example_name: &str, opts: &[&str]) {
    assert!(NAMES.contains(&name), "{name} is missing from NAMES");
    let b = build(example_name, opts).await;
    let again = build(example_name, opts).await;
    let bytes = |b: &Builder| -> Vec<Vec<u8>> {
        b.solves
            .iter()
            .map(|s| s.encode_to_vec())
            .chain(b.resolves.iter().map(|r| r.encode_to_vec()))
            .chain(b.returns.iter().map(|r| r.encode_to_vec()))
            .collect()
    };
    assert_eq!(
        bytes(&b),
        bytes(&again),
        "a build sends the same bytes twice"
    );
    let got = serde_json::to_string_pretty(&dump(&b)).unwrap() + "\n";
    let description = format!(
        "the requests of a build of examples/{example_name}/.aishell/image.yaml with the options {}, the builder answering with pinned images",
        opts.join(", ")
    );
    common::golden_settings(DIR, description).bind(|| insta::assert_snapshot!(name, got));
}

#[tokio::test]
async fn hello() {
    golden(
        "hello",
        "hello",
        &["build-arg:TOOLS_URL=http://127.0.0.1:8765"],
    )
    .await;
}

#[tokio::test]
async fn aishell() {
    golden(
        "aishell",
        "aishell",
        &["build-arg:NPM_REGISTRY=https://npm.example.invalid"],
    )
    .await;
}

/// The whole image on two platforms: the second one's npm tools are installed on the build
/// platform's foundation (graph::cross), and each platform has its own guards, extension
/// and image config.
#[tokio::test]
async fn aishell_two_platforms() {
    golden(
        "aishell-multiplatform",
        "aishell",
        &[
            "build-arg:NPM_REGISTRY=https://npm.example.invalid",
            "platform=linux/amd64,linux/arm64",
        ],
    )
    .await;
}

/// Targets without the extension do not run the nested Dockerfile build: the foundation
/// target asks the Dockerfile frontend for nothing, the image target does.
#[tokio::test]
async fn only_targets_holding_the_extension_build_its_dockerfile() {
    let frontend_calls = |b: &Builder| {
        (0..b.solves.len())
            .filter(|n| b.kind(*n).ends_with(" frontend"))
            .count()
    };
    let registry = "build-arg:NPM_REGISTRY=https://npm.example.invalid";
    let b = build("aishell", &[registry, "target=foundation"]).await;
    assert!(b.returns[0].error.is_none(), "{:?}", b.returns[0].error);
    assert_eq!(frontend_calls(&b), 0);
    let b = build("aishell", &[registry]).await;
    assert!(b.returns[0].error.is_none(), "{:?}", b.returns[0].error);
    assert_eq!(frontend_calls(&b), 1);
}

#[test]
fn no_snapshot_without_a_test() {
    common::assert_golden_dir_holds(DIR, NAMES);
}
