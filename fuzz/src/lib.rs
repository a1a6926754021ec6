//! What the fuzz targets check, kept out of the target files so a failing input can be
//! replayed from a plain test as well.
//!
//! * [`spec_bytes`]: any bytes through the parser, the resolver (linux/amd64 and
//!   linux/arm64) and, when they resolve, the offline conversion. Nothing may panic;
//!   errors are fine, they are the user's diagnostics.
//! * [`valid_graph`]: a spec that is valid by construction ([`GenSpec`]) must convert,
//!   and every definition it gives must pass `llb_graph::validate`, marshal to the
//!   same bytes twice and have each vertex's progress name recorded as it carries it.

use aishell_frontend::graph::offline::{self, SpecFile};
use aishell_frontend::spec::platform::Platform;
use aishell_frontend::spec::{self, BuildArgs};
use arbitrary::{Arbitrary, Unstructured};
use llb_graph::{encode_definition, marshal, validate};

/// Parses, resolves and converts `data` as a spec; panics only on a bug.
pub fn spec_bytes(data: &[u8]) {
    // Invalid UTF-8 is refused before parsing in both the frontend and the CLI, so the
    // lossy text is what reaches the parser in practice for the rest of the bytes.
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = spec::parse_spec("image.yaml", &text) else {
        return;
    };
    let amd64 = Platform::linux_amd64();
    let args = BuildArgs::new();
    for target in ["linux/amd64", "linux/arm64"] {
        let Ok(platform) = Platform::parse(target) else {
            continue;
        };
        let Ok(resolved) = spec::resolve(&parsed, "image.yaml", &args, &platform, &amd64) else {
            continue;
        };
        // The conversion is reached only by specs the resolver accepted, which is where
        // an unchecked assumption about a "valid" value would hide.
        let Ok(options) = offline::options("image.yaml", &[target.to_string()], &[], None) else {
            continue;
        };
        let file = SpecFile::from_text("image.yaml", &text);
        // Another platform than the build machine's cross-installs npm tools on the build
        // platform's foundation: converted here as the build does.
        let cross = if aishell_frontend::graph::cross::applies(&resolved, &options) {
            offline::cross_base(&file, &parsed, &options, false).ok()
        } else {
            None
        };
        if let Ok(build) = offline::convert(&file, &resolved, &options, false, cross) {
            let def = marshal(&build.conversion.state, &[offline::source_file(&file)]);
            if let Err(e) = validate(&def) {
                panic!("an accepted spec gave an invalid definition: {e}\n{text}");
            }
        }
    }
}

/// Builds a valid spec from `data` and checks every definition it converts to.
pub fn valid_graph(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(case) = Case::arbitrary(&mut u) else {
        return;
    };
    check_case(&case);
}

/// Converts `case` offline and checks the definitions; panics with the spec on failure.
pub fn check_case(case: &Case) {
    let text = case.spec.render();
    let (platforms, args, target) = case.build.options();
    let options = match offline::options("image.yaml", &platforms, &args, target) {
        Ok(o) => o,
        Err(e) => panic!("the generated options were refused: {e}"),
    };
    let file = SpecFile::from_text("image.yaml", &text);
    let builds = match offline::convert_all(&file, &options) {
        Ok(b) => b,
        Err(d) => panic!(
            "a valid spec was refused ({platforms:?} {args:?} {target:?}):\n{d}\n---\n{text}"
        ),
    };
    let again = match offline::convert_all(&file, &options) {
        Ok(b) => b,
        Err(d) => panic!("the second conversion failed:\n{d}\n---\n{text}"),
    };
    assert_eq!(
        builds.len(),
        platforms_len(&platforms),
        "one build per platform"
    );
    for (b, b2) in builds.iter().zip(&again) {
        let def = marshal(&b.conversion.state, &[offline::source_file(&file)]);
        if let Err(e) = validate(&def) {
            panic!("invalid definition for {}: {e}\n---\n{text}", b.platform);
        }
        let bytes = encode_definition(&def);
        assert_eq!(
            bytes,
            encode_definition(&marshal(
                &b.conversion.state,
                &[offline::source_file(&file)]
            )),
            "marshalling twice differs\n---\n{text}"
        );
        assert_eq!(
            bytes,
            encode_definition(&marshal(
                &b2.conversion.state,
                &[offline::source_file(&file)]
            )),
            "converting twice differs\n---\n{text}"
        );
        // Every vertex's recorded progress name (what `aishell-frontend graph` groups it
        // by) is the name the definition gives it.
        let names = &b.conversion.names;
        assert_eq!(
            names.len(),
            def.metadata.len(),
            "one name per vertex\n---\n{text}"
        );
        for (digest, meta) in &def.metadata {
            assert_eq!(
                names.get(digest).map(ToString::to_string).as_ref(),
                meta.description.get("llb.customname"),
                "the recorded name of {digest}\n---\n{text}"
            );
        }
        // Each layer is solved on its own by the merge guards, so it must be a valid
        // definition too.
        for layer in &b.conversion.layers {
            if let Err(e) = validate(&marshal(&layer.state, &[])) {
                panic!(
                    "invalid layer {} for {}: {e}\n---\n{text}",
                    layer.name, b.platform
                );
            }
        }
    }
}

fn platforms_len(platforms: &[String]) -> usize {
    platforms.first().map(|p| p.split(',').count()).unwrap_or(1)
}

/// A generated spec and the way it is built.
#[derive(Debug, Arbitrary)]
pub struct Case {
    /// The spec.
    pub spec: GenSpec,
    /// Platforms, target, merge mode.
    pub build: GenBuild,
}

/// How a generated spec is built: platforms, target and build arguments.
#[derive(Debug, Arbitrary)]
pub struct GenBuild {
    platforms: u8,
    target: u8,
    stack: bool,
    epoch: Option<u32>,
}

impl GenBuild {
    fn options(&self) -> (Vec<String>, Vec<String>, Option<&'static str>) {
        let platforms = match self.platforms % 5 {
            0 => vec![],
            1 => vec!["linux/arm64".to_string()],
            2 => vec!["linux/amd64,linux/arm64".to_string()],
            3 => vec!["linux/arm64,linux/amd64".to_string()],
            _ => vec!["linux/amd64".to_string()],
        };
        let mut target = match self.target % 5 {
            0 => Some("foundation"),
            1 => Some("extension"),
            2 => Some("harness"),
            3 => Some("image"),
            _ => None,
        };
        let mut args = Vec::new();
        if self.stack {
            args.push("AISHELL_MERGE=stack".to_string());
            // A stacked build has no harness-only image: that target is refused on
            // purpose (a diagnostic, not a graph), so it is not a "valid" case.
            if target == Some("harness") {
                target = None;
            }
        }
        if let Some(e) = self.epoch {
            args.push(format!("SOURCE_DATE_EPOCH={e}"));
        }
        (platforms, args, target)
    }
}

/// A spec that is valid by construction: every value is drawn from what docs/spec.md
/// allows, and duplicate keys are dropped.
#[derive(Debug, Arbitrary)]
pub struct GenSpec {
    from: u8,
    foundation: GenSteps,
    extension: Option<GenSteps>,
    prefix: u8,
    npm: Vec<(Word, GenVersion)>,
    npm_scopes: Vec<bool>,
    binaries: Vec<(Word, GenBinary)>,
    harness_env: Vec<(Word, Text)>,
    npm_secret: bool,
    order: Option<u8>,
    image: GenImage,
    arch_arg: bool,
}

/// apt, copy, run and env of a part.
#[derive(Debug, Arbitrary)]
pub struct GenSteps {
    apt: Vec<Word>,
    copy: Vec<GenCopy>,
    run: Vec<Text>,
    env: Vec<(Word, Text)>,
}

/// One copy item.
#[derive(Debug, Arbitrary)]
pub struct GenCopy {
    src: Vec<Word>,
    dest: Vec<Word>,
    image: Option<u8>,
    mode: Option<u16>,
    owner: Option<(u16, u16)>,
}

/// An exact npm version.
#[derive(Debug, Arbitrary)]
pub struct GenVersion {
    major: u16,
    minor: u16,
    patch: u16,
    pre: Option<Word>,
}

/// A binary: one URL or one per platform, the same for the checksum.
#[derive(Debug, Arbitrary)]
pub struct GenBinary {
    per_platform_url: bool,
    per_platform_sha: bool,
    sha: [[u8; 32]; 2],
    sha_style: u8,
    extract: Option<Vec<Word>>,
    version: Option<GenVersion>,
}

/// The `image:` section.
#[derive(Debug, Arbitrary)]
pub struct GenImage {
    env: Vec<(Word, Text)>,
    entrypoint: Option<Vec<Text>>,
    cmd: Option<Vec<Text>>,
    workdir: Option<Vec<Word>>,
    user: Option<u8>,
    labels: Vec<(Word, Text)>,
}

/// A short lower-case word, never empty: names, path components, apt packages.
#[derive(Debug, Arbitrary)]
pub struct Word(Vec<u8>);

impl Word {
    fn get(&self) -> String {
        const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
        const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
        let mut s = String::new();
        for (i, b) in self.0.iter().take(12).enumerate() {
            let set = if i == 0 { FIRST } else { REST };
            s.push(char::from(set[usize::from(*b) % set.len()]));
        }
        if s.is_empty() {
            s.push('x');
        }
        s
    }

    fn env_name(&self) -> String {
        self.get().replace('-', "_").to_uppercase()
    }
}

/// Free text for commands and values: printable, with spaces, quotes and escaped `$`.
#[derive(Debug, Arbitrary)]
pub struct Text(Vec<u8>);

impl Text {
    fn get(&self) -> String {
        // Quotes, backslashes, '#', ':' and '$$' exercise YAML quoting and substitution;
        // a lone "${" would need a declared argument, so '$' only comes as "$$" or "$X".
        const CHARS: &[&str] = &[
            "a", "b", "z", "0", "9", " ", "-", "_", ".", "/", ":", "=", "#", "\"", "'", "\\", "$$",
            "$HOME", "é", "{", "}", "[", "]", ",", "&", "*", "!", "|", ">", "%", "@",
        ];
        let s: String = self
            .0
            .iter()
            .take(40)
            .map(|b| CHARS[usize::from(*b) % CHARS.len()])
            .collect();
        if s.trim().is_empty() {
            "true".to_string()
        } else {
            s
        }
    }
}

/// A YAML double-quoted scalar: JSON's string syntax is a subset of it.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn path(words: &[Word], min: usize) -> String {
    let mut parts: Vec<String> = words.iter().take(4).map(Word::get).collect();
    while parts.len() < min {
        parts.push("p".to_string());
    }
    parts.join("/")
}

/// Keeps the first of each key, in the order generated (duplicates are spec errors).
fn unique<'a, T>(items: impl IntoIterator<Item = (String, &'a T)>) -> Vec<(String, &'a T)> {
    let mut out: Vec<(String, &'a T)> = Vec::new();
    for (k, v) in items {
        if !out.iter().any(|(x, _)| *x == k) {
            out.push((k, v));
        }
    }
    out
}

const IMAGES: &[&str] = &[
    "busybox:1",
    "debian:trixie-slim",
    "docker.io/library/alpine:3.20",
    "ghcr.io/org/base:1.0",
    "localhost:5000/team/node:24",
    "debian@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
];

const PREFIXES: &[&str] = &["/tools", "/opt/aishell", "/usr/local/aishell", "/a/b/c/d"];

const ORDERS: &[[&str; 3]] = &[
    ["foundation", "extension", "harness"],
    ["foundation", "harness", "extension"],
    ["extension", "foundation", "harness"],
    ["extension", "harness", "foundation"],
    ["harness", "foundation", "extension"],
    ["harness", "extension", "foundation"],
];

impl GenVersion {
    fn get(&self) -> String {
        let mut v = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if let Some(p) = &self.pre {
            v.push('-');
            // One alphanumeric identifier: an empty one ("1.0.0-a." or "-a..b") is not a
            // version, and a word never starts with a digit, so no leading zeros either.
            v.push_str(&p.get().replace('-', ""));
        }
        v
    }
}

impl GenSteps {
    fn render(&self, out: &mut String, indent: &str) {
        let apt: Vec<String> = self
            .apt
            .iter()
            .take(6)
            .map(|w| format!("{}x", w.get()))
            .collect();
        if !apt.is_empty() {
            out.push_str(&format!("{indent}apt: [{}]\n", apt.join(", ")));
        }
        let copies: Vec<&GenCopy> = self.copy.iter().take(4).collect();
        if !copies.is_empty() {
            out.push_str(&format!("{indent}copy:\n"));
            for c in copies {
                let src = path(&c.src, 1);
                match c.image {
                    Some(i) => {
                        out.push_str(&format!(
                            "{indent}  - image: {}\n{indent}    src: /{src}\n",
                            q(IMAGES[usize::from(i) % IMAGES.len()])
                        ));
                    }
                    None => out.push_str(&format!("{indent}  - src: ./{src}\n")),
                }
                out.push_str(&format!("{indent}    dest: /{}\n", path(&c.dest, 1)));
                if let Some(m) = c.mode {
                    out.push_str(&format!("{indent}    mode: \"{:o}\"\n", m & 0o7777));
                }
                if let Some((u, g)) = c.owner {
                    out.push_str(&format!("{indent}    owner: \"{u}:{g}\"\n"));
                }
            }
        }
        let run: Vec<String> = self.run.iter().take(4).map(|t| q(&t.get())).collect();
        if !run.is_empty() {
            out.push_str(&format!("{indent}run:\n"));
            for r in run {
                out.push_str(&format!("{indent}  - {r}\n"));
            }
        }
        render_map(out, indent, "env", &self.env, Word::env_name);
    }
}

fn render_map(
    out: &mut String,
    indent: &str,
    key: &str,
    items: &[(Word, Text)],
    name: impl Fn(&Word) -> String,
) {
    let items = unique(items.iter().take(5).map(|(k, v)| (name(k), v)));
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("{indent}{key}:\n"));
    for (k, v) in items {
        out.push_str(&format!("{indent}  {}: {}\n", q(&k), q(&v.get())));
    }
}

impl GenSpec {
    /// The spec as YAML text.
    pub fn render(&self) -> String {
        let mut out = String::from("# syntax=ghcr.io/org/aishell-frontend:1\nversion: 1\n");
        if self.arch_arg {
            out.push_str("args:\n  FLAVOUR: \"${TARGETARCH}-build\"\n");
        }
        out.push_str("foundation:\n");
        // With the argument, the base image differs per platform through substitution.
        let from = if self.arch_arg {
            "busybox:${FLAVOUR}"
        } else {
            IMAGES[usize::from(self.from) % IMAGES.len()]
        };
        out.push_str(&format!("  from: {}\n", q(from)));
        self.foundation.render(&mut out, "  ");
        if let Some(ext) = &self.extension {
            let mut body = String::new();
            ext.render(&mut body, "  ");
            if body.is_empty() {
                out.push_str("extension: {}\n");
            } else {
                out.push_str("extension:\n");
                out.push_str(&body);
            }
        }
        out.push_str("harness:\n");
        out.push_str(&format!(
            "  prefix: {}\n",
            PREFIXES[usize::from(self.prefix) % PREFIXES.len()]
        ));
        let npm = unique(self.npm.iter().take(6).enumerate().map(|(i, (w, v))| {
            let scoped = self.npm_scopes.get(i).copied().unwrap_or(false);
            let name = if scoped {
                format!("@s{}/{}", i % 3, w.get())
            } else {
                w.get()
            };
            (name, v)
        }));
        if !npm.is_empty() {
            out.push_str("  npm:\n");
            for (name, v) in npm {
                out.push_str(&format!("    {}: {}\n", q(&name), q(&v.get())));
            }
        }
        let bins = unique(self.binaries.iter().take(5).map(|(w, b)| (w.get(), b)));
        if !bins.is_empty() {
            out.push_str("  binaries:\n");
            for (name, b) in bins {
                b.render(&mut out, &name);
            }
        }
        render_map(&mut out, "  ", "env", &self.harness_env, Word::env_name);
        if self.npm_secret {
            out.push_str("  npm_secret: npmrc\n");
        }
        out.push_str("image:\n");
        if let Some(o) = self.order {
            let order = ORDERS[usize::from(o) % ORDERS.len()];
            out.push_str(&format!("  order: [{}]\n", order.join(", ")));
        }
        self.image.render(&mut out);
        out
    }
}

impl GenBinary {
    fn render(&self, out: &mut String, name: &str) {
        let version = self
            .version
            .as_ref()
            .map(GenVersion::get)
            .unwrap_or_else(|| "latest".into());
        out.push_str(&format!("    {name}:\n"));
        let url = |arch: &str| {
            format!(
                "https://example.invalid/{name}/v{version}/{name}_{version}_linux_{arch}.tar.gz"
            )
        };
        if self.per_platform_url {
            out.push_str(&format!(
                "      url:\n        linux/amd64: {}\n        linux/arm64: {}\n",
                q(&url("x64")),
                q(&url("arm64"))
            ));
        } else {
            out.push_str(&format!("      url: {}\n", q(&url("${TARGETARCH}"))));
        }
        let sha = |i: usize| {
            let hex: String = self.sha[i].iter().map(|b| format!("{b:02x}")).collect();
            match self.sha_style % 3 {
                0 => hex,
                1 => hex.to_uppercase(),
                _ => format!("sha256:{hex}"),
            }
        };
        if self.per_platform_sha {
            out.push_str(&format!(
                "      sha256: {{linux/amd64: {}, linux/arm64: {}}}\n",
                q(&sha(0)),
                q(&sha(1))
            ));
        } else {
            out.push_str(&format!("      sha256: {}\n", q(&sha(0))));
        }
        if let Some(e) = &self.extract {
            out.push_str(&format!("      extract: {}\n", path(e, 1)));
        }
    }
}

impl GenImage {
    fn render(&self, out: &mut String) {
        render_map(out, "  ", "env", &self.env, Word::env_name);
        let list = |items: &[Text]| -> String {
            let v: Vec<String> = items.iter().take(4).map(|t| q(&t.get())).collect();
            format!("[{}]", v.join(", "))
        };
        if let Some(e) = &self.entrypoint {
            out.push_str(&format!("  entrypoint: {}\n", list(e)));
        }
        if let Some(c) = &self.cmd {
            out.push_str(&format!("  cmd: {}\n", list(c)));
        }
        if let Some(w) = &self.workdir {
            out.push_str(&format!("  workdir: /{}\n", path(w, 1)));
        }
        if let Some(u) = self.user {
            let user = ["developer", "1000", "1000:1000", ""][usize::from(u) % 4];
            out.push_str(&format!("  user: {}\n", q(user)));
        }
        render_map(out, "  ", "labels", &self.labels, |w| {
            format!("org.example.{}", w.get())
        });
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), so the plain tests below need no
/// fuzzing engine and replay the same inputs on every run.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A bounded, coverage-less run of both checks on stable Rust without cargo-fuzz:
    // `cargo test --manifest-path fuzz/Cargo.toml`. scripts/fuzz runs the real thing.

    #[test]
    fn generated_specs_convert_to_valid_definitions() {
        // AISHELL_FUZZ_CASES=N replays more seeds (the default keeps `cargo test` quick).
        let cases = std::env::var("AISHELL_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        for seed in 0..cases {
            let data = pseudo_random_bytes(seed, 64 + (seed as usize % 8) * 256);
            let mut u = Unstructured::new(&data);
            if let Ok(case) = Case::arbitrary(&mut u) {
                check_case(&case);
            }
        }
    }

    #[test]
    fn generated_specs_are_not_trivial() {
        // The generator must reach tools, steps and an extension, or the fuzz target
        // would only ever check near-empty specs.
        let texts: Vec<String> = (0..100)
            .filter_map(|seed| {
                let data = pseudo_random_bytes(seed, 2048);
                Case::arbitrary(&mut Unstructured::new(&data))
                    .ok()
                    .map(|c| c.spec.render())
            })
            .collect();
        for needle in ["npm:", "binaries:", "extension:", "copy:", "order:", "@s"] {
            assert!(
                texts.iter().any(|t| t.contains(needle)),
                "no generated spec has {needle}"
            );
        }
        if std::env::var_os("SHOW_SPEC").is_some() {
            eprintln!("{}", texts[0]);
        }
    }

    #[test]
    fn random_bytes_and_garbled_seeds_do_not_panic() {
        for seed in 0..300 {
            spec_bytes(&pseudo_random_bytes(seed, seed as usize % 512));
        }
    }
}
