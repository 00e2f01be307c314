"""docs/openapi.yaml: a valid OpenAPI 3.1 document that matches the code.

Checks that the spec validates (openapi-spec-validator), that every route in
core/router.c's `resources` table is documented with the methods it serves
(and only those), that every error response uses the Error schema with the
codes and statuses of core/err.c, that rate-limit classes, 429s and
RateLimit-* headers follow router.c, that exactly the operations whose
handlers take an idempotency key (idem_init) document it, and that the
documented limits, lease states, lease document fields, rotation
strategies, rotation hooks and the webhook they call, version states, the
metadata document, metrics and evidence records are the code's.

Run: python3 -m pytest -q tests/docs
"""
import re
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"
SPEC_FILE = ROOT / "docs" / "openapi.yaml"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture(scope="module")
def spec():
    with open(SPEC_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def c_source(name):
    return (CORE / name).read_text(encoding="utf-8")


def c_define(header, name):
    m = re.search(r"#define\s+%s\s+(.+?)\s*(?:/\*.*)?$" % re.escape(name), c_source(header), re.M)
    assert m, "%s not defined in core/%s" % (name, header)
    return m.group(1).strip()


def strip_crash_points(body):
    """Test builds' crash points (sd_crash_point("name")) are not JSON keys."""
    return re.sub(r'sd_crash_point\("[^"]*"\)', "", body)


def c_int(header, name):
    expr = c_define(header, name)
    expr = re.sub(r"(?<=\d)(?:ull|ul|u|ll|l)\b", "", expr, flags=re.I)
    assert re.fullmatch(r"[\d\s()*+-]+", expr), expr
    return eval(expr)  # digits and arithmetic only, checked above


# What follows a resource's prefix (router.c's TAIL_* kinds), as an OpenAPI
# path suffix and the name of its path parameter.
TAILS = {
    "TAIL_NONE": ("", None),
    "TAIL_PATH": ("{path}", "path"),
    "TAIL_LEASE": ("{id}", "id"),
    "TAIL_LEASE_RENEW": ("{id}/renew", "id"),
}


def tail_kinds():
    """router.c's enum of TAIL_* kinds: {value: name}."""
    src = c_source("router.c")
    m = re.search(r"enum\s*\{([^}]*\bTAIL_NONE\b[^}]*)\}", src)
    assert m, "cannot find the TAIL_* enum in core/router.c"
    kinds = {}
    for name, value in re.findall(r"(TAIL_\w+)\s*=\s*(\d+)", m.group(1)):
        assert name in TAILS, "router.c has a new tail kind %s: teach tests/docs its path form" % name
        kinds[int(value)] = name
    assert len(kinds) == m.group(1).count("TAIL_"), "a TAIL_* kind without an explicit value"
    return kinds


def router_resources():
    """The rows of router.c's `resources` table:
    (full prefix, tail kind name, auth, get, post, del)."""
    src = c_source("router.c")
    table = re.search(r"struct\s+resource\s+resources\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert table, "cannot find the resources table in core/router.c"
    base = c_define("route.h", "SD_API_BASE").strip('"')
    kinds = tail_kinds()
    row = re.compile(
        r"\{\s*(SD_API_BASE\s*)?\"([^\"]*)\"\s*,\s*(\d+|TAIL_\w+)\s*,\s*(\d+)\s*,"
        r"\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\}"
    )
    rows = []
    body = re.sub(r"/\*.*?\*/", "", table.group(1), flags=re.S)
    for m in row.finditer(body):
        prefix = (base if m.group(1) else "") + m.group(2)
        tail = m.group(3)
        if tail.isdigit():
            assert int(tail) in kinds, "resources row %s: unknown tail kind %s" % (prefix, tail)
            tail = kinds[int(tail)]
        assert tail in TAILS, "resources row %s: unknown tail kind %s" % (prefix, tail)
        rows.append((prefix, tail, int(m.group(4)), m.group(5), m.group(6), m.group(7)))
    assert len(rows) == body.count("{"), "a resources row did not parse"
    assert rows, "empty resources table"
    return rows


def spec_path(prefix, tail):
    return prefix + TAILS[tail][0]


def routed(op):
    """An operation the router dispatches (not a documented 405)."""
    return any(code.startswith("2") for code in op["responses"])


def resolve(spec, obj):
    while isinstance(obj, dict) and "$ref" in obj:
        node = spec
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def test_spec_is_valid_openapi_31(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # picks the validator from the version; raises on error
    validate(spec, cls=OpenAPIV31SpecValidator)


def test_every_route_is_documented(spec):
    paths = spec["paths"]
    for prefix, tail, auth, get, post, delete in router_resources():
        p = spec_path(prefix, tail)
        assert p in paths, "route %s (core/router.c) is missing from docs/openapi.yaml" % p
        item = paths[p]
        served = {"get": get != "0", "post": post != "0", "delete": delete != "0"}
        for method, on in served.items():
            if on:
                assert method in item and routed(item[method]), "%s %s is not documented" % (method.upper(), p)
                op = item[method]
                if auth:
                    assert op.get("security", spec["security"]) == [{"bearerAuth": []}], p
                    assert "401" in op["responses"], "%s %s: no 401" % (method.upper(), p)
                else:
                    assert op.get("security") == [], "%s %s needs no auth" % (method.upper(), p)
            elif method in item:
                assert not routed(item[method]), "%s %s is documented but not routed" % (method.upper(), p)
                assert set(item[method]["responses"]) == {"405"}, p
        param = TAILS[tail][1]
        if param:
            params = [resolve(spec, x) for x in item.get("parameters", [])]
            assert any(x["in"] == "path" and x["name"] == param for x in params), p


def test_no_undocumented_endpoints(spec):
    known = {spec_path(r[0], r[1]) for r in router_resources()}
    for p in spec["paths"]:
        assert p in known, "%s is in docs/openapi.yaml but not in core/router.c" % p


def test_405_answers_carry_allow(spec):
    for p, item in spec["paths"].items():
        for method in METHODS:
            if method in item and "405" in item[method]["responses"]:
                resp = resolve(spec, item[method]["responses"]["405"])
                assert "Allow" in resp["headers"], "%s %s: 405 without Allow" % (method, p)


def test_error_responses_use_error_schema(spec):
    for p, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            for code, resp in item[method]["responses"].items():
                resp = resolve(spec, resp)
                assert "X-Request-Id" in resp.get("headers", {}), "%s %s %s: no X-Request-Id" % (method, p, code)
                if code[0] in "45":
                    schema = resp["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, p, code)
                if code == "401":
                    assert "WWW-Authenticate" in resp["headers"], (method, p)


def test_error_codes_match_err_c(spec):
    names = set(re.findall(r'return\s+"([a-z_]+)";', c_source("err.c")))
    enum = set(spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
    assert enum == names


def test_limits_match_the_code(spec):
    s = spec["components"]["schemas"]
    value_max = c_int("secrets.h", "SD_VALUE_MAX")
    assert value_max == 512 * 1024
    # padded base64 of the largest value
    assert s["WriteRequest"]["properties"]["value_b64"]["maxLength"] == (value_max + 2) // 3 * 4
    assert s["Metadata"]["maxProperties"] == c_int("secrets.h", "SD_META_KEYS_MAX")
    assert s["Metadata"]["propertyNames"]["maxLength"] == c_int("secrets.h", "SD_META_KEY_MAX")
    assert s["Metadata"]["additionalProperties"]["maxLength"] == c_int("secrets.h", "SD_META_VALUE_MAX")
    vmax = c_int("secrets.h", "SD_VERSION_MAX")
    assert vmax == 2**53 - 1
    assert s["Version"]["maximum"] == vmax
    assert s["WriteRequest"]["properties"]["cas"]["maximum"] == vmax
    assert s["SecretPath"]["maxLength"] == c_int("path.h", "SD_PATH_MAX")
    segs = c_int("path.h", "SD_PATH_SEGMENTS_MAX")
    assert "{0,%d}" % (segs - 1) in s["SecretPath"]["pattern"]
    rid = resolve(spec, spec["components"]["parameters"]["RequestId"])
    assert rid["schema"]["maxLength"] == c_int("http.h", "SD_REQID_MAX")
    assert s["Metadata"]["properties"]["owner"]["maxLength"] == c_int("store.h", "SD_OWNER_MAX")


def test_list_limits_match_the_code(spec):
    src = c_source("route_secrets.c")
    default = int(re.search(r"#define\s+LIST_LIMIT_DEFAULT\s+(\d+)", src).group(1))
    top = int(re.search(r"#define\s+LIST_LIMIT_MAX\s+(\d+)", src).group(1))
    params = spec["paths"]["/api/v1/trust/secrets/secrets"]["get"]["parameters"]
    limit = next(resolve(spec, x) for x in params if resolve(spec, x)["name"] == "limit")
    assert limit["schema"]["default"] == default
    assert limit["schema"]["maximum"] == top


def c_function(name, fn):
    """The body of function fn in core/name (from its first line to the closing brace)."""
    m = re.search(r"^[^\n;]*\b%s\([^;{]*\)\n\{\n(.*?)^\}" % re.escape(fn), c_source(name), re.M | re.S)
    assert m, "cannot find %s in core/%s" % (fn, name)
    return m.group(1)


def test_lease_list_limits_match_the_code(spec):
    src = c_source("route_leases.c")
    default = int(re.search(r"#define\s+LIST_LIMIT_DEFAULT\s+(\d+)", src).group(1))
    top = int(re.search(r"#define\s+LIST_LIMIT_MAX\s+(\d+)", src).group(1))
    base = c_define("route.h", "SD_API_BASE").strip('"')
    params = spec["paths"][base + "/leases"]["get"]["parameters"]
    limit = next(resolve(spec, x) for x in params if resolve(spec, x)["name"] == "limit")
    assert limit["schema"]["default"] == default
    assert limit["schema"]["maximum"] == top
    assert spec["components"]["schemas"]["LeaseList"]["properties"]["leases"]["maxItems"] == top


def test_lease_ids_match_the_code(spec):
    n = c_int("leases.h", "LEASE_ID_LEN")
    assert spec["components"]["schemas"]["LeaseId"]["pattern"] == "^[0-9a-f]{%d}$" % n
    # lease_id_valid accepts lowercase hex digits only
    body = c_function("leases.c", "lease_id_valid")
    assert "'a' && id[n] <= 'f'" in body and "LEASE_ID_LEN" in body


def test_lease_states_match_the_code(spec):
    body = c_function("leases.c", "lease_state_name")
    states = re.findall(r'"([a-z_]+)"', re.search(r"\{([^}]*)\}", body).group(1))
    assert states, "no state names in lease_state_name"
    assert spec["components"]["schemas"]["LeaseState"]["enum"] == states


def test_lease_document_is_lease_json(spec):
    keys = set(re.findall(r'"([a-z_]+)"', c_function("leases.c", "lease_json")))
    lease = spec["components"]["schemas"]["Lease"]
    assert set(lease["properties"]) == keys
    assert set(lease["required"]) <= keys
    assert lease["additionalProperties"] is False


def test_lease_request_limits_match_the_code(spec):
    s = spec["components"]["schemas"]
    assert s["IssueRequest"]["properties"]["role"]["maxLength"] == c_int("plugin.h", "SD_NAME_MAX")
    # ttl_s and increment_s share one upper bound, written inline
    bounds = re.findall(r"json_integer_value\(\w+\)\s*>\s*([0-9LlUu\s*]+)\)", c_source("route_leases.c"))
    assert len(bounds) == 2, "expected the bounds of ttl_s and increment_s in core/route_leases.c"
    tops = {eval(re.sub(r"(?<=\d)[LlUu]+", "", b)) for b in bounds}  # digits and * only
    assert len(tops) == 1, tops
    top = tops.pop()
    for schema, field in (("IssueRequest", "ttl_s"), ("RenewRequest", "increment_s")):
        assert s[schema]["properties"][field]["maximum"] == top, field
        assert s[schema]["properties"][field]["minimum"] == 1, field


@pytest.mark.parametrize(
    "path,ok",
    [
        ("db/password", True),
        ("a", True),
        ("a.b/c-d/e_f", True),
        ("/".join(["s"] * 32), True),
        ("/".join(["s"] * 33), False),
        ("", False),
        ("/a", False),
        ("a/", False),
        ("a//b", False),
        (".", False),
        ("..", False),
        ("a/../b", False),
        ("a/./b", False),
        ("...", True),
        ("a/.b", True),
        ("a%2Fb", False),
    ],
)
def test_path_pattern(spec, path, ok):
    pattern = spec["components"]["schemas"]["SecretPath"]["pattern"]
    assert (re.search(pattern, path) is not None) == ok


@pytest.mark.parametrize(
    "value,ok",
    [("", True), ("aGk=", True), ("aGVsbG8=", True), ("YQ==", True), ("YR==", False),
     ("aGl=", False), ("aGk", False), ("aG k=", False), ("a-_=", False), ("YWJj", True)],
)
def test_base64_pattern(spec, value, ok):
    pattern = spec["components"]["schemas"]["WriteRequest"]["properties"]["value_b64"]["pattern"]
    assert (re.search(pattern, value) is not None) == ok


# --- rate limits, idempotency, admin endpoints ------------------------------------


def operations(spec):
    """(path, method, operation) for every operation the router dispatches."""
    for p, item in spec["paths"].items():
        for method in METHODS:
            if method in item and routed(item[method]):
                yield p, method, item[method]


def is_authenticated(spec, op):
    return op.get("security", spec["security"]) != []


def route_ops():
    """{(spec path, method): route enum name} from router.c's resources table."""
    out = {}
    for prefix, tail, _auth, get, post, delete in router_resources():
        for method, route in (("get", get), ("post", post), ("delete", delete)):
            if route != "0":
                out[(spec_path(prefix, tail), method)] = route
    return out


def route_classes():
    """{route enum name: class name or None} from router.c's route_class()."""
    body = c_function("router.c", "route_class")
    names = {"RL_READ": "read", "RL_WRITE": "write", "RL_LEASE": "lease", "RL_ADMIN": "admin"}
    classes, pending = {}, []
    for line in body.splitlines():
        pending += re.findall(r"case\s+(R_\w+)\s*:", line)
        m = re.search(r"return\s+(RL_\w+|-1)\s*;", line)
        if m:
            assert m.group(1) == "-1" or m.group(1) in names, "router.c has a new rate-limit class %s" % m.group(1)
            for r in pending:
                classes[r] = names.get(m.group(1))
            pending = []
    assert classes, "cannot read route_class in core/router.c"
    return classes


def test_rate_limit_classes_and_headers(spec):
    classes = route_classes()
    ops = route_ops()
    limited = resolve(spec, spec["components"]["responses"]["RateLimited"])
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(limited["headers"])
    for p, method, op in operations(spec):
        where = "%s %s" % (method.upper(), p)
        route = ops.get((p, method))
        assert route, where
        cls = classes.get(route)
        if not is_authenticated(spec, op):
            assert cls is None and "x-rate-limit-class" not in op and "429" not in op["responses"], where
            continue
        # every authenticated route is limited: router.c would not send 429 otherwise
        assert cls is not None, "%s: route %s has no class in route_class()" % (where, route)
        assert op.get("x-rate-limit-class") == cls, "%s: x-rate-limit-class should be %s" % (where, cls)
        assert op["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}, where
        for code, resp in op["responses"].items():
            if code.startswith("2"):
                headers = resolve(spec, resp)["headers"]
                for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
                    assert h in headers, "%s %s: no %s" % (where, code, h)


def test_every_operation_answers_400(spec):
    # an invalid X-Request-Id is refused before routing, on every endpoint
    for p, method, op in operations(spec):
        assert "400" in op["responses"], "%s %s: no 400 (invalid X-Request-Id)" % (method.upper(), p)


def c_functions_calling(fn):
    """Names of the functions in core/route_*.c whose body calls fn, directly
    or through another function of those files."""
    bodies = {}
    for f in sorted(CORE.glob("route_*.c")):
        src = f.read_text(encoding="utf-8")
        for m in re.finditer(r"^[a-z][^\n;]*?\b(\w+)\([^;{]*\)\n\{\n(.*?)^\}", src, re.M | re.S):
            bodies[m.group(1)] = m.group(2)
    callers, grew = {fn}, True
    while grew:
        grew = False
        for name, body in bodies.items():
            if name not in callers and any(re.search(r"\b%s\(" % re.escape(c), body) for c in callers):
                callers.add(name)
                grew = True
    return callers - {fn}


def test_idempotent_operations_match_the_code(spec):
    handlers = dict(re.findall(r"\[(R_\w+)\]\s*=\s*(route_\w+)", c_source("router.c")))
    keyed = {r for r, h in handlers.items() if h in c_functions_calling("idem_init")}
    assert keyed, "no handler calls idem_init"
    ops = route_ops()
    for p, method, op in operations(spec):
        where = "%s %s" % (method.upper(), p)
        params = [x.get("$ref") for x in op.get("parameters", [])]
        replay = any("Idempotent-Replayed" in resolve(spec, r).get("headers", {})
                     for c, r in op["responses"].items() if c.startswith("2"))
        if ops.get((p, method)) in keyed:
            assert "#/components/parameters/IdempotencyKey" in params, "%s takes an idempotency key" % where
            assert replay, "%s: 2xx without Idempotent-Replayed" % where
            assert "409" in op["responses"], "%s: no 409 (key reused)" % where
        else:
            assert "#/components/parameters/IdempotencyKey" not in params, "%s takes no idempotency key" % where
            assert not replay, "%s never replays" % where
    key = resolve(spec, spec["components"]["parameters"]["IdempotencyKey"])
    rid = resolve(spec, spec["components"]["parameters"]["RequestId"])
    assert key["name"] == rid["name"] == "X-Request-Id"
    assert key["schema"] == rid["schema"]


def test_error_statuses_match_err_c(spec):
    src = c_source("err.c")
    status = dict(re.findall(r"case\s+(SD_\w+):\s*return\s+(\d+);", src))
    names = dict(re.findall(r"case\s+(SD_\w+):\s*return\s+\"([a-z_]+)\";", src))
    text = " ".join(spec["components"]["schemas"]["Error"]["properties"]["error"]["description"].split())
    for code, name in names.items():
        assert "%s %s" % (name, status[code]) in text, "Error.error description: %s is %s" % (name, status[code])
    assert "internal_error 500" in text


def test_rotation_matches_the_code(spec):
    s = spec["components"]["schemas"]
    src = c_source("route_admin.c")
    body = c_function("route_admin.c", "route_rotate")
    strategies = re.findall(r'strcmp\(s,\s*"(\w+)"\)', body)
    assert strategies and s["RotateRequest"]["properties"]["strategy"]["enum"] == strategies
    assert s["RotateResult"]["properties"]["strategy"]["enum"] == strategies
    fields = re.search(r"fields\[\]\s*=\s*\{([^}]*)\}", body).group(1)
    assert set(s["RotateRequest"]["properties"]) == set(re.findall(r'"(\w+)"', fields))
    reason_max = int(re.search(r"json_string_length\(v\)\s*>\s*(\d+)", src).group(1))
    assert s["RotateRequest"]["properties"]["reason"]["maxLength"] == reason_max
    assert s["EvidenceRecord"]["properties"]["reason"]["maxLength"] == reason_max
    # the reply: the json_pack of rotation.c that builds "new_version"
    packs = [m.group(1) for m in re.finditer(r'json_pack\("\{[^"]*\}"(.*?)\);', c_source("rotation.c"), re.S)
             if '"new_version"' in m.group(1)]
    assert len(packs) == 1, "expected one reply with new_version in core/rotation.c"
    keys = set(re.findall(r'"(\w+)"', packs[0]))
    assert set(s["RotateResult"]["properties"]) == keys - set(strategies)  # values, not keys


def test_evidence_matches_the_code(spec):
    s = spec["components"]["schemas"]
    actions = set()
    for f in CORE.glob("*.c"):
        actions |= set(re.findall(r'"((?:secret|lease|plugin)\.[a-z_]+(?:\.[a-z_]+)*)"', f.read_text(encoding="utf-8")))
    actions -= {"plugin.h", "lease.h", "secret.h"}
    documented = set(s["EvidenceAction"]["enum"])
    assert not actions - documented, "evidence actions written by core/ but not documented: %s" % sorted(actions - documented)
    assert not documented - actions, "documented evidence actions no code writes: %s" % sorted(documented - actions)
    # the record's fields: every key evidence_append writes ("ok" is the default outcome)
    keys = set(re.findall(r'"([a-z_]+)"', strip_crash_points(c_function("evidence.c", "evidence_append")))) - {"ok"}
    rec = s["EvidenceRecord"]
    assert set(rec["properties"]) == keys
    assert set(rec["required"]) <= keys
    assert rec["additionalProperties"] is False
    src = c_source("route_admin.c")
    default = int(re.search(r"#define\s+EVIDENCE_LIMIT_DEFAULT\s+(\d+)", src).group(1))
    top = int(re.search(r"#define\s+EVIDENCE_LIMIT_MAX\s+(\d+)", src).group(1))
    base = c_define("route.h", "SD_API_BASE").strip('"')
    params = {resolve(spec, x)["name"]: resolve(spec, x) for x in spec["paths"][base + "/admin/evidence"]["get"]["parameters"]}
    allowed = re.findall(r'"(\w+)"', re.search(r"params\[\]\s*=\s*\{([^}]*)\}", c_function("route_admin.c", "route_evidence")).group(1))
    assert set(params) - {"X-Request-Id"} == set(allowed)
    assert params["limit"]["schema"]["default"] == default
    assert params["limit"]["schema"]["maximum"] == top
    assert s["EvidencePage"]["properties"]["events"]["maxItems"] == top



# --- versions, metadata, rotation hooks, metrics --------------------------------------


def test_version_states_match_the_code(spec):
    """VersionInfo.state is exactly what version_state_name (secrets.c) names,
    one name per VERSION_* state of store.h."""
    body = c_function("secrets.c", "version_state_name")
    named = re.findall(r"case\s+(VERSION_\w+):\s*return\s+\"([a-z_]+)\";", body)
    enum = re.search(r"enum\s*\{([^}]*\bVERSION_ACTIVE\b[^}]*)\}", c_source("store.h")).group(1)
    states = re.findall(r"\b(VERSION_\w+)\s*=\s*(\d+)", enum)
    assert states and len(states) == enum.count("VERSION_"), "a VERSION_* state without an explicit value"
    assert sorted(n for n, _ in named) == sorted(n for n, _ in states), "a version state has no name"
    order = {n: int(v) for n, v in states}
    names = [name for state, name in sorted(named, key=lambda x: order[x[0]])]
    state = spec["components"]["schemas"]["VersionInfo"]["properties"]["state"]
    assert state["enum"] == names
    for name in names:
        assert "`%s`" % name in state["description"], "VersionInfo.state does not explain %s" % name


def pack_args(body):
    """The arguments after the format of every json_pack call in body, each
    a list split at top-level commas."""
    calls = []
    for m in re.finditer(r'json_pack\("[^"]*"', body):
        args, depth, cur, quoted = [], 1, "", False
        for ch in body[m.end():]:
            if ch == '"':
                quoted = not quoted
            elif not quoted and ch == "(":
                depth += 1
            elif not quoted and ch == ")":
                depth -= 1
                if depth == 0:
                    break
            if ch == "," and depth == 1 and not quoted:
                args.append(cur.strip())
                cur = ""
            else:
                cur += ch
        args.append(cur.strip())
        calls.append([a for a in args if a])
    return calls


def pack_keys(body, must):
    """The keys of the json_pack call in body whose arguments contain must."""
    calls = [args for args in pack_args(body) if must in args]
    assert len(calls) == 1, "expected one json_pack with %s" % must
    args = calls[0]
    assert len(args) % 2 == 0, "json_pack with an odd number of arguments: %s" % args
    keys = args[0::2]  # keys and values alternate
    assert all(re.fullmatch(r'"[a-z_]+"', k) for k in keys), keys
    return {k.strip('"') for k in keys}


def test_metadata_document_matches_the_code(spec):
    s = spec["components"]["schemas"]
    keys = pack_keys(c_function("secrets.c", "meta_txn"), '"current_version"')
    keys |= set(re.findall(r'json_object_set_new\(c\.doc,\s*"([a-z_]+)"', c_function("secrets.c", "secrets_metadata")))
    doc = s["SecretMetadata"]
    assert set(doc["properties"]) == keys
    assert set(doc["required"]) == keys  # every member is always present
    assert doc["additionalProperties"] is False
    body = c_function("secrets.c", "add_version")
    vkeys = pack_keys(body, '"created_by"') | set(re.findall(r'json_object_set_new\(o,\s*"([a-z_]+)"', body))
    info = s["VersionInfo"]
    assert set(info["properties"]) == vkeys
    assert set(info["required"]) == vkeys - {"deleted_at"}
    assert info["additionalProperties"] is False


def test_rotation_hooks_and_webhook_match_the_code(spec):
    s = spec["components"]["schemas"]
    src = c_source("rotation.c")
    body = c_function("rotation.c", "hook_value")
    hooks = re.findall(r'strcmp\(j->hook,\s*"(\w+)"\)', body) + re.findall(r'strncmp\(j->hook,\s*"(\w+:)"', body)
    assert sorted(hooks) == ["generate", "plugin:", "webhook:"], hooks
    text = s["Metadata"]["properties"]["rotation_hook"]["description"]
    op = spec["paths"][c_define("route.h", "SD_API_BASE").strip('"') + "/admin/rotate/{path}"]["post"]
    for h in hooks:
        assert "`%s" % h in text and "`%s" % h in op["description"], "rotation hook %s is not documented" % h
    # the webhook: its two bodies and its headers
    hook = spec["webhooks"]["rotationWebhook"]["post"]
    for schema, fn, step in (("WebhookCreate", "hook_value", "create"), ("WebhookTest", "hook_test", "test")):
        keys = pack_keys(c_function("rotation.c", fn), '"%s"' % step)
        assert set(s[schema]["properties"]) == keys, schema
        assert set(s[schema]["required"]) == keys, schema
        assert s[schema]["properties"]["step"]["const"] == step
    headers = set(re.findall(r'"(X-Secretsd-[A-Za-z-]+):', src))
    assert headers and {p["name"] for p in hook["parameters"] if p["in"] == "header"} == headers
    text = " ".join(hook["description"].split())
    total = int(re.search(r"CURLOPT_TIMEOUT_MS,\s*(\d+)L", src).group(1)) // 1000
    connect = int(re.search(r"CURLOPT_CONNECTTIMEOUT_MS,\s*(\d+)L", src).group(1)) // 1000
    cap = int(re.search(r"b->len \+ add > (\d+) \* 1024", src).group(1))
    assert "at most %d s (%d s to connect)" % (total, connect) in text
    assert "at most %d KiB of answer" % cap in text
    assert "CURLOPT_FOLLOWLOCATION, 0L" in src and "does not follow redirects" in text
    # the strategies: staged names its steps in the error
    assert "staged rotation failed at step" in src and "staged rotation failed at step" in op["description"]


def metric_families():
    """Every secretsd_* series name core/ renders, without histogram suffixes."""
    names = set()
    for f in CORE.glob("*.c"):
        names |= set(re.findall(r"\b(secretsd_[a-z_]+)", f.read_text(encoding="utf-8")))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}


def test_metrics_are_documented(spec):
    text = spec["paths"]["/metrics"]["get"]["description"]
    families = metric_families()
    assert "secretsd_rotations_scheduled_total" in families
    missing = sorted(m for m in families if m not in text)
    assert not missing, "series rendered by core/ but not in GET /metrics: %s" % missing
