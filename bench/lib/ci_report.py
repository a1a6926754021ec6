"""The CI benchmark's verdict and report: the structural promises (`check`) and the Markdown
and chart of a run (`Report`)."""

import os
import platform
import subprocess

from .ci_common import MB, PARTS, log, mb, median
from .common import LABEL
from .report import grouped_bars

# what a fresh runner may pull on a bump beyond the foundation (targets)
SLACK = 5 * MB


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
               "Medians of the runs (number in brackets); the ratio is to the frontend's "
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
