//! What a conversion needs from the builder before it can run: the small files of the build
//! context the spec copies, the config (and digest) of every image the spec names, and the
//! result of an extension Dockerfile, built by BuildKit's Dockerfile frontend on our
//! foundation.

use crate::graph::context::{self, ContextFile, ContextFiles};
use crate::graph::convert::{self, DockerfileExtension, ImageInfo};
use crate::graph::extension;
use crate::graph::image_config::ImageConfig;
use crate::graph::names::{ProgressName, Tag};
use crate::graph::options::Options;
use crate::session::failure::{Failure, convert_failure, guarded};
use crate::session::gateway::{Bridge, limits, within};
use crate::session::source::{SpecLocal, cache_imports, ref_id, solve_request};
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::referenced_images;
use crate::spec::{ResolvedSpec, Spanned, Spec};
use aishell_proto::gateway as gw;
use llb_graph::marshal;
use std::collections::BTreeMap;
use tonic::Code;

/// Reads the small regular files among the context paths `spec` copies through the
/// gateway (see [`crate::graph::context`] for why), with `cache` holding what earlier platforms
/// read. A path that cannot be read here (missing, a directory, too big) is left to the
/// copy from the context, which reports what is wrong with it as before.
pub(crate) async fn read_context<B: Bridge, U>(
    b: &B,
    opts: &Options,
    spec: &Spec<U>,
    cache: &mut BTreeMap<Vec<String>, ContextFiles>,
) -> Result<ContextFiles, Failure> {
    let paths = context::readable_paths(spec);
    if paths.is_empty() {
        return Ok(ContextFiles::default());
    }
    if let Some(files) = cache.get(&paths) {
        return Ok(files.clone());
    }
    let local = context::local(&paths, opts).build(
        ProgressName::new(
            Tag::Internal,
            format!("load build context ({})", paths.join(", ")),
        )
        .meta(),
    );
    let resp = b
        .solve(solve_request(marshal(&local, &[]), opts))
        .await
        .map_err(|s| Failure::gateway("cannot load the build context", &s))?;
    let mut files = ContextFiles::default();
    let Some(id) = ref_id(&resp) else {
        return Ok(files);
    };
    for p in &paths {
        let stat = match b
            .stat_file(gw::StatFileRequest {
                r#ref: id.clone(),
                path: p.clone(),
                ..Default::default()
            })
            .await
        {
            Ok(r) => r.stat.unwrap_or_default(),
            Err(_) => continue,
        };
        let size = u64::try_from(stat.size).unwrap_or(u64::MAX);
        if !files.offer(p, stat.mode, size) {
            continue;
        }
        let data = b
            .read_file(gw::ReadFileRequest {
                r#ref: id.clone(),
                file_path: p.clone(),
                ..Default::default()
            })
            .await
            .map_err(|s| Failure::gateway(&format!("cannot read {p} of the build context"), &s))?;
        if files.offer(p, stat.mode, data.len() as u64) {
            let mode = stat.mode & 0o777;
            files.insert(p, ContextFile { data, mode });
        }
    }
    cache.insert(paths, files.clone());
    Ok(files)
}

pub(crate) async fn resolve_images<B: Bridge>(
    b: &B,
    opts: &Options,
    spec: &ResolvedSpec,
    cache: &mut BTreeMap<(String, String), ImageInfo>,
) -> Result<BTreeMap<String, ImageInfo>, Failure> {
    let refs = referenced_images(spec).map_err(Failure::diags)?;
    let mut out = BTreeMap::new();
    let p = &spec.platform;
    for (r, span) in refs {
        let key = (r.clone(), p.to_string());
        if let Some(info) = cache.get(&key) {
            out.insert(r, info.clone());
            continue;
        }
        // A named context of the image's name replaces it (`--build-context
        // <image>=docker-image://<mirror>`, `oci-layout://…`, a folder); the image is still
        // known by the name the spec gives it.
        let replacement = match opts.named_context(&r, &p.to_string()) {
            None => Replacement::Registry(r.clone()),
            Some(v) => Replacement::parse(&r, v).map_err(|m| {
                let mut d = Diagnostics::new(&opts.filename);
                d.push(Diagnostic::error(span, "", m));
                Failure::diags(d)
            })?,
        };
        let platform = Some(llb_graph::platform(&p.os, &p.arch, p.variant.as_deref()));
        let (request, origin) = match &replacement {
            Replacement::Registry(source) => (
                gw::ResolveImageConfigRequest {
                    r#ref: source.clone(),
                    platform,
                    resolve_mode: opts
                        .image_resolve_mode
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                    log_name: ProgressName::new(
                        Tag::Internal,
                        format!("load metadata for {source}"),
                    )
                    .to_string(),
                    ..Default::default()
                },
                convert::ImageOrigin::Registry,
            ),
            Replacement::OciLayout { reference, store } => (
                gw::ResolveImageConfigRequest {
                    r#ref: reference.clone(),
                    platform,
                    log_name: ProgressName::new(
                        Tag::Context(r.clone()),
                        format!("load metadata for {reference}"),
                    )
                    .to_string(),
                    resolver_type: 1,
                    session_id: opts.session_id.clone(),
                    store_id: store.clone(),
                    ..Default::default()
                },
                convert::ImageOrigin::OciLayout {
                    session: opts.session_id.clone(),
                    store: store.clone(),
                },
            ),
            Replacement::Local(name) => {
                // A folder has no config: the platform only, as BuildKit's Dockerfile
                // frontend gives a `FROM` of a folder context.
                let info = ImageInfo {
                    reference: r.clone(),
                    config: ImageConfig::folder(p),
                    origin: convert::ImageOrigin::Local {
                        name: name.clone(),
                        session: opts.session_id.clone(),
                    },
                };
                cache.insert(key, info.clone());
                out.insert(r, info);
                continue;
            }
        };
        let r_source = request.r#ref.clone();
        let resp = within(
            limits::RESOLVE_IMAGE_CONFIG,
            b.resolve_image_config(request),
        )
        .await
        .map_err(|s| Failure::gateway(&format!("cannot resolve image {r_source}"), &s))?;
        let config = ImageConfig::parse(&resp.config).map_err(|e| {
            Failure::new(
                Code::InvalidArgument,
                format!("the config of image {r} is not an OCI image config: {e}"),
            )
        })?;
        // Pin by digest when the builder gave one (a local image may have none), so the
        // layers we build on are the ones whose config we read.
        let reference = if !resp.digest.is_empty() && !crate::spec::reference::is_pinned(&r_source)
        {
            format!("{r_source}@{}", resp.digest)
        } else {
            r_source.clone()
        };
        let info = ImageInfo {
            reference,
            config,
            origin,
        };
        cache.insert(key, info.clone());
        out.insert(r, info);
    }
    Ok(out)
}

/// What a named context of an image's name puts in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Replacement {
    /// An image from a registry (the spec's own, or a `docker-image://` mirror).
    Registry(String),
    /// An image of an OCI layout the client sends: `<image>@<digest>` and the store id.
    OciLayout { reference: String, store: String },
    /// A folder the client sends, by its local name.
    Local(String),
}

impl Replacement {
    /// Reads the value of the named context that replaces `image` (normalised).
    ///
    /// Errors: a value of another kind (git, http, a frontend input), or one that cannot
    /// be read, with what is accepted.
    fn parse(image: &str, value: &str) -> Result<Self, String> {
        let accepted =
            "docker-image://<reference>, oci-layout://<layout>[:<tag>][@<digest>] or a folder";
        if let Some(mirror) = value.strip_prefix("docker-image://") {
            return crate::spec::reference::normalize(mirror)
                .map(Replacement::Registry)
                .map_err(|e| format!("--build-context for {image}: {e}"));
        }
        if let Some(spec) = value.strip_prefix("oci-layout://") {
            // buildx sends `<store id>[:<tag>]@<digest>` (it resolves the tag itself).
            let (name, digest) = spec.split_once('@').ok_or_else(|| {
                format!("--build-context for {image}: `{value}` has no digest (buildx adds it when it reads the layout)")
            })?;
            let store = match name.rfind(':') {
                Some(i) if !name[i..].contains('/') => &name[..i],
                _ => name,
            };
            if store.is_empty() || !digest.starts_with("sha256:") {
                return Err(format!(
                    "--build-context for {image}: `{value}` is not an OCI layout reference"
                ));
            }
            let base = image.split('@').next().unwrap_or(image);
            return Ok(Replacement::OciLayout {
                reference: format!("{base}@{digest}"),
                store: store.to_string(),
            });
        }
        if let Some(name) = value.strip_prefix("local:") {
            return Ok(Replacement::Local(name.to_string()));
        }
        Err(format!(
            "--build-context for image {image} is `{value}`; an image of the spec can be replaced by {accepted}"
        ))
    }
}

/// Builds the extension Dockerfile with BuildKit's Dockerfile frontend on our foundation.
pub(crate) async fn dockerfile_extension<B: Bridge>(
    b: &B,
    opts: &Options,
    file: &SpecLocal,
    input: &convert::Input<'_>,
    path: &Spanned<String>,
) -> Result<DockerfileExtension, Failure> {
    let (foundation, foundation_config) =
        guarded(|| convert::foundation(input).map_err(|e| convert_failure(&file.filename, e)))?;
    let dockerfile = extension::dockerfile_path(&opts.filename, &path.value);
    let platform = input.spec.platform.to_string();
    let req = gw::SolveRequest {
        frontend: "dockerfile.v0".into(),
        frontend_opt: extension::nested_options(
            &opts.raw,
            &opts.build_args,
            &dockerfile,
            &platform,
            &foundation_config.to_bytes(),
        ),
        frontend_inputs: BTreeMap::from([(
            extension::FOUNDATION_INPUT.to_string(),
            marshal(&foundation, &[]),
        )]),
        allow_result_return: true,
        allow_result_array_ref: true,
        cache_imports: cache_imports(opts),
        ..Default::default()
    };
    let resp = b
        .solve(req)
        .await
        .map_err(|s| Failure::gateway(&format!("extension Dockerfile {dockerfile}"), &s))?;
    let result = resp.result.unwrap_or_default();
    let (r, config) = match result.result {
        Some(gw::result::Result::Ref(r)) => (r, result.metadata.get("containerimage.config")),
        Some(gw::result::Result::Refs(mut m)) => {
            let r = m.refs.remove(&platform).unwrap_or_default();
            let cfg = result
                .metadata
                .get(&format!("containerimage.config/{platform}"))
                .or_else(|| result.metadata.get("containerimage.config"));
            (r, cfg)
        }
        _ => (gw::Ref::default(), None),
    };
    let Some(def) = r.def else {
        return Err(Failure::at(
            &file.filename,
            path.span,
            "extension.dockerfile",
            format!("the Dockerfile frontend returned no result for {dockerfile}"),
        ));
    };
    if !foundation
        .digest()
        .is_some_and(|fd| extension::built_on(&def, fd))
    {
        return Err(Failure::at(
            &file.filename,
            path.span,
            "extension.dockerfile",
            format!(
                "the final stage of {dockerfile} is not built on the foundation; start it with `FROM aishell:base` (or `FROM aishell:foundation`) so the extension can be diffed against the foundation and merged"
            ),
        ));
    }
    let state = extension::result_state(&def).map_err(|m| Failure::new(Code::Internal, m))?;
    let config = match config {
        Some(c) => ImageConfig::parse(c).map_err(|e| {
            Failure::new(
                Code::Internal,
                format!(
                    "the Dockerfile frontend's image config for {dockerfile} cannot be read: {e}"
                ),
            )
        })?,
        None => ImageConfig::empty(),
    };
    Ok(DockerfileExtension { state, config })
}
