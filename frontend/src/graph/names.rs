//! Progress names: what BuildKit shows for each vertex (`[harness] npm @openai/codex@0.169.0`,
//! `[linux/arm64] [foundation, stacked] run make`), kept as a value with its parts.
//!
//! A vertex carries its name as text (`llb.customname` in the op's metadata, not in its
//! digest: renaming a step never busts a cache). Whatever wants to know which part a
//! vertex belongs to — the `graph` command draws one group per part — reads the
//! [`ProgressNames`] the conversion recorded by vertex digest, never the text: a tool or a
//! command whose own text looks like a tag cannot be taken for one.
//!
//! The text is what users read in `docker buildx build` progress, and the golden snapshots
//! pin it with the definition, so [`ProgressName`]'s `Display` writes exactly what the
//! frontend always wrote.
//!
//! ```
//! use aishell_frontend::graph::names::{ProgressName, Tag};
//! use aishell_frontend::spec::{Part, platform::Platform};
//! let n = ProgressName::new(Tag::Part(Part::Harness), "npm @openai/codex@0.169.0");
//! assert_eq!(n.to_string(), "[harness] npm @openai/codex@0.169.0");
//! let arm = Platform::parse("linux/arm64").unwrap();
//! let n = ProgressName::new(Tag::Part(Part::Foundation), "run make").on(Some(&arm)).stacked(true);
//! assert_eq!(n.to_string(), "[linux/arm64] [foundation, stacked] run make");
//! ```

use crate::spec::Part;
use crate::spec::platform::Platform;
use llb_graph::{Meta, State};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The bracketed tag of a progress name: what a vertex is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// Loading the build context or the spec (`[internal]`, as BuildKit's Dockerfile
    /// frontend names such steps).
    Internal,
    /// The metadata of an image a named context replaces (`[context NAME]`).
    Context(String),
    /// A step of a part of the image: the foundation, the extension or a harness tool.
    Part(Part),
    /// The final merge of the parts (`[image]`).
    Image,
    /// A step of the merge guards (`[guards]`).
    Guards,
    /// A step of the SBOM (`[sbom]`).
    Sbom,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tag::Internal => f.write_str("internal"),
            Tag::Context(name) => write!(f, "context {name}"),
            Tag::Part(p) => f.write_str(p.name()),
            Tag::Image => f.write_str("image"),
            Tag::Guards => f.write_str("guards"),
            Tag::Sbom => f.write_str("sbom"),
        }
    }
}

/// The progress name of one vertex: `[<platform>] [<tag>, stacked] <what>`, the platform
/// and `, stacked` only when they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressName {
    /// The platform the step is built for, shown in multi-platform builds, where every
    /// platform's steps are in one progress display.
    pub platform: Option<Platform>,
    /// What the step is part of.
    pub tag: Tag,
    /// The image is built stacked (`AISHELL_MERGE=stack`). Every step says so: old daemons
    /// cannot show warnings, but every client shows vertex names.
    pub stacked: bool,
    /// What the step does (`npm @openai/codex@0.169.0`).
    pub what: String,
}

impl ProgressName {
    /// A name without platform, not stacked.
    pub fn new(tag: Tag, what: impl Into<String>) -> Self {
        ProgressName {
            platform: None,
            tag,
            stacked: false,
            what: what.into(),
        }
    }

    /// The name shown for `platform` (builder style; `None` shows none).
    pub fn on(mut self, platform: Option<&Platform>) -> Self {
        self.platform = platform.cloned();
        self
    }

    /// Sets [`ProgressName::stacked`] (builder style).
    pub fn stacked(mut self, yes: bool) -> Self {
        self.stacked = yes;
        self
    }

    /// Vertex metadata with this name.
    pub fn meta(&self) -> Meta {
        Meta::named(self.to_string())
    }
}

impl fmt::Display for ProgressName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.platform {
            write!(f, "[{p}] ")?;
        }
        let stacked = if self.stacked { ", stacked" } else { "" };
        write!(f, "[{}{stacked}] {}", self.tag, self.what)
    }
}

/// The progress names of a graph's vertices, by vertex digest (`sha256:…`): how a reader
/// of a marshalled definition learns what each vertex is without parsing its name.
///
/// One digest has one name in a definition. Should a vertex be made twice under two names
/// (the same image read by two parts), the first recorded stays: parts are recorded in
/// the order they are built, bottom up, and marshalling also keeps the name of the first
/// it reaches, which is the lower part's. Vertices made but left out of the result (a
/// target's unused layers) are dropped with [`ProgressNames::retain_vertices_of`]: one of
/// them can have the digest of a vertex of the result under another name (a download has
/// no platform, so each platform's conversion makes the same one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressNames(BTreeMap<String, ProgressName>);

impl ProgressNames {
    /// Records `name` for the vertex that produces `state` (nothing for scratch), unless
    /// that vertex has a name already.
    pub fn record(&mut self, state: &State, name: ProgressName) {
        if let Some(d) = state.digest() {
            self.0.entry(d.to_string()).or_insert(name);
        }
    }

    /// Keeps the names of the vertices `state` is built from only.
    pub fn retain_vertices_of(&mut self, state: &State) {
        let def = llb_graph::marshal(state, &[]);
        let digests: BTreeSet<String> = def
            .def
            .iter()
            .map(|op| format!("sha256:{}", hex::encode(Sha256::digest(op))))
            .collect();
        self.0.retain(|d, _| digests.contains(d));
    }

    /// The name recorded for the vertex `digest`.
    pub fn get(&self, digest: &str) -> Option<&ProgressName> {
        self.0.get(digest)
    }

    /// Adds the names of `other`, keeping those recorded already.
    pub fn extend(&mut self, other: &ProgressNames) {
        for (d, n) in &other.0 {
            self.0.entry(d.clone()).or_insert_with(|| n.clone());
        }
    }

    /// Every `(digest, name)`, by digest.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ProgressName)> {
        self.0.iter().map(|(d, n)| (d.as_str(), n))
    }

    /// The number of vertices named.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no vertex is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llb_graph::Source;

    #[test]
    fn names_read_as_they_always_did() {
        let arm = Platform::parse("linux/arm/v7").unwrap();
        let cases = [
            (
                ProgressName::new(Tag::Internal, "load build context"),
                "[internal] load build context",
            ),
            (
                ProgressName::new(Tag::Context("busybox:1".into()), "load metadata for x"),
                "[context busybox:1] load metadata for x",
            ),
            (
                ProgressName::new(Tag::Part(Part::Extension), "run make").stacked(true),
                "[extension, stacked] run make",
            ),
            (
                ProgressName::new(Tag::Guards, "verdict").on(Some(&arm)),
                "[linux/arm/v7] [guards] verdict",
            ),
            (
                ProgressName::new(Tag::Image, "merge foundation").on(None),
                "[image] merge foundation",
            ),
            (ProgressName::new(Tag::Sbom, "document"), "[sbom] document"),
        ];
        for (name, text) in cases {
            assert_eq!(name.to_string(), text);
            assert_eq!(name.meta().name.as_deref(), Some(text));
        }
    }

    #[test]
    fn the_first_name_of_a_vertex_stays() {
        let st = Source::image("docker.io/library/busybox:1").build(Meta::default());
        let first = ProgressName::new(Tag::Part(Part::Foundation), "from busybox:1");
        let second = ProgressName::new(Tag::Part(Part::Extension), "from busybox:1");
        let mut names = ProgressNames::default();
        names.record(&State::scratch(), second.clone());
        assert!(names.is_empty(), "scratch has no vertex");
        names.record(&st, first.clone());
        names.record(&st, second.clone());
        let digest = st.digest().unwrap().as_str();
        assert_eq!(names.get(digest), Some(&first));
        let mut other = ProgressNames::default();
        other.record(&st, second);
        other.extend(&names);
        assert_eq!(
            other.get(digest).map(|n| &n.tag),
            Some(&Tag::Part(Part::Extension))
        );
        assert_eq!(other.len(), 1);
        assert_eq!(other.iter().count(), 1);
        let unrelated = Source::image("docker.io/library/debian:13").build(Meta::default());
        other.retain_vertices_of(&unrelated);
        assert!(other.is_empty());
    }
}
