"""API contract fuzzing (issue #8, part 7): schemathesis generates requests
from docs/openapi.yaml and sends them to a live secretsd (dev mode, the
example plugin's `demo` role, a valid admin token on every request). Every
answer must not be a server error (5xx) and must match the schema
(status code documented, body valid against the documented schema).

The run is bounded: CONTRACT_EXAMPLES examples per operation (default 50)
with a fixed seed (CONTRACT_SEED), one worker (schemathesis' coverage phase
crashes inside Hypothesis when workers run in threads on Python 3.11).
The second test proves the run can fail: against a copy of the schema
that contradicts what /health answers, it must report the mismatch.

Needs `schemathesis` (pip; `make deps` installs it). Run with `make contract`."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "docs" / "openapi.yaml"
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "50"))
SEED = os.environ.get("CONTRACT_SEED", "20261129")
CHECKS = "not_a_server_error,response_schema_conformance"
RUN_TIMEOUT_S = 300
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# The integration suite's Server (and plugin helpers), loaded under its own name.
_spec = importlib.util.spec_from_file_location(
    "secretsd_integration_conftest", REPO / "tests" / "integration" / "conftest.py")
it = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(it)


def _have_schemathesis() -> str | None:
    p = subprocess.run([sys.executable, "-m", "schemathesis.cli", "--version"],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.access(it.BIN, os.X_OK):
        pytest.fail(f"SECRETSD_BIN={it.BIN} is not an executable; build with `make` first")
    version = _have_schemathesis()
    if version is None:
        pytest.fail("schemathesis is not installed: run `make deps` (tools/deps.sh installs it)")
    print(version)
    d = tmp_path_factory.mktemp("contract")
    conf = it.write_plugins_conf(d / "plugins.conf", it.plugin_section("example"),
                                 it.role_section("demo", "example", default_ttl_s=60,
                                                 max_ttl_s=600))
    s = it.Server(d / "srv", plugins=conf).start()
    yield s
    s.finish()  # exit 0 on SIGTERM and no sanitizer report


def run_schemathesis(s, spec: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", str(spec), "--url", s.url,
           "-H", f"Authorization: Bearer {s.admin_token}", "--checks", CHECKS,
           "--workers", "1", "--seed", SEED, "--no-color", "--generation-database", "none",
           *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=RUN_TIMEOUT_S,
                          env={**os.environ, "NO_COLOR": "1"})


def operations(spec: dict) -> int:
    return sum(1 for item in spec["paths"].values() for m in item if m in METHODS)


def test_no_operation_answers_5xx_or_off_schema_under_generated_requests(server, tmp_path):
    p = run_schemathesis(server, SPEC, tmp_path, "--max-examples", str(EXAMPLES))
    out = p.stdout + p.stderr
    assert p.returncode == 0, (f"schemathesis exited {p.returncode} (seed {SEED}; repeat with "
                               f"CONTRACT_SEED={SEED}):\n{out[-15000:]}")
    tested = re.search(r"Tested:\s+(\d+)", out)
    generated = re.search(r"(\d+) generated", out)
    total = operations(yaml.safe_load(SPEC.read_text()))
    assert tested and int(tested.group(1)) == total, f"not every operation was tested:\n{out[-3000:]}"
    assert generated and int(generated.group(1)) >= total, out[-3000:]
    print(f"schemathesis: {tested.group(1)} operations, {generated.group(1)} test cases, "
          f"seed {SEED}")
    assert server.running(), "the server died during the run"


def test_the_contract_run_reports_a_response_that_contradicts_the_schema(server, tmp_path):
    spec = yaml.safe_load(SPEC.read_text())
    body = spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]
    body["schema"] = json.loads(json.dumps(body["schema"]))  # unshare any YAML anchor
    body["schema"]["properties"]["status"] = {"type": "string", "const": "not-ok"}
    wrong = tmp_path / "openapi-wrong.json"
    wrong.write_text(json.dumps(spec))
    p = run_schemathesis(server, wrong, tmp_path, "--max-examples", "5",
                         "--include-operation-id", "health")
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"a schema /health contradicts passed:\n{out[-5000:]}"
    assert "GET /health" in out and "Response violates schema" in out, out[-5000:]
