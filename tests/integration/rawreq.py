#!/usr/bin/env python3
"""Send one raw, hostile request to gatekeeperd's control socket.

usage: rawreq.py SOCKET KIND

KIND selects the bytes sent (see REQUESTS). After sending, the write side is
shut down so that a daemon waiting for more bytes sees EOF, then the reply is
read until the daemon closes the connection. Prints one line:
  "reply N BYTES"   the daemon answered (N bytes; the first ones shown)
  "closed"          the daemon closed (or reset) the connection without a reply
  "timeout"         the daemon neither answered nor closed within 5 s
  "connect-failed"  the socket did not accept the connection
Exit status: 0 for reply/closed, 1 otherwise.
"""
import socket
import sys

BIG = 70 * 1024  # over the 64 KiB any sane request limit stays under

REQUESTS = {
    "status": b"status\n",  # a control: a well-formed request
    "big-noeol": b"A" * BIG,
    "big-line": b"status " + b"A" * BIG + b"\n",
    "garbage": b"\x00\xff\xfe\x01garbage \x1b[31m\x7f\n" * 8,
    "nul-line": b"\x00" * 100 + b"\n",
    "partial": b"sta",
    "unknown-verb": b"frobnicate /etc/passwd\n",
}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in REQUESTS:
        print("usage: rawreq.py SOCKET " + "|".join(REQUESTS), file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(sys.argv[1])
    except OSError as err:
        print("connect-failed %s" % err)
        return 1
    reply = b""
    try:
        try:
            sock.sendall(REQUESTS[sys.argv[2]])
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon stopped reading; a reply may still be queued
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    except socket.timeout:
        print("timeout (got %d bytes)" % len(reply))
        return 1
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon gave up on us: that is a closed connection
    finally:
        sock.close()
    if reply:
        print("reply %d %r" % (len(reply), reply[:120]))
    else:
        print("closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
