//! Merge guards: checks on the built layers before an image is returned.
//!
//! MergeOp stacks layers by path, and the later layer silently wins. So we verify, on the
//! real filesystems of the layers:
//! * every harness layer writes only under the harness prefix (a tool must never clobber
//!   the dpkg database, `/etc/passwd` or `/usr/local` of the extension);
//! * the extension writes nothing under the prefix;
//! * no two harness layers provide the same file (two npm packages with one bin name);
//! * no harness layer carries a folder on the way to the prefix that differs from the image
//!   below it: a merge does not follow the lower image's symlinks (a layer with a real `/lib`
//!   folder hides Debian's `/lib -> usr/lib` and every program stops working), and the upper
//!   layer's folder metadata wins (a `/tmp` folder made 0755 by a layer built from scratch
//!   takes away the sticky 1777 bit).
//!
//! How, so that a cached layer is never pulled for them: each layer's few listings are
//! gathered by a step of the build graph ([`graph::facts`], [`facts`]), the checks
//! ([`checks`]) run in one more step over those small files ([`graph::verdict`],
//! [`verdict`]), and the frontend reads the verdict. Both steps run the frontend's own binary
//! ([`step`]). docs/architecture.md explains the choice and its cost.

pub mod checks;
pub mod facts;
pub mod step;
pub mod verdict;

pub use checks::{ParentChange, Violation};
