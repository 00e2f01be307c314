"""`secretsd dev` data dir contract and `secretsd token create`."""
import base64
import json
import stat
import time

import jwt
import pytest

from conftest import DEV_AUDIENCE, DEV_ISSUER, run_bin


def mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def test_data_dir_layout_and_permissions(fresh_server):
    d = fresh_server.data_dir
    fresh_server.admin_token  # waits until it is written
    assert mode(d) & 0o077 == 0, oct(mode(d))
    assert mode(d / "admin.token") == 0o600
    assert (d / "jwks.json").is_file()
    keys = d / "keys"
    assert keys.is_dir()
    assert mode(keys) == 0o700
    key_files = [p for p in keys.iterdir() if p.is_file()]
    assert key_files, "keys/ holds no key file"
    for p in key_files:
        assert mode(p) == 0o600, f"{p.name} is {oct(mode(p))}"
    assert any(p.suffix == ".key" and p.stat().st_size == 32 for p in key_files)
    assert mode(d / "issuer.key") == 0o600


def test_jwks_holds_the_dev_issuer_public_key_only(fresh_server):
    jwks = fresh_server.jwks()
    assert isinstance(jwks.get("keys"), list) and len(jwks["keys"]) == 1
    k = jwks["keys"][0]
    assert k["kty"] == "EC" and k["crv"] == "P-256" and k.get("kid")
    assert "d" not in k, "the JWKS must not contain the private key"


def test_admin_token_is_for_tenant_dev_with_admin_scope(fresh_server):
    tok = fresh_server.admin_token
    claims = jwt.decode(tok, options={"verify_signature": False})
    assert claims["tenant"] == "dev"
    assert "admin" in claims["scope"].split()
    assert claims["iss"] == DEV_ISSUER
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert DEV_AUDIENCE in aud
    assert claims.get("sub")
    assert claims["exp"] > time.time()
    assert jwt.get_unverified_header(tok)["alg"] == "ES256"


def test_admin_token_verifies_against_the_published_jwks(fresh_server):
    s = fresh_server
    key = jwt.PyJWK(s.jwks()["keys"][0])
    assert jwt.get_unverified_header(s.admin_token)["kid"] == s.dev_kid()
    claims = jwt.decode(s.admin_token, key.key, algorithms=["ES256"], audience=DEV_AUDIENCE,
                        issuer=DEV_ISSUER)
    assert claims["tenant"] == "dev"


def test_admin_token_works_against_the_api(fresh_server):
    s = fresh_server
    assert s.write("dev/check", b"hello").status_code == 200
    r = s.read("dev/check")
    assert r.status_code == 200
    assert base64.b64decode(r.json()["value_b64"]) == b"hello"
    assert s.list_all() == ["dev/check"]


def test_dev_prints_the_admin_token_on_stdout(fresh_server):
    tok = fresh_server.admin_token
    deadline = time.monotonic() + 10
    while tok not in fresh_server.stdout_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tok in fresh_server.stdout_text()


def test_token_create_puts_the_given_claims_in_a_verifiable_token(fresh_server):
    s = fresh_server
    tok = s.token("team-x", "ci@example", "secrets:read:db/* secrets:write:app/*", ttl=120)
    claims = jwt.decode(tok, jwt.PyJWK(s.jwks()["keys"][0]).key, algorithms=["ES256"],
                        audience=DEV_AUDIENCE, issuer=DEV_ISSUER)
    assert claims["tenant"] == "team-x"
    assert claims["sub"] == "ci@example"
    assert claims["scope"] == "secrets:read:db/* secrets:write:app/*"
    assert 110 <= claims["exp"] - time.time() <= 130


@pytest.mark.parametrize("extra", [
    ["--ttl", "0"], ["--ttl", "abc"], ["--ttl", "-5"], ["--bogus", "x"],
])
def test_token_create_refuses_bad_options(fresh_server, extra):
    p = run_bin("token", "create", "--data-dir", str(fresh_server.data_dir), "--tenant", "t",
                "--sub", "s", "--scope", "admin", *extra)
    assert p.returncode != 0
    assert p.stdout.strip() == ""
    assert p.stderr.strip()


@pytest.mark.parametrize("missing", ["--tenant", "--sub", "--scope", "--data-dir"])
def test_token_create_requires_its_options(fresh_server, missing):
    opts = {"--data-dir": str(fresh_server.data_dir), "--tenant": "t", "--sub": "s",
            "--scope": "admin"}
    del opts[missing]
    args = [x for kv in opts.items() for x in kv]
    p = run_bin("token", "create", *args)
    assert p.returncode != 0
    assert p.stdout.strip() == ""


def test_token_create_without_a_dev_data_dir_fails(tmp_path, secretsd_bin):
    p = run_bin("token", "create", "--data-dir", str(tmp_path / "nowhere"), "--tenant", "t",
                "--sub", "s", "--scope", "admin")
    assert p.returncode != 0
    assert p.stdout.strip() == ""


def test_dev_refuses_unknown_options(tmp_path, secretsd_bin):
    p = run_bin("dev", "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0", "--bogus")
    assert p.returncode != 0
    assert "--bogus" in p.stderr
