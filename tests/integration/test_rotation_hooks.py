"""Rotation hooks beyond generate: a webhook (HMAC-signed, against a test
receiver) and a provider plugin's rotate (the postgresql plugin against a
real PostgreSQL), with both strategies; a staged rotation whose test step
fails leaves the current value untouched and marks the pending one failed."""
import base64
import hashlib
import hmac
import http.server
import json
import threading

import pytest
import requests

from conftest import (LEASE_ARGS, Server, assert_error, free_port, plugin_section,
                      write_plugins_conf)
from dbs import postgres_db  # noqa: F401  (session fixture)


class Receiver:
    """A webhook endpoint: checks the signature, answers create with a new
    value and test with ok (unless told to fail)."""

    def __init__(self, key: bytes):
        self.key = key
        self.calls = []
        self.fail_test = False
        self.on_test = None
        self.value = b"from-webhook-1"
        recv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers.get("X-Secretsd-Timestamp", "")
                want = "sha256=" + hmac.new(recv.key, ts.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                good = hmac.compare_digest(want, self.headers.get("X-Secretsd-Signature", ""))
                doc = json.loads(body)
                recv.calls.append((doc, good))
                if not good:
                    out, code = {"error": "bad signature"}, 401
                elif doc["step"] == "create":
                    out, code = {"value_b64": base64.b64encode(recv.value).decode()}, 200
                else:
                    if recv.on_test is not None:
                        recv.on_test()
                    out, code = {"ok": not recv.fail_test}, 200
                data = json.dumps(out).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hooked(fresh_server):
    key = (fresh_server.data_dir / "keys" / "webhook.key").read_bytes().strip()
    r = Receiver(key)
    yield fresh_server, r
    r.close()


def rotate(s, path, strategy="immediate", reason="test"):
    return s.request("POST", f"{s.base}/admin/rotate/{path}", token=s.admin_token,
                     json={"strategy": strategy, "reason": reason})


def value(s, path, version=None):
    r = s.read(path, version)
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["value_b64"]), r.json()["version"]


def test_webhook_immediate_rotation_stores_the_value_the_endpoint_returned(hooked):
    s, recv = hooked
    assert s.write("app/key", b"old", {"rotation_hook": f"webhook:{recv.url}"}).status_code == 200
    r = rotate(s, "app/key")
    assert r.status_code == 200, r.text
    assert r.json()["new_version"] == 2
    assert value(s, "app/key") == (b"from-webhook-1", 2)
    doc, good = recv.calls[0]
    assert good and doc["step"] == "create" and doc["path"] == "app/key" and doc["current_version"] == 1


def test_webhook_staged_rotation_tests_then_promotes(hooked):
    s, recv = hooked
    s.write("app/staged", b"old", {"rotation_hook": f"webhook:{recv.url}"})
    r = rotate(s, "app/staged", "staged")
    assert r.status_code == 200, r.text
    assert [c[0]["step"] for c in recv.calls] == ["create", "test"]
    assert recv.calls[1][0]["pending_version"] == 2
    assert value(s, "app/staged") == (b"from-webhook-1", 2)
    states = {v["version"]: v["state"] for v in s.metadata("app/staged").json()["versions"]}
    assert states == {1: "active", 2: "active"}


def test_failed_staged_rotation_leaves_the_current_value_and_marks_the_pending_failed(hooked):
    s, recv = hooked
    recv.fail_test = True
    s.write("app/fail", b"keep-me", {"rotation_hook": f"webhook:{recv.url}"})
    r = rotate(s, "app/fail", "staged")
    assert r.status_code >= 400, r.text
    body = r.json()
    assert "step test" in body["message"], body
    assert value(s, "app/fail") == (b"keep-me", 1)
    meta = s.metadata("app/fail").json()
    assert meta["current_version"] == 1 and meta["latest_version"] == 2
    assert {v["version"]: v["state"] for v in meta["versions"]} == {1: "active", 2: "failed"}
    assert s.read("app/fail", 2).status_code == 404
    ev = s.request("GET", f"{s.base}/admin/evidence", token=s.admin_token,
                   params={"path": "app/fail"}).json()["events"]
    assert [e["action"] for e in ev][-2:] == ["secret.rotate.staged", "secret.rotate.failed"]
    assert ev[-1]["outcome"] == "failed"
    # the next rotation works and skips the failed number
    recv.fail_test = False
    r = rotate(s, "app/fail", "staged")
    assert r.status_code == 200 and r.json()["new_version"] == 3, r.text
    assert value(s, "app/fail") == (b"from-webhook-1", 3)


def test_webhook_that_rejects_the_signature_changes_nothing(hooked):
    s, recv = hooked
    recv.key = b"not-the-key"
    s.write("app/sig", b"keep", {"rotation_hook": f"webhook:{recv.url}"})
    r = rotate(s, "app/sig")
    assert r.status_code == 400, r.text
    assert "HTTP 401" in r.json()["message"]
    assert value(s, "app/sig") == (b"keep", 1)


def test_unreachable_webhook_is_503_and_changes_nothing(fresh_server):
    s = fresh_server
    s.write("app/down", b"keep", {"rotation_hook": f"webhook:http://127.0.0.1:{free_port()}/x"})
    assert_error(rotate(s, "app/down"), 503, "dependency_down")
    assert value(s, "app/down") == (b"keep", 1)


# --- the postgresql plugin's rotate, against a real PostgreSQL ------------------------------------

ACCOUNT = "sd_static_app"


@pytest.fixture(scope="module")
def pg_srv(postgres_db, tmp_path_factory):
    postgres_db.query(f"DROP ROLE IF EXISTS {ACCOUNT}; CREATE ROLE {ACCOUNT} LOGIN PASSWORD 'first-pw'")
    d = tmp_path_factory.mktemp("pg-rotate")
    conf = write_plugins_conf(d / "plugins.conf", plugin_section("postgresql", connection_url=postgres_db.url))
    s = Server(d / "srv", plugins=conf, extra_args=LEASE_ARGS).start()
    yield s, postgres_db
    s.finish()
    postgres_db.query(f"DROP ROLE IF EXISTS {ACCOUNT}")


def can_login(db, password) -> bool:
    return db.psql("SELECT 1", user=ACCOUNT, password=password).returncode == 0


@pytest.mark.parametrize("strategy", ["immediate", "staged"])
def test_plugin_hook_changes_the_database_password_and_the_secret_together(pg_srv, strategy):
    s, db = pg_srv
    path = f"db/static-{strategy}"
    old = b"first-pw"
    if not can_login(db, old.decode()):  # a previous case rotated it
        old = value(s, "db/static-immediate")[0]
    assert s.write(path, old, {"rotation_hook": f"plugin:postgresql/{ACCOUNT}"}).status_code == 200
    r = rotate(s, path, strategy)
    assert r.status_code == 200, r.text
    new, version = value(s, path)
    assert version == 2 and new != old
    assert can_login(db, new.decode()), "the stored password does not log in"
    assert not can_login(db, old.decode()), "the old password still logs in"


def test_only_admins_may_point_a_secret_at_a_plugin_or_webhook_hook(fresh_server):
    s = fresh_server
    writer = s.token("dev", "writer", "secrets:write:* secrets:read:*")
    for hook in ("plugin:postgresql/postgres", "webhook:http://127.0.0.1:1/x"):
        r = s.write("app/escalate", b"v", {"rotation_hook": hook}, token=writer)
        assert_error(r, 403, "forbidden", "admin")
    assert s.write("app/escalate", b"v", {"rotation_hook": "generate"}, token=writer).status_code == 200
    assert s.write("app/escalate", b"v", {"rotation_hook": "webhook:http://127.0.0.1:1/x"}).status_code == 200


def test_a_write_during_a_staged_rotation_wins_and_the_staged_version_is_marked_failed(hooked):
    s, recv = hooked
    s.write("app/race", b"old", {"rotation_hook": f"webhook:{recv.url}"})

    def concurrent_write():
        # a writer on its own connection, while the rotation waits for the test step
        r = requests.post(f"{s.base}/secrets/app/race", json={"value_b64": base64.b64encode(b"concurrent").decode()},
                          headers={"Authorization": f"Bearer {s.admin_token}"}, timeout=10)
        assert r.status_code == 200, r.text
    recv.on_test = concurrent_write
    r = rotate(s, "app/race", "staged")
    assert_error(r, 409, "conflict", "staged rotation")
    assert value(s, "app/race") == (b"concurrent", 3)
    states = {v["version"]: v["state"] for v in s.metadata("app/race").json()["versions"]}
    assert states == {1: "active", 2: "failed", 3: "active"}
