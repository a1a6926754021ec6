//! Exec ops: run a command in a container whose root is a state.

use crate::EMPTY;
use crate::pb;
use crate::state::{Meta, Output, State};

/// Network access of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetMode {
    /// The builder's default sandbox network (with access).
    #[default]
    Sandbox,
    /// No network at all: for hermetic steps.
    None,
}

/// An extra mount of a command.
#[derive(Debug, Clone)]
pub enum MountKind {
    /// A read-only view of (a sub-path of) another state.
    ReadOnly {
        /// The state to mount.
        state: State,
        /// Sub-path of the state; empty for its root.
        selector: String,
    },
    /// A persistent cache directory shared between builds (never in a layer).
    Cache {
        /// Cache id; equal ids share content.
        id: String,
        /// `true` for locked sharing (one writer at a time), else shared.
        locked: bool,
    },
    /// An empty in-memory directory (never in a layer).
    Tmpfs,
    /// A build secret as a file (never in a layer, never in the cache key).
    Secret {
        /// The secret id (`--secret id=…`).
        id: String,
        /// Owner uid/gid and mode of the file.
        uid: u32,
        /// Owner gid.
        gid: u32,
        /// Permission bits.
        mode: u32,
        /// Do not fail when the client did not send it.
        optional: bool,
    },
}

/// A command under construction.
///
/// ```
/// use llb_graph::{Exec, Meta, MountKind, State};
/// let s = Exec::new(State::scratch(), ["/bin/true"])
///     .env("PATH", "/bin")
///     .mount("/var/cache/apt", MountKind::Cache { id: "apt".into(), locked: true })
///     .build(Meta::named("noop"));
/// assert!(s.digest().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Exec {
    root: State,
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: String,
    network: NetMode,
    platform: Option<pb::Platform>,
    mounts: Vec<(String, MountKind)>,
}

impl Exec {
    /// Runs `args` (argv, no shell) on `root`.
    pub fn new<I, S>(root: State, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Exec {
            root,
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: "/".into(),
            user: String::new(),
            network: NetMode::Sandbox,
            platform: None,
            mounts: Vec::new(),
        }
    }

    /// Adds `KEY=VALUE` to the environment (order is kept; later wins in the process).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env
            .retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Working directory (default `/`).
    pub fn cwd(mut self, cwd: &str) -> Self {
        self.cwd = cwd.to_string();
        self
    }

    /// User (`uid[:gid]` or a name); empty means the image default (root).
    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_string();
        self
    }

    /// Network mode.
    pub fn network(mut self, n: NetMode) -> Self {
        self.network = n;
        self
    }

    /// The platform to run for.
    pub fn platform(mut self, p: pb::Platform) -> Self {
        self.platform = Some(p);
        self
    }

    /// Adds a mount at `dest`.
    pub fn mount(mut self, dest: &str, kind: MountKind) -> Self {
        self.mounts.push((dest.to_string(), kind));
        self
    }

    /// Makes the vertex; returns the root filesystem after the command.
    pub fn build(self, meta: Meta) -> State {
        let mut inputs: Vec<Output> = Vec::new();
        let mut input_of = |s: &State| -> i64 {
            match &s.out {
                None => EMPTY,
                Some(o) => {
                    if let Some(i) = inputs
                        .iter()
                        .position(|x| x.vertex.digest == o.vertex.digest && x.index == o.index)
                    {
                        i as i64
                    } else {
                        inputs.push(o.clone());
                        inputs.len() as i64 - 1
                    }
                }
            }
        };
        let mut caps = vec!["exec.meta.base", "exec.mount.bind"];
        let mut mounts = vec![pb::Mount {
            input: input_of(&self.root),
            dest: "/".into(),
            output: 0,
            ..Default::default()
        }];
        let mut sorted = self.mounts;
        // Regular mounts sorted by destination, secrets after them, as BuildKit's own
        // client does: equal graphs then encode equally whatever order the caller used.
        sorted.sort_by(|a, b| {
            let secret = |k: &MountKind| matches!(k, MountKind::Secret { .. });
            (secret(&a.1), &a.0).cmp(&(secret(&b.1), &b.0))
        });
        for (dest, kind) in sorted {
            let m = match kind {
                MountKind::ReadOnly { state, selector } => {
                    if !selector.is_empty() {
                        caps.push("exec.mount.selector");
                    }
                    pb::Mount {
                        input: input_of(&state),
                        selector,
                        dest,
                        output: EMPTY,
                        readonly: true,
                        ..Default::default()
                    }
                }
                MountKind::Cache { id, locked } => {
                    caps.extend(["exec.mount.cache", "exec.mount.cache.sharing"]);
                    pb::Mount {
                        input: EMPTY,
                        dest,
                        output: EMPTY,
                        mount_type: pb::MountType::Cache as i32,
                        cache_opt: Some(pb::CacheOpt {
                            id,
                            sharing: if locked {
                                pb::CacheSharingOpt::Locked as i32
                            } else {
                                pb::CacheSharingOpt::Shared as i32
                            },
                        }),
                        ..Default::default()
                    }
                }
                MountKind::Tmpfs => {
                    caps.push("exec.mount.tmpfs");
                    pb::Mount {
                        input: EMPTY,
                        dest,
                        output: EMPTY,
                        mount_type: pb::MountType::Tmpfs as i32,
                        ..Default::default()
                    }
                }
                MountKind::Secret {
                    id,
                    uid,
                    gid,
                    mode,
                    optional,
                } => {
                    caps.push("exec.mount.secret");
                    pb::Mount {
                        input: EMPTY,
                        dest,
                        output: EMPTY,
                        mount_type: pb::MountType::Secret as i32,
                        secret_opt: Some(pb::SecretOpt {
                            id,
                            uid,
                            gid,
                            mode,
                            optional,
                        }),
                        ..Default::default()
                    }
                }
            };
            mounts.push(m);
        }
        let network = match self.network {
            NetMode::Sandbox => pb::NetMode::Unset,
            NetMode::None => {
                caps.push("exec.meta.network");
                pb::NetMode::None
            }
        };
        caps.sort_unstable();
        caps.dedup();
        let op = pb::Op {
            op: Some(pb::op::Op::Exec(pb::ExecOp {
                meta: Some(pb::Meta {
                    args: self.args,
                    env: self.env,
                    cwd: self.cwd,
                    user: self.user,
                    remove_mount_stubs_recursive: true,
                    ..Default::default()
                }),
                mounts,
                network: network as i32,
                ..Default::default()
            })),
            platform: self.platform,
            constraints: Some(pb::WorkerConstraints::default()),
            ..Default::default()
        };
        State::from_op(op, inputs, meta, caps, 0)
    }
}
