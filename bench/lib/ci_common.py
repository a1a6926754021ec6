"""What the CI benchmark's modules share (bench/lib/ci.py, ci_inputs.py, ci_report.py): the
parts of the scenario, sizes and the log."""

import os
import statistics
import subprocess
import sys

from . import buildkit

PARTS = ["single", "fleet"]
MB = 1e6


def log(msg):
    print(f"[bench ci] {msg}", file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mb(x):
    return "—" if x is None else f"{x / MB:.1f}"


def free_gb(path="/"):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 1e9


def sh_lib(script, *args):
    """Runs bash with scripts/lib/common.sh sourced (the Debian mirror, private apt state and
    host packages of the project's own scripts); returns stdout."""
    lib = os.path.join(buildkit.REPO_ROOT, "scripts", "lib", "common.sh")
    r = subprocess.run(["bash", "-c", f'source "$0"; {script}', lib, *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{script.split()[0]} failed: {r.stderr[-2000:]}")
    return r.stdout
