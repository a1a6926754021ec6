//! aishell-frontend: a BuildKit `# syntax=` frontend that builds an image as
//! `Merge(foundation, Diff(foundation, extension), harness tool 1, …, harness tool N)`.
//!
//! Data flows one way: spec text → [`yaml`] node tree → [`spec`] model (parsed, then
//! resolved per platform) → [`convert`] (a pure function to an LLB graph and an image
//! config) → [`gateway`] (the BuildKit bridge, behind a trait) driven by [`run`].

pub mod cli;
pub mod context;
pub mod convert;
pub mod cross;
pub mod diag;
pub mod extension;
pub mod gateway;
pub mod graph;
pub mod guards;
pub mod image_config;
pub mod lint;
pub mod offline;
pub mod options;
pub mod plan;
pub mod platform;
pub mod reference;
pub mod render;
pub mod run;
pub mod sbom;
pub mod spec;
pub mod subrequest;
pub mod yaml;
