"""The request audit log: every API request (reads and refused ones too) is
one JSON line in the file named by [server] audit_log (`--set
server.audit_log=FILE`, "-" = stdout) with time, tenant, actor, route, path,
status, request id and client address, and never a value or a token. A
request that cannot be recorded fails with 503 dependency_down.

Lines are matched by the X-Request-Id each test sends. Waits poll with a
bounded deadline."""
import base64
import json
import time

import pytest

from conftest import API, Server, assert_error, parse_time, run_bin, unique, wait_for

FIELDS = ("time", "tenant", "actor", "route", "path", "status", "request_id", "client")


def audited_server(factory, tmp_path, log) -> Server:
    return factory(extra_args=("--rate-limit", "0", "--set", f"server.audit_log={log}"))


def audit_lines(text: str, only_json: bool = False) -> list[dict]:
    """Every line of an audit file as JSON; `only_json` skips lines that do not
    start with "{" (stdout also carries the dev server's banner)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or (only_json and not line.startswith("{")):
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"audit line {n} is not JSON: {line!r}")
    return out


def reply_line(read_text, request_id: str, timeout: float = 5, only_json=False) -> dict:
    """The line recording the reply (it carries the status) to request_id."""
    found = {}

    def check():
        for rec in audit_lines(read_text(), only_json):
            if rec.get("request_id") == request_id and "status" in rec:
                found.update(rec)
                return True
        return False

    wait_for(check, timeout, f"an audit line with request_id {request_id} and a status")
    return found


def send(s, method, path, key, token=None, **kw):
    h = {"X-Request-Id": key}
    return s.request(method, s.url + path, token=token, headers=h, **kw)


def test_every_request_including_401_403_404_is_one_json_line_with_the_fields(
        server_factory, tmp_path):
    log = tmp_path / "audit.jsonl"
    s = audited_server(server_factory, tmp_path, log)
    path = unique("audit/fields")
    reader = s.token("dev", "audit-reader", f"secrets:read:{path}")
    cases = [  # method, url path, token, expected status, route, tenant, actor
        ("POST", f"{API}/secrets/{path}", s.admin_token, 200, "secret_write", "dev", "dev-admin",
         {"json": {"value_b64": "YXVkaXQ="}}),
        ("GET", f"{API}/secrets/{path}", s.admin_token, 200, "secret_read", "dev", "dev-admin", {}),
        ("GET", f"{API}/secrets/{path}", reader, 200, "secret_read", "dev", "audit-reader", {}),
        ("GET", f"{API}/secrets/{path}", None, 401, "secret_read", None, None, {}),
        ("GET", f"{API}/secrets/{path}", "not-a-token", 401, "secret_read", None, None, {}),
        ("POST", f"{API}/secrets/{path}", reader, 403, "secret_write", "dev", "audit-reader",
         {"json": {"value_b64": "eA=="}}),
        ("POST", f"{API}/admin/rotate/{path}", reader, 403, "admin_rotate", "dev", "audit-reader",
         {"json": {"strategy": "immediate"}}),
        ("GET", f"{API}/secrets/{path}-missing", s.admin_token, 404, "secret_read", "dev",
         "dev-admin", {}),
        ("GET", f"{API}/no-such-endpoint", s.admin_token, 404, None, None, None, {}),
        ("DELETE", f"{API}/secrets/{path}", s.admin_token, 204, "secret_delete", "dev",
         "dev-admin", {}),
    ]
    t0 = time.time()
    sent = []
    for method, url, tok, status, route, tenant, actor, kw in cases:
        key = unique("audit-rid")
        r = send(s, method, url, key, token=tok, **kw)
        assert r.status_code == status, (method, url, r.status_code, r.text)
        sent.append((key, method, url, status, route, tenant, actor))
    t1 = time.time()

    read = lambda: log.read_text()
    for key, method, url, status, route, tenant, actor in sent:
        rec = reply_line(read, key)
        for f in FIELDS:
            assert f in rec, f"audit line lacks {f!r}: {rec}"
        assert rec["status"] == status, rec
        assert rec["request_id"] == key
        assert url.split("?")[0] in rec["path"] or rec["path"] in url, (url, rec)
        assert "127.0.0.1" in str(rec["client"]), rec
        assert t0 - 2 <= parse_time(rec["time"]) <= t1 + 2, rec
        if route is not None:
            assert rec["route"] == route, rec
        else:
            assert isinstance(rec["route"], str) and rec["route"], rec
        if tenant is not None:
            assert rec["tenant"] == tenant and rec["actor"] == actor, rec
        else:
            assert not rec["tenant"] and not rec["actor"], \
                f"an unauthenticated request is attributed to someone: {rec}"
        if "method" in rec:
            assert rec["method"] == method, rec
    # one reply line per request
    recs = audit_lines(read())
    for key, *_ in sent:
        assert len([r for r in recs if r.get("request_id") == key and "status" in r]) == 1, key


def test_hostile_request_ids_and_paths_stay_one_json_object_per_line(server_factory, tmp_path):
    log = tmp_path / "audit.jsonl"
    s = audited_server(server_factory, tmp_path, log)
    keys = ['rid"},{"status":200,"x":"', "rid\\n\\u0000{", unique("plain")]
    targets = [f"{API}/secrets/a%0Ab%22c", f"{API}/secrets/ok%0D%0A%7B%22status%22%3A200%7D",
               f"{API}/secrets/{unique('audit/plain')}"]
    for key, target in zip(keys, targets):
        r = s.raw("GET", target, headers={"X-Request-Id": key}, token=s.admin_token)
        assert r.status_code in (400, 404), (target, r.status_code, r.text)
    for key in keys:
        rec = reply_line(lambda: log.read_text(), key)
        assert rec["request_id"] == key and rec["status"] in (400, 404), rec
    # every line is one JSON object; nothing forged a second record
    recs = audit_lines(log.read_text())
    assert all(isinstance(r, dict) for r in recs)
    assert not any(r.get("x") is not None for r in recs), recs


def test_audit_log_holds_no_token_and_no_value(server_factory, tmp_path):
    log = tmp_path / "audit.jsonl"
    s = audited_server(server_factory, tmp_path, log)
    path = unique("audit/novalue")
    value = ("Audit-Plain-Value-" + unique()).encode()
    tok = s.token("dev", "audit-user", "secrets:read:* secrets:write:*")
    assert s.write(path, value, token=tok).status_code == 200
    assert s.read(path, token=tok).status_code == 200
    r = s.request("POST", f"{s.base}/admin/rotate/{path}", token=s.admin_token,
                  json={"strategy": "immediate", "reason": "audit"})
    assert r.status_code == 200, r.text
    rotated = base64.b64decode(s.read(path).json()["value_b64"])
    bad_tok = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    assert s.read(path, token=bad_tok).status_code == 401
    key = unique("audit-last")
    send(s, "GET", f"{API}/secrets/{path}", key, token=s.admin_token)
    reply_line(lambda: log.read_text(), key)

    text = log.read_text()
    assert path in text
    for t in (tok, bad_tok, s.admin_token):
        for part in t.split("."):
            if len(part) >= 16:
                assert part not in text, "a token (or part of one) is in the audit log"
    assert "Bearer" not in text
    for v in (value, rotated):
        for form in (v.decode(errors="ignore"), base64.b64encode(v).decode(), v.hex()):
            assert form not in text, f"a secret value ({form!r}) is in the audit log"


def test_audit_log_dash_writes_the_lines_to_stdout(server_factory, tmp_path):
    s = audited_server(server_factory, tmp_path, "-")
    key = unique("audit-stdout")
    r = send(s, "GET", f"{API}/secrets/{unique('audit/none')}", key, token=s.admin_token)
    assert r.status_code == 404
    rec = reply_line(s.stdout_text, key, only_json=True)
    assert rec["status"] == 404 and rec["route"] == "secret_read" and rec["tenant"] == "dev"


def full_audit_server(factory, path, value) -> Server:
    """A server holding `path` = value (written while its log worked), now
    restarted with audit_log = /dev/full: every write to the log fails."""
    s = factory()
    assert s.write(path, value).status_code == 200
    s.stop()
    s.extra_args = ("--rate-limit", "0", "--set", "server.audit_log=/dev/full")
    s.start()
    return s


def test_changes_are_refused_with_503_and_not_made_when_the_audit_log_cannot_be_written(
        server_factory):
    path = unique("audit/full")
    value = ("Unaudited-Write-" + unique()).encode()
    s = full_audit_server(server_factory, path, value)
    assert_error(s.write(path, "must-not-be-written"), 503, "dependency_down")
    assert_error(s.write(unique("audit/new"), "must-not-be-written"), 503, "dependency_down")
    r = s.request("POST", f"{s.base}/admin/rotate/{path}", token=s.admin_token,
                  json={"strategy": "immediate"})
    assert_error(r, 503, "dependency_down")
    assert_error(s.delete(path), 503, "dependency_down")
    s.stop()
    # nothing happened while the log was unwritable
    s.extra_args = ("--rate-limit", "0")
    s.start()
    meta = s.metadata(path)
    assert meta.status_code == 200, meta.text
    assert meta.json()["current_version"] == 1
    assert [v["state"] for v in meta.json()["versions"]] == ["active"]
    assert base64.b64decode(s.read(path).json()["value_b64"]) == value
    p = run_bin("evidence", "export", "--data-dir", str(s.data_dir))
    assert p.returncode == 0, p.stderr
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    assert [r["action"] for r in recs] == ["secret.write"], recs


def test_reads_are_refused_with_503_without_the_value_when_the_audit_log_cannot_be_written(
        server_factory):
    path = unique("audit/fullread")
    value = ("Unaudited-Read-" + unique()).encode()
    s = full_audit_server(server_factory, path, value)
    for r in (s.read(path), s.read(path, 1), s.metadata(path), s.list(),
              s.request("GET", f"{s.base}/admin/evidence", token=s.admin_token)):
        assert value.decode() not in r.text and base64.b64encode(value).decode() not in r.text, \
            "a read that could not be audited was answered with the value"
        assert path not in r.text, f"a read that could not be audited was answered: {r.text}"
        assert_error(r, 503, "dependency_down")


def test_no_request_is_served_unaudited_when_the_audit_log_cannot_be_opened(
        server_factory, tmp_path):
    gone = tmp_path / "removed-dir"
    log = gone / "audit.jsonl"  # its directory does not exist
    s = Server(tmp_path / "srv-noaudit",
               extra_args=("--rate-limit", "0", "--set", f"server.audit_log={log}"))
    try:
        s.start()
    except RuntimeError as e:
        # refusing to start is fine, when it says why
        assert str(log) in str(e) or "audit" in str(e).lower(), e
        return
    try:
        assert_error(s.write(unique("audit/x"), "x"), 503, "dependency_down")
        assert_error(s.read(unique("audit/x")), 503, "dependency_down")
    finally:
        s.finish()
