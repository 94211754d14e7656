#!/bin/sh
# make sysbench (run by make vmbench): gatekeeper and Debian's fapolicyd side
# by side on a booted Debian 12 (issue 13.5), as ratios to the bare system
# measured in the same run.
#
#   bench/sys-run.sh BUILD     (BUILD/vm/bench/exec_lat: make sysbench builds it)
#
# The image is the system test's (tests/sys/mkrootfs.sh: mmdebstrap, cached
# in BUILD/sys; its local apt repository holds fapolicyd too), booted under
# qemu TCG (never KVM) as tests/sys/run.sh does, one fresh disk image for the
# whole run:
#   1. a setup boot installs gatekeeper and fapolicyd, gives each its
#      enforcing whole-host configuration and starts each once, as an
#      installation would (bench/sys-guest.sh);
#   2. ROUNDS rounds of three boots, the order rotated each round: bare (both
#      masked with systemd.mask= on the kernel command line), gk (gatekeeper
#      enforcing, fapolicyd masked), fapo (the reverse). Each boot measures
#      boot time to multi-user.target, first execs, cached exec latency and
#      the shell workload, then checks that its gate enforces;
#   3. BOOT_ROUNDS more rounds of the same three boots that measure only the
#      boot time (and check that the gate enforces): boots under TCG spread
#      by a third between boots of one configuration, so the boot figure
#      needs more boots than the exec figures, which a boot takes minutes to
#      measure.
# Prints a table, writes bench/sys-results.json (bench/sys-report.py). Never
# asserts on time: exits non-zero only when it could not measure (no image,
# a boot that did not finish, a configuration that did not enforce).
# Environment: GK_SYSBENCH_ROUNDS (3), GK_SYSBENCH_BOOT_ROUNDS (6),
# GK_SYSBENCH_TIMEOUT (900 s per boot), GK_SYSBENCH_CONFIGS ("bare gk fapo";
# a subset, for a quicker comparison of two), GK_SYSBENCH_ICOUNT (unset; N: run
# the guest under -icount shift=N,sleep=off, so that its clock counts the
# instructions it ran, 2^N ns each, and not the host's time. Boot times then
# move less with the host's other load, not nil: I/O still completes in
# host time; two bare boots at N=3 came 3% apart, against up to 20%
# without. A boot takes 1-2 minutes, and figures are in virtual time).
# TCG emulates the CPU: times are ~10-20x a real machine's; read the ratios.
set -u
BUILD=${1:?usage: bench/sys-run.sh BUILD}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "sysbench: build dir $1 missing" >&2; exit 1; }
SYSDIR=$BUILD/sys
OUT=$BUILD/sysbench
ROUNDS=${GK_SYSBENCH_ROUNDS:-3}
BOOT_ROUNDS=${GK_SYSBENCH_BOOT_ROUNDS:-6}
TIMEOUT=${GK_SYSBENCH_TIMEOUT:-900}
ICOUNT=${GK_SYSBENCH_ICOUNT:-}
EXEC_LAT=$BUILD/vm/bench/exec_lat
mkdir -p "$SYSDIR" "$OUT"
T0=$(date +%s)
say() { echo "sysbench: $* ($(($(date +%s) - T0)) s)" >&2; }
die() { echo "sysbench: $*" >&2; exit 1; }
case "$ICOUNT" in *[!0-9]*) die "GK_SYSBENCH_ICOUNT '$ICOUNT' must be a whole number (qemu's -icount shift)" ;; esac
case "$ROUNDS$BOOT_ROUNDS" in *[!0-9]*) die "GK_SYSBENCH_ROUNDS '$ROUNDS' and GK_SYSBENCH_BOOT_ROUNDS '$BOOT_ROUNDS' must be whole numbers" ;; esac
[ "$((ROUNDS + BOOT_ROUNDS))" -gt 0 ] || die "no rounds to run (GK_SYSBENCH_ROUNDS and GK_SYSBENCH_BOOT_ROUNDS are 0)"

[ -x "$EXEC_LAT" ] || make -s -C "$ROOT" BUILD="$BUILD" "$EXEC_LAT" >"$OUT/build.log" 2>&1 ||
	{ cat "$OUT/build.log" >&2; die "building $EXEC_LAT failed"; }
"$ROOT/packaging/make-deb.sh" "$BUILD/deb" >"$OUT/deb.log" 2>&1 ||
	{ tail -n 20 "$OUT/deb.log" >&2; die "make deb failed (log: $OUT/deb.log)"; }
DEB=$(ls "$BUILD"/deb/gatekeeper_*_amd64.deb | tail -n1)
say "package built: $(basename "$DEB")"
"$ROOT/tests/sys/mkrootfs.sh" "$SYSDIR" "$DEB" >"$OUT/mkrootfs.log" 2>&1 ||
	{ tail -n 20 "$OUT/mkrootfs.log" >&2; die "the Debian 12 root filesystem failed (log: $OUT/mkrootfs.log)"; }
ls "$SYSDIR"/rootfs/var/local/gk-repo/fapolicyd_*.deb >/dev/null 2>&1 ||
	die "fapolicyd is missing from the image's local repository ($SYSDIR/rootfs/var/local/gk-repo)"
say "root filesystem: $(tail -n1 "$OUT/mkrootfs.log")"

# boot NAME CFG EXTRA-APPEND: one boot of the image; its console in
# OUT/console-NAME.log. Fails when the guest did not finish (GKTAP-END).
boot() {
	log=$OUT/console-$1.log
	# cx16=off: see tests/vm/run.sh (TCG and SLUB's cmpxchg16b).
	# shellcheck disable=SC2046
	timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max,cx16=off -m 1536 -smp 1 \
		$([ -n "$ICOUNT" ] && echo "-icount shift=$ICOUNT,sleep=off") \
		-nodefaults -display none -serial "file:$log" -no-reboot -nic none \
		-drive "file=$IMG,format=raw,if=virtio,cache=unsafe" \
		-kernel "$SYSDIR/vmlinuz" -initrd "$SYSDIR/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 loglevel=4 lsm=lockdown,capability,landlock,yama,apparmor,bpf systemd.show_status=error gkbench=$2 $3" \
		</dev/null >"$OUT/qemu-$1.log" 2>&1 &
	QPID=$!
	wait "$QPID"
	qrc=$?
	QPID=
	tr -d '\r' <"$log" | sed -n 's/^.*GKTAP //p' | grep -v '^# GKBENCH' | sed "s/^/  $1: /" >&2
	[ "$qrc" -eq 0 ] && grep -q GKTAP-END "$log"
}
# make_image: a fresh ext4 image of the root filesystem with our tools in
# /root/gk and the unit that runs them.
make_image() {
	G=$SYSDIR/rootfs/root/gk
	rm -rf "$G" && mkdir -p "$G"
	cp "$DEB" "$ROOT/tests/sys/guest-run.sh" "$ROOT/tests/vm/guest-lib.sh" "$ROOT/tests/sys/sys-lib.sh" \
		"$HERE/sys-guest.sh" "$EXEC_LAT" "$G/"
	cp "$ROOT/tests/sys/gk-systest.service" "$SYSDIR/rootfs/etc/systemd/system/"
	ln -sf ../gk-systest.service "$SYSDIR/rootfs/etc/systemd/system/multi-user.target.wants/gk-systest.service"
	echo sys-guest.sh >"$G/suites"
	chmod 755 "$G"/*.sh
	mke2fs -q -F -t ext4 -L gk-root -d "$SYSDIR/rootfs" "$IMG" 3G >"$OUT/mke2fs.log" 2>&1
	rc=$?
	rm -rf "$G"
	[ "$rc" -eq 0 ] || { cat "$OUT/mke2fs.log" >&2; rm -f "$IMG"; die "mke2fs -d of the root filesystem failed"; }
}

# One disk image for the whole run: the setup boot's installation persists.
# The image as the setup boot left it is kept (OUT/setup.img) and reused
# while the root filesystem, the package's files and the guest's tools are
# the same: each run still measures on a copy of it.
IMG=$OUT/disk.img
SETUP_KEY="$(cat "$SYSDIR/rootfs.key") $(dpkg-deb -I "$DEB" md5sums | sha256sum | cut -c1-16) $(cat "$HERE/sys-guest.sh" "$EXEC_LAT" "$ROOT/tests/sys/guest-run.sh" "$ROOT/tests/vm/guest-lib.sh" "$ROOT/tests/sys/sys-lib.sh" "$ROOT/tests/sys/gk-systest.service" | sha256sum | cut -c1-16)"
rm -f "$IMG" "$OUT"/console-*.log
QPID=
# timeout(1) runs qemu in a process group of its own: on our way out, stop it
# (timeout passes the signal on to qemu), and drop the disk image.
trap '[ -n "$QPID" ] && kill "$QPID" 2>/dev/null; rm -f "$IMG"' EXIT
trap 'exit 1' INT TERM HUP
MASK_GK=systemd.mask=gatekeeperd.service
MASK_FAPO=systemd.mask=fapolicyd.service
if [ -s "$OUT/setup.img" ] && [ "$(cat "$OUT/setup.key" 2>/dev/null)" = "$SETUP_KEY" ]; then
	cp --sparse=always "$OUT/setup.img" "$IMG" || die "cannot copy $OUT/setup.img"
	say "reusing the set-up image $OUT/setup.img (same root filesystem, package and tools)"
else
	rm -f "$OUT/setup.img" "$OUT/setup.key"
	make_image
	say "setup boot (installs gatekeeper and fapolicyd; a boot under TCG takes 2-8 minutes)"
	boot setup setup "" || die "the setup boot did not finish (console: $OUT/console-setup.log)"
	grep -q 'GKTAP not ok' "$OUT/console-setup.log" && die "the setup boot failed a step (console: $OUT/console-setup.log)"
	cp --sparse=always "$IMG" "$OUT/setup.img" && echo "$SETUP_KEY" >"$OUT/setup.key"
fi

failed=0
CONFIGS=${GK_SYSBENCH_CONFIGS:-bare gk fapo}
for cfg in $CONFIGS; do
	case $cfg in bare | gk | fapo) ;; *) die "GK_SYSBENCH_CONFIGS: '$cfg' is not bare, gk or fapo" ;; esac
done
# shellcheck disable=SC2086
set -- $CONFIGS
[ $# -gt 0 ] || die "GK_SYSBENCH_CONFIGS names no configuration"
# A round's boots are named ROUND-CFG; the boot-only rounds' ROUNDb-CFG.
for r in $(seq "$((ROUNDS + BOOT_ROUNDS))"); do
	name=$r scope=all
	[ "$r" -gt "$ROUNDS" ] && name=$((r - ROUNDS))b scope=boot
	for cfg in "$@"; do
		case $cfg in
		bare) extra="$MASK_GK $MASK_FAPO" ;;
		gk) extra="$MASK_FAPO" ;;
		fapo) extra="$MASK_GK" ;;
		esac
		say "round $name ($scope): $cfg"
		boot "$name-$cfg" "$cfg" "$extra gkbench_scope=$scope" ||
			{ echo "sysbench: boot $name-$cfg did not finish" >&2; failed=1; }
	done
	first=$1; shift; set -- "$@" "$first"   # rotate: no configuration always follows the same one
done
logs=$(ls "$OUT"/console-[0-9]*-*.log)
# shellcheck disable=SC2086
python3 "$HERE/sys-report.py" "$HERE/sys-results.json" $logs || failed=1
say "done"
exit "$failed"
