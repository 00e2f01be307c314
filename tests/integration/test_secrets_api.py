"""Write, read, versions, cas, delete/undelete, metadata, max_versions."""
import base64
import re
import threading
import time
from datetime import datetime, timezone

import pytest

from conftest import assert_error, b64, unique

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SPEC_BODY = {"value_b64": "czNjcjN0", "metadata": {"owner": "svc-data", "rotation": "90d"}}


def parse_ts(s):
    assert RFC3339_Z.match(s), s
    return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def test_write_returns_version_1_and_rfc3339_created_at(shared_server):
    s = shared_server
    path = unique("db") + "/password"
    r = s.request("POST", f"{s.base}/secrets/{path}", token=s.admin_token, json=SPEC_BODY)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert doc["version"] == 1
    assert abs((parse_ts(doc["created_at"]) - datetime.now(timezone.utc)).total_seconds()) < 300


def test_second_write_is_version_2(shared_server):
    path = unique("db") + "/password"
    assert shared_server.write(path, b"one").json()["version"] == 1
    r = shared_server.write(path, b"two")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


def test_read_latest_and_specific_version(shared_server):
    s = shared_server
    path = unique("db") + "/password"
    s.request("POST", f"{s.base}/secrets/{path}", token=s.admin_token, json=SPEC_BODY)
    s.write(path, b"second value")
    latest = s.read(path)
    assert latest.status_code == 200, latest.text
    doc = latest.json()
    assert base64.b64decode(doc["value_b64"]) == b"second value"
    assert doc["version"] == 2
    assert doc["lease_ttl_s"] == 3600
    assert RFC3339_Z.match(doc["created_at"])
    assert doc["metadata"] == {"owner": "svc-data", "rotation": "90d"}
    v1 = s.read(path, 1)
    assert v1.status_code == 200, v1.text
    assert v1.json()["value_b64"] == "czNjcjN0"
    assert v1.json()["version"] == 1


def test_binary_value_round_trips_exactly(shared_server):
    path = unique("bin")
    value = bytes(range(256)) * 3 + b"\x00\xff"
    assert shared_server.write(path, value).status_code == 200
    assert base64.b64decode(shared_server.read(path).json()["value_b64"], validate=True) == value


@pytest.mark.parametrize("ttl,expected", [("120", 120), ("2h", 7200), ("30m", 1800), ("1d", 86400)])
def test_lease_ttl_follows_metadata_ttl(shared_server, ttl, expected):
    path = unique("ttl")
    assert shared_server.write(path, b"v", {"ttl": ttl}).status_code == 200
    assert shared_server.read(path).json()["lease_ttl_s"] == expected


def test_metadata_is_kept_when_a_write_has_none(shared_server):
    path = unique("keep")
    shared_server.write(path, b"a", {"owner": "svc-a"})
    shared_server.write(path, b"b")
    assert shared_server.read(path).json()["metadata"] == {"owner": "svc-a"}


def test_read_of_missing_path_is_404(shared_server):
    assert_error(shared_server.read(unique("missing")), 404, "not_found")


def test_read_of_missing_version_is_404(shared_server):
    path = unique("v")
    shared_server.write(path, b"a")
    assert_error(shared_server.read(path, 2), 404, "not_found")


# --- cas ------------------------------------------------------------------------------

def test_cas_0_on_existing_path_is_409(shared_server):
    path = unique("cas")
    shared_server.write(path, b"a")
    assert_error(shared_server.write(path, b"b", cas=0), 409, "conflict")
    assert base64.b64decode(shared_server.read(path).json()["value_b64"]) == b"a"


def test_cas_matching_current_version_writes(shared_server):
    path = unique("cas")
    shared_server.write(path, b"a")
    r = shared_server.write(path, b"b", cas=1)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


def test_cas_mismatch_is_409_and_writes_nothing(shared_server):
    path = unique("cas")
    shared_server.write(path, b"a")
    shared_server.write(path, b"b")
    assert_error(shared_server.write(path, b"c", cas=1), 409, "conflict")
    assert_error(shared_server.write(path, b"c", cas=3), 409, "conflict")
    assert shared_server.read(path).json()["version"] == 2


def test_cas_0_on_new_path_creates_it(shared_server):
    path = unique("cas")
    r = shared_server.write(path, b"a", cas=0)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1


def test_concurrent_writes_get_distinct_consecutive_versions(shared_server):
    s = shared_server
    path = unique("race")
    versions, errors = [], []
    lock = threading.Lock()

    def worker(i):
        import requests
        with requests.Session() as sess:
            for j in range(5):
                r = sess.post(f"{s.base}/secrets/{path}", json={"value_b64": b64(f"{i}-{j}")},
                              headers={"Authorization": f"Bearer {s.admin_token}"}, timeout=30)
                with lock:
                    if r.status_code == 200:
                        versions.append(r.json()["version"])
                    else:
                        errors.append(r.text)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(versions) == list(range(1, 31))


# --- delete / undelete -----------------------------------------------------------------

def test_delete_hides_latest_but_keeps_older_versions(shared_server):
    s = shared_server
    path = unique("del")
    s.write(path, b"v1")
    s.write(path, b"v2")
    r = s.delete(path)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_error(s.read(path), 404, "not_found")
    assert_error(s.read(path, 2), 404, "not_found")
    old = s.read(path, 1)
    assert old.status_code == 200, old.text
    assert base64.b64decode(old.json()["value_b64"]) == b"v1"


def test_undelete_makes_the_version_readable_again(shared_server):
    s = shared_server
    path = unique("del")
    s.write(path, b"v1")
    s.write(path, b"v2")
    assert s.delete(path).status_code == 204
    r = s.undelete(path, 2)
    assert r.status_code == 204, r.text
    doc = s.read(path).json()
    assert doc["version"] == 2 and base64.b64decode(doc["value_b64"]) == b"v2"


def test_delete_of_a_specific_version(shared_server):
    s = shared_server
    path = unique("del")
    s.write(path, b"v1")
    s.write(path, b"v2")
    assert s.delete(path, 1).status_code == 204
    assert_error(s.read(path, 1), 404, "not_found")
    assert s.read(path).json()["version"] == 2


def test_undelete_without_version_is_400(shared_server):
    path = unique("del")
    shared_server.write(path, b"v1")
    shared_server.delete(path)
    assert_error(shared_server.undelete(path), 400, "invalid_request", "version")


def test_delete_of_missing_path_is_404(shared_server):
    assert_error(shared_server.delete(unique("nothing")), 404, "not_found")


def test_undelete_of_missing_path_or_version_is_404(shared_server):
    assert_error(shared_server.undelete(unique("nothing"), 1), 404, "not_found")
    path = unique("del")
    shared_server.write(path, b"v1")
    assert_error(shared_server.undelete(path, 5), 404, "not_found")


def test_write_after_delete_creates_the_next_version(shared_server):
    path = unique("del")
    shared_server.write(path, b"v1")
    shared_server.delete(path)
    r = shared_server.write(path, b"v2")
    assert r.json()["version"] == 2
    assert base64.b64decode(shared_server.read(path).json()["value_b64"]) == b"v2"


# --- metadata ---------------------------------------------------------------------------

def test_metadata_shows_versions_creators_and_states(shared_server):
    s = shared_server
    path = unique("meta") + "/db"
    alice = s.token("dev", "alice@example", "secrets:write:* secrets:read:*")
    bob = s.token("dev", "bob@example", "secrets:write:* secrets:read:*")
    assert s.write(path, b"1", {"owner": "svc-data", "rotation": "90d"}, token=alice).status_code == 200
    assert s.write(path, b"2", token=bob).status_code == 200
    assert s.delete(path, 1, token=alice).status_code == 204
    r = s.metadata(path, token=bob)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["path"] == path
    assert doc["current_version"] == 2
    assert doc["oldest_version"] == 1
    assert doc["metadata"] == {"owner": "svc-data", "rotation": "90d"}
    versions = sorted(doc["versions"], key=lambda v: v["version"])
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["created_by"] == "alice@example"
    assert versions[0]["state"] == "deleted"
    assert versions[1]["created_by"] == "bob@example"
    assert versions[1]["state"] == "active"
    for v in versions:
        assert RFC3339_Z.match(v["created_at"])
        assert "value_b64" not in v


def test_metadata_of_missing_path_is_404(shared_server):
    assert_error(shared_server.metadata(unique("nothing")), 404, "not_found")


def test_metadata_rejects_query_parameters(shared_server):
    path = unique("meta")
    shared_server.write(path, b"x")
    r = shared_server.request("GET", f"{shared_server.base}/metadata/{path}",
                              token=shared_server.admin_token, params={"version": "1"})
    assert_error(r, 400, "invalid_request", "version")


def test_only_the_last_10_versions_are_kept(shared_server):
    s = shared_server
    path = unique("maxv")
    for i in range(1, 13):
        assert s.write(path, f"value-{i}").json()["version"] == i
    doc = s.metadata(path).json()
    assert doc["current_version"] == 12
    assert doc["oldest_version"] == 3
    assert sorted(v["version"] for v in doc["versions"]) == list(range(3, 13))
    assert_error(s.read(path, 1), 404, "not_found")
    assert_error(s.read(path, 2), 404, "not_found")
    assert base64.b64decode(s.read(path, 3).json()["value_b64"]) == b"value-3"
    assert base64.b64decode(s.read(path).json()["value_b64"]) == b"value-12"


# --- request validation -------------------------------------------------------------------

def post_raw(s, path, body: bytes, content_type="application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return s.request("POST", f"{s.base}/secrets/{path}", token=s.admin_token, data=body,
                     headers=headers)


@pytest.mark.parametrize("body,mentions", [
    (b'{"value_b64": "czNjcjN0"', ("json",)),
    (b'{"value_b64": "czNjcjN0"} trailing', ("json",)),
    (b"", ()),
    (b'{"value_b64": "czNjcjN0", "value_b64": "czNjcjN0"}', ("duplicate",)),
    (b'{"value_b64": "czNjcjN0", "metadata": {"a": "1", "a": "2"}}', ("duplicate",)),
    (b'["czNjcjN0"]', ("object",)),
    (b'"czNjcjN0"', ()),
    (b"null", ()),
    (b"{}", ("value_b64",)),
    (b'{"metadata": {}}', ("value_b64",)),
    (b'{"value_b64": 12}', ("value_b64",)),
    (b'{"value_b64": null}', ("value_b64",)),
    (b'{"value_b64": ["czNjcjN0"]}', ("value_b64",)),
    (b'{"value_b64": "czNjcjN0", "extra": 1}', ("extra",)),
    (b'{"value_b64": "czNjcjN0", "Value_b64": "czNjcjN0"}', ("Value_b64",)),
    (b'{"value_b64": "czNjcjN0", "metadata": "owner=x"}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "metadata": ["x"]}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "metadata": null}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "metadata": {"owner": 1}}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "metadata": {"owner": {"a": "b"}}}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "metadata": {"owner": null}}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "metadata": {"owner": "a\\nb"}}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "metadata": {"": "x"}}', ("metadata",)),
    (b'{"value_b64": "czNjcjN0", "cas": -1}', ("cas",)),
    (b'{"value_b64": "czNjcjN0", "cas": "1"}', ("cas",)),
    (b'{"value_b64": "czNjcjN0", "cas": 1.5}', ("cas",)),
    (b'{"value_b64": "czNjcjN0", "cas": null}', ("cas",)),
    (b'{"value_b64": "czNjcjN0", "cas": true}', ("cas",)),
], ids=lambda x: x.decode(errors="replace")[:60] if isinstance(x, bytes) else None)
def test_malformed_write_body_is_400_naming_the_problem(shared_server, body, mentions):
    path = unique("bad")
    assert_error(post_raw(shared_server, path, body), 400, "invalid_request", *mentions)
    assert_error(shared_server.read(path), 404, "not_found")


@pytest.mark.parametrize("value_b64", [
    "czNj cjN0",        # space
    "czNjcjN0\n",       # newline
    " czNjcjN0",
    "czNjcjN0YQ",       # missing padding
    "czNjcjN0YQ=",      # short padding
    "czNjcjN0YQ===",    # too much padding
    "czNj*jN0",         # bad character
    "czNj.jN0",
    "-_-_",             # urlsafe alphabet
    "ab-_cd==",
    "cw==cw==",         # padding in the middle
    "czNjcjN0YR==",     # non-canonical trailing bits
    "====",
    "c",
])
def test_non_strict_base64_is_400(shared_server, value_b64):
    r = shared_server.request("POST", f"{shared_server.base}/secrets/{unique('b64')}",
                              token=shared_server.admin_token, json={"value_b64": value_b64})
    assert_error(r, 400, "invalid_request", "value_b64")


def test_metadata_limits_are_inclusive(shared_server):
    s = shared_server
    meta = {f"k{i:02d}": "v" for i in range(64)}
    assert s.write(unique("m"), b"x", meta).status_code == 200
    assert s.write(unique("m"), b"x", {"k" * 128: "v"}).status_code == 200
    assert s.write(unique("m"), b"x", {"k": "v" * 512}).status_code == 200


def test_metadata_with_65_keys_is_400(shared_server):
    meta = {f"k{i:02d}": "v" for i in range(65)}
    assert_error(shared_server.write(unique("m"), b"x", meta), 400, "invalid_request", "metadata")


def test_metadata_key_over_128_bytes_is_400(shared_server):
    assert_error(shared_server.write(unique("m"), b"x", {"k" * 129: "v"}), 400, "invalid_request",
                 "metadata")


def test_metadata_value_over_512_bytes_is_400(shared_server):
    assert_error(shared_server.write(unique("m"), b"x", {"k": "v" * 513}), 400, "invalid_request",
                 "metadata")


@pytest.mark.parametrize("ttl", ["abc", "0", "-5", "1.5h", "", "10w", "h", "1 h", "0h"])
def test_invalid_metadata_ttl_is_400(shared_server, ttl):
    assert_error(shared_server.write(unique("m"), b"x", {"ttl": ttl}), 400, "invalid_request", "ttl")


@pytest.mark.parametrize("version", ["0", "abc", "-1", "1.5", "", "1e3", " 1", "0x1"])
def test_invalid_version_query_is_400(shared_server, version):
    path = unique("q")
    shared_server.write(path, b"x")
    r = shared_server.request("GET", f"{shared_server.base}/secrets/{path}?version={version}",
                              token=shared_server.admin_token)
    assert_error(r, 400, "invalid_request", "version")


def test_unknown_query_parameter_is_400(shared_server):
    s = shared_server
    path = unique("q")
    s.write(path, b"x")
    r = s.request("GET", f"{s.base}/secrets/{path}?versoin=1", token=s.admin_token)
    assert_error(r, 400, "invalid_request", "versoin")
    r = s.request("POST", f"{s.base}/secrets/{path}?force=1", token=s.admin_token,
                  json={"value_b64": "czNjcjN0"})
    assert_error(r, 400, "invalid_request", "force")
    assert s.read(path).json()["version"] == 1


def test_repeated_query_parameter_is_400(shared_server):
    path = unique("q")
    shared_server.write(path, b"x")
    r = shared_server.request("GET", f"{shared_server.base}/secrets/{path}?version=1&version=1",
                              token=shared_server.admin_token)
    assert_error(r, 400, "invalid_request", "version")


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x"])
def test_non_json_content_type_is_400(shared_server, ctype):
    path = unique("ct")
    r = post_raw(shared_server, path, b'{"value_b64": "czNjcjN0"}', ctype)
    assert_error(r, 400, "invalid_request", "Content-Type")
    assert_error(shared_server.read(path), 404, "not_found")


def test_json_content_type_with_charset_is_accepted(shared_server):
    r = post_raw(shared_server, unique("ct"), b'{"value_b64": "czNjcjN0"}',
                 "application/json; charset=utf-8")
    assert r.status_code == 200, r.text


def test_value_of_exactly_512_kib_is_accepted(shared_server):
    path = unique("big")
    value = bytes([i % 251 for i in range(512 * 1024)])
    r = shared_server.write(path, value)
    assert r.status_code == 200, r.text
    assert base64.b64decode(shared_server.read(path).json()["value_b64"]) == value


def test_value_over_512_kib_is_413(shared_server):
    path = unique("big")
    r = shared_server.write(path, b"x" * (512 * 1024 + 1))
    assert_error(r, 413, "payload_too_large")
    assert_error(shared_server.read(path), 404, "not_found")


def test_body_between_1_and_2_mib_is_413_json(shared_server):
    body = b'{"value_b64": "' + b"A" * (1536 * 1024) + b'"}'
    r = post_raw(shared_server, unique("huge"), body)
    assert_error(r, 413, "payload_too_large")


def test_body_just_over_1_mib_is_413(shared_server):
    pad = 1024 * 1024 + 1 - len(b'{"value_b64": "czNjcjN0", "metadata": {"p": ""}}')
    body = b'{"value_b64": "czNjcjN0", "metadata": {"p": "' + b" " * pad + b'"}}'
    assert len(body) == 1024 * 1024 + 1
    assert_error(post_raw(shared_server, unique("huge"), body), 413, "payload_too_large")


def test_body_far_over_limit_is_refused_before_it_is_sent(shared_server):
    """Content-Length of 64 MiB: the server answers 413 without reading a body."""
    import socket
    s = shared_server
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall((f"POST /api/v1/trust/secrets/secrets/{unique('huge')} HTTP/1.1\r\n"
                      f"Host: 127.0.0.1\r\nAuthorization: Bearer {s.admin_token}\r\n"
                      "Content-Type: application/json\r\n"
                      f"Content-Length: {64 * 1024 * 1024}\r\n\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 413") or data.startswith(b"HTTP/1.0 413"), data[:200]


def nested(depth: int) -> bytes:
    """A write body whose JSON nesting depth is `depth` (the top object is 1)."""
    inner = '"x"'
    for _ in range(depth - 1):
        inner = '{"a": ' + inner + "}"
    return ('{"value_b64": "czNjcjN0", "metadata": ' + inner + "}").encode()


def test_json_nested_deeper_than_32_is_400(shared_server):
    r = post_raw(shared_server, unique("deep"), nested(33))
    body = assert_error(r, 400, "invalid_request")
    assert any(w in body["message"].lower() for w in ("deep", "depth", "nest")), body


def test_json_nested_32_deep_is_parsed_and_judged_on_content(shared_server):
    r = post_raw(shared_server, unique("deep"), nested(32))
    body = assert_error(r, 400, "invalid_request", "metadata")
    assert not any(w in body["message"].lower() for w in ("deep", "depth", "nest")), body


def test_very_deep_json_does_not_crash_the_server(shared_server):
    r = post_raw(shared_server, unique("deep"), b"[" * 200000)
    assert_error(r, 400, "invalid_request")
    assert shared_server.request("GET", "/health").status_code == 200
