"""The evidence chain (issue #5): every change appends a hash-chained record,
readable by the tenant's admin at GET {base}/admin/evidence, exported by
`secretsd evidence export --data-dir DIR` and checked offline by
`secretsd evidence verify --file F`.

One server with the example provider plugin serves the module (leases append
evidence too); every test uses its own paths, leases and request ids, and
only assumes records it made itself, except the chain tests, which check
every record there is."""
import base64
import hashlib
import json
import re
import threading
import time

import pytest

from conftest import (LEASE_ARGS, Server, assert_error, parse_time, plugin_section, role_section,
                      run_bin, unique, wait_for, write_plugins_conf)

ZERO = "0" * 64
HEX64 = re.compile(r"[0-9a-f]{64}")
FIELDS = ("seq", "time", "tenant", "actor", "action", "outcome", "prev_hash", "hash")


@pytest.fixture(scope="module")
def srv(example_so, tmp_path_factory):
    d = tmp_path_factory.mktemp("evidence")
    conf = write_plugins_conf(
        d / "plugins.conf",
        plugin_section("example", state_file=d / "example.state"),
        role_section("app", "example", default_ttl_s=60, max_ttl_s=120),
    )
    s = Server(d / "srv", plugins=conf, extra_args=LEASE_ARGS).start()
    yield s
    s.finish()


# --- helpers -----------------------------------------------------------------------------------

def rid() -> str:
    return unique("ev-rid")


def with_rid(key):
    return {"X-Request-Id": key}


def ev_page(s, token=None, **params):
    return s.request("GET", f"{s.base}/admin/evidence", token=s._tok(token), params=params)


def evidence(s, token=None, limit=1000, **params) -> list[dict]:
    """All records for params, following `next` (fails on an error or a loop)."""
    out, since, pages = [], params.pop("since", None), 0
    while True:
        q = dict(params, limit=limit)
        if since is not None:
            q["since"] = since
        r = ev_page(s, token=token, **q)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert set(doc) >= {"events", "next"}, doc
        out.extend(doc["events"])
        since = doc["next"]
        pages += 1
        assert pages < 1000, "evidence pagination does not terminate"
        if since is None:
            return out


def export(s) -> str:
    p = run_bin("evidence", "export", "--data-dir", str(s.data_dir))
    assert p.returncode == 0, f"export failed ({p.returncode}): {p.stderr}"
    return p.stdout


def records(text: str) -> list[dict]:
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def verify(path):
    return run_bin("evidence", "verify", "--file", str(path))


def canonical_hash(rec: dict) -> str:
    """SHA-256 of the record without "hash", keys sorted, no spaces."""
    body = {k: v for k, v in rec.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def ok(r, status=200):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    return r


def rotate(s, path, key, reason):
    return s.request("POST", f"{s.base}/admin/rotate/{path}", token=s.admin_token,
                     headers=with_rid(key), json={"strategy": "immediate", "reason": reason})


# --- what is recorded ----------------------------------------------------------------------------

def test_write_delete_undelete_rotate_each_append_a_record_with_the_sent_request_id(srv):
    path = unique("ev/all")
    keys = [rid() for _ in range(5)]
    t0 = time.time()
    ok(srv.request("POST", f"{srv.base}/secrets/{path}", token=srv.admin_token,
                   headers=with_rid(keys[0]), json={"value_b64": "djE="}))
    ok(srv.request("POST", f"{srv.base}/secrets/{path}", token=srv.admin_token,
                   headers=with_rid(keys[1]), json={"value_b64": "djI="}))
    ok(srv.request("DELETE", f"{srv.base}/secrets/{path}", token=srv.admin_token,
                   headers=with_rid(keys[2]), params={"version": 2}), 204)
    ok(srv.request("POST", f"{srv.base}/undelete/{path}", token=srv.admin_token,
                   headers=with_rid(keys[3]), params={"version": 2}), 204)
    ok(rotate(srv, path, keys[4], "key compromise drill"))
    t1 = time.time()

    evs = evidence(srv, path=path)
    assert [e["action"] for e in evs] == ["secret.write", "secret.write", "secret.delete",
                                          "secret.undelete", "secret.rotate"], evs
    assert [e.get("request_id") for e in evs] == keys, evs
    assert [e.get("version") for e in evs] == [1, 2, 2, 2, 3], evs
    for e in evs:
        for f in FIELDS:
            assert f in e, f"record lacks {f}: {e}"
        assert e["tenant"] == "dev" and e["actor"] == "dev-admin" and e["path"] == path, e
        assert e["outcome"] == "ok", e
        assert HEX64.fullmatch(e["hash"]) and HEX64.fullmatch(e["prev_hash"]), e
        assert isinstance(e["seq"], int) and e["seq"] >= 1, e
        assert t0 - 2 <= parse_time(e["time"]) <= t1 + 2, e
    assert evs[4]["reason"] == "key compromise drill", evs[4]
    assert evs[4].get("previous_version") == 2, evs[4]
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5, seqs


def test_a_change_that_did_not_happen_appends_nothing(srv):
    path = unique("ev/none")
    ok(srv.write(path, "v"))
    before = evidence(srv, path=path)
    # a refused cas, a missing version, a refused rotation: no change, no record
    assert srv.write(path, "w", cas=7).status_code == 409
    assert srv.delete(path, 9).status_code == 404
    tok = srv.token("dev", "no-admin", "secrets:read:* secrets:write:*")
    assert rotate(srv, path, rid(), "x").status_code == 200  # admin: one record
    assert srv.request("POST", f"{srv.base}/admin/rotate/{path}", token=tok,
                       json={"strategy": "immediate"}).status_code == 403
    after = evidence(srv, path=path)
    assert [e["action"] for e in after] == [e["action"] for e in before] + ["secret.rotate"], after


def test_lease_issue_and_revoke_append_records_with_the_sent_request_ids(srv):
    k_issue, k_revoke = rid(), rid()
    r = ok(srv.request("POST", f"{srv.base}/leases", token=srv.admin_token,
                       headers=with_rid(k_issue), json={"role": "app"}))
    lease = r.json()
    lid = lease["lease_id"]
    ok(srv.request("DELETE", f"{srv.base}/leases/{lid}", token=srv.admin_token,
                   headers=with_rid(k_revoke)), 204)

    def mine():
        return [e for e in evidence(srv) if e.get("lease_id") == lid]

    evs = wait_for(lambda: (lambda x: x if len(x) >= 2 else None)(mine()), 10,
                   f"issue and revoke records for lease {lid}")
    assert [e["action"] for e in evs] == ["lease.issue", "lease.revoke"], evs
    assert [e.get("request_id") for e in evs] == [k_issue, k_revoke], evs
    for e in evs:
        assert e["role"] == "app" and e["tenant"] == "dev" and e["outcome"] == "ok", e
        assert e["actor"] == "dev-admin", e
    # the credential is not in the records
    text = json.dumps(evs)
    assert lease["secret_key"] not in text
    # and the action filter finds them
    assert any(e.get("lease_id") == lid for e in evidence(srv, action="lease.issue"))
    assert all(e["action"] == "lease.revoke" for e in evidence(srv, action="lease.revoke"))


# --- who may read it ---------------------------------------------------------------------------------

def test_evidence_needs_the_admin_scope(srv):
    tok = srv.token("dev", "reader-" + unique(), "secrets:read:* secrets:write:*")
    assert_error(ev_page(srv, token=tok), 403, "forbidden")
    r = srv.request("GET", f"{srv.base}/admin/evidence")
    assert_error(r, 401, "unauthorized")


def test_another_tenants_admin_sees_none_of_this_tenants_records(srv):
    path = unique("ev/tenant")
    k = rid()
    ok(srv.request("POST", f"{srv.base}/secrets/{path}", token=srv.admin_token,
                   headers=with_rid(k), json={"value_b64": "dGVuYW50"}))
    ok(rotate(srv, path, rid(), "tenant test"))
    other = srv.token("ev-other-tenant", "other-admin", "admin")
    assert evidence(srv, token=other, path=path) == []
    theirs = evidence(srv, token=other)
    assert all(e["tenant"] == "ev-other-tenant" for e in theirs), theirs
    assert k not in json.dumps(theirs)
    # their own change is theirs only
    opath = unique("ev/theirs")
    ok(srv.write(opath, "o", token=other))
    got = evidence(srv, token=other, path=opath)
    assert [e["action"] for e in got] == ["secret.write"] and got[0]["tenant"] == "ev-other-tenant"
    assert got[0]["actor"] == "other-admin"
    assert evidence(srv, path=opath) == []


# --- query: filters and pages --------------------------------------------------------------------------

def test_pages_of_limit_records_follow_next_to_the_end_without_gaps_or_repeats(srv):
    path = unique("ev/pages")
    for i in range(7):
        ok(srv.write(path, f"v{i}"))
    whole = evidence(srv, path=path)
    assert len(whole) == 7
    got, since, pages = [], None, 0
    while True:
        q = {"path": path, "limit": 2}
        if since is not None:
            q["since"] = since
        doc = ok(ev_page(srv, **q)).json()
        assert len(doc["events"]) <= 2, doc
        got.extend(doc["events"])
        pages += 1
        assert pages <= 10, "pagination does not end"
        since = doc["next"]
        if since is None:
            break
        assert isinstance(since, int), doc
    assert [e["seq"] for e in got] == [e["seq"] for e in whole]
    assert [e.get("version") for e in got] == list(range(1, 8))
    assert pages >= 4


def test_since_starts_at_that_sequence_number_and_action_filters(srv):
    path = unique("ev/since")
    for i in range(4):
        ok(srv.write(path, f"v{i}"))
    ok(rotate(srv, path, rid(), "since"))
    whole = evidence(srv, path=path)
    third = whole[2]["seq"]
    tail = evidence(srv, path=path, since=third)
    assert [e["seq"] for e in tail] == [e["seq"] for e in whole[2:]]
    rot = evidence(srv, path=path, action="secret.rotate")
    assert len(rot) == 1 and rot[0]["version"] == 5 and rot[0]["reason"] == "since", rot
    assert evidence(srv, path=path, action="secret.delete") == []
    assert evidence(srv, path=path, action="secret.rotate", since=rot[0]["seq"] + 1) == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"since": 0},
                                    {"since": -1}, {"since": "a"}, {"bogus": 1}])
def test_malformed_query_parameters_are_400(srv, params):
    assert_error(ev_page(srv, **params), 400, "invalid_request")


# --- the chain ------------------------------------------------------------------------------------------

def test_chain_links_each_prev_hash_to_the_previous_hash_from_64_zeros(srv):
    path = unique("ev/chain")
    ok(srv.write(path, "c"))
    # a reason with non-ASCII, a slash, a tab and quotes: still canonical JSON
    ok(rotate(srv, path, rid(), 'caf\u00e9/\u00b1\t"quoted" \u2713'))
    recs = records(export(srv))
    assert recs, "empty export"
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert recs[0]["prev_hash"] == ZERO
    for a, b in zip(recs, recs[1:]):
        assert b["prev_hash"] == a["hash"], (a, b)
    for r in recs:
        assert canonical_hash(r) == r["hash"], f"hash is not SHA-256 of the record: {r}"
    # the API gives the same records (same hashes)
    api = {e["seq"]: e for e in evidence(srv)}
    for r in recs:
        if r["tenant"] == "dev":
            assert api.get(r["seq"]) == r, (api.get(r["seq"]), r)


def test_export_while_the_server_runs_prints_one_json_record_per_line(srv):
    path = unique("ev/export")
    ok(srv.write(path, "e"))
    text = export(srv)
    assert srv.running()
    lines = text.splitlines()
    assert lines and all(l.startswith("{") for l in lines)
    recs = [json.loads(l) for l in lines]
    assert any(r.get("path") == path and r["action"] == "secret.write" for r in recs)
    # the server still works after the export
    ok(srv.write(path, "after-export"))


def test_concurrent_changes_keep_one_unbroken_chain_and_exports_taken_meanwhile_verify(
        srv, tmp_path):
    stop = threading.Event()
    errors = []

    def writer(n):
        base = unique(f"ev/conc{n}")
        i = 0
        while not stop.is_set() and i < 40:
            r = srv.request("POST", f"{srv.base}/secrets/{base}/{i % 3}", token=srv.admin_token,
                            json={"value_b64": "Y29uYw=="})
            if r.status_code != 200:
                errors.append(r.text)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:
        for k in range(3):  # exports taken while the writers run
            f = tmp_path / f"during{k}.jsonl"
            f.write_text(export(srv))
            p = verify(f)
            assert p.returncode == 0, f"an export taken during writes does not verify:\n{p.stderr}"
    finally:
        for t in threads:
            t.join(timeout=60)
        stop.set()
    assert not errors, errors[:3]
    f = tmp_path / "after.jsonl"
    f.write_text(export(srv))
    p = verify(f)
    assert p.returncode == 0, p.stderr
    recs = records(f.read_text())
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert len({r["hash"] for r in recs}) == len(recs)


@pytest.fixture(scope="module")
def exported(srv, tmp_path_factory):
    """An export of at least 8 records, and its lines."""
    for i in range(8):
        ok(srv.write(unique("ev/tamper"), f"t{i}"))
    text = export(srv)
    f = tmp_path_factory.mktemp("export") / "evidence.jsonl"
    f.write_text(text)
    lines = text.splitlines()
    assert len(lines) >= 8
    return f, lines


def test_verify_exits_0_on_an_untouched_export(exported):
    f, lines = exported
    p = verify(f)
    assert p.returncode == 0, p.stdout + p.stderr
    assert str(len(lines)) in p.stdout, p.stdout


def _edit(lines, i):
    rec = json.loads(lines[i])
    rec["actor"] = "someone-else"
    out = list(lines)
    out[i] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    return out


def _edit_rehash(lines, i):
    rec = json.loads(lines[i])
    rec["version"] = rec.get("version", 0) + 100
    rec["hash"] = canonical_hash(rec)
    out = list(lines)
    out[i] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    return out


def _delete(lines, i):
    return lines[:i] + lines[i + 1:]


def _insert(lines, i):
    return lines[:i + 1] + [lines[i]] + lines[i + 1:]


def _swap(lines, i):
    out = list(lines)
    out[i], out[i + 1] = out[i + 1], out[i]
    return out


@pytest.mark.parametrize("how,tamper,first_bad", [
    ("edited", _edit, 0),            # the edited record itself
    ("edited_and_rehashed", _edit_rehash, 1),  # its successor no longer links to it
    ("deleted", _delete, 0),         # the record now in its place
    ("inserted", _insert, 1),        # the duplicate
    ("reordered", _swap, 0),         # the record moved up
])
def test_verify_fails_naming_the_first_bad_record_when_the_export_is_tampered(
        exported, tmp_path, how, tamper, first_bad):
    f, lines = exported
    i = len(lines) // 2
    bad = tamper(lines, i)
    g = tmp_path / f"{how}.jsonl"
    g.write_text("\n".join(bad) + "\n")
    p = verify(g)
    assert p.returncode != 0, f"verify accepted a {how} record:\n{p.stdout}{p.stderr}"
    line_no = i + 1 + first_bad                  # 1-based line of the first bad record
    seq = json.loads(bad[line_no - 1])["seq"]
    msg = p.stderr + p.stdout
    assert re.search(rf"\bline {line_no}\b", msg) or re.search(rf"\bseq {seq}\b", msg), \
        f"verify did not name line {line_no} (seq {seq}) for a {how} record:\n{msg}"
    # and nothing earlier is blamed
    for n in range(1, line_no):
        assert not re.search(rf"\bline {n}\b", msg), msg


# --- no values --------------------------------------------------------------------------------------------

def value_forms(v: bytes) -> list[str]:
    return [f for f in (v.decode(errors="ignore"), base64.b64encode(v).decode(),
                        base64.urlsafe_b64encode(v).decode().rstrip("="),
                        base64.b64encode(v).decode().rstrip("="), v.hex()) if len(f) >= 8]


def test_no_secret_value_appears_in_exported_evidence_only_its_hmac(srv):
    path = unique("ev/values")
    plain = ("Plain-Value-" + unique()).encode()
    ok(srv.write(path, plain))
    ok(rotate(srv, path, rid(), "values"))
    r = ok(srv.read(path))
    rotated = base64.b64decode(r.json()["value_b64"])
    lease = ok(srv.issue("app")).json()
    text = export(srv)
    for v in (plain, rotated):
        for form in value_forms(v):
            assert form not in text, f"a secret value ({form!r}) is in the evidence export"
    for form in (lease["secret_key"], lease["password"]):
        assert form not in text, "a lease credential is in the evidence export"
    mine = [r for r in records(text) if r.get("path") == path]
    assert [r["action"] for r in mine] == ["secret.write", "secret.rotate"]
    macs = [r.get("value_hmac") for r in mine]
    assert all(m and HEX64.fullmatch(m) for m in macs), mine
    assert macs[0] != macs[1]
    # keyed: not a plain digest anyone could compute from a guessed value
    assert macs[0] not in (hashlib.sha256(plain).hexdigest(), hashlib.sha256(b64(plain)).hexdigest())


def b64(v: bytes) -> bytes:
    return base64.b64encode(v)
