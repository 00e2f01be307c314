"""An AWS emulator for the aws_iam plugin tests: moto's server (IAM and STS)
on 127.0.0.1 and a free port, with request signing enforced.

moto accepts the first INITIAL_NO_AUTH_ACTION_COUNT service requests without
authentication; after that every request must carry a valid SigV4
signature of an IAM user of the emulator whose policies allow the action.
`Moto.start()` uses exactly that many requests (with boto3) to create an
admin user with an access key and AWS's AdministratorAccess policy (which
exists because MOTO_IAM_LOAD_MANAGED_POLICIES=true), then checks that an
unsigned-by-a-known-user request is refused. From then on the emulator
checks signatures like AWS does: a plugin that signs wrongly fails.

A missing moto fails the tests that need it with a clear message (`make
deps` installs moto[server]); nothing is skipped silently.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port

READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
REGION = "us-east-1"
ACCOUNT = "123456789012"
ADMIN_USER = "secretsd-admin"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
# The bootstrap below makes exactly this many requests without signatures.
BOOTSTRAP_CALLS = 3


def _need_moto():
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as e:
        pytest.fail(f"moto's server or boto3 is missing ({e}): run `make deps` "
                    f"(pip installs moto[server]); these tests need the emulator")


class Moto:
    """One `python3 -m moto.server` process."""

    def __init__(self):
        _need_moto()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="secretsd-moto-"))
        self.log = self.root / "moto.log"
        self.proc: subprocess.Popen | None = None
        self.access_key = ""
        self.secret_key = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "Moto":
        """Start, wait until it answers, bootstrap the admin. A port that
        another process took since free_port() is replaced (3 tries)."""
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_CALLS),
               "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
               "AWS_DEFAULT_REGION": REGION}
        for attempt in range(3):
            mark = self.log.stat().st_size if self.log.exists() else 0
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                    stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                self._wait_ready()
                self._bootstrap()
                return self
            except RuntimeError:
                self.stop()
                text = self.log.read_bytes()[mark:].decode(errors="replace").lower()
                if attempt == 2 or "address already in use" not in text:
                    raise
                self.port = free_port()
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                # /moto-api/ is moto's own page: it does not use up a no-auth request
                if requests.get(self.url + "/moto-api/", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"moto not ready within {READY_TIMEOUT_S}s:\n{self.log_tail()}")

    def _bootstrap(self) -> None:
        import botocore.exceptions
        # the credentials of the first calls are not checked
        iam = self.client("iam", ("AKIDBOOTSTRAP", "bootstrap"))
        iam.create_user(UserName=ADMIN_USER)                                # 1
        iam.attach_user_policy(UserName=ADMIN_USER, PolicyArn=ADMIN_POLICY)  # 2
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]      # 3
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        # from now on signatures are checked
        try:
            self.client("sts", ("AKIDBOOTSTRAP", "bootstrap")).get_caller_identity()
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidClientTokenId", e.response
        else:
            raise AssertionError("moto accepts requests of an unknown access key: auth is off")
        me = self.client("sts").get_caller_identity()
        assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{ADMIN_USER}", me

    def client(self, service: str, creds: tuple | None = None):
        """A boto3 client of the emulator, with the admin's keys or
        creds = (access_key, secret_key[, session_token])."""
        import boto3
        from botocore.config import Config
        ak, sk, *tok = creds if creds is not None else (self.access_key, self.secret_key)
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=ak, aws_secret_access_key=sk,
                            aws_session_token=tok[0] if tok else None,
                            config=Config(retries={"max_attempts": 1}, connect_timeout=5,
                                          read_timeout=30))

    def users(self, prefix: str = "") -> list[str]:
        """Names of the emulator's IAM users that start with prefix."""
        names = []
        for page in self.client("iam").get_paginator("list_users").paginate():
            names += [u["UserName"] for u in page["Users"] if u["UserName"].startswith(prefix)]
        return names

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            import shutil
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def moto_aws():
    """A bootstrapped emulator for one test module, stopped afterwards."""
    m = Moto().start()
    try:
        yield m
    finally:
        m.destroy()
