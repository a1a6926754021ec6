//! `extension.dockerfile`: a user's unchanged Dockerfile, built by BuildKit's own Dockerfile
//! frontend on our foundation.
//!
//! We call `dockerfile.v0` through the gateway with the foundation's definition as a
//! frontend input and bind both `aishell:base` and `aishell:foundation` to it as named
//! contexts (`context:<name>=input:<key>`), with the foundation's image config as input
//! metadata so the Dockerfile's RUN steps see its ENV. The result is built on the very
//! same foundation vertices, so `Diff(foundation, extension)` is a known layer chain and
//! its layers are reused, not recomputed.

use base64::Engine as _;
use llb_graph::{State, pb};
use prost::Message;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// The frontend input key under which the foundation is passed.
pub const FOUNDATION_INPUT: &str = "aishell-foundation";

/// Names a Dockerfile may use in `FROM` for the foundation.
pub const FOUNDATION_NAMES: [&str; 2] = ["aishell:base", "aishell:foundation"];

/// Build arguments that are ours and must not leak into the nested build
/// (`BUILDKIT_SYNTAX` pointing back at us would recurse).
const NOT_FORWARDED: [&str; 3] = ["AISHELL_MERGE", "AISHELL_LOG", "BUILDKIT_SYNTAX"];

/// Options that are forwarded unchanged to the nested Dockerfile build (`no-cache` is
/// forwarded as "every stage" when it covers the extension).
const FORWARDED_OPTIONS: [&str; 9] = [
    "image-resolve-mode",
    "cache-imports",
    "contextkey",
    "contextsubdir",
    "hostname",
    "force-network-mode",
    "add-hosts",
    "ulimit",
    "shm-size",
];

/// The extension Dockerfile's path inside the `dockerfile` local: relative to the spec
/// file's folder, which is where `filename` points.
///
/// ```
/// use aishell_frontend::graph::extension::dockerfile_path;
/// assert_eq!(dockerfile_path("image.yaml", "Dockerfile"), "Dockerfile");
/// assert_eq!(dockerfile_path(".aishell/image.yaml", "./ext/Dockerfile"), ".aishell/ext/Dockerfile");
/// ```
pub fn dockerfile_path(spec_filename: &str, path: &str) -> String {
    let dir = match spec_filename.rfind('/') {
        Some(i) => &spec_filename[..i],
        None => "",
    };
    let rel = path.trim_start_matches("./");
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// The frontend options of the nested `dockerfile.v0` call.
pub fn nested_options(
    raw: &BTreeMap<String, String>,
    build_args: &BTreeMap<String, String>,
    dockerfile: &str,
    platform: &str,
    foundation_config: &[u8],
) -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    o.insert("filename".to_string(), dockerfile.to_string());
    o.insert("platform".to_string(), platform.to_string());
    for name in FOUNDATION_NAMES {
        o.insert(
            format!("context:{name}"),
            format!("input:{FOUNDATION_INPUT}"),
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    o.insert(
        format!("input-metadata:{FOUNDATION_INPUT}"),
        json!({ "containerimage.config": b64.encode(foundation_config) }).to_string(),
    );
    for (k, v) in build_args {
        if !NOT_FORWARDED.contains(&k.as_str()) {
            o.insert(format!("build-arg:{k}"), v.clone());
        }
    }
    for (k, v) in raw {
        let ours = k
            .strip_prefix("context:")
            .is_some_and(|n| FOUNDATION_NAMES.contains(&n));
        // Named contexts (`--build-context`) feed the Dockerfile's FROM and COPY --from,
        // except the foundation's names, which are always the foundation.
        if FORWARDED_OPTIONS.contains(&k.as_str())
            || k.starts_with("local-sessionid:")
            || (k.starts_with("context:") && !ours)
        {
            o.insert(k.clone(), v.clone());
        }
    }
    // `--no-cache-filter` names our parts, not the Dockerfile's stages.
    if raw.get("no-cache").is_some_and(|v| {
        crate::graph::options::parse_no_cache(v).is_ok_and(|n| n.part("extension"))
    }) {
        o.insert("no-cache".into(), String::new());
    }
    o
}

/// True when the filesystem chain of the definition's result starts from `foundation`:
/// following each op's root input (an exec's `/` mount, a file op's base, a merge's first
/// input) from the result down reaches the foundation vertex.
pub fn built_on(def: &pb::Definition, foundation: &llb_graph::Digest) -> bool {
    let ops: HashMap<String, pb::Op> = def
        .def
        .iter()
        .filter_map(|b| {
            let op = pb::Op::decode(b.as_slice()).ok()?;
            Some((llb_digest(b), op))
        })
        .collect();
    let Some(terminal) = def
        .def
        .last()
        .and_then(|b| pb::Op::decode(b.as_slice()).ok())
    else {
        return false;
    };
    let Some(mut cur) = terminal.inputs.first().map(|i| i.digest.clone()) else {
        return false;
    };
    for _ in 0..100_000 {
        if cur == foundation.as_str() {
            return true;
        }
        let Some(op) = ops.get(&cur) else {
            return false;
        };
        let next = match &op.op {
            Some(pb::op::Op::Exec(e)) => e
                .mounts
                .iter()
                .find(|m| m.dest == "/")
                .and_then(|m| usize::try_from(m.input).ok()),
            Some(pb::op::Op::File(f)) => {
                // Follow the last action's base back through earlier actions of this op.
                let n = op.inputs.len() as i64;
                let mut idx = f.actions.last().map_or(-1, |a| a.input);
                let mut guard = f.actions.len();
                while idx >= n && guard > 0 {
                    idx = f.actions.get((idx - n) as usize).map_or(-1, |a| a.input);
                    guard -= 1;
                }
                usize::try_from(idx).ok()
            }
            Some(pb::op::Op::Merge(_)) => Some(0),
            _ => None,
        };
        match next.and_then(|i| op.inputs.get(i)) {
            Some(inp) => cur = inp.digest.clone(),
            None => return false,
        }
    }
    false
}

fn llb_digest(bytes: &[u8]) -> String {
    llb_graph::Digest::of(bytes).to_string()
}

/// The state of a nested build's result.
///
/// Errors: a malformed definition.
pub fn result_state(def: &pb::Definition) -> Result<State, String> {
    State::from_definition(def)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llb_graph::{Exec, FileOp, Meta, Source, marshal, merge};

    #[test]
    fn chains_through_exec_file_and_merge() {
        let f = Source::image("docker.io/library/busybox:1").build(Meta::default());
        let e = Exec::new(f.clone(), ["/bin/true"]).build(Meta::default());
        let c = FileOp::on(e)
            .mkfile("/x", 0o644, b"x".to_vec())
            .build(Meta::default());
        let other = Source::image("docker.io/library/debian:13").build(Meta::default());
        let m = merge(&[c, other.clone()], Meta::default());
        let fd = f.digest().unwrap().clone();
        assert!(built_on(&marshal(&m, &[]), &fd));
        // A final stage from another image, even if the foundation is used elsewhere.
        let m2 = merge(&[other, f.clone()], Meta::default());
        assert!(!built_on(&marshal(&m2, &[]), &fd));
        assert!(built_on(&marshal(&f, &[]), &fd));
    }

    #[test]
    fn options_bind_both_names_and_drop_our_args() {
        let args = BTreeMap::from([
            ("AISHELL_MERGE".to_string(), "stack".to_string()),
            ("JDK".to_string(), "21".to_string()),
        ]);
        let raw = BTreeMap::from([
            ("no-cache".to_string(), String::new()),
            ("cmdline".to_string(), "x".to_string()),
        ]);
        let o = nested_options(&raw, &args, "Dockerfile", "linux/amd64", b"{}");
        assert_eq!(o["context:aishell:base"], "input:aishell-foundation");
        assert_eq!(o["context:aishell:foundation"], "input:aishell-foundation");
        assert_eq!(o["build-arg:JDK"], "21");
        assert!(!o.contains_key("build-arg:AISHELL_MERGE"));
        assert!(
            !o.contains_key("cmdline"),
            "cmdline would disable # syntax in the Dockerfile"
        );
        assert_eq!(o["no-cache"], "");
        // A filter that leaves the extension out is not forwarded; one that names it is,
        // as "every stage" of the Dockerfile.
        let only = |filter: &str| {
            let raw = BTreeMap::from([("no-cache".to_string(), filter.to_string())]);
            nested_options(&raw, &args, "Dockerfile", "linux/amd64", b"{}")
                .get("no-cache")
                .cloned()
        };
        assert_eq!(only("harness"), None);
        // Named contexts are forwarded, but not over the foundation's names.
        let raw = BTreeMap::from([
            ("context:extra".to_string(), "local:extra".to_string()),
            (
                "context:aishell:base".to_string(),
                "docker-image://x".to_string(),
            ),
        ]);
        let o = nested_options(&raw, &args, "Dockerfile", "linux/amd64", b"{}");
        assert_eq!(o["context:extra"], "local:extra");
        assert_eq!(o["context:aishell:base"], "input:aishell-foundation");
        assert_eq!(only("harness,extension").as_deref(), Some(""));
        let meta: serde_json::Value =
            serde_json::from_str(&o["input-metadata:aishell-foundation"]).unwrap_or_default();
        assert_eq!(meta["containerimage.config"], "e30=");
    }
}
