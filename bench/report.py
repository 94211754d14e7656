#!/usr/bin/env python3
"""Turn the raw output of bench/run.sh into a table (stdout) and results.json.

    report.py OUT_DIR RESULTS_JSON

Ratios are always against a baseline measured in the same run; targets are
printed next to the figures, never asserted. Exit 1 only when the harness
could not measure (missing output, failed execs)."""
import json
import os
import statistics
import sys
import time

import paired

COND_LABEL = {
    "bare": "bare (no daemon on this fs)",
    "bare2": "bare again, other fs (noise)",
    "cached": "cached verdict (ignore mark)",
    "barectl": "bare after the miss's ctl allow",
    "miss": "miss, stored verdict *",
    "fresh": "miss, new content (hash)",
    "written": "new binary, exec right after close",
    "scan": "miss + ClamAV scan",
    "roundtrip": "round-trip gate",
    "raw": "raw fanotify round trip",
}
COND_ORDER = ["bare", "bare2", "cached", "barectl", "miss", "fresh", "written", "scan", "roundtrip", "raw"]
STORM_ORDER = ["bare", "bare2", "cached", "roundtrip"]
TARGETS = ["static", "dynamic"]
CV_LABEL = {
    "static": "static (750 KB)",
    "dynamic": "dynamic (16 KB)",
    "static-1MB": "static padded to 1 MiB",
    "static-1MB-clamav": "1 MiB, ClamAV-scanning daemon",
}
CV_ORDER = list(CV_LABEL)
COUNTER_KEYS = [
    "kernel_mode", "kernel_mode_why", "scanners", "events", "perm_events", "allows", "denies",
    "timeouts", "overloads", "ignore_marks_added", "kernel_cache_flushes", "prescans",
    "prescan_coalesced", "prescan_dropped", "first_execs_prejudged", "first_execs_kernel_hits",
    "leases_held", "lease_breaks", "leases_refused", "latency_p50_us", "latency_p99_us"]


def read_json(path, many=False):
    try:
        with open(path) as f:
            if many:
                return [json.loads(line) for line in f if line.strip()]
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def kv_file(path):
    out = {}
    for line in read_text(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def round_ratio_range(rows, base):
    """Per-round median ratios: how much the ratio moves from round to round."""
    pairs = [a / b for a, b in zip(rows.get("round_medians_us", []),
                                   base.get("round_medians_us", [])) if a and b]
    if not pairs:
        return None
    return [round(min(pairs), 3), round(statistics.median(pairs), 3), round(max(pairs), 3)]


def exec_section(rows, scan_reason, scan_decisions, warmup):
    by_name = {r["name"]: r for r in rows or []}
    section, problems = {}, []
    for t in TARGETS:
        base = by_name.get(f"bare-{t}")
        rt = by_name.get(f"roundtrip-{t}")
        section[t] = {}
        for c in COND_ORDER:
            r = by_name.get(f"{c}-{t}")
            if r is None:
                reason = scan_reason if c == "scan" else "not measured (see the run's errors)"
                section[t][c] = {"status": "n/a", "reason": reason}
                if c != "scan":
                    problems.append(f"exec {c}-{t}: no result")
                continue
            entry = dict(r)
            entry["status"] = "ok"
            if r["failed"]:
                entry["status"] = "error"
                problems.append(f"exec {r['name']}: {r['failed']} failed execs ({r['first_failure']})")
            if c == "scan":
                # Every exec, warm-ups included, is new content that only a
                # clean scan can allow: one scanner decision each.
                rounds = len(r.get("round_medians_us", []))
                entry["execs_needing_a_scan"] = r["n"] + r["failed"] + rounds * warmup
                entry["scanner_decisions_in_log_both_targets"] = scan_decisions
                if not scan_decisions:
                    entry["status"] = "n/a"
                    entry["reason"] = "no decision in the scanning daemon's log came from the scanner"
            # The miss's execs each follow a gatekeeper-ctl run: its baseline
            # is a bare exec after the same run (older runs: plain bare).
            base = by_name.get(f"bare-{t}")
            if c == "miss" and by_name.get(f"barectl-{t}", {}).get("n"):
                base = by_name[f"barectl-{t}"]
                entry["baseline"] = "barectl"
            if base and r.get("n"):
                entry["ratio_bare_median"] = ratio(r["median_us"], base["median_us"])
                entry["ratio_bare_p99"] = ratio(r["p99_us"], base["p99_us"])
                entry["ratio_bare_min"] = ratio(r["min_us"], base["min_us"])
                entry["overhead_median_us"] = round(r["median_us"] - base["median_us"], 1)
                entry["ratio_bare_per_round"] = round_ratio_range(r, base)
            if rt and r.get("n"):
                entry["ratio_roundtrip_median"] = ratio(r["median_us"], rt["median_us"])
                entry["ratio_roundtrip_p99"] = ratio(r["p99_us"], rt["p99_us"])
            section[t][c] = entry
    return section, problems


def storm_section(rows):
    by_name = {r["name"]: r for r in rows or []}
    section, problems = {}, []
    for t in TARGETS:
        base = by_name.get(f"bare-{t}")
        section[t] = {}
        for c in STORM_ORDER:
            r = by_name.get(f"{c}-{t}")
            if r is None:
                problems.append(f"storm {c}-{t}: no result")
                continue
            entry = dict(r)
            entry["status"] = "error" if r["failed"] else "ok"
            if r["failed"]:
                problems.append(f"storm {r['name']}: {r['failed']} failed execs")
            if base and r.get("n"):
                entry["ratio_bare_median"] = ratio(r["median_us"], base["median_us"])
                entry["ratio_bare_p99"] = ratio(r["p99_us"], base["p99_us"])
            section[t][c] = entry
    return section, problems


BUILD_DELTAS = ["perm_events", "allows", "denies", "prescans", "prescan_coalesced",
                "prescan_dropped", "first_execs_prejudged", "first_execs_kernel_hits",
                "ignore_marks_added", "lease_breaks"]


def build_totals(gated):
    """Counter deltas and kernel-hit shares over a list of gated builds."""
    total = {k: sum(r.get("delta", {}).get(k, 0) for r in gated) for k in BUILD_DELTAS}
    ran = sum(r.get("ran", 0) for r in gated)
    sec = {"builds": len(gated), "programs_run": ran, "counters": total,
           "wall_ms_median": statistics.median(r["ms"] for r in gated)}
    if ran:
        sec["kernel_hit_share"] = round(total["first_execs_kernel_hits"] / ran, 3)
        # The same share as the permission events see it: on this fs only
        # the built programs are executed, and each exec of one that missed
        # the kernel cache raised exactly one.
        sec["kernel_hit_share_by_perm_events"] = round(max(ran - total["perm_events"], 0) / ran, 3)
    return sec


def build_section(out):
    """make -j2 builds into the watched tree: counter deltas per gated build,
    wall time against the same builds on a daemon-less fs."""
    runs, problems = [], []
    for line in read_text(os.path.join(out, "build.txt")).splitlines():
        r = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        r = {k: (int(v) if v.lstrip("-").isdigit() else v) for k, v in r.items()}
        if r.get("rc") != 0 or r.get("ran") != r.get("programs"):
            problems.append(f"build {r.get('fs')} {r.get('id')}: make exit {r.get('rc')}, "
                            f"{r.get('ran')} of {r.get('programs')} programs ran")
        if r.get("fs") == "build":
            before = read_json(os.path.join(out, f"build-{r['id']}-before.json")) or {}
            after = read_json(os.path.join(out, f"build-{r['id']}-after.json")) or {}
            r["delta"] = {k: after[k] - before[k] for k in BUILD_DELTAS
                          if isinstance(after.get(k), int) and isinstance(before.get(k), int)}
        runs.append(r)
    gated = [r for r in runs if r.get("fs") == "build" and r.get("linker") == "default"]
    gold = [r for r in runs if r.get("fs") == "build" and r.get("linker") == "gold"]
    bare = [r for r in runs if r.get("fs") == "buildbare"]
    if not gated:
        return {"status": "n/a", "reason": "no gated build ran", "runs": runs}, \
            problems or ["build: no result"]
    sec = dict(build_totals(gated), status="ok", runs=runs)
    if bare:
        b = statistics.median(r["ms"] for r in bare)
        sec["bare_wall_ms_median"] = b
        sec["ratio_bare_wall"] = ratio(sec["wall_ms_median"], b)
    if gold:
        sec["linked_by_gold"] = build_totals(gold)
    return sec, problems


def paired_gap(ex, cond):
    """The gap to the raw round trip, paired by round: the median over rounds
    of (gate - its baseline) - (raw - bare), each term a median of that
    round's block. A round's drift moves all four blocks alike and cancels;
    the pooled figure above subtracts two medians of 30 rounds each."""
    s = ex.get("static", {})
    base = "barectl" if s.get(cond, {}).get("baseline") == "barectl" else "bare"
    rows = [s.get(c, {}).get("round_medians_us") or [] for c in (cond, base, "raw", "bare")]
    if not all(rows) or len({len(r) for r in rows}) != 1:
        return None
    return round(statistics.median(g - b - (r - a) for g, b, r, a in zip(*rows)), 1)


def target_rows(ex, storm, startup, cv, build):
    """Each target with its value and, for ratios, the same ratio of bare2
    to bare: how far from 1.00 this run's noise alone moves a ratio."""
    rows = []

    def add(what, value, limit, unit="x", noise=None, at_least=False):
        met = None if value is None else (value >= limit if at_least else value <= limit)
        rows.append({"what": what, "target": f"{'>=' if at_least else '<='} {limit}{unit}",
                     "value": value, "met": met, "noise_bare2_vs_bare": noise})

    for t in TARGETS:
        c = ex.get(t, {}).get("cached", {})
        n = ex.get(t, {}).get("bare2", {})
        add(f"cached exec, {t}: median vs bare", c.get("ratio_bare_median"), 1.01,
            noise=n.get("ratio_bare_median"))
        add(f"cached exec, {t}: p99 vs bare", c.get("ratio_bare_p99"), 1.05,
            noise=n.get("ratio_bare_p99"))
    for t in TARGETS:
        c = storm.get(t, {}).get("cached", {})
        n = storm.get(t, {}).get("bare2", {})
        add(f"storm cached, {t}: p99 vs bare", c.get("ratio_bare_p99"), 1.05,
            noise=n.get("ratio_bare_p99"))
    for c in ("miss", "roundtrip"):
        r = ex.get("static", {}).get(c, {})
        raw = ex.get("static", {}).get("raw", {})
        what = "miss with a known verdict" if c == "miss" else "round-trip gate"
        vs = "bare after ctl" if r.get("baseline") == "barectl" else "bare"
        add(f"{what}, static: median vs {vs}", r.get("ratio_bare_median"), 1.05,
            noise=ex.get("static", {}).get("bare2", {}).get("ratio_bare_median"))
        per_round = r.get("ratio_bare_per_round") or [None] * 3
        add(f"{what}, static: median of per-round x {vs}", per_round[1], 1.05,
            noise=(ex.get("static", {}).get("bare2", {}).get("ratio_bare_per_round") or [None] * 3)[1])
        gap = None
        if r.get("overhead_median_us") is not None and raw.get("overhead_median_us") is not None:
            # what each adds to its own baseline (the miss's: bare after ctl)
            gap = round(r["overhead_median_us"] - raw["overhead_median_us"], 1)
        add(f"{what}, static: +us minus the raw round trip's", gap, 15, " us")
        add(f"{what}, static: +us over raw, paired by round", paired_gap(ex, c), 15, " us")
    s = startup.get("100k") or {}
    add("start-up to ready, 100k verdicts", s.get("ready_ms_median"), 20, " ms")
    rss = s.get("rss_kb_median")
    add("RSS after start, 100k verdicts", None if rss is None else round(rss / 1024, 2), 8, " MB")
    c = cv.get("static-1MB") or {}
    add("close-to-verdict, new 1 MiB ELF: median", c.get("median_ms"), 5, " ms")
    add("close-to-verdict, new 1 MiB ELF: p99", c.get("p99_ms"), 5, " ms")
    add("make -j2: first-exec kernel hits, by counter", build.get("kernel_hit_share"), 0.95,
        unit="", at_least=True)
    add("make -j2: first-exec kernel hits, by perm events",
        build.get("kernel_hit_share_by_perm_events"), 0.95, unit="", at_least=True)
    st = ex.get("static", {}).get("cached", {}).get("ratio_bare_median")
    dy = ex.get("dynamic", {}).get("cached", {}).get("ratio_bare_median")
    if st is not None and dy is not None:
        # "as close to 1.00 as the static one's", within one percentage point
        rows.append({"what": "dynamic cached median as close to 1 as static",
                     "target": f"|d-1| <= |s-1|+0.01, s={st}", "value": dy,
                     "met": abs(dy - 1) <= abs(st - 1) + 0.01, "noise_bare2_vs_bare": None})
    return rows


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def print_exec(ex, rounds):
    print(f"\nexec latency: posix_spawn+waitpid, {rounds} interleaved rounds; us")
    hdr = f"{'target':8} {'condition':34} {'n':>5} {'median':>8} {'p99':>8} {'x bare':>7} " \
          f"{'x bare':>6} {'x bare':>6} {'+us':>7} {'x rt':>5}  {'per-round x bare':>16}"
    print(hdr)
    print(f"{'':8} {'':34} {'':>5} {'':>8} {'':>8} {'median':>7} {'p99':>6} {'min':>6} "
          f"{'median':>7} {'med.':>5}  {'min/median/max':>16}")
    for t in TARGETS:
        for c in COND_ORDER:
            e = ex[t][c]
            if e["status"] == "n/a" and "median_us" not in e:
                print(f"{t:8} {COND_LABEL[c]:34} n/a: {e['reason']}")
                continue
            rr = e.get("ratio_bare_per_round")
            rr = "/".join(f"{x:.2f}" for x in rr) if rr else "-"
            flag = "" if e["status"] == "ok" else f"  [{e['status'].upper()}]"
            print(f"{t:8} {COND_LABEL[c]:34} {e['n']:>5} {fmt(e['median_us']):>8} "
                  f"{fmt(e['p99_us']):>8} {fmt(e.get('ratio_bare_median'), 3):>7} "
                  f"{fmt(e.get('ratio_bare_p99'), 2):>6} {fmt(e.get('ratio_bare_min'), 3):>6} "
                  f"{fmt(e.get('overhead_median_us')):>7} "
                  f"{fmt(e.get('ratio_roundtrip_median'), 2):>5}  {rr:>16}{flag}")
    print("  * against \"bare after the miss's ctl allow\", not bare: each miss exec follows an "
          "untimed gatekeeper-ctl run,\n    whose after-effects (a process start and exit, "
          "cold caches) slow the next exec with or without a gate")


def print_storm(storm, rounds):
    print(f"\nexec storm: 4 parallel spawners + 1 CPU-bound hog, {rounds} rounds; us")
    print(f"{'target':8} {'condition':34} {'n':>5} {'p50':>8} {'p99':>8} {'x bare':>7} {'x bare':>6}")
    print(f"{'':8} {'':34} {'':>5} {'':>8} {'':>8} {'p50':>7} {'p99':>6}")
    for t in TARGETS:
        for c in STORM_ORDER:
            e = storm.get(t, {}).get(c)
            if not e:
                print(f"{t:8} {COND_LABEL[c]:34} (no result)")
                continue
            print(f"{t:8} {COND_LABEL[c]:34} {e['n']:>5} {fmt(e['median_us']):>8} "
                  f"{fmt(e['p99_us']):>8} {fmt(e.get('ratio_bare_median'), 3):>7} "
                  f"{fmt(e.get('ratio_bare_p99'), 2):>6}")


def print_rest(sha, startup, cv, counters):
    print("\nSHA-256 (the daemon's way: OpenSSL EVP, 1 MiB pread chunks) vs sha256sum; ms, median")
    print(f"{'size':8} {'EVP':>9} {'MB/s':>7} {'sha256sum':>10} {'of which start':>15} "
          f"{'EVP/sha256sum':>14}")
    for k in ["1MB", "100MB"]:
        s = sha.get(k)
        if not s:
            print(f"{k:8} (no result)")
            continue
        print(f"{k:8} {s['evp_ms']:>9.3f} {s['evp_mb_s']:>7.0f} {s['sha256sum_ms']:>10.3f} "
              f"{s['sha256sum_startup_ms']:>15.3f} {s['ratio_evp_sha256sum']:>14.3f}")
    print("\ndaemon start-up (spawn until `status` answers) and memory, ClamAV off")
    print(f"{'store':22} {'runs':>5} {'ready ms':>9} {'status ms':>10} {'VmRSS MB':>9} "
          f"{'VmHWM MB':>9} {'anon MB':>8} {'file MB':>8}")
    for k, label in [("100k", "100k stored verdicts"), ("empty", "empty store"),
                     ("100k-nobpf", "100k, --no-bpf")]:
        s = startup.get(k)
        if not s:
            print(f"{label:22} (no result)")
            continue
        print(f"{label:22} {s['runs']:>5} {s['ready_ms_median']:>9.2f} "
              f"{s.get('status_ms_median', -1):>10.2f} {s['rss_kb_median'] / 1024:>9.2f} {s['hwm_kb_median'] / 1024:>9.2f} "
              f"{s.get('rss_anon_kb_median', 0) / 1024:>8.2f} "
              f"{s.get('rss_file_kb_median', 0) / 1024:>8.2f}")
    print("\nclose-to-verdict of a newly written binary (close() until the exec gate's "
          "ignore mark is on the inode); ms")
    print(f"  {'file':32} {'n':>3} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for t in CV_ORDER:
        c = cv.get(t)
        if not c:
            print(f"  {CV_LABEL[t]:32} (no result)")
        elif c.get("status") == "ok":
            print(f"  {CV_LABEL[t]:32} {c['n']:>3} {c['median_ms']:>8.3f} "
                  f"{c.get('p90_ms', -1):>8.3f} {c.get('p99_ms', -1):>8.3f} {c['max_ms']:>8.3f}")
        else:
            print(f"  {CV_LABEL[t]:32} n/a: {c.get('reason')} (detector self-check after an "
                  f"exec: {'ok' if c.get('detector_ok') else 'FAILED'})")
    if counters:
        print("\ndaemon counters after the exec phases (sanity: where the execs were answered)")
        for name, c in counters.items():
            print(f"  {name:6} perm_events={c.get('perm_events')} "
                  f"ignore_marks_added={c.get('ignore_marks_added')} "
                  f"flushes={c.get('kernel_cache_flushes')} prescans={c.get('prescans')} "
                  f"first_execs_kernel_hits={c.get('first_execs_kernel_hits')}/"
                  f"{c.get('first_execs_prejudged')} "
                  f"leases_held={c.get('leases_held')} lease_breaks={c.get('lease_breaks')} "
                  f"decision_us p50/p99={c.get('latency_p50_us')}/{c.get('latency_p99_us')}")
            for line in c.get("scanners") or []:
                print(f"  {'':6} scanner {line}")


def print_scan(ex):
    entries = [ex[t]["scan"] for t in TARGETS if "execs_needing_a_scan" in ex[t]["scan"]]
    if not entries:
        return
    print(f"  miss + ClamAV scan: {entries[0]['scanner_decisions_in_log_both_targets']} "
          f"source=scanner decisions in the scanning daemon's log for "
          f"{sum(e['execs_needing_a_scan'] for e in entries)} execs of new content, warm-ups "
          f"included (its default is deny: an exec ran only if a clean scan allowed it)")


def print_build_totals(label, b):
    c = b["counters"]
    print(f"  {label}: {b['builds']} builds, built programs run {b['programs_run']}; "
          f"first_execs_kernel_hits {c['first_execs_kernel_hits']} "
          f"(prejudged {c['first_execs_prejudged']}), perm_events {c['perm_events']}, "
          f"prescans {c['prescans']} (coalesced {c['prescan_coalesced']}, "
          f"dropped {c['prescan_dropped']}), lease_breaks {c['lease_breaks']}")
    print(f"  {'':{len(label)}}  kernel-hit share {b.get('kernel_hit_share')} by "
          f"first_execs_kernel_hits, {b.get('kernel_hit_share_by_perm_events')} by "
          f"permission events")


def print_build(b):
    print("\nmake -j2 of a generated C project into the watched tree (default allow, enforce): "
          "20 programs per build, each run once right after its link")
    if b.get("status") != "ok":
        print(f"  n/a: {b.get('reason')}")
        return
    print_build_totals("GNU ld (bfd)", b)
    if b.get("linked_by_gold"):
        print_build_totals("gold (cross-check)", b["linked_by_gold"])
    print(f"  wall time per build, median: {b['wall_ms_median']} ms gated, "
          f"{b.get('bare_wall_ms_median', '-')} ms bare (x bare {b.get('ratio_bare_wall', '-')})")


def print_targets(rows):
    print("\ntargets (printed, not asserted; noise = the same ratio for bare2 vs bare)")
    for r in rows:
        v = "-" if r["value"] is None else r["value"]
        m = "n/a" if r["met"] is None else ("met" if r["met"] else "MISSED")
        n = r.get("noise_bare2_vs_bare")
        n = f"noise {n}" if n is not None else ""
        if r.get("ci95"):
            n = f"95% [{r['ci95'][0]}, {r['ci95'][1]}]: {r['settled']}"
        print(f"  {r['what']:48} {r['target']:22} {str(v):>7}  {m:7} {n}")


def load_side(out):
    sha = {}
    for k in ["1MB", "100MB"]:
        s = read_json(os.path.join(out, f"sha_{k}.json"))
        if s:
            s["ratio_evp_sha256sum"] = round(s["evp_ms"] / s["sha256sum_ms"], 3)
            sha[k] = s
    check = read_text(os.path.join(out, "sha_check.txt")).split()
    if len(check) == 2 and sha.get("1MB"):
        sha["digests_agree_with_sha256sum"] = check[0] == sha["1MB"]["sha256"]
    startup = {k: read_json(os.path.join(out, f"startup_{k}.json"))
               for k in ["100k", "empty", "100k-nobpf"]}
    startup = {k: v for k, v in startup.items() if v}
    counters = {}
    for name in ["cache", "miss", "rt", "scan", "build"]:
        s = read_json(os.path.join(out, f"status-{name}.json"))
        if s:
            counters[name] = {k: s.get(k) for k in COUNTER_KEYS}
    return sha, startup, counters


def scanner_process(out):
    """The privilege-separated scanner: the scanning daemon's memory, and
    scan_bench's in-process vs gatekeeper-scand figures (same run)."""
    mem = {k: int(v) for k, v in kv_file(os.path.join(out, "scan_daemon_memory.txt")).items()
           if v.lstrip("-").isdigit()}
    bench = {}
    for line in read_text(os.path.join(out, "scan_bench.txt")).splitlines():
        k, _, v = line.partition(": ")
        try:
            bench[k] = float(v)
        except ValueError:
            pass
    keep = ["small_file_bytes", "inprocess_small_file_us_p50", "process_small_file_us_p50",
            "scan_process_overhead_small_file_us_p50", "inprocess_1thread_latency_us_p50",
            "process_1thread_latency_us_p50", "scan_process_overhead_us_p50",
            "clamav_nthreads_seconds", "process_nthreads_seconds", "rss_mib_after_load",
            "rss_mib_caller_with_process_engine"]
    return {"daemon_memory": mem, "scan_bench": {k: bench[k] for k in keep if k in bench}}


def print_scanner_process(sp):
    m, b = sp["daemon_memory"], sp["scan_bench"]
    print("\nscanner process (libclamav in gatekeeper-scand):")
    if m:
        print(f"  scanning daemon: RSS {m.get('daemon_rss_kb', 0) / 1024:.2f} MB, peak "
              f"{m.get('daemon_hwm_kb', 0) / 1024:.2f} MB, libclamav mappings "
              f"{m.get('daemon_maps_libclamav')}; {m.get('scanner_processes')} scanner "
              f"processes, {m.get('scanner_rss_kb_sum', 0) / 1024:.1f} MB RSS together")
    if b:
        print(f"  per scan, {b.get('small_file_bytes', 0):.0f}-byte file (clean cache): in process "
              f"{b.get('inprocess_small_file_us_p50')} us, separated "
              f"{b.get('process_small_file_us_p50')} us p50: +"
              f"{b.get('scan_process_overhead_small_file_us_p50')} us")
        print(f"  per scan, ELF files of /usr/bin: in process "
              f"{b.get('inprocess_1thread_latency_us_p50')} us, separated "
              f"{b.get('process_1thread_latency_us_p50')} us p50")


def main():
    out, dest = sys.argv[1], sys.argv[2]
    cfg = kv_file(os.path.join(out, "config.txt"))
    host = kv_file(os.path.join(out, "host.txt"))
    rounds = cfg.get("rounds", "?")
    scan_reason = read_text(os.path.join(out, "scan_reason.txt")) or "scanner run gave no result"
    sd = read_text(os.path.join(out, "scan_decisions.txt"))
    ex, p1 = exec_section(read_json(os.path.join(out, "exec.jsonl"), many=True), scan_reason,
                          int(sd) if sd.isdigit() else None, int(cfg.get("warmup", 5)))
    storm, p2 = storm_section(read_json(os.path.join(out, "storm.jsonl"), many=True))
    sha, startup, counters = load_side(out)
    cv = {t: read_json(os.path.join(out, f"close_verdict_{t}.json")) or
          {"status": "n/a", "reason": "the probe gave no result"} for t in CV_ORDER}
    build, p3 = build_section(out)
    mount_mark = read_json(os.path.join(out, "mount_mark.json")) or {
        "status": "n/a", "reason": read_text(os.path.join(out, "mount_mark.err"))[:200]}
    pair = paired.section(read_json(os.path.join(out, "paired.jsonl"), many=True))
    targets = target_rows(ex, storm, startup, cv, build) + paired.target_rows(pair)
    sp = scanner_process(out)
    rss = sp["daemon_memory"].get("daemon_rss_kb")
    targets.append({"what": "RSS of the ClamAV-scanning daemon after its scans", "target": "<= 8 MB",
                    "value": None if rss is None else round(rss / 1024, 2),
                    "met": None if rss is None else rss <= 8 * 1024, "noise_bare2_vs_bare": None})
    kmode = counters.get("cache", {}).get("kernel_mode", "?")
    results = {
        "schema": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": dict(host, kernel_mode=kmode,
                     kernel_mode_why=counters.get("cache", {}).get("kernel_mode_why")),
        "config": cfg,
        "exec": ex,
        "storm": storm,
        "paired": pair,
        "sha256": sha,
        "startup": startup,
        "close_to_verdict": cv,
        "build": build,
        "mount_to_mark": mount_mark,
        "daemon_counters": counters,
        "scanner_process": sp,
        "targets": targets,
        "problems": p1 + p2 + p3 + pair.get("problems", []),
    }
    print(f"gatekeeper bench {results['date']}: kernel {host.get('kernel', '?')}, "
          f"{host.get('cpus', '?')} CPUs, kernel_mode {kmode}, load average "
          f"{host.get('loadavg_start', '?')} at start, {host.get('loadavg_end', '?')} at end")
    if ex:
        print_exec(ex, rounds)
        print_scan(ex)
    paired.print_section(pair, cfg.get("paired_rounds", "?"))
    print_storm(storm, cfg.get("storm_rounds", "?"))
    print_rest(sha, startup, cv, counters)
    print_build(build)
    if "median_us" in mount_mark:
        print(f"\nmount to mark (a tmpfs mounted under the watch, until every group marks it; "
              f"{mount_mark['rounds']} rounds): median {mount_mark['median_us']:.0f} us, "
              f"p90 {mount_mark['p90_us']:.0f} us, max {mount_mark['max_us']:.0f} us")
    else:
        print(f"\nmount to mark: n/a ({mount_mark.get('reason', '')})")
    print_scanner_process(sp)
    print_targets(targets)
    for p in results["problems"]:
        print(f"PROBLEM: {p}")
    with open(dest, "w") as f:
        json.dump(results, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"\nwrote {dest}")
    return 1 if results["problems"] or not startup or not sha else 0


if __name__ == "__main__":
    sys.exit(main())
