//! The SBOM's driver (`--sbom=true`): builds each part's inventory step, reads the
//! inventories through the gateway, and returns the SPDX document as an attestation of the
//! platform's image. See [`crate::sbom`] for what it contains and why it is built per part.

use crate::graph::names::{ProgressName, Tag};
use crate::graph::options::Options;
use crate::sbom::Parts;
use crate::sbom::scan::INVENTORY_FILE;
use crate::session::failure::Failure;
use crate::session::gateway::Bridge;
use crate::session::guards::OwnImage;
use crate::session::source::{ref_id, solve_request};
use crate::spec::platform::Platform;
use tonic::Code;

pub mod graph;

use crate::sbom::scan::{Inventory, ScanRequest};
use crate::sbom::spdx::{self, Contents, NpmTool};
use aishell_proto::gateway as gw;
use graph::DOCUMENT;
use llb_graph::{State, marshal};

/// The SBOM of one platform's image, as the attestation BuildKit attaches to it. `shown` is
/// the platform in a build of several platforms (the steps' progress names show it).
///
/// Errors: a part's inventory step failed or its file cannot be read.
pub(super) async fn attestation<B: Bridge>(
    b: &B,
    opts: &Options,
    own: &OwnImage,
    parts: &Parts,
    platform: &Platform,
    shown: Option<&Platform>,
) -> Result<gw::Attestation, Failure> {
    let meta = |what: &str| {
        ProgressName::new(Tag::Sbom, what)
            .on(shown)
            .meta()
            .no_cache(opts.no_cache.all())
    };
    let mut steps: Vec<State> = Vec::new();
    if let Some(f) = &parts.foundation {
        steps.push(graph::inventory(
            own,
            f,
            &ScanRequest::System,
            meta("read the foundation's packages"),
        ));
    }
    if let Some(e) = &parts.extension {
        steps.push(graph::inventory(
            own,
            e,
            &ScanRequest::System,
            meta("read the extension's packages"),
        ));
    }
    let npm_req = ScanRequest::Npm {
        dir: parts.npm_dir.clone(),
    };
    for (name, version, st) in &parts.npm {
        steps.push(graph::inventory(
            own,
            st,
            &npm_req,
            meta(&format!("read npm {name}@{version}")),
        ));
    }

    let collected = if steps.is_empty() {
        State::scratch()
    } else {
        graph::collect(&steps, meta("the parts' inventories"))
    };
    let mut inventories: Vec<Inventory> = Vec::new();
    if !steps.is_empty() {
        let resp = b
            .solve(solve_request(marshal(&collected, &[]), opts))
            .await
            .map_err(|s| Failure::gateway("the SBOM's inventory steps failed", &s))?;
        let id = ref_id(&resp).unwrap_or_default();
        for i in 0..steps.len() {
            let path = format!("/{i}/{INVENTORY_FILE}");
            let bytes = b
                .read_file(gw::ReadFileRequest {
                    r#ref: id.clone(),
                    file_path: path.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|s| {
                    Failure::gateway(&format!("cannot read the SBOM inventory {path}"), &s)
                })?;
            let inv = serde_json::from_slice(&bytes).map_err(|e| {
                Failure::new(
                    Code::Internal,
                    format!("the SBOM inventory {path} cannot be read: {e}"),
                )
            })?;
            inventories.push(inv);
        }
    }

    let mut invs = inventories.into_iter();
    let foundation = parts.foundation.as_ref().and_then(|_| invs.next());
    let extension = parts.extension.as_ref().and_then(|_| invs.next());
    let npm = parts
        .npm
        .iter()
        .zip(invs)
        .map(|((name, version, _), inventory)| NpmTool {
            name: name.clone(),
            version: version.clone(),
            inventory,
        })
        .collect();
    let created = crate::graph::image_config::rfc3339(opts.source_date_epoch().unwrap_or_else(now));
    let doc = spdx::document(&Contents {
        subject: opts.target.name().into(),
        platform: platform.to_string(),
        created,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        foundation,
        extension,
        npm,
        binaries: parts.binaries.clone(),
    });
    let bytes = serde_json::to_vec_pretty(&doc)
        .map_err(|e| Failure::new(Code::Internal, format!("the SBOM cannot be written: {e}")))?;
    // On scratch when no part needed a step (a harness of binaries only).
    let st = graph::document(&collected, bytes, meta("SPDX document"));
    let resp = b
        .solve(solve_request(marshal(&st, &[]), opts))
        .await
        .map_err(|s| Failure::gateway("the SBOM document could not be written", &s))?;
    Ok(gw::Attestation {
        kind: gw::AttestationKind::InToto as i32,
        // What BuildKit's own SBOM attestations carry: the exporter names the reason.
        metadata: [("reason".to_string(), b"sbom".to_vec())]
            .into_iter()
            .collect(),
        r#ref: Some(gw::Ref {
            id: ref_id(&resp).unwrap_or_default(),
            def: None,
        }),
        path: DOCUMENT.into(),
        in_toto_predicate_type: spdx::PREDICATE_TYPE.into(),
        in_toto_subjects: vec![gw::InTotoSubject {
            kind: gw::InTotoSubjectKind::Self_ as i32,
            ..Default::default()
        }],
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
