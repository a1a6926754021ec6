//! States, vertices and the composition operators.

use crate::Digest;
use crate::pb;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// A place in a source file (e.g. the spec) that an op was made from. Lines are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// Index into the `SourceFile`s passed to [`crate::marshal`].
    pub source_index: i32,
    /// First line (1-based).
    pub start_line: i32,
    /// First column (0-based, as BuildKit's Dockerfile frontend does).
    pub start_col: i32,
    /// Last line.
    pub end_line: i32,
    /// End column.
    pub end_col: i32,
}

impl Location {
    /// A location covering lines `start..=end` of source 0.
    pub fn lines(start: i32, end: i32) -> Self {
        Location {
            source_index: 0,
            start_line: start,
            start_col: 0,
            end_line: end,
            end_col: 0,
        }
    }
}

/// What progress output and error reports say about a vertex. It is not part of the
/// vertex digest: renaming a step never busts a cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The progress line (`llb.customname`).
    pub name: Option<String>,
    /// Spec locations, for LLB source maps.
    pub locations: Vec<Location>,
    /// `--no-cache` for this vertex.
    pub ignore_cache: bool,
    /// Progress group `(id, name)`, to fold related vertices in progress UIs.
    pub progress_group: Option<(String, String)>,
}

impl Meta {
    /// Metadata with a progress name.
    pub fn named(name: impl Into<String>) -> Self {
        Meta {
            name: Some(name.into()),
            ..Meta::default()
        }
    }

    /// Adds a source location (builder style).
    pub fn at(mut self, loc: Location) -> Self {
        self.locations.push(loc);
        self
    }

    /// Adds several source locations.
    pub fn at_all(mut self, locs: impl IntoIterator<Item = Location>) -> Self {
        self.locations.extend(locs);
        self
    }

    /// Sets `ignore_cache` (builder style).
    pub fn no_cache(mut self, yes: bool) -> Self {
        self.ignore_cache = yes;
        self
    }
}

/// One encoded op with everything needed to marshal it.
#[derive(Debug)]
pub(crate) struct Vertex {
    pub(crate) bytes: Vec<u8>,
    pub(crate) digest: Digest,
    pub(crate) inputs: Vec<Output>,
    pub(crate) meta: Meta,
    pub(crate) caps: BTreeSet<String>,
    /// Set for a stand-in of a result built elsewhere: its ops are emitted instead.
    pub(crate) foreign: Option<Arc<Foreign>>,
}

/// Ops of a definition built elsewhere, kept as the bytes we were given.
#[derive(Debug)]
pub(crate) struct Foreign {
    pub(crate) ops: Vec<(Digest, Vec<u8>)>,
    pub(crate) metadata: BTreeMap<String, pb::OpMetadata>,
    pub(crate) source: Option<pb::Source>,
}

/// One output of a vertex.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub(crate) vertex: Arc<Vertex>,
    pub(crate) index: i64,
}

impl Output {
    pub(crate) fn input(&self) -> pb::Input {
        pb::Input {
            digest: self.vertex.digest.to_string(),
            index: self.index,
        }
    }

    fn key(&self) -> (&str, i64) {
        (self.vertex.digest.as_str(), self.index)
    }
}

/// A filesystem state: scratch (empty) or an output of a vertex. Cheap to clone.
#[derive(Clone, Default)]
pub struct State {
    pub(crate) out: Option<Output>,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.out {
            None => f.write_str("State(scratch)"),
            Some(o) => write!(f, "State({}#{})", o.vertex.digest, o.index),
        }
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        match (&self.out, &other.out) {
            (None, None) => true,
            (Some(a), Some(b)) => a.key() == b.key(),
            _ => false,
        }
    }
}

impl Eq for State {}

impl State {
    /// The empty filesystem.
    pub fn scratch() -> Self {
        State { out: None }
    }

    /// True for scratch.
    pub fn is_scratch(&self) -> bool {
        self.out.is_none()
    }

    /// The digest of the vertex that produces this state (`None` for scratch).
    pub fn digest(&self) -> Option<&Digest> {
        self.out.as_ref().map(|o| &o.vertex.digest)
    }

    /// The output index within its vertex (0 for scratch).
    pub fn output_index(&self) -> i64 {
        self.out.as_ref().map_or(0, |o| o.index)
    }

    /// Another output of the same vertex.
    pub(crate) fn with_output_index(&self, index: i64) -> State {
        State {
            out: self.out.as_ref().map(|o| Output {
                vertex: o.vertex.clone(),
                index,
            }),
        }
    }

    /// Encodes `op` (with `inputs` as its edges), computes its digest and wraps it as
    /// output `index`.
    pub(crate) fn from_op(
        mut op: pb::Op,
        inputs: Vec<Output>,
        meta: Meta,
        caps: impl IntoIterator<Item = &'static str>,
        index: i64,
    ) -> State {
        op.inputs = inputs.iter().map(Output::input).collect();
        let bytes = encode_op(&op);
        let digest = Digest::of(&bytes);
        let vertex = Vertex {
            bytes,
            digest,
            inputs,
            meta,
            caps: caps.into_iter().map(str::to_string).collect(),
            foreign: None,
        };
        State {
            out: Some(Output {
                vertex: Arc::new(vertex),
                index,
            }),
        }
    }

    /// A state for the result of a definition built elsewhere (e.g. the ref a nested
    /// Dockerfile frontend returned). Its ops are copied into our definition byte for
    /// byte, never re-encoded: our subset schema could drop fields and change digests.
    ///
    /// Errors: a definition without a terminal op, or whose terminal op is not decodable.
    pub fn from_definition(def: &pb::Definition) -> Result<State, String> {
        let Some((terminal, ops)) = def.def.split_last() else {
            return Ok(State::scratch());
        };
        let term = pb::Op::decode(terminal.as_slice())
            .map_err(|e| format!("cannot decode the terminal op of a definition: {e}"))?;
        let [input] = term.inputs.as_slice() else {
            return Err(format!(
                "the last op of a definition must have exactly one input, found {}",
                term.inputs.len()
            ));
        };
        let ops = ops
            .iter()
            .map(|b| (Digest::of(b), b.clone()))
            .collect::<Vec<_>>();
        let digest = Digest::parse(&input.digest)
            .filter(|d| ops.iter().any(|(o, _)| o == d))
            .ok_or_else(|| {
                format!(
                    "the definition does not contain its result op {}",
                    input.digest
                )
            })?;
        let vertex = Vertex {
            bytes: Vec::new(),
            digest,
            inputs: Vec::new(),
            meta: Meta::default(),
            caps: BTreeSet::new(),
            foreign: Some(Arc::new(Foreign {
                ops,
                metadata: def.metadata.clone(),
                source: def.source.clone(),
            })),
        };
        Ok(State {
            out: Some(Output {
                vertex: Arc::new(vertex),
                index: input.index,
            }),
        })
    }
}

/// An op's bytes as BuildKit's own (Go) encoding writes them: the fields in number order,
/// except the `op` oneof, which comes last (after `platform` and `constraints`). BuildKit
/// re-encodes every op it loads and names the vertex after the SHA-256 of those bytes, so
/// only with the same bytes are our digests the ones its progress and its errors name
/// (`errdefs.Vertex`). prost alone would write the oneof in number order, before the
/// platform.
pub(crate) fn encode_op(op: &pb::Op) -> Vec<u8> {
    let head = pb::Op {
        op: None,
        ..op.clone()
    };
    let mut bytes = head.encode_to_vec();
    if let Some(body) = &op.op {
        body.encode(&mut bytes);
    }
    bytes
}

/// Stacks `states` bottom to top (later inputs win on conflicts). Scratch inputs add
/// nothing and are dropped; a merge of one state is that state.
pub fn merge(states: &[State], meta: Meta) -> State {
    let inputs: Vec<Output> = states.iter().filter_map(|s| s.out.clone()).collect();
    match inputs.len() {
        0 => State::scratch(),
        1 => State {
            out: inputs.into_iter().next(),
        },
        n => {
            let op = pb::Op {
                op: Some(pb::op::Op::Merge(pb::MergeOp {
                    inputs: (0..n as i64).map(|i| pb::MergeInput { input: i }).collect(),
                })),
                ..Default::default()
            };
            State::from_op(op, inputs, meta, ["mergeop"], 0)
        }
    }
}

/// What `upper` has that `lower` does not (additions, changes and deletions).
pub fn diff(lower: &State, upper: &State, meta: Meta) -> State {
    let mut inputs = Vec::new();
    let mut index = |s: &State| match &s.out {
        None => crate::EMPTY,
        Some(o) => {
            inputs.push(o.clone());
            inputs.len() as i64 - 1
        }
    };
    // Order matters: the daemon takes lower's input first, then upper's.
    let lower_idx = index(lower);
    let upper_idx = index(upper);
    let op = pb::Op {
        op: Some(pb::op::Op::Diff(pb::DiffOp {
            lower: Some(pb::LowerDiffInput { input: lower_idx }),
            upper: Some(pb::UpperDiffInput { input: upper_idx }),
        })),
        ..Default::default()
    };
    State::from_op(op, inputs, meta, ["diffop"], 0)
}

/// Builds the `OpMetadata` for a vertex.
pub(crate) fn op_metadata(v: &Vertex) -> pb::OpMetadata {
    let mut description = BTreeMap::new();
    if let Some(name) = &v.meta.name {
        description.insert("llb.customname".to_string(), name.clone());
    }
    pb::OpMetadata {
        ignore_cache: v.meta.ignore_cache,
        description,
        caps: v.caps.iter().map(|c| (c.clone(), true)).collect(),
        progress_group: v
            .meta
            .progress_group
            .as_ref()
            .map(|(id, name)| pb::ProgressGroup {
                id: id.clone(),
                name: name.clone(),
                weak: false,
            }),
        ..Default::default()
    }
}
