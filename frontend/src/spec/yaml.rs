//! A YAML document as a tree of nodes that remember where they were written.
//!
//! serde-based YAML loaders throw positions away; we keep them on every node because
//! every diagnostic and every LLB source-map entry points at a spec line. The tree is
//! built from `saphyr-parser`'s event stream. Anchors and aliases are supported (an
//! alias is a copy of its anchored node) with a bound on the total size so a hostile
//! spec cannot blow up memory ("billion laughs").
//!
//! ```
//! use aishell_frontend::spec::yaml::{parse, Value};
//! let doc = parse("a: [1, two]\n").unwrap();
//! let Value::Map(entries) = &doc.value else { panic!() };
//! assert_eq!(entries[0].0.as_str(), Some("a"));
//! assert_eq!(entries[0].1.span.start.line, 1);
//! assert_eq!(entries[0].1.span.start.col, 4);
//! ```

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YSpan};
use std::collections::HashMap;
use std::fmt;

/// Upper bound on nodes in one document, aliases expanded.
const MAX_NODES: usize = 200_000;
/// Upper bound on nesting depth.
const MAX_DEPTH: usize = 64;

/// A position in the spec text: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl Pos {
    /// A position from 1-based line and column.
    pub const fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

/// A half-open range of the spec text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// First character.
    pub start: Pos,
    /// One past the last character (same line as `start` for one-line scalars).
    pub end: Pos,
}

impl Span {
    /// An empty span at `pos`.
    pub const fn point(pos: Pos) -> Self {
        Span {
            start: pos,
            end: pos,
        }
    }

    fn from_yaml(s: &YSpan) -> Self {
        Span {
            start: pos_from(&s.start),
            end: pos_from(&s.end),
        }
    }
}

fn pos_from(m: &saphyr_parser::Marker) -> Pos {
    Pos {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

/// How a scalar was written; plain scalars such as `null` or `~` mean "no value".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// Unquoted.
    Plain,
    /// Single- or double-quoted.
    Quoted,
    /// A `|` or `>` block.
    Block,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An empty value, `~` or `null`.
    Null,
    /// Any scalar, kept as text: the spec decides how to read it.
    Scalar(String, ScalarKind),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the order written (duplicates are kept for the validator to report).
    Map(Vec<(Node, Node)>),
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Its place in the spec text.
    pub span: Span,
}

impl Node {
    /// The text of a scalar node (not of `null`).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// A short name of the node's kind for messages: "a mapping", "a list", ...
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "an empty value",
            Value::Scalar(..) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// What was found, for "expected …, found …" messages: a scalar is quoted (shortened)
    /// because "found a scalar" tells a user less than seeing their own text.
    ///
    /// ```
    /// use aishell_frontend::spec::yaml::parse;
    /// let doc = parse("git curl").unwrap();
    /// assert_eq!(doc.describe(), "`git curl`");
    /// ```
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Scalar(s, _) => {
                let one_line = s.lines().next().unwrap_or("");
                let mut shown: String = one_line.chars().take(60).collect();
                if shown.len() < s.len() {
                    shown.push('…');
                }
                format!("`{shown}`")
            }
            _ => self.kind_name().to_string(),
        }
    }
}

/// A YAML syntax error: fatal for the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What it found.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.message)
    }
}

impl std::error::Error for YamlError {}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    root: Option<Node>,
}

fn count_nodes(n: &Node) -> usize {
    match &n.value {
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

impl Builder {
    fn err(span: &YSpan, message: impl Into<String>) -> YamlError {
        YamlError {
            pos: pos_from(&span.start),
            message: message.into(),
        }
    }

    /// Places a finished node into its parent (or as the document root).
    fn complete(&mut self, node: Node, anchor: usize, span: &YSpan) -> Result<(), YamlError> {
        self.nodes += count_nodes(&node);
        if self.nodes > MAX_NODES {
            return Err(Self::err(
                span,
                format!("the document has more than {MAX_NODES} nodes (aliases expanded)"),
            ));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Event<'_>, span: &YSpan) -> Result<(), YamlError> {
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let kind = match style {
                    ScalarStyle::Plain => ScalarKind::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => ScalarKind::Quoted,
                    _ => ScalarKind::Block,
                };
                let value = if kind == ScalarKind::Plain
                    && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Value::Null
                } else {
                    Value::Scalar(text.into_owned(), kind)
                };
                let node = Node {
                    value,
                    span: Span::from_yaml(span),
                };
                self.complete(node, anchor, span)
            }
            Event::SequenceStart(anchor, _) => self.push_frame(
                Frame::Seq {
                    start: Span::from_yaml(span),
                    anchor,
                    items: Vec::new(),
                },
                span,
            ),
            Event::MappingStart(anchor, _) => self.push_frame(
                Frame::Map {
                    start: Span::from_yaml(span),
                    anchor,
                    entries: Vec::new(),
                    key: None,
                },
                span,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err(Self::err(span, "unbalanced end of a collection"));
                };
                let end = pos_from(&span.end);
                let (node, anchor) = match frame {
                    Frame::Seq {
                        start,
                        anchor,
                        items,
                    } => (
                        Node {
                            value: Value::Seq(items),
                            span: Span {
                                start: start.start,
                                end,
                            },
                        },
                        anchor,
                    ),
                    Frame::Map {
                        start,
                        anchor,
                        entries,
                        ..
                    } => (
                        Node {
                            value: Value::Map(entries),
                            span: Span {
                                start: start.start,
                                end,
                            },
                        },
                        anchor,
                    ),
                };
                self.complete(node, anchor, span)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(Self::err(span, "alias to an unknown anchor"));
                };
                // The copy keeps the anchor's positions: errors then point at the
                // definition, which is where a user has to change something.
                self.complete(node, 0, span)
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
        }
    }

    fn push_frame(&mut self, frame: Frame, span: &YSpan) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Self::err(
                span,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.stack.push(frame);
        Ok(())
    }
}

/// Parses one YAML document into a [`Node`] tree. An empty document gives a `Null` node.
///
/// Errors: YAML syntax errors, more than one document, aliases to unknown anchors, and
/// documents over the size bounds.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        root: None,
    };
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (ev, span) = item.map_err(|e| {
            let pos = pos_from(e.marker());
            YamlError {
                pos,
                message: explain(text, pos, e.info(), &b.stack),
            }
        })?;
        if let Event::DocumentStart(_) = ev {
            documents += 1;
            if documents > 1 {
                return Err(Builder::err(
                    &span,
                    "only one YAML document is allowed in a spec (found a second `---`)",
                ));
            }
        }
        b.on_event(ev, &span)?;
    }
    Ok(b.root.unwrap_or(Node {
        value: Value::Null,
        span: Span::point(Pos::new(1, 1)),
    }))
}

/// The characters of line `pos.line` from column `pos.col` on (both 1-based).
fn text_at(text: &str, pos: Pos) -> impl Iterator<Item = char> + '_ {
    let line = usize::try_from(pos.line).unwrap_or(usize::MAX);
    let col = usize::try_from(pos.col).unwrap_or(usize::MAX);
    text.lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .chars()
        .skip(col.saturating_sub(1))
}

/// The parser's own words, plus what a user needs to act on them: the parser notices an
/// unclosed `[` or `{` only lines later, and names neither the unknown anchor nor the fix
/// for tabs.
fn explain(text: &str, pos: Pos, info: &str, stack: &[Frame]) -> String {
    if info.contains("unknown anchor") {
        let name: String = text_at(text, pos)
            .skip(1)
            .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
            .collect();
        return format!(
            "the alias `*{name}` refers to an anchor that is not defined; define it first with `&{name}` on the value to repeat"
        );
    }
    let mut message = info.to_string();
    if info.contains("tab") {
        message.push_str("; indent with spaces");
    }
    if info.contains("unexpected character") && matches!(text_at(text, pos).next(), Some('@' | '`'))
    {
        // `@` and backquote are reserved in YAML: a scoped npm package name trips on it.
        message.push_str("; quote a key or value that starts with it, e.g. \"@openai/codex\"");
    }
    // The innermost collection written in flow style (`[`/`{`) that is still open.
    let open_flow = stack.iter().rev().find_map(|f| {
        let start = match f {
            Frame::Seq { start, .. } | Frame::Map { start, .. } => start.start,
        };
        match text_at(text, start).next() {
            Some('[') => Some(("list", '[', ']', start)),
            Some('{') => Some(("mapping", '{', '}', start)),
            _ => None,
        }
    });
    if let Some((what, open, close, at)) = open_flow
        && at.line < pos.line
    {
        message.push_str(&format!(
            " (inside the {what} opened with `{open}` on line {}, column {}: is its closing `{close}` missing?)",
            at.line, at.col
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: &Node) -> &Vec<(Node, Node)> {
        match &n.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let doc = parse("# syntax=x\nversion: 1\nfoundation:\n  from: busybox\n").unwrap();
        let m = map(&doc);
        assert_eq!(m[0].0.span.start, Pos::new(2, 1));
        assert_eq!(m[0].1.span.start, Pos::new(2, 10));
        let f = map(&m[1].1);
        assert_eq!(f[0].1.as_str(), Some("busybox"));
        assert_eq!(f[0].1.span.start, Pos::new(4, 9));
        assert_eq!(f[0].1.span.end, Pos::new(4, 16));
    }

    #[test]
    fn nulls_and_quotes() {
        let doc = parse("a: ~\nb: 'null'\nc:\n").unwrap();
        let m = map(&doc);
        assert_eq!(m[0].1.value, Value::Null);
        assert_eq!(
            m[1].1.value,
            Value::Scalar("null".into(), ScalarKind::Quoted)
        );
        assert_eq!(m[2].1.value, Value::Null);
    }

    #[test]
    fn aliases_copy_the_anchor() {
        let doc = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        let m = map(&doc);
        assert_eq!(m[0].1.value, m[1].1.value);
    }

    #[test]
    fn billion_laughs_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("more than"), "{err}");
    }

    #[test]
    fn second_document_is_an_error() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("one YAML document"));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1);
        assert!(!err.message.is_empty());
    }

    #[test]
    fn errors_name_the_unclosed_bracket_and_the_unknown_anchor() {
        let err = parse("a:\n  b: [x, y\n  c: 1\n").unwrap_err();
        assert!(
            err.message.contains("opened with `[` on line 2, column 6"),
            "{err}"
        );
        let err = parse("a: 1\nb: *nope\n").unwrap_err();
        assert_eq!(err.pos, Pos::new(2, 4));
        assert!(err.message.contains("`*nope`"), "{err}");
        assert!(err.message.contains("`&nope`"), "{err}");
        let err = parse("npm:\n  @openai/codex: 1\n").unwrap_err();
        assert!(err.message.contains("quote a key"), "{err}");
        let err = parse("a:\n\tb: 1\n").unwrap_err();
        assert!(err.message.contains("indent with spaces"), "{err}");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "[".repeat(100) + &"]".repeat(100);
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nesting"), "{err}");
    }
}
