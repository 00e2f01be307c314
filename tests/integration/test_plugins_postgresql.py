"""The postgresql plugin against a real PostgreSQL 15: a leased role logs in
with exactly the rights granted, is dropped on revoke, on expiry and after a
crash between CREATE ROLE and the lease's commit; renew moves VALID UNTIL;
concurrent issues and revokes that grant on the same objects all succeed
(no "tuple concurrently updated"); a stopped database is 503 and /ready 503
until it is back."""
import base64
import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import (LEASE_ARGS, Server, assert_error, parse_time, plugin_section, role_section,
                      wait_for, write_plugins_conf)
from dbs import postgres_db  # noqa: F401  (session fixture)

HEALTH_WAIT_S = 15
REAP_SLACK_S = 6
TABLE = "sd_items"

CREATE = (f'CREATE ROLE "{{{{name}}}}" WITH LOGIN PASSWORD \'{{{{password}}}}\' '
          f"VALID UNTIL '{{{{expiration}}}}'; GRANT SELECT ON {TABLE} TO \"{{{{name}}}}\"")


def pg_sections(db, *extra_roles):
    return [plugin_section("postgresql", connection_url=db.url),
            role_section("ro", "postgresql", default_ttl_s=300, max_ttl_s=600,
                         creation_statements=CREATE, path="db/pg-ro"),
            role_section("tmp", "postgresql", default_ttl_s=2, max_ttl_s=5,
                         creation_statements=CREATE),
            *extra_roles]


@pytest.fixture(scope="module")
def pg(postgres_db):
    postgres_db.query(f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id int, v text); "
                      f"INSERT INTO {TABLE} VALUES (1, 'one'), (2, 'two')")
    return postgres_db


@pytest.fixture(scope="module")
def srv(pg, tmp_path_factory):
    d = tmp_path_factory.mktemp("pg-leases")
    conf = write_plugins_conf(d / "plugins.conf", *pg_sections(pg))
    s = Server(d / "srv", plugins=conf, extra_args=LEASE_ARGS).start()
    yield s
    s.finish()


def issue(s, role="ro", ttl_s=None):
    r = s.issue(role, ttl_s)
    assert r.status_code == 200, r.text
    return r.json()


def role_exists(pg, name) -> bool:
    return pg.query(f"SELECT count(*) FROM pg_roles WHERE rolname = '{name}'") == "1"


def valid_until(pg, name) -> float:
    return float(pg.query(f"SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles "
                          f"WHERE rolname = '{name}'"))


def logs_in(pg, user, password) -> bool:
    return pg.psql("SELECT 1", user=user, password=password).returncode == 0


def test_leased_role_logs_in_with_exactly_the_granted_rights(srv, pg):
    doc = issue(srv)
    user, pw = doc["access_key"], doc["secret_key"]
    assert doc["username"] == user and doc["password"] == pw
    assert doc["lease_id"] in user
    assert role_exists(pg, user)
    p = pg.psql(f"SELECT v FROM {TABLE} ORDER BY id", user=user, password=pw)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["one", "two"]
    p = pg.psql(f"INSERT INTO {TABLE} VALUES (3, 'three')", user=user, password=pw)
    assert p.returncode != 0 and "permission denied" in p.stderr, p.stdout + p.stderr
    p = pg.psql("CREATE TABLE sd_not_allowed (x int)", user=user, password=pw)
    assert p.returncode != 0, "the leased role may create tables in public"  # PG 15 default
    assert not logs_in(pg, user, pw + "x")
    # the database enforces the lease's expiry too
    assert abs(valid_until(pg, user) - parse_time(doc["expires_at"])) <= 2


def test_revoke_drops_the_role_and_the_login_stops_working(srv, pg):
    doc = issue(srv)
    user, pw = doc["access_key"], doc["secret_key"]
    assert logs_in(pg, user, pw)
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert not role_exists(pg, user)
    p = pg.psql("SELECT 1", user=user, password=pw)
    assert p.returncode != 0
    assert srv.lease_state(doc["lease_id"]) == "revoked"


def test_revoke_ends_an_open_session_of_the_leased_role(srv, pg):
    doc = issue(srv)
    user, pw = doc["access_key"], doc["secret_key"]
    env = {"PGPASSWORD": pw, "PATH": "/usr/bin:/bin"}
    sess = subprocess.Popen([pg.psql_bin, "-X", "-q", "-w", "-h", "127.0.0.1", "-p", str(pg.port),
                             "-U", user, "-d", "postgres", "-c", "SELECT pg_sleep(60)"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: pg.query(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{user}'")
                 == "1", 10, "the leased role's session")
        assert srv.revoke(doc["lease_id"]).status_code == 204
        sess.wait(timeout=15)
        assert sess.returncode != 0
        assert not role_exists(pg, user)
    finally:
        if sess.poll() is None:
            sess.kill()
            sess.wait()


def test_reaper_drops_an_expired_role_and_renew_moves_valid_until_later(srv, pg):
    plain = issue(srv, "tmp")
    renewed = issue(srv, "tmp")
    assert plain["ttl_s"] == 2
    assert role_exists(pg, plain["access_key"]) and role_exists(pg, renewed["access_key"])
    before = valid_until(pg, renewed["access_key"])
    r = srv.renew(renewed["lease_id"], 5)
    assert r.status_code == 200, r.text
    after = valid_until(pg, renewed["access_key"])
    assert after >= before + 2, (before, after)
    assert abs(after - parse_time(r.json()["expires_at"])) <= 2, (after, r.json())
    # the lease that was not renewed is dropped within seconds of its expiry
    wait_for(lambda: not role_exists(pg, plain["access_key"]), 2 + REAP_SLACK_S,
             "the expired role to be dropped")
    # the role is dropped before the lease's state is committed: wait for the state
    srv.wait_lease_state(plain["lease_id"], "expired", 5)
    assert not logs_in(pg, plain["access_key"], plain["secret_key"])
    # the renewed one outlives the first expiry, then goes too
    if time.time() < parse_time(r.json()["expires_at"]) - 1:
        assert role_exists(pg, renewed["access_key"])
    wait_for(lambda: not role_exists(pg, renewed["access_key"]), 5 + REAP_SLACK_S,
             "the renewed role to be dropped after its new expiry")
    srv.wait_lease_state(renewed["lease_id"], "expired", 5)


def test_reading_the_role_path_gives_a_working_login(srv, pg):
    tok = srv.token("dev", "pg-reader", "secrets:read:db/pg-ro")
    r = srv.read("db/pg-ro", token=tok)
    assert r.status_code == 200, r.text
    doc = r.json()
    cred = json.loads(base64.b64decode(doc["value_b64"]))
    assert doc["lease_ttl_s"] == 300
    p = pg.psql(f"SELECT count(*) FROM {TABLE}", user=cred["username"], password=cred["password"])
    assert p.returncode == 0 and p.stdout.strip() == "2", p.stderr
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert not role_exists(pg, cred["username"])


def test_crash_after_create_role_before_commit_drops_the_role_after_restart(server_factory, pg,
                                                                            tmp_path):
    conf = write_plugins_conf(tmp_path / "plugins.conf", *pg_sections(pg))
    s = server_factory(plugins=conf, extra_args=LEASE_ARGS,
                       env={"SECRETSD_CRASH_AT": "lease_after_issue"})
    before = set(pg.query("SELECT rolname FROM pg_roles").split())
    with pytest.raises(requests.RequestException):
        s.issue("ro")
    s.proc.wait(timeout=15)
    assert s.proc.returncode == -9, s.proc.returncode
    new = set(pg.query("SELECT rolname FROM pg_roles").split()) - before
    assert len(new) == 1, new
    user = new.pop()
    s.env = None
    s.restart()
    wait_for(lambda: not role_exists(pg, user), REAP_SLACK_S + 10,
             f"role {user} (issued before the crash) to be dropped after restart")
    # dropped before the lease's state is committed: wait for the state
    def states():
        return [l["state"] for l in s.leases(role="ro").json()["leases"] if l["lease_id"] in user]
    wait_for(lambda: states() == ["revoked"], 5, lambda: f"the lease of {user} to be revoked: {states()}")


# Every lease grants on the same three shared catalog rows: the table's
# (pg_class), the schema's (pg_namespace) and the database's (pg_database).
CREATE_SHARED = (CREATE + '; GRANT USAGE ON SCHEMA public TO "{{name}}"; '
                 'GRANT CONNECT ON DATABASE postgres TO "{{name}}"')


def test_concurrent_issues_and_revokes_granting_on_the_same_objects_all_succeed_and_log_in(
        server_factory, pg, tmp_path):
    threads, per_thread = 16, 10
    conf = write_plugins_conf(
        tmp_path / "plugins.conf",
        plugin_section("postgresql", connection_url=pg.url, max_open_connections=8),
        role_section("shared", "postgresql", default_ttl_s=300, max_ttl_s=600,
                     creation_statements=CREATE_SHARED))
    s = server_factory(plugins=conf, extra_args=LEASE_ARGS)
    mu, failures = threading.Lock(), []

    def post_issue(sess):
        r = sess.post(f"{s.base}/leases", json={"role": "shared"}, timeout=60)
        if r.status_code != 200:
            with mu:
                failures.append(f"issue: {r.status_code} {r.text}")
            return None
        d = r.json()
        return d["lease_id"], d["username"], d["password"]

    def session():
        sess = requests.Session()
        sess.headers["Authorization"] = f"Bearer {s.admin_token}"
        return sess

    def issuer(_):
        with session() as sess:
            return [c for c in (post_issue(sess) for _ in range(per_thread)) if c is not None]

    # issue and revoke at once: revoke's DROP OWNED changes the same ACLs
    def revoker(mine):
        more = []
        with session() as sess:
            for i, (lease_id, _, _) in enumerate(mine):
                r = sess.delete(f"{s.base}/leases/{lease_id}", timeout=60)
                if r.status_code != 204:
                    with mu:
                        failures.append(f"revoke: {r.status_code} {r.text}")
                if i % 5 == 0 and (c := post_issue(sess)) is not None:
                    more.append(c)
        return more

    def works(cred):
        p = pg.psql(f"SELECT count(*) FROM {TABLE}", user=cred[1], password=cred[2])
        return p.returncode == 0 and p.stdout.strip() == "2"

    with ThreadPoolExecutor(threads) as ex:
        issued = list(ex.map(issuer, range(threads)))
    creds = [c for mine in issued for c in mine]
    assert not failures, failures[:5]
    assert len(creds) == threads * per_thread
    assert len({c[1] for c in creds}) == len(creds)
    with ThreadPoolExecutor(4) as ex:
        bad = [c[1] for c, ok in zip(creds, ex.map(works, creds)) if not ok]
    assert not bad, f"{len(bad)} leased roles cannot log in and read {TABLE}: {bad[:3]}"

    with ThreadPoolExecutor(threads) as ex:
        later = [c for more in ex.map(revoker, issued) for c in more]
    assert not failures, failures[:5]
    assert len(later) == threads * ((per_thread + 4) // 5)
    names = ", ".join(f"'{c[1]}'" for c in creds)
    assert pg.query(f"SELECT count(*) FROM pg_roles WHERE rolname IN ({names})") == "0"
    assert all(works(c) for c in later)
    for lease_id, user, _ in later:
        assert s.revoke(lease_id).status_code == 204
        assert not role_exists(pg, user)


def test_stopped_database_is_503_and_ready_503_until_it_is_back(srv, pg):
    assert srv.request("GET", "/ready").status_code == 200
    assert srv.write("pg/static", b"kept").status_code == 200
    pg.stop()
    try:
        assert_error(srv.issue("ro"), 503, "dependency_down")
        wait_for(lambda: srv.request("GET", "/ready").status_code == 503, HEALTH_WAIT_S,
                 "/ready to report PostgreSQL down")
        assert_error(srv.request("GET", "/ready"), 503, "dependency_down")
        assert_error(srv.read("db/pg-ro"), 503, "dependency_down")
        # the rest of the service does not need the database
        r = srv.read("pg/static")
        assert r.status_code == 200 and base64.b64decode(r.json()["value_b64"]) == b"kept"
    finally:
        pg.start()
    wait_for(lambda: srv.request("GET", "/ready").status_code == 200, HEALTH_WAIT_S,
             "/ready to recover once PostgreSQL is back")
    doc = issue(srv)
    assert logs_in(pg, doc["access_key"], doc["secret_key"])
