//! From a YAML [`Node`] tree to the typed [`Spec`], strictly.
//!
//! Unknown keys, duplicate keys and values of the wrong shape are errors; all of them are
//! collected before giving up, so the user sees every mistake at once. Checks that need
//! argument values (URLs, checksums, versions) run later, in `resolve`.

use super::validate::{
    closest, parse_mode, parse_owner, suggest_name, valid_env_name, valid_file_name, valid_npm_name,
};
use super::*;
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::yaml::{self, Node, Pos, Value};

/// Parses and structurally validates a spec. `file` is used in diagnostics only.
///
/// When the structure has errors, the checks of final values (paths, versions, checksums)
/// still run on every value that does not depend on an argument, so a user sees those
/// mistakes in the same round trip instead of after fixing the structure.
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
        partial => {
            if let Some(spec) = partial {
                r.diags.extend(super::resolve::check_partial(&spec, file));
            }
            r.diags.sort();
            Err(r.diags)
        }
    }
}

/// Keys of a mapping, looked up by name, after unknown and duplicate keys were reported.
struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
    /// Where a missing key is reported: the key that holds this mapping when known
    /// (`foundation:`), else the mapping itself.
    owner: Span,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, _)| k.span)
    }

    /// Like `get`, but an explicit `key: ~` counts as absent.
    fn get_some(&self, key: &str) -> Option<&'a Node> {
        self.get(key).filter(|n| n.value != Value::Null)
    }

    fn has(&self, key: &str) -> bool {
        self.get_some(key).is_some()
    }

    fn owned_by(mut self, span: Span) -> Self {
        self.owner = span;
        self
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Keys people bring from Dockerfiles or other tools, with what to write instead.
fn key_hint(path: &str, key: &str) -> Option<&'static str> {
    Some(match (path, key) {
        ("extension", "from" | "image") => {
            "an extension is always built on the foundation and has no base image of its own; use `dockerfile:` (with `FROM aishell:base`) or inline apt/copy/run/env"
        }
        ("foundation", "image" | "base") => "the base image is given with `from:`",
        ("image", "working_dir" | "workingdir") => "did you mean `workdir`?",
        ("image", "command") => "did you mean `cmd`?",
        ("image", "environment") => "did you mean `env`?",
        ("harness", "tools" | "packages") => {
            "harness tools are listed under `npm:` (package: version) or `binaries:` (name: url/sha256)"
        }
        _ => return None,
    })
}

struct Reader {
    diags: Diagnostics,
}

impl Reader {
    fn error(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, path, message));
    }

    fn error_hint(&mut self, span: Span, path: &str, message: impl Into<String>, hint: String) {
        self.diags
            .push(Diagnostic::error(span, path, message).with_hint(hint));
    }

    /// Reads a mapping whose keys must come from `allowed`.
    fn fields<'a>(&mut self, node: &'a Node, path: &str, allowed: &[&str]) -> Option<Fields<'a>> {
        let entries = self.entries(node, path)?;
        let mut out = Fields {
            entries: Vec::new(),
            owner: node.span,
        };
        for (k, knode, v) in entries {
            if !allowed.contains(&k) {
                let mut d = Diagnostic::error(
                    knode.span,
                    join(path, k),
                    format!("unknown key `{k}`; expected one of: {}", allowed.join(", ")),
                );
                if let Some(hint) = key_hint(path, k) {
                    d = d.with_hint(hint);
                } else if let Some(best) = closest(k, allowed) {
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
                format!(
                    "expected a mapping (`key: value` lines), found {}",
                    node.describe()
                ),
            );
            return None;
        };
        let mut out: Vec<(&str, &Node, &Node)> = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.error(
                    k.span,
                    path,
                    format!("expected a plain text key, found {}", k.describe()),
                );
                continue;
            };
            if key == "<<" && k.value == Value::Scalar("<<".into(), yaml::ScalarKind::Plain) {
                // YAML 1.1 merge keys: common in compose files, not part of YAML 1.2,
                // and read by our parser as an ordinary key named `<<`.
                self.error_hint(
                    k.span,
                    path,
                    "YAML merge keys (`<<: *anchor`) are not supported",
                    "repeat the keys, or use the alias as the whole value (`env: *anchor`)".into(),
                );
                continue;
            }
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
        self.string_of(node, path, "a string")
    }

    /// A scalar; anything else is reported as "expected `what`, found …".
    fn string_of(&mut self, node: &Node, path: &str, what: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Scalar(s, _) => Some(Spanned::new(s.clone(), node.span)),
            Value::Null if what == "a string" => {
                self.error_hint(
                    node.span,
                    path,
                    format!("expected {what}, found an empty value"),
                    "write \"\" for an empty string".into(),
                );
                None
            }
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected {what}, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// `true` or `false`.
    fn boolean(&mut self, node: &Node, path: &str) -> Option<Spanned<bool>> {
        match node.as_str() {
            Some("true") => Some(Spanned::new(true, node.span)),
            Some("false") => Some(Spanned::new(false, node.span)),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected true or false, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// A key that must be given; `what` says what it holds, for the message.
    fn required<'a>(
        &mut self,
        f: &Fields<'a>,
        key: &str,
        path: &str,
        what: &str,
    ) -> Option<&'a Node> {
        let n = f.get_some(key);
        if n.is_none() {
            match f.key_span(key) {
                Some(span) => {
                    self.error(span, &join(path, key), format!("is empty; expected {what}"))
                }
                None => self.error(f.owner, &join(path, key), format!("is required: {what}")),
            }
        }
        n
    }

    /// A list of strings. One string where a list belongs is the most common slip, so the
    /// hint shows the list the user probably meant.
    fn string_list(&mut self, node: &Node, path: &str) -> Vec<Spanned<String>> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| self.string(n, &format!("{path}[{i}]")))
                .collect(),
            Value::Scalar(s, _) => {
                let items: Vec<&str> = if path.ends_with(".apt") {
                    s.split([' ', ',']).filter(|w| !w.is_empty()).collect()
                } else {
                    vec![s.as_str()]
                };
                let shown: Vec<String> = items
                    .iter()
                    .map(|i| {
                        if i.contains([' ', ',', ':', '#', '"', '[', ']', '{', '}']) {
                            format!("{i:?}")
                        } else {
                            i.to_string()
                        }
                    })
                    .collect();
                self.error_hint(
                    node.span,
                    path,
                    format!(
                        "expected a list, found the single value {}",
                        node.describe()
                    ),
                    format!("write [{}], or one `- item` per line", shown.join(", ")),
                );
                Vec::new()
            }
            Value::Map(_) => {
                self.error(
                    node.span,
                    path,
                    format!("expected a list of strings, found {}", node.describe()),
                );
                Vec::new()
            }
        }
    }

    fn key_values(&mut self, node: &Node, path: &str) -> Vec<KeyValue> {
        if node.value == Value::Null {
            return Vec::new();
        }
        if let Value::Seq(items) = &node.value {
            // `- NAME=value` is how Dockerfiles and compose files spell it.
            let example = items
                .first()
                .and_then(Node::as_str)
                .and_then(|s| s.split_once('='))
                .map(|(k, v)| format!("write `{k}: {v}`, one `NAME: value` per line"))
                .unwrap_or_else(|| "write one `NAME: value` per line".into());
            self.error_hint(
                node.span,
                path,
                "expected a mapping of names to values, found a list",
                example,
            );
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
                let d = Diagnostic::error(
                    kv.key.span,
                    join(path, &kv.key.value),
                    format!(
                        "`{}` is not a valid environment variable name; expected letters, digits and `_`, not starting with a digit",
                        kv.key.value
                    ),
                );
                self.diags.push(match suggest_name(&kv.key.value) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None => d,
                });
            }
        }
        env
    }

    /// The spec; `None` only when the document is not a mapping at all. Parts that are
    /// missing or malformed are reported and replaced by placeholders (at line 0, which
    /// no real value has), so the remaining values can still be checked.
    fn spec(&mut self, root: &Node) -> Option<Spec> {
        const TOP: [&str; 6] = [
            "version",
            "args",
            "foundation",
            "harness",
            "extension",
            "image",
        ];
        match &root.value {
            Value::Null => {
                self.error(
                    root.span,
                    "",
                    "the spec is empty; expected a mapping with `version: 1` and `foundation:`",
                );
                return None;
            }
            Value::Map(_) => {}
            _ => {
                self.error(
                    root.span,
                    "",
                    format!(
                        "a spec is a mapping of the keys {}; found {}",
                        TOP.join(", "),
                        root.describe()
                    ),
                );
                return None;
            }
        }
        let f = self.fields(root, "", &TOP)?;
        let version = self
            .required(
                &f,
                "version",
                "",
                "write `version: 1` at the top of the spec",
            )
            .and_then(|n| {
                let s = self.string_of(n, "version", "the number 1")?;
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
            .required(
                &f,
                "foundation",
                "",
                "the system image, at least `from:` with a base image such as debian:trixie-slim",
            )
            .and_then(|n| self.foundation(n));
        let harness = f.get_some("harness").and_then(|n| self.harness(n));
        let extension = f.get_some("extension").and_then(|n| self.extension(n));
        let image = f.get_some("image").and_then(|n| self.image(n));
        let nowhere = Span::default();
        Some(Spec {
            version: version.unwrap_or(Spanned::new(1, nowhere)),
            args,
            foundation: foundation.unwrap_or(Foundation {
                from: Spanned::new(String::new(), nowhere),
                steps: Steps::default(),
                span: nowhere,
            }),
            harness: harness.unwrap_or_else(|| Harness {
                prefix: Spanned::new("/tools".into(), Span::point(Pos::new(1, 1))),
                npm: Vec::new(),
                binaries: Vec::new(),
                env: Vec::new(),
                npm_secret: None,
                span: root.span,
            }),
            extension,
            image: image.unwrap_or_default(),
        })
    }

    fn args(&mut self, node: &Node) -> Vec<ArgDecl> {
        let kvs = self.key_values(node, "args");
        let mut out = Vec::new();
        for kv in kvs {
            let path = join("args", &kv.key.value);
            if !valid_env_name(&kv.key.value) {
                let d = Diagnostic::error(
                    kv.key.span,
                    path,
                    format!(
                        "`{}` is not a valid argument name; expected letters, digits and `_`, not starting with a digit",
                        kv.key.value
                    ),
                );
                self.diags.push(match suggest_name(&kv.key.value) {
                    Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                    None => d,
                });
            } else if PREDEFINED_ARGS.contains(&kv.key.value.as_str()) {
                self.error_hint(
                    kv.key.span,
                    &path,
                    format!(
                        "`{}` is predefined by the builder and cannot be declared",
                        kv.key.value
                    ),
                    format!(
                        "remove it from `args:` and use `${{{}}}` as it is; its value comes from --platform",
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
        // A missing `from` is reported at the first key of the mapping, next to any
        // misspelt key there (`form:`), which is where the fix goes.
        let f = self.fields(node, "foundation", &["from", "apt", "copy", "run", "env"])?;
        let from = self
            .required(
                &f,
                "from",
                "foundation",
                "the base image, e.g. `from: debian:trixie-slim`",
            )
            .and_then(|n| {
                self.string_of(
                    n,
                    "foundation.from",
                    "an image reference such as debian:trixie-slim",
                )
            });
        let steps = self.steps(&f, "foundation");
        Some(Foundation {
            from: from.unwrap_or(Spanned::new(String::new(), Span::default())),
            steps,
            span: node.span,
        })
    }

    fn copies(&mut self, node: &Node, path: &str) -> Vec<CopyItem> {
        let items = match &node.value {
            Value::Null => return Vec::new(),
            Value::Seq(items) => items,
            _ => {
                self.error_hint(
                    node.span,
                    path,
                    format!("expected a list of copy items, found {}", node.describe()),
                    "write each item as `- src: …` with `dest: …` on the next line".into(),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            if let Value::Scalar(s, _) = &item.value {
                let hint = match s.split_once(':') {
                    Some((src, dest)) if dest.starts_with('/') => {
                        format!("write `- src: {src}` and `dest: {dest}` on two lines")
                    }
                    _ => "write `- src: …` and `dest: …` on two lines".into(),
                };
                self.error_hint(
                    item.span,
                    &p,
                    format!(
                        "expected a copy item (a mapping with src and dest), found {}",
                        item.describe()
                    ),
                    hint,
                );
                continue;
            }
            let Some(f) = self.fields(item, &p, &["src", "dest", "mode", "owner", "image"]) else {
                continue;
            };
            let from_image = f.has("image");
            let src = self
                .required(
                    &f,
                    "src",
                    &p,
                    if from_image {
                        "the absolute path inside the image, e.g. /usr/local/bin/node"
                    } else {
                        "the path in the build context, e.g. docker/entrypoint.sh"
                    },
                )
                .and_then(|n| self.string(n, &join(&p, "src")));
            let dest = self
                .required(
                    &f,
                    "dest",
                    &p,
                    "the absolute path to copy to, e.g. /usr/local/bin/entrypoint.sh",
                )
                .and_then(|n| self.string(n, &join(&p, "dest")));
            let from = match f.get_some("image") {
                Some(n) => self
                    .string_of(
                        n,
                        &join(&p, "image"),
                        "an image reference such as node:24-bookworm-slim",
                    )
                    .map(CopySource::Image),
                None => Some(CopySource::Context),
            };
            let not_substituted = |s: &str| {
                s.contains('$').then(|| {
                    "mode and owner are not substituted from `args:`; write the value itself"
                        .to_string()
                })
            };
            let mode = f.get_some("mode").and_then(|n| {
                let s = self.string(n, &join(&p, "mode"))?;
                match parse_mode(&s.value) {
                    Some(m) => Some(Spanned::new(m, s.span)),
                    None => {
                        let d = Diagnostic::error(
                            s.span,
                            join(&p, "mode"),
                            format!(
                                "`{}` is not a file mode; expected up to four octal digits (0-7) such as \"0755\"",
                                s.value
                            ),
                        );
                        self.diags.push(match not_substituted(&s.value) {
                            Some(h) => d.with_hint(h),
                            None => d,
                        });
                        None
                    }
                }
            });
            let owner = f.get_some("owner").and_then(|n| {
                let s = self.string(n, &join(&p, "owner"))?;
                match parse_owner(&s.value) {
                    Some(o) => Some(Spanned::new(o, s.span)),
                    None => {
                        let d = Diagnostic::error(
                            s.span,
                            join(&p, "owner"),
                            format!(
                                "`{}` is not an owner; expected numeric uid:gid such as \"1000:1000\" (names cannot be looked up: the copy runs no container)",
                                s.value
                            ),
                        );
                        self.diags.push(match not_substituted(&s.value) {
                            Some(h) => d.with_hint(h),
                            None => d,
                        });
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

    fn per_platform(&mut self, node: &Node, path: &str, what: &str) -> Option<PerPlatform> {
        match &node.value {
            Value::Scalar(..) => self.string(node, path).map(PerPlatform::One),
            Value::Map(_) => {
                let kvs = self.key_values(node, path);
                for kv in &kvs {
                    if crate::spec::platform::Platform::parse(&kv.key.value).is_err() {
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
                    self.error(
                        node.span,
                        path,
                        format!(
                            "the platform map is empty; expected `linux/amd64: {what}` and so on"
                        ),
                    );
                    return None;
                }
                Some(PerPlatform::Map(kvs))
            }
            _ => {
                self.error(
                    node.span,
                    path,
                    format!(
                        "expected {what}, or a mapping of platforms to it (linux/amd64: …), found {}",
                        node.describe()
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
            Some(n) => self.string_of(n, "harness.prefix", "an absolute directory such as /tools"),
            None => Some(Spanned::new("/tools".into(), node.span)),
        };
        let mut npm = Vec::new();
        if let Some(n) = f.get_some("npm") {
            if let Value::Seq(items) = &n.value {
                let example = items
                    .first()
                    .and_then(Node::as_str)
                    .and_then(|s| s.rfind('@').filter(|i| *i > 0).map(|i| s.split_at(i)))
                    .map(|(pkg, ver)| format!("write `\"{pkg}\": \"{}\"`", &ver[1..]))
                    .unwrap_or_else(|| "write `\"@openai/codex\": \"0.169.0\"`".into());
                self.error_hint(
                    n.span,
                    "harness.npm",
                    "expected a mapping of package names to exact versions, found a list",
                    format!("{example}, one `package: version` per line"),
                );
            }
            let entries = match &n.value {
                Value::Seq(_) => Vec::new(),
                _ => self.entries(n, "harness.npm").unwrap_or_default(),
            };
            for (k, knode, v) in entries {
                let p = join("harness.npm", k);
                if !valid_npm_name(k) {
                    let d = Diagnostic::error(
                        knode.span,
                        &p,
                        format!(
                            "`{k}` is not a valid npm package name; expected lower-case letters, digits, `-`, `.`, `_`, optionally with a scope (@scope/name)"
                        ),
                    );
                    let lower = k.to_ascii_lowercase();
                    self.diags.push(if lower != k && valid_npm_name(&lower) {
                        d.with_hint(format!("did you mean `{lower}`?"))
                    } else {
                        d
                    });
                }
                // `package: version`, or `package: {version: …, emulate: true}`.
                let (vnode, emulate) = if let Value::Map(_) = &v.value {
                    let Some(f) = self.fields(v, &p, &["version", "emulate"]) else {
                        continue;
                    };
                    let version =
                        self.required(&f, "version", &p, "an exact version such as \"1.2.3\"");
                    let emulate = f
                        .get_some("emulate")
                        .and_then(|n| self.boolean(n, &join(&p, "emulate")));
                    let Some(version) = version else { continue };
                    (version, emulate)
                } else {
                    (v, None)
                };
                if let Some(version) =
                    self.string_of(vnode, &p, "an exact version such as \"1.2.3\"")
                {
                    npm.push(NpmTool {
                        package: Spanned::new(k.to_string(), knode.span),
                        version,
                        emulate,
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
                            "`{k}` is not a valid binary name; expected a plain file name such as gitleaks (letters, digits, `.`, `_`, `+`, `-`): the binary is placed at <prefix>/bin/<name>"
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
        let npm_secret = f.get_some("npm_secret").and_then(|n| {
            self.string_of(n, "harness.npm_secret", "a buildx secret id such as npmrc")
        });
        Some(Harness {
            prefix: prefix.unwrap_or(Spanned::new("/tools".into(), Span::default())),
            npm,
            binaries,
            env,
            npm_secret,
            span: node.span,
        })
    }

    fn binary(&mut self, name: &str, knode: &Node, node: &Node, path: &str) -> Option<BinaryTool> {
        if let Value::Scalar(..) = &node.value {
            self.error_hint(
                node.span,
                path,
                format!(
                    "expected a mapping with url and sha256, found {}",
                    node.describe()
                ),
                format!(
                    "write `{name}: {{url: …, sha256: \"…\"}}`, adding `extract: …` for an archive"
                ),
            );
            return None;
        }
        let f = self
            .fields(node, path, &["url", "sha256", "extract"])?
            .owned_by(knode.span);
        let url = self
            .required(
                &f,
                "url",
                path,
                "the http(s) URL to download, or a mapping of platforms to URLs",
            )
            .and_then(|n| self.per_platform(n, &join(path, "url"), "an http(s) URL"));
        let sha256 = match f.get_some("sha256") {
            Some(n) => self.per_platform(
                n,
                &join(path, "sha256"),
                "a SHA-256 checksum (64 hex digits)",
            ),
            None => {
                let span = f.key_span("sha256").unwrap_or(knode.span);
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
        let extract = f.get_some("extract").and_then(|n| {
            self.string_of(
                n,
                &join(path, "extract"),
                "the path of a member of the archive, e.g. gitleaks",
            )
        });
        Some(BinaryTool {
            name: Spanned::new(name.to_string(), knode.span),
            url: url?,
            sha256: sha256?,
            extract,
            span: node.span,
        })
    }

    fn extension(&mut self, node: &Node) -> Option<Extension> {
        if let Value::Scalar(..) = &node.value {
            self.error_hint(
                node.span,
                "extension",
                format!(
                    "expected a mapping (`dockerfile:` or inline apt/copy/run/env), found {}",
                    node.describe()
                ),
                format!(
                    "for a Dockerfile write `extension: {{dockerfile: {}}}`",
                    node.as_str().unwrap_or("Dockerfile")
                ),
            );
            return None;
        }
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
                self.error_hint(
                    n.span,
                    "extension.dockerfile",
                    format!(
                        "an extension is either a Dockerfile or inline steps, not both (also given: {})",
                        inline.join(", ")
                    ),
                    "move the inline steps into the Dockerfile, or drop `dockerfile:`".into(),
                );
            }
            let path = self.string_of(
                n,
                "extension.dockerfile",
                "a path relative to the spec file's folder, e.g. Dockerfile",
            )?;
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
                    format!("expected a list of strings, found {}", node.describe()),
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
            let mut wrong = false;
            for s in names {
                let part = match s.value.as_str() {
                    "foundation" => Part::Foundation,
                    "extension" => Part::Extension,
                    "harness" => Part::Harness,
                    other => {
                        let known = ["foundation", "extension", "harness"];
                        let d = Diagnostic::error(
                            s.span,
                            "image.order",
                            format!(
                                "unknown part `{other}`; expected foundation, extension or harness"
                            ),
                        );
                        self.diags.push(match closest(other, &known) {
                            Some(k) => d.with_hint(format!("did you mean `{k}`?")),
                            None => d,
                        });
                        wrong = true;
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
            } else if !wrong && matches!(n.value, Value::Seq(_)) {
                // Only when every entry was a known part: an unknown one is most likely
                // the missing part misspelt, and was reported as such.
                let missing: Vec<&str> = [Part::Foundation, Part::Extension, Part::Harness]
                    .into_iter()
                    .filter(|p| !parts.iter().any(|q| q.value == *p))
                    .map(Part::name)
                    .collect();
                self.error(
                    n.span,
                    "image.order",
                    format!(
                        "`{}` is missing; the order lists each of foundation, extension and harness exactly once, bottom to top",
                        missing.join("` and `")
                    ),
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
            image.workdir =
                self.string_of(n, "image.workdir", "an absolute path such as /workspace");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_npm_name("@anthropic-ai/claude-code"));
        assert!(valid_npm_name("is-number"));
        assert!(!valid_npm_name("@scope"));
        assert!(!valid_npm_name("Upper"));
        assert!(crate::spec::validate::valid_apt_name("ca-certificates"));
        assert!(crate::spec::validate::valid_apt_name(
            "nodejs=20.19.2+dfsg-1"
        ));
        assert!(!crate::spec::validate::valid_apt_name("rm -rf /"));
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
        assert_eq!(
            closest("fundation", &["foundation", "harness"]),
            Some("foundation")
        );
        assert_eq!(closest("workingdir", &["workdir", "user"]), Some("workdir"));
        assert_eq!(closest("zzz", &["workdir", "user"]), None);
        assert_eq!(closest("ext", &["extension", "harness"]), Some("extension"));
        assert_eq!(suggest_name("MY-VAR").as_deref(), Some("MY_VAR"));
        assert_eq!(suggest_name("1X"), None);
    }

    fn errors(text: &str) -> Vec<String> {
        match parse_spec("s.yaml", text) {
            Ok(_) => Vec::new(),
            Err(d) => d.items.iter().map(|x| x.render("s.yaml")).collect(),
        }
    }

    #[test]
    fn value_mistakes_are_reported_with_structural_ones() {
        let e = errors(
            "version: 1\nfoundation:\n  from: x\n  apt: [Git]\nharness:\n  npm: {a: ^1.0.0, b: \"${V}\"}\nimgae: {}\n",
        );
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[0].starts_with("s.yaml:4:9: error: foundation.apt[0]: `Git`"));
        assert!(e[1].contains("`^1.0.0` is not an exact version"));
        // Neither declared nor predefined: reported; its value is not judged.
        assert!(e[2].contains("`${V}` is neither declared"));
        assert!(e[3].contains("unknown key `imgae`"));
    }

    #[test]
    fn missing_parts_do_not_hide_the_rest() {
        let e = errors("version: 1\nimage:\n  workdir: w\n");
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].contains("foundation: is required"));
        assert!(e[1].contains("image.workdir: `w` is not absolute"));
    }

    #[test]
    fn order_names_the_missing_part_only_when_the_rest_is_known() {
        let e =
            errors("version: 1\nfoundation: {from: x}\nimage: {order: [harness, foundation]}\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("`extension` is missing"));
        let e = errors(
            "version: 1\nfoundation: {from: x}\nimage: {order: [harness, foundation, ext]}\n",
        );
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("unknown part `ext`"));
        assert!(e[0].contains("did you mean `extension`?"));
    }

    #[test]
    fn common_shapes_get_the_fix_as_a_hint() {
        let e = errors("version: 1\nfoundation:\n  from: x\n  apt: git curl\n  env: [A=1]\n");
        assert!(e[0].contains("write [git, curl]"), "{e:#?}");
        assert!(e[1].contains("write `A: 1`"), "{e:#?}");
        let e = errors("version: 1\nfoundation: {from: x}\nharness: {npm: [\"@a/b@1.2.3\"]}\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("write `\"@a/b\": \"1.2.3\"`"), "{e:#?}");
    }

    #[test]
    fn an_npm_tool_can_opt_out_of_cross_installs() {
        let spec = parse_spec(
            "s.yaml",
            "version: 1\nfoundation: {from: x}\nharness:\n  npm:\n    a: \"1.0.0\"\n    b: {version: \"2.0.0\", emulate: true}\n",
        )
        .unwrap();
        let npm = &spec.harness.npm;
        assert!(!npm[0].emulated());
        assert_eq!(npm[1].version.value, "2.0.0");
        assert!(npm[1].emulated());
        let e = errors(
            "version: 1\nfoundation: {from: x}\nharness:\n  npm:\n    a: {emulate: yes}\n    b: {version: \"1.0.0\", emulated: true}\n",
        );
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(
            e[0].contains("harness.npm.a.version: is required"),
            "{e:#?}"
        );
        assert!(
            e[1].contains("harness.npm.a.emulate: expected true or false"),
            "{e:#?}"
        );
        assert!(e[2].contains("unknown key `emulated`"), "{e:#?}");
    }
}
