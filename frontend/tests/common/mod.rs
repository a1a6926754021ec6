//! What the tests that run the frontend against a fake builder share: the fake builder
//! itself ([`builder`]; a suite changes only what its tests need through its hooks), the
//! environment BuildKit starts a frontend with, the answers a builder gives, checks of the
//! single `Return`, and reading the definitions the frontend sent.
// Every test file compiles this module on its own and uses a part of it.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_proto::gateway as gw;
use aishell_proto::{apicaps, pb};
use std::collections::BTreeMap;

pub mod builder;

/// insta's settings for the goldens in `tests/golden/<dir>/`: a snapshot is `<name>.snap`
/// there (no module prefix: the folder says which test file owns it), its header describes
/// the inputs instead of repeating the expression, and its body is the dump exactly.
pub fn golden_settings(dir: &str, description: impl Into<String>) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(dir),
    );
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s.set_description(description);
    s
}

/// Checks that `tests/golden/<dir>/` holds exactly the snapshots of `names` (one
/// `<name>.snap` each), so each one belongs to a test the file runs: a snapshot left behind
/// by a renamed or removed test would otherwise sit there unchecked, looking as if it
/// pinned something, and a `.snap.new` is a change waiting for `cargo insta review`.
pub fn assert_golden_dir_holds(dir: &str, names: &[&str]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dir);
    let mut found: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("{n}.snap")).collect();
    want.sort();
    assert_eq!(
        found, want,
        "tests/golden/{dir}/ holds exactly the snapshots of NAMES (a .snap.new is a change waiting for `cargo insta review`)"
    );
}

/// The environment BuildKit starts a frontend with: the option `filename=image.yaml`, then
/// `opts` as further options (`build-arg:NAME=VALUE`, `platform=…`), and a session id.
///
/// ```ignore
/// run(&mut fake, frontend_env(&["build-arg:AISHELL_MERGE=stack"])).await.unwrap();
/// ```
pub fn frontend_env(opts: &[&str]) -> Vec<(String, String)> {
    std::iter::once("filename=image.yaml")
        .chain(opts.iter().copied())
        .enumerate()
        .map(|(i, v)| (format!("BUILDKIT_FRONTEND_OPT_{i}"), v.to_string()))
        .chain([("BUILDKIT_SESSION_ID".to_string(), "s1".to_string())])
        .collect()
}

/// The LLB capabilities of a builder that can merge (BuildKit ≥ 0.10 with the containerd
/// image store), for [`pong`].
pub const MERGE: &[(&str, bool)] = &[("mergeop", true), ("diffop", true)];

/// A `Ping` answer that announces these LLB capabilities (id, enabled).
pub fn pong(caps: &[(&str, bool)]) -> gw::PongResponse {
    gw::PongResponse {
        llb_caps: caps
            .iter()
            .map(|&(id, enabled)| apicaps::ApiCap {
                id: id.into(),
                enabled,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A `Solve` answer with one ref (and the definition behind it when the builder hands it out,
/// as it does for a nested frontend's result).
pub fn solved(id: &str, def: Option<pb::Definition>) -> gw::SolveResponse {
    solved_with(id, def, Default::default())
}

/// [`solved`] with result metadata (e.g. `containerimage.config`).
pub fn solved_with(
    id: &str,
    def: Option<pb::Definition>,
    metadata: std::collections::BTreeMap<String, Vec<u8>>,
) -> gw::SolveResponse {
    gw::SolveResponse {
        result: Some(gw::Result {
            result: Some(gw::result::Result::Ref(gw::Ref { id: id.into(), def })),
            metadata,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A `ResolveImageConfig` answer: `config` (image config JSON) and the digest the builder
/// resolved the reference to (empty: none).
pub fn resolved(
    req: gw::ResolveImageConfigRequest,
    digest: &str,
    config: &[u8],
) -> gw::ResolveImageConfigResponse {
    gw::ResolveImageConfigResponse {
        r#ref: req.r#ref,
        digest: digest.into(),
        config: config.to_vec(),
    }
}

/// The error message of the one `Return` a run made; fails when there were more, or when it
/// returned a result.
#[track_caller]
pub fn error_of(returns: &[gw::ReturnRequest]) -> &str {
    assert_eq!(returns.len(), 1, "Return is called exactly once");
    assert!(returns[0].result.is_none(), "a result next to the error");
    &returns[0]
        .error
        .as_ref()
        .expect("the Return carries an error")
        .message
}

/// Fails unless the one `Return` a run made carries a result and no error.
#[track_caller]
pub fn assert_returned_ok(returns: &[gw::ReturnRequest]) {
    assert_eq!(returns.len(), 1, "Return is called exactly once");
    assert!(returns[0].error.is_none(), "{:?}", returns[0].error);
}

/// Fails unless `text` contains each of `needles`, showing the whole text when one is
/// missing.
#[track_caller]
pub fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

/// A stand-in for the frontend's own image, which BuildKit hands a real frontend in
/// `/run/config/buildkit/metadata/frontend.bin`: the root of the merge guards' steps.
pub fn own_image() -> aishell_frontend::session::guards::OwnImage {
    let image = llb_graph::Source::image(
        "ghcr.io/org/aishell-frontend:1@sha256:1111111111111111111111111111111111111111111111111111111111111111",
    )
    .platform(llb_graph::platform("linux", "amd64", None))
    .build(llb_graph::Meta::default());
    aishell_frontend::session::guards::OwnImage::from_definition(
        &llb_graph::marshal(&image, &[]),
        "/bin/aishell-frontend",
    )
    .unwrap()
}

/// A daemon error that names the step `digest` in an `errdefs.Vertex` detail, as BuildKit
/// names the step that failed.
pub fn step_failed(message: &str, digest: &str) -> tonic::Status {
    use prost::Message;
    let details = aishell_proto::rpc::Status {
        code: 2,
        message: message.into(),
        details: vec![aishell_proto::protobuf::Any {
            type_url: "github.com/moby/buildkit/errdefs.Vertex+json".into(),
            value: format!("{{\"digest\":\"{digest}\"}}").into_bytes(),
        }],
    }
    .encode_to_vec();
    tonic::Status::with_details(tonic::Code::Unknown, message, details.into())
}

/// The ops of a definition by digest (`sha256:…` of each op's bytes, as inputs name them).
pub fn by_digest(def: &pb::Definition) -> BTreeMap<String, pb::Op> {
    use sha2::Digest;
    def.def
        .iter()
        .map(|b| {
            let digest = hex::encode(sha2::Sha256::digest(b));
            (format!("sha256:{digest}"), llb_graph::decode_op(b).unwrap())
        })
        .collect()
}

/// The arguments and mounts of an exec op; fails on any other op.
#[track_caller]
pub fn exec_of(op: &pb::Op) -> (Vec<String>, Vec<pb::Mount>) {
    let Some(pb::op::Op::Exec(e)) = &op.op else {
        panic!("not an exec: {op:?}")
    };
    (e.meta.clone().unwrap().args, e.mounts.clone())
}

/// The ops `digest` is built from, each with its JSON text.
pub fn subgraph(ops: &BTreeMap<String, pb::Op>, digest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![digest.to_string()];
    while let Some(d) = todo.pop() {
        if out.iter().any(|(x, _)| *x == d) {
            continue;
        }
        let op = &ops[&d];
        todo.extend(op.inputs.iter().map(|i| i.digest.clone()));
        out.push((d, llb_graph::op_to_json(op).to_string()));
    }
    out
}
