"""The CI benchmark's inputs, made on the host: the base image's root file system (busybox for
the quick run, mmdebstrap's trixie otherwise) and the frontend binary built from the working
tree."""

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tarfile

from . import buildkit
from .ci_common import log, sh_lib

CACHE_HOME = os.environ.get("AISHELL_BENCH_CACHE",
                            os.path.join(os.path.expanduser("~"), ".cache", "aishell-bench"))


def reproducible_tar(root, dest):
    """A tar of `root`'s contents with sorted names, owner 0 and time 0."""
    def norm(info):
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info
    with tarfile.open(dest, "w") as tar:
        for dirpath, dirnames, files in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames + files):
                full = os.path.join(dirpath, name)
                tar.add(full, os.path.relpath(full, root), recursive=False, filter=norm)


def busybox_rootfs(tmp):
    """Debian's busybox-static (the host's suite, private apt state as scripts/base-images
    fetches it) with one symlink per applet: a 2 MB base for the quick run."""
    pkg = os.path.join(tmp, "busybox-pkg")
    logf = os.path.join(tmp, "busybox-apt.log")
    sh_lib('apt_private_fetch "$(host_codename)" "$1" "$2" busybox-static', pkg, logf)
    bb = os.path.join(pkg, "bin", "busybox")
    root = os.path.join(tmp, "busybox-root")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "dev", "proc", "sys"):
        os.makedirs(os.path.join(root, d))
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    shutil.copy2(bb, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([bb, "--list-full"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.split()
    for a in applets:
        path = os.path.join(root, a)
        if a in ("bin/busybox", "linuxrc") or os.path.lexists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink("/bin/busybox", path)
    with open(os.path.join(root, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(root, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")
    dest = os.path.join(tmp, "base", "rootfs.tar")
    os.makedirs(os.path.dirname(dest))
    reproducible_tar(root, dest)
    shutil.rmtree(root)
    shutil.rmtree(pkg)
    return dest, ['CMD ["/bin/sh"]']


def debian_rootfs(tmp):
    """mmdebstrap trixie minbase + ca-certificates, nodejs, npm and the host's CA bundle, as
    scripts/base-images --debian makes aishell-test/debian:trixie; kept in CACHE_HOME (about
    a minute to make, 300 MB)."""
    cached = os.path.join(CACHE_HOME, "debian-trixie-rootfs.tar")
    if not os.path.exists(cached):
        os.makedirs(CACHE_HOME, exist_ok=True)
        sh_lib("host_apt_install mmdebstrap")
        mirror = sh_lib("debian_mirror").strip()
        part = cached[:-len(".tar")] + ".part.tar"  # mmdebstrap picks the format by the name
        log(f"mmdebstrap trixie minbase + ca-certificates nodejs npm -> {cached}")
        r = subprocess.run(
            ["mmdebstrap", "--variant=minbase", "--include=ca-certificates,nodejs,npm",
             "--aptopt=APT::Install-Recommends \"false\"",
             "--customize-hook=cp /etc/ssl/certs/ca-certificates.crt "
             "\"$1/usr/local/share/ca-certificates/aishell-host-bundle.crt\"",
             "--customize-hook=chroot \"$1\" update-ca-certificates",
             "--customize-hook=rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/*.bin",
             "trixie", part,
             f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} trixie "
             "main"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"mmdebstrap failed:\n{r.stdout[-3000:]}")
        os.rename(part, cached)
    dest = os.path.join(tmp, "base", "rootfs.tar")
    os.makedirs(os.path.dirname(dest))
    if os.stat(cached).st_dev == os.stat(tmp).st_dev:
        os.link(cached, dest)
    else:
        shutil.copy(cached, dest)
    return dest, ["ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
                  'CMD ["/bin/bash"]']


def frontend_binary(tmp):
    """The static frontend binary: $AISHELL_FRONTEND_BINARY, or built from the working tree
    (the gnu target with crt-static, as scripts/frontend-image builds it)."""
    env = os.environ.get("AISHELL_FRONTEND_BINARY")
    if env:
        return env
    triple = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}[
        platform.machine()]
    logf = os.path.join(tmp, "cargo.log")
    log(f"cargo build --release --target {triple} -p aishell-frontend (crt-static; log {logf})")
    env = dict(os.environ, RUSTFLAGS=(os.environ.get("RUSTFLAGS", "")
                                      + " -C target-feature=+crt-static").strip())
    with open(logf, "w") as f:
        r = subprocess.run(["cargo", "build", "--release", "--target", triple, "-p",
                            "aishell-frontend"], cwd=buildkit.REPO_ROOT, env=env, stdout=f,
                           stderr=subprocess.STDOUT)
    if r.returncode != 0:
        with open(logf) as f:
            raise RuntimeError("cargo build failed:\n" + f.read()[-3000:])
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=buildkit.REPO_ROOT, stdout=subprocess.PIPE, text=True)
    target = json.loads(meta.stdout)["target_directory"]
    return os.path.join(target, triple, "release", "aishell-frontend")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_state():
    """The commit the working tree is at, and whether the frontend's sources differ from it."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=buildkit.REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--", "frontend", "llb-graph", "proto", "Cargo.lock")
    return git("rev-parse", "--short", "HEAD"), bool(dirty)
