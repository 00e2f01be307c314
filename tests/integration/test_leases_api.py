"""Leases through the example plugin: issue, read, renew, revoke, list, the
leased form of a secret read, and who may touch which lease.

One server with the example plugin is shared by this module; every test uses
its own leases (and reads their events from the plugin's state_file)."""
import base64
import json
import re
import time

import pytest

from conftest import (LEASE_ARGS, Server, assert_error, parse_time, plugin_section, role_section,
                      state_events, unique, write_plugins_conf)

ID_RE = re.compile(r"[0-9a-f]{24}")


@pytest.fixture(scope="module")
def srv(example_so, tmp_path_factory):
    d = tmp_path_factory.mktemp("leases-api")
    state = d / "example.state"
    conf = write_plugins_conf(
        d / "plugins.conf",
        plugin_section("example", state_file=state),
        role_section("app", "example", default_ttl_s=60, max_ttl_s=120, greeting="hello",
                     path="leased/app"),
        role_section("other", "example", default_ttl_s=30, max_ttl_s=60),
        role_section("norenew", "example", default_ttl_s=60, max_ttl_s=600, fail_renew="true"),
    )
    s = Server(d / "srv", plugins=conf, extra_args=LEASE_ARGS).start()
    s.state_file = state
    yield s
    s.finish()


def issued(s, role="app", ttl_s=None, token=None) -> dict:
    r = s.issue(role, ttl_s, token=token)
    assert r.status_code == 200, r.text
    return r.json()


def events_for(s, lease_id):
    return [ev for ev, i in state_events(s.state_file) if i == lease_id]


# --- issue ---------------------------------------------------------------------------------

def test_issue_returns_credential_expiry_lease_id_role_ttl_and_provider_extras(srv):
    before = time.time()
    r = srv.issue("app")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert ID_RE.fullmatch(doc["lease_id"]), doc
    assert doc["role"] == "app"
    assert doc["ttl_s"] == 60
    # the provider's fields, under the spec's names too
    assert doc["access_key"] == doc["username"] == f"ex_app_{doc['lease_id']}"
    assert doc["secret_key"] == doc["password"] and len(doc["secret_key"]) == 24
    assert doc["greeting"] == "hello"
    exp = parse_time(doc["expires_at"])
    assert before + 60 - 2 <= exp <= time.time() + 60 + 2, doc
    # the provider was called once for this lease
    assert events_for(srv, doc["lease_id"]) == ["issue"]
    # host-only fields never reach the client
    assert not any(k.startswith("_") for k in doc), doc


def test_each_issue_is_a_new_lease_with_a_new_credential(srv):
    a, b = issued(srv), issued(srv)
    assert a["lease_id"] != b["lease_id"]
    assert a["access_key"] != b["access_key"]
    assert a["secret_key"] != b["secret_key"]


@pytest.mark.parametrize("ask,want", [(None, 60), (30, 30), (120, 120), (121, 120), (100000, 120)])
def test_ttl_defaults_to_the_role_default_and_is_capped_at_its_max(srv, ask, want):
    before = time.time()
    doc = issued(srv, "app", ask)
    assert doc["ttl_s"] == want, doc
    assert before + want - 2 <= parse_time(doc["expires_at"]) <= time.time() + want + 2, doc
    got = srv.lease(doc["lease_id"]).json()
    assert got["ttl_s"] == want
    assert got["expires_at"] == doc["expires_at"]
    # max lifetime: the role's max_ttl_s from issue
    assert abs(parse_time(got["max_expires_at"]) - parse_time(got["created_at"]) - 120) <= 1, got


def n_issued(s) -> int:
    """Issue calls the provider has seen (the reaper may add revokes of
    earlier tests' leases at any time; those are not counted)."""
    return sum(1 for ev, _ in state_events(s.state_file) if ev == "issue")


@pytest.mark.parametrize("ttl", [0, -1, -3600, 1.5, 60.0, "60", True, None, [60], {"s": 60}])
def test_non_positive_or_non_integer_ttl_is_400(srv, ttl):
    n = n_issued(srv)
    assert_error(srv.issue(body={"role": "app", "ttl_s": ttl}), 400, "invalid_request", "ttl_s")
    assert n_issued(srv) == n, "the provider was called for a refused request"


@pytest.mark.parametrize("body", [{}, {"role": ""}, {"role": 7}, {"role": None}, {"role": ["app"]},
                                  {"role": "app", "extra": 1}])
def test_missing_or_malformed_role_or_unknown_field_is_400(srv, body):
    assert_error(srv.issue(body=body), 400, "invalid_request")


def test_body_that_is_not_a_json_object_is_400(srv):
    r = srv.request("POST", f"{srv.base}/leases", token=srv.admin_token, data=b"role=app",
                    headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")


def test_unknown_role_is_404_and_calls_no_provider(srv):
    n = n_issued(srv)
    assert_error(srv.issue(unique("nosuchrole")), 404, "not_found")
    assert n_issued(srv) == n


def test_issue_without_a_token_is_401(srv):
    r = srv.request("POST", f"{srv.base}/leases", json={"role": "app"})
    assert_error(r, 401, "unauthorized")


@pytest.mark.parametrize("scope,role,status", [
    ("leases:issue:app", "app", 200),
    ("leases:issue:a*", "app", 200),
    ("leases:issue:*", "other", 200),
    ("leases:issue:other", "app", 403),
    ("leases:issue:ap", "app", 403),
    ("secrets:read:* secrets:write:*", "app", 403),
])
def test_issue_needs_a_leases_issue_scope_matching_the_role(srv, scope, role, status):
    tok = srv.token("dev", "scoped-" + unique(), scope)
    r = srv.issue(role, token=tok)
    if status == 200:
        assert r.status_code == 200, r.text
        assert r.json()["role"] == role
    else:
        assert_error(r, 403, "forbidden")


def test_unknown_role_with_a_scope_for_it_is_404_but_without_one_is_403(srv):
    name = unique("ghost")
    assert_error(srv.issue(name, token=srv.token("dev", "u1", "leases:issue:*")), 404, "not_found")
    assert_error(srv.issue(name, token=srv.token("dev", "u1", "leases:issue:app")), 403, "forbidden")


# --- read ------------------------------------------------------------------------------------

def test_get_lease_shows_state_times_and_holder_but_no_credential(srv):
    tok = srv.token("dev", "reader-holder", "leases:issue:app")
    doc = issued(srv, "app", 45, token=tok)
    r = srv.lease(doc["lease_id"], token=tok)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["lease_id"] == doc["lease_id"]
    assert got["state"] == "active"
    assert got["role"] == "app"
    assert got["holder"] == "reader-holder"
    assert got["ttl_s"] == 45
    assert got["expires_at"] == doc["expires_at"]
    assert parse_time(got["created_at"]) <= parse_time(got["expires_at"])
    text = r.text
    assert doc["secret_key"] not in text and "password" not in got and "secret_key" not in got


def test_unknown_or_malformed_lease_id_is_404(srv):
    for lid in ("0" * 24, "f" * 24, "abc", "Z" * 24, "0" * 25, "0" * 23):
        assert_error(srv.lease(lid), 404, "not_found")
        assert_error(srv.revoke(lid), 404, "not_found")
        assert_error(srv.renew(lid, 10), 404, "not_found")


# --- renew -------------------------------------------------------------------------------------

def test_renew_moves_expiry_later_and_tells_the_provider(srv):
    doc = issued(srv, "app", 10)
    old = parse_time(doc["expires_at"])
    before = time.time()
    r = srv.renew(doc["lease_id"], 60)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["state"] == "active"
    new = parse_time(got["expires_at"])
    assert new > old + 30, (doc, got)
    assert before + 60 - 2 <= new <= time.time() + 60 + 2, got
    assert srv.lease(doc["lease_id"]).json()["expires_at"] == got["expires_at"]
    assert events_for(srv, doc["lease_id"]) == ["issue", "renew"]


def test_renew_is_capped_at_the_roles_max_lifetime_from_issue(srv):
    doc = issued(srv, "app", 10)
    r = srv.renew(doc["lease_id"], 100000)
    assert r.status_code == 200, r.text
    got = r.json()
    created = parse_time(got["created_at"])
    assert abs(parse_time(got["expires_at"]) - (created + 120)) <= 1, got
    assert got["expires_at"] == got["max_expires_at"], got
    # renewing again cannot push past the cap either
    r = srv.renew(doc["lease_id"], 50)
    assert r.status_code == 200, r.text
    assert parse_time(r.json()["expires_at"]) <= created + 120 + 1, r.json()


@pytest.mark.parametrize("inc", [0, -5, 2.5, "30", True, None])
def test_non_positive_or_non_integer_increment_is_400_and_changes_nothing(srv, inc):
    doc = issued(srv, "app", 20)
    assert_error(srv.renew(doc["lease_id"], body={"increment_s": inc}), 400, "invalid_request",
                 "increment_s")
    assert srv.lease(doc["lease_id"]).json()["expires_at"] == doc["expires_at"]


def test_renew_refused_by_the_provider_fails_and_keeps_the_old_expiry(srv):
    doc = issued(srv, "norenew", 60)
    r = srv.renew(doc["lease_id"], 300)
    assert r.status_code >= 400, r.text
    body = r.json()
    assert body["error"] in ("invalid_request", "conflict", "dependency_down"), body
    got = srv.lease(doc["lease_id"]).json()
    assert got["expires_at"] == doc["expires_at"], got
    assert got["state"] == "active"


def test_renew_of_a_revoked_lease_is_409(srv):
    doc = issued(srv)
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert_error(srv.renew(doc["lease_id"], 30), 409, "conflict")


# --- revoke --------------------------------------------------------------------------------------

def test_revoke_is_204_marks_revoked_and_revokes_at_the_provider(srv):
    doc = issued(srv)
    r = srv.revoke(doc["lease_id"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    got = srv.lease(doc["lease_id"]).json()
    assert got["state"] == "revoked", got
    assert "revoked_at" in got
    assert events_for(srv, doc["lease_id"]) == ["issue", "revoke"]


def test_revoke_twice_is_idempotent_and_calls_the_provider_once(srv):
    doc = issued(srv)
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert srv.lease_state(doc["lease_id"]) == "revoked"
    assert events_for(srv, doc["lease_id"]) == ["issue", "revoke"]


def test_revoking_one_lease_leaves_the_others_active(srv):
    a, b = issued(srv), issued(srv)
    assert srv.revoke(a["lease_id"]).status_code == 204
    assert srv.lease_state(b["lease_id"]) == "active"
    assert "revoke" not in events_for(srv, b["lease_id"])


# --- who may touch a lease --------------------------------------------------------------------------

def test_holder_may_read_renew_and_revoke_its_own_lease(srv):
    alice = srv.token("dev", "alice", "leases:issue:app")
    doc = issued(srv, "app", 20, token=alice)
    assert srv.lease(doc["lease_id"], token=alice).status_code == 200
    r = srv.renew(doc["lease_id"], 40, token=alice)
    assert r.status_code == 200, r.text
    assert parse_time(r.json()["expires_at"]) > parse_time(doc["expires_at"])
    assert srv.revoke(doc["lease_id"], token=alice).status_code == 204
    assert srv.lease_state(doc["lease_id"]) == "revoked"


def test_another_non_admin_subject_gets_403_and_changes_nothing(srv):
    alice = srv.token("dev", "alice", "leases:issue:app")
    bob = srv.token("dev", "bob", "leases:issue:* secrets:read:*")
    doc = issued(srv, "app", 20, token=alice)
    lid = doc["lease_id"]
    assert_error(srv.lease(lid, token=bob), 403, "forbidden")
    assert_error(srv.renew(lid, 60, token=bob), 403, "forbidden")
    assert_error(srv.revoke(lid, token=bob), 403, "forbidden")
    got = srv.lease(lid).json()
    assert got["state"] == "active" and got["expires_at"] == doc["expires_at"], got
    assert events_for(srv, lid) == ["issue"]


def test_admin_may_read_renew_and_revoke_any_lease_of_its_tenant(srv):
    alice = srv.token("dev", "alice", "leases:issue:app")
    admin = srv.token("dev", "root-ops", "admin")
    doc = issued(srv, "app", 20, token=alice)
    lid = doc["lease_id"]
    assert srv.lease(lid, token=admin).json()["holder"] == "alice"
    assert srv.renew(lid, 50, token=admin).status_code == 200
    assert srv.revoke(lid, token=admin).status_code == 204
    assert srv.lease_state(lid) == "revoked"


def test_other_tenant_gets_404_for_every_lease_operation_and_cannot_list_it(srv):
    doc = issued(srv, "app", 30)
    lid = doc["lease_id"]
    b_admin = srv.token("tenant-b", "b-admin", "admin")
    b_user = srv.token("tenant-b", "b-user", "leases:issue:*")
    for tok in (b_admin, b_user):
        assert_error(srv.lease(lid, token=tok), 404, "not_found")
        assert_error(srv.renew(lid, 60, token=tok), 404, "not_found")
        assert_error(srv.revoke(lid, token=tok), 404, "not_found")
    r = srv.leases(token=b_admin, limit=1000)
    assert r.status_code == 200, r.text
    assert lid not in r.text
    got = srv.lease(lid).json()
    assert got["state"] == "active" and got["expires_at"] == doc["expires_at"], got


def test_same_subject_name_in_another_tenant_is_not_the_holder(srv):
    a = srv.token("dev", "same-name", "leases:issue:app")
    b = srv.token("tenant-b", "same-name", "admin")
    doc = issued(srv, "app", 30, token=a)
    assert_error(srv.revoke(doc["lease_id"], token=b), 404, "not_found")
    assert srv.lease_state(doc["lease_id"]) == "active"


def test_lease_issued_in_tenant_b_is_listed_only_there(srv):
    b_admin = srv.token("tenant-c", "c-admin", "admin")
    doc = issued(srv, "other", token=b_admin)
    r = srv.leases(token=b_admin, role="other")
    assert r.status_code == 200
    assert [l["lease_id"] for l in r.json()["leases"]] == [doc["lease_id"]]
    assert doc["lease_id"] not in srv.leases(limit=1000).text


# --- list -------------------------------------------------------------------------------------------------

def test_list_by_role_is_admin_only_and_filters_by_role(srv):
    apps = [issued(srv, "app")["lease_id"] for _ in range(2)]
    others = [issued(srv, "other")["lease_id"] for _ in range(2)]
    r = srv.leases(role="app", limit=1000)
    assert r.status_code == 200, r.text
    listed = r.json()["leases"]
    ids = {l["lease_id"] for l in listed}
    assert set(apps) <= ids and not set(others) & ids
    assert all(l["role"] == "app" for l in listed)
    assert all("secret_key" not in l and "password" not in l for l in listed)
    r = srv.leases(role="other", limit=1000)
    ids = {l["lease_id"] for l in r.json()["leases"]}
    assert set(others) <= ids and not set(apps) & ids
    user = srv.token("dev", "lister", "leases:issue:* secrets:read:*")
    assert_error(srv.leases(token=user, role="app"), 403, "forbidden")


def test_list_pages_with_limit_and_next_cover_every_lease_once(srv):
    mine = {issued(srv, "other")["lease_id"] for _ in range(3)}
    all_ids = [l["lease_id"] for l in srv.leases(role="other", limit=1000).json()["leases"]]
    seen, after, pages = [], None, 0
    while True:
        q = {"role": "other", "limit": 2}
        if after:
            q["after"] = after
        r = srv.leases(**q)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert len(doc["leases"]) <= 2
        seen += [l["lease_id"] for l in doc["leases"]]
        after = doc["next"]
        pages += 1
        assert pages < 500
        if after is None:
            break
    assert seen == all_ids
    assert len(set(seen)) == len(seen)
    assert mine <= set(seen)


@pytest.mark.parametrize("q", [{"limit": 0}, {"limit": "x"}, {"limit": 100000}, {"after": "nope"},
                               {"bogus": 1}])
def test_list_with_bad_query_is_400(srv, q):
    assert_error(srv.leases(**q), 400, "invalid_request")


# --- GET /secrets/{role path}: a fresh lease ------------------------------------------------------------

def test_reading_a_role_path_issues_a_lease_as_the_secret_value(srv):
    tok = srv.token("dev", "svc-reader", "secrets:read:leased/app")
    r = srv.read("leased/app", token=tok)
    assert r.status_code == 200, r.text
    doc = r.json()
    cred = json.loads(base64.b64decode(doc["value_b64"]))
    assert ID_RE.fullmatch(doc["lease_id"]), doc
    assert cred["access_key"] == cred["username"] == f"ex_app_{doc['lease_id']}"
    assert cred["secret_key"] == cred["password"] and len(cred["password"]) == 24
    assert cred["greeting"] == "hello"
    assert doc["lease_ttl_s"] == 60
    lease = srv.lease(doc["lease_id"]).json()
    assert lease["state"] == "active"
    assert lease["role"] == "app"
    assert lease["holder"] == "svc-reader"
    assert events_for(srv, doc["lease_id"]) == ["issue"]
    # every read is a new lease
    doc2 = srv.read("leased/app", token=tok).json()
    assert doc2["lease_id"] != doc["lease_id"]
    assert json.loads(base64.b64decode(doc2["value_b64"]))["password"] != cred["password"]


def test_reading_a_role_path_needs_secrets_read_on_that_path(srv):
    n = n_issued(srv)
    for scope in ("secrets:read:leased/other", "leases:issue:app", "secrets:write:leased/*"):
        tok = srv.token("dev", "no-read", scope)
        assert_error(srv.read("leased/app", token=tok), 403, "forbidden")
    assert n_issued(srv) == n, "a lease was issued for a refused read"
    tok = srv.token("dev", "glob-reader", "secrets:read:leased/*")
    assert srv.read("leased/app", token=tok).status_code == 200


def test_paths_next_to_a_role_path_are_ordinary_secrets(srv):
    assert srv.write("leased/app2", b"static").status_code == 200
    r = srv.read("leased/app2")
    assert r.status_code == 200
    assert base64.b64decode(r.json()["value_b64"]) == b"static"
    assert "lease_id" not in r.json()
    assert_error(srv.read("leased/ap"), 404, "not_found")


def test_lease_metrics_count_issues_and_revocations(srv):
    issued0 = srv.metric("secretsd_leases_issued_total")
    revoked0 = srv.metric("secretsd_leases_revoked_total")
    assert issued0 is not None and revoked0 is not None, srv.metrics_text()
    doc = issued(srv)
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert srv.metric("secretsd_leases_issued_total") >= issued0 + 1
    assert srv.metric("secretsd_leases_revoked_total") >= revoked0 + 1
    assert srv.metric("secretsd_plugin_up", 'plugin="example"') == 1
