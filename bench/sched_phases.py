#!/usr/bin/env python3
"""The phases of a gated exec, from `perf script` text of sched tracepoints
(bench/sched-trace.sh). For each exec of a target, in the exec'ing task:

  asked     it sleeps in the permission wait      (last switch-out before exec)
  answered  the gate's reply wakes it             (sched_waking of the task)
  running   it is back on a CPU                   (switch-in)
  exec      execve is done                        (sched_process_exec)
  exit      the program has run                   (sched_process_exit)

Prints the median of each phase for the gate and for the raw responder, and
how often the woken exec pushed its gate off the CPU while the gate still had
work (the gate left runnable, state R): a gate that is still runnable on the
exec's CPU after its reply delays what the exec wakes next (its parent).

  sched_phases.py GATE.txt RAW.txt
"""
import re
import statistics
import sys

LINE = re.compile(r'^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$')
FIELD = re.compile(r'(\w+)=(\S+)')
PHASES = [("asked -> answered", "answer"), ("answered -> running", "wake"),
          ("running -> exec done", "finish"), ("exec done -> exit", "program"),
          ("asked -> exit", "total")]


def read_events(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                out.append((float(m.group(4)) * 1e6, m.group(1), int(m.group(3)),
                            m.group(5), dict(FIELD.findall(m.group(6)))))
    return out


def by_task(events):
    """Per pid: its switches, wakings, exec and exit, in time order."""
    tasks = {}

    def task(pid):
        return tasks.setdefault(pid, {"out": [], "in": [], "waking": [], "exec": None,
                                      "exit": None})
    for t, comm, cpu, name, f in events:
        if name == "sched_switch":
            task(int(f["prev_pid"]))["out"].append((t, f["prev_state"]))
            task(int(f["next_pid"]))["in"].append((t, cpu, f["prev_comm"], f["prev_state"]))
        elif name == "sched_waking":
            task(int(f["pid"]))["waking"].append((t, comm))
        elif name == "sched_process_exec" and f.get("filename", "").endswith("/w/static"):
            task(int(f["pid"]))["exec"] = t
        elif name == "sched_process_exit":
            task(int(f["pid"]))["exit"] = t
    return tasks


def phases(path):
    rows = []
    for rec in by_task(read_events(path)).values():
        ex, end = rec["exec"], rec["exit"]
        if ex is None or end is None:
            continue
        asked = [t for t, state in rec["out"] if t < ex and not state.startswith("R")]
        if not asked:
            continue
        a = asked[-1]
        woken = [w for w in rec["waking"] if a < w[0] < ex]
        back = [i for i in rec["in"] if a < i[0] < ex]
        if not woken or not back:
            continue
        w, r = woken[0], back[0]
        rows.append({"answer": w[0] - a, "wake": r[0] - w[0], "finish": ex - r[0],
                     "program": end - ex, "total": end - a, "gate": w[1],
                     "gate_left_runnable": r[2] == w[1] and r[3].startswith("R")})
    return rows


def median(rows, key):
    return statistics.median(r[key] for r in rows) if rows else float("nan")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sched_phases.py GATE.txt RAW.txt")
    gate, raw = phases(sys.argv[1]), phases(sys.argv[2])
    if not gate or not raw:
        sys.exit("sched_phases: no complete exec in the trace (perf script output empty?)")
    print("phase of one exec (median us)   gatekeeperd    raw responder   difference")
    for label, key in PHASES:
        g, r = median(gate, key), median(raw, key)
        print("  %-28s %10.1f %15.1f %+12.1f" % (label, g, r, g - r))
    for name, rows in (("gatekeeperd", gate), ("raw responder", raw)):
        left = sum(r["gate_left_runnable"] for r in rows)
        print("%s: %d execs; the woken exec preempted its gate (left runnable) in %d (%.0f%%)"
              % (name, len(rows), left, 100.0 * left / len(rows)))


if __name__ == "__main__":
    main()
