//! The conversion's contract: what [`crate::graph::convert::convert`] takes ([`Input`]: the
//! resolved spec, the options, the builder's capabilities, the resolved images) and what it
//! gives ([`Conversion`]: the image state, its config and its layers), and how it fails.

use crate::graph::context::ContextFiles;
use crate::graph::cross::CrossBase;
use crate::graph::image_config::ImageConfig;
use crate::graph::names::ProgressNames;
use crate::graph::options::Options;
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::platform::Platform;
use crate::spec::yaml::Span;
use crate::spec::{Part, ResolvedSpec};
use llb_graph::State;
use std::collections::BTreeMap;

/// What the builder can do, from `Ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// `mergeop` and `diffop` are both present and enabled.
    pub merge_diff: bool,
}

/// An image the spec refers to, as the builder resolved it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// Normalised reference to use in the source op (pinned when the builder gave a digest).
    pub reference: String,
    /// The image's config.
    pub config: ImageConfig,
    /// Where its layers come from.
    pub origin: ImageOrigin,
}

/// Where an image's layers come from: a registry, or what a named context
/// (`--build-context <image>=…`) puts in its place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ImageOrigin {
    /// A registry or the builder's image store, by [`ImageInfo::reference`] (a
    /// `docker-image://` context only changes that reference).
    #[default]
    Registry,
    /// An OCI layout the client sends (`oci-layout://…`); the reference is
    /// `<image>@<digest>`.
    OciLayout {
        /// The client's session.
        session: String,
        /// The layout's store id in that session.
        store: String,
    },
    /// A folder the client sends: its files are the image, with no config.
    Local {
        /// The local's name in the session.
        name: String,
        /// The client's session.
        session: String,
    },
}

/// The result of the extension Dockerfile, built by BuildKit's Dockerfile frontend.
#[derive(Debug, Clone)]
pub struct DockerfileExtension {
    /// Its final state (built on the very foundation vertex we pass in).
    pub state: State,
    /// Its image config.
    pub config: ImageConfig,
}

/// Everything conversion reads.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The spec, resolved for one platform.
    pub spec: &'a ResolvedSpec,
    /// Frontend options.
    pub options: &'a Options,
    /// Builder capabilities.
    pub caps: Caps,
    /// Resolved images by the normalised reference written in the spec.
    pub images: &'a BTreeMap<String, ImageInfo>,
    /// The build context (`local://context`), restricted to what the spec copies and
    /// `context_files` does not hold.
    pub context: State,
    /// Small context files read beforehand: their copies write them from the graph
    /// (see [`crate::graph::context`]).
    pub context_files: &'a ContextFiles,
    /// The extension Dockerfile's result, when the spec has one.
    pub dockerfile_extension: Option<DockerfileExtension>,
    /// The progress names of the vertices of `context` and `dockerfile_extension` that the
    /// caller made ([`crate::graph::context::source`] records the context's; a Dockerfile
    /// frontend's vertices have none here).
    pub names: ProgressNames,
    /// Prefix progress names with the platform (multi-platform builds).
    pub show_platform: bool,
    /// The build machine's foundation, when npm tools are cross-installed for this
    /// platform ([`crate::graph::cross::applies`]).
    pub cross: Option<crate::graph::cross::CrossBase>,
}

/// What a layer of the result is, for people (`plan`, progress, guards).
#[derive(Debug, Clone)]
pub struct Layer {
    /// Which part it belongs to.
    pub part: Part,
    /// Tool name for harness layers (`@openai/codex`, `gitleaks`), else the part name.
    pub name: String,
    /// Version for harness layers.
    pub version: Option<String>,
    /// What it contains, in words.
    pub description: String,
    /// The state that *is* the layer (a diff or a scratch-rooted tool tree).
    pub state: State,
    /// Where the part or tool is written in the spec.
    pub span: Span,
}

/// The graph and config for one platform.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The result state.
    pub state: State,
    /// The image config.
    pub config: ImageConfig,
    /// The merge inputs, bottom to top (foundation, extension, tools), for people.
    pub layers: Vec<Layer>,
    /// The foundation state (the extension Dockerfile builds on it).
    pub foundation: State,
    /// The foundation plus the extension, as built (equal to `foundation` without one).
    pub extension: State,
    /// The config of the image the result starts from (`foundation.from`), for the
    /// exporter (`containerimage.base.config`): with `rewrite-timestamp=true` it leaves the
    /// layers that are the base image's as they are. `None` for the harness target, which
    /// starts from scratch.
    pub base_config: Option<ImageConfig>,
    /// What the SBOM (`--sbom`) reads and lists for this target.
    pub sbom: crate::sbom::Parts,
    /// The progress name of each vertex of `state` the frontend made (this conversion, its
    /// cross base, and the caller for [`Input::names`]), by digest: what `aishell-frontend
    /// graph` groups the vertices by.
    pub names: ProgressNames,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

impl Conversion {
    /// The base for cross installs that this conversion (of the build platform's foundation,
    /// with [`CrossBase::options`]) is, for `platform` (the build machine's).
    pub fn into_cross_base(self, platform: Platform) -> CrossBase {
        CrossBase {
            platform,
            foundation: self.foundation,
            config: self.config,
            names: self.names,
        }
    }
}

/// Why conversion failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// The builder cannot merge and the user did not opt into stacking.
    NoMergeOp,
    /// Anything else, with a message and an optional spec position.
    Invalid(String, Option<Span>),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::NoMergeOp => f.write_str(NO_MERGE_MESSAGE),
            ConvertError::Invalid(m, _) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConvertError {}

impl ConvertError {
    /// The error as a diagnostic of the spec `file`, at its position when it has one.
    pub fn into_diagnostics(self, file: &str) -> Diagnostics {
        let (message, span) = match self {
            ConvertError::Invalid(m, span) => (m, span),
            other => (other.to_string(), None),
        };
        let mut d = Diagnostics::new(file);
        d.push(Diagnostic {
            span,
            ..Diagnostic::error(Span::default(), "", message)
        });
        d
    }
}

/// What the user reads when the builder has no MergeOp/DiffOp.
pub const NO_MERGE_MESSAGE: &str = "this builder cannot merge layers: BuildKit's mergeop/diffop capabilities are disabled or missing (Docker Engine's classic image store disables them; BuildKit older than 0.10 lacks them). Ways out: (1) enable the containerd image store in Docker (daemon.json: {\"features\": {\"containerd-snapshotter\": true}}) or use a docker-container builder (`docker buildx create --use`); or (2) build a stacked image in the same order with `--build-arg AISHELL_MERGE=stack` (layers are then no longer shared between projects and a harness bump rebuilds everything above the foundation)";
