//! The frontend's life: options → ping → spec → graph → solve → `Return`, exactly once.
//!
//! Every failure, whether a bad spec, a builder without MergeOp or a daemon error, ends as
//! an error in `Return`, so the user sees it in `docker buildx build` output, with spec
//! positions attached as BuildKit source details where we have them.

use crate::graph::context::{self};
use crate::graph::convert::{self, Caps};
use crate::graph::image_config::ImageConfig;
use crate::graph::names::ProgressNames;
use crate::graph::options::MergeMode;
use crate::graph::options::Options;
use crate::session::failure::{Failure, convert_failure, guarded, panic_failure};
use crate::session::gateway::{Bridge, limits, within};
use crate::session::guards::OwnImage;
use crate::session::guards::{GuardRun, check_guards, with_verdict};
use crate::session::inputs::{dockerfile_extension, read_context, resolve_images};
use crate::session::sbom;
use crate::session::source::{SpecLocal, read_spec, ref_id, solve_request};
use crate::spec::diag::Diagnostics;
use crate::spec::load::{directive_error, load};
use crate::spec::platform::Platform;
use crate::spec::yaml::Span;
use crate::spec::{self, Extension};
use aishell_proto::gateway as gw;
use aishell_proto::{pb, protobuf, rpc};
use futures_util::FutureExt as _;
use llb_graph::{MountKey, marshal};
use serde_json::json;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use tonic::Code;

/// Turns a failure into the status sent with `Return`.
pub fn failure_status(f: &Failure, spec: Option<&SpecLocal>) -> rpc::Status {
    let mut details = Vec::new();
    if let (Some(d), Some(file)) = (f.diagnostics(), spec)
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
        message: f.message(),
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

async fn warn<B: Bridge>(
    b: &B,
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
            digest: digest.to_string(),
            level: 1,
            short: message.as_bytes().to_vec(),
            url: url.unwrap_or_default(),
            info,
            ranges,
            ..Default::default()
        })
        .await;
}

/// Builds the result for the options in `env`, or the failure to report.
pub async fn build<B: Bridge>(
    b: &B,
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
    // The steps that read whole layers key them by graph where the builder can (see
    // `OwnImage::layer_key`).
    let own = own.map(|o| OwnImage {
        layer_key: if caps.get(MountKey::DEFINITION_CAP) == Some(&true) {
            MountKey::Definition
        } else {
            MountKey::Content
        },
        ..o.clone()
    });
    let own = own.as_ref();

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
    let mut caches = Caches::default();
    let mut prepared: Vec<Prepared<'_>> = Vec::new();
    let mut cross: Option<crate::graph::cross::CrossBase> = None;
    let show_platform = platforms.len() > 1;
    // One platform after the other: what the conversions need from the builder (image
    // configs, context files, the extension Dockerfile's graph), which is quick and shared
    // through the caches. The slow part, building the layers the merge guards check and
    // the image, runs for all platforms at once below.
    for (index, (platform, resolved)) in platforms.iter().zip(&loaded.resolved).enumerate() {
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
            let how = Converting {
                caps: Caps { merge_diff },
                show_platform,
                cross: None,
            };
            let conv = convert_one(b, &fopts, &file, &build, how, &mut caches).await?;
            cross = Some(conv.into_cross_base(build_platform.clone()));
        }
        let how = Converting {
            caps: Caps { merge_diff },
            show_platform,
            cross: cross.clone().filter(|_| cross_installs),
        };
        let conv = convert_one(b, &opts, &file, resolved, how, &mut caches).await?;
        // Conversion warnings are shown once, for the first platform.
        if index == 0 {
            for w in &conv.warnings {
                warn(b, &file, w, None, None).await;
            }
        }
        prepared.push(Prepared {
            platform,
            prefix: &resolved.spec.harness.prefix.value,
            conv,
            first: index == 0,
            // Several platforms' steps are in one progress display: their names show which.
            shown: show_platform.then_some(platform),
        });
    }
    // All platforms at once, as BuildKit's Dockerfile frontend builds them: each waits for
    // its own merge guards, which build that platform's layers. The first failure ends the
    // build (the other platforms' calls are dropped with it), as it does one at a time.
    let finishing = prepared
        .into_iter()
        .map(|p| finish(b, &opts, &file, own, p));
    let mut per_platform: Vec<Built> = futures_util::future::try_join_all(finishing).await?;

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

/// What earlier conversions of one build read from the builder, for the next ones.
#[derive(Default)]
struct Caches {
    images: BTreeMap<(String, String), convert::ImageInfo>,
    context: BTreeMap<Vec<String>, crate::graph::context::ContextFiles>,
}

/// How one platform is converted, beside its spec and options.
struct Converting {
    caps: Caps,
    /// Prefix progress names with the platform (several platforms).
    show_platform: bool,
    /// The build machine's foundation, when its npm tools are cross-installed.
    cross: Option<crate::graph::cross::CrossBase>,
}

/// Converts `resolved` with `opts`: its images and context files from the builder (or the
/// caches), the extension Dockerfile built when the target holds the extension, then the
/// conversion itself. Serves each platform and the cross-install base (whose target, the
/// foundation, holds no extension).
async fn convert_one<B: Bridge>(
    b: &B,
    opts: &Options,
    file: &SpecLocal,
    resolved: &spec::ResolvedSpec,
    how: Converting,
    caches: &mut Caches,
) -> Result<convert::Conversion, Failure> {
    let images = resolve_images(b, opts, resolved, &mut caches.images).await?;
    let files = read_context(b, opts, &resolved.spec, &mut caches.context).await?;
    let mut names = ProgressNames::default();
    let context = context::source(&resolved.spec, opts, &files, &mut names);
    let mut input = convert::Input {
        spec: resolved,
        options: opts,
        caps: how.caps,
        images: &images,
        context,
        context_files: &files,
        dockerfile_extension: None,
        names,
        show_platform: how.show_platform,
        cross: how.cross,
    };
    // The nested Dockerfile build runs only for a target that holds the extension.
    if let Some(Extension::Dockerfile { path, .. }) = &resolved.spec.extension
        && opts.target.def().holds.extension
    {
        input.dockerfile_extension = Some(dockerfile_extension(b, opts, file, &input, path).await?);
    }
    let conv =
        guarded(|| convert::convert(&input).map_err(|e| convert_failure(&file.filename, e)))?;
    tracing::info!(
        "{}: {} image(s) resolved, {} layer(s) converted{}",
        resolved.platform,
        images.len(),
        conv.layers.len(),
        if input.cross.is_some() {
            ", npm tools cross-installed"
        } else {
            ""
        }
    );
    Ok(conv)
}

/// One platform's converted graph, ready for its guards and its solve.
struct Prepared<'a> {
    platform: &'a Platform,
    /// The harness prefix (`/tools`), for the guards.
    prefix: &'a str,
    conv: convert::Conversion,
    /// The first platform: one-time warnings are shown for it only.
    first: bool,
    /// The platform named in progress names (several platforms only).
    shown: Option<&'a Platform>,
}

/// Checks one platform's merge guards, solves its image and makes its SBOM.
async fn finish<B: Bridge>(
    b: &B,
    opts: &Options,
    file: &SpecLocal,
    own: Option<&OwnImage>,
    p: Prepared<'_>,
) -> Result<Built, Failure> {
    let Prepared {
        platform,
        prefix,
        conv,
        first,
        shown,
    } = p;
    let mut verdict = None;
    if opts.merge_mode == MergeMode::Merge && opts.target.def().guards.any() {
        let run = GuardRun {
            conv: &conv,
            prefix,
            shown,
        };
        verdict = check_guards(b, opts, file, own, run).await?;
        tracing::info!("{platform}: merge guards passed");
    }
    let state = match &verdict {
        Some(v) => with_verdict(&conv.state, v, shown),
        None => conv.state.clone(),
    };
    let def = marshal(&state, &[file.source_file()]);
    let resp = b
        .solve(solve_request(def, opts))
        .await
        .map_err(|s| Failure::gateway("solve failed", &s))?;
    let id = ref_id(&resp).unwrap_or_default();
    // `--sbom`: the frontend's own document, unless the user named a scanner image
    // (BuildKit then runs it, as for any frontend without an SBOM of its own).
    let sbom = match (&opts.sbom, own) {
        (crate::graph::options::Sbom::Own, Some(own)) => {
            Some(sbom::attestation(b, opts, own, &conv.sbom, platform, shown).await?)
        }
        (crate::graph::options::Sbom::Own, None) => {
            if first {
                warn(b, file, "--sbom: the builder did not give the frontend its own image, so BuildKit's scanner makes the SBOM", None, None).await;
            }
            None
        }
        _ => None,
    };
    Ok(Built {
        platform: platform.clone(),
        id,
        config: conv.config.to_bytes(),
        base_config: conv.base_config.as_ref().map(ImageConfig::to_bytes),
        sbom,
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
pub async fn run<B: Bridge>(b: &B, env: Vec<(String, String)>) -> Result<(), String> {
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
    b: &B,
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
            tracing::error!("{}", f.message());
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
