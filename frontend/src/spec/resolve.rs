//! Argument substitution and per-platform resolution.
//!
//! A [`Spec`] is written once; a [`ResolvedSpec`] exists per target platform: `${NAME}` is
//! replaced in every string value, per-platform URL and checksum maps are narrowed to the
//! target's entry, and the checks that need final values run (checksums, versions, paths).

use super::validate::{Checker, Origins};
use super::*;
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::platform::Platform;
use std::collections::{BTreeMap, BTreeSet};

/// Arguments the builder defines; they need no declaration in `args:`.
pub const PREDEFINED_ARGS: &[&str] = &[
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// `--build-arg NAME=VALUE` values, by name.
pub type BuildArgs = BTreeMap<String, String>;

/// A spec with every `${NAME}` replaced and every per-platform value narrowed to one
/// platform: binaries' `url` and `sha256` are one value each (the type has no room for a
/// map), and `sha256` holds 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSpec {
    /// The substituted spec, for one platform.
    pub spec: Spec<Spanned<String>>,
    /// The platform it was resolved for.
    pub platform: Platform,
    /// Final values of the declared and predefined arguments.
    pub args: BTreeMap<String, String>,
}

/// Why a `${…}` could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SubstError {
    /// `${` without a closing `}`; holds the text from `${` on.
    Unterminated(String),
    /// `${…}` whose content is not a name.
    BadName(String),
    /// A name that is neither declared nor predefined.
    Unknown(String),
}

/// Replaces `${NAME}` with its value and `$$` with `$`; any other `$` stays as it is.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, SubstError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                return Err(SubstError::Unterminated(rest[i..].to_string()));
            };
            let name = &tail[..end];
            if !super::validate::valid_env_name(name) {
                return Err(SubstError::BadName(name.to_string()));
            }
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(SubstError::Unknown(name.to_string())),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// What the user reads for a failed substitution. `later` are the arguments declared
/// after the one whose default is being substituted (empty for other values).
fn subst_message(e: &SubstError, known: &BTreeMap<String, String>, later: &[&str]) -> Diagnostic {
    let (message, hint) = match e {
        SubstError::Unterminated(text) => {
            let shown: String = text.chars().take(40).collect();
            (
                format!("`{shown}` has no closing `}}`; expected `${{NAME}}`"),
                Some("write `$$` for a literal `$`".to_string()),
            )
        }
        SubstError::BadName(name) => {
            let head: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !head.is_empty() && super::validate::valid_env_name(&head) {
                (
                    format!(
                        "`${{{name}}}`: only the plain form `${{NAME}}` is supported (no `:-` defaults or other shell forms)"
                    ),
                    Some(format!(
                        "give `{head}` a default in `args:`, or write `$${{{name}}}` to leave it to the shell"
                    )),
                )
            } else {
                (
                    format!(
                        "`${{{name}}}` is not a valid reference; a name has letters, digits and `_` and does not start with a digit"
                    ),
                    Some("write `$$` for a literal `$`".to_string()),
                )
            }
        }
        SubstError::Unknown(name) if later.contains(&name.as_str()) => (
            format!(
                "`${{{name}}}` is declared further down in `args:`; a default can only use the arguments declared before it"
            ),
            Some(format!("move `{name}` above this argument")),
        ),
        SubstError::Unknown(name) => {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            let hint = match super::validate::closest(name, &names) {
                Some(best) if best != name => Some(format!("did you mean `${{{best}}}`?")),
                _ => None,
            };
            (
                format!(
                    "`${{{name}}}` is neither declared in `args:` nor predefined; declare it, or write `$${{{name}}}` for a literal (e.g. shell) reference"
                ),
                hint,
            )
        }
    };
    let d = Diagnostic::error(Span::default(), "", message);
    match hint {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

/// Names referenced as `${NAME}` in `text` (ignoring `$$`).
fn references(text: &str, out: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            match tail.find('}') {
                Some(end) => {
                    out.insert(tail[..end].to_string());
                    rest = &tail[end + 1..];
                }
                None => return,
            }
        } else {
            rest = after;
        }
    }
}

fn each_kv<'a>(
    kvs: &'a mut [KeyValue],
    path: &str,
    out: &mut Vec<(String, &'a mut Spanned<String>)>,
) {
    for kv in kvs {
        let p = format!("{path}.{}", kv.key.value);
        out.push((p, &mut kv.value));
    }
}

fn each_steps<'a>(
    steps: &'a mut Steps,
    path: &str,
    out: &mut Vec<(String, &'a mut Spanned<String>)>,
) {
    for (i, s) in steps.apt.iter_mut().enumerate() {
        out.push((format!("{path}.apt[{i}]"), s));
    }
    for (i, c) in steps.copy.iter_mut().enumerate() {
        if let CopySource::Image(img) = &mut c.from {
            out.push((format!("{path}.copy[{i}].image"), img));
        }
        out.push((format!("{path}.copy[{i}].src"), &mut c.src));
        out.push((format!("{path}.copy[{i}].dest"), &mut c.dest));
    }
    for (i, s) in steps.run.iter_mut().enumerate() {
        out.push((format!("{path}.run[{i}]"), s));
    }
    each_kv(&mut steps.env, &format!("{path}.env"), out);
}

fn each_per_platform<'a>(
    pp: &'a mut PerPlatform,
    path: &str,
    out: &mut Vec<(String, &'a mut Spanned<String>)>,
) {
    match pp {
        PerPlatform::One(s) => out.push((path.to_string(), s)),
        PerPlatform::Map(kvs) => each_kv(kvs, path, out),
    }
}

/// Every string value of the spec below `args:`, with its key path.
fn string_values(spec: &mut Spec) -> Vec<(String, &mut Spanned<String>)> {
    let mut out = Vec::new();
    out.push(("foundation.from".to_string(), &mut spec.foundation.from));
    each_steps(&mut spec.foundation.steps, "foundation", &mut out);
    let h = &mut spec.harness;
    out.push(("harness.prefix".to_string(), &mut h.prefix));
    for t in &mut h.npm {
        out.push((format!("harness.npm.{}", t.package.value), &mut t.version));
    }
    for b in &mut h.binaries {
        let p = format!("harness.binaries.{}", b.name.value);
        each_per_platform(&mut b.url, &format!("{p}.url"), &mut out);
        each_per_platform(&mut b.sha256, &format!("{p}.sha256"), &mut out);
        if let Some(e) = &mut b.extract {
            out.push((format!("{p}.extract"), e));
        }
    }
    each_kv(&mut h.env, "harness.env", &mut out);
    if let Some(s) = &mut h.npm_secret {
        out.push(("harness.npm_secret".to_string(), s));
    }
    match &mut spec.extension {
        Some(Extension::Dockerfile { path, .. }) => {
            out.push(("extension.dockerfile".to_string(), path));
        }
        Some(Extension::Inline { steps, .. }) => each_steps(steps, "extension", &mut out),
        None => {}
    }
    let img = &mut spec.image;
    each_kv(&mut img.env, "image.env", &mut out);
    for (i, s) in img.entrypoint.iter_mut().flatten().enumerate() {
        out.push((format!("image.entrypoint[{i}]"), s));
    }
    for (i, s) in img.cmd.iter_mut().flatten().enumerate() {
        out.push((format!("image.cmd[{i}]"), s));
    }
    if let Some(s) = &mut img.workdir {
        out.push(("image.workdir".to_string(), s));
    }
    if let Some(s) = &mut img.user {
        out.push(("image.user".to_string(), s));
    }
    each_kv(&mut img.labels, "image.labels", &mut out);
    out
}

/// The names that string values of the spec reference with `${NAME}` (arg defaults
/// included). Used by the "declared but never used" check.
pub fn used_args(spec: &Spec) -> BTreeSet<String> {
    let mut copy = spec.clone();
    let mut out = BTreeSet::new();
    for (_, s) in string_values(&mut copy) {
        references(&s.value, &mut out);
    }
    for a in &spec.args {
        references(&a.default.value, &mut out);
    }
    out
}

/// Values of the predefined platform arguments.
fn predefined(target: &Platform, build: &Platform) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (prefix, p) in [("TARGET", target), ("BUILD", build)] {
        m.insert(format!("{prefix}PLATFORM"), p.to_string());
        m.insert(format!("{prefix}OS"), p.os.clone());
        m.insert(format!("{prefix}ARCH"), p.arch.clone());
        m.insert(
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        );
    }
    m
}

/// A spec after substitution, with what the checks need to know about it.
struct Substituted {
    spec: Spec,
    vars: BTreeMap<String, String>,
    origins: Origins,
    /// Values whose checks would only repeat an error already reported (a failed
    /// substitution, a broken argument), or that cannot be judged yet.
    skip: BTreeSet<Span>,
    diags: Vec<Diagnostic>,
}

/// Substitutes every string value. `only_literal` leaves every value that references an
/// argument out of the later checks: its value is not known before the build.
fn substitute_spec(
    spec: &Spec,
    build_args: &BuildArgs,
    mut vars: BTreeMap<String, String>,
    only_literal: bool,
) -> Substituted {
    let mut diags = Vec::new();
    let mut broken = BTreeSet::new();
    let declared: Vec<&str> = spec.args.iter().map(|a| a.name.value.as_str()).collect();
    let mut seen = BTreeSet::new();
    for (i, a) in spec.args.iter().enumerate() {
        if !seen.insert(a.name.value.clone()) {
            continue;
        }
        let value = match build_args.get(&a.name.value) {
            Some(v) => v.clone(),
            None => match substitute(&a.default.value, &vars) {
                Ok(v) => v,
                Err(e) => {
                    let d = subst_message(&e, &vars, &declared[i + 1..]);
                    diags.push(Diagnostic {
                        span: Some(a.default.span),
                        path: format!("args.{}", a.name.value),
                        ..d
                    });
                    // Known but broken: its uses are not reported a second time.
                    broken.insert(a.name.value.clone());
                    String::new()
                }
            },
        };
        vars.insert(a.name.value.clone(), value);
    }

    let mut out = spec.clone();
    let mut origins = Origins::new();
    let mut skip = BTreeSet::new();
    for (path, s) in string_values(&mut out) {
        let mut refs = BTreeSet::new();
        references(&s.value, &mut refs);
        if refs.iter().any(|r| broken.contains(r)) {
            skip.insert(s.span);
            continue;
        }
        if only_literal && s.value.contains("${") {
            skip.insert(s.span);
        }
        match substitute(&s.value, &vars) {
            Ok(v) => {
                if v != s.value {
                    origins.insert(s.span, std::mem::replace(&mut s.value, v));
                }
            }
            Err(e) => {
                let d = subst_message(&e, &vars, &[]);
                diags.push(Diagnostic {
                    span: Some(s.span),
                    path,
                    ..d
                });
                skip.insert(s.span);
            }
        }
    }
    Substituted {
        spec: out,
        vars,
        origins,
        skip,
        diags,
    }
}

/// Runs the checks of final values on `sub.spec` and adds their diagnostics to
/// `sub.diags`, except those on values in `sub.skip` and on placeholders (line 0). With a
/// `target`, the answer is each binary tool's `url` and `sha256` for it (see
/// [`Checker::spec`]).
fn check(
    sub: &mut Substituted,
    target: Option<&Platform>,
) -> Vec<(Spanned<String>, Spanned<String>)> {
    let mut checker = Checker {
        origins: &sub.origins,
        diags: Vec::new(),
    };
    let narrowed = checker.spec(&sub.spec, target);
    let found = checker.diags;
    sub.diags.extend(found.into_iter().filter(|d| {
        d.span
            .is_none_or(|s| s.start.line != 0 && !sub.skip.contains(&s))
    }));
    narrowed
}

/// The checks that can run before the build: of every value that does not depend on an
/// argument, on every platform. For a spec that has structural errors, so its other
/// mistakes are reported in the same round trip.
pub(super) fn check_partial(spec: &Spec, file: &str) -> Diagnostics {
    let p = Platform::linux_amd64();
    let mut sub = substitute_spec(spec, &BuildArgs::new(), predefined(&p, &p), true);
    check(&mut sub, None);
    let mut diags = Diagnostics::new(file);
    diags.items = sub.diags;
    diags
}

/// Substitutes arguments, narrows per-platform values to `target` and runs the checks
/// that need final values. `file` names the spec in diagnostics.
///
/// Errors: every unresolvable reference and invalid final value, with positions.
pub fn resolve(
    spec: &Spec,
    file: &str,
    build_args: &BuildArgs,
    target: &Platform,
    build: &Platform,
) -> Result<ResolvedSpec, Diagnostics> {
    let mut sub = substitute_spec(spec, build_args, predefined(target, build), false);
    let narrowed = check(&mut sub, Some(target));
    if !sub.diags.is_empty() {
        let mut diags = Diagnostics::new(file);
        diags.items = sub.diags;
        diags.sort();
        return Err(diags);
    }
    let mut spec = sub.spec;
    canonical_env_order(&mut spec);
    Ok(ResolvedSpec {
        spec: spec.narrow(narrowed),
        platform: target.clone(),
        args: sub.vars,
    })
}

/// Sorts every `env` mapping by name. A YAML mapping has no order and the names are
/// unique (duplicates are errors), so reordering the keys in the spec must not change the
/// exec ops' environment (a cache key) or the image config's `Env` (the image digest).
/// Found by the property test `key_order_never_changes_the_graph` in tests/properties.rs.
fn canonical_env_order(spec: &mut Spec) {
    let mut lists = vec![
        &mut spec.foundation.steps.env,
        &mut spec.harness.env,
        &mut spec.image.env,
    ];
    if let Some(Extension::Inline { steps, .. }) = &mut spec.extension {
        lists.push(&mut steps.env);
    }
    for env in lists {
        env.sort_by(|a, b| a.key.value.cmp(&b.key.value));
    }
}

/// All image references the spec uses, normalised.
pub fn referenced_images(spec: &ResolvedSpec) -> Result<Vec<(String, Span)>, Diagnostics> {
    let mut refs = vec![(
        spec.spec.foundation.from.value.clone(),
        spec.spec.foundation.from.span,
    )];
    let mut steps = vec![("foundation", &spec.spec.foundation.steps)];
    if let Some(Extension::Inline { steps: s, .. }) = &spec.spec.extension {
        steps.push(("extension", s));
    }
    for (_, s) in steps {
        for c in &s.copy {
            if let CopySource::Image(img) = &c.from {
                refs.push((img.value.clone(), img.span));
            }
        }
    }
    let mut diags = Diagnostics::default();
    let mut out = Vec::new();
    for (r, span) in refs {
        match crate::spec::reference::normalize(&r) {
            Ok(n) => {
                if !out.iter().any(|(x, _)| *x == n) {
                    out.push((n, span));
                }
            }
            Err(e) => diags.push(Diagnostic::error(span, "", e)),
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::validate::{absolute_problem, parse_exact_version, relative_problem};

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([("A".to_string(), "x".to_string())])
    }

    #[test]
    fn substitution_rules() {
        assert_eq!(substitute("a${A}b", &vars()).unwrap(), "axb");
        assert_eq!(
            substitute("$$HOME $HOME $${A}", &vars()).unwrap(),
            "$HOME $HOME ${A}"
        );
        assert_eq!(
            substitute("${B}", &vars()),
            Err(SubstError::Unknown("B".into()))
        );
        assert_eq!(
            substitute("x${A", &vars()),
            Err(SubstError::Unterminated("${A".into()))
        );
        assert_eq!(
            substitute("${1x}", &vars()),
            Err(SubstError::BadName("1x".into()))
        );
        assert_eq!(substitute("end$", &vars()).unwrap(), "end$");
    }

    fn resolve_errors(text: &str, build_args: &[(&str, &str)]) -> Vec<String> {
        let spec = super::super::parse_spec("s.yaml", text).unwrap();
        let args = build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p = Platform::linux_amd64();
        match resolve(&spec, "s.yaml", &args, &p, &p) {
            Ok(_) => Vec::new(),
            Err(d) => d.items.iter().map(|x| x.render("s.yaml")).collect(),
        }
    }

    #[test]
    fn a_failed_substitution_does_not_hide_other_mistakes() {
        let e = resolve_errors(
            "version: 1\nfoundation: {from: \"${NOPE}\"}\nimage: {workdir: w}\n",
            &[],
        );
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].contains("`${NOPE}` is neither declared"));
        assert!(e[1].contains("`w` is not absolute"));
    }

    #[test]
    fn a_broken_argument_is_reported_once() {
        let e = resolve_errors(
            "version: 1\nargs: {A: \"${B}\", B: x}\nfoundation: {from: \"${A}\"}\n",
            &[],
        );
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("declared further down"), "{e:#?}");
    }

    #[test]
    fn messages_show_what_a_value_was_substituted_from() {
        let text =
            "version: 1\nargs: {V: 1.0.0}\nfoundation: {from: x}\nharness: {npm: {a: \"${V}\"}}\n";
        assert!(resolve_errors(text, &[]).is_empty());
        let e = resolve_errors(text, &[("V", "latest")]);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("`latest` (from `${V}`) is not an exact version"),
            "{e:#?}"
        );
    }

    #[test]
    fn every_platform_entry_is_checked_and_the_target_is_selected() {
        let sum = "a".repeat(64);
        let text = format!(
            "version: 1\nfoundation: {{from: x}}\nharness:\n  binaries:\n    t:\n      url: {{linux/amd64: \"https://x/t\", linux/arm64: \"ftp://x/t\"}}\n      sha256: \"sha256:{}\"\n",
            sum.to_uppercase()
        );
        let e = resolve_errors(&text, &[]);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("url.linux/arm64: `ftp://x/t`"), "{e:#?}");
        let ok = text.replace("ftp://", "https://");
        let spec = super::super::parse_spec("s.yaml", &ok).unwrap();
        let p = Platform::parse("linux/arm64").unwrap();
        let r = resolve(&spec, "s.yaml", &BuildArgs::new(), &p, &p).unwrap();
        let b = &r.spec.harness.binaries[0];
        assert_eq!(b.url.value, "https://x/t");
        assert_eq!(b.sha256.value, sum);
    }

    #[test]
    fn exact_versions() {
        for ok in ["0.169.0", "2.1.332", "1.0.0-rc.1", "1.0.0+build.5"] {
            assert!(parse_exact_version(ok).is_some(), "{ok}");
        }
        for bad in [
            "^1.0.0", "~1.2.3", "1.2", "latest", "01.2.3", "1.2.3-", "1.2.x", ">=1.0.0",
        ] {
            assert!(parse_exact_version(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(absolute_problem("/tools"), None);
        assert_eq!(absolute_problem("/"), None);
        assert_eq!(absolute_problem("/tools/"), Some("ends with `/`"));
        assert!(absolute_problem("/a/../b").is_some());
        assert!(absolute_problem("/a//b").is_some());
        assert!(absolute_problem("tools").is_some());
        assert_eq!(relative_problem("docker/entrypoint.sh"), None);
        assert_eq!(relative_problem("./docker/entrypoint.sh"), None);
        assert_eq!(relative_problem("../secret"), Some("climbs out with `..`"));
        assert_eq!(relative_problem("/etc/passwd"), Some("is absolute"));
        assert_eq!(relative_problem(""), Some("is empty"));
    }
}
