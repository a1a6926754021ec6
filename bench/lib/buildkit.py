"""A loopback registry and ephemeral standalone BuildKit runners, as CI has them.

* Registry: Debian's docker-registry run as a plain process on 127.0.0.1:PORT with its own
  config, storage and request log (parsed by registry_log).
* Runner: a standalone `buildkitd` (OCI worker, overlayfs) started on an EMPTY --root, which
  sees nothing but what it pulls from the registry; stopped and deleted after its job. Driven
  with `buildctl build --frontend dockerfile.v0 …`.

The buildkit binaries are never part of the repository: $AISHELL_BUILDKITD / $AISHELL_BUILDCTL,
or ../shared/tools/buildkit/ next to the repository root (bench/README.md).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from . import registry_log

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"])


def tool(name):
    """The path of buildkitd or buildctl, or None."""
    env = os.environ.get(f"AISHELL_{name.upper()}")
    if env:
        return env if os.access(env, os.X_OK) else None
    path = os.path.join(REPO_ROOT, "..", "shared", "tools", "buildkit", name)
    if os.access(path, os.X_OK):
        return os.path.normpath(path)
    return shutil.which(name)


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Registry:
    """docker-registry on 127.0.0.1:port; storage, config and log under `root` (which must
    not exist yet, so another developer's registry folder is never reused)."""

    def __init__(self, program, port, root):
        if port_in_use(port):
            raise RuntimeError(f"127.0.0.1:{port} is in use: another registry? (--ci-port N)")
        os.makedirs(root)
        self.root, self.port, self.host = root, port, f"127.0.0.1:{port}"
        self.data = os.path.join(root, "data")
        cfg = os.path.join(root, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: info\n  formatter: text\n  accesslog:\n"
                    "    disabled: true\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.data}\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.host}\n")
        self.log_path = os.path.join(root, "registry.log")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([program, "serve", cfg], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                if self.get("/v2/")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the registry on {self.host} did not answer (log: {self.log_path})")

    def get(self, path, headers=None):
        c = http.client.HTTPConnection(self.host, timeout=30)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def mark(self):
        """The log's current end: requests_since(mark) gives what came after."""
        self.logf.flush()
        return os.path.getsize(self.log_path)

    def requests_since(self, mark):
        time.sleep(0.2)  # the last responses' lines
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            text = f.read().decode("utf-8", "replace")
        return registry_log.parse(text.splitlines())

    def blob_size(self, digest):
        algo, _, hexd = digest.partition(":")
        path = os.path.join(self.data, "docker/registry/v2/blobs", algo, hexd[:2], hexd, "data")
        try:
            return os.path.getsize(path)
        except OSError:
            return None

    def manifest(self, repo, ref):
        """(parsed manifest, its size in bytes), or (None, None)."""
        status, body = self.get(f"/v2/{repo}/manifests/{ref}", {"Accept": MANIFEST_TYPES})
        if status != 200:
            return None, None
        return json.loads(body), len(body)

    def traffic(self, mark):
        """What the requests since `mark` pulled and pushed (sizes from the storage)."""
        reqs = self.requests_since(mark)
        return registry_log.traffic(reqs, blob_size=self.blob_size,
                                    manifest_size=lambda repo, ref: self.manifest(repo, ref)[1])

    def layers(self, repo, ref):
        """[(digest, compressed size)] of an image manifest's layers, bottom first."""
        m, _ = self.manifest(repo, ref)
        if m is None:
            raise RuntimeError(f"no manifest {self.host}/{repo}:{ref}")
        if "manifests" in m:  # an index: the image of this platform
            m, _ = self.manifest(repo, next(d["digest"] for d in m["manifests"]
                                            if d.get("platform", {}).get("architecture")
                                            != "unknown"))
        return [(layer["digest"], layer["size"]) for layer in m["layers"]]

    def du(self):
        """Bytes stored."""
        total = 0
        for dirpath, _, files in os.walk(self.data):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(dirpath, name))
                except OSError:
                    pass
        return total

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def remove(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def config(path, registry_host):
    """buildkitd's config: the loopback registry over plain HTTP, the OCI worker on overlayfs
    (../shared/tools/buildkit/README.md), and a trace socket next to the config instead of the
    fixed /run/buildkit/otel-grpc.sock, which another buildkitd on the machine (scripts/engine's,
    the end-to-end tests' runners) would contend for."""
    otel = os.path.join(os.path.dirname(os.path.abspath(path)), "otel.sock")
    with open(path, "w") as f:
        f.write(f'[registry."{registry_host}"]\n  http = true\n  insecure = true\n'
                '[worker.oci]\n  snapshotter = "overlayfs"\n'
                '[worker.containerd]\n  enabled = false\n'
                f'[otel]\n  socketPath = "{otel}"\n')
    return path


def executions(lines):
    """The argument lists (as printed, `[/bin/sh -c …]`) of the containers a buildkitd --debug
    log says it ran: the OCI worker logs `> creating <id> <args>` before each one. A step whose
    result came from the cache, even pulled from a registry, runs no container; so these are
    the RUN steps (and the frontend's exec steps) that really ran."""
    out = []
    for line in lines:
        if "> creating " not in line:
            continue
        msg = registry_log.fields(line).get("msg", "")
        if msg.startswith("> creating "):
            out.append(msg[len("> creating "):].split(" ", 1)[-1])
    return out


def mounts_under(path):
    """Mount points at or below path (deepest first)."""
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


class Runner:
    """One ephemeral runner: buildkitd on an empty root under `parent`, removed by stop().
    Use as a context manager."""

    def __init__(self, buildkitd, buildctl, config_path, parent, name):
        self.buildkitd, self.buildctl, self.config = buildkitd, buildctl, config_path
        self.dir = os.path.join(parent, name)
        self.root = os.path.join(self.dir, "root")
        self.sock = os.path.join(self.dir, "buildkitd.sock")
        self.log_path = os.path.join(self.dir, "buildkitd.log")
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Starts buildkitd and waits for its worker; returns the seconds it took."""
        if os.path.exists(self.dir):
            raise RuntimeError(f"{self.dir} exists: a runner starts on an empty root")
        os.makedirs(self.root)
        t0 = time.monotonic()
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            # --debug: the log names every container it runs (executions())
            [self.buildkitd, "--debug", "--config", self.config, "--root", self.root,
             "--addr", f"unix://{self.sock}"],
            stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            r = subprocess.run([self.buildctl, "--addr", f"unix://{self.sock}", "debug",
                                "workers"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
            if r.returncode == 0 and len(r.stdout.strip().splitlines()) > 1:
                self.start_seconds = time.monotonic() - t0
                return self.start_seconds
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"buildkitd did not start:\n{tail}")

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def executions(self):
        """The argument lists of the containers this buildkitd ran so far (its debug log)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return executions(f)
        except OSError:
            return []

    def build(self, ctx, dockerfile, output=None, imports=(), export=None, target=None,
              build_args=None, contexts=None, compression="gzip"):
        """One buildctl build: dockerfile.v0 (which hands a `# syntax=` file to that image).
        output: an image name to push; imports/export: registry cache refs (export mode=max);
        contexts: {name: folder} named contexts. Returns (seconds, plain progress, exit code)."""
        args = build_command(self.buildctl, f"unix://{self.sock}", ctx, dockerfile, output,
                             imports, export, target, build_args, contexts, compression)
        t0 = time.monotonic()
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return time.monotonic() - t0, r.stdout, r.returncode

    def stop(self):
        """Stops buildkitd and deletes its root (its mounts first, should any be left)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.logf.close()
        if os.path.isdir(self.dir):
            for mp in mounts_under(self.dir):
                subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.dir, ignore_errors=True)


def build_command(buildctl, addr, ctx, dockerfile, output=None, imports=(), export=None,
                  target=None, build_args=None, contexts=None, compression="gzip"):
    """The buildctl command line of one CI build (Runner.build runs it; a dry run prints it)."""
    comp = (f",compression={compression},oci-mediatypes=true,force-compression=true"
            if compression != "gzip" else "")
    args = [buildctl, "--addr", addr, "build", "--progress=plain",
            "--frontend", "dockerfile.v0", "--local", f"context={ctx}",
            "--local", f"dockerfile={os.path.dirname(dockerfile)}",
            "--opt", f"filename={os.path.basename(dockerfile)}"]
    if target:
        args += ["--opt", f"target={target}"]
    for k, v in (build_args or {}).items():
        args += ["--opt", f"build-arg:{k}={v}"]
    for name, folder in (contexts or {}).items():
        args += ["--opt", f"context:{name}=local:{name}", "--local", f"{name}={folder}"]
    if output:
        args += ["--output", f"type=image,name={output},push=true{comp}"]
    for ref in imports:
        args += ["--import-cache", f"type=registry,ref={ref}"]
    if export:
        args += ["--export-cache", f"type=registry,ref={export},mode=max{comp}"]
    return args
