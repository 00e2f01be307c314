"""Disk faults (issue #8, part 5): when the data volume is full, or a file
cannot grow, writes fail with 503 `dependency_down`, nothing acknowledged
is lost or corrupted, reads keep working, the evidence chain verifies, and
writes succeed again once space returns (then also after a restart).

Two ways to take the space away, chosen at run time:

- tmpfs (needs mount(2), i.e. root or CAP_SYS_ADMIN): the data dir is a
  small tmpfs, filled with a filler file until writes fail; deleting the
  filler gives the space back. The tmpfs is TMPFS_MB, not a few MB: the
  Berkeley DB environment alone takes ~15 MB of region files (8 MB cache)
  and a 10 MB (sparse) log file. Skipped, saying so, when mounting is not
  permitted.
- RLIMIT_FSIZE (any user): the server starts with a soft file size limit
  just above its largest file, writes of large values make a database
  file reach it; raising the limit with prlimit(2) gives the space back.
  A write past the limit raises SIGXFSZ, which kills a process that does
  not ignore it: the server must not die of it.

The audit log is kept off the data volume, as the runbook advises: the
audit trail fails closed (a read whose audit line cannot be written is not
answered), so an audit log on the full volume would stop reads too.

What makes this work (core/store.c): Berkeley DB's shared regions live in
System V shared memory, not in mapped files of the data volume (a cache
page first touched on a full volume was a SIGBUS), and every write
transaction checks, before its first write, that the volume keeps
[limits] min_free_mb free and that no database file is within 1 MiB of
RLIMIT_FSIZE, so Berkeley DB itself never meets a full disk.

SECRETSD_DISK_FAULT=tmpfs|rlimit runs only that one."""
import base64
import os
import resource
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import Server, verified_chain, wait_for

TMPFS_MB = 40
ONLY = os.environ.get("SECRETSD_DISK_FAULT")
MAX_FAILING_TRIES = 400     # writes tried before the volume must have refused one
RECOVER_S = 15              # writes must succeed again this long after space returns


def _signame(rc):
    try:
        return signal.Signals(-rc).name if rc is not None and rc < 0 else str(rc)
    except ValueError:
        return str(rc)


def can_mount_tmpfs(where) -> tuple[bool, str]:
    if shutil.which("mount") is None:
        return False, "no mount(8)"
    probe = where / "probe"
    probe.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return False, (p.stderr or p.stdout).strip()
    subprocess.run(["umount", str(probe)], capture_output=True)
    return True, ""


def unmount(mnt) -> None:
    for args in (["umount", str(mnt)], ["umount", "-l", str(mnt)]):
        for _ in range(20):
            if subprocess.run(args, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
    raise AssertionError(f"could not unmount {mnt}")


def all_readable(s, acked: dict, when: str) -> None:
    for (path, version), value in acked.items():
        r = s.read(path, version)
        assert r.status_code == 200, f"{when}: acknowledged {path} v{version}: {r.status_code} {r.text}"
        assert base64.b64decode(r.json()["value_b64"]) == value, f"{when}: {path} v{version} differs"


def write_acked(s, acked, path, value) -> requests.Response:
    r = s.write(path, value)
    if r.status_code == 200:
        acked[(path, r.json()["version"])] = value
    return r


def exercise(s, tmp_path, *, fill, give_back, value_size, mode) -> None:
    """The scenario, whatever takes the space away."""
    acked = {}
    for i in range(10):
        assert write_acked(s, acked, f"df/base/{i % 4}", os.urandom(64)).status_code == 200
    verified_chain(s.data_dir, tmp_path)

    fill()
    # writes go on until the volume refuses one (some fit in what is left)
    refused = None
    for i in range(MAX_FAILING_TRIES):
        path = f"df/full/{i % 8}"
        try:
            r = write_acked(s, acked, path, os.urandom(value_size))
        except requests.RequestException as e:
            s.proc.wait(timeout=10)
            pytest.fail(f"[{mode}] the server died when the volume filled up: exit "
                        f"{_signame(s.proc.returncode)} after {i} write(s) ({e!r}); expected 503 "
                        f"dependency_down.\nlog tail:\n{s.stderr_text()[-1500:]}")
        if r.status_code != 200:
            refused = (path, r)
            break
    assert refused is not None, f"[{mode}] {MAX_FAILING_TRIES} writes fitted: the fault did not bite"
    path, r = refused
    assert r.status_code == 503, f"[{mode}] expected 503, got {r.status_code}: {r.text}"
    assert r.json()["error"] == "dependency_down", r.text
    assert s.running(), f"[{mode}] server gone: {_signame(s.proc.returncode)}"

    # nothing half-written, reads keep working, another write is refused the same way
    meta = s.metadata(path)
    known = sorted(v for (p, v) in acked if p == path)
    if known:
        assert meta.status_code == 200 and meta.json()["latest_version"] == known[-1], meta.text
    else:
        assert meta.status_code == 404, meta.text
    all_readable(s, acked, f"[{mode}] while full")
    r2 = s.write("df/while-full", b"x" * value_size)
    assert r2.status_code == 503 and r2.json()["error"] == "dependency_down", r2.text
    assert s.request("GET", "/health").status_code == 200
    verified_chain(s.data_dir, tmp_path)

    give_back()
    got = {}

    def write_ok():
        got["r"] = write_acked(s, acked, "df/after", os.urandom(64))
        return got["r"].status_code == 200

    wait_for(write_ok, RECOVER_S, lambda: f"[{mode}] a write to succeed after space returned; "
                                          f"last {got['r'].status_code} {got['r'].text}", interval=0.2)
    assert write_acked(s, acked, path, os.urandom(64)).status_code == 200
    all_readable(s, acked, f"[{mode}] after space returned")
    verified_chain(s.data_dir, tmp_path)
    assert s.stop() == 0
    s.start()
    all_readable(s, acked, f"[{mode}] after a restart")
    verified_chain(s.data_dir, tmp_path)


def finish(s) -> None:
    if s.proc is None:
        return
    s.finish()


def test_full_tmpfs_data_volume_answers_503_keeps_reads_and_recovers_when_space_returns(
        secretsd_bin, tmp_path):
    if ONLY not in (None, "tmpfs"):
        pytest.skip(f"SECRETSD_DISK_FAULT={ONLY}")
    ok, why = can_mount_tmpfs(tmp_path)
    if not ok:
        pytest.skip(f"tmpfs path not run: mounting is not permitted here ({why}); "
                    f"the RLIMIT_FSIZE test covers a file that cannot grow")
    print("disk faults: tmpfs path (mount permitted)")
    mnt = tmp_path / "vol"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m,mode=0700", "tmpfs", str(mnt)],
                   check=True)
    s = Server(tmp_path / "srv", data_dir=mnt / "data",
               extra_args=("--rate-limit", "0", "--set", f"server.audit_log={tmp_path / 'audit.log'}",
                           "--set", "limits.min_free_mb=4"))
    try:
        s.start()
        regions = sum(p.stat().st_blocks * 512 for p in (mnt / "data" / "db").glob("__db.*"))
        assert regions < (1 << 20), f"region files take {regions} bytes of the data volume"
        filler = mnt / "filler"

        def fill():
            with open(filler, "wb", buffering=0) as f:
                for chunk in (1 << 16, 1 << 12, 1 << 9):
                    try:
                        while True:
                            f.write(b"\0" * chunk)
                    except OSError:
                        pass
            assert shutil.disk_usage(mnt).free < (1 << 12), shutil.disk_usage(mnt)

        exercise(s, tmp_path, fill=fill, give_back=lambda: filler.unlink(), value_size=4096,
                 mode="tmpfs")
    finally:
        try:
            finish(s)
        finally:
            if s.running():
                s.kill9()
            unmount(mnt)


def test_file_size_limit_answers_503_instead_of_killing_the_server_and_recovers_when_raised(
        secretsd_bin, tmp_path):
    if ONLY not in (None, "rlimit"):
        pytest.skip(f"SECRETSD_DISK_FAULT={ONLY}")
    print("disk faults: RLIMIT_FSIZE path")
    s = Server(tmp_path / "srv",
               extra_args=("--rate-limit", "0", "--set", f"server.audit_log={tmp_path / 'audit.log'}"))
    try:
        s.start()  # create the environment, then find its largest file
        assert s.write("df/init", b"x").status_code == 200
        assert s.stop() == 0
        largest = max(p.stat().st_size for p in s.data_dir.rglob("*") if p.is_file())
        limit = largest + (2 << 20)

        def preexec():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        s.preexec_fn = preexec
        s.start()

        def give_back():
            resource.prlimit(s.proc.pid, resource.RLIMIT_FSIZE,
                             (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            s.preexec_fn = None  # the restart after it runs without the limit

        exercise(s, tmp_path, fill=lambda: None, give_back=give_back, value_size=500 * 1024,
                 mode="rlimit")
    finally:
        finish(s)
