//! The one table of targets: what each `--target` builds from a spec, written once.
//!
//! The conversion, the merge guards, `--call outline|targets`, and the command line's
//! `plan`/`diff` all read [`TARGETS`] through [`Target::def`]. Adding a target is a variant
//! of [`Target`] and a row here; the compiler then points at the one `match` that composes
//! its state in [`crate::graph::convert`], and the tests below fail for a row that leaves
//! out its description or its parts.
//!
//! ```
//! use aishell_frontend::graph::targets::Target;
//! let harness = Target::parse("harness").unwrap();
//! assert!(harness.def().holds.tools && !harness.def().holds.system);
//! assert_eq!(Target::default(), Target::Image);
//! ```

use crate::spec::{Extension, Spec};

/// `--target` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// The foundation alone.
    Foundation,
    /// Foundation plus extension.
    Extension,
    /// The harness layers alone, from scratch.
    Harness,
    /// The whole image (default).
    #[default]
    Image,
}

/// The parts of the spec a target's result holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holds {
    /// The foundation: its base image, packages, copies and commands (and so its config).
    pub system: bool,
    /// The extension's layer.
    pub extension: bool,
    /// The harness tools' layers.
    pub tools: bool,
    /// The `image:` section: layer order, entrypoint, labels, user, workdir.
    pub image_section: bool,
}

/// The merge guards a target's result needs (see [`crate::guards`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guards {
    /// Each tool layer writes only under the prefix, and no two provide the same file.
    pub tools: bool,
    /// The extension writes nothing under the prefix.
    pub extension: bool,
    /// The tools' folders on the way to the prefix match the image below them.
    pub parents: bool,
}

impl Guards {
    /// True when any guard runs.
    pub fn any(self) -> bool {
        self.tools || self.extension || self.parents
    }
}

/// What a target starts from, as `--call targets` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The image `foundation.from` names.
    SpecImage,
    /// Another target's result.
    Target(Target),
    /// Nothing: the result is merged from independent layers.
    Scratch,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct TargetDef {
    /// The target.
    pub target: Target,
    /// The `--target` spelling.
    pub name: &'static str,
    /// What it holds.
    pub holds: Holds,
    /// What it starts from.
    pub base: Base,
    /// The guards its result needs in a merged build.
    pub guards: Guards,
    /// True when it exists only with MergeOp/DiffOp (not with `AISHELL_MERGE=stack`).
    pub needs_merge: bool,
    /// One line about what it builds from a spec (`--call targets`).
    pub describe: fn(&Spec) -> String,
}

/// Every target, the default last.
pub const TARGETS: [TargetDef; 4] = [
    TargetDef {
        target: Target::Foundation,
        name: "foundation",
        holds: Holds {
            system: true,
            extension: false,
            tools: false,
            image_section: false,
        },
        base: Base::SpecImage,
        guards: Guards {
            tools: false,
            extension: false,
            parents: false,
        },
        needs_merge: false,
        describe: describe_foundation,
    },
    TargetDef {
        target: Target::Extension,
        name: "extension",
        holds: Holds {
            system: true,
            extension: true,
            tools: false,
            image_section: false,
        },
        base: Base::Target(Target::Foundation),
        guards: Guards {
            tools: false,
            extension: true,
            parents: false,
        },
        needs_merge: false,
        describe: describe_extension,
    },
    TargetDef {
        target: Target::Harness,
        name: "harness",
        holds: Holds {
            system: false,
            extension: false,
            tools: true,
            image_section: false,
        },
        base: Base::Scratch,
        guards: Guards {
            tools: true,
            extension: false,
            parents: false,
        },
        needs_merge: true,
        describe: describe_harness,
    },
    TargetDef {
        target: Target::Image,
        name: "image",
        holds: Holds {
            system: true,
            extension: true,
            tools: true,
            image_section: true,
        },
        base: Base::Scratch,
        guards: Guards {
            tools: true,
            extension: true,
            parents: true,
        },
        needs_merge: false,
        describe: describe_image,
    },
];

impl Target {
    /// All targets, the default last.
    pub const ALL: [Target; 4] = [
        TARGETS[0].target,
        TARGETS[1].target,
        TARGETS[2].target,
        TARGETS[3].target,
    ];

    /// The target's row of [`TARGETS`].
    pub fn def(self) -> &'static TargetDef {
        match self {
            Target::Foundation => &TARGETS[0],
            Target::Extension => &TARGETS[1],
            Target::Harness => &TARGETS[2],
            Target::Image => &TARGETS[3],
        }
    }

    /// The `--target` spelling.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// True for the target built when `--target` is not given.
    pub fn is_default(self) -> bool {
        self == Target::default()
    }

    /// What it builds from `spec`, in one line.
    pub fn describe(self, spec: &Spec) -> String {
        (self.def().describe)(spec)
    }

    /// Parses a `--target` value.
    ///
    /// Errors: an unknown name, with the list of valid ones.
    pub fn parse(s: &str) -> Result<Self, String> {
        TARGETS
            .iter()
            .find(|d| d.name == s)
            .map(|d| d.target)
            .ok_or_else(|| {
                let names: Vec<String> = TARGETS
                    .iter()
                    .map(|d| {
                        if d.target.is_default() {
                            format!("{} (default)", d.name)
                        } else {
                            d.name.to_string()
                        }
                    })
                    .collect();
                let (last, rest) = names.split_last().map_or(("", &[][..]), |(l, r)| (l, r));
                format!(
                    "unknown target `{s}`; this spec has the targets {} and {last}",
                    rest.join(", ")
                )
            })
    }
}

/// The tools of a spec's harness, for the descriptions.
fn tool_list(spec: &Spec) -> String {
    let h = &spec.harness;
    let tools: Vec<&str> = h
        .npm
        .iter()
        .map(|t| t.package.value.as_str())
        .chain(h.binaries.iter().map(|b| b.name.value.as_str()))
        .collect();
    if tools.is_empty() {
        "none".to_string()
    } else {
        tools.join(", ")
    }
}

fn describe_foundation(spec: &Spec) -> String {
    format!(
        "The system image: {} with its apt packages, copies and commands",
        spec.foundation.from.value
    )
}

fn describe_extension(spec: &Spec) -> String {
    match &spec.extension {
        Some(Extension::Dockerfile { path, .. }) => format!(
            "The foundation plus the extension built from {}",
            path.value
        ),
        Some(Extension::Inline { .. }) => "The foundation plus the inline extension steps".into(),
        None => "The foundation alone (the spec has no extension)".into(),
    }
}

fn describe_harness(spec: &Spec) -> String {
    format!(
        "The harness tool layers alone, from scratch, under {} (tools: {})",
        spec.harness.prefix.value,
        tool_list(spec)
    )
}

fn describe_image(spec: &Spec) -> String {
    let order: Vec<&str> = spec
        .image
        .effective_order()
        .into_iter()
        .map(|p| p.name())
        .collect();
    format!(
        "The whole image: {} merged bottom to top (tools: {})",
        order.join(", "),
        tool_list(spec)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;

    fn spec() -> Spec {
        parse_spec(
            "s.yaml",
            "version: 1\nfoundation:\n  from: debian:13\nextension:\n  run: [make]\nharness:\n  npm:\n    \"@openai/codex\": \"0.169.0\"\n",
        )
        .unwrap()
    }

    #[test]
    fn every_target_has_its_row_a_name_a_description_and_parts() {
        let s = spec();
        for (i, t) in Target::ALL.into_iter().enumerate() {
            let d = t.def();
            assert_eq!(d.target, t, "row {i} describes another target");
            assert_eq!(TARGETS[i].target, t);
            assert_eq!(Target::parse(d.name), Ok(t));
            assert!(
                !t.describe(&s).trim().is_empty(),
                "{}: no description",
                d.name
            );
            let h = d.holds;
            assert!(
                h.system || h.extension || h.tools,
                "{}: holds no part",
                d.name
            );
            // A guard checks parts the target holds.
            assert!(!d.guards.tools || h.tools, "{}", d.name);
            assert!(!d.guards.extension || h.extension, "{}", d.name);
            assert!(!d.guards.parents || (h.tools && h.system), "{}", d.name);
        }
        let defaults: Vec<_> = Target::ALL.into_iter().filter(|t| t.is_default()).collect();
        assert_eq!(defaults, [Target::Image]);
        assert_eq!(
            Target::ALL.last(),
            Some(&Target::Image),
            "the default is last"
        );
    }

    #[test]
    fn descriptions_name_what_the_spec_puts_in_each_target() {
        let s = spec();
        assert!(Target::Foundation.describe(&s).contains("debian:13"));
        assert!(Target::Extension.describe(&s).contains("inline extension"));
        assert!(Target::Harness.describe(&s).contains("@openai/codex"));
        assert!(
            Target::Image
                .describe(&s)
                .contains("foundation, extension, harness")
        );
    }

    #[test]
    fn an_unknown_target_lists_the_known_ones() {
        let e = Target::parse("imgae").unwrap_err();
        assert_eq!(
            e,
            "unknown target `imgae`; this spec has the targets foundation, extension, harness and image (default)"
        );
    }
}
