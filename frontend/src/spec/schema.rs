//! The JSON schema of the spec, generated from the model types in [`crate::spec`].
//!
//! Editors check a spec against it while it is written (yaml-language-server reads a
//! `# yaml-language-server: $schema=…` comment, see docs/spec.md); `aishell-frontend schema`
//! prints it, and `docs/image.schema.json` is a copy that a test keeps equal to [`json`].
//!
//! The schema describes the YAML that [`parse_spec`](crate::spec::parse_spec) accepts, not
//! the Rust shape of the model: positions ([`Spanned`]) vanish, lists of `NAME: value` pairs
//! are mappings, and tools are mappings keyed by their name. The model types carry
//! `#[schemars(…)]` attributes wherever the two differ. It checks structure only: keys,
//! nesting, and lists versus mappings versus scalars. Values (image references, versions,
//! checksums, names, `${NAME}` references, platforms) are checked by the frontend, which
//! knows the build args and the platforms being built.
//!
//! Two rules of the frontend's reading shape the whole schema:
//! * **Every scalar is text.** The frontend reads `1`, `0755` and `true` as the text written,
//!   while an editor types them as YAML 1.2 does (number, number, boolean). Where the
//!   frontend wants text, the schema therefore takes a string, a number or a boolean
//!   ([`Text`]), but not null: an empty value where text is needed is an error.
//! * **`key: ~` (or `key:` with nothing after it) is an absent key.** Every optional key
//!   therefore also takes null; the attributes say so with `Option<…>`.
//!
//! ```
//! use aishell_frontend::spec::schema;
//! let schema: serde_json::Value = serde_json::from_str(&schema::json()).unwrap();
//! assert_eq!(schema["required"], serde_json::json!(["version", "foundation"]));
//! assert_eq!(schema["additionalProperties"], false);
//! ```

use super::Spanned;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

/// The schema of a whole spec, in JSON Schema draft 7: the newest draft that the YAML
/// language server (and so most editors) fully supports.
pub fn schema() -> Schema {
    SchemaGenerator::new(SchemaSettings::draft07()).into_root_schema_for::<super::Spec>()
}

/// [`schema`] as indented JSON ending in a newline: what `aishell-frontend schema` prints
/// and `docs/image.schema.json` holds.
pub fn json() -> String {
    // Serialising a `serde_json::Value` cannot fail: its keys are strings.
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Positions are the frontend's business, not the writer's: a `Spanned<T>` is written as a
/// plain `T`, so its schema is `T`'s, under `T`'s name (one definition for both).
impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A scalar the frontend reads as text: a string, or what an editor takes for a number or a
/// boolean (`1`, `0755`, `true`), never null. Used with `#[schemars(with = "Text")]` on model
/// fields that hold a `String`.
#[derive(Debug)]
pub(super) struct Text;

impl JsonSchema for Text {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// `true` or `false`. The frontend compares the text, so the quoted forms `"true"` and
/// `"false"` are the same to it.
#[derive(Debug)]
pub(super) struct Boolean;

impl JsonSchema for Boolean {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Boolean".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "enum": [true, false, "true", "false"] })
    }
}

/// `version:`: only 1 exists, written `1` or `"1"` (the frontend compares the text).
pub(super) fn version_one(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": [1, "1"] })
}

/// An npm tool as written under `harness.npm`, `package: …`: its exact version, or a
/// mapping with the version and more (the model's `NpmTool`).
#[derive(Debug, JsonSchema)]
#[schemars(untagged)]
#[expect(
    dead_code,
    reason = "only its schema is used; parse.rs reads the entries"
)]
pub(super) enum NpmEntry {
    /// The exact version, e.g. "0.169.0".
    Version(Text),
    /// `{version: …, emulate: true}`.
    Mapping(super::NpmTool),
}
