"""Tests of the writers (builds.py): python3 -m unittest discover -s bench/lib -t bench

The dry runs of bench/run write every build's files; these tests pin the few rules the four
approaches rely on, and that the CI scenario can point the writers at its own images."""

import os
import shutil
import tempfile
import unittest

from lib import builds
from lib.builds import Foundation, Project, Tool

CLAUDE = Tool("@anthropic-ai/claude-code", "npm", "2.1.323")
CODEX = Tool("@openai/codex", "npm", "0.169.0")
BIOME = Tool("biome", "bin", "2.5.13",
             "${NPM_REGISTRY}/@biomejs/cli-linux-x64/-/cli-linux-x64-2.5.13.tgz",
             "d9c61026cdd8b35c750db68a6e60e85a64c0e2ab4c703b313954552fd14eab09", "package/biome")
TOOL_A = Tool("tool-a", "bin", "1.1.0", "http://127.0.0.1:8000/tool-a-1.1.0.tar.gz", "ab" * 32)


def read(*path):
    with open(os.path.join(*path)) as f:
        return f.read().splitlines()


class Tools(unittest.TestCase):
    def test_slug_is_a_stage_name(self):
        self.assertEqual(CLAUDE.slug, "anthropic-ai-claude-code")
        self.assertEqual(TOOL_A.slug, "tool-a")
        self.assertEqual(CLAUDE.spec, "@anthropic-ai/claude-code@2.1.323")

    def test_the_frontends_order_npm_then_binaries_each_by_name(self):
        p = Project("p", Foundation("busybox"), [], [BIOME, CODEX, TOOL_A, CLAUDE])
        self.assertEqual([t.name for t in p.tools],
                         ["@anthropic-ai/claude-code", "@openai/codex", "biome", "tool-a"])

    def test_install_steps(self):
        self.assertTrue(builds.install(CLAUDE).endswith(
            "npm install --global --prefix /tools/npm --no-audit --no-fund --no-update-notifier "
            "--loglevel=error @anthropic-ai/claude-code@2.1.323"))
        # a member named as the tool is extracted as it is; another is renamed to the tool
        self.assertEqual(builds.install(TOOL_A),
                         "RUN --mount=type=bind,from=dl-tool-a,target=/dl mkdir -p /tools/bin && "
                         "tar -xzf /dl/t.tar.gz -C /tools/bin tool-a")
        self.assertEqual(builds.install(BIOME),
                         "RUN --mount=type=bind,from=dl-biome,target=/dl mkdir -p /tools/bin && "
                         "tar -xzf /dl/t.tar.gz -O package/biome > /tools/bin/biome && "
                         "chmod 0755 /tools/bin/biome")

    def test_download_stages_declare_the_args_their_url_uses(self):
        self.assertEqual(builds.dl_stages([CLAUDE, BIOME]), [
            "FROM scratch AS dl-biome", "ARG NPM_REGISTRY",
            f"ADD --checksum=sha256:{BIOME.sha} {BIOME.url} /t.tar.gz", ""])
        self.assertEqual(builds.arg_names("${A}/x/${B_2}/${A}"), ["A", "B_2"])


class Writers(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="aishell-bench-test-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.p = Project("main", Foundation("aishell-test/busybox:1"), ["RUN echo extension-rev=0"],
                         [TOOL_A], ext_inline=["echo extension-rev=0"])

    def test_stacked_puts_the_tools_in_the_base_and_the_extension_on_it(self):
        builds.WRITERS["stacked"](self.dir, self.p)
        base = read(self.dir, "base.Dockerfile")
        self.assertIn(builds.install(TOOL_A), base)
        self.assertNotIn("RUN echo extension-rev=0", base)
        self.assertEqual(read(self.dir, "Dockerfile"),
                         [f"FROM {builds.BASE_TAG}", "RUN echo extension-rev=0"])

    def test_on_top_and_copy_link_put_the_tools_after_the_extension(self):
        for name in ("on-top", "copy-link"):
            builds.WRITERS[name](self.dir, self.p)
            df = read(self.dir, "Dockerfile")
            ext = df.index("RUN echo extension-rev=0")
            last = max(i for i, line in enumerate(df) if "tool-a" in line)
            self.assertLess(ext, last, name)
        self.assertIn("COPY --link --from=tool-a /tools /tools", df)

    def test_the_spec_and_the_harness_below_variant(self):
        builds.WRITERS["aishell"](self.dir, self.p)
        spec = read(self.dir, ".aishell", "image.yaml")
        self.assertEqual(spec[0], f"# syntax={builds.FRONTEND}")
        self.assertIn('    - "echo extension-rev=0"', spec)
        self.assertFalse(any(line.startswith("image:") for line in spec))
        builds.WRITERS["aishell-below"](self.dir, self.p)
        spec = read(self.dir, ".aishell", "image.yaml")
        self.assertEqual(spec[-2:], ["image:", '  order: ["foundation", "harness", "extension"]'])

    def test_set_image_names_repoints_the_writers(self):
        saved = builds.FRONTEND, builds.BASE_TAG
        self.addCleanup(builds.set_image_names, *saved)
        builds.set_image_names("127.0.0.1:5020/aishell-frontend:ci",
                               "127.0.0.1:5020/aishell-bench/ci-stacked-base:latest")
        builds.WRITERS["aishell"](self.dir, self.p)
        builds.WRITERS["stacked"](self.dir, self.p)
        self.assertEqual(read(self.dir, ".aishell", "image.yaml")[0],
                         "# syntax=127.0.0.1:5020/aishell-frontend:ci")
        self.assertEqual(read(self.dir, "Dockerfile")[0],
                         "FROM 127.0.0.1:5020/aishell-bench/ci-stacked-base:latest")


if __name__ == "__main__":
    unittest.main()
