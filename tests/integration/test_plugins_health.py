"""A provider that is down, failing or slow hurts only the requests that need
it: they get 503 dependency_down (or wait), /ready tells operators, and
ordinary secrets keep being served."""
import base64
import concurrent.futures

import pytest
import requests

from conftest import (LEASE_ARGS, assert_error, plugin_section, role_section, state_events,
                      unique, wait_for, write_plugins_conf)

# The server polls plugin health about every 5 s.
HEALTH_WAIT_S = 15


@pytest.fixture
def example_server(server_factory, tmp_path, example_so):
    def make(*roles, call_timeout_ms=None):
        state = tmp_path / "example.state"
        down = tmp_path / "backend.down"
        conf = write_plugins_conf(tmp_path / "plugins.conf",
                                  plugin_section("example", state_file=state, down_file=down),
                                  *roles)
        args = LEASE_ARGS
        if call_timeout_ms is not None:
            args = args + ("--set", f"leases.call_timeout_ms={call_timeout_ms}")
        s = server_factory(plugins=conf, extra_args=args)
        s.state_file, s.down_file = state, down
        return s
    return make


def ready_status(s):
    return s.request("GET", "/ready").status_code


def test_backend_down_makes_ready_503_and_issue_503_while_secrets_keep_working(example_server):
    s = example_server(role_section("app", "example", path="leased/app"))
    assert s.write("static/a", b"still here").status_code == 200
    assert ready_status(s) == 200
    assert s.metric("secretsd_plugin_up", 'plugin="example"') == 1

    s.down_file.write_text("down")
    # found by the health poll alone: no lease request needed
    wait_for(lambda: ready_status(s) == 503, HEALTH_WAIT_S, "/ready to report the backend down")
    body = assert_error(s.request("GET", "/ready"), 503, "dependency_down")
    assert "example" in body["message"]
    assert s.metric("secretsd_plugin_up", 'plugin="example"') == 0
    n = len(state_events(s.state_file))
    assert_error(s.issue("app"), 503, "dependency_down")
    assert_error(s.read("leased/app"), 503, "dependency_down")
    assert len(state_events(s.state_file)) == n
    # everything that does not need the provider still works
    r = s.read("static/a")
    assert r.status_code == 200 and base64.b64decode(r.json()["value_b64"]) == b"still here"
    assert s.write("static/b", b"written while down").status_code == 200
    assert s.request("GET", "/health").status_code == 200

    s.down_file.unlink()
    wait_for(lambda: ready_status(s) == 200, HEALTH_WAIT_S, "/ready to recover")
    assert s.metric("secretsd_plugin_up", 'plugin="example"') == 1
    r = s.issue("app")
    assert r.status_code == 200, r.text
    assert ("issue", r.json()["lease_id"]) in state_events(s.state_file)


def test_failing_issue_is_503_for_that_request_and_leaves_no_active_lease(example_server):
    s = example_server(role_section("bad", "example", fail_issue="true"),
                       role_section("good", "example"))
    failed0 = s.metric("secretsd_leases_issue_failed_total")
    for _ in range(3):
        assert_error(s.issue("bad"), 503, "dependency_down")
    assert s.metric("secretsd_leases_issue_failed_total") >= (failed0 or 0) + 3
    # only those requests failed
    r = s.issue("good")
    assert r.status_code == 200, r.text
    assert s.write("x/y", b"v").status_code == 200

    # the records written before the provider call end revoked, never active
    def settled():
        ls = s.leases(role="bad").json()["leases"]
        return len(ls) == 3 and all(l["state"] == "revoked" for l in ls) and ls
    ls = wait_for(settled, 15, lambda: f"the failed leases to settle: "
                                       f"{s.leases(role='bad').json()}")
    assert not any(ev == "issue" and i in {l["lease_id"] for l in ls}
                   for ev, i in state_events(s.state_file))


def test_slow_provider_does_not_block_secret_reads_or_other_leases(example_server):
    s = example_server(role_section("slow", "example", slow_ms=4000),
                       role_section("fast", "example", path="leased/fast"),
                       call_timeout_ms=20000)
    paths = [f"static/{unique()}" for _ in range(5)]
    for p in paths:
        assert s.write(p, p.encode()).status_code == 200
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    try:
        # its own connection: requests.Session is not shared across threads
        def slow_issue():
            return requests.post(f"{s.base}/leases", json={"role": "slow"}, timeout=60,
                                 headers={"Authorization": f"Bearer {s.admin_token}"})
        slow = pool.submit(slow_issue)
        # the lease is recorded as pending before the provider is called
        pend = wait_for(lambda: [l for l in s.leases(role="slow").json()["leases"]
                                 if l["state"] == "pending"], 5, "a pending lease for role slow")
        assert len(pend) == 1
        for _ in range(4):
            for p in paths:
                r = s.read(p)
                assert r.status_code == 200 and base64.b64decode(r.json()["value_b64"]) == p.encode()
        assert s.write(paths[0], b"new").status_code == 200
        fast = s.issue("fast")
        assert fast.status_code == 200, fast.text
        assert s.read("leased/fast").status_code == 200
        assert s.lease(fast.json()["lease_id"]).status_code == 200
        assert s.request("GET", "/health").status_code == 200
        # all of the above was answered while the slow provider call was running
        assert not slow.done(), "the slow lease finished first: the test proves nothing"
        r = slow.result(timeout=60)
        assert r.status_code == 200, r.text
        lid = r.json()["lease_id"]
        assert lid == pend[0]["lease_id"]
        assert s.lease_state(lid) == "active"
    finally:
        pool.shutdown(wait=True)


def test_provider_call_past_its_deadline_is_503_and_the_lease_is_not_active(example_server):
    s = example_server(role_section("stuck", "example", slow_ms=60000), call_timeout_ms=1000)
    r = s.issue("stuck")  # 60 s of provider work, cut at 1 s (the client gives up at 30 s)
    assert_error(r, 503, "dependency_down")
    ls = s.leases(role="stuck").json()["leases"]
    assert len(ls) == 1, ls
    # the record stays for the reaper (the provider may have done something
    # before it was cut off), and it is never handed out as active
    assert ls[0]["state"] in ("pending", "revoked", "revoke_failed"), ls
    assert not [i for ev, i in state_events(s.state_file) if ev == "issue"]


def test_sigterm_with_provider_calls_in_flight_exits_cleanly_and_leaves_them_to_revoke(example_server):
    """Their completions run after the workers stop, while the event loops
    drain: they must find the lease engine still there (it was freed first,
    and the server died of SIGSEGV instead of exiting 0)."""
    s = example_server(role_section("slow", "example", slow_ms=30000), call_timeout_ms=60000)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=6)
    try:
        def slow_issue():
            try:
                return requests.post(f"{s.base}/leases", json={"role": "slow"}, timeout=60,
                                     headers={"Authorization": f"Bearer {s.admin_token}"}).status_code
            except requests.RequestException:
                return None  # the connection closed at shutdown
        calls = [pool.submit(slow_issue) for _ in range(6)]
        wait_for(lambda: len([l for l in s.leases(role="slow").json()["leases"]
                              if l["state"] == "pending"]) == 6, 10, "6 pending leases for role slow")
        assert not any(c.done() for c in calls), "a slow call finished: the test proves nothing"
        rc = s.stop()
        assert rc == 0, f"exit status {rc} (negative: killed by a signal)\n{s.stderr_text()[-2000:]}"
        assert all(c.result(timeout=60) in (None, 503) for c in calls), [c.result() for c in calls]
    finally:
        pool.shutdown(wait=True)
    # the next start still owes them a revocation: none is left active
    s.start()
    assert not [l for l in s.leases(role="slow").json()["leases"] if l["state"] == "active"]


def test_a_revocation_cut_short_by_sigterm_is_not_a_failed_attempt_and_is_finished_after_restart(
        example_server):
    """Stopping cancels provider calls. A revocation cancelled that way used
    to count as a failed attempt, so a lease revoked across a few restarts
    ended revoke_failed (given up) with its credential alive."""
    s = example_server(role_section("slow", "example", slow_ms=1500), call_timeout_ms=3000)
    r = s.issue("slow")
    assert r.status_code == 200, r.text
    lid = r.json()["lease_id"]
    rid = f"cut-short-{unique()}"
    audit = s.data_dir / "audit.log"
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        def revoke():
            try:
                r = requests.delete(f"{s.base}/leases/{lid}", timeout=60,
                                    headers={"Authorization": f"Bearer {s.admin_token}",
                                             "X-Request-Id": rid})
                return r.status_code, r.text
            except requests.RequestException:
                return None, ""  # the connection closed at shutdown
        call = pool.submit(revoke)
        # The DELETE's attempt is audited just before its handler runs, and a
        # handler always runs to the end (it records the request and hands the
        # provider call to a worker) before the event loops stop.
        wait_for(lambda: audit.exists() and rid in audit.read_text(), 10,
                 "the DELETE to reach the server")
        assert not call.done(), call.result()
        assert s.stop() == 0, s.stderr_text()[-2000:]
        status, text = call.result(timeout=60)
        assert status in (None, 503), (status, text)
        if status == 503:
            assert "server stopping" in text, text
    finally:
        pool.shutdown(wait=True)
    s.start()
    got = s.lease(lid).json()
    assert got["revoke_attempts"] == 0 and "last_error" not in got, got
    assert got["state"] == "active", got
    # the DELETE was recorded: the reaper of this start finishes it
    s.wait_lease_state(lid, "revoked", timeout=30)
    assert ("revoke", lid) in state_events(s.state_file)

