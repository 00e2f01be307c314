"""plugins.conf: refused at start with FILE:LINE, reloaded on SIGHUP (a broken
or tampered reload keeps the old set), and `secretsd plugin check`."""
import shutil
import subprocess

import pytest

from conftest import (BIN, LEASE_ARGS, assert_error, conf_line_of, free_port, plugin_section,
                      role_section, run_bin, sha256_file, state_events, wait_for,
                      write_plugins_conf)

START_EXIT_TIMEOUT_S = 20


def start_refused(tmp_path, conf):
    """Start a dev server on conf; it must exit non-zero on its own."""
    data = tmp_path / "data"
    try:
        p = subprocess.run([BIN, "dev", "--data-dir", str(data), "--listen",
                            f"127.0.0.1:{free_port()}", "--rate-limit", "0", "--plugins", str(conf)],
                           capture_output=True, text=True, timeout=START_EXIT_TIMEOUT_S,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"secretsd kept running on a broken {conf}")
    assert p.returncode != 0, f"secretsd accepted a broken plugins.conf:\n{p.stderr}"
    for marker in ("Sanitizer", "runtime error:"):
        assert marker not in p.stderr, p.stderr
    return p


def good_sections(**plugin_settings):
    return [plugin_section("example", **plugin_settings),
            role_section("app", "example", default_ttl_s=60, max_ttl_s=120)]


# Each case: the sections, and the text of the line the error must point at.
BROKEN = {
    "wrong_sha256_pin": (
        lambda so: f"[plugin example]\npath = {so}\nsha256 = {'0' * 64}\n"
                   "[role app]\nplugin = example\n",
        ("sha256 = ", "path = ")),
    "malformed_sha256_pin": (
        lambda so: f"[plugin example]\npath = {so}\nsha256 = xyz{sha256_file(so)[3:]}\n"
                   "[role app]\nplugin = example\n",
        ("sha256 = ",)),
    "short_sha256_pin": (
        lambda so: f"[plugin example]\npath = {so}\nsha256 = {sha256_file(so)[:40]}\n",
        ("sha256 = ",)),
    "missing_pin": (
        lambda so: f"\n\n[plugin example]\npath = {so}\n",
        ("[plugin example]",)),
    "unknown_plugin_setting": (
        lambda so: plugin_section("example", so) + "colour = blue\n"
                   "[role app]\nplugin = example\n",
        ("colour = blue",)),
    "unknown_role_setting": (
        lambda so: plugin_section("example", so) + "\n[role app]\nplugin = example\n"
                   "greeting = hi\nflavour = mint\n",
        ("flavour = mint",)),
    "role_setting_of_the_wrong_type": (
        lambda so: plugin_section("example", so) + "\n[role app]\nplugin = example\n"
                   "slow_ms = soon\n",
        ("slow_ms = soon",)),
    "role_of_a_plugin_that_is_not_configured": (
        lambda so: plugin_section("example", so) + "\n[role app]\nplugin = nosuch\n",
        ("plugin = nosuch",)),
    "plugin_file_that_does_not_exist": (
        lambda so: f"[plugin example]\npath = {so}.missing\nsha256 = {sha256_file(so)}\n",
        ("path = ",)),
    "default_ttl_above_max_ttl": (
        lambda so: plugin_section("example", so) + "\n[role app]\nplugin = example\n"
                   "default_ttl_s = 600\nmax_ttl_s = 60\n",
        ("[role app]", "default_ttl_s = 600")),
    "negative_ttl": (
        lambda so: plugin_section("example", so) + "\n[role app]\nplugin = example\n"
                   "max_ttl_s = -5\n",
        ("max_ttl_s = -5",)),
    "unknown_section_kind": (
        lambda so: plugin_section("example", so) + "\n[rolez app]\nplugin = example\n",
        ("[rolez app]",)),
    "role_defined_twice": (
        lambda so: plugin_section("example", so) + "\n[role app]\nplugin = example\n"
                   "\n[role app]\nplugin = example\n",
        ("[role app]",)),  # the first match is checked below with `last=True`
    "setting_outside_a_section": (
        lambda so: "stray = 1\n" + plugin_section("example", so),
        ("stray = 1",)),
    "plugin_name_that_does_not_match_the_file": (
        lambda so: f"[plugin other]\npath = {so}\nsha256 = {sha256_file(so)}\n",
        ("path = ",)),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugins_conf_stops_the_start_with_file_and_line(tmp_path, example_so, case):
    make, needles = BROKEN[case]
    conf = tmp_path / "plugins.conf"
    conf.write_text("# broken on purpose\n" + make(example_so))
    lines = conf.read_text().splitlines()
    want = set()
    for n in needles:
        hits = [i for i, l in enumerate(lines, 1) if n in l]
        want.update(hits[-1:] if case == "role_defined_twice" else hits[:1])
    assert want, (case, conf.read_text())
    p = start_refused(tmp_path, conf)
    where = [f"{conf}:{n}" for n in sorted(want)]
    assert any(w in p.stderr for w in where), f"expected one of {where} in:\n{p.stderr}"


def test_missing_plugins_file_stops_the_start_naming_it(tmp_path, example_so):
    conf = tmp_path / "no-such-plugins.conf"
    p = start_refused(tmp_path, conf)
    assert str(conf) in p.stderr, p.stderr


def test_disabled_plugin_is_not_loaded_and_its_roles_are_skipped(server_factory, tmp_path,
                                                                    example_so):
    conf = write_plugins_conf(tmp_path / "plugins.conf",
                              plugin_section("example", enabled="false"),
                              role_section("app", "example"))
    s = server_factory(plugins=conf, extra_args=LEASE_ARGS)
    assert_error(s.issue("app"), 404, "not_found")
    assert s.request("GET", "/ready").status_code == 200


# --- SIGHUP ---------------------------------------------------------------------------------------

@pytest.fixture
def hup_server(server_factory, tmp_path, example_so):
    state = tmp_path / "example.state"
    conf = write_plugins_conf(tmp_path / "plugins.conf",
                              plugin_section("example", state_file=state),
                              role_section("app", "example", default_ttl_s=60, max_ttl_s=120))
    s = server_factory(plugins=conf, extra_args=LEASE_ARGS)
    s.conf = conf
    s.state_file = state
    return s


def reload_logged(s, mark, conf, timeout=10):
    """Wait until the server's log, since mark, names conf (its reload error)."""
    wait_for(lambda: str(conf) in s.stderr_since(mark), timeout,
             lambda: f"a reload error naming {conf} in the log:\n{s.stderr_since(mark)[-2000:]}")


def test_sighup_reload_adds_a_role_that_then_works(hup_server):
    s = hup_server
    assert_error(s.issue("added"), 404, "not_found")
    write_plugins_conf(s.conf, plugin_section("example", state_file=s.state_file),
                       role_section("app", "example", default_ttl_s=60, max_ttl_s=120),
                       role_section("added", "example", default_ttl_s=30, max_ttl_s=40,
                                    greeting="new", path="leased/added"))
    s.sighup()
    r = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(s.issue("added")), 10,
                 "the role added by SIGHUP to work")
    doc = r.json()
    assert doc["role"] == "added" and doc["ttl_s"] == 30 and doc["greeting"] == "new"
    assert ("issue", doc["lease_id"]) in state_events(s.state_file)
    # its path works too, and the old role is still there
    assert s.read("leased/added").status_code == 200
    assert s.issue("app").status_code == 200
    assert s.running()


def test_sighup_with_a_broken_conf_keeps_the_old_set_and_keeps_serving(hup_server):
    s = hup_server
    before = s.issue("app")
    assert before.status_code == 200
    so = s.conf.read_text()
    s.conf.write_text(so + "\n[role added]\nplugin = example\nflavour = mint\n")
    mark = s.stderr_size()
    s.sighup()
    reload_logged(s, mark, s.conf)
    line = conf_line_of(s.conf, "flavour = mint")
    assert f"{s.conf}:{line}" in s.stderr_since(mark)
    assert s.running()
    assert_error(s.issue("added"), 404, "not_found")
    r = s.issue("app")
    assert r.status_code == 200, r.text
    assert s.revoke(before.json()["lease_id"]).status_code == 204
    assert s.write("after/hup", b"v").status_code == 200
    assert s.read("after/hup").status_code == 200
    assert s.request("GET", "/ready").status_code == 200


def test_sighup_refuses_a_plugin_file_that_no_longer_matches_its_pin(server_factory, tmp_path,
                                                                     example_so):
    so = tmp_path / "lib" / "example.so"
    so.parent.mkdir()
    shutil.copy(example_so, so)
    conf = write_plugins_conf(tmp_path / "plugins.conf", plugin_section("example", so),
                              role_section("app", "example"))
    s = server_factory(plugins=conf, extra_args=LEASE_ARGS)
    assert s.issue("app").status_code == 200
    # the conf now names a new role, with the old pin; the file changes under it
    conf.write_text(conf.read_text() + "\n[role added]\nplugin = example\n")
    with open(so, "ab") as f:
        f.write(b"\0tampered")
    mark = s.stderr_size()
    s.sighup()
    reload_logged(s, mark, conf)
    assert "sha256" in s.stderr_since(mark).lower()
    assert s.running()
    assert_error(s.issue("added"), 404, "not_found")
    assert s.issue("app").status_code == 200


def test_sighup_removing_a_role_keeps_its_existing_leases_revocable(hup_server):
    s = hup_server
    doc = s.issue("app").json()
    write_plugins_conf(s.conf, plugin_section("example", state_file=s.state_file),
                       role_section("other", "example"))
    s.sighup()
    wait_for(lambda: s.issue("app").status_code == 404, 10, "role app to be gone after SIGHUP")
    assert s.issue("other").status_code == 200
    got = s.lease(doc["lease_id"])
    assert got.status_code == 200 and got.json()["state"] == "active", got.text
    assert s.revoke(doc["lease_id"]).status_code == 204
    assert s.lease_state(doc["lease_id"]) == "revoked"
    assert ("revoke", doc["lease_id"]) in state_events(s.state_file)


def test_sighup_without_a_plugins_file_keeps_serving(fresh_server):
    s = fresh_server
    mark = s.stderr_size()
    s.sighup()
    wait_for(lambda: "SIGHUP" in s.stderr_since(mark), 10, "the SIGHUP to be handled")
    assert s.running()
    assert s.write("nohup", b"v").status_code == 200


# --- secretsd plugin check ------------------------------------------------------------------------

def test_plugin_check_prints_the_descriptor_and_sha256(example_so):
    p = run_bin("plugin", "check", str(example_so))
    assert p.returncode == 0, p.stderr + p.stdout
    out = p.stdout
    assert sha256_file(example_so) in out
    assert "example" in out
    assert "lease" in out
    for setting in ("state_file", "down_file", "fail_issue", "slow_ms"):
        assert setting in out, out
    assert "loadable: yes" in out


def test_plugin_check_refuses_a_file_that_is_not_a_plugin(tmp_path):
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"\x7fELF not really")
    p = run_bin("plugin", "check", str(bogus))
    assert p.returncode != 0
    assert str(bogus) in p.stdout + p.stderr
