//! The readers of each section of the spec: foundation and extension steps (apt, copy,
//! run, env), per-platform values, the harness (npm and binary tools), the extension, and
//! the image section. The generic readers (strings, lists, mappings, strict keys) are in
//! the parent module.

use super::*;

impl Reader {
    pub(super) fn steps(&mut self, f: &Fields<'_>, path: &str) -> Steps {
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

    pub(super) fn foundation(&mut self, node: &Node) -> Option<Foundation> {
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

    pub(super) fn copies(&mut self, node: &Node, path: &str) -> Vec<CopyItem> {
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

    pub(super) fn per_platform(
        &mut self,
        node: &Node,
        path: &str,
        what: &str,
    ) -> Option<PerPlatform> {
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

    pub(super) fn harness(&mut self, node: &Node) -> Option<Harness> {
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

    pub(super) fn binary(
        &mut self,
        name: &str,
        knode: &Node,
        node: &Node,
        path: &str,
    ) -> Option<BinaryTool> {
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

    pub(super) fn extension(&mut self, node: &Node) -> Option<Extension> {
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

    pub(super) fn exec_form(&mut self, node: &Node, path: &str) -> Option<Vec<Spanned<String>>> {
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

    pub(super) fn image(&mut self, node: &Node) -> Option<ImageSection> {
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
