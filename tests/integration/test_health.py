"""Unauthenticated endpoints, request ids, routing errors."""
import re

import pytest

from conftest import API, assert_error, unique


def test_health_is_200_status_ok(shared_server):
    r = shared_server.request("GET", "/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_ready_is_200_when_storage_is_up(shared_server):
    r = shared_server.request("GET", "/ready")
    assert r.status_code == 200, r.text


def test_metrics_is_prometheus_text_counting_requests_by_route_and_status(shared_server):
    shared_server.request("GET", "/health")
    shared_server.request("GET", "/no/such/endpoint")
    r = shared_server.request("GET", "/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    lines = r.text.splitlines()
    counters = [l for l in lines if l.startswith("secretsd_requests_total")]
    assert counters, r.text
    for line in counters:
        assert re.fullmatch(r'secretsd_requests_total\{[^}]*\} \d+', line), line
    health = [l for l in counters if 'route="health"' in l and 'status="200"' in l]
    assert health and int(health[0].rsplit(" ", 1)[1]) >= 1, r.text
    assert any('status="404"' in l for l in counters), r.text


def test_metrics_counter_increases_with_requests(shared_server):
    def health_count():
        text = shared_server.request("GET", "/metrics").text
        for l in text.splitlines():
            if l.startswith("secretsd_requests_total") and 'route="health"' in l and 'status="200"' in l:
                return int(l.rsplit(" ", 1)[1])
        return 0

    before = health_count()
    for _ in range(3):
        assert shared_server.request("GET", "/health").status_code == 200
    assert health_count() >= before + 3


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/health", 200),
    ("GET", "/no/such/endpoint", 404),
    ("PUT", API + "/secrets/x", 405),
    ("GET", API + "/secrets/x", 401),
    ("GET", "/metrics", 200),
])
def test_every_response_carries_a_generated_request_id(shared_server, method, path, status):
    r1 = shared_server.request(method, path)
    r2 = shared_server.request(method, path)
    assert r1.status_code == status
    rid1, rid2 = r1.headers.get("X-Request-Id"), r2.headers.get("X-Request-Id")
    assert rid1 and rid2
    assert rid1 != rid2, "generated request ids must differ between requests"


def test_client_request_id_is_echoed_on_success_and_error(shared_server):
    rid = "client-" + unique("rid")
    r = shared_server.request("GET", "/health", headers={"X-Request-Id": rid})
    assert r.headers["X-Request-Id"] == rid
    r = shared_server.request("GET", API + "/secrets/x", headers={"X-Request-Id": rid + "-2"})
    body = assert_error(r, 401, "unauthorized")
    assert body["request_id"] == rid + "-2"


def test_request_id_of_255_printable_chars_is_echoed(shared_server):
    rid = ("r" * 200 + "!#$%&'*+-.^_`|~:;<>?@[]{}")[:255]
    rid = rid + "x" * (255 - len(rid))
    assert len(rid) == 255
    r = shared_server.request("GET", "/health", headers={"X-Request-Id": rid})
    assert r.status_code == 200
    assert r.headers["X-Request-Id"] == rid


@pytest.mark.parametrize("rid", ["has space", "x" * 256, "ctl\x01char", "tab\there"],
                         ids=["space", "256-chars", "control-char", "tab"])
def test_invalid_request_id_is_400_and_not_echoed(shared_server, rid):
    r = shared_server.raw("GET", "/health", headers={"X-Request-Id": rid})
    body = assert_error(r, 400, "invalid_request", "X-Request-Id")
    assert body["request_id"] != rid


def test_unknown_endpoint_is_404_not_found(shared_server):
    for path in ["/nope", API, API + "/", API + "/metadata", API + "/unknown/x", "/api/v1/trust/other"]:
        r = shared_server.request("GET", path, token=shared_server.admin_token)
        assert_error(r, 404, "not_found")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_put_and_patch_on_a_secret_are_405_with_allow(shared_server, method):
    r = shared_server.request(method, API + "/secrets/x", token=shared_server.admin_token,
                              json={"value_b64": "czNjcjN0"})
    assert_error(r, 405, "method_not_allowed")
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert {"GET", "POST", "DELETE"} <= allow, r.headers.get("Allow")
    assert method not in allow


def test_post_to_health_is_405_allowing_get(shared_server):
    r = shared_server.request("POST", "/health", data=b"{}")
    assert_error(r, 405, "method_not_allowed")
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert "GET" in allow and "POST" not in allow


def test_delete_on_metadata_is_405(shared_server):
    r = shared_server.request("DELETE", API + "/metadata/x", token=shared_server.admin_token)
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", "")
