//! Diagnostics for people at a terminal, in the style of rustc.
//!
//! The gateway path reports spec problems as one line each (`file:line:col: error: …`)
//! because BuildKit prints its own excerpt from the source map. On the command line we
//! have the spec text ourselves, so each problem gets the line it is about and a caret
//! under the exact place, which is what people are used to from compilers:
//!
//! ```text
//! error: harness.npm.@openai/codex: `^0.169.0` is not an exact version
//!  --> image.yaml:8:22
//!   |
//! 8 |     "@openai/codex": "^0.169.0"
//!   |                      ^^^^^^^^^^
//!   |
//!   = help: write the exact version, e.g. "2.1.332"
//! ```
//!
//! Rendering is a pure function of the diagnostic, the spec text and a [`Style`], so it is
//! tested without a terminal.
//!
//! ```
//! use aishell_frontend::spec::diag::Diagnostic;
//! use aishell_frontend::cli::render::{Style, render};
//! use aishell_frontend::spec::yaml::{Pos, Span};
//! let text = "version: 1\nfoundation:\n  from: \"\"\n";
//! let span = Span { start: Pos::new(3, 9), end: Pos::new(3, 11) };
//! let d = Diagnostic::error(span, "foundation.from", "is empty");
//! let out = render(&d, "image.yaml", text, Style::plain());
//! assert!(out.starts_with("error: foundation.from: is empty\n --> image.yaml:3:9\n"));
//! assert!(out.contains("3 |   from: \"\"\n  |         ^^\n"));
//! ```

use crate::spec::diag::{Diagnostic, Diagnostics, Severity};

/// Columns a tab advances in an excerpt (rustc uses 4 as well).
const TAB_WIDTH: usize = 4;

/// Whether to use ANSI colours, decided once by the caller (terminal, `NO_COLOR`, `--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Emit ANSI escape sequences.
    pub color: bool,
}

impl Style {
    /// No escape sequences: for pipes, files and tests.
    pub const fn plain() -> Self {
        Style { color: false }
    }

    /// ANSI colours.
    pub const fn colored() -> Self {
        Style { color: true }
    }

    /// Wraps `text` in the SGR sequence `code` when colours are on.
    ///
    /// ```
    /// use aishell_frontend::cli::render::Style;
    /// assert_eq!(Style::plain().paint("1;31", "error"), "error");
    /// assert_eq!(Style::colored().paint("1;31", "error"), "\x1b[1;31merror\x1b[0m");
    /// ```
    pub fn paint(self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// `error` in bold red, `warning` in bold yellow.
    pub fn severity(self, s: Severity) -> String {
        match s {
            Severity::Error => self.paint("1;31", "error"),
            Severity::Warning => self.paint("1;33", "warning"),
        }
    }

    /// The gutter, arrows and line numbers: bold blue, as rustc does.
    fn frame(self, text: &str) -> String {
        self.paint("1;34", text)
    }

    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn caret(self, s: Severity, text: &str) -> String {
        match s {
            Severity::Error => self.paint("1;31", text),
            Severity::Warning => self.paint("1;33", text),
        }
    }
}

/// Display width of `s` in an excerpt, with tabs expanded.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if c == '\t' { TAB_WIDTH } else { 1 })
        .sum()
}

/// `line` as shown in an excerpt: tabs expanded so carets line up whatever the terminal's
/// tab stops are, and trailing whitespace (including a `\r`) dropped.
fn excerpt_line(line: &str) -> String {
    line.trim_end()
        .chars()
        .map(|c| {
            if c == '\t' {
                " ".repeat(TAB_WIDTH)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Where the carets go on the excerpt line: display offset and count (at least one).
fn caret_range(d: &Diagnostic, line: &str) -> (usize, usize) {
    let Some(span) = d.span else { return (0, 1) };
    let chars: Vec<char> = line.trim_end().chars().collect();
    // Columns are 1-based characters; clamp so a position just past the end (a missing
    // value at the end of a line) still gets a caret right after the text.
    let start = (span.start.col.max(1) as usize - 1).min(chars.len());
    let prefix: String = chars[..start].iter().collect();
    let offset = width(&prefix);
    let count = if span.end.line == span.start.line && span.end.col > span.start.col {
        let end = (span.end.col as usize - 1).min(chars.len()).max(start);
        let covered: String = chars[start..end].iter().collect();
        width(&covered)
    } else {
        0
    };
    (offset, count.max(1))
}

/// Renders one diagnostic: the headline, the location, the spec line with carets when the
/// diagnostic has a position inside `text`, and the hint.
///
/// `file` is the name shown after `-->`; `text` is the spec it points into. A diagnostic
/// without a position, or one pointing outside `text`, shows the file name only.
pub fn render(d: &Diagnostic, file: &str, text: &str, style: Style) -> String {
    let mut out = String::new();
    let head = if d.path.is_empty() {
        d.message.clone()
    } else {
        format!("{}: {}", d.path, d.message)
    };
    // The rule name goes where rustc puts its error code, so it reads and greps the same.
    let rule = d.rule.map(|r| format!("[{r}]")).unwrap_or_default();
    out.push_str(&format!(
        "{}{}{} {}\n",
        style.severity(d.severity),
        style.caret(d.severity, &rule),
        style.bold(":"),
        style.bold(&head)
    ));

    // Line 0 is what a synthetic "whole document" span carries: no excerpt for it.
    let line_no = d.span.map(|s| s.start.line as usize).filter(|l| *l > 0);
    // The line after the last one is where the parser stops at the end of the input
    // (an unclosed `[`): show it empty rather than nothing.
    let source_line = line_no.and_then(|n| {
        text.lines()
            .nth(n - 1)
            .or_else(|| (n == text.lines().count() + 1).then_some(""))
    });
    let gutter = line_no.map_or(1, |n| n.to_string().len());
    let pad = " ".repeat(gutter);
    let location = match (d.span, line_no) {
        (Some(s), Some(_)) => format!("{file}:{}:{}", s.start.line, s.start.col.max(1)),
        _ => file.to_string(),
    };
    out.push_str(&format!("{pad}{} {location}\n", style.frame("-->")));

    if let (Some(n), Some(line)) = (line_no, source_line) {
        let bar = style.frame("|");
        let (offset, count) = caret_range(d, line);
        out.push_str(&format!("{pad} {bar}\n"));
        out.push_str(&format!(
            "{} {bar} {}\n",
            style.frame(&format!("{n:>gutter$}")),
            excerpt_line(line)
        ));
        out.push_str(&format!(
            "{pad} {bar} {}{}\n",
            " ".repeat(offset),
            style.caret(d.severity, &"^".repeat(count))
        ));
    }
    if let Some(hint) = &d.hint {
        if source_line.is_some() {
            out.push_str(&format!("{pad} {}\n", style.frame("|")));
        }
        out.push_str(&format!(
            "{pad} {} {}: {hint}\n",
            style.frame("="),
            style.bold("help")
        ));
    }
    out
}

/// Renders every diagnostic of `diags` (separated by blank lines, as rustc does), in
/// their order, against the spec `text`.
pub fn render_all(diags: &Diagnostics, text: &str, style: Style) -> String {
    diags
        .items
        .iter()
        .map(|d| render(d, &diags.file, text, style))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closing line: how many errors and warnings, e.g.
/// `error: image.yaml: 2 errors, 1 warning`; `None` when there is nothing to say.
///
/// ```
/// use aishell_frontend::spec::diag::{Diagnostic, Diagnostics};
/// use aishell_frontend::cli::render::{Style, summary};
/// use aishell_frontend::spec::yaml::Span;
/// let mut d = Diagnostics::new("image.yaml");
/// d.push(Diagnostic::warning(Span::default(), "", "no digest pin"));
/// assert_eq!(summary(&d, Style::plain()).as_deref(), Some("warning: image.yaml: 1 warning"));
/// ```
pub fn summary(diags: &Diagnostics, style: Style) -> Option<String> {
    let errors = diags.errors().count();
    let warnings = diags.warnings().count();
    let plural = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(plural(errors, "error"));
    }
    if warnings > 0 {
        parts.push(plural(warnings, "warning"));
    }
    if parts.is_empty() {
        return None;
    }
    let severity = if errors > 0 {
        Severity::Error
    } else {
        Severity::Warning
    };
    Some(format!(
        "{}{} {}",
        style.severity(severity),
        style.bold(":"),
        style.bold(&format!("{}: {}", diags.file, parts.join(", ")))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::{Pos, Span};

    const SPEC: &str = "version: 1\nfoundation:\n  from: debian\nharness:\n  npm:\n    \"@openai/codex\": \"^0.169.0\"\n";

    fn at(line: u32, col: u32, end_col: u32) -> Span {
        Span {
            start: Pos::new(line, col),
            end: Pos::new(line, end_col),
        }
    }

    #[test]
    fn error_with_span_and_hint() {
        let d = Diagnostic::error(
            at(6, 22, 32),
            "harness.npm.@openai/codex",
            "`^0.169.0` is not an exact version",
        )
        .with_hint("write the exact version");
        let got = render(&d, "image.yaml", SPEC, Style::plain());
        let want = "\
error: harness.npm.@openai/codex: `^0.169.0` is not an exact version
 --> image.yaml:6:22
  |
6 |     \"@openai/codex\": \"^0.169.0\"
  |                      ^^^^^^^^^^
  |
  = help: write the exact version
";
        assert_eq!(got, want);
    }

    #[test]
    fn warning_without_hint_and_point_span() {
        let d = Diagnostic::warning(
            Span::point(Pos::new(3, 9)),
            "foundation.from",
            "no digest pin",
        );
        let got = render(&d, "image.yaml", SPEC, Style::plain());
        let want = "\
warning: foundation.from: no digest pin
 --> image.yaml:3:9
  |
3 |   from: debian
  |         ^
";
        assert_eq!(got, want);
    }

    #[test]
    fn rule_names_follow_the_severity() {
        let d = Diagnostic::warning(Span::point(Pos::new(3, 9)), "foundation.from", "no pin")
            .with_rule("FoundationNotPinned");
        let got = render(&d, "image.yaml", SPEC, Style::plain());
        assert!(got.starts_with("warning[FoundationNotPinned]: foundation.from: no pin\n"));
    }

    #[test]
    fn gutter_grows_with_the_line_number() {
        let text = format!("{}  bad: x\n", "a: 1\n".repeat(11));
        let d = Diagnostic::error(at(12, 3, 6), "bad", "unknown key");
        let got = render(&d, "s.yaml", &text, Style::plain());
        assert!(got.contains("  --> s.yaml:12:3\n   |\n12 |   bad: x\n   |   ^^^\n"));
    }

    #[test]
    fn multi_line_spans_mark_their_start() {
        let d = Diagnostic::error(
            Span {
                start: Pos::new(2, 1),
                end: Pos::new(3, 15),
            },
            "foundation",
            "x",
        );
        let got = render(&d, "s.yaml", SPEC, Style::plain());
        assert!(got.contains("2 | foundation:\n  | ^\n"), "{got}");
    }

    #[test]
    fn no_position_or_outside_the_text() {
        let d = Diagnostic {
            span: None,
            ..Diagnostic::error(Span::default(), "", "the spec is empty")
        };
        assert_eq!(
            render(&d, "s.yaml", "", Style::plain()),
            "error: the spec is empty\n --> s.yaml\n"
        );
        // The document-start span (line 0) and a line past the end show no excerpt.
        let d0 = Diagnostic::error(Span::default(), "extension", "x").with_hint("h");
        assert_eq!(
            render(&d0, "s.yaml", SPEC, Style::plain()),
            "error: extension: x\n --> s.yaml\n  = help: h\n"
        );
        let far = Diagnostic::error(at(99, 1, 2), "", "x");
        assert_eq!(
            render(&far, "s.yaml", SPEC, Style::plain()),
            "error: x\n  --> s.yaml:99:1\n"
        );
    }

    #[test]
    fn the_end_of_the_input_is_an_empty_line() {
        let d = Diagnostic::error(Span::point(Pos::new(3, 1)), "", "invalid YAML");
        let got = render(&d, "s.yaml", "a: 1\nb: [\n", Style::plain());
        assert!(
            got.ends_with(" --> s.yaml:3:1\n  |\n3 | \n  | ^\n"),
            "{got:?}"
        );
    }

    #[test]
    fn tabs_are_expanded_and_carets_clamped() {
        let text = "a:\t\"v\"\n";
        let d = Diagnostic::error(at(1, 4, 7), "a", "bad");
        let got = render(&d, "s.yaml", text, Style::plain());
        assert!(got.contains("1 | a:    \"v\"\n  |       ^^^\n"), "{got}");
        // A column past the end of the line (missing value) puts one caret after the text.
        let d = Diagnostic::error(at(1, 40, 45), "a", "bad");
        let got = render(&d, "s.yaml", text, Style::plain());
        assert!(got.contains("1 | a:    \"v\"\n  |          ^\n"), "{got}");
    }

    #[test]
    fn colours_only_when_asked() {
        let d = Diagnostic::error(at(3, 9, 15), "foundation.from", "x").with_hint("h");
        let plain = render(&d, "s.yaml", SPEC, Style::plain());
        assert!(!plain.contains('\x1b'));
        let colored = render(&d, "s.yaml", SPEC, Style::colored());
        assert!(colored.starts_with("\x1b[1;31merror\x1b[0m"));
        assert!(colored.contains("\x1b[1;31m^^^^^^\x1b[0m"));
        assert!(colored.contains("\x1b[1;34m-->\x1b[0m"));
        // Stripped of escapes, it is the plain text.
        let mut stripped = String::new();
        let mut in_escape = false;
        for c in colored.chars() {
            match (in_escape, c) {
                (false, '\x1b') => in_escape = true,
                (true, 'm') => in_escape = false,
                (true, _) => {}
                (false, c) => stripped.push(c),
            }
        }
        assert_eq!(stripped, plain);
    }

    #[test]
    fn all_and_summary() {
        let mut ds = Diagnostics::new("s.yaml");
        ds.push(Diagnostic::error(at(3, 9, 15), "foundation.from", "a"));
        ds.push(Diagnostic::warning(at(6, 5, 20), "harness", "b"));
        ds.push(Diagnostic::error(at(6, 5, 20), "harness", "c"));
        let all = render_all(&ds, SPEC, Style::plain());
        assert_eq!(all.matches("-->").count(), 3);
        assert!(all.contains("^\n\nwarning: harness: b\n"));
        assert_eq!(
            summary(&ds, Style::plain()).as_deref(),
            Some("error: s.yaml: 2 errors, 1 warning")
        );
        assert_eq!(summary(&Diagnostics::new("s.yaml"), Style::plain()), None);
    }
}
