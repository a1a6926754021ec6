//! The frontend's own SBOM (`--sbom=true`): an SPDX document per platform, built from what
//! the frontend knows of each part instead of a scan of the whole merged image.
//!
//! * Each part is read by a build step of its own ([`graph::inventory`], running
//!   [`scan::scan`] in the frontend's own image): the foundation's and the extension's
//!   package databases, and each npm tool's `node_modules` tree in that tool's layer.
//!   BuildKit caches each step keyed by its part, so after a harness bump only the bumped
//!   tool's layer is read again, and a cached part is never pulled for it.
//! * Binary tools need no step: the spec pins their URL and SHA-256.
//! * [`spdx::document`] turns the inventories into the document; the frontend returns it
//!   as an in-toto attestation with the SPDX predicate type, and BuildKit then skips its
//!   scanner image.

pub mod scan;
pub mod spdx;

use llb_graph::State;

/// What the SBOM of one conversion is made of: the states to read and the tools the spec
/// pins. Which parts are present follows the target (the harness target has no system
/// packages; the foundation target no tools).
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// The foundation, for its OS packages.
    pub foundation: Option<State>,
    /// Foundation plus extension, for the image's OS packages, when there is an extension.
    pub extension: Option<State>,
    /// npm tools: name, version, and a state holding the tool's files under the prefix.
    pub npm: Vec<(String, String, State)>,
    /// The `node_modules` folder of the npm tools.
    pub npm_dir: String,
    /// Binary tools.
    pub binaries: Vec<spdx::BinaryTool>,
}
