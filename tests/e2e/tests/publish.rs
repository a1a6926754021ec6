//! Publishing through a registry, as docs/getting-started.md ("With a registry") and
//! docs/buildx.md (`docker-bake.hcl`) show it, against a private `docker-registry` on
//! 127.0.0.1:
//! * the frontend image made by `AISHELL_FRONTEND_IMAGE=… scripts/frontend-image`, pushed, and
//!   pulled back by the builder from a spec's `# syntax=` line;
//! * `docker buildx bake --push` and `docker buildx bake harness` with the bake file of the
//!   docs, unchanged, for both platforms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{
    Docker, FileServer, OciLayout, Project, Registry, busybox_image, engine, gunzip_if_gzip, nonce,
    required, sha256, tar_files, tar_gz,
};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ok(cmd: &mut Command) -> String {
    let out = aishell_e2e::output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Builds, as `image`, a spec whose `# syntax=` line names `frontend` (a busybox foundation and
/// one binary tool that prints `<says> <nonce>`), and checks that the tool runs.
fn builds_and_runs_through(docker: &Docker, frontend: &str, image: &str, says: &str) {
    let server = FileServer::start();
    let n = nonce();
    let bytes = tar_gz("hello", &format!("#!/bin/sh\necho {says} {n}\n"));
    let url = server.put("hello.tar.gz", bytes.clone());
    let project = Project::new();
    project.write(
        ".aishell/image.yaml",
        &format!(
            "# syntax={frontend}
version: 1
foundation:
  from: {base}
harness:
  binaries:
    hello: {{url: \"{url}\", sha256: \"{sum}\", extract: hello}}
",
            base = busybox_image(),
            sum = sha256(&bytes)
        ),
    );
    docker.build_ok(project.path(), ".aishell/image.yaml", image, &[]);
    assert_eq!(docker.sh(image, "hello"), format!("{says} {n}\n"));
}

#[test]
fn the_frontend_image_is_published_to_a_registry_and_pulled_from_it() {
    let Some(docker) = engine() else { return };
    let Some(reg) = Registry::start() else { return };
    let name = format!("{}/org/aishell-frontend:e2e-{}", reg.host, nonce());
    ok(Command::new(repo_root().join("scripts/frontend-image"))
        .env("AISHELL_FRONTEND_IMAGE", &name));
    let r = docker.cmd(&["push", &name]);
    assert!(r.ok, "docker push {name}: {}", r.stderr);
    // Only the registry has it now: the builder must pull it for `# syntax=`.
    docker.rmi(&[&name]);
    assert!(!docker.cmd(&["image", "inspect", &name]).ok);

    let tag = "aishell-e2e/published";
    builds_and_runs_through(&docker, &name, tag, "published");
    // BuildKit itself (not the docker client's push) asked the registry for the frontend.
    // (The layer may still be in the engine's content store after `rmi`, so it need not be
    // downloaded again.)
    let log = reg.log();
    assert!(
        log.lines().any(|l| l.contains("/v2/org/aishell-frontend/manifests/")
            && l.contains("\"buildkit/")),
        "the builder resolved the frontend through the registry:\n{log}"
    );
    docker.rmi(&[tag, &name]);
}

/// The ```hcl block of docs/buildx.md.
fn bake_file_of_the_docs() -> String {
    let docs = std::fs::read_to_string(repo_root().join("docs/buildx.md")).unwrap();
    let start = docs.find("```hcl\n").expect("an hcl block") + 7;
    let end = start + docs[start..].find("```").unwrap();
    docs[start..end].to_string()
}

#[test]
fn the_bake_file_of_the_docs_pushes_the_image_and_exports_the_harness() {
    let Some(docker) = engine() else { return };
    if !docker.has_buildx() {
        return;
    }
    let Some(reg) = Registry::start() else { return };
    let n = nonce();

    // A foundation for both platforms in the registry: one file, no program to run, so no
    // emulation is needed for arm64.
    let base = Project::new();
    base.write("Dockerfile", "FROM scratch\nCOPY marker /marker\n");
    base.write("marker", &format!("foundation {n}\n"));
    let foundation = format!("{}/org/foundation:{n}", reg.host);
    ok(Command::new("docker")
        .args(["buildx", "build", "--provenance=false", "--push"])
        .args(["--platform", "linux/amd64,linux/arm64", "-t", &foundation])
        .arg(base.path()));

    let server = FileServer::start();
    let amd = tar_gz("hello", &format!("#!/bin/sh\necho amd64 {n}\n"));
    let arm = tar_gz("hello", &format!("#!/bin/sh\necho arm64 {n}\n"));
    let amd_url = server.put("hello-amd64.tar.gz", amd.clone());
    let arm_url = server.put("hello-arm64.tar.gz", arm.clone());
    let project = Project::new();
    project.spec(&format!(
        "version: 1
args:
  CODEX_VERSION: \"0.1.0\"
foundation:
  from: {foundation}
harness:
  binaries:
    hello:
      url:
        linux/amd64: \"{amd_url}\"
        linux/arm64: \"{arm_url}\"
      sha256:
        linux/amd64: \"{}\"
        linux/arm64: \"{}\"
      extract: hello
",
        sha256(&amd),
        sha256(&arm)
    ));
    project.write("docker-bake.hcl", &bake_file_of_the_docs());
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".npmrc"), "; no token needed here\n").unwrap();
    let bake = |args: &[&str]| {
        ok(Command::new("docker")
            .current_dir(project.path())
            .env("REGISTRY", format!("{}/org", reg.host))
            .env("HOME", home.path())
            .args(["buildx", "bake", "--progress=plain"])
            .args(args))
    };

    // docker buildx bake --push: the image for both platforms, and the cache.
    bake(&["--push"]);
    let images = reg.images("org/aishell", "ext-myproject");
    let platforms: BTreeSet<&str> = images.iter().map(|i| i.platform.as_str()).collect();
    assert_eq!(
        platforms,
        BTreeSet::from(["linux/amd64", "linux/arm64"]),
        "{images:?}"
    );
    for image in &images {
        // The foundation's layer and the tool's.
        assert_eq!(image.layer_digests().len(), 2, "{}", image.platform);
        let env = image.config["config"]["Env"].to_string();
        assert!(env.contains("/tools/bin"), "{env}");
    }
    assert_ne!(images[0].layer_digests()[1], images[1].layer_digests()[1]);
    reg.manifest("org/aishell", "buildcache");

    // docker buildx bake harness: harness.tar beside the bake file, one tool layer per
    // platform.
    bake(&["harness"]);
    let layout = OciLayout::read(&project.path().join("harness.tar"));
    let harness = layout.images();
    assert_eq!(harness.len(), 2, "{harness:?}");
    for image in &harness {
        let layers = image.layer_digests();
        assert_eq!(layers.len(), 1, "{}", image.platform);
        let files = tar_files(&gunzip_if_gzip(layout.blob(&layers[0])));
        let hello = files
            .iter()
            .find(|(path, _)| path.trim_start_matches("./") == "tools/bin/hello")
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_else(|| panic!("no tools/bin/hello in {:?}", files.keys()));
        let arch = image.platform.rsplit('/').next().unwrap();
        assert!(hello.contains(&format!("echo {arch} {n}")), "{hello}");
    }
}

/// The stand-in for Docker Hub's rust image that `scripts/base-images --rust` makes.
const RUST_IMAGE: &str = "rust:1-bookworm";

/// Whether the rust image Dockerfile.frontend compiles in exists (a loud skip when it does not
/// and tests are not required; a failure when they are).
fn rust_image_ready(docker: &Docker) -> bool {
    let label = docker.cmd(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"dev.aishell.test.base\"}}",
        RUST_IMAGE,
    ]);
    if !label.ok {
        assert!(
            !required(),
            "no {RUST_IMAGE} image: scripts/base-images --rust makes a stand-in (scripts/test does)"
        );
        eprintln!("SKIPPED: no {RUST_IMAGE} image (scripts/base-images --rust)");
    }
    label.ok
}

/// `docker buildx build --progress=plain -f Dockerfile.frontend <args> .` from the
/// repository's root, as the docs show it; returns the build's log.
fn build_dockerfile_frontend(args: &[&str]) -> String {
    ok(Command::new("docker")
        .current_dir(repo_root())
        .args([
            "buildx",
            "build",
            "--progress=plain",
            "-f",
            "Dockerfile.frontend",
        ])
        .args(args)
        .arg("."))
}

#[test]
fn the_frontend_image_compiles_from_dockerfile_frontend_as_documented() {
    let Some(docker) = engine() else { return };
    if !docker.has_buildx() || !rust_image_ready(&docker) {
        return;
    }
    // The documented command, from the repository's root, under a name of this test's own
    // (the default name is the image every other test uses): the compiling stage runs.
    let tag = "aishell-e2e/frontend-compiled:1";
    let log = build_dockerfile_frontend(&["-t", tag]);
    assert!(
        log.contains("cargo build --release --locked"),
        "the compiling stage ran:\n{log}"
    );
    let config = docker.config(tag);
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/bin/aishell-frontend"])
    );
    assert_eq!(
        config["Labels"]["moby.buildkit.frontend.network.none"],
        "true"
    );
    assert!(
        config["Labels"]["moby.buildkit.frontend.caps"]
            .as_str()
            .unwrap()
            .contains("moby.buildkit.frontend.subrequests")
    );

    // It works as a frontend.
    let image = "aishell-e2e/compiled-frontend-built";
    builds_and_runs_through(&docker, tag, image, "compiled");
    docker.rmi(&[image, tag]);
}

/// The ELF machine (`e_machine`) of an executable, and whether it asks for a program
/// interpreter (`PT_INTERP`: a dynamically linked program, which an empty image cannot run).
fn elf_machine_and_interp(bytes: &[u8]) -> (u16, bool) {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (usize::from(u16_at(54)), usize::from(u16_at(56)));
    let interp = (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) == 3
    });
    (u16_at(18), interp)
}

/// Runs an arm64 program (made executable here) under user-mode emulation (`qemu-aarch64-static`, Debian package
/// qemu-user-static, which scripts/test installs) and returns its stdout; `None` after a loud
/// message when the emulator is missing and tests are not required.
fn run_arm64(program: &Path, args: &[&Path]) -> Option<String> {
    let qemu = ["qemu-aarch64-static", "qemu-aarch64"]
        .into_iter()
        .find(|q| Command::new(q).arg("--version").output().is_ok());
    let Some(qemu) = qemu else {
        assert!(
            !required(),
            "no qemu-aarch64-static (Debian package qemu-user-static; scripts/test installs it)"
        );
        eprintln!("SKIPPED running the arm64 binary: no qemu-aarch64-static");
        return None;
    };
    std::fs::set_permissions(program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(qemu).arg(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{qemu} {program:?} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_frontend_image_is_compiled_for_two_platforms_and_pushed_as_documented() {
    let Some(docker) = engine() else { return };
    if !docker.has_buildx() || !rust_image_ready(&docker) {
        return;
    }
    let Some(reg) = Registry::start() else { return };
    // The documented command from the repository's root, with the registry of this test in
    // place of ghcr.io.
    let tag = format!("e2e-{}", nonce());
    let name = format!("{}/org/aishell-frontend:{tag}", reg.host);
    let log = build_dockerfile_frontend(&[
        "--platform",
        "linux/amd64,linux/arm64",
        "-t",
        &name,
        "--push",
    ]);
    // arm64 is cross-compiled on the build platform, not emulated.
    assert!(
        log.contains("cross-compiling for arm64 on amd64"),
        "the arm64 binary was cross-compiled:\n{log}"
    );

    let images = reg.images("org/aishell-frontend", &tag);
    let platforms: BTreeSet<&str> = images.iter().map(|i| i.platform.as_str()).collect();
    assert_eq!(
        platforms,
        BTreeSet::from(["linux/amd64", "linux/arm64"]),
        "{images:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut binaries = std::collections::BTreeMap::new();
    for image in &images {
        let config = &image.config["config"];
        assert_eq!(
            config["Entrypoint"],
            serde_json::json!(["/bin/aishell-frontend"])
        );
        assert!(
            config["Labels"]["moby.buildkit.frontend.caps"]
                .as_str()
                .unwrap()
                .contains("moby.buildkit.frontend.subrequests"),
            "{config}"
        );
        // One layer: the binary alone, for the image's own architecture, statically linked.
        let layers = image.layer_digests();
        assert_eq!(layers.len(), 1, "{}", image.platform);
        let files = tar_files(&gunzip_if_gzip(
            &reg.blob("org/aishell-frontend", &layers[0]),
        ));
        let binary = files
            .iter()
            .find(|(path, _)| path.trim_start_matches("./") == "bin/aishell-frontend")
            .map(|(_, bytes)| bytes.clone())
            .unwrap_or_else(|| panic!("no bin/aishell-frontend in {:?}", files.keys()));
        let (machine, interp) = elf_machine_and_interp(&binary);
        let want = match image.platform.as_str() {
            "linux/amd64" => 0x3e, // EM_X86_64
            _ => 0xb7,             // EM_AARCH64
        };
        assert_eq!(
            machine, want,
            "ELF machine of the {} binary",
            image.platform
        );
        assert!(!interp, "the {} binary is static", image.platform);
        let path = dir.path().join(format!("aishell-frontend-{}", want));
        std::fs::write(&path, &binary).unwrap();
        binaries.insert(image.platform.clone(), path);
    }

    // Both binaries run and plan the same graph (the same digests) for the hello example:
    // the amd64 one natively, the arm64 one under user-mode emulation.
    let spec = repo_root().join("examples/hello/.aishell/image.yaml");
    let plan_args = [
        Path::new("plan"),
        &spec,
        Path::new("--platform"),
        Path::new("linux/arm64"),
        Path::new("--color"),
        Path::new("never"),
    ];
    let amd64 = binaries["linux/amd64"].clone();
    std::fs::set_permissions(&amd64, std::fs::Permissions::from_mode(0o755)).unwrap();
    let native = Command::new(&amd64).args(plan_args).output().unwrap();
    assert!(native.status.success(), "{native:?}");
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(native.contains("3 layers"), "{native}");
    if let Some(emulated) = run_arm64(&binaries["linux/arm64"], &plan_args) {
        assert_eq!(emulated, native, "the arm64 binary plans the same graph");
    }

    // The builder pulls the index for its own platform through `# syntax=` and it works.
    let image = "aishell-e2e/two-platform-frontend-built";
    builds_and_runs_through(&docker, &name, image, "multi");
    docker.rmi(&[image, &name]);
}
