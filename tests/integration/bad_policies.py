#!/usr/bin/env python3
"""Generate malformed policies and check that each one is refused.

usage: bad_policies.py gen DIR COUNT WATCH_DIR [SEED]
       bad_policies.py check|apply DIR CTL SOCKET

gen writes COUNT policies DIR/bad-NNNN.yaml, each a valid base policy broken
by one mutation (truncated inside a flow mapping, a value of the wrong type,
bad indentation, an unknown key, a huge value, invalid UTF-8, a control
byte, nesting past the limit, a duplicate key, an alias bomb), and prints
how many of each kind.

check runs `gatekeeper-ctl policy check FILE` for each file (no daemon
needed), apply `gatekeeper-ctl policy apply FILE` (four clients at once):
each must exit 2 with a first line "FILE:LINE:COLUMN: message" on stderr;
and for apply, `policy show` (--json, which includes when the running
policy was applied) must be the same before and after every 100 files. Prints one JSON line; exits 0 (the caller judges).
"""
import concurrent.futures
import json
import os
import random
import re
import subprocess
import sys
import time


def base(watch):
    return [
        "mode: enforce",
        "watch:",
        "  - %s" % watch,
        "default: allow",
        "on_error: allow",
        "decision_timeout_ms: 5000",
        "audit:",
        "  log_allows: true",
        "  retain_days: 30",
        "rules:",
        "  - {path: %s/trusted, action: allow}" % watch,
        "  - {sha256: %s, action: deny}" % ("0" * 64),
    ]


WRONG = {  # key: values of the wrong type (or out of range) for it
    "mode": ["[enforce]", "{a: b}", "12", "maybe", "~", "''"],
    "default": ["[allow]", "7", "{deny: 1}", "permit", "~"],
    "on_error": ["[deny]", "3.5", "{}", "ignore"],
    "decision_timeout_ms": ["abc", "[1]", "1.5", "-3", "0", "{a: 1}", "0x10", "5s"],
    "watch": ["42", "{a: b}", "[[x]]", "[{a: b}]"],
    "audit": ["[]", "5", "text"],
    "rules": ["5", "{a: b}", "[5]", "[[x]]", "yes"],
}


def mutate(rnd, watch):
    lines = base(watch)
    kind = rnd.choice(["truncate", "wrong_type", "indent", "unknown_key", "huge", "utf8",
                       "control", "nesting", "duplicate", "alias_bomb"])
    if kind == "truncate":  # cut inside the last flow mapping: never closed
        last = lines[-1]
        cut = rnd.randint(last.index("{") + 1, last.index("}"))
        text = "\n".join(lines[:-1] + [last[:cut]]).encode()
    elif kind == "wrong_type":
        key = rnd.choice(sorted(WRONG))
        val = rnd.choice(WRONG[key])
        out, skip = [], False
        for ln in lines:
            if skip and ln.startswith(" "):
                continue
            skip = False
            if ln.startswith(key + ":"):
                out.append("%s: %s" % (key, val))
                skip = True
            else:
                out.append(ln)
        text = "\n".join(out).encode()
    elif kind == "indent":
        i = rnd.choice([1, 3, 4, 5, 6, 7, 9])
        how = rnd.choice(["tab", "over"])
        if how == "tab":
            lines[i] = "\t" + lines[i].lstrip()
        else:  # a key indented under a scalar value
            lines.insert(i, " " * rnd.randint(1, 6) + "stray_key: 1")
            lines[i - 1] = lines[i - 1] if ":" in lines[i - 1] and not lines[i - 1].endswith(":") \
                else lines[i - 1] + " value"
        text = "\n".join(lines).encode()
    elif kind == "unknown_key":
        name = "frob_%d" % rnd.randint(0, 10**6)
        where = rnd.choice(["top", "audit", "rule"])
        if where == "top":
            lines.insert(rnd.randint(0, len(lines)), "%s: %d" % (name, rnd.randint(0, 9)))
        elif where == "audit":
            lines.insert(lines.index("audit:") + 1, "  %s: true" % name)
        else:
            lines[-2] = lines[-2].replace("}", ", %s: x}" % name)
        text = "\n".join(lines).encode()
    elif kind == "huge":
        what = rnd.choice(["digits", "mode", "retain", "rule_path_key"])
        if what == "digits":
            lines[5] = "decision_timeout_ms: " + "9" * rnd.randint(20, 2000)
        elif what == "mode":
            lines[0] = "mode: " + "e" * rnd.randint(1000, 50000)
        elif what == "retain":
            lines[8] = "  retain_days: 1" + "0" * rnd.randint(12, 400)
        else:
            lines[-1] = "  - {%s: 1, action: deny}" % ("k" * rnd.randint(1000, 50000))
        text = "\n".join(lines).encode()
    elif kind == "utf8":
        bad = rnd.choice([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                          b"\xe2\x82", b"\xc0\xaf", b"\x80"])
        i = rnd.randrange(len(lines))
        raw = [ln.encode() for ln in lines]
        pos = rnd.randint(0, len(raw[i]))
        raw[i] = raw[i][:pos] + bad + raw[i][pos:]
        text = b"\n".join(raw)
    elif kind == "control":
        i = rnd.randrange(len(lines))
        ch = bytes([rnd.choice([0, 1, 7, 8, 0x0b, 0x0c, 0x1b, 0x7f])])
        raw = [ln.encode() for ln in lines]
        pos = rnd.randint(0, len(raw[i]))
        raw[i] = raw[i][:pos] + ch + raw[i][pos:]
        text = b"\n".join(raw)
    elif kind == "nesting":
        depth = rnd.randint(33, 5000)
        o, c = rnd.choice([("[", "]"), ("{a: ", "}")])
        lines[-1] = "  - " + o * depth + "x" + c * depth * rnd.randint(0, 1)
        text = "\n".join(lines).encode()
    elif kind == "duplicate":
        key = rnd.choice(["mode: monitor", "default: deny", "watch: [/]", "audit: {}", "rules: []"])
        lines.insert(rnd.randint(len(lines) - 2, len(lines)), key)
        text = "\n".join(lines).encode()
    else:  # a billion laughs under a key that takes a list
        bomb = ["x_a: &a [x, x, x, x, x, x, x, x, x, x]"]
        for n in range(1, rnd.randint(4, 9)):
            prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
            bomb.append("x_%s: &%s [%s]" % (cur, cur, ", ".join(["*" + prev] * 10)))
        text = "\n".join(bomb + lines).encode()
    if rnd.random() < 0.5:
        text += b"\n"
    return kind, text


def gen(outdir, count, watch, seed):
    rnd = random.Random(seed)
    kinds = {}
    for n in range(count):
        kind, text = mutate(rnd, watch)
        kinds[kind] = kinds.get(kind, 0) + 1
        with open(os.path.join(outdir, "bad-%04d.yaml" % n), "wb") as f:
            f.write(text)
    print(json.dumps(kinds, sort_keys=True))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, timeout=20)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def check(indir, ctl, sock, verb):
    files = sorted(os.path.join(indir, f) for f in os.listdir(indir) if f.startswith("bad-"))
    show = [ctl, "--socket", sock, "--json", "policy", "show"]
    rc, before, err = run(show) if verb == "apply" else (0, b"", "")
    res = {"verb": verb, "files": len(files), "wrong": [], "show_changed": 0, "seconds": 0}
    if rc != 0:
        res["wrong"].append("policy show failed: %s" % err)
    t0 = time.monotonic()

    def one(path):
        want = re.compile(r"^%s:\d+:\d+: \S" % re.escape(path))
        wrong = []
        rc, _, err = run([ctl, "--socket", sock, "policy", verb, path])
        first = err.splitlines()[0] if err else ""
        if rc != 2 or not want.match(first):
            wrong.append("%s %s: exit %d, stderr %r" % (verb, os.path.basename(path), rc,
                                                        err[:200]))
        return wrong

    # batches of 100 run by 4 clients at once (applies race each other too);
    # between batches, nothing in flight, the running policy is compared
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for start in range(0, len(files), 100):
            for wrong in pool.map(one, files[start:start + 100]):
                res["wrong"] += wrong[:max(0, 8 - len(res["wrong"]))]
            if verb == "apply" and run(show)[1] != before:
                res["show_changed"] += 1
    res["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(res))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "gen":
        gen(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 12)
    elif len(sys.argv) == 5 and sys.argv[1] in ("check", "apply"):
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
