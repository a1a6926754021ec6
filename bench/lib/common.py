"""What bench/run's modules share: where the repository is, the images the builds start from,
the approaches and steps there are, the names the benchmark tags, and its log line.

Constants only (and log): every other module of bench/run imports this one, so it imports none
of them."""

import os
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
ROOT = os.path.dirname(BENCH)  # the repository: examples/ is read from there
BUSYBOX = os.environ.get("AISHELL_TEST_BUSYBOX_IMAGE", "aishell-test/busybox:1")
DEBIAN = os.environ.get("AISHELL_TEST_DEBIAN_IMAGE", "aishell-test/debian:trixie")
APPROACHES = ["stacked", "on-top", "copy-link", "aishell"]
# run only when named in --only: the frontend with `image.order: [foundation, harness,
# extension]`, for the fleet's question of which layers the image store unpacks again
VARIANTS = ["aishell-below"]
# what measure() can run for the synthetic and aishell scenarios (--steps)
STEPS = ["cold", "bumps", "extension", "nochange"]
LABEL = {"stacked": "(a) stacked base + FROM", "on-top": "(b) Dockerfile, tools on top",
         "copy-link": "(c) Dockerfile, COPY --link", "aishell": "(d) aishell-frontend",
         "aishell-below": "(d′) aishell-frontend, harness below the extension"}
REPO = "aishell-bench"  # every image the benchmark tags starts with this
FOUNDATION_TAG = f"{REPO}/foundation:latest"
LIMIT_TAG = f"{REPO}/limit:latest"
PREFIX = "/tools"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)
