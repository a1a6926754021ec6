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
use aishell_frontend::graph::cross;
use aishell_frontend::spec::platform::Platform;
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

/// gemini-cli's install scripts pick native modules (keytar copies its prebuilt for
/// `process.arch`), and its package ships an x86-64 file among its musl prebuilds: the
/// issue allows "works or is refused with the way out"; with the target shown to the
/// scripts and musl prebuilds skipped on glibc, it works.
#[test]
fn gemini_cli_is_cross_installed_and_runs() {
    let Some(docker) = engine() else { return };
    let _g = CACHE.read().unwrap_or_else(|e| e.into_inner());
    tag_foundations(&docker);
    let project = Project::new();
    project.spec(&spec("    \"@google/gemini-cli\": \"0.61.0\""));
    let r = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/cross-gemini:1",
        &["--platform", "linux/arm64"],
    );
    let name = "[harness] npm @google/gemini-cli@0.61.0 (cross-installed on linux/amd64)";
    assert!(
        vertex_cached(&r.stderr, name).is_some(),
        "{name}:\n{}",
        r.stderr
    );
    let v = arm64(&docker, "aishell-e2e/cross-gemini:1", "gemini --version");
    assert!(v.contains("0.61.0"), "{v}");
    // Its keychain module is the arm64 one (keytar's install script copied its prebuilt for
    // the `process.arch` it was shown): ELF machine 183, and node on arm64 gets as far as its
    // libraries (the test image has no libsecret; a wrong architecture fails before that).
    let keytar = arm64(
        &docker,
        "aishell-e2e/cross-gemini:1",
        "cd /tools/npm/lib/node_modules/@google/gemini-cli/node_modules/@github/keytar && \
         od -An -tu2 -j18 -N2 build/Release/keytar.node; \
         node -e 'require(\"./build/Release/keytar.node\")' 2>&1 | grep -o 'libsecret-1.so.0' | head -n 1",
    );
    assert_eq!(
        keytar.split_whitespace().collect::<Vec<_>>(),
        ["183", "libsecret-1.so.0"],
        "{keytar}"
    );
    docker.rmi(&["aishell-e2e/cross-gemini:1"]);
}

/// The architecture check of a cross install, run as the install step runs it (the same
/// shell line and environment) in the amd64 test image (glibc, node) on a tree of amd64
/// ELF files (`/bin/true`), for an arm64 target: files in folders of another architecture
/// or of musl's prebuilds are skipped, every other one is named, and the step fails with the
/// way out.
#[test]
fn the_architecture_check_names_files_for_another_architecture() {
    let Some(docker) = engine() else { return };
    let target = Platform::parse("linux/arm64").unwrap();
    let check = cross::elf_check_command(
        "/tools/npm",
        "example-tool",
        "1.0.0",
        &target,
        &Platform::linux_amd64(),
    );
    let env: Vec<String> = cross::install_env(&target)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let run = |files: &[&str]| {
        let tool = "/tools/npm/lib/node_modules/example-tool";
        let mut script = String::from("set -e; ");
        for f in files {
            script += &format!("mkdir -p $(dirname {tool}/{f}); cp /bin/true {tool}/{f}; ");
        }
        // A text file and a short file are not ELF files.
        script += &format!("echo '#!/bin/sh' > {tool}/cli.sh; printf '\\177E' > {tool}/short; ");
        script += &check;
        let mut args = vec!["run", "--rm"];
        for e in &env {
            args.extend(["-e", e.as_str()]);
        }
        let image = debian_image();
        args.extend([image.as_str(), "/bin/sh", "-c", &script]);
        docker.cmd(&args)
    };
    let skipped = [
        "prebuilds/linux-x64/keytar.node",
        "prebuilds/linuxmusl-arm64/keytar.node",
        "vendor/x86_64-unknown-linux-musl/codex/codex",
    ];
    let r = run(&skipped);
    assert!(r.ok, "only skipped folders hold amd64 files:\n{}", r.stderr);
    let wrong = [
        "build/Release/pty.node",
        "prebuilds/linux-arm64/keytar.node",
    ];
    let r = run(&[&skipped[..], &wrong[..]].concat());
    assert!(
        !r.ok,
        "amd64 files outside skipped folders pass:\n{}",
        r.stderr
    );
    for f in wrong {
        assert!(
            r.stderr
                .contains(&format!("example-tool/{f} (ELF machine 62)")),
            "{f}:\n{}",
            r.stderr
        );
    }
    for f in skipped {
        assert!(!r.stderr.contains(f), "{f} was checked:\n{}", r.stderr);
    }
    assert!(
        r.stderr.contains("npm install of example-tool@1.0.0 for linux/arm64 (cross-installed on linux/amd64) left the files above")
            && r.stderr.contains("\"example-tool\": {version: \"1.0.0\", emulate: true}"),
        "{}",
        r.stderr
    );
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
