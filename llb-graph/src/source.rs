//! Source ops: images, client directories, HTTP downloads.

use crate::pb;
use crate::state::{Meta, State};
use std::collections::BTreeMap;

/// A source op under construction.
///
/// ```
/// use llb_graph::{Meta, Source};
/// let f = Source::http("https://example.invalid/tool.tar.gz")
///     .attr("http.checksum", "sha256:00")
///     .build(Meta::named("[harness] download tool"));
/// assert!(f.digest().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Source {
    identifier: String,
    attrs: BTreeMap<String, String>,
    platform: Option<pb::Platform>,
    caps: Vec<&'static str>,
}

impl Source {
    /// `docker-image://<reference>`. The reference should be normalised
    /// (`docker.io/library/busybox:latest`), so equal images give equal digests.
    pub fn image(reference: &str) -> Self {
        Source {
            identifier: format!("docker-image://{reference}"),
            attrs: BTreeMap::new(),
            platform: None,
            caps: vec!["source.image"],
        }
    }

    /// `local://<name>`: a directory the client sends (`context`, `dockerfile`).
    pub fn local(name: &str) -> Self {
        Source {
            identifier: format!("local://{name}"),
            attrs: BTreeMap::new(),
            platform: None,
            caps: vec!["source.local"],
        }
    }

    /// `oci-layout://<reference>`: an image from an OCI layout the client's session holds
    /// (`--build-context name=oci-layout://…`); `reference` is `<name>@<digest>`, and the
    /// layout is found by the session and store attributes.
    ///
    /// ```
    /// use llb_graph::{Meta, Source};
    /// let s = Source::oci_layout("docker.io/library/debian:13@sha256:00", "session", "store")
    ///     .build(Meta::default());
    /// assert!(s.digest().is_some());
    /// ```
    pub fn oci_layout(reference: &str, session: &str, store: &str) -> Self {
        Source {
            identifier: format!("oci-layout://{reference}"),
            attrs: BTreeMap::new(),
            platform: None,
            caps: vec!["source.ocilayout"],
        }
        .attr("oci.session", session)
        .attr("oci.store", store)
    }

    /// An HTTP(S) download: a state with one file at its root.
    pub fn http(url: &str) -> Self {
        Source {
            identifier: url.to_string(),
            attrs: BTreeMap::new(),
            platform: None,
            caps: vec!["source.http"],
        }
    }

    /// Sets an attribute (kept sorted by key on the wire).
    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Self {
        self.attrs.insert(key.to_string(), value.into());
        self
    }

    /// Declares a capability this source needs (checked by the daemon).
    pub fn cap(mut self, cap: &'static str) -> Self {
        if !self.caps.contains(&cap) {
            self.caps.push(cap);
        }
        self
    }

    /// Selects the platform of a multi-platform image.
    pub fn platform(mut self, p: pb::Platform) -> Self {
        self.platform = Some(p);
        self
    }

    /// Makes the vertex.
    pub fn build(self, meta: Meta) -> State {
        let op = pb::Op {
            op: Some(pb::op::Op::Source(pb::SourceOp {
                identifier: self.identifier,
                attrs: self.attrs,
            })),
            platform: self.platform,
            ..Default::default()
        };
        State::from_op(op, Vec::new(), meta, self.caps, 0)
    }
}
