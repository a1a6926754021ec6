//! A layer's facts: the listings of the few folders the checks look at, gathered once per
//! layer inside a build step and kept as a small JSON file.
//!
//! The checks never need a layer's content, only some folder listings (the folders on the
//! way to the harness prefix, the bin folders, the tree under the prefix). Gathering them in
//! a step of the graph means BuildKit caches them like any other step, keyed by the layer:
//! a cached layer's facts come from the cache without the layer being pulled or unpacked.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One entry of a folder listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Base name.
    pub name: String,
    /// Is a folder (a symlink to a folder is not).
    pub dir: bool,
    /// The target, when it is a symlink, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
    /// Permission bits as `chmod` writes them: rwx plus setuid 0o4000, setgid 0o2000 and
    /// sticky 0o1000.
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl Entry {
    /// `"1777 0:0"`: mode and owner, as the guards' messages show them.
    pub fn owner_and_mode(&self) -> String {
        format!("{:04o} {}:{}", self.perm, self.uid, self.gid)
    }
}

/// Which folders of a layer to list.
///
/// ```
/// use aishell_frontend::guards::facts::FactsRequest;
/// let r = FactsRequest { dirs: vec!["/".into()], ..Default::default() };
/// assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"dirs":["/"],"scoped":[],"trees":[]}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsRequest {
    /// Folders listed as they are.
    pub dirs: Vec<String>,
    /// Folders listed with their `@scope` sub-folders (npm's scoped packages).
    pub scoped: Vec<String>,
    /// Folders listed with every folder under them, up to [`MAX_TREE_DIRS`] in all.
    pub trees: Vec<String>,
}

/// How many folders the trees of one request list at most, so that a huge tree under the
/// prefix (a foundation that ships its own `/tools`) cannot make a facts file of megabytes.
/// The extension check descends into at most 200 folders that both sides have, far fewer.
pub const MAX_TREE_DIRS: usize = 2000;

/// The listings of one layer: folder → its entries sorted by name, or `None` when the
/// folder does not exist (or is not a folder).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// The listings.
    pub dirs: BTreeMap<String, Option<Vec<Entry>>>,
    /// The trees asked for, with `true` where [`MAX_TREE_DIRS`] cut the tree short.
    pub trees: BTreeMap<String, bool>,
}

/// A folder the checks asked for that the facts do not hold: the request that gathered
/// them did not cover that check (a bug of ours, never of the user's layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotGathered(pub String);

impl std::fmt::Display for NotGathered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the layer's facts do not list {}", self.0)
    }
}

impl Facts {
    /// The entries of `dir`, `None` when it does not exist. A folder under a tree that was
    /// listed whole does not exist when it is not in the facts; under a tree cut short it
    /// counts as missing too (the checks then look no deeper, as their own limit does).
    ///
    /// Errors: `dir` was not gathered at all.
    pub fn list(&self, dir: &str) -> Result<Option<&[Entry]>, NotGathered> {
        if let Some(entries) = self.dirs.get(dir) {
            return Ok(entries.as_deref());
        }
        if self.trees.keys().any(|t| is_under(dir, t)) {
            return Ok(None);
        }
        Err(NotGathered(dir.to_string()))
    }
}

fn is_under(dir: &str, tree: &str) -> bool {
    let tree = tree.trim_end_matches('/');
    dir.strip_prefix(tree)
        .is_some_and(|rest| rest.starts_with('/') || tree.is_empty())
}

/// `dir/name`, without a double slash under `/`.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// A read-only filesystem that can be listed.
pub trait Tree {
    /// The entries of `dir` (an absolute path inside the tree), sorted by name; `None`
    /// when it does not exist or is not a folder.
    ///
    /// Errors: the folder exists but cannot be read.
    fn list(&self, dir: &str) -> io::Result<Option<Vec<Entry>>>;
}

/// Lists `req`'s folders of `tree`.
///
/// Errors: a folder could not be read.
pub fn gather(tree: &impl Tree, req: &FactsRequest) -> io::Result<Facts> {
    let mut facts = Facts::default();
    for dir in &req.dirs {
        list_into(tree, &mut facts, dir)?;
    }
    for dir in &req.scoped {
        let scopes: Vec<String> = list_into(tree, &mut facts, dir)?
            .iter()
            .filter(|e| e.dir && e.name.starts_with('@'))
            .map(|e| join(dir, &e.name))
            .collect();
        for scope in scopes {
            list_into(tree, &mut facts, &scope)?;
        }
    }
    let mut listed = 0;
    for root in &req.trees {
        let mut todo = vec![root.clone()];
        let mut cut = false;
        while let Some(dir) = todo.pop() {
            if listed >= MAX_TREE_DIRS {
                cut = true;
                break;
            }
            listed += 1;
            let entries = list_into(tree, &mut facts, &dir)?;
            // Reversed, so the folders are listed in name order (the stack pops the last).
            for e in entries.iter().rev().filter(|e| e.dir) {
                todo.push(join(&dir, &e.name));
            }
        }
        facts.trees.insert(root.clone(), cut);
    }
    Ok(facts)
}

/// Lists `dir` into `facts` (once) and returns its entries (empty when it does not exist).
fn list_into(tree: &impl Tree, facts: &mut Facts, dir: &str) -> io::Result<Vec<Entry>> {
    if !facts.dirs.contains_key(dir) {
        facts.dirs.insert(dir.to_string(), tree.list(dir)?);
    }
    Ok(facts.dirs[dir].clone().unwrap_or_default())
}

/// A folder of this machine seen as the root of a layer: paths are resolved inside it, and
/// a symlink on the way is followed inside it too (an absolute target starts again at the
/// folder, never at this machine's `/`), as BuildKit resolves paths in a mounted layer.
#[derive(Debug, Clone)]
pub struct RootTree {
    root: PathBuf,
}

/// How many symlinks a path may pass through before it counts as a loop (Linux's limit).
const MAX_SYMLINKS: usize = 40;

impl RootTree {
    /// The tree rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RootTree { root: root.into() }
    }

    /// The real path of `dir` inside the root, every symlink resolved; `None` when a
    /// component does not exist or symlinks loop.
    fn resolve(&self, dir: &str) -> io::Result<Option<PathBuf>> {
        let mut todo: Vec<String> = components(dir).rev().collect();
        let mut done: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            let path = self.path_of(&done).join(&c);
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if missing(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            if !meta.file_type().is_symlink() {
                done.push(c);
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Ok(None);
            }
            let target = std::fs::read_link(&path)?.to_string_lossy().into_owned();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(components(&target).rev());
        }
        Ok(Some(self.path_of(&done)))
    }

    fn path_of(&self, components: &[String]) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(components);
        p
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = String> + '_ {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
}

fn missing(e: &io::Error) -> bool {
    // ENOTDIR: a file where the path needs a folder.
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20)
}

impl Tree for RootTree {
    fn list(&self, dir: &str) -> io::Result<Option<Vec<Entry>>> {
        let Some(path) = self.resolve(dir)? else {
            return Ok(None);
        };
        let read = match std::fs::read_dir(&path) {
            Ok(r) => r,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for item in read {
            let item = item?;
            out.push(entry_of(
                &item.path(),
                item.file_name().to_string_lossy().into(),
            )?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(out))
    }
}

fn entry_of(path: &Path, name: String) -> io::Result<Entry> {
    let meta = std::fs::symlink_metadata(path)?;
    let symlink = if meta.file_type().is_symlink() {
        Some(std::fs::read_link(path)?.to_string_lossy().into_owned())
    } else {
        None
    };
    Ok(Entry {
        name,
        dir: meta.is_dir(),
        symlink,
        perm: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn layer() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("usr/lib/x")).unwrap();
        std::fs::create_dir_all(r.join("tools/npm/lib/node_modules/@scope/pkg")).unwrap();
        std::fs::create_dir_all(r.join("tools/npm/lib/node_modules/plain")).unwrap();
        std::fs::write(
            r.join("tools/npm/lib/node_modules/.package-lock.json"),
            "{}",
        )
        .unwrap();
        std::fs::create_dir_all(r.join("tmp")).unwrap();
        std::fs::set_permissions(r.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("/usr/lib", r.join("abs")).unwrap();
        symlink("../../..", r.join("usr/lib/x/up")).unwrap();
        std::fs::write(r.join("file"), "x").unwrap();
        t
    }

    #[test]
    fn listings_show_kind_mode_and_symlink_targets_sorted_by_name() {
        let t = layer();
        let root = RootTree::new(t.path()).list("/").unwrap().unwrap();
        let names: Vec<&str> = root.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["abs", "file", "lib", "tmp", "tools", "usr"]);
        let lib = &root[2];
        assert_eq!(lib.symlink.as_deref(), Some("usr/lib"));
        assert!(!lib.dir, "a symlink to a folder is not a folder");
        assert_eq!(root[3].perm, 0o1777);
        assert!(root[3].dir);
    }

    #[test]
    fn symlinks_resolve_inside_the_root_never_outside() {
        let t = layer();
        let tree = RootTree::new(t.path());
        let via_rel = tree.list("/lib").unwrap().unwrap();
        let via_abs = tree.list("/abs").unwrap().unwrap();
        assert_eq!(via_rel[0].name, "x");
        assert_eq!(
            via_abs, via_rel,
            "an absolute target starts at the layer's root"
        );
        // `..` past the root stays at the root.
        let up = tree.list("/usr/lib/x/up").unwrap().unwrap();
        assert!(up.iter().any(|e| e.name == "tools"));
        assert_eq!(tree.list("/missing").unwrap(), None);
        assert_eq!(tree.list("/file").unwrap(), None, "a file is not a folder");
        assert_eq!(tree.list("/file/below").unwrap(), None);
    }

    #[test]
    fn symlink_loops_are_missing_folders() {
        let t = tempfile::tempdir().unwrap();
        symlink("b", t.path().join("a")).unwrap();
        symlink("a", t.path().join("b")).unwrap();
        assert_eq!(RootTree::new(t.path()).list("/a").unwrap(), None);
    }

    #[test]
    fn gather_lists_dirs_scopes_and_trees() {
        let t = layer();
        let facts = gather(
            &RootTree::new(t.path()),
            &FactsRequest {
                dirs: vec!["/".into(), "/nothing".into()],
                scoped: vec!["/tools/npm/lib/node_modules".into()],
                trees: vec!["/usr".into()],
            },
        )
        .unwrap();
        let keys: Vec<&str> = facts.dirs.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "/",
                "/nothing",
                "/tools/npm/lib/node_modules",
                "/tools/npm/lib/node_modules/@scope",
                "/usr",
                "/usr/lib",
                "/usr/lib/x",
            ]
        );
        assert_eq!(facts.list("/nothing").unwrap(), None);
        assert!(!facts.trees["/usr"], "listed whole");
        // Under a tree listed whole, a folder not in the facts does not exist.
        assert_eq!(facts.list("/usr/share").unwrap(), None);
        // Outside everything gathered, asking is a bug.
        assert_eq!(facts.list("/etc").unwrap_err(), NotGathered("/etc".into()));
        // `/usr/lib/x/up` is a symlink: not descended into.
        assert!(!facts.dirs.contains_key("/usr/lib/x/up"));
    }

    #[test]
    fn trees_stop_at_the_limit_and_say_so() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..(MAX_TREE_DIRS + 5) {
            std::fs::create_dir_all(t.path().join(format!("tools/d{i:05}"))).unwrap();
        }
        let facts = gather(
            &RootTree::new(t.path()),
            &FactsRequest {
                trees: vec!["/tools".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(facts.trees["/tools"], "cut short");
        assert_eq!(facts.dirs.len(), MAX_TREE_DIRS);
        // Listed in name order: the first folders are there, the last are not.
        assert!(facts.dirs.contains_key("/tools/d00000"));
        assert!(
            !facts
                .dirs
                .contains_key(&format!("/tools/d{:05}", MAX_TREE_DIRS + 4))
        );
    }

    #[test]
    fn facts_round_trip_through_json() {
        let t = layer();
        let facts = gather(
            &RootTree::new(t.path()),
            &FactsRequest {
                dirs: vec!["/".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let text = serde_json::to_string(&facts).unwrap();
        assert_eq!(serde_json::from_str::<Facts>(&text).unwrap(), facts);
    }
}
