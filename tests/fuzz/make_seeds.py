#!/usr/bin/env python3
"""make_seeds.py — write the seed corpora of tests/fuzz/corpus/NAME/.

The seeds are small, hand-written inputs in each target's input format (see
the comment at the top of tests/fuzz/fuzz_NAME.c). Run from the repository
root after changing a format; the files are committed. Existing seed files
of the same name are overwritten, others are left alone (seeds that
fuzzing found and someone chose to keep stay).

    python3 tests/fuzz/make_seeds.py
"""
import base64
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# --- http ------------------------------------------------------------------------

BASE = "/api/v1/trust/secrets"


def req(method, path, token=None, body=None, headers=(), version="HTTP/1.1"):
    lines = ["%s %s %s" % (method, path, version), "Host: secretsd.test"]
    if token:
        lines.append("Authorization: Bearer @@%s@@" % token)
    lines += list(headers)
    if body is not None:
        if not isinstance(body, str):
            body = json.dumps(body, separators=(",", ":"))
        lines.append("Content-Type: application/json")
        lines.append("Content-Length: %d" % len(body.encode()))
    return "\r\n".join(lines) + "\r\n\r\n" + (body or "")


def seq(*reqs):
    return "@@NEXT@@".join(reqs)


def http_seeds():
    V = base64.b64encode(b"s3cr3t-value").decode()
    put("http", "health", req("GET", "/health"))
    put("http", "ready_head", seq(req("GET", "/ready"), req("HEAD", "/health")))
    put("http", "metrics", req("GET", "/metrics"))
    put("http", "write_read", seq(
        req("POST", BASE + "/secrets/team/app/config", "WRITER",
            {"value_b64": V, "metadata": {"owner": "team-app", "ttl": "1h"}}),
        req("GET", BASE + "/secrets/team/app/config", "READER"),
        req("GET", BASE + "/secrets/team/app/config?version=1", "WRITER"),
        req("GET", BASE + "/metadata/team/app/config", "ADMIN")))
    put("http", "write_cas", seq(
        req("POST", BASE + "/secrets/team/db/password", "WRITER", {"value_b64": V, "cas": 0}),
        req("POST", BASE + "/secrets/team/db/password", "WRITER", {"value_b64": V, "cas": 0}),
        req("POST", BASE + "/secrets/team/db/password", "WRITER", {"value_b64": "", "cas": 1})))
    put("http", "delete_undelete", seq(
        req("POST", BASE + "/secrets/shared/x", "ADMIN", {"value_b64": V}),
        req("DELETE", BASE + "/secrets/shared/x?version=1", "ADMIN"),
        req("GET", BASE + "/secrets/shared/x", "READER"),
        req("POST", BASE + "/undelete/shared/x?version=1", "ADMIN"),
        req("DELETE", BASE + "/secrets/shared/x", "ADMIN")))
    put("http", "list", seq(
        req("GET", BASE + "/secrets?prefix=team/&limit=2", "READER"),
        req("GET", BASE + "/secrets?owner=team-app&after=team/a", "ADMIN"),
        req("GET", BASE + "/secrets?limit=0&limit=1", "ADMIN")))
    put("http", "leases", seq(
        req("POST", BASE + "/leases", "LEASER", {"role": "gm", "ttl_s": 30}),
        req("GET", BASE + "/leases/@@LEASE@@", "LEASER"),
        req("POST", BASE + "/leases/@@LEASE@@/renew", "LEASER", {"increment_s": 10}),
        req("GET", BASE + "/leases?role=gm&limit=5", "ADMIN"),
        req("DELETE", BASE + "/leases/@@LEASE@@", "LEASER")))
    put("http", "lease_unknown_role", seq(
        req("POST", BASE + "/leases", "LEASER", {"role": "pg-nope"}),
        req("POST", BASE + "/leases", "ADMIN", {"role": "gm-big", "ttl_s": 999999999}),
        req("POST", BASE + "/leases", "NOSCOPE", {"role": "gm"}),
        req("POST", BASE + "/leases/000000000000000000000000/renew", "ADMIN")))
    put("http", "lease_by_path", req("GET", BASE + "/secrets/gm/creds", "LEASER"))
    put("http", "rotate", seq(
        req("POST", BASE + "/secrets/team/rot/key", "ADMIN",
            {"value_b64": V, "metadata": {"rotation": "30d", "rotation_policy": "length=20 classes=lower,digit"}}),
        req("POST", BASE + "/admin/rotate/team/rot/key", "ADMIN", {"strategy": "staged", "reason": "drill"}),
        req("POST", BASE + "/admin/rotate/team/rot/key", "ADMIN"),
        req("GET", BASE + "/admin/evidence?path=team/rot/key&limit=3", "ADMIN")))
    put("http", "rotate_hooks", seq(
        req("POST", BASE + "/secrets/team/rot/wh", "ADMIN",
            {"value_b64": V, "metadata": {"rotation_hook": "webhook:http://127.0.0.1:9/hook"}}),
        req("POST", BASE + "/admin/rotate/team/rot/wh", "ADMIN", {"strategy": "immediate"}),
        req("POST", BASE + "/secrets/team/rot/pl", "ADMIN",
            {"value_b64": V, "metadata": {"rotation_hook": "plugin:good_minimal/app"}}),
        req("POST", BASE + "/admin/rotate/team/rot/pl", "ADMIN", {"strategy": "staged"})))
    put("http", "evidence", req("GET", BASE + "/admin/evidence?since=1&action=secret.write&limit=10", "ADMIN"))
    put("http", "auth_failures", seq(
        req("GET", BASE + "/secrets/team/app/config"),
        req("GET", BASE + "/secrets/team/app/config", headers=["Authorization: Bearer eyJhbGciOiJub25lIn0.e30."]),
        req("GET", BASE + "/secrets/team/app/config", "SHORT"),
        req("GET", BASE + "/secrets/team/app/config", "NOSCOPE"),
        req("GET", BASE + "/secrets/other/x", "READER")))
    put("http", "rate_limited", seq(*[req("GET", BASE + "/secrets?limit=1", "SLOW") for _ in range(4)]))
    put("http", "other_tenant", seq(
        req("GET", BASE + "/secrets", "OTHER"),
        req("GET", BASE + "/secrets/zz-globex-private/db", "ADMIN")))
    put("http", "idempotent", seq(
        req("POST", BASE + "/secrets/team/idem/a", "WRITER", {"value_b64": V},
            headers=["X-Request-Id: idem-key-0001"]),
        req("POST", BASE + "/secrets/team/idem/a", "WRITER", {"value_b64": V},
            headers=["X-Request-Id: idem-key-0001"]),
        req("POST", BASE + "/secrets/team/idem/a", "WRITER", {"value_b64": "AAAA"},
            headers=["X-Request-Id: idem-key-0001"])))
    put("http", "bad_method", seq("BREW /health HTTP/1.1\r\nHost: x\r\n\r\n",
                                  req("PUT", BASE + "/secrets/team/a"), req("PATCH", "/metrics"),
                                  req("OPTIONS", "/health")))
    put("http", "bad_paths", seq(
        req("GET", BASE + "/secrets/team/../etc", "ADMIN"),
        req("GET", BASE + "/secrets/team//a", "ADMIN"),
        req("GET", BASE + "/secrets/team/%2e%2e/a", "ADMIN"),
        req("GET", BASE + "/secrets/" + "/".join(["s"] * 40), "ADMIN"),
        req("GET", BASE + "/nope", "ADMIN"),
        req("GET", BASE + "/secrets/a?x=%zz", "ADMIN")))
    put("http", "bad_requests", seq(
        "GET /health HTTP/9.9\r\n\r\n",
        "GET /health\r\n\r\n",
        "GET /health HTTP/1.0\r\nX-Request-Id: has space\r\n\r\n",
        req("GET", "/health", headers=["X-Long: " + "a" * 5000]),
        req("POST", BASE + "/secrets/team/big", "WRITER", "{\"value_b64\":\"" + "QUJD" * 1100 + "\"}"),
        req("POST", BASE + "/secrets/team/ct", "WRITER", headers=["Content-Type: text/plain", "Content-Length: 2"]) + "{}"))
    put("http", "chunked", "POST " + BASE + "/secrets/team/chunk HTTP/1.1\r\nHost: x\r\n"
        "Authorization: Bearer @@WRITER@@\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
        "a\r\n{\"value_b6\r\n9\r\n4\":\"QUJD\"\r\n1\r\n}\r\n0\r\n\r\n")
    put("http", "bad_json", seq(
        req("POST", BASE + "/secrets/team/j", "WRITER", "{\"value_b64\":\"QQ==\",\"value_b64\":\"QQ==\"}"),
        req("POST", BASE + "/secrets/team/j", "WRITER", "[" * 40 + "]" * 40),
        req("POST", BASE + "/secrets/team/j", "WRITER", {"value_b64": "QQ=", "extra": 1}),
        req("POST", BASE + "/secrets/team/j", "WRITER", {"value_b64": "QQ==", "metadata": {"k": 1}}),
        req("POST", BASE + "/leases", "LEASER", "{\"role\":\"gm\"} trailing")))


# --- json --------------------------------------------------------------------------


def json_seeds():
    def j(sel, obj):
        body = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
        return bytes([sel]) + body.encode()

    put("json", "write", j(0, {"value_b64": "aGVsbG8=", "metadata": {
        "owner": "team-a", "ttl": "1h", "rotation": "30d", "rotation_policy": "length=40 classes=lower,digit"},
        "cas": 3}))
    put("json", "write_min", j(0, {"value_b64": ""}))
    put("json", "write_bad_meta", j(0, {"value_b64": "QQ==", "metadata": {"a": "\u0001", "ttl": "0"}}))
    put("json", "write_dup", j(0, "{\"cas\":1,\"cas\":2}"))
    put("json", "write_deep", j(0, "{\"a\":" + "[" * 33 + "]" * 33 + "}"))
    put("json", "lease_issue", j(1, {"role": "gm", "ttl_s": 3600}))
    put("json", "lease_renew", j(2, {"increment_s": 60}))
    put("json", "rotate", j(3, {"strategy": "staged", "reason": "quarterly"}))
    put("json", "b64", bytes([4]) + b"aGVsbG8gd29ybGQ=")
    put("json", "b64_bad", bytes([4]) + b"aGVsbG8gd29ybGR=")
    put("json", "b64url", bytes([5]) + b"eyJhbGciOiJFUzI1NiJ9")


# --- jwt ----------------------------------------------------------------------------

ISS = "https://access.fuzz"
AUD = "secretsd-fuzz"


def jwt_seeds():
    claims = {"iss": ISS, "aud": AUD, "sub": "svc-a", "tenant": "acme", "exp": 4102444800,
              "nbf": 1699999000, "iat": 1699999000, "scope": "secrets:read:team/* admin leases:issue:pg-+"}
    c = json.dumps(claims, separators=(",", ":"))

    def signed(mode, key, header, payload):
        return bytes([mode + 5 * key]) + (header + "\n" + payload).encode()

    put("jwt", "es256_ec1", signed(2, 0, '{"alg":"ES256","kid":"ec-1","typ":"JWT"}', c))
    put("jwt", "rs256_rsa1", signed(2, 1, '{"alg":"RS256","kid":"rsa-1"}', c))
    put("jwt", "ps256_rsaps", signed(2, 2, '{"alg":"PS256","kid":"rsa-ps","typ":"at+jwt"}', c))
    put("jwt", "es256_ec2", signed(2, 3, '{"alg":"ES256","kid":"ec-2"}', c))
    put("jwt", "es256_nokid", signed(2, 0, '{"alg":"ES256"}', c))
    put("jwt", "rs256_nokid", signed(2, 1, '{"alg":"RS256"}', c))
    c2 = dict(claims, aud=["other", AUD], exp=4102444800.0)
    c2.pop("nbf")
    put("jwt", "aud_array", signed(2, 0, '{"alg":"ES256","kid":"ec-1"}', json.dumps(c2)))
    put("jwt", "expired", signed(2, 0, '{"alg":"ES256","kid":"ec-1"}', json.dumps(dict(claims, exp=1600000000))))
    put("jwt", "no_tenant", signed(2, 1, '{"alg":"RS256","kid":"rsa-1"}',
                                   json.dumps({k: v for k, v in claims.items() if k != "tenant"})))
    put("jwt", "crit", signed(2, 0, '{"alg":"ES256","kid":"ec-1","crit":["exp"]}', c))
    put("jwt", "wrong_alg_for_key", signed(2, 0, '{"alg":"RS256","kid":"ec-1"}', c))
    put("jwt", "signing_input", bytes([3]) + (b64u('{"alg":"ES256","kid":"ec-1"}') + "." + b64u(c)).encode())
    put("jwt", "signing_input_rsa", bytes([3 + 5]) + (b64u('{"alg":"RS256","kid":"rsa-1"}') + "." + b64u(c)).encode())
    fake = b64u('{"alg":"ES256","kid":"ec-1","typ":"JWT"}') + "." + b64u(c) + "." + b64u(b"\x01" * 64)
    put("jwt", "raw_bad_sig", bytes([0]) + fake.encode())
    put("jwt", "raw_none", bytes([0]) + (b64u('{"alg":"none"}') + "." + b64u(c) + ".").encode())
    put("jwt", "raw_hs256", bytes([0]) + (b64u('{"alg":"HS256","kid":"hmac"}') + "." + b64u(c) + "." +
                                          b64u(b"\x00" * 32)).encode())
    put("jwt", "jws_empty_payload", bytes([1]) + (b64u('{"alg":"RS256"}') + ".." + b64u(b"\x02" * 256)).encode())
    jwks = {"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "a",
         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        {"kty": "RSA", "kid": "r", "alg": "RS256", "use": "sig", "key_ops": ["verify"], "e": "AQAB",
         "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}
    put("jwt", "jwks", bytes([4]) + json.dumps(jwks).encode())
    put("jwt", "jwks_empty", bytes([4]) + b'{"keys":[]}')


# --- scope --------------------------------------------------------------------------


def scope_seeds():
    put("scope", "basic", "secrets:read:team/* secrets:write:team/+/config leases:issue:pg-+\nteam/app/config")
    put("scope", "admin", "admin other:thing\nanything/at/all")
    put("scope", "plus_segments", "secrets:read:+/+/x\na/b/x")
    put("scope", "literal_plus_star", "secrets:read:a+/b*c/+*\na+/b*c/+zz")
    put("scope", "many", " ".join("secrets:read:p%d/*" % i for i in range(70)) + "\np69/x")
    put("scope", "empty_pattern", "secrets:read: leases:issue:\n")
    put("scope", "path_rules", "secrets:write:*\n" + "/".join(["seg"] * 33))
    put("scope", "dots", "secrets:read:a/./+\na/./..")


# --- config -------------------------------------------------------------------------


def config_seeds():
    full = """[server]
listen = 127.0.0.1:8420
data_dir = /var/lib/secretsd
threads = 4
audit_log = off
log_level = warn
tls_cert = /etc/secretsd/cert.pem
tls_key = /etc/secretsd/key.pem
plugins = /etc/secretsd/plugins.conf

[auth]
jwks_url = https://access.example/jwks.json
issuer = https://access.example
audience = secretsd
tenant_claim = org
leeway_s = 30

[limits]
max_body_bytes = 65536
max_header_bytes = 8192
request_timeout_s = 20
header_timeout_s = 5
rate_limit = 50:100
rate_limit_write = 5
rate_limit_unauthenticated = 0.5:2
max_connections = 1000

[secrets]
default_lease_ttl = 12h
max_versions = 20

[leases]
call_timeout_ms = 5000
retry_base_ms = 250
reaper_interval_ms = 500

[tenant acme]
rate_limit = 200
rate_limit_lease = 10:20
"""
    put("config", "full", b"\x00" + full.encode())
    put("config", "minimal", b"\x00[auth]\njwks_file = /etc/jwks.json\nissuer = i\naudience = a\n")
    put("config", "dev_relative", b"\x04[server]\ndata_dir = data\n")
    put("config", "unknown_key", b"\x00[server]\nlisten = 1\nbogus = 2\n")
    put("config", "continuation", b"\x00[auth]\nissuer = a\n  continued\n; comment\n# comment\n")
    put("config", "tenants", b"\x04" + "".join("[tenant t%d]\nrate_limit = 1e-9:1000000000\n" % i
                                              for i in range(3)).encode())
    put("config", "rate", b"\x030.5:3")
    put("config", "rate_tiny", b"\x031e-300")
    put("config", "duration", b"\x0390d")


# --- plugins ------------------------------------------------------------------------


def plugins_seeds():
    good = """# the test plugin, pinned by its sha256 file
[plugin good_minimal]
path = gm.so
sha256_file = gm.sha256
dsn = postgres://db.test/app

[role app]
plugin = good_minimal
default_ttl_s = 1h
max_ttl_s = 1d
path = db/app/creds
size = 5

[role other]
plugin = good_minimal
"""
    put("plugins", "good", good)
    put("plugins", "disabled", "[plugin pg]\nenabled = false\n\n[role r]\nplugin = pg\n")
    put("plugins", "bad_pin", "[plugin good_minimal]\npath = gm.so\nsha256 = " + "0" * 64 + "\ndsn = x://y\n")
    put("plugins", "bad_settings", good.replace("size = 5", "size = 11\nbogus = 1"))
    put("plugins", "dup_role_path", good.replace("[role other]\nplugin = good_minimal",
                                                 "[role other]\nplugin = good_minimal\npath = db/app/creds"))
    put("plugins", "syntax", "key = outside\n[plugin]\n[role x y]\n[plugin A]\n")
    put("plugins", "ttl_order", good.replace("default_ttl_s = 1h", "default_ttl_s = 2d"))


# --- evidence -----------------------------------------------------------------------


def evidence_seeds():
    recs = []
    for i, (action, path) in enumerate([("secret.write", "team/a"), ("secret.delete", "team/a"),
                                        ("lease.issue", None)], 1):
        r = {"seq": i, "time": "2026-01-02T03:04:05Z", "tenant": "acme", "actor": "svc", "action": action,
             "outcome": "ok", "prev_hash": "0" * 64, "hash": "0" * 64, "request_id": "r%d" % i}
        if path:
            r["path"] = path
            r["version"] = i
        else:
            r["role"] = "gm"
            r["lease_id"] = "0123456789abcdef01234567"
        recs.append(json.dumps(r, sort_keys=True, separators=(",", ":")))
    text = "\n".join(recs) + "\n"
    put("evidence", "chain_fixed", b"\x03" + text.encode())
    put("evidence", "chain_fixed_keep_seq", b"\x01" + text.encode())
    put("evidence", "chain_raw", b"\x00" + text.encode())
    put("evidence", "empty_lines", b"\x00\n\n\n")
    put("evidence", "not_json", b"\x03{\"seq\":1}\nnot json\n")
    put("evidence", "odd_values", b"\x03" + json.dumps({"seq": 1, "n": 1.5e300, "u": "\u00e9\u2603", "a": [None, True]})
        .encode() + b"\n")


# --- sigv4 --------------------------------------------------------------------------


def sigv4_seeds():
    def s(flags, method, path, query, region, service, headers, body=""):
        return bytes([flags]) + "\n".join([method, path, query, region, service] +
                                          ["%s:%s" % h for h in headers] + ["", body]).encode()

    put("sigv4", "get_vanilla", s(0, "GET", "/", "", "us-east-1", "service",
                                  [("Host", "example.amazonaws.com")]))
    put("sigv4", "iam_post", s(2 | 8, "POST", "/", "", "us-east-1", "iam",
                               [("Host", "iam.amazonaws.com"),
                                ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                               "Action=CreateUser&UserName=sd-app-0123&Version=2010-05-08"))
    put("sigv4", "query_sort", s(16, "GET", "/", "Param2=value2&Param1=value1&Param1=value0&a&b=", "us-east-1",
                                 "service", []))
    put("sigv4", "query_escapes", s(16, "GET", "/", "k%20y=v%2Fa%7E&%E1%88%B4=x", "us-east-1", "service", []))
    put("sigv4", "path_normalize", s(1 | 16, "GET", "/a/./b/../c//d/..", "", "us-east-1", "service", []))
    put("sigv4", "path_utf8", s(16, "GET", "/\u1234/a b/", "", "eu-west-1", "s3", []))
    put("sigv4", "headers_fold", s(4 | 8, "GET", "/", "", "us-east-1", "sts",
                                   [("Host", "sts.amazonaws.com"), ("My-Header1", "  a   b \t c  "),
                                    ("my-header1", "second"), ("X-Amz-Target", "x")]))
    put("sigv4", "refused_header", s(0, "GET", "/", "", "us-east-1", "service",
                                     [("Host", "h"), ("X-Amz-Date", "20150830T123600Z")]))
    put("sigv4", "bad_escape", s(16, "GET", "/", "a=%zz", "us-east-1", "service", []))


def main():
    http_seeds()
    json_seeds()
    jwt_seeds()
    scope_seeds()
    config_seeds()
    plugins_seeds()
    evidence_seeds()
    sigv4_seeds()
    for t in sorted(os.listdir(ROOT)):
        files = os.listdir(os.path.join(ROOT, t))
        print("%-9s %3d seeds, %6d bytes" % (t, len(files), sum(os.path.getsize(os.path.join(ROOT, t, f))
                                                                   for f in files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
