#!/usr/bin/env python3
"""sys-report.py OUT.json CONSOLE.log...: the table of make sysbench.

Each console log is one measured boot (bench/sys-guest.sh prints one
"GKTAP # GKBENCH {json}" line). Per configuration (bare, gk, fapo) the
median over its boots of: boot time to multi-user.target, the median first
exec (each of ~50 /usr/bin programs run once since boot), the median cached
exec of /usr/bin/true, the shell workload (1,000 /usr/bin commands); then
gk and fapo as ratios to bare. Then the paired figures: in each gk and fapo
boot the gate was stopped and started again, alternated (off on on off,
three times), and cached exec and a 100-command shell run measured in each state; the
ratio running/stopped within one boot is free of the boot-to-boot noise, and
the median of those ratios over the boots is printed beside. The boot time
also comes from the boot-only rounds (boots ROUNDb-CFG): its spread per
configuration, and gk/bare and fapo/bare per round, are printed below. Never judges
the figures against a goal beyond printing them; exits 1 only when something could not be measured
(a configuration without a boot, a figure missing, or a gate that did not
enforce in one of its boots).
"""
import json
import os
import re
import statistics
import sys
import time

from paired import median_ci

CFGS = ("bare", "gk", "fapo")
METRICS = (  # key, label, unit
    ("boot_ms", "boot to multi-user.target", "ms"),
    ("userspace_ms", "  of which after the initrd", "ms"),
    ("first_us", "first exec (median of programs)", "us"),
    ("first_total_ms", "first execs, all programs", "ms"),
    ("cached_us", "cached exec /usr/bin/true (median)", "us"),
    ("shell_ms", "shell workload, 1,000 commands", "ms"),
)
BOOT_KEYS = {"boot_ms": "boot", "userspace_ms": "boot after the initrd"}
PAIRED = {  # ratio key: label (running/stopped in the same boot)
    "paired_cached": "paired in-boot, cached exec: gate running / stopped",
    "paired_shell100": "paired in-boot, 100 shell commands: gate running / stopped",
}


def per_boot(path):
    text = open(path, errors="replace").read().replace("\r", "")
    m = re.search(r"GKTAP # GKBENCH (\{.*\})\s*$", text, re.M)
    if not m:
        return None, f"{os.path.basename(path)}: no GKBENCH line"
    try:
        d = json.loads(m.group(1))
    except json.JSONDecodeError as e:
        return None, f"{os.path.basename(path)}: bad GKBENCH line ({e})"
    fig = {"boot": os.path.basename(path)[len("console-"):-len(".log")], "cfg": d.get("cfg"),
           "scope": d.get("scope", "all"),
           "enforcing": d.get("enforcing") is True, "state": d.get("state", "")}
    first, cached, shell = d.get("first") or {}, d.get("cached") or {}, d.get("shell") or {}
    if d.get("boot_us"):
        fig["boot_ms"] = d["boot_us"] / 1e3
    if d.get("userspace_us"):
        fig["userspace_ms"] = d["userspace_us"] / 1e3
    if first.get("n"):
        fig["first_us"] = first["median_us"]
        fig["first_total_ms"] = first["total_us"] / 1e3
        fig["first_n"] = first["n"]
    if cached.get("n"):
        fig["cached_us"] = cached["median_us"]
    if shell.get("n"):
        fig["shell_ms"] = shell["median_us"] / 1e3
    fig["failed_execs"] = sum(x.get("failed", 0) for x in (first, cached, shell))
    fig.update(paired_ratios(d.get("paired") or []))
    return fig, None


def paired_ratios(blocks):
    """Running/stopped ratios of the medians of one boot's paired blocks."""
    out = {}
    for k in ("cached_us", "shell100_us"):
        on = [b[k] for b in blocks if b.get("state") == "on" and b.get("active") == "active"
              and isinstance(b.get(k), (int, float))]
        off = [b[k] for b in blocks if b.get("state") == "off" and b.get("active") != "active"
               and isinstance(b.get(k), (int, float))]
        if on and off:
            out["paired_" + k.split("_")[0]] = round(statistics.median(on) / statistics.median(off), 3)
    return out


def per_round_boot_ratios(boots, key):
    """gk/bare and fapo/bare of the boots of one round (boot ROUND-CFG),
    one ratio per round: the three boots of a round ran one after the other."""
    rounds = {}
    for b in boots:
        if key in b:
            rounds.setdefault(b["boot"].rsplit("-", 1)[0], {})[b["cfg"]] = b[key]
    out = {}
    for c in ("gk", "fapo"):
        v = [round(r[c] / r["bare"], 3) for r in rounds.values() if c in r and r.get("bare")]
        if v:
            out[c] = v
    return out


def main():
    if len(sys.argv) < 3:
        print("usage: sys-report.py OUT.json CONSOLE.log...", file=sys.stderr)
        return 1
    out, logs = sys.argv[1], sys.argv[2:]
    boots, problems = [], []
    for p in logs:
        fig, err = per_boot(p)
        if err:
            problems.append(err)
        else:
            boots.append(fig)
    summary = {}
    for c in CFGS:
        mine = [b for b in boots if b["cfg"] == c]
        if not mine:
            problems.append(f"{c}: no measured boot")
            continue
        if c != "bare":
            bad = [b["boot"] for b in mine if not b["enforcing"]]
            if bad:
                problems.append(f"{c}: did not enforce in boot(s) {', '.join(bad)}")
        summary[c] = {"boots": len(mine)}
        for k, _, _ in METRICS:
            vals = [b[k] for b in mine if k in b]
            if vals:
                summary[c][k] = statistics.median(vals)
            else:
                problems.append(f"{c}: {k} not measured")
    ratios = {}
    for c in ("gk", "fapo"):
        if c in summary and "bare" in summary:
            ratios[c] = {k: round(summary[c][k] / summary["bare"][k], 3)
                         for k, _, _ in METRICS if k in summary[c] and summary["bare"].get(k)}
    boot_spread = {k: {c: sorted(b[k] for b in boots if b["cfg"] == c and k in b) for c in CFGS}
                   for k in BOOT_KEYS}
    boot_by_round = {k: per_round_boot_ratios(boots, k) for k in BOOT_KEYS}
    paired = {}
    for c in ("gk", "fapo"):
        for k in PAIRED:
            vals = [b[k] for b in boots if b["cfg"] == c and k in b]
            if vals:
                paired.setdefault(c, {})[k] = round(statistics.median(vals), 3)
            elif c in summary:
                problems.append(f"{c}: {k} not measured")

    print(f"{'figure (median over boots)':38} {'bare':>10} {'gatekeeper':>10} {'fapolicyd':>10}"
          f" {'gk/bare':>8} {'fapo/bare':>9}")
    for k, label, unit in METRICS:
        row = f"{label + ' (' + unit + ')':38}"
        for c in CFGS:
            v = summary.get(c, {}).get(k)
            row += f" {v:10.0f}" if v is not None else f" {'-':>10}"
        for c in ("gk", "fapo"):
            v = ratios.get(c, {}).get(k)
            row += f" {v:8.2f}x" if v is not None else f" {'-':>8} "
        print(row)
    for k, label in PAIRED.items():
        row = f"{label:71}"
        for c in ("gk", "fapo"):
            v = paired.get(c, {}).get(k)
            row += f" {v:8.2f}x" if v is not None else f" {'-':>8} "
        print(row)
    for k, what in BOOT_KEYS.items():
        for c in CFGS:
            v = boot_spread[k].get(c)
            if v:
                print(f"{what} ms, {c}: {len(v)} boots, min {v[0]:.0f}, median "
                      f"{statistics.median(v):.0f}, max {v[-1]:.0f}")
        for c in ("gk", "fapo"):
            v = boot_by_round[k].get(c)
            if v:
                med, lo, hi = median_ci(v)
                print(f"{what}, {c}/bare of the same round: median {med:.2f}x "
                      f"over {len(v)} rounds (min {min(v):.2f}x, max {max(v):.2f}x; "
                      f"95% interval of the median {lo:.2f}x-{hi:.2f}x)")
    print("boots: " + ", ".join(f"{c} {summary.get(c, {}).get('boots', 0)}" for c in CFGS)
          + "; gk/fapo enforcing in every boot: "
          + ("yes" if not any("did not enforce" in p for p in problems) else "NO"))
    for p in problems:
        print(f"sysbench: {p}", file=sys.stderr)
    result = {
        "what": "gatekeeper vs Debian fapolicyd on a booted Debian 12 under qemu TCG "
                "(make sysbench); figures are medians over boots, ratios to bare in the same run; "
                "paired_ratios: running/stopped within each boot, median over boots",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # icount: the guest's clock counts its instructions, not host time
        # (GK_SYSBENCH_ICOUNT, bench/sys-run.sh); figures in virtual time
        "guest_clock": (f"icount shift={os.environ['GK_SYSBENCH_ICOUNT']}"
                        if os.environ.get("GK_SYSBENCH_ICOUNT") else "host"),
        "host_loadavg": open("/proc/loadavg").read().split()[:3],
        "summary": summary, "ratios": ratios, "paired_ratios": paired,
        "boot_ms_by_cfg": boot_spread, "boot_ratio_by_round": boot_by_round, "boots": boots,
        "problems": problems,
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
