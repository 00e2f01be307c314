"""Real database servers for the provider plugin tests: PostgreSQL 15 and
MariaDB, each started once per session on demand (the fixtures
`postgres_db` and `mariadb_db`), in a temporary directory, on 127.0.0.1 and
a free port, and torn down afterwards (also when a test fails).

No Python database driver is needed: queries go through the `psql` and
`mariadb` command-line clients. A missing server binary fails the tests that
need it with a clear message (`make deps` installs postgresql and
mariadb-server); nothing is skipped silently.

As root, the servers run as the `postgres` / `mysql` users (initdb and
postgres refuse root), so their directory is made outside pytest's private
tmp dir and chowned to them.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import free_port

PG_BIN = Path(os.environ.get("SECRETSD_PG_BIN", "/usr/lib/postgresql/15/bin"))
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def _need(path: str | Path, what: str) -> str:
    p = shutil.which(str(path)) if "/" not in str(path) else (str(path) if os.access(path, os.X_OK) else None)
    if p is None:
        pytest.fail(f"{what} not found ({path}): run `make deps` (installs postgresql and "
                    f"mariadb-server); these tests need a real server")
    return p


def _as_user(user: str) -> dict:
    """Popen arguments that run the child as `user` when we are root (the
    child itself, not a wrapper: signals sent to it reach the server)."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
            "env": {**os.environ, "HOME": pw.pw_dir, "USER": user, "LOGNAME": user}}


def _own_dir(prefix: str, user: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    d.chmod(0o700)
    return d


def _wait(pred, timeout: float, what: str, proc: subprocess.Popen | None, log: Path | None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: server exited with {proc.returncode}:\n{text}")
        if pred():
            return
        time.sleep(0.1)
    text = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise RuntimeError(f"{what}: not ready within {timeout}s:\n{text}")


class _DbServer:
    """What both servers share: a process started and stopped on demand."""
    user = ""
    name = ""

    def __init__(self):
        self.root = _own_dir(f"secretsd-{self.name}-", self.user)
        self.port = free_port()
        self.password = "Pw" + secrets.token_hex(12)
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "server.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class Postgres(_DbServer):
    """PostgreSQL: superuser `postgres` with a password, over TCP."""
    user = "postgres"
    name = "pg"

    def __init__(self):
        self.initdb = _need(PG_BIN / "initdb", "PostgreSQL initdb")
        self.postgres = _need(PG_BIN / "postgres", "PostgreSQL server")
        self.psql_bin = _need("psql", "psql client")
        super().__init__()
        try:
            self._init_cluster()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _init_cluster(self) -> None:
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam(self.user).pw_uid, -1)
        p = subprocess.run([
            self.initdb, "-D", str(self.data), "-U", "postgres", f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-locale",
            "--no-sync"], capture_output=True, text=True, timeout=120, cwd=self.root,
            **_as_user(self.user))
        pwfile.unlink()
        if p.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{p.stdout}\n{p.stderr}")

    @property
    def url(self) -> str:
        return (f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"
                f"?sslmode=disable")

    def start(self) -> "Postgres":
        log = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen([
                self.postgres, "-D", str(self.data), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.sock}",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=100", "-c", "shared_buffers=16MB"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.root,
                **_as_user(self.user))
        finally:
            log.close()
        _wait(lambda: self.psql("SELECT 1").returncode == 0, READY_TIMEOUT_S, "postgres",
              self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: ends client sessions
        super().stop()

    def psql(self, sql: str, *, user: str = "postgres", password: str | None = None,
             db: str = "postgres", timeout: float = 30) -> subprocess.CompletedProcess:
        """Run sql through psql over TCP; stdout is unaligned, tuples only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = self.password if password is None else password
        env["PGCONNECT_TIMEOUT"] = "5"
        return subprocess.run([self.psql_bin, "-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-tA",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", db,
                               "-c", sql], capture_output=True, text=True, timeout=timeout, env=env)

    def query(self, sql: str, **kw) -> str:
        p = self.psql(sql, **kw)
        assert p.returncode == 0, f"psql failed ({p.returncode}) on {sql!r}: {p.stderr}"
        return p.stdout.strip()


class MariaDB(_DbServer):
    """MariaDB: an admin user with every privilege and GRANT OPTION, over TCP."""
    user = "mysql"
    name = "mariadb"
    admin = "sdadmin"

    def __init__(self):
        self.install_db = _need("mariadb-install-db", "mariadb-install-db")
        self.mariadbd = _need("mariadbd", "MariaDB server (mariadbd)")
        self.client = _need("mariadb", "mariadb client")
        super().__init__()
        try:
            self._init_datadir()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _init_datadir(self) -> None:
        self.data = self.root / "data"
        self.socket = self.root / "mariadb.sock"
        p = subprocess.run([self.install_db, "--no-defaults", f"--datadir={self.data}",
                            *([f"--user={self.user}"] if os.geteuid() == 0 else []),
                            "--auth-root-authentication-method=normal", "--skip-test-db",
                            "--skip-name-resolve"],
                           capture_output=True, text=True, timeout=180)
        if p.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{p.stdout}\n{p.stderr}")
        self._admin_created = False

    @property
    def url(self) -> str:
        return f"mysql://{self.admin}:{self.password}@127.0.0.1:{self.port}/"

    def start(self) -> "MariaDB":
        log = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen([
                self.mariadbd, "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
                f"--port={self.port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
                f"--pid-file={self.root / 'mariadb.pid'}", "--skip-log-bin",
                "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=0", "--max-connections=200"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=self.root,
                **_as_user(self.user))
        finally:
            log.close()
        if not self._admin_created:
            _wait(lambda: self._root_sql("SELECT 1").returncode == 0, READY_TIMEOUT_S, "mariadb",
                  self.proc, self.log)
            p = self._root_sql(
                f"CREATE USER '{self.admin}'@'%' IDENTIFIED BY '{self.password}';"
                f"GRANT ALL PRIVILEGES ON *.* TO '{self.admin}'@'%' WITH GRANT OPTION;"
                "FLUSH PRIVILEGES;")
            if p.returncode != 0:
                raise RuntimeError(f"cannot create the admin user: {p.stderr}")
            self._admin_created = True
        _wait(lambda: self.mysql("SELECT 1").returncode == 0, READY_TIMEOUT_S, "mariadb over TCP",
              self.proc, self.log)
        return self

    def _root_sql(self, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.client, "--no-defaults", f"--socket={self.socket}", "-uroot",
                               "-N", "-B", "-e", sql], capture_output=True, text=True, timeout=30)

    def mysql(self, sql: str, *, user: str | None = None, password: str | None = None,
              db: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run sql through the mariadb client over TCP (batch, no column names)."""
        env = dict(os.environ)
        env["MYSQL_PWD"] = self.password if password is None else password
        argv = [self.client, "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1",
                "-P", str(self.port), "-u", user or self.admin, "--connect-timeout=5", "-N", "-B"]
        if db:
            argv += ["-D", db]
        return subprocess.run(argv + ["-e", sql], capture_output=True, text=True, timeout=timeout,
                              env=env)

    def query(self, sql: str, **kw) -> str:
        p = self.mysql(sql, **kw)
        assert p.returncode == 0, f"mariadb failed ({p.returncode}) on {sql!r}: {p.stderr}"
        return p.stdout.strip()


@pytest.fixture(scope="session")
def postgres_db():
    db = Postgres()
    try:
        db.start()
        yield db
    finally:
        db.destroy()


@pytest.fixture(scope="session")
def mariadb_db():
    db = MariaDB()
    try:
        db.start()
        yield db
    finally:
        db.destroy()
