"""Rotation hooks and server shutdown: SIGTERM while the worker pool holds a
deep queue of webhook rotations whose endpoint does not answer. The server
must exit promptly (not after queue depth x the 10 s webhook timeout), open
no webhook connection once it has logged that it is stopping, and leave
every secret as it was: nothing half-rotated, idempotency keys released,
the evidence chain whole.

The endpoint is test_rotation_hooks.Receiver with its accept step wrapped:
every accepted connection is timed, and while `hang` is set a connection is
held open and never read or answered. No assertion depends on a sleep:
waits poll with bounded deadlines."""
import threading
import time

import pytest
import requests

from conftest import unique, verified_chain, wait_for
from test_rotation import evidence, meta_of, rotate, value_of
from test_rotation_hooks import Receiver

STOPPING_LINE = "signal 15: shutting down"
STOP_TIMEOUT_S = 20  # the queue alone would take >= 40 s with the 10 s webhook timeout


class Timed:
    """Wraps a Receiver: times each accepted connection; while `hang` is set,
    holds it open without reading or answering."""

    def __init__(self, recv: Receiver):
        self.recv = recv
        self.hang = True
        self.accepts: list[float] = []
        self.held = []
        self.mu = threading.Lock()
        httpd = recv.httpd
        answer = httpd.process_request
        # a backlog of 5 could drop a burst of connects: a SYN retried a
        # second later would be accepted long after curl started it
        httpd.socket.listen(128)

        def process_request(request, client_address):
            with self.mu:
                self.accepts.append(time.monotonic())
                if self.hang:
                    self.held.append(request)
                    return
            answer(request, client_address)

        httpd.process_request = process_request  # serve_forever looks it up on the instance
        # answers released at teardown go to a server that is gone: not news
        httpd.handle_error = lambda request, client_address: None

    def count(self) -> int:
        with self.mu:
            return len(self.accepts)

    def after(self, t: float) -> list[float]:
        with self.mu:
            return [a for a in self.accepts if a > t]

    def close(self):
        with self.mu:
            held, self.held = self.held, []
        for sock in held:
            sock.close()
        self.recv.close()


@pytest.fixture
def endpoint(fresh_server):
    key = (fresh_server.data_dir / "keys" / "webhook.key").read_bytes().strip()
    t = Timed(Receiver(key))
    release = threading.Event()
    t.release = release
    yield fresh_server, t
    release.set()
    t.close()


def settled(count, what: str, quiet: float = 1.0, timeout: float = 15) -> int:
    """Wait until count() is at least 1 and has not changed for `quiet` seconds."""
    last = [count(), time.monotonic()]

    def check():
        n = count()
        if n != last[0]:
            last[:] = [n, time.monotonic()]
            return False
        return n >= 1 and time.monotonic() - last[1] >= quiet

    wait_for(check, timeout, what, interval=0.05)
    return last[0]


def start_rotations(s, paths, body) -> tuple[list, dict]:
    """One rotation request per path, each in its own thread, each with its
    own X-Request-Id; the results (status or exception) land in a dict."""
    # one pooled connection per concurrent request
    s.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=len(paths) + 4))
    results: dict = {}

    def one(path):
        try:
            results[path] = rotate(s, path, body, headers={"X-Request-Id": f"rid-{path}"}).status_code
        except Exception as e:  # the server going away mid-request is expected
            results[path] = repr(e)

    threads = [threading.Thread(target=one, args=(p,), daemon=True) for p in paths]
    for th in threads:
        th.start()
    return threads, results


def stop_and_watch(s, t: Timed) -> tuple[int, float, list[float]]:
    """SIGTERM; while waiting for the exit, note the moment the stopping line
    is seen in stderr. Returns (exit status, stop duration, the connections
    accepted after that moment)."""
    mark = s.stderr_size()
    seen = []
    done = threading.Event()

    def watch():
        while True:
            if STOPPING_LINE in s.stderr_since(mark):
                seen.append(time.monotonic())  # the line was written before this
                return
            if done.is_set():  # looked once more after the exit
                return
            time.sleep(0.005)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    t0 = time.monotonic()
    rc = s.stop(timeout=STOP_TIMEOUT_S)
    took = time.monotonic() - t0
    done.set()
    w.join(5)
    assert seen, f"no {STOPPING_LINE!r} in stderr:\n{s.stderr_since(mark)[-3000:]}"
    return rc, took, t.after(seen[0])


def stop_opens_no_connection(s, t: Timed, before: str) -> None:
    """SIGTERM: exit 0, and no webhook connection once the server said it is
    stopping. `before` says what was in flight (printed with the time)."""
    rc, took, late = stop_and_watch(s, t)
    print(f"\nstop took {took:.1f} s; {before}, {len(late)} connections after the stopping line")
    assert rc == 0, s.stderr_text()[-3000:]
    assert late == [], (f"{len(late)} webhook connection(s) opened after the server logged "
                        f"{STOPPING_LINE!r} (stop took {took:.1f} s)")


def no_rotation_succeeded(threads, results) -> None:
    for th in threads:
        th.join(35)
    assert not [p for p, r in results.items() if r == 200], results


def assert_chain_verifies(s):
    recs = verified_chain(s.data_dir, s.workdir)
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))


def prepare(s, t: Timed, n: int, prefix: str) -> list[str]:
    paths = [unique(prefix) for _ in range(n)]
    for i, p in enumerate(paths):
        r = s.write(p, f"seed-{i}", {"rotation_hook": f"webhook:{t.recv.url}"})
        assert r.status_code == 200, r.text
    return paths


def test_sigterm_with_a_deep_queue_of_hanging_webhook_rotations_exits_promptly(endpoint):
    s, t = endpoint
    n = 40  # 5 rounds of 8 workers, 10 s each, without the fix
    paths = prepare(s, t, n, "stop/imm")
    threads, results = start_rotations(s, paths, None)

    # every rotation is queued or running on the worker pool ...
    wait_for(lambda: (s.metric("secretsd_workers_busy") or 0) >= n, 15,
             lambda: f"{n} rotations on the workers (busy: {s.metric('secretsd_workers_busy')})")
    # ... and every worker is blocked in a webhook call that the endpoint
    # holds for 10 s: no worker is free to open a connection on its own
    # around the SIGTERM, so any connection after the stopping line is one
    # that the server started while it was stopping
    in_flight = settled(t.count, "the webhook connections to settle")
    assert in_flight < n

    stop_opens_no_connection(s, t, f"{in_flight} connections before SIGTERM")
    no_rotation_succeeded(threads, results)

    # restart: nothing half-rotated, and the endpoint now answers
    t.hang = False
    s.start()
    for i, p in enumerate(paths):
        meta = meta_of(s, p)
        assert (meta["current_version"], meta["latest_version"]) == (1, 1), meta
        assert value_of(s, p) == f"seed-{i}".encode()
        assert [e for e in evidence(s, path=p) if e["action"].startswith("secret.rotate")] == []
    # the idempotency keys of the cut rotations were released, not left in
    # progress or replaying a failure: the same request now rotates, once
    for p in paths:
        r = rotate(s, p, None, headers={"X-Request-Id": f"rid-{p}"})
        assert r.status_code == 200, r.text
        assert r.headers.get("Idempotent-Replayed") is None, r.headers
        assert r.json()["new_version"] == 2, r.json()
        assert value_of(s, p) == t.recv.value
        assert [e["version"] for e in evidence(s, path=p, action="secret.rotate")] == [2]
    assert_chain_verifies(s)


def test_sigterm_between_staged_steps_marks_the_pending_versions_failed(endpoint):
    s, t = endpoint
    n = 32  # 4 rounds of 8 workers, 10 s each, without the fix
    t.hang = False  # create is answered; the test step is held until the end
    t.recv.on_test = lambda: t.release.wait(60)
    paths = prepare(s, t, n, "stop/staged")
    threads, results = start_rotations(s, paths, {"strategy": "staged", "reason": "test"})

    def tests_held():
        return sum(1 for doc, _ in list(t.recv.calls) if doc["step"] == "test")

    wait_for(lambda: (s.metric("secretsd_workers_busy") or 0) >= n, 15,
             lambda: f"{n} rotations on the workers (busy: {s.metric('secretsd_workers_busy')})")
    held = settled(tests_held, "the staged test steps to settle")
    assert held < n

    stop_opens_no_connection(s, t, f"{held} test steps held at SIGTERM")
    no_rotation_succeeded(threads, results)
    # a create answered before the stop made a pending version
    created = {doc["path"] for doc, good in list(t.recv.calls) if doc["step"] == "create" and good}
    assert len(created) >= held

    s.start()
    for i, p in enumerate(paths):
        meta = meta_of(s, p)
        states = {v["version"]: v["state"] for v in meta["versions"]}
        assert meta["current_version"] == 1 and value_of(s, p) == f"seed-{i}".encode(), meta
        if p in created:  # its pending version was given up, not left pending
            assert states == {1: "active", 2: "failed"}, meta
            acts = [e["action"] for e in evidence(s, path=p) if e["action"].startswith("secret.rotate")]
            assert acts == ["secret.rotate.staged", "secret.rotate.failed"], acts
        else:
            assert states == {1: "active"}, meta
    assert_chain_verifies(s)


def test_a_scheduled_rotation_cut_short_by_sigterm_is_done_right_after_restart(endpoint):
    """Stopping is not a failure of the hook: the schedule is not pushed back
    (a failed scheduled rotation is retried 60 s later) and not counted as
    failed; the next start rotates the secret as soon as it looks."""
    s, t = endpoint
    path = unique("stop/sched")
    r = s.write(path, "seed", {"rotation_hook": f"webhook:{t.recv.url}", "rotation": "2s"})
    assert r.status_code == 200, r.text
    # the scheduler's webhook call is in flight, held by the endpoint
    wait_for(lambda: t.count() >= 1, 15, "the scheduled rotation to call the webhook")
    stop_opens_no_connection(s, t, "the scheduled call held")
    assert "left for the next start" in s.stderr_text(), s.stderr_text()[-3000:]
    assert "retrying in" not in s.stderr_text()
    t.hang = False
    s.start()
    # due since before the stop: rotated at the first look (the reaper looks every second)
    wait_for(lambda: meta_of(s, path)["current_version"] >= 2, 10,
             lambda: f"the rotation after restart: {meta_of(s, path)}")
    assert value_of(s, path) == t.recv.value
    assert s.metric("secretsd_rotations_scheduled_failed_total") == 0
    assert_chain_verifies(s)
