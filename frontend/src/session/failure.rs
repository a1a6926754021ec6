//! Why a build failed, and how a failure reaches the user: the [`Failure`] type every step of the session returns, and the panic guards that turn a bug
//! into an error message instead of a dead frontend.

use crate::graph::convert::{self, ConvertError};
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::yaml::Span;
use aishell_proto::{protobuf, rpc};
use prost::Message;
use tonic::Code;

/// Why a build failed, before it is turned into a `google.rpc.Status`
/// ([`crate::session::build::failure_status`] is the one place that renders it).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// gRPC status code.
    pub code: Code,
    /// What went wrong: a message, or errors at spec positions.
    reason: Reason,
    /// Set for an unsupported subrequest (`--call`), so clients treat it as such.
    pub subrequest: Option<String>,
    /// Details of a daemon error we pass on (e.g. the Dockerfile excerpt of a failing
    /// step of the extension), so the client can print them.
    pub details: Vec<protobuf::Any>,
}

/// What a [`Failure`] says: kept typed until it is rendered, so the spec positions of its
/// errors reach the excerpts attached to the status and `--call check`'s location.
#[derive(Debug, Clone, PartialEq)]
enum Reason {
    /// One paragraph with no spec position (a builder that cannot merge, a daemon error).
    Message(String),
    /// Errors at spec positions, and who found them (`the spec has`, `the merge guards
    /// found`).
    Found {
        who: String,
        diagnostics: Box<Diagnostics>,
    },
}

impl Failure {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Failure {
            code,
            reason: Reason::Message(message.into()),
            subrequest: None,
            details: Vec::new(),
        }
    }

    pub(crate) fn diags(d: Diagnostics) -> Self {
        Failure::found(Code::InvalidArgument, "the spec has", d)
    }

    /// Errors at spec positions that `who` found (`the merge guards found 2 errors:`).
    pub(crate) fn found(code: Code, who: &str, d: Diagnostics) -> Self {
        Failure {
            code,
            reason: Reason::Found {
                who: who.to_string(),
                diagnostics: Box::new(d),
            },
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

    /// The one-paragraph message (the CLI prints it after "failed to solve:"): errors at
    /// spec positions are listed one per line, `file:line:col: message`.
    pub fn message(&self) -> String {
        match &self.reason {
            Reason::Message(m) => m.clone(),
            Reason::Found { who, diagnostics } => {
                let n = diagnostics.errors().count();
                let head = if n == 1 {
                    format!("{who} an error")
                } else {
                    format!("{who} {n} errors")
                };
                format!("{head}:\n{diagnostics}")
            }
        }
    }

    /// The errors at spec positions, when the failure is made of them.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match &self.reason {
            Reason::Found { diagnostics, .. } => Some(diagnostics),
            Reason::Message(_) => None,
        }
    }

    /// Where in the spec the failure is: its first error's position.
    pub fn span(&self) -> Option<Span> {
        self.diagnostics()
            .and_then(|d| d.errors().find_map(|e| e.span))
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

/// The failure for a conversion error of the spec `file`: at its spec position when it
/// has one.
pub(crate) fn convert_failure(file: &str, e: ConvertError) -> Failure {
    match e {
        ConvertError::NoMergeOp => {
            Failure::new(Code::FailedPrecondition, convert::NO_MERGE_MESSAGE)
        }
        ConvertError::Invalid(m, None) => Failure::new(Code::InvalidArgument, m),
        e @ ConvertError::Invalid(_, Some(_)) => Failure::diags(e.into_diagnostics(file)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::Pos;

    #[test]
    fn a_conversion_error_keeps_its_spec_position_to_the_rendered_message() {
        let span = Span::point(Pos::new(4, 9));
        let f = convert_failure(
            "image.yaml",
            ConvertError::Invalid("image `node:24` was not resolved".into(), Some(span)),
        );
        assert_eq!(f.code, Code::InvalidArgument);
        assert_eq!(f.span(), Some(span));
        assert_eq!(
            f.message(),
            "the spec has an error:\nimage.yaml:4:9: error: image `node:24` was not resolved"
        );
        // Without a position it stays a message, and a builder without merges says so.
        let f = convert_failure("image.yaml", ConvertError::Invalid("bad".into(), None));
        assert_eq!((f.span(), f.message()), (None, "bad".to_string()));
        let f = convert_failure("image.yaml", ConvertError::NoMergeOp);
        assert_eq!(f.code, Code::FailedPrecondition);
        assert!(f.diagnostics().is_none());
    }

    #[test]
    fn errors_found_by_the_guards_are_counted_in_the_head() {
        let mut d = Diagnostics::new("image.yaml");
        d.push(Diagnostic::error(Span::point(Pos::new(1, 1)), "a", "one"));
        d.push(Diagnostic::error(Span::point(Pos::new(2, 1)), "b", "two"));
        let f = Failure::found(Code::FailedPrecondition, "the merge guards found", d);
        assert!(
            f.message()
                .starts_with("the merge guards found 2 errors:\n"),
            "{}",
            f.message()
        );
        assert_eq!(f.span(), Some(Span::point(Pos::new(1, 1))));
    }
}
