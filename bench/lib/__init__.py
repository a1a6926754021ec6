"""Modules of the benchmarks that bench/run imports (bench/README.md).

registry_log  the registry's request log -> bytes pulled and pushed (pure functions)
load          what else ran on the machine during a timed step
buildkit      a loopback registry and ephemeral standalone buildkitd runners
ci            `bench/run --scenario ci`: the builds as CI runs them
"""
