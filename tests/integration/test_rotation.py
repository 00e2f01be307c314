"""Rotation (issue #5): POST {base}/admin/rotate/{path} with the generate hook,
and rotation schedules (metadata "rotation" = a duration) run by the
background scheduler as actor "system:scheduler".

The admin-rotate tests share one dev server (each uses its own paths); the
schedule tests start their own servers, because a scheduler acts on every
secret of a server and a restart test needs a data dir of its own. No
assertion depends on a sleep: every wait polls with a bounded deadline, and
timing bounds are loose (whole seconds, a period of slack)."""
import base64
import json
import string
import time

import pytest

from conftest import Server, assert_error, b64, parse_time, unique, wait_for

REPLAYED = "Idempotent-Replayed"
ALL_CLASSES = set(string.ascii_letters + string.digits + string.punctuation)


@pytest.fixture(scope="module")
def srv(secretsd_bin, tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("rotate")).start()
    yield s
    s.finish()


# --- helpers -----------------------------------------------------------------------------------

def rotate(s, path, body=None, *, token=None, headers=None, raw: bytes | None = None):
    """POST {base}/admin/rotate/PATH; `raw` sends exact bytes instead of `body`."""
    h = dict(headers or {})
    if raw is not None:
        h["Content-Type"] = "application/json"
        return s.request("POST", f"{s.base}/admin/rotate/{path}", token=s._tok(token), headers=h,
                         data=raw)
    return s.request("POST", f"{s.base}/admin/rotate/{path}", token=s._tok(token), headers=h,
                     json=body if body is not None else {"strategy": "immediate", "reason": "test"})


def value_of(s, path, version=None, token=None) -> bytes:
    r = s.read(path, version, token=token)
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["value_b64"])


def meta_of(s, path, token=None) -> dict:
    r = s.metadata(path, token=token)
    assert r.status_code == 200, r.text
    return r.json()


def written(s, path, value, metadata=None, token=None) -> int:
    r = s.write(path, value, metadata, token=token)
    assert r.status_code == 200, r.text
    return r.json()["version"]


def evidence(s, token=None, **params) -> list[dict]:
    """Every evidence record the token's tenant may see for `params`, following `next`."""
    out, since = [], None
    for _ in range(1000):
        q = dict(params, limit=1000)
        if since is not None:
            q["since"] = since
        r = s.request("GET", f"{s.base}/admin/evidence", token=s._tok(token), params=q)
        assert r.status_code == 200, r.text
        doc = r.json()
        out.extend(doc["events"])
        since = doc["next"]
        if since is None:
            return out
    raise AssertionError("evidence pagination does not terminate")


def scheduled(s, path) -> list[dict]:
    """The scheduler's secret.rotate records for path, in seq order."""
    return [e for e in evidence(s, path=path, action="secret.rotate")
            if e.get("actor") == "system:scheduler"]


# --- admin rotate: immediate, value, policy ----------------------------------------------------

def test_immediate_rotate_returns_path_versions_strategy_and_new_version_is_current_at_once(srv):
    path = unique("rot/imm")
    old = b"initial-value-" + unique().encode()
    assert written(srv, path, old) == 1
    r = rotate(srv, path, {"strategy": "immediate", "reason": "quarterly"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"path": path, "new_version": 2, "previous_version": 1,
                        "strategy": "immediate"}
    # current at once: the very next read (no version) is the new one
    cur = srv.read(path)
    assert cur.status_code == 200, cur.text
    assert cur.json()["version"] == 2
    new = base64.b64decode(cur.json()["value_b64"])
    assert new != old
    meta = meta_of(srv, path)
    assert meta["current_version"] == 2
    assert [v["version"] for v in meta["versions"]] == [1, 2]
    assert meta["versions"][1]["created_by"] == "dev-admin"


def test_rotate_generates_a_fresh_random_value_each_time(srv):
    path = unique("rot/rand")
    written(srv, path, "seed")
    seen = {value_of(srv, path)}
    for want in (2, 3, 4):
        r = rotate(srv, path)
        assert r.status_code == 200, r.text
        assert r.json()["new_version"] == want and r.json()["previous_version"] == want - 1
        seen.add(value_of(srv, path))
    assert len(seen) == 4, "a rotation repeated a value"


def test_rotation_policy_length_20_digits_gives_20_digits(srv):
    path = unique("rot/digits")
    written(srv, path, "x", {"rotation_policy": "length=20 classes=digit"})
    for _ in range(3):
        assert rotate(srv, path).status_code == 200
        v = value_of(srv, path).decode()
        assert len(v) == 20 and v.isdigit() and v.isascii(), v


def test_default_rotation_policy_is_32_printable_characters(srv):
    path = unique("rot/default")
    written(srv, path, "x")
    assert rotate(srv, path).status_code == 200
    v = value_of(srv, path).decode()
    assert len(v) == 32, v
    assert set(v) <= ALL_CLASSES, f"unexpected characters in {v!r}"


def test_staged_strategy_rotates_and_is_echoed(srv):
    path = unique("rot/staged")
    written(srv, path, "before-staged")
    r = rotate(srv, path, {"strategy": "staged", "reason": "staged test"})
    assert r.status_code == 200, r.text
    assert r.json() == {"path": path, "new_version": 2, "previous_version": 1,
                        "strategy": "staged"}
    got = srv.read(path, 2)
    assert got.status_code == 200, got.text
    assert base64.b64decode(got.json()["value_b64"]) != b"before-staged"


def test_strategy_defaults_to_immediate_with_an_empty_body(srv):
    path = unique("rot/nobody")
    written(srv, path, "x")
    r = rotate(srv, path, raw=b"")
    assert r.status_code == 200, r.text
    assert r.json()["strategy"] == "immediate" and r.json()["new_version"] == 2


def test_previous_version_stays_readable_by_version_after_rotate(srv):
    path = unique("rot/prev")
    old = b"the-old-value-" + unique().encode()
    written(srv, path, old)
    assert rotate(srv, path).status_code == 200
    assert value_of(srv, path, 1) == old
    assert value_of(srv, path, 2) != old
    assert value_of(srv, path) == value_of(srv, path, 2)


# --- admin rotate: refusals ---------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["gradual", "", "IMMEDIATE", 1, None, ["immediate"]])
def test_unknown_strategy_is_400_and_changes_nothing(srv, strategy):
    path = unique("rot/badstrat")
    written(srv, path, "keep")
    assert_error(rotate(srv, path, {"strategy": strategy}), 400, "invalid_request", "strategy")
    assert meta_of(srv, path)["current_version"] == 1
    assert value_of(srv, path) == b"keep"


def test_rotating_a_missing_secret_is_404(srv):
    assert_error(rotate(srv, unique("rot/missing")), 404, "not_found")


def test_rotate_needs_admin_scope_even_with_secrets_write(srv):
    path = unique("rot/forbid")
    written(srv, path, "keep")
    tok = srv.token("dev", "writer-" + unique(), "secrets:read:* secrets:write:*")
    # the token can write the secret itself ...
    assert srv.write(path, "by-writer", token=tok).status_code == 200
    # ... but not rotate it
    assert_error(rotate(srv, path, token=tok), 403, "forbidden")
    assert meta_of(srv, path)["current_version"] == 2
    assert value_of(srv, path) == b"by-writer"


def test_rotate_without_a_token_is_401(srv):
    path = unique("rot/anon")
    written(srv, path, "keep")
    r = srv.request("POST", f"{srv.base}/admin/rotate/{path}", json={"strategy": "immediate"})
    assert_error(r, 401, "unauthorized")
    assert meta_of(srv, path)["current_version"] == 1


def assert_unchanged(s, path, before: dict, value: bytes):
    after = meta_of(s, path)
    assert after["current_version"] == before["current_version"], after
    assert value_of(s, path) == value
    assert value_of(s, path, before["current_version"]) == value
    done = [e for e in evidence(s, path=path) if e["action"].startswith("secret.rotate")
            and e["outcome"] == "ok"]
    assert done == [], f"a refused rotation left evidence of a rotation: {done}"


@pytest.mark.parametrize("hook", ["nope", "script:/bin/true", "plugin:nope",
                                  "ftp://127.0.0.1:1/x"])
def test_unsupported_rotation_hook_is_400_and_nothing_changes(srv, hook):
    path = unique("rot/hook")
    written(srv, path, "keep-me", {"rotation_hook": hook})
    before = meta_of(srv, path)
    assert_error(rotate(srv, path), 400, "invalid_request", "rotation_hook")
    assert_unchanged(srv, path, before, b"keep-me")


def test_rotation_hook_that_cannot_be_carried_out_fails_and_nothing_changes(srv):
    # A webhook nobody listens on (port 1). Before webhooks existed this was
    # an unsupported hook (400); either way the call fails and nothing changes.
    path = unique("rot/deadhook")
    written(srv, path, "keep-me", {"rotation_hook": "webhook:http://127.0.0.1:1/x"})
    before = meta_of(srv, path)
    for strategy in ("immediate", "staged"):
        r = rotate(srv, path, {"strategy": strategy, "reason": "dead hook"})
        assert r.status_code in (400, 502, 503, 504), r.text
        assert_error(r, r.status_code, r.json().get("error"))
        assert_unchanged(srv, path, before, b"keep-me")


def test_rotate_with_same_x_request_id_and_body_replays_without_a_new_version(srv):
    path = unique("rot/idem")
    written(srv, path, "x")
    key = unique("rot-key")
    body = json.dumps({"strategy": "immediate", "reason": "idem"}).encode()
    first = rotate(srv, path, raw=body, headers={"X-Request-Id": key})
    assert first.status_code == 200, first.text
    value = value_of(srv, path)
    again = rotate(srv, path, raw=body, headers={"X-Request-Id": key})
    assert again.status_code == 200, again.text
    assert again.json() == first.json() == {"path": path, "new_version": 2,
                                            "previous_version": 1, "strategy": "immediate"}
    assert again.headers.get(REPLAYED) == "true"
    assert meta_of(srv, path)["current_version"] == 2, "the replay rotated again"
    assert value_of(srv, path) == value
    rots = evidence(srv, path=path, action="secret.rotate")
    assert len(rots) == 1 and rots[0]["request_id"] == key, rots
    # a new key rotates again
    third = rotate(srv, path, raw=body, headers={"X-Request-Id": unique("rot-key")})
    assert third.status_code == 200 and third.json()["new_version"] == 3, third.text


# --- schedules ------------------------------------------------------------------------------------

SCHED_DEADLINE_S = 15


def version_count(s, path) -> int:
    return meta_of(s, path)["current_version"]


def wait_version(s, path, at_least: int, timeout: float = SCHED_DEADLINE_S) -> dict:
    last = {}

    def check():
        nonlocal last
        last = meta_of(s, path)
        return last["current_version"] >= at_least

    wait_for(check, timeout, lambda: f"{path} to reach version {at_least}; last {last}",
             interval=0.1)
    return last


@pytest.mark.parametrize("period", ["soon", "0s", "-2s", "2x", ""])
def test_rotation_metadata_that_is_not_a_positive_duration_is_400(srv, period):
    path = unique("sched/bad")
    r = srv.write(path, "x", {"rotation": period})
    assert_error(r, 400, "invalid_request", "rotation")
    assert srv.read(path).status_code == 404


@pytest.mark.parametrize("period", ["90d", "12h", "30m", "45s", "3600"])
def test_rotation_metadata_accepts_durations(srv, period):
    path = unique("sched/good")
    assert srv.write(path, "x", {"rotation": period}).status_code == 200
    assert meta_of(srv, path)["metadata"]["rotation"] == period


def test_scheduled_rotation_makes_a_new_version_by_system_scheduler(server_factory):
    s = server_factory()
    path = unique("sched/two")
    never = unique("sched/ninety")
    plain = unique("sched/plain")
    old = b"scheduled-seed-" + unique().encode()
    written(s, path, old, {"rotation": "2s", "rotation_policy": "length=20 classes=digit"})
    written(s, never, "long-period", {"rotation": "90d"})
    written(s, plain, "no-schedule")

    meta = wait_version(s, path, 2)
    v2 = meta["versions"][1]
    assert v2["version"] == 2 and v2["created_by"] == "system:scheduler", meta
    new = value_of(s, path, 2).decode()
    assert new.encode() != old
    assert len(new) == 20 and new.isdigit(), f"the scheduler ignored rotation_policy: {new!r}"
    # the previous version is still there
    assert value_of(s, path, 1) == old

    recs = scheduled(s, path)
    assert recs, evidence(s, path=path)
    first = recs[0]
    assert first["action"] == "secret.rotate"
    assert first["reason"] == "scheduled", first
    assert first["version"] == 2 and first.get("previous_version") == 1, first
    assert first["tenant"] == "dev" and first["outcome"] == "ok", first

    # only the due secret was rotated
    assert version_count(s, never) == 1
    assert version_count(s, plain) == 1
    # counted just after the rotation is committed: wait for it
    wait_for(lambda: (s.metric("secretsd_rotations_scheduled_total") or 0) >= 1, 5,
             "secretsd_rotations_scheduled_total to count the rotation")
    failed = s.metric("secretsd_rotations_scheduled_failed_total")
    if failed is None:
        failed = s.metric("secretsd_rotations_failed_total")
    assert failed is not None, "no failed-rotations counter in /metrics"
    assert failed == 0


def test_scheduled_rotation_runs_once_per_due_time_over_a_window(server_factory):
    s = server_factory()
    period = 2
    path = unique("sched/window")
    cancelled = unique("sched/cancelled")
    t0 = time.time()
    written(s, path, "window-seed", {"rotation": f"{period}s"})
    # a schedule removed by a write with new metadata no longer applies
    written(s, cancelled, "c1", {"rotation": f"{period}s"})
    written(s, cancelled, "c2", {"owner": "nobody"})
    meta = wait_version(s, path, 4, timeout=6 * period + SCHED_DEADLINE_S)
    elapsed = time.time() - t0
    n = meta["current_version"] - 1
    # no more rotations than due times in the window (one period of slack) ...
    assert n <= elapsed / period + 1, f"{n} rotations in {elapsed:.1f}s with a {period}s period"
    # ... and not faster than the period: 3 rotations need about 3 periods
    assert elapsed >= 3 * period - 2, f"{n} rotations in only {elapsed:.1f}s"
    assert all(v["created_by"] == "system:scheduler" for v in meta["versions"][1:]), meta

    recs = scheduled(s, path)
    versions = [e["version"] for e in recs]
    assert versions == list(range(2, len(recs) + 2)), f"a version was rotated twice: {recs}"
    assert len(recs) == n, recs
    assert all(e["reason"] == "scheduled" for e in recs), recs
    # consecutive scheduled rotations are about a period apart (whole-second times)
    times = [parse_time(e["time"]) for e in recs]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= period - 1 for g in gaps), f"rotations closer than the period: {gaps}"
    wait_for(lambda: (s.metric("secretsd_rotations_scheduled_total") or 0) >= n, 5,
             "secretsd_rotations_scheduled_total to count every rotation")
    assert version_count(s, cancelled) == 2, "a removed schedule still rotated the secret"


def test_kill9_and_restart_do_not_rotate_a_due_time_twice(server_factory):
    s = server_factory()
    period = 3
    path = unique("sched/crash")
    t0 = time.time()
    written(s, path, "crash-seed", {"rotation": f"{period}s"})
    wait_version(s, path, 2, timeout=period + SCHED_DEADLINE_S)
    s.kill9()
    s.restart()
    meta = wait_version(s, path, 3, timeout=period + SCHED_DEADLINE_S)
    elapsed = time.time() - t0

    recs = scheduled(s, path)
    n = meta["current_version"] - 1
    assert len(recs) == n, recs
    assert [e["version"] for e in recs] == list(range(2, n + 2)), \
        f"one version was recorded twice or skipped: {recs}"
    assert all(e["reason"] == "scheduled" for e in recs), recs
    assert all(v["created_by"] == "system:scheduler" for v in meta["versions"][1:]), meta
    # the due time rotated before the kill is not rotated again on restart:
    # the next rotation comes about a period later, not at start-up
    times = [parse_time(e["time"]) for e in recs]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= period - 1 for g in gaps), \
        f"two rotations closer than the {period}s period around the restart: {gaps} {recs}"
    assert n <= elapsed / period + 1, f"{n} rotations in {elapsed:.1f}s with a {period}s period"
    # the chain is still whole after the kill
    rest = evidence(s)
    for a, b in zip(rest, rest[1:]):
        if b["seq"] == a["seq"] + 1:
            assert b["prev_hash"] == a["hash"], (a, b)


def test_failed_scheduled_rotation_is_counted_and_changes_nothing(server_factory):
    s = server_factory()
    path = unique("sched/fail")
    written(s, path, "stays", {"rotation": "1s", "rotation_hook": "webhook:http://127.0.0.1:1/x"})
    wait_for(lambda: (s.metric("secretsd_rotations_scheduled_failed_total") or 0) >= 1,
             SCHED_DEADLINE_S, "secretsd_rotations_scheduled_failed_total to count the failure",
             interval=0.1)
    assert version_count(s, path) == 1
    assert value_of(s, path) == b"stays"
    assert [e for e in scheduled(s, path) if e["outcome"] == "ok"] == []
    assert s.metric("secretsd_rotations_scheduled_total") == 0
