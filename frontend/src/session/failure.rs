//! Why a build failed, and how a failure reaches the user: the gRPC codes we use, the
//! [`Failure`] type every step of the session returns, and the panic guards that turn a bug
//! into an error message instead of a dead frontend.

use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::yaml::Span;
use aishell_proto::{protobuf, rpc};
use prost::Message;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// gRPC status codes we use.
pub mod code {
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
}

/// Why a build failed, before it is turned into a `google.rpc.Status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// gRPC status code.
    pub code: i32,
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
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            diagnostics: None,
            subrequest: None,
            details: Vec::new(),
        }
    }

    pub(crate) fn diags(d: Diagnostics) -> Self {
        let n = d.errors().count();
        let head = if n == 1 {
            "the spec has an error".to_string()
        } else {
            format!("the spec has {n} errors")
        };
        Failure {
            code: code::INVALID_ARGUMENT,
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
        let mut f = Failure::new(s.code() as i32, format!("{what}: {}", s.message()));
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
        code::INTERNAL,
        format!("internal error in aishell-frontend (please report it): {what}"),
    )
}

/// A future whose panics become `Err` (like `guarded`, for the async flow): a panic
/// between two gateway calls, or inside one, still ends in the single `Return` instead of
/// a dead frontend that leaves buildx with a bare "EOF".
pub(crate) struct CatchPanic<F>(pub(crate) Option<Pin<Box<F>>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.0.as_mut() else {
            return Poll::Pending; // polled after completion: never ready again
        };
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                self.0 = None;
                Poll::Ready(Ok(v))
            }
            Err(p) => {
                // The future is in an unknown state after unwinding; drop it here, not
                // poll it again.
                self.0 = None;
                Poll::Ready(Err(p))
            }
        }
    }
}
