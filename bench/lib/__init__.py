"""Modules of the benchmarks that bench/run imports (bench/README.md, "Layout").

common        what they share: repository paths, base images, approaches, steps, tags, log()
builds        Tool, Foundation, Project and the writers of the Dockerfiles and the spec
scenarios     synthetic, aishell, fleet: the projects each state of a scenario builds
engine        the Docker engine: docker(), Engine (builds, layers, push, clean-up)
registry      the registry bumped images are pushed to; the npm registry's URL
progress      BuildKit's plain progress -> steps that ran, export seconds (pure functions)
measure       Approach and the steps timed on it; check_structure (--check)
report        the results' file names, tables, gains and chart
registry_log  the registry's request log -> bytes pulled and pushed (pure functions)
load          what else ran on the machine during a timed step
buildkit      a loopback registry and ephemeral standalone buildkitd runners
ci            `bench/run --scenario ci`: the builds as CI runs them
"""
