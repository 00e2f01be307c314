"""GET {base}/secrets: prefix, pagination, owner index, scope filtering."""
import pytest

from conftest import assert_error


def write_all(s, paths, metadata=None):
    for p in paths:
        r = s.write(p, p.encode(), metadata)
        assert r.status_code == 200, r.text


def test_list_by_prefix_returns_matching_paths_in_order(fresh_server):
    s = fresh_server
    write_all(s, ["db/b", "db/a", "db/sub/c", "dbx/y", "app/x", "d"])
    r = s.list(prefix="db/")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["paths"] == ["db/a", "db/b", "db/sub/c"]
    assert doc["next"] is None
    assert s.list(prefix="db").json()["paths"] == ["db/a", "db/b", "db/sub/c", "dbx/y"]
    assert s.list(prefix="nothing/").json() == {"paths": [], "next": None}


def test_list_without_prefix_returns_everything(fresh_server):
    s = fresh_server
    paths = ["a", "b/c", "z/z/z"]
    write_all(s, paths)
    assert s.list().json()["paths"] == paths


def test_pagination_with_limit_2_covers_every_path_once(fresh_server):
    s = fresh_server
    paths = [f"pg/{i:02d}" for i in range(7)] + ["other/x"]
    write_all(s, paths)
    seen, after, pages = [], None, 0
    while True:
        params = {"prefix": "pg/", "limit": 2}
        if after is not None:
            params["after"] = after
        r = s.list(**params)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert len(doc["paths"]) <= 2
        seen += doc["paths"]
        pages += 1
        assert pages <= 10, "pagination does not end"
        after = doc["next"]
        if after is None:
            break
        assert isinstance(after, str) and after
    assert seen == sorted(paths[:-1])
    assert pages == 4


def test_deleted_secrets_are_still_listed_until_destroyed(fresh_server):
    s = fresh_server
    write_all(s, ["k/a", "k/b"])
    assert s.delete("k/a").status_code == 204
    assert "k/b" in s.list(prefix="k/").json()["paths"]


def test_owner_filter_returns_only_that_owner(fresh_server):
    s = fresh_server
    write_all(s, ["x/1", "y/2", "z/3"], {"owner": "svc-a"})
    write_all(s, ["x/4", "y/5"], {"owner": "svc-b"})
    write_all(s, ["x/6"], {"rotation": "90d"})
    write_all(s, ["x/7"])
    r = s.list(owner="svc-a")
    assert r.status_code == 200, r.text
    assert r.json()["paths"] == ["x/1", "y/2", "z/3"]
    assert s.list(owner="svc-b").json()["paths"] == ["x/4", "y/5"]
    assert s.list(owner="svc-c").json() == {"paths": [], "next": None}


def test_owner_filter_matches_the_whole_owner_not_a_prefix(fresh_server):
    s = fresh_server
    write_all(s, ["a/1"], {"owner": "svc"})
    write_all(s, ["a/2"], {"owner": "svc-data"})
    write_all(s, ["a/3"], {"owner": "svcx"})
    assert s.list(owner="svc").json()["paths"] == ["a/1"]
    assert s.list(owner="svc-data").json()["paths"] == ["a/2"]


def test_owner_index_follows_metadata_changes(fresh_server):
    s = fresh_server
    write_all(s, ["o/1", "o/2"], {"owner": "team-old"})
    write_all(s, ["o/1"], {"owner": "team-new"})
    assert s.list(owner="team-old").json()["paths"] == ["o/2"]
    assert s.list(owner="team-new").json()["paths"] == ["o/1"]
    write_all(s, ["o/2"], {"rotation": "30d"})  # metadata without an owner
    assert s.list(owner="team-old").json()["paths"] == []


def test_owner_filter_paginates(fresh_server):
    s = fresh_server
    paths = [f"own/{i}" for i in range(5)]
    write_all(s, paths, {"owner": "pager"})
    write_all(s, ["own/zz"], {"owner": "other"})
    assert s.list_all(owner="pager", limit=2) == paths


def test_owner_and_prefix_filters_combine(fresh_server):
    s = fresh_server
    write_all(s, ["db/1", "app/1"], {"owner": "svc-a"})
    write_all(s, ["db/2"], {"owner": "svc-b"})
    assert s.list(owner="svc-a", prefix="db/").json()["paths"] == ["db/1"]


def test_list_shows_only_paths_the_token_may_read(fresh_server):
    s = fresh_server
    write_all(s, ["app/a", "app/b/c", "apps/x", "db/a", "z"])
    tok = s.token("dev", "app-reader", "secrets:read:app/*")
    assert s.list_all(token=tok) == ["app/a", "app/b/c"]
    assert s.list_all(token=tok, limit=1) == ["app/a", "app/b/c"]
    assert s.list(token=tok, prefix="db/").json()["paths"] == []


def test_list_without_any_read_scope_is_403(fresh_server):
    s = fresh_server
    write_all(s, ["a"])
    tok = s.token("dev", "writer", "secrets:write:*")
    assert_error(s.list(token=tok), 403, "forbidden")


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "", "1.5"])
def test_limit_out_of_range_is_400(fresh_server, limit):
    assert_error(fresh_server.list(limit=limit), 400, "invalid_request", "limit")


def test_limit_bounds_are_inclusive(fresh_server):
    write_all(fresh_server, ["a", "b"])
    first = fresh_server.list(limit=1).json()
    assert first["paths"] == ["a"] and isinstance(first["next"], str)
    assert fresh_server.list(limit=1000).json() == {"paths": ["a", "b"], "next": None}


@pytest.mark.parametrize("params,name", [
    ({"prefx": "a"}, "prefx"), ({"prefix": "a b"}, "prefix"), ({"after": "a//b"}, "after"),
    ({"owner": ""}, "owner"),
])
def test_bad_list_parameters_are_400(fresh_server, params, name):
    assert_error(fresh_server.list(**params), 400, "invalid_request", name)


def test_repeated_list_parameter_is_400(fresh_server):
    r = fresh_server.request("GET", f"{fresh_server.base}/secrets?limit=1&limit=2",
                             token=fresh_server.admin_token)
    assert_error(r, 400, "invalid_request", "limit")
