//! From a state to a `pb::Definition`, deterministically.

use crate::pb;
use crate::state::{Output, Vertex, op_metadata};
use crate::{Digest, State};
use prost::Message;
use std::collections::{BTreeMap, HashSet};

/// A source file that locations point into (for LLB source maps): BuildKit prints an
/// excerpt of it next to a failing step.
#[derive(Debug, Clone, Default)]
pub struct SourceFile {
    /// File name as the user knows it.
    pub filename: String,
    /// Full text.
    pub data: Vec<u8>,
    /// Language hint for the client, e.g. `yaml`.
    pub language: String,
    /// The definition that loaded the file (so the client can re-read it), if known.
    pub definition: Option<pb::Definition>,
}

struct Emitter {
    seen: HashSet<Digest>,
    def: pb::Definition,
    locations: BTreeMap<String, pb::Locations>,
    foreign_infos: Vec<pb::SourceInfo>,
    own_sources: usize,
}

impl Emitter {
    fn visit(&mut self, v: &Vertex) {
        if self.seen.contains(&v.digest) {
            return;
        }
        if let Some(f) = &v.foreign {
            // The stand-in's digest is one of the foreign ops: emitting them marks it seen.
            self.emit_foreign(f);
            return;
        }
        for Output { vertex, .. } in &v.inputs {
            self.visit(vertex);
        }
        self.seen.insert(v.digest.clone());
        self.def.def.push(v.bytes.clone());
        self.def
            .metadata
            .insert(v.digest.to_string(), op_metadata(v));
        if self.own_sources > 0 && !v.meta.locations.is_empty() {
            let locs = v
                .meta
                .locations
                .iter()
                .filter(|l| (l.source_index as usize) < self.own_sources)
                .map(|l| pb::Location {
                    source_index: l.source_index,
                    ranges: vec![pb::Range {
                        start: Some(pb::Position {
                            line: l.start_line,
                            character: l.start_col,
                        }),
                        end: Some(pb::Position {
                            line: l.end_line,
                            character: l.end_col,
                        }),
                    }],
                })
                .collect();
            self.locations
                .insert(v.digest.to_string(), pb::Locations { locations: locs });
        }
    }

    fn emit_foreign(&mut self, f: &crate::state::Foreign) {
        for (digest, bytes) in &f.ops {
            if self.seen.insert(digest.clone()) {
                self.def.def.push(bytes.clone());
                if let Some(m) = f.metadata.get(digest.as_str()) {
                    self.def.metadata.insert(digest.to_string(), m.clone());
                }
            }
        }
        // Keep the foreign source map: its file indices move behind ours.
        if let Some(src) = &f.source {
            let offset = (self.own_sources + self.foreign_infos.len()) as i32;
            self.foreign_infos.extend(src.infos.iter().cloned());
            for (digest, locs) in &src.locations {
                let moved = pb::Locations {
                    locations: locs
                        .locations
                        .iter()
                        .map(|l| pb::Location {
                            source_index: l.source_index + offset,
                            ranges: l.ranges.clone(),
                        })
                        .collect(),
                };
                self.locations.entry(digest.clone()).or_insert(moved);
            }
        }
    }
}

/// Emits the definition of `root`: each distinct op once, inputs before the ops that use
/// them, then the terminal op. `sources` are the files that vertex locations point into.
/// Scratch gives an empty definition (which BuildKit solves to an empty result).
pub fn marshal(root: &State, sources: &[SourceFile]) -> pb::Definition {
    let Some(out) = &root.out else {
        return pb::Definition::default();
    };
    let mut e = Emitter {
        seen: HashSet::new(),
        def: pb::Definition::default(),
        locations: BTreeMap::new(),
        foreign_infos: Vec::new(),
        own_sources: sources.len(),
    };
    e.visit(&out.vertex);
    let terminal = pb::Op {
        inputs: vec![out.input()],
        ..Default::default()
    };
    e.def.def.push(terminal.encode_to_vec());
    let mut infos: Vec<pb::SourceInfo> = sources
        .iter()
        .map(|s| pb::SourceInfo {
            filename: s.filename.clone(),
            data: s.data.clone(),
            definition: s.definition.clone(),
            language: s.language.clone(),
        })
        .collect();
    infos.extend(e.foreign_infos);
    if !infos.is_empty() || !e.locations.is_empty() {
        e.def.source = Some(pb::Source {
            locations: e.locations,
            infos,
        });
    }
    e.def
}

/// The wire bytes of a definition (what `buildctl build` reads on stdin).
pub fn encode_definition(def: &pb::Definition) -> Vec<u8> {
    def.encode_to_vec()
}

/// Decodes one op of a definition.
///
/// Errors: bytes that are not a `pb::Op`.
pub fn decode_op(bytes: &[u8]) -> Result<pb::Op, prost::DecodeError> {
    pb::Op::decode(bytes)
}
