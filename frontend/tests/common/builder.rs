//! The fake builder every test that runs the frontend's session uses (flow, subrequests,
//! faults, security and the build goldens): it answers each gateway call as a working
//! BuildKit would and records every call the frontend made, so a test can look at the
//! requests afterwards.
//!
//! What it answers from is given, not found on the machine:
//! - the client's folders (`locals`): a folder on disk, or files held in memory;
//! - the images `ResolveImageConfig` knows (`images`, pinned by digest; `unpinned`, one
//!   config for any other reference);
//! - what the layers hold (`listings`) and which of them fail to build (`failing`), for
//!   the merge guards' steps, which it runs with the steps' own code;
//! - the capabilities it announces (`caps`).
//!
//! It also stands in for BuildKit's Dockerfile frontend, which it cannot run (see
//! `dockerfile_frontend`).
//!
//! No clock, no randomness, no host state but the files it is pointed at: two runs of the
//! same build send byte-identical requests.
//!
//! A test that needs the builder to behave otherwise for one call — fail it, never answer
//! it, panic, or answer it as a particular builder would — says so through [`Hooks`], and
//! leaves every other call as it is. That keeps one implementation of the gateway in the
//! tests, so what "a working builder" answers is decided in one place.

use super::{by_digest, exec_of, pong, resolved, solved, solved_with, step_failed, subgraph};
use aishell_frontend::guards::facts::{Entry, Facts, FactsRequest, Tree, gather};
use aishell_frontend::guards::step;
use aishell_frontend::guards::verdict::{VerdictRequest, judge};
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

/// A file of a [`Local::Files`]: its Go `os.FileMode` bits (what `StatFile` answers, the
/// folder bit `1 << 31` included) and its bytes.
#[derive(Debug, Clone)]
pub struct File {
    pub mode: u32,
    pub data: Vec<u8>,
}

/// A client folder the builder serves as a local.
#[derive(Debug, Clone)]
pub enum Local {
    /// A folder on disk, its files' modes answered as git records them.
    Folder(PathBuf),
    /// Files in memory, by path inside the folder: for tests that write their spec and
    /// context inline, with exactly the modes they state.
    Files(BTreeMap<String, File>),
}

impl Local {
    /// In-memory files from (path, mode, bytes).
    pub fn files<const N: usize>(files: [(&str, u32, Vec<u8>); N]) -> Self {
        Local::Files(
            files
                .into_iter()
                .map(|(path, mode, data)| (path.to_string(), File { mode, data }))
                .collect(),
        )
    }
}

/// What a layer holds, for the guards' facts steps: (text one of the layer's ops contains,
/// folder, the folder's entries as (name, is a folder)). A folder no listing names does not
/// exist, so a builder without listings has layers with nothing to complain about.
pub type Listing = (&'static str, &'static str, Vec<(&'static str, bool)>);

/// What the builder took a solve for.
#[derive(Debug, Clone, PartialEq)]
pub enum Solved {
    /// A client folder it serves: a definition whose one source is `local://NAME`.
    Local(String),
    /// The merge guards' verdict: a definition whose result is the verdict step.
    Verdict,
    /// A call to another frontend (`dockerfile.v0`).
    Frontend(String),
    /// Any other graph (the image, the SBOM): built, with no files to read.
    Graph,
}

/// Changes to the builder's behaviour for one test. Every gateway call asks the hooks
/// first, after recording the call: `None` lets the builder answer as it does, `Some`
/// is the answer instead. A hook may also never return (a builder that stops answering)
/// or panic (a failure on the builder's side of the call). The defaults change nothing.
#[allow(async_fn_in_trait)] // implemented by concrete test types only; no Send bound needed
pub trait Hooks {
    async fn ping(&self) -> Option<GwResult<gw::PongResponse>> {
        None
    }

    /// `id` is the ref the builder hands out for this solve, `what` what it takes the
    /// request for.
    async fn solve(
        &self,
        _req: &gw::SolveRequest,
        _id: &str,
        _what: &Solved,
    ) -> Option<GwResult<gw::SolveResponse>> {
        None
    }

    /// `def` is the definition whose result the read ref is (`None`: not a ref this
    /// builder handed out for a definition).
    async fn read_file(
        &self,
        _req: &gw::ReadFileRequest,
        _def: Option<&pb::Definition>,
    ) -> Option<GwResult<Vec<u8>>> {
        None
    }

    async fn stat_file(
        &self,
        _req: &gw::StatFileRequest,
    ) -> Option<GwResult<gw::StatFileResponse>> {
        None
    }

    async fn resolve_image_config(
        &self,
        _req: &gw::ResolveImageConfigRequest,
    ) -> Option<GwResult<gw::ResolveImageConfigResponse>> {
        None
    }

    async fn warn(&self, _req: &gw::WarnRequest) -> Option<GwResult<()>> {
        None
    }

    async fn return_result(&self, _req: &gw::ReturnRequest) -> Option<GwResult<()>> {
        None
    }
}

/// The builder as it is.
#[derive(Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// The builder. Give it what it serves, run the frontend against [`Builder::live`], then
/// read what it recorded (its [`Daemon`], which it derefs to).
#[derive(Debug)]
pub struct Builder<H = NoHooks> {
    /// What this test changes.
    pub hooks: H,
    daemon: Daemon,
}

/// What the builder serves and what it recorded.
#[derive(Debug)]
pub struct Daemon {
    /// The client's folders by local name: `dockerfile` (the spec's folder, as buildx sends
    /// the folder of `-f`) and `context`.
    pub locals: BTreeMap<String, Local>,
    /// The images `ResolveImageConfig` knows by reference and platform.
    pub images: Vec<PinnedImage>,
    /// The config any reference not in `images` resolves to, on any platform, with no
    /// digest (so the frontend keeps the reference as written); `None`: such a reference
    /// fails the build, as an image missing from a registry does.
    pub unpinned: Option<Value>,
    /// The LLB capabilities `Ping` announces (id, enabled).
    pub caps: Vec<(&'static str, bool)>,
    /// What the layers hold, for the guards' facts steps.
    pub listings: Vec<Listing>,
    /// Layers whose build fails: (text one of the layer's ops contains, error message). The
    /// failure comes back from the verdict's read, naming the failed step, as BuildKit
    /// reports a step that failed while building a ref's result.
    pub failing: Vec<(&'static str, &'static str)>,
    /// How many times `Ping` was called.
    pub pings: usize,
    /// Every `Solve` request, in order; solve `n` answered with ref `ref-n`.
    pub solves: Vec<gw::SolveRequest>,
    /// Every `ResolveImageConfig` request, in order.
    pub resolves: Vec<gw::ResolveImageConfigRequest>,
    /// Every `ReadFile`, as (ref, path).
    pub reads: Vec<(String, String)>,
    /// Every `StatFile`, as (ref, path).
    pub stats: Vec<(String, String)>,
    /// Every `Warn`, in order.
    pub warnings: Vec<gw::WarnRequest>,
    /// The `Return` calls (a run makes exactly one).
    pub returns: Vec<gw::ReturnRequest>,
    /// What solve `n` was taken for.
    solved: Vec<Solved>,
}

impl<H> std::ops::Deref for Builder<H> {
    type Target = Daemon;

    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl<H> std::ops::DerefMut for Builder<H> {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}

/// The builder while the frontend runs against it: the gateway calls take `&self` (the
/// frontend solves platforms side by side), so the record is behind a `RefCell`, borrowed
/// only between awaits, never while a hook runs.
pub struct Live<'a, H> {
    hooks: &'a H,
    daemon: std::cell::RefCell<&'a mut Daemon>,
}

impl Builder {
    /// A builder serving `spec_dir` as the `dockerfile` local and `context_dir` as the
    /// build context, resolving `images`.
    pub fn new(spec_dir: &Path, context_dir: &Path, images: Vec<PinnedImage>) -> Self {
        let mut b = Builder::with_locals(BTreeMap::from([
            (
                "dockerfile".to_string(),
                Local::Folder(spec_dir.to_path_buf()),
            ),
            (
                "context".to_string(),
                Local::Folder(context_dir.to_path_buf()),
            ),
        ]));
        b.images = images;
        b
    }

    /// A builder serving `spec` as `image.yaml` of the `dockerfile` local (the file name
    /// `frontend_env` names) and an empty build context, resolving no image.
    pub fn serving(spec: &str) -> Self {
        Builder::with_locals(BTreeMap::from([
            (
                "dockerfile".to_string(),
                Local::files([("image.yaml", 0o644, spec.as_bytes().to_vec())]),
            ),
            ("context".to_string(), Local::files([])),
        ]))
    }

    fn with_locals(locals: BTreeMap<String, Local>) -> Self {
        Builder {
            hooks: NoHooks,
            daemon: Daemon {
                locals,
                images: Vec::new(),
                unpinned: None,
                // What BuildKit with the containerd image store announces: merges, and local
                // sources with their options.
                caps: vec![("mergeop", true), ("diffop", true), ("source.local", true)],
                listings: Vec::new(),
                failing: Vec::new(),
                pings: 0,
                solves: Vec::new(),
                resolves: Vec::new(),
                reads: Vec::new(),
                stats: Vec::new(),
                warnings: Vec::new(),
                returns: Vec::new(),
                solved: Vec::new(),
            },
        }
    }
}

impl<H> Builder<H> {
    /// The same builder, changed by `hooks`.
    pub fn with_hooks<N: Hooks>(self, hooks: N) -> Builder<N> {
        Builder {
            hooks,
            daemon: self.daemon,
        }
    }

    /// The gateway the frontend runs against; what it records lands in this builder.
    pub fn live(&mut self) -> Live<'_, H> {
        Live {
            hooks: &self.hooks,
            daemon: std::cell::RefCell::new(&mut self.daemon),
        }
    }
}

impl Daemon {
    /// What the builder took solve `n` for: `local NAME` (a client folder), `merge guards'
    /// verdict`, `NAME frontend` (another frontend, such as the Dockerfile one), or `graph`
    /// (anything else, such as the image).
    pub fn kind(&self, n: usize) -> String {
        match &self.solved[n] {
            Solved::Local(name) => format!("local {name}"),
            Solved::Verdict => "merge guards' verdict".into(),
            Solved::Frontend(name) => format!("{name} frontend"),
            Solved::Graph => "graph".into(),
        }
    }

    /// The definition solved for `r#ref` (`None` for a ref of another frontend's result or
    /// one this builder never handed out).
    pub fn definition(&self, r#ref: &str) -> Option<&pb::Definition> {
        let n = solve_of(r#ref)?;
        self.solves.get(n)?.definition.as_ref()
    }

    /// The paths read from the local `name`, in order.
    pub fn files_read(&self, name: &str) -> Vec<&str> {
        self.reads
            .iter()
            .filter(|(r, _)| {
                solve_of(r).and_then(|n| self.solved.get(n)) == Some(&Solved::Local(name.into()))
            })
            .map(|(_, path)| path.as_str())
            .collect()
    }

    /// The definition (as llb-graph's JSON dump) of each read of the guards' verdict, in
    /// order.
    pub fn verdicts_read(&self) -> Vec<String> {
        self.reads
            .iter()
            .filter(|(r, _)| solve_of(r).and_then(|n| self.solved.get(n)) == Some(&Solved::Verdict))
            .map(|(r, _)| llb_graph::definition_to_json(self.definition(r).unwrap()).to_string())
            .collect()
    }

    /// The file `path` of the local behind `r#ref`, refusing paths that leave it (the
    /// frontend must never ask for them; a real builder would not serve them either).
    fn file(&self, r#ref: &str, path: &str) -> GwResult<FileAt<'_>> {
        let local = solve_of(r#ref).and_then(|n| match self.solved.get(n) {
            Some(Solved::Local(name)) => Some(name),
            _ => None,
        });
        let Some(name) = local else {
            return Err(tonic::Status::not_found(format!("{ref} has no files")));
        };
        self.local_file(name, path)
    }

    /// The file `path` of the local `name`.
    fn local_file(&self, name: &str, path: &str) -> GwResult<FileAt<'_>> {
        let rel = Path::new(path);
        if !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(tonic::Status::invalid_argument(format!(
                "{path} leaves the folder"
            )));
        }
        match &self.locals[name] {
            Local::Folder(dir) => Ok(FileAt::Disk(dir.join(rel))),
            Local::Files(files) => {
                // `./a/b` and `a/b` are the same file.
                let key: PathBuf = rel.components().collect();
                files
                    .get(key.to_str().unwrap())
                    .map(FileAt::Memory)
                    .ok_or_else(|| tonic::Status::not_found(format!("{name}: no {path}")))
            }
        }
    }

    /// Plays BuildKit's Dockerfile frontend, which this fake cannot run: the result is one
    /// step on the foundation input that names the Dockerfile's content digest (so it is built
    /// on the foundation, as the frontend checks, and changes exactly when the Dockerfile
    /// does), and its config is the foundation's (which `FROM aishell:base` inherits) with one
    /// variable naming that digest, so the extension's config visibly reaches the image's.
    fn dockerfile_frontend(&self, n: usize) -> GwResult<gw::SolveResponse> {
        let req = &self.solves[n];
        let input = req
            .frontend_inputs
            .get("aishell-foundation")
            .expect("the foundation is handed to the Dockerfile frontend");
        let name = &req.frontend_opt["filename"];
        let text = self.local_file("dockerfile", name)?.read()?;
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

    /// Plays BuildKit building the verdict of `def`: each facts step lists its layer (from
    /// `listings`) through the frontend's own step code, and the verdict step judges, also
    /// with the frontend's code. A layer in `failing` fails the read instead.
    fn build_verdict(&self, def: &pb::Definition) -> GwResult<Vec<u8>> {
        let ops = by_digest(def);
        let terminal = decode_op(def.def.last().unwrap()).unwrap();
        let verdict = &ops[&terminal.inputs[0].digest];
        let (args, mounts) = exec_of(verdict);
        assert_eq!(args[1..3], [step::ARG, "verdict"]);
        let req: VerdictRequest = serde_json::from_str(&args[3]).unwrap();
        let mut facts: BTreeMap<String, Facts> = BTreeMap::new();
        for m in mounts.iter().filter(|m| m.dest.starts_with(step::FACTS)) {
            let name = m.dest[step::FACTS.len() + 1..].to_string();
            let facts_op = &ops[&verdict.inputs[m.input as usize].digest];
            let (fargs, fmounts) = exec_of(facts_op);
            assert_eq!(fargs[2], "facts");
            let layer = fmounts.iter().find(|m| m.dest == step::LAYER).unwrap();
            assert!(layer.readonly, "the layer is mounted read-only");
            let layer_digest = &facts_op.inputs[layer.input as usize].digest;
            let texts = subgraph(&ops, layer_digest);
            let text = texts.iter().map(|(_, t)| t.as_str()).collect::<String>();
            if let Some((needle, message)) = self.failing.iter().find(|(n, _)| text.contains(n)) {
                let (failed, _) = texts.iter().find(|(_, t)| t.contains(needle)).unwrap();
                return Err(step_failed(message, failed));
            }
            let freq: FactsRequest = serde_json::from_str(&fargs[3]).unwrap();
            let tree = ListedTree {
                text,
                listings: &self.listings,
            };
            facts.insert(name, gather(&tree, &freq).unwrap());
        }
        let tools: Vec<Facts> = (0..req.tools.len())
            .map(|i| facts[&step::tool_dir(i)].clone())
            .collect();
        let v = judge(&req, &tools, facts.get("below"), facts.get("foundation")).unwrap();
        Ok(serde_json::to_vec(&v).unwrap())
    }
}

/// The solve that handed out `r#ref` (`ref-n`).
fn solve_of(r#ref: &str) -> Option<usize> {
    r#ref.strip_prefix("ref-")?.parse().ok()
}

/// A file found in a local.
enum FileAt<'a> {
    Disk(PathBuf),
    Memory(&'a File),
}

impl FileAt<'_> {
    fn read(&self) -> GwResult<Vec<u8>> {
        match self {
            FileAt::Disk(path) => {
                std::fs::read(path).map_err(|e| tonic::Status::not_found(format!("{path:?}: {e}")))
            }
            FileAt::Memory(f) => Ok(f.data.clone()),
        }
    }

    /// Go `os.FileMode` bits and size.
    fn stat(&self) -> GwResult<(u32, i64)> {
        match self {
            FileAt::Disk(path) => {
                let meta = std::fs::metadata(path)
                    .map_err(|e| tonic::Status::not_found(format!("{path:?}: {e}")))?;
                if !meta.is_file() {
                    return Err(tonic::Status::unimplemented("only regular files are faked"));
                }
                // Git keeps only the executable bit, and a checkout's other bits follow the
                // umask: answer what git records, so the files inlined into the graph do not
                // depend on who checked the repository out.
                use std::os::unix::fs::PermissionsExt;
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                Ok((mode, meta.len() as i64))
            }
            FileAt::Memory(f) => Ok((f.mode, f.data.len() as i64)),
        }
    }
}

/// What a definition loads: a client folder (its only source is `local://NAME` of a local
/// this builder serves), the guards' verdict (its result is the verdict step's output), or
/// another graph.
fn solved_as(def: &pb::Definition, locals: &BTreeMap<String, Local>) -> Solved {
    let ops = by_digest(def);
    // A definition is its ops plus a terminal op that names the result.
    let terminal = decode_op(def.def.last().unwrap()).unwrap();
    let result = &ops[&terminal.inputs[0].digest];
    if let Some(pb::op::Op::Exec(e)) = &result.op {
        let args = &e.meta.as_ref().unwrap().args;
        if args.len() == 4 && args[1] == step::ARG && args[2] == "verdict" {
            return Solved::Verdict;
        }
    }
    if def.def.len() == 2
        && let Some(pb::op::Op::Source(s)) = &result.op
        && let Some(name) = s.identifier.strip_prefix("local://")
        && locals.contains_key(name)
    {
        return Solved::Local(name.to_string());
    }
    Solved::Graph
}

/// A layer as the builder's listings describe it.
struct ListedTree<'a> {
    /// The layer's ops, as JSON text.
    text: String,
    listings: &'a [Listing],
}

impl Tree for ListedTree<'_> {
    fn list(&self, dir: &str) -> std::io::Result<Option<Vec<Entry>>> {
        let found = self
            .listings
            .iter()
            .find(|(needle, d, _)| self.text.contains(needle) && *d == dir);
        Ok(found.map(|(_, _, entries)| {
            entries
                .iter()
                .map(|(name, dir)| Entry {
                    name: name.to_string(),
                    dir: *dir,
                    symlink: None,
                    perm: if *dir { 0o755 } else { 0o644 },
                    uid: 0,
                    gid: 0,
                })
                .collect()
        }))
    }
}

impl<H: Hooks> Bridge for Live<'_, H> {
    async fn ping(&self) -> GwResult<gw::PongResponse> {
        self.daemon.borrow_mut().pings += 1;
        if let Some(answer) = self.hooks.ping().await {
            return answer;
        }
        Ok(pong(&self.daemon.borrow().caps))
    }

    async fn solve(&self, req: gw::SolveRequest) -> GwResult<gw::SolveResponse> {
        let (n, what) = {
            let mut d = self.daemon.borrow_mut();
            let what = if !req.frontend.is_empty() {
                Solved::Frontend(req.frontend.clone())
            } else {
                let def = req.definition.as_ref().expect("a solve of a definition");
                solved_as(def, &d.locals)
            };
            d.solves.push(req.clone());
            d.solved.push(what.clone());
            (d.solves.len() - 1, what)
        };
        let id = format!("ref-{n}");
        if let Some(answer) = self.hooks.solve(&req, &id, &what).await {
            return answer;
        }
        match &what {
            Solved::Frontend(name) if name == "dockerfile.v0" => {
                self.daemon.borrow().dockerfile_frontend(n)
            }
            Solved::Frontend(name) => Err(tonic::Status::unimplemented(format!(
                "the fake builder runs no frontend {name}"
            ))),
            _ => Ok(solved(&id, None)),
        }
    }

    async fn read_file(&self, req: gw::ReadFileRequest) -> GwResult<Vec<u8>> {
        let (def, verdict) = {
            let mut d = self.daemon.borrow_mut();
            d.reads.push((req.r#ref.clone(), req.file_path.clone()));
            let n = solve_of(&req.r#ref);
            let def = n
                .and_then(|n| d.solves.get(n))
                .and_then(|s| s.definition.clone());
            let verdict = n.and_then(|n| d.solved.get(n)) == Some(&Solved::Verdict);
            (def, verdict)
        };
        if let Some(answer) = self.hooks.read_file(&req, def.as_ref()).await {
            return answer;
        }
        let d = self.daemon.borrow();
        if verdict {
            assert_eq!(req.file_path, step::VERDICT_FILE);
            return d.build_verdict(def.as_ref().unwrap());
        }
        d.file(&req.r#ref, &req.file_path)?.read()
    }

    async fn stat_file(&self, req: gw::StatFileRequest) -> GwResult<gw::StatFileResponse> {
        self.daemon
            .borrow_mut()
            .stats
            .push((req.r#ref.clone(), req.path.clone()));
        if let Some(answer) = self.hooks.stat_file(&req).await {
            return answer;
        }
        let (mode, size) = self.daemon.borrow().file(&req.r#ref, &req.path)?.stat()?;
        Ok(gw::StatFileResponse {
            stat: Some(aishell_proto::fsutil::Stat {
                path: req.path.clone(),
                mode,
                size,
                ..Default::default()
            }),
        })
    }

    async fn resolve_image_config(
        &self,
        req: gw::ResolveImageConfigRequest,
    ) -> GwResult<gw::ResolveImageConfigResponse> {
        self.daemon.borrow_mut().resolves.push(req.clone());
        if let Some(answer) = self.hooks.resolve_image_config(&req).await {
            return answer;
        }
        let d = self.daemon.borrow();
        let platform = platform_of(req.platform.as_ref());
        let pinned = d
            .images
            .iter()
            .find(|i| i.reference == req.r#ref && i.platform == platform);
        match (pinned, &d.unpinned) {
            (Some(image), _) => {
                let config = serde_json::to_vec(&image.config).unwrap();
                Ok(resolved(req, image.digest, &config))
            }
            (None, Some(config)) => {
                let config = serde_json::to_vec(config).unwrap();
                Ok(resolved(req, "", &config))
            }
            (None, None) => Err(tonic::Status::not_found(format!(
                "the fake builder has no pinned image {} for {platform}",
                req.r#ref
            ))),
        }
    }

    async fn warn(&self, req: gw::WarnRequest) -> GwResult<()> {
        self.daemon.borrow_mut().warnings.push(req.clone());
        if let Some(answer) = self.hooks.warn(&req).await {
            return answer;
        }
        Ok(())
    }

    async fn return_result(&self, req: gw::ReturnRequest) -> GwResult<()> {
        self.daemon.borrow_mut().returns.push(req.clone());
        if let Some(answer) = self.hooks.return_result(&req).await {
            return answer;
        }
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
