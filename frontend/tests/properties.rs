//! Properties of the conversion that must hold for every spec, not just the examples:
//! the order in which a spec writes its mapping keys, the order of `--platform` and the
//! order of the harness tools never change a byte of the definitions or of the image
//! config. A vertex digest is a user's cache key, so "the same spec" must mean "the same
//! graph" however it is spelled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aishell_frontend::graph::offline::{self, Offline, SpecFile};
use aishell_frontend::spec::Part;
use llb_graph::{encode_definition, marshal, validate};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A lower-case word of 1 to 8 letters.
fn word() -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..26, 1..8)
        .prop_map(|v| v.into_iter().map(|c| char::from(b'a' + c)).collect())
}

/// A value with characters that need YAML quoting.
fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "1", " ", ":", "#", "'", "-"]),
        0..10,
    )
    .prop_map(|v| v.concat())
}

fn map_of(
    key: impl Strategy<Value = String>,
    value: impl Strategy<Value = String>,
) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(key, value, 0..5).prop_map(|m| m.into_iter().collect())
}

fn version() -> impl Strategy<Value = String> {
    (0u32..30, 0u32..300, 0u32..30).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

fn npm_name() -> impl Strategy<Value = String> {
    (prop::option::of(word()), word()).prop_map(|(scope, n)| match scope {
        Some(s) => format!("@{s}/{n}"),
        None => n,
    })
}

/// A binary: (name, per-platform url map?, checksum seed).
type Binary = (String, bool, u8);

/// Every map of a spec, as key/value lists in one particular order.
#[derive(Debug, Clone)]
struct Maps {
    args: Vec<(String, String)>,
    foundation_env: Vec<(String, String)>,
    extension_env: Vec<(String, String)>,
    npm: Vec<(String, String)>,
    binaries: Vec<Binary>,
    harness_env: Vec<(String, String)>,
    image_env: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    /// Per-platform url and sha256 maps list linux/arm64 first.
    arm_first: bool,
}

fn env_name(w: &str) -> String {
    w.to_uppercase()
}

fn maps() -> impl Strategy<Value = Maps> {
    (
        map_of(word().prop_map(|w| format!("A_{}", env_name(&w))), value()),
        map_of(word().prop_map(|w| env_name(&w)), value()),
        map_of(word().prop_map(|w| env_name(&w)), value()),
        map_of(npm_name(), version()),
        prop::collection::btree_map(word(), (any::<bool>(), any::<u8>()), 0..4),
        map_of(word().prop_map(|w| env_name(&w)), value()),
        map_of(word().prop_map(|w| env_name(&w)), value()),
        map_of(word().prop_map(|w| format!("org.example.{w}")), value()),
    )
        .prop_map(|(args, fe, ee, npm, bins, he, ie, labels)| Maps {
            args,
            foundation_env: fe,
            extension_env: ee,
            npm,
            binaries: bins.into_iter().map(|(n, (p, s))| (n, p, s)).collect(),
            harness_env: he,
            image_env: ie,
            labels,
            arm_first: false,
        })
}

/// The same maps with every list shuffled.
fn shuffled(m: Maps) -> impl Strategy<Value = Maps> {
    (
        Just(m.args).prop_shuffle(),
        Just(m.foundation_env).prop_shuffle(),
        Just(m.extension_env).prop_shuffle(),
        Just(m.npm).prop_shuffle(),
        Just(m.binaries).prop_shuffle(),
        Just(m.harness_env).prop_shuffle(),
        Just(m.image_env).prop_shuffle(),
        Just(m.labels).prop_shuffle(),
        any::<bool>(),
    )
        .prop_map(
            |(args, fe, ee, npm, bins, he, ie, labels, arm_first)| Maps {
                args,
                foundation_env: fe,
                extension_env: ee,
                npm,
                binaries: bins,
                harness_env: he,
                image_env: ie,
                labels,
                arm_first,
            },
        )
}

/// A double-quoted YAML scalar (JSON string syntax is a subset of it).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn render_map(out: &mut String, indent: &str, key: &str, items: &[(String, String)]) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("{indent}{key}:\n"));
    for (k, v) in items {
        out.push_str(&format!("{indent}  {}: {}\n", q(k), q(v)));
    }
}

fn render(m: &Maps) -> String {
    let mut out = String::from("version: 1\n");
    render_map(&mut out, "", "args", &m.args);
    out.push_str("foundation:\n  from: busybox:1\n");
    // Every argument is used, so each one's value reaches the graph; the command itself
    // names them sorted (a list, unlike a mapping, is ordered on purpose).
    let mut uses: Vec<String> = m.args.iter().map(|(k, _)| format!("${{{k}}}")).collect();
    uses.sort();
    out.push_str(&format!(
        "  run: [{}]\n",
        q(&format!("echo {}", uses.join(" ")))
    ));
    render_map(&mut out, "  ", "env", &m.foundation_env);
    out.push_str("extension:\n  run: [echo ext]\n");
    render_map(&mut out, "  ", "env", &m.extension_env);
    out.push_str("harness:\n");
    render_map(&mut out, "  ", "npm", &m.npm);
    if !m.binaries.is_empty() {
        out.push_str("  binaries:\n");
        for (name, per_platform, seed) in &m.binaries {
            let sha = |arch: u8| format!("{:02x}", seed ^ arch).repeat(32);
            out.push_str(&format!("    {name}:\n"));
            if *per_platform {
                let mut urls = vec![
                    (
                        "linux/amd64",
                        format!("https://e.invalid/{name}-1.0.0-x64.tgz"),
                    ),
                    (
                        "linux/arm64",
                        format!("https://e.invalid/{name}-1.0.0-arm64.tgz"),
                    ),
                ];
                let mut shas = vec![("linux/amd64", sha(1)), ("linux/arm64", sha(2))];
                if m.arm_first {
                    urls.reverse();
                    shas.reverse();
                }
                out.push_str("      url:\n");
                for (p, u) in urls {
                    out.push_str(&format!("        {p}: {}\n", q(&u)));
                }
                out.push_str("      sha256:\n");
                for (p, s) in shas {
                    out.push_str(&format!("        {p}: {}\n", q(&s)));
                }
            } else {
                out.push_str(&format!(
                    "      url: \"https://e.invalid/{name}/v2.0.1/{name}_${{TARGETARCH}}.tar.gz\"\n"
                ));
                out.push_str(&format!("      sha256: {}\n", q(&sha(0))));
                out.push_str(&format!("      extract: {name}\n"));
            }
        }
    }
    render_map(&mut out, "  ", "env", &m.harness_env);
    out.push_str("image:\n  cmd: [/bin/sh]\n");
    render_map(&mut out, "  ", "env", &m.image_env);
    render_map(&mut out, "  ", "labels", &m.labels);
    out
}

/// Everything a build hands to BuildKit, per platform: the definition (without the source
/// map, which holds the spec text and so differs with the spelling on purpose), the image
/// config and the layers with their digests.
fn outputs(text: &str, platforms: &[&str], args: &[&str]) -> BTreeMap<String, Built> {
    let platforms: Vec<String> = platforms.iter().map(|s| s.to_string()).collect();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let options = offline::options("image.yaml", &platforms, &args, None).unwrap();
    let builds = offline::convert_all(&SpecFile::from_text("image.yaml", text), &options)
        .unwrap_or_else(|d| panic!("{d}\n---\n{text}"));
    builds
        .iter()
        .map(|b| (b.platform.to_string(), Built::of(b)))
        .collect()
}

#[derive(Debug, PartialEq)]
struct Built {
    definition: Vec<u8>,
    config: Vec<u8>,
    layers: Vec<(String, Option<llb_graph::Digest>)>,
}

impl Built {
    fn of(b: &Offline) -> Self {
        let def = marshal(&b.conversion.state, &[]);
        validate(&def).unwrap();
        Built {
            definition: encode_definition(&def),
            config: b.conversion.config.to_bytes(),
            layers: b
                .conversion
                .layers
                .iter()
                .map(|l| (l.name.clone(), l.state.digest().cloned()))
                .collect(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Keys of args, env, labels, npm, binaries and per-platform maps in any order give
    /// the same bytes, for one platform and for two.
    #[test]
    fn key_order_never_changes_the_graph(
        (a, b) in maps().prop_flat_map(|m| (Just(m.clone()), shuffled(m)))
    ) {
        let (ta, tb) = (render(&a), render(&b));
        for platforms in [&["linux/amd64"][..], &["linux/amd64,linux/arm64"]] {
            let (oa, ob) = (outputs(&ta, platforms, &[]), outputs(&tb, platforms, &[]));
            prop_assert_eq!(&oa, &ob, "\n--- a:\n{}\n--- b:\n{}", ta, tb);
            // And the same text converts to the same bytes every time.
            prop_assert_eq!(&oa, &outputs(&ta, platforms, &[]));
        }
    }

    /// `--platform a,b` and `--platform b,a` give each platform the same definition.
    #[test]
    fn platform_list_order_never_changes_a_platform(m in maps(), stack in any::<bool>()) {
        let text = render(&m);
        let args: &[&str] = if stack { &["AISHELL_MERGE=stack"] } else { &[] };
        let forward = outputs(&text, &["linux/amd64,linux/arm64"], args);
        let backward = outputs(&text, &["linux/arm64,linux/amd64"], args);
        let split = outputs(&text, &["linux/arm64", "linux/amd64"], args);
        prop_assert_eq!(forward.len(), 2);
        prop_assert_eq!(&forward, &backward);
        prop_assert_eq!(&forward, &split);
    }

    /// Harness tools in any order give the same layers, in the canonical order: npm
    /// packages by name, then binaries by name (byte order).
    #[test]
    fn tool_order_gives_the_canonical_layer_order(
        (a, b) in maps().prop_flat_map(|m| (Just(m.clone()), shuffled(m)))
    ) {
        let (ta, tb) = (render(&a), render(&b));
        let options = offline::options("image.yaml", &[], &[], None).unwrap();
        let la = offline::convert_all(&SpecFile::from_text("image.yaml", &ta), &options).unwrap();
        let lb = offline::convert_all(&SpecFile::from_text("image.yaml", &tb), &options).unwrap();
        let tools = |o: &Offline| -> Vec<(String, Option<llb_graph::Digest>)> {
            o.conversion
                .layers
                .iter()
                .filter(|l| l.part == Part::Harness)
                .map(|l| (l.name.clone(), l.state.digest().cloned()))
                .collect()
        };
        let (ta_tools, tb_tools) = (tools(&la[0]), tools(&lb[0]));
        prop_assert_eq!(&ta_tools, &tb_tools);
        let mut npm: Vec<String> = a.npm.iter().map(|(n, _)| n.clone()).collect();
        let mut bins: Vec<String> = a.binaries.iter().map(|(n, _, _)| n.clone()).collect();
        npm.sort();
        bins.sort();
        let canonical: Vec<String> = npm.into_iter().chain(bins).collect();
        let names: Vec<String> = ta_tools.into_iter().map(|(n, _)| n).collect();
        prop_assert_eq!(names, canonical);
    }
}

/// Found by `key_order_never_changes_the_graph`: env entries used to reach the exec ops
/// and the image config in the order the spec wrote them, so swapping two keys changed
/// the npm layers' cache keys and the image digest.
#[test]
fn regression_env_key_order_is_canonical() {
    let spec = |env: &str| {
        format!(
            "version: 1\nfoundation:\n  from: busybox:1\n  env:\n{env}\nharness:\n  npm: {{a: 1.0.0}}\nimage:\n  env:\n{env}\n"
        )
    };
    let a = outputs(&spec("    B: '2'\n    A: '1'"), &["linux/amd64"], &[]);
    let b = outputs(&spec("    A: '1'\n    B: '2'"), &["linux/amd64"], &[]);
    assert_eq!(a, b);
    let config = String::from_utf8(a["linux/amd64"].config.clone()).unwrap();
    assert!(config.contains(r#""A=1","B=2""#), "{config}");
}
