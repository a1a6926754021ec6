//! Argument substitution and per-platform resolution.
//!
//! A [`Spec`] is written once; a [`ResolvedSpec`] exists per target platform: `${NAME}` is
//! replaced in every string value, per-platform URL and checksum maps are narrowed to the
//! target's entry, and the checks that need final values run (checksums, versions, paths).

use super::*;
use crate::diag::{Diagnostic, Diagnostics};
use crate::platform::Platform;
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
/// platform. Binaries' `url` and `sha256` are always [`PerPlatform::One`] here, and
/// `sha256` holds 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSpec {
    /// The substituted spec.
    pub spec: Spec,
    /// The platform it was resolved for.
    pub platform: Platform,
    /// Final values of the declared and predefined arguments.
    pub args: BTreeMap<String, String>,
}

/// Replaces `${NAME}` with its value and `$$` with `$`; any other `$` stays as it is.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
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
                return Err("unterminated `${`; write `$$` for a literal `$`".into());
            };
            let name = &tail[..end];
            if !super::parse::valid_env_name(name) {
                return Err(format!(
                    "`${{{name}}}` is not a valid reference; names match [A-Za-z_][A-Za-z0-9_]* (write `$$` for a literal `$`)"
                ));
            }
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(format!(
                        "`${{{name}}}` is neither declared in `args:` nor predefined; declare it, or write `$${{{name}}}` for a literal (e.g. shell) reference"
                    ));
                }
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

/// `MAJOR.MINOR.PATCH[-pre][+build]` with no range operators; returns the version.
///
/// ```
/// use aishell_frontend::spec::parse_exact_version;
/// assert!(parse_exact_version("2.1.332").is_some());
/// assert!(parse_exact_version("1.0.0-beta.1").is_some());
/// assert!(parse_exact_version("^2.1.0").is_none());
/// assert!(parse_exact_version("latest").is_none());
/// ```
pub fn parse_exact_version(v: &str) -> Option<&str> {
    let (core, _build) = v.split_once('+').unwrap_or((v, ""));
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let nums: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
    };
    let ident_ok = |s: &str| {
        s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    let ok = nums.len() == 3
        && nums.iter().all(numeric)
        && (pre.is_empty() && !v.contains('-') || ident_ok(pre))
        && (!v.contains('+') || ident_ok(_build));
    ok.then_some(v)
}

/// A clean absolute path: starts with `/`, no `.`/`..`/empty components, no trailing `/`.
fn clean_absolute(p: &str) -> bool {
    p.starts_with('/')
        && (p == "/"
            || p[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// A relative path that stays inside its root.
fn clean_relative(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && p.split('/').all(|c| !c.is_empty() && c != "..")
}

/// Narrows a per-platform value to `target`.
fn select(
    pp: &PerPlatform,
    target: &Platform,
    path: &str,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Spanned<String>> {
    match pp {
        PerPlatform::One(s) => Some(s.clone()),
        PerPlatform::Map(kvs) => {
            let found = kvs
                .iter()
                .find(|kv| Platform::parse(&kv.key.value).ok().as_ref() == Some(target));
            match found {
                Some(kv) => Some(kv.value.clone()),
                None => {
                    let given: Vec<&str> = kvs.iter().map(|kv| kv.key.value.as_str()).collect();
                    let span = kvs.first().map(|kv| kv.key.span).unwrap_or_default();
                    diags.push(Diagnostic::error(
                        span,
                        path,
                        format!(
                            "no {what} for platform {target}; given for: {}",
                            given.join(", ")
                        ),
                    ));
                    None
                }
            }
        }
    }
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
    let mut diags = Diagnostics::new(file);
    let mut vars = predefined(target, build);
    let mut seen = BTreeSet::new();
    for a in &spec.args {
        if !seen.insert(a.name.value.clone()) {
            continue;
        }
        let value = match build_args.get(&a.name.value) {
            Some(v) => v.clone(),
            None => match substitute(&a.default.value, &vars) {
                Ok(v) => v,
                Err(msg) => {
                    diags.push(Diagnostic::error(
                        a.default.span,
                        format!("args.{}", a.name.value),
                        msg,
                    ));
                    continue;
                }
            },
        };
        vars.insert(a.name.value.clone(), value);
    }

    let mut out = spec.clone();
    for (path, s) in string_values(&mut out) {
        match substitute(&s.value, &vars) {
            Ok(v) => s.value = v,
            Err(msg) => diags.push(Diagnostic::error(s.span, path, msg)),
        }
    }
    if diags.has_errors() {
        diags.sort();
        return Err(diags);
    }

    check_values(&mut out, target, &mut diags);
    if diags.has_errors() {
        diags.sort();
        return Err(diags);
    }
    Ok(ResolvedSpec {
        spec: out,
        platform: target.clone(),
        args: vars,
    })
}

fn check_steps(steps: &Steps, path: &str, diags: &mut Diagnostics) {
    for (i, c) in steps.copy.iter().enumerate() {
        let p = format!("{path}.copy[{i}]");
        if !clean_absolute(&c.dest.value) {
            diags.push(Diagnostic::error(
                c.dest.span,
                format!("{p}.dest"),
                format!(
                    "`{}` is not a clean absolute path; expected e.g. /usr/local/bin/tool",
                    c.dest.value
                ),
            ));
        }
        match &c.from {
            CopySource::Context => {
                if !clean_relative(c.src.value.trim_start_matches("./")) {
                    diags.push(Diagnostic::error(
                        c.src.span,
                        format!("{p}.src"),
                        format!(
                            "`{}` must be a path inside the build context, relative to its root, without `..`",
                            c.src.value
                        ),
                    ));
                }
            }
            CopySource::Image(img) => {
                if img.value.trim().is_empty() || img.value.contains(char::is_whitespace) {
                    diags.push(Diagnostic::error(
                        img.span,
                        format!("{p}.image"),
                        "expected an image reference such as node:24-bookworm-slim",
                    ));
                }
                if !clean_absolute(&c.src.value) {
                    diags.push(Diagnostic::error(
                        c.src.span,
                        format!("{p}.src"),
                        format!(
                            "`{}` must be an absolute path inside the image",
                            c.src.value
                        ),
                    ));
                }
            }
        }
    }
    for (i, r) in steps.run.iter().enumerate() {
        if r.value.trim().is_empty() {
            diags.push(Diagnostic::error(
                r.span,
                format!("{path}.run[{i}]"),
                "empty command",
            ));
        }
    }
}

fn check_values(spec: &mut Spec, target: &Platform, diags: &mut Diagnostics) {
    let from = &spec.foundation.from;
    if from.value.trim().is_empty() || from.value.contains(char::is_whitespace) {
        diags.push(Diagnostic::error(
            from.span,
            "foundation.from",
            format!(
                "`{}` is not an image reference; expected e.g. debian:trixie-slim@sha256:…",
                from.value
            ),
        ));
    }
    check_steps(&spec.foundation.steps, "foundation", diags);
    if let Some(Extension::Inline { steps, .. }) = &spec.extension {
        check_steps(steps, "extension", diags);
    }
    if let Some(Extension::Dockerfile { path, .. }) = &spec.extension
        && !clean_relative(path.value.trim_start_matches("./"))
    {
        diags.push(Diagnostic::error(
            path.span,
            "extension.dockerfile",
            format!(
                "`{}` must be a relative path (to the spec file's folder) without `..`",
                path.value
            ),
        ));
    }

    let h = &mut spec.harness;
    if !clean_absolute(&h.prefix.value) || h.prefix.value == "/" {
        diags.push(Diagnostic::error(
            h.prefix.span,
            "harness.prefix",
            format!(
                "`{}` is not a clean absolute directory other than /; expected e.g. /tools",
                h.prefix.value
            ),
        ));
    }
    for t in &h.npm {
        if parse_exact_version(&t.version.value).is_none() {
            diags.push(
                Diagnostic::error(
                    t.version.span,
                    format!("harness.npm.{}", t.package.value),
                    format!(
                        "`{}` is not an exact version; harness tools are pinned so a build is reproducible and a bump is visible",
                        t.version.value
                    ),
                )
                .with_hint("write the exact version, e.g. \"2.1.332\" (see `npm view <package> version`)"),
            );
        }
    }
    for b in &mut h.binaries {
        let p = format!("harness.binaries.{}", b.name.value);
        let url = select(&b.url, target, &format!("{p}.url"), "url", diags);
        let sum = select(&b.sha256, target, &format!("{p}.sha256"), "sha256", diags);
        if let Some(url) = &url
            && !(url.value.starts_with("https://") || url.value.starts_with("http://"))
        {
            diags.push(Diagnostic::error(
                url.span,
                format!("{p}.url"),
                format!("`{}` is not an http(s) URL", url.value),
            ));
        }
        if let Some(mut sum) = sum {
            let hexpart = sum
                .value
                .trim()
                .trim_start_matches("sha256:")
                .to_ascii_lowercase();
            if hexpart.len() != 64 || !hexpart.chars().all(|c| c.is_ascii_hexdigit()) {
                diags.push(Diagnostic::error(
                    sum.span,
                    format!("{p}.sha256"),
                    format!(
                        "`{}` is not a SHA-256 checksum; expected 64 hex digits",
                        sum.value
                    ),
                ));
            }
            sum.value = hexpart;
            b.sha256 = PerPlatform::One(sum);
        }
        if let Some(url) = url {
            b.url = PerPlatform::One(url);
        }
        if let Some(e) = &b.extract
            && !clean_relative(e.value.trim_start_matches("./"))
        {
            diags.push(Diagnostic::error(
                e.span,
                format!("{p}.extract"),
                format!(
                    "`{}` must be a relative path of a member inside the archive, without `..`",
                    e.value
                ),
            ));
        }
    }
    if let Some(s) = &h.npm_secret
        && (s.value.is_empty()
            || !s
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
    {
        diags.push(Diagnostic::error(
            s.span,
            "harness.npm_secret",
            format!(
                "`{}` is not a secret id; expected letters, digits, `.`, `_` or `-` (as in --secret id=npmrc,…)",
                s.value
            ),
        ));
    }
    if let Some(w) = &spec.image.workdir
        && !w.value.starts_with('/')
    {
        diags.push(Diagnostic::error(
            w.span,
            "image.workdir",
            format!("`{}` must be an absolute path", w.value),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            substitute("${B}", &vars())
                .unwrap_err()
                .contains("neither declared")
        );
        assert!(
            substitute("${A", &vars())
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(substitute("${1x}", &vars()).is_err());
        assert_eq!(substitute("end$", &vars()).unwrap(), "end$");
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
        assert!(clean_absolute("/tools"));
        assert!(!clean_absolute("/tools/"));
        assert!(!clean_absolute("/a/../b"));
        assert!(!clean_absolute("tools"));
        assert!(clean_relative("docker/entrypoint.sh"));
        assert!(!clean_relative("../secret"));
    }
}
