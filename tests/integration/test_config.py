"""`secretsd serve --config FILE`: strict config, external JWKS, TLS."""
import base64
import datetime
import ipaddress
import json
import re
import time
import uuid

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from conftest import assert_error, run_bin, free_port

ISSUER = "https://access.example.test/"
AUDIENCE = "secretsd-test"


def b64url_int(n: int, length: int | None = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(key, kid):
    pub = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "n": b64url_int(pub.n), "e": b64url_int(pub.e)}


def ec_jwk(key, kid, crv="P-256", size=32):
    pub = key.public_key().public_numbers()
    return {"kty": "EC", "kid": kid, "use": "sig", "crv": crv,
            "x": b64url_int(pub.x, size), "y": b64url_int(pub.y, size)}


def make_token(key, kid, alg, **over):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"{alg}-client", "tenant": "prod",
              "scope": "admin", "iat": now, "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    claims.update(over)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def keys():
    return {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
            "ec384": ec.generate_private_key(ec.SECP384R1())}


def write_config(path, text):
    path.write_text(text)
    return path


def auth_section(jwks_file):
    return f"[auth]\njwks_file = {jwks_file}\nissuer = {ISSUER}\naudience = {AUDIENCE}\n"


def serve_config(tmp, port, jwks_file, extra_server=""):
    return (f"# secretsd test config\n[server]\nlisten = 127.0.0.1:{port}\n"
            f"data_dir = {tmp / 'data'}\nthreads = 2\n{extra_server}\n"
            f"{auth_section(jwks_file)}\n[limits]\nrate_limit = 0\n")


@pytest.fixture
def jwks_file(tmp_path, keys):
    f = tmp_path / "jwks.json"
    f.write_text(json.dumps({"keys": [rsa_jwk(keys["rsa"], "rsa-1"), ec_jwk(keys["ec"], "ec-1"),
                                      ec_jwk(keys["ec384"], "ec384-1", "P-384", 48)]}))
    return f


# --- refused configs -----------------------------------------------------------------------

def refused(cfg_path):
    p = run_bin("serve", "--config", str(cfg_path))
    assert p.returncode != 0, f"started with a bad config:\n{p.stderr}"
    return p.stderr


def test_unknown_key_is_refused_with_file_and_line(tmp_path, jwks_file, secretsd_bin):
    cfg = write_config(tmp_path / "bad.conf",
                       "[server]\nlisten = 127.0.0.1:1\n"
                       f"data_dir = {tmp_path / 'data'}\nlisen = 127.0.0.1:2\n\n"
                       + auth_section(jwks_file))
    err = refused(cfg)
    assert f"{cfg}:4:" in err, err
    assert "lisen" in err


def test_unknown_section_is_refused_with_file_and_line(tmp_path, jwks_file, secretsd_bin):
    cfg = write_config(tmp_path / "bad.conf",
                       f"[server]\nlisten = 127.0.0.1:1\ndata_dir = {tmp_path / 'data'}\n"
                       + auth_section(jwks_file) + "[tls]\ncert = /x.pem\n")
    err = refused(cfg)
    m = re.search(re.escape(str(cfg)) + r":(\d+):", err)
    assert m, err
    assert int(m.group(1)) in (8, 9), err  # the [tls] header or its first key
    assert "tls" in err


@pytest.mark.parametrize("line,needle", [
    ("threads = lots", "threads"),
    ("log_level = loud", "log_level"),
    ("this line has no equals sign", ""),
])
def test_bad_value_or_syntax_is_refused_with_file_and_line(tmp_path, jwks_file, secretsd_bin,
                                                           line, needle):
    cfg = write_config(tmp_path / "bad.conf",
                       f"[server]\nlisten = 127.0.0.1:1\ndata_dir = {tmp_path / 'data'}\n{line}\n"
                       + auth_section(jwks_file))
    err = refused(cfg)
    assert f"{cfg}:4:" in err, err
    assert needle in err


def test_config_without_jwks_is_refused(tmp_path, secretsd_bin):
    cfg = write_config(tmp_path / "bad.conf",
                       f"[server]\nlisten = 127.0.0.1:1\ndata_dir = {tmp_path / 'data'}\n"
                       f"[auth]\nissuer = {ISSUER}\naudience = {AUDIENCE}\n")
    assert "jwks" in refused(cfg).lower()


def test_missing_config_file_is_refused(tmp_path, secretsd_bin):
    err = refused(tmp_path / "does-not-exist.conf")
    assert "does-not-exist.conf" in err


def test_tls_cert_without_key_is_refused(tmp_path, jwks_file, secretsd_bin):
    cfg = write_config(tmp_path / "bad.conf",
                       serve_config(tmp_path, 1, jwks_file, "tls_cert = /nonexistent.pem"))
    assert refused(cfg)


# --- a valid config ------------------------------------------------------------------------

@pytest.fixture
def prod_server(server_factory, tmp_path, jwks_file):
    s = server_factory(mode="serve")
    s.config = write_config(tmp_path / "secretsd.conf", serve_config(s.workdir, s.port, jwks_file))
    return s.start()


def test_serve_accepts_rs256_and_es256_tokens_from_the_configured_issuer(prod_server, keys):
    s = prod_server
    rs = make_token(keys["rsa"], "rsa-1", "RS256")
    es = make_token(keys["ec"], "ec-1", "ES256")
    r = s.write("prod/db", b"from-rs256", token=rs)
    assert r.status_code == 200, r.text
    r = s.read("prod/db", token=es)
    assert r.status_code == 200, r.text
    assert base64.b64decode(r.json()["value_b64"]) == b"from-rs256"
    meta = s.metadata("prod/db", token=es).json()
    assert meta["versions"][0]["created_by"] == "RS256-client"


def test_serve_accepts_ps256_with_an_rsa_key(prod_server, keys):
    r = prod_server.list(token=make_token(keys["rsa"], "rsa-1", "PS256"))
    assert r.status_code == 200, r.text


def test_serve_rejects_tokens_that_do_not_match_the_config(prod_server, keys):
    s = prod_server
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = [
        make_token(keys["rsa"], "rsa-1", "RS256", iss="secretsd-dev"),
        make_token(keys["rsa"], "rsa-1", "RS256", aud="secretsd"),
        make_token(keys["ec"], "ec-1", "ES256", exp=int(time.time()) - 3600,
                   iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200),
        make_token(stranger, "rsa-1", "RS256"),
        make_token(keys["rsa"], "ec-1", "RS256"),   # an RSA signature for the EC key's kid
        make_token(keys["ec"], "nope", "ES256"),
    ]
    for tok in bad:
        assert_error(s.list(token=tok), 401, "unauthorized")


@pytest.mark.parametrize("alg,key,kid", [
    ("ES384", "ec384", "ec384-1"), ("RS384", "rsa", "rsa-1"), ("RS512", "rsa", "rsa-1"),
    ("PS512", "rsa", "rsa-1"), ("ES256", "ec", "rsa-1"),
])
def test_serve_accepts_only_allow_listed_algorithms_matching_the_key(prod_server, keys, alg, key,
                                                                     kid):
    """RS256, PS256 and ES256 only, each for its key type: a correct signature
    with another algorithm is refused."""
    tok = make_token(keys[key], kid, alg)
    assert_error(prod_server.list(token=tok), 401, "unauthorized")


def test_serve_does_not_write_a_dev_admin_token(prod_server):
    assert not (prod_server.data_dir / "admin.token").exists()
    assert not (prod_server.data_dir / "issuer.key").exists()


def test_serve_tenants_from_tokens_are_isolated(prod_server, keys):
    s = prod_server
    a = make_token(keys["ec"], "ec-1", "ES256", tenant="alpha")
    b = make_token(keys["rsa"], "rsa-1", "RS256", tenant="beta")
    assert s.write("shared", b"alpha", token=a).status_code == 200
    assert_error(s.read("shared", token=b), 404, "not_found")


# --- TLS -------------------------------------------------------------------------------------

def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secretsd-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture
def tls_server(server_factory, tmp_path, jwks_file):
    cert, key = self_signed(tmp_path)
    s = server_factory(mode="serve", scheme="https", verify=str(cert))
    s.config = write_config(tmp_path / "tls.conf", serve_config(
        s.workdir, s.port, jwks_file, f"tls_cert = {cert}\ntls_key = {key}"))
    s.cert = cert
    return s.start()


def test_tls_serves_health_over_https(tls_server):
    r = requests.get(f"https://127.0.0.1:{tls_server.port}/health", verify=str(tls_server.cert),
                     timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_tls_serves_the_api(tls_server, keys):
    tok = make_token(keys["ec"], "ec-1", "ES256")
    assert tls_server.write("over/tls", b"wrapped", token=tok).status_code == 200
    r = tls_server.read("over/tls", token=tok)
    assert base64.b64decode(r.json()["value_b64"]) == b"wrapped"


def test_tls_server_does_not_serve_plain_http(tls_server):
    try:
        r = requests.get(f"http://127.0.0.1:{tls_server.port}/health", timeout=10)
    except requests.exceptions.RequestException:
        return  # the connection fails: expected
    assert r.status_code != 200, "a TLS listener answered plain HTTP with 200"
