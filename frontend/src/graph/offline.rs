//! Conversion without an engine, for the command line (`plan`, `diff`, `graph`, `llb`).
//!
//! A real build asks the builder for each referenced image's config and digest, and for
//! an extension Dockerfile's graph; on a laptop without BuildKit we have neither. We stand
//! in for them with what conversion can live with — an image config that names only the
//! platform, and the reference exactly as the spec writes it (normalised, not pinned) —
//! and say so in a note. Everything else is the very code path the frontend runs, so the
//! layers, names and digests shown are the frontend's own, not a re-implementation.
//!
//! ```
//! use aishell_frontend::graph::offline;
//! let text = "version: 1\nfoundation:\n  from: busybox:1\n  run: [echo hi]\n";
//! let spec = offline::SpecFile::from_text("image.yaml", text);
//! let options = offline::options("image.yaml", &[], &[], None).unwrap();
//! let builds = offline::convert_all(&spec, &options).unwrap();
//! assert_eq!(builds[0].platform.to_string(), "linux/amd64");
//! assert_eq!(builds[0].conversion.layers[0].name, "foundation");
//! assert!(builds[0].notes[0].contains("docker.io/library/busybox:1"));
//! ```

use crate::graph::context::ContextFiles;
use crate::graph::convert::{self, Caps, Conversion, ConvertError, DockerfileExtension, ImageInfo};
use crate::graph::image_config::ImageConfig;
use crate::graph::names::{ProgressName, ProgressNames, Tag};
use crate::graph::options::Options;
use crate::spec::diag::Diagnostics;
use crate::spec::load::{Loaded, load, merge_unique};
use crate::spec::platform::Platform;
use crate::spec::{self, Extension, Part, ResolvedSpec, Spec};
pub use crate::spec::{ReadError, SpecFile};
use llb_graph::{FileOp, SourceFile};
use std::collections::BTreeMap;

/// The spec for LLB source maps, so `buildctl` shows spec lines for failing steps.
pub fn source_file(spec: &SpecFile) -> SourceFile {
    SourceFile {
        filename: spec.name.clone(),
        data: spec.text.as_bytes().to_vec(),
        language: "yaml".into(),
        definition: None,
    }
}

/// The note every offline command prints: what was not resolved, and what that means for
/// the digests shown.
///
/// ```
/// use aishell_frontend::graph::offline::images_note;
/// let n = images_note(&["docker.io/library/debian:13".into()]);
/// assert!(n.contains("debian:13 used with an empty image config and without the digest"));
/// let pinned = format!("docker.io/library/debian@sha256:{}", "1".repeat(64));
/// assert!(!images_note(&[pinned.clone()]).contains("without the digest"));
/// let n = images_note(&[pinned, "docker.io/library/node:24".into()]);
/// assert!(n.contains(", and docker.io/library/node:24 without the digest"));
/// ```
pub fn images_note(references: &[String]) -> String {
    let unpinned: Vec<&str> = references
        .iter()
        .filter(|r| !crate::spec::reference::is_pinned(r))
        .map(String::as_str)
        .collect();
    // Pinned or not, the config is a stand-in: its env feeds every RUN step's environment,
    // so even a pinned foundation's steps may differ from a real build's.
    let mut note = format!(
        "images are not resolved without an engine: {} used with an empty image config",
        references.join(", ")
    );
    if unpinned.len() == references.len() {
        note.push_str(" and without the digest a real build would pin");
    } else if !unpinned.is_empty() {
        note.push_str(&format!(
            ", and {} without the digest a real build would pin",
            unpinned.join(", ")
        ));
    }
    note.push_str(
        "; digests of layers built on them can differ from a real build's (they still compare with each other)",
    );
    note
}

/// [`Options`] as `docker buildx build` would pass them, from command-line flags.
///
/// `build_args` are `NAME=VALUE` (a `NAME` without `=` takes the value from the
/// environment, and is skipped when unset, as `docker build` does).
///
/// Errors: a bad platform, target or `AISHELL_MERGE` value, as a message.
///
/// ```
/// use aishell_frontend::graph::offline::options;
/// let o = options("image.yaml", &["linux/arm64".into()], &["V=1".into()], Some("harness")).unwrap();
/// assert_eq!(o.target_platforms()[0].to_string(), "linux/arm64");
/// assert_eq!(o.build_args["V"], "1");
/// assert!(options("image.yaml", &[], &[], Some("nope")).is_err());
/// ```
pub fn options(
    filename: &str,
    platforms: &[String],
    build_args: &[String],
    target: Option<&str>,
) -> Result<Options, String> {
    // Going through the frontend's own option parser keeps the CLI's meaning of each flag
    // identical to a real build's (AISHELL_MERGE, SOURCE_DATE_EPOCH, platform spellings).
    let mut env = vec![format!("filename={filename}")];
    if !platforms.is_empty() {
        env.push(format!("platform={}", platforms.join(",")));
    }
    if let Some(t) = target {
        env.push(format!("target={t}"));
    }
    for arg in build_args {
        match arg.split_once('=') {
            Some((k, v)) => env.push(format!("build-arg:{k}={v}")),
            None => {
                if let Ok(v) = std::env::var(arg) {
                    env.push(format!("build-arg:{arg}={v}"));
                }
            }
        }
    }
    Options::from_env(
        env.into_iter()
            .enumerate()
            .map(|(i, v)| (format!("BUILDKIT_FRONTEND_OPT_{i}"), v)),
    )
}

/// Stand-ins for the images the spec refers to: the normalised reference, not pinned, and
/// a config with the platform only (no env, no entrypoint).
///
/// Errors: references that do not parse, at their spec positions.
pub fn images(resolved: &ResolvedSpec) -> Result<BTreeMap<String, ImageInfo>, Diagnostics> {
    let refs = crate::spec::referenced_images(resolved)?;
    let platform = ImageConfig::for_platform(&resolved.platform);
    Ok(refs
        .into_iter()
        .map(|(r, _)| {
            let info = ImageInfo {
                reference: r.clone(),
                config: platform.clone(),
                origin: Default::default(),
            };
            (r, info)
        })
        .collect())
}

/// One platform's offline build: the resolved spec, its conversion and what the user
/// should know about how it was made.
#[derive(Debug, Clone)]
pub struct Offline {
    /// The platform.
    pub platform: Platform,
    /// The spec resolved for it.
    pub resolved: ResolvedSpec,
    /// The graph, config and layers.
    pub conversion: Conversion,
    /// Notes for the user (images not resolved, placeholders).
    pub notes: Vec<String>,
}

/// A stand-in for the extension Dockerfile's result: a file op on the foundation that
/// records the Dockerfile's path and content digest, so its layer is built on the
/// foundation (as the real one must be) and changes exactly when the Dockerfile does.
/// Returned with its progress name and the note for the user.
fn dockerfile_placeholder(
    input: &convert::Input<'_>,
    spec: &SpecFile,
    path: &str,
) -> Result<(DockerfileExtension, ProgressName, String), ConvertError> {
    let (foundation, _) = convert::foundation(input)?;
    let shown = crate::graph::extension::dockerfile_path(&spec.name, path);
    let content = spec
        .dir
        .as_ref()
        .and_then(|d| std::fs::read(d.join(path.trim_start_matches("./"))).ok());
    let (marker, note) = match content {
        Some(bytes) => (
            llb_graph::Digest::of(&bytes).to_string(),
            format!(
                "the extension Dockerfile {shown} is not built without an engine: its layer is a placeholder that changes when the Dockerfile's content does"
            ),
        ),
        None => (
            "unread".to_string(),
            format!(
                "the extension Dockerfile {shown} is not built without an engine and could not be read: its layer is a placeholder that does not follow the Dockerfile"
            ),
        ),
    };
    // Without the platform and `, stacked` of the conversion's own names, as it always was
    // named (the golden snapshots pin it).
    let name = ProgressName::new(
        Tag::Part(Part::Extension),
        format!("placeholder for Dockerfile {shown} (not built offline)"),
    );
    let state = FileOp::on(foundation)
        .mkfile(
            "/.aishell-offline-extension",
            0o644,
            format!("{path}\n{marker}\n").into_bytes(),
        )
        .build(name.meta());
    Ok((
        DockerfileExtension {
            state,
            config: ImageConfig::empty(),
        },
        name,
        note,
    ))
}

/// Converts `resolved` without an engine: the one place that builds a
/// [`convert::Input`] for the command line (placeholder images, `local://context`, a
/// builder that can merge).
///
/// Errors: what conversion reports, as diagnostics of `spec`.
pub fn convert(
    spec: &SpecFile,
    resolved: &ResolvedSpec,
    options: &Options,
    show_platform: bool,
    cross: Option<crate::graph::cross::CrossBase>,
) -> Result<Offline, Diagnostics> {
    let images = images(resolved).map_err(|mut d| {
        d.file = spec.name.clone();
        d
    })?;
    let mut notes = vec![images_note(&images.keys().cloned().collect::<Vec<_>>())];
    let no_files = ContextFiles::default();
    let mut names = ProgressNames::default();
    // Offline, context files are not read: every context copy comes from `local://context`,
    // as in `aishell-frontend llb | buildctl build --local context=.`.
    let context = crate::graph::context::source(&resolved.spec, options, &no_files, &mut names);
    let mut input = convert::Input {
        spec: resolved,
        options,
        caps: Caps { merge_diff: true },
        images: &images,
        context,
        context_files: &no_files,
        dockerfile_extension: None,
        names,
        show_platform,
        cross: cross.filter(|_| crate::graph::cross::applies(resolved, options)),
    };
    if let Some(Extension::Dockerfile { path, .. }) = &resolved.spec.extension {
        let (ext, name, note) = dockerfile_placeholder(&input, spec, &path.value)
            .map_err(|e| e.into_diagnostics(&spec.name))?;
        input.names.record(&ext.state, name);
        input.dockerfile_extension = Some(ext);
        notes.push(note);
    }
    let conversion = convert::convert(&input).map_err(|e| e.into_diagnostics(&spec.name))?;
    Ok(Offline {
        platform: resolved.platform.clone(),
        resolved: resolved.clone(),
        conversion,
        notes,
    })
}

/// Loads `spec` ([`crate::spec::load`]: parsed, resolved for each platform of `options`)
/// and converts each platform.
///
/// Errors: every problem of the spec, from parsing, resolution (all platforms, the same
/// problem once) and conversion.
pub fn convert_all(spec: &SpecFile, options: &Options) -> Result<Vec<Offline>, Diagnostics> {
    let loaded = load(spec, &options.load_options())?;
    if !loaded.is_valid() {
        return Err(loaded.errors);
    }
    convert_loaded(spec, &loaded, options)
}

/// Converts each platform's resolution of a valid `loaded` spec.
///
/// Errors: the conversion's problems, each once.
pub fn convert_loaded(
    spec: &SpecFile,
    loaded: &Loaded,
    options: &Options,
) -> Result<Vec<Offline>, Diagnostics> {
    let multi = loaded.resolved.len() > 1;
    let mut out = Vec::new();
    let mut diags = Diagnostics::new(&spec.name);
    let cross = if loaded
        .resolved
        .iter()
        .any(|r| crate::graph::cross::applies(r, options))
    {
        Some(cross_base(spec, &loaded.parsed, options, multi)?)
    } else {
        None
    };
    for r in &loaded.resolved {
        match convert(spec, r, options, multi, cross.clone()) {
            Ok(o) => out.push(o),
            Err(d) => merge_unique(&mut diags, d),
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(out)
}

/// The build machine's foundation, for cross installs ([`crate::graph::cross`]): `parsed`
/// resolved and converted for the build platform, as the engine path does.
///
/// Errors: what resolution and conversion report for that platform.
pub fn cross_base(
    spec: &SpecFile,
    parsed: &Spec,
    options: &Options,
    show_platform: bool,
) -> Result<crate::graph::cross::CrossBase, Diagnostics> {
    let build = options.build_platform();
    let resolved = spec::resolve(parsed, &spec.name, &options.build_args, &build, &build)?;
    let o = crate::graph::cross::CrossBase::options(options);
    let off = convert(spec, &resolved, &o, show_platform, None)?;
    Ok(off.conversion.into_cross_base(build))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "version: 1
foundation:
  from: debian:trixie-slim
  copy:
    - src: docker/motd
      dest: /etc/motd
    - image: node:24
      src: /usr/local/bin/node
      dest: /usr/local/bin/node
extension:
  run: [echo ext]
harness:
  npm:
    \"@openai/codex\": \"0.169.0\"
";

    #[test]
    fn every_image_gets_a_stand_in() {
        let spec = SpecFile::from_text("s.yaml", SPEC);
        let o = options("s.yaml", &["linux/arm64".into()], &[], None).unwrap();
        let builds = convert_all(&spec, &o).unwrap();
        let b = &builds[0];
        let imgs = images(&b.resolved).unwrap();
        assert_eq!(
            imgs.keys().collect::<Vec<_>>(),
            [
                "docker.io/library/debian:trixie-slim",
                "docker.io/library/node:24"
            ]
        );
        assert_eq!(
            imgs["docker.io/library/node:24"].config.to_json(),
            serde_json::json!({"architecture": "arm64", "os": "linux"})
        );
        assert!(b.notes[0].contains("docker.io/library/node:24"));
        let names: Vec<&str> = b
            .conversion
            .layers
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, ["foundation", "extension", "@openai/codex"]);
    }

    #[test]
    fn the_same_problem_is_reported_once_for_all_platforms() {
        let text = SPEC.replace("0.169.0", "^0.169.0");
        let spec = SpecFile::from_text("s.yaml", &text);
        let o = options("s.yaml", &["linux/amd64,linux/arm64".into()], &[], None).unwrap();
        let d = convert_all(&spec, &o).unwrap_err();
        assert_eq!(d.errors().count(), 1, "{d}");
        assert_eq!(d.file, "s.yaml");
    }

    #[test]
    fn conversion_errors_become_diagnostics() {
        let spec = SpecFile::from_text("s.yaml", SPEC);
        let o = options(
            "s.yaml",
            &[],
            &["AISHELL_MERGE=stack".into()],
            Some("harness"),
        )
        .unwrap();
        let d = convert_all(&spec, &o).unwrap_err();
        assert!(d.to_string().contains("--target harness"), "{d}");
    }

    #[test]
    fn a_dockerfile_extension_is_a_placeholder_that_follows_the_file() {
        let dir = std::env::temp_dir().join(format!("aishell-offline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text =
            "version: 1\nfoundation:\n  from: busybox\nextension:\n  dockerfile: Dockerfile\n";
        std::fs::write(dir.join("image.yaml"), text).unwrap();
        let digest = |dockerfile: &str| {
            std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
            let spec = SpecFile::read(&dir.join("image.yaml")).unwrap();
            let o = options("image.yaml", &[], &[], None).unwrap();
            let b = convert_all(&spec, &o).unwrap().remove(0);
            assert!(b.notes[1].contains("placeholder"), "{:?}", b.notes);
            b.conversion.layers[1].state.digest().unwrap().to_string()
        };
        let a = digest("FROM aishell:foundation\nRUN echo a\n");
        let b = digest("FROM aishell:foundation\nRUN echo b\n");
        assert_ne!(a, b);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
