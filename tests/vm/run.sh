#!/bin/sh
# tests/vm/run.sh BUILD: the guest-kernel (BPF LSM) suite.
# Fetches Debian's cloud kernels (bookworm 6.1, bookworm-backports 6.12) into
# BUILD/vm, builds one initramfs (busybox, the project's binaries, the test
# helpers, their shared libraries, the guest suites), boots each kernel under
# qemu TCG and relays the guest's results as TAP. Exits non-zero on any
# failure, on a boot failure and on a timeout: a kernel that never reports
# is a failure, not a skip.
# Environment (for development and for bench/vm-run.sh):
#   GK_VM_RUNS="bookworm ..."   the boots (KERNEL or KERNEL:nolsm)
#   GK_VM_SUITES=a.sh,b.sh      the guest suites of every bpf boot
#   GK_VM_EXTRA="FILE ..."      more files for the guest's /gk (with their libraries)
#   GK_VM_APPEND="K=V ..."      more kernel command line; K=V without a dot reaches the
#                               guest suites as environment (GK_VM_ROUTE_ROUNDS=5)
#   GK_VM_TIMEOUT=S             the limit of one boot (default 240 s)
set -u
BUILD=${1:?usage: tests/vm/run.sh BUILD}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "not ok 1 - vm: build dir $1 missing"; exit 1; }
VMDIR=$BUILD/vm
GUEST_TIMEOUT=${GK_VM_TIMEOUT:-240}
KERNELS=${GK_VM_KERNELS:-"bookworm bookworm-backports"}
mkdir -p "$VMDIR/bin"

N=0
FAILED=0
tap() { # ok|not-ok NAME
	N=$((N + 1))
	if [ "$1" = ok ]; then echo "ok $N - $2"; else echo "not ok $N - $2"; FAILED=$((FAILED + 1)); fi
}

# --- kernels ---
if ! "$HERE/fetch-kernels.sh" "$VMDIR" >"$VMDIR/fetch.log" 2>&1; then
	sed 's/^/# /' "$VMDIR/fetch.log"
	tap not-ok "vm: fetch Debian's cloud kernels"
	exit 1
fi

# --- helpers: the Makefile's rules (make vm-helpers), against BUILD's skeleton ---
build_helpers() {
	make -s -C "$ROOT" BUILD="$BUILD" vm-helpers
}
if ! build_helpers >"$VMDIR/helpers.log" 2>&1; then
	sed 's/^/# /' "$VMDIR/helpers.log"
	tap not-ok "vm: build the guest test helpers"
	exit 1
fi

# --- initramfs ---
if ! "$HERE/mkinitramfs.sh" "$BUILD" "$VMDIR/initramfs.cpio" >"$VMDIR/initramfs.log" 2>&1; then
	sed 's/^/# /' "$VMDIR/initramfs.log"
	tap not-ok "vm: build the guest initramfs"
	exit 1
fi

# --- boot each kernel in turn: a parallel guest would skew the other's bench ---
# A run is KERNEL or KERNEL:nolsm (the same kernel booted without bpf in lsm=,
# to prove the one-line reason and the fanotify fallback on a real kernel).
# cx16=off: this qemu's TCG corrupts SLUB's cmpxchg16b per-cpu freelist
# under the 6.12 kernel (random double faults in kmem_cache_alloc at boot);
# without CX16 the kernel takes its fallback path and boots reliably.
RUNS=${GK_VM_RUNS:-"$(echo $KERNELS) bookworm:nolsm"}
boot() { # RUN
	kernel=${1%%:*}
	extra="${GK_VM_SUITES:+gk.suites=$GK_VM_SUITES} ${GK_VM_APPEND:-}"
	case "$1" in
	*:nolsm) extra="lsm=lockdown,capability,landlock,yama,apparmor,tomoyo gk.suites=nolsm-tests.sh" ;;
	esac
	timeout -k 5 "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max,cx16=off -m 1024 -smp 1 \
		-nodefaults -display none -serial stdio -no-reboot \
		-kernel "$VMDIR/vmlinuz-$kernel" -initrd "$VMDIR/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=1 rdinit=/init $extra" \
		</dev/null >"$VMDIR/console-$1.log" 2>&1
	echo $? >"$VMDIR/rc-$1"
}
relay() { # RUN
	rel=$(cat "$VMDIR/release-${1%%:*}")
	label="kernel-$(echo "$rel" | cut -d. -f1-2 | sed 's/[^0-9.].*//')"
	case "$1" in *:*) label="$label-${1#*:}" ;; esac
	log=$VMDIR/console-$1.log
	echo "# $label: $rel (console log: $log)"
	tr -d '\r' <"$log" | sed -n 's/^.*GKTAP //p' >"$VMDIR/tap-$1"
	while IFS= read -r line; do
		case "$line" in
		"ok - "*) tap ok "$label: ${line#ok - }" ;;
		"not ok - "*) tap not-ok "$label: ${line#not ok - }" ;;
		"#"*) echo "# $label:${line#\#}" ;;
		esac
	done <"$VMDIR/tap-$1"
	if grep -q 'GKTAP-END' "$log"; then
		tap ok "$label: guest ran the whole suite and powered off"
	else
		tap not-ok "$label: guest ran the whole suite and powered off (rc $(cat "$VMDIR/rc-$1"))"
		tr -d '\r' <"$log" | tail -n 25 | sed 's/^/#   /'
	fi
}
for run in $RUNS; do
	rm -f "$VMDIR/rc-$run" "$VMDIR/console-$run.log"
	boot "$run"
	relay "$run"
done
echo "# vm: $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$N" -gt 0 ]
