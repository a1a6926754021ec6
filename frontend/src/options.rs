//! Frontend options: what `docker buildx build` flags arrive as.
//!
//! BuildKit passes each option as an environment variable `BUILDKIT_FRONTEND_OPT_<n>` whose
//! value is `key=value` (the numbering is random, so only the value counts), plus
//! `BUILDKIT_SESSION_ID` and `BUILDKIT_WORKERS`. [`Options::from_env`] turns them into
//! typed fields; conversion never looks at the environment itself.
//!
//! ```
//! use aishell_frontend::options::Options;
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

use crate::platform::Platform;
use std::collections::BTreeMap;

/// `--target` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The foundation alone.
    Foundation,
    /// Foundation plus extension.
    Extension,
    /// The harness layers alone, from scratch.
    Harness,
    /// The whole image (default).
    Image,
}

impl Target {
    /// All targets, the default last.
    pub const ALL: [Target; 4] = [
        Target::Foundation,
        Target::Extension,
        Target::Harness,
        Target::Image,
    ];

    /// The `--target` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Target::Foundation => "foundation",
            Target::Extension => "extension",
            Target::Harness => "harness",
            Target::Image => "image",
        }
    }

    /// Parses a `--target` value.
    ///
    /// Errors: an unknown name, with the list of valid ones.
    pub fn parse(s: &str) -> Result<Self, String> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown target `{s}`; this spec has the targets foundation, extension, harness and image (default)"
                )
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
    /// `--no-cache` (all vertices).
    pub no_cache: bool,
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
    /// Default platform of the first worker, if the daemon said.
    pub worker_platform: Option<Platform>,
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
            no_cache: false,
            image_resolve_mode: None,
            cache_imports: Vec::new(),
            request_id: None,
            session_id: String::new(),
            dockerfile_session_id: None,
            dockerfile_key: "dockerfile".into(),
            context_key: "context".into(),
            merge_mode: MergeMode::Merge,
            worker_platform: None,
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
                    "no-cache" => o.no_cache = value.is_empty() || truthy(&value),
                    "image-resolve-mode" => o.image_resolve_mode = Some(value),
                    "cache-imports" => o.cache_imports = parse_cache_imports(&value)?,
                    "requestid" => o.request_id = Some(value),
                    "dockerfilekey" => o.dockerfile_key = value,
                    "contextkey" => o.context_key = value,
                    "local-sessionid:dockerfile" => o.dockerfile_session_id = Some(value),
                    _ => {}
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

    /// The proxies of the predefined proxy build arguments (`HTTP_PROXY`, `https_proxy`, …,
    /// in any case, as BuildKit's Dockerfile frontend reads them), or `None` without any.
    ///
    /// ```
    /// use aishell_frontend::options::Options;
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
        assert!(o.no_cache);
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
