"""Measuring: one approach's builds (Approach), and the steps run on them — a cold build, the
bumps, an extension change, no change (measure), the physical limit of a bump (measure_limit),
a fleet's harness bump (measure_fleet) — then what must hold whatever the timings
(check_structure). Each returns plain dicts of lists, which report.py turns into tables."""

import os
import shutil

from . import builds
from .builds import WRITERS, df_foundation, dl_stages, install, write, write_context
from .common import FOUNDATION_TAG, LIMIT_TAG, REPO, log
from .progress import export_seconds, ext_runs, installs


class Approach:
    def __init__(self, name, root, engine):
        self.name, self.engine = name, engine
        self.dir = os.path.join(root, name)

    def tag(self, p):
        return f"{REPO}/{self.name}-{p.name}:latest"

    def build_all(self, projects):
        """Writes and builds every project (stacked: its base once, shared); returns the
        seconds and the progress output of each build (vertex numbers restart in each)."""
        secs, outs = 0.0, []
        self.engine.settle()
        for k, p in enumerate(projects):
            ctx = os.path.join(self.dir, p.name)
            if os.path.isdir(ctx):
                shutil.rmtree(ctx)
            write_context(ctx, p)
            WRITERS[self.name](ctx, p)
            steps = [("Dockerfile", self.tag(p))]
            if self.name == "stacked" and k == 0:
                steps.insert(0, ("base.Dockerfile", builds.BASE_TAG))
            elif self.name.startswith("aishell"):
                steps = [(os.path.join(".aishell", "image.yaml"), self.tag(p))]
            for df, tag in steps:
                dt, out = self.engine.build(ctx, os.path.join(ctx, df), tag)
                secs += dt
                outs.append(out)
        return secs, outs

    def ext_index(self, ls, ntools):
        # stacked, aishell-below: foundation, tools, extension on top; the others:
        # foundation, extension, tools
        return len(ls) - 1 if self.name in ("stacked", "aishell-below") else len(ls) - 1 - ntools


# ---------------------------------------------------------------- measuring


def measure(appr, sc, args):
    """One approach, one compression: cold, each bump, extension change, no change."""
    eng = appr.engine
    res = {"cold": [], "extension": [], "nochange": []}
    for key, _, _ in sc.bumps:
        res.update({key: [], key + ":kept": [], key + ":push": [], key + ":new": []})
    # the steps not asked for (--steps) are not run, except one cold build: every other step
    # starts from it
    for i in range(args.cold_runs if "cold" in args.steps else 1):
        eng.clean()
        state = sc.start()
        secs = appr.build_all(sc.projects(state))[0]
        if "cold" in args.steps:
            res["cold"].append(secs)
        log(f"{appr.name}: cold #{i + 1}: {secs:.1f} s")
    p = sc.projects(state)[0]
    repo = f"{REPO}/{appr.name}-{eng.compression}"
    bumps = sc.bumps if "bumps" in args.steps else []
    if bumps:
        eng.push(appr.tag(p), repo)  # the image before the first bump
    for key, label, name in bumps:
        for i in range(args.runs):
            # a version never built before, so every bump is a real one (going back to an
            # earlier version would be a cache hit for every approach)
            before = eng.layers(appr.tag(p))
            state = sc.bumped(state, key)
            secs = appr.build_all(sc.projects(state))[0]
            res[key].append(secs)
            after = eng.layers(appr.tag(p))
            n = len(p.tools)
            res[key + ":kept"].append(before[appr.ext_index(before, n)]
                                      == after[appr.ext_index(after, n)])
            res[key + ":new"].append(len([x for x in after if x not in before]))
            pushed = eng.push(appr.tag(p), repo)
            if pushed:
                res[key + ":push"].append(pushed)
            log(f"{appr.name}: {label} #{i + 1} -> {sc.tool(state, name).version}: {secs:.1f} s, "
                f"extension diffID {'kept' if res[key + ':kept'][-1] else 'CHANGED'}")
    for i in range(args.ext_runs if "extension" in args.steps else 0):
        state = dict(state, rev=state["rev"] + 1)
        res["extension"].append(appr.build_all(sc.projects(state))[0])
        log(f"{appr.name}: extension change #{i + 1}: {res['extension'][-1]:.1f} s")
    for i in range(args.runs if "nochange" in args.steps else 0):
        res["nochange"].append(appr.build_all(sc.projects(state))[0])
        log(f"{appr.name}: no change #{i + 1}: {res['nochange'][-1]:.1f} s")
    res["layers"] = len(eng.layers(appr.tag(p)))
    return res


def measure_limit(sc, eng, root, args):
    """The physical limit of each bump: the one tool installed alone on the primed
    foundation image (a Dockerfile FROM it with only that step), exported as one layer."""
    eng.clean()
    state = sc.start()
    p = sc.projects(state)[0]
    d = os.path.join(root, "limit")
    write_context(d, p)
    write(os.path.join(d, "foundation.Dockerfile"), df_foundation(p.foundation))
    eng.build(d, os.path.join(d, "foundation.Dockerfile"), FOUNDATION_TAG)  # the prime
    res = {}
    for key, label, name in sc.bumps:
        res[key] = []
        for i in range(args.runs):
            state = sc.bumped(state, key)
            t = sc.tool(state, name)
            write(os.path.join(d, "Dockerfile"), dl_stages([t]) + [f"FROM {FOUNDATION_TAG}",
                                                                    install(t)])
            eng.settle()
            res[key].append(eng.build(d, os.path.join(d, "Dockerfile"), LIMIT_TAG)[0])
            log(f"limit: {label} #{i + 1} -> {t.version}: {res[key][-1]:.1f} s")
    return res


def measure_fleet(appr, sc, args):
    eng = appr.engine
    res = {"cold": [], "bump": [], "installs": [], "ext": [], "export": [], "unpack": []}
    eng.clean()
    state = sc.start()
    secs, out = appr.build_all(sc.projects(state))
    res["cold"].append(secs)
    log(f"{appr.name}: cold, {len(sc.projects(state))} projects: {secs:.1f} s (export "
        "{:.1f} s, unpack {:.1f} s)".format(*export_seconds(out)))
    for i in range(args.runs):
        state = sc.bumped(state, "bump-npm")
        t = sc.tool(state, "@anthropic-ai/claude-code")
        secs, out = appr.build_all(sc.projects(state))
        res["bump"].append(secs)
        res["installs"].append(installs(out, t))
        res["ext"].append(ext_runs(out))
        compress, unpack = export_seconds(out)
        res["export"].append(compress)
        res["unpack"].append(unpack)
        log(f"{appr.name}: bump #{i + 1} -> {t.version}: {secs:.1f} s, installed "
            f"{res['installs'][-1]}×, extension re-runs {res['ext'][-1]}, export "
            f"{compress:.1f} s, unpack {unpack:.1f} s")
    return res


# ---------------------------------------------------------------- checking


def check_structure(sc, results):
    """What must hold for (d) whatever the timings: on every bump the extension's diffID is
    kept and exactly one layer is new."""
    problems = []
    if sc.name == "fleet":
        return problems
    for comp, by_approach in results.items():
        res = by_approach.get("aishell")
        if res is None:
            continue
        for key, label, _ in sc.bumps:
            kept, new = res[key + ":kept"], res[key + ":new"]
            if not kept or not all(kept):
                problems.append(f"{comp}, {label}: extension diffID kept {kept}")
            if any(n != 1 for n in new):
                problems.append(f"{comp}, {label}: new layers per bump {new}, expected 1 each")
    return problems
