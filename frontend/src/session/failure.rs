//! Why a build failed, and how a failure reaches the user: the [`Failure`] type every step of the session returns, and the panic guards that turn a bug
//! into an error message instead of a dead frontend.

use crate::graph::convert::{self, ConvertError};
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::yaml::Span;
use aishell_proto::{protobuf, rpc};
use prost::Message;
use tonic::Code;

/// Why a build failed, before it is turned into a `google.rpc.Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// gRPC status code.
    pub code: Code,
    /// One-paragraph message (the CLI prints it after "failed to solve:").
    pub message: String,
    /// Spec problems with positions, if any.
    pub diagnostics: Option<Box<Diagnostics>>,
    /// Set for an unsupported subrequest (`--call`), so clients treat it as such.
    pub subrequest: Option<String>,
    /// Details of a daemon error we pass on (e.g. the Dockerfile excerpt of a failing
    /// step of the extension), so the client can print them.
    pub details: Vec<protobuf::Any>,
}

impl Failure {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            diagnostics: None,
            subrequest: None,
            details: Vec::new(),
        }
    }

    pub(crate) fn diags(d: Diagnostics) -> Self {
        Failure::found(Code::InvalidArgument, "the spec has", d)
    }

    /// Errors at spec positions that `who` found (`the merge guards found 2 errors:`).
    pub(crate) fn found(code: Code, who: &str, d: Diagnostics) -> Self {
        let n = d.errors().count();
        let head = if n == 1 {
            format!("{who} an error")
        } else {
            format!("{who} {n} errors")
        };
        Failure {
            code,
            message: format!("{head}:\n{d}"),
            diagnostics: Some(Box::new(d)),
            subrequest: None,
            details: Vec::new(),
        }
    }

    /// One spec error at `span`, with the spec excerpt attached.
    pub(crate) fn at(file: &str, span: Span, path: &str, message: impl Into<String>) -> Self {
        let mut d = Diagnostics::new(file);
        d.push(Diagnostic::error(span, path, message));
        Failure::diags(d)
    }

    pub(crate) fn gateway(what: &str, s: &tonic::Status) -> Self {
        let mut f = Failure::new(s.code(), format!("{what}: {}", s.message()));
        // The daemon's own details (source excerpts, vertex info) travel in the status
        // details as an encoded google.rpc.Status.
        if let Ok(st) = rpc::Status::decode(s.details()) {
            f.details = st.details;
        }
        f
    }
}

/// Runs the pure steps behind a panic guard: a bug must reach the user as an error
/// message, not as a dead frontend.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(panic_failure(p.as_ref())),
    }
}

/// The failure the user sees for a panic: the panic's message, as an internal error.
pub(crate) fn panic_failure(p: &(dyn std::any::Any + Send)) -> Failure {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Failure::new(
        Code::Internal,
        format!("internal error in aishell-frontend (please report it): {what}"),
    )
}

/// The failure for a conversion error.
pub(crate) fn convert_failure(e: ConvertError) -> Failure {
    match e {
        ConvertError::NoMergeOp => {
            Failure::new(Code::FailedPrecondition, convert::NO_MERGE_MESSAGE)
        }
        ConvertError::Invalid(m, _) => Failure::new(Code::InvalidArgument, m),
    }
}
