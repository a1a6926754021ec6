//! Helpers for end-to-end tests: a real engine (`DOCKER_HOST`), project folders with a
//! `# syntax=` spec, a loopback HTTP server for harness binaries, image inspection.
//!
//! The engine, the test base images and the frontend image are prepared by `scripts/test`
//! (see the README). When no engine answers, a test fails if `CI` or `AISHELL_E2E` is set
//! (so CI can never skip them silently) and otherwise says loudly that it skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The frontend image the specs name in `# syntax=`.
pub fn frontend_image() -> String {
    std::env::var("AISHELL_FRONTEND_IMAGE")
        .unwrap_or_else(|_| "ghcr.io/org/aishell-frontend:1".into())
}

/// The small base image made by `scripts/base-images`.
pub fn busybox_image() -> String {
    std::env::var("AISHELL_TEST_BUSYBOX_IMAGE").unwrap_or_else(|_| "aishell-test/busybox:1".into())
}

/// The Debian base image with node and npm made by `scripts/base-images --debian`.
pub fn debian_image() -> String {
    std::env::var("AISHELL_TEST_DEBIAN_IMAGE")
        .unwrap_or_else(|_| "aishell-test/debian:trixie".into())
}

/// The same Debian image for linux/arm64, made by `scripts/base-images --arm64` (which also
/// registers arm64 emulation, so its programs run here).
pub fn debian_arm64_image() -> String {
    std::env::var("AISHELL_TEST_DEBIAN_ARM64_IMAGE")
        .unwrap_or_else(|_| "aishell-test/debian:trixie-arm64".into())
}

/// True when end-to-end tests must not skip: `CI` or `AISHELL_E2E` is set (to anything but
/// empty, `0` or `false`; `scripts/test` sets `AISHELL_E2E=1`).
pub fn required() -> bool {
    let set = |k: &str| {
        std::env::var(k)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    };
    set("CI") || set("AISHELL_E2E")
}

/// True on the standalone-BuildKit leg of `scripts/test` (`AISHELL_E2E_BUILDKITD=1`): the
/// builds must go to the `buildkitd` of `scripts/engine up --buildkit` (buildx `remote`
/// driver), never to dockerd's embedded BuildKit.
pub fn buildkitd_expected() -> bool {
    std::env::var("AISHELL_E2E_BUILDKITD").is_ok_and(|v| v == "1")
}

/// The buildx builder that `docker buildx build` uses, as `docker buildx inspect` shows it.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    /// The builder's name (`default` for dockerd's own).
    pub name: String,
    /// `docker` (dockerd's embedded BuildKit) or `remote` (a standalone `buildkitd`), …
    pub driver: String,
    /// Its node's endpoint, e.g. `unix:///…/buildkitd.sock`.
    pub endpoint: String,
    /// The BuildKit version the node reports (Debian's dockerd reports `v0.0.0+unknown`).
    pub buildkit: String,
    /// The node's labels (`org.mobyproject.buildkit.worker.executor`: `oci`, …).
    pub labels: BTreeMap<String, String>,
}

impl Builder {
    /// Parses the output of `docker buildx inspect` (the first node only).
    pub fn parse(inspect: &str) -> Builder {
        let mut b = Builder::default();
        let mut in_labels = false;
        for line in inspect.lines() {
            if in_labels {
                if let Some(label) = line.strip_prefix(' ') {
                    if let Some((k, v)) = label.split_once(':') {
                        b.labels.insert(k.trim().to_string(), v.trim().to_string());
                    }
                    continue;
                }
                in_labels = false;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_string();
            match key {
                "Name" if b.name.is_empty() => b.name = value,
                "Driver" => b.driver = value,
                "Endpoint" if b.endpoint.is_empty() => b.endpoint = value,
                "BuildKit version" | "Buildkit" if b.buildkit.is_empty() => b.buildkit = value,
                "Labels" => in_labels = true,
                _ => {}
            }
        }
        b
    }

    /// What built the layers, for records compared across engines: `buildkitd-<version>` for
    /// a standalone BuildKit, else `docker-<server version>` (dockerd's embedded BuildKit).
    pub fn engine_name(&self, docker: &Docker) -> String {
        if self.driver == "docker" {
            format!("docker-{}", docker.server_version())
        } else {
            format!("{}-{}", self.driver, self.buildkit)
        }
    }
}

/// The engine, or `None` (after a loud message) when none answers and tests are not
/// required to run. Panics when they are required.
pub fn engine() -> Option<Docker> {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(Docker);
    }
    if required() {
        panic!(
            "no Docker engine answers at DOCKER_HOST={:?}, and end-to-end tests are required (CI or AISHELL_E2E is set); run them with scripts/test",
            std::env::var("DOCKER_HOST").ok()
        );
    }
    eprintln!("SKIPPED end-to-end test: no engine answers (run scripts/test to start one)");
    None
}

/// The output of a command, decoded.
#[derive(Debug, Clone)]
pub struct Run {
    /// Exit status was 0.
    pub ok: bool,
    /// stdout.
    pub stdout: String,
    /// stderr (buildx progress lands here).
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// True for the test registry's race: Debian's registry (distribution 2.8, filesystem
/// storage) answers 500 "invalid checksum digest format" to a HEAD of a tag while a second
/// push of the same tag rewrites the tag's link file, which Docker 26 does when it pushes a
/// built image a second time ("pushing with docker"). The registry log shows it; the
/// frontend and its images play no part.
pub fn registry_race(stderr: &str) -> bool {
    stderr.contains("unexpected status from HEAD request")
        && stderr.contains("500 Internal Server Error")
}

/// Runs `cmd`; when it failed on [`registry_race`], runs it once more (pushing the same
/// content again is idempotent) and says so.
pub fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    if !out.status.success() && registry_race(&String::from_utf8_lossy(&out.stderr)) {
        eprintln!(
            "the test registry answered 500 to a HEAD of a tag being rewritten; running once more: {cmd:?}"
        );
        return cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    }
    out
}

/// The Docker client pointed at the test engine.
#[derive(Debug, Clone, Copy)]
pub struct Docker;

impl Docker {
    /// Runs `docker ARGS` and returns its output.
    pub fn cmd(&self, args: &[&str]) -> Run {
        output(Command::new("docker").args(args)).into()
    }

    /// True when the client has buildx (Docker 20.10's Debian packages do not).
    pub fn has_buildx(&self) -> bool {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            Command::new("docker")
                .args(["buildx", "version"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
    }

    /// `docker buildx build --progress=plain --load -f SPEC -t TAG [extra] DIR`, or plain
    /// `docker build` (BuildKit) where there is no buildx or `AISHELL_E2E_PLAIN_BUILD=1`.
    pub fn build(&self, dir: &Path, spec: &str, tag: &str, extra: &[&str]) -> Run {
        let plain =
            !self.has_buildx() || std::env::var("AISHELL_E2E_PLAIN_BUILD").is_ok_and(|v| v == "1");
        let mut args: Vec<String> = if plain {
            vec!["build".into()]
        } else {
            vec!["buildx".into(), "build".into(), "--load".into()]
        };
        args.extend([
            "--progress=plain".into(),
            "-f".into(),
            dir.join(spec).display().to_string(),
            "-t".into(),
            tag.into(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(dir.display().to_string());
        let r: Run = output(Command::new("docker").args(&args)).into();
        if !r.ok {
            eprintln!("--- build of {tag} failed ---\n{}", r.stderr);
        }
        r
    }

    /// Like [`Docker::build`], but panics with the output when the build fails.
    pub fn build_ok(&self, dir: &Path, spec: &str, tag: &str, extra: &[&str]) -> Run {
        let r = self.build(dir, spec, tag, extra);
        assert!(r.ok, "build of {tag} failed:\n{}", r.stderr);
        r
    }

    /// `docker run --rm IMAGE sh -c SCRIPT`, panicking on failure.
    pub fn sh(&self, image: &str, script: &str) -> String {
        let r = self.cmd(&[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            image,
            "-c",
            script,
        ]);
        assert!(
            r.ok,
            "docker run {image} sh -c {script:?} failed:\n{}{}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// The diffIDs of an image's layers, bottom to top.
    pub fn layers(&self, image: &str) -> Vec<String> {
        let r = self.cmd(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            image,
        ]);
        assert!(r.ok, "inspect {image}: {}", r.stderr);
        serde_json::from_str(r.stdout.trim()).unwrap()
    }

    /// The image's config (`docker image inspect … .Config`).
    pub fn config(&self, image: &str) -> Value {
        let r = self.cmd(&["image", "inspect", "--format", "{{json .Config}}", image]);
        assert!(r.ok, "inspect {image}: {}", r.stderr);
        serde_json::from_str(r.stdout.trim()).unwrap()
    }

    /// The env of an image as a map.
    pub fn env(&self, image: &str) -> BTreeMap<String, String> {
        self.config(image)["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                v.as_str()?
                    .split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()
    }

    /// Removes images, ignoring errors.
    pub fn rmi(&self, images: &[&str]) {
        for i in images {
            let _ = self.cmd(&["rmi", "-f", i]);
        }
    }
}

/// A project folder: the build context, with the spec under `.aishell/`.
#[derive(Debug)]
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A new empty project.
    pub fn new() -> Self {
        Project {
            dir: tempfile::Builder::new()
                .prefix("aishell-e2e-")
                .tempdir()
                .unwrap(),
        }
    }

    /// Its root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Writes `.aishell/image.yaml` with the `# syntax=` line naming the test frontend.
    pub fn spec(&self, body: &str) {
        self.write(
            ".aishell/image.yaml",
            &format!("# syntax={}\n{body}", frontend_image()),
        );
    }
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

/// A loopback HTTP server serving files from memory, counting requests per path. BuildKit
/// downloads from the daemon's own network namespace, which is the host's, so 127.0.0.1
/// reaches it.
#[derive(Debug, Clone)]
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Paths whose responses stop after this many body bytes (the connection is closed).
    cuts: Arc<Mutex<BTreeMap<String, usize>>>,
    total: Arc<AtomicUsize>,
}

impl FileServer {
    /// Starts a server on a free port of 127.0.0.1 (reached by BuildKit's downloads, which
    /// use the host's network); it lives as long as the test process.
    pub fn start() -> Self {
        Self::start_at("127.0.0.1")
    }

    /// Like [`FileServer::start`], on the address `ip` (e.g. [`bridge_gateway`], for
    /// requests from inside RUN steps).
    pub fn start_at(ip: &str) -> Self {
        let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let total = Arc::new(AtomicUsize::new(0));
        let cuts: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let (f, h, t, c) = (files.clone(), hits.clone(), total.clone(), cuts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (f, h, t, c) = (f.clone(), h.clone(), t.clone(), c.clone());
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).is_err() {
                        return;
                    }
                    loop {
                        let mut l = String::new();
                        if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" || l == "\n" {
                            break;
                        }
                    }
                    let mut parts = request_line.split_whitespace();
                    let method = parts.next().unwrap_or("");
                    let path = parts.next().unwrap_or("/").to_string();
                    t.fetch_add(1, Ordering::SeqCst);
                    *h.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let body = f.lock().unwrap().get(&path).cloned();
                    let (status, body) = match body {
                        Some(b) => ("200 OK", b),
                        None => ("404 Not Found", b"not found".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    if let Some(&cut) = c.lock().unwrap().get(&path) {
                        // The server "goes away" mid-download: part of the body, then the
                        // connection closes although Content-Length promised more.
                        let _ = stream.write_all(&body[..cut.min(body.len())]);
                        let _ = stream.flush();
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    if method != "HEAD" {
                        let _ = stream.write_all(&body);
                    }
                    let _ = stream.flush();
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest);
                });
            }
        });
        FileServer {
            base,
            files,
            hits,
            cuts,
            total,
        }
    }

    /// Serves `bytes` at `/name` and returns the URL.
    pub fn put(&self, name: &str, bytes: Vec<u8>) -> String {
        self.cuts.lock().unwrap().remove(&format!("/{name}"));
        self.files.lock().unwrap().insert(format!("/{name}"), bytes);
        format!("{}/{name}", self.base)
    }

    /// Like [`FileServer::put`], but every response announces all of `bytes` and closes the
    /// connection after the first `sent` bytes of the body.
    pub fn put_cut(&self, name: &str, bytes: Vec<u8>, sent: usize) -> String {
        let url = self.put(name, bytes);
        self.cuts.lock().unwrap().insert(format!("/{name}"), sent);
        url
    }

    /// All requests so far.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Requests for `/name` so far.
    pub fn hits(&self, name: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .get(&format!("/{name}"))
            .copied()
            .unwrap_or(0)
    }
}

/// A value no earlier run can have built (the time in nanoseconds and the process id, in
/// hex), so a warm engine has nothing cached for a tool or step that contains it.
pub fn nonce() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{t:x}{:x}", std::process::id())
}

/// Lower-case hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A gzipped tar with one executable file `name` (a shell script).
pub fn tar_gz(name: &str, script: &str) -> Vec<u8> {
    tar_gz_files(&[(name, script, 0o755)])
}

/// A gzipped tar of `(path, content, mode)` files, in the order given.
pub fn tar_gz_files(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, content, mode) in files {
        let data = content.as_bytes();
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The address of the engine's default bridge on the host (e.g. `172.17.0.1`): what RUN
/// steps, which have their own network namespace, reach the host at.
pub fn bridge_gateway() -> String {
    let r = Docker.cmd(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    ]);
    assert!(r.ok, "docker network inspect bridge: {}", r.stderr);
    let ip = r.stdout.trim().to_string();
    assert!(!ip.is_empty(), "the bridge network has no gateway");
    ip
}

/// In `--progress=plain` output: whether the vertex whose name contains `name_part` was
/// reported `CACHED` (`None` when no such vertex appears).
pub fn vertex_cached(progress: &str, name_part: &str) -> Option<bool> {
    let line = progress
        .lines()
        .find(|l| l.starts_with('#') && l.contains(name_part))?;
    let vertex = line.split_whitespace().next()?;
    Some(
        progress
            .lines()
            .any(|l| l.trim() == format!("{vertex} CACHED")),
    )
}

impl Docker {
    /// `docker buildx build --progress=plain -f SPEC [extra] DIR` with nothing else added (no
    /// `--load`, no tag): for tests that choose their own output (`--push`, `--output`,
    /// `--metadata-file`, cache options).
    pub fn buildx(&self, dir: &Path, spec: &str, extra: &[&str]) -> Run {
        let mut args: Vec<String> = vec![
            "buildx".into(),
            "build".into(),
            "--progress=plain".into(),
            "-f".into(),
            dir.join(spec).display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(dir.display().to_string());
        let r: Run = output(Command::new("docker").args(&args)).into();
        if !r.ok {
            eprintln!("--- docker {} failed ---\n{}", args.join(" "), r.stderr);
        }
        r
    }

    /// Like [`Docker::buildx`], but panics with the output when the build fails.
    pub fn buildx_ok(&self, dir: &Path, spec: &str, extra: &[&str]) -> Run {
        let r = self.buildx(dir, spec, extra);
        assert!(r.ok, "build failed:\n{}", r.stderr);
        r
    }

    /// The daemon's version (`docker version --format {{.Server.Version}}`), e.g. `26.1.5`.
    pub fn server_version(&self) -> String {
        self.cmd(&["version", "--format", "{{.Server.Version}}"])
            .stdout
            .trim()
            .to_string()
    }

    /// The current buildx builder (`docker buildx inspect --bootstrap`), panicking on failure.
    pub fn builder(&self) -> Builder {
        let r = self.cmd(&["buildx", "inspect", "--bootstrap"]);
        assert!(r.ok, "docker buildx inspect: {}", r.stderr);
        Builder::parse(&r.stdout)
    }

    /// Empties the builder's cache (`docker builder prune -af`, which Docker 23+ hands to
    /// `docker buildx prune`, so a `remote` builder is emptied too), panicking on failure.
    pub fn prune_builder(&self) {
        let r = self.cmd(&["builder", "prune", "-af"]);
        assert!(r.ok, "docker builder prune: {}", r.stderr);
    }
}

/// An HTTP response read by [`http_get`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as JSON, panicking when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }
}

/// `GET http://HOST/PATH` with extra headers. HTTP/1.0, so the server answers with a plain
/// body and closes the connection: no chunked decoding is needed for this small client.
pub fn http_get(host: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Media types a manifest request accepts: OCI and Docker, single images and indexes.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A private registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1 with its
/// own storage and log, stopped when dropped. Docker treats 127.0.0.0/8 as an insecure
/// registry, so `--push` and registry caches reach it over plain HTTP with no daemon setting.
#[derive(Debug)]
pub struct Registry {
    /// `127.0.0.1:PORT`, the registry part of image references.
    pub host: String,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

/// The registry program: `AISHELL_E2E_REGISTRY`, else `docker-registry` (Debian's name) or
/// `registry` (upstream's) on PATH.
fn registry_program() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AISHELL_E2E_REGISTRY") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("docker-registry"), d.join("registry")])
        .find(|p| p.is_file())
}

impl Registry {
    /// Starts a registry on a free port, or `None` (after a loud message) when the program
    /// is missing and tests are not required; panics when they are (`scripts/test` installs
    /// it).
    pub fn start() -> Option<Registry> {
        let Some(program) = registry_program() else {
            if required() {
                panic!(
                    "no registry program (Debian package docker-registry; scripts/test installs it, or set AISHELL_E2E_REGISTRY)"
                );
            }
            eprintln!("SKIPPED registry test: no docker-registry program");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("aishell-e2e-registry-")
            .tempdir()
            .unwrap();
        // A free port: bind, read it, release it; the registry takes it right after.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(&program)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let registry = Registry { host, child, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(&registry.host).is_ok()
                && http_get(&registry.host, "/v2/", &[]).status == 200
            {
                return Some(registry);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the registry did not answer:\n{}", registry.log());
    }

    /// The images of `repo:tag` in the registry, per platform (attestations left out).
    pub fn images(&self, repo: &str, tag: &str) -> Vec<PlatformImage> {
        let top = self.manifest(repo, tag);
        let fetch = |d: &str| -> serde_json::Value {
            if d.is_empty() {
                return serde_json::Value::Null;
            }
            let r = self.get(&format!("/v2/{repo}/manifests/{d}"));
            if r.status == 200 {
                r.json()
            } else {
                serde_json::from_slice(&self.blob(repo, d)).unwrap()
            }
        };
        if top["manifests"].is_array() {
            let mut out = Vec::new();
            walk_index(&top, &fetch, &mut out);
            out
        } else {
            let config = fetch(top["config"]["digest"].as_str().unwrap());
            let digest = self
                .get(&format!("/v2/{repo}/manifests/{tag}"))
                .headers
                .get("docker-content-digest")
                .cloned()
                .unwrap_or_default();
            vec![PlatformImage {
                platform: format!(
                    "{}/{}",
                    config["os"].as_str().unwrap(),
                    config["architecture"].as_str().unwrap()
                ),
                digest,
                manifest: top,
                config,
            }]
        }
    }

    /// `GET /v2/…` on the registry.
    pub fn get(&self, path: &str) -> HttpResponse {
        http_get(&self.host, path, &[("Accept", MANIFEST_TYPES)])
    }

    /// The manifest (or index) of `repo:reference`, panicking unless it exists.
    pub fn manifest(&self, repo: &str, reference: &str) -> Value {
        let r = self.get(&format!("/v2/{repo}/manifests/{reference}"));
        assert_eq!(
            r.status,
            200,
            "manifest {repo}:{reference}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }

    /// A blob of `repo`, panicking unless it exists.
    pub fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let r = http_get(&self.host, &format!("/v2/{repo}/blobs/{digest}"), &[]);
        assert_eq!(r.status, 200, "blob {digest} of {repo}");
        r.body
    }

    /// Every blob the registry stores (layers, configs, manifests), digest → size, read
    /// from its storage: the registry API has no listing of blobs.
    pub fn blobs(&self) -> BTreeMap<String, u64> {
        let root = self.dir.path().join("data/docker/registry/v2/blobs/sha256");
        let mut out = BTreeMap::new();
        for shard in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for blob in std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(m) = std::fs::metadata(blob.path().join("data")) {
                    out.insert(
                        format!("sha256:{}", blob.file_name().to_string_lossy()),
                        m.len(),
                    );
                }
            }
        }
        out
    }

    /// The registry's log so far (one line per request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failed test gets the registry's side of the story (its folder is removed now).
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of the registry log ({}) ---", self.host);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// The entries of a tar (regular files only), path → bytes; a gzipped tar is unpacked.
pub fn tar_files(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let data = gunzip_if_gzip(bytes);
    let mut archive = tar::Archive::new(&data[..]);
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let path = entry.path().unwrap().display().to_string();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            out.insert(path, body);
        }
    }
    out
}

/// The entries of a tar: path → (type byte, mode, mtime).
pub type TarEntries = BTreeMap<String, (u8, u32, u64)>;

/// Every entry of a tar (files, folders, links).
pub fn tar_entries(bytes: &[u8]) -> TarEntries {
    let data = gunzip_if_gzip(bytes);
    let mut archive = tar::Archive::new(&data[..]);
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        out.insert(
            entry.path().unwrap().display().to_string(),
            (
                h.entry_type().as_byte(),
                h.mode().unwrap_or(0),
                h.mtime().unwrap_or(0),
            ),
        );
    }
    out
}

/// The bytes, gunzipped when they start with gzip's magic number.
pub fn gunzip_if_gzip(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        bytes.to_vec()
    }
}

/// An OCI image layout read from a tar (`--output type=oci,dest=….tar`, `docker save`).
#[derive(Debug)]
pub struct OciLayout {
    /// path → bytes of every file in the tar.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// One platform's image in an index: its platform, manifest digest, manifest and config.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// The manifest's digest.
    pub digest: String,
    /// The manifest.
    pub manifest: Value,
    /// The image config.
    pub config: Value,
}

impl PlatformImage {
    /// The layer digests, bottom to top.
    pub fn layer_digests(&self) -> Vec<String> {
        self.manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    }
}

impl OciLayout {
    /// Reads the tar at `path`.
    pub fn read(path: &Path) -> Self {
        OciLayout {
            files: tar_files(&std::fs::read(path).unwrap()),
        }
    }

    /// The blob with `digest` (`sha256:…`).
    pub fn blob(&self, digest: &str) -> &[u8] {
        let p = format!("blobs/{}", digest.replacen(':', "/", 1));
        self.files
            .get(&p)
            .unwrap_or_else(|| panic!("no blob {digest} in the layout"))
    }

    /// A blob as JSON.
    pub fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(self.blob(digest)).unwrap()
    }

    /// The images of the layout per platform, following indexes from `index.json` down and
    /// leaving out attestation manifests (platform `unknown/unknown`).
    pub fn images(&self) -> Vec<PlatformImage> {
        let index: Value = serde_json::from_slice(&self.files["index.json"]).unwrap();
        let mut out = Vec::new();
        walk_index(&index, &|d| self.json(d), &mut out);
        out
    }
}

/// Collects the platform images below an index; `fetch` reads a blob as JSON (from a
/// layout, or from a registry).
pub fn walk_index(index: &Value, fetch: &dyn Fn(&str) -> Value, out: &mut Vec<PlatformImage>) {
    for m in index["manifests"].as_array().into_iter().flatten() {
        let digest = m["digest"].as_str().unwrap();
        let media = m["mediaType"].as_str().unwrap_or("");
        if media.contains("index") || media.contains("manifest.list") {
            walk_index(&fetch(digest), fetch, out);
            continue;
        }
        let platform = &m["platform"];
        if platform["os"] == "unknown" {
            continue;
        }
        let manifest = fetch(digest);
        let config = fetch(manifest["config"]["digest"].as_str().unwrap());
        let mut p = format!(
            "{}/{}",
            config["os"].as_str().unwrap_or(""),
            config["architecture"].as_str().unwrap_or("")
        );
        if let Some(v) = config["variant"].as_str() {
            p.push('/');
            p.push_str(v);
        }
        out.push(PlatformImage {
            platform: p,
            digest: digest.to_string(),
            manifest,
            config,
        });
    }
}
