//! The build context: which of its paths the spec copies, and small files read beforehand.
//!
//! Why small files are read before conversion: BuildKit keys a copy from `local://context`
//! by the content of the copied files (the local source itself has a per-session key). On
//! a fresh CI runner that imports two registry caches (the shared harness cache and the
//! project's), BuildKit v0.32.2 finds a step built on such a copy reliably in one of them
//! only; measured with a plain Dockerfile by `bench/repro/cross-cache`: with the copy in
//! the base, a tool step held by the other cache ran again in 13 of 15 fresh jobs; with
//! the same file written by the Dockerfile itself, 0 of 5. An npm tool is installed on
//! the foundation, so a foundation `copy` of an entrypoint script made every project job
//! install its npm tools again.
//!
//! So a context copy of a small regular file is emitted as one file op that writes the
//! file's bytes (read through the gateway) into a scratch area and copies it from there
//! with the same copy options: the same files in the layer, and a cache key that follows
//! from the graph alone, like every other step. Directories, wildcards, symlinks, special
//! permission bits and files over [`FILE_MAX`] (or past [`TOTAL_MAX`] in all) are still
//! copied from `local://context`.

use crate::graph::names::{ProgressName, ProgressNames, Tag};
use crate::graph::options::Options;
use crate::spec::{CopySource, Extension, Spec};
use llb_graph::{Source, State};
use std::collections::BTreeMap;

/// The largest context file written into the graph instead of copied from the context.
pub const FILE_MAX: u64 = 256 * 1024;

/// The most bytes of context files written into one platform's graph.
pub const TOTAL_MAX: u64 = 1024 * 1024;

/// Go `os.FileMode` bits that mark anything but a regular file (directory, symlink, device,
/// pipe, socket, character device, irregular), as the gateway's `StatFile` reports them.
const NOT_REGULAR: u32 =
    (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19);

/// Go `os.FileMode` bits for setuid, setgid and sticky: such files keep being copied from
/// the context, whose copy carries these bits exactly.
const SPECIAL: u32 = (1 << 23) | (1 << 22) | (1 << 20);

/// One regular file of the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Its bytes.
    pub data: Vec<u8>,
    /// Its permission bits (`0o755`).
    pub mode: u32,
}

/// Small regular files of the build context by the path the spec copies (`docker/entrypoint.sh`,
/// without a leading `./`).
///
/// ```
/// use aishell_frontend::graph::context::{ContextFile, ContextFiles};
/// let mut files = ContextFiles::default();
/// assert!(files.offer("a.sh", 0o755, 3));
/// files.insert("a.sh", ContextFile { data: b"x=1".to_vec(), mode: 0o755 });
/// assert_eq!(files.get("./a.sh").unwrap().mode, 0o755);
/// // directories stay copied from the context
/// assert!(!files.offer("dir", (1 << 31) | 0o755, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextFiles {
    files: BTreeMap<String, ContextFile>,
    bytes: u64,
}

impl ContextFiles {
    /// The file copied as `path`, when it was read.
    pub fn get(&self, path: &str) -> Option<&ContextFile> {
        self.files.get(normal(path))
    }

    /// Whether a file with Go `os.FileMode` `mode` and `size` bytes is to be read and
    /// written into the graph: a regular file without special bits, within the limits.
    pub fn offer(&self, path: &str, mode: u32, size: u64) -> bool {
        literal(path)
            && mode & (NOT_REGULAR | SPECIAL) == 0
            && size <= FILE_MAX
            && self.bytes + size <= TOTAL_MAX
    }

    /// Records a file that was read.
    pub fn insert(&mut self, path: &str, file: ContextFile) {
        self.bytes += file.data.len() as u64;
        self.files.insert(normal(path).to_string(), file);
    }
}

/// `path` as a key: without a leading `./`.
fn normal(path: &str) -> &str {
    path.trim_start_matches("./")
}

/// Whether `path` names one path (no wildcard, not the whole context).
fn literal(path: &str) -> bool {
    let p = normal(path).trim_matches('/');
    !p.is_empty()
        && p != "."
        && !p.contains(['*', '?', '[', '\\'])
        && !p.split('/').any(|c| c == "..")
}

/// The context paths the spec's foundation and inline extension copy, sorted, each once.
pub fn copied_paths<U>(spec: &Spec<U>) -> Vec<String> {
    let mut steps = vec![&spec.foundation.steps];
    if let Some(Extension::Inline { steps: s, .. }) = &spec.extension {
        steps.push(s);
    }
    let mut paths: Vec<String> = steps
        .iter()
        .flat_map(|s| &s.copy)
        .filter(|c| c.from == CopySource::Context)
        .map(|c| normal(&c.src.value).to_string())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The paths of [`copied_paths`] that may be read beforehand (literal paths).
pub fn readable_paths<U>(spec: &Spec<U>) -> Vec<String> {
    copied_paths(spec)
        .into_iter()
        .filter(|p| literal(p))
        .collect()
}

/// The build context restricted to the paths the spec copies and that `read` does not
/// hold (so unrelated edits in the project never invalidate a copy step), or scratch
/// when nothing is left to copy from it. Its progress name is recorded in `names`.
pub fn source<U>(
    spec: &Spec<U>,
    opts: &Options,
    read: &ContextFiles,
    names: &mut ProgressNames,
) -> State {
    let paths: Vec<String> = copied_paths(spec)
        .into_iter()
        .filter(|p| read.get(p).is_none())
        .collect();
    if paths.is_empty() {
        return State::scratch();
    }
    let name = ProgressName::new(Tag::Internal, "load build context");
    let state = local(&paths, opts).build(name.meta());
    names.record(&state, name);
    state
}

/// The local source of the context restricted to `paths`.
pub fn local(paths: &[String], opts: &Options) -> Source {
    let list = serde_json::to_string(paths).unwrap_or_default();
    Source::local(&opts.context_key)
        .attr("local.session", opts.session_id.clone())
        .cap("source.local.sessionid")
        .attr("local.sharedkeyhint", opts.context_key.clone())
        .cap("source.local.sharedkeyhint")
        .attr("local.includepattern", list.clone())
        .cap("source.local.includepatterns")
        .attr("local.followpaths", list)
        .cap("source.local.followpaths")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize) -> ContextFile {
        ContextFile {
            data: vec![b'x'; n],
            mode: 0o644,
        }
    }

    #[test]
    fn only_small_regular_literal_files_are_offered() {
        let f = ContextFiles::default();
        assert!(f.offer("docker/entrypoint.sh", 0o755, 10));
        assert!(f.offer("./a", 0o644, FILE_MAX));
        assert!(!f.offer("a", 0o644, FILE_MAX + 1), "too big");
        assert!(!f.offer("d", (1 << 31) | 0o755, 0), "directory");
        assert!(!f.offer("l", (1 << 27) | 0o777, 4), "symlink");
        assert!(!f.offer("s", (1 << 23) | 0o755, 4), "setuid");
        for p in ["*.sh", "a?", "[ab]", ".", "./", "", "../x", "a/../../b"] {
            assert!(!f.offer(p, 0o644, 1), "{p:?}");
        }
    }

    #[test]
    fn the_total_is_capped() {
        let mut f = ContextFiles::default();
        let mut n = 0;
        while f.offer("a", 0o644, FILE_MAX) {
            f.insert(&format!("f{n}"), file(FILE_MAX as usize));
            n += 1;
        }
        assert_eq!(n as u64, TOTAL_MAX / FILE_MAX);
        assert!(f.offer("small", 0o644, TOTAL_MAX - n as u64 * FILE_MAX));
        assert!(!f.offer("one more", 0o644, TOTAL_MAX - n as u64 * FILE_MAX + 1));
    }

    #[test]
    fn lookups_ignore_a_leading_dot_slash() {
        let mut f = ContextFiles::default();
        f.insert("./x/y", file(1));
        assert!(f.get("x/y").is_some());
        assert!(f.get("./x/y").is_some());
        assert!(f.get("y").is_none());
    }
}
