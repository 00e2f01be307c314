"""The operator docs (docs/*.md, README.md) against the code.

Cheap, strict checks of facts that drift: every config key core/config.c
accepts is in the runbook's serve config, every CLI command of cli.c's
usage is in the runbook, every crash point and metric is named, every
database store.c opens is listed, the head record's layout and the version
states in data-model.md are store.c's, the audit log fields are audit.c's,
the backup magic is backup.c's, the webhook headers and the hook names are
rotation.c's, and every setting a shipped plugin declares is in its
section of plugins.md.

Run: python3 -m pytest -q tests/docs
"""
import re
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"
DOCS = ROOT / "docs"


def text(path):
    return (ROOT / path).read_text(encoding="utf-8")


def core(name):
    return (CORE / name).read_text(encoding="utf-8")


def section(md, heading):
    """The text of the markdown section whose heading line is `heading`
    (e.g. "## Audit log"), up to the next heading of the same or a higher
    level."""
    level = len(heading) - len(heading.lstrip("#"))
    m = re.search(r"^%s[ \t]*$" % re.escape(heading), md, re.M)
    assert m, "no section %r" % heading
    rest = md[m.end():]
    end = re.search(r"^#{1,%d} " % level, rest, re.M)
    return rest[: end.start()] if end else rest


def c_function(src, fn):
    m = re.search(r"^[^\n;]*\b%s\([^;{]*\)\n\{\n(.*?)^\}" % re.escape(fn), src, re.M | re.S)
    assert m, "cannot find %s" % fn
    return m.group(1)


# --- runbook -----------------------------------------------------------------------------


def serve_config_block():
    runbook = text("docs/runbook.md")
    prod = section(runbook, "## Production: `secretsd serve --config FILE`")
    m = re.search(r"```ini\n(.*?)```", prod, re.S)
    assert m, "no ini block in the runbook's Production section"
    keys, sect = set(), None
    for line in m.group(1).splitlines():
        h = re.match(r";?\[(\w+)(?: [^\]]*)?\]", line)
        if h:
            sect = h.group(1)
            continue
        k = re.match(r";?([a-z_]+) = ", line)
        if k and sect:
            keys.add((sect, k.group(1)))
    return keys


def test_every_config_key_is_in_the_runbook():
    accepted = set(re.findall(r'IS\("(\w+)",\s*"(\w+)"\)', core("config.c")))
    assert ("server", "audit_log") in accepted
    documented = serve_config_block()
    missing = sorted("[%s] %s" % k for k in accepted - documented)
    assert not missing, "config keys core/config.c accepts but the runbook's serve config lacks: %s" % missing
    unknown = sorted("[%s] %s" % k for k in documented - accepted
                     if not k[1].startswith("rate_limit_") and k[0] != "tenant")
    assert not unknown, "keys in the runbook's serve config that core/config.c does not accept: %s" % unknown


def test_every_command_and_option_is_in_the_runbook():
    """Each command of cli.c's usage() and each --option it lists."""
    body = c_function(core("cli.c"), "usage")
    commands = [" ".join(w for w in line.split()[:3] if re.fullmatch(r"[a-z]+", w))
                for line in re.findall(r'"\s*(secretsd [^"]*)"', body)]
    assert "secretsd backup" in commands and "secretsd restore" in commands, commands
    runbook = text("docs/runbook.md")
    missing = [c for c in commands if c not in runbook]
    assert not missing, "commands not in the runbook: %s" % missing
    options = set(re.findall(r"--[a-z][a-z-]*", body))
    assert {"--with-keys", "--keys-from"} <= options
    missing = sorted(o for o in options if o not in runbook)
    assert not missing, "options not in the runbook: %s" % missing


def test_crash_points_are_named_in_the_runbook():
    runbook = text("docs/runbook.md")
    points = set()
    for f in CORE.glob("*.c"):
        points |= set(re.findall(r'sd_crash_point\("(\w+)"\)', f.read_text(encoding="utf-8")))
    assert points, "no crash points found in core/"
    missing = sorted(p for p in points if "`%s`" % p not in runbook)
    assert not missing, "crash points not named in the runbook: %s" % missing
    assert "SECRETSD_CRASH_AT" in runbook and "make install" in runbook


def test_metrics_are_in_the_runbook():
    runbook = text("docs/runbook.md")
    names = set()
    for f in CORE.glob("*.c"):
        names |= set(re.findall(r"\b(secretsd_[a-z_]+)", f.read_text(encoding="utf-8")))
    families = {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}
    missing = sorted(m for m in families if m not in runbook)
    assert not missing, "metrics core/ renders that the runbook never names: %s" % missing


def databases():
    return set(re.findall(r'open_db\([^)]*"(\w+\.db)"', core("store.c")))


def test_every_database_is_listed():
    dbs = databases()
    assert "by_rotation.db" in dbs
    model = section(text("docs/data-model.md"), "## Data directory")
    runbook = section(text("docs/runbook.md"), "## Data directory")
    for name in sorted(dbs):
        assert name in model, "%s is not in data-model.md's data directory" % name
        assert name in runbook, "%s is not in the runbook's data directory" % name
    for doc in (model, runbook):
        listed = set(re.findall(r"\b(\w+\.db)\b", doc))
        assert listed <= dbs, "databases listed that store.c does not open: %s" % sorted(listed - dbs)


def test_webhook_protocol_is_the_code():
    src = core("rotation.c")
    runbook = section(text("docs/runbook.md"), "### The webhook protocol")
    for h in re.findall(r'"(X-Secretsd-[A-Za-z-]+):', src):
        assert h in runbook, "webhook header %s is not in the runbook" % h
    # the signature: HMAC-SHA256 over timestamp "." body, keyed with the 64 hex characters
    assert re.search(r'EVP_MAC_init\(mc, \(const unsigned char \*\)webhook_key, 64', src)
    assert re.search(r'EVP_MAC_update\(mc, \(const unsigned char \*\)"\.", 1\)', src)
    assert 'TIMESTAMP + "." + BODY' in runbook and "64 hex characters" in runbook
    # the receiver example computes it the same way
    example = re.search(r"```python\n(.*?)```", runbook, re.S).group(1)
    assert 'ts.encode() + b"." + body' in example and "hashlib.sha256" in example
    assert "compare_digest" in example


def test_rotation_hooks_are_in_the_runbook():
    body = c_function(core("rotation.c"), "hook_value")
    hooks = re.findall(r'strcmp\(j->hook,\s*"(\w+)"\)', body) + re.findall(r'strncmp\(j->hook,\s*"(\w+:)"', body)
    table = section(text("docs/runbook.md"), "### Hooks")
    for h in hooks:
        assert "`%s" % h in table, "hook %s is not in the runbook's Hooks" % h
    retry = int(re.search(r"#define RETRY_S (\d+)", core("rotation.c")).group(1))
    batch = int(re.search(r"#define DUE_BATCH (\d+)", core("rotation.c")).group(1))
    sched = section(text("docs/runbook.md"), "### Schedules")
    assert "%d s later" % retry in sched and "at most %d due rotations" % batch in sched


# --- data-model ---------------------------------------------------------------------------


ENC_TYPES = {"enc_u8": {"u8"}, "enc_u64": {"u64"}, "enc_str": {"str", "bytes"}, "enc_bytes": {"bytes"}}


def test_head_record_layout_is_store_c():
    src = core("store.c")
    fmt = int(re.search(r"#define HEAD_FORMAT (\d+)", src).group(1))
    calls = re.findall(r"\b(enc_\w+)\(&e,", c_function(src, "store_head_put"))
    head = section(text("docs/data-model.md"), "### Head (heads.db)")
    rows = re.findall(r"^\| (\d+) \| (\w+) \| (\w+) \|", head, re.M)
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == len(calls), "head record: %d fields in store_head_put, %d in data-model.md" % (len(calls), len(rows))
    for (n, field, typ), call in zip(rows, calls):
        assert typ in ENC_TYPES[call], "head field %s %s is written with %s" % (n, field, call)
    assert re.search(r"^\| 1 \| format \| u8 \| `%d` \|" % fmt, head, re.M), "head format is %d" % fmt


def test_version_states_are_store_h():
    enum = re.search(r"enum\s*\{([^}]*\bVERSION_ACTIVE\b[^}]*)\}", core("store.h")).group(1)
    states = {int(v): n[len("VERSION_"):].lower() for n, v in re.findall(r"\b(VERSION_\w+)\s*=\s*(\d+)", enum)}
    record = section(text("docs/data-model.md"), "### Version (versions.db)")
    row = re.search(r"^\| 2 \| state \| u8 \| (.*)\|$", record, re.M).group(1)
    documented = {int(v): n for v, n in re.findall(r"`(\d+)` (\w+)", row)}
    assert documented == states
    states_md = section(text("docs/data-model.md"), "## Version states and pruning")
    for name in states.values():
        assert "**%s**" % name in states_md, "version state %s is not explained" % name


def test_audit_fields_are_audit_c():
    src = core("audit.c")
    body = c_function(src, "emit")
    # the line is written member by member: member(&o, "name", value) or
    # jsonx_out_key(&o, "name") before a number
    keys = set(re.findall(r'(?:member|jsonx_out_key)\(&o, "([a-z_]+)"', body))
    assert {"time", "phase", "status", "method", "client"} <= keys, keys
    table = section(text("docs/data-model.md"), "## Audit log")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))
    assert documented == keys
    for phase in re.findall(r'emit\(r, "(\w+)"', src):
        assert "`%s`" % phase in table


def test_backup_format_is_backup_c():
    src = core("backup.c")
    magic = re.search(r'#define MAGIC "([^"]*)"', src).group(1)
    model = section(text("docs/data-model.md"), "## Backup file")
    assert "`%s`" % magic in model
    assert "| magic | %d |" % len(magic.encode().decode("unicode_escape")) in model
    for tag in re.findall(r'put\(&?o, "([A-Z])", 1\)', src):
        assert "`%s`" % tag in model


# --- plugins.md ---------------------------------------------------------------------------


def declared_settings(src):
    out = []
    for m in re.finditer(r"struct sd_setting \w+\[\] = \{(.*?)\n\};", src, re.S):
        out += re.findall(r'^\s*\{"(\w+)",', m.group(1), re.M)
    return out


@pytest.mark.parametrize("plugin", ["postgresql", "mysql", "aws_iam"])
def test_plugin_settings_are_documented(plugin):
    src = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "plugins" / plugin).glob("*.c")))
    names = declared_settings(src)
    assert names, "no settings found in plugins/%s" % plugin
    doc = section(text("docs/plugins.md"), "## %s" % plugin)
    missing = [n for n in names if "`%s`" % n not in doc]
    assert not missing, "settings of %s not in its section of plugins.md: %s" % (plugin, missing)
    rotates = re.search(r"\.rotate\s*=\s*(\w+)", src).group(1) != "NULL"
    if plugin == "aws_iam":
        assert not rotates and "no `rotate`" in doc
    else:
        assert rotates and "Static accounts" in doc


def test_sigv4_functions_are_documented():
    header = text("sdk/include/secretsd/sigv4.h")
    fns = re.findall(r"SDK_API [^(]*?\b(sdk_\w+)\(", header)
    assert fns
    doc = text("docs/plugins.md")
    missing = [f for f in fns if "`%s" % f not in doc]
    assert not missing, "SigV4 functions not in plugins.md: %s" % missing
