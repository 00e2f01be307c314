"""X-Request-Id as an idempotency key (DESIGN.md, "Idempotency and limits").

On POST and DELETE the key is scoped to the tenant: the same key with the same
request (method, path, query, body) replays the stored status and body with
`Idempotent-Replayed: true` and does nothing again; the same key with another
request is 409 `conflict`. On GET the header is only a correlation id.

Every test uses its own paths and keys, so one server serves the module;
restart and lease tests start their own."""
import base64
import json
import threading

import pytest
import requests

from conftest import (LEASE_ARGS, Server, assert_error, b64, plugin_section, role_section,
                      state_events, unique, wait_for, write_plugins_conf)

REPLAYED = "Idempotent-Replayed"


@pytest.fixture(scope="module")
def srv(secretsd_bin, tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("idem")).start()
    yield s
    s.finish()


# --- helpers ---------------------------------------------------------------------------------

def body_of(value, **fields) -> bytes:
    """The exact bytes of a write body (the key covers the raw body)."""
    doc = {"value_b64": b64(value)}
    doc.update(fields)
    return json.dumps(doc).encode()


def keyed(s, method, url_path, key, body: bytes | None = None, *, token=None, params=None):
    """A request with X-Request-Id: key (no header when key is None)."""
    headers = {}
    if key is not None:
        headers["X-Request-Id"] = key
    if body is not None:
        headers["Content-Type"] = "application/json"
    return s.request(method, f"{s.base}/{url_path}", token=s._tok(token), headers=headers,
                     data=body, params=params)


def kwrite(s, path, key, body: bytes, token=None):
    return keyed(s, "POST", f"secrets/{path}", key, body, token=token)


def kdelete(s, path, key, token=None, params=None):
    return keyed(s, "DELETE", f"secrets/{path}", key, token=token, params=params)


def kundelete(s, path, key, token=None, params=None):
    return keyed(s, "POST", f"undelete/{path}", key, token=token, params=params)


def versions(s, path, token=None) -> list:
    r = s.metadata(path, token=token)
    assert r.status_code == 200, r.text
    return r.json()["versions"]


def value_of(s, path, token=None) -> bytes:
    r = s.read(path, token=token)
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["value_b64"])


def assert_replay_of(replay, original):
    """The replay carries the original's status and body, marked as a replay."""
    assert replay.status_code == original.status_code, (replay.status_code, replay.text)
    assert replay.headers.get(REPLAYED) == "true", dict(replay.headers)
    assert replay.headers["Content-Type"].startswith("application/json")
    if original.content.strip():
        assert replay.json() == original.json()
        assert replay.content.strip() == original.content.strip()
    else:
        assert replay.content.strip() == b""


def assert_executed(r, status=200):
    assert r.status_code == status, r.text
    assert REPLAYED not in r.headers, dict(r.headers)


# --- 1. replay ------------------------------------------------------------------------------

def test_replayed_write_returns_the_stored_result_and_creates_no_version(srv):
    path, key = unique("replay"), unique("key")
    body = body_of(b"first")
    first = kwrite(srv, path, key, body)
    assert_executed(first)
    assert first.json()["version"] == 1
    assert first.headers["X-Request-Id"] == key

    again = kwrite(srv, path, key, body)
    assert_replay_of(again, first)
    assert again.headers["X-Request-Id"] == key
    vs = versions(srv, path)
    assert [v["version"] for v in vs] == [1], vs


def test_replay_does_not_execute_even_after_the_state_moved_on(srv):
    """A replay answers from the record: a version written since (without the
    key) stays current and the replay still says version 1."""
    path, key = unique("moved"), unique("key")
    body = body_of(b"v1")
    first = kwrite(srv, path, key, body)
    assert_executed(first)
    assert srv.write(path, b"v2").status_code == 200
    for _ in range(3):
        assert_replay_of(kwrite(srv, path, key, body), first)
    assert [v["version"] for v in versions(srv, path)] == [1, 2]
    assert value_of(srv, path) == b"v2"


# --- 2. conflict ------------------------------------------------------------------------------

def test_same_key_with_a_different_body_is_409_and_writes_nothing(srv):
    path, key = unique("conflict-body"), unique("key")
    assert_executed(kwrite(srv, path, key, body_of(b"one")))
    r = kwrite(srv, path, key, body_of(b"two"))
    assert_error(r, 409, "conflict")
    assert REPLAYED not in r.headers
    # metadata only, or a cas, makes another request too
    assert_error(kwrite(srv, path, key, body_of(b"one", metadata={"owner": "x"})), 409, "conflict")
    assert_error(kwrite(srv, path, key, body_of(b"one", cas=1)), 409, "conflict")
    assert [v["version"] for v in versions(srv, path)] == [1]
    assert value_of(srv, path) == b"one"
    assert srv.metadata(path).json()["metadata"] == {}


def test_same_key_on_another_path_is_409_and_creates_nothing_there(srv):
    path, other, key = unique("conflict-path"), unique("conflict-other"), unique("key")
    body = body_of(b"same body")
    assert_executed(kwrite(srv, path, key, body))
    assert_error(kwrite(srv, other, key, body), 409, "conflict")
    assert_error(srv.read(other), 404, "not_found")
    assert_error(srv.metadata(other), 404, "not_found")


def test_same_key_with_another_query_is_409(srv):
    path, key = unique("conflict-query"), unique("key")
    assert srv.write(path, b"v1").status_code == 200
    assert srv.write(path, b"v2").status_code == 200
    assert_executed(kdelete(srv, path, key, params={"version": 1}), 204)
    assert_error(kdelete(srv, path, key, params={"version": 2}), 409, "conflict")
    states = {v["version"]: v["state"] for v in versions(srv, path)}
    assert states == {1: "deleted", 2: "active"}, states


def test_same_key_with_another_method_is_409_and_deletes_nothing(srv):
    path, key = unique("conflict-method"), unique("key")
    assert_executed(kwrite(srv, path, key, body_of(b"keep me")))
    assert_error(kdelete(srv, path, key), 409, "conflict")
    assert_error(kundelete(srv, path, key, params={"version": 1}), 409, "conflict")
    assert value_of(srv, path) == b"keep me"
    assert [v["state"] for v in versions(srv, path)] == ["active"]


# --- 3. concurrency ------------------------------------------------------------------------------

def test_sixteen_concurrent_requests_with_one_key_create_exactly_one_version(srv):
    n = 16
    path, key = unique("concurrent"), unique("key")
    body = body_of(b"only once")
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def go(i):
        sess = requests.Session()
        try:
            barrier.wait(timeout=10)
            results[i] = sess.post(f"{srv.base}/secrets/{path}", data=body, timeout=30,
                                   headers={"Authorization": f"Bearer {srv.admin_token}",
                                            "Content-Type": "application/json",
                                            "X-Request-Id": key})
        except Exception as e:  # reported below, with the thread
            errors.append((i, repr(e)))
        finally:
            sess.close()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {200, 409}, [(r.status_code, r.text) for r in results]
    ok = [r for r in results if r.status_code == 200]
    assert ok, statuses
    executed = [r for r in ok if r.headers.get(REPLAYED) != "true"]
    assert len(executed) == 1, [(r.status_code, dict(r.headers), r.text) for r in ok]
    for r in ok:
        assert r.json() == executed[0].json(), (r.text, executed[0].text)
    for r in results:
        if r.status_code == 409:
            assert_error(r, 409, "conflict")
    vs = versions(srv, path)
    assert [v["version"] for v in vs] == [1], vs
    assert executed[0].json()["version"] == 1


# --- 4. durability --------------------------------------------------------------------------------

def test_replay_after_kill9_and_restart_returns_the_stored_result(fresh_server):
    s = fresh_server
    path, key = unique("crash"), unique("key")
    body = body_of(b"durable")
    first = kwrite(s, path, key, body)
    assert_executed(first)
    s.kill9()
    s.restart()
    again = kwrite(s, path, key, body)
    assert_replay_of(again, first)
    assert [v["version"] for v in versions(s, path)] == [1]
    # the record itself survived, not just the effect: another request still conflicts
    assert_error(kwrite(s, path, key, body_of(b"other")), 409, "conflict")


# --- 5. tenants ------------------------------------------------------------------------------------

def test_keys_are_per_tenant_the_same_key_in_another_tenant_executes(srv):
    a = srv.token(unique("tenA"), "a-admin", "admin")
    b = srv.token(unique("tenB"), "b-admin", "admin")
    path, key = unique("tenant"), unique("key")
    ra = kwrite(srv, path, key, body_of(b"A"), token=a)
    assert_executed(ra)
    # another body in B: not a conflict, a fresh request of B's
    rb = kwrite(srv, path, key, body_of(b"B"), token=b)
    assert_executed(rb)
    assert rb.json()["version"] == 1
    assert value_of(srv, path, token=b) == b"B"
    assert value_of(srv, path, token=a) == b"A"
    # each tenant replays its own result
    assert_replay_of(kwrite(srv, path, key, body_of(b"A"), token=a), ra)
    assert_replay_of(kwrite(srv, path, key, body_of(b"B"), token=b), rb)
    assert [v["version"] for v in versions(srv, path, token=a)] == [1]
    assert [v["version"] for v in versions(srv, path, token=b)] == [1]


def test_same_key_and_same_request_in_another_tenant_executes(srv):
    a = srv.token(unique("tenA"), "a-admin", "admin")
    b = srv.token(unique("tenB"), "b-admin", "admin")
    path, key = unique("tenant-same"), unique("key")
    body = body_of(b"same")
    assert_executed(kwrite(srv, path, key, body, token=a))
    assert_executed(kwrite(srv, path, key, body, token=b))
    assert value_of(srv, path, token=b) == b"same"


# --- 6. delete and undelete -----------------------------------------------------------------------

def test_delete_with_a_key_replays_204_and_does_not_delete_again(srv):
    path, key = unique("del"), unique("key")
    assert srv.write(path, b"v1").status_code == 200
    first = kdelete(srv, path, key)
    assert_executed(first, 204)
    assert_error(srv.read(path), 404, "not_found")
    assert srv.undelete(path, 1).status_code == 204
    again = kdelete(srv, path, key)
    assert_replay_of(again, first)
    # the replay did nothing: the version is still active
    assert value_of(srv, path) == b"v1"


def test_undelete_with_a_key_replays_204_and_does_not_undelete_again(srv):
    path, key = unique("undel"), unique("key")
    assert srv.write(path, b"v1").status_code == 200
    assert srv.delete(path).status_code == 204
    first = kundelete(srv, path, key, params={"version": 1})
    assert_executed(first, 204)
    assert value_of(srv, path) == b"v1"
    assert srv.delete(path).status_code == 204
    again = kundelete(srv, path, key, params={"version": 1})
    assert_replay_of(again, first)
    assert_error(srv.read(path), 404, "not_found")


def test_delete_key_reused_for_another_request_is_409(srv):
    path, other, key = unique("del-c"), unique("del-c-other"), unique("key")
    assert srv.write(path, b"p").status_code == 200
    assert srv.write(other, b"o").status_code == 200
    assert_executed(kdelete(srv, path, key), 204)
    assert_error(kdelete(srv, other, key), 409, "conflict")
    assert_error(kundelete(srv, path, key, params={"version": 1}), 409, "conflict")
    assert_error(kwrite(srv, path, key, body_of(b"new")), 409, "conflict")
    assert value_of(srv, other) == b"o"
    assert [(v["version"], v["state"]) for v in versions(srv, path)] == [(1, "deleted")]


def test_undelete_key_reused_for_another_request_is_409(srv):
    path, key = unique("undel-c"), unique("key")
    assert srv.write(path, b"v1").status_code == 200
    assert srv.write(path, b"v2").status_code == 200
    assert srv.delete(path, 1).status_code == 204
    assert srv.delete(path, 2).status_code == 204
    assert_executed(kundelete(srv, path, key, params={"version": 1}), 204)
    assert_error(kundelete(srv, path, key, params={"version": 2}), 409, "conflict")
    assert_error(kdelete(srv, path, key, params={"version": 1}), 409, "conflict")
    states = {v["version"]: v["state"] for v in versions(srv, path)}
    assert states == {1: "active", 2: "deleted"}, states


# --- 7. leases -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lsrv(example_so, tmp_path_factory):
    d = tmp_path_factory.mktemp("idem-leases")
    state = d / "example.state"
    conf = write_plugins_conf(
        d / "plugins.conf",
        plugin_section("example", state_file=state),
        role_section("app", "example", default_ttl_s=60, max_ttl_s=120),
        role_section("broken", "example", default_ttl_s=60, max_ttl_s=120, fail_issue="true"),
    )
    s = Server(d / "srv", plugins=conf, extra_args=LEASE_ARGS).start()
    s.state_file = state
    yield s
    s.finish()


def kissue(s, key, role="app", ttl_s=None):
    doc = {"role": role}
    if ttl_s is not None:
        doc["ttl_s"] = ttl_s
    return keyed(s, "POST", "leases", key, json.dumps(doc).encode())


def issue_events(s) -> list:
    return [i for ev, i in state_events(s.state_file) if ev == "issue"]


def test_lease_issue_replay_returns_the_same_credential_while_active(lsrv):
    key = unique("key")
    first = kissue(lsrv, key)
    assert_executed(first)
    doc = first.json()
    assert doc["secret_key"] and doc["lease_id"]
    issued = issue_events(lsrv)
    again = kissue(lsrv, key)
    assert_replay_of(again, first)
    assert again.json()["lease_id"] == doc["lease_id"]
    assert again.json()["secret_key"] == doc["secret_key"]
    assert issue_events(lsrv) == issued, "the replay called the provider again"
    assert lsrv.lease_state(doc["lease_id"]) == "active"
    # another body with the key is another request
    assert_error(kissue(lsrv, key, ttl_s=30), 409, "conflict")
    assert issue_events(lsrv) == issued


def test_lease_issue_replay_after_the_lease_is_revoked_is_409(lsrv):
    key = unique("key")
    first = kissue(lsrv, key)
    assert_executed(first)
    lid = first.json()["lease_id"]
    assert lsrv.revoke(lid).status_code == 204
    issued = issue_events(lsrv)
    r = kissue(lsrv, key)
    assert_error(r, 409, "conflict")
    assert REPLAYED not in r.headers
    assert "secret_key" not in r.text and first.json()["secret_key"] not in r.text
    assert issue_events(lsrv) == issued, "a revoked lease's key issued a new one"


def test_lease_issue_replay_after_the_lease_expired_is_409(lsrv):
    key = unique("key")
    first = kissue(lsrv, key, ttl_s=1)
    assert_executed(first)
    assert first.json()["ttl_s"] == 1
    issued = issue_events(lsrv)

    def refused():
        r = kissue(lsrv, key, ttl_s=1)
        if r.status_code == 200:
            assert_replay_of(r, first)  # still active: the same credential
            return False
        return [r]  # a list: a 4xx Response is falsy

    (r,) = wait_for(refused, 10, "the replay of an expired lease's key to be refused")
    assert_error(r, 409, "conflict")
    assert issue_events(lsrv) == issued, "an expired lease's key issued a new one"


def test_failed_lease_issue_releases_the_key_so_a_retry_fails_the_same_way(lsrv):
    key = unique("key")
    try:
        first = kissue(lsrv, key, role="broken")
    except requests.ConnectionError as e:
        pytest.fail(f"secretsd dropped the connection ({e}); running: {lsrv.running()}; "
                    f"stderr tail:\n{lsrv.stderr_text()[-1500:]}")
    body = assert_error(first, 503, "dependency_down")
    again = kissue(lsrv, key, role="broken")
    # the same failure again, not 409 "still in progress" and not a replay
    assert again.status_code == 503, again.text
    assert assert_error(again, 503, body["error"])["error"] == body["error"]
    assert REPLAYED not in again.headers
    third = kissue(lsrv, key, role="broken")
    assert third.status_code == 503, third.text


# --- 8. GET and key syntax --------------------------------------------------------------------------

def test_get_echoes_the_key_as_a_correlation_id_and_is_never_replayed(srv):
    path, key = unique("get"), unique("key")
    assert srv.write(path, b"v1").status_code == 200
    r1 = keyed(srv, "GET", f"secrets/{path}", key)
    assert r1.status_code == 200, r1.text
    assert r1.headers["X-Request-Id"] == key
    assert REPLAYED not in r1.headers
    assert base64.b64decode(r1.json()["value_b64"]) == b"v1"
    assert srv.write(path, b"v2").status_code == 200
    r2 = keyed(srv, "GET", f"secrets/{path}", key)
    assert r2.status_code == 200, r2.text
    assert REPLAYED not in r2.headers
    assert base64.b64decode(r2.json()["value_b64"]) == b"v2", "a read was answered from a cache"
    assert r2.json()["version"] == 2
    # an error reply to a GET is not stored either
    r3 = keyed(srv, "GET", f"secrets/{unique('missing')}", key)
    assert_error(r3, 404, "not_found")
    assert r3.headers["X-Request-Id"] == key


def test_a_key_used_on_get_is_still_free_for_a_write(srv):
    path, key = unique("get-then-post"), unique("key")
    assert keyed(srv, "GET", f"secrets/{path}", key).status_code == 404
    r = kwrite(srv, path, key, body_of(b"x"))
    assert_executed(r)
    assert value_of(srv, path) == b"x"


def test_key_of_255_printable_bytes_is_accepted_and_replayed(srv):
    path, key = unique("k255"), "K" * 200 + "!~#$%&'*+-.^_`|" + "z" * 40
    assert len(key) == 255
    body = body_of(b"long key")
    first = kwrite(srv, path, key, body)
    assert_executed(first)
    assert first.headers["X-Request-Id"] == key
    assert_replay_of(kwrite(srv, path, key, body), first)


@pytest.mark.parametrize("key", [
    "k" * 256, "k" * 1000, "with space", "tab\there", "ctl\x01char", "del\x7fchar", "nul-ish\x1f",
    "caf\u00e9",
], ids=["256-bytes", "1000-bytes", "space", "tab", "ctrl-01", "del-7f", "ctrl-1f", "non-ascii"])
def test_malformed_key_is_400_and_writes_nothing(srv, key):
    path = unique("badkey")
    body = body_of(b"nope")
    r = srv.raw("POST", f"{srv.base[len(srv.url):]}/secrets/{path}", body=body,
                headers={"X-Request-Id": key, "Content-Type": "application/json"},
                token=srv.admin_token)
    err = assert_error(r, 400, "invalid_request", "X-Request-Id")
    assert err["request_id"] != key
    assert_error(srv.read(path), 404, "not_found")
    # on a GET too
    g = srv.raw("GET", f"{srv.base[len(srv.url):]}/secrets/{path}", headers={"X-Request-Id": key},
                token=srv.admin_token)
    assert_error(g, 400, "invalid_request", "X-Request-Id")
