//! The guards as steps of the build graph: one facts step per layer, one verdict step over
//! the facts files. Both run the frontend's own binary from the frontend's own image, so they
//! need nothing the builder does not already have.
//!
//! BuildKit caches them like any other step. On a build whose layers come from a cache, a
//! layer's facts step is a cache hit keyed by that layer (the layer is neither pulled nor
//! unpacked), and a verdict whose facts did not change is a cache hit too: a cached build
//! reads one small file and makes no listing at all.

use crate::graph::convert::{self};
use crate::graph::names::{ProgressName, Tag};
use crate::graph::options::Options;
use crate::guards;
use crate::guards::facts::FactsRequest;
use crate::guards::step;
use crate::guards::verdict::{Verdict, VerdictRequest};
use crate::session::failure::Failure;
use crate::session::gateway::Bridge;
use crate::session::source::{SpecLocal, ref_id, solve_request};
use crate::spec::Part;
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::platform::Platform;
use crate::spec::yaml::Span;
use aishell_proto::gateway as gw;
use aishell_proto::{pb, rpc};
use llb_graph::{Exec, Meta, MountKey, MountKind, NetMode, State, diff, marshal, merge};
use prost::Message;
use std::collections::BTreeMap;
use tonic::Code;

/// Where BuildKit's gateway puts the definition of the frontend's own image (BuildKit ≥
/// 0.10, the first with MergeOp).
pub const METADATA: &str = "/run/config/buildkit/metadata/frontend.bin";

/// The frontend's own image and where its binary is in it: the root of the guards' steps.
#[derive(Debug, Clone)]
pub struct OwnImage {
    /// The image, as the definition BuildKit gave us (pinned to the digest it started).
    pub image: State,
    /// The binary's path in the image (`/bin/aishell-frontend`).
    pub binary: String,
    /// The image's platform: the builder's own, so the steps never run emulated.
    pub platform: Option<pb::Platform>,
    /// How the steps that read a whole layer (a guard's listing, an SBOM inventory) take it
    /// into their cache keys: by its graph when the builder can, so that a fresh CI runner
    /// finds the step in an imported cache without pulling and unpacking the layer (by
    /// content, BuildKit's default, it must load the layer to checksum it first).
    pub layer_key: MountKey,
}

impl OwnImage {
    /// From the definition BuildKit gave the frontend and the binary's path.
    ///
    /// Errors: a definition that does not end in one result.
    pub fn from_definition(def: &pb::Definition, binary: &str) -> Result<Self, String> {
        let image = State::from_definition(def)?;
        let platform = def
            .def
            .iter()
            .filter_map(|b| llb_graph::decode_op(b).ok())
            .find_map(|op| match &op.op {
                Some(pb::op::Op::Source(_)) => op.platform.clone(),
                _ => None,
            });
        Ok(OwnImage {
            image,
            binary: binary.to_string(),
            platform,
            layer_key: MountKey::Content,
        })
    }

    /// Reads [`METADATA`]; `Ok(None)` when it is absent (the frontend was not started by a
    /// BuildKit gateway, or by one older than 0.10).
    ///
    /// Errors: the file exists but cannot be read or decoded.
    pub fn load() -> Result<Option<Self>, String> {
        use prost::Message;
        let bytes = match std::fs::read(METADATA) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{METADATA}: {e}")),
        };
        let def =
            pb::Definition::decode(bytes.as_slice()).map_err(|e| format!("{METADATA}: {e}"))?;
        let binary = std::env::current_exe()
            .map_err(|e| format!("cannot tell where the frontend binary is: {e}"))?;
        Self::from_definition(&def, &binary.to_string_lossy()).map(Some)
    }
}

/// The error when the builder gave no [`OwnImage`] but the guards need one.
pub fn no_own_image() -> crate::session::failure::Failure {
    crate::session::failure::Failure::new(
        Code::FailedPrecondition,
        format!(
            "the merge guards run in a build step from the frontend's own image, but the builder did not give the frontend its definition ({METADATA}; BuildKit 0.10 and later do)"
        ),
    )
}

/// A step that runs `aishell-frontend guard-step <kind> <request>` in the frontend's own
/// image, without network, with the root thrown away and [`step::OUT`] as its only
/// output (the guards' steps and the SBOM's inventories).
pub fn own_step(own: &OwnImage, kind: &str, request: String) -> Exec {
    let mut e = Exec::new(
        own.image.clone(),
        [own.binary.clone(), step::ARG.into(), kind.into(), request],
    )
    .network(NetMode::None)
    .mount(
        step::OUT,
        MountKind::Output {
            base: State::scratch(),
        },
    )
    .discard_root();
    if let Some(p) = &own.platform {
        e = e.platform(p.clone());
    }
    e
}

fn build(e: Exec, meta: Meta) -> State {
    // The only output is the OUT mount.
    e.build_outputs(meta).swap_remove(0)
}

/// The step that lists `req`'s folders of `layer`; its output holds [`step::FACTS_FILE`].
pub fn facts(own: &OwnImage, layer: &State, req: &FactsRequest, meta: Meta) -> State {
    // Serialising a struct of strings cannot fail.
    let json = serde_json::to_string(req).unwrap_or_default();
    let e = own_step(own, "facts", json).mount(
        step::LAYER,
        MountKind::ReadOnly {
            state: layer.clone(),
            selector: String::new(),
            key: own.layer_key,
        },
    );
    build(e, meta)
}

/// The facts steps' outputs a verdict judges.
#[derive(Debug, Clone, Default)]
pub struct FactsStates {
    /// Per tool, in the order of the request.
    pub tools: Vec<State>,
    /// The image below the harness, when the request needs it.
    pub below: Option<State>,
    /// The foundation, when the request checks the extension.
    pub foundation: Option<State>,
}

/// The step that judges `facts` for `req`; its output holds [`step::VERDICT_FILE`].
pub fn verdict(own: &OwnImage, req: &VerdictRequest, facts: &FactsStates, meta: Meta) -> State {
    let json = serde_json::to_string(req).unwrap_or_default();
    let mut e = own_step(own, "verdict", json);
    let mount = |e: Exec, dir: &str, state: &State| {
        e.mount(
            &format!("{}/{dir}", step::FACTS),
            MountKind::ReadOnly {
                state: state.clone(),
                selector: String::new(),
                // The facts are a few hundred bytes: loading them costs nothing.
                key: MountKey::Content,
            },
        )
    };
    for (i, t) in facts.tools.iter().enumerate() {
        e = mount(e, &step::tool_dir(i), t);
    }
    if let Some(b) = &facts.below {
        e = mount(e, "below", b);
    }
    if let Some(f) = &facts.foundation {
        e = mount(e, "foundation", f);
    }
    build(e, meta)
}

// --- Running the guards in a build -------------------------------------------------------

/// What the guards of one platform check, and where their steps show up.
pub(crate) struct GuardRun<'a> {
    pub(crate) conv: &'a convert::Conversion,
    pub(crate) prefix: &'a str,
    /// The platform, in a build of several platforms: the steps' progress names show it.
    pub(crate) shown: Option<&'a Platform>,
}

/// Runs the merge guards (see [`guards`]) on the built layers of `conv`: a facts step per
/// layer and a verdict step over them, solved together; the frontend reads the verdict.
/// Returns the verdict's state when there were layers to check, for [`with_verdict`].
pub(crate) async fn check_guards<B: Bridge>(
    b: &B,
    opts: &Options,
    file: &SpecLocal,
    own: Option<&OwnImage>,
    run: GuardRun<'_>,
) -> Result<Option<State>, Failure> {
    let GuardRun {
        conv,
        prefix,
        shown,
    } = run;
    let wanted = opts.target.def().guards;
    let harness: Vec<&convert::Layer> = if wanted.tools {
        conv.layers
            .iter()
            .filter(|l| l.part == Part::Harness)
            .collect()
    } else {
        Vec::new()
    };
    let ext_layer = conv.layers.iter().find(|l| l.part == Part::Extension);
    let extension = wanted.extension && ext_layer.is_some();
    // The whole image below the harness (foundation plus extension) is compared with the
    // tools' folders on the way to the prefix; it is also the extension that is checked. A
    // harness-only image has nothing below it.
    let parents = wanted.parents && !harness.is_empty();
    if harness.is_empty() && !extension {
        return Ok(None);
    }
    let own = own.ok_or_else(no_own_image)?;
    let req = VerdictRequest {
        prefix: prefix.to_string(),
        tools: harness.iter().map(|l| l.name.clone()).collect(),
        parents,
        extension,
    };
    let meta = |what: &str, span: Option<Span>| {
        let m = ProgressName::new(Tag::Guards, what)
            .on(shown)
            .meta()
            .no_cache(opts.no_cache.all());
        match span {
            Some(s) => m.at(crate::graph::ops::loc(s)),
            None => m,
        }
    };
    let below_what = if extension {
        "the extension"
    } else {
        "the image below the harness"
    };
    let states = FactsStates {
        tools: harness
            .iter()
            .map(|l| {
                facts(
                    own,
                    &l.state,
                    &req.facts_for_tool(),
                    meta(&format!("list harness layer {}", l.name), Some(l.span)),
                )
            })
            .collect(),
        below: req.needs_below().then(|| {
            facts(
                own,
                &conv.extension,
                &req.facts_for_below(),
                meta(&format!("list {below_what}"), ext_layer.map(|l| l.span)),
            )
        }),
        foundation: extension.then(|| {
            facts(
                own,
                &conv.foundation,
                &req.facts_for_foundation(),
                meta("list the foundation", None),
            )
        }),
    };
    let state = verdict(own, &req, &states, meta("check the merge", None));
    let def = marshal(&state, &[file.source_file()]);
    // The verdict is built, with every layer it judges, when it is read.
    let text = async {
        let resp = b.solve(solve_request(def, opts)).await?;
        b.read_file(gw::ReadFileRequest {
            r#ref: ref_id(&resp).unwrap_or_default(),
            file_path: guards::step::VERDICT_FILE.into(),
            ..Default::default()
        })
        .await
    }
    .await
    .map_err(|s| Failure::gateway(&failing_part(&s, conv, &harness, extension), &s))?;
    let verdict: Verdict = serde_json::from_slice(&text).map_err(|e| {
        Failure::new(
            Code::Internal,
            format!("the merge guards' verdict cannot be read: {e}"),
        )
    })?;
    if verdict.tools.len() != harness.len() {
        return Err(Failure::new(
            Code::Internal,
            "the merge guards' verdict does not match the harness tools",
        ));
    }

    let mut violations: Vec<(Span, guards::Violation)> = Vec::new();
    let mut spans = BTreeMap::new();
    let mut tools = harness.iter().zip(&verdict.tools);
    for layer in &conv.layers {
        match layer.part {
            Part::Harness if wanted.tools => {
                let Some((layer, found)) = tools.next() else {
                    continue;
                };
                if !found.outside.is_empty() {
                    violations.push((
                        layer.span,
                        guards::Violation::Outside {
                            tool: layer.name.clone(),
                            paths: found.outside.clone(),
                        },
                    ));
                }
                for change in &found.parents {
                    violations.push((
                        layer.span,
                        guards::Violation::Parent {
                            tool: layer.name.clone(),
                            prefix: prefix.to_string(),
                            change: change.clone(),
                        },
                    ));
                }
                spans.insert(layer.name.clone(), layer.span);
            }
            Part::Extension if extension && !verdict.extension.is_empty() => {
                violations.push((
                    layer.span,
                    guards::Violation::ExtensionUnderPrefix {
                        paths: verdict.extension.clone(),
                    },
                ));
            }
            _ => {}
        }
    }
    for c in verdict.collisions {
        let span = c
            .tools
            .last()
            .and_then(|t| spans.get(t).copied())
            .unwrap_or_default();
        violations.push((
            span,
            guards::Violation::Collision {
                path: c.path,
                tools: c.tools,
            },
        ));
    }
    if violations.is_empty() {
        return Ok(Some(state));
    }
    let mut d = Diagnostics::new(&file.filename);
    for (span, v) in violations {
        d.push(Diagnostic::error(span, "", v.to_string()));
    }
    Err(Failure::found(
        Code::FailedPrecondition,
        "the merge guards found",
        d,
    ))
}

/// `image` with the guards' `verdict` among its inputs, adding nothing to it: the diff of a
/// state with itself is empty, and a merge leaves empty inputs out, so the layers and the
/// image are the same. It is there for the build cache: BuildKit exports (`--cache-to …,
/// mode=max`) only the steps the returned result is built from, and a verdict solved on the
/// side would not be exported. With it, a runner fed by that cache finds every layer's facts
/// and the verdict there, and never pulls a cached layer to list it.
/// `shown` is the platform in a build of several platforms.
pub(crate) fn with_verdict(image: &State, verdict: &State, shown: Option<&Platform>) -> State {
    let empty = diff(
        verdict,
        verdict,
        ProgressName::new(Tag::Guards, "verdict (adds nothing to the image)")
            .on(shown)
            .meta(),
    );
    merge(
        &[image.clone(), empty],
        ProgressName::new(Tag::Image, "with the merge guards' verdict")
            .on(shown)
            .meta(),
    )
}

/// What was being built when `s` failed, named after the part its failing step belongs to
/// (BuildKit names the step in the error's `errdefs.Vertex` detail): the foundation, the
/// extension, or a harness layer with what it installs. A step of the guards themselves, or
/// an error that names no step, is the guards'.
pub(crate) fn failing_part(
    s: &tonic::Status,
    conv: &convert::Conversion,
    harness: &[&convert::Layer],
    extension: bool,
) -> String {
    // An error may name several steps (the one that failed and those waiting on it).
    for vertex in failed_vertices(s) {
        let contains = |st: &State| op_digests(st).contains(&vertex);
        if contains(&conv.foundation) {
            return "building the foundation".into();
        }
        if contains(&conv.extension) {
            return if extension {
                "building the extension".into()
            } else {
                "building the image below the harness".into()
            };
        }
        if let Some(l) = harness.iter().find(|l| contains(&l.state)) {
            return format!("building harness layer {} ({})", l.name, l.description);
        }
    }
    "running the merge guards".into()
}

/// The digests of the steps a daemon error names (`errdefs.Vertex` in the status details).
pub(crate) fn failed_vertices(s: &tonic::Status) -> Vec<String> {
    let Ok(st) = rpc::Status::decode(s.details()) else {
        return Vec::new();
    };
    st.details
        .iter()
        .filter(|d| d.type_url.ends_with("errdefs.Vertex+json"))
        .filter_map(|d| {
            serde_json::from_slice::<serde_json::Value>(&d.value)
                .ok()?
                .get("digest")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// The digests of every op `state` is built from.
pub(crate) fn op_digests(state: &State) -> std::collections::BTreeSet<String> {
    marshal(state, &[])
        .def
        .iter()
        .map(|op| llb_graph::Digest::of(op).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use llb_graph::{Source, definition_to_json, marshal};

    fn own() -> OwnImage {
        let img = Source::image("ghcr.io/org/aishell-frontend:1@sha256:00")
            .platform(llb_graph::platform("linux", "amd64", None))
            .build(Meta::default());
        OwnImage::from_definition(&marshal(&img, &[]), "/bin/aishell-frontend").unwrap()
    }

    #[test]
    fn the_own_image_keeps_its_platform() {
        let o = own();
        assert_eq!(o.platform.unwrap().architecture, "amd64");
    }

    #[test]
    fn a_facts_step_mounts_the_layer_read_only_and_outputs_only_its_folder() {
        let layer = Source::image("docker.io/library/busybox:1").build(Meta::default());
        let req = FactsRequest {
            dirs: vec!["/".into()],
            ..Default::default()
        };
        let st = facts(&own(), &layer, &req, Meta::named("[guards] list"));
        let json = definition_to_json(&marshal(&st, &[]));
        let text = json.to_string();
        assert!(
            text.contains(r#""guard-step","facts","{\"dirs\":[\"/\"]"#),
            "{text}"
        );
        let exec = json["ops"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["op"]["exec"].is_object())
            .unwrap();
        let mounts = exec["op"]["exec"]["mounts"].as_array().unwrap();
        let by_dest = |d: &str| mounts.iter().find(|m| m["dest"] == d).unwrap().clone();
        assert_eq!(by_dest("/")["output"], -1, "the root is thrown away");
        assert_eq!(by_dest(step::LAYER)["readonly"], true);
        assert_eq!(by_dest(step::OUT)["output"], 0);
        assert_eq!(exec["op"]["exec"]["network"], 2, "no network");
    }

    #[test]
    fn a_verdict_mounts_each_facts_file_where_the_step_reads_it() {
        let o = own();
        let layer = Source::image("docker.io/library/busybox:1").build(Meta::default());
        let f = facts(&o, &layer, &FactsRequest::default(), Meta::default());
        let req = VerdictRequest {
            prefix: "/tools".into(),
            tools: vec!["a".into(), "b".into()],
            parents: true,
            extension: true,
        };
        let st = verdict(
            &o,
            &req,
            &FactsStates {
                tools: vec![f.clone(), f.clone()],
                below: Some(f.clone()),
                foundation: Some(f),
            },
            Meta::default(),
        );
        let text = definition_to_json(&marshal(&st, &[])).to_string();
        for d in ["tool-0", "tool-1", "below", "foundation"] {
            assert!(text.contains(&format!("/aishell/facts/{d}")), "{d}: {text}");
        }
    }
}
