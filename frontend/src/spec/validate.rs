//! Field validation, in one place: checks of single values (names of environment variables,
//! apt and npm packages and files; file modes and owners; exact versions; paths), the "did
//! you mean" hint for a misspelt key, and the [`Checker`] that resolution runs over every
//! final value after substitution. Parsing is structural and calls the single-value checks
//! only where the structure needs them.

use super::*;
use crate::spec::diag::Diagnostic;
use crate::spec::platform::Platform;
use std::collections::BTreeMap;

/// The allowed key closest to a misspelt one, if it is close enough to be a typo: two
/// edits, or a third one for long keys (`workingdir` → `workdir`), or the only allowed
/// key it abbreviates (`ext` → `extension`).
pub fn closest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    let limit = 2.max(key.chars().count() / 3);
    let typo = allowed
        .iter()
        .map(|k| (strsim::levenshtein(&key, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k);
    typo.or_else(|| {
        let longer: Vec<&'k str> = allowed
            .iter()
            .copied()
            .filter(|k| key.len() >= 3 && k.to_ascii_lowercase().starts_with(&key))
            .collect();
        (longer.len() == 1).then(|| longer[0])
    })
}

/// A valid name close to an invalid one (`MY-VAR` → `MY_VAR`), when there is an obvious one.
pub fn suggest_name(s: &str) -> Option<String> {
    let fixed: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    (fixed != s && valid_env_name(&fixed)).then_some(fixed)
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Debian package names (policy 5.6.1) with an optional `=version` or `/suite`.
pub fn valid_apt_name(s: &str) -> bool {
    let name = s.split(['=', '/']).next().unwrap_or("");
    let mut chars = name.chars();
    name.len() >= 2
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.:~=/_".contains(c))
}

/// npm package names: optional `@scope/`, lower-case URL-safe characters.
pub fn valid_npm_name(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && !part.starts_with('_')
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
    };
    if s.len() > 214 {
        return false;
    }
    match s.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, name)) => ok(scope) && ok(name),
            None => false,
        },
        None => ok(s),
    }
}

/// A single path component of safe characters.
pub fn valid_file_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

pub fn parse_mode(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok()
}

pub fn parse_owner(s: &str) -> Option<Owner> {
    let (u, g) = s.split_once(':')?;
    let num = |x: &str| {
        if x.is_empty() || !x.chars().all(|c| c.is_ascii_digit()) {
            None
        } else {
            x.parse::<u32>().ok()
        }
    };
    Some(Owner {
        uid: num(u)?,
        gid: num(g)?,
    })
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

/// What is wrong with an absolute path, if anything: it must start with `/` and have no
/// empty, `.` or `..` components and no trailing `/`.
pub(super) fn absolute_problem(p: &str) -> Option<&'static str> {
    if !p.starts_with('/') {
        return Some("is not absolute (it must start with `/`)");
    }
    if p == "/" {
        return None;
    }
    if p.ends_with('/') {
        return Some("ends with `/`");
    }
    let parts: Vec<&str> = p[1..].split('/').collect();
    if parts.iter().any(|c| c.is_empty()) {
        return Some("has an empty component (`//`)");
    }
    if parts.iter().any(|c| *c == "." || *c == "..") {
        return Some("has a `.` or `..` component");
    }
    None
}

/// What is wrong with a path that must stay inside its root, if anything (a leading
/// `./` is allowed).
pub(super) fn relative_problem(p: &str) -> Option<&'static str> {
    let p = p.trim_start_matches("./");
    if p.is_empty() {
        return Some("is empty");
    }
    if p.starts_with('/') {
        return Some("is absolute");
    }
    let parts: Vec<&str> = p.split('/').collect();
    if parts.contains(&"..") {
        return Some("climbs out with `..`");
    }
    if parts.iter().any(|c| c.is_empty()) {
        return Some("has an empty component (`//`)");
    }
    None
}

/// The written text of every value that substitution changed, by its place: a message
/// about `latest` must also say it came from `${CODEX_VERSION}`.
pub(super) type Origins = BTreeMap<Span, String>;

/// Checks of final values, collecting diagnostics.
pub(super) struct Checker<'a> {
    pub(super) origins: &'a Origins,
    pub(super) diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// The value in backticks, with the text it was substituted from, if any.
    fn shown(&self, s: &Spanned<String>) -> String {
        match self.origins.get(&s.span) {
            Some(written) if *written != s.value => format!("`{}` (from `{written}`)", s.value),
            _ => format!("`{}`", s.value),
        }
    }

    fn error(&mut self, span: Span, path: impl Into<String>, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, path, message));
    }

    fn error_hint(
        &mut self,
        span: Span,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(span, path, message).with_hint(hint));
    }

    fn image_ref(&mut self, s: &Spanned<String>, path: &str, example: &str) {
        let v = s.value.trim();
        let problem = if v.is_empty() || v.contains(char::is_whitespace) {
            Some(String::new())
        } else {
            crate::spec::reference::normalize(v).err().map(|e| {
                let e = e.strip_prefix(&format!("`{v}`")).unwrap_or(&e);
                let e = e.trim_start_matches(':').trim();
                if e.is_empty() || e == "is not an image reference" {
                    String::new()
                } else {
                    format!(": {e}")
                }
            })
        };
        if let Some(why) = problem {
            let shown = self.shown(s);
            self.error(
                s.span,
                path,
                format!("{shown} is not an image reference{why}; expected e.g. {example}"),
            );
        }
    }

    fn steps(&mut self, steps: &Steps, path: &str) {
        for (i, p) in steps.apt.iter().enumerate() {
            if !super::validate::valid_apt_name(&p.value) {
                let shown = self.shown(p);
                self.error(
                    p.span,
                    format!("{path}.apt[{i}]"),
                    format!(
                        "{shown} is not a Debian package name; expected lower-case letters, digits, `+`, `-` and `.`, such as ca-certificates, optionally with =version or /suite"
                    ),
                );
            }
        }
        for (i, c) in steps.copy.iter().enumerate() {
            let p = format!("{path}.copy[{i}]");
            if let Some(problem) = absolute_problem(&c.dest.value) {
                let shown = self.shown(&c.dest);
                let d = Diagnostic::error(
                    c.dest.span,
                    format!("{p}.dest"),
                    format!(
                        "{shown} {problem}; expected the absolute path to copy to, such as /usr/local/bin/tool"
                    ),
                );
                let fixed = format!("/{}", c.dest.value.trim_matches('/'));
                self.diags.push(if absolute_problem(&fixed).is_none() {
                    d.with_hint(format!("did you mean `{fixed}`?"))
                } else {
                    d
                });
            }
            match &c.from {
                CopySource::Context => {
                    if let Some(problem) = relative_problem(&c.src.value) {
                        let shown = self.shown(&c.src);
                        let d = Diagnostic::error(
                            c.src.span,
                            format!("{p}.src"),
                            format!(
                                "{shown} {problem}; a copy source is a path inside the build context, relative to its root, such as docker/entrypoint.sh"
                            ),
                        );
                        self.diags.push(if c.src.value.starts_with('/') {
                            d.with_hint("to copy a file out of an image, add `image: <reference>`")
                        } else {
                            d
                        });
                    }
                }
                CopySource::Image(img) => {
                    self.image_ref(img, &format!("{p}.image"), "node:24-bookworm-slim");
                    if let Some(problem) = absolute_problem(&c.src.value) {
                        let shown = self.shown(&c.src);
                        self.error(
                            c.src.span,
                            format!("{p}.src"),
                            format!(
                                "{shown} {problem}; a copy from an image takes an absolute path inside the image, such as /usr/local/bin/node"
                            ),
                        );
                    }
                }
            }
        }
        for (i, r) in steps.run.iter().enumerate() {
            if r.value.trim().is_empty() {
                self.error(
                    r.span,
                    format!("{path}.run[{i}]"),
                    "empty command; expected a shell command such as `useradd -m developer`",
                );
            }
        }
    }

    fn url(&mut self, url: &Spanned<String>, path: &str) {
        if !(url.value.starts_with("https://") || url.value.starts_with("http://")) {
            let shown = self.shown(url);
            self.error(
                url.span,
                path,
                format!(
                    "{shown} is not an http(s) URL; BuildKit downloads binaries with its HTTP source, so expected https://… (or http://…)"
                ),
            );
        }
    }

    /// The checksum as 64 lower-case hex digits, reporting it when it is not one.
    fn sha256(&mut self, sum: &Spanned<String>, path: &str) -> String {
        let hexpart = sum
            .value
            .trim()
            .trim_start_matches("sha256:")
            .to_ascii_lowercase();
        let written = sum.value.trim().trim_start_matches("sha256:");
        let why = if let Some(c) = written.chars().find(|c| !c.is_ascii_hexdigit()) {
            Some(format!("`{c}` is not a hex digit"))
        } else if hexpart.len() != 64 {
            Some(format!("it has {} digits", hexpart.len()))
        } else {
            None
        };
        if let Some(why) = why {
            let shown = self.shown(sum);
            self.error_hint(
                sum.span,
                path,
                format!("{shown} is not a SHA-256 checksum; expected 64 hex digits, but {why}"),
                "`sha256sum <file>` prints it",
            );
        }
        hexpart
    }

    fn each_value(
        &mut self,
        pp: &PerPlatform,
        path: &str,
        check: impl Fn(&mut Self, &Spanned<String>, &str),
    ) {
        match pp {
            PerPlatform::One(s) => check(self, s, path),
            PerPlatform::Map(kvs) => {
                for kv in kvs {
                    check(self, &kv.value, &format!("{path}.{}", kv.key.value));
                }
            }
        }
    }

    /// Narrows a per-platform value to `target`.
    fn select(
        &mut self,
        pp: &PerPlatform,
        target: &Platform,
        path: &str,
        what: &str,
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
                        self.error_hint(
                            span,
                            path,
                            format!(
                                "no {what} for platform {target}; given for: {}",
                                given.join(", ")
                            ),
                            format!(
                                "add `{target}: …` to this mapping, or build for {} with --platform",
                                given.join(" or ")
                            ),
                        );
                        None
                    }
                }
            }
        }
    }

    /// Every check of final values. With a `target`, per-platform values are also
    /// narrowed to it (and a missing platform is an error): the answer is each binary
    /// tool's `url` and `sha256` for the target, in order (an empty value at the binary's
    /// position where narrowing failed, which is reported). Without one, as when the spec
    /// has structural errors, every platform's value is checked as written.
    pub(super) fn spec(
        &mut self,
        spec: &Spec,
        target: Option<&Platform>,
    ) -> Vec<(Spanned<String>, Spanned<String>)> {
        let mut narrowed = Vec::new();
        let from = spec.foundation.from.clone();
        self.image_ref(&from, "foundation.from", "debian:trixie-slim@sha256:…");
        self.steps(&spec.foundation.steps, "foundation");
        match &spec.extension {
            Some(Extension::Inline { steps, .. }) => self.steps(steps, "extension"),
            Some(Extension::Dockerfile { path, .. }) => {
                if let Some(problem) = relative_problem(&path.value) {
                    let shown = self.shown(path);
                    self.error(
                        path.span,
                        "extension.dockerfile",
                        format!(
                            "{shown} {problem}; expected a path relative to the spec file's folder and inside it (the build client sends that folder as the Dockerfile source), such as Dockerfile"
                        ),
                    );
                }
            }
            None => {}
        }

        let h = &spec.harness;
        if h.prefix.value == "/" {
            self.error(
                h.prefix.span,
                "harness.prefix",
                "`/` would let harness tools write anywhere; expected a folder of their own, such as /tools",
            );
        } else if let Some(problem) = absolute_problem(&h.prefix.value) {
            let shown = self.shown(&h.prefix);
            let d = Diagnostic::error(
                h.prefix.span,
                "harness.prefix",
                format!("{shown} {problem}; expected an absolute directory such as /tools"),
            );
            let fixed = format!("/{}", h.prefix.value.trim_matches('/'));
            self.diags
                .push(if fixed != "/" && absolute_problem(&fixed).is_none() {
                    d.with_hint(format!("did you mean `{fixed}`?"))
                } else {
                    d
                });
        }
        for t in &h.npm {
            if parse_exact_version(&t.version.value).is_none() {
                let shown = self.shown(&t.version);
                let bare = t
                    .version
                    .value
                    .trim_start_matches(['^', '~', '=', 'v', '>', ' ']);
                let hint = if bare != t.version.value && parse_exact_version(bare).is_some() {
                    format!("write the exact version \"{bare}\"")
                } else {
                    format!(
                        "write the exact version; `npm view {} version` prints the latest one",
                        t.package.value
                    )
                };
                self.error_hint(
                    t.version.span,
                    format!("harness.npm.{}", t.package.value),
                    format!(
                        "{shown} is not an exact version; expected MAJOR.MINOR.PATCH such as \"1.2.3\" (harness tools are pinned so a build is reproducible and a bump is visible)"
                    ),
                    hint,
                );
            }
        }
        for b in &h.binaries {
            let p = format!("harness.binaries.{}", b.name.value);
            self.each_value(&b.url, &format!("{p}.url"), |c, s, path| c.url(s, path));
            self.each_value(&b.sha256, &format!("{p}.sha256"), |c, s, path| {
                c.sha256(s, path);
            });
            if let Some(e) = &b.extract
                && let Some(problem) = relative_problem(&e.value)
            {
                let shown = self.shown(e);
                self.error(
                    e.span,
                    format!("{p}.extract"),
                    format!(
                        "{shown} {problem}; expected the path of a member inside the archive, such as gitleaks or bin/gitleaks"
                    ),
                );
            }
            let Some(target) = target else { continue };
            let failed = || Spanned::new(String::new(), b.span);
            let url = self.select(&b.url, target, &format!("{p}.url"), "url");
            let sum = self.select(&b.sha256, target, &format!("{p}.sha256"), "sha256");
            let sum = sum.map(|mut sum| {
                // Already checked above; here it is only normalised.
                let mut quiet = Checker {
                    origins: self.origins,
                    diags: Vec::new(),
                };
                sum.value = quiet.sha256(&sum, "");
                sum
            });
            narrowed.push((url.unwrap_or_else(failed), sum.unwrap_or_else(failed)));
        }
        if let Some(s) = &h.npm_secret
            && (s.value.is_empty()
                || !s
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            let shown = self.shown(s);
            self.error(
                s.span,
                "harness.npm_secret",
                format!(
                    "{shown} is not a secret id; expected letters, digits, `.`, `_` or `-`, the id given to buildx as --secret id=npmrc,src=$HOME/.npmrc"
                ),
            );
        }
        if let Some(w) = &spec.image.workdir
            && !w.value.starts_with('/')
        {
            let shown = self.shown(w);
            self.error_hint(
                w.span,
                "image.workdir",
                format!("{shown} is not absolute; expected an absolute path such as /workspace"),
                format!("did you mean `/{}`?", w.value.trim_start_matches("./")),
            );
        }
        narrowed
    }
}
