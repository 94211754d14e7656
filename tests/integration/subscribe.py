#!/usr/bin/env python3
"""Subscribe to gatekeeperd's decision stream, run execs, check the records.

usage: subscribe.py SOCKET SPAWNER ALLOWED DENIED

Sends "subscribe", expects the header record ("n ok 1" and an empty line),
then execs ALLOWED (must run) and DENIED (must get EPERM) and reads records
(lines "T KEY VALUE", an empty line after each) until it has one for each
path. Checks every key of the protocol and the values for these two execs.
Prints "ok ..." or what is wrong; exits 0 only when all hold.
"""
import socket
import subprocess
import sys
import time

KEYS = {"time_us": "n", "kind": "s", "verdict": "s", "would_deny": "n", "source": "s",
        "detail": "s", "path": "s", "exe": "s", "sha256": "s", "pid": "n", "latency_us": "n",
        "dropped": "n"}


def unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v) and v[i + 1] in "n\\":
            out.append("\n" if v[i + 1] == "n" else "\\")
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def records(sock, deadline):
    buf = b""
    while time.monotonic() < deadline:
        while b"\n\n" in buf:
            rec, buf = buf.split(b"\n\n", 1)
            fields = {}
            for line in rec.decode("utf-8", "surrogateescape").split("\n"):
                t, k, v = line.split(" ", 2)
                fields[k] = (t, unescape(v))
            yield fields
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return
        if not chunk:
            return
        buf += chunk


def main():
    path, spawner, allowed, denied = sys.argv[1:5]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"subscribe\n")
    it = records(s, time.monotonic() + 10)
    head = next(it, None)
    if head != {"ok": ("n", "1")}:
        print("bad header record: %r" % head)
        return 1
    ran = subprocess.run([spawner, "exec", allowed], capture_output=True, timeout=15).returncode
    den = subprocess.run([spawner, "exec", denied], capture_output=True, timeout=15)
    if ran != 0 or b"errno=EPERM" not in den.stdout:
        print("execs: allowed exit %d, denied %r" % (ran, den.stdout))
        return 1
    got, bad = {}, []
    for rec in it:
        if set(rec) != set(KEYS) or any(rec[k][0] != t for k, t in KEYS.items()):
            bad.append("record keys/types %r" % sorted((k, v[0]) for k, v in rec.items()))
        p = rec.get("path", ("", ""))[1]
        if p in (allowed, denied) and rec["kind"][1] == "exec":
            got[p] = rec
        if len(got) == 2:
            break
    for p, want in ((allowed, "allow"), (denied, "deny")):
        r = got.get(p)
        if not r:
            bad.append("no exec record for %s" % p)
        elif r["verdict"][1] != want or len(r["sha256"][1]) != 64 or int(r["pid"][1]) <= 0 \
                or r["dropped"][1] != "0" or not r["exe"][1].endswith("spawner"):
            bad.append("record for %s: %r" % (p, r))
    if got.get(denied) and got[denied]["source"][1] != "admin":
        bad.append("deny source %r" % got[denied]["source"][1])
    s.close()
    if bad:
        print("; ".join(bad[:5]))
        return 1
    print("ok: header, then one record per exec with every key")
    return 0


if __name__ == "__main__":
    sys.exit(main())
