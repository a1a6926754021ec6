//! The checks, on the facts of the layers (see [`super::facts`]): pure functions, the same
//! in the verdict step of a build and in the tests.

use super::facts::{Facts, NotGathered, join};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The folders on the way from `/` to `prefix`, the prefix excluded: what
/// [`outside_prefix`] and [`parents_changed`] list (`/tools` → `/`; `/opt/tools` → `/`,
/// `/opt`).
pub fn ancestors(prefix: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let parts: Vec<&str> = prefix.trim_start_matches('/').split('/').collect();
    let mut dir = "/".to_string();
    for component in parts.iter().take(parts.len().saturating_sub(1)) {
        dir = join(&dir, component);
        out.push(dir.clone());
    }
    out
}

/// The folders of a harness layer where two tools can collide: the bin folders and npm's
/// global package folder (whose `@scope` folders are listed too).
pub fn provided_dirs(prefix: &str) -> [String; 3] {
    [
        format!("{prefix}/bin"),
        format!("{prefix}/npm/bin"),
        format!("{prefix}/npm/lib/node_modules"),
    ]
}

/// Paths of a harness layer outside `prefix`: walks from `/` down the prefix's components
/// and reports every entry that is not on that path.
pub fn outside_prefix(layer: &Facts, prefix: &str) -> Result<Vec<String>, NotGathered> {
    let mut bad = Vec::new();
    let mut dir = "/".to_string();
    for component in prefix.trim_start_matches('/').split('/') {
        let Some(entries) = layer.list(&dir)? else {
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
pub fn provided(layer: &Facts, prefix: &str) -> Result<Vec<String>, NotGathered> {
    let [bin, npm_bin, modules] = provided_dirs(prefix);
    let mut out = Vec::new();
    for dir in [bin, npm_bin] {
        for e in layer.list(&dir)?.unwrap_or_default() {
            out.push(join(&dir, &e.name));
        }
    }
    for e in layer.list(&modules)?.unwrap_or_default() {
        // npm's own bookkeeping files (.package-lock.json) are not a tool's content.
        if e.name.starts_with('.') {
            continue;
        }
        let p = join(&modules, &e.name);
        if e.name.starts_with('@') && e.dir {
            for s in layer.list(&p)?.unwrap_or_default() {
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
pub fn extension_under_prefix(
    extension: &Facts,
    foundation: &Facts,
    prefix: &str,
) -> Result<Vec<String>, NotGathered> {
    let mut found = Vec::new();
    let mut todo = vec![prefix.to_string()];
    let mut visited = 0;
    while let Some(dir) = todo.pop() {
        visited += 1;
        if visited > MAX_SHARED_DIRS {
            break;
        }
        let Some(ext) = extension.list(&dir)? else {
            continue;
        };
        let base = foundation.list(&dir)?.unwrap_or_default();
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

/// The folders from `/` down to `prefix` (the prefix included) that the harness layer
/// `layer` carries differently from the image `below` it: as a folder where `below` has a
/// symlink or a file, or with another mode or owner. Folders `below` lacks are new and fine.
pub fn parents_changed(
    layer: &Facts,
    below: &Facts,
    prefix: &str,
) -> Result<Vec<ParentChange>, NotGathered> {
    let mut out = Vec::new();
    let mut dir = "/".to_string();
    for component in prefix.trim_start_matches('/').split('/') {
        let find = |entries: Option<&[super::facts::Entry]>| {
            entries
                .unwrap_or_default()
                .iter()
                .find(|e| e.name == component)
                .cloned()
        };
        let path = join(&dir, component);
        let Some(up) = find(layer.list(&dir)?) else {
            break;
        };
        if !up.dir {
            break;
        }
        if let Some(low) = find(below.list(&dir)?) {
            if let Some(target) = &low.symlink {
                out.push(ParentChange::ReplacesSymlink {
                    path: path.clone(),
                    target: target.clone(),
                });
                break;
            }
            if !low.dir {
                out.push(ParentChange::ReplacesFile { path: path.clone() });
                break;
            }
            if (low.perm, low.uid, low.gid) != (up.perm, up.uid, up.gid) {
                out.push(ParentChange::Metadata {
                    path: path.clone(),
                    below: low.owner_and_mode(),
                    layer: up.owner_and_mode(),
                });
            }
        }
        dir = path;
    }
    Ok(out)
}

/// How a harness layer's folder differs from the image below (see [`parents_changed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum ParentChange {
    /// Below, `path` is a symlink to `target`; the layer has a real folder there.
    ReplacesSymlink {
        /// The path.
        path: String,
        /// The symlink's target, as stored.
        target: String,
    },
    /// Below, `path` is a file.
    ReplacesFile {
        /// The path.
        path: String,
    },
    /// Both are folders, with another mode or owner (`"1777 0:0"`).
    Metadata {
        /// The path.
        path: String,
        /// Mode and owner below.
        below: String,
        /// Mode and owner in the layer.
        layer: String,
    },
}

/// `prefix` with the symlink at `path` (pointing at `target`) resolved, e.g. `/lib/aishell`
/// with `/lib -> usr/lib` gives `/usr/lib/aishell`.
pub fn resolve_symlink(prefix: &str, path: &str, target: &str) -> String {
    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    let base = if target.starts_with('/') {
        target.trim_end_matches('/').to_string()
    } else {
        format!("{parent}/{}", target.trim_end_matches('/'))
    };
    // Normalise `.` and `..` components.
    let mut parts: Vec<&str> = Vec::new();
    for c in base.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let rest = prefix.strip_prefix(path).unwrap_or("");
    format!("/{}{rest}", parts.join("/"))
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
    /// A tool's folder on the way to the prefix differs from the image below.
    Parent {
        /// The tool.
        tool: String,
        /// The harness prefix.
        prefix: String,
        /// What differs.
        change: ParentChange,
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
            Violation::Parent {
                tool,
                prefix,
                change: ParentChange::ReplacesSymlink { path, target },
            } => write!(
                f,
                "harness tool {tool} has a folder at {path}, but in the image below {path} is a symlink to {target}; merged layers do not follow symlinks, so the folder would replace the symlink and hide everything behind it. Set harness.prefix to a path without symlinks: {}",
                resolve_symlink(prefix, path, target)
            ),
            Violation::Parent {
                tool,
                change: ParentChange::ReplacesFile { path },
                ..
            } => write!(
                f,
                "harness tool {tool} has a folder at {path}, but in the image below {path} is a file that the merge would replace; change harness.prefix"
            ),
            Violation::Parent {
                tool,
                change: ParentChange::Metadata { path, below, layer },
                ..
            } => write!(
                f,
                "harness tool {tool} carries the folder {path} as {layer} (mode uid:gid), but the image below has it as {below}; the merge would replace the folder's mode and owner. Put harness.prefix under folders that are root-owned 0755 (the default /tools is)"
            ),
            Violation::Collision { path, tools } => write!(
                f,
                "harness tools {} both provide {path}; the upper layer would silently hide the other",
                tools.join(" and ")
            ),
        }
    }
}

/// A path that more than one tool provides, with those tools in layer order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collision {
    /// The path.
    pub path: String,
    /// The tools providing it.
    pub tools: Vec<String>,
}

/// Paths provided by more than one tool, from `(tool, paths)` lists.
pub fn collisions(provided: &[(String, Vec<String>)]) -> Vec<Collision> {
    let mut by_path: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (tool, paths) in provided {
        for p in paths {
            by_path.entry(p).or_default().push(tool.clone());
        }
    }
    by_path
        .into_iter()
        .filter(|(_, t)| t.len() > 1)
        .map(|(p, tools)| Collision {
            path: p.to_string(),
            tools,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::facts::Entry;
    use super::*;

    fn entry(name: &str, dir: bool) -> Entry {
        Entry {
            name: name.into(),
            dir,
            symlink: None,
            perm: if dir { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
        }
    }

    fn facts(dirs: &[(&str, Option<Vec<Entry>>)]) -> Facts {
        Facts {
            dirs: dirs
                .iter()
                .map(|(d, e)| (d.to_string(), e.clone()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_folders_on_the_way_to_the_prefix() {
        assert_eq!(ancestors("/tools"), ["/"]);
        assert_eq!(
            ancestors("/opt/aishell/tools"),
            ["/", "/opt", "/opt/aishell"]
        );
    }

    #[test]
    fn a_layer_writing_beside_the_prefix_is_outside() {
        let layer = facts(&[
            ("/", Some(vec![entry("etc", true), entry("opt", true)])),
            ("/opt", Some(vec![entry("tools", true), entry("x", false)])),
        ]);
        assert_eq!(
            outside_prefix(&layer, "/opt/tools").unwrap(),
            ["/etc", "/opt/x"]
        );
    }

    #[test]
    fn provided_skips_npm_bookkeeping_and_opens_scopes() {
        let layer = facts(&[
            ("/tools/bin", Some(vec![entry("t", false)])),
            ("/tools/npm/bin", None),
            (
                "/tools/npm/lib/node_modules",
                Some(vec![
                    entry(".package-lock.json", false),
                    entry("@s", true),
                    entry("plain", true),
                ]),
            ),
            (
                "/tools/npm/lib/node_modules/@s",
                Some(vec![entry("pkg", true)]),
            ),
        ]);
        assert_eq!(
            provided(&layer, "/tools").unwrap(),
            [
                "/tools/bin/t",
                "/tools/npm/lib/node_modules/@s/pkg",
                "/tools/npm/lib/node_modules/plain"
            ]
        );
    }

    #[test]
    fn a_check_asking_for_a_folder_not_gathered_is_an_error_not_a_pass() {
        let layer = facts(&[("/", Some(vec![]))]);
        assert_eq!(
            provided(&layer, "/tools").unwrap_err(),
            NotGathered("/tools/bin".into())
        );
    }

    #[test]
    fn parents_that_replace_a_symlink_or_change_a_mode_are_found() {
        let mut lib_link = entry("lib", false);
        lib_link.symlink = Some("usr/lib".into());
        let below = facts(&[("/", Some(vec![lib_link, entry("tmp", true)]))]);
        let mut tmp = entry("tmp", true);
        tmp.perm = 0o1777;
        let below_tmp = facts(&[("/", Some(vec![tmp])), ("/tmp", Some(vec![]))]);
        let layer = facts(&[
            ("/", Some(vec![entry("lib", true), entry("tmp", true)])),
            ("/tmp", Some(vec![entry("aishell", true)])),
        ]);
        assert_eq!(
            parents_changed(&layer, &below, "/lib/aishell").unwrap(),
            [ParentChange::ReplacesSymlink {
                path: "/lib".into(),
                target: "usr/lib".into()
            }]
        );
        assert_eq!(
            parents_changed(&layer, &below_tmp, "/tmp/aishell").unwrap(),
            [ParentChange::Metadata {
                path: "/tmp".into(),
                below: "1777 0:0".into(),
                layer: "0755 0:0".into()
            }]
        );
    }

    #[test]
    fn symlinks_in_the_prefix_are_resolved_for_the_hint() {
        assert_eq!(
            resolve_symlink("/lib/aishell", "/lib", "usr/lib"),
            "/usr/lib/aishell"
        );
        assert_eq!(
            resolve_symlink("/opt/x/tools", "/opt/x", "../srv/x/"),
            "/srv/x/tools"
        );
        assert_eq!(resolve_symlink("/a/b", "/a", "/c/d"), "/c/d/b");
    }

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
            vec![Collision {
                path: "/tools/npm/bin/x".into(),
                tools: vec!["a".into(), "b".into()]
            }]
        );
    }

    #[test]
    fn messages_are_those_users_know() {
        let v = Violation::Collision {
            path: "/tools/npm/bin/x".into(),
            tools: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            v.to_string(),
            "harness tools a and b both provide /tools/npm/bin/x; the upper layer would silently hide the other"
        );
        let many: Vec<String> = (0..12).map(|i| format!("/p{i}")).collect();
        let v = Violation::Outside {
            tool: "t".into(),
            paths: many,
        };
        assert!(v.to_string().contains("/p9 (and 2 more)"));
    }
}
