//! Faults around the harness downloads and concurrent builds, through the real engine:
//! a server that goes away mid-download, a download that does not match its checksum (and
//! leaves nothing cached under that checksum), and two projects built at the same time that
//! share their harness layers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{FileServer, Project, busybox_image, engine, nonce, sha256, tar_gz};

/// A tool of about `kib` KiB (a shell script padded with a comment) printing `says`.
fn tool(says: &str, kib: usize) -> Vec<u8> {
    let pad: String = (0..kib * 16)
        .map(|i| format!("# {i:060}\n"))
        .collect::<Vec<_>>()
        .concat();
    tar_gz("hello", &format!("#!/bin/sh\necho {says}\n{pad}"))
}

fn spec(extension: &str, tools: &[(&str, &str, &str)]) -> String {
    let mut s = format!(
        "version: 1
foundation:
  from: {}
extension:
  run: [{extension}]
harness:
  binaries:
",
        busybox_image()
    );
    for (name, url, sum) in tools {
        s.push_str(&format!(
            "    {name}:\n      url: {url}\n      sha256: \"{sum}\"\n      extract: hello\n"
        ));
    }
    s
}

#[test]
fn a_server_going_away_mid_download_fails_clearly_and_a_later_build_succeeds() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();
    let n = nonce();
    let says = format!("whole-{n}");
    let bytes = tool(&says, 256);
    let name = format!("cut-{n}.tar.gz");
    let url = server.put_cut(&name, bytes.clone(), bytes.len() / 3);
    project.spec(&spec("echo ext", &[("hello", &url, &sha256(&bytes))]));
    let tag = "aishell-e2e/faults-cut";
    let r = docker.build(project.path(), ".aishell/image.yaml", tag, &[]);
    assert!(!r.ok, "a cut download must fail the build");
    assert!(
        r.stderr.contains("[harness] download hello"),
        "the failing step is named:\n{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "building harness layer hello (/tools/bin/hello from {url}): unexpected EOF"
        )),
        "the error names the tool, its URL and that the download broke off:\n{}",
        r.stderr
    );
    assert!(
        !docker.cmd(&["image", "inspect", tag]).ok,
        "a failed build leaves no image"
    );

    // The server is back with the whole file: the same spec builds, and the part that
    // arrived before was not kept as if it were the file.
    server.put(&name, bytes);
    docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(docker.sh(tag, "hello"), format!("{says}\n"));
    assert!(
        server.hits(&name) >= 2,
        "downloaded again after the failure"
    );
    docker.rmi(&[tag]);
}

#[test]
fn a_checksum_mismatch_leaves_nothing_cached_under_that_checksum() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();
    let n = nonce();
    let good = tool(&format!("good-{n}"), 4);
    let evil = tool(&format!("evil-{n}"), 4);
    let name = format!("sum-{n}.tar.gz");
    let url = server.put(&name, evil);
    project.spec(&spec("echo ext", &[("hello", &url, &sha256(&good))]));
    let tag = "aishell-e2e/faults-sum";
    let r = docker.build(project.path(), ".aishell/image.yaml", tag, &[]);
    assert!(!r.ok, "a checksum mismatch must fail the build");
    let lower = r.stderr.to_lowercase();
    assert!(
        lower.contains("digest mismatch") || lower.contains("checksum"),
        "{}",
        r.stderr
    );
    assert!(!docker.cmd(&["image", "inspect", tag]).ok);
    assert_eq!(server.hits(&name), 1);

    // Had the wrong bytes been cached under the expected checksum, this build would be a
    // cache hit without a request and would run the wrong tool.
    server.put(&name, good);
    docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
    assert_eq!(
        server.hits(&name),
        2,
        "fetched again, not taken from a cache"
    );
    assert_eq!(docker.sh(tag, "hello"), format!("good-{n}\n"));
    docker.rmi(&[tag]);
}

#[test]
fn two_projects_built_at_once_share_their_harness_layers() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let n = nonce();
    let a = tool(&format!("a-{n}"), 64);
    let b = tool(&format!("b-{n}"), 64);
    let url_a = server.put(&format!("a-{n}.tar.gz"), a.clone());
    let url_b = server.put(&format!("b-{n}.tar.gz"), b.clone());
    let (sum_a, sum_b) = (sha256(&a), sha256(&b));
    let projects: Vec<(Project, String)> = ["one", "two"]
        .into_iter()
        .map(|p| {
            let project = Project::new();
            // Different extensions (each takes a moment, so the builds overlap).
            project.spec(&spec(
                &format!("sleep 2 && echo {p}-{n} > /project.txt"),
                &[("tool-a", &url_a, &sum_a), ("tool-b", &url_b, &sum_b)],
            ));
            (project, format!("aishell-e2e/faults-fleet-{p}"))
        })
        .collect();
    let docker_ref = &docker;
    std::thread::scope(|s| {
        for (project, tag) in &projects {
            let docker = docker_ref;
            s.spawn(move || {
                docker.build_ok(project.path(), ".aishell/image.yaml", tag, &[]);
            });
        }
    });
    let one = docker.layers(&projects[0].1);
    let two = docker.layers(&projects[1].1);
    assert_eq!(one.len(), 4, "{one:?}");
    assert_eq!(one[0], two[0], "same foundation");
    assert_ne!(one[1], two[1], "different extensions");
    assert_eq!(one[2..], two[2..], "the harness layers are shared");
    for (p, (_, tag)) in ["one", "two"].iter().zip(&projects) {
        assert_eq!(
            docker.sh(tag, "cat /project.txt; tool-a; tool-b"),
            format!("{p}-{n}\na-{n}\nb-{n}\n")
        );
    }
    // Each tool was downloaded once for both builds.
    assert_eq!(server.hits(&format!("a-{n}.tar.gz")), 1);
    assert_eq!(server.hits(&format!("b-{n}.tar.gz")), 1);
    docker.rmi(&[&projects[0].1, &projects[1].1]);
}
