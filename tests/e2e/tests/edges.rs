//! MergeOp/DiffOp edge cases that a spec can reach, built through the real engine and then
//! inspected inside the image: deletions (whiteouts) and recreated folders (opaque folders)
//! in the extension, folder metadata such as `/tmp` 1777, symlinked folders such as Debian's
//! `/lib -> usr/lib`, and the dpkg database, a single file that two parts both change.
//!
//! Where the merged image could differ from what a plain stacked build gives, the test
//! builds both (`AISHELL_MERGE=stack` is the stacked build of the same spec) and compares
//! what is inside.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{FileServer, Project, busybox_image, debian_image, engine, sha256, tar_gz};

/// A tiny tool served by `server`; returns the `harness:` block naming it.
fn hello_tool(server: &FileServer, slug: &str) -> String {
    let bytes = tar_gz("hello", &format!("#!/bin/sh\necho hello from {slug}\n"));
    let url = server.put(&format!("{slug}.tar.gz"), bytes.clone());
    format!(
        "harness:
  binaries:
    hello:
      url: {url}
      sha256: \"{}\"
      extract: hello
",
        sha256(&bytes)
    )
}

/// A spec on `base` with a one-step extension, the `harness:` block of [`hello_tool`] and a
/// harness prefix.
fn prefix_spec(base: &str, extension: &str, harness: &str, prefix: &str) -> String {
    format!(
        "version: 1
foundation:
  from: {base}
extension:
  run: [{extension}]
{harness}  prefix: {prefix}
"
    )
}

fn quoted(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| format!("    - {}\n", serde_json::to_string(l).unwrap()))
        .collect()
}

/// What the merged and the stacked image must agree on: every path under the folders the
/// test touches, with its type and mode, and the files' contents.
const LISTING: &str = "for p in $(find /opt /etc/aishell-found /etc/aishell-kept /tools 2>/dev/null | sort); do \
     if [ -L $p ]; then echo \"$p link\"; elif [ -d $p ]; then echo \"$p dir $(stat -c %a $p)\"; \
     else echo \"$p file $(stat -c %a $p) $(cat $p)\"; fi; done";

#[test]
fn deletions_and_recreated_folders_in_the_extension_match_a_stacked_build() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let foundation = quoted(&[
        "mkdir -p /opt/data /opt/keep && echo old > /opt/data/old && echo keep > /opt/keep/k",
        "echo gone > /opt/gone.txt && echo f > /etc/aishell-found && echo k > /etc/aishell-kept",
    ]);
    // The same changes as one step (a diff of one layer over the foundation) and as three
    // steps (a diff over a chain of layers): the engine computes them differently.
    let one_step = quoted(&[
        "rm /opt/gone.txt /etc/aishell-found && rm -rf /opt/data && mkdir /opt/data && echo new > /opt/data/new",
    ]);
    let three_steps = quoted(&[
        "rm /opt/gone.txt /etc/aishell-found",
        "rm -rf /opt/data",
        "mkdir /opt/data && echo new > /opt/data/new",
    ]);
    for (slug, extension) in [("one-step", one_step), ("three-steps", three_steps)] {
        let project = Project::new();
        project.spec(&format!(
            "version: 1
foundation:
  from: {base}
  run:
{foundation}extension:
  run:
{extension}{harness}",
            base = busybox_image(),
            harness = hello_tool(&server, &format!("edges-{slug}")),
        ));
        let merged = format!("aishell-e2e/edges-{slug}:merged");
        let stacked = format!("aishell-e2e/edges-{slug}:stacked");
        docker.build_ok(project.path(), ".aishell/image.yaml", &merged, &[]);
        docker.build_ok(
            project.path(),
            ".aishell/image.yaml",
            &stacked,
            &["--build-arg", "AISHELL_MERGE=stack"],
        );
        let inside = docker.sh(&merged, LISTING);
        // The deleted files are gone, the recreated folder holds only the new file, the
        // untouched ones are still there, and the tool is on top.
        assert!(!inside.contains("/opt/gone.txt"), "{slug}:\n{inside}");
        assert!(!inside.contains("/etc/aishell-found"), "{slug}:\n{inside}");
        assert!(!inside.contains("/opt/data/old"), "{slug}:\n{inside}");
        assert!(
            inside.contains("/opt/data/new file 644 new"),
            "{slug}:\n{inside}"
        );
        assert!(
            inside.contains("/opt/keep/k file 644 keep"),
            "{slug}:\n{inside}"
        );
        assert!(
            inside.contains("/etc/aishell-kept file"),
            "{slug}:\n{inside}"
        );
        assert_eq!(
            docker.sh(&merged, "hello"),
            format!("hello from edges-{slug}\n")
        );
        assert_eq!(
            inside,
            docker.sh(&stacked, LISTING),
            "{slug}: the merged image differs from the stacked build"
        );
        docker.rmi(&[&merged, &stacked]);
    }
}

#[test]
fn tmp_keeps_its_sticky_mode_and_a_prefix_that_would_change_it_is_refused() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();
    let harness = hello_tool(&server, "edges-tmp");
    let spec = |prefix: &str| {
        prefix_spec(
            &busybox_image(),
            "echo ext > /tmp/ext.txt && mkdir -p /var/tmp/x",
            &harness,
            prefix,
        )
    };
    project.spec(&spec("/tools"));
    let tag = "aishell-e2e/edges-tmp";
    docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(
        docker.sh(tag, "stat -c '%a %u:%g' /tmp /var/tmp / /tools /tools/bin"),
        "1777 0:0\n1777 0:0\n755 0:0\n755 0:0\n755 0:0\n"
    );
    docker.rmi(&[tag]);

    // A tool layer built from scratch brings its own /tmp (0755); the merge would let it
    // win over the foundation's 1777, so the guard refuses it and says why.
    project.spec(&spec("/tmp/tools"));
    let r = docker.build(project.path(), ".aishell/image.yaml", tag, &[]);
    assert!(!r.ok, "a prefix under /tmp must be refused");
    assert!(
        r.stderr.contains(
            "harness tool hello carries the folder /tmp as 0755 0:0 (mode uid:gid), but the image below has it as 1777 0:0"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("image.yaml:"), "{}", r.stderr);
}

#[test]
fn the_lib_symlink_survives_and_a_prefix_through_it_is_refused() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();
    let harness = hello_tool(&server, "edges-lib");
    let spec = |prefix: &str| {
        prefix_spec(
            &debian_image(),
            "echo through > /lib/aishell-ext.txt",
            &harness,
            prefix,
        )
    };
    // The extension writes through the symlink; the symlink stays and programs still load.
    project.spec(&spec("/tools"));
    let tag = "aishell-e2e/edges-lib";
    docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(
        docker.sh(
            tag,
            "readlink /lib; cat /usr/lib/aishell-ext.txt; ls /usr/lib/aishell-ext.txt; hello"
        ),
        "usr/lib\nthrough\n/usr/lib/aishell-ext.txt\nhello from edges-lib\n"
    );
    docker.rmi(&[tag]);

    // A scratch-built tool layer with a real /lib folder would replace the symlink (and the
    // dynamic loader behind it): refused, with the path to use instead.
    project.spec(&spec("/lib/aishell"));
    let r = docker.build(project.path(), ".aishell/image.yaml", tag, &[]);
    assert!(!r.ok, "a prefix through the /lib symlink must be refused");
    assert!(
        r.stderr.contains(
            "harness tool hello has a folder at /lib, but in the image below /lib is a symlink to usr/lib"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("Set harness.prefix to a path without symlinks: /usr/lib/aishell"),
        "{}",
        r.stderr
    );

    // The suggested prefix builds, and the tool runs from it.
    project.spec(&spec("/usr/lib/aishell"));
    docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(
        docker.sh(tag, "readlink /lib; hello; ls /usr/lib/aishell/bin"),
        "usr/lib\nhello from edges-lib\nhello\n"
    );
    docker.rmi(&[tag]);
}

/// Builds a one-file Debian package named after its argument and installs it with dpkg; `-r`
/// removes it instead. Copied into the foundation, so both parts can use it.
const MKDEB: &str = r#"#!/bin/sh
set -e
if [ "$1" = -r ]; then dpkg -r "$2" >/dev/null; exit 0; fi
d=$(mktemp -d)
mkdir -p "$d/DEBIAN" "$d/usr/share/$1"
echo "$1" > "$d/usr/share/$1/marker"
printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: marker\n' "$1" > "$d/DEBIAN/control"
dpkg-deb -b "$d" "$d.deb" >/dev/null
dpkg -i "$d.deb" >/dev/null
rm -rf "$d" "$d.deb"
"#;

#[test]
fn the_dpkg_database_keeps_the_packages_of_both_parts() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();
    project.write(".aishell/mkdeb", MKDEB);
    project.spec(&format!(
        "version: 1
foundation:
  from: {base}
  copy:
    - src: .aishell/mkdeb
      dest: /usr/local/bin/mkdeb
      mode: \"0755\"
  run:
    - mkdeb aishell-found-a && mkdeb aishell-found-b
extension:
  run:
    - mkdeb -r aishell-found-b && mkdeb aishell-ext
{harness}",
        base = debian_image(),
        harness = hello_tool(&server, "edges-dpkg"),
    ));
    let tag = "aishell-e2e/edges-dpkg";
    docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    let status = docker.sh(
        tag,
        "dpkg-query -W -f '${Package} ${Status}\\n' 'aishell-*'; \
         ls /usr/share/aishell-found-a /usr/share/aishell-ext; \
         test ! -e /usr/share/aishell-found-b/marker && echo b-removed; \
         dpkg-query -W -f '${Package}\\n' dpkg",
    );
    let mut lines: Vec<&str> = status.lines().collect();
    lines.sort();
    assert!(
        status.contains("aishell-found-a install ok installed"),
        "{status}"
    );
    assert!(
        status.contains("aishell-ext install ok installed"),
        "{status}"
    );
    assert!(
        !status.contains("aishell-found-b install ok installed"),
        "{status}"
    );
    assert!(status.contains("b-removed"), "{status}");
    assert!(
        lines.contains(&"dpkg"),
        "the base system's packages are listed too:\n{status}"
    );
    assert_eq!(docker.sh(tag, "hello"), "hello from edges-dpkg\n");
    docker.rmi(&[tag]);
}
