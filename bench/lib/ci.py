"""`bench/run --scenario ci`: the four approaches built as CI builds them.

Every job runs on an ephemeral runner: a standalone buildkitd started on an empty root, fed only
by a registry cache (`--import-cache type=registry`), pushing the image and exporting its cache
(`mode=max`) to a loopback registry, then deleted. The registry's request log says what each job
pulled and pushed (registry_log). Two parts (--ci-parts):

* single: one project (the aishell scenario's image, or with --quick the synthetic one); a cold
  job, then --runs bumps of each tool the scenario bumps, then --runs no-change jobs, each on a
  fresh runner importing the cache the job before exported.
* fleet: five projects sharing the foundation and the harness; a harness job (for the frontend
  `--target harness`, for `COPY --link` a Dockerfile of the tool stages, for stacked the base
  image) exports a shared cache, then each project's job imports it and its own cache. A cold
  round, then one harness bump.

Each approach gets a fresh registry (its folder removed afterwards), into which a setup runner
first pushes the base image (a rootfs made here: mmdebstrap's trixie as scripts/base-images
--debian makes it, or a busybox one with --quick) and the frontend image (Dockerfile.frontend
with the binary built from the working tree). Nothing here needs dockerd.

The scenarios, Dockerfiles and spec are bench/run's (scenarios, builds); this module adds the
runners, the jobs, the measures, the targets and the report.
"""

import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile

from . import buildkit, load, registry_log
from .progress import vertex_states
from .report import grouped_bars
from .builds import (WRITERS, Foundation, Project, df_foundation, dl_stages, install,
                     set_image_names, write, write_context)
from .common import APPROACHES, LABEL, PREFIX
from .registry import npm_registry, registry_program
from .scenarios import MAX_BUMPS, Aishell, Fleet, Synthetic, synthetic_ext_cmd

REPO = "aishell-bench"
PARTS = ["single", "fleet"]
MB = 1e6
HARNESS_DOCKERFILE = "harness.Dockerfile"
STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CACHE_HOME = os.environ.get("AISHELL_BENCH_CACHE",
                            os.path.join(os.path.expanduser("~"), ".cache", "aishell-bench"))
# what a fresh runner may pull on a bump beyond the foundation (targets)
SLACK = 5 * MB
MIN_FREE_GB = 8


def log(msg):
    print(f"[bench ci] {msg}", file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mb(x):
    return "—" if x is None else f"{x / MB:.1f}"


def free_gb(path="/"):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 1e9


def sh_lib(script, *args):
    """Runs bash with scripts/lib/common.sh sourced (the Debian mirror, private apt state and
    host packages of the project's own scripts); returns stdout."""
    lib = os.path.join(buildkit.REPO_ROOT, "scripts", "lib", "common.sh")
    r = subprocess.run(["bash", "-c", f'source "$0"; {script}', lib, *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{script.split()[0]} failed: {r.stderr[-2000:]}")
    return r.stdout


# ---------------------------------------------------------------- inputs: rootfs, frontend


def reproducible_tar(root, dest):
    """A tar of `root`'s contents with sorted names, owner 0 and time 0."""
    def norm(info):
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info
    with tarfile.open(dest, "w") as tar:
        for dirpath, dirnames, files in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames + files):
                full = os.path.join(dirpath, name)
                tar.add(full, os.path.relpath(full, root), recursive=False, filter=norm)


def busybox_rootfs(tmp):
    """Debian's busybox-static (the host's suite, private apt state as scripts/base-images
    fetches it) with one symlink per applet: a 2 MB base for the quick run."""
    pkg = os.path.join(tmp, "busybox-pkg")
    logf = os.path.join(tmp, "busybox-apt.log")
    sh_lib('apt_private_fetch "$(host_codename)" "$1" "$2" busybox-static', pkg, logf)
    bb = os.path.join(pkg, "bin", "busybox")
    root = os.path.join(tmp, "busybox-root")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "dev", "proc", "sys"):
        os.makedirs(os.path.join(root, d))
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(bb, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([bb, "--list-full"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.split()
    for a in applets:
        path = os.path.join(root, a)
        if a in ("bin/busybox", "linuxrc") or os.path.lexists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink("/bin/busybox", path)
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")
    dest = os.path.join(tmp, "base", "rootfs.tar")
    os.makedirs(os.path.dirname(dest))
    reproducible_tar(root, dest)
    shutil.rmtree(root)
    shutil.rmtree(pkg)
    return dest, ['CMD ["/bin/sh"]']


def debian_rootfs(tmp):
    """mmdebstrap trixie minbase + ca-certificates, nodejs, npm and the host's CA bundle, as
    scripts/base-images --debian makes aishell-test/debian:trixie; kept in CACHE_HOME (about
    a minute to make, 300 MB)."""
    cached = os.path.join(CACHE_HOME, "debian-trixie-rootfs.tar")
    if not os.path.exists(cached):
        os.makedirs(CACHE_HOME, exist_ok=True)
        sh_lib("host_apt_install mmdebstrap")
        mirror = sh_lib("debian_mirror").strip()
        part = cached[:-len(".tar")] + ".part.tar"  # mmdebstrap picks the format by the name
        log(f"mmdebstrap trixie minbase + ca-certificates nodejs npm -> {cached}")
        r = subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--include=ca-certificates,nodejs,npm",
             "--aptopt=APT::Install-Recommends \"false\"",
             "--customize-hook=cp /etc/ssl/certs/ca-certificates.crt "
             "\"$1/usr/local/share/ca-certificates/aishell-host-bundle.crt\"",
             "--customize-hook=chroot \"$1\" update-ca-certificates",
             "--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/*.bin",
             "trixie", part,
             f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} trixie "
             "main"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed:\n{r.stdout[-3000:]}")
        os.rename(part, cached)
    dest = os.path.join(tmp, "base", "rootfs.tar")
    os.makedirs(os.path.dirname(dest))
    if os.stat(cached).st_dev == os.stat(tmp).st_dev:
        os.link(cached, dest)
    else:
        shutil.copy(cached, dest)
    return dest, ["ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
                  'CMD ["/bin/bash"]']


def frontend_binary(tmp):
    """The static frontend binary: $AISHELL_FRONTEND_BINARY, or built from the working tree
    (the gnu target with crt-static, as scripts/frontend-image builds it)."""
    env = os.environ.get("AISHELL_FRONTEND_BINARY")
    if env:
        return env
    triple = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}[
        platform.machine()]
    logf = os.path.join(tmp, "cargo.log")
    log(f"cargo build --release --target {triple} -p aishell-frontend (crt-static; log {logf})")
    env = dict(os.environ, RUSTFLAGS=(os.environ.get("RUSTFLAGS", "")
                                      + " -C target-feature=+crt-static").strip())
    with open(logf, "w") as f:
        r = subprocess.run(["cargo", "build", "--release", "--target", triple, "-p",
                            "aishell-frontend"], cwd=buildkit.REPO_ROOT, env=env, stdout=f,
                           stderr=subprocess.STDOUT)
    if r.returncode != 0:
        with open(logf) as f:
            raise RuntimeError("cargo build failed:\n" + f.read()[-3000:])
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=buildkit.REPO_ROOT, stdout=subprocess.PIPE, text=True)
    target = json.loads(meta.stdout)["target_directory"]
    return os.path.join(target, triple, "release", "aishell-frontend")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_state():
    """The commit the working tree is at, and whether the frontend's sources differ from it."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=buildkit.REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--", "frontend", "llb-graph", "proto", "Cargo.lock")
    return git("rev-parse", "--short", "HEAD"), bool(dirty)


# ---------------------------------------------------------------- tools in progress output


def executed(text):
    """Names of the vertices of a plain progress output that executed: DONE, never CACHED, and
    no blob pulled or extracted under it. A fresh runner loads a step's result from the
    registry cache under the step's own name (the layer's `sha256:… x / y` and `extracting`
    lines, then DONE), with or without a CACHED line first; that is a pull, not a run."""
    names, done, cached, loaded = vertex_states(text)
    return [names[n] for n in sorted(done - cached - loaded, key=int)]


def runs_install(args, t, prefix):
    """Whether a container's arguments are the install step of tool t: npm … name@version
    (the Dockerfiles' RUN and the frontend's step alike), or the Dockerfiles' extraction of
    a binary from its download stage."""
    if t.kind == "npm":  # name@version, not a prefix of a longer version
        return "npm" in args and re.search(re.escape(t.spec) + r"(?![\w.])", args) is not None
    return "/dl/t.tar.gz" in args and (f"{prefix}/bin/{t.name}" in args
                                       or args.rstrip("]").endswith(f" {t.name}"))


def tool_installs(outputs, execs, tools, prefix="/tools"):
    """How many times these tools were installed: the containers that ran their install step
    (execs: the argument lists from buildkitd's debug log), plus the frontend's binary
    placements, file operations that run no container, when they executed (plain progress
    `[harness] NAME -> …`, see executed())."""
    n = sum(1 for a in execs for t in tools if runs_install(a, t, prefix))
    n += sum(1 for o in outputs for v in executed(o) for t in tools
             if t.kind == "bin" and f"] {t.name} -> " in v)
    return n


def ext_runs(execs):
    """How many extension steps (the RUN with the revision echo) ran a container."""
    return sum(1 for a in execs if "extension-rev=" in a)


# ---------------------------------------------------------------- the quick fleet


def synthetic_fleet():
    """The synthetic scenario with five projects, each its own random extension (20 MiB)."""

    class SyntheticFleet(Synthetic):
        name = "synthetic-fleet"
        NAMES = ["p1", "p2", "p3", "p4", "p5"]

        def projects(self, state):
            one = Synthetic.projects(self, state)[0]
            out = []
            for name in self.NAMES:
                cmd = f"echo project={name} && " + synthetic_ext_cmd(state["rev"], 20, 1)
                out.append(Project(name, Foundation(one.foundation.image),
                                   [f"RUN {cmd}"], one.tools, ext_inline=[cmd]))
            return out

        def describe(self):
            return ["Five projects, each a random 20 MiB extension of its own (one RUN), the "
                    "synthetic tools; `tool-a` bumped."]

    return SyntheticFleet


# ---------------------------------------------------------------- the benchmark


class CI:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.parts = [p for p in PARTS if p in args.ci_parts.split(",")]
        self.approaches = args.only.split(",") if args.only else list(APPROACHES)
        self.runs = args.runs or (1 if self.quick else 3)
        self.comp = "gzip" if args.compression in (None, "both") else args.compression
        self.buildkitd, self.buildctl = buildkit.tool("buildkitd"), buildkit.tool("buildctl")
        self.registry_prog = registry_program()
        self.host = f"127.0.0.1:{args.ci_port}"
        self.frontend_ref = f"{self.host}/aishell-frontend:ci"
        self.base_ref = f"{self.host}/{REPO}/" + ("busybox:1" if self.quick else "debian:trixie")
        self.stacked_base = f"{self.host}/{REPO}/ci-stacked-base:latest"
        self.n = 0
        self.reg = None
        # --dry-run: every job's build contexts are written to OUT/builds and its buildctl
        # commands printed; no runner, registry, rootfs or frontend binary is made
        self.dry_dir = None

    # ------------------------------------------------------------ set-up

    def prepare(self):
        if self.args.dry_run:
            return self.prepare_dry_run()
        missing = [n for n, p in (("buildkitd", self.buildkitd), ("buildctl", self.buildctl),
                                  ("docker-registry", self.registry_prog)) if not p]
        if missing:
            sys.exit(f"[bench ci] missing {', '.join(missing)}: set AISHELL_BUILDKITD and "
                     "AISHELL_BUILDCTL (or put them in ../shared/tools/buildkit), apt-get install "
                     "docker-registry")
        if buildkit.port_in_use(self.args.ci_port):
            sys.exit(f"[bench ci] 127.0.0.1:{self.args.ci_port} is in use; choose --ci-port")
        if free_gb() < MIN_FREE_GB:
            sys.exit(f"[bench ci] only {free_gb():.1f} GB free on /")
        self.tmp = tempfile.mkdtemp(prefix="aishell-ci-")
        self.runners = os.path.join(self.tmp, "runners")
        os.makedirs(self.runners)
        self.cfg = buildkit.config(os.path.join(self.tmp, "buildkitd.toml"), self.host)
        # the names bench/run's writers put in the Dockerfiles and the spec
        set_image_names(self.frontend_ref, self.stacked_base)
        self.build_args = {} if self.quick else {"NPM_REGISTRY": npm_registry(self.args)}
        if "aishell" in self.approaches:
            binary = frontend_binary(self.tmp)
            self.frontend_sha = sha256_file(binary)
            self.bin_dir = os.path.join(self.tmp, "frontend-bin")
            os.makedirs(self.bin_dir)
            shutil.copy2(binary, os.path.join(self.bin_dir, "aishell-frontend"))
            self.empty = os.path.join(self.tmp, "empty")
            os.makedirs(self.empty)
        rootfs, config = busybox_rootfs(self.tmp) if self.quick else debian_rootfs(self.tmp)
        self.base_dir = os.path.dirname(rootfs)
        write(os.path.join(self.base_dir, "Dockerfile"),
              ["FROM scratch", "ADD rootfs.tar /", f"ENV PATH={STD_PATH}"] + config)
        self.commit, self.dirty = source_state()

    def prepare_dry_run(self):
        if self.args.out == os.path.join(buildkit.REPO_ROOT, "bench", "results"):
            self.args.out = tempfile.mkdtemp(prefix="aishell-bench-dry-run-")
        self.dry_dir = os.path.join(self.args.out, "builds")
        os.makedirs(self.dry_dir, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="aishell-ci-dry-run-")
        set_image_names(self.frontend_ref, self.stacked_base)
        self.build_args = {} if self.quick else {"NPM_REGISTRY": npm_registry(self.args)}
        self.commit, self.dirty = source_state()

    def start_registry(self, name):
        """A fresh registry holding the base image and the frontend image, pushed by a
        setup runner (not timed)."""
        if self.dry_dir:
            print(f"     registry {self.host} ({name}): push {self.base_ref}"
                  + (f" and {self.frontend_ref}" if "aishell" in self.approaches else ""))
            self.base_layers, self.frontend_blobs = set(), set()
            return
        self.reg = buildkit.Registry(self.registry_prog, self.args.ci_port,
                                     os.path.join(self.tmp, f"registry-{name}"))
        with buildkit.Runner(self.buildkitd, self.buildctl, self.cfg, self.runners,
                             f"setup-{name}") as r:
            builds = [(self.base_dir, os.path.join(self.base_dir, "Dockerfile"), self.base_ref,
                       None)]
            if "aishell" in self.approaches:
                builds.append((self.empty, os.path.join(buildkit.REPO_ROOT, "Dockerfile.frontend"),
                               self.frontend_ref, {"binary": self.bin_dir}))
            for ctx, df, ref, contexts in builds:
                _, out, rc = r.build(ctx, df, output=ref, contexts=contexts)
                self.logf.write(f"\n===== setup: {ref}\n{out}")
                if rc != 0:
                    raise RuntimeError(f"pushing {ref} failed:\n{out[-3000:]}\n{r.log_tail()}")
        self.base_layers = {d for d, _ in self.reg.layers(*self.split(self.base_ref))}
        self.frontend_blobs = set()
        if "aishell" in self.approaches:
            repo, tag = self.split(self.frontend_ref)
            m, _ = self.reg.manifest(repo, tag)
            self.frontend_blobs = {m["config"]["digest"]} | {x["digest"] for x in m["layers"]}
            self.frontend_size = sum(x["size"] for x in m["layers"])

    def stop_registry(self):
        if self.reg:
            stored = self.reg.du()
            self.reg.remove()
            self.reg = None
            log(f"registry removed ({stored / 1e9:.2f} GB stored); {free_gb():.1f} GB free on /")

    def scenario_dir(self, part):
        d = os.path.join(self.tmp, "scenario-" + part)
        os.makedirs(d)
        return d

    def split(self, ref):
        """host/repo:tag -> (repo, tag)"""
        rest = ref[len(self.host) + 1:]
        repo, _, tag = rest.rpartition(":")
        return repo, tag

    def local(self, projects):
        """The scenario's projects with the foundation's base image in the loopback registry."""
        for p in projects:
            p.foundation.image = self.base_ref
        return projects

    # ------------------------------------------------------------ one job

    def job(self, label, builds):
        """One CI job on a fresh runner. builds: [{ctx, dockerfile, output, imports, export,
        target}]. Returns the record: seconds (the builds, with their push and cache export),
        start (buildkitd's start), traffic, outputs, load."""
        self.n += 1
        if self.dry_dir:
            return self.plan_job(label, builds)
        if free_gb() < MIN_FREE_GB:
            raise RuntimeError(f"only {free_gb():.1f} GB free on /: stopping before {label}")
        name = f"{self.n:03d}"
        with buildkit.Runner(self.buildkitd, self.buildctl, self.cfg, self.runners, name) as r:
            mark = self.reg.mark()
            secs, outs = 0.0, []
            with load.Monitor() as mon:
                for b in builds:
                    self.logf.write(f"\n===== job {name} {label}: {b.get('output') or ''} "
                                    f"-f {os.path.basename(b['dockerfile'])}"
                                    f"{' --target ' + b['target'] if b.get('target') else ''}\n")
                    self.logf.flush()
                    dt, out, rc = r.build(build_args=self.build_args, compression=self.comp, **b)
                    self.logf.write(out)
                    self.logf.flush()
                    if rc != 0:
                        raise RuntimeError(f"{label}: build failed ({rc}):\n{out[-4000:]}\n"
                                           f"buildkitd's log:\n{r.log_tail()}")
                    secs += dt
                    outs.append(out)
            start = r.start_seconds
            execs = r.executions()
        t = self.reg.traffic(mark)
        summary = mon.summary()
        log(f"{label}: {secs:.1f} s, pulled {mb(t.pulled)} MB, pushed {mb(t.pushed)} MB "
            f"(load {summary['load']:.1f}, others {summary['other_cores']:.2f} cores)")
        return {"label": label, "seconds": secs, "start": start, "traffic": t, "outputs": outs,
                "execs": execs, "containers": len(execs),
                "guard_steps": sum(1 for a in execs if "guard-step" in a),
                "load": summary, "pulled": t.pulled,
                "pushed": t.pushed}

    def plan_job(self, label, builds):
        """A dry run's job: each build's context copied to OUT/builds, its command printed."""
        slug = re.sub(r"[^a-z0-9.]+", "-", label.lower()).strip("-")
        print(f"{self.n:3d}  fresh runner: {label}")
        for i, b in enumerate(builds):
            dest = os.path.join(self.dry_dir, f"{self.n:03d}-{i}-{slug}")
            shutil.copytree(b["ctx"], dest)
            args = buildkit.build_command("buildctl", "<runner>", dest,
                                          os.path.join(dest, os.path.relpath(b["dockerfile"],
                                                                             b["ctx"])),
                                          b.get("output"), b.get("imports", ()), b.get("export"),
                                          b.get("target"), self.build_args, None, self.comp)
            print("       " + " ".join(args))
        return {"label": label, "seconds": 0.0, "outputs": [], "execs": [], "pulled": 0,
                "pushed": 0}

    # ------------------------------------------------------------ contexts and builds

    def refs(self, appr, name):
        repo = f"{REPO}/ci-{appr}-{name}"
        return repo, f"{self.host}/{repo}:cache"

    def write(self, part, appr, p):
        ctx = os.path.join(self.tmp, part, appr, p.name)
        if os.path.isdir(ctx):
            shutil.rmtree(ctx)
        write_context(ctx, p)
        WRITERS[appr](ctx, p)
        if appr == "copy-link":
            # the tool stages exactly as in the project's Dockerfile, gathered in one target:
            # what a shared harness job builds (same steps, same cache keys)
            df = dl_stages(p.tools) + df_foundation(p.foundation, "foundation")
            for t in p.tools:
                df += ["", f"FROM foundation AS {t.slug}", install(t)]
            df += ["", "FROM scratch AS harness"]
            df += [f"COPY --link --from={t.slug} {PREFIX} {PREFIX}" for t in p.tools]
            write(os.path.join(ctx, HARNESS_DOCKERFILE), df)
        return ctx

    def main_dockerfile(self, appr, ctx):
        if appr == "aishell":
            return os.path.join(ctx, ".aishell", "image.yaml")
        return os.path.join(ctx, "Dockerfile")

    def base_build(self, ctx):
        """stacked: the base image (foundation + tools), pushed, with its own cache."""
        cache = self.stacked_base.rsplit(":", 1)[0] + ":cache"
        return {"ctx": ctx, "dockerfile": os.path.join(ctx, "base.Dockerfile"),
                "output": self.stacked_base, "imports": [cache], "export": cache}

    def harness_cache(self, appr):
        return f"{self.host}/{REPO}/ci-{appr}-harness:cache"

    def harness_build(self, appr, ctx):
        """The shared harness job's build, or None (tools on top: nothing to share)."""
        if appr == "stacked":
            return self.base_build(ctx)
        cache = self.harness_cache(appr)
        if appr == "copy-link":
            return {"ctx": ctx, "dockerfile": os.path.join(ctx, HARNESS_DOCKERFILE),
                    "imports": [cache], "export": cache, "target": "harness"}
        if appr == "aishell":
            return {"ctx": ctx, "dockerfile": self.main_dockerfile(appr, ctx),
                    "imports": [cache], "export": cache, "target": "harness"}
        return None

    # ------------------------------------------------------------ measures of an image

    def image_facts(self, appr, p, repo, tag, seen):
        """Layers of the pushed image: the extension's digest and size, the foundation's
        bytes; `seen` gathers every extension and foundation digest for classifying pulls."""
        layers = self.reg.layers(repo, tag)
        ntools = len(p.tools)
        below = len(layers) - 1 - ntools
        ext = layers[-1] if appr == "stacked" else layers[below]
        seen["extension"].add(ext[0])
        seen["foundation"].update(d for d, _ in layers[:below])
        return {"layers": [d for d, _ in layers], "ext": ext[0], "ext_size": ext[1],
                "foundation_size": sum(s for _, s in layers[:below])}

    def classify(self, rec, seen):
        groups = {"extension": seen["extension"],
                  "foundation": seen["foundation"] | self.base_layers,
                  "frontend": self.frontend_blobs}
        split = registry_log.classify(rec["traffic"].pulled_blobs, groups)
        # other: the remaining blobs (tool layers, configs) and every manifest
        split["other"] = rec["pulled"] - sum(v for k, v in split.items() if k != "other")
        rec.update({f"pulled_{k}": v for k, v in split.items()})

    # ------------------------------------------------------------ single project

    def single(self, sc, appr):
        recs = []
        seen = {"extension": set(), "foundation": set()}
        state = sc.start()
        prev = None
        steps = [("cold", None)] + [(key, key) for key, _, _ in sc.bumps for _ in
                                    range(self.runs)] + [("nochange", None)] * self.runs
        for step, bump in steps:
            if bump:
                state = sc.bumped(state, bump)
            p = self.local(sc.projects(state))[0]
            tools = ([sc.tool(state, next(n for k, _, n in sc.bumps if k == bump))] if bump
                     else p.tools)
            ctx = self.write("single", appr, p)
            repo, cache = self.refs(appr, p.name)
            tag = str(self.n + 1)
            build = {"ctx": ctx, "dockerfile": self.main_dockerfile(appr, ctx),
                     "output": f"{self.host}/{repo}:{tag}", "imports": [cache], "export": cache}
            builds = ([self.base_build(ctx)] if appr == "stacked" else []) + [build]
            label = f"single, {appr}, {step}" + (
                f" -> {tools[0].version}" if bump else "")
            rec = self.job(label, builds)
            shutil.rmtree(ctx)
            rec.update(step=step,
                       installs=tool_installs(rec["outputs"], rec["execs"], tools, PREFIX),
                       ext_runs=ext_runs(rec["execs"]))
            if self.dry_dir:
                continue
            rec.update(self.image_facts(appr, p, repo, tag, seen))
            rec["kept"] = None if prev is None else prev["ext"] == rec["ext"]
            rec["new_layers"] = (None if prev is None else
                                 len([d for d in rec["layers"] if d not in prev["layers"]]))
            self.classify(rec, seen)
            del rec["outputs"], rec["execs"]
            recs.append(rec)
            prev = rec
        return recs

    # ------------------------------------------------------------ fleet

    def fleet(self, sc, appr):
        rounds = []
        seen = {}
        prev = {}
        state = sc.start()
        bump_key, _, bump_tool = sc.bumps[0]
        for rnd in ("cold", "bump"):
            if rnd == "bump":
                state = sc.bumped(state, bump_key)
            projects = self.local(sc.projects(state))
            watched = [sc.tool(state, bump_tool)] if rnd == "bump" else projects[0].tools
            ctxs = {p.name: self.write("fleet", appr, p) for p in projects}
            jobs = []
            hb = self.harness_build(appr, ctxs[projects[0].name])
            if hb:
                rec = self.job(f"fleet, {appr}, {rnd}, harness", [hb])
            if hb and not self.dry_dir:
                rec.update(project="harness",
                           installs=tool_installs(rec["outputs"], rec["execs"], watched, PREFIX),
                           ext_runs=ext_runs(rec["execs"]))
                every = {"extension": set(), "foundation": set()}
                for s in seen.values():
                    every["extension"] |= s["extension"]
                    every["foundation"] |= s["foundation"]
                self.classify(rec, every)
                del rec["outputs"], rec["execs"]
                jobs.append(rec)
            for p in projects:
                repo, cache = self.refs(appr, p.name)
                tag = str(self.n + 1)
                # the harness cache first, as docs/ci.md says: BuildKit mostly misses a step
                # built on a foundation with a context copy in the second cache
                # (bench/repro/cross-cache), and an extension re-run costs more than an install
                imports = ([self.harness_cache(appr)] if appr in ("copy-link", "aishell")
                           else []) + [cache]
                ctx = ctxs[p.name]
                rec = self.job(f"fleet, {appr}, {rnd}, {p.name}",
                               [{"ctx": ctx, "dockerfile": self.main_dockerfile(appr, ctx),
                                 "output": f"{self.host}/{repo}:{tag}", "imports": imports,
                                 "export": cache}])
                if self.dry_dir:
                    continue
                s = seen.setdefault(p.name, {"extension": set(), "foundation": set()})
                rec.update(project=p.name,
                           installs=tool_installs(rec["outputs"], rec["execs"], watched, PREFIX),
                           ext_runs=ext_runs(rec["execs"]))
                rec.update(self.image_facts(appr, p, repo, tag, s))
                rec["kept"] = None if p.name not in prev else prev[p.name]["ext"] == rec["ext"]
                self.classify(rec, s)
                prev[p.name] = rec
                del rec["outputs"], rec["execs"]
                jobs.append(rec)
            for ctx in ctxs.values():
                shutil.rmtree(ctx)
            rounds.append({"round": rnd, "jobs": jobs,
                           "version": sc.tool(state, bump_tool).version})
        return rounds

    # ------------------------------------------------------------ run

    def run(self):
        started = datetime.datetime.now(datetime.timezone.utc)
        self.prepare()
        stem = f"{started:%Y-%m-%d}-ci" + ("-quick" if self.quick else "")
        if self.parts != PARTS:
            stem += "-" + "-".join(self.parts)
        if self.comp != "gzip":
            stem += "-" + self.comp
        os.makedirs(self.args.out, exist_ok=True)
        logpath = os.path.join(self.args.out, stem + ".build.log")
        log(f"build log {logpath}; work folder {self.tmp}; registry {self.host}; parts "
            f"{', '.join(self.parts)}; approaches {', '.join(self.approaches)}; runs {self.runs}")
        results = {"single": {}, "fleet": {}}
        scenarios = {}
        try:
            with open(logpath, "w") as self.logf:
                if "single" in self.parts:
                    cls = Synthetic if self.quick else Aishell
                    scenarios["single"] = sc = cls(self.args, self.scenario_dir("single"))
                    try:
                        for appr in self.approaches:
                            self.start_registry(f"single-{appr}")
                            try:
                                results["single"][appr] = self.single(sc, appr)
                            finally:
                                self.stop_registry()
                    finally:
                        sc.close()
                if "fleet" in self.parts:
                    cls = synthetic_fleet() if self.quick else Fleet
                    scenarios["fleet"] = sc = cls(self.args, self.scenario_dir("fleet"))
                    try:
                        for appr in self.approaches:
                            self.start_registry(f"fleet-{appr}")
                            try:
                                results["fleet"][appr] = self.fleet(sc, appr)
                            finally:
                                self.stop_registry()
                    finally:
                        sc.close()
        finally:
            self.stop_registry()
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.dry_dir:
            log(f"dry run: {self.n} jobs planned; their build files are in {self.dry_dir}")
            return 0
        finished = datetime.datetime.now(datetime.timezone.utc)
        report = Report(self, scenarios, results, started, finished)
        lines = report.markdown(os.path.join(self.args.out, stem + ".png"))
        out_md = os.path.join(self.args.out, stem + ".md")
        with open(out_md, "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))
        log(f"wrote {out_md}")
        if self.args.check:
            problems = check(results)
            for msg in problems:
                log(f"CHECK FAILED: {msg}")
            if problems:
                return 1
            log("check: every bump of the frontend pulled less than its extension layer and "
                "kept it" + ("; the fleet installed the bumped tool once" if results["fleet"]
                             .get("aishell") else ""))
        return 0


# ---------------------------------------------------------------- check


def check(results):
    """The structural promises, whatever the timings: on each bump of the frontend the fresh
    runner pulls less than the extension layer and the pushed image keeps its digest; in the
    fleet the bumped tool is installed once."""
    problems = []
    for r in results["single"].get("aishell", []):
        if r["step"] in ("cold", "nochange"):
            continue
        if not r["pulled"] < r["ext_size"]:
            problems.append(f"{r['label']}: pulled {mb(r['pulled'])} MB, not less than the "
                            f"extension layer's {mb(r['ext_size'])} MB")
        if r["kept"] is not True:
            problems.append(f"{r['label']}: the extension layer's digest changed")
    for rnd in results["fleet"].get("aishell", []):
        if rnd["round"] == "bump":
            n = sum(j["installs"] for j in rnd["jobs"])
            if n != 1:
                problems.append(f"fleet bump: the tool was installed {n} times, expected once")
    return problems


# ---------------------------------------------------------------- report


class Report:
    def __init__(self, ci, scenarios, results, started, finished):
        self.ci, self.sc = ci, scenarios
        self.results, self.started, self.finished = results, started, finished
        self.single, self.fleet = results["single"], results["fleet"]

    def label(self, a):
        return LABEL[a]

    def steps(self):
        sc = self.sc.get("single")
        if not sc:
            return []
        return [(k, lbl) for k, lbl, _ in sc.bumps] + [("nochange", "no change"),
                                                       ("cold", "cold (empty cache)")]

    def by_step(self, appr, step):
        return [r for r in self.single.get(appr, []) if r["step"] == step]

    def med(self, appr, step, key):
        return median([r[key] for r in self.by_step(appr, step)])

    def markdown(self, png):
        c = self.ci
        title = "CI benchmark: ephemeral runners, registry cache" + (" (quick)" if c.quick else "")
        flags = ["--scenario ci"] + (["--quick"] if c.quick else [])
        if c.args.runs:
            flags.append(f"--runs {c.args.runs}")
        if c.parts != PARTS:
            flags.append(f"--ci-parts {','.join(c.parts)}")
        if c.args.only:
            flags.append(f"--only {c.args.only}")
        if c.comp != "gzip":
            flags.append(f"--compression {c.comp}")
        out = [f"# {title}, {self.started:%Y-%m-%d}", "",
               f"Made by `bench/run {' '.join(flags)}` from {self.started:%H:%M} to "
               f"{self.finished:%H:%M} UTC.", ""]
        out += self.setup()
        if self.single:
            out += self.single_tables()
        if self.fleet:
            out += self.fleet_tables()
        out += self.targets()
        out += self.jobs()
        if self.chart(png):
            out += [f"![chart]({os.path.basename(png)})", ""]
        return out

    def setup(self):
        c = self.ci
        mem = "?"
        try:
            with open("/proc/meminfo") as f:
                mem = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
        except OSError:
            pass
        version = subprocess.run([c.buildkitd, "--version"], stdout=subprocess.PIPE,
                                 text=True).stdout.split()
        lines = ["Each job runs on a fresh runner: a standalone `buildkitd` "
                 f"({' '.join(version[1:3])}, OCI worker, overlayfs) started on an empty "
                 "`--root`, fed only by the registry cache (`--import-cache type=registry`); "
                 "it builds with `buildctl build --frontend dockerfile.v0` (the frontend through "
                 "`# syntax=` of its image in the registry), pushes the image (`push=true`) and "
                 "exports the cache (`--export-cache type=registry,mode=max`) to a loopback "
                 "registry (Debian's docker-registry), then is deleted. Seconds are the "
                 "`buildctl build` calls of the job (with the push and the cache export; "
                 "without buildkitd's start, about "
                 f"{median([r['start'] for r in self.all_jobs()]) or 0:.1f} s). "
                 "Pulled and pushed are read from the registry's request log: the bodies of its "
                 "GET responses, and the stored size of every blob (and manifest) an upload "
                 "completed. Pulled bytes are split by digest: the extension's layer, the "
                 "foundation's layers (and the base image's), the frontend image, and the rest "
                 "(tool layers, cache and image configs, manifests). Each approach has a fresh "
                 "registry into which a setup runner first pushed the base image"
                 + (" and the frontend image" if "aishell" in c.approaches else "") + ".", ""]
        for part in ("single", "fleet"):
            if part in self.sc:
                lines += [f"**{part.capitalize()}**: " + " ".join(self.sc[part].describe()), ""]
        fe = ""
        if "aishell" in c.approaches:
            fe = (f", frontend image {mb(c.frontend_size)} MB (binary sha256 "
                  f"{c.frontend_sha[:12]}…, built from {c.commit}"
                  f"{' with uncommitted changes to its sources' if c.dirty else ''})")
        lines += [f"Machine: {os.cpu_count()} cores, memory {mem}, kernel {platform.release()}, "
                  f"export {c.comp}{fe}.", ""]
        return lines

    def all_jobs(self):
        for recs in self.single.values():
            yield from recs
        for rounds in self.fleet.values():
            for rnd in rounds:
                yield from rnd["jobs"]

    # ------------------------------------------------------------ single

    def single_tables(self):
        out = ["## Single project", "",
               f"Medians of the runs (number in brackets); the ratio is to the frontend's "
               "median. MB = 10^6 bytes.", ""]
        ref = "aishell" if "aishell" in self.single else None
        for step, lbl in self.steps():
            out += [f"### {lbl}", "",
                    "| approach | seconds | pulled MB | of it: extension | foundation | frontend "
                    "image | other | pushed MB | extension layer kept | new layers | installs | "
                    "extension re-runs |",
                    "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|"]
            for a, recs in self.single.items():
                rs = self.by_step(a, step)
                if not rs:
                    continue
                secs = median([r["seconds"] for r in rs])
                refm = self.med(ref, step, "seconds") if ref else None
                ratio = f" ({secs / refm:.2f}×)" if refm else ""
                kept = [r["kept"] for r in rs if r["kept"] is not None]
                cells = [f"{secs:.1f} [{len(rs)}]{ratio}"]
                cells += [mb(median([r[k] for r in rs])) for k in
                          ("pulled", "pulled_extension", "pulled_foundation", "pulled_frontend",
                           "pulled_other", "pushed")]
                cells += [f"{sum(kept)}/{len(kept)}" if kept else "—",
                          ", ".join(str(r["new_layers"]) for r in rs if r["new_layers"] is not None)
                          or "—",
                          ", ".join(str(r["installs"]) for r in rs),
                          ", ".join(str(r["ext_runs"]) for r in rs)]
                out.append(f"| {self.label(a)} | " + " | ".join(cells) + " |")
            out.append("")
        sizes = []
        for a, recs in self.single.items():
            last = recs[-1]
            sizes.append(f"{self.label(a)}: extension layer {mb(last['ext_size'])} MB, "
                         f"foundation {mb(last['foundation_size'])} MB, "
                         f"{len(last['layers'])} layers")
        out += ["Compressed sizes in the registry (the last image): " + "; ".join(sizes) + ".",
                "", "Installs = install steps of the bumped tool that ran (for the no-change "
                "and cold jobs: of any tool), extension re-runs = the extension's RUN ran: "
                "counted from the containers buildkitd's debug log says it created (a step "
                "whose result is pulled from the cache runs none), and for the frontend's "
                "binaries, file operations, from the progress output. Stacked = the base "
                "image's build and the project's, in one job.", ""]
        return out

    # ------------------------------------------------------------ fleet

    def fleet_sum(self, a, rnd, key, jobs=None):
        r = next(x for x in self.fleet[a] if x["round"] == rnd)
        js = [j for j in r["jobs"] if jobs is None or jobs(j)]
        return sum(j[key] for j in js)

    def fleet_round(self, a, rnd):
        return next(x for x in self.fleet[a] if x["round"] == rnd)

    def fleet_tables(self):
        out = ["## Fleet", "",
               "Five projects, each job on a fresh runner; one harness job first where the "
               "approach can share one (the frontend: `--target harness`; `COPY --link`: the "
               "tool stages of the Dockerfile as one target; stacked: the base image), whose "
               "cache every project imports with its own. Sums over the jobs of a round "
               "(serial); critical path = the harness job plus the slowest project job "
               "(projects in parallel).", ""]
        first = next(iter(self.fleet))
        bump_label = self.sc["fleet"].bumps[0][1]
        for rnd, title in (("bump", bump_label), ("cold", "cold (empty caches)")):
            ver = self.fleet_round(first, rnd)["version"]
            out += [f"### {title}" + (f" (to {ver})" if rnd == "bump" else ""), "",
                    "| approach | total s | critical path s | harness job s | project jobs s "
                    "(slowest) | installs of the tool | extension re-runs | pulled MB | of it: "
                    "extensions | pushed MB |",
                    "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
            ref = self.fleet_sum("aishell", rnd, "seconds") if "aishell" in self.fleet else None
            for a in self.fleet:
                r = self.fleet_round(a, rnd)
                h = [j for j in r["jobs"] if j["project"] == "harness"]
                ps = [j for j in r["jobs"] if j["project"] != "harness"]
                total = sum(j["seconds"] for j in r["jobs"])
                slowest = max(j["seconds"] for j in ps)
                crit = (h[0]["seconds"] if h else 0) + slowest
                ratio = f" ({total / ref:.2f}×)" if ref else ""
                cells = [f"{total:.1f}{ratio}", f"{crit:.1f}",
                         f"{h[0]['seconds']:.1f}" if h else "—",
                         f"{sum(j['seconds'] for j in ps):.1f} ({slowest:.1f})",
                         str(sum(j["installs"] for j in r["jobs"])),
                         str(sum(j["ext_runs"] for j in r["jobs"])),
                         mb(sum(j["pulled"] for j in r["jobs"])),
                         mb(sum(j["pulled_extension"] for j in r["jobs"])),
                         mb(sum(j["pushed"] for j in r["jobs"]))]
                out.append(f"| {self.label(a)} | " + " | ".join(cells) + " |")
            out.append("")
        out += ["Each project's job in the bump round (seconds, MB pulled of it extension, "
                "installs, extension re-runs):", "",
                "| project | " + " | ".join(self.label(a) for a in self.fleet) + " |",
                "|---|" + "---|" * len(self.fleet)]
        names = [j["project"] for j in self.fleet_round(next(iter(self.fleet)), "bump")["jobs"]
                 if j["project"] != "harness"]
        for n in ["harness"] + names:
            cells = []
            for a in self.fleet:
                j = next((j for j in self.fleet_round(a, "bump")["jobs"] if j["project"] == n),
                         None)
                cells.append("—" if j is None else
                             f"{j['seconds']:.1f} s, {mb(j['pulled'])} MB"
                             + (f" ({mb(j['pulled_extension'])} ext)" if n != "harness" else "")
                             + f", {j['installs']} inst, {j['ext_runs']} ext")
            out.append(f"| {n} | " + " | ".join(cells) + " |")
        return out + [""]

    # ------------------------------------------------------------ targets

    def targets(self):
        rows = []

        def row(name, met, why):
            rows.append(f"| {name} | {'met' if met else '**missed**'} | {why} |")

        s, f = self.single, self.fleet
        if "aishell" in s:
            for key, lbl in self.steps()[:-2]:
                rs = self.by_step("aishell", key)
                worst = max(rs, key=lambda r: r["pulled"])
                allowed = worst["foundation_size"] + SLACK
                ok = all(r["pulled_extension"] == 0 and r["pulled"] <= r["foundation_size"]
                         + SLACK for r in rs)
                row(f"{lbl}: a fresh runner pulls nothing of the extension (≤ foundation + 5 MB)",
                    ok, f"extension pulled {', '.join(mb(r['pulled_extension']) for r in rs)} MB;"
                    f" pulled at most {mb(worst['pulled'])} MB of {mb(allowed)} MB allowed "
                    f"(foundation {mb(worst['foundation_size'])} MB; frontend image "
                    f"{mb(worst['pulled_frontend'])} MB, foundation "
                    f"{mb(worst['pulled_foundation'])} MB, other {mb(worst['pulled_other'])} MB)")
                if "copy-link" in s:
                    fs, cs = self.med("aishell", key, "seconds"), self.med("copy-link", key,
                                                                             "seconds")
                    fb = median([r["pulled"] + r["pushed"] for r in rs])
                    cb = median([r["pulled"] + r["pushed"] for r in self.by_step("copy-link", key)])
                    row(f"{lbl}: seconds and bytes ≤ 1.1 × `COPY --link`",
                        fs <= 1.1 * cs and fb <= 1.1 * cb + 1,
                        f"{fs:.1f} s vs {cs:.1f} s ({fs / cs:.2f}×); pulled + pushed "
                        f"{mb(fb)} MB vs {mb(cb)} MB"
                        + (f" ({fb / cb:.2f}×)" if cb else ""))
                if "stacked" in s:
                    fs, ss = self.med("aishell", key, "seconds"), self.med("stacked", key,
                                                                           "seconds")
                    row(f"{lbl}: ≥ 3 × faster than stacked", ss >= 3 * fs,
                        f"{ss:.1f} s / {fs:.1f} s = {ss / fs:.2f}×")
            others = [a for a in ("stacked", "on-top", "copy-link") if a in s]
            if others:
                fs = self.med("aishell", "nochange", "seconds")
                ratios = {a: fs / self.med(a, "nochange", "seconds") for a in others}
                row("no change on a fresh runner: ≤ 1.2 × the Dockerfile approaches",
                    all(v <= 1.2 for v in ratios.values()),
                    f"frontend {fs:.1f} s; " + ", ".join(
                        f"{v:.2f}× {self.label(a)} ({self.med(a, 'nochange', 'seconds'):.1f} s)"
                        for a, v in ratios.items()))
        if "aishell" in f:
            r = self.fleet_round("aishell", "bump")
            n = sum(j["installs"] for j in r["jobs"])
            row("fleet: the bumped tool installed once for all 5 projects", n == 1,
                f"installed {n}×")
            ps = [j for j in r["jobs"] if j["project"] != "harness"]
            bad = [j for j in ps if j["installs"] or j["pulled_extension"] or j["seconds"] > 5]
            row("fleet: after the harness job, each project's job installs nothing, pulls "
                "nothing of its extension, ≤ 5 s", not bad,
                "; ".join(f"{j['project']} {j['seconds']:.1f} s, {j['installs']} installs, "
                          f"{mb(j['pulled_extension'])} MB of its extension" for j in ps))
            if "stacked" in f:
                ft = self.fleet_sum("aishell", "bump", "seconds")
                st = self.fleet_sum("stacked", "bump", "seconds")
                row("fleet: the whole bump ≥ 5 × faster than stacked", st >= 5 * ft,
                    f"{st:.1f} s / {ft:.1f} s = {st / ft:.2f}× (sums of the jobs)")
        if not rows:
            return []
        return ["## Targets", "", "| target | | measured |", "|---|---|---|"] + rows + [""]

    # ------------------------------------------------------------ every job

    def jobs(self):
        out = ["## Every job", "",
               "Load = the largest 1-minute load average during the job; others = CPU seconds "
               "per second of processes that were not the benchmark's (other people's builds "
               "and tests on this machine), with the busiest; a job with others near or above "
               "1 core ran next to other work.", "",
               "| job | seconds | runner start s | pulled MB | pushed MB | containers run (of "
               "them guard steps) | load | others (cores) | busiest others (CPU s) |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for j in self.all_jobs():
            ld = j["load"]
            out.append(f"| {j['label']} | {j['seconds']:.1f} | {j['start']:.1f} | "
                       f"{mb(j['pulled'])} | {mb(j['pushed'])} | {j['containers']}"
                       + (f" ({j['guard_steps']})" if j["guard_steps"] else "")
                       + f" | {ld['load']:.1f} | "
                       f"{ld['other_cores']:.2f} | "
                       + ", ".join(f"{c} {s}" for c, s in ld["top"]) + " |")
        return out + [""]

    # ------------------------------------------------------------ chart

    def chart(self, path):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            log("matplotlib missing (pip install matplotlib): no chart")
            return False
        panels = []
        if self.single:
            steps = self.steps()[:-1]  # the cold job is not what the chart is about
            panels.append(("single project: seconds (median)", [l for _, l in steps],
                           [(self.label(a), [self.med(a, k, "seconds") for k, _ in steps])
                            for a in self.single]))
            panels.append(("single project: MB pulled + pushed (median)", [l for _, l in steps],
                           [(self.label(a), [(self.med(a, k, "pulled") or 0) / MB
                                             + (self.med(a, k, "pushed") or 0) / MB
                                             for k, _ in steps]) for a in self.single]))
        if self.fleet:
            panels.append(("fleet, 5 projects: seconds (sum of the jobs)",
                           ["harness bump", "cold"],
                           [(self.label(a), [self.fleet_sum(a, "bump", "seconds"),
                                             self.fleet_sum(a, "cold", "seconds")])
                            for a in self.fleet]))
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5))
        axes = axes if len(panels) > 1 else [axes]
        for ax, (title, groups, series) in zip(axes, panels):
            grouped_bars(ax, groups, series)
            ax.set_xticklabels(groups, fontsize=8)
            ax.set_title(title, fontsize=9)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"CI: ephemeral BuildKit runners, registry cache, {os.cpu_count()} cores "
                     f"({self.started:%Y-%m-%d})" + (" — quick" if self.ci.quick else ""),
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        log(f"wrote {path}")
        return True


def main(args):
    """Entry point from bench/run; returns the exit code."""
    for a in (args.only.split(",") if args.only else []):
        if a not in APPROACHES:
            sys.exit(f"[bench ci] --only: {a} is not one of {', '.join(APPROACHES)}")
    for part in args.ci_parts.split(","):
        if part not in PARTS:
            sys.exit(f"[bench ci] --ci-parts: {part} is not one of {', '.join(PARTS)}")
    if args.runs and not args.quick and args.runs > MAX_BUMPS:
        sys.exit(f"[bench ci] --runs at most {MAX_BUMPS}")
    return CI(args).run()
