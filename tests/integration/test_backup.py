"""Backups (issue #8, part 6): `secretsd backup` takes a hot copy while the
server runs and writes continue; `secretsd restore` unpacks it into a new
data dir (keys from --keys-from, or from the backup made --with-keys); a
server started on the restored dir serves every value acknowledged before
the backup started, exactly. The running server is unaffected. A damaged
backup, or a target dir that exists, is refused with a clear message."""
import base64
import os
import stat
import threading
import time

import pytest
import requests

from conftest import b64, run_bin, verified_chain, wait_for

BACKUP_TIMEOUT_S = 60
MAX_VERSIONS = 1000   # nothing acknowledged is pruned during a test


@pytest.fixture
def srv(server_factory):
    return server_factory(extra_args=("--rate-limit", "0", "--set",
                                      f"secrets.max_versions={MAX_VERSIONS}"))


# --- helpers -----------------------------------------------------------------------------

def backup(data_dir, out, with_keys=False):
    args = ["backup", "--data-dir", str(data_dir), "--out", str(out)]
    if with_keys:
        args.append("--with-keys")
    return run_bin(*args, timeout=BACKUP_TIMEOUT_S)


def restore(inp, data_dir, keys_from=None):
    args = ["restore", "--in", str(inp), "--data-dir", str(data_dir)]
    if keys_from is not None:
        args += ["--keys-from", str(keys_from)]
    return run_bin(*args, timeout=BACKUP_TIMEOUT_S)


class Writer(threading.Thread):
    """Writes continuously: new paths, and new versions of a few paths.
    .acked holds (path, version, value, monotonic time of the reply)."""

    def __init__(self, s):
        super().__init__(daemon=True)
        self.s, self.stop, self.acked, self.errors = s, threading.Event(), [], []
        self.mu = threading.Lock()

    def run(self):
        sess = requests.Session()
        sess.headers["Authorization"] = f"Bearer {self.s.admin_token}"
        n = 0
        while not self.stop.is_set():
            n += 1
            path = f"bk/new/{n}" if n % 2 else f"bk/hot/{n % 7}"
            value = os.urandom(24) + f"-{n}".encode()
            try:
                r = sess.post(f"{self.s.base}/secrets/{path}", json={"value_b64": b64(value)},
                              timeout=30)
            except requests.RequestException as e:
                self.errors.append(repr(e))
                continue
            if r.status_code == 200:
                with self.mu:
                    self.acked.append((path, r.json()["version"], value, time.monotonic()))
            else:
                self.errors.append(f"{r.status_code} {r.text}")
        sess.close()

    def count(self):
        with self.mu:
            return len(self.acked)


def read_back(s, items, what, token=None) -> None:
    bad = []
    for path, version, value, _ in items:
        r = s.read(path, version, token=token)
        if r.status_code != 200:
            bad.append(f"{path} v{version}: {r.status_code} {r.text[:200]}")
        elif base64.b64decode(r.json()["value_b64"]) != value:
            bad.append(f"{path} v{version}: a different value")
    assert not bad, f"{what}: {len(bad)} of {len(items)} acknowledged writes wrong, e.g. {bad[:5]}"


# --- hot backup and restore ----------------------------------------------------------------

@pytest.mark.parametrize("variant", ["keys-from", "with-keys"])
def test_hot_backup_under_load_restores_every_value_acknowledged_before_it_started(
        srv, server_factory, tmp_path, variant):
    s = srv
    seeded = []
    for i in range(5):
        for v in range(3):
            value = os.urandom(16)
            r = s.write(f"bk/seed/{i}", value, {"owner": f"svc-{i}"})
            assert r.status_code == 200, r.text
            seeded.append((f"bk/seed/{i}", r.json()["version"], value, 0.0))
    w = Writer(s)
    w.start()
    try:
        wait_for(lambda: w.count() >= 50, 30, "50 acknowledged writes before the backup")
        started = time.monotonic()
        p = backup(s.data_dir, tmp_path / "b.sdbk", with_keys=variant == "with-keys")
        done = w.count()
        # writes go on after it, too
        wait_for(lambda: w.count() >= done + 20, 30, "20 more writes after the backup")
    finally:
        w.stop.set()
        w.join(timeout=30)
    assert p.returncode == 0, f"backup exited {p.returncode}: {p.stderr}"
    assert "wrote" in p.stderr, p.stderr
    assert not w.errors, f"writes failed while the backup ran: {w.errors[:5]}"
    out = tmp_path / "b.sdbk"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, oct(out.stat().st_mode)
    assert not list(tmp_path.glob("b.sdbk.partial")), "a .partial file was left behind"
    assert not list(s.data_dir.glob(".backup-*")), "the backup's work folder was left behind"
    before = seeded + [a for a in w.acked if a[3] < started]
    assert len(before) >= 50 + len(seeded)

    # the running server is unaffected: everything is there, it serves, the chain verifies
    assert s.running()
    read_back(s, seeded + w.acked, "the original server after the backup")
    assert s.write("bk/after", b"still writable").status_code == 200
    original_chain = verified_chain(s.data_dir, tmp_path)

    # restore into a new dir and serve it
    new = tmp_path / "restored"
    keys_from = s.data_dir / "keys" if variant == "keys-from" else None
    r = restore(out, new, keys_from)
    assert r.returncode == 0, f"restore exited {r.returncode}: {r.stderr}"
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    restored_chain = verified_chain(new, tmp_path)
    # the restored chain is the original's up to the backup's head
    assert 0 < len(restored_chain) <= len(original_chain)
    assert restored_chain == original_chain[:len(restored_chain)]
    r2 = server_factory(data_dir=new, extra_args=("--rate-limit", "0", "--set",
                                                  f"secrets.max_versions={MAX_VERSIONS}"))
    read_back(r2, before, f"the server on the restored dir ({variant})")
    meta = r2.metadata("bk/seed/3").json()
    assert meta["metadata"] == {"owner": "svc-3"} and meta["current_version"] == 3, meta
    if variant == "with-keys":
        # the dev issuer came back too: the original's token works on the copy
        assert r2.read("bk/seed/0", token=s.admin_token).status_code == 200
    # the copy is a working server: it takes writes, and its chain goes on from the backup's head
    assert r2.write("bk/seed/0", b"on the copy").json()["version"] == 4
    grown = verified_chain(new, tmp_path)
    assert grown[:len(restored_chain)] == restored_chain and len(grown) == len(restored_chain) + 1
    # and the original did not see that write
    assert s.read("bk/seed/0", 4).status_code == 404


def test_backup_without_keys_holds_no_key_and_no_plaintext_and_restore_needs_keys_from(
        srv, tmp_path):
    s = srv
    values = [b"PLAINTEXT-" + os.urandom(8).hex().encode() for _ in range(20)]
    for i, v in enumerate(values):
        assert s.write(f"bk/plain/{i}", v).status_code == 200
    p = backup(s.data_dir, tmp_path / "nokeys.sdbk")
    assert p.returncode == 0, p.stderr
    data = (tmp_path / "nokeys.sdbk").read_bytes()
    for v in values:
        assert v not in data and b64(v).encode() not in data, "a plaintext value is in the backup"
    keys = [k for k in (s.data_dir / "keys").iterdir() if k.name.endswith(".key")]
    assert any(k.name.startswith("kek-") for k in keys), keys
    for key in keys:  # the KEK, the evidence HMAC key, ... (not `active`: only the KEK's id)
        kb = key.read_bytes()
        assert kb not in data and kb.hex().encode() not in data, \
            f"key file {key.name} is in a backup made without --with-keys"
    r = restore(tmp_path / "nokeys.sdbk", tmp_path / "r")
    assert r.returncode != 0, "restore without keys succeeded"
    assert "--keys-from" in r.stderr, r.stderr


# --- damaged backups and existing targets --------------------------------------------------

def _flip(src, dst, where: str) -> int:
    data = bytearray(src.read_bytes())
    i = {"magic": 0, "first-entry-name": 13, "middle": len(data) // 2,
         "checksum": len(data) - 1}[where]
    data[i] ^= 0x5A
    dst.write_bytes(bytes(data))
    return i


@pytest.fixture
def good_backup(srv, tmp_path):
    for i in range(30):
        assert srv.write(f"bk/flip/{i}", os.urandom(200)).status_code == 200
    out = tmp_path / "good.sdbk"
    p = backup(srv.data_dir, out)
    assert p.returncode == 0, p.stderr
    return out


WHERE = ["magic", "first-entry-name", "middle", "checksum"]


@pytest.mark.parametrize("where", WHERE)
def test_restore_refuses_a_backup_with_one_flipped_byte_with_a_clear_message(
        srv, good_backup, tmp_path, where):
    bad = tmp_path / f"bad-{where}.sdbk"
    i = _flip(good_backup, bad, where)
    r = restore(bad, tmp_path / "r", srv.data_dir / "keys")
    assert r.returncode != 0, f"a backup with byte {i} flipped ({where}) was restored: {r.stderr}"
    msg = r.stderr.lower()
    assert str(bad) in r.stderr or "backup" in msg, f"the message names neither the file " \
                                                      f"nor the backup: {r.stderr}"
    assert any(w in msg for w in ("damaged", "checksum", "not a secretsd backup", "truncated",
                                  "unexpected entry")), r.stderr
    # and the intact file still restores
    ok = restore(good_backup, tmp_path / "r-good", srv.data_dir / "keys")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("where", ["magic", "middle"])
def test_a_refused_restore_leaves_no_partial_data_dir_behind(srv, good_backup, tmp_path, where):
    """A refused restore must not leave a half-restored data dir that a
    server could be started on, nor block the next attempt at that path."""
    bad = tmp_path / f"bad-{where}.sdbk"
    _flip(good_backup, bad, where)
    target = tmp_path / "r"
    r = restore(bad, target, srv.data_dir / "keys")
    assert r.returncode != 0
    left = sorted(str(p.relative_to(target)) for p in target.rglob("*")) if target.exists() else None
    assert left is None, f"the refused restore left {target} behind with {left}"
    again = restore(good_backup, target, srv.data_dir / "keys")
    assert again.returncode == 0, f"the retry with the intact file was refused: {again.stderr}"


def test_restore_into_an_existing_dir_is_refused_and_leaves_it_untouched(
        srv, good_backup, tmp_path):
    empty = tmp_path / "exists"
    empty.mkdir()
    r = restore(good_backup, empty, srv.data_dir / "keys")
    assert r.returncode != 0
    assert "must not exist" in r.stderr and str(empty) in r.stderr, r.stderr
    assert list(empty.iterdir()) == []

    # the live server's own data dir: refused, and the server goes on
    before = sorted(p.name for p in srv.data_dir.iterdir())
    chain = verified_chain(srv.data_dir, tmp_path)
    r = restore(good_backup, srv.data_dir, srv.data_dir / "keys")
    assert r.returncode != 0
    assert "must not exist" in r.stderr, r.stderr
    assert sorted(p.name for p in srv.data_dir.iterdir()) == before
    assert srv.running()
    v = os.urandom(16)
    assert srv.write("bk/flip/0", v).status_code == 200
    assert base64.b64decode(srv.read("bk/flip/0").json()["value_b64"]) == v
    assert verified_chain(srv.data_dir, tmp_path)[:len(chain)] == chain
