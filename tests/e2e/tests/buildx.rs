//! The buildx features users expect, end to end on a merging engine: Docker with the
//! containerd image store (docker driver), and a standalone `buildkitd` (buildx `remote`
//! driver, `scripts/engine up --buildkit`; `--load` and `docker run` go to dockerd there):
//! * `--secret` for npm (`harness.npm_secret`): used by the install, in no layer, required;
//! * `--push` to a registry (a private `docker-registry` on 127.0.0.1), and a harness bump
//!   pushes one new layer blob (plus config and manifest);
//! * `--cache-to`/`--cache-from` with a registry and a local folder, after the local images
//!   and the whole builder cache are gone;
//! * `--metadata-file`, `--load`, `--target`, `--build-arg`, plain `docker build` (with
//!   `--load` where the current builder is a `remote` one);
//! * `--platform linux/amd64,linux/arm64` (binary tools only, no emulation needed);
//! * reproducible harness layers with `SOURCE_DATE_EPOCH` from clean caches;
//! * the `docker-bake.hcl` of docs/buildx.md.
//!
//! Tests that empty the builder cache take the write side of [`CACHE`], every other test the
//! read side, so no test loses its cache to another one half way through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{
    Docker, FileServer, OciLayout, Project, Registry, TarEntries, busybox_image, debian_image,
    engine, gunzip_if_gzip, nonce, sha256, tar_entries, tar_files, tar_gz, vertex_cached,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static CACHE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    CACHE.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    CACHE.write().unwrap_or_else(|e| e.into_inner())
}

fn tool(version: &str) -> Vec<u8> {
    tar_gz("hello", &format!("#!/bin/sh\necho hello {version}\n"))
}

/// A busybox foundation with a unique step, an inline extension and one binary tool.
fn small_spec(nonce: &str, url: &str, sum: &str) -> String {
    format!(
        "version: 1
args:
  WHO: nobody
foundation:
  from: {base}
  run:
    - echo ran-foundation-{nonce} && echo {nonce} > /nonce
extension:
  run:
    - echo ran-extension-{nonce} && echo \"extension for ${{WHO}}\" > /extension.txt
harness:
  binaries:
    hello: {{url: \"{url}\", sha256: \"{sum}\", extract: hello}}
image:
  cmd: [/tools/bin/hello]
",
        base = busybox_image()
    )
}

fn spec_path() -> &'static str {
    ".aishell/image.yaml"
}

// --- secrets ---------------------------------------------------------------------------------

fn npm_spec(nonce: &str) -> String {
    format!(
        "version: 1
foundation:
  from: {base}
  run:
    - echo {nonce} > /etc/aishell-e2e-nonce
harness:
  npm:
    semver: \"7.6.2\"
  npm_secret: npmrc
",
        base = debian_image()
    )
}

#[test]
fn an_npmrc_secret_configures_npm_and_is_in_no_layer() {
    let Some(docker) = engine() else { return };
    let _g = shared();
    let project = Project::new();
    let run = nonce();
    project.spec(&npm_spec(&run));
    let marker = format!("MARKER-{}", nonce());
    // `bin-links=false` makes the secret's effect visible (no `semver` link in npm's bin
    // folder); the marker is what must never appear in the image.
    let npmrc = project.write(
        "secrets/npmrc",
        &format!("# {marker}\nbin-links=false\nfund=false\n"),
    );
    let tag = format!("aishell-e2e/secret:{run}");
    let secret = format!("id=npmrc,src={}", npmrc.display());
    docker.build_ok(project.path(), spec_path(), &tag, &["--secret", &secret]);
    assert_eq!(
        docker.sh(
            &tag,
            "test -f /tools/npm/lib/node_modules/semver/package.json && echo installed; \
             test -e /tools/npm/bin/semver || echo no-bin-link; \
             test -e /run/secrets/aishell-npmrc || echo no-secret-file"
        ),
        "installed\nno-bin-link\nno-secret-file\n",
        "npm read its user config from the secret"
    );

    let saved = tempfile::tempdir().unwrap();
    let tar = saved.path().join("image.tar");
    let r = docker.cmd(&["save", "-o", tar.to_str().unwrap(), &tag]);
    assert!(r.ok, "docker save: {}", r.stderr);
    let files = tar_files(&std::fs::read(&tar).unwrap());
    let mut layers = 0;
    for (path, bytes) in &files {
        // Layers are tars (gzipped in the containerd store); configs and manifests JSON.
        let data = gunzip_if_gzip(bytes);
        if data.len() > 512 && &data[257..262] == b"ustar" {
            layers += 1;
        }
        assert!(
            !data.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "the secret's marker is in {path} of the saved image"
        );
    }
    assert!(layers >= 2, "the base and the npm layer were scanned");
    docker.rmi(&[&tag]);
}

#[test]
fn a_build_without_the_npm_secret_fails_clearly() {
    let Some(docker) = engine() else { return };
    let _g = shared();
    let project = Project::new();
    project.spec(&npm_spec(&nonce()));
    let r = docker.build(project.path(), spec_path(), "aishell-e2e/nosecret", &[]);
    assert!(!r.ok, "the npm secret is not optional");
    // BuildKit's own words, on the npm step.
    assert!(r.stderr.contains("secret npmrc: not found"), "{}", r.stderr);
    assert!(
        r.stderr.contains("[harness] npm semver@7.6.2"),
        "{}",
        r.stderr
    );
}

// --- registry --------------------------------------------------------------------------------

/// Blob uploads in the registry's log (`PUT /v2/…/blobs/uploads/…` answered 201).
fn blob_uploads(log: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains("http.request.method=PUT")
                && l.contains("/blobs/uploads/")
                && l.contains("http.response.status=201")
        })
        .count()
}

#[test]
fn push_to_a_registry_and_a_harness_bump_pushes_one_new_layer() {
    let Some(docker) = engine() else { return };
    let Some(reg) = Registry::start() else { return };
    let _g = shared();
    let server = FileServer::start();
    let project = Project::new();
    let run = nonce();
    let v1 = tool("1.0.0");
    let url1 = server.put("hello-1.0.0.tar.gz", v1.clone());
    project.spec(&small_spec(&run, &url1, &sha256(&v1)));
    let repo = "aishell-e2e/x";
    let ref1 = format!("{}/{repo}:1", reg.host);
    docker.buildx_ok(
        project.path(),
        spec_path(),
        &["--push", "--provenance=false", "-t", &ref1],
    );
    let images1 = reg.images(repo, "1");
    assert_eq!(images1.len(), 1, "{images1:?}");
    let img1 = &images1[0];
    assert_eq!(img1.platform, "linux/amd64");
    assert_eq!(
        img1.config["config"]["Labels"]["dev.aishell.harness.hello"],
        "1.0.0"
    );
    let layers1 = img1.layer_digests();
    // busybox, foundation run, extension, hello
    assert_eq!(layers1.len(), 4, "{layers1:?}");
    // Every layer the manifest names can be fetched.
    for l in &layers1 {
        assert!(!reg.blob(repo, l).is_empty());
    }
    // And the pushed image runs when pulled back.
    docker.rmi(&[&ref1]);
    let pulled = docker.cmd(&["pull", &ref1]);
    assert!(pulled.ok, "docker pull: {}", pulled.stderr);
    assert_eq!(docker.sh(&ref1, "hello"), "hello 1.0.0\n");

    // Bump the tool and push again: only its layer is new in the registry.
    let before = reg.blobs();
    let log_before = reg.log().len();
    let v2 = tool("1.1.0");
    let url2 = server.put("hello-1.1.0.tar.gz", v2.clone());
    project.spec(&small_spec(&run, &url2, &sha256(&v2)));
    let ref2 = format!("{}/{repo}:2", reg.host);
    let second = docker.buildx_ok(
        project.path(),
        spec_path(),
        &["--push", "--provenance=false", "-t", &ref2],
    );
    assert_eq!(
        vertex_cached(&second.stderr, "[extension] run echo"),
        Some(true),
        "{}",
        second.stderr
    );
    let after = reg.blobs();
    let images2 = reg.images(repo, "2");
    let img2 = &images2[0];
    let layers2 = img2.layer_digests();
    assert_eq!(layers1[..3], layers2[..3], "lower layers are shared");
    assert_ne!(layers1[3], layers2[3]);
    let new: BTreeMap<&String, &u64> = after
        .iter()
        .filter(|(d, _)| !before.contains_key(*d))
        .collect();
    let new_layers: Vec<&String> = layers2.iter().filter(|l| new.contains_key(l)).collect();
    assert_eq!(new_layers, vec![&layers2[3]], "exactly one new layer blob");
    let config = img2.manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let expected: BTreeSet<&String> = [&layers2[3], &config, &img2.digest].into_iter().collect();
    assert_eq!(
        new.keys().copied().collect::<BTreeSet<_>>(),
        expected,
        "new blobs: the layer, the config, the manifest"
    );
    let log = reg.log();
    let uploads = blob_uploads(&log[log_before..]);
    assert_eq!(
        uploads, 2,
        "blob uploads of the bump: the layer and the config"
    );
    eprintln!(
        "MEASURED push after a harness bump: {} new blobs, {} bytes (layer {} bytes), {} blob uploads; first push {} blobs",
        new.len(),
        new.values().copied().sum::<u64>(),
        after[&layers2[3]],
        uploads,
        before.len()
    );
    docker.rmi(&[&ref1]);
}

/// In `--progress=plain` output: whether a step printed `line` (its output appears as
/// `#N <seconds> <line>`), i.e. it was executed rather than taken from a cache.
fn ran(progress: &str, line: &str) -> bool {
    progress.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next().is_some_and(|v| v.starts_with('#'))
            && w.next().is_some_and(|t| t.parse::<f64>().is_ok())
            && w.collect::<Vec<_>>().join(" ") == line
    })
}

/// Builds the small project with cache options, removes the image and every build cache
/// record, builds again importing the cache, and checks that the steps were cache hits.
fn cache_round_trip(docker: &Docker, cache_to: &str, cache_from: &str) {
    let server = FileServer::start();
    let project = Project::new();
    let run = nonce();
    let v = tool("4.0.0");
    let url = server.put("hello-4.0.0.tar.gz", v.clone());
    project.spec(&small_spec(&run, &url, &sha256(&v)));
    let tag = format!("aishell-e2e/cache:{run}");
    let first = docker.buildx(
        project.path(),
        spec_path(),
        &["--load", "-t", &tag, "--cache-to", cache_to],
    );
    assert!(first.ok, "cache export with {cache_to}:\n{}", first.stderr);
    let steps = ["foundation", "extension"].map(|p| format!("ran-{p}-{run}"));
    for step in &steps {
        assert!(ran(&first.stderr, step), "{step}:\n{}", first.stderr);
    }
    let layers = docker.layers(&tag);
    docker.rmi(&[&tag]);
    // Control: after a prune, the same build without the import runs the steps again, so
    // what the import saves below is not something the engine kept.
    docker.prune_builder();
    let control = docker.buildx_ok(project.path(), spec_path(), &[]);
    for step in &steps {
        assert!(ran(&control.stderr, step), "{step}:\n{}", control.stderr);
    }
    docker.prune_builder();
    let fetched = server.hits("hello-4.0.0.tar.gz");
    let second = docker.buildx_ok(
        project.path(),
        spec_path(),
        &["--load", "-t", &tag, "--cache-from", cache_from],
    );
    // No step runs again. Docker 26.1 reports them CACHED; 28.5 shows the layers being
    // loaded from the imported cache instead (the merge guards read them).
    for step in &steps {
        assert!(
            !ran(&second.stderr, step),
            "{step} ran again despite the imported cache ({cache_from}):\n{}",
            second.stderr
        );
    }
    assert_eq!(docker.layers(&tag), layers, "the same layers");
    assert_eq!(
        docker.sh(&tag, "cat /nonce; hello"),
        format!("{run}\nhello 4.0.0\n")
    );
    eprintln!(
        "tool downloads after the cache import: {}",
        server.hits("hello-4.0.0.tar.gz") - fetched
    );
    docker.rmi(&[&tag]);
}

#[test]
fn registry_cache_survives_a_pruned_builder() {
    let Some(docker) = engine() else { return };
    let Some(reg) = Registry::start() else { return };
    let _g = exclusive();
    let cache = format!("{}/aishell-e2e/cache:buildcache", reg.host);
    cache_round_trip(
        &docker,
        &format!("type=registry,ref={cache},mode=max"),
        &format!("type=registry,ref={cache}"),
    );
}

#[test]
fn local_cache_survives_a_pruned_builder() {
    let Some(docker) = engine() else { return };
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    cache_round_trip(
        &docker,
        &format!("type=local,dest={d},mode=max"),
        &format!("type=local,src={d}"),
    );
}

// --- metadata, load, target, build args, plain docker build ------------------------------------

#[test]
fn metadata_file_load_target_build_arg_and_plain_docker_build() {
    let Some(docker) = engine() else { return };
    let _g = shared();
    let server = FileServer::start();
    let project = Project::new();
    let run = nonce();
    let v = tool("5.0.0");
    let url = server.put("hello-5.0.0.tar.gz", v.clone());
    project.spec(&small_spec(&run, &url, &sha256(&v)));
    let meta = project.path().join("metadata.json");
    let tag = format!("aishell-e2e/meta:{run}");
    docker.buildx_ok(
        project.path(),
        spec_path(),
        &[
            "--load",
            "-t",
            &tag,
            "--metadata-file",
            meta.to_str().unwrap(),
            "--build-arg",
            "WHO=metadata",
            "--target",
            "extension",
        ],
    );
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let digest = m["containerimage.digest"].as_str().unwrap_or("");
    assert!(digest.starts_with("sha256:"), "{m:#}");
    assert_eq!(m["image.name"], format!("docker.io/{tag}"), "{m:#}");
    assert_eq!(m["containerimage.descriptor"]["digest"], digest, "{m:#}");
    // --load put it in the image store, the extension target has no harness tool.
    assert_eq!(
        docker.sh(
            &tag,
            "cat /extension.txt; test -e /tools || echo no-harness"
        ),
        "extension for metadata\nno-harness\n"
    );

    // Plain `docker build` (BuildKit) with a build argument, the default target. Docker 23+
    // hands `docker build` to buildx's current builder: dockerd's own puts the image in its
    // store, a `remote` one (a standalone buildkitd) keeps the result in its cache unless
    // the command says `--load`, as CI users whose default builder is one must.
    let plain = format!("aishell-e2e/plain:{run}");
    let mut args = vec![
        "build".to_string(),
        "-f".into(),
        project.path().join(spec_path()).display().to_string(),
        "-t".into(),
        plain.clone(),
        "--build-arg".into(),
        "WHO=plain".into(),
    ];
    if docker.has_buildx() && docker.builder().driver != "docker" {
        args.push("--load".into());
    }
    let out = std::process::Command::new("docker")
        .env("DOCKER_BUILDKIT", "1")
        .args(&args)
        .arg(project.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        docker.sh(&plain, "cat /extension.txt; hello"),
        "extension for plain\nhello 5.0.0\n"
    );
    docker.rmi(&[&tag, &plain]);
}

// --- multi-platform --------------------------------------------------------------------------

#[test]
fn several_platforms_give_one_index_with_the_right_binaries() {
    let Some(docker) = engine() else { return };
    let _g = shared();
    let server = FileServer::start();
    let run = nonce();
    let amd = tool(&format!("amd64 {run}"));
    let arm = tool(&format!("arm64 {run}"));
    let amd_url = server.put("hello-linux-x64.tar.gz", amd.clone());
    let arm_url = server.put("hello-linux-aarch64.tar.gz", arm.clone());
    // A bare binary whose URL uses ${TARGETARCH}.
    let raw_amd = format!("raw amd64 {run}\n").into_bytes();
    let raw_arm = format!("raw arm64 {run}\n").into_bytes();
    server.put("raw-amd64", raw_amd.clone());
    server.put("raw-arm64", raw_arm.clone());
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {base}
harness:
  binaries:
    hello:
      url:
        linux/amd64: \"{amd_url}\"
        linux/arm64: \"{arm_url}\"
      sha256:
        linux/amd64: \"{amd_sum}\"
        linux/arm64: \"{arm_sum}\"
      extract: hello
    raw:
      url: \"{base_url}/raw-${{TARGETARCH}}\"
      sha256:
        linux/amd64: \"{raw_amd_sum}\"
        linux/arm64: \"{raw_arm_sum}\"
",
        base = busybox_image(),
        amd_sum = sha256(&amd),
        arm_sum = sha256(&arm),
        base_url = server.base,
        raw_amd_sum = sha256(&raw_amd),
        raw_arm_sum = sha256(&raw_arm),
    ));
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("oci.tar");
    let r = docker.buildx_ok(
        project.path(),
        spec_path(),
        &[
            "--target",
            "harness",
            "--platform",
            "linux/amd64,linux/arm64",
            "--provenance=false",
            "--output",
            &format!("type=oci,dest={}", tar.display()),
        ],
    );
    // Both platforms' steps are in one progress display, each named with its platform.
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(
            r.stderr.contains(&format!("[{p}] [harness]")),
            "{p}:\n{}",
            r.stderr
        );
    }
    let layout = OciLayout::read(&tar);
    let index: serde_json::Value = serde_json::from_slice(&layout.files["index.json"]).unwrap();
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(1),
        "one image index: {index:#}"
    );
    let images = layout.images();
    let platforms: Vec<&str> = images.iter().map(|i| i.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for (img, arch, hello, raw) in [
        (&images[0], "amd64", &amd, &raw_amd),
        (&images[1], "arm64", &arm, &raw_arm),
    ] {
        assert_eq!(img.config["architecture"], arch);
        assert_eq!(img.config["os"], "linux");
        let layers = img.layer_digests();
        assert_eq!(layers.len(), 2, "one layer per tool: {layers:?}");
        let hello_files = tar_files(layout.blob(&layers[0]));
        let want = tar_files(hello)["hello"].clone();
        assert_eq!(hello_files.get("tools/bin/hello"), Some(&want), "{arch}");
        let raw_files = tar_files(layout.blob(&layers[1]));
        assert_eq!(raw_files.get("tools/bin/raw"), Some(raw), "{arch}");
    }
    // Each platform fetched its own archive, once.
    assert_eq!(server.hits("hello-linux-x64.tar.gz"), 1);
    assert_eq!(server.hits("hello-linux-aarch64.tar.gz"), 1);

    // The same build pushed: one index in the registry with the same images.
    let Some(reg) = Registry::start() else { return };
    let repo = "aishell-e2e/multi";
    let pushed = format!("{}/{repo}:1", reg.host);
    docker.buildx_ok(
        project.path(),
        spec_path(),
        &[
            "--target",
            "harness",
            "--platform",
            "linux/amd64,linux/arm64",
            "--provenance=false",
            "-t",
            &pushed,
            "--push",
        ],
    );
    let top = reg.manifest(repo, "1");
    assert!(top["manifests"].is_array(), "an index: {top:#}");
    let in_registry = reg.images(repo, "1");
    let platforms: Vec<&str> = in_registry.iter().map(|i| i.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for (a, b) in images.iter().zip(&in_registry) {
        assert_eq!(a.layer_digests(), b.layer_digests(), "{}", a.platform);
    }
}

#[test]
fn the_bake_file_of_the_docs_resolves() {
    let Some(docker) = engine() else { return };
    if !docker.has_buildx() {
        return;
    }
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/buildx.md"),
    )
    .unwrap();
    let start = docs
        .find("```hcl\n")
        .expect("an hcl block in docs/buildx.md")
        + 7;
    let end = start + docs[start..].find("```").unwrap();
    let project = Project::new();
    let file = project.write("docker-bake.hcl", &docs[start..end]);
    let out = std::process::Command::new("docker")
        .current_dir(project.path())
        .args(["buildx", "bake", "-f"])
        .arg(&file)
        .args(["--print", "image", "harness"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bake --print:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let image = &v["target"]["image"];
    assert_eq!(image["dockerfile"], ".aishell/image.yaml", "{v:#}");
    assert_eq!(
        image["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    // Newer buildx prints secrets, caches and outputs as objects, older as strings.
    let text = |v: &serde_json::Value| v.to_string();
    let secret = text(&image["secret"]);
    assert!(
        secret.contains("npmrc") && secret.contains("/.npmrc"),
        "{v:#}"
    );
    assert!(text(&image["cache-to"]).contains("max"), "{v:#}");
    let harness = &v["target"]["harness"];
    assert_eq!(harness["target"], "harness", "{v:#}");
    assert!(
        text(&harness["output"]).contains("rewrite-timestamp"),
        "{v:#}"
    );
}

// --- reproducibility -------------------------------------------------------------------------

/// The harness target of `spec`, exported as an OCI tar with `output_extra`, from an empty
/// builder cache; returns (layer digests, the entries of each layer).
fn harness_layers(
    docker: &Docker,
    project: &Project,
    output_extra: &str,
) -> (Vec<String>, Vec<TarEntries>) {
    docker.prune_builder();
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("oci.tar");
    docker.buildx_ok(
        project.path(),
        spec_path(),
        &[
            "--target",
            "harness",
            "--provenance=false",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            "--output",
            &format!("type=oci,dest={}{output_extra}", tar.display()),
        ],
    );
    let layout = OciLayout::read(&tar);
    let images = layout.images();
    let layers = images[0].layer_digests();
    let entries = layers.iter().map(|l| tar_entries(layout.blob(l))).collect();
    (layers, entries)
}

/// A harness-only project with two binaries served by `server` under names starting with
/// `slug`: `bare` (a plain file) and `hello` (extracted from a tarball); `content` decides
/// their bytes.
fn two_binaries(server: &FileServer, slug: &str, content: &str) -> Project {
    let archive = tool(content);
    let bare = format!("bare {content}\n").into_bytes();
    let url = server.put(&format!("{slug}.tar.gz"), archive.clone());
    let bare_url = server.put(&format!("{slug}-bare"), bare.clone());
    let project = Project::new();
    project.spec(&format!(
        "version: 1
foundation:
  from: {base}
harness:
  binaries:
    bare: {{url: \"{bare_url}\", sha256: \"{bare_sum}\"}}
    hello: {{url: \"{url}\", sha256: \"{sum}\", extract: hello}}
",
        base = busybox_image(),
        bare_sum = sha256(&bare),
        sum = sha256(&archive),
    ));
    project
}

#[test]
fn harness_layers_are_reproducible_from_clean_caches() {
    let Some(docker) = engine() else { return };
    let _g = exclusive();
    let server = FileServer::start();
    let project = two_binaries(&server, "repro", &format!("repro {}", nonce()));
    // The frontend's own timestamps (SOURCE_DATE_EPOCH on every file and folder it makes),
    // and BuildKit's rewrite-timestamp on top.
    for extra in ["", ",rewrite-timestamp=true"] {
        let (a, ea) = harness_layers(&docker, &project, extra);
        let (b, eb) = harness_layers(&docker, &project, extra);
        assert_eq!(ea, eb, "layer entries differ ({extra:?})");
        assert_eq!(a, b, "layer digests differ ({extra:?})");
        for entries in &ea {
            for (path, (_, _, mtime)) in entries {
                assert_eq!(*mtime, 1_700_000_000, "{path} ({extra:?})");
            }
        }
    }
}

#[test]
fn rewrite_timestamp_keeps_the_base_image_layers() {
    let Some(docker) = engine() else { return };
    let _g = shared();
    let project = Project::new();
    project.spec(&format!(
        "version: 1\nfoundation:\n  from: {base}\n  run: [echo {run} > /f]\n",
        base = busybox_image(),
        run = nonce(),
    ));
    // The base image's files are younger than this epoch (a day after 1970), so without
    // the base config in the result (containerimage.base.config) the exporter would
    // rewrite its layers too.
    let base = docker.layers(&busybox_image());
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("oci.tar");
    docker.buildx_ok(
        project.path(),
        spec_path(),
        &[
            "--provenance=false",
            "--build-arg",
            "SOURCE_DATE_EPOCH=86400",
            "--output",
            &format!("type=oci,dest={},rewrite-timestamp=true", tar.display()),
        ],
    );
    let images = OciLayout::read(&tar).images();
    let diff_ids: Vec<String> = images[0].config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    assert!(diff_ids.len() > base.len(), "{diff_ids:?}");
    assert_eq!(
        diff_ids[..base.len()],
        base[..],
        "the base image's layers are kept as they are"
    );
}

/// The in-toto statement of the attestation of `repo:tag` whose predicate type contains
/// `predicate` (single-platform image: one attestation manifest next to it).
fn attestation(reg: &Registry, repo: &str, tag: &str, predicate: &str) -> serde_json::Value {
    let index = reg.manifest(repo, tag);
    let att = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest")
        .unwrap_or_else(|| panic!("no attestation manifest in {index}"));
    let manifest = reg.manifest(repo, att["digest"].as_str().unwrap());
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["annotations"]["in-toto.io/predicate-type"]
                .as_str()
                .is_some_and(|t| t.contains(predicate))
        })
        .unwrap_or_else(|| panic!("no {predicate} layer in {manifest}"));
    serde_json::from_slice(&reg.blob(repo, layer["digest"].as_str().unwrap())).unwrap()
}

#[test]
fn provenance_names_the_foundation_the_tools_and_the_frontend() {
    let Some(docker) = engine() else { return };
    let Some(reg) = Registry::start() else { return };
    let _g = shared();
    let server = FileServer::start();
    let project = Project::new();
    let archive = tool("prov");
    let url = server.put("hello-prov.tar.gz", archive.clone());
    let sum = sha256(&archive);
    project.spec(&small_spec(&nonce(), &url, &sum));
    let repo = "aishell-e2e/provenance";
    let image = format!("{}/{repo}:1", reg.host);
    docker.buildx_ok(
        project.path(),
        spec_path(),
        &["--push", "--provenance=mode=max", "-t", &image],
    );
    let statement = attestation(&reg, repo, "1", "slsa.dev/provenance");
    let predicate = &statement["predicate"];
    // SLSA v0.2 `materials`, or v1 `resolvedDependencies`.
    let materials = predicate["materials"]
        .as_array()
        .or_else(|| predicate["buildDefinition"]["resolvedDependencies"].as_array())
        .unwrap_or_else(|| panic!("no materials in {predicate}"));
    let find = |needle: &str| {
        materials
            .iter()
            .find(|m| m["uri"].as_str().is_some_and(|u| u.contains(needle)))
            .unwrap_or_else(|| panic!("no material {needle:?} in {materials:#?}"))
    };
    // The binary tool by its URL and checksum.
    assert_eq!(find(&url)["digest"]["sha256"], sum);
    // The foundation's base image and the frontend image, each by digest.
    let base_name = busybox_image();
    let base_name = base_name
        .split(':')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    for needle in [base_name, "aishell-frontend"] {
        let digest = find(needle)["digest"]["sha256"].as_str().unwrap_or("");
        assert_eq!(digest.len(), 64, "{needle}: {materials:#?}");
    }
}

/// Harness layers built by *different* engines (scripts/test runs this file on Docker 26.1,
/// on 28.5 and on a standalone buildkitd) are identical: each run records its layer digests,
/// uncompressed so the digest is the content's and not one gzip implementation's, under the
/// name of what built them (`docker-<version>` or `remote-<BuildKit version>`), and compares
/// them with the records other engines left in this target folder.
#[test]
fn harness_layers_are_identical_across_engines() {
    let Some(docker) = engine() else { return };
    let _g = exclusive();
    let server = FileServer::start();
    // Fixed bytes (no per-run nonce): every engine must build the very same layers.
    let project = two_binaries(&server, "across", "across engines");
    let (layers, _) = harness_layers(
        &docker,
        &project,
        ",compression=uncompressed,rewrite-timestamp=true",
    );
    assert_eq!(layers.len(), 2);
    let version = docker.builder().engine_name(&docker);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("aishell-e2e-repro");
    std::fs::create_dir_all(&dir).unwrap();
    let mut compared = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == format!("{version}.json") {
            continue;
        }
        let theirs: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        assert_eq!(
            layers, theirs,
            "harness layers differ between {version} and {name}"
        );
        compared += 1;
    }
    std::fs::write(
        dir.join(format!("{version}.json")),
        serde_json::to_string(&layers).unwrap(),
    )
    .unwrap();
    eprintln!("harness layers of {version} compared with {compared} other engine(s)");
    // scripts/test says how many engines ran before this one, so the comparison cannot
    // silently be skipped there.
    if let Ok(peers) = std::env::var("AISHELL_E2E_REPRO_PEERS") {
        let peers: usize = peers.parse().unwrap();
        assert!(
            compared >= peers,
            "expected records of {peers} other engine(s), found {compared}"
        );
    }
}

// --- zstd export -------------------------------------------------------------------------------

#[test]
fn a_zstd_export_compresses_the_new_layers_with_zstd_and_runs() {
    let Some(docker) = engine() else { return };
    let Some(reg) = Registry::start() else { return };
    let _g = shared();
    let server = FileServer::start();
    let run = nonce();
    let data = tool(&format!("zstd {run}"));
    let url = server.put("hello-zstd.tar.gz", data.clone());
    let project = Project::new();
    project.spec(&small_spec(&run, &url, &sha256(&data)));
    let name = format!("{}/aishell-e2e/zstd:1", reg.host);
    // As docs/buildx.md shows it, with this test's registry.
    docker.buildx_ok(
        project.path(),
        spec_path(),
        &[
            "--provenance=false",
            "--output",
            &format!("type=image,name={name},oci-mediatypes=true,compression=zstd,push=true"),
        ],
    );
    let images = reg.images("aishell-e2e/zstd", "1");
    let layers = images[0].manifest["layers"].as_array().unwrap().clone();
    let types: Vec<&str> = layers
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    // busybox's layer existed before this build and keeps its compression; the foundation
    // step, the extension and the tool were built here.
    assert_eq!(types.len(), 4, "{types:?}");
    assert!(types[0].ends_with("gzip"), "{types:?}");
    for t in &types[1..] {
        assert!(t.ends_with("zstd"), "{types:?}");
    }
    // The image pulls and runs.
    docker.rmi(&[&name]);
    let pulled = docker.cmd(&["pull", &name]);
    assert!(pulled.ok, "docker pull {name}: {}", pulled.stderr);
    assert_eq!(docker.sh(&name, "hello"), format!("hello zstd {run}\n"));
    docker.rmi(&[&name]);
}

/// `--sbom=true`: the frontend's own SPDX document (BuildKit's scanner image is not
/// reachable here, so a build that fell back to it would fail), read back from the registry.
/// It lists the foundation's dpkg packages, the npm tool with its dependency, and the binary
/// tool by URL and checksum; after a bump of the npm tool, it has the new version, and only
/// the bumped tool's inventory step ran again.
#[test]
fn sbom_lists_every_part_and_a_bump_reads_only_the_bumped_tool() {
    let Some(docker) = engine() else { return };
    let Some(reg) = Registry::start() else { return };
    let _g = shared();
    let server = FileServer::start();
    let project = Project::new();
    let archive = tool("sbom");
    let url = server.put("hello-sbom.tar.gz", archive.clone());
    let sum = sha256(&archive);
    let run = nonce();
    let spec = |debug: &str| {
        format!(
            "version: 1
foundation:
  from: {base}
  run:
    - echo {run} > /etc/aishell-e2e-nonce
harness:
  npm:
    debug: \"{debug}\"
  binaries:
    hello: {{url: \"{url}\", sha256: \"{sum}\", extract: hello}}
",
            base = debian_image()
        )
    };
    let repo = "aishell-e2e/sbom";
    let build = |debug: &str, tag: &str| {
        project.spec(&spec(debug));
        let image = format!("{}/{repo}:{tag}", reg.host);
        docker.buildx_ok(
            project.path(),
            spec_path(),
            &["--push", "--provenance=false", "--sbom=true", "-t", &image],
        )
    };
    let packages = |tag: &str| -> Vec<serde_json::Value> {
        let statement = attestation(&reg, repo, tag, "spdx.dev/Document");
        assert_eq!(statement["predicate"]["spdxVersion"], "SPDX-2.3");
        statement["predicate"]["packages"]
            .as_array()
            .unwrap()
            .clone()
    };
    let find = |pkgs: &[serde_json::Value], name: &str| {
        pkgs.iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {pkgs:#?}"))
            .clone()
    };
    let purl = |p: &serde_json::Value| {
        p["externalRefs"][0]["referenceLocator"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let first = build("4.3.4", "1");
    // The foundation (unique to this run) is read once, here.
    assert_eq!(
        vertex_cached(&first.stderr, "[sbom] read the foundation's packages"),
        Some(false),
        "{}",
        first.stderr
    );
    assert!(
        !first.stderr.contains("generating sbom using"),
        "BuildKit ran its scanner:\n{}",
        first.stderr
    );
    let pkgs = packages("1");
    assert_eq!(purl(&find(&pkgs, "debug")), "pkg:npm/debug@4.3.4");
    assert_eq!(find(&pkgs, "ms")["versionInfo"], "2.1.2");
    let hello = find(&pkgs, "hello");
    assert_eq!(hello["downloadLocation"], url.as_str());
    assert_eq!(hello["checksums"][0]["checksumValue"], sum.as_str());
    // The foundation's Debian packages, with their distribution.
    let dpkg = find(&pkgs, "dpkg");
    assert!(purl(&dpkg).starts_with("pkg:deb/debian/dpkg@"), "{dpkg}");
    assert!(purl(&dpkg).contains("distro=debian-"), "{dpkg}");
    assert_eq!(dpkg["comment"], "aishell part: foundation");

    // What users run to see it (docs/buildx.md): buildx reads the same document.
    let inspect = docker.cmd(&[
        "buildx",
        "imagetools",
        "inspect",
        &format!("{}/{repo}:1", reg.host),
        "--format",
        "{{ json .SBOM.SPDX }}",
    ]);
    assert!(inspect.ok, "{}", inspect.stderr);
    let spdx: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert!(
        spdx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "debug"),
        "{spdx}"
    );

    let second = build("4.3.5", "2");
    let pkgs = packages("2");
    assert_eq!(purl(&find(&pkgs, "debug")), "pkg:npm/debug@4.3.5");
    assert!(pkgs.iter().all(|p| p["versionInfo"] != "4.3.4"));
    assert_eq!(
        vertex_cached(&second.stderr, "[sbom] read the foundation's packages"),
        Some(true),
        "the foundation is not read again:\n{}",
        second.stderr
    );
    // The bumped tool's layer is read (a cache hit only where an earlier build read a layer
    // of the same content: BuildKit keys a read-only mount by its content), the old one not.
    assert!(
        vertex_cached(&second.stderr, "[sbom] read npm debug@4.3.5").is_some(),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains("read npm debug@4.3.4"));
}
