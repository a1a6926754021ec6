//! The spec file as the session reads it: through the client's `dockerfile` local, kept
//! with its bytes and the definition that loaded it, for LLB source maps and the error
//! excerpts BuildKit prints.

use crate::graph::names::{ProgressName, Tag};
use crate::graph::options::Options;
use crate::session::failure::Failure;
use crate::session::gateway::Bridge;
use crate::spec::yaml::Span;
use aishell_proto::gateway as gw;
use aishell_proto::{pb, protobuf};
use base64::Engine as _;
use llb_graph::{Source, SourceFile, marshal};
use serde_json::json;
use tonic::Code;

/// The spec as the client's `dockerfile` local gave it: its bytes, which may not be text,
/// and the LLB that loaded it, for source maps and error excerpts. [`SpecLocal::spec_file`]
/// makes the one spec source type ([`crate::spec::SpecFile`]) of it.
#[derive(Debug, Clone, Default)]
pub struct SpecLocal {
    /// Name as given with `-f` (relative to the spec's folder).
    pub filename: String,
    /// The text.
    pub data: Vec<u8>,
    /// The definition that loaded it (the `dockerfile` local).
    pub definition: Option<pb::Definition>,
    /// Digest of that local source op (warnings attach to it).
    pub digest: Option<llb_graph::Digest>,
}

impl SpecLocal {
    /// The spec source the pipeline ([`crate::spec::load`]) reads.
    ///
    /// Errors: the bytes are not UTF-8 text.
    pub fn spec_file(&self) -> Result<crate::spec::SpecFile, Failure> {
        let text = String::from_utf8(self.data.clone()).map_err(|_| {
            Failure::new(
                Code::InvalidArgument,
                format!("{} is not UTF-8 text", self.filename),
            )
        })?;
        Ok(crate::spec::SpecFile::from_text(&self.filename, &text))
    }

    pub(crate) fn source_file(&self) -> SourceFile {
        SourceFile {
            filename: self.filename.clone(),
            data: self.data.clone(),
            language: "yaml".into(),
            definition: self.definition.clone(),
        }
    }

    /// BuildKit's `errdefs.Source` detail, JSON-encoded as Go does (bytes as base64,
    /// zero values omitted), pointing at `span`.
    pub(crate) fn source_detail(&self, span: Span) -> protobuf::Any {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut info = serde_json::Map::new();
        info.insert("filename".into(), json!(self.filename));
        info.insert("data".into(), json!(b64.encode(&self.data)));
        info.insert("language".into(), json!("yaml"));
        let line = span.start.line.max(1);
        let end = span.end.line.max(line);
        let body = json!({
            "info": info,
            "ranges": [{"start": {"line": line}, "end": {"line": end}}],
        });
        protobuf::Any {
            type_url: "github.com/moby/buildkit/errdefs.Source+json".into(),
            value: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }
}

/// Reads the spec through the client's `dockerfile` local.
pub(crate) async fn read_spec<B: Bridge>(b: &B, opts: &Options) -> Result<SpecLocal, Failure> {
    let session = opts
        .dockerfile_session_id
        .clone()
        .unwrap_or_else(|| opts.session_id.clone());
    let local = Source::local(&opts.dockerfile_key)
        .attr("local.session", session)
        .cap("source.local.sessionid")
        .attr("local.sharedkeyhint", opts.dockerfile_key.clone())
        .cap("source.local.sharedkeyhint")
        .attr(
            "local.followpaths",
            serde_json::to_string(&[&opts.filename]).unwrap_or_default(),
        )
        .cap("source.local.followpaths")
        .attr("local.differ", "none")
        .build(
            ProgressName::new(
                Tag::Internal,
                format!("load build definition from {}", opts.filename),
            )
            .meta(),
        );
    let def = marshal(&local, &[]);
    let resp = b
        .solve(solve_request(def.clone(), opts))
        .await
        .map_err(|s| Failure::gateway("cannot load the spec", &s))?;
    let id = ref_id(&resp).ok_or_else(|| {
        Failure::new(
            Code::Internal,
            "the builder returned no ref for the spec source",
        )
    })?;
    let data = b
        .read_file(gw::ReadFileRequest {
            r#ref: id,
            file_path: opts.filename.clone(),
            ..Default::default()
        })
        .await
        .map_err(|s| {
            Failure::new(
                Code::InvalidArgument,
                format!(
                    "cannot read the spec file {}: {}",
                    opts.filename,
                    s.message()
                ),
            )
        })?;
    Ok(SpecLocal {
        filename: opts.filename.clone(),
        data,
        definition: Some(def),
        digest: local.digest().cloned(),
    })
}

/// `--cache-from` as solve entries: the daemon does not apply it to a frontend's own
/// solves, so every solve carries it.
pub(crate) fn cache_imports(opts: &Options) -> Vec<gw::CacheOptionsEntry> {
    opts.cache_imports
        .iter()
        .map(|(t, a)| gw::CacheOptionsEntry {
            r#type: t.clone(),
            attrs: a.clone(),
        })
        .collect()
}

pub(crate) fn solve_request(def: pb::Definition, opts: &Options) -> gw::SolveRequest {
    gw::SolveRequest {
        definition: Some(def),
        allow_result_return: true,
        allow_result_array_ref: true,
        cache_imports: cache_imports(opts),
        ..Default::default()
    }
}

pub(crate) fn ref_id(resp: &gw::SolveResponse) -> Option<String> {
    match resp.result.as_ref()?.result.as_ref()? {
        gw::result::Result::Ref(r) => Some(r.id.clone()),
        gw::result::Result::RefDeprecated(id) => Some(id.clone()),
        _ => None,
    }
}
