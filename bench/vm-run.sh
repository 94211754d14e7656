#!/bin/sh
# make vmbench: the exec benchmark inside Debian's cloud kernels (6.1 and
# 6.12) under qemu TCG, where BPF LSM loads, so bpf mode is measured:
# bare exec vs the cached verdict (bpf) vs the round-trip gate
# (--no-kernel-cache) vs fanotify-only (--no-bpf), static and dynamic
# targets, in interleaved rounds in one boot per kernel (bench/vm-guest.sh).
#
#   bench/vm-run.sh BUILD      (BUILD holds gatekeeperd and gatekeeper-ctl)
#
# Reuses tests/vm/run.sh (kernels, initramfs, boot) and bench/spawn_bench.c
# (built static into the initramfs). Prints a table, writes
# bench/vm-results.json. Never asserts on time: exits non-zero only when it
# could not measure. Environment: GK_VMBENCH_ROUNDS (10), GK_VMBENCH_ITERS
# (80 static execs per block, 3/8 of it dynamic), GK_VMBENCH_STORM_ROUNDS (2),
# GK_VM_RUNS (both kernels).
# TCG emulates the CPU: absolute times are ~10x a real machine's; the ratios
# between conditions measured in the same boot are the figures to read.
set -u
BUILD=${1:?usage: bench/vm-run.sh BUILD}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "vmbench: build dir $1 missing" >&2; exit 1; }
OUT=$BUILD/vm/bench
mkdir -p "$OUT"
for b in gatekeeperd gatekeeper-ctl; do
	[ -x "$BUILD/$b" ] || { echo "vmbench: $BUILD/$b missing (make BUILD=$1 all)" >&2; exit 1; }
done

# The targets are the host bench's (bench/tiny.c), built by the Makefile
# (make vmbench-helpers), static where the guest has no libc of ours.
if ! make -s -C "$ROOT" BUILD="$BUILD" vmbench-helpers >"$OUT/build.log" 2>&1; then
	echo "vmbench: building the guest tools failed:" >&2
	cat "$OUT/build.log" >&2
	exit 1
fi

KERNEL_RUNS=${GK_VM_RUNS:-"bookworm bookworm-backports"}
APPEND=""
for v in GK_VMBENCH_ROUNDS GK_VMBENCH_ITERS GK_VMBENCH_STORM_ROUNDS; do
	eval "val=\${$v:-}"
	[ -n "$val" ] && APPEND="$APPEND $v=$val"
done
echo "vmbench: booting $KERNEL_RUNS one after the other (about 1.5 minutes each)" >&2
# Other load on the host slows the emulated CPU unevenly: kept with the results.
GK_VMBENCH_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
export GK_VMBENCH_LOAD_START
GK_VM_RUNS=$KERNEL_RUNS GK_VM_SUITES=vm-guest.sh GK_VM_TIMEOUT=${GK_VM_TIMEOUT:-420} \
	GK_VM_APPEND="$APPEND" \
	GK_VM_EXTRA="$HERE/vm-guest.sh $OUT/spawn_bench $OUT/tiny-static $OUT/tiny-dynamic" \
	"$ROOT/tests/vm/run.sh" "$BUILD" >"$OUT/run.log" 2>&1
rc=$?
grep -E '^(not ok|# .*(vmbench|bench):)' "$OUT/run.log" >&2
logs=""
for run in $KERNEL_RUNS; do
	logs="$logs $run=$BUILD/vm/console-$run.log:$BUILD/vm/release-$run"
done
# shellcheck disable=SC2086
python3 "$HERE/vm-report.py" "$HERE/vm-results.json" $logs || rc=1
[ "$rc" -eq 0 ] || echo "vmbench: the guest run reported failures (see $OUT/run.log)" >&2
exit "$rc"
