"""Hostile clients: slow headers, too many connections, deep JSON, floods of
malformed requests and oversized header blocks. The server must refuse them
with 4xx (or drop the connection where no request ever arrived), keep
serving everyone else and stay alive.

Timing is only ever a bounded deadline on polled state."""
import base64
import collections
import gc
import http.client
import re
import select
import socket
import time

import pytest
import requests

from conftest import API, assert_error, metric_value, unique, wait_for

SECRETS = f"{API}/secrets"


# --- raw sockets --------------------------------------------------------------------------------

def exchange(port: int, data: bytes, timeout: float = 10,
             status_only: bool = False) -> tuple[int | None, bytes]:
    """Send bytes on a new connection and read until the server closes it
    (or, with status_only, until the response's header block is in).
    Returns the status of the first response (None if there was none)."""
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        while not (status_only and b"\r\n\r\n" in buf):
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", buf)
    return (int(m.group(1)) if m else None), buf


def http_bytes(method: str, target: str, headers: dict | None = None, body: bytes = b"",
               token: str | None = None) -> bytes:
    h = {"Host": "127.0.0.1", "Connection": "close"}
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if body or method in ("POST", "PUT", "PATCH"):
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    head = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in h.items())
    return head + b"\r\n" + body


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed (EOF or reset); never blocks."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


def fresh_get(s, path: str, timeout: float = 5) -> requests.Response:
    """A GET on a connection of its own, closed afterwards."""
    return requests.get(s.url + path, timeout=timeout, headers={
        "Authorization": f"Bearer {s.admin_token}", "Connection": "close"})


def metric_now(s, name: str) -> float:
    r = requests.get(s.url + "/metrics", timeout=5, headers={"Connection": "close"})
    assert r.status_code == 200, r.text
    v = metric_value(r.text, name)
    assert v is not None, f"{name} not in /metrics"
    return v


# --- slow loris -----------------------------------------------------------------------------------

HEADER_TIMEOUT_S = 2


def test_slow_loris_is_dropped_after_header_timeout_while_others_are_served(server_factory):
    s = server_factory(extra_args=("--rate-limit", "0",
                                   "--set", f"limits.header_timeout_s={HEADER_TIMEOUT_S}"))
    path = unique("loris")
    assert s.write(path, b"still served").status_code == 200
    s.session.close()  # no idle keep-alive connection of ours in the way
    dropped0 = metric_now(s, "secretsd_connections_slow_dropped_total")

    lorises = []
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(f"GET {SECRETS}/{path} HTTP/1.1\r\nHost: x\r\n".encode())
        c.setblocking(False)
        lorises.append(c)
    silent = socket.create_connection(("127.0.0.1", s.port), timeout=5)  # sends nothing at all
    silent.setblocking(False)
    start = time.monotonic()
    open_socks = {id(c): c for c in lorises + [silent]}
    closed_at = {}
    served_during = []
    deadline = start + HEADER_TIMEOUT_S + 8
    i = 0
    try:
        while open_socks and time.monotonic() < deadline:
            for c in list(lorises):
                if id(c) in open_socks:
                    try:
                        c.send(f"X-Drip-{i}: {'z' * 8}\r\n".encode())
                    except (BrokenPipeError, ConnectionResetError):
                        closed_at[id(c)] = time.monotonic()
                        del open_socks[id(c)]
            for k, c in list(open_socks.items()):
                if closed_by_peer(c):
                    closed_at[k] = time.monotonic()
                    del open_socks[k]
            if open_socks and len(served_during) < 3:
                # other clients are served while the lorises hold their connections
                r = fresh_get(s, f"{SECRETS}/{path}")
                assert r.status_code == 200, r.text
                assert base64.b64decode(r.json()["value_b64"]) == b"still served"
                served_during.append(len(open_socks))
            i += 1
            time.sleep(0.2)
        assert not open_socks, (f"{len(open_socks)} slow connection(s) still open "
                                f"{HEADER_TIMEOUT_S + 8}s after they started")
        assert served_during and served_during[0] == 4, served_during
        # the header deadline dropped them, not something sooner
        assert min(closed_at.values()) - start >= HEADER_TIMEOUT_S - 1, closed_at
    finally:
        for c in lorises + [silent]:
            c.close()
    assert metric_now(s, "secretsd_connections_slow_dropped_total") >= dropped0 + 4
    r = fresh_get(s, f"{SECRETS}/{path}")
    assert r.status_code == 200, r.text
    assert s.running()


def test_headers_completed_within_the_header_timeout_are_answered(server_factory):
    """The deadline is for headers: a client that takes 1 s to finish them
    (under the 2 s deadline) gets its answer."""
    s = server_factory(extra_args=("--rate-limit", "0",
                                   "--set", f"limits.header_timeout_s={HEADER_TIMEOUT_S}"))
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)
        c.sendall(b"X-Slow: 1\r\n")
        time.sleep(0.5)
        c.sendall(b"Connection: close\r\n\r\n")
        buf = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            buf += chunk
    assert buf.startswith(b"HTTP/1.1 200 "), buf[:200]


# --- max_connections --------------------------------------------------------------------------------

MAX_CONN = 3
# The server shuts down connections over the cap, and releases a closed
# connection's slot, in a sweep every 250 ms: waiting this long lets two
# sweeps pass (used only to show that something does NOT happen).
SETTLE_S = 0.6


class Probe:
    """One keep-alive connection that reads /metrics for the whole test: it
    holds one slot all along, so no measurement opens or frees another."""

    def __init__(self, s):
        self.conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)

    def metric(self, name: str) -> float:
        self.conn.request("GET", "/metrics")
        r = self.conn.getresponse()
        body = r.read().decode()
        assert r.status == 200, body
        v = metric_value(body, name)
        assert v is not None, f"{name} not in /metrics"
        return v

    def open_count_is(self, n: int) -> bool:
        return self.metric("secretsd_connections_open") == n

    def close(self):
        self.conn.close()


def idle_conns(s, n: int) -> list[socket.socket]:
    socks = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(n)]
    for c in socks:
        c.setblocking(False)
    return socks


def request_on(sock: socket.socket, data: bytes, timeout: float = 10) -> bytes:
    """Send a request on an open (non-blocking) socket and read to EOF."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    sock.sendall(data)
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return buf
        buf += chunk


def test_connections_over_max_connections_are_closed_and_the_slots_are_released(server_factory):
    s = server_factory(extra_args=("--rate-limit", "0",
                                   "--set", f"limits.max_connections={MAX_CONN}"))
    path = unique("maxconn")
    assert s.write(path, b"v").status_code == 200
    s.session.close()
    # A readiness probe that timed out during start may still hold its socket
    # in a garbage cycle of this process: close it, it would take a slot.
    gc.collect()
    probe = Probe(s)
    try:
        # the probe's is the only connection left once the sweeps have
        # released the others' slots
        wait_for(lambda: probe.open_count_is(1), 10,
                 "the server to count only the probe's connection")
        refused0 = probe.metric("secretsd_connections_refused_total")

        # the probe holds one slot: MAX_CONN - 1 are free
        free = MAX_CONN - 1
        n = free + 4
        socks = idle_conns(s, n)
        try:
            closed = set()

            def extras_closed():
                for i, c in enumerate(socks):
                    if i not in closed and closed_by_peer(c):
                        closed.add(i)
                return len(closed) >= n - free

            wait_for(extras_closed, 5, lambda: f"{n - free} connections over the cap to be "
                                                f"closed; {len(closed)} were")
            # two more sweeps: no connection under the cap is closed
            time.sleep(SETTLE_S)
            extras_closed()
            assert len(closed) == n - free, f"closed {sorted(closed)} of {n} with {free} free slots"
        finally:
            for c in socks:
                c.close()

        # The slots come back once the idle connections are gone: the open
        # count falls back to the probe alone ...
        wait_for(lambda: probe.open_count_is(1), 10,
                 "secretsd_connections_open to fall back to the probe's connection")
        assert probe.metric("secretsd_connections_refused_total") >= refused0 + (n - free)
        # ... and every free slot is usable again: they outlive two sweeps,
        # and a request on one of them is served
        socks = idle_conns(s, free)
        try:
            time.sleep(SETTLE_S)
            assert not [i for i, c in enumerate(socks) if closed_by_peer(c)], \
                "a connection under the cap was closed: slots were not released"
            raw = request_on(socks[0], http_bytes("GET", f"{SECRETS}/{path}", token=s.admin_token))
            assert raw.startswith(b"HTTP/1.1 200 "), raw[:300]
        finally:
            for c in socks:
                c.close()
    finally:
        probe.close()
    assert s.running()


# --- JSON depth ---------------------------------------------------------------------------------------

def nested(depth: int) -> str:
    """A JSON array value nested `depth` levels deep."""
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("extra_depth", [32, 100, 5000, 200000])
def test_json_nested_deeper_than_32_is_400_and_writes_nothing(fresh_server, extra_depth):
    s = fresh_server
    path = unique("deep")
    # the top-level object is level 1
    body = '{"value_b64": "YQ==", "x": %s}' % nested(extra_depth)
    r = s.request("POST", f"{s.base}/secrets/{path}", token=s.admin_token, data=body.encode(),
                  headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request", "32")
    assert_error(s.read(path), 404, "not_found")
    assert s.running()


def test_json_of_exactly_32_levels_passes_the_depth_check(fresh_server):
    s = fresh_server
    body = '{"value_b64": "YQ==", "x": %s}' % nested(31)
    r = s.request("POST", f"{s.base}/secrets/{unique('deep')}", token=s.admin_token,
                  data=body.encode(), headers={"Content-Type": "application/json"})
    # refused for the unknown field, not for its depth
    err = assert_error(r, 400, "invalid_request", "unknown field")
    assert "deeper" not in err["message"] and "nest" not in err["message"].lower(), err


def test_brackets_inside_strings_do_not_count_as_depth(fresh_server):
    s = fresh_server
    path = unique("deep-str")
    note = '\\"' + "{[" * 40
    body = '{"value_b64": "YQ==", "metadata": {"note": "%s"}}' % note
    r = s.request("POST", f"{s.base}/secrets/{path}", token=s.admin_token, data=body.encode(),
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert s.metadata(path).json()["metadata"]["note"] == '"' + "{[" * 40


def test_deep_json_on_lease_issue_is_400(fresh_server):
    s = fresh_server
    body = '{"role": "x", "ttl_s": %s}' % nested(100)
    r = s.request("POST", f"{s.base}/leases", token=s.admin_token, data=body.encode(),
                  headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request", "32")


# --- floods of malformed requests -----------------------------------------------------------------

def malformed_requests(token: str) -> list[tuple[str, bytes]]:
    """(kind, raw request) pairs: each must be refused with a 4xx."""
    p = f"{SECRETS}/{unique('flood')}"
    json_h = {"Content-Type": "application/json"}
    bad_json = [b"{", b"[]", b"null", b'"str"', b"{\"value_b64\":}", b"\xff\xfe\x00",
                b'{"value_b64":"YQ==","value_b64":"YQ=="}', b'{"value_b64":"%%%"}',
                b'{"value_b64":"YQ==","cas":-1}', b'{"value_b64":"YQ==","cas":1e999}',
                b'{"value_b64":"YQ==","metadata":[]}', b'{"value_b64":"YQ=="} trailing',
                b'{"value_b64":"YQ==","metadata":{"k":"\\u0000"}}', b"\x00" * 64,
                ("[" * 40 + "]" * 40).encode(), b'{"value_b64":"' + b"A" * 5 + b'"}']
    bad_paths = ["/", "/nope", f"{API}", f"{API}/", f"{SECRETS}/", f"{SECRETS}/a/../b",
                 f"{SECRETS}/./a", f"{SECRETS}/a//b", f"{SECRETS}/%2e%2e/x", f"{SECRETS}/a%00b",
                 f"{SECRETS}/%zz", f"{SECRETS}/" + "a" * 600, f"{SECRETS}/" + "/".join("s" * 40),
                 f"{SECRETS}/a b", f"{API}/metadata/", f"{API}/undelete/", f"{API}/leases/zz",
                 f"{API}/leases/" + "0" * 24 + "/renew/x", f"{SECRETS}/\u00e9",
                 f"{SECRETS}/x?version=abc", f"{SECRETS}/x?version=-1", f"{SECRETS}/x?nope=1",
                 f"{SECRETS}/x?version=1&version=2", f"{SECRETS}?limit=0", f"{SECRETS}?limit=x"]
    bad_tokens = ["", "x", "a.b.c", "Zm9v.YmFy.YmF6", "e30.e30.", "." * 300, "x" * 8000,
                  "eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJkZXYiLCJzY29wZSI6ImFkbWluIn0.",
                  token[:-4] + "AAAA", token + "x", token.split(".")[0] + ".." + token.split(".")[2]]
    out = []
    for b in bad_json:
        out.append(("bad json", http_bytes("POST", p, json_h, b, token)))
    for t in bad_paths:
        for m in ("GET", "POST", "DELETE"):
            body = b'{"value_b64":"YQ=="}' if m == "POST" else b""
            out.append((f"bad path {m}", http_bytes(m, t, json_h, body, token)))
    for t in bad_tokens:
        out.append(("bad token", http_bytes("GET", p, {"Authorization": f"Bearer {t}"})))
        out.append(("bad scheme", http_bytes("GET", p, {"Authorization": f"Basic {t}"})))
    out.append(("no token", http_bytes("POST", p, json_h, b'{"value_b64":"YQ=="}')))
    for m in ("PUT", "PATCH", "OPTIONS"):
        out.append(("bad method", http_bytes(m, p, json_h, b"{}", token)))
        out.append(("bad method", http_bytes(m, "/health")))
    out.append(("bad method", http_bytes("DELETE", f"{API}/metadata/x", token=token)))
    out.append(("bad method", http_bytes("POST", "/metrics")))
    for m in ("TRACE", "CONNECT", "FOO", "PROPFIND", "get"):
        out.append(("unknown method", http_bytes(m, p, token=token)))
    out.append(("huge header", http_bytes("GET", p, {"X-Big": "a" * 20000}, token=token)))
    out.append(("huge header", http_bytes("GET", p, {f"X-H{i}": "b" * 200 for i in range(100)},
                                          token=token)))
    out.append(("huge header", http_bytes("GET", p, token="y" * 20000)))
    out.append(("bad request id", http_bytes("POST", p, {"X-Request-Id": "k" * 300, **json_h},
                                             b'{"value_b64":"YQ=="}', token)))
    out.append(("bad request id", http_bytes("GET", p, {"X-Request-Id": "a\x01b"}, token=token)))
    out.append(("bad content-type", http_bytes("POST", p, {"Content-Type": "text/plain"},
                                               b'{"value_b64":"YQ=="}', token)))
    out.append(("bad content-length", http_bytes("POST", p, {"Content-Length": "-5", **json_h},
                                                 b"", token)))
    out.append(("bad content-length", http_bytes("POST", p, {"Content-Length": "zz", **json_h},
                                                 b"", token)))
    out.append(("bad framing", b"GARBAGE\r\n\r\n"))
    out.append(("bad framing", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40 +
                b"\r\n\r\n"))
    out.append(("bad framing", f"GET {p} HTTP/9.9\r\nConnection: close\r\n\r\n".encode()))
    out.append(("bad framing", f"GET {p} HTTP/1.1\r\nNo colon here\r\nConnection: close\r\n\r\n"
                .encode()))
    return out


def test_flood_of_500_malformed_requests_gets_only_4xx_and_the_server_survives(fresh_server):
    s = fresh_server
    path = unique("flood-ok")
    assert s.write(path, b"survivor").status_code == 200
    kinds = malformed_requests(s.admin_token)
    seen = collections.Counter()
    bad = collections.defaultdict(set)
    for i in range(500):
        kind, data = kinds[i % len(kinds)]
        status, raw = exchange(s.port, data, status_only=True)
        seen[status] += 1
        if status is None or not 400 <= status <= 499:
            bad[(kind, status)].add(data[:80])
    assert sum(seen.values()) == 500
    assert not bad, f"not a 4xx: { {k: sorted(v)[:3] for k, v in bad.items()} }; all: {dict(seen)}"
    assert s.running(), s.stderr_text()[-2000:]
    r = s.read(path)
    assert r.status_code == 200, r.text
    assert base64.b64decode(r.json()["value_b64"]) == b"survivor"
    assert requests.get(s.url + "/health", timeout=5).status_code == 200


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FOO", "PROPFIND"])
def test_unsupported_method_is_answered_4xx_and_the_connection_closed(fresh_server, method):
    s = fresh_server
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(http_bytes(method, f"{SECRETS}/x", token=s.admin_token))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = c.recv(65536)
            assert chunk, f"closed without an answer: {buf!r}"
            buf += chunk
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", buf)
        assert m and 400 <= int(m.group(1)) <= 499, buf[:300]
        # the client asked for Connection: close; the server closes promptly
        c.setblocking(False)
        wait_for(lambda: closed_by_peer(c), 5, f"the server to close the connection after {method}")
    assert s.running()


# --- header block size ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["one-big-header", "many-headers", "big-token"])
def test_header_block_over_16k_is_refused_with_4xx_without_crashing(fresh_server, shape):
    s = fresh_server
    path = unique("hdr")
    assert s.write(path, b"v").status_code == 200
    target = f"{SECRETS}/{path}"
    if shape == "one-big-header":
        data = http_bytes("GET", target, {"X-Big": "a" * (17 * 1024)}, token=s.admin_token)
    elif shape == "many-headers":
        data = http_bytes("GET", target, {f"X-H{i}": "b" * 250 for i in range(80)},
                          token=s.admin_token)
    else:
        data = http_bytes("GET", target, token="t" * (17 * 1024))
    assert len(data) > 16 * 1024
    status, raw = exchange(s.port, data)
    assert status is not None and 400 <= status <= 499, raw[:300]
    assert s.running()
    r = s.read(path)
    assert r.status_code == 200, r.text


def test_header_block_under_16k_is_accepted(fresh_server):
    s = fresh_server
    path = unique("hdr")
    assert s.write(path, b"v").status_code == 200
    data = http_bytes("GET", f"{SECRETS}/{path}", {"X-Pad": "p" * (14 * 1024)},
                      token=s.admin_token)
    status, raw = exchange(s.port, data)
    assert status == 200, raw[:300]
