#!/usr/bin/env python3
"""A stand-in gatekeeperd for gatekeeper-ctl's live views (log -f, top).

usage: fake_stream.py SOCKET SCRIPT

Serves the control protocol on SOCKET until killed. "log ..." requests get
the history records of SCRIPT["history"] (ids after the requested one,
of the verdict asked for; two per page, so the client must page);
"subscribe" gets the header, then SCRIPT["live"]: each record sent after
its "delay" (seconds), then the connection stays open for
SCRIPT["hold"] seconds and closes. "policy-show" answers SCRIPT["policy"]. Records are dicts: str values are sent
as 's', int values as 'n' (see gatekeeper/proto.h). Exercises the client
against the protocol before (and independently of) the daemon's server.
"""
import json
import os
import socket
import sys
import threading
import time


def record(fields):
    out = []
    for key, value in fields.items():
        if key == "delay":
            continue
        kind = "n" if isinstance(value, int) else "s"
        text = str(value).replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"{kind} {key} {text}\n")
    return "".join(out) + "\n"


def serve(conn, script):
    try:
        line = b""
        while not line.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                return
            line += chunk
        words = line.decode().split()
        if words[0] == "log":
            after = int(next((w[6:] for w in words if w.startswith("after=")), "0"))
            match = next((w[6:] for w in words if w.startswith("match=")), "any")
            keep = {
                "any": lambda r: True,
                "allow": lambda r: r["verdict"] == "allow" and not r["would_deny"],
                "deny": lambda r: r["verdict"] == "deny",
                "would-deny": lambda r: r["would_deny"],
            }[match]
            page = [r for r in script.get("history", []) if r["id"] > after and keep(r)][:2]
            conn.sendall(("n ok 1\n\n" + "".join(record(r) for r in page)).encode())
        elif words[0] == "policy-show":
            conn.sendall(record({"ok": 1, "policy": "fake.yaml", "text": script["policy"]})[:-1].encode())
        elif words[0] == "subscribe":
            conn.sendall(b"n ok 1\n\n")
            for r in script.get("live", []):
                time.sleep(r.get("delay", 0))
                conn.sendall(record(r).encode())
            time.sleep(script.get("hold", 0))
        else:
            conn.sendall(b"n ok 0\ns error unknown request\nn code 2\n")
    finally:
        conn.close()


def main():
    path, script = sys.argv[1], json.loads(open(sys.argv[2]).read())
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, script), daemon=True).start()


main()
