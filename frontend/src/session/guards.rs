//! The guards as steps of the build graph: one facts step per layer, one verdict step over
//! the facts files. Both run the frontend's own binary from the frontend's own image, so they
//! need nothing the builder does not already have.
//!
//! BuildKit caches them like any other step. On a build whose layers come from a cache, a
//! layer's facts step is a cache hit keyed by that layer (the layer is neither pulled nor
//! unpacked), and a verdict whose facts did not change is a cache hit too: a cached build
//! reads one small file and makes no listing at all.

use crate::guards::facts::FactsRequest;
use crate::guards::step;
use crate::guards::verdict::VerdictRequest;
use aishell_proto::pb;
use llb_graph::{Exec, Meta, MountKind, NetMode, State};
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
