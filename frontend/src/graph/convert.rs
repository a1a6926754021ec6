//! Conversion: a resolved spec to an LLB graph and an image config.
//!
//! A pure function of its inputs — the resolved spec, the options, the builder's
//! capabilities and the image configs resolved beforehand — so the same inputs always
//! give the same graph (and the same digests, which are users' cache keys). No I/O here:
//! the gateway resolves images and solves; this module only describes.
//!
//! The image is `Merge(foundation, Diff(foundation, extension), tool₁, …, toolₙ)` in
//! `image.order`. Each npm tool is installed on the foundation and diffed, so its layer
//! depends on the foundation and its own version only; each binary is downloaded by
//! BuildKit (checksum pinned) and placed by file operations on scratch, so its layer
//! depends on nothing else at all.

pub use crate::graph::contract::{
    Caps, Conversion, ConvertError, DockerfileExtension, ImageInfo, ImageOrigin, Input, Layer,
    NO_MERGE_MESSAGE,
};
use crate::graph::image_config::ImageConfig;
use crate::graph::names::Tag;
use crate::graph::ops::{Ctx, context, version_from_url};
use crate::graph::options::MergeMode;
use crate::graph::targets::Target;
use crate::spec::{Extension, NpmTool, Part, ResolvedBinary, ResolvedSpec, Spanned};
use llb_graph::{State, diff, merge};

/// The harness tools in canonical order: npm packages by name, then binaries by name.
/// Order in the spec does not matter, so reordering a spec never changes the image.
fn canonical_tools(spec: &ResolvedSpec) -> (Vec<&NpmTool>, Vec<&ResolvedBinary>) {
    let mut npm: Vec<&NpmTool> = spec.spec.harness.npm.iter().collect();
    npm.sort_by(|a, b| a.package.value.cmp(&b.package.value));
    let mut bins: Vec<&ResolvedBinary> = spec.spec.harness.binaries.iter().collect();
    bins.sort_by(|a, b| a.name.value.cmp(&b.name.value));
    (npm, bins)
}

/// The foundation part alone: its state and image config. The extension Dockerfile is
/// built on exactly this state (same vertex digests), which is what lets
/// `Diff(foundation, extension)` reuse the extension's layer blobs.
///
/// Errors: as [`convert`].
pub fn foundation(input: &Input<'_>) -> Result<(State, ImageConfig), ConvertError> {
    let mut cx = context(input);
    let (st, config, _) = build_foundation(&mut cx)?;
    Ok((st, config))
}

/// The foundation's state, config and base image, recording its history in `cx`.
fn build_foundation(cx: &mut Ctx<'_>) -> Result<(State, ImageConfig, ImageInfo), ConvertError> {
    let spec = &cx.input.spec.spec;
    let base = cx.image(&spec.foundation.from)?.clone();
    let mut config = ImageConfig::from_base(base.config.clone());
    config.set_platform(&cx.platform);
    let from = cx.image_source(&base, Part::Foundation, spec.foundation.from.span);
    let st = cx.steps(from, &spec.foundation.steps, Part::Foundation, &mut config)?;
    Ok((st, config, base))
}

/// Converts one platform's resolved spec.
///
/// Errors: [`ConvertError::NoMergeOp`] when the builder cannot merge and stacking was
/// not asked for; [`ConvertError::Invalid`] for images that were not resolved.
pub fn convert(input: &Input<'_>) -> Result<Conversion, ConvertError> {
    let spec = &input.spec.spec;
    let mode = input.options.merge_mode;
    if mode == MergeMode::Merge && !input.caps.merge_diff {
        return Err(ConvertError::NoMergeOp);
    }
    let target = input.options.target;
    if mode == MergeMode::Stack && target.def().needs_merge {
        return Err(ConvertError::Invalid(
            format!(
                "--target {} needs MergeOp/DiffOp to isolate the harness layers; it cannot be built with AISHELL_MERGE=stack",
                target.name()
            ),
            None,
        ));
    }
    let mut cx = context(input);
    let platform = cx.platform.clone();
    let prefix = spec.harness.prefix.value.clone();

    // Foundation.
    let (foundation, mut config, base) = build_foundation(&mut cx)?;
    let foundation_config = config.clone();
    let foundation_history = std::mem::take(&mut cx.history);

    // Extension.
    let (extension, extension_history) = match (&spec.extension, &input.dockerfile_extension) {
        (Some(Extension::Inline { steps, .. }), _) => {
            let st = cx.steps(foundation.clone(), steps, Part::Extension, &mut config)?;
            (st, std::mem::take(&mut cx.history))
        }
        (Some(Extension::Dockerfile { path, .. }), Some(ext)) => {
            let ext_cfg = ImageConfig::from_base(ext.config.clone());
            for kv in ext_cfg.env_list() {
                if let Some((k, v)) = kv.split_once('=') {
                    config.set_env(k, v);
                }
            }
            if let Some(dir) = ext_cfg.working_dir() {
                config.set_working_dir(dir);
            }
            if let Some(user) = ext_cfg.user() {
                config.set_user(user);
            }
            (
                ext.state.clone(),
                vec![(format!("extension Dockerfile {}", path.value), false)],
            )
        }
        // A target without the extension (the foundation, as the cross-install base is
        // converted) needs no result of the extension Dockerfile, which is then not built.
        (Some(Extension::Dockerfile { .. }), None) if !target.def().holds.extension => {
            (foundation.clone(), Vec::new())
        }
        (Some(Extension::Dockerfile { path, .. }), None) => {
            return Err(ConvertError::Invalid(
                format!("the extension Dockerfile {} was not built", path.value),
                Some(path.span),
            ));
        }
        (None, _) => (foundation.clone(), Vec::new()),
    };
    let has_extension = extension != foundation;
    let extension_config = config.clone();

    // Harness.
    let (npm, bins) = canonical_tools(input.spec);
    let mut harness_config = config.clone();
    for kv in &spec.harness.env {
        harness_config.set_env(&kv.key.value, &kv.value.value);
    }
    harness_config.prepend_path(&[&format!("{prefix}/npm/bin"), &format!("{prefix}/bin")]);
    if !npm.is_empty() {
        harness_config.set_env("NODE_PATH", &format!("{prefix}/npm/lib/node_modules"));
    }

    let mut layers = vec![Layer {
        part: Part::Foundation,
        name: "foundation".into(),
        version: None,
        description: format!("{} + {} step(s)", base.reference, foundation_history.len()),
        state: foundation.clone(),
        span: spec.foundation.span,
    }];
    if has_extension {
        layers.push(Layer {
            part: Part::Extension,
            name: "extension".into(),
            version: None,
            description: format!("{} step(s)", extension_history.len().max(1)),
            state: cx.step(
                Part::Extension,
                "layer (diff against the foundation)",
                spec.extension_span(),
                |m| diff(&foundation, &extension, m),
            ),
            span: spec.extension_span(),
        });
    }
    let mut tool_layers = Vec::new();
    let mut tool_labels = Vec::new();
    // The state each npm tool's files are read from for the SBOM: its layer, or the
    // stacked image.
    let mut npm_parts: Vec<(String, String, State)> = Vec::new();
    let order = spec.image.effective_order();
    match mode {
        MergeMode::Merge => {
            for t in &npm {
                // Cross install on the build machine's foundation, or install on this
                // platform's own (natively, or emulated for another platform).
                let (lower, installed) = match (&input.cross, t.emulated()) {
                    (Some(c), false) => (
                        c.foundation.clone(),
                        cx.npm_install(
                            c.foundation.clone(),
                            t,
                            &prefix,
                            &c.config,
                            Some(&c.platform),
                        ),
                    ),
                    _ => (
                        foundation.clone(),
                        cx.npm_install(foundation.clone(), t, &prefix, &foundation_config, None),
                    ),
                };
                let layer = cx.step(
                    Part::Harness,
                    format!("npm {}@{} layer", t.package.value, t.version.value),
                    t.package.span,
                    |m| diff(&lower, &installed, m),
                );
                tool_labels.push((t.package.value.clone(), t.version.value.clone()));
                npm_parts.push((
                    t.package.value.clone(),
                    t.version.value.clone(),
                    layer.clone(),
                ));
                tool_layers.push(Layer {
                    part: Part::Harness,
                    name: t.package.value.clone(),
                    version: Some(t.version.value.clone()),
                    description: format!(
                        "npm install {}@{} under {prefix}/npm",
                        t.package.value, t.version.value
                    ),
                    state: layer,
                    span: t.package.span,
                });
            }
            for b in &bins {
                let st = cx.binary(State::scratch(), b, &prefix)?;
                let version = binary_version(b);
                tool_labels.push((b.name.value.clone(), version.clone()));
                tool_layers.push(Layer {
                    part: Part::Harness,
                    name: b.name.value.clone(),
                    version: Some(version),
                    description: format!("{prefix}/bin/{} from {}", b.name.value, b.url.value),
                    state: st,
                    span: b.name.span,
                });
            }
        }
        MergeMode::Stack => {
            cx.warnings.push("AISHELL_MERGE=stack: building stacked layers (harness on top of the extension); layers are no longer shared between projects and a harness bump re-runs nothing below it but re-exports everything above it".into());
        }
    }
    layers.extend(tool_layers.iter().cloned());

    let (state, final_config, history): (State, ImageConfig, Vec<(String, bool)>) =
        match (input.options.target, mode) {
            (Target::Foundation, _) => (foundation.clone(), foundation_config, foundation_history),
            (Target::Extension, _) => {
                let mut h = foundation_history;
                h.extend(extension_history);
                (extension.clone(), extension_config, h)
            }
            // Merged in both modes: stacking it was refused above (`needs_merge`).
            (Target::Harness, _) => {
                let states: Vec<State> = tool_layers.iter().map(|l| l.state.clone()).collect();
                let mut c = ImageConfig::empty();
                c.set_platform(&platform);
                c.prepend_path(&[&format!("{prefix}/npm/bin"), &format!("{prefix}/bin")]);
                let h = tool_layers
                    .iter()
                    .map(|l| (format!("harness {}", l.name), false))
                    .collect();
                let st = cx.step(
                    Part::Harness,
                    format!("merge {} tool layer(s)", states.len()),
                    spec.harness.span,
                    |m| merge(&states, m),
                );
                (st, c, h)
            }
            (Target::Image, MergeMode::Merge) => {
                let mut inputs: Vec<(State, Vec<(String, bool)>)> = Vec::new();
                for part in &order {
                    match part {
                        Part::Foundation => {
                            inputs.push((foundation.clone(), foundation_history.clone()))
                        }
                        Part::Extension if has_extension => {
                            inputs.push((layers[1].state.clone(), extension_history.clone()))
                        }
                        Part::Extension => {}
                        Part::Harness => {
                            for l in &tool_layers {
                                inputs.push((
                                    l.state.clone(),
                                    vec![(
                                        format!(
                                            "harness {} {}",
                                            l.name,
                                            l.version.clone().unwrap_or_default()
                                        ),
                                        false,
                                    )],
                                ));
                            }
                        }
                    }
                }
                let names: Vec<String> = order
                    .iter()
                    .filter(|p| **p != Part::Extension || has_extension)
                    .map(|p| match p {
                        Part::Harness => format!("{} harness tool(s)", tool_layers.len()),
                        other => other.name().to_string(),
                    })
                    .collect();
                let states: Vec<State> = inputs.iter().map(|(s, _)| s.clone()).collect();
                let history = inputs.into_iter().flat_map(|(_, h)| h).collect();
                // The merge has no spec position and no part's `--no-cache`: only its name.
                let name = cx.name(Tag::Image, format!("merge {}", names.join(" + ")));
                let st = merge(&states, name.meta());
                cx.names.record(&st, name);
                (st, harness_config, history)
            }
            (Target::Image, MergeMode::Stack) => {
                let mut st = extension.clone();
                let mut h = foundation_history;
                h.extend(extension_history);
                for t in &npm {
                    st = cx.npm_install(st, t, &prefix, &extension_config, None);
                    tool_labels.push((t.package.value.clone(), t.version.value.clone()));
                    h.push((format!("harness {}", t.package.value), false));
                }
                for t in &npm {
                    npm_parts.push((t.package.value.clone(), t.version.value.clone(), st.clone()));
                }
                for b in &bins {
                    st = cx.binary(st, b, &prefix)?;
                    let version = binary_version(b);
                    tool_labels.push((b.name.value.clone(), version));
                    h.push((format!("harness {}", b.name.value), false));
                }
                (st, harness_config, h)
            }
        };

    let holds = input.options.target.def().holds;
    let mut config = final_config;
    if holds.image_section {
        apply_image_section(&mut config, input);
        for (tool, version) in &tool_labels {
            config.set_label(&format!("dev.aishell.harness.{tool}"), version);
        }
    }
    for (k, v) in &input.options.labels {
        config.set_label(k, v);
    }
    config.set_platform(&platform);
    for (created_by, empty) in &history {
        config.push_history(created_by, *empty, cx.created.as_deref());
    }
    if let Some(c) = &cx.created {
        config.set_created(c);
    }
    // A folder given for the base image has no config of its own to keep.
    let base_config = (holds.system && !matches!(base.origin, ImageOrigin::Local { .. }))
        .then(|| base.config.clone());
    let with_tools = holds.tools;
    let sbom = crate::sbom::Parts {
        foundation: holds.system.then(|| foundation.clone()),
        extension: (holds.extension && has_extension).then(|| extension.clone()),
        npm: if with_tools { npm_parts } else { Vec::new() },
        npm_dir: format!("{prefix}/npm/lib/node_modules"),
        binaries: if with_tools {
            bins.iter()
                .map(|b| crate::sbom::spdx::BinaryTool {
                    name: b.name.value.clone(),
                    version: binary_version(b),
                    url: b.url.value.clone(),
                    sha256: b.sha256.value.clone(),
                })
                .collect()
        } else {
            Vec::new()
        },
    };
    // A vertex this conversion made is named as it made it; then come the names of the
    // states it was given, of which only what the result is built from is kept.
    let mut names = cx.names;
    names.extend(&input.names);
    if let Some(c) = &input.cross {
        names.extend(&c.names);
    }
    names.retain_vertices_of(&state);
    Ok(Conversion {
        state,
        config,
        layers,
        foundation,
        extension,
        base_config,
        sbom,
        names,
        warnings: cx.warnings,
    })
}

/// The version a binary tool is labelled with: taken from its URL when the URL has one,
/// else the start of its checksum (which pins it just as well).
fn binary_version(b: &ResolvedBinary) -> String {
    version_from_url(&b.url.value).unwrap_or_else(|| {
        let sum = &b.sha256.value;
        format!("sha256-{}", &sum[..12.min(sum.len())])
    })
}

fn apply_image_section(config: &mut ImageConfig, input: &Input<'_>) {
    let img = &input.spec.spec.image;
    for kv in &img.env {
        config.set_env(&kv.key.value, &kv.value.value);
    }
    let argv = |v: &Vec<Spanned<String>>| v.iter().map(|s| s.value.clone()).collect::<Vec<_>>();
    if let Some(e) = &img.entrypoint {
        config.set_entrypoint(&argv(e));
    }
    if let Some(c) = &img.cmd {
        config.set_cmd(&argv(c));
    }
    if let Some(w) = &img.workdir {
        config.set_working_dir(&w.value);
    }
    if let Some(u) = &img.user {
        config.set_user(&u.value);
    }
    for kv in &img.labels {
        config.set_label(&kv.key.value, &kv.value.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_urls() {
        assert_eq!(
            version_from_url("https://github.com/gitleaks/gitleaks/releases/download/v8.30.0/gitleaks_8.30.0_linux_x64.tar.gz").as_deref(),
            Some("8.30.0")
        );
        assert_eq!(
            version_from_url("http://127.0.0.1:8000/tool").as_deref(),
            None
        );
    }
}
