#!/usr/bin/env python3
"""Flood gatekeeperd's control socket while checking that it still serves.

usage: flood.py SOCKET CTL SPAWNER ALLOWED_BIN DENIED_BIN

Holds IDLE silent and HALF half-sent connections open for the whole run
(re-opening any the daemon closes: its deadlines and its cap do that), and
sends GARBAGE requests of random bytes, up to 2 MB each, from several
threads. Meanwhile, over and over: `gatekeeper-ctl status` (timed), a real
exec of ALLOWED_BIN (must run) and of DENIED_BIN (must get EPERM), each
timed, for at least MIN_SECONDS. Prints one JSON line with the counts and the worst times; exits 0.
"""
import json
import os
import random
import selectors
import socket
import subprocess
import sys
import threading
import time

IDLE, HALF, GARBAGE, MAX_GARBAGE = 200, 50, 2000, 2 * 1024 * 1024
SENDERS = 6
MIN_SECONDS = 7  # past the daemon's 2 s deadlines, several times


def dial(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    return s


class Holder(threading.Thread):
    """Keeps IDLE + HALF connections open until told to stop."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.reopened, self.errors = path, False, 0, 0
        self.sel = selectors.DefaultSelector()

    def open_one(self, half):
        try:
            s = dial(self.path)
            if half:
                s.send(b"stat")  # a request that never ends
            self.sel.register(s, selectors.EVENT_READ, half)
        except OSError:
            self.errors += 1

    def run(self):
        for i in range(IDLE + HALF):
            self.open_one(i >= IDLE)
        while not self.stop:
            for key, _ in self.sel.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:  # closed by the daemon: open another
                    self.sel.unregister(key.fileobj)
                    key.fileobj.close()
                    self.reopened += 1
                    self.open_one(key.data)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def garbage_sender(path, blob, count, stats, lock):
    rnd = random.Random()
    for _ in range(count):
        size = rnd.choice([rnd.randint(1, 64), rnd.randint(1, 8192), rnd.randint(1, MAX_GARBAGE)])
        start = rnd.randint(0, len(blob) - size)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
            try:
                s.sendall(blob[start:start + size])
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the daemon stopped reading: expected past the limit
            reply = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
            except OSError:
                pass
            s.close()
            with lock:
                stats["sent"] += 1
                stats["replied"] += reply.startswith(b"n ok 0\n")
        except OSError:
            with lock:
                stats["connect_failed"] += 1


def timed(cmd):
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=15)
        out, rc = r.stdout.decode(errors="replace"), r.returncode
    except subprocess.TimeoutExpired:
        out, rc = "hung", -1
    return time.monotonic() - t0, rc, out


def main():
    sock, ctl, spawner, allowed, denied = sys.argv[1:6]
    blob = os.urandom(MAX_GARBAGE + 1)
    holder = Holder(sock)
    holder.start()
    time.sleep(0.5)
    stats = {"sent": 0, "replied": 0, "connect_failed": 0}
    lock = threading.Lock()
    senders = [threading.Thread(target=garbage_sender, daemon=True,
                                args=(sock, blob, GARBAGE // SENDERS + (i < GARBAGE % SENDERS),
                                      stats, lock)) for i in range(SENDERS)]
    for t in senders:
        t.start()
    res = {"status_calls": 0, "status_failed": 0, "status_max_s": 0.0, "execs": 0,
           "exec_wrong": [], "exec_max_s": 0.0}
    t_start = time.monotonic()
    while any(t.is_alive() for t in senders) or time.monotonic() - t_start < MIN_SECONDS:
        dt, rc, out = timed([ctl, "--socket", sock, "status"])
        res["status_calls"] += 1
        res["status_max_s"] = max(res["status_max_s"], dt)
        if rc != 0 or "mode:" not in out:
            res["status_failed"] += 1
        for path, want in ((allowed, "ran"), (denied, "errno=EPERM")):
            dt, rc, out = timed([spawner, "exec", path])
            res["execs"] += 1
            res["exec_max_s"] = max(res["exec_max_s"], dt)
            got = "ran" if rc == 0 else out.strip() or "rc=%d" % rc
            if got != want and len(res["exec_wrong"]) < 5:
                res["exec_wrong"].append("%s: %s" % (os.path.basename(path), got))
        time.sleep(0.05)
    holder.stop = True
    holder.join(5)
    res.update(stats)
    res["seconds"] = round(time.monotonic() - t_start, 1)
    res["held_reopened"] = holder.reopened
    res["held_errors"] = holder.errors
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
