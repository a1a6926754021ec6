//! The conversion from a resolved spec to LLB: [`convert`] (a pure function of the resolved
//! spec, the [`options`] and the builder's capabilities), the build context it reads
//! ([`context`]), Dockerfile extensions ([`extension`]), cross installs of npm tools for a
//! foreign platform ([`cross`]), the image config ([`image_config`]), and the same conversion
//! without an engine, with stand-in image configs ([`offline`]). [`targets`] is the one table
//! of what each `--target` holds; [`names`] the progress names of the vertices, as values.
//!
//! The options live here rather than with the gateway session because they are the
//! conversion's input (the CLI builds them too); the session only parses them from
//! BuildKit's frontend options.

pub mod context;
pub mod contract;
pub mod convert;
pub mod cross;
pub mod extension;
pub mod image_config;
pub mod names;
pub mod offline;
pub mod ops;
pub mod options;
pub mod targets;
