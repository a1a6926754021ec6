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
runners, the jobs and the measures; ci_inputs.py makes the base root file system and the
frontend binary, ci_report.py checks the promises and writes the report.
"""

import datetime
import os
import re
import shutil
import sys
import tempfile

from . import buildkit, load, registry_log
from .progress import vertex_states
from .builds import (WRITERS, Foundation, Project, df_foundation, dl_stages, install,
                     set_image_names, write, write_context)
from .ci_common import PARTS, free_gb, log, mb
from .ci_inputs import busybox_rootfs, debian_rootfs, frontend_binary, sha256_file, source_state
from .ci_report import Report, check
from .common import APPROACHES, PREFIX
from .registry import npm_registry, registry_program
from .scenarios import MAX_BUMPS, Aishell, Fleet, Synthetic, synthetic_ext_cmd

REPO = "aishell-bench"
HARNESS_DOCKERFILE = "harness.Dockerfile"
STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_FREE_GB = 8


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
        self.stacked_base = f"{self.host}/{REPO}/ci-stacked:base"
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

    # One repository per approach, a tag per project, as docs/ci.md lays them out
    # (org/aishell:ext-<project>, :cache-<project>, :cache-harness): a blob the harness job
    # exported is then in the repository every project pushes to, and BuildKit does not upload
    # it again. It does not mount blobs across repositories from an imported cache
    # (bench/repro/push-repo).
    def repo(self, appr):
        return f"{REPO}/ci-{appr}"

    def refs(self, appr, name):
        """(repository, cache ref) of a project."""
        return self.repo(appr), f"{self.host}/{self.repo(appr)}:cache-{name}"

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
        cache = self.stacked_base.rsplit(":", 1)[0] + ":cache-base"
        return {"ctx": ctx, "dockerfile": os.path.join(ctx, "base.Dockerfile"),
                "output": self.stacked_base, "imports": [cache], "export": cache}

    def harness_cache(self, appr):
        return f"{self.host}/{self.repo(appr)}:cache-harness"

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
            tag = f"ext-{p.name}-{self.n + 1}"
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
                tag = f"ext-{p.name}-{self.n + 1}"
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
