//! The JSON schema of the spec (`aishell-frontend schema`, `docs/image.schema.json`) against
//! the specs the frontend reads: the committed copy is the generated one, every example is
//! accepted, every corpus spec whose mistake is structural is rejected (and every corpus spec
//! whose mistake is only in values is not), and hand-written specs of every accepted shape
//! and of structural mistakes get the same verdict from the schema as from the frontend.
//!
//! Specs are checked the way an editor checks them: the YAML is read into JSON as YAML 1.2's
//! core schema types it (`1` a number, `true` a boolean, `~` null; see [`to_json`]), then
//! validated by a draft 7 validator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::spec::platform::Platform;
use aishell_frontend::spec::yaml::{self, Node, ScalarKind, Value};
use aishell_frontend::spec::{BuildArgs, parse_spec, resolve, schema};
use serde_json::{Map, Value as Json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aishell-frontend");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

// --- YAML as an editor reads it ---------------------------------------------------------

/// A spec as JSON, typed the way YAML 1.2's core schema (and so yaml-language-server) types
/// it; the frontend itself reads every scalar as text. Errors for what JSON cannot hold or
/// the YAML reader refuses: invalid YAML, a second document, duplicate keys, a key that is
/// not a scalar.
fn to_json(text: &str) -> Result<Json, String> {
    let root = yaml::parse(text).map_err(|e| e.message)?;
    node_to_json(&root)
}

fn node_to_json(node: &Node) -> Result<Json, String> {
    Ok(match &node.value {
        Value::Null => Json::Null,
        Value::Scalar(s, ScalarKind::Plain) => plain_scalar(s),
        Value::Scalar(s, _) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(node_to_json).collect::<Result<_, _>>()?),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key = match &k.value {
                    Value::Scalar(s, _) => s.clone(),
                    _ => {
                        return Err(format!(
                            "line {}: a key that is not a scalar",
                            k.span.start.line
                        ));
                    }
                };
                if map.insert(key.clone(), node_to_json(v)?).is_some() {
                    return Err(format!("line {}: duplicate key `{key}`", k.span.start.line));
                }
            }
            Json::Object(map)
        }
    })
}

/// A plain scalar by YAML 1.2's core schema: booleans, integers (decimal, `0o` octal, `0x`
/// hex) and floats; anything else is a string. (`~`, `null` and empty already came as null.)
fn plain_scalar(s: &str) -> Json {
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    match s {
        "true" | "True" | "TRUE" => return Json::Bool(true),
        "false" | "False" | "FALSE" => return Json::Bool(false),
        // JSON has no infinity or NaN; where the schema wants text a string is as good.
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Json::String(s.into()),
        _ => {}
    }
    if let Some(oct) = s.strip_prefix("0o").filter(|t| digits(t, 8))
        && let Ok(n) = u64::from_str_radix(oct, 8)
    {
        return Json::from(n);
    }
    if let Some(hex) = s.strip_prefix("0x").filter(|t| digits(t, 16))
        && let Ok(n) = u64::from_str_radix(hex, 16)
    {
        return Json::from(n);
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits(unsigned, 10)
        && let Ok(n) = s.parse::<i64>()
    {
        return Json::from(n);
    }
    // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac, 10),
        Some((int, frac)) => digits(int, 10) && (frac.is_empty() || digits(frac, 10)),
        None => digits(mantissa, 10),
    };
    if mantissa_ok
        && exponent.is_none_or(|e| digits(e, 10))
        && let Some(n) = s.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
    {
        return Json::Number(n);
    }
    Json::String(s.into())
}

#[test]
fn yaml_scalars_are_typed_as_an_editor_types_them() {
    let doc = to_json(
        "a: [1, -2, 0755, 0o17, 0x1F, 1.5, .5, 1e3, 1.2.3, true, False, yes, \"1\", '', ~, x]\n",
    )
    .unwrap();
    assert_eq!(
        doc["a"],
        serde_json::json!([
            1, -2, 755, 15, 31, 1.5, 0.5, 1000.0, "1.2.3", true, false, "yes", "1", "", null, "x"
        ])
    );
    assert!(
        to_json("a: 1\na: 2\n")
            .unwrap_err()
            .contains("duplicate key `a`")
    );
}

// --- the schema -----------------------------------------------------------------------

fn schema_value() -> Json {
    serde_json::from_str(&schema::json()).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&schema_value()).unwrap()
}

/// Where the schema rejects `instance`, as dotted key paths in the frontend's spelling
/// (`foundation.copy[0]`, the root as ""); empty when it accepts it.
fn rejections(v: &jsonschema::Validator, instance: &Json) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| dotted(e.instance_path().as_str()))
        .collect()
}

/// A JSON pointer (`/harness/npm/@openai~1codex`) as the frontend's key path
/// (`harness.npm.@openai/codex`).
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Whether `outer` is `path` or a value that holds it (`image` holds `image.cmd`).
fn encloses(outer: &str, path: &str) -> bool {
    outer.is_empty()
        || path == outer
        || path
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with(['.', '[']))
}

const REGENERATE: &str = "cargo run -q -p aishell-frontend -- schema > docs/image.schema.json";

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = repo().join("docs/image.schema.json");
    let generated = schema::json();
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/image.schema.json is not the schema the spec model generates (a type in \
         frontend/src/spec/ changed?). Regenerate it from the repository root with\n  {REGENERATE}\n\
         (or UPDATE_SCHEMA=1 cargo test -p aishell-frontend --test schema), read the diff and \
         commit it."
    );
}

#[test]
fn the_schema_command_prints_it() {
    let out = Command::new(BIN).arg("schema").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), schema::json());
}

/// yaml-language-server validates with draft 7: the schema must be one, and use no keyword
/// of later drafts (which a draft 7 validator ignores, so they would check nothing).
#[test]
fn the_schema_is_draft_7_for_editors() {
    let schema = schema_value();
    assert!(jsonschema::draft7::meta::is_valid(&schema));
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let text = schema::json();
    for later in [
        "$defs",
        "unevaluatedProperties",
        "prefixItems",
        "dependentRequired",
        "$dynamicRef",
    ] {
        assert!(
            !text.contains(later),
            "the schema uses `{later}`, which draft 7 does not have"
        );
    }
}

// --- examples ---------------------------------------------------------------------------

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn every_example_is_accepted() {
    let mut specs = Vec::new();
    yaml_files(&repo().join("examples"), &mut specs);
    assert!(specs.len() >= 2, "found only {specs:?} under examples/");
    let v = validator();
    for path in &specs {
        let text = std::fs::read_to_string(path).unwrap();
        let doc = to_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let wrong = rejections(&v, &doc);
        assert!(
            wrong.is_empty(),
            "{}: rejected at {wrong:?}",
            path.display()
        );
    }
}

// --- the corpus of broken specs -----------------------------------------------------------

/// Corpus specs whose mistakes include a structural one (unknown key, wrong type, missing
/// key, a Dockerfile and inline steps at once): the schema rejects each.
const STRUCTURAL: &[&str] = &[
    "apt_not_list",
    "binary_misspelt_key",
    "binary_no_sha256",
    "binary_no_url",
    "binary_url_only",
    "copy_misspelt_key",
    "copy_no_dest",
    "copy_not_mapping",
    "empty",
    "entrypoint_string",
    "env_list",
    "extension_both",
    "extension_misspelt_key",
    "extension_string",
    "extension_with_from",
    "foundation_empty",
    "foundation_misspelt_key",
    "from_list",
    "harness_misspelt_key",
    "image_misspelt_key",
    "many_structural_mistakes",
    // `<<` is an ordinary key to YAML 1.2, whose value (a mapping) is no env value.
    "merge_key",
    "missing_foundation",
    "missing_from",
    "missing_version",
    "npm_list",
    "npm_version_empty",
    "only_comments",
    "run_not_list",
    "structure_and_value_mistakes",
    "top_level_list",
    "top_level_scalar",
    "unknown_top_key",
    "version_list",
];

/// Mistakes in values that the schema can say too: the one version, the three parts.
const SCHEMA_VALUES: &[&str] = &[
    "order_duplicate",
    "order_missing_part",
    "order_unknown_part",
    "version_2",
];

/// Mistakes below the schema: the YAML itself (syntax, a second document, an alias without
/// anchor, duplicate keys, which JSON cannot hold and editors report on their own).
const NOT_JSON: &[&str] = &[
    "duplicate_key",
    "duplicate_npm_package",
    "npm_unquoted_scope",
    "second_document",
    "unknown_alias",
    "yaml_syntax",
    "yaml_tab_indent",
];

// Every other corpus spec is wrong in values only (names, references, versions, checksums,
// paths, platforms): the schema accepts it, and the frontend reports it.

fn corpus_names() -> BTreeSet<String> {
    std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// One line of a `.expected` file: the key path ("" when the message has none) and the
/// message.
fn diagnostic(line: &str) -> (String, String) {
    let (_, rest) = line
        .split_once(": error: ")
        .unwrap_or_else(|| panic!("not a diagnostic: {line}"));
    match rest.split_once(": ") {
        Some((path, message)) if !path.contains(char::is_whitespace) => {
            (path.to_string(), message.to_string())
        }
        _ => (String::new(), rest.to_string()),
    }
}

fn expected(name: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(corpus_dir().join(format!("{name}.expected")))
        .unwrap()
        .lines()
        .map(diagnostic)
        .collect()
}

/// A message the frontend gives for a structural mistake.
fn is_structural(message: &str) -> bool {
    [
        "unknown key `",
        "is required",
        "is empty; expected",
        "has no checksum",
        ", found ",
        "; found ",
        "the spec is empty",
        "either a Dockerfile or inline steps",
        "merge keys",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn is_yaml_level(message: &str) -> bool {
    message.starts_with("invalid YAML: ") || message.starts_with("duplicate key `")
}

fn corpus_json(name: &str) -> Json {
    let text = std::fs::read_to_string(corpus_dir().join(format!("{name}.yaml"))).unwrap();
    to_json(&text).unwrap_or_else(|e| panic!("{name}.yaml: not JSON-able: {e}"))
}

#[test]
fn the_corpus_lists_match_the_corpus_messages() {
    let all = corpus_names();
    let listed: Vec<&str> = STRUCTURAL
        .iter()
        .chain(SCHEMA_VALUES)
        .chain(NOT_JSON)
        .copied()
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a corpus spec is listed twice");
    for name in &unique {
        assert!(
            all.contains(*name),
            "{name} is listed but tests/corpus/{name}.yaml is gone"
        );
    }
    // The lists are what the frontend's own messages say, so a new corpus spec with a
    // structural (or YAML) mistake fails here until it is listed.
    let by_message = |pred: fn(&str) -> bool| -> BTreeSet<&str> {
        all.iter()
            .filter(|n| expected(n).iter().any(|(_, m)| pred(m)))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(
        by_message(is_structural),
        STRUCTURAL.iter().copied().collect::<BTreeSet<_>>()
    );
    assert_eq!(
        by_message(is_yaml_level),
        NOT_JSON.iter().copied().collect::<BTreeSet<_>>()
    );
}

#[test]
fn structural_corpus_mistakes_are_rejected_where_they_are() {
    let v = validator();
    for name in STRUCTURAL {
        let wrong = rejections(&v, &corpus_json(name));
        assert!(!wrong.is_empty(), "{name}.yaml: accepted by the schema");
        // Each structural mistake is rejected at its key or at a value holding it (an
        // alternative that fails as a whole is reported where it starts), so the schema
        // rejects the spec for that mistake and not for something else.
        for (path, message) in expected(name).into_iter().filter(|(_, m)| is_structural(m)) {
            assert!(
                wrong.iter().any(|w| encloses(w, &path)),
                "{name}.yaml: the schema rejects it at {wrong:?}, none of which holds `{path}` ({message})"
            );
        }
    }
}

#[test]
fn value_mistakes_the_schema_can_state_are_rejected() {
    let v = validator();
    for name in SCHEMA_VALUES {
        let wrong = rejections(&v, &corpus_json(name));
        let (path, _) = &expected(name)[0];
        assert!(
            wrong.iter().any(|w| encloses(w, path)),
            "{name}.yaml: not rejected at `{path}` (rejections: {wrong:?})"
        );
    }
}

#[test]
fn mistakes_in_values_only_are_left_to_the_frontend() {
    let v = validator();
    let listed: BTreeSet<&str> = STRUCTURAL
        .iter()
        .chain(SCHEMA_VALUES)
        .chain(NOT_JSON)
        .copied()
        .collect();
    let rest: Vec<String> = corpus_names()
        .into_iter()
        .filter(|n| !listed.contains(n.as_str()))
        .collect();
    assert!(
        rest.len() >= 30,
        "only {} corpus specs with value mistakes",
        rest.len()
    );
    for name in &rest {
        let wrong = rejections(&v, &corpus_json(name));
        assert!(
            wrong.is_empty(),
            "{name}.yaml: its mistakes are in values, yet the schema rejects it at {wrong:?}"
        );
    }
}

#[test]
fn yaml_level_mistakes_never_reach_the_schema() {
    for name in NOT_JSON {
        let text = std::fs::read_to_string(corpus_dir().join(format!("{name}.yaml"))).unwrap();
        assert!(to_json(&text).is_err(), "{name}.yaml: read as JSON");
    }
}

// --- hand-written specs: the schema and the frontend agree ----------------------------------

/// A valid spec that ends inside `foundation:`, so an indented line appended to it is one
/// more foundation key and an unindented one a new top-level key.
const BASE: &str = "version: 1\nfoundation:\n  from: debian:trixie-slim\n";

const SHA_A: &str = "07a6ff9b3c51c55fbec314cc20e93c510606ec649540a9270a743da4a575d4bd";

/// The frontend's verdict: parsed, and resolved for linux/amd64 with no build args.
fn frontend_accepts(text: &str) -> Result<(), Vec<String>> {
    let render = |d: aishell_frontend::spec::diag::Diagnostics| {
        d.items
            .iter()
            .map(|x| x.render("s.yaml"))
            .collect::<Vec<_>>()
    };
    let spec = parse_spec("s.yaml", text).map_err(render)?;
    let amd64 = Platform::linux_amd64();
    resolve(&spec, "s.yaml", &BuildArgs::new(), &amd64, &amd64).map_err(render)?;
    Ok(())
}

/// Specs using every shape the frontend accepts, each key with every spelling it takes.
fn accepted_shapes() -> Vec<(&'static str, String)> {
    vec![
        ("the base", BASE.to_string()),
        (
            "every key, scalars that an editor types as numbers and booleans",
            format!(
                r#"version: "1"
args:
  NODE_MAJOR: 24
  DEBUG: true
  RATIO: 1.5
  TOOLS: https://tools.example.invalid
foundation:
  from: debian:trixie-slim@sha256:{SHA_A}
  apt: [git, curl]
  copy:
    - src: docker/entrypoint.sh
      dest: /usr/local/bin/entrypoint.sh
      mode: 0755
      owner: "1000:1000"
    - image: node:24-bookworm-slim
      src: /usr/local/bin/node
      dest: /usr/local/bin/node
      mode: "0755"
  run:
    - useradd -m -u 1000 developer
  env:
    LANG: C.UTF-8
    NODE_MAJOR: 24
extension:
  apt: [ripgrep]
  copy:
    - src: docker/motd.txt
      dest: /etc/motd
  run:
    - echo ${{NODE_MAJOR}}
  env: {{IN_EXTENSION: true}}
harness:
  prefix: /opt/tools
  npm:
    "@openai/codex": "0.169.0"
    "@anthropic-ai/claude-code": {{version: 2.1.332, emulate: true}}
    is-number: {{version: "7.0.0", emulate: "false"}}
  binaries:
    gitleaks:
      url: https://example.invalid/gitleaks_${{TARGETARCH}}.tar.gz
      sha256: "{SHA_A}"
      extract: gitleaks
    opencode:
      url:
        linux/amd64: ${{TOOLS}}/opencode-x64
        linux/arm64: ${{TOOLS}}/opencode-arm64
      sha256: {{linux/amd64: "{SHA_A}", linux/arm64: "{SHA_A}"}}
  env:
    DISABLE_AUTOUPDATER: 1
  npm_secret: npmrc
image:
  order: [harness, foundation, extension]
  env: {{TERM: xterm-256color, COLUMNS: 80}}
  entrypoint: [/usr/local/bin/entrypoint.sh]
  cmd: [sleep, 10]
  workdir: /workspace
  user: 1000
  labels:
    org.opencontainers.image.title: my-project
    org.opencontainers.image.version: 2
"#
            ),
        ),
        (
            "an extension from a Dockerfile, the user reset to root",
            format!("{BASE}extension:\n  dockerfile: Dockerfile\nimage:\n  user: \"\"\n"),
        ),
        (
            "an empty inline extension",
            format!("{BASE}extension: {{}}\n"),
        ),
        (
            "every optional key empty (null)",
            r#"version: 1
args:
foundation:
  from: debian:trixie-slim
  apt:
  copy:
    - src: a
      dest: /a
      mode:
      owner: ~
      image: null
  run:
  env:
extension: ~
harness:
  prefix:
  npm:
    is-number: {version: "7.0.0", emulate: ~}
  binaries:
    tool: {url: "https://example.invalid/tool", sha256: "07a6ff9b3c51c55fbec314cc20e93c510606ec649540a9270a743da4a575d4bd", extract: ~}
  env:
  npm_secret:
image:
  order:
  env:
  entrypoint:
  cmd:
  workdir:
  user:
  labels:
"#
            .to_string(),
        ),
        (
            "sections empty",
            format!("{BASE}harness:\nimage:\nextension:\n"),
        ),
    ]
}

#[test]
fn every_accepted_shape_is_accepted_by_both() {
    let v = validator();
    for (what, text) in accepted_shapes() {
        if let Err(e) = frontend_accepts(&text) {
            panic!("{what}: the frontend rejects it, so it is no accepted shape:\n{e:#?}");
        }
        let wrong = rejections(&v, &to_json(&text).unwrap());
        assert!(
            wrong.is_empty(),
            "{what}: the schema rejects it at {wrong:?}:\n{text}"
        );
    }
}

/// One structural mistake each, appended to [`BASE`], and where the schema must see it:
/// at that key or at a value that holds it, within the same top-level section.
const MISTAKES: &[(&str, &str)] = &[
    ("  apt: {git: 1}\n", "foundation.apt"),
    ("  run: [[a, b]]\n", "foundation.run[0]"),
    ("  env: {A: {b: c}}\n", "foundation.env.A"),
    ("  env: [A=1]\n", "foundation.env"),
    ("  from2: x\n", "foundation"),
    ("  copy: [~]\n", "foundation.copy[0]"),
    (
        "  copy: [{src: a, dest: /a, own: 1}]\n",
        "foundation.copy[0]",
    ),
    (
        "  copy: [{src: a, dest: /a, mode: [7]}]\n",
        "foundation.copy[0].mode",
    ),
    ("args: {A: [1]}\n", "args.A"),
    ("args: {A: }\n", "args.A"),
    ("args: [A=1]\n", "args"),
    ("extension: {dockerfile: D, apt: [git]}\n", "extension"),
    ("extension: {dockerfile: [D]}\n", "extension"),
    ("extension: Dockerfile\n", "extension"),
    ("harness: {prefix: {a: b}}\n", "harness"),
    ("harness: {env: [A=1]}\n", "harness"),
    ("harness: {npm: {a: [1.0.0]}}\n", "harness"),
    ("harness: {npm: {a: {emulate: true}}}\n", "harness"),
    (
        "harness: {npm: {a: {version: 1.0.0, emulate: yes}}}\n",
        "harness",
    ),
    (
        "harness: {npm: {a: {version: 1.0.0, emulated: true}}}\n",
        "harness",
    ),
    ("harness: {binaries: {t: ~}}\n", "harness"),
    (
        "harness: {binaries: {t: {url: [a], sha256: 07a6ff9b3c51c55fbec314cc20e93c510606ec649540a9270a743da4a575d4bd}}}\n",
        "harness",
    ),
    (
        "harness: {binaries: {t: {url: https://x.invalid/t, sha256: {}}}}\n",
        "harness",
    ),
    (
        "harness: {binaries: {t: {url: https://x.invalid/t, sha256: 07a6ff9b3c51c55fbec314cc20e93c510606ec649540a9270a743da4a575d4bd, strip: 1}}}\n",
        "harness",
    ),
    ("image: {user: [a]}\n", "image"),
    ("image: {entrypoint: {a: b}}\n", "image"),
    ("image: {cmd: /bin/bash}\n", "image"),
    ("image: {workingdir: /w}\n", "image"),
];

#[test]
fn structural_mistakes_are_rejected_by_both() {
    let v = validator();
    for (snippet, at) in MISTAKES {
        let text = format!("{BASE}{snippet}");
        // The frontend rejects it, for a structural mistake (not, say, a bad value next to it).
        let diagnostics = frontend_accepts(&text).expect_err(&text);
        assert!(
            diagnostics.iter().all(|d| is_structural(&diagnostic(d).1)),
            "{diagnostics:#?}"
        );
        let wrong = rejections(&v, &to_json(&text).unwrap());
        let section = at.split(['.', '[']).next().unwrap_or_default();
        assert!(
            wrong
                .iter()
                .any(|w| encloses(w, at) && encloses(section, w)),
            "not rejected at `{at}` (rejections: {wrong:?}):\n{text}"
        );
    }
}

/// Mistakes that [`BASE`] cannot take (the version, the top level) and the value mistakes
/// the schema can state: both reject them, at that key.
#[test]
fn other_mistakes_the_schema_states_are_rejected_by_both() {
    let v = validator();
    for (text, at) in [
        ("version: 2\nfoundation: {from: x}\n", "version"),
        ("version: one\nfoundation: {from: x}\n", "version"),
        ("foundation: {from: x}\n", ""),
        ("version: 1\nfoundation: {from: ~}\n", "foundation.from"),
        ("version: 1\nfoundation: [from: x]\n", "foundation"),
        ("- version: 1\n", ""),
        (
            "version: 1\nfoundation: {from: x}\nimage: {order: [foundation, extension]}\n",
            "image",
        ),
        (
            "version: 1\nfoundation: {from: x}\nimage: {order: [foundation, extension, tools]}\n",
            "image",
        ),
    ] {
        assert!(
            frontend_accepts(text).is_err(),
            "the frontend accepts:\n{text}"
        );
        let wrong = rejections(&v, &to_json(text).unwrap());
        let section = at.split(['.', '[']).next().unwrap_or_default();
        assert!(
            wrong
                .iter()
                .any(|w| encloses(w, at) && encloses(section, w)),
            "not rejected at `{at}` (rejections: {wrong:?}):\n{text}"
        );
    }
}
