"""The results of bench/run as markdown and a chart: the file names (stem), the header (the
command line, the scenario, the machine), the cells of the tables, one table per compression
(report_single, report_fleet), the gains and a bar chart (matplotlib, when installed).

Everything but machine() and chart() is a pure function of the results (test_report.py)."""

import os
import platform
import statistics

from .common import LABEL, STEPS, VARIANTS, log
from .engine import docker


def median(xs):
    return statistics.median(xs) if xs else None


def stem(started, scenario, args, approaches):
    """The results' file name without its extension: the date and the scenario, then whatever
    makes this run's results differ from a full default run's, so that a partial or variant run
    never overwrites a full one."""
    net = scenario != "synthetic"
    out = f"{started:%Y-%m-%d}-{scenario}{'-quick' if args.quick and not net else ''}"
    if scenario == "fleet" and args.fleet_extensions != "large":
        out += "-" + args.fleet_extensions
    if args.compression != args.default_compression:
        out += "-" + args.compression  # e.g. 2026-11-26-aishell-zstd next to -gzip
    out += "".join("-" + a for a in approaches if a in VARIANTS)
    if args.steps != STEPS:
        out += "-" + "-".join(args.steps)
    return out


def machine(dry):
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f"{kb / 1048576:.1f} GiB"
    except OSError:
        pass
    m = {"cores": os.cpu_count(), "memory": mem, "kernel": platform.release()}
    if dry:
        return dict(m, docker="(dry run)")
    m["docker"] = docker("version", "--format", "{{.Server.Version}}", check=False).strip()
    m["buildx"] = docker("buildx", "version", check=False).strip()
    m["storage driver"] = docker("info", "--format", "{{.Driver}}", check=False).strip()
    return m


def cell(xs, ref=None):
    if not xs:
        return "—"
    m = statistics.median(xs)
    ratio = f" ({m / ref:.2f}×)" if ref else ""
    return f"{m:.1f} [{len(xs)}]{ratio}"


def pushed_cell(xs):
    # (seconds, blobs, bytes) per bump: the median bytes, and the blobs of each
    if not xs:
        return "—"
    mb = statistics.median(b for _, _, b in xs) / 1e6
    return f"{mb:.1f} MB ({', '.join(str(n) for _, n, _ in xs)} blobs)"


def kept_cell(xs):
    return f"{sum(xs)}/{len(xs)}" if xs else "—"


def command_line(args):
    flags = [f"--scenario {args.scenario}"] if args.scenario != "synthetic" else []
    flags += ["--quick"] if args.quick else []
    for name, default in (("runs", args.default_runs), ("cold_runs", args.runs),
                          ("ext_runs", args.runs)):
        if getattr(args, name) != default:
            flags.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    if args.compression != args.default_compression:
        flags.append(f"--compression {args.compression}")
    if args.scenario == "fleet" and args.fleet_extensions != "large":
        flags.append(f"--fleet-extensions {args.fleet_extensions}")
    if args.only:
        flags.append(f"--only {args.only}")
    if args.steps != STEPS:
        flags.append(f"--steps {','.join(args.steps)}")
    return " ".join(["bench/run"] + flags)


def header(title, sc, args, mach, started, finished):
    return [f"# {title}, {started:%Y-%m-%d}", "",
            f"Made by `{command_line(args)}` from {started:%H:%M} to {finished:%H:%M} UTC, all "
            "approaches on the same engine in the same session.", ""] + sc.describe() + [
            "", "Machine: " + ", ".join(f"{k} {v}" for k, v in mach.items()), ""]


def grouped_bars(ax, groups, series):
    """Draws on `ax` one group of bars per name in `groups`, one bar per series (label,
    values; a missing value is an empty, unlabelled bar), each labelled with its value."""
    width = 0.8 / len(series)
    for k, (label, ys) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        bars = ax.bar(xs, [y or 0 for y in ys], width, label=label)
        for b, y in zip(bars, ys):
            if y is not None:
                ax.annotate(f"{y:.1f}", (b.get_x() + b.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=6)
    ax.set_xticks(range(len(groups)))


def chart(path, title, groups, series, ylabel="seconds (median)"):
    """Grouped bars: one group per scenario column, one bar per series (label, values)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing (pip install matplotlib): no chart")
        return False
    fig, ax = plt.subplots(figsize=(max(10, 2 * len(groups) + len(series)), 5))
    grouped_bars(ax, groups, series)
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    log(f"wrote {path}")
    return True


def columns(sc, steps):
    """The measured columns (key, label) of the steps run, in the order of the tables."""
    by_step = {"cold": [("cold", "cold build")],
               "bumps": [(k, lbl) for k, lbl, _ in sc.bumps],
               "extension": [("extension", "change extension")],
               "nochange": [("nochange", "no change")]}
    return [col for step in STEPS if step in steps for col in by_step[step]]


def report_single(sc, results, limits, args, mach, started, finished, out_md, out_png):
    """synthetic and aishell: one table per compression, the gains, every run, a chart."""
    bumps = sc.bumps if "bumps" in args.steps else []
    scen = columns(sc, args.steps)
    title = {"synthetic": f"Synthetic benchmark ({'quick' if args.quick else 'full'})",
             "aishell": "aishell benchmark (registries)"}[sc.name]
    lines = header(title, sc, args, mach, started, finished)
    lines += ["Seconds, median of the runs (number of runs in brackets); ratio to (d) with the "
              "same compression in parentheses.", ""]
    pushes = any(r[k + ":push"] for by in results.values() for r in by.values()
                 for k, _, _ in bumps)
    extra = [(f"extension diffID kept, {lbl}", lambda r, k=k: kept_cell(r[k + ":kept"]))
             for k, lbl, _ in bumps]
    extra += [(f"new layers, {lbl}", lambda r, k=k: ", ".join(map(str, r[k + ":new"])))
              for k, lbl, _ in bumps]
    if pushes:
        extra += [(f"pushed after {lbl}", lambda r, k=k: pushed_cell(r[k + ":push"]))
                  for k, lbl, _ in bumps]
    extra.append(("image layers", lambda r: str(r["layers"])))
    for comp, by_appr in results.items():
        ref = by_appr.get("aishell")
        lines += [f"## Export: {'default (gzip)' if comp == 'gzip' else comp}", "",
                  "| approach | " + " | ".join([n for _, n in scen] + [n for n, _ in extra]) + " |",
                  "|---|" + "---:|" * len(scen) + "---|" * len(extra)]
        for a, r in by_appr.items():
            cells = [cell(r[s], ref and median(ref[s])) for s, _ in scen]
            lines.append(f"| {LABEL[a]} | " + " | ".join(cells + [f(r) for _, f in extra]) + " |")
        if comp in limits:
            # the bump columns only: what installing that one tool alone costs
            cells = [cell(limits[comp][s], ref and median(ref[s])) if s in limits[comp] else "—"
                     for s, _ in scen]
            lines.append("| physical limit: the bumped tool alone on the primed foundation | "
                         + " | ".join(cells + ["—"] * len(extra)) + " |")
        lines.append("")
    lines += gains(sc, results, args.steps)
    lines += ["All runs (seconds):", ""]
    for comp, by_appr in results.items():
        for a, r in by_appr.items():
            lines.append(f"* {comp}, {LABEL[a]}: " + "; ".join(
                f"{n}: " + ", ".join(f"{x:.1f}" for x in r[s]) for s, n in scen))
    lines += ["",
              "Cold = `docker builder prune -af` and `docker rmi` of the bench images before the "
              "build (the base images and the frontend image stay). Stacked times are the sum of "
              "its two builds (base, then extension)."
              + (" The diffID columns compare the extension's layer in `RootFS.Layers` before "
                 "and after each bump; new layers = diffIDs of the bumped image not in the image "
                 "before." if bumps else "")
              + (" Pushed = the blobs a `docker push` of the bumped image added to its repository "
                 "in a local registry (Debian's docker-registry) that held the image before the "
                 "bump: the median bytes, and the number of blobs of each bump (layers and the "
                 "config)." if pushes else "")
              + (" The physical limit is a build `FROM` the foundation image (built just before) "
                 "with only the bumped tool's install step, exporting its one layer, with the "
                 "same compression." if limits else ""), ""]
    if chart(out_png, f"{title}, Docker {mach['docker']}, {mach['cores']} cores "
             f"({started:%Y-%m-%d})", [n for _, n in scen],
             [(f"{LABEL[a]}, {comp}", [median(r[s]) for s, _ in scen])
              for comp, by_appr in results.items() for a, r in by_appr.items()]
             + [(f"physical limit, {comp}", [median(lim.get(s, [])) for s, _ in scen])
                for comp, lim in limits.items()]):
        lines += [f"![chart]({os.path.basename(out_png)})", ""]
    return lines


def gains(sc, results, steps):
    """The structural gain (same compression both sides) and the recommended configuration's
    (frontend with zstd against stacked with the default gzip)."""
    out = []
    cols = columns(sc, steps)
    # the cold build last: the bumps, what the project is for, lead
    keys = [k for k, _ in cols if k != "cold"] + [k for k, _ in cols if k == "cold"]
    names = dict(cols)

    def ratio(a, b, k):
        ma, mb = median(a[k]), median(b[k])
        return f"{ma / mb:.2f}× ({ma:.1f} s / {mb:.1f} s)" if ma and mb else "—"
    pairs = [(f"structural, {c}: (a) stacked / (d) aishell-frontend", by["stacked"], by["aishell"])
             for c, by in results.items() if "stacked" in by and "aishell" in by]
    if "stacked" in results.get("gzip", {}) and "aishell" in results.get("zstd", {}):
        pairs.append(("recommended: (a) stacked, default gzip / (d) aishell-frontend, zstd",
                      results["gzip"]["stacked"], results["zstd"]["aishell"]))
    if not pairs:
        return out
    out += ["## Gains", "", "| comparison | " + " | ".join(names[k] for k in keys) + " |",
            "|---|" + "---:|" * len(keys)]
    out += [f"| {n} | " + " | ".join(ratio(a, b, k) for k in keys) + " |" for n, a, b in pairs]
    return out + ["", "A ratio above 1 means the frontend is faster.", ""]


def report_fleet(sc, results, args, mach, started, finished, out_md, out_png):
    lines = header("Fleet benchmark (registries)", sc, args, mach, started, finished)
    for comp, by_appr in results.items():
        ref = by_appr.get("aishell")
        lines += [f"## Export: {'default (gzip)' if comp == 'gzip' else comp}", "",
                  "Seconds for all five projects, median of the runs; ratio to (d).", "",
                  "| approach | cold, 5 projects | bump claude-code, 5 projects | installs of the "
                  "bumped tool per bump | extension re-runs per bump | export, unpack per bump "
                  "(s, median) |",
                  "|---|---:|---:|---|---|---|"]
        for a, r in by_appr.items():
            counts = [", ".join(map(str, r[k])) for k in ("installs", "ext")]
            split = (f"{median(r['export']):.1f}, {median(r['unpack']):.1f}"
                     if r.get("export") else "–")
            lines.append(f"| {LABEL[a]} | {cell(r['cold'], ref and median(ref['cold']))} | "
                         f"{cell(r['bump'], ref and median(ref['bump']))} | "
                         + " | ".join(counts) + f" | {split} |")
        lines.append("")
    if chart(out_png, f"Fleet benchmark, 5 projects, Docker {mach['docker']}, {mach['cores']} "
             f"cores ({started:%Y-%m-%d})", ["cold, 5 projects", "bump claude-code, 5 projects"],
             [(f"{LABEL[a]}, {comp}", [median(r["cold"]), median(r["bump"])])
              for comp, by_appr in results.items() for a, r in by_appr.items()]):
        lines += [f"![chart]({os.path.basename(out_png)})", ""]
    return lines
