//! End to end on Docker's classic image store, where MergeOp/DiffOp are disabled: a clear
//! error by default, a stacked build with `AISHELL_MERGE=stack`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{FileServer, Project, busybox_image, engine, sha256, tar_gz};

#[test]
fn no_merge_gives_the_capability_message_and_stack_mode_builds() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let data = tar_gz("hello", "#!/bin/sh\necho stacked\n");
    let url = server.put("hello.tar.gz", data.clone());
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {}
  run: [echo f > /f.txt]
extension:
  run: [echo e > /e.txt]
harness:
  binaries:
    hello: {{url: \"{url}\", sha256: \"{}\", extract: hello}}
",
        busybox_image(),
        sha256(&data)
    ));
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/classic",
        &[],
    );
    assert!(!r.ok, "the classic store cannot merge");
    assert!(r.stderr.contains("cannot merge layers"), "{}", r.stderr);
    assert!(r.stderr.contains("containerd image store"), "{}", r.stderr);
    assert!(r.stderr.contains("AISHELL_MERGE=stack"), "{}", r.stderr);

    let ok = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/classic",
        &["--build-arg", "AISHELL_MERGE=stack"],
    );
    // The warning itself, not just "stack" (which vertex names also hold). Docker 26.1's
    // BuildKit shows frontend warnings; Docker 20.10's BuildKit 0.8 has no warnings, and
    // the frontend's best-effort warning is dropped there.
    let major: u32 = docker
        .server_version()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major >= 26 {
        assert!(
            ok.stderr.contains(
                "AISHELL_MERGE=stack: building stacked layers (harness on top of the extension)"
            ),
            "a warning says it is stacked:\n{}",
            ok.stderr
        );
    }
    assert_eq!(
        docker.sh("aishell-e2e/classic", "cat /f.txt /e.txt; hello"),
        "f\ne\nstacked\n"
    );
    docker.rmi(&["aishell-e2e/classic"]);
}
