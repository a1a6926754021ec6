"""The registries the aishell and fleet scenarios talk to: a private docker-registry that the
bumped images are pushed to (to count the bytes a bump adds), and the npm registry the builds
install from. (The CI scenario's registry, with its request log, is buildkit.Registry.)"""

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A private registry (Debian's docker-registry, as tests/e2e's Registry::start) on
    127.0.0.1 with its own storage; Docker pushes to 127.0.0.0/8 over plain HTTP."""

    def __init__(self, program):
        self.dir = tempfile.mkdtemp(prefix="aishell-bench-registry-")
        self.host = f"127.0.0.1:{free_port()}"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n"
                    f"  filesystem:\n    rootdirectory: {self.dir}/data\n  delete:\n"
                    f"    enabled: true\nhttp:\n  addr: {self.host}\n")
        self.logf = open(os.path.join(self.dir, "registry.log"), "w")
        self.proc = subprocess.Popen([program, "serve", cfg], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                c = http.client.HTTPConnection(self.host, timeout=1)
                c.request("GET", "/v2/")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the registry on {self.host} did not answer")

    def blobs(self, repo):
        """digest -> size of every blob linked in `repo` (what was uploaded or mounted there)."""
        links = os.path.join(self.dir, "data/docker/registry/v2/repositories", repo,
                             "_layers/sha256")
        out = {}
        for h in os.listdir(links) if os.path.isdir(links) else []:
            data = os.path.join(self.dir, "data/docker/registry/v2/blobs/sha256", h[:2], h, "data")
            out[h] = os.path.getsize(data) if os.path.exists(data) else 0
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def registry_program():
    for name in ("docker-registry", "registry"):
        path = os.environ.get("AISHELL_E2E_REGISTRY") or shutil.which(name)
        if path:
            return path
    return None


def npm_registry(args):
    if args.npm_registry:
        return args.npm_registry.rstrip("/")
    try:
        r = subprocess.run(["npm", "config", "get", "registry"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, timeout=60)
        if r.stdout.strip().startswith("http"):
            return r.stdout.strip().rstrip("/")
    except (OSError, subprocess.TimeoutExpired):
        pass
    sys.exit("[bench] no npm registry: give --npm-registry URL (or configure npm)")

