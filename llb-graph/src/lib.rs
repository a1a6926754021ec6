//! A typed, immutable builder for BuildKit LLB graphs.
//!
//! A [`State`] is a filesystem: scratch, or one output of a vertex. Vertices are made by
//! sources ([`Source`]), commands ([`Exec`]), file operations ([`FileOp`]) and the two
//! composition operators [`merge`] and [`diff`]. Building a vertex encodes its `pb::Op`
//! once and fixes its digest, so states are cheap to clone and share, and two identical
//! ops built in different places are the same vertex. [`marshal`] walks the graph from a
//! root and emits a `pb::Definition` with each distinct op once, inputs before users, and
//! a terminal op last, byte-identical every time for the same graph.
//!
//! ```
//! use llb_graph::{Exec, FileOp, Meta, Source, diff, marshal, merge};
//! let base = Source::image("docker.io/library/busybox:1").build(Meta::named("base"));
//! let ext = Exec::new(base.clone(), ["/bin/sh", "-c", "echo hi > /hi"])
//!     .build(Meta::named("[extension] run"));
//! let tool = FileOp::on(llb_graph::State::scratch())
//!     .mkfile("/tools/bin/t", 0o755, b"#!/bin/sh\n".to_vec())
//!     .build(Meta::named("[harness] t"));
//! let image = merge(&[base.clone(), diff(&base, &ext, Meta::default()), tool], Meta::named("merge"));
//! let a = marshal(&image, &[]);
//! let b = marshal(&image, &[]);
//! assert_eq!(llb_graph::encode_definition(&a), llb_graph::encode_definition(&b));
//! assert_eq!(a.def.len(), 6); // image, exec, diff, file, merge, terminal
//! ```

mod digest;
mod dump;
mod exec;
mod file;
mod marshal;
mod source;
mod state;
mod validate;

pub use aishell_proto::pb;
pub use digest::Digest;
pub use dump::{definition_to_json, op_to_json};
pub use exec::{Exec, MountKey, MountKind, NetMode};
pub use file::{CopyOptions, FileOp, FileRef};
pub use marshal::{SourceFile, decode_op, encode_definition, marshal};
pub use source::Source;
pub use state::{Location, Meta, State, diff, merge};
pub use validate::validate;

/// Negative one: the "none / scratch / keep" marker of several LLB fields.
pub(crate) const EMPTY: i64 = -1;

/// A platform for ops that need one (image sources, execs).
///
/// ```
/// let p = llb_graph::platform("linux", "arm64", None);
/// assert_eq!(p.architecture, "arm64");
/// ```
pub fn platform(os: &str, arch: &str, variant: Option<&str>) -> pb::Platform {
    pb::Platform {
        architecture: arch.to_string(),
        os: os.to_string(),
        variant: variant.unwrap_or_default().to_string(),
        ..Default::default()
    }
}
