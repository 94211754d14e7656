#!/bin/sh
# mkinitramfs.sh BUILD OUT: the guest's root filesystem as an (uncompressed:
# TCG decompresses slowly) newc cpio: busybox-static, /init, the guest suites
# under /gk, the test helpers, the project's binaries from BUILD when built,
# bpftool, the files named in GK_VM_EXTRA, and every shared library ldd names
# for them.
set -eu
BUILD=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(mktemp -d "$BUILD/vm/root.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

mkdir -p "$ROOT/bin" "$ROOT/gk" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/tmp" "$ROOT/t" \
	"$ROOT/run" "$ROOT/etc"
cp /bin/busybox "$ROOT/bin/busybox"
cp "$HERE/init.sh" "$ROOT/init"
chmod 755 "$ROOT/init"
cp "$HERE/guest-lib.sh" "$HERE"/*-tests.sh "$ROOT/gk/"
echo "root:x:0:0:root:/:/bin/sh" >"$ROOT/etc/passwd"
echo "root:x:0:" >"$ROOT/etc/group"

BINS="$BUILD/vm/bin/gk-vmtool $BUILD/vm/bin/gk-hello $BUILD/vm/bin/gk-hello-static $BUILD/vm/bin/gk-hello-interp $BUILD/vm/bin/gk-kload $BUILD/vm/bin/gk-routes $BUILD/vm/bin/gk-fileless $BUILD/vm/bin/gk-preload.so $(command -v bpftool || echo /usr/sbin/bpftool)"
SUITES="kload-tests.sh daemon-tests.sh writes-tests.sh host-tests.sh"
for b in gatekeeperd gatekeeper-ctl; do
	[ -x "$BUILD/$b" ] && BINS="$BINS $BUILD/$b"
done
# GK_VM_EXTRA: more files for /gk (bench/vm-run.sh's guest script and tools).
BINS="$BINS ${GK_VM_EXTRA:-}"
for b in $BINS; do
	cp "$b" "$ROOT/gk/"
done
echo "$SUITES" >"$ROOT/gk/suites"

# Shared libraries at the paths ldd reports, plus the dynamic loader (not
# gk-hello-interp's own, which the guest test puts under /t).
for b in $BINS; do
	ldd "$b" 2>/dev/null | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}'
done | grep -v '^/t/' | sort -u | while read -r lib; do
	mkdir -p "$ROOT$(dirname "$lib")"
	cp -L "$lib" "$ROOT$lib"
done

(cd "$ROOT" && find . | cpio -o -H newc --quiet) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
