//! File ops: copy, mkdir, mkfile and rm, run by BuildKit itself (no container).

use crate::EMPTY;
use crate::pb;
use crate::state::{Meta, Output, State};

/// What an action works on: a state, or the result of an earlier action of the same op.
#[derive(Debug, Clone)]
pub enum FileRef {
    /// A state (scratch included).
    State(State),
    /// The result of action number `n` (0-based) of this op.
    Action(usize),
}

/// Options of a copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Permission bits to set; `None` keeps the source's.
    pub mode: Option<u32>,
    /// Numeric owner `(uid, gid)`; `None` keeps the default (root).
    pub owner: Option<(u32, u32)>,
    /// Create missing parent directories of the destination.
    pub create_dest_path: bool,
    /// Copy a directory's contents rather than the directory.
    pub dir_copy_contents: bool,
    /// Follow a symlink at the source path.
    pub follow_symlink: bool,
    /// Unpack tar archives (gz, bz2, xz, zst) into the destination, as `ADD` does.
    pub unpack_archive: bool,
    /// Allow wildcards in the source path.
    pub allow_wildcard: bool,
    /// Modification time to set (Unix nanoseconds); `None` keeps the source's.
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone)]
enum Action {
    Copy {
        src: FileRef,
        src_path: String,
        dest: String,
        opts: CopyOptions,
    },
    Mkdir {
        path: String,
        mode: u32,
        parents: bool,
        owner: Option<(u32, u32)>,
        timestamp: Option<i64>,
    },
    Mkfile {
        path: String,
        mode: u32,
        data: Vec<u8>,
        owner: Option<(u32, u32)>,
        timestamp: Option<i64>,
    },
    Rm {
        path: String,
        allow_not_found: bool,
    },
}

/// A file op under construction: a list of actions, each applied to a base.
/// By default each action's base is the previous action's result, so the common case
/// reads as a chain; [`FileOp::base`] starts a new chain (e.g. from scratch).
///
/// ```
/// use llb_graph::{CopyOptions, FileOp, FileRef, Meta, Source, State};
/// let archive = Source::http("https://example.invalid/t.tar.gz").build(Meta::default());
/// // unpack into a scratch area, then copy one member into a fresh scratch tree
/// let layer = FileOp::on(State::scratch())
///     .copy(archive, "/t.tar.gz", "/x/", CopyOptions { unpack_archive: true, create_dest_path: true, ..Default::default() })
///     .base(FileRef::State(State::scratch()))
///     .copy_from(FileRef::Action(0), "/x/t", "/tools/bin/t", CopyOptions { mode: Some(0o755), create_dest_path: true, ..Default::default() })
///     .build(Meta::named("[harness] t"));
/// assert!(layer.digest().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct FileOp {
    actions: Vec<(FileRef, Action)>,
    next_base: Option<FileRef>,
}

impl FileOp {
    /// Starts a file op whose first action applies to `base`.
    pub fn on(base: State) -> Self {
        FileOp {
            actions: Vec::new(),
            next_base: Some(FileRef::State(base)),
        }
    }

    /// Makes the next action apply to `base` instead of the previous result.
    pub fn base(mut self, base: FileRef) -> Self {
        self.next_base = Some(base);
        self
    }

    fn push(mut self, a: Action) -> Self {
        let base = self
            .next_base
            .take()
            .unwrap_or_else(|| FileRef::Action(self.actions.len().saturating_sub(1)));
        self.actions.push((base, a));
        self
    }

    /// Copies `src_path` of `src` to `dest`.
    pub fn copy(self, src: State, src_path: &str, dest: &str, opts: CopyOptions) -> Self {
        self.copy_from(FileRef::State(src), src_path, dest, opts)
    }

    /// Copies from a state or from an earlier action's result.
    pub fn copy_from(self, src: FileRef, src_path: &str, dest: &str, opts: CopyOptions) -> Self {
        self.push(Action::Copy {
            src,
            src_path: src_path.to_string(),
            dest: dest.to_string(),
            opts,
        })
    }

    /// Creates a directory (with parents when `parents`).
    pub fn mkdir(self, path: &str, mode: u32, parents: bool) -> Self {
        self.push(Action::Mkdir {
            path: path.to_string(),
            mode,
            parents,
            owner: None,
            timestamp: None,
        })
    }

    /// Creates a directory with owner and modification time.
    pub fn mkdir_with(
        self,
        path: &str,
        mode: u32,
        owner: Option<(u32, u32)>,
        timestamp: Option<i64>,
    ) -> Self {
        self.push(Action::Mkdir {
            path: path.to_string(),
            mode,
            parents: true,
            owner,
            timestamp,
        })
    }

    /// Creates a file with `data`.
    pub fn mkfile(self, path: &str, mode: u32, data: Vec<u8>) -> Self {
        self.push(Action::Mkfile {
            path: path.to_string(),
            mode,
            data,
            owner: None,
            timestamp: None,
        })
    }

    /// Creates a file with owner and modification time.
    pub fn mkfile_with(
        self,
        path: &str,
        mode: u32,
        data: Vec<u8>,
        owner: Option<(u32, u32)>,
        timestamp: Option<i64>,
    ) -> Self {
        self.push(Action::Mkfile {
            path: path.to_string(),
            mode,
            data,
            owner,
            timestamp,
        })
    }

    /// Removes a path.
    pub fn rm(self, path: &str, allow_not_found: bool) -> Self {
        self.push(Action::Rm {
            path: path.to_string(),
            allow_not_found,
        })
    }

    /// Makes the vertex; its one output is the last action's result.
    ///
    /// An op without actions is a no-op: the base state is returned unchanged.
    pub fn build(self, meta: Meta) -> State {
        if self.actions.is_empty() {
            return match self.next_base {
                Some(FileRef::State(s)) => s,
                _ => State::scratch(),
            };
        }
        let mut inputs: Vec<Output> = Vec::new();
        // Inputs are listed first; action results are numbered after them, so the
        // index of "result of action k" is only known once all inputs are collected.
        for (base, a) in &self.actions {
            let refs: Vec<&FileRef> = match a {
                Action::Copy { src, .. } => vec![base, src],
                _ => vec![base],
            };
            for r in refs {
                if let FileRef::State(State { out: Some(o) }) = r
                    && !inputs
                        .iter()
                        .any(|x| x.vertex.digest == o.vertex.digest && x.index == o.index)
                {
                    inputs.push(o.clone());
                }
            }
        }
        let n_inputs = inputs.len() as i64;
        let index_of = |r: &FileRef| -> i64 {
            match r {
                FileRef::State(State { out: None }) => EMPTY,
                FileRef::State(State { out: Some(o) }) => inputs
                    .iter()
                    .position(|x| x.vertex.digest == o.vertex.digest && x.index == o.index)
                    .map_or(EMPTY, |i| i as i64),
                FileRef::Action(k) => n_inputs + *k as i64,
            }
        };
        let caps = ["file.base"];
        let last = self.actions.len() - 1;
        let mut actions = Vec::new();
        for (i, (base, a)) in self.actions.iter().enumerate() {
            let chown = |o: &Option<(u32, u32)>| {
                o.map(|(u, g)| pb::ChownOpt {
                    user: Some(pb::UserOpt {
                        user: Some(pb::user_opt::User::ById(u)),
                    }),
                    group: Some(pb::UserOpt {
                        user: Some(pb::user_opt::User::ById(g)),
                    }),
                })
            };
            let (secondary, action) = match a {
                Action::Copy {
                    src,
                    src_path,
                    dest,
                    opts,
                } => (
                    index_of(src),
                    pb::file_action::Action::Copy(pb::FileActionCopy {
                        src: src_path.clone(),
                        dest: dest.clone(),
                        owner: chown(&opts.owner),
                        mode: opts.mode.map_or(EMPTY as i32, |m| m as i32),
                        follow_symlink: opts.follow_symlink,
                        dir_copy_contents: opts.dir_copy_contents,
                        attempt_unpack_docker_compatibility: opts.unpack_archive,
                        create_dest_path: opts.create_dest_path,
                        allow_wildcard: opts.allow_wildcard,
                        allow_empty_wildcard: false,
                        timestamp: opts.timestamp.unwrap_or(EMPTY),
                        ..Default::default()
                    }),
                ),
                Action::Mkdir {
                    path,
                    mode,
                    parents,
                    owner,
                    timestamp,
                } => (
                    EMPTY,
                    pb::file_action::Action::Mkdir(pb::FileActionMkDir {
                        path: path.clone(),
                        mode: *mode as i32,
                        make_parents: *parents,
                        owner: chown(owner),
                        timestamp: timestamp.unwrap_or(EMPTY),
                    }),
                ),
                Action::Mkfile {
                    path,
                    mode,
                    data,
                    owner,
                    timestamp,
                } => (
                    EMPTY,
                    pb::file_action::Action::Mkfile(pb::FileActionMkFile {
                        path: path.clone(),
                        mode: *mode as i32,
                        data: data.clone(),
                        owner: chown(owner),
                        timestamp: timestamp.unwrap_or(EMPTY),
                    }),
                ),
                Action::Rm {
                    path,
                    allow_not_found,
                } => (
                    EMPTY,
                    pb::file_action::Action::Rm(pb::FileActionRm {
                        path: path.clone(),
                        allow_not_found: *allow_not_found,
                        allow_wildcard: false,
                    }),
                ),
            };
            actions.push(pb::FileAction {
                input: index_of(base),
                secondary_input: secondary,
                output: if i == last { 0 } else { EMPTY },
                action: Some(action),
            });
        }
        let op = pb::Op {
            op: Some(pb::op::Op::File(pb::FileOp { actions })),
            ..Default::default()
        };
        State::from_op(op, inputs, meta, caps, 0)
    }
}
