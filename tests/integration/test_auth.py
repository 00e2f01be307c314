"""Bearer JWT verification and scopes."""
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import API, DEV_AUDIENCE, DEV_ISSUER, assert_error, unique


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict, claims: dict, sign=lambda signing_input: b"") -> str:
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


def claims(**over):
    now = int(time.time())
    c = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "mallory", "tenant": "dev",
         "scope": "admin", "iat": now, "nbf": now, "exp": now + 600}
    c.update(over)
    return c


@pytest.fixture(scope="module")
def probe(shared_server):
    """A path that exists, and a function that reads it with a token."""
    path = unique("auth") + "/db/password"
    assert shared_server.write(path, b"auth-probe").status_code == 200

    def read(token):
        return shared_server.read(path, token=token)
    return read


def assert_401(r):
    assert_error(r, 401, "unauthorized")
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


# --- no, malformed or wrong tokens -----------------------------------------------------

def test_missing_authorization_is_401_with_www_authenticate(shared_server):
    r = shared_server.request("GET", f"{shared_server.base}/secrets/x")
    assert_401(r)


@pytest.mark.parametrize("value", [
    "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer garbage",
    "Bearer a.b.c", "Bearer ....", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.",
])
def test_malformed_authorization_is_401(shared_server, value):
    r = shared_server.request("GET", f"{shared_server.base}/secrets/x",
                              headers={"Authorization": value})
    assert_401(r)


def test_401_covers_every_protected_route(shared_server):
    s = shared_server
    for method, url in [("GET", "/secrets"), ("GET", "/secrets/a"), ("POST", "/secrets/a"),
                        ("DELETE", "/secrets/a"), ("GET", "/metadata/a"),
                        ("POST", "/undelete/a?version=1")]:
        r = s.request(method, s.base + url, headers={"Authorization": "Bearer garbage"},
                      json={"value_b64": "czNjcjN0"} if method == "POST" else None)
        assert_401(r)


def test_cli_token_is_accepted(shared_server, probe):
    r = probe(shared_server.token("dev", "reader", "secrets:read:*"))
    assert r.status_code == 200, r.text


def test_bearer_scheme_is_case_insensitive(shared_server, probe):
    tok = shared_server.token("dev", "reader", "secrets:read:*")
    url = probe(tok).url
    for scheme in ("bearer", "BEARER"):
        r = shared_server.request("GET", url, headers={"Authorization": f"{scheme} {tok}"})
        assert r.status_code == 200, r.text


def test_pyjwt_es256_token_signed_with_dev_key_is_accepted(shared_server, probe):
    r = probe(shared_server.mint())
    assert r.status_code == 200, r.text
    assert base64.b64decode(r.json()["value_b64"]) == b"auth-probe"


def test_audience_array_containing_ours_is_accepted(shared_server, probe):
    r = probe(shared_server.mint({"aud": ["other-service", DEV_AUDIENCE]}))
    assert r.status_code == 200, r.text


def test_expired_token_is_401(shared_server, probe):
    now = int(time.time())
    assert_401(probe(shared_server.mint({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})))


def test_token_not_yet_valid_is_401(shared_server, probe):
    now = int(time.time())
    assert_401(probe(shared_server.mint({"nbf": now + 3600, "exp": now + 7200})))


@pytest.mark.parametrize("over", [
    {"iss": "someone-else"}, {"iss": DEV_ISSUER + "x"}, {"iss": ""},
    {"aud": "someone-else"}, {"aud": ["a", "b"]}, {"aud": DEV_AUDIENCE.upper()},
], ids=["iss", "iss-suffix", "iss-empty", "aud", "aud-array", "aud-case"])
def test_wrong_issuer_or_audience_is_401(shared_server, probe, over):
    assert_401(probe(shared_server.mint(over)))


@pytest.mark.parametrize("claim", ["tenant", "sub", "exp", "iss", "aud"])
def test_missing_required_claim_is_401(shared_server, probe, claim):
    assert_401(probe(shared_server.mint(drop=(claim,))))


@pytest.mark.parametrize("tenant", ["", "a/b", "a b", "x" * 65, 42])
def test_invalid_tenant_claim_is_401(shared_server, probe, tenant):
    assert_401(probe(shared_server.mint({"tenant": tenant})))


def test_alg_none_is_401(shared_server, probe):
    kid = shared_server.dev_kid()
    for alg in ("none", "None", "NONE"):
        assert_401(probe(hand_made({"alg": alg, "typ": "JWT", "kid": kid}, claims())))
    # a "none" token carrying a real signature of the payload is still refused
    valid = shared_server.mint()
    _, payload, sig = valid.split(".")
    header = b64url(json.dumps({"alg": "none", "kid": kid}).encode())
    assert_401(probe(f"{header}.{payload}.{sig}"))


def test_hs256_signed_with_the_public_key_is_401(shared_server, probe):
    s = shared_server
    kid = s.dev_kid()
    jwks_bytes = (s.data_dir / "jwks.json").read_bytes()
    jwk_bytes = json.dumps(s.jwks()["keys"][0]).encode()
    pem = s.issuer_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret in (jwks_bytes, jwks_bytes.strip(), jwk_bytes, pem):
        for alg, h in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384),
                       ("HS512", hashlib.sha512)):
            tok = hand_made({"alg": alg, "typ": "JWT", "kid": kid}, claims(),
                            lambda si, k=secret, h=h: hmac.new(k, si, h).digest())
            assert_401(probe(tok))


def test_token_signed_by_another_ec_key_is_401(shared_server, probe):
    other = ec.generate_private_key(ec.SECP256R1())
    assert_401(probe(shared_server.mint(key=other)))                     # the dev kid
    assert_401(probe(shared_server.mint(key=other, kid="unknown-kid")))  # an unknown kid


def test_unknown_kid_is_401_even_with_the_right_key(shared_server, probe):
    assert_401(probe(shared_server.mint(kid="not-" + shared_server.dev_kid())))


def test_tampered_payload_is_401(shared_server, probe):
    tok = shared_server.token("dev", "reader", "secrets:read:nothing")
    header, payload, sig = tok.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["scope"] = "admin"
    forged = f"{header}.{b64url(json.dumps(body).encode())}.{sig}"
    assert_401(probe(forged))


def test_truncated_signature_is_401(shared_server, probe):
    tok = shared_server.mint()
    assert_401(probe(tok[:-4]))


# --- scopes ----------------------------------------------------------------------------------

@pytest.fixture
def area(shared_server):
    """A unique path prefix with db/x and app/x written by the admin."""
    base = unique("scope")
    for p in ("db/x", "app/x"):
        assert shared_server.write(f"{base}/{p}", p.encode()).status_code == 200
    return base


def test_read_scope_reads_matching_paths(shared_server, area):
    tok = shared_server.token("dev", "db-reader", f"secrets:read:{area}/db/*")
    r = shared_server.read(f"{area}/db/x", token=tok)
    assert r.status_code == 200, r.text
    assert shared_server.metadata(f"{area}/db/x", token=tok).status_code == 200


def test_read_scope_cannot_write_delete_or_undelete(shared_server, area):
    s = shared_server
    tok = s.token("dev", "db-reader", f"secrets:read:{area}/db/*")
    assert_error(s.write(f"{area}/db/x", b"overwrite", token=tok), 403, "forbidden")
    assert_error(s.write(f"{area}/db/new", b"new", token=tok), 403, "forbidden")
    assert_error(s.delete(f"{area}/db/x", token=tok), 403, "forbidden")
    assert_error(s.undelete(f"{area}/db/x", 1, token=tok), 403, "forbidden")
    assert base64.b64decode(s.read(f"{area}/db/x").json()["value_b64"]) == b"db/x"
    assert s.read(f"{area}/db/x").json()["version"] == 1


def test_read_scope_cannot_read_other_paths(shared_server, area):
    s = shared_server
    tok = s.token("dev", "db-reader", f"secrets:read:{area}/db/*")
    assert_error(s.read(f"{area}/app/x", token=tok), 403, "forbidden")
    assert_error(s.metadata(f"{area}/app/x", token=tok), 403, "forbidden")
    assert_error(s.read(f"{area}/dbx", token=tok), 403, "forbidden")


def test_forbidden_does_not_reveal_whether_a_path_exists(shared_server, area):
    s = shared_server
    tok = s.token("dev", "db-reader", f"secrets:read:{area}/db/*")
    assert_error(s.read(f"{area}/app/x", token=tok), 403, "forbidden")
    assert_error(s.read(f"{area}/app/missing", token=tok), 403, "forbidden")


def test_plus_matches_exactly_one_segment(shared_server, area):
    s = shared_server
    tok = s.token("dev", "pw-writer", f"secrets:write:{area}/apps/+/password")
    r = s.write(f"{area}/apps/a/password", b"pw", token=tok)
    assert r.status_code == 200, r.text
    assert_error(s.write(f"{area}/apps/a/b/password", b"pw", token=tok), 403, "forbidden")
    assert_error(s.write(f"{area}/apps/password", b"pw", token=tok), 403, "forbidden")
    assert_error(s.write(f"{area}/apps/a/password2", b"pw", token=tok), 403, "forbidden")
    # write does not imply read
    assert_error(s.read(f"{area}/apps/a/password", token=tok), 403, "forbidden")


def test_write_scope_allows_delete_and_undelete(shared_server, area):
    s = shared_server
    tok = s.token("dev", "db-writer", f"secrets:write:{area}/db/*")
    assert s.delete(f"{area}/db/x", token=tok).status_code == 204
    assert s.undelete(f"{area}/db/x", 1, token=tok).status_code == 204
    assert s.read(f"{area}/db/x").status_code == 200


def test_pattern_without_star_is_literal(shared_server, area):
    s = shared_server
    assert s.write(f"{area}/db", b"exact").status_code == 200
    tok = s.token("dev", "literal", f"secrets:read:{area}/db")
    assert s.read(f"{area}/db", token=tok).status_code == 200
    assert_error(s.read(f"{area}/db/x", token=tok), 403, "forbidden")


def test_star_as_last_character_is_a_prefix_match(shared_server, area):
    s = shared_server
    assert s.write(f"{area}/dbx", b"x").status_code == 200
    tok = s.token("dev", "prefix", f"secrets:read:{area}/db*")
    assert s.read(f"{area}/db/x", token=tok).status_code == 200
    assert s.read(f"{area}/dbx", token=tok).status_code == 200
    assert_error(s.read(f"{area}/app/x", token=tok), 403, "forbidden")


def test_unknown_scopes_grant_nothing(shared_server, area):
    s = shared_server
    tok = s.token("dev", "nobody", "secrets:delete:* superuser secrets:* read:*")
    assert_error(s.read(f"{area}/db/x", token=tok), 403, "forbidden")
    assert_error(s.write(f"{area}/db/x", b"v", token=tok), 403, "forbidden")


def test_several_scopes_combine(shared_server, area):
    s = shared_server
    tok = s.token("dev", "both", f"secrets:read:{area}/app/*  secrets:write:{area}/db/*")
    assert s.read(f"{area}/app/x", token=tok).status_code == 200
    assert s.write(f"{area}/db/y", b"y", token=tok).status_code == 200
    assert_error(s.read(f"{area}/db/x", token=tok), 403, "forbidden")


def test_admin_can_do_everything_in_its_tenant(shared_server):
    s = shared_server
    tok = s.token("dev", "root", "admin")
    path = unique("adm") + "/any/where"
    assert s.write(path, b"a", token=tok).status_code == 200
    assert s.read(path, token=tok).status_code == 200
    assert s.metadata(path, token=tok).status_code == 200
    assert s.delete(path, token=tok).status_code == 204
    assert s.undelete(path, 1, token=tok).status_code == 204
    assert path in s.list_all(token=tok, prefix=path.split("/")[0])
