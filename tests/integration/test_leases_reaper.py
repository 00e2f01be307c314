"""The reaper: expired leases are revoked within seconds, failing revocations
are retried with backoff and end as revoke_failed without holding up the
others; leases survive restarts, and a crash between the provider call and
the commit leaves nothing that outlives its lease.

Every test starts its own server with the example plugin (state_file on) and
a fast reaper (LEASE_ARGS: 100 ms interval, 20 ms retry base)."""
import time

import pytest
import requests

from conftest import (LEASE_ARGS, assert_error, parse_time, plugin_section, role_section, state_events,
                      wait_for, write_plugins_conf)

# A lease is revoked this long after it expires, at most (the issue says
# "within a few seconds"; the reaper looks every 100 ms here).
REAP_SLACK_S = 5


@pytest.fixture
def reaper_server(server_factory, example_so, tmp_path):
    """A server with roles short (2 s, max 6 s), long (60 s) and broken
    (revocation always fails); .state_file is the plugin's event log."""
    def make(**kw):
        state = tmp_path / f"example-{len(list(tmp_path.glob('example-*')))}.state"
        conf = write_plugins_conf(
            tmp_path / "plugins.conf",
            plugin_section("example", state_file=state),
            role_section("short", "example", default_ttl_s=2, max_ttl_s=6),
            role_section("long", "example", default_ttl_s=60, max_ttl_s=600),
            role_section("broken", "example", default_ttl_s=1, max_ttl_s=1, fail_revoke="true"),
        )
        kw.setdefault("extra_args", LEASE_ARGS)
        s = server_factory(plugins=conf, **kw)
        s.state_file = state
        return s
    return make


def issue(s, role, ttl_s=None) -> dict:
    r = s.issue(role, ttl_s)
    assert r.status_code == 200, r.text
    return r.json()


def events_for(s, lease_id):
    return [ev for ev, i in state_events(s.state_file) if i == lease_id]


def wait_past(ts: float) -> None:
    """Wait (bounded) until the wall clock is past ts."""
    assert ts - time.time() < 60, "refusing to wait more than a minute"
    wait_for(lambda: time.time() > ts, 65, f"the clock to pass {ts}", interval=0.1)


def test_reaper_revokes_an_expired_lease_within_seconds_at_the_provider(reaper_server):
    s = reaper_server()
    expired0 = s.metric("secretsd_leases_expired_total")
    doc = issue(s, "short")
    exp = parse_time(doc["expires_at"])
    assert doc["ttl_s"] == 2
    got = s.wait_lease_state(doc["lease_id"], "expired", timeout=2 + REAP_SLACK_S + 1)
    # not before its time (the API prints whole seconds)
    assert parse_time(got["revoked_at"]) >= exp - 1, got
    assert events_for(s, doc["lease_id"]) == ["issue", "revoke"]
    # the counter moves just after the state is committed: wait for it
    wait_for(lambda: s.metric("secretsd_leases_expired_total") >= expired0 + 1, 5,
             "secretsd_leases_expired_total to count the expiry")


def test_reaper_takes_expired_leases_only_and_a_renewed_one_after_its_new_expiry(reaper_server):
    s = reaper_server()
    long_ = issue(s, "long")
    plain = issue(s, "short")
    renewed = issue(s, "short")
    r = s.renew(renewed["lease_id"], 6)
    assert r.status_code == 200, r.text
    new_exp = parse_time(r.json()["expires_at"])
    assert new_exp >= parse_time(renewed["expires_at"]) + 2, r.json()
    # the lease that was not renewed goes first ...
    s.wait_lease_state(plain["lease_id"], "expired", timeout=2 + REAP_SLACK_S)
    # ... and the renewed one is still alive after its first expiry
    wait_past(parse_time(renewed["expires_at"]) + 1)
    assert time.time() < new_exp - 1, "test too slow to tell the two expiries apart"
    assert s.lease_state(renewed["lease_id"]) == "active"
    assert "revoke" not in events_for(s, renewed["lease_id"])
    s.wait_lease_state(renewed["lease_id"], "expired", timeout=new_exp - time.time() + REAP_SLACK_S)
    assert events_for(s, renewed["lease_id"]) == ["issue", "renew", "revoke"]
    # a lease far from its expiry was left alone all along
    assert s.lease_state(long_["lease_id"]) == "active"
    assert events_for(s, long_["lease_id"]) == ["issue"]


def test_failing_revocation_is_retried_with_backoff_then_marked_revoke_failed(reaper_server):
    s = reaper_server()
    failed0 = s.metric("secretsd_leases_revoke_failed_total")
    assert failed0 is not None, s.metrics_text()
    doc = issue(s, "broken")
    lid = doc["lease_id"]
    # it is retried: attempts are counted while the lease waits for the next try
    seen = s.wait_lease_state(lid, {"revoke_failed"}, timeout=40)
    assert seen["revoke_attempts"] >= 3, seen
    assert "fail_revoke" in seen.get("last_error", ""), seen
    # the counter moves just after the state is committed: wait for it
    wait_for(lambda: s.metric("secretsd_leases_revoke_failed_total") >= failed0 + 1, 5,
             "secretsd_leases_revoke_failed_total to count the failed lease")
    # the API lists it for operators
    listed = {l["lease_id"]: l for l in s.leases(role="broken").json()["leases"]}
    assert listed[lid]["state"] == "revoke_failed"
    # backoff: the server's log stamps each failed attempt; the waits grow
    # (the last attempt's line is written just after its state is committed)
    def attempt_stamps():
        return [parse_time(l.split(" ", 1)[0]) for l in s.stderr_text().splitlines()
                if lid in l and "revocation" in l]
    wait_for(lambda: len(attempt_stamps()) >= seen["revoke_attempts"], 5,
             lambda: f"a log line per attempt: {s.stderr_text()[-3000:]}")
    stamps = attempt_stamps()
    assert len(stamps) == seen["revoke_attempts"], s.stderr_text()[-3000:]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert gaps[-1] >= 4 * max(gaps[0], 0.1), f"no backoff between attempts: gaps {gaps}"
    # and once given up, it is not retried any more (the reaper runs every 100 ms)
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 1.0, 5, "one second", interval=0.1)
    again = s.lease(lid).json()
    assert again["state"] == "revoke_failed", again
    assert again["revoke_attempts"] == seen["revoke_attempts"], (seen, again)


def test_delete_of_a_revoke_failed_lease_retries_the_provider_once_and_revokes_when_it_works(
        reaper_server, tmp_path):
    s = reaper_server()
    lid = issue(s, "broken")["lease_id"]
    given_up = s.wait_lease_state(lid, "revoke_failed", timeout=40)
    wait_for(lambda: s.metric("secretsd_leases_revoke_failed_total") >= 1, 5,
             "the failed lease to be counted")
    # the provider still fails: 503, the lease stays given up, one more attempt
    r = s.revoke(lid)
    body = assert_error(r, 503, "dependency_down")
    assert "fail_revoke" in body["message"] and "revoke_failed" in body["message"], body
    again = s.lease(lid).json()
    assert again["state"] == "revoke_failed", again
    assert again["revoke_attempts"] == given_up["revoke_attempts"] + 1, (given_up, again)
    # a failed retry is not a second give-up: not counted, no second record
    assert s.metric("secretsd_leases_revoke_failed_total") == 1
    # ... and the reaper still leaves it alone
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 0.5, 5, "half a second", interval=0.1)
    assert s.lease(lid).json()["revoke_attempts"] == again["revoke_attempts"]

    # the operator fixes the cause (here: the role stops failing) ...
    write_plugins_conf(
        tmp_path / "plugins.conf",
        plugin_section("example", state_file=s.state_file),
        role_section("broken", "example", default_ttl_s=1, max_ttl_s=1),
        role_section("marker", "example", default_ttl_s=60, max_ttl_s=60),
    )
    s.sighup()
    wait_for(lambda: s.issue("marker").status_code == 200, 10, "the reload to take effect")
    # ... and DELETE finishes the job at the provider
    r = s.revoke(lid)
    assert r.status_code == 204, r.text
    done = s.lease(lid).json()
    assert done["state"] == "revoked" and done.get("revoked_at"), done
    assert events_for(s, lid) == ["issue", "revoke"]
    # the evidence says who revoked it after the give-up
    ev = s.request("GET", f"{s.base}/admin/evidence", token=s.admin_token,
                   params={"action": "lease.revoke", "limit": 100})
    assert ev.status_code == 200, ev.text
    mine = [e for e in ev.json()["events"] if e.get("lease_id") == lid]
    assert len(mine) == 1 and mine[0]["outcome"] == "ok", mine
    # over now: another DELETE does not call the provider
    assert s.revoke(lid).status_code == 204
    assert events_for(s, lid) == ["issue", "revoke"]


def test_failing_revocations_do_not_hold_up_other_revocations(reaper_server):
    s = reaper_server()
    broken = [issue(s, "broken")["lease_id"] for _ in range(12)]
    good = issue(s, "short")
    # the good lease expires on time while the broken ones are being retried
    s.wait_lease_state(good["lease_id"], "expired", timeout=2 + REAP_SLACK_S)
    assert events_for(s, good["lease_id"]) == ["issue", "revoke"]
    # and an explicit revocation goes through at once, too
    other = issue(s, "long")
    assert s.revoke(other["lease_id"]).status_code == 204
    assert s.lease_state(other["lease_id"]) == "revoked"
    for lid in broken:
        got = s.wait_lease_state(lid, "revoke_failed", timeout=40)
        assert got["revoke_attempts"] >= 2
    # the counter moves just after each state is committed: wait for it
    wait_for(lambda: (s.metric("secretsd_leases_revoke_failed_total") or 0) >= len(broken), 5,
             lambda: s.metrics_text())
    assert s.lease_state(good["lease_id"]) == "expired"


def test_leases_survive_a_restart_and_can_be_revoked_after_it(reaper_server):
    s = reaper_server()
    doc = issue(s, "long")
    renewed = issue(s, "long", 30)
    r = s.renew(renewed["lease_id"], 90)
    assert r.status_code == 200
    s.restart()
    got = s.lease(doc["lease_id"]).json()
    assert got["state"] == "active" and got["expires_at"] == doc["expires_at"], got
    assert s.lease(renewed["lease_id"]).json()["expires_at"] == r.json()["expires_at"]
    assert s.revoke(doc["lease_id"]).status_code == 204
    assert s.lease_state(doc["lease_id"]) == "revoked"
    assert events_for(s, doc["lease_id"]) == ["issue", "revoke"]


def test_leases_survive_kill_9(reaper_server):
    s = reaper_server()
    doc = issue(s, "long")
    s.kill9()
    s.restart()
    got = s.lease(doc["lease_id"]).json()
    assert got["state"] == "active" and got["expires_at"] == doc["expires_at"], got
    lst = [l["lease_id"] for l in s.leases(role="long").json()["leases"]]
    assert doc["lease_id"] in lst


def test_lease_that_expired_while_the_server_was_down_is_revoked_after_start(reaper_server):
    s = reaper_server()
    doc = issue(s, "short")
    keep = issue(s, "long")
    s.kill9()
    wait_past(parse_time(doc["expires_at"]) + 1)
    assert "revoke" not in events_for(s, doc["lease_id"])
    s.restart()
    s.wait_lease_state(doc["lease_id"], "expired", timeout=REAP_SLACK_S)
    assert events_for(s, doc["lease_id"]) == ["issue", "revoke"]
    assert s.lease_state(keep["lease_id"]) == "active"


def test_crash_between_provider_call_and_commit_revokes_the_credential_after_restart(
        reaper_server):
    s = reaper_server(env={"SECRETSD_CRASH_AT": "lease_after_issue"})
    before = list(state_events(s.state_file))
    with pytest.raises(requests.RequestException):
        s.issue("long")  # the server dies before it answers
    s.proc.wait(timeout=15)
    assert s.proc.returncode == -9, f"expected SIGKILL from the crash point, got {s.proc.returncode}"
    issued = [i for ev, i in state_events(s.state_file)[len(before):] if ev == "issue"]
    assert len(issued) == 1, state_events(s.state_file)
    lid = issued[0]
    # the credential exists at the provider; nobody was told about it
    assert events_for(s, lid) == ["issue"]
    s.env = None
    s.restart()
    wait_for(lambda: events_for(s, lid) == ["issue", "revoke"], REAP_SLACK_S + 10,
             lambda: f"revoke {lid} in the state file: {events_for(s, lid)}")
    # the provider revokes before the lease's state is committed: wait for the state
    s.wait_lease_state(lid, "revoked", timeout=5)
    # the server goes on issuing normally
    doc = issue(s, "long")
    assert s.lease_state(doc["lease_id"]) == "active"
