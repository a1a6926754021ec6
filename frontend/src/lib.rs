//! aishell-frontend: a BuildKit `# syntax=` frontend that builds an image as
//! `Merge(foundation, Diff(foundation, extension), harness tool 1, …, harness tool N)`.
//!
//! The folders are the jobs, and data flows one way through them:
//! * [`spec`] — the spec: YAML text → node tree → typed model (parsed, then resolved per
//!   platform), diagnostics and lint checks. It knows nothing of LLB.
//! * [`graph`] — the conversion: a pure function of (resolved spec, options, builder
//!   capabilities) to an LLB graph and an image config; also the engine-less conversion.
//! * [`sbom`] and [`guards`] — pure data the build reads back: package inventories and the
//!   SPDX document; the merge guards' facts, checks and verdicts, and the step that gathers
//!   them inside a build.
//! * [`session`] — the gateway session: the BuildKit bridge (behind a trait), the build,
//!   the subrequests (`--call`), and the steps that run the guards and the SBOM scan.
//! * [`cli`] — the command line for humans: check, plan, diff, graph.
//!
//! Dependencies point one way: `spec` ← `graph` ← `session`, `cli`; `sbom` and `guards`
//! depend only on each other's data and are used by `graph` and `session`.

pub mod cli;
pub mod graph;
pub mod guards;
pub mod sbom;
pub mod session;
pub mod spec;
