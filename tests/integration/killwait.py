#!/usr/bin/env python3
"""killwait.py DPID SID [LIMIT_S]: SIGKILL the daemon DPID, then time how
long processes of session SID keep waiting in fanotify (an exec blocked on a
permission event). Prints "waiters_at_kill=N wait_ms=M" (M = -1: still
waiting after LIMIT_S). Scans /proc in-process: a shell loop is too slow to
time a one-second bound."""
import os
import signal
import sys
import time


def waiters(sid):
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            if int(st[st.rindex(")") + 2:].split()[3]) != sid:
                continue
            with open(f"/proc/{pid}/wchan") as f:
                if "fanotify" in f.read():
                    n += 1
        except (OSError, ValueError, IndexError):
            continue
    return n


def main():
    dpid, sid = int(sys.argv[1]), int(sys.argv[2])
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    before = waiters(sid)
    t0 = time.monotonic()
    os.kill(dpid, signal.SIGKILL)
    while True:
        n = waiters(sid)
        elapsed = time.monotonic() - t0
        if n == 0:
            print(f"waiters_at_kill={before} wait_ms={int(elapsed * 1000)}")
            return 0
        if elapsed > limit:
            print(f"waiters_at_kill={before} wait_ms=-1")
            return 1
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
