//! The LLB ops of each spec step, for [`crate::graph::convert`]: apt packages, copies, run
//! commands and env of the foundation and an inline extension, npm installs of harness
//! tools, and binary downloads placed by file operations. Each op carries its readable
//! progress name (`[harness] npm @openai/codex@0.169.0`), recorded by digest as well (see
//! [`crate::graph::names`]), and the spec position it came from (the LLB source map).

use crate::graph::contract::{ConvertError, ImageInfo, ImageOrigin, Input};
use crate::graph::image_config::{ImageConfig, rfc3339};
use crate::graph::names::{ProgressName, ProgressNames, Tag};
use crate::graph::options::{MergeMode, Network, Options};
use crate::spec::platform::Platform;
use crate::spec::yaml::Span;
use crate::spec::{CopySource, NpmTool, Part, ResolvedBinary, Spanned, Steps};
use llb_graph::{
    CopyOptions, Exec, FileOp, FileRef, Location, Meta, MountKind, NetMode, Source, State,
};

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
pub(crate) fn short(cmd: &str) -> String {
    let one_line: String = cmd.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        let cut: String = one_line.chars().take(77).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

/// A version-looking token of a URL (`v8.30.0` → `8.30.0`), for labels of binaries.
pub(crate) fn version_from_url(url: &str) -> Option<String> {
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

pub(crate) struct Ctx<'a> {
    pub(crate) input: &'a Input<'a>,
    pub(crate) platform: Platform,
    pub(crate) pb_platform: llb_graph::pb::Platform,
    pub(crate) epoch: Option<i64>,
    pub(crate) created: Option<String>,
    pub(crate) history: Vec<(String, bool)>,
    pub(crate) warnings: Vec<String>,
    /// The names of the vertices made so far.
    pub(crate) names: ProgressNames,
}

impl Ctx<'_> {
    /// The progress name of a step of this conversion: with the platform in multi-platform
    /// builds, and marked in a stacked build.
    pub(crate) fn name(&self, tag: Tag, what: impl Into<String>) -> ProgressName {
        ProgressName::new(tag, what)
            .on(self.input.show_platform.then_some(&self.platform))
            .stacked(self.input.options.merge_mode == MergeMode::Stack)
    }

    /// The vertex `build` makes for a step of `part` that does `what`, given its metadata
    /// (name, spec position, `--no-cache`); its name is recorded.
    pub(crate) fn step(
        &mut self,
        part: Part,
        what: impl Into<String>,
        span: Span,
        build: impl FnOnce(Meta) -> State,
    ) -> State {
        let name = self.name(Tag::Part(part), what);
        let meta = name
            .meta()
            .at(loc(span))
            .no_cache(self.input.options.no_cache.part(part.name()));
        let state = build(meta);
        self.names.record(&state, name);
        state
    }

    /// The resolved image the spec names at `written` (errors point there).
    pub(crate) fn image(&self, written: &Spanned<String>) -> Result<&ImageInfo, ConvertError> {
        let key = crate::spec::reference::normalize(&written.value)
            .map_err(|e| ConvertError::Invalid(e, Some(written.span)))?;
        self.input.images.get(&key).ok_or_else(|| {
            ConvertError::Invalid(
                format!("image `{}` was not resolved", written.value),
                Some(written.span),
            )
        })
    }

    pub(crate) fn image_source(&mut self, info: &ImageInfo, part: Part, span: Span) -> State {
        let short_ref = info.reference.split('@').next().unwrap_or(&info.reference);
        match &info.origin {
            ImageOrigin::Registry => {}
            ImageOrigin::OciLayout { session, store } => {
                let source = Source::oci_layout(&info.reference, session, store)
                    .platform(self.pb_platform.clone());
                return self.step(
                    part,
                    format!("from {short_ref} (OCI layout from the client)"),
                    span,
                    |m| source.build(m),
                );
            }
            ImageOrigin::Local { name, session } => {
                let source = Source::local(name)
                    .attr("local.session", session.clone())
                    .cap("source.local.sessionid");
                return self.step(
                    part,
                    format!("from the folder of context {name}"),
                    span,
                    |m| source.build(m),
                );
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
        self.step(part, format!("from {short_ref}"), span, |m| s.build(m))
    }

    /// Applies apt, copy and run steps on `state` with `env` (updated by `steps.env`).
    pub(crate) fn steps(
        &mut self,
        mut state: State,
        steps: &Steps,
        part: Part,
        config: &mut ImageConfig,
    ) -> Result<State, ConvertError> {
        for kv in &steps.env {
            config.set_env(&kv.key.value, &kv.value.value);
        }
        let env = config.env_list();
        let user = config.user().unwrap_or_default().to_string();
        let cwd = config
            .working_dir()
            .filter(|w| w.starts_with('/'))
            .unwrap_or("/")
            .to_string();
        let options = self.input.options;
        let pb_platform = self.pb_platform.clone();
        let exec = |root: State, cmd: &str| {
            let mut e = with_run_options(
                Exec::new(root, ["/bin/sh", "-c", cmd])
                    .cwd(&cwd)
                    .user(&user)
                    .platform(pb_platform.clone()),
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
            let install = exec(state, &cmd)
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
                );
            state = self.step(
                part,
                format!("apt-get install {}", short(&pkgs.join(" "))),
                span,
                |m| install.build(m),
            );
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
                    let info = self.image(img)?.clone();
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
            let op = op.copy_from(src, &src_path, &c.dest.value, opts);
            state = self.step(part, what.clone(), c.span, |m| op.build(m));
            self.history.push((what, false));
        }
        for r in &steps.run {
            let run = exec(state, &r.value);
            state = self.step(part, format!("run {}", short(&r.value)), r.span, |m| {
                run.build(m)
            });
            self.history
                .push((format!("/bin/sh -c {}", r.value), false));
        }
        Ok(state)
    }

    /// Installs `tool` under `prefix` on `base`. With `cross` (the build machine's platform),
    /// `base` is the build machine's foundation and the install is for this conversion's
    /// platform: npm's `--os`/`--cpu`, no install scripts, and a check of the ELF files.
    pub(crate) fn npm_install(
        &mut self,
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
        self.step(Part::Harness, name, tool.package.span, |m| e.build(m))
    }

    /// A binary tool: download (checksum pinned), extract if asked, place at
    /// `<prefix>/bin/<name>` — file operations only, on scratch or on `base` (stacking).
    pub(crate) fn binary(
        &mut self,
        base: State,
        b: &ResolvedBinary,
        prefix: &str,
    ) -> Result<State, ConvertError> {
        let (url, sum) = (&b.url, &b.sha256);
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
            .attr("http.filename", file_name.clone());
        let download = self.step(
            Part::Harness,
            format!("download {}", b.name.value),
            url.span,
            |m| download.build(m),
        );
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
        Ok(self.step(Part::Harness, what, b.span, |m| op.build(m)))
    }
}

/// `e` as the build's options say steps that may use the network run (the apt, run and
/// npm steps; not the guards, which never use one): the proxy build arguments, `--network`,
/// `--add-host`, `--ulimit` and `--shm-size`, as BuildKit's Dockerfile frontend applies
/// them to `RUN`.
pub(crate) fn with_run_options(mut e: Exec, options: &Options) -> Exec {
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
pub(crate) const STAGE: &str = "/aishell-stage";

pub(crate) fn context<'a>(input: &'a Input<'a>) -> Ctx<'a> {
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
        names: ProgressNames::default(),
    }
}
