//! End to end on an engine with MergeOp/DiffOp (Docker with the containerd image store):
//! the three parts are independent layers, a harness bump changes one layer only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{FileServer, Project, busybox_image, engine, sha256, tar_gz, vertex_cached};

fn spec(url: &str, sum: &str) -> String {
    format!(
        "version: 1
args:
  TOOL_URL: {url}
foundation:
  from: {base}
  run:
    - echo foundation > /foundation.txt
extension:
  run:
    - echo extension > /extension.txt
harness:
  binaries:
    hello:
      url: ${{TOOL_URL}}
      sha256: \"{sum}\"
      extract: hello
image:
  env: {{GREETING: hi}}
  cmd: [/tools/bin/hello]
",
        base = busybox_image()
    )
}

fn tool(version: &str) -> Vec<u8> {
    tar_gz("hello", &format!("#!/bin/sh\necho hello {version}\n"))
}

#[test]
fn three_parts_merge_and_a_harness_bump_changes_only_its_layer() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();

    let v1 = tool("1.0.0");
    let url1 = server.put("hello-1.0.0.tar.gz", v1.clone());
    project.spec(&spec(&url1, &sha256(&v1)));
    let first = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/merge:v1",
        &[],
    );
    assert!(
        first.stderr.contains("[harness] hello -> /tools/bin/hello"),
        "readable vertex names:\n{}",
        first.stderr
    );

    let out = docker.sh(
        "aishell-e2e/merge:v1",
        "cat /foundation.txt /extension.txt; hello; echo $GREETING",
    );
    assert_eq!(out, "foundation\nextension\nhello 1.0.0\nhi\n");
    let env = docker.env("aishell-e2e/merge:v1");
    assert!(
        env["PATH"].starts_with("/tools/npm/bin:/tools/bin:"),
        "{}",
        env["PATH"]
    );
    let labels = &docker.config("aishell-e2e/merge:v1")["Labels"];
    assert_eq!(labels["dev.aishell.harness.hello"], "1.0.0");
    let layers1 = docker.layers("aishell-e2e/merge:v1");
    // busybox, foundation run, extension, hello
    assert_eq!(layers1.len(), 4, "{layers1:?}");
    // The tool layer holds the tool and nothing of the foundation.
    let files = docker.sh("aishell-e2e/merge:v1", "ls /tools/bin");
    assert_eq!(files, "hello\n");

    // Bump the tool: new URL, new checksum.
    let v1_fetches = server.hits("hello-1.0.0.tar.gz");
    assert!(v1_fetches <= 1, "v1 fetched {v1_fetches} times");
    let v2 = tool("1.1.0");
    let url2 = server.put("hello-1.1.0.tar.gz", v2.clone());
    project.spec(&spec(&url2, &sha256(&v2)));
    let second = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/merge:v2",
        &[],
    );
    assert_eq!(docker.sh("aishell-e2e/merge:v2", "hello"), "hello 1.1.0\n");
    let layers2 = docker.layers("aishell-e2e/merge:v2");
    assert_eq!(layers2.len(), layers1.len());
    assert_eq!(
        layers1[..3],
        layers2[..3],
        "foundation and extension layers must keep their diffIDs"
    );
    assert_ne!(layers1[3], layers2[3], "the tool layer must change");
    // The extension step was not run again: buildx reports it as cached.
    let ext_line = second
        .stderr
        .lines()
        .find(|l| l.contains("[extension] run echo extension"))
        .expect("the extension vertex appears in progress");
    let vertex = ext_line.split_whitespace().next().unwrap();
    assert!(
        second
            .stderr
            .lines()
            .any(|l| l.trim() == format!("{vertex} CACHED")),
        "extension not cached:\n{}",
        second.stderr
    );
    // A checksum-pinned download is a cache hit without network: v1 is not fetched again.
    assert_eq!(server.hits("hello-1.0.0.tar.gz"), v1_fetches);
    docker.rmi(&["aishell-e2e/merge:v1", "aishell-e2e/merge:v2"]);
}

#[test]
fn a_wrong_checksum_fails_the_build_clearly() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();
    let data = tool("6.6.6");
    let url = server.put("hello-6.6.6.tar.gz", data);
    project.spec(&spec(&url, &sha256(b"something else")));
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/badsum",
        &[],
    );
    assert!(!r.ok, "a checksum mismatch must fail the build");
    let lower = r.stderr.to_lowercase();
    assert!(
        lower.contains("digest mismatch") || lower.contains("checksum"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("[harness] download hello"),
        "{}",
        r.stderr
    );
}

#[test]
fn spec_errors_point_at_lines_in_buildx_output() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    project.spec("version: 1\nfoundation:\n  form: busybox\n");
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/badspec",
        &[],
    );
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("image.yaml:4:3: error: foundation.form: unknown key `form`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("foundation.from: is required"),
        "{}",
        r.stderr
    );
}

fn dockerfile_spec(url: &str, sum: &str) -> String {
    format!(
        "version: 1
foundation:
  from: {base}
  env: {{LANG: C.UTF-8}}
extension:
  dockerfile: Dockerfile
harness:
  binaries:
    hello: {{url: \"{url}\", sha256: \"{sum}\", extract: hello}}
",
        base = busybox_image()
    )
}

const EXTENSION_DOCKERFILE: &str = "FROM aishell:foundation AS builder
RUN echo built > /artifact

FROM aishell:base
COPY --from=builder /artifact /opt/artifact
COPY data/info.txt /opt/info.txt
ARG GREETING=hello
RUN echo \"$GREETING\" > /opt/greeting && echo \"$LANG\" > /opt/lang
ENV JAVA_HOME=/opt/java
WORKDIR /work
";

#[test]
fn an_unchanged_extension_dockerfile_is_merged_and_survives_a_harness_bump() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let project = Project::new();
    project.write(".aishell/Dockerfile", EXTENSION_DOCKERFILE);
    project.write("data/info.txt", "from the build context\n");
    let v1 = tool("2.0.0");
    let url1 = server.put("hello-2.0.0.tar.gz", v1.clone());
    project.spec(&dockerfile_spec(&url1, &sha256(&v1)));
    let args = ["--build-arg", "GREETING=hey"];
    docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/dockerfile:v1",
        &args,
    );
    let out = docker.sh(
        "aishell-e2e/dockerfile:v1",
        "cat /opt/artifact /opt/info.txt /opt/greeting /opt/lang; hello; pwd; echo $JAVA_HOME",
    );
    assert_eq!(
        out,
        "built\nfrom the build context\nhey\nC.UTF-8\nhello 2.0.0\n/work\n/opt/java\n"
    );
    let layers1 = docker.layers("aishell-e2e/dockerfile:v1");

    let v2 = tool("2.1.0");
    let url2 = server.put("hello-2.1.0.tar.gz", v2.clone());
    project.spec(&dockerfile_spec(&url2, &sha256(&v2)));
    let second = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/dockerfile:v2",
        &args,
    );
    assert_eq!(
        docker.sh("aishell-e2e/dockerfile:v2", "hello"),
        "hello 2.1.0\n"
    );
    let layers2 = docker.layers("aishell-e2e/dockerfile:v2");
    let n = layers1.len();
    assert_eq!(n, layers2.len());
    assert!(
        n >= 4,
        "foundation, extension layers and the tool: {layers1:?}"
    );
    assert_eq!(
        layers1[..n - 1],
        layers2[..n - 1],
        "foundation and extension layers keep their diffIDs"
    );
    assert_ne!(layers1[n - 1], layers2[n - 1]);
    assert_eq!(
        vertex_cached(&second.stderr, "RUN echo \"hey\" > /opt/greeting"),
        Some(true),
        "{}",
        second.stderr
    );
    docker.rmi(&["aishell-e2e/dockerfile:v1", "aishell-e2e/dockerfile:v2"]);
}

#[test]
fn an_extension_dockerfile_not_built_on_the_foundation_is_rejected() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    project.write(
        ".aishell/Dockerfile",
        &format!("FROM {}\nRUN echo x > /x\n", busybox_image()),
    );
    project.spec(&dockerfile_spec("http://127.0.0.1:9/x", &sha256(b"x")));
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/notonfoundation",
        &[],
    );
    assert!(!r.ok);
    assert!(
        r.stderr.contains("not built on the foundation"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("FROM aishell:base"), "{}", r.stderr);
    assert!(
        r.stderr.contains("image.yaml:7"),
        "points at the spec line:\n{}",
        r.stderr
    );
}

#[test]
fn an_extension_writing_under_the_harness_prefix_is_refused() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {}
extension:
  run: [mkdir -p /tools/bin && echo x > /tools/bin/mine]
",
        busybox_image()
    ));
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/underprefix",
        &[],
    );
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("the extension writes under the harness prefix: /tools/bin"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("image.yaml:6"),
        "points at the extension:\n{}",
        r.stderr
    );
    assert!(!r.stderr.contains("FailedPrecondition"), "{}", r.stderr);
}

#[test]
fn spec_keys_targets_labels_and_epoch_work_end_to_end() {
    let Some(docker) = engine() else { return };
    let server = FileServer::start();
    let data = tool("3.0.0");
    let url = server.put("hello-3.0.0.tar.gz", data.clone());
    let project = Project::new();
    project.write("conf/app.conf", "setting=1\n");
    project.spec(&format!(
        "version: 1
args:
  WHO: world
foundation:
  from: {base}
  copy:
    - image: {base}
      src: /bin/busybox
      dest: /opt/busybox-copy
    - src: conf/app.conf
      dest: /etc/app.conf
      mode: \"0600\"
      owner: \"1000:1000\"
  run: [\"echo hello ${{WHO}} > /greeting\"]
  env: {{FOUNDATION_VAR: f}}
extension:
  run: [echo ext > /ext.txt]
  env: {{EXTENSION_VAR: e}}
harness:
  prefix: /opt/aishell
  binaries:
    hello: {{url: \"{url}\", sha256: \"{sum}\", extract: hello}}
  env: {{HARNESS_VAR: h}}
image:
  order: [foundation, harness, extension]
  entrypoint: [/bin/sh, -c]
  cmd: [\"echo default\"]
  workdir: /srv
  user: \"1000\"
  labels: {{org.example: yes}}
",
        base = busybox_image(),
        sum = sha256(&data)
    ));
    let spec = ".aishell/image.yaml";
    let r = docker.build_ok(
        project.path(),
        spec,
        "aishell-e2e/keys",
        &[
            "--label",
            "from.cli=1",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
    );
    assert!(
        r.stderr
            .contains("[harness] hello -> /opt/aishell/bin/hello"),
        "{}",
        r.stderr
    );
    let out = docker.sh(
        "aishell-e2e/keys",
        "cat /greeting /ext.txt /etc/app.conf; stat -c '%a %u:%g' /etc/app.conf; test -x /opt/busybox-copy && echo copied; hello; id -u; pwd",
    );
    assert_eq!(
        out,
        "hello world\next\nsetting=1\n600 1000:1000\ncopied\nhello 3.0.0\n1000\n/srv\n"
    );
    let env = docker.env("aishell-e2e/keys");
    assert!(
        env["PATH"].starts_with("/opt/aishell/npm/bin:/opt/aishell/bin:"),
        "{}",
        env["PATH"]
    );
    for (k, v) in [
        ("FOUNDATION_VAR", "f"),
        ("EXTENSION_VAR", "e"),
        ("HARNESS_VAR", "h"),
    ] {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
    }
    let config = docker.config("aishell-e2e/keys");
    assert_eq!(config["Labels"]["org.example"], "yes");
    assert_eq!(config["Labels"]["from.cli"], "1");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    let created = docker.cmd(&[
        "image",
        "inspect",
        "--format",
        "{{.Created}}",
        "aishell-e2e/keys",
    ]);
    assert!(
        created.stdout.starts_with("2023-11-14T22:13:20"),
        "SOURCE_DATE_EPOCH sets the creation time: {}",
        created.stdout
    );
    // image.order puts the harness below the extension: the tool layer is second from top.
    let layers = docker.layers("aishell-e2e/keys");
    docker.build_ok(
        project.path(),
        spec,
        "aishell-e2e/keys-harness",
        &[
            "--target",
            "harness",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
    );
    let hl = docker.layers("aishell-e2e/keys-harness");
    assert_eq!(hl.len(), 1, "the harness target is the tool layers alone");
    assert_eq!(
        layers[layers.len() - 2],
        hl[0],
        "same tool layer in the image, below the extension"
    );
    docker.build_ok(
        project.path(),
        spec,
        "aishell-e2e/keys-foundation",
        &[
            "--target",
            "foundation",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
    );
    let fl = docker.layers("aishell-e2e/keys-foundation");
    assert_eq!(
        fl[..],
        layers[..fl.len()],
        "the foundation target is the image's bottom layers"
    );
    assert_eq!(
        docker.sh(
            "aishell-e2e/keys-foundation",
            "test -e /ext.txt || echo no-extension"
        ),
        "no-extension\n"
    );
    docker.rmi(&[
        "aishell-e2e/keys",
        "aishell-e2e/keys-harness",
        "aishell-e2e/keys-foundation",
    ]);
}

#[test]
fn proxy_build_args_reach_the_steps_but_not_their_cache_keys_nor_the_image() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {base}
  run:
    - echo \"$$HTTP_PROXY $$http_proxy $$no_proxy $$NO_PROXY\" > /proxy
image:
  cmd: [/bin/sh]
",
        base = busybox_image()
    ));
    let build = |tag: &str, proxy: &str| {
        docker.build_ok(
            project.path(),
            ".aishell/image.yaml",
            tag,
            &[
                "--build-arg",
                &format!("HTTP_PROXY={proxy}"),
                "--build-arg",
                "no_proxy=localhost",
            ],
        )
    };
    build("aishell-e2e/proxy:one", "http://proxy-one.invalid:3128");
    let one = "http://proxy-one.invalid:3128";
    assert_eq!(
        docker.sh("aishell-e2e/proxy:one", "cat /proxy"),
        format!("{one} {one} localhost localhost\n"),
        "the step sees both spellings of each proxy"
    );
    let env = docker.config("aishell-e2e/proxy:one")["Env"].to_string();
    assert!(!env.to_lowercase().contains("proxy"), "{env}");

    // Another proxy, as on another machine: the step is a cache hit, as in a Dockerfile.
    let out = build("aishell-e2e/proxy:two", "http://proxy-two.invalid:3128");
    assert_eq!(
        vertex_cached(&out.stderr, "[foundation] run echo"),
        Some(true),
        "{}",
        out.stderr
    );
    assert_eq!(
        docker.sh("aishell-e2e/proxy:two", "cat /proxy"),
        format!("{one} {one} localhost localhost\n")
    );
}

#[test]
fn network_add_host_ulimit_shm_size_and_no_cache_filter_apply_to_the_steps() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {base}
  run:
    - \"ls /sys/class/net > /net; cat /etc/hosts > /hosts; ulimit -n > /nofile; df -k /dev/shm | tail -n 1 > /shm\"
extension:
  run:
    - echo {nonce} > /ext
image:
  cmd: [/bin/sh]
",
        base = busybox_image(),
        nonce = aishell_e2e::nonce(),
    ));
    let flags = [
        "--network",
        "none",
        "--add-host",
        "registry.internal:10.1.2.3",
        "--ulimit",
        "nofile=1000:1000",
        "--shm-size",
        "64m",
    ];
    docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/runopts:1",
        &flags,
    );
    let out = docker.sh(
        "aishell-e2e/runopts:1",
        "cat /net; grep registry.internal /hosts; cat /nofile /shm",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "lo", "no network but loopback:\n{out}");
    assert!(lines[1].starts_with("10.1.2.3"), "{out}");
    assert_eq!(lines[2], "1000", "{out}");
    assert!(
        lines[3].split_whitespace().nth(1) == Some("65536"),
        "a 64 MiB /dev/shm:\n{out}"
    );

    // --no-cache-filter names parts: the extension runs again, the foundation does not.
    let mut again: Vec<&str> = flags.to_vec();
    again.extend(["--no-cache-filter", "extension"]);
    let r = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/runopts:2",
        &again,
    );
    assert_eq!(
        vertex_cached(&r.stderr, "[foundation] run ls"),
        Some(true),
        "{}",
        r.stderr
    );
    assert_eq!(
        vertex_cached(&r.stderr, "[extension] run echo"),
        Some(false),
        "{}",
        r.stderr
    );

    // A flag the frontend does not honour is refused by name.
    let r = docker.build(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/runopts:3",
        &["--cgroup-parent", "/aishell-e2e"],
    );
    assert!(!r.ok, "{}", r.stderr);
    assert!(
        r.stderr.contains("--cgroup-parent is not supported"),
        "{}",
        r.stderr
    );
}

/// `--network host`: the steps see the host's network interfaces (the test runs on the
/// engine's machine). A standalone buildkitd must allow the `network.host` entitlement
/// (scripts/engine's does, as CI builders that take this flag do).
#[test]
fn network_host_gives_the_steps_the_hosts_interfaces() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {base}
  run:
    - \"echo {nonce}; ls /sys/class/net > /net\"
image:
  cmd: [/bin/sh]
",
        base = busybox_image(),
        nonce = aishell_e2e::nonce(),
    ));
    docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/hostnet:1",
        &["--network", "host", "--allow", "network.host"],
    );
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let seen = docker.sh("aishell-e2e/hostnet:1", "cat /net");
    let mut seen: Vec<&str> = seen.lines().collect();
    seen.sort();
    assert_eq!(seen, host, "the step saw the host's interfaces");
    assert!(host.len() > 1, "the host has more than loopback: {host:?}");
}

/// `--build-context <image>=oci-layout://<dir>@<digest>` and `<image>=<folder>` replace an
/// image of the spec: the OCI layout of `docker save`, and the files of `docker export`.
#[test]
fn an_oci_layout_or_a_folder_replaces_a_spec_image() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: aishell-e2e/no-such-base:1
  run: [\"echo {} > /base.txt\"]
image:
  cmd: [/bin/sh]
",
        aishell_e2e::nonce()
    ));
    let work = tempfile::tempdir().unwrap();
    let untar = |tar: &std::path::Path, dir: &std::path::Path| {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("tar")
            .arg("-xf")
            .arg(tar)
            .arg("-C")
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "untar {}", tar.display());
    };

    // An OCI layout: what `docker save` writes (Docker 25 and later), by the manifest digest.
    let saved = work.path().join("saved.tar");
    let r = docker.cmd(&["save", "-o", saved.to_str().unwrap(), &busybox_image()]);
    assert!(r.ok, "{}", r.stderr);
    let layout = work.path().join("layout");
    untar(&saved, &layout);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let ctx = format!(
        "aishell-e2e/no-such-base:1=oci-layout://{}@{digest}",
        layout.display()
    );
    let r = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/layout:1",
        &["--build-context", &ctx],
    );
    assert!(
        r.stderr.contains("OCI layout from the client"),
        "{}",
        r.stderr
    );
    assert_eq!(
        docker.layers("aishell-e2e/layout:1")[..docker.layers(&busybox_image()).len()],
        docker.layers(&busybox_image())[..],
        "the layout's layers are the base"
    );
    assert!(
        !docker
            .sh("aishell-e2e/layout:1", "cat /base.txt")
            .is_empty()
    );

    // A folder: the files of the image, as `docker export` writes them.
    let exported = work.path().join("rootfs.tar");
    let id = docker.cmd(&["create", &busybox_image(), "/bin/sh"]);
    assert!(id.ok, "{}", id.stderr);
    let id = id.stdout.trim().to_string();
    let r = docker.cmd(&["export", "-o", exported.to_str().unwrap(), &id]);
    docker.cmd(&["rm", &id]);
    assert!(r.ok, "{}", r.stderr);
    let rootfs = work.path().join("rootfs");
    untar(&exported, &rootfs);
    let ctx = format!("aishell-e2e/no-such-base:1={}", rootfs.display());
    let r = docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/folder:1",
        &["--build-context", &ctx],
    );
    assert!(
        r.stderr.contains("from the folder of context"),
        "{}",
        r.stderr
    );
    assert_eq!(
        docker.sh("aishell-e2e/folder:1", "cat /base.txt"),
        docker.sh("aishell-e2e/layout:1", "cat /base.txt")
    );
    docker.rmi(&["aishell-e2e/layout:1", "aishell-e2e/folder:1"]);
}

#[test]
fn named_contexts_replace_a_spec_image_and_feed_the_extension_dockerfile() {
    let Some(docker) = engine() else { return };
    let project = Project::new();
    // The spec names a base image that exists nowhere; the build context maps it to the
    // test's busybox, as a team maps a public image to its mirror.
    project.spec(
        "version: 1
foundation:
  from: aishell-e2e/no-such-base:1
  run: [echo mirrored > /base.txt]
extension:
  dockerfile: Dockerfile
image:
  cmd: [/bin/sh]
",
    );
    project.write(
        ".aishell/Dockerfile",
        "FROM aishell:base\nCOPY --from=extra hello.txt /opt/hello.txt\n",
    );
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(extra.path().join("hello.txt"), "from a named context\n").unwrap();
    let mirror = format!(
        "aishell-e2e/no-such-base:1=docker-image://{}",
        busybox_image()
    );
    let extra_ctx = format!("extra={}", extra.path().display());
    docker.build_ok(
        project.path(),
        ".aishell/image.yaml",
        "aishell-e2e/named:1",
        &["--build-context", &mirror, "--build-context", &extra_ctx],
    );
    assert_eq!(
        docker.sh("aishell-e2e/named:1", "cat /base.txt /opt/hello.txt"),
        "mirrored\nfrom a named context\n"
    );
    // The base image's layers are the mirror's.
    let base = docker.layers(&busybox_image());
    assert_eq!(docker.layers("aishell-e2e/named:1")[..base.len()], base[..]);
    docker.rmi(&["aishell-e2e/named:1"]);
}
