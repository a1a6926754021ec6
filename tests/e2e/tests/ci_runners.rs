//! CI runners: standalone `buildkitd`s that start empty, fed only by a registry cache, as
//! `docker/setup-buildx-action`, a GitLab `buildkitd` service or the buildx `kubernetes`
//! driver run them. Each job here gets a fresh `buildkitd` on an empty root (BuildKit v0.32.2
//! from `../shared/tools/buildkit`, or `AISHELL_BUILDKITD`/`AISHELL_BUILDCTL`), a loopback
//! registry holds the images and the caches, and the registry's log tells what each job
//! pulled. These are the commands of docs/ci.md.
//!
//! The promise checked: a harness bump on a fresh runner pulls nothing of the extension (the
//! merge guards included), keeps the extension's layer, and a project that imports a shared
//! harness cache installs no tool, binary or npm (with a file of the build context in the
//! foundation, which npm tools are installed on), and pulls nothing of the new tool layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{
    Docker, FileServer, Registry, Run, busybox_image, debian_image, engine, frontend_image, nonce,
    required, sha256, tar_files,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The BuildKit binaries: `AISHELL_BUILDKITD`/`AISHELL_BUILDCTL`, else those of
/// `../shared/tools/buildkit` beside the repository. `None` (after a loud message) when
/// missing and the tests are not required; a failure when they are.
fn buildkit() -> Option<(PathBuf, PathBuf)> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/buildkit");
    let pick = |var: &str, name: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| shared.join(name))
    };
    let (d, c) = (
        pick("AISHELL_BUILDKITD", "buildkitd"),
        pick("AISHELL_BUILDCTL", "buildctl"),
    );
    if d.is_file() && c.is_file() {
        return Some((d, c));
    }
    let msg = format!(
        "no standalone BuildKit at {} and {} (set AISHELL_BUILDKITD and AISHELL_BUILDCTL)",
        d.display(),
        c.display()
    );
    if required() {
        panic!("{msg}, and end-to-end tests are required (CI or AISHELL_E2E is set)");
    }
    eprintln!("SKIPPED CI-runner test: {msg}");
    None
}

/// One ephemeral CI runner: a `buildkitd` on an empty root, with a buildx `remote` builder
/// on its socket; both removed when dropped.
struct Runner {
    child: Child,
    dir: tempfile::TempDir,
    buildctl: PathBuf,
    builder: String,
}

impl Runner {
    fn start(bk: &(PathBuf, PathBuf)) -> Runner {
        // Short path: the socket's path must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("aishell-ci-")
            .tempdir_in("/tmp")
            .unwrap();
        let config = dir.path().join("buildkitd.toml");
        // Each runner its own trace socket: buildkitd's default is one fixed path
        // (/run/buildkit/otel-grpc.sock), and two runners starting at once (the tests run on
        // two threads) failed with "bind: address already in use".
        std::fs::write(
            &config,
            format!(
                "[worker.oci]\n  snapshotter = \"overlayfs\"\n[worker.containerd]\n  \
                 enabled = false\n[otel]\n  socketPath = \"{}\"\n",
                dir.path().join("otel.sock").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("buildkitd.log")).unwrap();
        let child = Command::new(&bk.0)
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--addr")
            .arg(format!("unix://{}/sock", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start buildkitd");
        let mut r = Runner {
            child,
            dir,
            buildctl: bk.1.clone(),
            builder: format!("aishell-ci-{}", nonce()),
        };
        for _ in 0..150 {
            if r.buildctl(&["debug", "workers"]).ok {
                let made = Docker.cmd(&[
                    "buildx",
                    "create",
                    "--name",
                    &r.builder,
                    "--driver",
                    "remote",
                    &r.addr(),
                ]);
                assert!(made.ok, "docker buildx create: {}", made.stderr);
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(r.dir.path().join("buildkitd.log")).unwrap_or_default();
        let _ = r.child.kill();
        panic!("buildkitd did not answer within 30 s:\n{log}");
    }

    fn addr(&self) -> String {
        format!("unix://{}/sock", self.dir.path().display())
    }

    fn buildctl(&self, args: &[&str]) -> Run {
        Command::new(&self.buildctl)
            .arg("--addr")
            .arg(self.addr())
            .args(args)
            .output()
            .expect("run buildctl")
            .into()
    }

    /// `docker buildx build --builder <this runner> --progress=plain -f SPEC [extra] DIR`.
    fn buildx_ok(&self, dir: &Path, extra: &[&str]) -> Run {
        let mut args = vec!["--builder", &self.builder];
        args.extend_from_slice(extra);
        Docker.buildx_ok(dir, ".aishell/image.yaml", &args)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = Docker.cmd(&["buildx", "rm", "--force", &self.builder]);
        // SIGTERM, so buildkitd unmounts its snapshots before the root is removed.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A project: a busybox foundation, an extension of 20 MB of random data (the part a CI
/// runner must not pull), and one binary tool whose version the tests bump.
struct Project {
    dir: tempfile::TempDir,
    registry: Registry,
    files: FileServer,
    syntax: String,
    foundation: String,
}

const EXTENSION_MB: u64 = 20;

impl Project {
    /// Everything a runner needs is in the registry: the frontend image and the foundation
    /// (a standalone `buildkitd` has no image store), pushed from the engine's store.
    fn new(registry: Registry) -> Project {
        let syntax = publish(&registry, &frontend_image(), "aishell-frontend:ci");
        let foundation = publish(&registry, &busybox_image(), "busybox:ci");
        Project {
            dir: tempfile::tempdir().unwrap(),
            registry,
            files: FileServer::start(),
            syntax,
            foundation,
        }
    }

    /// Writes `body` as the spec.
    fn write_spec(&self, body: &str) {
        std::fs::create_dir_all(self.dir.path().join(".aishell")).unwrap();
        std::fs::write(self.dir.path().join(".aishell/image.yaml"), body).unwrap();
    }

    /// Writes the spec with tool `hello` at `version`.
    fn spec(&self, version: u32) {
        let body = format!("#!/bin/sh\necho hello {version}\n");
        let url = self
            .files
            .put(&format!("hello-{version}"), body.clone().into_bytes());
        let spec = format!(
            "# syntax={syntax}\nversion: 1\nfoundation:\n  from: {foundation}\nextension:\n  run:\n    - mkdir -p /opt/ext && head -c {bytes} /dev/urandom > /opt/ext/data\nharness:\n  binaries:\n    hello:\n      url: {url}\n      sha256: \"{sum}\"\nimage:\n  cmd: [/tools/bin/hello]\n",
            syntax = self.syntax,
            foundation = self.foundation,
            bytes = EXTENSION_MB << 20,
            sum = sha256(body.as_bytes()),
        );
        self.write_spec(&spec);
    }

    fn image(&self, tag: &str) -> String {
        format!("{}/proj:{tag}", self.registry.host)
    }

    fn cache(&self, name: &str) -> String {
        format!("type=registry,ref={}/proj:{name}", self.registry.host)
    }

    /// The layer digests of a pushed image, bottom to top (buildx adds a provenance
    /// attestation, so the tag may be an index; the attestation is left out).
    fn layers(&self, tag: &str) -> Vec<String> {
        let images = self.registry.images("proj", tag);
        assert_eq!(images.len(), 1, "one platform: {images:?}");
        images[0].layer_digests()
    }

    /// The blobs fetched (`GET …/blobs/<digest>`) since `mark` lines of the registry's log.
    fn pulled_since(&self, mark: usize) -> Vec<String> {
        self.registry
            .log()
            .lines()
            .skip(mark)
            .filter(|l| l.contains("http.request.method=GET") && l.contains("/blobs/sha256:"))
            .filter_map(|l| {
                let uri = l.split("http.request.uri=").nth(1)?;
                let uri = uri.trim_start_matches('"');
                let digest = uri.split("/blobs/").nth(1)?;
                Some(digest.split(['"', ' ', '?']).next()?.to_string())
            })
            .collect()
    }

    fn log_mark(&self) -> usize {
        self.registry.log().lines().count()
    }

    /// The content of `path` in the pushed layer `digest`.
    fn file_in_layer(&self, digest: &str, path: &str) -> Option<String> {
        let blob = aishell_e2e::gunzip_if_gzip(&self.registry.blob("proj", digest));
        tar_files(&blob)
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Pushes the engine's image `src` to `registry` as `name`; its reference there.
fn publish(registry: &Registry, src: &str, name: &str) -> String {
    let dst = format!("{}/{name}", registry.host);
    for args in [
        vec!["tag", src, dst.as_str()],
        vec!["push", "-q", dst.as_str()],
    ] {
        let r = Docker.cmd(&args);
        assert!(r.ok, "docker {}: {}", args.join(" "), r.stderr);
    }
    dst
}

/// In `--progress=plain` output: whether the vertex named `name_part` ran. A step whose
/// result came from the cache did not: it is either `CACHED`, or (when its result had to be
/// fetched from a registry cache, e.g. to be read) it shows the download of its result blob.
fn ran(progress: &str, name_part: &str) -> bool {
    let id = progress
        .lines()
        .find(|l| l.starts_with('#') && l.contains(name_part))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step {name_part:?} in:\n{progress}"));
    let own: Vec<&str> = progress
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(id))
        .collect();
    !own.iter()
        .any(|l| l.ends_with(" CACHED") || l.starts_with(&format!("{id} sha256:")))
}

fn setup() -> Option<((PathBuf, PathBuf), Project)> {
    engine()?;
    let bk = buildkit()?;
    let registry = Registry::start()?;
    Some((bk, Project::new(registry)))
}

/// The job of docs/ci.md: import the project's cache, build, push, export the cache.
fn job(runner: &Runner, p: &Project, tag: &str) -> Run {
    let image = p.image(tag);
    let cache = p.cache("cache-proj");
    let cache_to = format!("{cache},mode=max");
    runner.buildx_ok(
        p.dir.path(),
        &[
            "-t",
            &image,
            "--push",
            "--cache-from",
            &cache,
            "--cache-to",
            &cache_to,
        ],
    )
}

/// The shared harness job of docs/ci.md: builds `--target harness` and exports the
/// harness cache.
fn harness_job(runner: &Runner, p: &Project) -> Run {
    let cache_to = format!("{},mode=max", p.cache("cache-harness"));
    runner.buildx_ok(
        p.dir.path(),
        &["--target", "harness", "--cache-to", &cache_to],
    )
}

/// A project's job of docs/ci.md when a harness job shares its cache: the harness cache
/// first, then the project's own; build, push, export the project's cache.
fn project_job(runner: &Runner, p: &Project, tag: &str) -> Run {
    let image = p.image(tag);
    let harness = p.cache("cache-harness");
    let project = p.cache("cache-proj");
    let project_to = format!("{project},mode=max");
    runner.buildx_ok(
        p.dir.path(),
        &[
            "-t",
            &image,
            "--push",
            "--cache-from",
            &harness,
            "--cache-from",
            &project,
            "--cache-to",
            &project_to,
        ],
    )
}

#[test]
fn a_harness_bump_on_a_fresh_runner_pulls_nothing_of_the_extension() {
    let Some((bk, p)) = setup() else { return };
    p.spec(1);
    job(&Runner::start(&bk), &p, "v1");
    let v1 = p.layers("v1");
    assert_eq!(v1.len(), 3, "foundation, extension, tool: {v1:?}");
    let extension = &v1[1];

    // A fresh runner bumps the tool.
    p.spec(2);
    let mark = p.log_mark();
    let out = job(&Runner::start(&bk), &p, "v2");
    let pulled = p.pulled_since(mark);
    assert!(
        !pulled.contains(extension),
        "the bump pulled the extension's layer {extension}:\n{pulled:?}"
    );
    for step in [
        "[guards] list the extension",
        "[guards] list the foundation",
    ] {
        assert!(
            !ran(&out.stderr, step),
            "{step} comes from the cache:\n{}",
            out.stderr
        );
    }
    assert!(
        ran(&out.stderr, "[guards] list harness layer hello"),
        "the bumped tool is listed"
    );
    let v2 = p.layers("v2");
    assert_eq!(v2[..2], v1[..2], "foundation and extension layers are kept");
    assert_ne!(v2[2], v1[2]);
    assert_eq!(
        p.file_in_layer(&v2[2], "tools/bin/hello").as_deref(),
        Some("#!/bin/sh\necho hello 2\n")
    );

    // Another fresh runner with nothing to do: every guard step is a cache hit and the
    // extension stays in the registry.
    let mark = p.log_mark();
    let out = job(&Runner::start(&bk), &p, "v2");
    assert!(!p.pulled_since(mark).contains(extension));
    for step in [
        "[guards] list the extension",
        "[guards] list the foundation",
        "[guards] list harness layer hello",
        "[guards] check the merge",
    ] {
        assert!(
            !ran(&out.stderr, step),
            "{step} comes from the cache:\n{}",
            out.stderr
        );
    }
    assert_eq!(p.layers("v2"), v2);
}

#[test]
fn buildctl_runs_the_same_job() {
    let Some((bk, p)) = setup() else { return };
    p.spec(1);
    job(&Runner::start(&bk), &p, "v1");
    let extension = p.layers("v1")[1].clone();
    p.spec(3);
    let runner = Runner::start(&bk);
    let mark = p.log_mark();
    let dir = p.dir.path();
    let out = runner.buildctl(&[
        "build",
        "--progress=plain",
        "--frontend",
        "dockerfile.v0",
        "--local",
        &format!("context={}", dir.display()),
        "--local",
        &format!("dockerfile={}", dir.join(".aishell").display()),
        "--opt",
        "filename=image.yaml",
        "--output",
        &format!("type=image,name={},push=true", p.image("v3")),
        "--import-cache",
        &p.cache("cache-proj"),
        "--export-cache",
        &format!("{},mode=max", p.cache("cache-proj")),
    ]);
    assert!(out.ok, "buildctl build:\n{}", out.stderr);
    assert!(!p.pulled_since(mark).contains(&extension));
    let v3 = p.layers("v3");
    assert_eq!(v3[1], extension);
    assert_eq!(
        p.file_in_layer(&v3[2], "tools/bin/hello").as_deref(),
        Some("#!/bin/sh\necho hello 3\n")
    );
}

#[test]
fn projects_import_the_harness_job_cache_and_install_nothing() {
    let Some((bk, p)) = setup() else { return };
    p.spec(1);
    job(&Runner::start(&bk), &p, "v1");
    let extension = p.layers("v1")[1].clone();

    // The harness job builds the new tool once and exports the shared cache.
    p.spec(2);
    let out = harness_job(&Runner::start(&bk), &p);
    assert!(ran(&out.stderr, "[harness] hello -> /tools/bin/hello"));

    // The project's job imports both caches: the tool is neither downloaded nor placed
    // again, and the extension stays in the registry.
    let mark = p.log_mark();
    assert!(
        p.files.hits("hello-2") > 0,
        "the harness job downloaded the tool"
    );
    let out = project_job(&Runner::start(&bk), &p, "v2");
    // (The download step is not among them: BuildKit v0.32 fetches a URL on a runner that
    // has not seen it to compute its cache key, checksum or not, as it does for a
    // Dockerfile's `ADD --checksum`. The tool's layer itself comes from the cache.)
    for step in [
        "[harness] hello -> /tools/bin/hello",
        "[guards] list harness layer hello",
        "[guards] list the extension",
    ] {
        assert!(
            !ran(&out.stderr, step),
            "{step} comes from the caches:\n{}",
            out.stderr
        );
    }
    let pulled = p.pulled_since(mark);
    assert!(!pulled.contains(&extension));
    let v2 = p.layers("v2");
    assert_eq!(v2[1], extension);
    // Nor is the new tool layer pulled: the guards' listing of it is found in the harness
    // cache by the layer's graph, without loading the layer (docs/architecture.md).
    assert!(!pulled.contains(&v2[2]), "{pulled:?}");
    assert_eq!(
        p.file_in_layer(&v2[2], "tools/bin/hello").as_deref(),
        Some("#!/bin/sh\necho hello 2\n")
    );
}

/// The spec of the npm test: a Debian foundation (node and npm) that copies a file of the
/// build context, as aishell's foundation copies its entrypoint, and `semver` at `version`.
fn npm_spec(p: &Project, foundation: &str, version: &str) {
    p.write_spec(&format!(
        "# syntax={syntax}\nversion: 1\nfoundation:\n  from: {foundation}\n  copy:\n    - src: docker/entrypoint.sh\n      dest: /usr/local/bin/entrypoint.sh\nextension:\n  run:\n    - echo extension > /ext\nharness:\n  npm:\n    semver: \"{version}\"\nimage:\n  entrypoint: [/usr/local/bin/entrypoint.sh]\n",
        syntax = p.syntax,
    ));
}

/// (content, permission bits) of `path` in the pushed layer `digest`.
fn file_with_mode(p: &Project, digest: &str, path: &str) -> Option<(String, u32)> {
    use std::io::Read;
    let blob = aishell_e2e::gunzip_if_gzip(&p.registry.blob("proj", digest));
    let mut archive = tar::Archive::new(&blob[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(path) {
            let mode = entry.header().mode().unwrap() & 0o7777;
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            return Some((body, mode));
        }
    }
    None
}

#[test]
fn an_npm_tool_on_a_foundation_with_a_context_copy_comes_from_the_harness_cache() {
    let Some((bk, p)) = setup() else { return };
    let foundation = publish(&p.registry, &debian_image(), "debian:ci");
    let script = "#!/bin/sh\nexec \"$@\"\n";
    let docker_dir = p.dir.path().join("docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    let entrypoint = docker_dir.join("entrypoint.sh");
    std::fs::write(&entrypoint, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&entrypoint, std::fs::Permissions::from_mode(0o775)).unwrap();
    npm_spec(&p, &foundation, "7.6.0");
    job(&Runner::start(&bk), &p, "v1");
    let v1 = p.layers("v1");

    // The harness job installs the new version once and exports the shared cache.
    npm_spec(&p, &foundation, "7.6.3");
    let out = harness_job(&Runner::start(&bk), &p);
    assert!(
        ran(&out.stderr, "[harness] npm semver@7.6.3"),
        "{}",
        out.stderr
    );

    // The project's job on a fresh runner, both caches imported as docs/ci.md lists them:
    // neither the tool nor the extension runs again. (Before small context files were
    // written from the graph, BuildKit v0.32.2 mostly missed the install in the harness
    // cache here: bench/repro/cross-cache.)
    let mark = p.log_mark();
    let out = project_job(&Runner::start(&bk), &p, "v2");
    for step in [
        "[harness] npm semver@7.6.3",
        "[extension] run echo extension",
        "[foundation] copy docker/entrypoint.sh",
    ] {
        assert!(
            !ran(&out.stderr, step),
            "{step} comes from the caches:\n{}",
            out.stderr
        );
    }
    // The new tool layer stays in the registry: the guards' listing of it comes from the
    // harness cache, keyed by the layer's graph (docs/architecture.md).
    // (Read before any blob is fetched here: reading layers below pulls them.)
    let pulled = p.pulled_since(mark);
    let layers = p.layers("v2");
    // The tool's layer is the one that holds the package; it is new with the bump.
    let tool: Vec<&String> = layers
        .iter()
        .filter(|l| {
            file_with_mode(&p, l, "tools/npm/lib/node_modules/semver/package.json").is_some()
        })
        .collect();
    assert_eq!(tool.len(), 1, "one layer holds semver: {layers:?}");
    assert!(!v1.contains(tool[0]), "{layers:?} after {v1:?}");
    assert!(!pulled.contains(tool[0]), "{pulled:?}");
    // The copied file is the context's, with its permission bits.
    let copied: Vec<(String, u32)> = layers
        .iter()
        .filter_map(|l| file_with_mode(&p, l, "usr/local/bin/entrypoint.sh"))
        .collect();
    assert_eq!(copied, [(script.to_string(), 0o775)], "{layers:?}");
}
