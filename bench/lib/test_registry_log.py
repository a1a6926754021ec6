"""Tests of registry_log: python3 -m unittest discover -s bench"""

import unittest

from lib import registry_log as rl

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def line(method, uri, status=200, written=0, msg="response completed", extra=""):
    # the shape of Debian's docker-registry 2.8 lines (log.formatter: text)
    level = "info" if status < 400 else "error"
    return (f'time="2026-12-03T11:58:31.18Z" level={level} msg="{msg}" {extra}'
            'go.version=go1.19.8 http.request.host="127.0.0.1:5020" '
            'http.request.id=dc747abd-3177-49a7-9d15-76dfb1308e03 '
            f'http.request.method={method} http.request.remoteaddr="127.0.0.1:43812" '
            f'http.request.uri="{uri}" http.request.useragent=buildkit/v0.32 '
            'http.response.contenttype=application/octet-stream '
            f'http.response.duration=2.46ms http.response.status={status} '
            f'http.response.written={written}')


def access(method, uri, status, size):
    return f'127.0.0.1 - - [03/Dec/2026:11:58:31 +0000] "{method} {uri} HTTP/1.1" {status} {size} "" "buildkit/v0.32"'


class Parse(unittest.TestCase):
    def test_fields_of_a_completed_get(self):
        [r] = rl.parse([line("GET", f"/v2/aishell-bench/ci-aishell-main/blobs/{A}", 200, 2422369)])
        self.assertEqual((r.method, r.status, r.written), ("GET", 200, 2422369))
        self.assertEqual((r.repo, r.kind, r.ref), ("aishell-bench/ci-aishell-main", "blobs", A))
        self.assertEqual(r.agent, "buildkit/v0.32")
        self.assertIsNone(r.length)

    def test_access_log_and_other_lines_are_skipped(self):
        lines = [access("GET", f"/v2/x/blobs/{A}", 200, 10),
                 'time="…" level=info msg="listening on 127.0.0.1:5020"',
                 'time="…" level=info msg="response completed" http.request.method=GET',  # no uri
                 "", "garbage"]
        self.assertEqual(rl.parse(lines), [])

    def test_quoted_values_with_spaces_and_escapes(self):
        f = rl.fields('a="x y" b=plain c="say \\"hi\\"" d=')
        self.assertEqual(f, {"a": "x y", "b": "plain", "c": 'say "hi"', "d": ""})

    def test_upload_completion_digest_is_unquoted(self):
        uri = (f"/v2/p/blobs/uploads/ab6c9e03-0bff?_state=rC52%3D&digest=sha256%3A{'c' * 64}")
        [r] = rl.parse([line("PUT", uri, 201)])
        self.assertEqual((r.kind, r.ref, r.digest), ("blobs/uploads", "ab6c9e03-0bff", C))

    def test_errors_are_parsed_with_their_status(self):
        [r] = rl.parse([line("HEAD", f"/v2/p/blobs/{A}", 404, 157,
                             msg="response completed with error",
                             extra='err.code="blob unknown" err.message="blob unknown to registry" ')])
        self.assertEqual((r.method, r.status), ("HEAD", 404))

    def test_base_endpoint_has_no_repo(self):
        [r] = rl.parse([line("GET", "/v2/", 200, 2)])
        self.assertEqual(r.repo, "")


class Traffic(unittest.TestCase):
    def test_pulled_counts_successful_gets_only(self):
        reqs = rl.parse([line("GET", f"/v2/p/blobs/{A}", 200, 1000),
                         line("GET", f"/v2/p/blobs/{A}", 200, 1000),  # pulled twice
                         line("GET", "/v2/p/manifests/cache", 200, 300),
                         line("HEAD", f"/v2/p/blobs/{B}", 200, 0),
                         line("GET", f"/v2/p/blobs/{B}", 404, 157),
                         line("GET", f"/v2/q/blobs/{C}", 200, 50)])
        t = rl.traffic(reqs)
        self.assertEqual(t.pulled, 2350)
        self.assertEqual(t.pulled_blobs, {A: 2000, C: 50})
        self.assertEqual(t.pulled_by_repo, {"p": 2300, "q": 50})
        self.assertEqual(t.pushed, 0)

    def test_pushed_blob_sizes_come_from_the_lookup_when_the_log_has_none(self):
        reqs = rl.parse([line("POST", "/v2/p/blobs/uploads/", 202),
                         line("PUT", f"/v2/p/blobs/uploads/u1?_state=x&digest={A}", 201),
                         line("POST", "/v2/p/blobs/uploads/", 202),
                         line("PUT", f"/v2/p/blobs/uploads/u2?digest={B}", 201),
                         line("PUT", "/v2/p/manifests/7", 201)])
        sizes = {A: 5000, B: 700}
        t = rl.traffic(reqs, blob_size=sizes.get, manifest_size=lambda repo, ref: 900)
        self.assertEqual(t.pushed_blobs, {A: 5000, B: 700})
        self.assertEqual(t.pushed_manifests, [("p", "7", 900)])
        self.assertEqual(t.pushed, 6600)
        self.assertEqual(t.pushed_unknown, 0)

    def test_logged_lengths_of_patch_chunks_win_over_the_lookup(self):
        cl = "http.request.contentlength={} "
        reqs = rl.parse([line("PATCH", "/v2/p/blobs/uploads/u1", 202, extra=cl.format(400)),
                         line("PATCH", "/v2/p/blobs/uploads/u1", 202, extra=cl.format(600)),
                         line("PUT", f"/v2/p/blobs/uploads/u1?digest={A}", 201,
                              extra=cl.format(0)),
                         line("PUT", "/v2/p/manifests/x", 201, extra=cl.format(321))])
        t = rl.traffic(reqs, blob_size=lambda d: 999999)
        self.assertEqual(t.pushed_blobs, {A: 1000})
        self.assertEqual(t.pushed, 1321)

    def test_unknown_sizes_are_counted_apart(self):
        reqs = rl.parse([line("PUT", f"/v2/p/blobs/uploads/u1?digest={A}", 201),
                         line("PUT", "/v2/p/manifests/x", 201)])
        t = rl.traffic(reqs)
        self.assertEqual(t.pushed, 0)
        self.assertEqual(t.pushed_unknown, 2)

    def test_failed_uploads_and_mounts_push_nothing(self):
        reqs = rl.parse([line("PUT", f"/v2/p/blobs/uploads/u1?digest={A}", 400, 100,
                              msg="response completed with error"),
                         line("POST", f"/v2/p/blobs/uploads/?mount={B}&from=q", 201)])
        t = rl.traffic(reqs, blob_size=lambda d: 10)
        self.assertEqual((t.pushed, t.pushed_blobs, t.mounted), (0, {}, [B]))


class Classify(unittest.TestCase):
    def test_groups_and_other(self):
        got = rl.classify({A: 10, B: 20, C: 40}, {"extension": {A}, "foundation": {B, A}})
        self.assertEqual(got, {"extension": 10, "foundation": 20, "other": 40})


if __name__ == "__main__":
    unittest.main()
