"""Crash injection (issue #8, part 3): the server is killed with SIGKILL at
each of its crash points (test builds: env SECRETSD_CRASH_AT names the point,
see core/util.h), restarted without the variable, and must have lost nothing
it acknowledged, left nothing half-written, left no credential without a
lease record that revokes it, and kept an evidence chain that verifies.

  write_after_commit    a write is committed, its reply not yet sent
  lease_after_issue     the provider issued, the lease is not yet active
  rotate_after_pending  a staged rotation wrote its pending version
  evidence_append       inside the write's transaction, before its evidence record

Each test starts its own server with the example plugin (state_file on) and
a fast reaper; it is armed by a restart with the variable set, so that the
state before the crash was written by an ordinary server."""
import base64
import json
import signal

import pytest
import requests

from conftest import (LEASE_ARGS, b64, plugin_section, role_section, state_events,
                      unique, verified_chain, wait_for, write_plugins_conf)

POINTS = ("write_after_commit", "lease_after_issue", "rotate_after_pending", "evidence_append")
REPLAYED = "Idempotent-Replayed"
CRASH_WAIT_S = 15      # the process must be gone this long after the request failed
REAP_WAIT_S = 15       # a lease left pending by the crash is revoked within this


@pytest.fixture
def crash_server(server_factory, example_so, tmp_path):
    """A running server with role `long` (300 s) of the example plugin;
    .state_file is the plugin's event log."""
    state = tmp_path / "example.state"
    conf = write_plugins_conf(
        tmp_path / "plugins.conf",
        plugin_section("example", state_file=state),
        role_section("long", "example", default_ttl_s=300, max_ttl_s=600),
    )
    s = server_factory(plugins=conf, extra_args=LEASE_ARGS)
    s.state_file = state
    return s


# --- helpers -----------------------------------------------------------------------------

def arm(s, point: str) -> None:
    """Restart s (clean stop first) with SECRETSD_CRASH_AT=point."""
    assert s.stop() == 0
    s.env = {"SECRETSD_CRASH_AT": point}
    s.start()


def crash(s, point: str, send) -> None:
    """send() must die with the server: no reply, then the process is gone,
    killed by SIGKILL from the crash point."""
    mark = s.stderr_size()
    with pytest.raises(requests.RequestException):
        r = send()
        pytest.fail(f"the server answered instead of crashing at {point}: "
                    f"{r.status_code} {r.text}")
    s.proc.wait(timeout=CRASH_WAIT_S)
    assert s.proc.returncode == -signal.SIGKILL, \
        f"expected SIGKILL from crash point {point}, got exit {s.proc.returncode}"
    assert f"crash point {point}" in s.stderr_since(mark), s.stderr_since(mark)[-2000:]
    s.kill9()  # reaps and closes the session


def restart_clean(s) -> None:
    s.env = None
    s.start()


def keyed_write(s, path, key, value: bytes):
    body = json.dumps({"value_b64": b64(value)})
    return s.request("POST", f"{s.base}/secrets/{path}", token=s.admin_token, data=body,
                     headers={"X-Request-Id": key, "Content-Type": "application/json"})


def keyed_rotate(s, path, key, strategy="staged"):
    return s.request("POST", f"{s.base}/admin/rotate/{path}", token=s.admin_token,
                     json={"strategy": strategy, "reason": "crash test"},
                     headers={"X-Request-Id": key})


def value_at(s, path, version=None) -> tuple[int, bytes]:
    r = s.read(path, version)
    assert r.status_code == 200, r.text
    doc = r.json()
    return doc["version"], base64.b64decode(doc["value_b64"])


def events_for(s, lease_id):
    return [ev for ev, i in state_events(s.state_file) if i == lease_id]


# --- write_after_commit ------------------------------------------------------------------

def test_write_after_commit_crash_keeps_the_write_and_a_retry_replays_it_creating_nothing(
        crash_server, tmp_path):
    s = crash_server
    path = unique("wac")
    assert s.write(path, b"acknowledged-v1").status_code == 200
    arm(s, "write_after_commit")
    key = unique("wac-key")
    crash(s, "write_after_commit", lambda: keyed_write(s, path, key, b"committed-v2"))
    restart_clean(s)

    # the earlier acknowledged write is intact, the committed one is fully there
    assert value_at(s, path, 1) == (1, b"acknowledged-v1")
    assert value_at(s, path) == (2, b"committed-v2")
    records = verified_chain(s.data_dir, tmp_path)
    mine = [e for e in records if e.get("request_id") == key]
    assert [(e["action"], e.get("version")) for e in mine] == [("secret.write", 2)], mine

    # the client's retry gets the stored result and creates nothing new
    r = keyed_write(s, path, key, b"committed-v2")
    assert r.status_code == 200, r.text
    assert r.headers.get(REPLAYED) == "true", dict(r.headers)
    assert r.json()["version"] == 2, r.json()
    meta = s.metadata(path).json()
    assert meta["latest_version"] == 2 and meta["current_version"] == 2, meta
    assert [v["version"] for v in meta["versions"]] == [1, 2], meta
    records2 = verified_chain(s.data_dir, tmp_path)
    assert len(records2) == len(records), "the replay appended evidence"


# --- lease_after_issue -------------------------------------------------------------------

def test_lease_after_issue_crash_leaves_a_record_that_revokes_the_credential_after_restart(
        crash_server, tmp_path):
    s = crash_server
    before = len(state_events(s.state_file))
    arm(s, "lease_after_issue")
    crash(s, "lease_after_issue", lambda: s.issue("long"))
    issued = [i for ev, i in state_events(s.state_file)[before:] if ev == "issue"]
    assert len(issued) == 1, state_events(s.state_file)
    lid = issued[0]
    assert events_for(s, lid) == ["issue"]  # a credential exists that nobody was told about

    restart_clean(s)
    wait_for(lambda: events_for(s, lid) == ["issue", "revoke"], REAP_WAIT_S,
             lambda: f"a revoke line for {lid}: {events_for(s, lid)}")
    # the provider revokes before the lease's state is committed: wait for the state
    s.wait_lease_state(lid, "revoked", timeout=5)
    records = verified_chain(s.data_dir, tmp_path)
    # the credential was never handed out: no record says it was issued
    issued_ok = [e for e in records if e.get("lease_id") == lid and e["action"] == "lease.issue"
                 and e.get("outcome") == "ok"]
    assert issued_ok == [], issued_ok
    # and the server goes on issuing
    r = s.issue("long")
    assert r.status_code == 200, r.text
    assert s.lease_state(r.json()["lease_id"]) == "active"
    verified_chain(s.data_dir, tmp_path)


# --- rotate_after_pending ----------------------------------------------------------------

def test_rotate_after_pending_crash_leaves_the_current_version_current_and_readable(
        crash_server, tmp_path):
    s = crash_server
    path = unique("rap")
    assert s.write(path, b"the-current-value").status_code == 200
    arm(s, "rotate_after_pending")
    crash(s, "rotate_after_pending", lambda: keyed_rotate(s, path, unique("rap-key")))
    restart_clean(s)

    assert value_at(s, path) == (1, b"the-current-value")
    assert value_at(s, path, 1) == (1, b"the-current-value")
    meta = s.metadata(path).json()
    assert meta["current_version"] == 1, meta
    for v in meta["versions"]:
        if v["version"] != 1:
            assert v["state"] != "active", f"the pending version became active: {meta}"
    verified_chain(s.data_dir, tmp_path)

    # a new rotation goes through and replaces version 1
    r = keyed_rotate(s, path, unique("rap-key2"))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["previous_version"] == 1 and doc["new_version"] > 1, doc
    ver, val = value_at(s, path)
    assert ver == doc["new_version"] and val != b"the-current-value"
    assert value_at(s, path, 1) == (1, b"the-current-value")
    verified_chain(s.data_dir, tmp_path)


# --- evidence_append ---------------------------------------------------------------------

@pytest.mark.parametrize("existing", [True, False], ids=["second-version", "new-path"])
def test_evidence_append_crash_leaves_the_interrupted_write_absent_and_the_chain_whole(
        crash_server, tmp_path, existing):
    s = crash_server
    path = unique("ea")
    other = unique("ea-other")
    assert s.write(other, b"unrelated").status_code == 200
    if existing:
        assert s.write(path, b"v1").status_code == 200
    before = verified_chain(s.data_dir, tmp_path)
    arm(s, "evidence_append")
    key = unique("ea-key")
    crash(s, "evidence_append", lambda: keyed_write(s, path, key, b"interrupted"))
    restart_clean(s)

    if existing:
        assert value_at(s, path) == (1, b"v1")
        assert s.read(path, 2).status_code == 404
        meta = s.metadata(path).json()
        assert meta["latest_version"] == 1 and [v["version"] for v in meta["versions"]] == [1], meta
    else:
        assert s.read(path).status_code == 404
        assert s.metadata(path).status_code == 404
        assert path not in s.list_all(prefix="ea-")
    assert value_at(s, other) == (1, b"unrelated")
    after = verified_chain(s.data_dir, tmp_path)
    assert after == before, "the chain changed although nothing was committed"

    # nothing was stored under the key either: the retry is a fresh write
    r = keyed_write(s, path, key, b"interrupted")
    assert r.status_code == 200, r.text
    assert r.headers.get(REPLAYED) is None, dict(r.headers)
    want = 2 if existing else 1
    assert r.json()["version"] == want
    assert value_at(s, path) == (want, b"interrupted")
    final = verified_chain(s.data_dir, tmp_path)
    assert final[:len(before)] == before and len(final) == len(before) + 1


# --- the chain of a crashed data dir, before any restart ---------------------------------

@pytest.mark.parametrize("point", POINTS)
def test_evidence_export_of_a_data_dir_left_by_a_crash_prints_only_the_chain_and_verifies(
        crash_server, tmp_path, point):
    """An operator exports right after the crash, before the supervisor has
    restarted the server: the export must be the chain and nothing else."""
    s = crash_server
    path = unique("ex")
    assert s.write(path, b"v1").status_code == 200
    arm(s, point)
    send = {
        "write_after_commit": lambda: keyed_write(s, path, unique("k"), b"v2"),
        "evidence_append": lambda: keyed_write(s, path, unique("k"), b"v2"),
        "rotate_after_pending": lambda: keyed_rotate(s, path, unique("k")),
        "lease_after_issue": lambda: s.issue("long"),
    }[point]
    crash(s, point, send)
    records = verified_chain(s.data_dir, tmp_path)  # the server is down
    assert any(e.get("path") == path for e in records)
    restart_clean(s)
    verified_chain(s.data_dir, tmp_path)


# --- retries after a crash -----------------------------------------------------------------

@pytest.mark.parametrize("point", ["rotate_after_pending", "lease_after_issue"])
def test_a_retry_after_restart_of_a_request_cut_short_by_a_crash_is_not_refused_as_in_progress(
        crash_server, tmp_path, point):
    """The process that had the request in progress is gone: after a restart
    nothing is in progress, so the client's retry (same X-Request-Id, same
    body) is carried out or replayed, not answered 409 "still in progress"
    (for up to 15 minutes)."""
    s = crash_server
    path = unique("retry")
    assert s.write(path, b"v1").status_code == 200
    key = unique("retry-key")
    if point == "rotate_after_pending":
        send = lambda: keyed_rotate(s, path, key)  # noqa: E731
    else:
        send = lambda: s.issue("long", headers={"X-Request-Id": key})  # noqa: E731
    arm(s, point)
    crash(s, point, send)
    restart_clean(s)
    if point == "lease_after_issue":  # let the reaper revoke what the crash left first
        issued = [i for ev, i in state_events(s.state_file) if ev == "issue"]
        wait_for(lambda: all("revoke" in events_for(s, i) for i in issued), REAP_WAIT_S,
                 "the crashed lease to be revoked")
    r = send()
    assert r.status_code == 200, f"retry after restart: {r.status_code} {r.text}"
    if point == "rotate_after_pending":
        assert value_at(s, path)[0] == r.json()["new_version"]
    else:
        lid = r.json()["lease_id"]
        assert s.lease_state(lid) == "active"
        assert events_for(s, lid) == ["issue"]
    verified_chain(s.data_dir, tmp_path)
