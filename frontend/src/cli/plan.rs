//! What a build will make, and what changes between two specs: `plan` and `diff`.
//!
//! Both read the conversion's [`Layer`]s. A layer's graph digest (the digest of the vertex
//! that produces it) is BuildKit's cache key for it: equal digests mean the builder reuses
//! the layer it has, different ones mean it builds it again. So "what will be rebuilt" is a
//! comparison of digests, and the spec only serves to explain *why* in words.
//!
//! ```
//! use aishell_frontend::cli::plan;
//! use aishell_frontend::graph::{offline, targets::Target};
//! let spec = |v: &str| offline::SpecFile::from_text("s.yaml", &format!(
//!     "version: 1\nfoundation:\n  from: node:24\nextension:\n  run: [make]\nharness:\n  npm:\n    \"@openai/codex\": \"{v}\"\n"));
//! let o = offline::options("s.yaml", &[], &[], None).unwrap();
//! let old = offline::convert_all(&spec("0.168.0"), &o).unwrap().remove(0);
//! let new = offline::convert_all(&spec("0.169.0"), &o).unwrap().remove(0);
//! let c = plan::compare(&old, &new, Target::Image);
//! let text = plan::render_diff(&c, plan::Style::plain());
//! assert!(text.contains("harness/@openai/codex: version 0.168.0 → 0.169.0, rebuilt"));
//! assert!(text.contains("extension: unchanged, reused"));
//! ```

use crate::graph::convert::{Conversion, Layer};
use crate::graph::offline::Offline;
use crate::graph::targets::Target;
use crate::spec::{CopyItem, CopySource, Extension, KeyValue, Part, ResolvedSpec, Spec, Steps};
use serde_json::{Value, json};

pub use crate::cli::render::Style;

/// The reason given for a layer that is built on a changed foundation.
const ON_FOUNDATION: &str = "the foundation changed";

/// The layers of the target, bottom to top, as the merge stacks them.
///
/// `conv.layers` lists every part in canonical order (foundation, extension, tools); the
/// image stacks them in `image.order`, and smaller targets keep only their own.
pub fn layers_in_order<'a, U>(
    conv: &'a Conversion,
    spec: &Spec<U>,
    target: Target,
) -> Vec<&'a Layer> {
    let of = |part: Part| conv.layers.iter().filter(move |l| l.part == part);
    let holds = target.def().holds;
    if holds.image_section {
        return spec
            .image
            .effective_order()
            .into_iter()
            .flat_map(of)
            .collect();
    }
    let held = |p: &Part| match p {
        Part::Foundation => holds.system,
        Part::Extension => holds.extension,
        Part::Harness => holds.tools,
    };
    [Part::Foundation, Part::Extension, Part::Harness]
        .into_iter()
        .filter(held)
        .flat_map(of)
        .collect()
}

/// How a layer is named in `plan` and `diff`: `foundation`, `extension`,
/// `harness/<tool>`.
pub fn layer_label(l: &Layer) -> String {
    match l.part {
        Part::Harness => format!("harness/{}", l.name),
        other => other.name().to_string(),
    }
}

/// The 12 hex digits people recognise a digest by (as `docker images` shows IDs).
fn short_digest(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    hex.chars().take(12).collect()
}

fn digest_of(l: &Layer) -> String {
    // Scratch has no vertex; a tool tree is never scratch, but say so rather than panic.
    l.state
        .digest()
        .map_or_else(|| "scratch".to_string(), ToString::to_string)
}

/// The `plan` table of one platform: header, then one row per layer, bottom to top.
///
/// Digests are cut to 12 hex digits unless `full`.
pub fn render_plan(
    file: &str,
    build: &Offline,
    target: Target,
    full: bool,
    style: Style,
) -> String {
    let layers = layers_in_order(&build.conversion, &build.resolved.spec, target);
    let mut rows = vec![[
        "#".to_string(),
        "PART".into(),
        "TOOL".into(),
        "VERSION".into(),
        "DIGEST".into(),
        "CONTAINS".into(),
    ]];
    for (i, l) in layers.iter().enumerate() {
        let digest = digest_of(l);
        rows.push([
            (i + 1).to_string(),
            l.part.name().to_string(),
            if l.part == Part::Harness {
                l.name.clone()
            } else {
                "-".into()
            },
            l.version.clone().unwrap_or_else(|| "-".into()),
            if full { digest } else { short_digest(&digest) },
            l.description.clone(),
        ]);
    }
    let n = layers.len();
    let mut out = format!(
        "{} ({}, target {}): {n} layer{}, bottom to top\n",
        style.paint("1", file),
        build.platform,
        target.name(),
        if n == 1 { "" } else { "s" }
    );
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (k, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c == 5 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        let line = line.trim_end().to_string();
        out.push_str(&if k == 0 {
            style.paint("1", &line)
        } else {
            line
        });
        out.push('\n');
    }
    out
}

/// The `plan` of one platform as JSON, for scripts.
pub fn plan_json(build: &Offline, target: Target) -> Value {
    let layers: Vec<Value> = layers_in_order(&build.conversion, &build.resolved.spec, target)
        .into_iter()
        .map(|l| {
            json!({
                "part": l.part.name(),
                "name": l.name,
                "version": l.version,
                "contains": l.description,
                "digest": digest_of(l),
            })
        })
        .collect();
    json!({"platform": build.platform.to_string(), "target": target.name(), "layers": layers})
}

/// What happens to one layer when NEW is built after OLD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Same digest: the builder keeps the layer it has.
    Reused,
    /// Different digest: built again.
    Rebuilt,
    /// Only in NEW.
    Added,
    /// Only in OLD.
    Removed,
}

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerChange {
    /// `foundation`, `extension` or `harness/<tool>`.
    pub label: String,
    /// Which part.
    pub part: Part,
    /// Reused, rebuilt, added or removed.
    pub fate: Fate,
    /// Why, in words (`version 0.168.0 → 0.169.0`, `apt: +ripgrep`); may be empty.
    pub why: Vec<String>,
    /// Version in NEW (or OLD for a removed tool), for added and removed tools.
    pub version: Option<String>,
}

/// The whole comparison of two builds of one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// One entry per layer: NEW's layers bottom to top, then the ones NEW dropped.
    pub changes: Vec<LayerChange>,
    /// Labels bottom to top, when NEW stacks the shared layers in another order.
    pub order: Option<(Vec<String>, Vec<String>)>,
    /// Top-level image config fields (`Env`, `Cmd`, `Labels`) that differ.
    pub config: Vec<String>,
}

impl Comparison {
    /// How many layers have `fate`.
    pub fn count(&self, fate: Fate) -> usize {
        self.changes.iter().filter(|c| c.fate == fate).count()
    }
}

fn values(v: &[crate::spec::Spanned<String>]) -> Vec<&str> {
    v.iter().map(|s| s.value.as_str()).collect()
}

fn kvs(v: &[KeyValue]) -> Vec<(&str, &str)> {
    v.iter()
        .map(|kv| (kv.key.value.as_str(), kv.value.value.as_str()))
        .collect()
}

/// A copy item without its positions, so moving lines around does not count as a change.
fn copy_key(c: &CopyItem) -> (String, String, String, Option<u32>, Option<(u32, u32)>) {
    let from = match &c.from {
        CopySource::Context => String::new(),
        CopySource::Image(i) => i.value.clone(),
    };
    (
        from,
        c.src.value.clone(),
        c.dest.value.clone(),
        c.mode.as_ref().map(|m| m.value),
        c.owner.as_ref().map(|o| (o.value.uid, o.value.gid)),
    )
}

/// The step kinds that differ between two step lists, in words.
fn steps_changes(old: &Steps, new: &Steps) -> Vec<String> {
    let mut why = Vec::new();
    let (a, b) = (values(&old.apt), values(&new.apt));
    if a != b {
        let added: Vec<String> = b
            .iter()
            .filter(|p| !a.contains(p))
            .map(|p| format!("+{p}"))
            .collect();
        let removed: Vec<String> = a
            .iter()
            .filter(|p| !b.contains(p))
            .map(|p| format!("-{p}"))
            .collect();
        let both: Vec<String> = added.into_iter().chain(removed).collect();
        why.push(if both.is_empty() {
            "apt: package order".to_string()
        } else {
            format!("apt: {}", both.join(" "))
        });
    }
    let copies = |s: &Steps| s.copy.iter().map(copy_key).collect::<Vec<_>>();
    if copies(old) != copies(new) {
        why.push("copy".into());
    }
    if values(&old.run) != values(&new.run) {
        why.push("run".into());
    }
    if kvs(&old.env) != kvs(&new.env) {
        why.push("env".into());
    }
    why
}

fn foundation_changes<U>(old: &Spec<U>, new: &Spec<U>) -> Vec<String> {
    let mut why = Vec::new();
    let (a, b) = (&old.foundation.from.value, &new.foundation.from.value);
    if a != b {
        why.push(format!("from: {a} → {b}"));
    }
    why.extend(steps_changes(&old.foundation.steps, &new.foundation.steps));
    why
}

fn extension_changes<U>(
    old: &Spec<U>,
    new: &Spec<U>,
    old_layer: &Layer,
    new_layer: &Layer,
) -> Vec<String> {
    match (&old.extension, &new.extension) {
        (Some(Extension::Inline { steps: a, .. }), Some(Extension::Inline { steps: b, .. })) => {
            steps_changes(a, b)
        }
        (
            Some(Extension::Dockerfile { path: a, .. }),
            Some(Extension::Dockerfile { path: b, .. }),
        ) => {
            if a.value != b.value {
                vec![format!("dockerfile: {} → {}", a.value, b.value)]
            } else if old_layer.description != new_layer.description {
                vec![new_layer.description.clone()]
            } else {
                // Same path and content: the reason is elsewhere (the foundation, or what
                // the caller reports when it finds none).
                Vec::new()
            }
        }
        (Some(Extension::Inline { .. }), Some(Extension::Dockerfile { .. })) => {
            vec!["inline steps → Dockerfile".into()]
        }
        (Some(Extension::Dockerfile { .. }), Some(Extension::Inline { .. })) => {
            vec!["Dockerfile → inline steps".into()]
        }
        _ => Vec::new(),
    }
}

/// Words for a tool whose digest changed.
fn tool_changes(old: &ResolvedSpec, new: &ResolvedSpec, a: &Layer, b: &Layer) -> Vec<String> {
    let mut why = Vec::new();
    if a.version != b.version {
        why.push(format!(
            "version {} → {}",
            a.version.as_deref().unwrap_or("?"),
            b.version.as_deref().unwrap_or("?")
        ));
    }
    let (ho, hn) = (&old.spec.harness, &new.spec.harness);
    if ho.prefix.value != hn.prefix.value {
        why.push(format!("prefix: {} → {}", ho.prefix.value, hn.prefix.value));
    }
    let binary = |s: &ResolvedSpec| {
        s.spec
            .harness
            .binaries
            .iter()
            .find(|t| t.name.value == b.name)
            .cloned()
    };
    if let (Some(x), Some(y)) = (binary(old), binary(new)) {
        if a.version == b.version && x.url.value != y.url.value {
            why.push("url".into());
        }
        if x.sha256.value != y.sha256.value && a.version == b.version {
            why.push("sha256".into());
        }
        if x.extract.map(|e| e.value) != y.extract.map(|e| e.value) {
            why.push("extract".into());
        }
    }
    let secret = |s: &ResolvedSpec| s.spec.harness.npm_secret.as_ref().map(|v| v.value.clone());
    if b.part == Part::Harness
        && new
            .spec
            .harness
            .npm
            .iter()
            .any(|t| t.package.value == b.name)
        && secret(old) != secret(new)
    {
        why.push("npm_secret".into());
    }
    why
}

/// Compares the layers of OLD and NEW (one platform each) for `target`: matched by part
/// and name, fates from their digests, reasons from the specs.
pub fn compare(old: &Offline, new: &Offline, target: Target) -> Comparison {
    let old_layers = layers_in_order(&old.conversion, &old.resolved.spec, target);
    let new_layers = layers_in_order(&new.conversion, &new.resolved.spec, target);
    let key = |l: &Layer| (l.part, l.name.clone());
    let find = |set: &[&'_ Layer], l: &Layer| set.iter().position(|x| key(x) == key(l));
    let foundation_changed = old.conversion.foundation != new.conversion.foundation;
    let (os, ns) = (&old.resolved.spec, &new.resolved.spec);

    let mut changes = Vec::new();
    for b in &new_layers {
        let label = layer_label(b);
        let Some(i) = find(&old_layers, b) else {
            changes.push(LayerChange {
                label,
                part: b.part,
                fate: Fate::Added,
                why: Vec::new(),
                version: b.version.clone(),
            });
            continue;
        };
        let a = old_layers[i];
        if a.state == b.state {
            changes.push(LayerChange {
                label,
                part: b.part,
                fate: Fate::Reused,
                why: Vec::new(),
                version: b.version.clone(),
            });
            continue;
        }
        let mut why = match b.part {
            Part::Foundation => foundation_changes(os, ns),
            Part::Extension => extension_changes(os, ns, a, b),
            Part::Harness => tool_changes(&old.resolved, &new.resolved, a, b),
        };
        // The extension and npm tools are built on the foundation: say so when that is
        // (part of) the reason, since their own lines may not have changed at all.
        let on_foundation = b.part == Part::Extension
            || (b.part == Part::Harness
                && ns.harness.npm.iter().any(|t| t.package.value == b.name));
        if foundation_changed && on_foundation {
            why.push(ON_FOUNDATION.into());
        }
        if why.is_empty() {
            // Digests differ for a reason the spec does not show (build args, platform,
            // what the context copy includes): report the fact rather than guess.
            why.push(format!(
                "graph {} → {}",
                short_digest(&digest_of(a)),
                short_digest(&digest_of(b))
            ));
        }
        changes.push(LayerChange {
            label,
            part: b.part,
            fate: Fate::Rebuilt,
            why,
            version: b.version.clone(),
        });
    }
    for a in &old_layers {
        if find(&new_layers, a).is_none() {
            changes.push(LayerChange {
                label: layer_label(a),
                part: a.part,
                fate: Fate::Removed,
                why: Vec::new(),
                version: a.version.clone(),
            });
        }
    }

    // Order of the layers both sides have: a different stacking changes which file wins
    // on conflicts even when every layer is reused.
    let shared = |from: &[&Layer], other: &[&Layer]| -> Vec<String> {
        from.iter()
            .filter(|l| find(other, l).is_some())
            .map(|l| layer_label(l))
            .collect()
    };
    let (oo, no) = (
        shared(&old_layers, &new_layers),
        shared(&new_layers, &old_layers),
    );
    let order = (oo != no).then_some((oo, no));

    Comparison {
        changes,
        order,
        config: config_changes(&old.conversion, &new.conversion),
    }
}

/// Top-level fields of the runtime config (`config` in the image config) that differ.
fn config_changes(old: &Conversion, new: &Conversion) -> Vec<String> {
    let field = |c: &Conversion| {
        c.config
            .to_json()
            .get("config")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (a, b) = (field(old), field(new));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.to_string())
        .collect()
}

/// The text of one change, e.g. `harness/@openai/codex: version 0.168.0 → 0.169.0,
/// rebuilt`.
pub fn render_change(c: &LayerChange, style: Style) -> String {
    let why = c.why.join("; ");
    let (code, text) = match (c.fate, c.part) {
        (Fate::Reused, _) => ("32", "unchanged, reused".to_string()),
        (Fate::Rebuilt, Part::Foundation) => (
            "33",
            format!("changed ({why}), rebuilt; everything built on it rebuilds"),
        ),
        (Fate::Rebuilt, _) if c.why.len() == 1 && c.why[0].starts_with("version ") => {
            ("33", format!("{why}, rebuilt"))
        }
        (Fate::Rebuilt, _) if c.why == [ON_FOUNDATION] => {
            ("33", format!("rebuilt ({ON_FOUNDATION})"))
        }
        (Fate::Rebuilt, _) => ("33", format!("changed ({why}), rebuilt")),
        (Fate::Added, _) => (
            "36",
            match &c.version {
                Some(v) => format!("added ({v}), built"),
                None => "added, built".to_string(),
            },
        ),
        (Fate::Removed, _) => ("31", "removed".to_string()),
    };
    format!("{}: {}", c.label, style.paint(code, &text))
}

/// The `diff` text of one platform: one line per layer, then the order, the image config
/// and a count.
pub fn render_diff(c: &Comparison, style: Style) -> String {
    let mut out = String::new();
    for ch in &c.changes {
        out.push_str(&render_change(ch, style));
        out.push('\n');
    }
    if let Some((a, b)) = &c.order {
        out.push_str(&format!(
            "order: {} → {} (same layers, stacked anew)\n",
            a.join(", "),
            b.join(", ")
        ));
    }
    if c.config.is_empty() {
        out.push_str("image config: unchanged\n");
    } else {
        out.push_str(&format!(
            "image config: changed ({})\n",
            c.config.join(", ")
        ));
    }
    let mut counts = vec![
        format!("{} rebuilt", c.count(Fate::Rebuilt)),
        format!("{} reused", c.count(Fate::Reused)),
    ];
    for (fate, word) in [(Fate::Added, "added"), (Fate::Removed, "removed")] {
        if c.count(fate) > 0 {
            counts.push(format!("{} {word}", c.count(fate)));
        }
    }
    let total = c.changes.len() - c.count(Fate::Removed);
    out.push_str(&format!(
        "{total} layer{}: {}\n",
        if total == 1 { "" } else { "s" },
        counts.join(", ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::offline::{SpecFile, convert_all, options};

    const BASE: &str = "version: 1
foundation:
  from: debian:trixie-slim
  apt: [git, curl]
extension:
  run: [make tools]
harness:
  npm:
    \"@openai/codex\": \"0.168.0\"
    \"@google/gemini-cli\": \"1.0.0\"
  binaries:
    gitleaks:
      url: https://example.invalid/v8.30.0/gitleaks_8.30.0_linux_${TARGETARCH}.tar.gz
      sha256: \"1111111111111111111111111111111111111111111111111111111111111111\"
      extract: gitleaks
";

    fn build(text: &str) -> Offline {
        build_with(text, &[])
    }

    fn build_with(text: &str, args: &[String]) -> Offline {
        let o = options("s.yaml", &[], args, None).unwrap();
        convert_all(&SpecFile::from_text("s.yaml", text), &o)
            .unwrap()
            .remove(0)
    }

    fn lines(old: &str, new: &str) -> Vec<String> {
        let c = compare(&build(old), &build(new), Target::Image);
        render_diff(&c, Style::plain())
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn plan_lists_the_layers_bottom_to_top() {
        let b = build(BASE);
        let labels: Vec<String> = layers_in_order(&b.conversion, &b.resolved.spec, Target::Image)
            .into_iter()
            .map(layer_label)
            .collect();
        assert_eq!(
            labels,
            [
                "foundation",
                "extension",
                "harness/@google/gemini-cli",
                "harness/@openai/codex",
                "harness/gitleaks"
            ]
        );
        let text = render_plan("s.yaml", &b, Target::Image, false, Style::plain());
        let rows: Vec<&str> = text.lines().collect();
        assert!(rows[0].starts_with("s.yaml (linux/amd64, target image): 5 layers"));
        assert!(rows[1].starts_with("#  PART"));
        assert!(rows[2].starts_with("1  foundation  -"));
        assert!(rows[6].contains("gitleaks") && rows[6].contains("8.30.0"));
        let d = b.conversion.layers[0].state.digest().unwrap().as_str();
        assert!(rows[2].contains(&d[7..19]) && !rows[2].contains(d));
        let full = render_plan("s.yaml", &b, Target::Image, true, Style::plain());
        assert!(full.contains(d));
    }

    #[test]
    fn targets_and_order_pick_the_layers() {
        let b = build(&format!(
            "{BASE}image:\n  order: [foundation, harness, extension]\n"
        ));
        let labels = |t| {
            layers_in_order(&b.conversion, &b.resolved.spec, t)
                .into_iter()
                .map(layer_label)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(Target::Image).last().unwrap(), "extension");
        assert_eq!(labels(Target::Foundation), ["foundation"]);
        assert_eq!(labels(Target::Extension), ["foundation", "extension"]);
        assert_eq!(labels(Target::Harness).len(), 3);
        let json = plan_json(&b, Target::Harness);
        assert_eq!(json["layers"][2]["name"], "gitleaks");
        assert!(
            json["layers"][2]["digest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
    }

    #[test]
    fn a_harness_bump_rebuilds_that_tool_only() {
        let got = lines(BASE, &BASE.replace("0.168.0", "0.169.0"));
        assert_eq!(
            got,
            [
                "foundation: unchanged, reused",
                "extension: unchanged, reused",
                "harness/@google/gemini-cli: unchanged, reused",
                "harness/@openai/codex: version 0.168.0 → 0.169.0, rebuilt",
                "harness/gitleaks: unchanged, reused",
                "image config: changed (Labels)",
                "5 layers: 1 rebuilt, 4 reused",
            ]
        );
    }

    #[test]
    fn a_binary_bump_names_the_version() {
        let new = BASE.replace("8.30.0", "8.31.0").replace("1111", "2222");
        let got = lines(BASE, &new);
        assert!(got.contains(&"harness/gitleaks: version 8.30.0 → 8.31.0, rebuilt".to_string()));
        let got = lines(BASE, &BASE.replace("1111", "2222"));
        assert!(got.contains(&"harness/gitleaks: changed (sha256), rebuilt".to_string()));
    }

    #[test]
    fn a_foundation_change_rebuilds_what_is_built_on_it() {
        let got = lines(BASE, &BASE.replace("[git, curl]", "[git, ripgrep]"));
        assert_eq!(
            got[0],
            "foundation: changed (apt: +ripgrep -curl), rebuilt; everything built on it rebuilds"
        );
        assert_eq!(got[1], "extension: rebuilt (the foundation changed)");
        assert_eq!(
            got[3],
            "harness/@openai/codex: rebuilt (the foundation changed)"
        );
        // A binary is fetched and placed on scratch: it does not depend on the foundation.
        assert_eq!(got[4], "harness/gitleaks: unchanged, reused");
        let got = lines(BASE, &BASE.replace("trixie-slim", "bookworm-slim"));
        assert!(got[0].contains("from: debian:trixie-slim → debian:bookworm-slim"));
    }

    #[test]
    fn an_extension_change_reinstalls_no_tool() {
        let got = lines(BASE, &BASE.replace("make tools", "make all"));
        assert_eq!(got[0], "foundation: unchanged, reused");
        assert_eq!(got[1], "extension: changed (run), rebuilt");
        assert!(got[2..5].iter().all(|l| l.ends_with("unchanged, reused")));
        assert_eq!(got[5], "image config: unchanged");
    }

    #[test]
    fn added_removed_and_reordered() {
        let new = BASE
            .replace("    \"@google/gemini-cli\": \"1.0.0\"\n", "")
            .replace(
                "  binaries:",
                "    \"@anthropic-ai/claude-code\": \"2.1.332\"\n  binaries:",
            )
            + "image:\n  order: [foundation, harness, extension]\n";
        let c = compare(&build(BASE), &build(&new), Target::Image);
        let text = render_diff(&c, Style::plain());
        assert!(text.contains("harness/@anthropic-ai/claude-code: added (2.1.332), built\n"));
        assert!(text.contains("harness/@google/gemini-cli: removed\n"));
        assert!(text.contains("order: foundation, extension, harness/@openai/codex, harness/gitleaks → foundation, harness/@openai/codex, harness/gitleaks, extension (same layers"));
        assert!(
            text.ends_with("5 layers: 0 rebuilt, 4 reused, 1 added, 1 removed\n"),
            "{text}"
        );
        // Removing the extension drops its layer and touches nothing else.
        let c = compare(
            &build(BASE),
            &build(&BASE.replace("extension:\n  run: [make tools]\n", "")),
            Target::Image,
        );
        assert_eq!(c.count(Fate::Removed), 1);
        assert_eq!(c.count(Fate::Rebuilt), 0);
    }

    #[test]
    fn reasons_come_from_final_values_or_the_digests() {
        let spec =
            "version: 1\nargs:\n  V: a\nfoundation:\n  from: busybox\n  run:\n    - echo ${V}\n";
        let old = build(spec);
        let c = compare(&old, &build_with(spec, &["V=b".into()]), Target::Image);
        // The spec text is the same; the build arg changed the command.
        assert_eq!(c.changes[0].fate, Fate::Rebuilt);
        assert_eq!(c.changes[0].why, ["run"]);
        assert_eq!(
            compare(&old, &build(spec), Target::Image).count(Fate::Reused),
            1
        );

        // The context source lists every path the spec copies, so a copy added to the
        // extension changes the foundation's graph without a visible foundation change.
        let a = "version: 1\nfoundation:\n  from: busybox\n  copy:\n    - {src: a, dest: /a}\n";
        let b = format!("{a}extension:\n  copy:\n    - {{src: b, dest: /b}}\n");
        let c = compare(&build(a), &build(&b), Target::Image);
        assert_eq!(c.changes[0].fate, Fate::Rebuilt);
        assert!(
            c.changes[0].why[0].starts_with("graph "),
            "{:?}",
            c.changes[0]
        );
        assert_eq!(c.changes[1].fate, Fate::Added);
    }

    #[test]
    fn colours_mark_the_fate() {
        let c = compare(
            &build(BASE),
            &build(&BASE.replace("0.168.0", "0.169.0")),
            Target::Image,
        );
        let text = render_diff(&c, Style::colored());
        assert!(text.contains("foundation: \x1b[32munchanged, reused\x1b[0m"));
        assert!(text.contains("\x1b[33mversion 0.168.0 → 0.169.0, rebuilt\x1b[0m"));
    }
}
