//! Merge guards, checked on the built layers through the gateway.
//!
//! MergeOp stacks layers by path, and the later layer silently wins. So before an image is
//! returned we verify, on the real filesystems:
//! * every harness layer writes only under the harness prefix (a tool must never clobber
//!   the dpkg database, `/etc/passwd` or `/usr/local` of the extension);
//! * the extension writes nothing under the prefix;
//! * no two harness layers provide the same file (two npm packages with one bin name).
//!
//! Each check lists directories with `ReadDir`, which builds the layer if needed (it had to
//! be built anyway) and costs a handful of calls per layer.

use crate::gateway::Bridge;
use aishell_proto::gateway as gw;
use std::collections::BTreeMap;

/// Go's `os.ModeDir` bit in `fsutil.types.Stat.mode`.
const MODE_DIR: u32 = 1 << 31;

/// A layer to check: its kind, tool name and the ref of its filesystem.
#[derive(Debug, Clone)]
pub struct BuiltLayer {
    /// `harness` tool name, e.g. `@openai/codex`.
    pub name: String,
    /// The ref of the layer alone (a diff, or a scratch-rooted tree).
    pub r#ref: String,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Base name.
    pub name: String,
    /// Is a directory.
    pub dir: bool,
}

/// Lists `dir` of `r#ref`; `Ok(None)` when it does not exist.
///
/// Errors: any other gateway failure (e.g. the layer failed to build), passed on.
pub async fn list<B: Bridge>(
    b: &mut B,
    r#ref: &str,
    dir: &str,
) -> Result<Option<Vec<Entry>>, tonic::Status> {
    match b
        .read_dir(gw::ReadDirRequest {
            r#ref: r#ref.to_string(),
            dir_path: dir.to_string(),
            ..Default::default()
        })
        .await
    {
        Ok(resp) => {
            let mut v: Vec<Entry> = resp
                .entries
                .into_iter()
                .map(|s| Entry {
                    name: s.path.rsplit('/').next().unwrap_or(&s.path).to_string(),
                    dir: s.mode & MODE_DIR != 0,
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(Some(v))
        }
        Err(s) if is_not_found(&s) => Ok(None),
        Err(s) => Err(s),
    }
}

fn is_not_found(s: &tonic::Status) -> bool {
    let m = s.message().to_ascii_lowercase();
    s.code() == tonic::Code::NotFound || m.contains("no such file") || m.contains("not found")
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Paths of a harness layer outside `prefix`: walks from `/` down the prefix's components
/// and reports every entry that is not on that path.
pub async fn outside_prefix<B: Bridge>(
    b: &mut B,
    r#ref: &str,
    prefix: &str,
) -> Result<Vec<String>, tonic::Status> {
    let mut bad = Vec::new();
    let mut dir = "/".to_string();
    for component in prefix.trim_start_matches('/').split('/') {
        let Some(entries) = list(b, r#ref, &dir).await? else {
            break;
        };
        for e in entries {
            if e.name != component {
                bad.push(join(&dir, &e.name));
            }
        }
        dir = join(&dir, component);
    }
    Ok(bad)
}

/// The files a harness layer provides in places where two tools can collide: the bin
/// folders and the package folders of npm's global tree.
pub async fn provided<B: Bridge>(
    b: &mut B,
    r#ref: &str,
    prefix: &str,
) -> Result<Vec<String>, tonic::Status> {
    let mut out = Vec::new();
    for dir in [format!("{prefix}/bin"), format!("{prefix}/npm/bin")] {
        for e in list(b, r#ref, &dir).await?.unwrap_or_default() {
            out.push(join(&dir, &e.name));
        }
    }
    let modules = format!("{prefix}/npm/lib/node_modules");
    for e in list(b, r#ref, &modules).await?.unwrap_or_default() {
        // npm's own bookkeeping files (.package-lock.json) are not a tool's content.
        if e.name.starts_with('.') {
            continue;
        }
        let p = join(&modules, &e.name);
        if e.name.starts_with('@') && e.dir {
            for s in list(b, r#ref, &p).await?.unwrap_or_default() {
                out.push(join(&p, &s.name));
            }
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// How many folders [`extension_under_prefix`] descends into that both the foundation and
/// the extension have, so a huge tree under the prefix cannot stall a build.
const MAX_SHARED_DIRS: usize = 200;

/// Entries under `prefix` in `extension` that the foundation does not have. Folders both
/// have are descended into (a foundation with `/tools/bin` must not hide an extension's
/// `/tools/bin/x`); a file both have by name is not compared by content.
pub async fn extension_under_prefix<B: Bridge>(
    b: &mut B,
    extension: &str,
    foundation: &str,
    prefix: &str,
) -> Result<Vec<String>, tonic::Status> {
    let mut found = Vec::new();
    let mut todo = vec![prefix.to_string()];
    let mut visited = 0;
    while let Some(dir) = todo.pop() {
        visited += 1;
        if visited > MAX_SHARED_DIRS {
            break;
        }
        let Some(ext) = list(b, extension, &dir).await? else {
            continue;
        };
        let base = list(b, foundation, &dir).await?.unwrap_or_default();
        for e in ext {
            match base.iter().find(|x| x.name == e.name) {
                None => found.push(join(&dir, &e.name)),
                Some(x) if x.dir && e.dir => todo.push(join(&dir, &e.name)),
                Some(_) => {}
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A problem found by the guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A harness tool wrote outside the prefix.
    Outside {
        /// The tool.
        tool: String,
        /// The paths.
        paths: Vec<String>,
    },
    /// The extension wrote under the prefix.
    ExtensionUnderPrefix {
        /// The paths.
        paths: Vec<String>,
    },
    /// Two tools provide the same path.
    Collision {
        /// The path.
        path: String,
        /// The tools providing it.
        tools: Vec<String>,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn some(paths: &[String]) -> String {
            let shown: Vec<&str> = paths.iter().take(10).map(String::as_str).collect();
            let more = paths.len().saturating_sub(10);
            if more > 0 {
                format!("{} (and {more} more)", shown.join(", "))
            } else {
                shown.join(", ")
            }
        }
        match self {
            Violation::Outside { tool, paths } => write!(
                f,
                "harness tool {tool} writes outside the harness prefix: {} (a harness layer may only add files under the prefix, or it could clobber the extension's files)",
                some(paths)
            ),
            Violation::ExtensionUnderPrefix { paths } => write!(
                f,
                "the extension writes under the harness prefix: {} (that folder belongs to the harness layers; move these files or change harness.prefix)",
                some(paths)
            ),
            Violation::Collision { path, tools } => write!(
                f,
                "harness tools {} both provide {path}; the upper layer would silently hide the other",
                tools.join(" and ")
            ),
        }
    }
}

/// Paths provided by more than one tool, from `(tool, paths)` lists.
pub fn collisions(provided: &[(String, Vec<String>)]) -> Vec<Violation> {
    let mut by_path: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (tool, paths) in provided {
        for p in paths {
            by_path.entry(p).or_default().push(tool.clone());
        }
    }
    by_path
        .into_iter()
        .filter(|(_, t)| t.len() > 1)
        .map(|(p, tools)| Violation::Collision {
            path: p.to_string(),
            tools,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_are_found_by_path() {
        let v = collisions(&[
            (
                "a".into(),
                vec!["/tools/npm/bin/x".into(), "/tools/npm/bin/a".into()],
            ),
            ("b".into(), vec!["/tools/npm/bin/x".into()]),
        ]);
        assert_eq!(
            v,
            vec![Violation::Collision {
                path: "/tools/npm/bin/x".into(),
                tools: vec!["a".into(), "b".into()]
            }]
        );
        assert!(v[0].to_string().contains("a and b"));
    }
}
