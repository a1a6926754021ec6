//! Multi-platform images without emulating the harness (docs/spec.md, "Cross-installed npm
//! tools"), on an amd64 engine with the containerd image store: the arm64 image's npm tools
//! are installed natively on the amd64 foundation for arm64, merged onto the arm64
//! foundation, and run under QEMU (binfmt, registered by `scripts/base-images --arm64`).
//! The foundations are `aishell-test/debian` for each architecture, named per platform with
//! `${TARGETARCH}`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{
    Docker, OciLayout, Project, debian_arm64_image, debian_image, engine, nonce, vertex_cached,
};
use std::sync::RwLock;

/// The reproducibility test empties the builder cache: it takes the write side, the others
/// the read side.
static CACHE: RwLock<()> = RwLock::new(());

/// The per-platform foundation names the specs use, tagged from the two test images.
fn tag_foundations(docker: &Docker) {
    for (image, arch) in [(debian_image(), "amd64"), (debian_arm64_image(), "arm64")] {
        let r = docker.cmd(&["tag", &image, &format!("aishell-test/debian-{arch}:trixie")]);
        assert!(
            r.ok,
            "{image} (scripts/base-images --debian --arm64): {}",
            r.stderr
        );
    }
}

fn spec(npm: &str) -> String {
    format!(
        "version: 1
foundation:
  from: aishell-test/debian-${{TARGETARCH}}:trixie
  run:
    - echo {} > /etc/aishell-e2e-nonce
harness:
  npm:
{npm}
",
        nonce()
    )
}

/// Runs `cmd` in the arm64 image of `image` (emulated) and returns its output.
fn arm64(docker: &Docker, image: &str, cmd: &str) -> String {
    let r = docker.cmd(&[
        "run",
        "--rm",
        "--platform",
        "linux/arm64",
        image,
        "/bin/sh",
        "-c",
        cmd,
    ]);
    assert!(r.ok, "{cmd}: {}", r.stderr);
    r.stdout
}

#[test]
fn the_arm64_image_gets_cross_installed_tools_that_run() {
    let Some(docker) = engine() else { return };
    let _g = CACHE.read().unwrap_or_else(|e| e.into_inner());
    tag_foundations(&docker);
    let project = Project::new();
    project.spec(&spec(
        "    \"@anthropic-ai/claude-code\": \"2.1.332\"\n    \"@openai/codex\": \"0.169.0\"",
    ));
    let r = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/cross:1",
        &["--platform", "linux/amd64,linux/arm64"],
    );
    // The arm64 installs ran on the amd64 foundation; none ran emulated.
    for tool in ["@anthropic-ai/claude-code@2.1.332", "@openai/codex@0.169.0"] {
        let name = format!("[linux/arm64] [harness] npm {tool} (cross-installed on linux/amd64)");
        assert!(
            vertex_cached(&r.stderr, &name).is_some(),
            "{name}:\n{}",
            r.stderr
        );
        assert!(
            !r.stderr
                .contains(&format!("[linux/arm64] [harness] npm {tool}\n")),
            "{tool} was installed under emulation:\n{}",
            r.stderr
        );
    }
    assert_eq!(
        arm64(&docker, "aishell-e2e/cross:1", "uname -m").trim(),
        "aarch64"
    );
    let claude = arm64(&docker, "aishell-e2e/cross:1", "claude --version");
    assert!(claude.contains("2.1.332"), "{claude}");
    let codex = arm64(&docker, "aishell-e2e/cross:1", "codex --version");
    assert!(codex.contains("0.169.0"), "{codex}");
    docker.rmi(&["aishell-e2e/cross:1"]);
}

/// gemini-cli's install scripts build native modules; cross-installed, it either works or
/// is refused by the architecture check with the way out.
#[test]
fn gemini_cli_works_or_is_refused_with_the_way_out() {
    let Some(docker) = engine() else { return };
    let _g = CACHE.read().unwrap_or_else(|e| e.into_inner());
    tag_foundations(&docker);
    let project = Project::new();
    project.spec(&spec("    \"@google/gemini-cli\": \"0.61.0\""));
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/cross-gemini:1",
        &["--platform", "linux/arm64"],
    );
    if r.ok {
        let v = arm64(&docker, "aishell-e2e/cross-gemini:1", "gemini --version");
        assert!(v.contains("0.61.0"), "{v}");
        docker.rmi(&["aishell-e2e/cross-gemini:1"]);
    } else {
        assert!(
            r.stderr.contains("emulate: true") && r.stderr.contains("@google/gemini-cli"),
            "{}",
            r.stderr
        );
    }
}

/// A cross-installed layer is the same bytes on every build: the harness target for
/// linux/arm64, twice from an empty builder cache.
#[test]
fn a_cross_installed_layer_is_reproducible() {
    let Some(docker) = engine() else { return };
    let _g = CACHE.write().unwrap_or_else(|e| e.into_inner());
    tag_foundations(&docker);
    let project = Project::new();
    project.spec(&spec("    debug: \"4.3.4\""));
    let layers = || {
        docker.prune_builder();
        let out = tempfile::tempdir().unwrap();
        let tar = out.path().join("oci.tar");
        docker.buildx_ok(
            project.path(),
            ".aishell/image.yaml",
            &[
                "--target",
                "harness",
                "--platform",
                "linux/arm64",
                "--provenance=false",
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "--output",
                &format!("type=oci,dest={},rewrite-timestamp=true", tar.display()),
            ],
        );
        let layout = OciLayout::read(&tar);
        let images = layout.images();
        assert_eq!(images[0].platform, "linux/arm64");
        images[0].layer_digests()
    };
    let a = layers();
    assert_eq!(a, layers());
    assert_eq!(a.len(), 1);
}
