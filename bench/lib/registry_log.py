"""Bytes pulled from and pushed to a registry, read from the registry's own log.

Debian's docker-registry (distribution 2.8, `log.formatter: text`) writes one logrus line per
request when the response is complete:

    time="…" level=info msg="response completed" … http.request.method=GET
    http.request.uri="/v2/<repo>/blobs/sha256:<hex>" … http.response.status=200
    http.response.written=2422369

(`msg="response completed with error"` for 4xx/5xx), plus an access-log line in the combined
format, which is ignored here. A GET's `http.response.written` is what the client pulled.
A push is `POST /v2/<repo>/blobs/uploads/` (or a cross-repository mount), optional `PATCH`
chunks, and a final `PUT …/blobs/uploads/<id>?digest=sha256:…` that completes the blob; then
`PUT /v2/<repo>/manifests/<reference>`. This registry logs no request length for those (BuildKit
streams the bodies), so a completed blob counts with its stored size, which the caller looks up
by digest; when a line does carry `http.request.contentlength`, that length is used.

Everything here is a pure function of the lines (and of the size look-ups passed in), so it is
tested without a registry: `python3 -m unittest discover -s bench`.
"""

import re
import urllib.parse
from dataclasses import dataclass, field

FIELD = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)')
URI = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>blobs/uploads|blobs|manifests|tags)"
                 r"(?:/(?P<ref>[^?]*))?(?:\?(?P<query>.*))?$")


@dataclass
class Request:
    """One completed request of the log."""
    method: str
    uri: str
    status: int
    written: int  # bytes of the response body
    repo: str = ""  # "" when the URI is not a /v2/<repo>/… one (e.g. GET /v2/)
    kind: str = ""  # blobs, blobs/uploads, manifests, tags
    ref: str = ""  # digest, tag or upload id (what follows the kind)
    digest: str = ""  # the digest a blob PUT completes (query `digest=`)
    mount: str = ""  # the digest a POST mounts from another repository (query `mount=`)
    length: int = None  # http.request.contentlength, when logged
    agent: str = ""


def fields(line):
    """The key=value fields of a logrus text line (quotes removed, escapes kept simple)."""
    out = {}
    for key, value in FIELD.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    return out


def parse(lines):
    """The completed requests of these log lines, in order. Other lines (the access log,
    start-up messages, partial lines) are skipped."""
    out = []
    for line in lines:
        if 'msg="response completed' not in line:
            continue
        f = fields(line)
        method, uri = f.get("http.request.method"), f.get("http.request.uri")
        if not method or uri is None:
            continue
        try:
            status = int(f.get("http.response.status", "0"))
            written = int(f.get("http.response.written", "0"))
        except ValueError:
            continue
        length = f.get("http.request.contentlength")
        r = Request(method, uri, status, written,
                    length=int(length) if length and length.isdigit() else None,
                    agent=f.get("http.request.useragent", ""))
        m = URI.match(uri)
        if m:
            r.repo, r.kind, r.ref = m.group("repo"), m.group("kind"), m.group("ref") or ""
            query = urllib.parse.parse_qs(m.group("query") or "")
            r.digest = query.get("digest", [""])[0]
            r.mount = query.get("mount", [""])[0]
        out.append(r)
    return out


@dataclass
class Traffic:
    """What the requests moved. Sizes in bytes."""
    pulled: int = 0  # GET bodies with a 2xx status: blobs and manifests
    pulled_blobs: dict = field(default_factory=dict)  # digest -> bytes (summed if pulled twice)
    pulled_by_repo: dict = field(default_factory=dict)  # repo -> bytes
    pushed: int = 0  # completed blobs and manifests whose size is known
    pushed_blobs: dict = field(default_factory=dict)  # digest -> bytes (None: size unknown)
    pushed_manifests: list = field(default_factory=list)  # (repo, reference, bytes or None)
    mounted: list = field(default_factory=list)  # digests mounted from another repository
    requests: int = 0

    @property
    def pushed_unknown(self):
        """Blobs and manifests pushed whose size neither the log nor the look-up gave."""
        return (sum(1 for v in self.pushed_blobs.values() if v is None)
                + sum(1 for _, _, v in self.pushed_manifests if v is None))


def ok(status):
    return 200 <= status < 300


def traffic(requests, blob_size=None, manifest_size=None):
    """Sums what `requests` (from parse()) moved.

    blob_size(digest) -> bytes or None: the size of a completed upload when the log has no
    length for it (the registry's stored blob). manifest_size(repo, reference) -> bytes or None:
    likewise for a pushed manifest."""
    t = Traffic(requests=len(requests))
    upload_bytes = {}  # upload id -> content length logged for its PATCH/PUT requests
    for r in requests:
        if r.method == "GET" and ok(r.status):
            t.pulled += r.written
            t.pulled_by_repo[r.repo] = t.pulled_by_repo.get(r.repo, 0) + r.written
            if r.kind == "blobs":
                t.pulled_blobs[r.ref] = t.pulled_blobs.get(r.ref, 0) + r.written
        elif r.kind == "blobs/uploads" and r.method in ("PATCH", "PUT") and ok(r.status):
            upload_bytes[r.ref] = upload_bytes.get(r.ref, 0) + (r.length or 0)
            if r.method == "PUT" and r.digest:
                size = upload_bytes.pop(r.ref) or None
                if size is None and blob_size:
                    size = blob_size(r.digest)
                t.pushed_blobs[r.digest] = size
        elif r.kind == "blobs/uploads" and r.method == "POST" and r.mount and r.status == 201:
            t.mounted.append(r.mount)
        elif r.kind == "manifests" and r.method == "PUT" and ok(r.status):
            size = r.length
            if size is None and manifest_size:
                size = manifest_size(r.repo, r.ref)
            t.pushed_manifests.append((r.repo, r.ref, size))
    t.pushed = (sum(v for v in t.pushed_blobs.values() if v)
                + sum(v for _, _, v in t.pushed_manifests if v))
    return t


def classify(pulled_blobs, groups):
    """Splits pulled blob bytes by groups of digests: {name: set of digests} -> {name: bytes},
    with "other" for blobs in no group. A digest in several groups counts in the first."""
    out = {name: 0 for name in groups}
    out["other"] = 0
    for digest, size in pulled_blobs.items():
        name = next((n for n, ds in groups.items() if digest in ds), "other")
        out[name] += size
    return out
