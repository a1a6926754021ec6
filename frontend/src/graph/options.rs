//! Frontend options: what `docker buildx build` flags arrive as.
//!
//! BuildKit passes each option as an environment variable `BUILDKIT_FRONTEND_OPT_<n>` whose
//! value is `key=value` (the numbering is random, so only the value counts), plus
//! `BUILDKIT_SESSION_ID` and `BUILDKIT_WORKERS`. [`Options::from_env`] turns them into
//! typed fields; conversion never looks at the environment itself.
//!
//! ```
//! use aishell_frontend::graph::options::Options;
//! let env = [
//!     ("BUILDKIT_FRONTEND_OPT_0", "filename=.aishell/image.yaml"),
//!     ("BUILDKIT_FRONTEND_OPT_1", "build-arg:V=a=b"),
//!     ("BUILDKIT_FRONTEND_OPT_2", "platform=linux/amd64,linux/arm64"),
//! ];
//! let o = Options::from_env(env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
//! assert_eq!(o.filename, ".aishell/image.yaml");
//! assert_eq!(o.build_args["V"], "a=b");
//! assert_eq!(o.platforms.len(), 2);
//! ```

use crate::graph::targets::Target;
use crate::spec::load::LoadOptions;
use crate::spec::platform::Platform;
use std::collections::{BTreeMap, BTreeSet};

/// How much the frontend logs (`--build-arg AISHELL_LOG=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Only what went wrong.
    Error,
    /// Also what the user may want to fix (the default).
    #[default]
    Warn,
    /// Also each phase of the build: spec loaded, images resolved, graph converted, guards.
    Info,
    /// Also each gateway call and its size.
    Debug,
}

impl LogLevel {
    /// The accepted spellings, in order.
    pub const NAMES: [&'static str; 4] = ["error", "warn", "info", "debug"];

    /// Parses an `AISHELL_LOG` value.
    ///
    /// Errors: an unknown level, with the accepted ones.
    pub fn parse(v: &str) -> Result<Self, String> {
        Ok(match v.to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "" | "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            other => {
                return Err(format!(
                    "--build-arg AISHELL_LOG={other} is not understood; use one of {}",
                    LogLevel::NAMES.join(", ")
                ));
            }
        })
    }
}

/// One `--cache-from` entry: type (`registry`, `local`, …) and attributes.
pub type CacheImport = (String, BTreeMap<String, String>);

/// How layers are composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// MergeOp/DiffOp: independent layers (the default).
    Merge,
    /// A stacked build for builders without MergeOp (`--build-arg AISHELL_MERGE=stack`).
    Stack,
}

/// The predefined proxy build arguments: handed to every step that may use the network,
/// never part of a cache key or of the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    /// `HTTP_PROXY` / `http_proxy`.
    pub http: String,
    /// `HTTPS_PROXY` / `https_proxy`.
    pub https: String,
    /// `FTP_PROXY` / `ftp_proxy`.
    pub ftp: String,
    /// `NO_PROXY` / `no_proxy`.
    pub no: String,
    /// `ALL_PROXY` / `all_proxy`.
    pub all: String,
}

/// The network of the steps that may use one (`--network`, sent as `force-network-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// The builder's default: an isolated network that reaches the outside.
    #[default]
    Sandbox,
    /// `--network none`: no network at all.
    None,
    /// `--network host`: the host's network (needs `--allow network.host`).
    Host,
}

/// One `--ulimit` (`nofile=1024:2048`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Resource name (`nofile`, `nproc`, …).
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// `--no-cache` (every step) or `--no-cache-filter` (the steps of the parts named).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoCache {
    /// Cached results are used.
    #[default]
    Off,
    /// No step uses the cache.
    All,
    /// The steps of these parts (`foundation`, `extension`, `harness`) do not.
    Parts(BTreeSet<String>),
}

impl NoCache {
    /// Whether the steps of `part` ignore the cache.
    pub fn part(&self, part: &str) -> bool {
        match self {
            NoCache::Off => false,
            NoCache::All => true,
            NoCache::Parts(p) => p.contains(part),
        }
    }

    /// Whether every step ignores the cache.
    pub fn all(&self) -> bool {
        *self == NoCache::All
    }
}

/// The `ulimit` names Docker accepts.
const ULIMIT_NAMES: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `add-hosts`: `host=ip` pairs, comma separated.
fn parse_hosts(v: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for field in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (host, ip) = field.split_once('=').ok_or_else(|| {
            format!("--add-host {field}: expected host=ip (buildx sends host:ip as host=ip)")
        })?;
        let ip = ip.trim();
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("--add-host {field}: `{ip}` is not an IP address"));
        }
        out.push((host.trim().to_ascii_lowercase(), ip.to_string()));
    }
    Ok(out)
}

/// `ulimit`: `name=soft[:hard]`, comma separated.
fn parse_ulimits(v: &str) -> Result<Vec<Ulimit>, String> {
    let mut out = Vec::new();
    for field in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let bad = |why: &str| format!("--ulimit {field}: {why}");
        let (name, limits) = field
            .split_once('=')
            .ok_or_else(|| bad("expected name=soft[:hard], such as nofile=1024:2048"))?;
        if !ULIMIT_NAMES.contains(&name) {
            return Err(bad(&format!(
                "unknown limit `{name}`; expected one of {}",
                ULIMIT_NAMES.join(", ")
            )));
        }
        let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
        let num = |s: &str| {
            s.trim()
                .parse::<i64>()
                .map_err(|_| bad(&format!("`{s}` is not a number")))
        };
        let (soft, hard) = (num(soft)?, num(hard)?);
        if soft > hard {
            return Err(bad("the soft limit is above the hard limit"));
        }
        out.push(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        });
    }
    Ok(out)
}

/// `no-cache`: empty (or a yes) for every step, else the parts named.
pub(crate) fn parse_no_cache(v: &str) -> Result<NoCache, String> {
    if v.trim().is_empty() || truthy(v) {
        return Ok(NoCache::All);
    }
    let mut parts = BTreeSet::new();
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name.to_ascii_lowercase().as_str() {
            // The image is every part.
            "image" => return Ok(NoCache::All),
            p @ ("foundation" | "extension" | "harness") => {
                parts.insert(p.to_string());
            }
            _ => {
                return Err(format!(
                    "--no-cache-filter {name}: not a part of the image; expected foundation, extension, harness or image"
                ));
            }
        }
    }
    Ok(NoCache::Parts(parts))
}

/// What `--sbom` (`--attest type=sbom`, sent as `attest:sbom`) asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sbom {
    /// No SBOM (no `--sbom`, or `--sbom=false`).
    #[default]
    Off,
    /// The frontend's own SPDX document, from what it knows of each part.
    Own,
    /// `--sbom=generator=<image>`: the user named a scanner image; BuildKit runs it over
    /// the whole image, as it does for frontends without an SBOM of their own.
    Generator(String),
}

impl Sbom {
    /// Parses the value of `attest:sbom` (`""`, `generator=…`, `disabled=true`, CSV).
    ///
    /// ```
    /// use aishell_frontend::graph::options::Sbom;
    /// assert_eq!(Sbom::parse(""), Sbom::Own);
    /// assert_eq!(Sbom::parse("disabled=true"), Sbom::Off);
    /// assert_eq!(Sbom::parse("generator=docker/scout-sbom-indexer:1"), Sbom::Generator("docker/scout-sbom-indexer:1".into()));
    /// ```
    pub fn parse(value: &str) -> Sbom {
        let mut out = Sbom::Own;
        for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            match field.split_once('=') {
                Some(("disabled", v)) if truthy(v) => return Sbom::Off,
                Some(("generator", g)) if !g.is_empty() => out = Sbom::Generator(g.into()),
                _ => {}
            }
        }
        out
    }
}

/// Option keys buildx may send that change how steps run and that the frontend does not
/// honour: an error names the flag rather than building something else than asked.
const REFUSED: [(&str, &str); 1] = [("cgroup-parent", "--cgroup-parent")];

/// Option keys read here or elsewhere in the frontend (forwarded to the extension
/// Dockerfile, read by BuildKit itself), or sent by clients for their own records.
const KNOWN: [&str; 20] = [
    "filename",
    "target",
    "platform",
    "multi-platform",
    "no-cache",
    "image-resolve-mode",
    "cache-imports",
    "cache-from",
    "requestid",
    "dockerfilekey",
    "contextkey",
    "contextsubdir",
    "force-network-mode",
    "add-hosts",
    "ulimit",
    "shm-size",
    "hostname",
    "source",
    "cmdline",
    "frontend.caps",
];

/// Prefixes of option keys known the same way.
const KNOWN_PREFIXES: [&str; 5] = [
    "local-sessionid:",
    "attest:",
    "vcs:",
    "input-metadata:",
    "frontend.",
];

/// Everything the frontend reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Spec path inside the `dockerfile` local (`-f`).
    pub filename: String,
    /// `--target`.
    pub target: Target,
    /// `--platform` list; empty means the worker's default.
    pub platforms: Vec<Platform>,
    /// Force the multi-platform result shape.
    pub multi_platform: bool,
    /// `--build-arg` values (special ones included).
    pub build_args: BTreeMap<String, String>,
    /// `--label` values.
    pub labels: BTreeMap<String, String>,
    /// `--no-cache` and `--no-cache-filter`.
    pub no_cache: NoCache,
    /// `--network`.
    pub network: Network,
    /// `--add-host` entries (host, ip).
    pub extra_hosts: Vec<(String, String)>,
    /// `--ulimit` values.
    pub ulimits: Vec<Ulimit>,
    /// `--shm-size` in bytes (`None`: the builder's default `/dev/shm`).
    pub shm_size: Option<u64>,
    /// Named contexts (`--build-context name=value`, sent as `context:<name>`), by name
    /// as written (with a `::<platform>` suffix when given for one platform).
    pub named_contexts: BTreeMap<String, String>,
    /// Option keys that were not understood (logged, not an error: a newer buildx may
    /// send keys this frontend does not know).
    pub unknown: Vec<String>,
    /// `image-resolve-mode` (`default`, `pull`, `local`).
    pub image_resolve_mode: Option<String>,
    /// `cache-imports` JSON (`--cache-from`), to pass to our own solves.
    pub cache_imports: Vec<CacheImport>,
    /// Subrequest name (`--call`), if any.
    pub request_id: Option<String>,
    /// Client session id (for local sources and secrets).
    pub session_id: String,
    /// Session id for the `dockerfile` local, when it differs.
    pub dockerfile_session_id: Option<String>,
    /// Name of the local that holds the spec (`dockerfilekey`), default `dockerfile`.
    pub dockerfile_key: String,
    /// Name of the local that holds the build context (`contextkey`), default `context`.
    pub context_key: String,
    /// `AISHELL_MERGE`.
    pub merge_mode: MergeMode,
    /// `AISHELL_LOG`: how much the frontend writes to its own log (stderr, which BuildKit
    /// passes to the daemon's log); `warn` unless asked.
    pub log: LogLevel,
    /// Default platform of the first worker, if the daemon said.
    pub worker_platform: Option<Platform>,
    /// `--sbom`.
    pub sbom: Sbom,
    /// Every raw option, for forwarding to nested frontends.
    pub raw: BTreeMap<String, String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filename: "Dockerfile".into(),
            target: Target::Image,
            platforms: Vec::new(),
            multi_platform: false,
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            no_cache: NoCache::Off,
            network: Network::Sandbox,
            extra_hosts: Vec::new(),
            ulimits: Vec::new(),
            shm_size: None,
            named_contexts: BTreeMap::new(),
            unknown: Vec::new(),
            image_resolve_mode: None,
            cache_imports: Vec::new(),
            request_id: None,
            session_id: String::new(),
            dockerfile_session_id: None,
            dockerfile_key: "dockerfile".into(),
            context_key: "context".into(),
            merge_mode: MergeMode::Merge,
            log: LogLevel::Warn,
            worker_platform: None,
            sbom: Sbom::Off,
            raw: BTreeMap::new(),
        }
    }
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

impl Options {
    /// Reads options from environment entries.
    ///
    /// Errors: malformed values the user can fix (unknown target, bad platform, bad
    /// `AISHELL_MERGE`), each as a message.
    pub fn from_env(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut o = Options::default();
        let mut workers = None;
        for (k, v) in env {
            if k.starts_with("BUILDKIT_FRONTEND_OPT_") {
                // Keys never contain `=`; values may.
                if let Some((key, value)) = v.split_once('=') {
                    o.raw.insert(key.to_string(), value.to_string());
                }
            } else if k == "BUILDKIT_SESSION_ID" {
                o.session_id = v;
            } else if k == "BUILDKIT_WORKERS" {
                workers = Some(v);
            }
        }
        for (key, value) in o.raw.clone() {
            if let Some(name) = key.strip_prefix("build-arg:") {
                o.build_args.insert(name.to_string(), value);
            } else if let Some(name) = key.strip_prefix("label:") {
                o.labels.insert(name.to_string(), value);
            } else if let Some(name) = key.strip_prefix("context:") {
                o.named_contexts.insert(name.to_string(), value);
            } else {
                match key.as_str() {
                    "filename" => o.filename = value,
                    "target" if !value.is_empty() => o.target = Target::parse(&value)?,
                    "platform" => {
                        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                            let p = Platform::parse(p)?;
                            if !o.platforms.contains(&p) {
                                o.platforms.push(p);
                            }
                        }
                    }
                    "multi-platform" => o.multi_platform = truthy(&value),
                    "no-cache" => o.no_cache = parse_no_cache(&value)?,
                    "force-network-mode" => {
                        o.network = match value.as_str() {
                            "" | "sandbox" | "default" => Network::Sandbox,
                            "none" => Network::None,
                            "host" => Network::Host,
                            other => {
                                return Err(format!(
                                    "--network {other} is not supported; use none, host or default"
                                ));
                            }
                        }
                    }
                    "add-hosts" => o.extra_hosts = parse_hosts(&value)?,
                    "ulimit" => o.ulimits = parse_ulimits(&value)?,
                    "shm-size" => {
                        let bytes = value
                            .trim()
                            .parse::<u64>()
                            .map_err(|_| format!("--shm-size {value}: expected a size in bytes"))?;
                        o.shm_size = (bytes > 0).then_some(bytes);
                    }
                    "image-resolve-mode" => o.image_resolve_mode = Some(value),
                    "cache-imports" => o.cache_imports = parse_cache_imports(&value)?,
                    "requestid" => o.request_id = Some(value),
                    "dockerfilekey" => o.dockerfile_key = value,
                    "contextkey" => o.context_key = value,
                    "local-sessionid:dockerfile" => o.dockerfile_session_id = Some(value),
                    "attest:sbom" => o.sbom = Sbom::parse(&value),
                    k => {
                        if let Some((_, flag)) = REFUSED.iter().find(|(key, _)| *key == k) {
                            if !value.is_empty() {
                                return Err(format!(
                                    "{flag} is not supported by aishell-frontend (its steps would run without it); remove it"
                                ));
                            }
                        } else if !KNOWN.contains(&k)
                            && !KNOWN_PREFIXES.iter().any(|p| k.starts_with(p))
                        {
                            o.unknown.push(k.to_string());
                        }
                    }
                }
            }
        }
        if let Some(v) = o.build_args.get("BUILDKIT_MULTI_PLATFORM") {
            o.multi_platform = truthy(v);
        }
        if let Some(v) = o.build_args.get("AISHELL_MERGE") {
            o.merge_mode = match v.as_str() {
                "" | "merge" => MergeMode::Merge,
                "stack" => MergeMode::Stack,
                other => {
                    return Err(format!(
                        "--build-arg AISHELL_MERGE={other} is not understood; use `merge` (default) or `stack`"
                    ));
                }
            };
        }
        if let Some(v) = o.build_args.get("AISHELL_LOG") {
            o.log = LogLevel::parse(v)?;
        }
        o.worker_platform = workers.as_deref().and_then(first_worker_platform);
        Ok(o)
    }

    /// The platforms to build: as asked, else the worker's default, else linux/amd64.
    pub fn target_platforms(&self) -> Vec<Platform> {
        if !self.platforms.is_empty() {
            return self.platforms.clone();
        }
        vec![self.build_platform()]
    }

    /// The platform the builder runs on.
    pub fn build_platform(&self) -> Platform {
        self.worker_platform
            .clone()
            .unwrap_or_else(Platform::linux_amd64)
    }

    /// What [`crate::spec::load::load`] needs of these options: the build arguments, the
    /// target platforms and the build platform.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            build_args: self.build_args.clone(),
            platforms: self.target_platforms(),
            build_platform: self.build_platform(),
        }
    }

    /// The proxies of the predefined proxy build arguments (`HTTP_PROXY`, `https_proxy`, …,
    /// in any case, as BuildKit's Dockerfile frontend reads them), or `None` without any.
    ///
    /// ```
    /// use aishell_frontend::graph::options::Options;
    /// let mut o = Options::default();
    /// assert!(o.proxies().is_none());
    /// o.build_args.insert("https_proxy".into(), "http://proxy:3128".into());
    /// o.build_args.insert("NO_PROXY".into(), "localhost".into());
    /// let p = o.proxies().unwrap();
    /// assert_eq!((p.https.as_str(), p.no.as_str(), p.http.as_str()), ("http://proxy:3128", "localhost", ""));
    /// ```
    pub fn proxies(&self) -> Option<Proxies> {
        let mut p = Proxies::default();
        let mut any = false;
        for (k, v) in &self.build_args {
            let slot = match k.to_ascii_lowercase().as_str() {
                "http_proxy" => &mut p.http,
                "https_proxy" => &mut p.https,
                "ftp_proxy" => &mut p.ftp,
                "no_proxy" => &mut p.no,
                "all_proxy" => &mut p.all,
                _ => continue,
            };
            // Upper and lower case both given: the upper-case one (sorted first) is kept
            // unless it is empty.
            if slot.is_empty() {
                *slot = v.clone();
            }
            any = true;
        }
        any.then_some(p)
    }

    /// The named context that replaces image `reference` (as written in the spec) for
    /// `platform`: `--build-context <name>=…` where `<name>` is that image, with or without
    /// the spec's `@sha256:` digest, or the same with `::<platform>` (which wins), as the
    /// Dockerfile frontend matches `FROM` names.
    ///
    /// ```
    /// use aishell_frontend::graph::options::Options;
    /// let mut o = Options::default();
    /// o.named_contexts.insert("debian:trixie-slim".into(), "docker-image://mirror.example/debian:trixie-slim".into());
    /// let p = "linux/amd64";
    /// assert_eq!(o.named_context("docker.io/library/debian:trixie-slim", p), Some("docker-image://mirror.example/debian:trixie-slim"));
    /// assert_eq!(o.named_context("busybox", p), None);
    /// ```
    pub fn named_context(&self, reference: &str, platform: &str) -> Option<&str> {
        let norm = |r: &str| crate::spec::reference::normalize(r).ok();
        let want = norm(reference)?;
        let undigested = want.split('@').next().unwrap_or(&want).to_string();
        let mut best: Option<(u8, &str)> = None;
        for (name, value) in &self.named_contexts {
            let (image, for_platform) = match name.split_once("::") {
                Some((i, p)) => (i, Some(p)),
                None => (name.as_str(), None),
            };
            if for_platform.is_some_and(|p| p != platform) {
                continue;
            }
            let Some(n) = norm(image) else { continue };
            // exact before undigested; a platform's own before the general one
            let rank = match (n == want, n == undigested, for_platform.is_some()) {
                (true, _, true) => 4,
                (true, _, false) => 3,
                (false, true, true) => 2,
                (false, true, false) => 1,
                _ => continue,
            };
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, value.as_str()));
            }
        }
        best.map(|(_, v)| v)
    }

    /// The value of `SOURCE_DATE_EPOCH`, if set and valid.
    pub fn source_date_epoch(&self) -> Option<i64> {
        self.build_args
            .get("SOURCE_DATE_EPOCH")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v >= 0)
    }
}

/// `cache-imports` is a JSON array of `{"Type": …, "Attrs": {…}}` (Go decodes keys
/// case-insensitively, so we accept either case).
fn parse_cache_imports(v: &str) -> Result<Vec<CacheImport>, String> {
    if v.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parsed: serde_json::Value =
        serde_json::from_str(v).map_err(|e| format!("cache-imports is not JSON: {e}"))?;
    let mut out = Vec::new();
    for item in parsed.as_array().into_iter().flatten() {
        let get = |k: &str| {
            item.as_object().and_then(|o| {
                o.iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v)
            })
        };
        let ty = get("type").and_then(|t| t.as_str()).unwrap_or_default();
        let attrs = get("attrs")
            .and_then(|a| a.as_object())
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        out.push((ty.to_string(), attrs));
    }
    Ok(out)
}

/// The first platform of the first worker in `BUILDKIT_WORKERS`.
fn first_worker_platform(json: &str) -> Option<Platform> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let p = v.get(0)?.get("platforms")?.get(0)?;
    let os = p.get("os")?.as_str()?;
    let arch = p.get("architecture")?.as_str()?;
    let variant = p.get("variant").and_then(|v| v.as_str()).unwrap_or("");
    let s = if variant.is_empty() {
        format!("{os}/{arch}")
    } else {
        format!("{os}/{arch}/{variant}")
    };
    Platform::parse(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[&str]) -> Result<Options, String> {
        Options::from_env(
            pairs
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("BUILDKIT_FRONTEND_OPT_{i}"), v.to_string())),
        )
    }

    #[test]
    fn parses_the_common_options() {
        let o = opts(&[
            "target=harness",
            "label:a=b",
            "build-arg:AISHELL_MERGE=stack",
            "cache-imports=[{\"Type\":\"local\",\"Attrs\":{\"src\":\"/c\"}}]",
            "no-cache=",
        ])
        .unwrap();
        assert_eq!(o.target, Target::Harness);
        assert_eq!(o.labels["a"], "b");
        assert_eq!(o.merge_mode, MergeMode::Stack);
        assert_eq!(o.cache_imports[0].0, "local");
        assert_eq!(o.cache_imports[0].1["src"], "/c");
        assert!(o.no_cache.all());
    }

    #[test]
    fn run_options_of_buildx() {
        let o = opts(&[
            "force-network-mode=none",
            "add-hosts=Registry.internal=10.0.0.5,db=::1",
            "ulimit=nofile=1024:2048,nproc=512",
            "shm-size=134217728",
            "no-cache=harness,Foundation",
            "context:mirror=docker-image://x",
            "some-future-key=1",
        ])
        .unwrap();
        assert_eq!(o.network, Network::None);
        assert_eq!(
            o.extra_hosts,
            [
                ("registry.internal".to_string(), "10.0.0.5".to_string()),
                ("db".to_string(), "::1".to_string())
            ]
        );
        assert_eq!(
            o.ulimits,
            [
                Ulimit {
                    name: "nofile".into(),
                    soft: 1024,
                    hard: 2048
                },
                Ulimit {
                    name: "nproc".into(),
                    soft: 512,
                    hard: 512
                }
            ]
        );
        assert_eq!(o.shm_size, Some(128 << 20));
        assert!(o.no_cache.part("harness") && o.no_cache.part("foundation"));
        assert!(!o.no_cache.part("extension") && !o.no_cache.all());
        assert_eq!(opts(&["no-cache=image"]).unwrap().no_cache, NoCache::All);
        assert_eq!(
            opts(&["force-network-mode=host"]).unwrap().network,
            Network::Host
        );
        assert_eq!(opts(&["shm-size=0"]).unwrap().shm_size, None);
        // Keys nobody here knows are kept for the log, not refused.
        assert_eq!(o.unknown, ["some-future-key"]);
        assert_eq!(o.named_contexts["mirror"], "docker-image://x");
        assert!(
            opts(&["attest:provenance=mode=max", "cmdline=x"])
                .unwrap()
                .unknown
                .is_empty()
        );
    }

    #[test]
    fn sbom_requests() {
        assert_eq!(opts(&[]).unwrap().sbom, Sbom::Off);
        assert_eq!(opts(&["attest:sbom="]).unwrap().sbom, Sbom::Own);
        assert_eq!(
            opts(&["attest:sbom=disabled=true"]).unwrap().sbom,
            Sbom::Off
        );
        assert_eq!(
            opts(&["attest:sbom=generator=x/scanner:1,disabled=false"])
                .unwrap()
                .sbom,
            Sbom::Generator("x/scanner:1".into())
        );
    }

    #[test]
    fn bad_run_options_name_their_flag() {
        for (opt, needle) in [
            (
                "force-network-mode=bridge",
                "--network bridge is not supported",
            ),
            ("add-hosts=db", "--add-host db: expected host=ip"),
            ("add-hosts=db=not-an-ip", "`not-an-ip` is not an IP address"),
            ("ulimit=nofiles=1", "unknown limit `nofiles`"),
            ("ulimit=nofile=2:1", "soft limit is above the hard limit"),
            ("ulimit=nofile=x", "`x` is not a number"),
            ("shm-size=64m", "--shm-size 64m: expected a size in bytes"),
            ("no-cache=stage1", "--no-cache-filter stage1: not a part"),
            ("cgroup-parent=/ci", "--cgroup-parent is not supported"),
        ] {
            let e = opts(&[opt]).unwrap_err();
            assert!(e.contains(needle), "{opt}: {e}");
        }
        // An empty cgroup parent is no request at all.
        assert!(opts(&["cgroup-parent="]).is_ok());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(
            opts(&["target=nope"])
                .unwrap_err()
                .contains("unknown target")
        );
        assert!(opts(&["build-arg:AISHELL_MERGE=x"]).is_err());
        assert!(opts(&["platform=linux"]).is_err());
        let e = opts(&["build-arg:AISHELL_LOG=loud"]).unwrap_err();
        assert!(e.contains("error, warn, info, debug"), "{e}");
    }

    #[test]
    fn the_log_level_is_warn_unless_asked() {
        assert_eq!(opts(&[]).unwrap().log, LogLevel::Warn);
        assert_eq!(
            opts(&["build-arg:AISHELL_LOG=DEBUG"]).unwrap().log,
            LogLevel::Debug
        );
        assert_eq!(
            opts(&["build-arg:AISHELL_LOG=info"]).unwrap().log,
            LogLevel::Info
        );
    }

    #[test]
    fn worker_platform_is_the_default() {
        let env = vec![(
            "BUILDKIT_WORKERS".to_string(),
            r#"[{"id":"x","platforms":[{"architecture":"arm64","os":"linux"}]}]"#.to_string(),
        )];
        let o = Options::from_env(env).unwrap();
        assert_eq!(o.target_platforms()[0].to_string(), "linux/arm64");
    }
}
