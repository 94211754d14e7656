"""The paired run of make bench (spawn_bench --interleave): the issue's miss
and round-trip targets from differences taken within one cycle.

A cycle runs one exec of every condition within a few milliseconds, so
drift slower than that (other load on the host, page cache, frequency)
falls on all of them alike and cancels in their difference. Each figure
is the median over cycles of a per-cycle quantity, with a 95% confidence
interval of that median from order statistics (no assumption about the
distribution's shape). A target is settled when the whole interval is on
one side of its limit."""
import math
import statistics

# figure -> (per-cycle quantity, limit, unit); s is one cycle's samples
FIGURES = {
    "miss_gap_us": (lambda s: (s["miss"] - s["barectl"]) - (s["raw"] - s["bare"]), 15, " us"),
    "miss_ratio": (lambda s: s["miss"] / s["barectl"], 1.05, "x"),
    "roundtrip_gap_us": (lambda s: s["roundtrip"] - s["raw"], 15, " us"),
    # the miss's two parts: the ctl's after-effects on a daemon (the
    # round-trip gate after the same ctl), and the kernel cache's own cost
    "rtctl_gap_us": (lambda s: (s["rtctl"] - s["barectl"]) - (s["raw"] - s["bare"]), None, " us"),
    "miss_over_rtctl_us": (lambda s: s["miss"] - s["rtctl"], None, " us"),
    "roundtrip_ratio": (lambda s: s["roundtrip"] / s["bare"], 1.05, "x"),
    # the floor of any userspace gate: what answering at once costs
    "raw_ratio": (lambda s: s["raw"] / s["bare"], None, "x"),
    "raw_gap_us": (lambda s: s["raw"] - s["bare"], None, " us"),
    # the null figure: two identical conditions, where the truth is 0
    "noise_gap_us": (lambda s: s["bare2"] - s["bare"], None, " us"),
}
WHAT = {
    "miss_gap_us": "miss with a known verdict, static: +us over raw, paired by exec",
    "miss_ratio": "miss with a known verdict, static: x bare after ctl, paired by exec",
    "roundtrip_gap_us": "round-trip gate, static: +us over raw, paired by exec",
    "roundtrip_ratio": "round-trip gate, static: x bare, paired by exec",
}
OTHER = {
    "raw_ratio": "raw fanotify round trip: x bare (the floor of a userspace gate)",
    "raw_gap_us": "raw fanotify round trip: +us over bare",
    "rtctl_gap_us": "round-trip gate after the same ctl: +us over raw",
    "miss_over_rtctl_us": "miss - round-trip gate after the same ctl (the kernel cache)",
    "noise_gap_us": "noise: bare again - bare (truth: 0)",
}


def median_ci(values):
    """The median and its 95% interval: the order statistics whose ranks are
    n/2 -+ 1.96 sqrt(n)/2 (the normal approximation to the binomial)."""
    v = sorted(values)
    n = len(v)
    half = 0.98 * math.sqrt(n)
    lo = max(0, math.floor(n / 2 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2 + half) - 1)
    return statistics.median(v), v[lo], v[hi]


def cycles(rows):
    """The cycles where every condition ran (a failed exec is -1)."""
    seq = {r["name"]: r.get("seq_us") or [] for r in rows}
    n = min((len(s) for s in seq.values()), default=0)
    return [{k: s[i] for k, s in seq.items()} for i in range(n)
            if all(s[i] > 0 for s in seq.values())], n


def section(rows):
    """Figures of the paired run, or a reason why there are none."""
    if not rows:
        return {"status": "n/a", "reason": "the paired run gave no result"}
    names = {r["name"] for r in rows}
    need = {"bare", "bare2", "raw", "roundtrip", "miss", "barectl", "rtctl"}
    if not need <= names:
        return {"status": "n/a", "reason": f"conditions missing: {sorted(need - names)}"}
    failed = [f"paired run: {r['name']}: {r['failed']} failed execs ({r.get('first_failure')})"
              for r in rows if r.get("failed")]
    if failed:
        return {"status": "failed", "reason": "; ".join(failed), "problems": failed}
    good, n = cycles(rows)
    if len(good) < 30:
        return {"status": "n/a", "reason": f"only {len(good)} of {n} cycles complete"}
    out = {"status": "ok", "cycles": n, "complete_cycles": len(good),
           "median_us": {r["name"]: r.get("median_us") for r in rows}}
    for key, (fn, limit, unit) in FIGURES.items():
        med, lo, hi = median_ci([fn(s) for s in good])
        nd = 3 if unit == "x" else 1
        fig = {"median": round(med, nd), "ci95": [round(lo, nd), round(hi, nd)], "limit": limit}
        if limit is not None:
            fig["settled"] = "met" if hi <= limit else "missed" if lo > limit else "unsettled"
        out[key] = fig
    return out


def target_rows(sec):
    """Rows for report.py's target table."""
    rows = []
    for key, what in WHAT.items():
        fig = sec.get(key) if sec.get("status") == "ok" else None
        limit, unit = FIGURES[key][1], FIGURES[key][2]
        rows.append({"what": what, "target": f"<= {limit}{unit}",
                     "value": fig and fig["median"],
                     "met": None if not fig else fig["median"] <= limit,
                     "ci95": fig and fig["ci95"], "settled": fig and fig["settled"],
                     "noise_bare2_vs_bare": None})
    return rows


def print_section(sec, rounds):
    if sec.get("status") != "ok":
        print(f"\npaired by exec: n/a ({sec.get('reason')})")
        return
    print(f"\npaired by exec: {rounds} rounds, {sec['complete_cycles']} cycles of one exec of each "
          f"condition (static target); median over cycles [95% interval]")
    m = sec["median_us"]
    print("  medians (us): " + ", ".join(f"{k} {m[k]:.1f}" for k in
                                         ("bare", "bare2", "raw", "roundtrip", "barectl", "miss",
                                          "rtctl")))
    for key in FIGURES:
        f = sec[key]
        label = WHAT.get(key) or OTHER[key]
        verdict = f" <= {f['limit']}: {f['settled']}" if f["limit"] is not None else ""
        print(f"  {label:72} {f['median']:>8} [{f['ci95'][0]}, {f['ci95'][1]}]{verdict}")
