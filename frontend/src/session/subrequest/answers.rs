//! The JSON bodies (`result.json`) of the subrequest answers, as types.
//!
//! buildx and BuildKit decode these bodies into their own Go structs (packages
//! `frontend/subrequests`, `…/outline`, `…/targets`, `…/lint`, and `solver/pb` for source
//! locations), so every JSON name here is the name of a Go `json:` tag, and a field that
//! is `omitempty` in Go is left out here when it holds its zero value ([`is_zero`]); fields
//! without `omitempty` are always written. A few Go fields that this frontend never fills
//! (an outline's `ssh` and `cache`, a target's `platform`, a location's `sourceIndex`) are
//! still declared, so the types read BuildKit's own answers as well as they write ours.
//!
//! Field order: Go's decoder matches names, not positions, so order is free. The fields of
//! every struct are declared sorted by their JSON name (bytewise, as `serde_json::Map`
//! sorts keys) because the answers used to be assembled as `serde_json::Map`s, and keeping
//! that order keeps `result.json` byte for byte what it was. The unit tests compare each
//! answer's bytes with a `serde_json::Value` (sorted keys) that fills every field, so a new
//! field declared out of order fails them.
//!
//! Every struct reads a missing field as its zero value (`#[serde(default)]`), as Go does.

use crate::spec::yaml::Span;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Go's `omitempty`: the field is left out when it holds its type's zero value (an empty
/// string or list, `false`, `0`, a nil pointer as `None`).
fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Bytes that Go's `encoding/json` writes as a standard base64 string (a `[]byte`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Base64(pub Vec<u8>);

impl Serialize for Base64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Base64)
            .map_err(serde::de::Error::custom)
    }
}

/// A name with a description (`subrequests.Named`): an option, input, metadata key or ref
/// of a [`Request`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Named {
    /// What it is for; written even when empty.
    pub description: String,
    /// The option's or metadata key's name.
    pub name: String,
}

/// How a [`Request`] is called (`subrequests.RequestType`); BuildKit defines only `rpc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestType {
    /// A request answered by one result.
    #[default]
    Rpc,
}

/// One subrequest a frontend answers (`subrequests.Request`); the answer of
/// `frontend.subrequests.describe` is a list of them. No field is `omitempty`: empty lists
/// are written as `[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    /// One line on what it answers.
    pub description: String,
    /// Inputs it reads besides the options (none of ours has any).
    pub inputs: Vec<Named>,
    /// The metadata keys of its answer.
    pub metadata: Vec<Named>,
    /// Its `requestid`, e.g. `frontend.outline`.
    pub name: String,
    /// The frontend options it reads.
    pub opts: Vec<Named>,
    /// Refs of its answer (none of ours has any).
    pub refs: Vec<Named>,
    /// How it is called.
    #[serde(rename = "type")]
    pub kind: RequestType,
    /// The version of its answer's format.
    pub version: String,
}

/// A line and character in a source file (`pb.Position`): lines 1-based, characters
/// 0-based; both `omitempty` (protobuf's Go structs tag every scalar so).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Position {
    /// 0-based character in the line.
    #[serde(skip_serializing_if = "is_zero")]
    pub character: u32,
    /// 1-based line.
    #[serde(skip_serializing_if = "is_zero")]
    pub line: u32,
}

/// An area of a source file (`pb.Range`). Go's fields are pointers; a missing one reads as
/// the zero position, as Go's getters return for nil.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Range {
    /// Where it ends (inclusive line, exclusive character).
    pub end: Position,
    /// Where it starts.
    pub start: Position,
}

/// Areas of one source file (`pb.Location`): `sourceIndex` indexes the answer's `sources`.
/// An empty location (no ranges) is written `{}`; clients then show no excerpt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Location {
    /// The areas; ours have one.
    #[serde(skip_serializing_if = "is_zero")]
    pub ranges: Vec<Range>,
    /// Which of the answer's sources; ours is always the spec, source 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub source_index: i32,
}

impl Location {
    /// The location of a spec span: one range, 1-based lines, 0-based characters (a span
    /// before line 1 is put on line 1).
    pub fn of_span(span: Span) -> Self {
        let start_line = span.start.line.max(1);
        let start_char = span.start.col.saturating_sub(1);
        // A block node's span ends at the start of the line after it; that line is not
        // part of it.
        let (end_line, end_char) = if span.end.line > start_line && span.end.col <= 1 {
            (span.end.line - 1, 0)
        } else if span.end.line >= start_line {
            (span.end.line, span.end.col.saturating_sub(1))
        } else {
            (start_line, start_char)
        };
        Location {
            ranges: vec![Range {
                start: Position {
                    line: start_line,
                    character: start_char,
                },
                end: Position {
                    line: end_line,
                    character: end_char,
                },
            }],
            source_index: 0,
        }
    }
}

/// The answer of `frontend.outline` (`outline.Outline`): what a build of the target can be
/// given. Every field is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outline {
    /// The build arguments the target uses.
    #[serde(skip_serializing_if = "is_zero")]
    pub args: Vec<Arg>,
    /// Cache mounts the target uses (a spec declares none).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: Vec<CacheMount>,
    /// What the target holds.
    #[serde(skip_serializing_if = "is_zero")]
    pub description: String,
    /// The target.
    #[serde(skip_serializing_if = "is_zero")]
    pub name: String,
    /// Secrets the target mounts.
    #[serde(skip_serializing_if = "is_zero")]
    pub secrets: Vec<Secret>,
    /// The files that locations index: the spec.
    #[serde(skip_serializing_if = "is_zero")]
    pub sources: Vec<Base64>,
    /// SSH sockets the target mounts (a spec declares none); Go's type has the shape of a
    /// secret.
    #[serde(skip_serializing_if = "is_zero")]
    pub ssh: Vec<Secret>,
}

/// A build argument of an [`Outline`] (`outline.Arg`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Arg {
    /// Its documentation comment.
    #[serde(skip_serializing_if = "is_zero")]
    pub description: String,
    /// Its declaration.
    #[serde(skip_serializing_if = "is_zero")]
    pub location: Option<Location>,
    /// Its name; always written.
    pub name: String,
    /// The value a build would use.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: String,
}

/// A secret (or SSH socket) of an [`Outline`] (`outline.Secret`, `outline.SSH`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Secret {
    /// Where it is named.
    #[serde(skip_serializing_if = "is_zero")]
    pub location: Option<Location>,
    /// Its id; always written.
    pub name: String,
    /// Whether the build fails without it.
    #[serde(skip_serializing_if = "is_zero")]
    pub required: bool,
}

/// A cache mount of an [`Outline`] (`outline.CacheMount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheMount {
    /// Its cache id; Go's tag spells it in capitals, and it is always written.
    #[serde(rename = "ID")]
    pub id: String,
    /// Where it is declared.
    #[serde(skip_serializing_if = "is_zero")]
    pub location: Option<Location>,
}

/// The answer of `frontend.targets` (`targets.List`); neither list is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetList {
    /// The files that locations index: the spec.
    pub sources: Vec<Base64>,
    /// Every target, in the order they build on each other.
    pub targets: Vec<TargetInfo>,
}

/// One target of a [`TargetList`] (`targets.Target`). Every field is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetInfo {
    /// What it starts from: an image, another target, or nothing (scratch).
    #[serde(skip_serializing_if = "is_zero")]
    pub base: String,
    /// Whether a build without `--target` builds it.
    #[serde(skip_serializing_if = "is_zero")]
    pub default: bool,
    /// What it holds.
    #[serde(skip_serializing_if = "is_zero")]
    pub description: String,
    /// Its section in the spec.
    #[serde(skip_serializing_if = "is_zero")]
    pub location: Option<Location>,
    /// Its `--target` name.
    #[serde(skip_serializing_if = "is_zero")]
    pub name: String,
    /// A platform fixed by the target (ours follow `--platform`, so never set).
    #[serde(skip_serializing_if = "is_zero")]
    pub platform: String,
}

/// The answer of `frontend.lint`, `--call check` (`lint.LintResults`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LintResults {
    /// The error that stops a build, if any.
    #[serde(skip_serializing_if = "is_zero")]
    pub build_error: Option<BuildError>,
    /// The files that locations index: the spec. Always written.
    pub sources: Vec<SourceInfo>,
    /// The warnings, in the order they are shown; written as `[]` when there are none.
    pub warnings: Vec<Warning>,
}

/// A source file of [`LintResults`] (`pb.SourceInfo`, without the LLB definition that
/// BuildKit may attach and this frontend never does). Every field is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceInfo {
    /// Its content.
    #[serde(skip_serializing_if = "is_zero")]
    pub data: Base64,
    /// Its name in the build context's `dockerfile` local.
    #[serde(skip_serializing_if = "is_zero")]
    pub filename: String,
    /// Its syntax, for clients that highlight excerpts.
    #[serde(skip_serializing_if = "is_zero")]
    pub language: String,
}

/// One finding of [`LintResults`] (`lint.Warning`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Warning {
    /// What the rule checks.
    #[serde(skip_serializing_if = "is_zero")]
    pub description: String,
    /// What is wrong in this spec.
    #[serde(skip_serializing_if = "is_zero")]
    pub detail: String,
    /// Where; buildx reads it for every warning, so ours always have one.
    #[serde(skip_serializing_if = "is_zero")]
    pub location: Option<Location>,
    /// The rule's name; always written.
    pub rule_name: String,
    /// The rule's documentation.
    #[serde(skip_serializing_if = "is_zero")]
    pub url: String,
}

/// The error of [`LintResults`] (`lint.BuildError`). Go's location is a value, not a
/// pointer, so it is always written, as `{}` when the error has no position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildError {
    /// Where.
    pub location: Location,
    /// What.
    pub message: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::spec::yaml::Pos;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    /// A location of three characters on one line, and its JSON (`character` > 0, as a
    /// zero would be left out).
    fn at(line: u32, character: u32) -> (Option<Location>, Value) {
        let end = Position {
            line,
            character: character + 3,
        };
        let range = Range {
            start: Position { line, character },
            end,
        };
        let location = Location {
            ranges: vec![range],
            source_index: 0,
        };
        let json = json!({"ranges": [{"start": {"line": line, "character": character},
            "end": {"line": line, "character": character + 3}}]});
        (Some(location), json)
    }

    /// Serialises `v` as the answers are written and reads the bytes back into an equal
    /// value. The bytes must equal `expected` written the same way; a `Value`'s keys are
    /// sorted, so this also checks that every field that `v` fills is declared in sorted
    /// JSON order (which keeps `result.json` as the `serde_json::Map`s wrote it).
    fn round_trip<T>(v: &T, expected: Value)
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let bytes = serde_json::to_vec_pretty(v).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text, serde_json::to_string_pretty(&expected).unwrap());
        assert_eq!(&serde_json::from_slice::<T>(&bytes).unwrap(), v);
    }

    #[test]
    fn a_describe_list_writes_every_field() {
        let named = |name: &str, description: &str| Named {
            name: name.into(),
            description: description.into(),
        };
        let request = Request {
            name: "frontend.outline".into(),
            version: "1.0.0".into(),
            kind: RequestType::Rpc,
            description: "Build arguments".into(),
            opts: vec![named("target", "The target")],
            inputs: vec![],
            metadata: vec![named("result.json", "")],
            refs: vec![],
        };
        round_trip(
            &vec![request],
            json!([{
                "name": "frontend.outline", "version": "1.0.0", "type": "rpc",
                "description": "Build arguments",
                "opts": [{"name": "target", "description": "The target"}],
                "inputs": [],
                "metadata": [{"name": "result.json", "description": ""}],
                "refs": [],
            }]),
        );
    }

    #[test]
    fn an_outline_leaves_out_empty_fields() {
        let ((arg_at, arg_json), (secret_at, secret_json)) = (at(3, 2), at(9, 14));
        // Fields ours never fill, in the other source, so that their order is checked too.
        let (mut cache_at, mut cache_json) = at(1, 1);
        cache_at.as_mut().unwrap().source_index = 1;
        cache_json["sourceIndex"] = json!(1);
        let full = Outline {
            name: "image".into(),
            description: "all parts".into(),
            args: vec![
                Arg {
                    name: "A".into(),
                    description: "the a".into(),
                    value: "1".into(),
                    location: arg_at,
                },
                Arg {
                    name: "B".into(),
                    ..Arg::default()
                },
            ],
            secrets: vec![Secret {
                name: "npmrc".into(),
                required: true,
                location: secret_at,
            }],
            ssh: vec![Secret {
                name: "default".into(),
                ..Secret::default()
            }],
            cache: vec![CacheMount {
                id: "npm".into(),
                location: cache_at,
            }],
            sources: vec![Base64(b"version: 1\n".to_vec())],
        };
        round_trip(
            &full,
            json!({
                "name": "image",
                "description": "all parts",
                // A name has no omitempty in Go.
                "args": [
                    {"name": "A", "description": "the a", "value": "1", "location": arg_json},
                    {"name": "B"},
                ],
                "secrets": [{"name": "npmrc", "required": true, "location": secret_json}],
                "ssh": [{"name": "default"}],
                "cache": [{"ID": "npm", "location": cache_json}],
                "sources": ["dmVyc2lvbjogMQo="],
            }),
        );
        // A target that uses nothing: no args, no secrets, not even empty lists.
        let bare = Outline {
            name: "foundation".into(),
            sources: vec![Base64(Vec::new())],
            ..Outline::default()
        };
        round_trip(&bare, json!({"name": "foundation", "sources": [""]}));
    }

    #[test]
    fn a_target_list_leaves_out_false_and_empty_fields() {
        let (location, location_json) = at(7, 1);
        let image = TargetInfo {
            name: "image".into(),
            default: true,
            description: "all parts".into(),
            base: "harness".into(),
            platform: "linux/arm64".into(),
            location,
        };
        let foundation = TargetInfo {
            name: "foundation".into(),
            ..TargetInfo::default()
        };
        let list = TargetList {
            targets: vec![image, foundation],
            sources: vec![Base64(b"x".to_vec())],
        };
        round_trip(
            &list,
            json!({
                "targets": [
                    {"name": "image", "default": true, "description": "all parts",
                        "base": "harness", "platform": "linux/arm64", "location": location_json},
                    {"name": "foundation"},
                ],
                "sources": ["eA=="],
            }),
        );
        // Neither list is omitempty.
        let empty = json!({"targets": [], "sources": []});
        round_trip(&TargetList::default(), empty);
    }

    #[test]
    fn lint_results_write_warnings_always_and_the_error_with_its_location() {
        let spec = |data: &[u8]| SourceInfo {
            filename: "image.yaml".into(),
            data: Base64(data.to_vec()),
            language: "yaml".into(),
        };
        let clean = LintResults {
            sources: vec![spec(b"v")],
            ..LintResults::default()
        };
        let spec_json = json!({"filename": "image.yaml", "data": "dg==", "language": "yaml"});
        round_trip(&clean, json!({"warnings": [], "sources": [spec_json]}));

        let (location, location_json) = at(4, 2);
        let failed = LintResults {
            warnings: vec![Warning {
                rule_name: "UnusedArg".into(),
                description: "Arguments should be used".into(),
                url: "https://example.invalid/checks#unusedarg".into(),
                detail: "args.X: not used".into(),
                location,
            }],
            sources: vec![spec(b"")],
            build_error: Some(BuildError {
                message: "not UTF-8".into(),
                location: Location::default(),
            }),
        };
        round_trip(
            &failed,
            json!({
                "warnings": [{
                    "ruleName": "UnusedArg",
                    "description": "Arguments should be used",
                    "url": "https://example.invalid/checks#unusedarg",
                    "detail": "args.X: not used",
                    "location": location_json,
                }],
                // An empty file has no data.
                "sources": [{"filename": "image.yaml", "language": "yaml"}],
                // A location without a position is still written, empty.
                "buildError": {"message": "not UTF-8", "location": {}},
            }),
        );
    }

    #[test]
    fn buildkits_own_answers_read_into_the_types() {
        // As BuildKit's Dockerfile frontend writes them: Go's field order, zero values left
        // out (the cache mount's end position, the warning's ranges), fields ours never fill.
        let outline: Outline = serde_json::from_value(json!({
            "name": "build",
            "args": [{"name": "GO_VERSION", "value": "1.24"}],
            "cache": [{"ID": "gomod", "location": {"sourceIndex": 1, "ranges": [{"start": {"line": 4}}]}}],
            "sources": ["RlJPTQ=="],
        }))
        .unwrap();
        let location = outline.cache[0].location.clone().unwrap();
        assert_eq!(location.source_index, 1);
        assert_eq!(location.ranges[0].start.line, 4);
        assert_eq!(location.ranges[0].end, Position::default());
        assert_eq!(outline.sources, vec![Base64(b"FROM".to_vec())]);

        let lint: LintResults = serde_json::from_value(json!({
            "warnings": [{"ruleName": "StageNameCasing", "location": {}}],
            "sources": [{"filename": "Dockerfile", "language": "Dockerfile"}],
            "buildError": {"message": "failed", "location": {}},
        }))
        .unwrap();
        assert_eq!(lint.warnings[0].rule_name, "StageNameCasing");
        assert_eq!(lint.sources[0].data, Base64::default());
        assert_eq!(lint.build_error.unwrap().location, Location::default());
    }

    #[test]
    fn a_span_becomes_one_range_without_zero_values() {
        let json_of = |start, end| {
            let location = Location::of_span(Span { start, end });
            serde_json::to_value(location).unwrap()
        };
        assert_eq!(
            json_of(Pos::new(3, 1), Pos::new(3, 9)),
            json!({"ranges": [{"start": {"line": 3}, "end": {"line": 3, "character": 8}}]})
        );
        // A block node's span ends at the start of the next line, which is not shown.
        assert_eq!(
            json_of(Pos::new(4, 3), Pos::new(7, 1)),
            json!({"ranges": [{"start": {"line": 4, "character": 2}, "end": {"line": 6}}]})
        );
        assert_eq!(
            json_of(Pos::default(), Pos::default()),
            json!({"ranges": [{"start": {"line": 1}, "end": {"line": 1}}]})
        );
    }
}
