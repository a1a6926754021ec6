//! The model's consequences with real npm harness tools (from the npm registry) on a
//! Debian foundation with node and npm, built through `# syntax=` on a merging engine:
//! 1. a version bump rebuilds that tool's layer only;
//! 2. projects with different extensions share byte-identical harness layers;
//! 3. changing the extension re-installs no harness tool;
//! 4. changing the foundation rebuilds everything above it;
//! 5. two tools providing the same file are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{
    Docker, FileServer, Project, bridge_gateway, debian_image, engine, tar_gz_files, vertex_cached,
};

fn spec(foundation_runs: &[&str], extension: &str, semver: &str) -> String {
    let runs: String = foundation_runs
        .iter()
        .map(|r| format!("    - {r}\n"))
        .collect();
    format!(
        "version: 1
foundation:
  from: {base}
  run:
{runs}extension:
  run:
    - {extension}
harness:
  npm:
    uuid: \"9.0.1\"
    semver: \"{semver}\"
image:
  cmd: [/bin/bash]
",
        base = debian_image()
    )
}

fn build(docker: &Docker, project: &Project, tag: &str) -> String {
    docker
        .build_ok(project.path(), ".aishell/image.yaml", tag, &[])
        .stderr
}

#[test]
fn npm_tools_are_independent_layers() {
    let Some(docker) = engine() else { return };
    let a = Project::new();
    a.spec(&spec(&["echo f1 > /f1"], "echo extA > /ext", "7.6.0"));
    build(&docker, &a, "aishell-e2e/npm:a1");
    let out = docker.sh(
        "aishell-e2e/npm:a1",
        "cat /f1 /ext; semver 1.2.3; uuid | wc -c; echo $NODE_PATH",
    );
    assert_eq!(out, "f1\nextA\n1.2.3\n37\n/tools/npm/lib/node_modules\n");
    let a1 = docker.layers("aishell-e2e/npm:a1");
    let n = a1.len(); // debian…, f1, extension, semver, uuid
    assert!(n >= 5, "{a1:?}");
    let labels = &docker.config("aishell-e2e/npm:a1")["Labels"];
    assert_eq!(labels["dev.aishell.harness.semver"], "7.6.0");
    assert_eq!(labels["dev.aishell.harness.uuid"], "9.0.1");
    // Nothing but the harness prefix in the tool layers: npm's cache stayed in a cache mount.
    // (The merge guards would also have refused a tool layer writing outside /tools.)
    assert_eq!(
        docker.sh("aishell-e2e/npm:a1", "test ! -e /root/.npm && echo clean"),
        "clean\n"
    );

    // 1. Bump one tool: only its layer changes; the extension is not re-run.
    a.spec(&spec(&["echo f1 > /f1"], "echo extA > /ext", "7.6.3"));
    let log = build(&docker, &a, "aishell-e2e/npm:a2");
    let a2 = docker.layers("aishell-e2e/npm:a2");
    assert_eq!(a2.len(), n);
    assert_eq!(
        a1[..n - 2],
        a2[..n - 2],
        "foundation and extension keep their diffIDs"
    );
    assert_ne!(a1[n - 2], a2[n - 2], "semver's layer changes");
    assert_eq!(a1[n - 1], a2[n - 1], "uuid's layer is untouched");
    assert_eq!(
        vertex_cached(&log, "[extension] run echo extA"),
        Some(true),
        "{log}"
    );
    assert_eq!(
        vertex_cached(&log, "[harness] npm uuid@9.0.1"),
        Some(true),
        "{log}"
    );
    // NODE_PATH makes the tools' packages requirable.
    assert_eq!(
        docker.sh(
            "aishell-e2e/npm:a2",
            "node -p \"require('semver/package.json').version\""
        ),
        "7.6.3\n"
    );

    // 2. Another project, another extension, same foundation and harness: same tool layers,
    //    and no tool installed again.
    let b = Project::new();
    b.spec(&spec(&["echo f1 > /f1"], "echo extB > /ext", "7.6.3"));
    let log = build(&docker, &b, "aishell-e2e/npm:b");
    let bl = docker.layers("aishell-e2e/npm:b");
    assert_eq!(
        bl[n - 2..],
        a2[n - 2..],
        "harness layers are byte-identical across projects"
    );
    assert_ne!(bl[n - 3], a2[n - 3], "the extensions differ");
    assert_eq!(
        vertex_cached(&log, "[harness] npm semver@7.6.3"),
        Some(true),
        "{log}"
    );

    // 3. Change the extension: no harness tool is re-installed. (The new content is unique
    //    to this run, so a warm engine cannot have it cached already.)
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let ext2 = format!("echo extA2-{nonce} > /ext");
    a.spec(&spec(&["echo f1 > /f1"], &ext2, "7.6.3"));
    let log = build(&docker, &a, "aishell-e2e/npm:a3");
    assert_eq!(
        vertex_cached(&log, &format!("[extension] run echo extA2-{nonce}")),
        Some(false),
        "{log}"
    );
    assert_eq!(
        vertex_cached(&log, "[harness] npm semver@7.6.3"),
        Some(true),
        "{log}"
    );
    assert_eq!(
        vertex_cached(&log, "[harness] npm uuid@9.0.1"),
        Some(true),
        "{log}"
    );
    assert_eq!(docker.layers("aishell-e2e/npm:a3")[n - 2..], a2[n - 2..]);

    // 4. Change the foundation: everything above it is rebuilt (no silent rebase).
    let f2 = format!("echo f2-{nonce} > /f2");
    a.spec(&spec(&["echo f1 > /f1", &f2], &ext2, "7.6.3"));
    let log = build(&docker, &a, "aishell-e2e/npm:a4");
    assert_eq!(
        vertex_cached(&log, &format!("[extension] run echo extA2-{nonce}")),
        Some(false),
        "{log}"
    );
    assert_eq!(
        vertex_cached(&log, "[harness] npm semver@7.6.3"),
        Some(false),
        "{log}"
    );
    assert_eq!(
        vertex_cached(&log, "[harness] npm uuid@9.0.1"),
        Some(false),
        "{log}"
    );
    assert_eq!(
        docker.sh("aishell-e2e/npm:a4", "cat /f2 /ext; semver 2.0.0"),
        format!("f2-{nonce}\nextA2-{nonce}\n2.0.0\n")
    );
    docker.rmi(&[
        "aishell-e2e/npm:a1",
        "aishell-e2e/npm:a2",
        "aishell-e2e/npm:a3",
        "aishell-e2e/npm:a4",
        "aishell-e2e/npm:b",
    ]);
}

#[test]
fn two_npm_tools_with_the_same_bin_are_refused() {
    let Some(docker) = engine() else { return };
    let p = Project::new();
    p.spec(&format!(
        "version: 1
foundation:
  from: {}
harness:
  npm:
    uglify-js: \"3.19.3\"
    uglify-es: \"3.3.10\"
",
        debian_image()
    ));
    let r = docker.build(
        p.path(),
        ".aishell/image.yaml",
        "aishell-e2e/npm:collide",
        &[],
    );
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("harness tools uglify-es and uglify-js both provide /tools/npm/bin/uglifyjs"),
        "{}",
        r.stderr
    );
}

/// A tiny npm registry for packages made up by a test, served on the engine's bridge so the
/// `npm install` steps (in their own network namespace) reach it. Each package has a bin
/// and a `postinstall` script; returns the registry URL.
fn fake_registry(packages: &[(&str, &str)]) -> (FileServer, String) {
    let server = FileServer::start_at(&bridge_gateway());
    let base = server.base.clone();
    for (name, postinstall) in packages {
        let manifest = serde_json::json!({
            "name": name,
            "version": "1.0.0",
            "bin": {*name: "cli.js"},
            "scripts": {"postinstall": postinstall},
        });
        let tarball = tar_gz_files(&[
            ("package/package.json", &manifest.to_string(), 0o644),
            (
                "package/cli.js",
                &format!("#!/usr/bin/env node\nconsole.log('{name} ran')\n"),
                0o755,
            ),
        ]);
        let url = server.put(&format!("{name}/-/{name}-1.0.0.tgz"), tarball);
        let mut version = manifest.clone();
        version["dist"] = serde_json::json!({"tarball": url});
        let packument = serde_json::json!({
            "name": name,
            "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": version},
        });
        server.put(name, packument.to_string().into_bytes());
    }
    (server, format!("{base}/"))
}

fn spec_with_registry(registry: &str, packages: &[&str]) -> String {
    let npm: String = packages
        .iter()
        .map(|p| format!("    {p}: \"1.0.0\"\n"))
        .collect();
    format!(
        "version: 1
foundation:
  from: {base}
  run:
    - echo victim > /etc/aishell-victim
  env:
    npm_config_registry: {registry}
harness:
  npm:
{npm}",
        base = debian_image()
    )
}

#[test]
fn an_npm_tool_whose_install_deletes_a_foundation_file_is_refused() {
    let Some(docker) = engine() else { return };
    let n = format!("{:x}", std::process::id());
    let clean = format!("aishell-e2e-clean-{n}");
    let evil = format!("aishell-e2e-evil-{n}");
    let (_server, registry) =
        fake_registry(&[(&clean, "true"), (&evil, "rm -f /etc/aishell-victim")]);

    // A package whose install script only adds under the prefix installs and runs.
    let p = Project::new();
    p.spec(&spec_with_registry(&registry, &[&clean]));
    let tag = "aishell-e2e/npm:fake-clean";
    docker.build_ok(p.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(
        docker.sh(tag, &format!("{clean}; cat /etc/aishell-victim")),
        format!("{clean} ran\nvictim\n")
    );
    docker.rmi(&[tag]);

    // Its layer is a diff against the foundation: the deletion would be a whiteout that
    // removes the file from the image. The install step itself notices and fails.
    p.spec(&spec_with_registry(&registry, &[&evil]));
    let r = docker.build(
        p.path(),
        ".aishell/image.yaml",
        "aishell-e2e/npm:fake-evil",
        &[],
    );
    assert!(!r.ok, "an install deleting a foundation file must fail");
    assert!(
        r.stderr.contains(&format!(
            "npm install of {evil}@1.0.0 deleted files outside /tools"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("/etc/aishell-victim"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("[harness] npm {evil}@1.0.0")),
        "the failing step is named:\n{}",
        r.stderr
    );
}

#[test]
fn an_npm_tool_whose_install_writes_outside_the_prefix_is_refused() {
    let Some(docker) = engine() else { return };
    let n = format!("{:x}", std::process::id());
    let litter = format!("aishell-e2e-litter-{n}");
    let (_server, registry) = fake_registry(&[(
        &litter,
        "mkdir -p /usr/local/share/litter && echo x > /etc/aishell-litter",
    )]);
    let p = Project::new();
    p.spec(&spec_with_registry(&registry, &[&litter]));
    let r = docker.build(
        p.path(),
        ".aishell/image.yaml",
        "aishell-e2e/npm:fake-litter",
        &[],
    );
    assert!(!r.ok, "a tool writing outside the prefix must be refused");
    assert!(
        r.stderr.contains(&format!(
            "harness tool {litter} writes outside the harness prefix: /etc, /usr"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("image.yaml:"), "{}", r.stderr);
}
