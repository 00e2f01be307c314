"""Secret path rules, sent byte-for-byte with http.client (no '..' normalisation)."""
import json

import pytest

from conftest import API, assert_error, b64, unique

BODY = json.dumps({"value_b64": b64("path-test")}).encode()
JSON = {"Content-Type": "application/json"}


def write_raw(s, path):
    return s.raw("POST", f"{API}/secrets/{path}", headers=JSON, body=BODY, token=s.admin_token)


def read_raw(s, path):
    return s.raw("GET", f"{API}/secrets/{path}", token=s.admin_token)


BAD_PATHS = {
    "empty-segment": "a//b",
    "leading-slash": "/a",
    "trailing-slash": "a/",
    "dot": "a/./b",
    "dot-first": "./a",
    "dotdot": "a/../b",
    "dotdot-last": "a/..",
    "dotdot-first": "../a",
    "dotdot-percent": "a/%2e%2e/b",
    "dotdot-percent-upper": "%2E%2E/a",
    "slash-percent": "a%2Fb",
    "space-percent": "a%20b",
    "plus": "a+b",
    "tilde": "a~b",
    "colon": "a:b",
    "backslash-percent": "a%5cb",
    "nul-percent": "a%00b",
    "utf8": "caf%C3%A9",
    "33-segments": "/".join(["s"] * 33),
    "513-bytes": "p" * 513,
    "513-bytes-in-segments": "p" * 400 + "/" + "q" * 112,
}


@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_invalid_path_is_400_for_write_and_read(shared_server, path):
    assert_error(write_raw(shared_server, path), 400, "invalid_request", "path")
    assert_error(read_raw(shared_server, path), 400, "invalid_request", "path")


@pytest.mark.parametrize("route,method", [
    ("metadata", "GET"), ("undelete", "POST"), ("secrets", "DELETE")])
@pytest.mark.parametrize("path", ["a/../b", "a//b", "a/", "%2e%2e"])
def test_invalid_path_is_400_on_every_route(shared_server, route, method, path):
    r = shared_server.raw(method, f"{API}/{route}/{path}?version=1" if route == "undelete"
                          else f"{API}/{route}/{path}", token=shared_server.admin_token)
    assert_error(r, 400, "invalid_request", "path")


def test_dotdot_cannot_reach_a_sibling_secret(shared_server):
    s = shared_server
    base = unique("esc")
    assert write_raw(s, f"{base}/target").status_code == 200
    assert_error(read_raw(s, f"{base}/x/../target"), 400, "invalid_request")
    assert_error(read_raw(s, f"{base}/x/%2e%2e/target"), 400, "invalid_request")


def test_32_segments_are_accepted(shared_server):
    path = "/".join([unique("s")] + ["s"] * 31)
    r = write_raw(shared_server, path)
    assert r.status_code == 200, r.text
    r = read_raw(shared_server, path)
    assert r.status_code == 200, r.text
    assert r.json()["value_b64"] == b64("path-test")


def test_512_byte_path_is_accepted(shared_server):
    head = unique("l")
    path = head + "/" + "p" * (512 - len(head) - 1)
    assert len(path) == 512
    assert write_raw(shared_server, path).status_code == 200
    assert read_raw(shared_server, path).status_code == 200


def test_every_allowed_character_is_accepted(shared_server):
    path = unique("chars") + "/AZaz09._-/x.y_z-1/..." + "/.a/a."
    r = write_raw(shared_server, path)
    assert r.status_code == 200, r.text
    assert read_raw(shared_server, path).status_code == 200


def test_paths_are_case_sensitive(shared_server):
    base = unique("case")
    s = shared_server
    assert s.write(f"{base}/Key", b"upper").status_code == 200
    assert_error(s.read(f"{base}/key"), 404, "not_found")


def test_query_string_is_not_part_of_the_path(shared_server):
    s = shared_server
    path = unique("q")
    assert write_raw(s, path).status_code == 200
    r = s.raw("GET", f"{API}/secrets/{path}?version=1", token=s.admin_token)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
