"""Tests of measure.py on a fake engine: python3 -m unittest discover -s bench/lib -t bench

The engine is faked (no Docker): it records the builds, answers scripted layer lists and
progress logs, so what is checked is how measure() and measure_fleet() turn them into results,
and what check_structure() makes of those."""

import argparse
import os
import shutil
import tempfile
import unittest
from unittest import mock

from lib import builds, measure
from lib.builds import Foundation, Project, Tool
from lib.common import STEPS
from lib.scenarios import Scenario


class OneProject(Scenario):
    """The synthetic scenario's shape without its HTTP server: busybox, an extension RUN, three
    binary tools; tool-a is bumped."""

    name = "synthetic"
    bumps = [("bump", "bump tool-a", "tool-a")]

    def projects(self, state):
        tools = [Tool(t, "bin", f"1.{state['bump']}.0" if t == "tool-a" else "1.0.0",
                      f"http://127.0.0.1:1/{t}.tar.gz", "0" * 64)
                 for t in ("tool-c", "tool-a", "tool-b")]
        cmd = f"echo extension-rev={state['rev']}"
        return [Project("main", Foundation("busybox"), [f"RUN {cmd}"], tools, ext_inline=[cmd])]


class TwoProjects(Scenario):
    """A fleet of two sharing an npm harness; claude-code is bumped."""

    name = "fleet"
    bumps = [("bump-npm", "bump claude-code", "@anthropic-ai/claude-code")]

    def projects(self, state):
        tools = [Tool("@anthropic-ai/claude-code", "npm", f"2.1.{322 + state['bump-npm']}"),
                 Tool("@openai/codex", "npm", "0.169.0")]
        return [Project(name, Foundation("debian"), [f"RUN echo extension-rev={state['rev']}"],
                        tools) for name in ("p1", "p2")]


class FakeEngine:
    compression = "gzip"

    def __init__(self, layers=(), outputs=(), push=(1.5, 2, 3_000_000)):
        self.layer_lists, self.outputs, self.push_result = list(layers), list(outputs), push
        self.built, self.pushed, self.cleaned, self.layer_calls = [], [], 0, 0

    def settle(self):
        pass

    def clean(self):
        self.cleaned += 1

    def build(self, ctx, dockerfile, tag):
        self.built.append((os.path.relpath(dockerfile, ctx), tag))
        return 2.0, self.outputs.pop(0) if self.outputs else ""

    def layers(self, tag):
        self.layer_calls += 1
        return self.layer_lists.pop(0)

    def push(self, tag, repo):
        self.pushed.append((tag, repo))
        return self.push_result


def args(**kw):
    a = argparse.Namespace(runs=2, cold_runs=1, ext_runs=1, steps=list(STEPS))
    for k, v in kw.items():
        setattr(a, k, v)
    return a


class Temp(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="aishell-bench-test-")
        self.addCleanup(shutil.rmtree, self.tmp)
        quiet = mock.patch.object(measure, "log")  # each step's log line, on stderr
        quiet.start()
        self.addCleanup(quiet.stop)


class ExtIndex(unittest.TestCase):
    LAYERS = ["foundation", "l1", "l2", "l3", "l4"]

    def test_the_extension_is_below_the_tools_or_on_top_of_them(self):
        def index(name):
            return measure.Approach(name, "/x", None).ext_index(self.LAYERS, 3)
        # foundation, extension, 3 tools
        for name in ("on-top", "copy-link", "aishell"):
            self.assertEqual(index(name), 1, name)
        # foundation, 3 tools, extension
        for name in ("stacked", "aishell-below"):
            self.assertEqual(index(name), 4, name)


class BuildAll(Temp):
    def build(self, name, projects):
        eng = FakeEngine()
        secs, outs = measure.Approach(name, self.tmp, eng).build_all(projects)
        return eng, secs, outs

    def test_stacked_builds_its_base_once_then_each_project(self):
        eng, secs, outs = self.build("stacked", TwoProjects().projects(TwoProjects().start()))
        self.assertEqual(eng.built, [("base.Dockerfile", builds.BASE_TAG),
                                     ("Dockerfile", "aishell-bench/stacked-p1:latest"),
                                     ("Dockerfile", "aishell-bench/stacked-p2:latest")])
        self.assertEqual(secs, 6.0)  # the sum of the three builds
        self.assertEqual(len(outs), 3)

    def test_the_frontend_builds_the_spec_and_dockerfiles_the_dockerfile(self):
        state = OneProject().start()
        eng, _, _ = self.build("aishell", OneProject().projects(state))
        self.assertEqual(eng.built, [(os.path.join(".aishell", "image.yaml"),
                                      "aishell-bench/aishell-main:latest")])
        eng, _, _ = self.build("copy-link", OneProject().projects(state))
        self.assertEqual(eng.built, [("Dockerfile", "aishell-bench/copy-link-main:latest")])
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "copy-link", "main", "Dockerfile")))


class Measure(Temp):
    def test_bumps_compare_the_extension_layer_and_count_new_layers(self):
        base = ["bb", "ext0", "a0", "b", "c"]
        bump1 = ["bb", "ext0", "a1", "b", "c"]  # kept, one new layer
        bump2 = ["bb", "ext9", "a2", "b", "c"]  # the extension changed: two new layers
        eng = FakeEngine(layers=[base, bump1, bump1, bump2, bump2])
        res = measure.measure(measure.Approach("on-top", self.tmp, eng), OneProject(), args())
        self.assertEqual(res["bump:kept"], [True, False])
        self.assertEqual(res["bump:new"], [1, 2])
        self.assertEqual(res["layers"], 5)
        self.assertEqual(eng.layer_calls, 5)
        # 1 cold, 2 bumps, 1 extension change, 2 no-change builds, 2 s each
        self.assertEqual(res["cold"], [2.0])
        self.assertEqual(res["bump"], [2.0, 2.0])
        self.assertEqual(res["extension"], [2.0])
        self.assertEqual(res["nochange"], [2.0, 2.0])
        self.assertEqual(eng.cleaned, 1)
        # the image before the first bump, then each bump's
        self.assertEqual(eng.pushed, [("aishell-bench/on-top-main:latest",
                                       "aishell-bench/on-top-gzip")] * 3)
        self.assertEqual(res["bump:push"], [(1.5, 2, 3_000_000)] * 2)

    def test_stacked_keeps_its_extension_on_top(self):
        before = ["bb", "a0", "b", "c", "ext0"]
        after = ["bb", "a1", "b", "c", "ext1"]
        eng = FakeEngine(layers=[before, after, after])
        res = measure.measure(measure.Approach("stacked", self.tmp, eng), OneProject(),
                              args(runs=1, steps=["bumps"]))
        self.assertEqual(res["bump:kept"], [False])
        self.assertEqual(res["bump:new"], [2])

    def test_steps_not_asked_for_are_not_run_but_one_cold_build_is(self):
        eng = FakeEngine(layers=[["bb", "ext", "a", "b", "c"]])
        res = measure.measure(measure.Approach("aishell", self.tmp, eng), OneProject(),
                              args(cold_runs=3, steps=["nochange"]))
        self.assertEqual(res["cold"], [])  # built, not reported
        self.assertEqual(res["bump"], [])
        self.assertEqual(res["extension"], [])
        self.assertEqual(res["nochange"], [2.0, 2.0])
        self.assertEqual(len(eng.built), 3)  # one cold, two no-change
        self.assertEqual(eng.pushed, [])  # no bumps, no pushes

    def test_no_registry_no_pushes_recorded(self):
        same = ["bb", "ext", "a", "b", "c"]
        eng = FakeEngine(layers=[same] * 3, push=None)
        res = measure.measure(measure.Approach("aishell", self.tmp, eng), OneProject(),
                              args(runs=1, steps=["bumps"]))
        self.assertEqual(res["bump:push"], [])


class MeasureFleet(Temp):
    def test_counts_installs_reruns_and_export_from_each_builds_progress(self):
        def log(ran_install, ran_ext, export):
            lines = ["#4 [harness] npm @anthropic-ai/claude-code@2.1.323",
                     "#4 DONE 9.0s" if ran_install else "#4 CACHED",
                     "#5 [stage-0 2/2] RUN echo extension-rev=0",
                     "#5 DONE 60.0s" if ran_ext else "#5 CACHED",
                     "#6 exporting to image", f"#6 exporting layers {export}s done",
                     "#6 unpacking to docker.io/aishell-bench/x:latest 0.5s done", "#6 DONE 1.0s"]
            return "\n".join(lines)
        cold = [log(False, True, 10.0), log(False, True, 10.0)]
        bump = [log(True, True, 4.0), log(True, False, 2.0)]
        eng = FakeEngine(outputs=cold + bump)
        res = measure.measure_fleet(measure.Approach("on-top", self.tmp, eng), TwoProjects(),
                                    args(runs=1))
        self.assertEqual(res["cold"], [4.0])  # two builds of 2 s
        self.assertEqual(res["bump"], [4.0])
        self.assertEqual(res["installs"], [2])
        self.assertEqual(res["ext"], [1])
        self.assertEqual(res["export"], [6.0])
        self.assertEqual(res["unpack"], [1.0])


class CheckStructure(unittest.TestCase):
    def results(self, kept, new, comp="zstd"):
        return {comp: {"aishell": {"bump:kept": kept, "bump:new": new},
                       "stacked": {"bump:kept": [False], "bump:new": [3]}}}

    def test_every_bump_kept_the_extension_and_added_one_layer(self):
        self.assertEqual(measure.check_structure(OneProject(),
                                                 self.results([True, True], [1, 1])), [])

    def test_a_changed_extension_or_an_extra_layer_is_a_problem(self):
        self.assertEqual(measure.check_structure(OneProject(), self.results([True, False], [1, 1])),
                         ["zstd, bump tool-a: extension diffID kept [True, False]"])
        self.assertEqual(measure.check_structure(OneProject(), self.results([True], [2])),
                         ["zstd, bump tool-a: new layers per bump [2], expected 1 each"])
        self.assertEqual(len(measure.check_structure(OneProject(), self.results([False], [0]))),
                         2)

    def test_no_bump_measured_is_a_problem(self):
        self.assertEqual(measure.check_structure(OneProject(), self.results([], [])),
                         ["zstd, bump tool-a: extension diffID kept []"])

    def test_only_the_frontend_is_checked_and_not_in_the_fleet(self):
        self.assertEqual(measure.check_structure(
            OneProject(), {"gzip": {"stacked": {"bump:kept": [False], "bump:new": [3]}}}), [])
        self.assertEqual(measure.check_structure(TwoProjects(), self.results([False], [5])), [])


if __name__ == "__main__":
    unittest.main()
