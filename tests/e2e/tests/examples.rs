//! Every example under `examples/` is built through `# syntax=` and checked against its
//! expectation file `examples/<name>/test.json` (layer count, env, labels, commands and
//! their exact output).
//!
//! Placeholders in `build_args`: `${SERVER}` is a loopback HTTP server serving the
//! example's `serve` folder; `${NPM_REGISTRY}` is the npm registry's base URL read from
//! `npm config get registry` (no registry host is written in the repository).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_e2e::{FileServer, engine};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn npm_registry() -> String {
    let out = Command::new("npm")
        .args(["config", "get", "registry"])
        .output()
        .expect("npm on PATH");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_end_matches('/')
        .to_string()
}

fn serve(dir: &Path) -> FileServer {
    let server = FileServer::start();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            server.put(&name, std::fs::read(entry.path()).unwrap());
        }
    }
    server
}

fn check_example(name: &str) {
    let Some(docker) = engine() else { return };
    let dir = examples_dir().join(name);
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
    let server = expect["serve"].as_str().map(|s| serve(&dir.join(s)));
    let mut args: Vec<String> = Vec::new();
    for (k, v) in expect["build_args"].as_object().into_iter().flatten() {
        let mut v = v.as_str().unwrap().to_string();
        if let Some(s) = &server {
            v = v.replace("${SERVER}", &s.base);
        }
        if v.contains("${NPM_REGISTRY}") {
            v = v.replace("${NPM_REGISTRY}", &npm_registry());
        }
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    let tag = format!("aishell-e2e/example-{name}");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker.build_ok(&dir, ".aishell/image.yaml", &tag, &args);

    if let Some(n) = expect["layers"].as_u64() {
        assert_eq!(docker.layers(&tag).len() as u64, n, "layer count of {name}");
    }
    let env = docker.env(&tag);
    for (k, v) in expect["env"].as_object().into_iter().flatten() {
        assert_eq!(
            env.get(k).map(String::as_str),
            v.as_str(),
            "env {k} of {name}"
        );
    }
    assert!(
        env["PATH"].starts_with("/tools/npm/bin:/tools/bin:"),
        "{}",
        env["PATH"]
    );
    let labels = docker.config(&tag)["Labels"].clone();
    for (k, v) in expect["labels"].as_object().into_iter().flatten() {
        assert_eq!(&labels[k], v, "label {k} of {name}");
    }
    for step in expect["run"].as_array().into_iter().flatten() {
        let script = step["sh"].as_str().unwrap();
        assert_eq!(
            docker.sh(&tag, script),
            step["stdout"].as_str().unwrap(),
            "`{script}` in {name}"
        );
    }
}

#[test]
fn example_hello() {
    check_example("hello");
}

#[test]
fn example_aishell() {
    check_example("aishell");
}

#[test]
fn every_example_has_a_test() {
    for entry in std::fs::read_dir(examples_dir()).unwrap().flatten() {
        if entry.path().join(".aishell/image.yaml").exists() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                entry.path().join("test.json").exists(),
                "examples/{name} has no test.json"
            );
            let this = include_str!("examples.rs");
            assert!(
                this.contains(&format!("check_example(\"{name}\")")),
                "examples/{name} is not tested here"
            );
        }
    }
}
