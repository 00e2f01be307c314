"""Tenants are isolated: no API reaches another tenant's secrets."""
import base64

import pytest

from conftest import assert_error

# "acme2" starts with "acme": storage keys must not let one tenant's prefix
# scan reach the other.
TENANT_A, TENANT_B = "acme", "acme2"


@pytest.fixture
def tenants(fresh_server):
    s = fresh_server
    a = s.token(TENANT_A, "a-admin", "admin")
    b = s.token(TENANT_B, "b-admin", "admin")
    for p in ("p", "db/password", "shared/name"):
        r = s.write(p, f"A:{p}", {"owner": "svc-a"}, token=a)
        assert r.status_code == 200, r.text
    return s, a, b


def test_other_tenant_cannot_read_or_see_metadata(tenants):
    s, a, b = tenants
    assert_error(s.read("p", token=b), 404, "not_found")
    assert_error(s.read("p", 1, token=b), 404, "not_found")
    assert_error(s.metadata("p", token=b), 404, "not_found")


def test_other_tenant_cannot_delete_or_undelete(tenants):
    s, a, b = tenants
    assert_error(s.delete("p", token=b), 404, "not_found")
    assert_error(s.delete("p", 1, token=b), 404, "not_found")
    assert s.delete("db/password", token=a).status_code == 204
    assert_error(s.undelete("db/password", 1, token=b), 404, "not_found")
    # A's state is untouched by B's attempts
    assert s.read("p", token=a).status_code == 200
    assert_error(s.read("db/password", token=a), 404, "not_found")
    assert s.undelete("db/password", 1, token=a).status_code == 204


def test_other_tenant_never_lists_foreign_paths(tenants):
    s, a, b = tenants
    assert s.list_all(token=b) == []
    assert s.list_all(token=b, prefix="db/") == []
    assert s.list_all(token=b, owner="svc-a") == []
    assert s.write("mine", b"B", token=b).status_code == 200
    assert s.list_all(token=b) == ["mine"]
    assert s.list_all(token=a) == ["db/password", "p", "shared/name"]


def test_other_tenant_writing_the_same_path_gets_its_own_secret(tenants):
    s, a, b = tenants
    r = s.write("p", b"B-value", {"owner": "svc-b"}, token=b)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    rb = s.read("p", token=b).json()
    ra = s.read("p", token=a).json()
    assert base64.b64decode(rb["value_b64"]) == b"B-value"
    assert base64.b64decode(ra["value_b64"]) == b"A:p"
    assert ra["version"] == 1 and ra["metadata"] == {"owner": "svc-a"}
    assert s.metadata("p", token=a).json()["current_version"] == 1
    assert s.metadata("p", token=b).json()["versions"][0]["created_by"] == "b-admin"
    # cas is per tenant too
    assert s.write("p", b"B2", token=b, cas=1).json()["version"] == 2
    assert s.read("p", token=a).json()["version"] == 1


def test_tenant_comes_from_the_token_not_the_request(tenants):
    s, a, b = tenants
    for headers in ({"X-Tenant": TENANT_A}, {"Tenant": TENANT_A}):
        r = s.request("GET", f"{s.base}/secrets/p", token=b, headers=headers)
        assert_error(r, 404, "not_found")
    r = s.request("GET", f"{s.base}/secrets/p", token=b, params={"tenant": TENANT_A})
    assert r.status_code in (400, 404)
    assert "A:p" not in r.text
