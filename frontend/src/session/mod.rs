//! The gateway session with BuildKit: the bridge to the daemon ([`gateway`], behind a trait
//! so that tests run the same code against a fake), the build ([`build`]), what it asks the
//! builder for before converting ([`inputs`]: context files, image configs, the extension
//! Dockerfile's result), the subrequests of `--call` ([`subrequest`]), and the build steps
//! that gather the merge guards' facts ([`guards`]) and the SBOM's inventories ([`sbom`]) by
//! running the frontend's own image.

pub mod build;
pub mod failure;
pub mod gateway;
pub mod guards;
pub mod inputs;
pub mod log;
pub mod sbom;
pub mod source;
pub mod subrequest;
