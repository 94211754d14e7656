#!/usr/bin/env python3
"""Tabulate make vmbench: the GKBENCH lines of each guest's console log.

    vm-report.py RESULTS_JSON RUN=CONSOLE_LOG:RELEASE_FILE...

Prints a table per kernel and writes RESULTS_JSON. Ratios are against bare
exec measured in the same boot, in the same interleaved rounds. Exit 1 only
when something could not be measured (no output, a failed exec, a daemon
not in the mode it was started for)."""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CONDS = ["bare", "bare2", "cached", "fanotify", "roundtrip"]
LABEL = {
    "noprog": "bare, before any daemon (control)",
    "bare": "bare (no daemon on this fs)",
    "bare2": "bare again, other fs (noise)",
    "cached": "cached verdict, bpf mode",
    "fanotify": "cached verdict, fanotify-only",
    "roundtrip": "round-trip gate",
}
TARGETS = ["static", "dynamic"]
WANT_MODE = {"cached": "bpf", "fanotify": "fanotify", "roundtrip": "off"}
DELTA_KEYS = ["events", "perm_events", "allows", "denies", "kernel_allows", "kernel_denies",
              "kernel_invalidations", "kernel_cache_flushes", "ignore_marks_added"]


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def per_round(row, base):
    pairs = [a / b for a, b in zip(row.get("round_medians_us", []),
                                   base.get("round_medians_us", [])) if a and b]
    if not pairs:
        return None
    return [round(min(pairs), 3), round(statistics.median(pairs), 3), round(max(pairs), 3)]


def parse_console(path):
    """The GKBENCH lines of one console log, by kind."""
    got = {"control": [], "exec": [], "storm": [], "mode": {}, "before": {}, "after": {},
           "comments": []}
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.replace("\r", "").rstrip("\n")
            if "GKTAP # vmbench:" in line:
                got["comments"].append(line.split("GKTAP # ", 1)[1])
            if "GKBENCH " not in line:
                continue
            kind, _, rest = line.split("GKBENCH ", 1)[1].partition(" ")
            try:
                if kind in ("control", "exec", "storm"):
                    got[kind].append(json.loads(rest))
                elif kind == "mode":
                    name, _, mode = rest.partition(" ")
                    got["mode"][name] = mode.strip()
                elif kind in ("before", "after"):
                    name, _, obj = rest.partition(" ")
                    got[kind][name] = json.loads(obj)
            except ValueError:
                got.setdefault("unparsed", []).append(line[:200])
    return got


def section(rows, control, problems, what):
    by = {r["name"]: r for r in rows}
    out = {}
    for t in TARGETS:
        base, rt = by.get(f"bare-{t}"), by.get(f"roundtrip-{t}")
        out[t] = {}
        entries = [(c, by.get(f"{c}-{t}")) for c in CONDS]
        if control is not None:
            entries.insert(0, ("noprog", {r["name"]: r for r in control}.get(f"bare-{t}")))
        for c, r in entries:
            if r is None:
                problems.append(f"{what} {c}-{t}: no result")
                continue
            e = dict(r)
            if r.get("failed"):
                problems.append(f"{what} {c}-{t}: {r['failed']} failed execs ({r['first_failure']})")
            if base and r.get("n") and c != "bare":
                e["ratio_bare_median"] = ratio(r["median_us"], base["median_us"])
                e["ratio_bare_p99"] = ratio(r["p99_us"], base["p99_us"])
                e["overhead_median_us"] = round(r["median_us"] - base["median_us"], 1)
                if c != "noprog":
                    e["ratio_bare_per_round"] = per_round(r, base)
            if rt and r.get("n") and c in ("cached", "fanotify"):
                e["ratio_roundtrip_median"] = ratio(r["median_us"], rt["median_us"])
            out[t][c] = e
    return out


def deltas(before, after):
    out = {}
    for name, a in after.items():
        b = before.get(name, {})
        out[name] = {k: a[k] - b[k] for k in DELTA_KEYS
                     if isinstance(a.get(k), int) and isinstance(b.get(k), int)}
        out[name]["kernel_mode"] = a.get("kernel_mode")
    return out


def fmt(v, nd=1):
    if v is None:
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def print_table(title, sec, storm=False):
    print(title)
    print(f"{'target':8} {'condition':34} {'n':>5} {'median':>8} {'p99':>8} {'x bare':>7} "
          f"{'x bare':>6} {'+us':>7}" + ("" if storm else f" {'x rt':>5}  {'per-round x bare':>16}"))
    print(f"{'':8} {'':34} {'':>5} {'':>8} {'':>8} {'median':>7} {'p99':>6} {'median':>7}" +
          ("" if storm else f" {'med.':>5}  {'min/median/max':>16}"))
    for t in TARGETS:
        for c in ["noprog"] + CONDS:
            e = sec.get(t, {}).get(c)
            if e is None:
                continue
            line = (f"{t:8} {LABEL[c]:34} {e.get('n', 0):>5} {fmt(e.get('median_us')):>8} "
                    f"{fmt(e.get('p99_us')):>8} {fmt(e.get('ratio_bare_median'), 3):>7} "
                    f"{fmt(e.get('ratio_bare_p99'), 2):>6} {fmt(e.get('overhead_median_us')):>7}")
            if not storm:
                rr = e.get("ratio_bare_per_round")
                rr = "/".join(f"{x:.2f}" for x in rr) if rr else "-"
                line += f" {fmt(e.get('ratio_roundtrip_median'), 2):>5}  {rr:>16}"
            if e.get("failed"):
                line += f"  [{e['failed']} FAILED]"
            print(line)


def qemu_version():
    try:
        out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        return out.splitlines()[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def main():
    if len(sys.argv) < 3:
        print("usage: vm-report.py RESULTS_JSON RUN=CONSOLE_LOG:RELEASE_FILE...", file=sys.stderr)
        return 2
    results = {"schema": "gatekeeper-vmbench/1", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                        time.gmtime()),
               "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                        "qemu": qemu_version(), "accel": "tcg, 1 vCPU",
                        "loadavg_start": os.environ.get("GK_VMBENCH_LOAD_START"),
                        "loadavg_end": loadavg()},
               "kernels": {}, "problems": []}
    for arg in sys.argv[2:]:
        run, _, paths = arg.partition("=")
        log, _, release_file = paths.partition(":")
        problems = []
        try:
            got = parse_console(log)
            with open(release_file) as f:
                release = f.read().strip()
        except OSError as err:
            results["problems"].append(f"{run}: {err}")
            continue
        if not got["exec"]:
            problems.append(f"{run}: no exec results in {log}")
        for name, want in WANT_MODE.items():
            if got["mode"].get(name) != want:
                problems.append(f"{run}: daemon {name} ran in kernel_mode "
                                f"{got['mode'].get(name)!r}, not {want}")
        rounds = max((len(r.get("round_medians_us", [])) for r in got["exec"]), default=0)
        k = {"run": run, "modes": got["mode"], "rounds": rounds,
             "exec": section(got["exec"], got["control"], problems, "exec"),
             "storm": section(got["storm"], None, problems, "storm") if got["storm"] else None,
             "daemon_counter_deltas_over_exec_rounds": deltas(got["before"], got["after"]),
             "notes": got["comments"], "problems": problems}
        results["kernels"][release] = k
        results["problems"] += problems
        print(f"\n=== kernel {release} ({run}), qemu TCG, 1 vCPU ===")
        print_table(f"exec latency: posix_spawn+waitpid, {rounds} interleaved rounds; us",
                    k["exec"])
        if k["storm"]:
            print_table("\nexec storm: 4 spawners at once on the 1 vCPU; us", k["storm"], True)
        print("\ndaemon counters over the exec rounds (warm-ups included):")
        for name, d in k["daemon_counter_deltas_over_exec_rounds"].items():
            print(f"  {name:10} " + " ".join(f"{key}=+{v}" if isinstance(v, int) else f"{key}={v}"
                                             for key, v in d.items()))
    with open(sys.argv[1], "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    host = results["host"]
    print(f"\nhost load average (1/5/15 min): {host['loadavg_start']} at the start, "
          f"{host['loadavg_end']} at the end; the 'bare again' rows show this run's noise")
    print(f"wrote {sys.argv[1]}")
    for p in results["problems"]:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if results["problems"] or not results["kernels"] else 0


if __name__ == "__main__":
    sys.exit(main())
