"""Kill loop (issue #8, part 4): SIGKILL at random moments under a mixed
load, at least KILLS times, restarting after each kill.

Load, in short bursts of 0.5-1.5 s (randomised): writer threads writing
distinct values, a thread issuing leases from the example plugin, a thread
rotating secrets (immediate and staged). After each restart: every
acknowledged write reads back with its exact value at its acknowledged
version, every acknowledged lease has its record (active: its TTL outlives
the test), every acknowledged rotation's version reads back (the same value
each time), and `evidence export` + `verify` exit 0. At the end, every
credential the example plugin's state file says was issued is either still
active in the API or has a revoke line once the reaper has run.

The seed (KILL_LOOP_SEED=N to repeat a run) is printed and is in every
failure message."""
import base64
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import (LEASE_ARGS, START_TIMEOUT_S, b64, plugin_section, role_section,
                      state_events, verified_chain, wait_for, write_plugins_conf)

KILLS = int(os.environ.get("KILL_LOOP_KILLS", "20"))
WRITERS = 2
PATHS_PER_WRITER = 8
ROTATED = 3
LEASE_TTL_S = 300          # outlives the test: an acknowledged lease must stay active
REAP_WAIT_S = 20           # leases a kill left pending are revoked within this after the last start
MAX_VERSIONS = 1000        # nothing acknowledged is pruned during the test


class Load:
    """What the load threads sent and what the server acknowledged."""

    def __init__(self):
        self.mu = threading.Lock()
        self.writes: list[tuple[str, int, bytes]] = []   # (path, version, value) acknowledged
        self.leases: list[str] = []                      # lease ids acknowledged
        self.rotations: list[tuple[str, int]] = []       # (path, new_version) acknowledged
        self.rotated_values: dict[tuple[str, int], bytes] = {}  # first value seen
        self.unexpected: list[str] = []                  # answers that are neither 200 nor a cut connection
        self.cut = 0                                     # requests the kill cut short

    def add(self, kind, item):
        with self.mu:
            getattr(self, kind).append(item)


def _session(token):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def writer(base, token, load, stop, rng_seed, wid, rnd):
    rng = random.Random(rng_seed)
    sess = _session(token)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            path = f"kl/w{wid}/{rng.randrange(PATHS_PER_WRITER)}"
            value = f"r{rnd}-w{wid}-n{n}-".encode() + rng.randbytes(12)
            try:
                r = sess.post(f"{base}/secrets/{path}", json={"value_b64": b64(value)}, timeout=10)
            except requests.RequestException:
                with load.mu:
                    load.cut += 1
                continue
            if r.status_code == 200:
                load.add("writes", (path, r.json()["version"], value))
            else:
                load.add("unexpected", f"write {path}: {r.status_code} {r.text}")
    finally:
        sess.close()


def leaser(base, token, load, stop):
    sess = _session(token)
    try:
        while not stop.is_set():
            try:
                r = sess.post(f"{base}/leases", json={"role": "kl", "ttl_s": LEASE_TTL_S}, timeout=10)
            except requests.RequestException:
                with load.mu:
                    load.cut += 1
                continue
            if r.status_code == 200:
                load.add("leases", r.json()["lease_id"])
            else:
                load.add("unexpected", f"lease issue: {r.status_code} {r.text}")
    finally:
        sess.close()


def rotator(base, token, load, stop, rng_seed, rnd):
    rng = random.Random(rng_seed)
    sess = _session(token)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            path = f"kl/rot/{rng.randrange(ROTATED)}"
            body = {"strategy": rng.choice(["immediate", "staged"]), "reason": "kill loop"}
            try:
                r = sess.post(f"{base}/admin/rotate/{path}", json=body, timeout=10,
                              headers={"X-Request-Id": f"kl-rot-{rng_seed}-{rnd}-{n}"})
            except requests.RequestException:
                with load.mu:
                    load.cut += 1
                continue
            if r.status_code == 200:
                load.add("rotations", (path, r.json()["new_version"]))
            else:
                load.add("unexpected", f"rotate {path}: {r.status_code} {r.text}")
    finally:
        sess.close()


def backtrace(pid: int) -> str:
    """All threads' stacks of a live process (gdb, when installed)."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(no gdb for a backtrace)"
    p = subprocess.run([gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                       capture_output=True, text=True, timeout=60)
    return "\n".join(l for l in p.stdout.splitlines() if l.startswith(("#", "Thread", "[")))


def restart(s, rnd) -> None:
    """Start s again after a kill; a start that is not ready within the
    start timeout fails the test with where the process is stuck."""
    mark = s.stderr_size()
    out, err = open(s.stdout_path, "ab"), open(s.stderr_path, "ab")
    try:
        s.proc = subprocess.Popen(s.argv(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                  cwd=s.workdir)
    finally:
        out.close()
        err.close()
    s.session = requests.Session()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        rc = s.proc.poll()
        assert rc is None, (f"restart after kill {rnd}: secretsd exited {rc}:\n"
                            f"{s.stderr_since(mark)[-3000:]}")
        try:
            if requests.get(s.url + "/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    stacks = backtrace(s.proc.pid)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait(timeout=10)
    raise AssertionError(f"restart after kill {rnd}: not ready within {START_TIMEOUT_S} s (hung)."
                         f"\nits log:\n{s.stderr_since(mark)[-2000:]}\nwhere it was stuck:\n"
                         f"{stacks[:6000]}")


class FastGet:
    """GET with a keep-alive http.client connection per thread (about four
    times the rate of requests, which matters when every acknowledged item
    is read back after every restart)."""

    class Resp:
        def __init__(self, status, body):
            self.status_code, self.content = status, body
            self.text = body.decode(errors="replace")

        def json(self):
            return json.loads(self.content)

    def __init__(self, s):
        self.port, self.token, self.tls = s.port, s.admin_token, threading.local()
        self.prefix = len(s.url)

    def __call__(self, url, **params):
        target = url[self.prefix:] + ("?" + urllib.parse.urlencode(params) if params else "")
        for attempt in range(2):
            conn = getattr(self.tls, "conn", None)
            if conn is None:
                conn = self.tls.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("GET", target, headers={"Authorization": f"Bearer {self.token}"})
                r = conn.getresponse()
                return self.Resp(r.status, r.read())
            except (OSError, http.client.HTTPException):
                conn.close()
                self.tls.conn = None
                if attempt:
                    raise


def check_all(s, load: Load, tmp_path, rnd, pool) -> None:
    """Every acknowledged write, lease and rotation is there, exactly."""
    get = FastGet(s)
    oldest: dict = {}

    def pruned(path, version) -> bool:
        """A rotated secret may go past max_versions in a fast run: versions
        below its oldest_version were destroyed by design, not lost."""
        if path not in oldest:
            m = get(f"{s.base}/metadata/{path}")
            oldest[path] = m.json()["oldest_version"] if m.status_code == 200 else 0
        return version < oldest[path]

    def check_write(item):
        path, version, value = item
        r = get(f"{s.base}/secrets/{path}", version=version)
        if r.status_code != 200:
            if r.status_code == 404 and pruned(path, version):
                return None
            return f"acknowledged write {path} v{version}: {r.status_code} {r.text}"
        got = base64.b64decode(r.json()["value_b64"])
        if got != value:
            return f"acknowledged write {path} v{version}: value {got!r}, acknowledged {value!r}"
        return None

    def check_rotation(item):
        path, version = item
        r = get(f"{s.base}/secrets/{path}", version=version)
        if r.status_code != 200:
            if r.status_code == 404 and pruned(path, version):
                return None
            return f"acknowledged rotation {path} v{version}: {r.status_code} {r.text}"
        got = base64.b64decode(r.json()["value_b64"])
        with load.mu:
            first = load.rotated_values.setdefault(item, got)
        if got != first:
            return f"rotated version {path} v{version} changed: {got!r}, earlier {first!r}"
        return None

    with load.mu:
        writes, leases, rotations = list(load.writes), list(load.leases), list(load.rotations)
    problems = [p for p in pool.map(check_write, writes) if p]
    # leases: their records, a page of up to 1000 at a time
    states, after, pages = {}, None, 0
    while True:
        params = {"role": "kl", "limit": 1000}
        if after is not None:
            params["after"] = after
        r = get(f"{s.base}/leases", **params)
        assert r.status_code == 200, f"after restart {rnd}: list leases: {r.status_code} {r.text}"
        doc = r.json()
        states.update((l["lease_id"], l["state"]) for l in doc["leases"])
        after, pages = doc["next"], pages + 1
        assert pages < 1000, "lease list pagination does not terminate"
        if after is None:
            break
    for lid in leases:
        if lid not in states:
            problems.append(f"acknowledged lease {lid}: no record")
        elif states[lid] != "active":
            problems.append(f"acknowledged lease {lid} (ttl {LEASE_TTL_S} s) is {states[lid]}")
    problems += [p for p in pool.map(check_rotation, rotations) if p]
    # the newest acknowledged version of each path is at most the current one
    newest = {}
    for path, version, _ in writes:
        newest[path] = max(newest.get(path, 0), version)
    for path, version in rotations:
        newest[path] = max(newest.get(path, 0), version)
    for path, version in newest.items():
        r = get(f"{s.base}/metadata/{path}")
        if r.status_code != 200 or r.json()["latest_version"] < version:
            problems.append(f"{path}: metadata {r.status_code} {r.text[:300]} "
                            f"(acknowledged up to v{version})")
    assert not problems, (f"after restart {rnd}: {len(problems)} problem(s), e.g.\n"
                          + "\n".join(problems[:10]))
    verified_chain(s.data_dir, tmp_path)


@pytest.fixture
def kl_server(server_factory, example_so, tmp_path):
    state = tmp_path / "example.state"
    conf = write_plugins_conf(
        tmp_path / "plugins.conf",
        plugin_section("example", state_file=state),
        role_section("kl", "example", default_ttl_s=LEASE_TTL_S, max_ttl_s=600),
    )
    s = server_factory(plugins=conf,
                       extra_args=LEASE_ARGS + ("--set", f"secrets.max_versions={MAX_VERSIONS}"))
    s.state_file = state
    return s


def test_kill_9_at_random_moments_under_load_loses_nothing_acknowledged(kl_server, tmp_path):
    seed = int(os.environ.get("KILL_LOOP_SEED", random.randrange(1 << 32)))
    print(f"kill loop seed {seed} (repeat with KILL_LOOP_SEED={seed})")
    try:
        run_kill_loop(kl_server, tmp_path, seed)
    except AssertionError as e:
        raise AssertionError(f"[kill loop seed {seed}, repeat with KILL_LOOP_SEED={seed}] {e}") from e


def run_kill_loop(s, tmp_path, seed):
    rng = random.Random(seed)
    load = Load()
    t_start = time.monotonic()
    for k in range(ROTATED):
        r = s.write(f"kl/rot/{k}", f"rotate-me-{k}".encode())
        assert r.status_code == 200, r.text
        load.add("writes", (f"kl/rot/{k}", 1, f"rotate-me-{k}".encode()))
    token, base = s.admin_token, s.base
    stats = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for rnd in range(1, KILLS + 1):
            stop = threading.Event()
            threads = [threading.Thread(target=writer, name=f"writer{w}",
                                        args=(base, token, load, stop, rng.randrange(1 << 30), w, rnd))
                       for w in range(WRITERS)]
            threads.append(threading.Thread(target=leaser, name="leaser",
                                            args=(base, token, load, stop)))
            threads.append(threading.Thread(target=rotator, name="rotator",
                                            args=(base, token, load, stop, rng.randrange(1 << 30), rnd)))
            before = (len(load.writes), len(load.leases), len(load.rotations))
            for t in threads:
                t.start()
            burst = rng.uniform(0.5, 1.5)
            # the load runs for `burst` seconds; then the kill lands wherever it lands
            stop.wait(burst)
            s.kill9()
            assert s.proc.returncode == -9, f"round {rnd}: exit {s.proc.returncode}"
            stop.set()
            for t in threads:
                t.join(timeout=30)
                assert not t.is_alive(), f"round {rnd}: load thread {t.name} is stuck"
            t0 = time.monotonic()
            restart(s, rnd)
            t1 = time.monotonic()
            check_all(s, load, tmp_path, rnd, pool)
            stats.append((round(burst, 2), len(load.writes) - before[0],
                          len(load.leases) - before[1], len(load.rotations) - before[2],
                          round(t1 - t0, 2), round(time.monotonic() - t1, 2)))
            print(f"round {rnd}: burst {burst:.2f} s, acknowledged {stats[-1][1]} writes, "
                  f"{stats[-1][2]} leases, {stats[-1][3]} rotations; restart {stats[-1][4]} s, "
                  f"check {stats[-1][5]} s")
            assert not load.unexpected, (f"round {rnd}: unexpected answers under load:\n"
                                         + "\n".join(load.unexpected[:10]))
    print(f"{KILLS} kills in {time.monotonic() - t_start:.1f} s; acknowledged "
          f"{len(load.writes)} writes, {len(load.leases)} leases, {len(load.rotations)} "
          f"rotations; {load.cut} requests cut by a kill")
    assert len(load.writes) > KILLS and load.leases and load.rotations, \
        "the load did not get through: nothing was tested"

    # Every credential the provider issued is either a lease the API calls
    # active, or revoked at the provider once the reaper has run.
    acked = set(load.leases)
    get = FastGet(s)

    def api_state(lid):
        r = get(f"{s.base}/leases/{lid}")
        return r.json()["state"] if r.status_code == 200 else f"http {r.status_code}"

    last = {}

    def settled():
        events = state_events(s.state_file)
        issued = [i for ev, i in events if ev == "issue"]
        revoked = {i for ev, i in events if ev == "revoke"}
        open_ = [i for i in issued if i not in revoked]
        with ThreadPoolExecutor(max_workers=8) as pool:
            states = dict(zip(open_, pool.map(api_state, open_)))
        bad = {i: st for i, st in states.items() if st != "active"}
        last.update(issued=len(issued), revoked=len(revoked), bad=bad)
        return not bad

    wait_for(settled, REAP_WAIT_S,
             lambda: f"every issued credential to be active or revoked at the provider: "
                     f"{last.get('issued')} issued, {last.get('revoked')} revoked, not active and "
                     f"not revoked: {dict(list(last.get('bad', {}).items())[:10])}",
             interval=0.2)
    events = state_events(s.state_file)
    revoked = {i for ev, i in events if ev == "revoke"}
    assert not (acked & revoked), f"acknowledged leases were revoked: {sorted(acked & revoked)[:10]}"
    issued = {i for ev, i in events if ev == "issue"}
    assert acked <= issued, f"acknowledged leases the provider never issued: {sorted(acked - issued)[:10]}"
    verified_chain(s.data_dir, tmp_path)
