//! The standalone-BuildKit leg of `scripts/test` (`scripts/engine up --docker 28 --buildkit`,
//! `AISHELL_E2E_BUILDKITD=1`): proof that the builds of that leg really go to the standalone
//! `buildkitd` through buildx's `remote` driver, as CI's docker-container, remote and
//! kubernetes drivers run them, and do not fall back to dockerd's embedded BuildKit.
//!
//! On other engines there is nothing to prove; the test says so and passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{Project, buildkitd_expected, busybox_image, engine, nonce};
use std::process::Command;

/// `buildctl ARGS` against `BUILDKIT_HOST`: `AISHELL_BUILDCTL`, else the `buildctl` that
/// `scripts/engine up --buildkit` puts on PATH.
fn buildctl(args: &[&str]) -> String {
    let program = std::env::var("AISHELL_BUILDCTL").unwrap_or_else(|_| "buildctl".into());
    let out = Command::new(&program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn builds_go_to_the_standalone_buildkitd() {
    let Some(docker) = engine() else { return };
    if !buildkitd_expected() {
        eprintln!(
            "SKIPPED: not the standalone-BuildKit leg (AISHELL_E2E_BUILDKITD is not 1); nothing to prove"
        );
        return;
    }
    let host = std::env::var("BUILDKIT_HOST")
        .expect("BUILDKIT_HOST (exported by `scripts/engine up --buildkit`)");

    // The current builder is a remote one on that socket: an OCI worker on overlayfs.
    let builder = docker.builder();
    assert_eq!(builder.driver, "remote", "{builder:?}");
    assert_eq!(builder.endpoint, host, "{builder:?}");
    assert!(builder.buildkit.starts_with('v'), "{builder:?}");
    let label = |k: &str| {
        builder
            .labels
            .get(&format!("org.mobyproject.buildkit.worker.{k}"))
            .map(String::as_str)
    };
    assert_eq!(label("executor"), Some("oci"), "{builder:?}");
    assert_eq!(label("snapshotter"), Some("overlayfs"), "{builder:?}");

    // A step unique to this run: its cache record is in buildkitd, none is in dockerd's
    // builder, and the image still reaches dockerd through --load.
    let run = nonce();
    let project = Project::new();
    project.spec(&format!(
        "version: 1\nfoundation:\n  from: {}\n  run:\n    - echo proof-{run} > /proof\n",
        busybox_image()
    ));
    let tag = format!("aishell-e2e/buildkitd:{run}");
    docker.build_ok(project.path(), ".aishell/image.yaml", &tag, &[]);
    assert_eq!(docker.sh(&tag, "cat /proof"), format!("proof-{run}\n"));

    let records = buildctl(&["--addr", &host, "du", "--verbose"]);
    assert!(
        records.contains(&format!("proof-{run}")),
        "buildkitd has no cache record of the step:\n{records}"
    );
    let dockerd = docker.cmd(&["buildx", "du", "--builder", "default", "--verbose"]);
    assert!(
        dockerd.ok,
        "docker buildx du --builder default: {}",
        dockerd.stderr
    );
    assert!(
        !dockerd.stdout.contains(&format!("proof-{run}")),
        "dockerd's builder ran the step:\n{}",
        dockerd.stdout
    );
    eprintln!(
        "built on {} (BuildKit {}, {}), loaded into dockerd {}",
        builder.name,
        builder.buildkit,
        builder.endpoint,
        docker.server_version()
    );
    docker.rmi(&[&tag]);
}
