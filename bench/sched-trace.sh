#!/bin/bash
# Where a round trip's microseconds go: the scheduler's view of one exec
# gated by gatekeeperd --no-kernel-cache beside one gated by the raw
# responder (bench/raw_responder.c). `make bench` says how much more the
# daemon's round trip costs; this says in which phase, from perf's sched
# tracepoints (software events: no PMU needed). See bench/README.md.
#
#   bench/sched-trace.sh BUILD        (as root; needs perf: Debian's linux-perf)
#
# Each side: 3 x 100 timed execs of the static target (bench/spawn_bench),
# in ABBA order, under `perf record -a`, on a tmpfs of its own in a private
# mount namespace. The
# daemons run under timeout and are stopped by PID; the mounts go with the
# namespace. Prints a table (bench/sched_phases.py); asserts nothing.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
EVENTS=sched:sched_switch,sched:sched_waking,sched:sched_process_exec,sched:sched_process_exit

die() {
	echo "sched-trace: $*" >&2
	exit 1
}

outer() {
	[[ $# -eq 1 ]] || { echo "usage: bench/sched-trace.sh BUILD" >&2; exit 2; }
	[[ $EUID -eq 0 ]] || die "must run as root (fanotify permission events, mounts)"
	command -v perf >/dev/null || die "perf missing (apt-get install linux-perf)"
	local build rc
	build=$(cd "$1" 2>/dev/null && pwd) || die "build dir $1 missing (run make first)"
	for f in gatekeeperd gatekeeper-ctl bench/spawn_bench bench/raw_responder bench/tiny-static; do
		[[ -x $build/$f ]] || die "$build/$f missing (make BUILD=$1 all bench-helpers)"
	done
	top=$(mktemp -d /tmp/gk-trace.XXXXXX) || die "mktemp failed"
	trap 'rm -rf --one-file-system "$top"' EXIT
	GK_TRACE_INNER=1 timeout -s KILL 300 unshare -m --propagation private -- \
		bash "$0" "$build" "$top"
	rc=$?
	[[ $rc -eq 0 ]] || exit "$rc"
	python3 "$HERE/sched_phases.py" "$top/gate.txt" "$top/raw.txt"
}

PIDS=()
stop_all() {
	local p c
	for p in "${PIDS[@]}"; do
		c=$(pgrep -P "$p") && kill "$c" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}

# record SIDE: perf's sched events while 100 execs run on the SIDE's tmpfs;
# the text is appended to T/SIDE.txt
record() {
	local side=$1
	printf '%s\t100\tplain\t%s\n' "$side" "$T/$side/w/static" >"$T/spec-$side"
	perf record -q -e "$EVENTS" -a -o "$T/$side.data" -- \
		"$B/bench/spawn_bench" --rounds 1 --warmup 5 "$T/spec-$side" >"$T/$side.json" ||
		return 1
	grep -q '"failed": *0[,}]' "$T/$side.json" || { echo "execs failed: $(cat "$T/$side.json")"; return 1; }
	perf script -i "$T/$side.data" >>"$T/$side.txt" 2>/dev/null
}

inner() {
	B=$1 T=$2
	local side
	trap stop_all EXIT
	# one tmpfs per side, so each gate marks only its own (T keeps the data)
	for side in gate raw; do
		mkdir -p "$T/$side" && mount -t tmpfs -o size=16m tmpfs "$T/$side" || die "mount $side"
		mkdir "$T/$side/w" && cp "$B/bench/tiny-static" "$T/$side/w/static"
	done
	printf 'mode: enforce\nwatch:\n  - %s/gate/w\ndefault: deny\n' "$T" >"$T/policy.yaml"
	timeout -s KILL 240 "$B/gatekeeperd" --foreground --policy "$T/policy.yaml" --db "$T/db" \
		--socket "$T/sock" --no-kernel-cache >"$T/gate.log" 2>&1 &
	PIDS+=($!)
	timeout -s KILL 240 "$B/bench/raw_responder" "$T/raw/w" >"$T/raw.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		"$B/gatekeeper-ctl" --socket "$T/sock" status >/dev/null 2>&1 &&
			grep -q '^ready' "$T/raw.log" && break
		sleep 0.1
	done
	# a stored admin verdict: every exec is a round trip answered from memory
	"$B/gatekeeper-ctl" --socket "$T/sock" allow "$T/gate/w/static" >/dev/null ||
		die "gatekeeper-ctl allow failed: $(tail -n 3 "$T/gate.log")"
	# ABBA order, three times: drift falls on both sides alike
	for side in gate raw raw gate gate raw; do
		record "$side" || die "recording failed"
	done
}

if [[ -n ${GK_TRACE_INNER:-} ]]; then
	inner "$@"
else
	outer "$@"
fi
