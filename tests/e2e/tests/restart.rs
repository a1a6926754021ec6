//! A build interrupted midway by an engine crash (dockerd killed with SIGKILL, then started
//! again on the same data-root by `scripts/engine restart --kill`) succeeds when re-run, with
//! the right content and a build cache that still works.
//!
//! It restarts the engine, so scripts/test runs this file alone (`--test restart`) and last
//! on its engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{
    FileServer, Project, busybox_image, engine, nonce, sha256, tar_gz, vertex_cached,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_build_interrupted_by_an_engine_crash_succeeds_when_run_again() {
    let Some(docker) = engine() else { return };
    let n = nonce();
    let server = FileServer::start();
    let bytes = tar_gz("hello", &format!("#!/bin/sh\necho hello {n}\n"));
    let url = server.put(&format!("restart-{n}.tar.gz"), bytes.clone());
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {base}
  run: [echo foundation-{n} > /foundation.txt]
extension:
  run: [echo started-{n} && sleep 20 && echo done-{n} > /extension.txt]
harness:
  binaries:
    hello:
      url: {url}
      sha256: \"{sum}\"
      extract: hello
",
        base = busybox_image(),
        sum = sha256(&bytes)
    ));
    let tag = "aishell-e2e/restart";
    let spec = project.path().join(".aishell/image.yaml");

    // Start the build and wait until the extension's RUN is running.
    let mut child = Command::new("docker")
        .args([
            "buildx",
            "build",
            "--progress=plain",
            "--load",
            "-t",
            tag,
            "-f",
        ])
        .arg(&spec)
        .arg(project.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start docker buildx build");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let marker = format!("started-{n}");
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(&marker) && !line.contains("echo started") => break,
            Ok(_) => {}
            Err(e) => panic!("the extension step never started ({e})"),
        }
    }

    // Crash the engine mid-step and bring it back.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/engine");
    let restart = Command::new(&script)
        .args(["restart", "--kill"])
        .output()
        .expect("run scripts/engine restart");
    assert!(
        restart.status.success(),
        "scripts/engine restart --kill failed:\n{}",
        String::from_utf8_lossy(&restart.stderr)
    );
    let status = child.wait().unwrap();
    let interrupted = reader.join().unwrap();
    assert!(
        !status.success(),
        "the interrupted build cannot have succeeded:\n{interrupted}"
    );

    // The same build again: it succeeds and the image is complete.
    let again = docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(
        docker.sh(tag, "cat /foundation.txt /extension.txt; hello"),
        format!("foundation-{n}\ndone-{n}\nhello {n}\n")
    );
    // The tool was verified and kept before the crash or fetched again after it; either way
    // the engine's cache is usable: a third build runs nothing.
    assert!(again.stderr.contains("[extension] run"), "{}", again.stderr);
    let third = docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(
        vertex_cached(&third.stderr, "[extension] run"),
        Some(true),
        "{}",
        third.stderr
    );
    assert_eq!(
        vertex_cached(&third.stderr, "[foundation] run"),
        Some(true),
        "{}",
        third.stderr
    );
    docker.rmi(&[tag]);
}
