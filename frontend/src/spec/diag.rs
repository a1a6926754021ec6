//! Diagnostics: every problem found in a spec, with the place it was found.
//!
//! Validation never stops at the first mistake: it collects [`Diagnostic`]s into
//! [`Diagnostics`] so a user fixes a spec in one round trip. Each diagnostic names the
//! key path (`harness.binaries.gitleaks.sha256`), the 1-based line and column, what is
//! wrong and, where we can tell, what was expected.
//!
//! ```
//! use aishell_frontend::spec::diag::{Diagnostic, Diagnostics};
//! use aishell_frontend::spec::yaml::{Pos, Span};
//! let mut d = Diagnostics::new("spec.yaml");
//! d.push(Diagnostic::error(Span::point(Pos::new(3, 5)), "foundation.from", "is required"));
//! assert!(d.has_errors());
//! assert_eq!(d.to_string(), "spec.yaml:3:5: error: foundation.from: is required");
//! ```

use crate::spec::yaml::Span;
use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The spec cannot be built.
    Error,
    /// The spec builds, but probably not as the user wants.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the spec file; `None` for problems of the file as a whole.
    pub span: Option<Span>,
    /// The dotted key path, e.g. `harness.npm.@openai/codex`; empty for the document.
    pub path: String,
    /// What is wrong, and what was expected.
    pub message: String,
    /// An optional suggestion for the fix.
    pub hint: Option<String>,
    /// The check that produced a warning (`FoundationNotPinned`), see [`crate::spec::lint`];
    /// stable, so users and tools can match on it.
    pub rule: Option<&'static str>,
}

impl Diagnostic {
    /// An error at `span` for the key `path`.
    pub fn error(span: Span, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span: Some(span),
            path: path.into(),
            message: message.into(),
            hint: None,
            rule: None,
        }
    }

    /// A warning at `span` for the key `path`.
    pub fn warning(span: Span, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, path, message)
        }
    }

    /// Adds a hint (builder style).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Names the check that produced this diagnostic (builder style).
    pub fn with_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// `file:line:col: severity[Rule]: path: message`.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        out.push_str(file);
        if let Some(span) = self.span {
            out.push_str(&format!(":{}:{}", span.start.line, span.start.col));
        }
        out.push_str(&format!(": {}", self.severity));
        if let Some(rule) = self.rule {
            out.push_str(&format!("[{rule}]"));
        }
        out.push_str(": ");
        if !self.path.is_empty() {
            out.push_str(&self.path);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        if let Some(hint) = &self.hint {
            out.push_str(&format!(" (hint: {hint})"));
        }
        out
    }
}

/// All problems of one spec file, in the order they were found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics {
    /// The spec file name as the user gave it (`-f`).
    pub file: String,
    /// The problems.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection for `file`.
    pub fn new(file: impl Into<String>) -> Self {
        Diagnostics {
            file: file.into(),
            items: Vec::new(),
        }
    }

    /// Records a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// True when at least one problem is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// Appends all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Sorts by position so output reads top to bottom; stable for equal positions.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            d.span
                .map(|s| (s.start.line, s.start.col))
                .unwrap_or((0, 0))
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            f.write_str(&d.render(&self.file))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
