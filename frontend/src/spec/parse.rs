//! From a YAML [`Node`] tree to the typed [`Spec`], strictly.
//!
//! Unknown keys, duplicate keys and values of the wrong shape are errors; all of them are
//! collected before giving up, so the user sees every mistake at once. Checks that need
//! argument values (URLs, checksums, versions) run later, in `resolve`.

use super::*;
use crate::diag::{Diagnostic, Diagnostics};
use crate::yaml::{self, Node, Pos, Value};

/// Parses and structurally validates a spec. `file` is used in diagnostics only.
///
/// Errors: every problem found, each with its position.
pub fn parse_spec(file: &str, text: &str) -> Result<Spec, Diagnostics> {
    let mut r = Reader {
        diags: Diagnostics::new(file),
    };
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(e) => {
            r.diags.push(Diagnostic::error(
                Span::point(e.pos),
                "",
                format!("invalid YAML: {}", e.message),
            ));
            return Err(r.diags);
        }
    };
    let spec = r.spec(&root);
    match spec {
        Some(spec) if !r.diags.has_errors() => Ok(spec),
        _ => {
            r.diags.sort();
            Err(r.diags)
        }
    }
}

/// Keys of a mapping, looked up by name, after unknown and duplicate keys were reported.
struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
    span: Span,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    /// Like `get`, but an explicit `key: ~` counts as absent.
    fn get_some(&self, key: &str) -> Option<&'a Node> {
        self.get(key).filter(|n| n.value != Value::Null)
    }

    fn has(&self, key: &str) -> bool {
        self.get_some(key).is_some()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn closest<'k>(key: &str, allowed: &[&'k str]) -> Option<&'k str> {
    allowed
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

struct Reader {
    diags: Diagnostics,
}

impl Reader {
    fn error(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, path, message));
    }

    /// Reads a mapping whose keys must come from `allowed`.
    fn fields<'a>(&mut self, node: &'a Node, path: &str, allowed: &[&str]) -> Option<Fields<'a>> {
        let entries = self.entries(node, path)?;
        let mut out = Fields {
            entries: Vec::new(),
            span: node.span,
        };
        for (k, knode, v) in entries {
            if !allowed.contains(&k) {
                let mut d = Diagnostic::error(
                    knode.span,
                    join(path, k),
                    format!("unknown key `{k}`; expected one of: {}", allowed.join(", ")),
                );
                if let Some(best) = closest(k, allowed) {
                    d = d.with_hint(format!("did you mean `{best}`?"));
                }
                self.diags.push(d);
                continue;
            }
            out.entries.push((k, knode, v));
        }
        Some(out)
    }

    /// Reads any mapping with scalar keys, reporting duplicate keys.
    fn entries<'a>(
        &mut self,
        node: &'a Node,
        path: &str,
    ) -> Option<Vec<(&'a str, &'a Node, &'a Node)>> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.span,
                path,
                format!("expected a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        let mut out: Vec<(&str, &Node, &Node)> = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.error(k.span, path, "keys must be plain strings");
                continue;
            };
            if let Some((_, first, _)) = out.iter().find(|(seen, _, _)| *seen == key) {
                let line = first.span.start.line;
                self.error(
                    k.span,
                    &join(path, key),
                    format!("duplicate key `{key}` (first given on line {line})"),
                );
                continue;
            }
            out.push((key, k, v));
        }
        Some(out)
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Scalar(s, _) => Some(Spanned::new(s.clone(), node.span)),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a string, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn required<'a>(&mut self, f: &Fields<'a>, key: &str, path: &str) -> Option<&'a Node> {
        let n = f.get_some(key);
        if n.is_none() {
            let span = f.get(key).map(|n| n.span).unwrap_or(f.span);
            self.error(span, &join(path, key), "is required");
        }
        n
    }

    fn string_list(&mut self, node: &Node, path: &str) -> Vec<Spanned<String>> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| self.string(n, &format!("{path}[{i}]")))
                .collect(),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a list of strings, found {}", node.kind_name()),
                );
                Vec::new()
            }
        }
    }

    fn key_values(&mut self, node: &Node, path: &str) -> Vec<KeyValue> {
        if node.value == Value::Null {
            return Vec::new();
        }
        let Some(entries) = self.entries(node, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, knode, v) in entries {
            let p = join(path, k);
            if let Some(value) = self.string(v, &p) {
                out.push(KeyValue {
                    key: Spanned::new(k.to_string(), knode.span),
                    value,
                });
            }
        }
        out
    }

    fn env(&mut self, node: &Node, path: &str) -> Vec<KeyValue> {
        let env = self.key_values(node, path);
        for kv in &env {
            if !valid_env_name(&kv.key.value) {
                self.error(
                    kv.key.span,
                    &join(path, &kv.key.value),
                    "environment variable names must match [A-Za-z_][A-Za-z0-9_]*",
                );
            }
        }
        env
    }

    fn spec(&mut self, root: &Node) -> Option<Spec> {
        if root.value == Value::Null {
            self.error(
                root.span,
                "",
                "the spec is empty; expected a mapping with `version: 1` and `foundation:`",
            );
            return None;
        }
        let f = self.fields(
            root,
            "",
            &[
                "version",
                "args",
                "foundation",
                "harness",
                "extension",
                "image",
            ],
        )?;
        let version = self.required(&f, "version", "").and_then(|n| {
            let s = self.string(n, "version")?;
            if s.value == "1" {
                Some(Spanned::new(1, s.span))
            } else {
                self.error(
                    s.span,
                    "version",
                    format!("unsupported version `{}`; only version 1 exists", s.value),
                );
                None
            }
        });
        let args = f.get_some("args").map(|n| self.args(n)).unwrap_or_default();
        let foundation = self
            .required(&f, "foundation", "")
            .and_then(|n| self.foundation(n));
        let harness = match f.get_some("harness") {
            Some(n) => self.harness(n),
            None => Some(Harness {
                prefix: Spanned::new("/tools".into(), Span::point(Pos::new(1, 1))),
                npm: Vec::new(),
                binaries: Vec::new(),
                env: Vec::new(),
                npm_secret: None,
                span: root.span,
            }),
        };
        let extension = match f.get_some("extension") {
            Some(n) => self.extension(n).map(Some),
            None => Some(None),
        };
        let image = match f.get_some("image") {
            Some(n) => self.image(n),
            None => Some(ImageSection::default()),
        };
        Some(Spec {
            version: version?,
            args,
            foundation: foundation?,
            harness: harness?,
            extension: extension?,
            image: image?,
        })
    }

    fn args(&mut self, node: &Node) -> Vec<ArgDecl> {
        let kvs = self.key_values(node, "args");
        let mut out = Vec::new();
        for kv in kvs {
            if !valid_env_name(&kv.key.value) {
                self.error(
                    kv.key.span,
                    &join("args", &kv.key.value),
                    "argument names must match [A-Za-z_][A-Za-z0-9_]*",
                );
            } else if PREDEFINED_ARGS.contains(&kv.key.value.as_str()) {
                self.error(
                    kv.key.span,
                    &join("args", &kv.key.value),
                    format!(
                        "`{}` is predefined by the builder and cannot be declared",
                        kv.key.value
                    ),
                );
            }
            out.push(ArgDecl {
                name: kv.key,
                default: kv.value,
            });
        }
        out
    }

    fn steps(&mut self, f: &Fields<'_>, path: &str) -> Steps {
        let mut steps = Steps::default();
        if let Some(n) = f.get("apt") {
            steps.apt = self.string_list(n, &join(path, "apt"));
            for p in &steps.apt {
                if !valid_apt_name(&p.value) && !p.value.contains("${") {
                    self.error(
                        p.span,
                        &join(path, "apt"),
                        format!(
                            "`{}` is not a Debian package name (optionally with =version or /suite)",
                            p.value
                        ),
                    );
                }
            }
        }
        if let Some(n) = f.get("copy") {
            steps.copy = self.copies(n, &join(path, "copy"));
        }
        if let Some(n) = f.get("run") {
            steps.run = self.string_list(n, &join(path, "run"));
        }
        if let Some(n) = f.get("env") {
            steps.env = self.env(n, &join(path, "env"));
        }
        steps
    }

    fn foundation(&mut self, node: &Node) -> Option<Foundation> {
        let f = self.fields(node, "foundation", &["from", "apt", "copy", "run", "env"])?;
        let from = self
            .required(&f, "from", "foundation")
            .and_then(|n| self.string(n, "foundation.from"));
        let steps = self.steps(&f, "foundation");
        Some(Foundation {
            from: from?,
            steps,
            span: node.span,
        })
    }

    fn copies(&mut self, node: &Node, path: &str) -> Vec<CopyItem> {
        let items = match &node.value {
            Value::Null => return Vec::new(),
            Value::Seq(items) => items,
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a list of copy items, found {}", node.kind_name()),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some(f) = self.fields(item, &p, &["src", "dest", "mode", "owner", "image"]) else {
                continue;
            };
            let src = self
                .required(&f, "src", &p)
                .and_then(|n| self.string(n, &join(&p, "src")));
            let dest = self
                .required(&f, "dest", &p)
                .and_then(|n| self.string(n, &join(&p, "dest")));
            let from = match f.get_some("image") {
                Some(n) => self.string(n, &join(&p, "image")).map(CopySource::Image),
                None => Some(CopySource::Context),
            };
            let mode = f.get_some("mode").and_then(|n| {
                let s = self.string(n, &join(&p, "mode"))?;
                match parse_mode(&s.value) {
                    Some(m) => Some(Spanned::new(m, s.span)),
                    None => {
                        self.error(
                            s.span,
                            &join(&p, "mode"),
                            format!(
                                "`{}` is not a file mode; expected octal permission bits such as \"0755\"",
                                s.value
                            ),
                        );
                        None
                    }
                }
            });
            let owner = f.get_some("owner").and_then(|n| {
                let s = self.string(n, &join(&p, "owner"))?;
                match parse_owner(&s.value) {
                    Some(o) => Some(Spanned::new(o, s.span)),
                    None => {
                        self.error(
                            s.span,
                            &join(&p, "owner"),
                            format!(
                                "`{}` is not an owner; expected numeric uid:gid such as \"1000:1000\"",
                                s.value
                            ),
                        );
                        None
                    }
                }
            });
            if let (Some(src), Some(dest), Some(from)) = (src, dest, from) {
                out.push(CopyItem {
                    from,
                    src,
                    dest,
                    mode,
                    owner,
                    span: item.span,
                });
            }
        }
        out
    }

    fn per_platform(&mut self, node: &Node, path: &str) -> Option<PerPlatform> {
        match &node.value {
            Value::Scalar(..) => self.string(node, path).map(PerPlatform::One),
            Value::Map(_) => {
                let kvs = self.key_values(node, path);
                for kv in &kvs {
                    if crate::platform::Platform::parse(&kv.key.value).is_err() {
                        self.error(
                            kv.key.span,
                            &join(path, &kv.key.value),
                            format!(
                                "`{}` is not a platform; expected os/arch[/variant] such as linux/amd64",
                                kv.key.value
                            ),
                        );
                    }
                }
                if kvs.is_empty() {
                    self.error(node.span, path, "the platform map is empty");
                    return None;
                }
                Some(PerPlatform::Map(kvs))
            }
            _ => {
                self.error(
                    node.span,
                    path,
                    format!(
                        "expected a string or a mapping platform -> string, found {}",
                        node.kind_name()
                    ),
                );
                None
            }
        }
    }

    fn harness(&mut self, node: &Node) -> Option<Harness> {
        let f = self.fields(
            node,
            "harness",
            &["prefix", "npm", "binaries", "env", "npm_secret"],
        )?;
        let prefix = match f.get_some("prefix") {
            Some(n) => self.string(n, "harness.prefix"),
            None => Some(Spanned::new("/tools".into(), node.span)),
        };
        let mut npm = Vec::new();
        if let Some(n) = f.get_some("npm") {
            for (k, knode, v) in self.entries(n, "harness.npm").unwrap_or_default() {
                let p = join("harness.npm", k);
                if !valid_npm_name(k) {
                    self.error(
                        knode.span,
                        &p,
                        format!("`{k}` is not a valid npm package name"),
                    );
                }
                if let Some(version) = self.string(v, &p) {
                    npm.push(NpmTool {
                        package: Spanned::new(k.to_string(), knode.span),
                        version,
                    });
                }
            }
        }
        let mut binaries = Vec::new();
        if let Some(n) = f.get_some("binaries") {
            for (k, knode, v) in self.entries(n, "harness.binaries").unwrap_or_default() {
                let p = join("harness.binaries", k);
                if !valid_file_name(k) {
                    self.error(
                        knode.span,
                        &p,
                        format!(
                            "`{k}` is not a valid binary name; expected a file name of letters, digits, `.`, `_` or `-`"
                        ),
                    );
                }
                if let Some(b) = self.binary(k, knode, v, &p) {
                    binaries.push(b);
                }
            }
        }
        let env = f
            .get("env")
            .map(|n| self.env(n, "harness.env"))
            .unwrap_or_default();
        let npm_secret = f
            .get_some("npm_secret")
            .and_then(|n| self.string(n, "harness.npm_secret"));
        Some(Harness {
            prefix: prefix?,
            npm,
            binaries,
            env,
            npm_secret,
            span: node.span,
        })
    }

    fn binary(&mut self, name: &str, knode: &Node, node: &Node, path: &str) -> Option<BinaryTool> {
        let f = self.fields(node, path, &["url", "sha256", "extract"])?;
        let url = self
            .required(&f, "url", path)
            .and_then(|n| self.per_platform(n, &join(path, "url")));
        let sha256 = match f.get_some("sha256") {
            Some(n) => self.per_platform(n, &join(path, "sha256")),
            None => {
                let span = f.get("sha256").map(|n| n.span).unwrap_or(knode.span);
                self.diags.push(
                    Diagnostic::error(
                        span,
                        join(path, "sha256"),
                        format!(
                            "binary `{name}` has no checksum; a sha256 is required for every download"
                        ),
                    )
                    .with_hint("run `sha256sum` on the file and add `sha256: \"<64 hex digits>\"`"),
                );
                None
            }
        };
        let extract = f
            .get_some("extract")
            .and_then(|n| self.string(n, &join(path, "extract")));
        Some(BinaryTool {
            name: Spanned::new(name.to_string(), knode.span),
            url: url?,
            sha256: sha256?,
            extract,
            span: node.span,
        })
    }

    fn extension(&mut self, node: &Node) -> Option<Extension> {
        let f = self.fields(
            node,
            "extension",
            &["dockerfile", "apt", "copy", "run", "env"],
        )?;
        if let Some(n) = f.get_some("dockerfile") {
            let inline: Vec<&str> = ["apt", "copy", "run", "env"]
                .into_iter()
                .filter(|k| f.has(k))
                .collect();
            if !inline.is_empty() {
                self.error(
                    n.span,
                    "extension.dockerfile",
                    format!(
                        "an extension is either a Dockerfile or inline steps, not both (also given: {})",
                        inline.join(", ")
                    ),
                );
            }
            let path = self.string(n, "extension.dockerfile")?;
            return Some(Extension::Dockerfile {
                path,
                span: node.span,
            });
        }
        let steps = self.steps(&f, "extension");
        Some(Extension::Inline {
            steps,
            span: node.span,
        })
    }

    fn exec_form(&mut self, node: &Node, path: &str) -> Option<Vec<Spanned<String>>> {
        match &node.value {
            Value::Seq(_) => Some(self.string_list(node, path)),
            Value::Scalar(s, _) => {
                self.diags.push(
                    Diagnostic::error(
                        node.span,
                        path,
                        "expected a list (exec form), found a string",
                    )
                    .with_hint(format!(
                        "write [\"/bin/sh\", \"-c\", \"{s}\"] for a shell command, or [\"{s}\"]"
                    )),
                );
                None
            }
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a list of strings, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn image(&mut self, node: &Node) -> Option<ImageSection> {
        let f = self.fields(
            node,
            "image",
            &[
                "order",
                "env",
                "entrypoint",
                "cmd",
                "workdir",
                "user",
                "labels",
            ],
        )?;
        let mut image = ImageSection::default();
        if let Some(n) = f.get_some("order") {
            let names = self.string_list(n, "image.order");
            let mut parts = Vec::new();
            for s in names {
                let part = match s.value.as_str() {
                    "foundation" => Part::Foundation,
                    "extension" => Part::Extension,
                    "harness" => Part::Harness,
                    other => {
                        self.error(
                            s.span,
                            "image.order",
                            format!(
                                "unknown part `{other}`; expected foundation, extension or harness"
                            ),
                        );
                        continue;
                    }
                };
                if parts.iter().any(|p: &Spanned<Part>| p.value == part) {
                    self.error(
                        s.span,
                        "image.order",
                        format!("`{}` is listed twice", part.name()),
                    );
                    continue;
                }
                parts.push(Spanned::new(part, s.span));
            }
            if parts.len() == 3 {
                image.order = Some(Spanned::new(parts, n.span));
            } else if !self.diags.has_errors() {
                self.error(
                    n.span,
                    "image.order",
                    "must list each of foundation, extension and harness exactly once",
                );
            }
        }
        if let Some(n) = f.get("env") {
            image.env = self.env(n, "image.env");
        }
        if let Some(n) = f.get_some("entrypoint") {
            image.entrypoint = self.exec_form(n, "image.entrypoint");
        }
        if let Some(n) = f.get_some("cmd") {
            image.cmd = self.exec_form(n, "image.cmd");
        }
        if let Some(n) = f.get_some("workdir") {
            image.workdir = self.string(n, "image.workdir");
        }
        if let Some(n) = f.get("user") {
            // `user: ""` is meaningful (reset to root), so an explicit empty value counts.
            image.user = match &n.value {
                Value::Null => Some(Spanned::new(String::new(), n.span)),
                _ => self.string(n, "image.user"),
            };
        }
        if let Some(n) = f.get("labels") {
            image.labels = self.key_values(n, "image.labels");
        }
        Some(image)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub(crate) fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Debian package names (policy 5.6.1) with an optional `=version` or `/suite`.
fn valid_apt_name(s: &str) -> bool {
    let name = s.split(['=', '/']).next().unwrap_or("");
    let mut chars = name.chars();
    name.len() >= 2
        && matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.:~=/_".contains(c))
}

/// npm package names: optional `@scope/`, lower-case URL-safe characters.
fn valid_npm_name(s: &str) -> bool {
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
pub(crate) fn valid_file_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

fn parse_mode(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok()
}

fn parse_owner(s: &str) -> Option<Owner> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_npm_name("@anthropic-ai/claude-code"));
        assert!(valid_npm_name("is-number"));
        assert!(!valid_npm_name("@scope"));
        assert!(!valid_npm_name("Upper"));
        assert!(valid_apt_name("ca-certificates"));
        assert!(valid_apt_name("nodejs=20.19.2+dfsg-1"));
        assert!(!valid_apt_name("rm -rf /"));
        assert!(valid_file_name("gitleaks"));
        assert!(!valid_file_name("../x"));
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("999"), None);
        assert_eq!(
            parse_owner("1000:1000"),
            Some(Owner {
                uid: 1000,
                gid: 1000
            })
        );
        assert_eq!(parse_owner("dev:1000"), None);
        assert_eq!(distance("fundation", "foundation"), 1);
    }
}
