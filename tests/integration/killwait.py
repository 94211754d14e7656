#!/usr/bin/env python3
"""killwait.py DPID SID [LIMIT_S]: SIGKILL the daemon DPID, then time how
long processes of session SID keep waiting in fanotify (an exec blocked on a
permission event: fanotify in its kernel stack). Prints "waiters_at_kill=N wait_ms=M" (M = -1: still
waiting after LIMIT_S). Scans /proc in-process: a shell loop is too slow to
time a one-second bound."""
import os
import signal
import sys
import time


def waiters(sid, detail=None):
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            if int(st[st.rindex(")") + 2:].split()[3]) != sid:
                continue
            # The stack, not wchan: wchan reads 0 while the task is on a
            # run queue, even if it is about to sleep again.
            with open(f"/proc/{pid}/stack") as f:
                w = f.read()
                if "fanotify" in w:
                    n += 1
                    if detail is not None:
                        detail.append(describe(pid, w))
        except (OSError, ValueError, IndexError):
            continue
    return n


def describe(pid, stack_text):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
        with open(f"/proc/{pid}/stack") as f:
            stack = ",".join(l.split()[1].split("+")[0] for l in f.read().splitlines()[:6])
    except (OSError, IndexError):
        cmd, stack = "?", "?"
    return f"pid={pid} cmd='{cmd}' stack={stack}"


def daemon_state(dpid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{dpid}/task"):
            with open(f"/proc/{dpid}/task/{tid}/stack") as f:
                frames = [l.split()[1].split("+")[0] for l in f.read().splitlines()[:8]]
                out.append(f"{tid}:{','.join(frames) or '-'}")
    except OSError:
        return "daemon gone"
    return "daemon threads " + " ".join(out)


def main():
    dpid, sid = int(sys.argv[1]), int(sys.argv[2])
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    before = waiters(sid)
    if before == 0 and os.environ.get("GK_KILLWAIT_DEBUG"):
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    st = f.read()
                if int(st[st.rindex(")") + 2:].split()[3]) == sid:
                    with open(f"/proc/{pid}/wchan") as f:
                        print("nowait:", describe(pid, f.read()), file=sys.stderr)
            except (OSError, ValueError, IndexError):
                pass
    t0 = time.monotonic()
    os.kill(dpid, signal.SIGKILL)
    slow_noted = False
    while True:
        n = waiters(sid)
        elapsed = time.monotonic() - t0
        if n == 0:
            print(f"waiters_at_kill={before} wait_ms={int(elapsed * 1000)}")
            return 0
        if elapsed > limit:
            detail = []
            waiters(sid, detail)
            print(f"waiters_at_kill={before} wait_ms=-1")
            print("; ".join(detail[:3]) + "; " + daemon_state(dpid), file=sys.stderr)
            return 1
        if elapsed > 1.0 and not slow_noted:
            detail = []
            waiters(sid, detail)
            print("slow: " + "; ".join(detail[:3]) + "; " + daemon_state(dpid), file=sys.stderr)
            slow_noted = True
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
