"""Tests of ci's progress parsing: python3 -m unittest discover -s bench"""

import unittest

from lib import ci


class Tool:
    def __init__(self, name, kind, version):
        self.name, self.kind, self.version = name, kind, version
        self.slug = name.lower()
        self.spec = f"{name}@{version}"


PROGRESS = """\
#7 [harness] npm @anthropic-ai/claude-code@2.1.323
#7 DONE 41.2s

#8 [tool-b 1/1] RUN --mount=type=bind,from=dl-tool-b,target=/dl mkdir -p /tools/bin && tar -xzf /dl/t.tar.gz -C /tools/bin tool-b
#8 CACHED

#9 [tool-a 1/1] RUN --mount=type=bind,from=dl-tool-a,target=/dl mkdir -p /tools/bin && tar -xzf /dl/t.tar.gz -C /tools/bin tool-a
#9 CACHED

#9 [tool-a 1/1] RUN --mount=type=bind,from=dl-tool-a,target=/dl mkdir -p /tools/bin && tar -xzf /dl/t.tar.gz -C /tools/bin tool-a
#9 DONE 0.6s

#10 [guards] check the merge
#10 CACHED

#10 [guards] check the merge
#10 DONE 0.0s

#11 [harness] biome -> /tools/bin/biome
#11 DONE 0.0s

#12 [stage-7 1/4] RUN echo extension-rev=0 && apt-get update
#12 0.512 Get:1 http://deb.debian.org trixie InRelease
#12 DONE 80.1s
"""


class Executed(unittest.TestCase):
    def test_done_and_reruns_after_cached(self):
        self.assertEqual(ci.executed(PROGRESS), [
            "[harness] npm @anthropic-ai/claude-code@2.1.323",
            "[tool-a 1/1] RUN --mount=type=bind,from=dl-tool-a,target=/dl mkdir -p /tools/bin "
            "&& tar -xzf /dl/t.tar.gz -C /tools/bin tool-a",
            "[harness] biome -> /tools/bin/biome",
            "[stage-7 1/4] RUN echo extension-rev=0 && apt-get update"])

    def test_installs_and_extension_runs(self):
        tools = [Tool("@anthropic-ai/claude-code", "npm", "2.1.323"),
                 Tool("tool-a", "bin", "1.1.0"), Tool("tool-b", "bin", "1.0.0"),
                 Tool("biome", "bin", "2.5.13")]
        self.assertEqual(ci.tool_installs([PROGRESS], tools), 3)
        self.assertEqual(ci.tool_installs([PROGRESS], tools[1:2]), 1)
        self.assertEqual(ci.tool_installs([PROGRESS, PROGRESS], tools[:1]), 2)
        self.assertEqual(ci.ext_runs([PROGRESS]), 1)

    def test_an_older_version_is_not_an_install_of_the_new_one(self):
        self.assertEqual(ci.tool_installs([PROGRESS], [Tool("@anthropic-ai/claude-code", "npm",
                                                            "2.1.324")]), 0)


if __name__ == "__main__":
    unittest.main()
