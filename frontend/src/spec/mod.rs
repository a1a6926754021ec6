//! The typed spec model (`.aishell/image.yaml`, version 1).
//!
//! This module knows YAML and the spec contract, nothing about LLB: conversion lives in
//! [`crate::graph::convert`] and only reads these types. Every value keeps the [`Span`] it was
//! written at, so later stages (argument substitution, validation, conversion, LLB source
//! maps) can point at the exact line and column.
//!
//! ```
//! use aishell_frontend::spec::parse_spec;
//! let text = "version: 1\nfoundation:\n  from: busybox:1\n";
//! let spec = parse_spec("image.yaml", text).unwrap();
//! assert_eq!(spec.foundation.from.value, "busybox:1");
//! assert_eq!(spec.harness.prefix.value, "/tools");
//! ```

pub mod diag;
pub mod lint;
pub mod load;
mod parse;
pub mod platform;
pub mod reference;
mod resolve;
pub mod schema;
pub mod source;
pub mod validate;
pub mod yaml;

pub use parse::parse_spec;
pub use resolve::{
    BuildArgs, PREDEFINED_ARGS, ResolvedSpec, referenced_images, resolve, used_args,
};
pub use source::{ReadError, SpecFile};
pub use validate::parse_exact_version;

use crate::spec::schema::{Boolean, NpmEntry, Text};
use crate::spec::yaml::Span;
use schemars::JsonSchema;
use std::collections::BTreeMap;

/// A value together with the place it was written in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `value` written at `span`.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// A whole spec file.
///
/// The `#[schemars]` attributes here and on the types below make [`schema`] describe the
/// YAML that is accepted rather than the Rust shape; see that module for the two rules
/// (scalars are text, optional keys take null).
///
/// `U` is how a binary tool's `url` and `sha256` are held: [`PerPlatform`] as written
/// (one value or one per platform), [`Spanned<String>`] once resolved for one platform
/// ([`ResolvedSpec`]), so a resolved spec cannot hold a per-platform map.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(
    rename = "Spec",
    title = "aishell image spec, version 1",
    description = "An aishell image spec (.aishell/image.yaml), built by the aishell frontend named on its `# syntax=` line. This schema checks structure only; the frontend also checks values, `${NAME}` references and platforms.",
    deny_unknown_fields
)]
pub struct Spec<U = PerPlatform> {
    /// `version:`; only 1 exists.
    #[schemars(schema_with = "schema::version_one")]
    pub version: Spanned<u32>,
    /// `args:`: build arguments, `NAME: default`, in the order written; like Dockerfile
    /// `ARG`, overridden with `--build-arg NAME=VALUE`, used as `${NAME}` in string values.
    #[schemars(with = "Option<BTreeMap<String, Text>>")]
    pub args: Vec<ArgDecl>,
    /// `foundation:`: the system image, a base image plus steps.
    pub foundation: Foundation,
    /// `harness:`: the AI harness tools, each its own layer (none when absent).
    #[schemars(with = "Option<Harness>")]
    pub harness: Harness<U>,
    /// `extension:`: the per-project layer on the foundation, if any.
    pub extension: Option<Extension>,
    /// `image:`: the final image config (nothing added when absent).
    #[schemars(with = "Option<ImageSection>")]
    pub image: ImageSection,
}

/// One `args:` entry: `NAME: default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The argument name.
    pub name: Spanned<String>,
    /// Its default value (may itself use earlier args).
    pub default: Spanned<String>,
}

/// The system image: a base image plus steps.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Foundation {
    /// `from:` image reference, e.g. debian:trixie-slim (a digest pin is recommended).
    #[schemars(with = "Text")]
    pub from: Spanned<String>,
    /// apt, copy, run, env.
    #[schemars(flatten)]
    pub steps: Steps,
    /// The whole `foundation:` mapping.
    #[schemars(skip)]
    pub span: Span,
}

/// Steps shared by the foundation and an inline extension, applied in this order:
/// apt packages, copies, run commands; `env` is set for the steps and kept in the image.
#[derive(Debug, Clone, PartialEq, Eq, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Steps {
    /// Debian packages installed with apt-get.
    #[schemars(with = "Option<Vec<Text>>")]
    pub apt: Vec<Spanned<String>>,
    /// Files copied in, in order.
    #[schemars(with = "Option<Vec<CopyItem>>")]
    pub copy: Vec<CopyItem>,
    /// Shell commands, each its own step (`/bin/sh -c`).
    #[schemars(with = "Option<Vec<Text>>")]
    pub run: Vec<Spanned<String>>,
    /// Environment variables, `NAME: value`.
    #[schemars(with = "Option<BTreeMap<String, Text>>")]
    pub env: Vec<KeyValue>,
}

impl Steps {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.apt.is_empty() && self.copy.is_empty() && self.run.is_empty() && self.env.is_empty()
    }
}

/// A `NAME: value` pair (env, labels, args).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Spanned<String>,
    /// The value.
    pub value: Spanned<String>,
}

/// One `copy:` item.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CopyItem {
    /// Where the file comes from: the build context, or with `image:` another image (by
    /// reference).
    #[schemars(rename = "image", with = "Option<Text>")]
    pub from: CopySource,
    /// Path in the build context or, with `image:`, the absolute path in the image.
    #[schemars(with = "Text")]
    pub src: Spanned<String>,
    /// Absolute destination path.
    #[schemars(with = "Text")]
    pub dest: Spanned<String>,
    /// Optional permission bits, in octal such as "0755".
    #[schemars(with = "Option<Text>")]
    pub mode: Option<Spanned<u32>>,
    /// Optional numeric owner, uid:gid such as "1000:1000".
    #[schemars(with = "Option<Text>")]
    pub owner: Option<Spanned<Owner>>,
    /// The whole item.
    #[schemars(skip)]
    pub span: Span,
}

/// The source of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// The build context (project root).
    Context,
    /// Another image, by reference.
    Image(Spanned<String>),
}

/// A numeric owner `uid:gid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// The AI harness tools: each one its own layer.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(rename = "Harness", deny_unknown_fields)]
pub struct Harness<U = PerPlatform> {
    /// Where harness files live (default `/tools`).
    #[schemars(with = "Option<Text>", extend("default" = "/tools"))]
    pub prefix: Spanned<String>,
    /// npm packages with exact versions, `package: version`.
    #[schemars(with = "Option<BTreeMap<String, NpmEntry>>")]
    pub npm: Vec<NpmTool>,
    /// Native binaries fetched over HTTP with a checksum, `name: {url, sha256}`.
    #[schemars(with = "Option<BTreeMap<String, BinaryTool>>")]
    pub binaries: Vec<BinaryTool<U>>,
    /// Extra image environment, `NAME: value`.
    #[schemars(with = "Option<BTreeMap<String, Text>>")]
    pub env: Vec<KeyValue>,
    /// A buildx secret id mounted as npm's user config during npm installs.
    #[schemars(with = "Option<Text>")]
    pub npm_secret: Option<Spanned<String>>,
    /// The whole `harness:` mapping (or the document start when absent).
    #[schemars(skip)]
    pub span: Span,
}

/// One npm harness tool. Written `package: version`, or (this mapping)
/// `package: {version: …, emulate: …}`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NpmTool {
    /// Package name, e.g. `@openai/codex`: the key under `harness.npm`.
    #[schemars(skip)]
    pub package: Spanned<String>,
    /// Exact version, e.g. `0.169.0`.
    #[schemars(with = "Text")]
    pub version: Spanned<String>,
    /// `emulate: true`: for a platform other than the build machine's, install the tool on
    /// that platform's foundation (under emulation) instead of cross-installing it on the
    /// build machine's (what `false` or no `emulate` does).
    #[schemars(with = "Option<Boolean>")]
    pub emulate: Option<Spanned<bool>>,
}

impl NpmTool {
    /// Whether the tool opted out of cross installs.
    pub fn emulated(&self) -> bool {
        self.emulate.as_ref().is_some_and(|e| e.value)
    }
}

/// One native binary harness tool, placed at `<prefix>/bin/<name>`.
// `U` holds `url` and `sha256`: as written ([`PerPlatform`]) or, resolved, for one platform
// ([`ResolvedBinary`]). (A plain comment: doc comments become the schema's description.)
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(rename = "BinaryTool", deny_unknown_fields)]
pub struct BinaryTool<U = PerPlatform> {
    /// The file name under `<prefix>/bin`: the key under `harness.binaries`.
    #[schemars(skip)]
    pub name: Spanned<String>,
    /// Download URL (http or https), one for all platforms or one per platform.
    pub url: U,
    /// Expected SHA-256 of the download (64 hex digits), likewise.
    pub sha256: U,
    /// Member of a tar archive (gz, xz, bz2 or zst) to install, e.g. gitleaks; absent for a
    /// bare binary.
    #[schemars(with = "Option<Text>")]
    pub extract: Option<Spanned<String>>,
    /// The whole entry.
    #[schemars(skip)]
    pub span: Span,
}

/// A binary tool resolved for one platform: one `url` and one `sha256`.
pub type ResolvedBinary = BinaryTool<Spanned<String>>;

/// A string that is either the same for every platform or given per platform.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged)]
pub enum PerPlatform {
    /// One value for all platforms.
    #[schemars(with = "Text")]
    One(Spanned<String>),
    /// `platform: value` pairs, e.g. `linux/amd64: https://…`.
    #[schemars(with = "BTreeMap<String, Text>", extend("minProperties" = 1))]
    Map(Vec<KeyValue>),
}

/// The per-project extension.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(untagged, deny_unknown_fields)]
pub enum Extension {
    /// An existing Dockerfile, built by BuildKit's Dockerfile frontend on the foundation.
    Dockerfile {
        /// Path relative to the spec file's folder; in it, `FROM aishell:base` means the
        /// foundation.
        #[schemars(rename = "dockerfile", with = "Text")]
        path: Spanned<String>,
        /// The `extension:` mapping.
        #[schemars(skip)]
        span: Span,
    },
    /// Inline steps on the foundation.
    Inline {
        /// The steps.
        #[schemars(flatten)]
        steps: Steps,
        /// The `extension:` mapping.
        #[schemars(skip)]
        span: Span,
    },
}

/// The three parts of the image, for `image.order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(rename_all = "lowercase")]
pub enum Part {
    /// The system image.
    Foundation,
    /// The per-project extension.
    Extension,
    /// The harness tools.
    Harness,
}

impl Part {
    /// The spec spelling.
    pub fn name(self) -> &'static str {
        match self {
            Part::Foundation => "foundation",
            Part::Extension => "extension",
            Part::Harness => "harness",
        }
    }
}

/// `image:` — the final image config.
#[derive(Debug, Clone, PartialEq, Eq, Default, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ImageSection {
    /// Bottom-to-top order of the parts, if given: each of foundation, extension and
    /// harness once.
    #[schemars(extend("uniqueItems" = true, "minItems" = 3))]
    pub order: Option<Spanned<Vec<Spanned<Part>>>>,
    /// Environment added last, `NAME: value`.
    #[schemars(with = "Option<BTreeMap<String, Text>>")]
    pub env: Vec<KeyValue>,
    /// ENTRYPOINT in exec form (a list).
    #[schemars(with = "Option<Vec<Text>>")]
    pub entrypoint: Option<Vec<Spanned<String>>>,
    /// CMD in exec form (a list).
    #[schemars(with = "Option<Vec<Text>>")]
    pub cmd: Option<Vec<Spanned<String>>>,
    /// WORKDIR, an absolute path.
    #[schemars(with = "Option<Text>")]
    pub workdir: Option<Spanned<String>>,
    /// USER; empty for root.
    #[schemars(with = "Option<Text>")]
    pub user: Option<Spanned<String>>,
    /// Labels, `name: value`.
    #[schemars(with = "Option<BTreeMap<String, Text>>")]
    pub labels: Vec<KeyValue>,
}

impl ImageSection {
    /// The effective order: as written, or foundation, extension, harness.
    pub fn effective_order(&self) -> Vec<Part> {
        match &self.order {
            Some(o) => o.value.iter().map(|p| p.value).collect(),
            None => vec![Part::Foundation, Part::Extension, Part::Harness],
        }
    }
}

impl Spec {
    /// The spec for one platform: each binary tool's `url` and `sha256` replaced by
    /// `narrowed`'s, in the order of `harness.binaries` (resolution selects them).
    ///
    /// Panics: `narrowed` does not have one pair per binary tool.
    pub fn narrow(
        self,
        narrowed: Vec<(Spanned<String>, Spanned<String>)>,
    ) -> Spec<Spanned<String>> {
        assert_eq!(
            narrowed.len(),
            self.harness.binaries.len(),
            "one url and sha256 per binary tool"
        );
        let Harness {
            prefix,
            npm,
            binaries,
            env,
            npm_secret,
            span,
        } = self.harness;
        let binaries = binaries
            .into_iter()
            .zip(narrowed)
            .map(|(b, (url, sha256))| BinaryTool {
                name: b.name,
                url,
                sha256,
                extract: b.extract,
                span: b.span,
            })
            .collect();
        Spec {
            version: self.version,
            args: self.args,
            foundation: self.foundation,
            harness: Harness {
                prefix,
                npm,
                binaries,
                env,
                npm_secret,
                span,
            },
            extension: self.extension,
            image: self.image,
        }
    }
}

impl<U> Spec<U> {
    /// Where the extension is written (the document start when there is none).
    pub fn extension_span(&self) -> Span {
        match &self.extension {
            Some(Extension::Dockerfile { span, .. }) | Some(Extension::Inline { span, .. }) => {
                *span
            }
            None => Span::default(),
        }
    }
}
