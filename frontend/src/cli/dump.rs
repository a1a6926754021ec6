//! The merge graph as a picture: Graphviz `dot` and Mermaid text for `aishell-frontend graph`.
//!
//! We draw the marshalled definition, not the spec: what BuildKit will be asked to solve,
//! one box per vertex, so the picture cannot disagree with the build. Vertices are grouped
//! by the part their progress name is of (`[foundation] run …`), which is how the
//! foundation's steps, the extension, the diff ops, the tool layers and the final merge
//! become visible as separate, independent inputs. The part comes from the names the
//! conversion recorded by digest ([`ProgressNames`]), not from the name's text.
//!
//! ```
//! use aishell_frontend::cli::dump::{Graph, to_dot, to_mermaid};
//! use aishell_frontend::graph::names::{ProgressName, ProgressNames, Tag};
//! use aishell_frontend::spec::Part;
//! use llb_graph::{Exec, Source, State, diff, marshal, merge};
//! let mut names = ProgressNames::default();
//! let mut named = |st: State, name: ProgressName| {
//!     names.record(&st, name);
//!     st
//! };
//! let (f, e) = (Tag::Part(Part::Foundation), Tag::Part(Part::Extension));
//! let from = ProgressName::new(f, "from busybox:1");
//! let base = named(Source::image("docker.io/library/busybox:1").build(from.meta()), from);
//! let run = ProgressName::new(e.clone(), "run make");
//! let ext = named(Exec::new(base.clone(), ["/bin/sh", "-c", "make"]).build(run.meta()), run);
//! let layer = ProgressName::new(e, "layer");
//! let layer = named(diff(&base, &ext, layer.meta()), layer);
//! let top = ProgressName::new(Tag::Image, "merge foundation + extension");
//! let image = named(merge(&[base, layer], top.meta()), top);
//! let g = Graph::from_definition(&marshal(&image, &[]), &names);
//! assert_eq!(g.nodes.len(), 4);
//! assert_eq!(g.nodes[1].group, "extension");
//! assert_eq!(g.nodes[1].label, "run make");
//! assert!(to_dot(&g).starts_with("digraph aishell {"));
//! assert!(to_mermaid(&g).contains("-->|upper|"));
//! ```

use crate::graph::names::{ProgressName, ProgressNames, Tag};
use llb_graph::pb;
use sha2::{Digest, Sha256};

/// Longest label line before it is wrapped.
const WRAP: usize = 44;

/// What a vertex does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image, HTTP download or local context.
    Source,
    /// A command run in a container.
    Exec,
    /// File operations (copy, mkdir, mkfile).
    File,
    /// What one state has that another has not.
    Diff,
    /// States stacked into one.
    Merge,
    /// Anything else.
    Other,
}

/// One vertex of the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The vertex digest (`sha256:…`).
    pub digest: String,
    /// What it does.
    pub kind: Kind,
    /// The group it is drawn in: `foundation`, `extension`, `harness`, `image`, `context`,
    /// or empty for a vertex of none of them.
    pub group: String,
    /// What it does: its progress name without the group, or its whole name (without
    /// platform) when it is in no group.
    pub label: String,
}

/// One edge: the output of `from` is an input of `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Index of the producing node.
    pub from: usize,
    /// Index of the consuming node.
    pub to: usize,
    /// `lower`/`upper` for diffs, the stacking position for merges.
    pub label: Option<String>,
}

/// A definition reduced to what a picture needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// Vertices in definition order (inputs before users); the terminal op is left out.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
}

/// The group a named vertex is drawn in and its label. The platform of multi-platform
/// builds is left out: one picture shows one platform.
fn group_and_label(name: &ProgressName) -> (String, String) {
    let group = match &name.tag {
        // A stacked build's steps (`[foundation, stacked] …`) have always been drawn
        // outside the groups under their whole names, as the names' text was read; kept
        // so, the picture is what it was.
        _ if name.stacked => None,
        Tag::Internal => Some("context"),
        Tag::Part(p) => Some(p.name()),
        Tag::Image => Some("image"),
        Tag::Context(_) | Tag::Guards | Tag::Sbom => None,
    };
    match group {
        Some(g) => (g.to_string(), name.what.clone()),
        None => (String::new(), name.clone().on(None).to_string()),
    }
}

/// A fallback label from the op itself, for vertices without a progress name.
fn op_label(op: &pb::Op) -> (Kind, String) {
    match &op.op {
        Some(pb::op::Op::Source(s)) => (Kind::Source, s.identifier.clone()),
        Some(pb::op::Op::Exec(e)) => (
            Kind::Exec,
            e.meta
                .as_ref()
                .map(|m| m.args.join(" "))
                .unwrap_or_else(|| "exec".into()),
        ),
        Some(pb::op::Op::File(f)) => (Kind::File, format!("{} file action(s)", f.actions.len())),
        Some(pb::op::Op::Diff(_)) => (Kind::Diff, "diff".into()),
        Some(pb::op::Op::Merge(m)) => (Kind::Merge, format!("merge {} inputs", m.inputs.len())),
        _ => (Kind::Other, "op".into()),
    }
}

impl Graph {
    /// Reads a marshalled definition, with the progress names of its vertices (a
    /// conversion's [`crate::graph::convert::Conversion::names`]). A vertex without a
    /// recorded name is drawn in no group, labelled with its name in the definition or, if
    /// it has none, with what its op does. Undecodable ops are drawn as `Other` rather than
    /// failing: a picture of most of a graph is still useful.
    pub fn from_definition(def: &pb::Definition, names: &ProgressNames) -> Self {
        let digests: Vec<String> = def
            .def
            .iter()
            .map(|b| format!("sha256:{}", hex::encode(Sha256::digest(b))))
            .collect();
        let mut g = Graph::default();
        for (bytes, digest) in def.def.iter().zip(&digests) {
            let Ok(op) = llb_graph::decode_op(bytes) else {
                g.nodes.push(Node {
                    digest: digest.clone(),
                    kind: Kind::Other,
                    group: String::new(),
                    label: "undecodable op".into(),
                });
                continue;
            };
            if op.op.is_none() {
                continue; // the terminal op only marks the result
            }
            let (kind, fallback) = op_label(&op);
            let (group, label) = match names.get(digest) {
                Some(n) => group_and_label(n),
                None => {
                    let text = def
                        .metadata
                        .get(digest)
                        .and_then(|m| m.description.get("llb.customname"));
                    (String::new(), text.cloned().unwrap_or(fallback))
                }
            };
            let to = g.nodes.len();
            for (k, input) in op.inputs.iter().enumerate() {
                let Some(from) = g.nodes.iter().position(|n| n.digest == input.digest) else {
                    continue;
                };
                let label = match &op.op {
                    Some(pb::op::Op::Diff(d)) => {
                        let k = k as i64;
                        if d.lower.as_ref().map(|l| l.input) == Some(k) {
                            Some("lower".to_string())
                        } else if d.upper.as_ref().map(|u| u.input) == Some(k) {
                            Some("upper".to_string())
                        } else {
                            None
                        }
                    }
                    // Merge inputs stack bottom to top in input order.
                    Some(pb::op::Op::Merge(_)) => Some((k + 1).to_string()),
                    _ => None,
                };
                g.edges.push(Edge { from, to, label });
            }
            g.nodes.push(Node {
                digest: digest.clone(),
                kind,
                group,
                label,
            });
        }
        g
    }
}

/// Breaks `text` into lines of at most [`WRAP`] characters, at spaces where possible.
fn wrap(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        // A word longer than a line (a URL) is cut, since it has no space to break at.
        while word.chars().count() > WRAP {
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            let head: String = word.chars().take(WRAP).collect();
            word = word.chars().skip(WRAP).collect();
            lines.push(head);
        }
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > WRAP {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The groups in drawing order, with their fill and border colours.
const GROUPS: [(&str, &str, &str); 5] = [
    ("context", "#f3f4f6", "#6b7280"),
    ("foundation", "#dbeafe", "#2563eb"),
    ("extension", "#dcfce7", "#16a34a"),
    ("harness", "#fef3c7", "#d97706"),
    ("image", "#f3e8ff", "#9333ea"),
];

fn colours(group: &str) -> (&'static str, &'static str) {
    GROUPS
        .iter()
        .find(|(g, _, _)| *g == group)
        .map_or(("#ffffff", "#6b7280"), |(_, fill, line)| (fill, line))
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot_shape(k: Kind) -> &'static str {
    match k {
        Kind::Source => "cylinder",
        Kind::Exec => "box",
        Kind::File => "note",
        Kind::Diff => "hexagon",
        Kind::Merge => "doubleoctagon",
        Kind::Other => "ellipse",
    }
}

/// Graphviz text: bottom to top (bases at the bottom, the merge on top, as layers
/// stack), one cluster per group, the full digest as each node's tooltip.
pub fn to_dot(g: &Graph) -> String {
    let mut out = String::from("digraph aishell {\n");
    out.push_str("  rankdir=BT;\n");
    out.push_str("  graph [fontname=\"Helvetica\", fontsize=12, nodesep=0.25, ranksep=0.35];\n");
    out.push_str(
        "  node [fontname=\"Helvetica\", fontsize=10, style=\"filled\", margin=\"0.12,0.06\"];\n",
    );
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n");
    let node = |i: usize, n: &Node| {
        let (fill, line) = colours(&n.group);
        let label = wrap(&n.label)
            .iter()
            .map(|l| dot_escape(l))
            .collect::<Vec<_>>()
            .join("\\n");
        format!(
            "n{i} [label=\"{label}\", shape={}, fillcolor=\"{fill}\", color=\"{line}\", tooltip=\"{}\"];",
            dot_shape(n.kind),
            n.digest
        )
    };
    let mut groups: Vec<&str> = GROUPS.iter().map(|(g, _, _)| *g).collect();
    groups.push("");
    for group in groups {
        let members: Vec<(usize, &Node)> = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.group == group)
            .collect();
        if members.is_empty() {
            continue;
        }
        let indent = if group.is_empty() {
            "  "
        } else {
            let (_, line) = colours(group);
            out.push_str(&format!(
                "  subgraph cluster_{group} {{\n    label=\"{group}\";\n    style=\"rounded,dashed\";\n    color=\"{line}\";\n    fontcolor=\"{line}\";\n"
            ));
            "    "
        };
        for (i, n) in members {
            out.push_str(&format!("{indent}{}\n", node(i, n)));
        }
        if !group.is_empty() {
            out.push_str("  }\n");
        }
    }
    for e in &g.edges {
        match &e.label {
            Some(l) => out.push_str(&format!("  n{} -> n{} [label=\"{l}\"];\n", e.from, e.to)),
            None => out.push_str(&format!("  n{} -> n{};\n", e.from, e.to)),
        }
    }
    out.push_str("}\n");
    out
}

/// Text inside a Mermaid `"…"` label: quotes and angle brackets as entities, lines
/// joined with `<br/>`.
fn mermaid_label(s: &str) -> String {
    wrap(s)
        .iter()
        .map(|l| {
            l.replace('"', "#quot;")
                .replace('<', "#lt;")
                .replace('>', "#gt;")
        })
        .collect::<Vec<_>>()
        .join("<br/>")
}

fn mermaid_node(i: usize, n: &Node) -> String {
    let label = mermaid_label(&n.label);
    match n.kind {
        Kind::Source => format!("n{i}[(\"{label}\")]"),
        Kind::Exec => format!("n{i}[\"{label}\"]"),
        Kind::File => format!("n{i}[/\"{label}\"/]"),
        Kind::Diff => format!("n{i}{{{{\"{label}\"}}}}"),
        Kind::Merge => format!("n{i}([\"{label}\"])"),
        Kind::Other => format!("n{i}(\"{label}\")"),
    }
}

/// Mermaid flowchart text (renders in GitHub and GitLab Markdown): bottom to top, one
/// subgraph per group, coloured by class.
pub fn to_mermaid(g: &Graph) -> String {
    let mut out = String::from("flowchart BT\n");
    let mut groups: Vec<&str> = GROUPS.iter().map(|(g, _, _)| *g).collect();
    groups.push("");
    for group in &groups {
        let members: Vec<(usize, &Node)> = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.group == *group)
            .collect();
        if members.is_empty() {
            continue;
        }
        if group.is_empty() {
            for (i, n) in members {
                out.push_str(&format!("  {}\n", mermaid_node(i, n)));
            }
        } else {
            out.push_str(&format!("  subgraph {group}\n"));
            for (i, n) in members {
                out.push_str(&format!("    {}\n", mermaid_node(i, n)));
            }
            out.push_str("  end\n");
        }
    }
    for e in &g.edges {
        match &e.label {
            Some(l) => out.push_str(&format!("  n{} -->|{l}| n{}\n", e.from, e.to)),
            None => out.push_str(&format!("  n{} --> n{}\n", e.from, e.to)),
        }
    }
    for (group, fill, line) in GROUPS {
        let ids: Vec<String> = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.group == group)
            .map(|(i, _)| format!("n{i}"))
            .collect();
        if !ids.is_empty() {
            out.push_str(&format!(
                "  classDef {group} fill:{fill},stroke:{line}\n  class {} {group}\n",
                ids.join(",")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::offline::{SpecFile, convert_all, options};

    const SPEC: &str = "version: 1
foundation:
  from: debian:trixie-slim
  apt: [git]
  copy:
    - src: motd
      dest: /etc/motd
extension:
  run: [\"echo \\\"hi\\\" > /x\"]
harness:
  npm:
    \"@openai/codex\": \"0.169.0\"
  binaries:
    gitleaks:
      url: https://example.invalid/v8.30.0/gitleaks_8.30.0_linux_amd64.tar.gz
      sha256: \"1111111111111111111111111111111111111111111111111111111111111111\"
      extract: gitleaks
";

    fn graph() -> Graph {
        let o = options("s.yaml", &[], &[], None).unwrap();
        let b = convert_all(&SpecFile::from_text("s.yaml", SPEC), &o)
            .unwrap()
            .remove(0);
        Graph::from_definition(
            &llb_graph::marshal(&b.conversion.state, &[]),
            &b.conversion.names,
        )
    }

    #[test]
    fn names_give_groups() {
        use crate::spec::Part;
        use crate::spec::platform::Platform;
        let arm = Platform::parse("linux/arm64").unwrap();
        let harness = ProgressName::new(Tag::Part(Part::Harness), "npm x@1").on(Some(&arm));
        let cases = [
            (harness.clone(), "harness", "npm x@1"),
            (
                ProgressName::new(Tag::Internal, "load build context"),
                "context",
                "load build context",
            ),
            // A tag-like text in what a step does is only text.
            (
                ProgressName::new(Tag::Part(Part::Foundation), "[x] y"),
                "foundation",
                "[x] y",
            ),
            (
                ProgressName::new(Tag::Part(Part::Harness), "[image] -> /t/bin/[image]"),
                "harness",
                "[image] -> /t/bin/[image]",
            ),
            (harness.stacked(true), "", "[harness, stacked] npm x@1"),
            (
                ProgressName::new(Tag::Guards, "list").on(Some(&arm)),
                "",
                "[guards] list",
            ),
        ];
        for (name, group, label) in cases {
            assert_eq!(
                group_and_label(&name),
                (group.to_string(), label.to_string()),
                "{name}"
            );
        }
    }

    #[test]
    fn vertices_without_a_recorded_name_are_in_no_group() {
        let named = llb_graph::Source::image("docker.io/library/busybox:1")
            .build(llb_graph::Meta::named("[foundation] from busybox:1"));
        let bare = llb_graph::FileOp::on(named)
            .mkdir("/x", 0o755, true)
            .build(llb_graph::Meta::default());
        let g = Graph::from_definition(&llb_graph::marshal(&bare, &[]), &ProgressNames::default());
        let drawn: Vec<(&str, &str)> = g
            .nodes
            .iter()
            .map(|n| (n.group.as_str(), n.label.as_str()))
            .collect();
        assert_eq!(
            drawn,
            [
                ("", "[foundation] from busybox:1"),
                ("", "1 file action(s)")
            ]
        );
    }

    #[test]
    fn every_part_is_drawn() {
        let g = graph();
        let groups = |k: Kind| {
            g.nodes
                .iter()
                .filter(|n| n.kind == k)
                .map(|n| n.group.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(groups(Kind::Merge), ["image"]);
        assert_eq!(groups(Kind::Diff), ["extension", "harness"]);
        assert!(groups(Kind::Source).contains(&"context"));
        assert!(groups(Kind::Exec).contains(&"foundation"));
        // The merge stacks foundation, extension and the two tools, numbered bottom up.
        let merge = g.nodes.iter().position(|n| n.kind == Kind::Merge).unwrap();
        let mut inputs: Vec<&str> = g
            .edges
            .iter()
            .filter(|e| e.to == merge)
            .map(|e| e.label.as_deref().unwrap())
            .collect();
        inputs.sort();
        assert_eq!(inputs, ["1", "2", "3", "4"]);
        let diffs = g
            .edges
            .iter()
            .filter(|e| e.label.as_deref() == Some("lower"));
        assert_eq!(diffs.count(), 2);
    }

    #[test]
    fn dot_is_well_formed() {
        let dot = to_dot(&graph());
        assert!(dot.starts_with("digraph aishell {\n  rankdir=BT;"));
        assert!(dot.ends_with("}\n"));
        assert_eq!(dot.matches('{').count(), dot.matches('}').count());
        for group in ["foundation", "extension", "harness", "image", "context"] {
            assert!(
                dot.contains(&format!("subgraph cluster_{group} {{")),
                "{group}"
            );
        }
        // The quotes of the extension command are escaped.
        assert!(dot.contains("run echo \\\"hi\\\" > /x"), "{dot}");
        assert!(dot.contains("[label=\"upper\"]"));
    }

    #[test]
    fn mermaid_is_well_formed() {
        let m = to_mermaid(&graph());
        assert!(m.starts_with("flowchart BT\n"));
        assert_eq!(m.matches("subgraph ").count(), m.matches("  end\n").count());
        assert!(m.contains("#quot;hi#quot; #gt; /x"), "{m}");
        assert!(m.contains("-->|lower|"));
        assert!(m.contains("classDef harness fill:#fef3c7"));
    }

    /// Each platform's vertices as `group | label | name` lines, checking on the way that
    /// every vertex has a recorded name and that it is the name the definition gives it.
    fn drawn(builds: &[crate::graph::offline::Offline]) -> String {
        let mut out = String::new();
        for b in builds {
            let def = llb_graph::marshal(&b.conversion.state, &[]);
            let g = Graph::from_definition(&def, &b.conversion.names);
            out.push_str(&format!("{}\n", b.platform));
            for n in &g.nodes {
                let text = &def.metadata[&n.digest].description["llb.customname"];
                let name = b.conversion.names.get(&n.digest).unwrap();
                assert_eq!(&name.to_string(), text);
                out.push_str(&format!("  {} | {} | {text}\n", n.group, n.label));
            }
        }
        out
    }

    #[test]
    fn multi_platform_groups_are_those_the_text_gave() {
        // What reading the groups back from the names' text drew before the names were
        // recorded: the platform left out, the build machine's foundation (the base of the
        // cross-installed npm tool) in the foundation group.
        const BEFORE: &str = "\
linux/amd64
  foundation | from docker.io/library/debian:trixie-slim | [linux/amd64] [foundation] from docker.io/library/debian:trixie-slim
  foundation | apt-get install git | [linux/amd64] [foundation] apt-get install git
  context | load build context | [internal] load build context
  foundation | copy motd -> /etc/motd | [linux/amd64] [foundation] copy motd -> /etc/motd
  extension | run echo \"hi\" > /x | [linux/amd64] [extension] run echo \"hi\" > /x
  extension | layer (diff against the foundation) | [linux/amd64] [extension] layer (diff against the foundation)
  harness | npm @openai/codex@0.169.0 | [linux/amd64] [harness] npm @openai/codex@0.169.0
  harness | npm @openai/codex@0.169.0 layer | [linux/amd64] [harness] npm @openai/codex@0.169.0 layer
  harness | download gitleaks | [linux/amd64] [harness] download gitleaks
  harness | gitleaks -> /tools/bin/gitleaks | [linux/amd64] [harness] gitleaks -> /tools/bin/gitleaks
  image | merge foundation + extension + 2 harness tool(s) | [linux/amd64] [image] merge foundation + extension + 2 harness tool(s)
linux/arm64
  foundation | from docker.io/library/debian:trixie-slim | [linux/arm64] [foundation] from docker.io/library/debian:trixie-slim
  foundation | apt-get install git | [linux/arm64] [foundation] apt-get install git
  context | load build context | [internal] load build context
  foundation | copy motd -> /etc/motd | [linux/arm64] [foundation] copy motd -> /etc/motd
  extension | run echo \"hi\" > /x | [linux/arm64] [extension] run echo \"hi\" > /x
  extension | layer (diff against the foundation) | [linux/arm64] [extension] layer (diff against the foundation)
  foundation | from docker.io/library/debian:trixie-slim | [linux/amd64] [foundation] from docker.io/library/debian:trixie-slim
  foundation | apt-get install git | [linux/amd64] [foundation] apt-get install git
  foundation | copy motd -> /etc/motd | [linux/amd64] [foundation] copy motd -> /etc/motd
  harness | npm @openai/codex@0.169.0 (cross-installed on linux/amd64) | [linux/arm64] [harness] npm @openai/codex@0.169.0 (cross-installed on linux/amd64)
  harness | npm @openai/codex@0.169.0 layer | [linux/arm64] [harness] npm @openai/codex@0.169.0 layer
  harness | download gitleaks | [linux/arm64] [harness] download gitleaks
  harness | gitleaks -> /tools/bin/gitleaks | [linux/arm64] [harness] gitleaks -> /tools/bin/gitleaks
  image | merge foundation + extension + 2 harness tool(s) | [linux/arm64] [image] merge foundation + extension + 2 harness tool(s)
";
        let o = options("s.yaml", &["linux/amd64,linux/arm64".into()], &[], None).unwrap();
        let builds = convert_all(&SpecFile::from_text("s.yaml", SPEC), &o).unwrap();
        assert_eq!(drawn(&builds), BEFORE);
        // Stacked, every step but the context's was drawn outside the groups.
        let args = ["AISHELL_MERGE=stack".to_string()];
        let o = options("s.yaml", &["linux/amd64,linux/arm64".into()], &args, None).unwrap();
        let builds = convert_all(&SpecFile::from_text("s.yaml", SPEC), &o).unwrap();
        let d = drawn(&builds);
        assert!(d.contains(
            "\n   | [harness, stacked] download gitleaks | [linux/arm64] [harness, stacked] download gitleaks\n"
        ), "{d}");
        assert_eq!(d.matches("\n  context | ").count(), 2, "{d}");
        assert_eq!(d.matches("\n   | ").count(), d.lines().count() - 4, "{d}");
    }

    #[test]
    fn long_labels_wrap() {
        let url = "https://example.invalid/".to_string() + &"x".repeat(60);
        let lines = wrap(&format!("download {url} now"));
        assert!(lines.iter().all(|l| l.chars().count() <= WRAP), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), format!("download{url}now"));
        assert_eq!(wrap(""), [""]);
    }
}
