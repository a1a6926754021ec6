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
    /// The host's network (the builder must allow the `network.host` entitlement).
    Host,
}

/// How BuildKit finds the result of a step in its cache, for one read-only mount of it.
///
/// ```
/// use llb_graph::{Exec, MountKey, MountKind, Source, State, Meta};
/// let img = Source::image("docker.io/library/busybox:1").build(Meta::default());
/// let layer = Source::image("docker.io/library/debian:13").build(Meta::default());
/// let mount = |key| MountKind::ReadOnly { state: layer.clone(), selector: String::new(), key };
/// let a = Exec::new(img.clone(), ["ls", "/l"]).mount("/l", mount(MountKey::Content)).build(Meta::default());
/// let b = Exec::new(img, ["ls", "/l"]).mount("/l", mount(MountKey::Definition)).build(Meta::default());
/// assert_ne!(a.digest(), b.digest());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MountKey {
    /// By the mounted files (BuildKit's default for a read-only mount): the step is found
    /// again for equal files that another graph made, but BuildKit has to load and
    /// checksum the mounted state first, pulling it from an imported cache on a fresh
    /// builder even when the step's own result is there.
    #[default]
    Content,
    /// By the mounted state's graph only (`contentCache: OFF`; the builder must have the
    /// `exec.mount.cache.content` capability): the step is found in an imported cache
    /// without loading the mounted state.
    Definition,
}

impl MountKey {
    /// The builder capability [`MountKey::Definition`] needs (BuildKit 0.13 and later).
    pub const DEFINITION_CAP: &'static str = "exec.mount.cache.content";
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
        /// How the step's cache key takes this mount in.
        key: MountKey,
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
    /// An empty in-memory directory of at most this many bytes (`/dev/shm` with
    /// `--shm-size`).
    TmpfsOfSize(u64),
    /// A writable mount of `base` (scratch for an empty folder) whose content after the
    /// command is an output of its own, for steps whose result is a few small files and not
    /// the whole root (see [`Exec::build_outputs`]).
    Output {
        /// What the folder holds before the command.
        base: State,
    },
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
    keep_root: bool,
    proxy: Option<pb::ProxyEnv>,
    extra_hosts: Vec<pb::HostIp>,
    ulimits: Vec<pb::Ulimit>,
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
            keep_root: true,
            proxy: None,
            extra_hosts: Vec::new(),
            ulimits: Vec::new(),
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

    /// Proxy variables for the process (`HTTP_PROXY`, …). BuildKit sets them in the
    /// process's environment but leaves them out of the step's cache key, so a proxy
    /// that differs between machines does not make a step run again.
    ///
    /// ```
    /// use llb_graph::{Exec, Meta, State, pb};
    /// let proxy = pb::ProxyEnv { http_proxy: "http://proxy:3128".into(), ..Default::default() };
    /// let s = Exec::new(State::scratch(), ["/bin/true"]).proxy_env(proxy).build(Meta::default());
    /// assert!(s.digest().is_some());
    /// ```
    pub fn proxy_env(mut self, proxy: pb::ProxyEnv) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Adds an `/etc/hosts` entry for the command (`--add-host host=ip`).
    pub fn extra_host(mut self, host: &str, ip: &str) -> Self {
        self.extra_hosts.push(pb::HostIp {
            host: host.to_string(),
            ip: ip.to_string(),
        });
        self
    }

    /// Sets a resource limit of the command (`--ulimit nofile=1024:2048`).
    pub fn ulimit(mut self, name: &str, soft: i64, hard: i64) -> Self {
        self.ulimits.push(pb::Ulimit {
            name: name.to_string(),
            soft,
            hard,
        });
        self
    }

    /// Adds a mount at `dest`.
    pub fn mount(mut self, dest: &str, kind: MountKind) -> Self {
        self.mounts.push((dest.to_string(), kind));
        self
    }

    /// Throws the root filesystem away after the command, and makes it read-only for the
    /// command: only the [`MountKind::Output`] mounts are outputs. A step that
    /// writes a small file then does not keep, export or cache a copy of its whole root.
    pub fn discard_root(mut self) -> Self {
        self.keep_root = false;
        self
    }

    /// Makes the vertex; returns the root filesystem after the command.
    ///
    /// Panics if the root was discarded ([`Exec::discard_root`]): use
    /// [`Exec::build_outputs`] then.
    pub fn build(self, meta: Meta) -> State {
        assert!(self.keep_root, "Exec::build on a discarded root");
        self.build_outputs(meta).swap_remove(0)
    }

    /// Makes the vertex; returns its outputs: the root filesystem after the command (unless
    /// discarded), then each [`MountKind::Output`] mount in the order of their destinations.
    ///
    /// ```
    /// use llb_graph::{Exec, Meta, MountKind, State};
    /// let root = State::scratch();
    /// let outs = Exec::new(root, ["/bin/true"])
    ///     .mount("/out", MountKind::Output { base: State::scratch() })
    ///     .discard_root()
    ///     .build_outputs(Meta::named("write /out"));
    /// assert_eq!(outs.len(), 1);
    /// assert_eq!(outs[0].output_index(), 0);
    /// ```
    pub fn build_outputs(self, meta: Meta) -> Vec<State> {
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
        let mut outputs: i64 = 0;
        let mut next_output = || {
            outputs += 1;
            outputs - 1
        };
        let mut mounts = vec![pb::Mount {
            input: input_of(&self.root),
            dest: "/".into(),
            output: if self.keep_root { next_output() } else { EMPTY },
            // BuildKit mounts a root without output as the input itself (read-only, no
            // mount points can be made in it) unless it is marked read-only: then it gives
            // the command a throw-away writable copy and makes it read-only after mounting.
            readonly: !self.keep_root,
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
                MountKind::ReadOnly {
                    state,
                    selector,
                    key,
                } => {
                    if !selector.is_empty() {
                        caps.push("exec.mount.selector");
                    }
                    let content_cache = match key {
                        MountKey::Content => pb::MountContentCache::Default,
                        MountKey::Definition => {
                            caps.push(MountKey::DEFINITION_CAP);
                            pb::MountContentCache::Off
                        }
                    };
                    pb::Mount {
                        input: input_of(&state),
                        selector,
                        dest,
                        output: EMPTY,
                        readonly: true,
                        content_cache: content_cache as i32,
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
                MountKind::Output { base } => pb::Mount {
                    input: input_of(&base),
                    dest,
                    output: next_output(),
                    ..Default::default()
                },
                kind @ (MountKind::Tmpfs | MountKind::TmpfsOfSize(_)) => {
                    caps.push("exec.mount.tmpfs");
                    // Without a size the daemon's default (no tmpfs_opt, as before sizes).
                    let tmpfs_opt = match kind {
                        MountKind::TmpfsOfSize(size) => {
                            caps.push("exec.mount.tmpfs.size");
                            Some(pb::TmpfsOpt {
                                size: i64::try_from(size).unwrap_or(i64::MAX),
                            })
                        }
                        _ => None,
                    };
                    pb::Mount {
                        input: EMPTY,
                        dest,
                        output: EMPTY,
                        mount_type: pb::MountType::Tmpfs as i32,
                        tmpfs_opt,
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
            NetMode::Host => {
                caps.push("exec.meta.network");
                pb::NetMode::Host
            }
        };
        if !self.ulimits.is_empty() {
            caps.push("exec.meta.ulimit");
        }
        if self.proxy.is_some() {
            caps.push("exec.meta.proxyenv");
        }
        caps.sort_unstable();
        caps.dedup();
        let op = pb::Op {
            op: Some(pb::op::Op::Exec(pb::ExecOp {
                meta: Some(pb::Meta {
                    args: self.args,
                    env: self.env,
                    cwd: self.cwd,
                    user: self.user,
                    proxy_env: self.proxy,
                    extra_hosts: self.extra_hosts,
                    ulimit: self.ulimits,
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
        let first = State::from_op(op, inputs, meta, caps, 0);
        (0..outputs).map(|i| first.with_output_index(i)).collect()
    }
}
