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

COND_LABEL = {
    "bare": "bare (no daemon on this fs)",
    "bare2": "bare again, other fs (noise)",
    "cached": "cached verdict (ignore mark)",
    "miss": "miss, stored verdict",
    "fresh": "miss, new content (hash)",
    "written": "new binary, exec right after close",
    "scan": "miss + ClamAV scan",
    "roundtrip": "round-trip gate",
}
COND_ORDER = ["bare", "bare2", "cached", "miss", "fresh", "written", "scan", "roundtrip"]
STORM_ORDER = ["bare", "bare2", "cached", "roundtrip"]
TARGETS = ["static", "dynamic"]


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


def exec_section(rows, scan_reason, scan_decisions):
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
            if c == "scan" and scan_decisions is not None and scan_decisions == 0:
                entry["status"] = "n/a"
                entry["reason"] = "no decision in the scanning daemon's log came from the scanner"
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


def target_rows(ex, storm, startup):
    """Each target with its value and, for ratios, the same ratio of bare2
    to bare: how far from 1.00 this run's noise alone moves a ratio."""
    rows = []

    def add(what, value, limit, unit="x", noise=None):
        met = None if value is None else value <= limit
        rows.append({"what": what, "target": f"<= {limit}{unit}", "value": value, "met": met,
                     "noise_bare2_vs_bare": noise})

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
    s = startup.get("100k") or {}
    add("start-up to ready, 100k verdicts", s.get("ready_ms_median"), 20, " ms")
    rss = s.get("rss_kb_median")
    add("RSS after start, 100k verdicts", None if rss is None else round(rss / 1024, 2), 8, " MB")
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
          "ignore mark is on the inode)")
    for t in TARGETS:
        c = cv.get(t)
        if not c:
            print(f"  {t:8} (no result)")
        elif c.get("status") == "ok":
            print(f"  {t:8} median {c['median_ms']:.3f} ms, max {c['max_ms']:.3f} ms over "
                  f"{c['n']} files")
        else:
            print(f"  {t:8} n/a: {c.get('reason')} (detector self-check after an exec: "
                  f"{'ok' if c.get('detector_ok') else 'FAILED'})")
    if counters:
        print("\ndaemon counters after the exec phases (sanity: where the execs were answered)")
        for name, c in counters.items():
            print(f"  {name:6} perm_events={c.get('perm_events')} "
                  f"ignore_marks_added={c.get('ignore_marks_added')} "
                  f"flushes={c.get('kernel_cache_flushes')} prescans={c.get('prescans')} "
                  f"first_execs_kernel_hits={c.get('first_execs_kernel_hits')}/"
                  f"{c.get('first_execs_prejudged')} "
                  f"decision_us p50/p99={c.get('latency_p50_us')}/{c.get('latency_p99_us')}")


def print_targets(rows):
    print("\ntargets (printed, not asserted; noise = the same ratio for bare2 vs bare)")
    for r in rows:
        v = "-" if r["value"] is None else r["value"]
        m = "n/a" if r["met"] is None else ("met" if r["met"] else "MISSED")
        n = r.get("noise_bare2_vs_bare")
        n = f"noise {n}" if n is not None else ""
        print(f"  {r['what']:38} {r['target']:22} {str(v):>7}  {m:7} {n}")


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
    for name in ["cache", "miss", "rt", "scan"]:
        s = read_json(os.path.join(out, f"status-{name}.json"))
        if s:
            counters[name] = {k: s.get(k) for k in [
                "kernel_mode", "kernel_mode_why", "perm_events", "allows", "denies", "timeouts",
                "overloads", "ignore_marks_added", "kernel_cache_flushes", "prescans",
                "first_execs_prejudged", "first_execs_kernel_hits", "latency_p50_us",
                "latency_p99_us"]}
    return sha, startup, counters


def main():
    out, dest = sys.argv[1], sys.argv[2]
    cfg = kv_file(os.path.join(out, "config.txt"))
    host = kv_file(os.path.join(out, "host.txt"))
    rounds = cfg.get("rounds", "?")
    scan_reason = read_text(os.path.join(out, "scan_reason.txt")) or "scanner run gave no result"
    sd = read_text(os.path.join(out, "scan_decisions.txt"))
    ex, p1 = exec_section(read_json(os.path.join(out, "exec.jsonl"), many=True), scan_reason,
                          int(sd) if sd.isdigit() else None)
    storm, p2 = storm_section(read_json(os.path.join(out, "storm.jsonl"), many=True))
    sha, startup, counters = load_side(out)
    cv = {t: read_json(os.path.join(out, f"close_verdict_{t}.json")) or
          {"status": "n/a", "reason": "the probe gave no result"} for t in TARGETS}
    targets = target_rows(ex, storm, startup)
    kmode = counters.get("cache", {}).get("kernel_mode", "?")
    results = {
        "schema": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": dict(host, kernel_mode=kmode,
                     kernel_mode_why=counters.get("cache", {}).get("kernel_mode_why")),
        "config": cfg,
        "exec": ex,
        "storm": storm,
        "sha256": sha,
        "startup": startup,
        "close_to_verdict": cv,
        "daemon_counters": counters,
        "targets": targets,
        "problems": p1 + p2,
    }
    print(f"gatekeeper bench {results['date']}: kernel {host.get('kernel', '?')}, "
          f"{host.get('cpus', '?')} CPUs, kernel_mode {kmode}, load average "
          f"{host.get('loadavg_start', '?')} at start, {host.get('loadavg_end', '?')} at end")
    if ex:
        print_exec(ex, rounds)
    print_storm(storm, cfg.get("storm_rounds", "?"))
    print_rest(sha, startup, cv, counters)
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
