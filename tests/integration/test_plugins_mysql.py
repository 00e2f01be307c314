"""The mysql plugin against a real MariaDB: a leased user logs in with exactly
the rights granted, is dropped on revoke, on expiry and after a crash
between CREATE USER and the lease's commit; renew keeps it past its first
expiry; a stopped database is 503 and /ready 503 until it is back."""
import base64
import json
import subprocess
import time

import pytest
import requests

from conftest import (LEASE_ARGS, Server, assert_error, parse_time, plugin_section, role_section,
                      wait_for, write_plugins_conf)
from dbs import mariadb_db  # noqa: F401  (session fixture)

HEALTH_WAIT_S = 15
REAP_SLACK_S = 6
DB = "sdtest"

CREATE = ("CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; "
          f"GRANT SELECT ON {DB}.items TO '{{{{name}}}}'@'%'")


def my_sections(db):
    return [plugin_section("mysql", connection_url=db.url),
            role_section("ro", "mysql", default_ttl_s=300, max_ttl_s=600,
                         creation_statements=CREATE, path="db/my-ro"),
            role_section("tmp", "mysql", default_ttl_s=2, max_ttl_s=5,
                         creation_statements=CREATE)]


@pytest.fixture(scope="module")
def my(mariadb_db):
    mariadb_db.query(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB}; "
                     f"CREATE TABLE {DB}.items (id INT, v VARCHAR(20)); "
                     f"INSERT INTO {DB}.items VALUES (1, 'one'), (2, 'two')")
    return mariadb_db


@pytest.fixture(scope="module")
def srv(my, tmp_path_factory):
    d = tmp_path_factory.mktemp("mysql-leases")
    conf = write_plugins_conf(d / "plugins.conf", *my_sections(my))
    s = Server(d / "srv", plugins=conf, extra_args=LEASE_ARGS).start()
    yield s
    s.finish()


def issue(s, role="ro", ttl_s=None):
    r = s.issue(role, ttl_s)
    assert r.status_code == 200, r.text
    return r.json()


def user_exists(my, name) -> bool:
    return my.query(f"SELECT count(*) FROM mysql.user WHERE User = '{name}'") != "0"


def logs_in(my, user, password) -> bool:
    return my.mysql("SELECT 1", user=user, password=password).returncode == 0


def test_leased_user_logs_in_with_exactly_the_granted_rights(srv, my):
    doc = issue(srv)
    user, pw = doc["access_key"], doc["secret_key"]
    assert doc["username"] == user and doc["password"] == pw
    assert len(user) <= 32 and doc["lease_id"] in user
    assert user_exists(my, user)
    p = my.mysql(f"SELECT v FROM {DB}.items ORDER BY id", user=user, password=pw)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["one", "two"]
    p = my.mysql(f"INSERT INTO {DB}.items VALUES (3, 'three')", user=user, password=pw)
    assert p.returncode != 0 and "denied" in p.stderr.lower(), p.stdout + p.stderr
    p = my.mysql("SELECT count(*) FROM mysql.user", user=user, password=pw)
    assert p.returncode != 0, "the leased user can read mysql.user"
    assert not logs_in(my, user, pw + "x")


def test_revoke_drops_the_user_and_the_login_stops_working(srv, my):
    doc = issue(srv)
    user, pw = doc["access_key"], doc["secret_key"]
    assert logs_in(my, user, pw)
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert not user_exists(my, user)
    assert not logs_in(my, user, pw)
    assert srv.lease_state(doc["lease_id"]) == "revoked"


def test_revoke_ends_an_open_session_of_the_leased_user(srv, my):
    doc = issue(srv)
    user, pw = doc["access_key"], doc["secret_key"]
    env = {"MYSQL_PWD": pw, "PATH": "/usr/bin:/bin"}
    sess = subprocess.Popen([my.client, "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1",
                             "-P", str(my.port), "-u", user, "-N", "-B", "-e", "SELECT SLEEP(60)"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: my.query(f"SELECT count(*) FROM information_schema.processlist "
                                  f"WHERE user = '{user}'") == "1", 10, "the leased user's session")
        assert srv.revoke(doc["lease_id"]).status_code == 204
        # the session is killed, not left running with the dropped user's rights
        wait_for(lambda: my.query(f"SELECT count(*) FROM information_schema.processlist "
                                  f"WHERE user = '{user}'") == "0", 10,
                 "the dropped user's session to be killed")
        assert not user_exists(my, user)
    finally:
        if sess.poll() is None:
            sess.kill()
        sess.wait()


def test_reaper_drops_an_expired_user_and_a_renewed_one_only_after_its_new_expiry(srv, my):
    plain = issue(srv, "tmp")
    renewed = issue(srv, "tmp")
    assert plain["ttl_s"] == 2
    assert user_exists(my, plain["access_key"]) and user_exists(my, renewed["access_key"])
    r = srv.renew(renewed["lease_id"], 5)
    assert r.status_code == 200, r.text
    new_exp = parse_time(r.json()["expires_at"])
    assert new_exp >= parse_time(renewed["expires_at"]) + 2, r.json()
    wait_for(lambda: not user_exists(my, plain["access_key"]), 2 + REAP_SLACK_S,
             "the expired user to be dropped")
    # the user is dropped before the lease's state is committed: wait for the state
    srv.wait_lease_state(plain["lease_id"], "expired", 5)
    assert not logs_in(my, plain["access_key"], plain["secret_key"])
    if time.time() < new_exp - 1:
        assert logs_in(my, renewed["access_key"], renewed["secret_key"]), \
            "the renewed user was dropped at its first expiry"
    wait_for(lambda: not user_exists(my, renewed["access_key"]), 5 + REAP_SLACK_S,
             "the renewed user to be dropped after its new expiry")
    srv.wait_lease_state(renewed["lease_id"], "expired", 5)


def test_reading_the_role_path_gives_a_working_login(srv, my):
    tok = srv.token("dev", "my-reader", "secrets:read:db/my-ro")
    r = srv.read("db/my-ro", token=tok)
    assert r.status_code == 200, r.text
    doc = r.json()
    cred = json.loads(base64.b64decode(doc["value_b64"]))
    assert doc["lease_ttl_s"] == 300
    p = my.mysql(f"SELECT count(*) FROM {DB}.items", user=cred["username"],
                 password=cred["password"])
    assert p.returncode == 0 and p.stdout.strip() == "2", p.stderr
    assert srv.revoke(doc["lease_id"]).status_code == 204
    assert not user_exists(my, cred["username"])


def test_crash_after_create_user_before_commit_drops_the_user_after_restart(server_factory, my,
                                                                            tmp_path):
    conf = write_plugins_conf(tmp_path / "plugins.conf", *my_sections(my))
    s = server_factory(plugins=conf, extra_args=LEASE_ARGS,
                       env={"SECRETSD_CRASH_AT": "lease_after_issue"})
    before = set(my.query("SELECT User FROM mysql.user").split())
    with pytest.raises(requests.RequestException):
        s.issue("ro")
    s.proc.wait(timeout=15)
    assert s.proc.returncode == -9, s.proc.returncode
    new = set(my.query("SELECT User FROM mysql.user").split()) - before
    assert len(new) == 1, new
    user = new.pop()
    s.env = None
    s.restart()
    wait_for(lambda: not user_exists(my, user), REAP_SLACK_S + 10,
             f"user {user} (issued before the crash) to be dropped after restart")
    # dropped before the lease's state is committed: wait for the state
    def states():
        return [l["state"] for l in s.leases(role="ro").json()["leases"] if l["lease_id"] in user]
    wait_for(lambda: states() == ["revoked"], 5, lambda: f"the lease of {user} to be revoked: {states()}")


def test_stopped_database_is_503_and_ready_503_until_it_is_back(srv, my):
    assert srv.request("GET", "/ready").status_code == 200
    assert srv.write("my/static", b"kept").status_code == 200
    my.stop()
    try:
        assert_error(srv.issue("ro"), 503, "dependency_down")
        wait_for(lambda: srv.request("GET", "/ready").status_code == 503, HEALTH_WAIT_S,
                 "/ready to report MariaDB down")
        assert_error(srv.request("GET", "/ready"), 503, "dependency_down")
        assert_error(srv.read("db/my-ro"), 503, "dependency_down")
        r = srv.read("my/static")
        assert r.status_code == 200 and base64.b64decode(r.json()["value_b64"]) == b"kept"
    finally:
        my.start()
    wait_for(lambda: srv.request("GET", "/ready").status_code == 200, HEALTH_WAIT_S,
             "/ready to recover once MariaDB is back")
    doc = issue(srv)
    assert logs_in(my, doc["access_key"], doc["secret_key"])
