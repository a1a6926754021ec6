"""What an image is made of (Tool, Foundation, Project) and the files that build it the four
ways: the Dockerfiles of (a) stacked, (b) on-top and (c) copy-link, and the spec of (d) the
frontend (WRITERS: approach -> writer of a build context).

FRONTEND and BASE_TAG are read when a context is written, not bound at import, so that the CI
scenario (ci.py) can point them at its loopback registry (set_image_names) before it writes."""

import json
import os
import re
import shutil

from .common import PREFIX, REPO, ROOT


def default_frontend():
    # the name scripts/frontend-image tags by default: the one on the examples' first line
    with open(os.path.join(ROOT, "examples", "hello", ".aishell", "image.yaml")) as f:
        return f.readline().split("=", 1)[1].strip()


FRONTEND = os.environ.get("AISHELL_FRONTEND_IMAGE") or default_frontend()
BASE_TAG = f"{REPO}/stacked-base:latest"  # (a)'s base image, FROM in its project Dockerfile


def set_image_names(frontend, base_tag):
    """Makes the writers name another frontend image (the spec's `# syntax=` line) and another
    stacked base (the `FROM` of (a)'s project Dockerfile): the CI scenario's, in its registry."""
    global FRONTEND, BASE_TAG
    FRONTEND, BASE_TAG = frontend, base_tag


# ---------------------------------------------------------------- what an image is made of


class Tool:
    """A harness tool: an npm package, or a binary from a .tar.gz (url, sha256, member)."""

    def __init__(self, name, kind, version, url="", sha="", member=None):
        self.name, self.kind, self.version = name, kind, version
        self.url, self.sha, self.member = url, sha, member or name

    @property
    def slug(self):  # a stage name
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    @property
    def spec(self):
        return f"{self.name}@{self.version}"


def canonical(tools):
    # the frontend's order: npm packages by name, then binaries by name; the Dockerfiles follow it
    return (sorted((t for t in tools if t.kind == "npm"), key=lambda t: t.name)
            + sorted((t for t in tools if t.kind == "bin"), key=lambda t: t.name))


class Foundation:
    def __init__(self, image, env=None, apt=(), copies=(), runs=(), args=None):
        self.image, self.env, self.apt = image, env or {}, list(apt)
        self.copies, self.runs = list(copies), list(runs)  # copies: (src, dest, mode or None)
        self.args = args or {}  # spec args (name -> default), ARGs of the Dockerfiles


class Project:
    """One image: foundation, extension (Dockerfile lines after FROM), tools, image config.

    ext_inline: the extension as inline spec `run` commands (the synthetic scenario) instead
    of an extension Dockerfile; files: context-relative path -> file to copy there."""

    def __init__(self, name, foundation, ext_body, tools, ext_inline=None, env=None,
                 image=None, files=None):
        self.name, self.foundation, self.ext_body = name, foundation, ext_body
        self.tools, self.ext_inline = canonical(tools), ext_inline
        self.env, self.image, self.files = env or {}, image or {}, files or {}


# ---------------------------------------------------------------- Dockerfiles and the spec

APT = ("RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
       "--mount=type=cache,target=/var/lib/apt/lists,sharing=locked "
       "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
       "apt-get install -y -qq --no-install-recommends ")
# as the frontend runs it: npm's cache in a cache mount, HOME and /tmp on a tmpfs
NPM = ("RUN --mount=type=cache,id=aishell-bench-npm,target=/var/cache/aishell-npm "
       "--mount=type=tmpfs,target=/tmp HOME=/tmp/home npm_config_cache=/var/cache/aishell-npm "
       f"npm install --global --prefix {PREFIX}/npm --no-audit --no-fund --no-update-notifier "
       "--loglevel=error ")


def arg_names(text):
    return sorted(set(re.findall(r"\$\{(\w+)\}", text)))


def df_foundation(f, stage=None):
    out = [f"FROM {f.image}" + (f" AS {stage}" if stage else "")]
    out += [f"ARG {a}" for a in f.args]
    if f.env:
        out.append("ENV " + " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(f.env.items())))
    if f.apt:
        out.append(APT + " ".join(f.apt))
    out += [f"COPY {f'--chmod={m} ' if m else ''}{s} {d}" for s, d, m in f.copies]
    return out + [f"RUN {r}" for r in f.runs]


def dl_stages(tools):
    # BuildKit downloads each tarball (host network, checksum verified) into a scratch stage;
    # a RUN extracts the member through a bind mount, so the tarball is in no image layer.
    out = []
    for t in tools:
        if t.kind == "bin":
            out += [f"FROM scratch AS dl-{t.slug}"] + [f"ARG {a}" for a in arg_names(t.url)]
            out += [f"ADD --checksum=sha256:{t.sha} {t.url} /t.tar.gz", ""]
    return out


def install(t):
    if t.kind == "npm":
        return NPM + t.spec
    if t.member == t.name:
        extract = f"tar -xzf /dl/t.tar.gz -C {PREFIX}/bin {t.name}"
    else:
        dest = f"{PREFIX}/bin/{t.name}"
        extract = f"tar -xzf /dl/t.tar.gz -O {t.member} > {dest} && chmod 0755 {dest}"
    return f"RUN --mount=type=bind,from=dl-{t.slug},target=/dl mkdir -p {PREFIX}/bin && {extract}"


def df_final(p):
    # the image config the spec's harness and image sections give
    npm = any(t.kind == "npm" for t in p.tools)
    path = f"{PREFIX}/npm/bin:{PREFIX}/bin:$PATH" if npm else f"{PREFIX}/bin:$PATH"
    env = dict(p.env, PATH=path)
    if npm:
        env["NODE_PATH"] = f"{PREFIX}/npm/lib/node_modules"
    out = ["ENV " + " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(env.items()))]
    for key, instr in (("entrypoint", "ENTRYPOINT"), ("cmd", "CMD")):
        if key in p.image:
            out.append(f"{instr} {json.dumps(p.image[key])}")
    if "workdir" in p.image:
        out.append(f"WORKDIR {p.image['workdir']}")
    return out


def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_context(d, p):
    for rel, src in p.files.items():
        os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(d, rel))


def write_stacked(d, p):
    base = dl_stages(p.tools) + df_foundation(p.foundation)
    write(os.path.join(d, "base.Dockerfile"), base + [install(t) for t in p.tools] + df_final(p))
    write(os.path.join(d, "Dockerfile"), [f"FROM {BASE_TAG}"] + p.ext_body)


def write_on_top(d, p):
    df = dl_stages(p.tools) + df_foundation(p.foundation) + p.ext_body
    write(os.path.join(d, "Dockerfile"), df + [install(t) for t in p.tools] + df_final(p))


def write_copy_link(d, p):
    df = dl_stages(p.tools) + df_foundation(p.foundation, "foundation")
    for t in p.tools:
        df += ["", f"FROM foundation AS {t.slug}", install(t)]
    df += ["", "FROM foundation"] + p.ext_body
    df += [f"COPY --link --from={t.slug} {PREFIX} {PREFIX}" for t in p.tools]
    write(os.path.join(d, "Dockerfile"), df + df_final(p))


def yaml_map(indent, mapping):
    return [f"{' ' * indent}{json.dumps(k)}: {json.dumps(v)}" for k, v in mapping.items()]


def write_aishell(d, p, order=None):
    f = p.foundation
    s = [f"# syntax={FRONTEND}", "version: 1"]
    if f.args:
        s += ["args:"] + yaml_map(2, f.args)
    s += ["foundation:", f"  from: {f.image}"]
    if f.env:
        s += ["  env:"] + yaml_map(4, f.env)
    if f.apt:
        s.append(f"  apt: [{', '.join(f.apt)}]")
    if f.copies:
        s.append("  copy:")
        for src, dest, mode in f.copies:
            s += [f"    - src: {src}", f"      dest: {dest}"]
            s += [f'      mode: "{mode}"'] if mode else []
    if f.runs:
        s += ["  run:"] + [f"    - {json.dumps(r)}" for r in f.runs]
    if p.ext_inline is not None:
        s += ["extension:", "  run:"] + [f"    - {json.dumps(c)}" for c in p.ext_inline]
    else:
        s += ["extension:", "  dockerfile: Dockerfile"]
        write(os.path.join(d, ".aishell", "Dockerfile"), ["FROM aishell:base"] + p.ext_body)
    s.append("harness:")
    npm = [t for t in p.tools if t.kind == "npm"]
    if npm:
        s += ["  npm:"] + yaml_map(4, {t.name: t.version for t in npm})
    bins = [t for t in p.tools if t.kind == "bin"]
    if bins:
        s.append("  binaries:")
        for t in bins:
            s += [f"    {t.name}:", f"      url: {t.url}", f'      sha256: "{t.sha}"',
                  f"      extract: {t.member}"]
    if p.env:
        s += ["  env:"] + yaml_map(4, p.env)
    image = dict(p.image or {}, **({"order": order} if order else {}))
    if image:
        s += ["image:"] + [f"  {k}: {json.dumps(v)}" for k, v in image.items()]
    write(os.path.join(d, ".aishell", "image.yaml"), s)


def write_aishell_below(d, p):
    write_aishell(d, p, ["foundation", "harness", "extension"])


WRITERS = {"stacked": write_stacked, "on-top": write_on_top,
           "copy-link": write_copy_link, "aishell": write_aishell,
           "aishell-below": write_aishell_below}
