//! A fake builder that answers every gateway call as a working BuildKit would, from files on
//! disk and a table of pinned images, and records what the frontend sent it. It is the one
//! to reach for when a test needs a whole build to succeed and wants to look at the requests
//! (the build goldens do); tests about a builder that misbehaves keep their own fakes.
//!
//! Its answers are fixed by its inputs only — no clock, no randomness, no host state but the
//! files it is pointed at — so two runs of the same build send byte-identical requests.

use super::{pong, resolved, solved, solved_with};
use aishell_frontend::guards::step;
use aishell_frontend::guards::verdict::{ToolVerdict, Verdict, VerdictRequest};
use aishell_frontend::session::gateway::{Bridge, GwResult};
use aishell_proto::gateway as gw;
use aishell_proto::pb;
use llb_graph::decode_op;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// An image the builder resolves: what `ResolveImageConfig` answers for `reference` on
/// `platform`. Pinning both digest and config is what makes the build's graph and image
/// config reproducible without a registry.
#[derive(Debug, Clone)]
pub struct PinnedImage {
    /// The normalised reference the frontend asks for (`docker.io/library/debian:13`).
    pub reference: &'static str,
    /// `os/arch[/variant]`.
    pub platform: &'static str,
    /// The manifest digest the registry would resolve the reference to on that platform.
    pub digest: &'static str,
    /// The image config JSON.
    pub config: Value,
}

/// Where a solved ref's files come from, for `ReadFile` and `StatFile`.
#[derive(Debug, Clone, PartialEq)]
enum Loaded {
    /// A folder of the client: a `local://NAME` source, and the folder that stands for it.
    Folder(String, PathBuf),
    /// The merge guards' verdict step, answered with a clean verdict.
    Verdict(VerdictRequest),
    /// Anything else: no files to read.
    Opaque,
}

/// The builder. Fill `locals` and `images`, run the frontend against it, then read what it
/// recorded.
#[derive(Debug, Default)]
pub struct Builder {
    /// The client's folders by local name: `dockerfile` (the spec's folder, as buildx sends
    /// the folder of `-f`) and `context`.
    pub locals: BTreeMap<String, PathBuf>,
    /// The images `ResolveImageConfig` knows; any other reference fails the build.
    pub images: Vec<PinnedImage>,
    /// Every `Solve` request, in order; solve `n` answered with ref `ref-n`.
    pub solves: Vec<gw::SolveRequest>,
    /// Every `ResolveImageConfig` request, in order.
    pub resolves: Vec<gw::ResolveImageConfigRequest>,
    /// Every `ReadFile`, as (ref, path).
    pub reads: Vec<(String, String)>,
    /// The `Return` calls (a run makes exactly one).
    pub returns: Vec<gw::ReturnRequest>,
    /// What each ref holds.
    loaded: BTreeMap<String, Loaded>,
}

impl Builder {
    /// A builder serving `spec_dir` as the `dockerfile` local and `context_dir` as the
    /// build context, resolving `images`.
    pub fn new(spec_dir: &Path, context_dir: &Path, images: Vec<PinnedImage>) -> Self {
        Builder {
            locals: BTreeMap::from([
                ("dockerfile".to_string(), spec_dir.to_path_buf()),
                ("context".to_string(), context_dir.to_path_buf()),
            ]),
            images,
            ..Default::default()
        }
    }

    /// What the builder took solve `n` for: `local NAME` (a client folder), `merge guards'
    /// verdict`, `Dockerfile frontend`, or `graph` (anything else, such as the image).
    pub fn kind(&self, n: usize) -> String {
        match self.loaded.get(&format!("ref-{n}")) {
            Some(Loaded::Folder(name, _)) => format!("local {name}"),
            Some(Loaded::Verdict(_)) => "merge guards' verdict".into(),
            Some(Loaded::Opaque) if !self.solves[n].frontend.is_empty() => {
                format!("{} frontend", self.solves[n].frontend)
            }
            _ => "graph".into(),
        }
    }

    /// The file `path` of the folder behind `r#ref`, refusing paths that leave it (the
    /// frontend must never ask for them; a real builder would not serve them either).
    fn file(&self, r#ref: &str, path: &str) -> GwResult<PathBuf> {
        let Some(Loaded::Folder(_, dir)) = self.loaded.get(r#ref) else {
            return Err(tonic::Status::not_found(format!("{ref} has no files")));
        };
        let rel = Path::new(path);
        if !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(tonic::Status::invalid_argument(format!(
                "{path} leaves the folder"
            )));
        }
        Ok(dir.join(rel))
    }

    /// Plays BuildKit's Dockerfile frontend, which this fake cannot run: the result is one
    /// step on the foundation input that names the Dockerfile's content digest (so it is built
    /// on the foundation, as the frontend checks, and changes exactly when the Dockerfile
    /// does), and its config is the foundation's (which `FROM aishell:base` inherits) with one
    /// variable naming that digest, so the extension's config visibly reaches the image's.
    fn dockerfile_frontend(&self, req: &gw::SolveRequest, n: usize) -> GwResult<gw::SolveResponse> {
        let input = req
            .frontend_inputs
            .get("aishell-foundation")
            .expect("the foundation is handed to the Dockerfile frontend");
        let name = &req.frontend_opt["filename"];
        let dir = &self.locals["dockerfile"];
        let text = std::fs::read(dir.join(name))
            .map_err(|e| tonic::Status::not_found(format!("{name}: {e}")))?;
        let marker = format!("{name}@sha256:{}", hex::encode(Sha256::digest(&text)));
        let base = llb_graph::State::from_definition(input).unwrap();
        let platform = req.frontend_opt["platform"].clone();
        let st = llb_graph::Exec::new(base, ["/bin/sh", "-c", &format!(": stand-in for {marker}")])
            .build(llb_graph::Meta::named(format!(
                "[stand-in Dockerfile frontend] {marker} for {platform}"
            )));
        // The foundation's config, as the option `input-metadata:aishell-foundation` hands it
        // over (base64 of the JSON).
        let meta: Value =
            serde_json::from_str(&req.frontend_opt["input-metadata:aishell-foundation"]).unwrap();
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(meta["containerimage.config"].as_str().unwrap())
            .unwrap();
        let mut config: Value = serde_json::from_slice(&raw).unwrap();
        let env = config["config"]["Env"].as_array_mut();
        let var = json!(format!("AISHELL_STANDIN_DOCKERFILE={marker}"));
        match env {
            Some(env) => env.push(var),
            None => config["config"]["Env"] = json!([var]),
        }
        let metadata = BTreeMap::from([(
            "containerimage.config".to_string(),
            serde_json::to_vec(&config).unwrap(),
        )]);
        Ok(solved_with(
            &format!("ref-{n}"),
            Some(llb_graph::marshal(&st, &[])),
            metadata,
        ))
    }
}

/// What a definition loads: a client folder (its only source is `local://NAME`), the
/// guards' verdict (its result is the verdict step's output), or something else.
fn loaded(def: &pb::Definition, locals: &BTreeMap<String, PathBuf>) -> Loaded {
    let ops: Vec<pb::Op> = def.def.iter().map(|b| decode_op(b).unwrap()).collect();
    for op in &ops {
        if let Some(pb::op::Op::Exec(e)) = &op.op {
            let args = &e.meta.as_ref().unwrap().args;
            if args.len() == 4 && args[1] == step::ARG && args[2] == "verdict" {
                return Loaded::Verdict(serde_json::from_str(&args[3]).unwrap());
            }
        }
    }
    // A definition is its ops plus a terminal op that names the result; a local load is a
    // single source op.
    if let [op, _terminal] = ops.as_slice()
        && let Some(pb::op::Op::Source(s)) = &op.op
        && let Some(name) = s.identifier.strip_prefix("local://")
    {
        return match locals.get(name) {
            Some(dir) => Loaded::Folder(name.to_string(), dir.clone()),
            None => Loaded::Opaque,
        };
    }
    Loaded::Opaque
}

impl Bridge for Builder {
    async fn ping(&mut self) -> GwResult<gw::PongResponse> {
        Ok(pong(&[
            ("mergeop", true),
            ("diffop", true),
            ("source.local", true),
        ]))
    }

    async fn solve(&mut self, req: gw::SolveRequest) -> GwResult<gw::SolveResponse> {
        let n = self.solves.len();
        let id = format!("ref-{n}");
        let resp = if req.frontend == "dockerfile.v0" {
            self.loaded.insert(id.clone(), Loaded::Opaque);
            self.dockerfile_frontend(&req, n)
        } else {
            let def = req.definition.as_ref().expect("a solve of a definition");
            self.loaded.insert(id.clone(), loaded(def, &self.locals));
            Ok(solved(&id, None))
        };
        self.solves.push(req);
        resp
    }

    async fn read_file(&mut self, req: gw::ReadFileRequest) -> GwResult<Vec<u8>> {
        self.reads.push((req.r#ref.clone(), req.file_path.clone()));
        if let Some(Loaded::Verdict(v)) = self.loaded.get(&req.r#ref) {
            assert_eq!(req.file_path, step::VERDICT_FILE);
            // Nothing to complain about: every tool clean, no extension under the prefix,
            // no collision.
            let verdict = Verdict {
                tools: vec![ToolVerdict::default(); v.tools.len()],
                ..Default::default()
            };
            return Ok(serde_json::to_vec(&verdict).unwrap());
        }
        let path = self.file(&req.r#ref, &req.file_path)?;
        std::fs::read(&path).map_err(|e| tonic::Status::not_found(format!("{path:?}: {e}")))
    }

    async fn stat_file(&mut self, req: gw::StatFileRequest) -> GwResult<gw::StatFileResponse> {
        let path = self.file(&req.r#ref, &req.path)?;
        let meta = std::fs::metadata(&path)
            .map_err(|e| tonic::Status::not_found(format!("{path:?}: {e}")))?;
        if !meta.is_file() {
            return Err(tonic::Status::unimplemented("only regular files are faked"));
        }
        // Git keeps only the executable bit, and a checkout's other bits follow the umask:
        // answer what git records, so the files inlined into the graph do not depend on who
        // checked the repository out.
        use std::os::unix::fs::PermissionsExt;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        Ok(gw::StatFileResponse {
            stat: Some(aishell_proto::fsutil::Stat {
                path: req.path.clone(),
                mode,
                size: meta.len() as i64,
                ..Default::default()
            }),
        })
    }

    async fn resolve_image_config(
        &mut self,
        req: gw::ResolveImageConfigRequest,
    ) -> GwResult<gw::ResolveImageConfigResponse> {
        self.resolves.push(req.clone());
        let platform = platform_of(req.platform.as_ref());
        let Some(image) = self
            .images
            .iter()
            .find(|i| i.reference == req.r#ref && i.platform == platform)
        else {
            return Err(tonic::Status::not_found(format!(
                "the fake builder has no pinned image {} for {platform}",
                req.r#ref
            )));
        };
        let config = serde_json::to_vec(&image.config).unwrap();
        Ok(resolved(req, image.digest, &config))
    }

    async fn warn(&mut self, _req: gw::WarnRequest) -> GwResult<()> {
        Ok(())
    }

    async fn return_result(&mut self, req: gw::ReturnRequest) -> GwResult<()> {
        self.returns.push(req);
        Ok(())
    }
}

/// `os/arch[/variant]` of a request's platform (empty without one).
pub fn platform_of(p: Option<&pb::Platform>) -> String {
    match p {
        None => String::new(),
        Some(p) if p.variant.is_empty() => format!("{}/{}", p.os, p.architecture),
        Some(p) => format!("{}/{}/{}", p.os, p.architecture, p.variant),
    }
}
