"""Parsers of BuildKit's `--progress=plain` output (what `docker buildx build` prints): which
steps ran and which came from the cache, and the seconds the export reported. Pure functions
of the text, so they are tested on recorded lines (test_progress.py).

A plain progress log numbers each vertex (`#12`); its first line names it, later lines with the
same number carry its output, and it ends with `#12 CACHED` or `#12 DONE 3.2s` (or ERROR)."""

import re

VERTEX = re.compile(r"^#(\d+) (.*)$")


BLOB_LINE = re.compile(r"^(extracting )?sha256:[0-9a-f]{64}")


def vertex_states(text):
    """What a `--progress=plain` log says of each vertex, by number: its name, and the sets
    of those that were DONE, CACHED, and that pulled or extracted a blob under their name."""
    names, done, cached, loaded = {}, set(), set(), set()
    for line in text.splitlines():
        m = VERTEX.match(line.rstrip())
        if not m:
            continue
        n, rest = m.groups()
        if n not in names:
            names[n] = rest
        elif rest == "CACHED":
            cached.add(n)
        elif rest.startswith("DONE"):
            done.add(n)
        elif BLOB_LINE.match(rest):
            loaded.add(n)
    return names, done, cached, loaded


def ran_vertices(text):
    """Names of the vertices of a `--progress=plain` log that ran (DONE, not CACHED)."""
    names, done, cached, _ = vertex_states(text)
    return [names[n] for n in sorted(done - cached, key=int)]


EXPORT_STEP = re.compile(r"^#\d+ (exporting layers|unpacking to \S+)(?: ([\d.]+)s)? done$")


def export_seconds(outputs):
    """Seconds BuildKit reported for compressing the layers ("exporting layers") and for the
    image store's unpack ("unpacking to …"), summed over these builds' plain progress."""
    compress = unpack = 0.0
    for o in outputs:
        for line in o.splitlines():
            m = EXPORT_STEP.match(line.rstrip())
            if m and m.group(2):
                if m.group(1) == "exporting layers":
                    compress += float(m.group(2))
                else:
                    unpack += float(m.group(2))
    return compress, unpack


def installs(outputs, t):
    """How many times the npm tool t@version was installed (its RUN ran) in these builds."""
    return sum(1 for o in outputs for n in ran_vertices(o)
               if "npm" in n and n.rstrip().endswith(t.spec))


def ext_runs(outputs):
    """How many extension steps (the RUN with the revision echo) ran in these builds."""
    return sum(1 for o in outputs for n in ran_vertices(o) if "extension-rev=" in n)

