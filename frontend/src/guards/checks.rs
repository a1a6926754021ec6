//! Merge guards, checked on the built layers through the gateway.
//!
//! MergeOp stacks layers by path, and the later layer silently wins. So before an image is
//! returned we verify, on the real filesystems:
//! * every harness layer writes only under the harness prefix (a tool must never clobber
//!   the dpkg database, `/etc/passwd` or `/usr/local` of the extension);
//! * the extension writes nothing under the prefix;
//! * no two harness layers provide the same file (two npm packages with one bin name);
//! * no harness layer carries a folder on the way to the prefix that differs from the image
//!   below it: a merge does not follow the lower image's symlinks (a layer with a real `/lib`
//!   folder hides Debian's `/lib -> usr/lib` and every program stops working), and the upper
//!   layer's folder metadata wins (a `/tmp` folder made 0755 by a layer built from scratch
//!   takes away the sticky 1777 bit).
//!
//! Each check lists directories with `ReadDir`, which builds the layer if needed (it had to
//! be built anyway) and costs a handful of calls per layer.

use crate::gateway::{Bridge, GwResult, is_not_listed, not_listed};
use aishell_proto::gateway as gw;
use std::collections::BTreeMap;

/// Go's `os.ModeDir` bit in `fsutil.types.Stat.mode`.
const MODE_DIR: u32 = 1 << 31;
/// Go's `os.ModeSymlink`.
const MODE_SYMLINK: u32 = 1 << 27;
/// Go's `os.ModeSetuid`, `os.ModeSetgid` and `os.ModeSticky`.
const MODE_SETUID: u32 = 1 << 23;
const MODE_SETGID: u32 = 1 << 22;
const MODE_STICKY: u32 = 1 << 20;

/// The permission bits of a Go file mode the way `chmod` writes them: the nine rwx bits plus
/// setuid (0o4000), setgid (0o2000) and sticky (0o1000).
pub fn chmod_bits(go_mode: u32) -> u32 {
    let mut m = go_mode & 0o777;
    for (bit, octal) in [
        (MODE_SETUID, 0o4000),
        (MODE_SETGID, 0o2000),
        (MODE_STICKY, 0o1000),
    ] {
        if go_mode & bit != 0 {
            m |= octal;
        }
    }
    m
}

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
    /// The target, when it is a symlink.
    pub symlink: Option<String>,
    /// Permission bits as `chmod` writes them (see [`chmod_bits`]).
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl Entry {
    fn owner_and_mode(&self) -> String {
        format!("{:04o} {}:{}", self.perm, self.uid, self.gid)
    }
}

/// A [`Bridge`] that remembers the answers of `ReadDir` (per ref, folder and pattern),
/// failures included, and passes every other call through. The guards list some folders more
/// than once (the root of a layer for two checks, the image below for every tool); each
/// listing is a round trip that mounts a layer, and they all run on every build, cached or
/// not. A failure is kept too: it is a folder that does not exist (asked again by the next
/// check) or a layer that failed to build, which must not be built a second time.
pub struct Memo<'b, B> {
    inner: &'b mut B,
    dirs: BTreeMap<DirKey, GwResult<gw::ReadDirResponse>>,
}

type DirKey = (String, String, String);

fn dir_key(req: &gw::ReadDirRequest) -> DirKey {
    (
        req.r#ref.clone(),
        req.dir_path.clone(),
        req.include_pattern.clone(),
    )
}

impl<B> std::fmt::Debug for Memo<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memo({} listings)", self.dirs.len())
    }
}

impl<'b, B: Bridge> Memo<'b, B> {
    /// Wraps `inner`.
    pub fn new(inner: &'b mut B) -> Self {
        Memo {
            inner,
            dirs: BTreeMap::new(),
        }
    }
}

impl<B: Bridge> Bridge for Memo<'_, B> {
    async fn ping(&mut self) -> GwResult<gw::PongResponse> {
        self.inner.ping().await
    }
    async fn solve(&mut self, req: gw::SolveRequest) -> GwResult<gw::SolveResponse> {
        self.inner.solve(req).await
    }
    async fn read_file(&mut self, req: gw::ReadFileRequest) -> GwResult<Vec<u8>> {
        self.inner.read_file(req).await
    }
    async fn read_dir(&mut self, req: gw::ReadDirRequest) -> GwResult<gw::ReadDirResponse> {
        let key = dir_key(&req);
        if let Some(hit) = self.dirs.get(&key) {
            return hit.clone();
        }
        let resp = self.inner.read_dir(req).await;
        self.dirs.insert(key, resp.clone());
        resp
    }
    async fn read_dirs(
        &mut self,
        reqs: Vec<gw::ReadDirRequest>,
        fatal: fn(&tonic::Status) -> bool,
    ) -> Vec<GwResult<gw::ReadDirResponse>> {
        // Only the folders not listed yet go to the daemon, each once; what it did not
        // list (after a fatal failure) is not remembered, so a later check asks again.
        let mut missing = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for req in &reqs {
            let key = dir_key(req);
            if !self.dirs.contains_key(&key) && seen.insert(key) {
                missing.push(req.clone());
            }
        }
        let keys: Vec<DirKey> = missing.iter().map(dir_key).collect();
        for (key, resp) in keys
            .into_iter()
            .zip(self.inner.read_dirs(missing, fatal).await)
        {
            if !matches!(&resp, Err(s) if is_not_listed(s)) {
                self.dirs.insert(key, resp);
            }
        }
        reqs.iter()
            .map(|req| {
                self.dirs
                    .get(&dir_key(req))
                    .cloned()
                    .unwrap_or_else(|| Err(not_listed()))
            })
            .collect()
    }
    async fn resolve_image_config(
        &mut self,
        req: gw::ResolveImageConfigRequest,
    ) -> GwResult<gw::ResolveImageConfigResponse> {
        self.inner.resolve_image_config(req).await
    }
    async fn warn(&mut self, req: gw::WarnRequest) -> GwResult<()> {
        self.inner.warn(req).await
    }
    async fn evaluate(&mut self, r#ref: String) -> GwResult<()> {
        self.inner.evaluate(r#ref).await
    }
    async fn inputs(&mut self) -> GwResult<gw::InputsResponse> {
        self.inner.inputs().await
    }
    async fn return_result(&mut self, req: gw::ReturnRequest) -> GwResult<()> {
        self.inner.return_result(req).await
    }
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
                    symlink: (s.mode & MODE_SYMLINK != 0).then(|| s.linkname.clone()),
                    perm: chmod_bits(s.mode),
                    uid: s.uid,
                    gid: s.gid,
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(Some(v))
        }
        Err(s) if is_not_found(&s) => Ok(None),
        Err(s) => Err(s),
    }
}

/// The refs the guards will look at, for [`prefetch`].
#[derive(Debug, Default)]
pub struct Planned<'a> {
    /// The harness layers.
    pub tools: Vec<&'a str>,
    /// The image below the harness, when the parent folders are compared with it.
    pub below: Option<&'a str>,
    /// The extension image and the foundation, when the extension is checked.
    pub extension: Option<(&'a str, &'a str)>,
}

/// The folders on the way from `/` to `prefix`, the prefix excluded: what
/// [`outside_prefix`] and [`parents_changed`] list (`/tools` → `/`; `/opt/tools` → `/`,
/// `/opt`).
fn ancestors(prefix: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let parts: Vec<&str> = prefix.trim_start_matches('/').split('/').collect();
    let mut dir = "/".to_string();
    for component in parts.iter().take(parts.len().saturating_sub(1)) {
        dir = join(&dir, component);
        out.push(dir.clone());
    }
    out
}

/// Lists, all at once, the folders the guards are known to list before any of them runs, so
/// that the later checks are answered by [`Memo`] instead of one round trip after another.
/// On a first build it is also what builds the parts side by side: a ref is built on its
/// first listing, and the checks, which run one layer after another, would otherwise build
/// the extension and each tool in turn.
///
/// Returns the first ref whose listing failed for another reason than a missing folder
/// (its build failed), with that error, without waiting for the other listings: the caller
/// reports it, named after its part. Folders that do not exist are kept in the memo for the
/// checks.
pub async fn prefetch<B: Bridge>(
    b: &mut Memo<'_, B>,
    planned: &Planned<'_>,
    prefix: &str,
) -> Option<(String, tonic::Status)> {
    let mut want: Vec<(&str, String)> = Vec::new();
    let up = ancestors(prefix);
    for t in &planned.tools {
        for d in &up {
            want.push((t, d.clone()));
        }
        for d in ["bin", "npm/bin", "npm/lib/node_modules"] {
            want.push((t, format!("{prefix}/{d}")));
        }
    }
    if let Some(below) = planned.below {
        for d in &up {
            want.push((below, d.clone()));
        }
    }
    if let Some((ext, base)) = planned.extension {
        want.push((ext, prefix.to_string()));
        want.push((base, prefix.to_string()));
    }
    let reqs: Vec<gw::ReadDirRequest> = want
        .into_iter()
        .map(|(r, d)| gw::ReadDirRequest {
            r#ref: r.to_string(),
            dir_path: d,
            ..Default::default()
        })
        .collect();
    let answers = b.read_dirs(reqs.clone(), is_build_failure).await;
    reqs.into_iter().zip(answers).find_map(|(req, a)| match a {
        Err(s) if is_build_failure(&s) => Some((req.r#ref, s)),
        _ => None,
    })
}

/// A listing failure that is not a missing folder nor a listing not made.
fn is_build_failure(s: &tonic::Status) -> bool {
    !is_not_found(s) && !is_not_listed(s)
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

/// The folders from `/` down to `prefix` (the prefix included) that the harness layer
/// `layer` carries differently from the image `below` it: as a folder where `below` has a
/// symlink or a file, or with another mode or owner. Folders `below` lacks are new and fine.
pub async fn parents_changed<B: Bridge>(
    b: &mut B,
    layer: &str,
    below: &str,
    prefix: &str,
) -> Result<Vec<ParentChange>, tonic::Status> {
    let mut out = Vec::new();
    let mut dir = "/".to_string();
    for component in prefix.trim_start_matches('/').split('/') {
        let find = |entries: Option<Vec<Entry>>| {
            entries
                .unwrap_or_default()
                .into_iter()
                .find(|e| e.name == component)
        };
        let path = join(&dir, component);
        let Some(up) = find(list(b, layer, &dir).await?) else {
            break;
        };
        if !up.dir {
            break;
        }
        match find(list(b, below, &dir).await?) {
            None => {}
            Some(low) => {
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
        }
        dir = path;
    }
    Ok(out)
}

/// How a harness layer's folder differs from the image below (see [`parents_changed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// Answers ReadDir with one entry named after the folder, counting the calls.
    #[derive(Default)]
    struct Counting {
        read_dirs: usize,
    }

    impl Bridge for Counting {
        async fn ping(&mut self) -> GwResult<gw::PongResponse> {
            unimplemented!()
        }
        async fn solve(&mut self, _: gw::SolveRequest) -> GwResult<gw::SolveResponse> {
            unimplemented!()
        }
        async fn read_file(&mut self, _: gw::ReadFileRequest) -> GwResult<Vec<u8>> {
            unimplemented!()
        }
        async fn read_dir(&mut self, req: gw::ReadDirRequest) -> GwResult<gw::ReadDirResponse> {
            self.read_dirs += 1;
            if req.r#ref == "broken" {
                return Err(tonic::Status::unknown("exit code: 1"));
            }
            if req.dir_path == "/missing" {
                return Err(tonic::Status::not_found("no such file or directory"));
            }
            Ok(gw::ReadDirResponse {
                entries: vec![aishell_proto::fsutil::Stat {
                    path: format!("{}-in-{}", req.dir_path, req.r#ref),
                    mode: MODE_DIR | 0o755,
                    ..Default::default()
                }],
            })
        }
        async fn resolve_image_config(
            &mut self,
            _: gw::ResolveImageConfigRequest,
        ) -> GwResult<gw::ResolveImageConfigResponse> {
            unimplemented!()
        }
        async fn warn(&mut self, _: gw::WarnRequest) -> GwResult<()> {
            unimplemented!()
        }
        async fn evaluate(&mut self, _: String) -> GwResult<()> {
            unimplemented!()
        }
        async fn inputs(&mut self) -> GwResult<gw::InputsResponse> {
            unimplemented!()
        }
        async fn return_result(&mut self, _: gw::ReturnRequest) -> GwResult<()> {
            unimplemented!()
        }
    }

    #[tokio::test]
    async fn memo_lists_each_folder_of_each_ref_once_failures_included() {
        let mut inner = Counting::default();
        {
            let mut m = Memo::new(&mut inner);
            for _ in 0..3 {
                let a = list(&mut m, "r1", "/a").await.unwrap().unwrap();
                assert_eq!(a[0].name, "a-in-r1");
                let b = list(&mut m, "r2", "/a").await.unwrap().unwrap();
                assert_eq!(b[0].name, "a-in-r2");
                assert!(list(&mut m, "r1", "/missing").await.unwrap().is_none());
            }
        }
        // Three answers kept, the missing folder's too.
        assert_eq!(inner.read_dirs, 3);
    }

    fn req(r: &str, dir: &str) -> gw::ReadDirRequest {
        gw::ReadDirRequest {
            r#ref: r.into(),
            dir_path: dir.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn memo_sends_a_batch_of_what_it_lacks_once_and_answers_in_order() {
        let mut inner = Counting::default();
        {
            let mut m = Memo::new(&mut inner);
            list(&mut m, "r1", "/a").await.unwrap();
            let answers = m
                .read_dirs(
                    vec![
                        req("r2", "/b"),
                        req("r1", "/a"),
                        req("r2", "/b"),
                        req("r3", "/c"),
                    ],
                    is_build_failure,
                )
                .await;
            let names: Vec<String> = answers
                .into_iter()
                .map(|a| a.unwrap().entries[0].path.clone())
                .collect();
            assert_eq!(names, ["/b-in-r2", "/a-in-r1", "/b-in-r2", "/c-in-r3"]);
        }
        // /a of r1 before the batch, then /b of r2 and /c of r3 once each.
        assert_eq!(inner.read_dirs, 3);
    }

    #[tokio::test]
    async fn after_a_build_failure_the_rest_is_not_listed_and_asked_again_later() {
        let mut inner = Counting::default();
        {
            let mut m = Memo::new(&mut inner);
            let planned = Planned {
                tools: vec!["r1", "broken", "r3"],
                ..Default::default()
            };
            let (r, status) = prefetch(&mut m, &planned, "/tools")
                .await
                .expect("the failure is returned");
            assert_eq!(r, "broken");
            assert_eq!(status.message(), "exit code: 1");
            // r3 was not listed by the batch; a check asking for it gets a real answer.
            let root = list(&mut m, "r3", "/").await.unwrap().unwrap();
            assert_eq!(root[0].name, "-in-r3");
            // the failure itself is kept: asked again, it is not built again
            assert!(list(&mut m, "broken", "/").await.is_err());
        }
        // r1: "/", bin, npm/bin, npm/lib/node_modules; broken: "/" (fails); then r3's "/".
        assert_eq!(inner.read_dirs, 4 + 1 + 1);
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
    fn go_modes_become_chmod_bits() {
        assert_eq!(chmod_bits(MODE_DIR | MODE_STICKY | 0o777), 0o1777);
        assert_eq!(chmod_bits(MODE_DIR | 0o755), 0o755);
        assert_eq!(chmod_bits(MODE_SETUID | MODE_SETGID | 0o750), 0o6750);
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
            vec![Violation::Collision {
                path: "/tools/npm/bin/x".into(),
                tools: vec!["a".into(), "b".into()]
            }]
        );
        assert!(v[0].to_string().contains("a and b"));
    }
}
