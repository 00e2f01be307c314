"""Black-box integration tests for secretsd: fixtures and helpers.

Every test talks to a real `secretsd` process started from $SECRETSD_BIN on a
free loopback port with its own data directory. A session-wide dev server is
shared by tests that only need unique paths; tests whose outcome depends on
the whole state of a server (listing, tenancy, restarts) start a fresh one.

Helpers live here and are imported by the test modules (`from conftest import
...`), which pytest's default import mode allows for a rootdir-less tests
folder.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets as _secrets
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("SECRETSD_BIN") or str(REPO / "build" / "secretsd")
START_TIMEOUT_S = float(os.environ.get("SECRETSD_START_TIMEOUT", "15"))
API = "/api/v1/trust/secrets"
DEV_ISSUER = "secretsd-dev"
DEV_AUDIENCE = "secretsd"


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unique(prefix: str = "t") -> str:
    """A path segment no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def run_bin(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


def verified_chain(data_dir, workdir) -> list[dict]:
    """`evidence export` of data_dir (safe while a server runs), then
    `evidence verify` of the file (written in workdir, removed after): both
    exit 0, the export holds records only, verify says ok. Returns the
    records."""
    p = run_bin("evidence", "export", "--data-dir", str(data_dir), timeout=60)
    assert p.returncode == 0, f"evidence export exited {p.returncode}: {p.stderr}"
    junk = [l for l in p.stdout.splitlines() if l.strip() and not l.startswith("{")]
    assert not junk, (f"evidence export printed {len(junk)} line(s) on stdout that are not "
                      f"records, e.g. {junk[0]!r}")
    f = Path(workdir) / f"{unique('evidence')}.jsonl"
    f.write_text(p.stdout)
    try:
        v = run_bin("evidence", "verify", "--file", str(f), timeout=60)
    finally:
        f.unlink()
    assert v.returncode == 0, (f"evidence verify exited {v.returncode}: {v.stderr}{v.stdout}\n"
                               f"first lines of the export: {p.stdout[:600]!r}")
    assert v.stdout.startswith("ok:"), v.stdout
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


class Server:
    """One secretsd process.

    mode "dev":   secretsd dev --data-dir DIR --listen 127.0.0.1:PORT --rate-limit 0
    mode "serve": secretsd serve --config FILE (the caller wrote FILE with PORT)

    stdout/stderr go to files next to the data dir (in its parent), appended
    across restarts.
    """

    def __init__(self, workdir: Path, *, mode: str = "dev", config: Path | None = None,
                 port: int | None = None, scheme: str = "http", verify=None,
                 data_dir: Path | None = None, extra_args: tuple = ("--rate-limit", "0"),
                 plugins: Path | None = None, env: dict | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.mode = mode
        self.config = config
        self.port = port or free_port()
        self.scheme = scheme
        self.verify = verify
        self.extra_args = tuple(extra_args)
        self.plugins = Path(plugins) if plugins is not None else None
        self.env = dict(env) if env else None  # added to os.environ for the next start
        self.preexec_fn = None  # run in the child before exec (e.g. setrlimit), next starts
        self.stdout_path = self.workdir / "secretsd.stdout"
        self.stderr_path = self.workdir / "secretsd.stderr"
        self.proc: subprocess.Popen | None = None
        self.session: requests.Session | None = None
        self._admin_token: str | None = None
        self._tokens: dict = {}

    # --- addresses --------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        return self.url + API

    def argv(self) -> list[str]:
        if self.mode == "dev":
            plugins = ["--plugins", str(self.plugins)] if self.plugins is not None else []
            return [BIN, "dev", "--data-dir", str(self.data_dir), "--listen",
                    f"127.0.0.1:{self.port}", *plugins, *self.extra_args]
        return [BIN, "serve", "--config", str(self.config)]

    # --- lifecycle --------------------------------------------------------
    def start(self) -> "Server":
        """Start and wait for /health. On a first dev start, a port that another
        process grabbed since free_port() is replaced (at most 3 tries)."""
        for attempt in range(3):
            mark = self.stderr_path.stat().st_size if self.stderr_path.exists() else 0
            try:
                return self._start_once()
            except RuntimeError:
                log = self.stderr_path.read_bytes()[mark:].decode(errors="replace")
                first_start = not (self.data_dir / "admin.token").exists()
                if (self.mode != "dev" or not first_start or attempt == 2 or
                        "in use" not in log.lower()):
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self) -> "Server":
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            env = None if self.env is None else {**os.environ, **self.env}
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir, env=env,
                                         preexec_fn=self.preexec_fn)
        finally:
            out.close()
            err.close()
        self.session = requests.Session()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise RuntimeError(f"secretsd exited with {rc} before it was ready:\n"
                                   f"{self.stderr_text()}")
            try:
                r = requests.get(self.url + "/health", timeout=1,
                                 verify=self.verify if self.verify is not None else True)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"secretsd not ready within {timeout}s ({last}):\n{self.stderr_text()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        self._close_session()

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, then wait; returns the exit status (SIGKILL after timeout)."""
        if self.proc is None:
            return None
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"secretsd ignored SIGTERM for {timeout}s")
        self._close_session()
        return self.proc.returncode

    def finish(self) -> None:
        """Stop with SIGTERM and prove a clean exit: status 0 and no sanitizer
        report (the ASan+UBSan tier turns leaks and UB into failures here)."""
        if not self.running():
            self.kill9()
            return
        rc = self.stop()
        err = self.stderr_text()
        assert rc == 0, f"secretsd exited with {rc} on SIGTERM:\n{err[-4000:]}"
        for marker in ("Sanitizer", "runtime error:"):
            assert marker not in err, f"sanitizer report in secretsd's stderr:\n{err[-4000:]}"

    def restart(self) -> "Server":
        """Same data dir, same port. A killed server is just started again."""
        if self.running():
            self.stop()
        return self.start()

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- tokens -----------------------------------------------------------
    @property
    def admin_token(self) -> str:
        """DIR/admin.token, once the server has written it (dev mode)."""
        if self._admin_token is None:
            path = self.data_dir / "admin.token"
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    text = path.read_text()
                except FileNotFoundError:
                    text = ""
                if text.endswith("\n") and text.strip():
                    self._admin_token = text.strip()
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path} not written:\n{self.stderr_text()}")
                time.sleep(0.02)
        return self._admin_token

    def token(self, tenant: str, sub: str, scope: str, ttl: int = 3600) -> str:
        key = (tenant, sub, scope, ttl)
        if key not in self._tokens:
            p = run_bin("token", "create", "--data-dir", str(self.data_dir), "--tenant", tenant,
                        "--sub", sub, "--scope", scope, "--ttl", str(ttl))
            assert p.returncode == 0, f"token create failed ({p.returncode}): {p.stderr}"
            self._tokens[key] = p.stdout.strip()
        return self._tokens[key]

    def issuer_key(self):
        pem = (self.data_dir / "issuer.key").read_bytes()
        return serialization.load_pem_private_key(pem, password=None)

    def jwks(self) -> dict:
        return json.loads((self.data_dir / "jwks.json").read_text())

    def dev_kid(self) -> str:
        keys = self.jwks()["keys"]
        assert len(keys) >= 1
        return keys[0]["kid"]

    def mint(self, claims: dict | None = None, *, drop: tuple = (), key=None, kid=None,
             alg: str = "ES256", headers: dict | None = None) -> str:
        """A token made with PyJWT, by default exactly what the dev issuer would sign."""
        now = int(time.time())
        body = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "pyjwt-user", "tenant": "dev",
                "scope": "admin", "iat": now, "nbf": now, "exp": now + 600,
                "jti": uuid.uuid4().hex}
        body.update(claims or {})
        for k in drop:
            body.pop(k, None)
        hdr = {"kid": kid if kid is not None else self.dev_kid()}
        hdr.update(headers or {})
        return jwt.encode(body, key if key is not None else self.issuer_key(), algorithm=alg,
                          headers=hdr)

    # --- requests ---------------------------------------------------------
    def request(self, method: str, url_or_path: str, *, token: str | None = None,
                headers: dict | None = None, **kw) -> requests.Response:
        url = url_or_path if "://" in url_or_path else self.url + url_or_path
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", 30)
        if self.verify is not None:  # explicit: REQUESTS_CA_BUNDLE would win over session.verify
            kw.setdefault("verify", self.verify)
        return self.session.request(method, url, headers=h, **kw)

    def _tok(self, token):
        return self.admin_token if token is None else token

    def write(self, path: str, value: bytes | str, metadata: dict | None = None, *,
              token: str | None = None, **fields) -> requests.Response:
        body = {"value_b64": b64(value)}
        if metadata is not None:
            body["metadata"] = metadata
        body.update(fields)
        return self.request("POST", f"{self.base}/secrets/{path}", token=self._tok(token), json=body)

    def read(self, path: str, version=None, *, token: str | None = None) -> requests.Response:
        params = {} if version is None else {"version": version}
        return self.request("GET", f"{self.base}/secrets/{path}", token=self._tok(token),
                            params=params)

    def delete(self, path: str, version=None, *, token: str | None = None) -> requests.Response:
        params = {} if version is None else {"version": version}
        return self.request("DELETE", f"{self.base}/secrets/{path}", token=self._tok(token),
                            params=params)

    def undelete(self, path: str, version=None, *, token: str | None = None) -> requests.Response:
        params = {} if version is None else {"version": version}
        return self.request("POST", f"{self.base}/undelete/{path}", token=self._tok(token),
                            params=params)

    def metadata(self, path: str, *, token: str | None = None) -> requests.Response:
        return self.request("GET", f"{self.base}/metadata/{path}", token=self._tok(token))

    def list(self, *, token: str | None = None, **params) -> requests.Response:
        return self.request("GET", f"{self.base}/secrets", token=self._tok(token), params=params)

    def list_all(self, *, token: str | None = None, limit: int = 1000, **params) -> list[str]:
        """Follow `next` until it is null; fails on a page error or a loop."""
        out, after, pages = [], None, 0
        while True:
            q = dict(params, limit=limit)
            if after is not None:
                q["after"] = after
            r = self.list(token=token, **q)
            assert r.status_code == 200, r.text
            doc = r.json()
            out.extend(doc["paths"])
            after = doc["next"]
            pages += 1
            assert pages < 1000, "list pagination does not terminate"
            if after is None:
                return out

    def raw(self, method: str, target: str, *, headers: dict | None = None,
            body: bytes | None = None, token: str | None = None) -> "RawResponse":
        """A request sent byte-for-byte (no URL normalisation) with http.client."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, target, body=body, headers=h)
            resp = conn.getresponse()
            return RawResponse(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    # --- leases (provider plugins) -----------------------------------------
    def issue(self, role=None, ttl_s=None, *, token: str | None = None, body=None,
              **kw) -> requests.Response:
        """POST {base}/leases. `body` replaces the JSON document when given."""
        if body is None:
            body = {"role": role}
            if ttl_s is not None:
                body["ttl_s"] = ttl_s
        return self.request("POST", f"{self.base}/leases", token=self._tok(token), json=body, **kw)

    def lease(self, lease_id: str, *, token: str | None = None) -> requests.Response:
        return self.request("GET", f"{self.base}/leases/{lease_id}", token=self._tok(token))

    def renew(self, lease_id: str, increment_s=None, *, token: str | None = None,
              body=None) -> requests.Response:
        if body is None:
            body = {} if increment_s is None else {"increment_s": increment_s}
        return self.request("POST", f"{self.base}/leases/{lease_id}/renew", token=self._tok(token),
                            json=body)

    def revoke(self, lease_id: str, *, token: str | None = None) -> requests.Response:
        return self.request("DELETE", f"{self.base}/leases/{lease_id}", token=self._tok(token))

    def leases(self, *, token: str | None = None, **params) -> requests.Response:
        return self.request("GET", f"{self.base}/leases", token=self._tok(token), params=params)

    def lease_state(self, lease_id: str) -> str:
        r = self.lease(lease_id)
        assert r.status_code == 200, r.text
        return r.json()["state"]

    def wait_lease_state(self, lease_id: str, states, timeout: float) -> dict:
        """Poll GET {base}/leases/ID until its state is one of `states`."""
        states = {states} if isinstance(states, str) else set(states)
        last = {}

        def check():
            nonlocal last
            r = self.lease(lease_id)
            assert r.status_code == 200, r.text
            last = r.json()
            return last["state"] in states

        wait_for(check, timeout, lambda: f"lease {lease_id} to become {sorted(states)}; last {last}")
        return last

    def metrics_text(self) -> str:
        r = self.request("GET", "/metrics")
        assert r.status_code == 200, r.text
        return r.text

    def metric(self, name: str, labels: str | None = None) -> float | None:
        """The value of a Prometheus sample `name` (with `{labels}` exactly, if given)."""
        return metric_value(self.metrics_text(), name, labels)

    def sighup(self) -> None:
        assert self.running(), "server is not running"
        self.proc.send_signal(signal.SIGHUP)

    def stderr_size(self) -> int:
        return self.stderr_path.stat().st_size if self.stderr_path.exists() else 0

    def stderr_since(self, mark: int) -> str:
        try:
            return self.stderr_path.read_bytes()[mark:].decode(errors="replace")
        except FileNotFoundError:
            return ""


class RawResponse:
    """Enough of requests.Response for the assertions in these tests."""

    def __init__(self, status: int, headers, content: bytes):
        self.status_code = status
        self.headers = headers
        self.content = content
        self.text = content.decode(errors="replace")

    def json(self):
        return json.loads(self.content)


def assert_error(resp, status: int, code: str, *mentions: str) -> dict:
    """The spec's error body: code, a message (naming what is wrong), and the
    request id that is also in the X-Request-Id header."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"Content-Type {ctype!r}: {resp.text}"
    body = resp.json()
    assert body.get("error") == code, body
    assert isinstance(body.get("message"), str) and body["message"], body
    rid = resp.headers.get("X-Request-Id")
    assert rid, "no X-Request-Id header"
    assert body.get("request_id") == rid, (body, rid)
    for m in mentions:
        assert m.lower() in body["message"].lower(), f"message does not mention {m!r}: {body}"
    return body


def random_value(n: int = 24) -> bytes:
    return _secrets.token_bytes(n)


@pytest.fixture(scope="session")
def secretsd_bin() -> str:
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"SECRETSD_BIN={BIN} is not an executable; build with `make` first")
    return BIN


@pytest.fixture(scope="session")
def shared_server(secretsd_bin, tmp_path_factory):
    """One dev server for tests that use unique paths and do not care about
    the rest of the server's state."""
    s = Server(tmp_path_factory.mktemp("shared")).start()
    yield s
    s.finish()


@pytest.fixture
def server_factory(secretsd_bin, tmp_path):
    """Start fresh servers in this test's tmp dir; all are killed afterwards."""
    started: list[Server] = []
    n = [0]

    def make(**kw) -> Server:
        n[0] += 1
        s = Server(tmp_path / f"srv{n[0]}", **kw)
        started.append(s)
        if kw.get("mode", "dev") == "dev":
            s.start()
        return s

    yield make
    for s in started:
        if s.proc is not None:
            s.finish()


@pytest.fixture
def fresh_server(server_factory) -> Server:
    """A dev server with an empty data dir, for this test only."""
    return server_factory()


# --- provider plugins and leases ----------------------------------------------------------

# The build dir of the binary under test: build/ or build/asan/ (sanitizer tier).
BUILD_DIR = Path(BIN).resolve().parent

# A fast reaper for lease tests: revocation retries start at 20 ms, the reaper
# looks every 100 ms, a provider call gets 2 s.
LEASE_ARGS = ("--rate-limit", "0", "--set", "leases.retry_base_ms=20",
              "--set", "leases.reaper_interval_ms=100", "--set", "leases.call_timeout_ms=2000")


def wait_for(pred, timeout: float, what="condition", interval: float = 0.05):
    """Poll pred() until it returns a truthy value (returned) or fail after
    `timeout` seconds. `what` (a string or a callable giving one) names it."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            desc = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {desc}")
        time.sleep(interval)


def metric_value(text: str, name: str, labels: str | None = None) -> float | None:
    want = name if labels is None else f"{name}{{{labels}}}"
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, val = line.rpartition(" ")
        if key == want:
            return float(val)
    return None


def parse_time(s: str) -> float:
    """RFC 3339 (as the API prints it) to a Unix time."""
    import datetime
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def plugin_so(name: str) -> Path:
    """build/plugins/NAME.so next to the binary under test; fails when missing."""
    p = BUILD_DIR / "plugins" / f"{name}.so"
    if not p.is_file():
        pytest.fail(f"{p} is missing: build it with `make` (for the sanitizer tier, "
                    f"`make BUILD={BUILD_DIR} SAN=1`)")
    return p


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plugin_section(name: str, so: Path | None = None, **settings) -> str:
    """[plugin NAME] pinned with the sha256 of its .so, plus settings."""
    so = Path(so) if so is not None else plugin_so(name)
    lines = [f"[plugin {name}]", f"path = {so}", f"sha256 = {sha256_file(so)}"]
    lines += [f"{k} = {v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def role_section(name: str, plugin: str, **settings) -> str:
    lines = [f"[role {name}]", f"plugin = {plugin}"]
    lines += [f"{k} = {v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def write_plugins_conf(path: Path, *sections: str) -> Path:
    """Write a plugins.conf made of plugin_section()/role_section() texts."""
    path = Path(path)
    path.write_text("# written by the integration tests\n" + "\n".join(sections))
    return path


def conf_line_of(path: Path, needle: str) -> int:
    """The 1-based line number of the first line of `path` containing `needle`."""
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def state_events(state_file: Path) -> list[tuple[str, str]]:
    """The example plugin's state_file as (event, id) pairs, in order."""
    try:
        text = Path(state_file).read_text()
    except FileNotFoundError:
        return []
    return [tuple(l.split(" ", 1)) for l in text.splitlines() if " " in l]


@pytest.fixture(scope="session")
def example_so(secretsd_bin) -> Path:
    return plugin_so("example")
