"""Tests of the progress parsers: python3 -m unittest discover -s bench/lib -t bench

The logs below are shaped as `docker buildx build --progress=plain` prints them on Docker 26.1:
a `#N name` line opens vertex N, later `#N …` lines are its output, `#N CACHED` or `#N DONE 1.2s`
close it; vertices of a parallel build interleave."""

import os
import unittest

from lib import progress

# Whole builds recorded by `bench/run --quick --check` on Docker 26.1.5 (scripts/engine up),
# 2026-12-07, cut from its .build.log: the second build of tool-a's first bump for (b) and
# for (d), and (d)'s first extension change. Docker's own lines (warnings, in colour) included.
TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def recorded(name):
    with open(os.path.join(TESTDATA, name)) as f:
        return f.read()

CLAUDE_OLD = "@anthropic-ai/claude-code@2.1.322"
CLAUDE_NEW = "@anthropic-ai/claude-code@2.1.323"
NPM_RUN = ("RUN --mount=type=cache,id=aishell-bench-npm,target=/var/cache/aishell-npm "
           "--mount=type=tmpfs,target=/tmp HOME=/tmp/home npm_config_cache=/var/cache/aishell-npm "
           "npm install --global --prefix /tools/npm --no-audit --no-fund --no-update-notifier "
           "--loglevel=error ")

# (b) on-top after a claude-code bump: the extension is cached, the bumped tool and the tools
# above it run again; the export compresses and the image store unpacks
ON_TOP_BUMP = f"""\
#0 building with "default" instance using docker driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 1.89kB done
#1 DONE 0.0s

#2 [internal] load metadata for docker.io/aishell-test/debian:trixie
#2 DONE 0.0s

#3 [internal] load .dockerignore
#3 transferring context: 2B done
#3 DONE 0.0s

#4 [stage-0 1/11] FROM docker.io/aishell-test/debian:trixie
#4 DONE 0.0s

#5 [stage-0 6/11] RUN echo extension-rev=0 && apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-21-jdk-headless maven
#5 CACHED

#6 [stage-0 7/11] {NPM_RUN}{CLAUDE_NEW}
#6 11.92 added 3 packages in 11s
#6 DONE 12.4s

#7 [stage-0 8/11] {NPM_RUN}@google/gemini-cli@0.61.0
#7 30.02 added 512 packages in 29s
#7 DONE 30.6s

#8 [stage-0 9/11] {NPM_RUN}@openai/codex@0.169.0
#8 DONE 8.1s

#9 [stage-0 10/11] RUN --mount=type=bind,from=dl-biome,target=/dl mkdir -p /tools/bin && tar -xzf /dl/t.tar.gz -O package/biome > /tools/bin/biome && chmod 0755 /tools/bin/biome
#9 DONE 0.9s

#10 [stage-0 11/11] RUN --mount=type=bind,from=dl-opencode,target=/dl mkdir -p /tools/bin && tar -xzf /dl/t.tar.gz -O package/bin/opencode > /tools/bin/opencode && chmod 0755 /tools/bin/opencode
#10 DONE 1.3s

#11 exporting to image
#11 exporting layers
#11 exporting layers 14.2s done
#11 exporting manifest sha256:4c1e0c6f3a0d2b8e9f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e 0.0s done
#11 exporting config sha256:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b 0.0s done
#11 naming to docker.io/aishell-bench/on-top-main:latest done
#11 unpacking to docker.io/aishell-bench/on-top-main:latest
#11 unpacking to docker.io/aishell-bench/on-top-main:latest 3.7s done
#11 DONE 18.0s
"""

# (d) the frontend on the same bump: only the bumped tool's install and its layer run; a
# vertex number can come back (the frontend solves the guard twice), cached the first time
FRONTEND_BUMP = f"""\
#1 resolve image config for docker.io/ghcr.io/org/aishell-frontend:1
#1 DONE 0.1s

#2 [foundation] from docker.io/aishell-test/debian:trixie
#2 CACHED

#3 [extension] layer (diff against the foundation)
#3 CACHED

#4 [harness] npm @google/gemini-cli@0.61.0
#4 CACHED

#5 [harness] npm {CLAUDE_NEW}
#5 0.871 npm warn deprecated some-package@1.0.0
#5 DONE 12.0s

#6 [harness] npm {CLAUDE_NEW} layer
#6 DONE 0.3s

#7 [guards] check the merge
#7 CACHED

#7 [guards] check the merge
#7 DONE 0.0s

#8 [image] merge foundation + extension + 5 harness tool(s)
#8 DONE 0.0s

#9 exporting to image
#9 exporting layers
#9 exporting layers 0.8s done
#9 exporting manifest sha256:1111111111111111111111111111111111111111111111111111111111111111 done
#9 naming to docker.io/aishell-bench/aishell-main:latest done
#9 unpacking to docker.io/aishell-bench/aishell-main:latest 0.2s done
#9 DONE 1.1s
"""


class RanVertices(unittest.TestCase):
    def test_names_the_vertices_that_ran_in_vertex_order(self):
        ran = progress.ran_vertices(ON_TOP_BUMP)
        self.assertEqual(ran[:4], [
            "[internal] load build definition from Dockerfile",
            "[internal] load metadata for docker.io/aishell-test/debian:trixie",
            "[internal] load .dockerignore",
            "[stage-0 1/11] FROM docker.io/aishell-test/debian:trixie"])
        self.assertEqual(ran[4], f"[stage-0 7/11] {NPM_RUN}{CLAUDE_NEW}")
        # numeric order: #10 and #11 after #9, not after #1
        self.assertEqual(ran[-2:], [
            "[stage-0 11/11] RUN --mount=type=bind,from=dl-opencode,target=/dl mkdir -p /tools/bin"
            " && tar -xzf /dl/t.tar.gz -O package/bin/opencode > /tools/bin/opencode && chmod "
            "0755 /tools/bin/opencode",
            "exporting to image"])
        self.assertEqual(len(ran), 10)

    def test_cached_vertices_and_output_lines_are_not_steps_that_ran(self):
        ran = progress.ran_vertices(ON_TOP_BUMP)
        self.assertFalse(any("extension-rev=" in n for n in ran))  # #5 CACHED
        # never closed: the "building with" banner; output lines never rename a vertex
        self.assertFalse(any(n.startswith("building with") for n in ran))
        self.assertFalse(any("added" in n or "exporting layers" in n for n in ran))

    def test_a_vertex_cached_once_does_not_count_as_ran_even_if_done_later(self):
        ran = progress.ran_vertices(FRONTEND_BUMP)
        self.assertNotIn("[guards] check the merge", ran)
        self.assertEqual(ran, ["resolve image config for docker.io/ghcr.io/org/aishell-frontend:1",
                               f"[harness] npm {CLAUDE_NEW}",
                               f"[harness] npm {CLAUDE_NEW} layer",
                               "[image] merge foundation + extension + 5 harness tool(s)",
                               "exporting to image"])

    def test_interleaved_vertices_are_told_apart_by_number(self):
        log = "\n".join(["#5 [tool-a 1/1] RUN tar -xzf /dl/t.tar.gz",
                         "#6 [tool-b 1/1] RUN tar -xzf /dl/t.tar.gz",
                         "#5 0.101 some output",
                         "#6 CACHED",
                         "#5 DONE 0.6s"])
        self.assertEqual(progress.ran_vertices(log), ["[tool-a 1/1] RUN tar -xzf /dl/t.tar.gz"])

    def test_failed_and_unfinished_vertices_did_not_run(self):
        log = "\n".join(["#7 [stage-0 2/3] RUN false",
                         "#7 ERROR: process \"/bin/sh -c false\" did not complete successfully: "
                         "exit code: 1",
                         "#8 [stage-0 3/3] RUN echo never",
                         "------",
                         " > [stage-0 2/3] RUN false:",
                         "#9 exporting to image",
                         "#9 DONE 0.0s"])
        self.assertEqual(progress.ran_vertices(log), ["exporting to image"])

    def test_lines_that_are_not_vertex_lines_are_ignored(self):
        log = "\n".join(["  #3 [indented] not a vertex", "#x [letters] not a vertex",
                         "#3", "#3 DONE 0.1s", "3 [no hash] DONE"])
        # "#3" alone has no name; the first "#3 …" line that follows names it: "DONE 0.1s",
        # which then never closes; nothing ran
        self.assertEqual(progress.ran_vertices(log), [])
        self.assertEqual(progress.ran_vertices(""), [])

    def test_trailing_blanks_and_carriage_returns_do_not_hide_a_state(self):
        log = "#4 [harness] npm a@1 \r\n#4 DONE 2.0s  \r\n#5 [harness] npm b@1\r\n#5 CACHED \r\n"
        self.assertEqual(progress.ran_vertices(log), ["[harness] npm a@1"])


class Installs(unittest.TestCase):
    class Tool:
        def __init__(self, spec):
            self.spec = spec

    def test_counts_the_runs_of_that_version_over_every_build(self):
        t = self.Tool(CLAUDE_NEW)
        self.assertEqual(progress.installs([ON_TOP_BUMP], t), 1)
        # a fleet: each project's build has its own vertex numbers
        self.assertEqual(progress.installs([ON_TOP_BUMP, FRONTEND_BUMP, ON_TOP_BUMP], t), 3)

    def test_the_layer_vertex_and_cached_installs_do_not_count(self):
        t = self.Tool(CLAUDE_NEW)
        # FRONTEND_BUMP also has "[harness] npm … layer" DONE: the diff, not an install
        self.assertEqual(progress.installs([FRONTEND_BUMP], t), 1)
        self.assertEqual(progress.installs([FRONTEND_BUMP], self.Tool("@google/gemini-cli@0.61.0")),
                         0)  # CACHED

    def test_other_versions_and_tools_do_not_count(self):
        self.assertEqual(progress.installs([ON_TOP_BUMP], self.Tool(CLAUDE_OLD)), 0)
        # a prefix of the built version
        self.assertEqual(progress.installs([ON_TOP_BUMP], self.Tool("claude-code@2.1.3")), 0)
        self.assertEqual(progress.installs([ON_TOP_BUMP], self.Tool("@openai/codex@0.169.0")), 1)

    def test_only_npm_steps_count(self):
        log = "#3 [harness] download biome@2.5.13\n#3 DONE 0.2s\n"
        self.assertEqual(progress.installs([log], self.Tool("biome@2.5.13")), 0)
        log = "#3 [harness] npm biome@2.5.13\n#3 DONE 0.2s\n"
        self.assertEqual(progress.installs([log], self.Tool("biome@2.5.13")), 1)

    def test_one_install_per_platform(self):
        log = "\n".join([f"#6 [linux/amd64] [harness] npm {CLAUDE_NEW}", "#6 DONE 9.0s",
                         f"#7 [linux/arm64] [harness] npm {CLAUDE_NEW}", "#7 DONE 9.5s"])
        self.assertEqual(progress.installs([log], self.Tool(CLAUDE_NEW)), 2)

    def test_no_builds_no_installs(self):
        self.assertEqual(progress.installs([], self.Tool(CLAUDE_NEW)), 0)
        self.assertEqual(progress.installs([""], self.Tool(CLAUDE_NEW)), 0)


class ExtRuns(unittest.TestCase):
    EXT_RAN = ("#5 [stage-0 6/11] RUN echo extension-rev=1 && apt-get update -qq\n"
               "#5 0.412 extension-rev=1\n#5 DONE 95.2s\n")

    def test_counts_the_extension_steps_that_ran(self):
        self.assertEqual(progress.ext_runs([self.EXT_RAN]), 1)
        self.assertEqual(progress.ext_runs([self.EXT_RAN, ON_TOP_BUMP, self.EXT_RAN]), 2)

    def test_a_cached_extension_is_not_a_rerun(self):
        self.assertEqual(progress.ext_runs([ON_TOP_BUMP]), 0)  # #5 CACHED
        self.assertEqual(progress.ext_runs([FRONTEND_BUMP]), 0)  # no extension-rev= step

    def test_the_echoed_output_line_is_not_a_step(self):
        # only its output mentions a revision, not the step's name
        log = "#5 [stage-0 6/11] RUN ./build.sh\n#5 0.1 extension-rev=1\n#5 DONE 1.0s\n"
        self.assertEqual(progress.ext_runs([log]), 0)


class ExportSeconds(unittest.TestCase):
    def test_compression_and_unpack_of_one_build(self):
        self.assertEqual(progress.export_seconds([ON_TOP_BUMP]), (14.2, 3.7))

    def test_summed_over_builds(self):
        compress, unpack = progress.export_seconds([ON_TOP_BUMP, FRONTEND_BUMP])
        self.assertAlmostEqual(compress, 15.0)
        self.assertAlmostEqual(unpack, 3.9)

    def test_lines_without_seconds_or_of_other_export_steps_do_not_count(self):
        log = "\n".join([
            "#9 exporting to image",
            "#9 exporting layers",  # the step starting
            "#9 exporting layers done",  # too quick to be timed
            "#9 exporting manifest sha256:aaaa 0.5s done",
            "#9 exporting config sha256:bbbb 0.5s done",
            "#9 exporting attestation manifest sha256:cccc 0.5s done",
            "#9 naming to docker.io/aishell-bench/x:latest 0.5s done",
            "#9 writing image sha256:dddd 0.5s done",
            "#9 unpacking to docker.io/aishell-bench/x:latest",
            "#9 exporting layers 2.0s",  # not done
            "#9 exporting layers 2.0s done (cached)",
            "#9 unpacking to two words 1.0s done",
            "#9 DONE 2.1s"])
        self.assertEqual(progress.export_seconds([log]), (0.0, 0.0))

    def test_no_export(self):
        self.assertEqual(progress.export_seconds([]), (0.0, 0.0))
        no_export = "#1 [internal] load .dockerignore\n#1 DONE 0.0s"
        self.assertEqual(progress.export_seconds([no_export]), (0.0, 0.0))

    def test_an_oci_zstd_export_counts_the_same(self):
        log = "\n".join(["#12 exporting to image",
                         "#12 exporting layers 31.5s done",
                         "#12 exporting manifest sha256:eeee 0.0s done",
                         "#12 naming to docker.io/aishell-bench/stacked-main:latest done",
                         "#12 unpacking to docker.io/aishell-bench/stacked-main:latest 12.25s done",
                         "#12 DONE 44.1s"])
        self.assertEqual(progress.export_seconds([log]), (31.5, 12.25))


class Recorded(unittest.TestCase):
    def test_dockerfile_bump_reruns_every_tool_above_the_bumped_one(self):
        log = recorded("on-top-bump.log")
        ran = progress.ran_vertices(log)
        runs = [n for n in ran if n.startswith("[stage-3")]
        self.assertEqual(runs, [
            "[stage-3 1/5] FROM docker.io/aishell-test/busybox:1@sha256:baca11a0c17b365fdfa2d077"
            "c57f18b58073945d4afcd133af80ecec60584148",
            "[stage-3 3/5] RUN --mount=type=bind,from=dl-tool-a,target=/dl mkdir -p /tools/bin "
            "&& tar -xzf /dl/t.tar.gz -C /tools/bin tool-a",
            "[stage-3 4/5] RUN --mount=type=bind,from=dl-tool-b,target=/dl mkdir -p /tools/bin "
            "&& tar -xzf /dl/t.tar.gz -C /tools/bin tool-b",
            "[stage-3 5/5] RUN --mount=type=bind,from=dl-tool-c,target=/dl mkdir -p /tools/bin "
            "&& tar -xzf /dl/t.tar.gz -C /tools/bin tool-c"])
        # the download of tool-a shows twice (#7, #8), both ran; b's and c's once each, then
        # cached under another number
        self.assertEqual(sum(n.startswith("[dl-tool-a") for n in ran), 2)
        self.assertEqual(sum(n.startswith("[dl-tool-b") for n in ran), 1)
        self.assertEqual(progress.ext_runs([log]), 0)
        self.assertEqual(progress.export_seconds([log]), (0.3, 0.2))

    def test_frontend_bump_runs_only_the_bumped_tool(self):
        log = recorded("aishell-bump.log")
        ran = progress.ran_vertices(log)
        harness = [n for n in ran if n.startswith("[harness]")]
        self.assertEqual(harness, ["[harness] download tool-c", "[harness] download tool-b",
                                   "[harness] download tool-a",
                                   "[harness] tool-a -> /tools/bin/tool-a"])
        # CANCELED is not DONE; the foundation shows DONE then CACHED under one number
        self.assertNotIn("[guards] list harness layer tool-b", ran)
        self.assertNotIn("[foundation] from docker.io/aishell-test/busybox:1", ran)
        self.assertIn("[guards] list harness layer tool-a", ran)
        self.assertEqual(ran[-1], "exporting to image")
        self.assertEqual(progress.ext_runs([log]), 0)
        self.assertEqual(progress.export_seconds([log]), (0.1, 0.1))

    def test_frontend_extension_change_reruns_the_extension_only(self):
        log = recorded("aishell-extension-change.log")
        ran = progress.ran_vertices(log)
        # the frontend shortens long step names; the revision is still in the name
        self.assertIn("[extension] run echo extension-rev=1 && mkdir -p /opt/ext && i=0; while "
                      "[ $i -lt 100 ]; do he...", ran)
        self.assertFalse(any(n.startswith("[harness]") and "->" in n for n in ran))
        self.assertEqual(progress.ext_runs([log]), 1)
        self.assertEqual(progress.ext_runs([log, recorded("aishell-bump.log")]), 1)
        self.assertEqual(progress.export_seconds([log]), (6.4, 0.5))
        compress, unpack = progress.export_seconds(
            [log, recorded("aishell-bump.log"), recorded("on-top-bump.log")])
        self.assertAlmostEqual(compress, 6.8)
        self.assertAlmostEqual(unpack, 0.8)


if __name__ == "__main__":
    unittest.main()
