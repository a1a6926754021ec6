//! The promises of docs/security.md that can be checked on the emitted graph: what the
//! frontend asks BuildKit to do with the network, downloads, the npm secret and package
//! caches, and that images are pinned by the digest the builder resolved. End-to-end
//! checks of the same promises live in tests/e2e (see docs/security.md for which).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::graph::offline::{self, SpecFile};
use aishell_proto::pb;
use llb_graph::{decode_op, definition_to_json, marshal};
use serde_json::{Value, json};
use std::path::Path;

mod common;
use common::builder::{Builder, PinnedImage};
use common::{assert_returned_ok, frontend_env};

const SHA: &str = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB";

fn spec() -> String {
    format!(
        "version: 1
foundation:
  from: debian:13
  apt: [nodejs, npm]
extension:
  apt: [git]
harness:
  npm_secret: npmrc
  npm: {{\"@openai/codex\": 0.1.0, left-pad: 1.3.0}}
  binaries:
    gl:
      url: https://example.invalid/gl-1.0.0.tgz
      sha256: \"{SHA}\"
      extract: gl
"
    )
}

/// The ops of the image's definition, as the readable JSON dump.
fn ops(text: &str) -> Vec<Value> {
    let options = offline::options("image.yaml", &[], &[], None).unwrap();
    let file = SpecFile::from_text("image.yaml", text);
    let build = offline::convert_all(&file, &options).unwrap().remove(0);
    let dump = definition_to_json(&marshal(&build.conversion.state, &[]));
    dump["ops"].as_array().unwrap().clone()
}

fn execs(ops: &[Value]) -> Vec<&Value> {
    ops.iter().filter_map(|o| o["op"].get("exec")).collect()
}

fn mount<'a>(exec: &'a Value, dest: &str) -> Option<&'a Value> {
    exec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["dest"] == dest)
}

#[test]
fn the_frontend_image_asks_for_no_network() {
    // BuildKit runs a frontend image carrying this label without network access.
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile.frontend");
    let text = std::fs::read_to_string(dockerfile).unwrap();
    assert!(
        text.contains("moby.buildkit.frontend.network.none=\"true\""),
        "Dockerfile.frontend lost its network.none label"
    );
}

#[test]
fn binaries_are_downloaded_by_buildkit_against_the_pinned_checksum() {
    let ops = ops(&spec());
    let http: Vec<&Value> = ops
        .iter()
        .filter_map(|o| o["op"].get("source"))
        .filter(|s| s["identifier"].as_str().unwrap().starts_with("https://"))
        .collect();
    assert_eq!(http.len(), 1);
    assert_eq!(
        http[0]["attrs"]["http.checksum"],
        format!("sha256:{}", SHA.to_lowercase())
    );
    // No container fetches it instead (which would bypass the checksum).
    for e in execs(&ops) {
        assert!(!e["args"].to_string().contains("example.invalid"), "{e}");
    }
}

#[test]
fn the_npm_secret_is_only_ever_a_secret_mount() {
    let ops = ops(&spec());
    let npm: Vec<&Value> = execs(&ops)
        .into_iter()
        .filter(|e| e["args"].to_string().contains("npm install"))
        .collect();
    assert_eq!(npm.len(), 2);
    for e in npm {
        let m = mount(e, "/run/secrets/aishell-npmrc").expect("a secret mount");
        assert_eq!(m["type"], "secret");
        assert_eq!(m["secret"]["id"], "npmrc");
        assert_eq!(m["secret"]["mode"], "0400");
        // Output -1: the mount is never part of a result, so never of a layer.
        assert_eq!(m["output"], -1);
        assert!(
            e["env"]
                .to_string()
                .contains("NPM_CONFIG_USERCONFIG=/run/secrets/aishell-npmrc")
        );
    }
    // Only the id is in the graph (so in cache keys): the frontend never sees the
    // content, and no other op names the secret's path.
    for o in &ops {
        if o["op"].get("exec").is_none() {
            assert!(!o.to_string().contains("aishell-npmrc"), "{o}");
        }
    }
}

#[test]
fn package_caches_are_cache_mounts_and_home_is_a_tmpfs() {
    let ops = ops(&spec());
    let execs = execs(&ops);
    let apt: Vec<&&Value> = execs
        .iter()
        .filter(|e| e["args"].to_string().contains("apt-get install"))
        .collect();
    assert_eq!(apt.len(), 2, "foundation and extension apt steps");
    for e in apt {
        for dest in ["/var/cache/apt", "/var/lib/apt/lists"] {
            assert_eq!(mount(e, dest).unwrap()["type"], "cache", "{dest}");
        }
    }
    for e in execs
        .iter()
        .filter(|e| e["args"].to_string().contains("npm install"))
    {
        assert_eq!(mount(e, "/var/cache/aishell-npm").unwrap()["type"], "cache");
        assert_eq!(mount(e, "/tmp").unwrap()["type"], "tmpfs");
        assert!(e["env"].to_string().contains("HOME=/tmp/"), "{e}");
    }
}

const DIGEST: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

#[tokio::test]
async fn images_are_pinned_to_the_digest_the_builder_resolved() {
    // The builder pins the spec's one image to DIGEST, and knows no other.
    let mut b = Builder::serving("version: 1\nfoundation:\n  from: debian:13\n  run: [echo hi]\n");
    b.images = vec![PinnedImage {
        reference: "docker.io/library/debian:13",
        platform: "linux/amd64",
        digest: DIGEST,
        config: json!({"architecture": "amd64", "os": "linux"}),
    }];
    aishell_frontend::session::build::run(&b.live(), frontend_env(&[]))
        .await
        .unwrap();
    assert_returned_ok(&b.returns);
    let def: &pb::Definition = b.solves.last().unwrap().definition.as_ref().unwrap();
    let images: Vec<String> = def
        .def
        .iter()
        .filter_map(|bytes| match decode_op(bytes).unwrap().op {
            Some(pb::op::Op::Source(s)) if s.identifier.starts_with("docker-image://") => {
                Some(s.identifier)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        images,
        [format!(
            "docker-image://docker.io/library/debian:13@{DIGEST}"
        )]
    );
}
