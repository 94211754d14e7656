#!/bin/sh
# tests/sys/run.sh BUILD: the package on a booted Debian 12 system (make systest).
#   1. make deb: dpkg-buildpackage + lintian (no error, no warning);
#   2. systemd-analyze verify on the unit as `make install` writes it;
#   3. a Debian 12 root filesystem (mmdebstrap from this machine's mirror,
#      cached in BUILD/sys while the package's dependencies stay the same)
#      with a local apt repository of those dependencies;
#   4. a fresh ext4 image of it (mke2fs -d) with the .deb and the guest
#      suites in /root/gk, booted under qemu TCG (never KVM) with the
#      image's own cloud kernel and initrd, systemd as init, bpf in lsm=, no
#      network; gk-systest.service runs the suites and powers off; the
#      guest's TAP lines are relayed here.
#      Suites: guest-tests.sh (the package in monitor and enforce mode,
#      systemd, journald, purge), then guest-enforce.sh (the whole-host
#      profile; a reboot into it; guest-enforce2.sh checks the booted system).
# Environment: GK_SYS_SUITES (default guest-tests.sh,guest-enforce.sh),
# GK_SYS_TIMEOUT (1500 s per boot: TCG on a loaded 2-core host boots in ~2
# min, idle in well under 1).
set -u
BUILD=${1:?usage: tests/sys/run.sh BUILD}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "not ok 1 - sys: build dir $1 missing"; exit 1; }
SYSDIR=$BUILD/sys
SUITES=${GK_SYS_SUITES:-guest-tests.sh,guest-enforce.sh}
GUEST_TIMEOUT=${GK_SYS_TIMEOUT:-1500}
mkdir -p "$SYSDIR"
T0=$(date +%s)

N=0
FAILED=0
tap() { # ok|not-ok NAME
	N=$((N + 1))
	if [ "$1" = ok ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAILED=$((FAILED + 1)); fi
}
finish() {
	echo "# sys: $((N - FAILED)) passed, $FAILED failed in $(($(date +%s) - T0)) s"
	[ "$FAILED" -eq 0 ] && [ "$N" -gt 0 ]
	exit $?
}
since() { echo "$(($(date +%s) - $1)) s"; }

# --- 1. the package ---
t=$(date +%s)
# make-deb.sh runs lintian when it is installed: here it must be, and the
# -dbgsym package must be there.
if command -v lintian >/dev/null && "$ROOT/packaging/make-deb.sh" "$BUILD/deb" >"$SYSDIR/deb.log" 2>&1 &&
	ls "$BUILD"/deb/gatekeeper-dbgsym_*_amd64.*deb >/dev/null 2>&1; then
	tap ok "make deb: gatekeeper and -dbgsym built, lintian reports no error or warning ($(since $t))"
else
	command -v lintian >/dev/null || echo "# lintian is not installed"
	sed 's/^/# /' "$SYSDIR/deb.log" | tail -n 30
	tap not-ok "make deb: gatekeeper and -dbgsym built, lintian reports no error or warning"
	finish
fi
DEB=$(ls "$BUILD"/deb/gatekeeper_*_amd64.deb | tail -n1)

# --- 2. the unit as make install writes it ---
V=$(mktemp -d)
make -s -C "$ROOT" BUILD="$BUILD" install DESTDIR="$V" PREFIX=/usr >"$SYSDIR/install.log" 2>&1
unit=$V/lib/systemd/system/gatekeeperd.service
if [ -s "$unit" ] && grep -q '^ExecStart=/usr/sbin/gatekeeperd ' "$unit"; then
	tap ok "make install PREFIX=/usr writes /usr/sbin/gatekeeperd into the unit"
else
	tap not-ok "make install PREFIX=/usr writes /usr/sbin/gatekeeperd into the unit"
fi
# verify needs the daemon where ExecStart says: point it at the installed copy
sed "s|^ExecStart=/usr/sbin/|ExecStart=$V/usr/sbin/|" "$unit" >"$V/gatekeeperd.service"
if out=$(systemd-analyze verify --man=no "$V/gatekeeperd.service" 2>&1) && [ -z "$out" ]; then
	tap ok "systemd-analyze verify gatekeeperd.service"
else
	echo "$out" | sed 's/^/# /'
	tap not-ok "systemd-analyze verify gatekeeperd.service"
fi
rm -rf "$V"

# --- 3. the Debian 12 system ---
t=$(date +%s)
if "$HERE/mkrootfs.sh" "$SYSDIR" "$DEB" >"$SYSDIR/mkrootfs.log" 2>&1; then
	tap ok "Debian 12 root filesystem with a local apt repository: $(tail -n1 "$SYSDIR/mkrootfs.log") ($(since $t))"
else
	tail -n 30 "$SYSDIR/mkrootfs.log" | sed 's/^/# /'
	tap not-ok "Debian 12 root filesystem (mmdebstrap)"
	finish
fi

# --- 4. a fresh image per run, booted ---
t=$(date +%s)
G=$SYSDIR/rootfs/root/gk
rm -rf "$G" && mkdir -p "$G"
cp "$DEB" "$HERE/guest-run.sh" "$HERE/sys-lib.sh" "$ROOT/tests/vm/guest-lib.sh" "$G/"
for s in $(echo "$SUITES" | tr ',' ' '); do cp "$HERE/$s" "$G/"; done
cp "$HERE"/guest-enforce2.sh "$G/"
# the unit that runs them (ExecStart through /bin/sh: under default: deny a
# script of our own would not be exec'd)
cp "$HERE/gk-systest.service" "$SYSDIR/rootfs/etc/systemd/system/"
ln -sf ../gk-systest.service "$SYSDIR/rootfs/etc/systemd/system/multi-user.target.wants/gk-systest.service"
echo "$SUITES" | tr ',' '\n' >"$G/suites"
chmod 755 "$G"/*.sh
IMG=$SYSDIR/disk.img
rm -f "$IMG"
if ! mke2fs -q -F -t ext4 -L gk-root -d "$SYSDIR/rootfs" "$IMG" 3G >"$SYSDIR/mke2fs.log" 2>&1; then
	sed 's/^/# /' "$SYSDIR/mke2fs.log"
	tap not-ok "ext4 image of the root filesystem (mke2fs -d)"
	rm -f "$IMG"
	finish
fi
rm -rf "$G"
echo "# image ready in $(since $t); booting (timeout ${GUEST_TIMEOUT} s per boot)"
t=$(date +%s)
# A suite may reboot the guest (GKTAP-REBOOT): qemu exits (-no-reboot) and
# the same image boots again, at most 3 times.
: >"$SYSDIR/console.log"
boots=0
while :; do
	boots=$((boots + 1))
	# cx16=off: see tests/vm/run.sh (TCG and SLUB's cmpxchg16b).
	timeout -k 5 "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max,cx16=off -m 1536 -smp 1 \
		-nodefaults -display none -serial "file:$SYSDIR/console-$boots.log" -no-reboot -nic none \
		-drive "file=$IMG,format=raw,if=virtio,cache=unsafe" \
		-kernel "$SYSDIR/vmlinuz" -initrd "$SYSDIR/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 loglevel=4 lsm=lockdown,capability,landlock,yama,apparmor,bpf systemd.show_status=error" \
		</dev/null >"$SYSDIR/qemu.log" 2>&1
	rc=$?
	cat "$SYSDIR/console-$boots.log" >>"$SYSDIR/console.log"
	rm -f "$SYSDIR/console-$boots.log"
	[ "$rc" -eq 0 ] && [ "$boots" -lt 4 ] && [ "$(grep -c GKTAP-REBOOT "$SYSDIR/console.log")" -eq "$boots" ] &&
		! grep -q GKTAP-END "$SYSDIR/console.log" || break
done
rm -f "$IMG"
echo "# guest ran for $(since $t), $boots boot(s) (qemu exit $rc; console log: $SYSDIR/console.log)"
tr -d '\r' <"$SYSDIR/console.log" | sed -n 's/^.*GKTAP //p' >"$SYSDIR/tap"
while IFS= read -r line; do
	case "$line" in
	"ok - "*) tap ok "debian12: ${line#ok - }" ;;
	"not ok - "*) tap not-ok "debian12: ${line#not ok - }" ;;
	"#"*) echo "# debian12:${line#\#}" ;;
	esac
done <"$SYSDIR/tap"
if grep -q 'GKTAP-END' "$SYSDIR/console.log" && [ "$rc" -eq 0 ]; then
	tap ok "debian12: the guest ran every suite and powered off"
else
	tap not-ok "debian12: the guest ran every suite and powered off (qemu exit $rc)"
	tr -d '\r' <"$SYSDIR/console.log" | tail -n 25 | sed 's/^/#   /'
fi
finish
