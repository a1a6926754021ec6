"""Tests of ci's progress parsing and of the promises it checks: python3 -m unittest discover -s
bench"""

import unittest

from lib import buildkit, ci, ci_report


class Tool:
    def __init__(self, name, kind, version):
        self.name, self.kind, self.version = name, kind, version
        self.slug = name.lower()
        self.spec = f"{name}@{version}"


PROGRESS = """\
#8 [tool-b 1/1] RUN --mount=type=bind,from=dl-tool-b,target=/dl tar -xzf /dl/t.tar.gz
#8 CACHED

#9 [tool-a 1/1] RUN --mount=type=bind,from=dl-tool-a,target=/dl tar -xzf /dl/t.tar.gz
#9 sha256:1e781b603fc440b2833dea4f4be03844e8ec50bace86b6c2669b9219534f2ece 524.70kB / 524.70kB 0.0s done
#9 extracting sha256:1e781b603fc440b2833dea4f4be03844e8ec50bace86b6c2669b9219534f2ece 0.0s done
#9 DONE 0.6s

#10 [guards] check the merge
#10 CACHED

#10 [guards] check the merge
#10 DONE 0.0s

#11 [harness] biome -> /tools/bin/biome
#11 DONE 0.0s

#12 [harness] opencode -> /tools/bin/opencode
#12 CACHED

#13 [stage-7 1/4] RUN echo extension-rev=0 && apt-get update
#13 0.512 Get:1 http://deb.debian.org trixie InRelease
#13 DONE 80.1s
"""

# the containers buildkitd --debug said it created (buildkit.executions())
EXECS = [
    "[/bin/sh -c npm install --global --prefix /tools/npm --no-audit @anthropic-ai/claude-code@2.1.323]",
    "[/bin/sh -c mkdir -p /tools/bin && tar -xzf /dl/t.tar.gz -C /tools/bin tool-a]",
    "[/bin/sh -c tar -xzf /dl/t.tar.gz -O package/biome > /tools/bin/biome && chmod 0755 /tools/bin/biome]",
    "[/bin/aishell-frontend]",
    '[/bin/aishell-frontend guard-step facts {\\"dirs\\":[\\"/\\"]}]',
    "[/bin/sh -c echo extension-rev=0 && apt-get update]",
]


class Executed(unittest.TestCase):
    def test_loads_and_cached_results_are_not_runs(self):
        self.assertEqual(ci.executed(PROGRESS), [
            "[harness] biome -> /tools/bin/biome",
            "[stage-7 1/4] RUN echo extension-rev=0 && apt-get update"])

    def test_installs_and_extension_runs(self):
        claude = Tool("@anthropic-ai/claude-code", "npm", "2.1.323")
        tool_a, biome = Tool("tool-a", "bin", "1.1.0"), Tool("biome", "bin", "2.5.13")
        self.assertEqual(ci.tool_installs([], EXECS, [claude]), 1)
        self.assertEqual(ci.tool_installs([], EXECS, [tool_a]), 1)
        # biome: the Dockerfile's extraction and the frontend's file operation
        self.assertEqual(ci.tool_installs([PROGRESS], EXECS, [biome]), 2)
        self.assertEqual(ci.tool_installs([PROGRESS], [], [Tool("opencode", "bin", "1")]), 0)
        self.assertEqual(ci.ext_runs(EXECS), 1)

    def test_an_older_version_is_not_an_install_of_the_new_one(self):
        old = Tool("@anthropic-ai/claude-code", "npm", "2.1.32")
        self.assertEqual(ci.tool_installs([], EXECS[:1], [old]), 0)


class Executions(unittest.TestCase):
    def test_debug_log_lines(self):
        lines = [
            'time="2026-12-03T12:54:58Z" level=debug msg="> creating opdh1rcpc63ekiqrtfpwgpmeo '
            '[/bin/sh -c echo \\"a b\\" && true]" span="[stage-7 1/4] RUN echo" '
            'spanID=e01850e2dada5afd traceID=63dcb82ff6892c2579964815157ae045',
            'time="2026-12-03T12:54:58Z" level=debug msg="session started" spanID=1',
            'time="2026-12-03T12:54:59Z" level=debug msg="> creating kjr8os0xn4jf75wwppmf40mif '
            '[/bin/aishell-frontend]"']
        self.assertEqual(buildkit.executions(lines),
                         ['[/bin/sh -c echo "a b" && true]', "[/bin/aishell-frontend]"])


class Promises(unittest.TestCase):
    """ci_report.check: what a CI run of the frontend must show, whatever its timings."""

    def results(self, pulled=10e6, kept=True, installs=(1, 0, 0)):
        single = [{"step": "cold", "label": "cold", "pulled": 900e6, "ext_size": 500e6, "kept": None},
                  {"step": "b1", "label": "bump claude-code", "pulled": pulled, "ext_size": 500e6,
                   "kept": kept}]
        fleet = [{"round": "cold", "jobs": [{"installs": 1}] * 3},
                 {"round": "bump", "jobs": [{"installs": n} for n in installs]}]
        return {"single": {"aishell": single}, "fleet": {"aishell": fleet}}

    def test_a_run_that_keeps_the_promises_passes(self):
        self.assertEqual(ci_report.check(self.results()), [])

    def test_each_broken_promise_is_named(self):
        problems = ci_report.check(self.results(pulled=600e6, kept=False, installs=(1, 1, 0)))
        self.assertEqual(len(problems), 3, problems)
        self.assertIn("bump claude-code: pulled 600.0 MB, not less than the extension layer's 500.0 MB", problems[0])
        self.assertIn("digest changed", problems[1])
        self.assertIn("installed 2 times", problems[2])


if __name__ == "__main__":
    unittest.main()
