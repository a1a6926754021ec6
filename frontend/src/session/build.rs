//! The frontend's life: options → ping → spec → graph → solve → `Return`, exactly once.
//!
//! Every failure, whether a bad spec, a builder without MergeOp or a daemon error, ends as
//! an error in `Return`, so the user sees it in `docker buildx build` output, with spec
//! positions attached as BuildKit source details where we have them.

use crate::graph::context::{self, ContextFile, ContextFiles};
use crate::graph::convert::{self, Caps, ConvertError, DockerfileExtension, ImageInfo};
use crate::graph::extension;
use crate::graph::options::MergeMode;
use crate::graph::options::Options;
use crate::guards;
use crate::guards::verdict::{Verdict, VerdictRequest};
use crate::session::failure::{Failure, guarded, panic_failure};
use crate::session::gateway::{Bridge, limits, within};
use crate::session::guards as session_guards;
use crate::session::guards::{FactsStates, OwnImage};
use crate::session::sbom;
use crate::session::source::{SpecLocal, cache_imports, read_spec, ref_id, solve_request};
use crate::spec::diag::{Diagnostic, Diagnostics};
use crate::spec::load::{directive_error, load};
use crate::spec::platform::Platform;
use crate::spec::referenced_images;
use crate::spec::yaml::Span;
use crate::spec::{self, Extension, Part, ResolvedSpec, Spanned, Spec};
use aishell_proto::gateway as gw;
use aishell_proto::{pb, protobuf, rpc};
use futures_util::FutureExt as _;
use llb_graph::{Meta, State, diff, marshal, merge};
use prost::Message;
use serde_json::json;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use tonic::Code;

/// Turns a failure into the status sent with `Return`.
pub fn failure_status(f: &Failure, spec: Option<&SpecLocal>) -> rpc::Status {
    let mut details = Vec::new();
    if let (Some(d), Some(file)) = (&f.diagnostics, spec)
        && !file.data.is_empty()
    {
        // One excerpt per error, capped: the CLI prints each one.
        for diag in d.errors().take(8) {
            if let Some(span) = diag.span {
                details.push(file.source_detail(span));
            }
        }
    }
    details.extend(f.details.iter().cloned());
    if let Some(name) = &f.subrequest {
        details.push(protobuf::Any {
            type_url: "github.com/moby/buildkit/errdefs.Subrequest+json".into(),
            value: serde_json::to_vec(&json!({"name": name})).unwrap_or_default(),
        });
    }
    rpc::Status {
        // The CLI prints a code's name in front of the message once per layer of error
        // wrapping ("FailedPrecondition: FailedPrecondition: …"); Unknown prints none.
        // Unimplemented stays: clients read it as "subrequest not supported".
        code: if f.code == Code::Unimplemented {
            Code::Unimplemented as i32
        } else {
            Code::Unknown as i32
        },
        message: f.message.clone(),
        details,
    }
}

/// Capabilities the builder reported as present *and enabled*.
pub fn enabled_caps(pong: &gw::PongResponse) -> BTreeMap<String, bool> {
    pong.llb_caps
        .iter()
        .chain(pong.frontend_api_caps.iter())
        .map(|c| (c.id.clone(), c.enabled))
        .collect()
}

/// Reads the small regular files among the context paths `spec` copies through the
/// gateway (see [`crate::graph::context`] for why), with `cache` holding what earlier platforms
/// read. A path that cannot be read here (missing, a directory, too big) is left to the
/// copy from the context, which reports what is wrong with it as before.
async fn read_context<B: Bridge>(
    b: &mut B,
    opts: &Options,
    spec: &Spec,
    cache: &mut BTreeMap<Vec<String>, ContextFiles>,
) -> Result<ContextFiles, Failure> {
    let paths = context::readable_paths(spec);
    if paths.is_empty() {
        return Ok(ContextFiles::default());
    }
    if let Some(files) = cache.get(&paths) {
        return Ok(files.clone());
    }
    let local = context::local(&paths, opts).build(Meta::named(format!(
        "[internal] load build context ({})",
        paths.join(", ")
    )));
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

async fn resolve_images<B: Bridge>(
    b: &mut B,
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
                    log_name: format!("[internal] load metadata for {source}"),
                    ..Default::default()
                },
                convert::ImageOrigin::Registry,
            ),
            Replacement::OciLayout { reference, store } => (
                gw::ResolveImageConfigRequest {
                    r#ref: reference.clone(),
                    platform,
                    log_name: format!("[context {r}] load metadata for {reference}"),
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
                    config: json!({"architecture": p.arch, "os": p.os, "config": {}}),
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
        let config: serde_json::Value = serde_json::from_slice(&resp.config).map_err(|e| {
            Failure::new(
                Code::Internal,
                format!("the config of image {r} is not valid JSON: {e}"),
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
enum Replacement {
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

async fn warn<B: Bridge>(
    b: &mut B,
    spec: &SpecLocal,
    message: &str,
    at: Option<Span>,
    url: Option<String>,
) {
    let Some(digest) = &spec.digest else { return };
    // With a position the client prints the spec excerpt under the warning, as it does
    // for the Dockerfile frontend's checks.
    let (info, ranges) = match at {
        Some(span) => {
            let line = i32::try_from(span.start.line.max(1)).unwrap_or(i32::MAX);
            let end = i32::try_from(span.end.line).unwrap_or(i32::MAX).max(line);
            (
                Some(pb::SourceInfo {
                    filename: spec.filename.clone(),
                    data: spec.data.clone(),
                    definition: spec.definition.clone(),
                    language: "yaml".into(),
                }),
                vec![pb::Range {
                    start: Some(pb::Position { line, character: 0 }),
                    end: Some(pb::Position {
                        line: end,
                        character: 0,
                    }),
                }],
            )
        }
        None => (None, Vec::new()),
    };
    // Warnings are best effort: an old daemon without them must not fail the build.
    let _ = b
        .warn(gw::WarnRequest {
            digest: digest.clone(),
            level: 1,
            short: message.as_bytes().to_vec(),
            url: url.unwrap_or_default(),
            info,
            ranges,
            ..Default::default()
        })
        .await;
}

fn convert_failure(e: ConvertError) -> Failure {
    match e {
        ConvertError::NoMergeOp => {
            Failure::new(Code::FailedPrecondition, convert::NO_MERGE_MESSAGE)
        }
        ConvertError::Invalid(m, _) => Failure::new(Code::InvalidArgument, m),
    }
}

/// Builds the extension Dockerfile with BuildKit's Dockerfile frontend on our foundation.
async fn dockerfile_extension<B: Bridge>(
    b: &mut B,
    opts: &Options,
    file: &SpecLocal,
    input: &convert::Input<'_>,
    path: &Spanned<String>,
) -> Result<DockerfileExtension, Failure> {
    let (foundation, foundation_config) =
        guarded(|| convert::foundation(input).map_err(convert_failure))?;
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
    let fd = foundation.digest().unwrap_or_default();
    if !extension::built_on(&def, fd) {
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
    let config = config
        .and_then(|c| serde_json::from_slice(c).ok())
        .unwrap_or_else(|| json!({}));
    Ok(DockerfileExtension { state, config })
}

/// What the guards of one platform check, and where their steps show up.
struct GuardRun<'a> {
    conv: &'a convert::Conversion,
    prefix: &'a str,
    /// `[linux/arm64] ` in a build of several platforms, else empty.
    label: String,
}

/// Runs the merge guards (see [`guards`]) on the built layers of `conv`: a facts step per
/// layer and a verdict step over them, solved together; the frontend reads the verdict.
/// Returns the verdict's state when there were layers to check, for [`with_verdict`].
async fn check_guards<B: Bridge>(
    b: &mut B,
    opts: &Options,
    file: &SpecLocal,
    own: Option<&OwnImage>,
    run: GuardRun<'_>,
) -> Result<Option<State>, Failure> {
    let GuardRun {
        conv,
        prefix,
        label,
    } = run;
    let wanted = opts.target.def().guards;
    let harness: Vec<&convert::Layer> = if wanted.tools {
        conv.layers
            .iter()
            .filter(|l| l.part == Part::Harness)
            .collect()
    } else {
        Vec::new()
    };
    let ext_layer = conv.layers.iter().find(|l| l.part == Part::Extension);
    let extension = wanted.extension && ext_layer.is_some();
    // The whole image below the harness (foundation plus extension) is compared with the
    // tools' folders on the way to the prefix; it is also the extension that is checked. A
    // harness-only image has nothing below it.
    let parents = wanted.parents && !harness.is_empty();
    if harness.is_empty() && !extension {
        return Ok(None);
    }
    let own = own.ok_or_else(session_guards::no_own_image)?;
    let req = VerdictRequest {
        prefix: prefix.to_string(),
        tools: harness.iter().map(|l| l.name.clone()).collect(),
        parents,
        extension,
    };
    let meta = |what: &str, span: Option<Span>| {
        let m = Meta::named(format!("{label}[guards] {what}")).no_cache(opts.no_cache.all());
        match span {
            Some(s) => m.at(convert::loc(s)),
            None => m,
        }
    };
    let below_what = if extension {
        "the extension"
    } else {
        "the image below the harness"
    };
    let states = FactsStates {
        tools: harness
            .iter()
            .map(|l| {
                session_guards::facts(
                    own,
                    &l.state,
                    &req.facts_for_tool(),
                    meta(&format!("list harness layer {}", l.name), Some(l.span)),
                )
            })
            .collect(),
        below: req.needs_below().then(|| {
            session_guards::facts(
                own,
                &conv.extension,
                &req.facts_for_below(),
                meta(&format!("list {below_what}"), ext_layer.map(|l| l.span)),
            )
        }),
        foundation: extension.then(|| {
            session_guards::facts(
                own,
                &conv.foundation,
                &req.facts_for_foundation(),
                meta("list the foundation", None),
            )
        }),
    };
    let state = session_guards::verdict(own, &req, &states, meta("check the merge", None));
    let def = marshal(&state, &[file.source_file()]);
    // The verdict is built, with every layer it judges, when it is read.
    let text = async {
        let resp = b.solve(solve_request(def, opts)).await?;
        b.read_file(gw::ReadFileRequest {
            r#ref: ref_id(&resp).unwrap_or_default(),
            file_path: guards::step::VERDICT_FILE.into(),
            ..Default::default()
        })
        .await
    }
    .await
    .map_err(|s| Failure::gateway(&failing_part(&s, conv, &harness, extension), &s))?;
    let verdict: Verdict = serde_json::from_slice(&text).map_err(|e| {
        Failure::new(
            Code::Internal,
            format!("the merge guards' verdict cannot be read: {e}"),
        )
    })?;
    if verdict.tools.len() != harness.len() {
        return Err(Failure::new(
            Code::Internal,
            "the merge guards' verdict does not match the harness tools",
        ));
    }

    let mut violations: Vec<(Span, guards::Violation)> = Vec::new();
    let mut spans = BTreeMap::new();
    let mut tools = harness.iter().zip(&verdict.tools);
    for layer in &conv.layers {
        match layer.part {
            Part::Harness if wanted.tools => {
                let Some((layer, found)) = tools.next() else {
                    continue;
                };
                if !found.outside.is_empty() {
                    violations.push((
                        layer.span,
                        guards::Violation::Outside {
                            tool: layer.name.clone(),
                            paths: found.outside.clone(),
                        },
                    ));
                }
                for change in &found.parents {
                    violations.push((
                        layer.span,
                        guards::Violation::Parent {
                            tool: layer.name.clone(),
                            prefix: prefix.to_string(),
                            change: change.clone(),
                        },
                    ));
                }
                spans.insert(layer.name.clone(), layer.span);
            }
            Part::Extension if extension && !verdict.extension.is_empty() => {
                violations.push((
                    layer.span,
                    guards::Violation::ExtensionUnderPrefix {
                        paths: verdict.extension.clone(),
                    },
                ));
            }
            _ => {}
        }
    }
    for c in verdict.collisions {
        let span = c
            .tools
            .last()
            .and_then(|t| spans.get(t).copied())
            .unwrap_or_default();
        violations.push((
            span,
            guards::Violation::Collision {
                path: c.path,
                tools: c.tools,
            },
        ));
    }
    if violations.is_empty() {
        return Ok(Some(state));
    }
    let mut d = Diagnostics::new(&file.filename);
    for (span, v) in violations {
        d.push(Diagnostic::error(span, "", v.to_string()));
    }
    let mut f = Failure::diags(d);
    f.code = Code::FailedPrecondition;
    f.message = f
        .message
        .replacen("the spec has", "the merge guards found", 1);
    Err(f)
}

/// `image` with the guards' `verdict` among its inputs, adding nothing to it: the diff of a
/// state with itself is empty, and a merge leaves empty inputs out, so the layers and the
/// image are the same. It is there for the build cache: BuildKit exports (`--cache-to …,
/// mode=max`) only the steps the returned result is built from, and a verdict solved on the
/// side would not be exported. With it, a runner fed by that cache finds every layer's facts
/// and the verdict there, and never pulls a cached layer to list it.
fn with_verdict(image: &State, verdict: &State, label: &str) -> State {
    let empty = diff(
        verdict,
        verdict,
        Meta::named(format!(
            "{label}[guards] verdict (adds nothing to the image)"
        )),
    );
    merge(
        &[image.clone(), empty],
        Meta::named(format!("{label}[image] with the merge guards' verdict")),
    )
}

/// What was being built when `s` failed, named after the part its failing step belongs to
/// (BuildKit names the step in the error's `errdefs.Vertex` detail): the foundation, the
/// extension, or a harness layer with what it installs. A step of the guards themselves, or
/// an error that names no step, is the guards'.
fn failing_part(
    s: &tonic::Status,
    conv: &convert::Conversion,
    harness: &[&convert::Layer],
    extension: bool,
) -> String {
    // An error may name several steps (the one that failed and those waiting on it).
    for vertex in failed_vertices(s) {
        let contains = |st: &State| op_digests(st).contains(&vertex);
        if contains(&conv.foundation) {
            return "building the foundation".into();
        }
        if contains(&conv.extension) {
            return if extension {
                "building the extension".into()
            } else {
                "building the image below the harness".into()
            };
        }
        if let Some(l) = harness.iter().find(|l| contains(&l.state)) {
            return format!("building harness layer {} ({})", l.name, l.description);
        }
    }
    "running the merge guards".into()
}

/// The digests of the steps a daemon error names (`errdefs.Vertex` in the status details).
fn failed_vertices(s: &tonic::Status) -> Vec<String> {
    let Ok(st) = rpc::Status::decode(s.details()) else {
        return Vec::new();
    };
    st.details
        .iter()
        .filter(|d| d.type_url.ends_with("errdefs.Vertex+json"))
        .filter_map(|d| {
            serde_json::from_slice::<serde_json::Value>(&d.value)
                .ok()?
                .get("digest")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// The digests of every op `state` is built from.
fn op_digests(state: &State) -> std::collections::BTreeSet<String> {
    use sha2::Digest as _;
    marshal(state, &[])
        .def
        .iter()
        .map(|op| format!("sha256:{}", hex::encode(sha2::Sha256::digest(op))))
        .collect()
}

/// Builds the result for the options in `env`, or the failure to report.
pub async fn build<B: Bridge>(
    b: &mut B,
    env: Vec<(String, String)>,
    own: Option<&OwnImage>,
    spec_out: &mut Option<SpecLocal>,
) -> Result<gw::Result, Failure> {
    let opts = Options::from_env(env).map_err(|m| Failure::new(Code::InvalidArgument, m))?;
    // To the daemon's log: a newer client may send keys this frontend does not know, and
    // failing on them would break builds that need nothing new.
    for key in &opts.unknown {
        tracing::warn!("option `{key}` is not used by this frontend");
    }
    // `--call outline|targets|check`: answered from the spec alone, before anything that
    // a build needs (caps, images, solves).
    if let Some(req) = &opts.request_id {
        return crate::session::subrequest::answer(b, &opts, req, spec_out).await;
    }
    let pong = within(limits::PING, b.ping())
        .await
        .map_err(|s| Failure::gateway("the builder did not answer ping", &s))?;
    let caps = enabled_caps(&pong);
    let merge_diff = caps.get("mergeop") == Some(&true) && caps.get("diffop") == Some(&true);

    let file = read_spec(b, &opts).await?;
    *spec_out = Some(file.clone());
    let source = file.spec_file()?;
    // The one pipeline (crate::spec::load): every platform resolved, every error at once.
    let loaded = guarded(|| load(&source, &opts.load_options()).map_err(Failure::diags))?;
    let errors = loaded.check_errors();
    if errors.has_errors() {
        return Err(Failure::diags(errors));
    }
    tracing::info!(
        "spec {} loaded for {} platform(s), target {}",
        file.filename,
        loaded.resolved.len(),
        opts.target.name()
    );
    // The spec checks of `--call check` are shown during builds too, unless the check
    // directive skips them; with `error=true` a warning stops the build here, before
    // anything is built.
    for d in &loaded.warnings {
        let short = match d.rule {
            Some(rule) => format!("{rule}: {}", d.message),
            None => d.message.clone(),
        };
        warn(b, &file, &short, d.span, d.rule.map(crate::spec::lint::url)).await;
    }
    if let Some(message) = loaded.directive.violation(&loaded.warnings) {
        let mut d = Diagnostics::new(&file.filename);
        d.push(directive_error(&loaded.directive, &message));
        return Err(Failure::diags(d));
    }

    let platforms = opts.target_platforms();
    let multi = platforms.len() > 1 || opts.multi_platform;
    let build_platform = opts.build_platform();
    let mut image_cache = BTreeMap::new();
    let mut context_cache = BTreeMap::new();
    let mut per_platform: Vec<Built> = Vec::new();
    let mut cross: Option<crate::graph::cross::CrossBase> = None;
    for (index, (platform, resolved)) in platforms.iter().zip(&loaded.resolved).enumerate() {
        // Conversion warnings are shown once, for the first platform.
        let first = index == 0;
        // npm tools for another platform are installed on the build machine's foundation
        // (crate::graph::cross): converted once, for the first platform that needs it.
        let cross_installs = crate::graph::cross::applies(resolved, &opts);
        if cross.is_none() && cross_installs {
            let build = spec::resolve(
                &loaded.parsed,
                &file.filename,
                &opts.build_args,
                &build_platform,
                &build_platform,
            )
            .map_err(Failure::diags)?;
            let fopts = crate::graph::cross::CrossBase::options(&opts);
            let images = resolve_images(b, &fopts, &build, &mut image_cache).await?;
            let files = read_context(b, &fopts, &build.spec, &mut context_cache).await?;
            let input = convert::Input {
                spec: &build,
                options: &fopts,
                caps: Caps { merge_diff },
                images: &images,
                context: context::source(&build.spec, &fopts, &files),
                context_files: &files,
                dockerfile_extension: None,
                show_platform: platforms.len() > 1,
                cross: None,
            };
            let conv = guarded(|| convert::convert(&input).map_err(convert_failure))?;
            cross = Some(conv.into_cross_base(build_platform.clone()));
        }
        let images = resolve_images(b, &opts, resolved, &mut image_cache).await?;
        let files = read_context(b, &opts, &resolved.spec, &mut context_cache).await?;
        let mut input = convert::Input {
            spec: resolved,
            options: &opts,
            caps: Caps { merge_diff },
            images: &images,
            context: context::source(&resolved.spec, &opts, &files),
            context_files: &files,
            dockerfile_extension: None,
            show_platform: platforms.len() > 1,
            cross: cross.clone().filter(|_| cross_installs),
        };
        // The nested Dockerfile build runs only for a target that holds the extension.
        if let Some(Extension::Dockerfile { path, .. }) = &resolved.spec.extension
            && opts.target.def().holds.extension
        {
            input.dockerfile_extension =
                Some(dockerfile_extension(b, &opts, &file, &input, path).await?);
        }
        let conv = guarded(|| convert::convert(&input).map_err(convert_failure))?;
        tracing::info!(
            "{platform}: {} image(s) resolved, {} layer(s) converted{}",
            images.len(),
            conv.layers.len(),
            if input.cross.is_some() {
                ", npm tools cross-installed"
            } else {
                ""
            }
        );
        let label = if platforms.len() > 1 {
            format!("[{platform}] ")
        } else {
            String::new()
        };
        let mut verdict = None;
        if opts.merge_mode == MergeMode::Merge && opts.target.def().guards.any() {
            let run = GuardRun {
                conv: &conv,
                prefix: &resolved.spec.harness.prefix.value,
                label: label.clone(),
            };
            verdict = check_guards(b, &opts, &file, own, run).await?;
            tracing::info!("{platform}: merge guards passed");
        }
        if first {
            for w in &conv.warnings {
                warn(b, &file, w, None, None).await;
            }
        }
        let state = match &verdict {
            Some(v) => with_verdict(&conv.state, v, &label),
            None => conv.state.clone(),
        };
        let def = marshal(&state, &[file.source_file()]);
        let resp = b
            .solve(solve_request(def, &opts))
            .await
            .map_err(|s| Failure::gateway("solve failed", &s))?;
        let id = ref_id(&resp).unwrap_or_default();
        // `--sbom`: the frontend's own document, unless the user named a scanner image
        // (BuildKit then runs it, as for any frontend without an SBOM of its own).
        let sbom = match (&opts.sbom, own) {
            (crate::graph::options::Sbom::Own, Some(own)) => {
                Some(sbom::attestation(b, &opts, own, &conv.sbom, platform, &label).await?)
            }
            (crate::graph::options::Sbom::Own, None) => {
                if first {
                    warn(b, &file, "--sbom: the builder did not give the frontend its own image, so BuildKit's scanner makes the SBOM", None, None).await;
                }
                None
            }
            _ => None,
        };
        per_platform.push(Built {
            platform: platform.clone(),
            id,
            config: conv.config.to_bytes(),
            base_config: conv
                .base_config
                .as_ref()
                .and_then(|c| serde_json::to_vec(c).ok()),
            sbom,
        });
    }

    let mut metadata = BTreeMap::new();
    let epoch = opts.source_date_epoch();
    // Attestations are keyed by platform, for one image as for several (BuildKit keys a
    // single image by the platform of its config).
    let attestations: BTreeMap<String, gw::Attestations> = per_platform
        .iter_mut()
        .filter_map(|b| {
            b.sbom.take().map(|a| {
                (
                    b.platform.to_string(),
                    gw::Attestations {
                        attestation: vec![a],
                    },
                )
            })
        })
        .collect();
    let result = if !multi {
        let built = per_platform.remove(0);
        metadata.insert("containerimage.config".to_string(), built.config);
        if let Some(base) = built.base_config {
            metadata.insert("containerimage.base.config".to_string(), base);
        }
        if let Some(e) = epoch {
            metadata.insert("source.date.epoch".into(), e.to_string().into_bytes());
        }
        gw::result::Result::Ref(gw::Ref {
            id: built.id,
            def: None,
        })
    } else {
        let mut refs = BTreeMap::new();
        let mut list = Vec::new();
        for built in per_platform {
            let p = built.platform;
            let key = p.to_string();
            metadata.insert(format!("containerimage.config/{key}"), built.config);
            if let Some(base) = built.base_config {
                metadata.insert(format!("containerimage.base.config/{key}"), base);
            }
            if let Some(e) = epoch {
                metadata.insert(
                    format!("source.date.epoch/{key}"),
                    e.to_string().into_bytes(),
                );
            }
            list.push(json!({"ID": key, "Platform": p.to_json()}));
            refs.insert(
                key,
                gw::Ref {
                    id: built.id,
                    def: None,
                },
            );
        }
        metadata.insert(
            "refs.platforms".into(),
            serde_json::to_vec(&json!({ "Platforms": list })).unwrap_or_default(),
        );
        gw::result::Result::Refs(gw::RefMap { refs })
    };
    Ok(gw::Result {
        metadata,
        result: Some(result),
        attestations,
    })
}

/// One platform's solved image, for the result.
struct Built {
    platform: Platform,
    /// The ref of the solved image.
    id: String,
    /// `containerimage.config`.
    config: Vec<u8>,
    /// `containerimage.base.config`, when the image starts from a base image.
    base_config: Option<Vec<u8>>,
    /// The SBOM attestation (`--sbom`), when the frontend makes it.
    sbom: Option<gw::Attestation>,
}

/// Runs the frontend against `b` and calls `Return` exactly once.
///
/// Errors: only when `Return` itself could not be delivered (the process should then
/// exit non-zero; there is nobody left to tell).
pub async fn run<B: Bridge>(b: &mut B, env: Vec<(String, String)>) -> Result<(), String> {
    let own = OwnImage::load().unwrap_or_else(|e| {
        tracing::warn!("{e}");
        None
    });
    run_as(b, env, own.as_ref()).await
}

/// [`run`] with the frontend's own image given (tests give a stand-in; BuildKit gives the
/// real one in [`session_guards::METADATA`]).
///
/// Errors: as [`run`].
pub async fn run_as<B: Bridge>(
    b: &mut B,
    env: Vec<(String, String)>,
    own: Option<&OwnImage>,
) -> Result<(), String> {
    let mut spec = None;
    // A panic between two gateway calls, or inside one, still ends in the single `Return`
    // instead of a dead frontend that leaves buildx with a bare "EOF".
    let outcome = match AssertUnwindSafe(build(b, env, own, &mut spec))
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(p) => Err(panic_failure(p.as_ref())),
    };
    let req = match outcome {
        Ok(result) => gw::ReturnRequest {
            result: Some(result),
            error: None,
        },
        Err(f) => {
            tracing::error!("{}", f.message);
            gw::ReturnRequest {
                result: None,
                error: Some(failure_status(&f, spec.as_ref())),
            }
        }
    };
    within(limits::RETURN, b.return_result(req))
        .await
        .map_err(|s| format!("Return failed: {}", s.message()))
}
