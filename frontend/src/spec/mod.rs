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
pub mod source;
pub mod validate;
pub mod yaml;

pub use parse::parse_spec;
pub use resolve::{
    BuildArgs, PREDEFINED_ARGS, ResolvedSpec, parse_exact_version, referenced_images, resolve,
    used_args,
};
pub use source::{ReadError, SpecFile};

use crate::spec::yaml::Span;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `version:`; only 1 exists.
    pub version: Spanned<u32>,
    /// `args:` in the order written.
    pub args: Vec<ArgDecl>,
    /// `foundation:`.
    pub foundation: Foundation,
    /// `harness:` (defaults when absent).
    pub harness: Harness,
    /// `extension:`, if any.
    pub extension: Option<Extension>,
    /// `image:` (defaults when absent).
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foundation {
    /// `from:` image reference.
    pub from: Spanned<String>,
    /// apt, copy, run, env.
    pub steps: Steps,
    /// The whole `foundation:` mapping.
    pub span: Span,
}

/// Steps shared by the foundation and an inline extension, applied in this order:
/// apt packages, copies, run commands; `env` is set for the steps and kept in the image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Steps {
    /// Debian packages installed with apt-get.
    pub apt: Vec<Spanned<String>>,
    /// Files copied in, in order.
    pub copy: Vec<CopyItem>,
    /// Shell commands, each its own step.
    pub run: Vec<Spanned<String>>,
    /// Environment variables.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyItem {
    /// Where the file comes from.
    pub from: CopySource,
    /// Path in the build context or in the image.
    pub src: Spanned<String>,
    /// Absolute destination path.
    pub dest: Spanned<String>,
    /// Optional permission bits.
    pub mode: Option<Spanned<u32>>,
    /// Optional numeric owner.
    pub owner: Option<Spanned<Owner>>,
    /// The whole item.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Harness {
    /// Where harness files live (default `/tools`).
    pub prefix: Spanned<String>,
    /// npm packages with exact versions.
    pub npm: Vec<NpmTool>,
    /// Native binaries fetched over HTTP with a checksum.
    pub binaries: Vec<BinaryTool>,
    /// Extra image environment.
    pub env: Vec<KeyValue>,
    /// A buildx secret id mounted as npm's user config during npm installs.
    pub npm_secret: Option<Spanned<String>>,
    /// The whole `harness:` mapping (or the document start when absent).
    pub span: Span,
}

/// One npm harness tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmTool {
    /// Package name, e.g. `@openai/codex`.
    pub package: Spanned<String>,
    /// Exact version, e.g. `0.169.0`.
    pub version: Spanned<String>,
    /// `emulate: true`: for a platform other than the build machine's, install the tool on
    /// that platform's foundation (under emulation) instead of cross-installing it on the
    /// build machine's. `None` when not written (cross install).
    pub emulate: Option<Spanned<bool>>,
}

impl NpmTool {
    /// Whether the tool opted out of cross installs.
    pub fn emulated(&self) -> bool {
        self.emulate.as_ref().is_some_and(|e| e.value)
    }
}

/// One native binary harness tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryTool {
    /// The file name under `<prefix>/bin`.
    pub name: Spanned<String>,
    /// Download URL, one for all platforms or one per platform.
    pub url: PerPlatform,
    /// Expected SHA-256 of the download, likewise.
    pub sha256: PerPlatform,
    /// Member of a tar archive to install; `None` for a bare binary.
    pub extract: Option<Spanned<String>>,
    /// The whole entry.
    pub span: Span,
}

/// A string that is either the same for every platform or given per platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerPlatform {
    /// One value for all platforms.
    One(Spanned<String>),
    /// `platform: value` pairs, e.g. `linux/amd64: https://…`.
    Map(Vec<KeyValue>),
}

/// The per-project extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// An existing Dockerfile, built by BuildKit's Dockerfile frontend on the foundation.
    Dockerfile {
        /// Path relative to the spec file's folder.
        path: Spanned<String>,
        /// The `extension:` mapping.
        span: Span,
    },
    /// Inline steps on the foundation.
    Inline {
        /// The steps.
        steps: Steps,
        /// The `extension:` mapping.
        span: Span,
    },
}

/// The three parts of the image, for `image.order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageSection {
    /// Bottom-to-top order of the parts, if given.
    pub order: Option<Spanned<Vec<Spanned<Part>>>>,
    /// Environment added last.
    pub env: Vec<KeyValue>,
    /// ENTRYPOINT in exec form.
    pub entrypoint: Option<Vec<Spanned<String>>>,
    /// CMD in exec form.
    pub cmd: Option<Vec<Spanned<String>>>,
    /// WORKDIR.
    pub workdir: Option<Spanned<String>>,
    /// USER.
    pub user: Option<Spanned<String>>,
    /// Labels.
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
