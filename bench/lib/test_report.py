"""Tests of report.py: python3 -m unittest discover -s bench/lib -t bench"""

import argparse
import datetime
import unittest
from unittest import mock

from lib import report
from lib.common import STEPS

UTC = datetime.timezone.utc
STARTED = datetime.datetime(2026, 12, 7, 9, 5, tzinfo=UTC)
FINISHED = datetime.datetime(2026, 12, 7, 11, 40, tzinfo=UTC)
MACHINE = {"cores": 2, "memory": "7.8 GiB", "kernel": "6.1.0", "docker": "26.1.5"}


class Sc:
    """A scenario as the report sees it: a name, its bumps, its description."""

    def __init__(self, name, bumps):
        self.name, self.bumps = name, bumps

    def describe(self):
        return [f"The {self.name} scenario."]


SYNTHETIC = Sc("synthetic", [("bump", "bump tool-a", "tool-a")])
AISHELL = Sc("aishell", [("bump-npm", "bump claude-code", "@anthropic-ai/claude-code"),
                         ("bump-bin", "bump biome", "biome")])
FLEET = Sc("fleet", [("bump-npm", "bump claude-code", "@anthropic-ai/claude-code")])


def args(scenario="synthetic", **kw):
    """The arguments as bench/run's main() leaves them (defaults filled in)."""
    net = scenario != "synthetic"
    a = argparse.Namespace(scenario=scenario, quick=False, runs=None, cold_runs=None,
                           ext_runs=None, compression=None, fleet_extensions="large", only=None,
                           steps=list(STEPS))
    for k, v in kw.items():
        setattr(a, k, v)
    a.default_runs = 1 if net else 3
    a.runs = a.runs or a.default_runs
    a.cold_runs = a.cold_runs or a.runs
    a.ext_runs = a.ext_runs or a.runs
    a.default_compression = "both" if scenario == "aishell" else "gzip"
    a.compression = a.compression or a.default_compression
    return a


def single(cold, bump, extension, nochange, kept=(True,) * 3, new=(1,) * 3, push=(), layers=5):
    """measure()'s result for the synthetic scenario."""
    return {"cold": list(cold), "bump": list(bump), "extension": list(extension),
            "nochange": list(nochange), "bump:kept": list(kept), "bump:new": list(new),
            "bump:push": list(push), "layers": layers}


class Median(unittest.TestCase):
    def test_median_or_none(self):
        self.assertEqual(report.median([3.0, 1.0, 2.0]), 2.0)
        self.assertEqual(report.median([1.0, 2.0]), 1.5)
        self.assertIsNone(report.median([]))


class Cells(unittest.TestCase):
    def test_cell_is_the_median_the_runs_and_the_ratio(self):
        self.assertEqual(report.cell([31.0, 29.5, 30.2]), "30.2 [3]")
        self.assertEqual(report.cell([4.0, 6.0], 2.5), "5.0 [2] (2.00×)")
        self.assertEqual(report.cell([1.0], 3.0), "1.0 [1] (0.33×)")

    def test_cell_without_a_reference_or_runs(self):
        self.assertEqual(report.cell([]), "—")
        self.assertEqual(report.cell([], 2.0), "—")
        # no (d) in the run, or (d) took no time (a dry run): no ratio rather than a division
        self.assertEqual(report.cell([2.0], None), "2.0 [1]")
        self.assertEqual(report.cell([2.0], 0.0), "2.0 [1]")

    def test_pushed_cell_is_the_median_bytes_and_each_bumps_blobs(self):
        pushes = [(1.2, 3, 2_000_000), (2.5, 2, 40_000_000), (1.4, 3, 3_100_000)]
        self.assertEqual(report.pushed_cell(pushes), "3.1 MB (3, 2, 3 blobs)")
        self.assertEqual(report.pushed_cell([(0.5, 2, 250_000)]), "0.2 MB (2 blobs)")
        self.assertEqual(report.pushed_cell([]), "—")

    def test_kept_cell_counts_the_kept_bumps(self):
        self.assertEqual(report.kept_cell([True, False, True]), "2/3")
        self.assertEqual(report.kept_cell([False]), "0/1")
        self.assertEqual(report.kept_cell([]), "—")


class Columns(unittest.TestCase):
    def test_every_step_in_table_order(self):
        self.assertEqual(report.columns(AISHELL, STEPS),
                         [("cold", "cold build"), ("bump-npm", "bump claude-code"),
                          ("bump-bin", "bump biome"), ("extension", "change extension"),
                          ("nochange", "no change")])

    def test_only_the_steps_run_in_table_order_whatever_the_order_asked(self):
        self.assertEqual(report.columns(SYNTHETIC, ["nochange", "cold"]),
                         [("cold", "cold build"), ("nochange", "no change")])
        self.assertEqual(report.columns(SYNTHETIC, ["bumps"]), [("bump", "bump tool-a")])
        self.assertEqual(report.columns(SYNTHETIC, []), [])


class CommandLine(unittest.TestCase):
    def test_the_defaults_give_no_flags(self):
        self.assertEqual(report.command_line(args()), "bench/run")
        self.assertEqual(report.command_line(args("aishell")), "bench/run --scenario aishell")
        self.assertEqual(report.command_line(args("fleet")), "bench/run --scenario fleet")

    def test_each_flag_that_differs_from_its_default(self):
        a = args("aishell", runs=2, cold_runs=1, compression="gzip", only="stacked,aishell",
                 steps=["cold", "extension"])
        self.assertEqual(report.command_line(a),
                         "bench/run --scenario aishell --runs 2 --cold-runs 1 --compression gzip "
                         "--only stacked,aishell --steps cold,extension")
        self.assertEqual(report.command_line(args(quick=True, ext_runs=1)),
                         "bench/run --quick --ext-runs 1")

    def test_cold_and_extension_runs_default_to_runs(self):
        # --runs 2 gives cold and extension runs of 2: not repeated on the command line
        self.assertEqual(report.command_line(args(runs=2)), "bench/run --runs 2")

    def test_fleet_extensions_only_for_the_fleet(self):
        self.assertEqual(report.command_line(args("fleet", fleet_extensions="small")),
                         "bench/run --scenario fleet --fleet-extensions small")
        self.assertEqual(report.command_line(args("aishell", fleet_extensions="small")),
                         "bench/run --scenario aishell")


class Stem(unittest.TestCase):
    def stem(self, scenario, approaches=("stacked", "on-top", "copy-link", "aishell"), **kw):
        return report.stem(STARTED, scenario, args(scenario, **kw), list(approaches))

    def test_the_names_of_full_default_runs(self):
        self.assertEqual(self.stem("synthetic"), "2026-12-07-synthetic")
        self.assertEqual(self.stem("aishell"), "2026-12-07-aishell")
        self.assertEqual(self.stem("fleet"), "2026-12-07-fleet")

    def test_quick_is_named_for_the_synthetic_scenario_only(self):
        self.assertEqual(self.stem("synthetic", quick=True), "2026-12-07-synthetic-quick")
        self.assertEqual(self.stem("aishell", quick=True), "2026-12-07-aishell")

    def test_what_differs_from_the_full_run_is_in_the_name(self):
        self.assertEqual(self.stem("aishell", compression="zstd",
                                   steps=["cold", "extension", "nochange"]),
                         "2026-12-07-aishell-zstd-cold-extension-nochange")
        self.assertEqual(self.stem("fleet", approaches=["aishell", "aishell-below"],
                                   fleet_extensions="small", compression="zstd"),
                         "2026-12-07-fleet-small-zstd-aishell-below")
        # gzip is the synthetic scenario's default, not aishell's
        self.assertEqual(self.stem("synthetic", compression="gzip"), "2026-12-07-synthetic")
        self.assertEqual(self.stem("aishell", compression="gzip"), "2026-12-07-aishell-gzip")

    def test_fleet_extensions_and_the_runs_do_not_name_other_scenarios(self):
        self.assertEqual(self.stem("aishell", fleet_extensions="small", runs=2),
                         "2026-12-07-aishell")


class Header(unittest.TestCase):
    def test_title_command_times_scenario_and_machine(self):
        lines = report.header("aishell benchmark (registries)", AISHELL, args("aishell", runs=2),
                              MACHINE, STARTED, FINISHED)
        self.assertEqual(lines, [
            "# aishell benchmark (registries), 2026-12-07", "",
            "Made by `bench/run --scenario aishell --runs 2` from 09:05 to 11:40 UTC, all "
            "approaches on the same engine in the same session.", "",
            "The aishell scenario.", "",
            "Machine: cores 2, memory 7.8 GiB, kernel 6.1.0, docker 26.1.5", ""])


class Gains(unittest.TestCase):
    def test_structural_gain_per_compression_and_the_recommended_one(self):
        results = {
            "gzip": {"stacked": single([60.0], [30.0, 32.0, 34.0], [90.0], [2.0]),
                     "aishell": single([80.0], [8.0], [100.0], [4.0])},
            "zstd": {"stacked": single([50.0], [20.0], [70.0], [2.0]),
                     "aishell": single([70.0], [4.0], [80.0], [0.0])},
        }
        self.assertEqual(report.gains(SYNTHETIC, results, STEPS), [
            "## Gains", "",
            "| comparison | bump tool-a | change extension | no change | cold build |",
            "|---|---:|---:|---:|---:|",
            "| structural, gzip: (a) stacked / (d) aishell-frontend | 4.00× (32.0 s / 8.0 s) | "
            "0.90× (90.0 s / 100.0 s) | 0.50× (2.0 s / 4.0 s) | 0.75× (60.0 s / 80.0 s) |",
            # a median of 0 (nothing to divide by) is no ratio
            "| structural, zstd: (a) stacked / (d) aishell-frontend | 5.00× (20.0 s / 4.0 s) | "
            "0.88× (70.0 s / 80.0 s) | — | 0.71× (50.0 s / 70.0 s) |",
            "| recommended: (a) stacked, default gzip / (d) aishell-frontend, zstd | "
            "8.00× (32.0 s / 4.0 s) | 1.12× (90.0 s / 80.0 s) | — | 0.86× (60.0 s / 70.0 s) |",
            "", "A ratio above 1 means the frontend is faster.", ""])

    def test_only_the_steps_run(self):
        results = {"gzip": {"stacked": single([60.0], [30.0], [], []),
                            "aishell": single([80.0], [10.0], [], [])}}
        lines = report.gains(SYNTHETIC, results, ["cold", "bumps"])
        self.assertEqual(lines[2:5], [
            "| comparison | bump tool-a | cold build |", "|---|---:|---:|",
            "| structural, gzip: (a) stacked / (d) aishell-frontend | 3.00× (30.0 s / 10.0 s) | "
            "0.75× (60.0 s / 80.0 s) |"])
        self.assertEqual(len(lines), 8)  # no recommended row: there is no zstd

    def test_a_step_that_took_no_time_has_no_ratio(self):
        # dry runs time every build at 0 s: no "0.00×" either way
        results = {"gzip": {"stacked": single([0.0], [30.0], [], []),
                            "aishell": single([80.0], [0.0], [], [])}}
        lines = report.gains(SYNTHETIC, results, ["cold", "bumps"])
        self.assertEqual(lines[4],
                         "| structural, gzip: (a) stacked / (d) aishell-frontend | — | — |")

    def test_no_gains_without_both_stacked_and_the_frontend(self):
        results = {"gzip": {"stacked": single([60.0], [30.0], [90.0], [2.0]),
                            "on-top": single([60.0], [30.0], [90.0], [2.0])}}
        self.assertEqual(report.gains(SYNTHETIC, results, STEPS), [])
        self.assertEqual(report.gains(SYNTHETIC, {}, STEPS), [])


class ReportSingle(unittest.TestCase):
    def report(self, results, limits, a, sc=SYNTHETIC, charted=False):
        with mock.patch.object(report, "chart", return_value=charted) as chart:
            lines = report.report_single(sc, results, limits, a, MACHINE, STARTED, FINISHED,
                                         "/r/x.md", "/r/x.png")
        return lines, chart

    def test_one_table_per_compression_with_ratios_to_the_frontend(self):
        results = {"gzip": {
            "stacked": single([60.0, 62.0, 61.0], [30.0, 31.0, 29.0], [90.0] * 3, [2.0] * 3,
                              kept=[True] * 3, new=[4, 4, 4], layers=5),
            "aishell": single([80.0] * 3, [10.0, 10.0, 12.0], [100.0] * 3, [4.0] * 3,
                              kept=[True, True, False], new=[1, 1, 2], layers=5)}}
        lines, chart = self.report(results, {}, args(quick=True))
        self.assertEqual(lines[0], "# Synthetic benchmark (quick), 2026-12-07")
        table = lines[lines.index("## Export: default (gzip)") + 2:]
        self.assertEqual(table[:4], [
            "| approach | cold build | bump tool-a | change extension | no change | extension "
            "diffID kept, bump tool-a | new layers, bump tool-a | image layers |",
            "|---|---:|---:|---:|---:|---|---|---|",
            "| (a) stacked base + FROM | 61.0 [3] (0.76×) | 30.0 [3] (3.00×) | 90.0 [3] (0.90×) | "
            "2.0 [3] (0.50×) | 3/3 | 4, 4, 4 | 5 |",
            "| (d) aishell-frontend | 80.0 [3] (1.00×) | 10.0 [3] (1.00×) | 100.0 [3] (1.00×) | "
            "4.0 [3] (1.00×) | 2/3 | 1, 1, 2 | 5 |"])
        self.assertIn("* gzip, (a) stacked base + FROM: cold build: 60.0, 62.0, 61.0; bump tool-a: "
                      "30.0, 31.0, 29.0; change extension: 90.0, 90.0, 90.0; no change: 2.0, 2.0, "
                      "2.0", lines)
        self.assertNotIn("![chart](x.png)", lines)
        # the chart: one group per column, one series per approach and compression, the medians
        (path, title, groups, series), _ = chart.call_args
        self.assertEqual(path, "/r/x.png")
        self.assertEqual(title, "Synthetic benchmark (quick), Docker 26.1.5, 2 cores (2026-12-07)")
        self.assertEqual(groups, ["cold build", "bump tool-a", "change extension", "no change"])
        self.assertEqual(series, [("(a) stacked base + FROM, gzip", [61.0, 30.0, 90.0, 2.0]),
                                  ("(d) aishell-frontend, gzip", [80.0, 10.0, 100.0, 4.0])])

    def test_pushes_and_the_physical_limit_when_measured(self):
        a = args("aishell", compression="zstd")
        res = {"cold": [300.0], "bump-npm": [40.0], "bump-bin": [20.0], "extension": [200.0],
               "nochange": [3.0], "bump-npm:kept": [True], "bump-bin:kept": [True],
               "bump-npm:new": [1], "bump-bin:new": [1], "bump-npm:push": [(2.0, 2, 30e6)],
               "bump-bin:push": [(1.0, 2, 25e6)], "layers": 9}
        lines, _ = self.report({"zstd": {"aishell": res}},
                               {"zstd": {"bump-npm": [20.0], "bump-bin": [5.0]}}, a, AISHELL,
                               charted=True)
        self.assertIn("## Export: zstd", lines)
        header = next(line for line in lines if line.startswith("| approach"))
        self.assertTrue(header.endswith("| pushed after bump claude-code | pushed after bump "
                                        "biome | image layers |"), header)
        self.assertIn("| (d) aishell-frontend | 300.0 [1] (1.00×) | 40.0 [1] (1.00×) | 20.0 [1] "
                      "(1.00×) | 200.0 [1] (1.00×) | 3.0 [1] (1.00×) | 1/1 | 1/1 | 1 | 1 | "
                      "30.0 MB (2 blobs) | 25.0 MB (2 blobs) | 9 |", lines)
        self.assertIn("| physical limit: the bumped tool alone on the primed foundation | — | "
                      "20.0 [1] (0.50×) | 5.0 [1] (0.25×) | — | — | — | — | — | — | — | — | — |",
                      lines)
        notes = lines[-4]
        self.assertIn("Pushed = the blobs", notes)
        self.assertIn("The physical limit is", notes)
        self.assertEqual(lines[-2:], ["![chart](x.png)", ""])

    def test_without_the_bumps_no_diffid_columns_and_no_notes_on_them(self):
        a = args(steps=["cold", "nochange"])
        results = {"gzip": {"on-top": single([60.0], [], [], [2.0], kept=[], new=[])}}
        lines, _ = self.report(results, {}, a)
        self.assertEqual(lines[0], "# Synthetic benchmark (full), 2026-12-07")
        self.assertIn("| approach | cold build | no change | image layers |", lines)
        self.assertIn("| (b) Dockerfile, tools on top | 60.0 [1] | 2.0 [1] | 5 |", lines)
        self.assertFalse(any("diffID" in line for line in lines))
        self.assertNotIn("## Gains", lines)


class ReportFleet(unittest.TestCase):
    def test_seconds_installs_reruns_and_export(self):
        results = {"gzip": {
            "stacked": {"cold": [900.0], "bump": [600.0], "installs": [5], "ext": [5],
                        "export": [172.5], "unpack": [20.0]},
            "aishell": {"cold": [1000.0], "bump": [100.0], "installs": [1], "ext": [0],
                        "export": [3.0], "unpack": [1.25]},
            "on-top": {"cold": [950.0], "bump": [], "installs": [], "ext": [], "export": [],
                       "unpack": []}}}
        with mock.patch.object(report, "chart", return_value=False) as chart:
            lines = report.report_fleet(FLEET, results, args("fleet"), MACHINE, STARTED,
                                        FINISHED, "/r/f.md", "/r/f.png")
        self.assertEqual(lines[0], "# Fleet benchmark (registries), 2026-12-07")
        i = lines.index("## Export: default (gzip)")
        self.assertEqual(lines[i + 6:i + 9], [
            "| (a) stacked base + FROM | 900.0 [1] (0.90×) | 600.0 [1] (6.00×) | 5 | 5 | "
            "172.5, 20.0 |",
            "| (d) aishell-frontend | 1000.0 [1] (1.00×) | 100.0 [1] (1.00×) | 1 | 0 | 3.0, 1.2 |",
            # no bump measured: no counts, no export split
            "| (b) Dockerfile, tools on top | 950.0 [1] (0.95×) | — |  |  | – |"])
        (_, title, groups, series), _ = chart.call_args
        self.assertEqual(groups, ["cold, 5 projects", "bump claude-code, 5 projects"])
        self.assertEqual(series[1], ("(d) aishell-frontend, gzip", [1000.0, 100.0]))
        self.assertEqual(series[2], ("(b) Dockerfile, tools on top, gzip", [950.0, None]))


class Machine(unittest.TestCase):
    def test_a_dry_run_asks_no_engine(self):
        with mock.patch.object(report, "docker") as docker:
            m = report.machine(True)
        docker.assert_not_called()
        self.assertEqual(m["docker"], "(dry run)")
        self.assertEqual(set(m), {"cores", "memory", "kernel", "docker"})


if __name__ == "__main__":
    unittest.main()
