"""The Docker engine of DOCKER_HOST: docker(), and Engine, which runs (or, in a dry run, only
writes and prints) the builds of one session, reads an image's layers, pushes it and cleans up
between cold runs."""

import json
import os
import shutil
import subprocess
import time

from .common import REPO, log

# Docker 26's containerd image store has lost a snapshot it had just made while unpacking a
# built image (scripts/test's smoke run, 2026-12-07: a plain Dockerfile of the COPY --link
# approach, "parent snapshot … does not exist"): an engine failure, not the build's.
ENGINE_SNAPSHOT_LOST = "failed to prepare extraction snapshot"


def docker(*args, check=True):
    r = subprocess.run(["docker", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


def image_exists(ref):
    return docker("image", "inspect", ref, check=False).strip().startswith("[")


class Engine:
    """Runs the builds of one session (one compression), or only plans them (dry run)."""

    def __init__(self, logf, compression, build_args, extra, dry_dir=None, registry=None):
        self.logf, self.compression = logf, compression
        self.build_args, self.extra = build_args, extra
        self.dry_dir, self.registry = dry_dir, registry
        self.n = 0

    def build(self, ctx, dockerfile, tag):
        """Builds; returns (seconds, plain progress output). A build that fails because the
        engine lost a snapshot ([ENGINE_SNAPSHOT_LOST]) is run again once, and timed again."""
        out = (["-t", tag] if self.compression == "gzip" else
               # OCI media types: with Docker's own, a zstd layer is not recognised when the
               # image is pulled again (tests/e2e/tests/buildx.rs, the zstd export test)
               ["--output", f"type=image,name={tag},oci-mediatypes=true,"
                            f"compression={self.compression}"])
        args = ["buildx", "build", "--progress=plain", *self.extra, "-f", dockerfile]
        args += [x for k, v in self.build_args.items() for x in ("--build-arg", f"{k}={v}")]
        args += out + [ctx]
        self.n += 1
        if self.dry_dir:
            name = f"{self.compression}-{self.n:03d}-{tag.split('/')[-1].split(':')[0]}"
            dest = os.path.join(self.dry_dir, name)
            shutil.copytree(ctx, dest)
            print(f"{self.n:3d}  docker {' '.join(args)}    (files: {dest})")
            return 0.0, ""
        for attempt in (1, 2):
            self.logf.write(f"\n===== build {tag} -f {os.path.basename(dockerfile)}\n")
            self.logf.flush()
            t0 = time.monotonic()
            r = subprocess.run(["docker", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            dt = time.monotonic() - t0
            self.logf.write(r.stdout)
            self.logf.flush()
            if r.returncode == 0:
                return dt, r.stdout
            if attempt == 1 and ENGINE_SNAPSHOT_LOST in r.stdout:
                log(f"{tag}: the engine lost a snapshot while unpacking the image "
                    f"({ENGINE_SNAPSHOT_LOST}); building it again once")
                continue
            raise RuntimeError(f"build of {tag} failed ({r.returncode}); see {self.logf.name}")

    def settle(self):
        """Writes the page cache's dirty data to disk before a timed step. BuildKit tears a
        gateway frontend's container down at the end of its solve, and that teardown waits for
        the disk's dirty data to be written: measured here, 1.5 GB left dirty (by a `dd`, or by
        the previous build unpacking its image) added 3 to 4 s to a cached no-change build
        through the frontend and nothing to a Dockerfile build (the built-in frontend starts no
        container). Without this, a step would pay for the writes of the step before it, and
        the approaches would pay for them unequally."""
        if not self.dry_dir:
            os.sync()

    def layers(self, tag):
        if self.dry_dir:
            return [f"sha256:{i}" for i in range(10)]
        return json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", tag))

    def push(self, tag, repo):
        """Pushes tag to the registry as repo; returns (seconds, new blobs, new bytes)."""
        if not self.registry:
            return None
        if self.dry_dir:
            print(f"     docker push <registry>/{repo}")
            return (0.0, 0, 0)
        before = self.registry.blobs(repo)
        self.n += 1
        ref = f"{self.registry.host}/{repo}:{self.n}"
        docker("tag", tag, ref)
        t0 = time.monotonic()
        docker("push", "-q", ref)
        dt = time.monotonic() - t0
        new = {h: s for h, s in self.registry.blobs(repo).items() if h not in before}
        return (dt, len(new), sum(new.values()))

    def clean(self):
        if self.dry_dir:
            print("     docker builder prune -af; docker rmi of the bench images")
            return
        docker("builder", "prune", "-af", check=False)
        names = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).split()
        # ours: aishell-bench/… and <registry>/aishell-bench/… (the pushed tags)
        refs = [r for r in names if r.startswith(REPO + "/") or f"/{REPO}/" in r]
        if refs:
            docker("rmi", "-f", *refs, check=False)
        docker("builder", "prune", "-af", check=False)
        restore_frontend()


# The frontend image as saved at the start (`docker save`). On Docker 26.1 with the containerd
# store the image (tag or layer blob) was seen to vanish during a run that pruned the builder
# cache and removed the bench's images; without a registry it cannot be pulled back, so every
# clean-up loads the saved copy again (about a second), before anything is timed.
FRONTEND_TAR = None


def save_frontend(tmp, image):
    global FRONTEND_TAR
    path = os.path.join(tmp, "frontend.tar")
    docker("save", "-o", path, image)
    FRONTEND_TAR = path


def restore_frontend():
    if FRONTEND_TAR:
        docker("load", "-q", "-i", FRONTEND_TAR)

