"""Rate limits (DESIGN.md, "Idempotency and limits"): GCRA per tenant and
class (read, write, lease, admin), per client address before authentication;
429 `rate_limited` with Retry-After and RateLimit-* headers.

Every test starts its own server: buckets live in the process, and the
unauthenticated bucket is keyed by the client address, which all tests share.
Waits are computed from Retry-After, never fixed."""
import http.client
import math
import re
import time

from conftest import API, assert_error, metric_value, unique

# --rate-limit 0.5:4: a token comes back every 2 s, so a test's requests all
# fall in one refill window even on a loaded machine (with 2/s a 0.5 s stall
# handed a token back in the middle of a count)
RATE, BURST = 0.5, 4
LIMITED = ("--rate-limit", f"{RATE}:{BURST}")


def headers_int(r, name) -> int:
    v = r.headers.get(name)
    assert v is not None, f"no {name} header: {dict(r.headers)}"
    assert re.fullmatch(r"\d+", v), f"{name}: {v!r} is not a non-negative integer"
    return int(v)


def exhaust(call, limit: int = 50, ok=(200,)):
    """Call until the first 429; returns (responses before it, the 429)."""
    before = []
    for _ in range(limit):
        r = call()
        if r.status_code == 429:
            return before, r
        assert r.status_code in ok, r.text
        before.append(r)
    raise AssertionError(f"no 429 after {limit} requests")


def assert_429(r, limit: int | None = None) -> int:
    """A spec 429; returns Retry-After."""
    assert_error(r, 429, "rate_limited")
    ra = headers_int(r, "Retry-After")
    assert ra >= 1, ra
    if limit is not None:
        assert headers_int(r, "RateLimit-Limit") == limit
        assert headers_int(r, "RateLimit-Remaining") == 0
        headers_int(r, "RateLimit-Reset")
    return ra


def wait_retry_after(r):
    """Sleep what the server asked for (whole seconds, as it said)."""
    time.sleep(headers_int(r, "Retry-After"))


def seeded(s, token=None):
    path = unique("rl")
    assert s.write(path, b"x", token=token).status_code == 200
    return path


# --- the limit and its headers ----------------------------------------------------------------

def test_fifth_rapid_read_is_429_with_retry_after_and_ratelimit_headers(server_factory):
    s = server_factory(extra_args=LIMITED)
    path = unique("rl")  # a 404 read counts as well; no write spends a read token
    rs = [s.read(path) for _ in range(BURST + 1)]
    assert [r.status_code for r in rs[:BURST]] == [404] * BURST, [r.text for r in rs]
    for r in rs[:BURST]:
        assert headers_int(r, "RateLimit-Limit") == BURST
    assert [headers_int(r, "RateLimit-Remaining") for r in rs[:BURST]] == [3, 2, 1, 0]
    last = rs[BURST]
    ra = assert_429(last, BURST)
    # one token comes back after 1/rps = 2 s: whole seconds, rounded up
    assert ra <= math.ceil(BURST / RATE), ra
    reset = headers_int(last, "RateLimit-Reset")
    assert 1 <= reset <= math.ceil(BURST / RATE), reset
    assert "read" in last.json()["message"]


def test_reads_succeed_again_after_waiting_retry_after(server_factory):
    s = server_factory(extra_args=LIMITED)
    path = seeded(s)
    _, limited = exhaust(lambda: s.read(path))
    assert_429(limited, BURST)
    wait_retry_after(limited)
    r = s.read(path)
    assert r.status_code == 200, r.text
    assert headers_int(r, "RateLimit-Limit") == BURST


def test_reads_and_writes_have_separate_buckets(server_factory):
    s = server_factory(extra_args=LIMITED)
    path = unique("rl")
    _, limited = exhaust(lambda: s.read(path), ok=(404,))
    assert_429(limited, BURST)
    w = s.write(path, b"x")
    assert w.status_code == 200, w.text
    assert headers_int(w, "RateLimit-Remaining") == BURST - 1, "the write spent a read token"
    assert s.read(path).status_code == 429, "the write refilled the read bucket"
    _, wl = exhaust(lambda: s.write(path, b"y"))
    assert_429(wl, BURST)
    assert "write" in wl.json()["message"]


def test_two_tenants_are_limited_independently(server_factory):
    s = server_factory(extra_args=LIMITED)
    a = s.token("tenant-a", "a", "admin")
    b = s.token("tenant-b", "b", "admin")
    path = unique("rl")
    _, limited = exhaust(lambda: s.read(path, token=a), ok=(404,))
    assert_429(limited, BURST)
    for _ in range(BURST):
        r = s.read(path, token=b)
        assert r.status_code == 404, r.text
    assert s.read(path, token=a).status_code == 429


def test_per_class_override_limits_writes_and_leaves_reads_alone(server_factory):
    s = server_factory(extra_args=("--rate-limit", "50:50", "--set", "limits.rate_limit_write=1:1"))
    path = unique("rl")
    w1 = s.write(path, b"1")
    assert w1.status_code == 200, w1.text
    assert headers_int(w1, "RateLimit-Limit") == 1
    w2 = s.write(path, b"2")
    assert_429(w2, 1)
    for _ in range(10):
        r = s.read(path)
        assert r.status_code == 200, r.text
        assert headers_int(r, "RateLimit-Limit") == 50
    assert s.read(path).json()["version"] == 1


def test_per_tenant_override_applies_to_that_tenant_only(server_factory):
    s = server_factory(extra_args=("--rate-limit", "50:50", "--set", "tenant acme.rate_limit=1:1"))
    acme = s.token("acme", "a", "admin")
    acme2 = s.token("acme2", "b", "admin")  # a name that starts with "acme" is not acme
    path = unique("rl")
    r1 = s.read(path, token=acme)
    assert r1.status_code == 404, r1.text
    assert headers_int(r1, "RateLimit-Limit") == 1
    assert_429(s.read(path, token=acme), 1)
    # "rate_limit" covers every class, each with its own bucket
    assert s.write(path, b"a", token=acme).status_code == 200
    assert_429(s.write(path, b"a", token=acme), 1)
    for tok in (acme2, None):
        for _ in range(5):
            r = s.read(path, token=tok)
            assert r.status_code == 404, r.text
            assert headers_int(r, "RateLimit-Limit") == 50


def test_per_tenant_class_override_limits_only_that_class(server_factory):
    s = server_factory(extra_args=("--rate-limit", "50:50",
                                   "--set", "tenant acme.rate_limit_write=1:1"))
    acme = s.token("acme", "a", "admin")
    path = unique("rl")
    assert s.write(path, b"a", token=acme).status_code == 200
    assert_429(s.write(path, b"b", token=acme), 1)
    for _ in range(5):
        assert s.read(path, token=acme).status_code == 200
    assert s.write(unique("rl"), b"dev").status_code == 200
    assert s.write(unique("rl"), b"dev").status_code == 200


def test_rate_limit_zero_disables_every_limit(server_factory):
    s = server_factory(extra_args=("--rate-limit", "0", "--set", "limits.rate_limit_read=1:1"))
    path = seeded(s)
    for _ in range(30):
        r = s.read(path)
        assert r.status_code == 200, r.text
        assert "RateLimit-Limit" not in r.headers
    for _ in range(30):
        r = s.request("GET", f"{s.base}/secrets/{path}", headers={"Authorization": "Bearer junk"})
        assert_error(r, 401, "unauthorized")


# --- before authentication: per client address ----------------------------------------------

def get_from(s, source: str, path: str, token: str | None = None):
    """GET from a chosen loopback source address; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30, source_address=(source, 0))
    try:
        h = {"Authorization": f"Bearer {token}"} if token is not None else {}
        conn.request("GET", path, headers=h)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_unauthenticated_requests_are_limited_per_client_address(server_factory):
    s = server_factory(extra_args=LIMITED)
    target = f"{API}/secrets/{unique('rl')}"
    statuses = [get_from(s, "127.0.0.1", target)[0] for _ in range(BURST)]
    assert statuses == [401] * BURST
    st, h, body = get_from(s, "127.0.0.1", target)
    assert st == 429, body
    assert b"rate_limited" in body
    ra = int(h["Retry-After"])
    assert ra >= 1
    # a garbage token is no way around it
    assert get_from(s, "127.0.0.1", target, token="not.a.jwt")[0] == 429
    assert get_from(s, "127.0.0.1", target, token="x" * 2000)[0] == 429
    # another address has its own bucket
    assert get_from(s, "127.0.0.2", target)[0] == 401
    assert get_from(s, "127.0.0.2", target, token="junk")[0] == 401
    # and the limited address recovers
    time.sleep(ra)
    assert get_from(s, "127.0.0.1", target)[0] == 401


# --- metrics ------------------------------------------------------------------------------------

def test_429s_are_counted_in_requests_total(server_factory):
    s = server_factory(extra_args=LIMITED)
    path = unique("rl")
    reads = [s.read(path).status_code for _ in range(BURST + 3)]
    writes = [s.write(path, b"x").status_code for _ in range(BURST + 2)]
    n_read, n_write = reads.count(429), writes.count(429)
    assert n_read >= 1 and n_write >= 1, (reads, writes)
    text = s.metrics_text()
    assert metric_value(text, "secretsd_requests_total", 'route="secret_read",status="429"') == n_read
    assert metric_value(text, "secretsd_requests_total", 'route="secret_write",status="429"') == n_write
    assert metric_value(text, "secretsd_requests_total", 'route="secret_read",status="404"') == \
        reads.count(404)
