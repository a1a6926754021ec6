//! Conversion: a resolved spec to an LLB graph and an image config.
//!
//! A pure function of its inputs — the resolved spec, the options, the builder's
//! capabilities and the image configs resolved beforehand — so the same inputs always
//! give the same graph (and the same digests, which are users' cache keys). No I/O here:
//! the gateway resolves images and solves; this module only describes.
//!
//! The image is `Merge(foundation, Diff(foundation, extension), tool₁, …, toolₙ)` in
//! `image.order`. Each npm tool is installed on the foundation and diffed, so its layer
//! depends on the foundation and its own version only; each binary is downloaded by
//! BuildKit (checksum pinned) and placed by file operations on scratch, so its layer
//! depends on nothing else at all.

use crate::graph::context::ContextFiles;
use crate::graph::cross::CrossBase;
use crate::graph::image_config::{ImageConfig, rfc3339};
use crate::graph::options::{MergeMode, Network, Options};
use crate::graph::targets::Target;
use crate::spec::platform::Platform;
use crate::spec::yaml::Span;
use crate::spec::{
    BinaryTool, CopySource, Extension, NpmTool, Part, PerPlatform, ResolvedSpec, Spanned, Steps,
};
use llb_graph::{
    CopyOptions, Exec, FileOp, FileRef, Location, Meta, MountKind, NetMode, Source, State, diff,
    merge,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the builder can do, from `Ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// `mergeop` and `diffop` are both present and enabled.
    pub merge_diff: bool,
}

/// An image the spec refers to, as the builder resolved it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// Normalised reference to use in the source op (pinned when the builder gave a digest).
    pub reference: String,
    /// The image's config JSON.
    pub config: Value,
    /// Where its layers come from.
    pub origin: ImageOrigin,
}

/// Where an image's layers come from: a registry, or what a named context
/// (`--build-context <image>=…`) puts in its place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ImageOrigin {
    /// A registry or the builder's image store, by [`ImageInfo::reference`] (a
    /// `docker-image://` context only changes that reference).
    #[default]
    Registry,
    /// An OCI layout the client sends (`oci-layout://…`); the reference is
    /// `<image>@<digest>`.
    OciLayout {
        /// The client's session.
        session: String,
        /// The layout's store id in that session.
        store: String,
    },
    /// A folder the client sends: its files are the image, with no config.
    Local {
        /// The local's name in the session.
        name: String,
        /// The client's session.
        session: String,
    },
}

/// The result of the extension Dockerfile, built by BuildKit's Dockerfile frontend.
#[derive(Debug, Clone)]
pub struct DockerfileExtension {
    /// Its final state (built on the very foundation vertex we pass in).
    pub state: State,
    /// Its image config.
    pub config: Value,
}

/// Everything conversion reads.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The spec, resolved for one platform.
    pub spec: &'a ResolvedSpec,
    /// Frontend options.
    pub options: &'a Options,
    /// Builder capabilities.
    pub caps: Caps,
    /// Resolved images by the normalised reference written in the spec.
    pub images: &'a BTreeMap<String, ImageInfo>,
    /// The build context (`local://context`), restricted to what the spec copies and
    /// `context_files` does not hold.
    pub context: State,
    /// Small context files read beforehand: their copies write them from the graph
    /// (see [`crate::graph::context`]).
    pub context_files: &'a ContextFiles,
    /// The extension Dockerfile's result, when the spec has one.
    pub dockerfile_extension: Option<DockerfileExtension>,
    /// Prefix progress names with the platform (multi-platform builds).
    pub show_platform: bool,
    /// The build machine's foundation, when npm tools are cross-installed for this
    /// platform ([`crate::graph::cross::applies`]).
    pub cross: Option<crate::graph::cross::CrossBase>,
}

/// What a layer of the result is, for people (`plan`, progress, guards).
#[derive(Debug, Clone)]
pub struct Layer {
    /// Which part it belongs to.
    pub part: Part,
    /// Tool name for harness layers (`@openai/codex`, `gitleaks`), else the part name.
    pub name: String,
    /// Version for harness layers.
    pub version: Option<String>,
    /// What it contains, in words.
    pub description: String,
    /// The state that *is* the layer (a diff or a scratch-rooted tool tree).
    pub state: State,
    /// Where the part or tool is written in the spec.
    pub span: Span,
}

/// The graph and config for one platform.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The result state.
    pub state: State,
    /// The image config.
    pub config: ImageConfig,
    /// The merge inputs, bottom to top (foundation, extension, tools), for people.
    pub layers: Vec<Layer>,
    /// The foundation state (the extension Dockerfile builds on it).
    pub foundation: State,
    /// The foundation plus the extension, as built (equal to `foundation` without one).
    pub extension: State,
    /// The config of the image the result starts from (`foundation.from`), for the
    /// exporter (`containerimage.base.config`): with `rewrite-timestamp=true` it leaves the
    /// layers that are the base image's as they are. `None` for the harness target, which
    /// starts from scratch.
    pub base_config: Option<Value>,
    /// What the SBOM (`--sbom`) reads and lists for this target.
    pub sbom: crate::sbom::Parts,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

impl Conversion {
    /// The base for cross installs that this conversion (of the build platform's foundation,
    /// with [`CrossBase::options`]) is, for `platform` (the build machine's).
    pub fn into_cross_base(self, platform: Platform) -> CrossBase {
        CrossBase {
            platform,
            foundation: self.foundation,
            config: self.config,
        }
    }
}

/// Why conversion failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// The builder cannot merge and the user did not opt into stacking.
    NoMergeOp,
    /// Anything else, with a message and an optional spec position.
    Invalid(String, Option<Span>),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::NoMergeOp => f.write_str(NO_MERGE_MESSAGE),
            ConvertError::Invalid(m, _) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConvertError {}

/// What the user reads when the builder has no MergeOp/DiffOp.
pub const NO_MERGE_MESSAGE: &str = "this builder cannot merge layers: BuildKit's mergeop/diffop capabilities are disabled or missing (Docker Engine's classic image store disables them; BuildKit older than 0.10 lacks them). Ways out: (1) enable the containerd image store in Docker (daemon.json: {\"features\": {\"containerd-snapshotter\": true}}) or use a docker-container builder (`docker buildx create --use`); or (2) build a stacked image in the same order with `--build-arg AISHELL_MERGE=stack` (layers are then no longer shared between projects and a harness bump rebuilds everything above the foundation)";

pub(crate) fn loc(span: Span) -> Location {
    Location {
        source_index: 0,
        start_line: i32::try_from(span.start.line).unwrap_or(i32::MAX),
        start_col: 0,
        end_line: i32::try_from(span.end.line.max(span.start.line)).unwrap_or(i32::MAX),
        end_col: 0,
    }
}

/// Shortens a shell command for a progress line.
fn short(cmd: &str) -> String {
    let one_line: String = cmd.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        let cut: String = one_line.chars().take(77).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

/// A version-looking token of a URL (`v8.30.0` → `8.30.0`), for labels of binaries.
fn version_from_url(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    for seg in path.rsplit('/') {
        for tok in seg.split(['_', '-', '/']) {
            let t = tok.strip_prefix('v').unwrap_or(tok);
            let t = t
                .strip_suffix(".tar.gz")
                .or_else(|| t.strip_suffix(".tgz"))
                .or_else(|| t.strip_suffix(".zip"))
                .unwrap_or(t);
            let parts: Vec<&str> = t.split('.').collect();
            if parts.len() >= 2
                && parts.len() <= 4
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            {
                return Some(t.to_string());
            }
        }
    }
    None
}

struct Ctx<'a> {
    input: &'a Input<'a>,
    platform: Platform,
    pb_platform: llb_graph::pb::Platform,
    epoch: Option<i64>,
    created: Option<String>,
    history: Vec<(String, bool)>,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    fn name(&self, part: &str, what: &str) -> String {
        // In a stacked build every step says so: old daemons cannot show warnings, but
        // every client shows vertex names.
        let stacked = if self.input.options.merge_mode == MergeMode::Stack {
            ", stacked"
        } else {
            ""
        };
        if self.input.show_platform {
            format!("[{}] [{part}{stacked}] {what}", self.platform)
        } else {
            format!("[{part}{stacked}] {what}")
        }
    }

    fn meta(&self, part: &str, what: &str, span: Span) -> Meta {
        Meta::named(self.name(part, what))
            .at(loc(span))
            .no_cache(self.input.options.no_cache.part(part))
    }

    fn image(&self, written: &str) -> Result<&ImageInfo, ConvertError> {
        let key = crate::spec::reference::normalize(written)
            .map_err(|e| ConvertError::Invalid(e, None))?;
        self.input.images.get(&key).ok_or_else(|| {
            ConvertError::Invalid(format!("image `{written}` was not resolved"), None)
        })
    }

    fn image_source(&self, info: &ImageInfo, part: &str, span: Span) -> State {
        let short_ref = info.reference.split('@').next().unwrap_or(&info.reference);
        match &info.origin {
            ImageOrigin::Registry => {}
            ImageOrigin::OciLayout { session, store } => {
                return Source::oci_layout(&info.reference, session, store)
                    .platform(self.pb_platform.clone())
                    .build(self.meta(
                        part,
                        &format!("from {short_ref} (OCI layout from the client)"),
                        span,
                    ));
            }
            ImageOrigin::Local { name, session } => {
                return Source::local(name)
                    .attr("local.session", session.clone())
                    .cap("source.local.sessionid")
                    .build(self.meta(part, &format!("from the folder of context {name}"), span));
            }
        }
        let mut s = Source::image(&info.reference).platform(self.pb_platform.clone());
        if let Some(mode) = &self.input.options.image_resolve_mode
            && mode != "default"
        {
            s = s.attr("image.resolvemode", mode.clone());
            if mode == "pull" {
                s = s.cap("source.image.resolvemode");
            }
        }
        s.build(self.meta(part, &format!("from {short_ref}"), span))
    }

    /// Applies apt, copy and run steps on `state` with `env` (updated by `steps.env`).
    fn steps(
        &mut self,
        mut state: State,
        steps: &Steps,
        part: &str,
        config: &mut ImageConfig,
    ) -> Result<State, ConvertError> {
        for kv in &steps.env {
            config.set_env(&kv.key.value, &kv.value.value);
        }
        let env = config.env_list();
        let user = config.string("User").unwrap_or_default();
        let cwd = config
            .string("WorkingDir")
            .filter(|w| w.starts_with('/'))
            .unwrap_or_else(|| "/".into());
        let options = self.input.options;
        let exec = |root: State, cmd: &str| {
            let mut e = with_run_options(
                Exec::new(root, ["/bin/sh", "-c", cmd])
                    .cwd(&cwd)
                    .user(&user)
                    .platform(self.pb_platform.clone()),
                options,
            );
            for kv in &env {
                if let Some((k, v)) = kv.split_once('=') {
                    e = e.env(k, v);
                }
            }
            if !env.iter().any(|e| e.starts_with("PATH=")) {
                e = e.env("PATH", crate::graph::image_config::DEFAULT_PATH);
            }
            e
        };
        if !steps.apt.is_empty() {
            let pkgs: Vec<&str> = steps.apt.iter().map(|p| p.value.as_str()).collect();
            let cmd = format!(
                "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq --no-install-recommends {}",
                pkgs.join(" ")
            );
            let arch = self.platform.to_string().replace('/', "-");
            let first = steps.apt[0].span;
            let last = steps.apt[steps.apt.len() - 1].span;
            let span = Span {
                start: first.start,
                end: last.end,
            };
            state = exec(state, &cmd)
                .mount(
                    "/var/cache/apt",
                    MountKind::Cache {
                        id: format!("aishell-apt-cache-{arch}"),
                        locked: true,
                    },
                )
                .mount(
                    "/var/lib/apt/lists",
                    MountKind::Cache {
                        id: format!("aishell-apt-lists-{arch}"),
                        locked: true,
                    },
                )
                .build(self.meta(
                    part,
                    &format!("apt-get install {}", short(&pkgs.join(" "))),
                    span,
                ));
            self.history
                .push((format!("apt-get install {}", pkgs.join(" ")), false));
        }
        for c in &steps.copy {
            let ts = self.epoch.map(|e| e * 1_000_000_000);
            // An inlined file's permission bits are set by the copy too: they then do not
            // depend on the umask under which BuildKit writes the file.
            let mut mode = c.mode.as_ref().map(|m| m.value);
            let (src, src_path, what, op) = match &c.from {
                CopySource::Context => {
                    let p = c.src.value.trim_start_matches("./");
                    let what = format!("copy {p} -> {}", c.dest.value);
                    match self.input.context_files.get(p) {
                        // Written from the graph into this op's scratch area under its own
                        // name (a directory destination keeps it), then copied like the
                        // context's file: same options, a key that is the graph's alone.
                        Some(f) => {
                            mode = mode.or(Some(f.mode));
                            let name = p.rsplit('/').next().unwrap_or(p);
                            let op = FileOp::on(State::scratch())
                                .mkfile_with(
                                    &format!("/{name}"),
                                    f.mode,
                                    f.data.clone(),
                                    None,
                                    Some(ts.unwrap_or(0)),
                                )
                                .base(FileRef::State(state.clone()));
                            (FileRef::Action(0), format!("/{name}"), what, op)
                        }
                        None => (
                            FileRef::State(self.input.context.clone()),
                            format!("/{p}"),
                            what,
                            FileOp::on(state.clone()),
                        ),
                    }
                }
                CopySource::Image(img) => {
                    let info = self.image(&img.value)?.clone();
                    let st = self.image_source(&info, part, img.span);
                    (
                        FileRef::State(st),
                        c.src.value.clone(),
                        format!("copy {}:{} -> {}", img.value, c.src.value, c.dest.value),
                        FileOp::on(state.clone()),
                    )
                }
            };
            let opts = CopyOptions {
                mode,
                owner: c.owner.as_ref().map(|o| (o.value.uid, o.value.gid)),
                create_dest_path: true,
                dir_copy_contents: true,
                follow_symlink: true,
                allow_wildcard: true,
                timestamp: ts,
                ..CopyOptions::default()
            };
            state = op
                .copy_from(src, &src_path, &c.dest.value, opts)
                .build(self.meta(part, &what, c.span));
            self.history.push((what, false));
        }
        for r in &steps.run {
            state = exec(state, &r.value).build(self.meta(
                part,
                &format!("run {}", short(&r.value)),
                r.span,
            ));
            self.history
                .push((format!("/bin/sh -c {}", r.value), false));
        }
        Ok(state)
    }

    /// Installs `tool` under `prefix` on `base`. With `cross` (the build machine's platform),
    /// `base` is the build machine's foundation and the install is for this conversion's
    /// platform: npm's `--os`/`--cpu`, no install scripts, and a check of the ELF files.
    fn npm_install(
        &self,
        base: State,
        tool: &NpmTool,
        prefix: &str,
        config: &ImageConfig,
        cross: Option<&Platform>,
    ) -> State {
        let spec = format!("{}@{}", tool.package.value, tool.version.value);
        let npm = format!(
            "npm install --global --prefix {prefix}/npm --no-audit --no-fund --no-update-notifier --loglevel=error"
        );
        let install = match cross {
            Some(build) => crate::graph::cross::install_command(
                &npm,
                &format!("{prefix}/npm"),
                &tool.package.value,
                &tool.version.value,
                &self.platform,
                build,
            ),
            None => format!("{npm} {spec};"),
        };
        // The layer is Diff(foundation, installed): a file the install deleted outside the
        // prefix would be a deletion in the layer and remove that file from the image below
        // it, and a deletion does not show when the layer is listed (the merge guards).
        // So the step lists the root file system (not the prefix, not other mounts such as
        // /tmp and npm's cache) before and after the install and fails, naming the paths,
        // when something disappeared. Only an install script of a package can do that.
        let list = format!("find / -xdev -path {prefix} -prune -o -print | LC_ALL=C sort");
        let cmd = format!(
            "set -e; {list} > /tmp/.aishell-before; \
             {install} \
             {list} > /tmp/.aishell-after; \
             gone=$(LC_ALL=C comm -23 /tmp/.aishell-before /tmp/.aishell-after | head -n 20); \
             if [ -n \"$gone\" ]; then echo \"npm install of {spec} deleted files outside {prefix} (a harness layer may only add files under the prefix; the deletions would remove them from the image):\" >&2; echo \"$gone\" >&2; exit 1; fi"
        );
        let platform = match cross {
            Some(b) => llb_graph::platform(&b.os, &b.arch, b.variant.as_deref()),
            None => self.pb_platform.clone(),
        };
        let mut e = with_run_options(
            Exec::new(base, ["/bin/sh", "-c", cmd.as_str()]).platform(platform),
            self.input.options,
        );
        if cross.is_some() {
            for (k, v) in crate::graph::cross::install_env(&self.platform) {
                e = e.env(k, &v);
            }
        }
        for kv in config.env_list() {
            if let Some((k, v)) = kv.split_once('=') {
                e = e.env(k, v);
            }
        }
        if config.env("PATH").is_none() {
            e = e.env("PATH", crate::graph::image_config::DEFAULT_PATH);
        }
        // npm's cache and temp files go to mounts, so they never land in the layer.
        e = e
            .env("npm_config_cache", "/var/cache/aishell-npm")
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false")
            .env("HOME", "/tmp/aishell-home")
            .mount(
                "/var/cache/aishell-npm",
                MountKind::Cache {
                    id: "aishell-npm-cache".into(),
                    locked: false,
                },
            )
            .mount("/tmp", MountKind::Tmpfs);
        if let Some(secret) = &self.input.spec.spec.harness.npm_secret {
            let path = "/run/secrets/aishell-npmrc";
            e = e.env("NPM_CONFIG_USERCONFIG", path).mount(
                path,
                MountKind::Secret {
                    id: secret.value.clone(),
                    uid: 0,
                    gid: 0,
                    mode: 0o400,
                    optional: false,
                },
            );
        }
        let name = match cross {
            Some(b) => format!("npm {spec} (cross-installed on {b})"),
            None => format!("npm {spec}"),
        };
        e.build(self.meta("harness", &name, tool.package.span))
    }

    /// A binary tool: download (checksum pinned), extract if asked, place at
    /// `<prefix>/bin/<name>` — file operations only, on scratch or on `base` (stacking).
    fn binary(&self, base: State, b: &BinaryTool, prefix: &str) -> Result<State, ConvertError> {
        let (PerPlatform::One(url), PerPlatform::One(sum)) = (&b.url, &b.sha256) else {
            return Err(ConvertError::Invalid(
                format!(
                    "binary `{}` was not resolved for {}",
                    b.name.value, self.platform
                ),
                Some(b.span),
            ));
        };
        let file_name = url
            .value
            .split(['?', '#'])
            .next()
            .and_then(|p| p.rsplit('/').next())
            .filter(|n| crate::spec::validate::valid_file_name(n))
            .unwrap_or(&b.name.value)
            .to_string();
        let download = Source::http(&url.value)
            .attr("http.checksum", format!("sha256:{}", sum.value))
            .cap("source.http.checksum")
            .attr("http.filename", file_name.clone())
            .build(self.meta("harness", &format!("download {}", b.name.value), url.span));
        let dest = format!("{prefix}/bin/{}", b.name.value);
        let ts = self.epoch.map(|e| e * 1_000_000_000);
        // The binary is first staged as `<STAGE><prefix>/bin/<name>` in a scratch area of
        // this same op (never exported: only the last action's result is the op's output),
        // then the staged tree is copied onto `base` in one copy with the timestamp. Placing
        // the file directly would leave `<prefix>` and `<prefix>/bin` with the build's
        // time (writing a file into a folder bumps the folder's mtime after any mkdir
        // timestamp), so the layer would differ on every cold build even with
        // SOURCE_DATE_EPOCH; a copied tree gets the timestamp on its folders too, after
        // their contents are written.
        let staged = format!("{STAGE}{dest}");
        let stage = CopyOptions {
            mode: Some(0o755),
            create_dest_path: true,
            ..CopyOptions::default()
        };
        let op = match &b.extract {
            None => FileOp::on(State::scratch()).copy(
                download,
                &format!("/{file_name}"),
                &staged,
                stage,
            ),
            Some(member) => {
                let member = member.value.trim_start_matches("./");
                FileOp::on(State::scratch())
                    .copy(
                        download,
                        &format!("/{file_name}"),
                        "/unpacked/",
                        CopyOptions {
                            unpack_archive: true,
                            create_dest_path: true,
                            ..CopyOptions::default()
                        },
                    )
                    .copy_from(
                        FileRef::Action(0),
                        &format!("/unpacked/{member}"),
                        &staged,
                        stage,
                    )
            }
        };
        let last = if b.extract.is_some() { 1 } else { 0 };
        let op = op.base(FileRef::State(base)).copy_from(
            FileRef::Action(last),
            &format!("{STAGE}/"),
            "/",
            CopyOptions {
                create_dest_path: true,
                dir_copy_contents: true,
                timestamp: ts,
                ..CopyOptions::default()
            },
        );
        let what = format!("{} -> {dest}", b.name.value);
        Ok(op.build(self.meta("harness", &what, b.span)))
    }
}

/// `e` as the build's options say steps that may use the network run (the apt, run and
/// npm steps; not the guards, which never use one): the proxy build arguments, `--network`,
/// `--add-host`, `--ulimit` and `--shm-size`, as BuildKit's Dockerfile frontend applies
/// them to `RUN`.
fn with_run_options(mut e: Exec, options: &Options) -> Exec {
    if let Some(p) = options.proxies() {
        e = e.proxy_env(llb_graph::pb::ProxyEnv {
            http_proxy: p.http,
            https_proxy: p.https,
            ftp_proxy: p.ftp,
            no_proxy: p.no,
            all_proxy: p.all,
        });
    }
    e = e.network(match options.network {
        Network::Sandbox => NetMode::Sandbox,
        Network::None => NetMode::None,
        Network::Host => NetMode::Host,
    });
    for (host, ip) in &options.extra_hosts {
        e = e.extra_host(host, ip);
    }
    for u in &options.ulimits {
        e = e.ulimit(&u.name, u.soft, u.hard);
    }
    if let Some(size) = options.shm_size {
        e = e.mount("/dev/shm", MountKind::TmpfsOfSize(size));
    }
    e
}

/// Where a binary is staged inside its file op before it is copied into place.
const STAGE: &str = "/aishell-stage";

/// The harness tools in canonical order: npm packages by name, then binaries by name.
/// Order in the spec does not matter, so reordering a spec never changes the image.
fn canonical_tools(spec: &ResolvedSpec) -> (Vec<&NpmTool>, Vec<&BinaryTool>) {
    let mut npm: Vec<&NpmTool> = spec.spec.harness.npm.iter().collect();
    npm.sort_by(|a, b| a.package.value.cmp(&b.package.value));
    let mut bins: Vec<&BinaryTool> = spec.spec.harness.binaries.iter().collect();
    bins.sort_by(|a, b| a.name.value.cmp(&b.name.value));
    (npm, bins)
}

fn context<'a>(input: &'a Input<'a>) -> Ctx<'a> {
    let platform = input.spec.platform.clone();
    let epoch = input.options.source_date_epoch();
    Ctx {
        input,
        pb_platform: llb_graph::platform(&platform.os, &platform.arch, platform.variant.as_deref()),
        platform,
        epoch,
        created: epoch.map(rfc3339),
        history: Vec::new(),
        warnings: Vec::new(),
    }
}

/// The foundation part alone: its state and image config. The extension Dockerfile is
/// built on exactly this state (same vertex digests), which is what lets
/// `Diff(foundation, extension)` reuse the extension's layer blobs.
///
/// Errors: as [`convert`].
pub fn foundation(input: &Input<'_>) -> Result<(State, ImageConfig), ConvertError> {
    let mut cx = context(input);
    let (st, config, _) = build_foundation(&mut cx)?;
    Ok((st, config))
}

/// The foundation's state, config and base image, recording its history in `cx`.
fn build_foundation(cx: &mut Ctx<'_>) -> Result<(State, ImageConfig, ImageInfo), ConvertError> {
    let spec = &cx.input.spec.spec;
    let base = cx.image(&spec.foundation.from.value)?.clone();
    let mut config = ImageConfig::from_base(base.config.clone());
    config.set_platform(&cx.platform);
    let from = cx.image_source(&base, "foundation", spec.foundation.from.span);
    let st = cx.steps(from, &spec.foundation.steps, "foundation", &mut config)?;
    Ok((st, config, base))
}

/// Converts one platform's resolved spec.
///
/// Errors: [`ConvertError::NoMergeOp`] when the builder cannot merge and stacking was
/// not asked for; [`ConvertError::Invalid`] for images that were not resolved.
pub fn convert(input: &Input<'_>) -> Result<Conversion, ConvertError> {
    let spec = &input.spec.spec;
    let mode = input.options.merge_mode;
    if mode == MergeMode::Merge && !input.caps.merge_diff {
        return Err(ConvertError::NoMergeOp);
    }
    let target = input.options.target;
    if mode == MergeMode::Stack && target.def().needs_merge {
        return Err(ConvertError::Invalid(
            format!(
                "--target {} needs MergeOp/DiffOp to isolate the harness layers; it cannot be built with AISHELL_MERGE=stack",
                target.name()
            ),
            None,
        ));
    }
    let mut cx = context(input);
    let platform = cx.platform.clone();
    let prefix = spec.harness.prefix.value.clone();

    // Foundation.
    let (foundation, mut config, base) = build_foundation(&mut cx)?;
    let foundation_config = config.clone();
    let foundation_history = std::mem::take(&mut cx.history);

    // Extension.
    let (extension, extension_history) = match (&spec.extension, &input.dockerfile_extension) {
        (Some(Extension::Inline { steps, .. }), _) => {
            let st = cx.steps(foundation.clone(), steps, "extension", &mut config)?;
            (st, std::mem::take(&mut cx.history))
        }
        (Some(Extension::Dockerfile { path, .. }), Some(ext)) => {
            let ext_cfg = ImageConfig::from_base(ext.config.clone());
            for kv in ext_cfg.env_list() {
                if let Some((k, v)) = kv.split_once('=') {
                    config.set_env(k, v);
                }
            }
            for field in ["WorkingDir", "User"] {
                if let Some(v) = ext_cfg.string(field) {
                    config.set_string(field, &v);
                }
            }
            (
                ext.state.clone(),
                vec![(format!("extension Dockerfile {}", path.value), false)],
            )
        }
        // A target without the extension (the foundation, as the cross-install base is
        // converted) needs no result of the extension Dockerfile, which is then not built.
        (Some(Extension::Dockerfile { .. }), None) if !target.def().holds.extension => {
            (foundation.clone(), Vec::new())
        }
        (Some(Extension::Dockerfile { path, .. }), None) => {
            return Err(ConvertError::Invalid(
                format!("the extension Dockerfile {} was not built", path.value),
                Some(path.span),
            ));
        }
        (None, _) => (foundation.clone(), Vec::new()),
    };
    let has_extension = extension != foundation;
    let extension_config = config.clone();

    // Harness.
    let (npm, bins) = canonical_tools(input.spec);
    let mut harness_config = config.clone();
    for kv in &spec.harness.env {
        harness_config.set_env(&kv.key.value, &kv.value.value);
    }
    harness_config.prepend_path(&[&format!("{prefix}/npm/bin"), &format!("{prefix}/bin")]);
    if !npm.is_empty() {
        harness_config.set_env("NODE_PATH", &format!("{prefix}/npm/lib/node_modules"));
    }

    let mut layers = vec![Layer {
        part: Part::Foundation,
        name: "foundation".into(),
        version: None,
        description: format!("{} + {} step(s)", base.reference, foundation_history.len()),
        state: foundation.clone(),
        span: spec.foundation.span,
    }];
    if has_extension {
        layers.push(Layer {
            part: Part::Extension,
            name: "extension".into(),
            version: None,
            description: format!("{} step(s)", extension_history.len().max(1)),
            state: diff(
                &foundation,
                &extension,
                cx.meta(
                    "extension",
                    "layer (diff against the foundation)",
                    spec.extension_span(),
                ),
            ),
            span: spec.extension_span(),
        });
    }
    let mut tool_layers = Vec::new();
    let mut tool_labels = Vec::new();
    // The state each npm tool's files are read from for the SBOM: its layer, or the
    // stacked image.
    let mut npm_parts: Vec<(String, String, State)> = Vec::new();
    let order = spec.image.effective_order();
    match mode {
        MergeMode::Merge => {
            for t in &npm {
                // Cross install on the build machine's foundation, or install on this
                // platform's own (natively, or emulated for another platform).
                let (lower, installed) = match (&input.cross, t.emulated()) {
                    (Some(c), false) => (
                        c.foundation.clone(),
                        cx.npm_install(
                            c.foundation.clone(),
                            t,
                            &prefix,
                            &c.config,
                            Some(&c.platform),
                        ),
                    ),
                    _ => (
                        foundation.clone(),
                        cx.npm_install(foundation.clone(), t, &prefix, &foundation_config, None),
                    ),
                };
                let layer = diff(
                    &lower,
                    &installed,
                    cx.meta(
                        "harness",
                        &format!("npm {}@{} layer", t.package.value, t.version.value),
                        t.package.span,
                    ),
                );
                tool_labels.push((t.package.value.clone(), t.version.value.clone()));
                npm_parts.push((
                    t.package.value.clone(),
                    t.version.value.clone(),
                    layer.clone(),
                ));
                tool_layers.push(Layer {
                    part: Part::Harness,
                    name: t.package.value.clone(),
                    version: Some(t.version.value.clone()),
                    description: format!(
                        "npm install {}@{} under {prefix}/npm",
                        t.package.value, t.version.value
                    ),
                    state: layer,
                    span: t.package.span,
                });
            }
            for b in &bins {
                let st = cx.binary(State::scratch(), b, &prefix)?;
                let version = binary_version(b);
                tool_labels.push((b.name.value.clone(), version.clone()));
                tool_layers.push(Layer {
                    part: Part::Harness,
                    name: b.name.value.clone(),
                    version: Some(version),
                    description: format!("{prefix}/bin/{} from {}", b.name.value, url_of(b)),
                    state: st,
                    span: b.name.span,
                });
            }
        }
        MergeMode::Stack => {
            cx.warnings.push("AISHELL_MERGE=stack: building stacked layers (harness on top of the extension); layers are no longer shared between projects and a harness bump re-runs nothing below it but re-exports everything above it".into());
        }
    }
    layers.extend(tool_layers.iter().cloned());

    let (state, final_config, history): (State, ImageConfig, Vec<(String, bool)>) =
        match (input.options.target, mode) {
            (Target::Foundation, _) => (foundation.clone(), foundation_config, foundation_history),
            (Target::Extension, _) => {
                let mut h = foundation_history;
                h.extend(extension_history);
                (extension.clone(), extension_config, h)
            }
            // Merged in both modes: stacking it was refused above (`needs_merge`).
            (Target::Harness, _) => {
                let states: Vec<State> = tool_layers.iter().map(|l| l.state.clone()).collect();
                let mut c = ImageConfig::empty();
                c.set_platform(&platform);
                c.prepend_path(&[&format!("{prefix}/npm/bin"), &format!("{prefix}/bin")]);
                let h = tool_layers
                    .iter()
                    .map(|l| (format!("harness {}", l.name), false))
                    .collect();
                let st = merge(
                    &states,
                    cx.meta(
                        "harness",
                        &format!("merge {} tool layer(s)", states.len()),
                        spec.harness.span,
                    ),
                );
                (st, c, h)
            }
            (Target::Image, MergeMode::Merge) => {
                let mut inputs: Vec<(State, Vec<(String, bool)>)> = Vec::new();
                for part in &order {
                    match part {
                        Part::Foundation => {
                            inputs.push((foundation.clone(), foundation_history.clone()))
                        }
                        Part::Extension if has_extension => {
                            inputs.push((layers[1].state.clone(), extension_history.clone()))
                        }
                        Part::Extension => {}
                        Part::Harness => {
                            for l in &tool_layers {
                                inputs.push((
                                    l.state.clone(),
                                    vec![(
                                        format!(
                                            "harness {} {}",
                                            l.name,
                                            l.version.clone().unwrap_or_default()
                                        ),
                                        false,
                                    )],
                                ));
                            }
                        }
                    }
                }
                let names: Vec<String> = order
                    .iter()
                    .filter(|p| **p != Part::Extension || has_extension)
                    .map(|p| match p {
                        Part::Harness => format!("{} harness tool(s)", tool_layers.len()),
                        other => other.name().to_string(),
                    })
                    .collect();
                let states: Vec<State> = inputs.iter().map(|(s, _)| s.clone()).collect();
                let history = inputs.into_iter().flat_map(|(_, h)| h).collect();
                let st = merge(
                    &states,
                    Meta::named(cx.name("image", &format!("merge {}", names.join(" + ")))),
                );
                (st, harness_config, history)
            }
            (Target::Image, MergeMode::Stack) => {
                let mut st = extension.clone();
                let mut h = foundation_history;
                h.extend(extension_history);
                for t in &npm {
                    st = cx.npm_install(st, t, &prefix, &extension_config, None);
                    tool_labels.push((t.package.value.clone(), t.version.value.clone()));
                    h.push((format!("harness {}", t.package.value), false));
                }
                for t in &npm {
                    npm_parts.push((t.package.value.clone(), t.version.value.clone(), st.clone()));
                }
                for b in &bins {
                    st = cx.binary(st, b, &prefix)?;
                    let version = binary_version(b);
                    tool_labels.push((b.name.value.clone(), version));
                    h.push((format!("harness {}", b.name.value), false));
                }
                (st, harness_config, h)
            }
        };

    let holds = input.options.target.def().holds;
    let mut config = final_config;
    if holds.image_section {
        apply_image_section(&mut config, input);
        for (tool, version) in &tool_labels {
            config.set_label(&format!("dev.aishell.harness.{tool}"), version);
        }
    }
    for (k, v) in &input.options.labels {
        config.set_label(k, v);
    }
    config.set_platform(&platform);
    for (created_by, empty) in &history {
        config.push_history(created_by, *empty, cx.created.as_deref());
    }
    if let Some(c) = &cx.created {
        config.set_created(c);
    }
    // A folder given for the base image has no config of its own to keep.
    let base_config = (holds.system && !matches!(base.origin, ImageOrigin::Local { .. }))
        .then(|| base.config.clone());
    let with_tools = holds.tools;
    let sbom = crate::sbom::Parts {
        foundation: holds.system.then(|| foundation.clone()),
        extension: (holds.extension && has_extension).then(|| extension.clone()),
        npm: if with_tools { npm_parts } else { Vec::new() },
        npm_dir: format!("{prefix}/npm/lib/node_modules"),
        binaries: if with_tools {
            bins.iter()
                .map(|b| crate::sbom::spdx::BinaryTool {
                    name: b.name.value.clone(),
                    version: binary_version(b),
                    url: url_of(b),
                    sha256: sha_of(b),
                })
                .collect()
        } else {
            Vec::new()
        },
    };
    Ok(Conversion {
        state,
        config,
        layers,
        foundation,
        extension,
        base_config,
        sbom,
        warnings: cx.warnings,
    })
}

/// The version a binary tool is labelled with: taken from its URL when the URL has one,
/// else the start of its checksum (which pins it just as well).
fn binary_version(b: &BinaryTool) -> String {
    version_from_url(&url_of(b)).unwrap_or_else(|| {
        let sum = sha_of(b);
        format!("sha256-{}", &sum[..12.min(sum.len())])
    })
}

fn url_of(b: &BinaryTool) -> String {
    match &b.url {
        PerPlatform::One(s) => s.value.clone(),
        PerPlatform::Map(_) => String::new(),
    }
}

fn sha_of(b: &BinaryTool) -> String {
    match &b.sha256 {
        PerPlatform::One(s) => s.value.clone(),
        PerPlatform::Map(_) => String::new(),
    }
}

fn apply_image_section(config: &mut ImageConfig, input: &Input<'_>) {
    let img = &input.spec.spec.image;
    for kv in &img.env {
        config.set_env(&kv.key.value, &kv.value.value);
    }
    let argv = |v: &Vec<Spanned<String>>| v.iter().map(|s| s.value.clone()).collect::<Vec<_>>();
    if let Some(e) = &img.entrypoint {
        config.set_entrypoint(&argv(e));
    }
    if let Some(c) = &img.cmd {
        config.set_cmd(&argv(c));
    }
    if let Some(w) = &img.workdir {
        config.set_string("WorkingDir", &w.value);
    }
    if let Some(u) = &img.user {
        config.set_string("User", &u.value);
    }
    for kv in &img.labels {
        config.set_label(&kv.key.value, &kv.value.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_urls() {
        assert_eq!(
            version_from_url("https://github.com/gitleaks/gitleaks/releases/download/v8.30.0/gitleaks_8.30.0_linux_x64.tar.gz").as_deref(),
            Some("8.30.0")
        );
        assert_eq!(
            version_from_url("http://127.0.0.1:8000/tool").as_deref(),
            None
        );
    }
}
