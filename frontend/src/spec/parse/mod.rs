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
}

mod sections;

#[cfg(test)]
mod tests;
