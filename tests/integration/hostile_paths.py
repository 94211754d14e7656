#!/usr/bin/env python3
"""Programs with hostile names: real execs, then the log, JSON and audit table.

usage: hostile_paths.py BIN SPAWNER CTL SOCKET DB DAEMON_LOG

Creates copies of /bin/true under BIN whose paths hold a newline (followed by
a forged log line), a tab, quotes, a backslash escape look-alike, bytes that
are not UTF-8, a C1 control, a line separator, and paths of 4,089 and 4,095
bytes; runs each (through the spawner, and once through a spawner copy with
a hostile name, so the exe field is hostile too). Then checks:
  - every line of the daemon's log is UTF-8, and every decision line parses
    as `WORD key=value...` with values plain or quoted with \\" \\\\ \\xNN;
    each hostile path (and the hostile exe) decodes back to its exact bytes;
    no line starts with the forged text;
  - `gatekeeper-ctl --json query PATH` is valid JSON for every path the
    client can send (no newline, request under 4 KiB), and its "path"
    gives the exact bytes back with os.fsencode;
  - plain `gatekeeper-ctl query PATH` prints only "key: value" lines of
    UTF-8 without control bytes (no forged line, no terminal escape), its
    path escaped as \\n and \\xNN;
  - the audit table holds each path's exact bytes.
Prints one line: "ok ..." or the failures; exits 0 only when all hold.
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

FORGED = b"decision time=2000-01-01T00:00:00Z pid=1 path=/forged verdict=allow"


def names(bindir):
    b = os.fsencode(bindir)
    out = [b + b"/nl\n" + FORGED, b + b"/tab\there", b + b'/dq"x" verdict=allow',
           b + b"/sq'x", b + b"/back\\x41slash\\", b + b"/bad\xff\xfeutf8",
           b + b"/cut\xc3", b + b"/nel\xc2\x85x", b + b"/ls\xe2\x80\xa8x",
           b + b"/sp ace=eq", b + "/caf\u00e9".encode(),
           b + b"/x\nverdict: allow\n\x1b[8m", b + b"/csi\xc2\x9b8m\x9b"]
    for total in (4089, 4095):
        d = b + b"/long%d" % total
        while total - len(d) - 1 > 255:   # what is left is more than one name
            d += b"/" + b"d" * 250
        out.append(d + b"/" + b"f" * (total - len(d) - 1))
    return out


def human(p):
    """p as gatekeeper-ctl prints daemon text for a human (put_clean)."""
    out, i = [], 0
    while i < len(p):
        n = next((k for k in (1, 2, 3, 4) if i + k <= len(p) and utf8(p[i:i + k])), 0)
        c1 = n == 2 and p[i] == 0xc2 and p[i + 1] < 0xa0
        sep = n == 3 and p[i:i + 3] in (b"\xe2\x80\xa8", b"\xe2\x80\xa9")   # U+2028, U+2029
        if p[i] == 0x0a:
            out.append(b"\\n")
        elif not n or p[i] < 0x20 or p[i] == 0x7f or c1 or sep:
            out += [b"\\x%02x" % b for b in p[i:i + (n if c1 or sep else 1)]]
        else:
            out.append(p[i:i + n])
        i += n or 1
    return b"".join(out)


def utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def check_human_query(ctl, sock, p, bad):
    r = subprocess.run([ctl, "--socket", sock, "query", p], capture_output=True, timeout=15)
    if r.returncode != 0 or not utf8(r.stdout):
        bad.append("query %r: exit %d, stdout %r" % (p[-40:], r.returncode, r.stdout[:200]))
        return
    lines = r.stdout.split(b"\n")
    if lines[-1] != b"" or any(c < 0x20 and c != 0x0a or c == 0x7f for c in r.stdout) or \
            any("\x80" <= ch <= "\x9f" for ch in r.stdout.decode()) or \
            not all(re.match(rb"^[a-z_0-9]+: ", ln) for ln in lines[:-1]):
        bad.append("query %r: raw bytes or a forged line: %r" % (p[-40:], r.stdout[:300]))
    elif b"path: " + human(p) not in lines:
        bad.append("query %r: no line 'path: %r'" % (p[-40:], human(p)[-60:]))
    elif sum(ln.startswith(b"verdict: ") for ln in lines) != 1:
        bad.append("query %r: %r" % (p[-40:], r.stdout[:300]))


def make(path, n):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(b"/bin/true", "rb") as src, open(path, "wb") as dst:
        dst.write(src.read() + b"\nhostile %d %d\n" % (n, time.time_ns()))
    os.chmod(path, 0o755)


VALUE = rb'(?:"(?:[^"\\]|\\["\\]|\\x[0-9a-f]{2})*"|[^ "\\=]*)'
LINE = re.compile(rb"^[a-z_]+(?: [a-z_0-9]+=" + VALUE + rb")*$")
PAIR = re.compile(rb" ([a-z_0-9]+)=(" + VALUE + rb")")


def decode(v):
    if not v.startswith(b'"'):
        return v
    out, i, v = bytearray(), 0, v[1:-1]
    while i < len(v):
        if v[i:i + 1] == b"\\":
            if v[i + 1:i + 2] == b"x":
                out.append(int(v[i + 2:i + 4], 16))
                i += 4
            else:
                out += v[i + 1:i + 2]
                i += 2
        else:
            out += v[i:i + 1]
            i += 1
    return bytes(out)


def read_log(logpath, bad):
    paths, exes = set(), set()
    with open(logpath, "rb") as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad.append("daemon log is not UTF-8: %s" % e)
    for line in data.split(b"\n"):
        if line.startswith(b"forged") or line.startswith(FORGED):
            bad.append("a forged line in the log: %r" % line[:100])
        if not line.startswith((b"decision ", b"prescan ", b"kernel_deny ")):
            continue
        if not LINE.match(line):
            bad.append("unparseable decision line: %r" % line[:300])
            continue
        if not line.startswith(b"decision "):
            continue
        fields = {k: decode(v) for k, v in PAIR.findall(line)}
        paths.add(fields.get(b"path", b""))
        exes.add(fields.get(b"exe", b""))
    return paths, exes


def logged_exe(logpath, exe):
    """Does a decision line name exe, within a second (the log comes after the reply)?"""
    for _ in range(20):
        if exe in read_log(logpath, [])[1]:
            return True
        time.sleep(0.05)
    return False


def main():
    bindir, spawner, ctl, sock, db, logpath = sys.argv[1:7]
    bad, paths = [], names(bindir)
    for n, p in enumerate(paths):
        make(p, n)
    exe = os.fsencode(bindir) + b"/spawn\ner \"\xff"
    shutil.copy(spawner, exe)
    os.chmod(exe, 0o755)
    for p in paths:
        r = subprocess.run([spawner, "exec", p], capture_output=True, timeout=15)
        if r.returncode != 0:
            bad.append("exec %r: exit %d %r" % (p[-40:], r.returncode, r.stdout))
    # A denial reads the caller's exe before it answers, on every route
    # (gatekeeperd(8); an allow from memory reads it after, when the caller
    # has often become the program it asked for). So the hostile spawner
    # asks for a program that an admin rule refuses: that decision names it.
    refused = os.fsencode(bindir) + b"/refused"
    make(refused, len(paths))
    r = subprocess.run([ctl, "--socket", sock, "deny", refused], capture_output=True, timeout=15)
    if r.returncode != 0:
        bad.append("gatekeeper-ctl deny: exit %d %r" % (r.returncode, r.stderr[-200:]))
    r = subprocess.run([exe, "exec", refused], capture_output=True, timeout=15)
    if r.returncode != 126 or b"EPERM" not in r.stdout + r.stderr:
        bad.append("the refused program through the hostile spawner: exit %d %r" %
                   (r.returncode, (r.stdout + r.stderr)[-200:]))
    logged_exe(logpath, exe)
    want = set(paths) | {exe}
    # The audit writer logs after the reply. Wait for the hostile spawner's
    # own exec (a path) and for the exec it made (its exe): the first comes
    # before the second, and seeing it alone said nothing of the other.
    for _ in range(100):
        seen, exes = read_log(logpath, [])
        if want <= seen | {e for e in exes if e == exe} and exe in exes:
            break
        time.sleep(0.1)
    seen, exes = read_log(logpath, bad)
    for p in sorted(want - seen - ({exe} & exes)):
        bad.append("no decision line whose path decodes to %r" % p[-60:])
    if exe not in exes:
        bad.append("no decision line whose exe decodes to the hostile spawner")
    for p in paths:
        if len(p) + 3 * sum(c < 0x20 or c == 0x7f for c in p) > 4089:
            continue   # "query " + the path (control bytes as \xNN) + "\n" > 4 KiB
        r = subprocess.run([ctl, "--socket", sock, "--json", "query", p], capture_output=True,
                           timeout=15)
        try:
            got = os.fsencode(json.loads(r.stdout)["path"])
            if got != p:
                bad.append("--json query path %r != %r" % (got[-40:], p[-40:]))
        except (ValueError, KeyError) as e:
            bad.append("--json query %r: not JSON (%s): %r" % (p[-40:], e, r.stdout[:200]))
        check_human_query(ctl, sock, p, bad)
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    con.text_factory = bytes
    stored = {row[0] for row in con.execute("SELECT path FROM audit")}
    stored_exe = {row[0] for row in con.execute("SELECT exe FROM audit")}
    con.close()
    for p in paths:
        if p not in stored:
            bad.append("audit table lacks the exact path %r" % p[-60:])
    if exe not in stored_exe:
        bad.append("audit table lacks the hostile exe's exact bytes")
    if bad:
        print("; ".join(bad[:8]))
        return 1
    print("ok: %d hostile paths, log lines parse, JSON reads back, query escapes, audit exact"
          % len(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
