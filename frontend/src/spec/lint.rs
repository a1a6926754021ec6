//! Checks (`docker buildx build --call check`): specs that build, but probably not the way
//! the user wants.
//!
//! Each [`Rule`] has a stable CamelCase name (as BuildKit's Dockerfile checks do) so users
//! can look it up in `docs/checks.md` and skip it with a `# check=skip=<Rule>` line at the
//! top of the spec. [`lint`] returns warnings only; a spec that does not parse or resolve is
//! an error of the build, reported separately by the check subrequest.
//!
//! ```
//! use aishell_frontend::spec::{self, lint};
//! let text = "version: 1\nfoundation:\n  from: debian:trixie-slim\n";
//! let parsed = spec::parse_spec("image.yaml", text).unwrap();
//! let warnings = lint::lint(&parsed, None);
//! assert_eq!(warnings[0].rule, Some("FoundationNotPinned"));
//! assert_eq!(warnings[0].span.unwrap().start.line, 3);
//! ```

use crate::spec::diag::Diagnostic;
use crate::spec::reference::is_pinned;
use crate::spec::yaml::{Pos, Span};
use crate::spec::{self, CopySource, PerPlatform, ResolvedSpec, Spanned, Spec, Steps};
use std::collections::{BTreeMap, BTreeSet};

/// One check: its stable name and what it asks for, in one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// CamelCase name, e.g. `FoundationNotPinned`.
    pub name: &'static str,
    /// One-line description of the expectation.
    pub description: &'static str,
}

/// `foundation.from` without a `@sha256:` digest.
pub const FOUNDATION_NOT_PINNED: Rule = Rule {
    name: "FoundationNotPinned",
    description: "The foundation image should be pinned by a sha256 digest",
};

/// A `copy:` item whose `image:` has no `@sha256:` digest.
pub const COPY_IMAGE_NOT_PINNED: Rule = Rule {
    name: "CopyImageNotPinned",
    description: "Images that files are copied from should be pinned by a sha256 digest",
};

/// A harness binary downloaded over `http://`.
pub const PLAIN_HTTP_DOWNLOAD: Rule = Rule {
    name: "PlainHttpDownload",
    description: "Harness binaries should be downloaded over HTTPS",
};

/// An `args:` entry nothing refers to.
pub const UNUSED_ARG: Rule = Rule {
    name: "UnusedArg",
    description: "Every argument declared in args should be used",
};

/// `image.order` with the harness below the extension.
pub const HARNESS_BELOW_EXTENSION: Rule = Rule {
    name: "HarnessBelowExtension",
    description: "The harness should come after the extension in image.order",
};

/// `harness.prefix` inside a directory the system or the runtime owns.
pub const HARNESS_PREFIX_IN_SYSTEM_PATH: Rule = Rule {
    name: "HarnessPrefixInSystemPath",
    description: "The harness prefix should be a directory of its own, outside system directories",
};

/// Every rule, in the order `docs/checks.md` describes them.
pub const RULES: [Rule; 6] = [
    FOUNDATION_NOT_PINNED,
    COPY_IMAGE_NOT_PINNED,
    PLAIN_HTTP_DOWNLOAD,
    UNUSED_ARG,
    HARNESS_BELOW_EXTENSION,
    HARNESS_PREFIX_IN_SYSTEM_PATH,
];

/// The rule named `name`, if there is one.
pub fn rule(name: &str) -> Option<Rule> {
    RULES.into_iter().find(|r| r.name == name)
}

/// Top-level directories a harness prefix must not be inside of.
///
/// The package manager and the extension own `/usr`, `/etc`, `/bin`, `/sbin`, `/lib*` and
/// `/var`; `/boot` belongs to the (absent) kernel; `/proc`, `/sys`, `/dev` and `/run` are
/// covered by mounts when a container runs; `/tmp` is a tmpfs while npm tools are
/// installed, and is cleaned at run time. `/opt/tools`, `/tools` or `/aishell` are fine.
pub const SYSTEM_DIRS: &[&str] = &[
    "usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "var", "boot", "proc", "sys",
    "dev", "run", "tmp",
];

/// All warnings for `spec`, sorted by position.
///
/// `resolved` is the spec resolved for one platform, when resolution succeeded: checks on
/// values (pins, URL schemes, the prefix) then see `${NAME}` replaced, so a digest that
/// comes from an argument counts. Spans are the same in both.
pub fn lint(spec: &Spec, resolved: Option<&ResolvedSpec>) -> Vec<Diagnostic> {
    let values = FinalValues::new(resolved);
    let mut out = Vec::new();
    foundation_not_pinned(spec, &values, &mut out);
    copy_image_not_pinned(spec, &values, &mut out);
    plain_http_download(spec, &values, &mut out);
    unused_arg(spec, &mut out);
    harness_below_extension(spec, &mut out);
    harness_prefix_in_system_path(spec, &values, &mut out);
    out.sort_by_key(|d| d.span.map(|s| (s.start.line, s.start.col)));
    out
}

/// Declared arguments that the spec's values use, directly or through the defaults of
/// other used arguments. (An argument that only an unused argument's default refers to is
/// unused as well, so one `--call check` round finds the whole chain.)
pub fn args_in_use(spec: &Spec) -> BTreeSet<String> {
    let declared: BTreeSet<&str> = spec.args.iter().map(|a| a.name.value.as_str()).collect();
    // `used_args` also reads every argument default; with the declarations narrowed to the
    // ones already known to be used, it grows the set one level at a time.
    let mut probe = spec.clone();
    probe.args.clear();
    let mut used = spec::used_args(&probe);
    loop {
        probe.args = spec
            .args
            .iter()
            .filter(|a| used.contains(&a.name.value))
            .cloned()
            .collect();
        let next = spec::used_args(&probe);
        if next == used {
            break;
        }
        used = next;
    }
    used.retain(|n| declared.contains(n.as_str()));
    used
}

/// Where each rule is explained: a page of docs/checks.md, by rule name.
pub const DOCS_URL: &str = "https://github.com/org/aishell-frontend/blob/main/docs/checks.md";

/// The documentation address of `rule` (`…/docs/checks.md#unusedarg`).
pub fn url(rule: &str) -> String {
    format!("{DOCS_URL}#{}", rule.to_ascii_lowercase())
}

/// The build argument that sets the check directive from the command line, as for a
/// Dockerfile (`--build-arg BUILDKIT_DOCKERFILE_CHECK=skip=UnusedArg;error=true`); it
/// replaces a directive in the spec.
pub const CHECK_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// The `# check=` directive among the comment lines at the top of the spec (the same one
/// BuildKit's Dockerfile frontend reads), or the [`CHECK_ARG`] build argument.
///
/// ```
/// use aishell_frontend::spec::lint::CheckDirective;
/// let d = CheckDirective::from_text("# syntax=x\n# check=skip=UnusedArg;error=true\nversion: 1\n");
/// assert!(d.error && d.rules.contains("UnusedArg") && !d.all);
/// assert_eq!(d.span.unwrap().start.line, 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckDirective {
    /// `skip=all`: every rule is off.
    pub all: bool,
    /// Rule names listed in `skip=`.
    pub rules: BTreeSet<String>,
    /// `error=true`: a build with a warning of a rule that is on fails before it builds.
    pub error: bool,
    /// The directive's line in the spec (none when it came from [`CHECK_ARG`]).
    pub span: Option<Span>,
    /// A field that is not understood (`error=maybe`, `skp=…`): the build stops with it.
    pub invalid: Option<String>,
}

impl CheckDirective {
    /// Reads the directive from the spec text; no directive means every rule is on and
    /// warnings stay warnings.
    pub fn from_text(text: &str) -> Self {
        for (i, line) in text.lines().enumerate() {
            let Some(comment) = line.trim_start().strip_prefix('#') else {
                break;
            };
            // Directives are `# key=value`; the first comment that is not one ends them,
            // as in a Dockerfile, so a later `# check=` in prose is not taken for one.
            let Some((key, value)) = comment.trim().split_once('=') else {
                break;
            };
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                break;
            }
            if !key.eq_ignore_ascii_case("check") {
                continue;
            }
            let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let width = u32::try_from(line.chars().count()).unwrap_or(u32::MAX);
            let mut d = Self::parse(value);
            d.span = Some(Span {
                start: Pos::new(line_no, 1),
                end: Pos::new(line_no, width + 1),
            });
            return d;
        }
        CheckDirective::default()
    }

    /// The directive of a build: [`CHECK_ARG`] when it is given, else the spec's.
    pub fn for_build(text: &str, build_args: &BTreeMap<String, String>) -> Self {
        match build_args.get(CHECK_ARG) {
            Some(v) => Self::parse(v),
            None => Self::from_text(text),
        }
    }

    /// `skip=A,B;error=true`.
    fn parse(value: &str) -> Self {
        let mut d = CheckDirective::default();
        for field in value.split(';').map(str::trim).filter(|f| !f.is_empty()) {
            let (k, v) = field.split_once('=').unwrap_or((field, ""));
            match k.trim() {
                "skip" => {
                    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if name.eq_ignore_ascii_case("all") {
                            d.all = true;
                        } else {
                            d.rules.insert(name.to_string());
                        }
                    }
                }
                // The spellings Go's strconv.ParseBool takes, as the Dockerfile frontend.
                "error" => match v.trim() {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => d.error = true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => d.error = false,
                    other => {
                        d.invalid.get_or_insert(format!(
                            "check directive: `error={other}` is not true or false"
                        ));
                    }
                },
                other => {
                    d.invalid.get_or_insert(format!(
                        "check directive: unknown field `{other}`; expected skip=<rules> or error=<true|false>"
                    ));
                }
            }
        }
        d
    }

    /// True when `d` is switched off.
    pub fn skips(&self, d: &Diagnostic) -> bool {
        self.all || d.rule.is_some_and(|r| self.rules.contains(r))
    }

    /// With `error=true`, the message that fails a build whose `warnings` (already
    /// filtered by [`Self::skips`]) are not empty: `lint violation found for rules: A, B`.
    pub fn violation(&self, warnings: &[Diagnostic]) -> Option<String> {
        if !self.error || warnings.is_empty() {
            return None;
        }
        let rules: BTreeSet<&str> = warnings
            .iter()
            .map(|d| d.rule.unwrap_or("Unknown"))
            .collect();
        Some(format!(
            "lint violation found for rules: {}",
            rules.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// The value each checked string has after argument substitution, by span.
struct FinalValues(BTreeMap<Span, String>);

impl FinalValues {
    fn new(resolved: Option<&ResolvedSpec>) -> Self {
        let mut m = BTreeMap::new();
        if let Some(r) = resolved {
            let s = &r.spec;
            let mut put = |v: &Spanned<String>| {
                m.insert(v.span, v.value.clone());
            };
            put(&s.foundation.from);
            put(&s.harness.prefix);
            for (steps, _) in all_steps(s) {
                for c in &steps.copy {
                    if let CopySource::Image(img) = &c.from {
                        put(img);
                    }
                }
            }
            for b in &s.harness.binaries {
                put(&b.url);
            }
        }
        FinalValues(m)
    }

    /// The substituted value of `raw`, or `raw` as written.
    fn of<'a>(&'a self, raw: &'a Spanned<String>) -> &'a str {
        self.0
            .get(&raw.span)
            .map_or(raw.value.as_str(), String::as_str)
    }
}

fn all_steps<U>(spec: &Spec<U>) -> Vec<(&Steps, &'static str)> {
    let mut v = vec![(&spec.foundation.steps, "foundation")];
    if let Some(spec::Extension::Inline { steps, .. }) = &spec.extension {
        v.push((steps, "extension"));
    }
    v
}

fn warn(rule: Rule, span: Span, path: impl Into<String>, message: String) -> Diagnostic {
    Diagnostic::warning(span, path, message).with_rule(rule.name)
}

fn foundation_not_pinned(spec: &Spec, values: &FinalValues, out: &mut Vec<Diagnostic>) {
    let from = &spec.foundation.from;
    let v = values.of(from);
    if !v.is_empty() && !is_pinned(v) {
        out.push(warn(
            FOUNDATION_NOT_PINNED,
            from.span,
            "foundation.from",
            format!(
                "`{v}` is not pinned by digest, so the foundation (and every layer above it) changes whenever the tag moves; write `{v}@sha256:<digest>`"
            ),
        ));
    }
}

fn copy_image_not_pinned(spec: &Spec, values: &FinalValues, out: &mut Vec<Diagnostic>) {
    for (steps, part) in all_steps(spec) {
        for (i, c) in steps.copy.iter().enumerate() {
            let CopySource::Image(img) = &c.from else {
                continue;
            };
            let v = values.of(img);
            if !v.is_empty() && !is_pinned(v) {
                out.push(warn(
                    COPY_IMAGE_NOT_PINNED,
                    img.span,
                    format!("{part}.copy[{i}].image"),
                    format!(
                        "`{v}` is not pinned by digest, so the copied `{}` changes whenever the tag moves; write `{v}@sha256:<digest>`",
                        c.src.value
                    ),
                ));
            }
        }
    }
}

fn plain_http_download(spec: &Spec, values: &FinalValues, out: &mut Vec<Diagnostic>) {
    for b in &spec.harness.binaries {
        let path = format!("harness.binaries.{}.url", b.name.value);
        let urls: Vec<(String, &Spanned<String>)> = match &b.url {
            PerPlatform::One(u) => vec![(path.clone(), u)],
            PerPlatform::Map(kvs) => kvs
                .iter()
                .map(|kv| (format!("{path}.{}", kv.key.value), &kv.value))
                .collect(),
        };
        for (p, u) in urls {
            let v = values.of(u);
            let scheme_http = v
                .trim_start()
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
            if scheme_http {
                out.push(warn(
                    PLAIN_HTTP_DOWNLOAD,
                    u.span,
                    p,
                    format!(
                        "`{v}` is fetched over plain HTTP: the checksum still rejects altered bytes, but anyone on the path sees and can block the download; use an https:// URL"
                    ),
                ));
            }
        }
    }
}

fn unused_arg(spec: &Spec, out: &mut Vec<Diagnostic>) {
    let used = args_in_use(spec);
    let mut reported = BTreeSet::new();
    for a in &spec.args {
        let name = &a.name.value;
        if used.contains(name) || !reported.insert(name.clone()) {
            continue;
        }
        out.push(warn(
            UNUSED_ARG,
            Span {
                start: a.name.span.start,
                end: a.default.span.end.max(a.name.span.end),
            },
            format!("args.{name}"),
            format!(
                "`{name}` is declared but nothing refers to it, so `--build-arg {name}=…` changes nothing; use it as `${{{name}}}` or remove it"
            ),
        ));
    }
}

fn harness_below_extension(spec: &Spec, out: &mut Vec<Diagnostic>) {
    let Some(order) = &spec.image.order else {
        return;
    };
    let has_tools = !spec.harness.npm.is_empty() || !spec.harness.binaries.is_empty();
    if spec.extension.is_none() || !has_tools {
        // Nothing heavy sits above the harness, or there is no harness to bump.
        return;
    }
    let pos = |p: spec::Part| order.value.iter().position(|x| x.value == p);
    let (Some(h), Some(e)) = (pos(spec::Part::Harness), pos(spec::Part::Extension)) else {
        return;
    };
    if h < e {
        let span = order.value[h].span;
        out.push(warn(
            HARNESS_BELOW_EXTENSION,
            span,
            "image.order",
            "the harness is below the extension: a harness bump changes a layer under the extension, so every pull unpacks the (large) extension layer again; list `harness` after `extension`".into(),
        ));
    }
}

fn harness_prefix_in_system_path(spec: &Spec, values: &FinalValues, out: &mut Vec<Diagnostic>) {
    let prefix = &spec.harness.prefix;
    let v = values.of(prefix);
    let Some(top) = v.strip_prefix('/').and_then(|p| p.split('/').next()) else {
        return;
    };
    if SYSTEM_DIRS.contains(&top) {
        out.push(warn(
            HARNESS_PREFIX_IN_SYSTEM_PATH,
            prefix.span,
            "harness.prefix",
            format!(
                "`{v}` is inside /{top}, which the system, the extension or the container runtime owns; harness layers there can clash with or be hidden by them; use a directory of its own such as /tools or /opt/tools"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::spec::platform::Platform;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// A spec that triggers nothing.
    fn clean() -> String {
        format!(
            "# syntax=ghcr.io/org/aishell-frontend:1
version: 1
args:
  CODEX: \"0.169.0\"
  BASE: debian:trixie-slim@{d1}
foundation:
  from: ${{BASE}}
  copy:
    - image: node:24@{d2}
      src: /usr/local/bin/node
      dest: /usr/local/bin/node
extension:
  run: [echo hi]
harness:
  npm:
    \"@openai/codex\": \"${{CODEX}}\"
  binaries:
    gitleaks:
      url: https://example.invalid/gitleaks-${{TARGETARCH}}.tar.gz
      sha256: \"{d3}\"
      extract: gitleaks
image:
  order: [foundation, extension, harness]
",
            d1 = digest('a'),
            d2 = digest('b'),
            d3 = "c".repeat(64)
        )
    }

    fn check(text: &str) -> Vec<Diagnostic> {
        let parsed = spec::parse_spec("image.yaml", text).unwrap();
        let p = Platform::linux_amd64();
        let resolved = spec::resolve(&parsed, "image.yaml", &BTreeMap::new(), &p, &p).unwrap();
        lint(&parsed, Some(&resolved))
    }

    fn rules(text: &str) -> Vec<&'static str> {
        check(text).iter().filter_map(|d| d.rule).collect()
    }

    #[test]
    fn a_clean_spec_has_no_warnings() {
        assert_eq!(check(&clean()), vec![]);
    }

    #[test]
    fn foundation_without_digest() {
        let text = clean().replace(&format!("@{}", digest('a')), "");
        let w = check(&text);
        assert_eq!(rules(&text), vec!["FoundationNotPinned"]);
        // Reported at `from:` (line 7), with the substituted value in the message.
        assert_eq!(w[0].span.unwrap().start.line, 7);
        assert!(
            w[0].message.contains("`debian:trixie-slim`"),
            "{}",
            w[0].message
        );
        assert_eq!(w[0].path, "foundation.from");
        // Without a resolved spec the raw value is checked (and `${BASE}` has no digest).
        let parsed = spec::parse_spec("image.yaml", &clean()).unwrap();
        assert_eq!(lint(&parsed, None)[0].rule, Some("FoundationNotPinned"));
    }

    #[test]
    fn copy_image_without_digest() {
        let text = clean().replace(&format!("node:24@{}", digest('b')), "node:24");
        assert_eq!(rules(&text), vec!["CopyImageNotPinned"]);
        assert_eq!(check(&text)[0].path, "foundation.copy[0].image");
    }

    #[test]
    fn plain_http_download_even_on_loopback() {
        let text = clean().replace("https://example.invalid", "http://127.0.0.1:8080");
        assert_eq!(rules(&text), vec!["PlainHttpDownload"]);
        // Every entry of a per-platform map is checked, not only the build platform's.
        let map = clean().replace(
            "url: https://example.invalid/gitleaks-${TARGETARCH}.tar.gz",
            "url:\n        linux/amd64: https://example.invalid/a.tar.gz\n        linux/arm64: http://example.invalid/b.tar.gz",
        );
        let w = check(&map);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].path, "harness.binaries.gitleaks.url.linux/arm64");
    }

    #[test]
    fn unused_args_including_chains() {
        let text = clean().replace(
            "  CODEX: \"0.169.0\"\n",
            "  CODEX: \"0.169.0\"\n  EXTRA: x\n  INNER: y\n  OUTER: \"${INNER}\"\n",
        );
        let w = check(&text);
        let names: Vec<&str> = w.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(names, vec!["args.EXTRA", "args.INNER", "args.OUTER"]);
        assert!(w.iter().all(|d| d.rule == Some("UnusedArg")));
        // An argument used only through another used argument's default is in use.
        let chained = clean().replace(
            "  CODEX: \"0.169.0\"\n",
            "  MINOR: \"169\"\n  CODEX: \"0.${MINOR}.0\"\n",
        );
        assert_eq!(rules(&chained), Vec::<&str>::new());
    }

    #[test]
    fn harness_below_extension() {
        let text = clean().replace(
            "[foundation, extension, harness]",
            "[foundation, harness, extension]",
        );
        let w = check(&text);
        assert_eq!(rules(&text), vec!["HarnessBelowExtension"]);
        assert_eq!(w[0].span.unwrap().start.line, 23);
        // Without an extension the order cannot cost an extension re-extract.
        let no_ext = text.replace("extension:\n  run: [echo hi]\n", "");
        assert_eq!(rules(&no_ext), Vec::<&str>::new());
    }

    #[test]
    fn harness_prefix_in_system_directories() {
        for bad in [
            "/usr/local/tools",
            "/etc/tools",
            "/lib64/t",
            "/var/lib/t",
            "/tmp/t",
            "/run/t",
        ] {
            let text = clean().replace("harness:\n", &format!("harness:\n  prefix: {bad}\n"));
            assert_eq!(rules(&text), vec!["HarnessPrefixInSystemPath"], "{bad}");
        }
        for good in ["/tools", "/opt/tools", "/aishell", "/library"] {
            let text = clean().replace("harness:\n", &format!("harness:\n  prefix: {good}\n"));
            assert_eq!(rules(&text), Vec::<&str>::new(), "{good}");
        }
    }

    #[test]
    fn every_rule_has_a_unique_name_and_documentation() {
        let docs = include_str!("../../../docs/checks.md");
        let mut names = BTreeSet::new();
        for r in RULES {
            assert!(names.insert(r.name), "duplicate {}", r.name);
            assert!(
                docs.contains(&format!("## {}", r.name)),
                "{} is not in docs/checks.md",
                r.name
            );
            assert_eq!(rule(r.name), Some(r));
        }
    }

    #[test]
    fn check_directive() {
        let s = CheckDirective::from_text(
            "# syntax=x\n# check=skip=UnusedArg, FoundationNotPinned\nversion: 1\n",
        );
        assert!(s.rules.contains("UnusedArg") && s.rules.contains("FoundationNotPinned"));
        assert!(!s.all && !s.error && s.invalid.is_none());
        assert_eq!(s.span.unwrap().start, Pos::new(2, 1));
        let e = CheckDirective::from_text("# check=skip=all;error=true\n");
        assert!(e.all && e.error);
        // A directive after the first ordinary comment or line is prose, not a directive.
        assert_eq!(
            CheckDirective::from_text("# a comment\n# check=skip=all\n"),
            CheckDirective::default()
        );
        assert_eq!(
            CheckDirective::from_text("version: 1\n# check=skip=all\n"),
            CheckDirective::default()
        );
        let d = Diagnostic::warning(Span::default(), "", "m").with_rule("UnusedArg");
        assert!(s.skips(&d));
        // error=true turns the remaining warnings into one failure naming their rules.
        let on = CheckDirective::from_text("# check=error=true\n");
        let w = vec![
            Diagnostic::warning(Span::default(), "", "a").with_rule("UnusedArg"),
            Diagnostic::warning(Span::default(), "", "b").with_rule("FoundationNotPinned"),
            Diagnostic::warning(Span::default(), "", "c").with_rule("UnusedArg"),
        ];
        assert_eq!(
            on.violation(&w).as_deref(),
            Some("lint violation found for rules: FoundationNotPinned, UnusedArg")
        );
        assert_eq!(on.violation(&[]), None);
        assert_eq!(
            s.violation(&w),
            None,
            "without error=true, warnings stay warnings"
        );
        // Bad values are reported, not guessed.
        let bad = CheckDirective::from_text("# check=error=maybe\n");
        assert!(bad.invalid.unwrap().contains("`error=maybe`"));
        assert!(
            CheckDirective::from_text("# check=skp=UnusedArg\n")
                .invalid
                .unwrap()
                .contains("unknown field `skp`")
        );
        // The build argument replaces the spec's directive.
        let args = BTreeMap::from([(CHECK_ARG.to_string(), "error=true".to_string())]);
        let b = CheckDirective::for_build("# check=skip=all\n", &args);
        assert!(b.error && !b.all && b.span.is_none());
        assert!(CheckDirective::for_build("# check=skip=all\n", &BTreeMap::new()).all);
        assert_eq!(url("UnusedArg"), format!("{DOCS_URL}#unusedarg"));
    }
}
