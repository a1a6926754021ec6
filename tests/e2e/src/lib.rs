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

fn required() -> bool {
    let set = |k: &str| {
        std::env::var(k)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    };
    set("CI") || set("AISHELL_E2E")
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

/// The Docker client pointed at the test engine.
#[derive(Debug, Clone, Copy)]
pub struct Docker;

impl Docker {
    /// Runs `docker ARGS` and returns its output.
    pub fn cmd(&self, args: &[&str]) -> Run {
        Command::new("docker")
            .args(args)
            .output()
            .expect("run docker")
            .into()
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
        let r: Run = Command::new("docker")
            .args(&args)
            .output()
            .expect("run docker buildx")
            .into();
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
    total: Arc<AtomicUsize>,
}

impl FileServer {
    /// Starts a server on a free port; it lives as long as the test process.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let total = Arc::new(AtomicUsize::new(0));
        let (f, h, t) = (files.clone(), hits.clone(), total.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (f, h, t) = (f.clone(), h.clone(), t.clone());
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
            total,
        }
    }

    /// Serves `bytes` at `/name` and returns the URL.
    pub fn put(&self, name: &str, bytes: Vec<u8>) -> String {
        self.files.lock().unwrap().insert(format!("/{name}"), bytes);
        format!("{}/{name}", self.base)
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

/// Lower-case hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A gzipped tar with one executable file `name` (a shell script).
pub fn tar_gz(name: &str, script: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let data = script.as_bytes();
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    builder.append_data(&mut header, name, data).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
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
