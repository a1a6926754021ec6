//! aishell-frontend: a BuildKit `# syntax=` frontend that builds an image as
//! `Merge(foundation, Diff(foundation, extension), harness tool 1, …, harness tool N)`.
//!
//! Data flows one way: spec text → [`yaml`] node tree → [`spec`] model (parsed, then
//! resolved per platform) → `convert` (a pure function to an LLB graph and an image
//! config) → `gateway` (the BuildKit bridge, behind a trait).

pub mod diag;
pub mod platform;
pub mod spec;
pub mod yaml;
