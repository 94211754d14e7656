#!/bin/bash
# make bench: exec-gate benchmarks, as ratios against bare exec and against
# a round-trip gate. See bench/README.md for what each figure means.
#
#   bench/run.sh BUILD          (as root; BUILD holds gatekeeperd, gatekeeper-ctl, libgk.a)
#
# Environment (all optional):
#   GK_BENCH_SCALE=F            multiply every iteration count by F (e.g. 0.2 for a quick look)
#   GK_BENCH_DAEMON_ARGS="..."  extra gatekeeperd arguments for every daemon (e.g. --no-bpf)
#   GK_BENCH_SCAN_POLICY="..."  YAML lines that switch the ClamAV scanner on; enables the
#                               "miss + ClamAV scan" condition (n/a without it)
#   GK_BENCH_SCAN_ARGS="..."    extra gatekeeperd arguments for the scanning daemon only
#
# Prints a table on stdout, writes bench/results.json. Never asserts on time:
# it exits non-zero only when the harness could not measure (setup failed,
# an exec that should run did not).
#
# Safety: everything runs inside `unshare -m --propagation private` on fresh
# tmpfs mounts; each daemon watches only its own tmpfs and runs under
# `timeout`; processes are stopped by the PIDs recorded here, never by name.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
INNER_LIMIT=540          # s: the whole measurement; make bench must end within 10 min
DAEMON_LIMIT=520         # s: no daemon outlives the measurement
CFLAGS_BENCH="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-format-truncation -O2"

die() {
	echo "bench: $*" >&2
	exit 1
}

# scaled N: N times GK_BENCH_SCALE, at least 1.
scaled() {
	awk -v n="$1" -v f="${GK_BENCH_SCALE:-1}" 'BEGIN { v = int(n * f + 0.5); print (v < 1 ? 1 : v) }'
}

# ---------------------------------------------------------------- outer stage

build_tools() {
	local b=$1 lib
	mkdir -p "$b/bench" || return 1
	printf '#include <stdlib.h>\nint main(void)\n{ return EXIT_SUCCESS; }\n' >"$b/bench/tiny.c"
	gcc -static -O2 -o "$b/bench/tiny-static" "$b/bench/tiny.c" &&
		gcc -O2 -o "$b/bench/tiny-dynamic" "$b/bench/tiny.c" &&
		gcc $CFLAGS_BENCH -o "$b/bench/spawn_bench" "$HERE/spawn_bench.c" &&
		gcc $CFLAGS_BENCH -o "$b/bench/gk_probe" "$HERE/gk_probe.c" &&
		gcc $CFLAGS_BENCH -o "$b/bench/sha_bench" "$HERE/sha_bench.c" -lcrypto || return 1
	lib="$b/libgk.a -lbpf -lelf -lz -lyaml -lsqlite3 -lcrypto -lpthread"
	# shellcheck disable=SC2086
	gcc $CFLAGS_BENCH -I"$ROOT" -I"$b" -o "$b/bench/db_fill" "$ROOT/tests/bench/db_fill.c" $lib
}

outer_main() {
	[[ $# -eq 1 ]] || {
		echo "usage: bench/run.sh BUILD" >&2
		exit 2
	}
	local build rc top tool
	build=$(cd "$1" 2>/dev/null && pwd) || die "build dir $1 missing (run make first)"
	[[ $EUID -eq 0 ]] || die "must run as root (fanotify permission events, mounts)"
	for tool in unshare timeout mount umount gcc python3 sha256sum awk; do
		command -v "$tool" >/dev/null || die "required tool missing: $tool"
	done
	for tool in gatekeeperd gatekeeper-ctl libgk.a; do
		[[ -f $build/$tool ]] || die "$build/$tool missing (run make BUILD=$1 all first)"
	done
	echo "bench: building the harness into $build/bench" >&2
	build_tools "$build" >"$build/bench-build.log" 2>&1 ||
		die "harness build failed: $(tail -n 5 "$build/bench-build.log" | tr '\n' ' ')"
	top=$(mktemp -d /tmp/gk-bench.XXXXXX) || die "mktemp failed"
	out=$(mktemp -d /tmp/gk-bench-out.XXXXXX) || die "mktemp failed"
	chmod 0755 "$top"
	# The mounts exist only inside the private namespace; here are plain dirs.
	trap 'rm -rf --one-file-system "$top" "$out"' EXIT
	echo "bench: measuring (about 2-4 minutes)" >&2
	GK_BENCH_STAGE=inner GK_BENCH_TOP=$top GK_BENCH_BUILD=$build GK_BENCH_OUT=$out \
		timeout -s KILL "$INNER_LIMIT" unshare -m --propagation private -- bash "$SELF"
	rc=$?
	[[ $rc -eq 137 ]] && echo "bench: measurement killed after $INNER_LIMIT s" >&2
	python3 "$HERE/report.py" "$out" "$HERE/results.json" || rc=1
	exit "$rc"
}

# ---------------------------------------------------------------- inner stage

MOUNTS=()
DAEMON_TPIDS=()
DAEMON_DPIDS=()

log() {
	echo "bench: $*" >&2
}

mount_tmpfs() { # DIR SIZE
	mkdir -p "$1" && mount -t tmpfs -o "size=$2,mode=0755" gk-bench "$1" || return 1
	MOUNTS+=("$1")
}

# Stop our daemons and unmount our tmpfs mounts, newest first.
cleanup_inner() {
	local i
	for i in "${!DAEMON_DPIDS[@]}"; do
		stop_daemon_pids "${DAEMON_TPIDS[$i]}" "${DAEMON_DPIDS[$i]}"
	done
	DAEMON_TPIDS=()
	DAEMON_DPIDS=()
	for ((i = ${#MOUNTS[@]} - 1; i >= ${1:-0}; i--)); do
		umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}"
		unset "MOUNTS[$i]"
	done
}

alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[[ -n $state && $state != Z ]]
}

# SIGTERM the daemon, then SIGKILL both it and its timeout wrapper if needed;
# only ever the PIDs this script started.
stop_daemon_pids() { # TPID DPID
	local tpid=$1 dpid=$2 i
	alive "$tpid" || return 0
	[[ -n $dpid ]] && kill -TERM "$dpid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		alive "$tpid" || break
		sleep 0.1
	done
	if alive "$tpid"; then
		[[ -n $dpid ]] && kill -KILL "$dpid" 2>/dev/null
		kill -KILL "$tpid" 2>/dev/null
	fi
	wait "$tpid" 2>/dev/null
	return 0
}

ctl() { # NAME ARGS...
	local name=$1
	shift
	timeout -s KILL 10 "$CTL" --socket "$STATE/$name.sock" "$@"
}

# write_policy NAME DEFAULT [YAML LINES...]: enforce mode, watching $TOP/NAME/w.
write_policy() {
	local name=$1 default=$2 line
	shift 2
	{
		echo "mode: enforce"
		echo "watch:"
		echo "  - $TOP/$name/w"
		echo "default: $default"
		for line in "$@"; do
			printf '%s\n' "$line"
		done
	} >"$STATE/$name.yaml"
}

# start_daemon NAME [ARGS...]: gatekeeperd for $TOP/NAME, ready when status
# answers. Sets DPID_<NAME>.
start_daemon() {
	local name=$1 tpid dpid i kids
	shift
	# shellcheck disable=SC2086
	timeout -s KILL "$DAEMON_LIMIT" "$GKD" --foreground --policy "$STATE/$name.yaml" \
		--db "$STATE/$name.db" --socket "$STATE/$name.sock" ${GK_BENCH_DAEMON_ARGS:-} "$@" \
		>"$STATE/$name.log" 2>&1 &
	tpid=$!
	dpid=""
	for ((i = 0; i < 100; i++)); do
		kids=$(cat "/proc/$tpid/task/$tpid/children" 2>/dev/null)
		[[ -n $kids ]] && dpid=${kids%% *} && break
		sleep 0.02
	done
	DAEMON_TPIDS+=("$tpid")
	DAEMON_DPIDS+=("$dpid")
	printf -v "DPID_$name" '%s' "$dpid"
	for ((i = 0; i < 100; i++)); do
		ctl "$name" status >/dev/null 2>&1 && return 0
		alive "$tpid" || break
		sleep 0.1
	done
	log "daemon $name did not become ready: $(tail -n 3 "$STATE/$name.log" | tr '\n' ' ')"
	return 1
}

# setup_fs NAME: a tmpfs $TOP/NAME; the daemon's policy watches its subtree
# w/ (targets in w/bin, templates for new content in w/fresh); stage/ is the
# same filesystem outside the watched tree.
setup_fs() {
	local name=$1 t
	mount_tmpfs "$TOP/$name" 512m || return 1
	mkdir -p "$TOP/$name/w/bin" "$TOP/$name/w/fresh" "$TOP/$name/stage" || return 1
	for t in static dynamic; do
		install -m 0755 "$BENCHBIN/tiny-$t" "$TOP/$name/w/bin/$t" &&
			install -m 0755 "$BENCHBIN/tiny-$t" "$TOP/$name/w/fresh/$t" || return 1
	done
}

# A daemon with the targets admitted by admin rule under default deny: an
# exec that did not find its stored verdict would fail, not pass silently.
gate_daemon() { # NAME [DAEMON ARGS...]
	local name=$1 t
	shift
	write_policy "$name" deny "rules:" "  - {path: $TOP/$name/w/fresh, action: allow}" &&
		start_daemon "$name" "$@" || return 1
	for t in static dynamic; do
		ctl "$name" allow "$TOP/$name/w/bin/$t" >/dev/null || return 1
	done
}

scan_reason() {
	if [[ -n ${GK_BENCH_SCAN_POLICY:-} ]]; then
		return 0
	fi
	local sigs=""
	[[ -d /var/lib/clamav ]] || sigs="; no ClamAV signatures in /var/lib/clamav either"
	if ! compgen -G "$ROOT/scanner/*.c" >/dev/null; then
		echo "gatekeeperd has no scanner yet (scanner/ holds no engine)$sigs"
	elif ! grep -qs 'scanner/scanner.h' "$ROOT"/gatekeeper/*.c; then
		echo "gatekeeperd does not call the scanner yet (scanner/ has the engines, the miss path does not use them)$sigs; once it does, set GK_BENCH_SCAN_POLICY to the YAML that switches ClamAV on"
	else
		echo "ClamAV not switched on for the bench: set GK_BENCH_SCAN_POLICY (and GK_BENCH_SCAN_ARGS) to the YAML and daemon arguments that enable it$sigs"
	fi
}

# The conditions of one exec run (see bench/README.md for what each measures).
write_spawn_spec() { # FILE WITH_SCAN
	local f=$1 with_scan=$2 t plain few scan
	plain=$(scaled 250)
	few=$(scaled 30)
	scan=$(scaled 8)
	: >"$f"
	for t in static dynamic; do
		printf '%s\t%s\tplain\t%s\n' "bare-$t" "$plain" "$TOP/bare/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "bare2-$t" "$plain" "$TOP/bare2/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "cached-$t" "$plain" "$TOP/cache/w/bin/$t" >>"$f"
		printf '%s\t%s\tflush\t%s\t%s\t--socket\t%s\tallow\t%s\n' "miss-$t" "$few" \
			"$TOP/miss/w/bin/$t" "$CTL" "$STATE/miss.sock" "$STATE/unrelated" >>"$f"
		printf '%s\t%s\tfresh\t%s\t%s\n' "fresh-$t" "$few" "$TOP/miss/w/fresh/$t" \
			"$TOP/miss/stage" >>"$f"
		printf '%s\t%s\tfresh\t%s\n' "written-$t" "$few" "$TOP/miss/w/fresh/$t" >>"$f"
		[[ $with_scan == 1 ]] &&
			printf '%s\t%s\tfresh\t%s\t%s\n' "scan-$t" "$scan" "$TOP/scan/w/fresh/$t" \
				"$TOP/scan/stage" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "roundtrip-$t" "$plain" "$TOP/rt/w/bin/$t" >>"$f"
	done
}

write_storm_spec() {
	local f=$1 t n
	n=$(scaled 100)
	: >"$f"
	for t in static dynamic; do
		printf '%s\t%s\tplain\t%s\n' "bare-$t" "$n" "$TOP/bare/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "bare2-$t" "$n" "$TOP/bare2/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "cached-$t" "$n" "$TOP/cache/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "roundtrip-$t" "$n" "$TOP/rt/w/bin/$t" >>"$f"
	done
}

phase_exec() {
	local with_scan=0 reason name t
	# bare2: a second daemon-less fs, measured like bare: the noise floor.
	setup_fs bare && setup_fs bare2 && setup_fs cache && setup_fs miss && setup_fs rt || return 1
	gate_daemon cache && gate_daemon miss && gate_daemon rt --no-kernel-cache || return 1
	reason=$(scan_reason)
	if [[ -z $reason ]]; then
		# The scanner must decide: default allow and no path rule above it.
		setup_fs scan || return 1
		# shellcheck disable=SC2086
		write_policy scan allow "$GK_BENCH_SCAN_POLICY" &&
			start_daemon scan ${GK_BENCH_SCAN_ARGS:-} || return 1
		with_scan=1
	fi
	printf '%s\n' "$reason" >"$OUT/scan_reason.txt"
	echo "unrelated file whose admin rule flushes the kernel cache" >"$STATE/unrelated"
	write_spawn_spec "$STATE/exec.spec" "$with_scan"
	cp "$STATE/exec.spec" "$OUT/exec.spec"
	log "exec: $ROUNDS rounds of $(wc -l <"$STATE/exec.spec") interleaved conditions"
	"$BENCHBIN/spawn_bench" --rounds "$ROUNDS" --warmup 5 "$STATE/exec.spec" \
		>"$OUT/exec.jsonl" 2>"$OUT/exec.err" || return 1
	if [[ $with_scan == 1 ]]; then
		grep -c 'source=scanner' "$STATE/scan.log" >"$OUT/scan_decisions.txt"
	fi
	log "storm: 4 spawners + 1 CPU hog"
	write_storm_spec "$STATE/storm.spec"
	"$BENCHBIN/spawn_bench" --rounds "$STORM_ROUNDS" --warmup 3 --storm 4 --hog \
		"$STATE/storm.spec" >"$OUT/storm.jsonl" 2>"$OUT/storm.err" || return 1
	for name in cache miss rt scan; do
		[[ -S $STATE/$name.sock ]] || continue
		ctl "$name" --json status >"$OUT/status-$name.json" 2>/dev/null
	done
	ctl cache --json status >/dev/null 2>&1 || return 1
	log "close-to-verdict"
	for t in static dynamic; do
		"$BENCHBIN/gk_probe" close-verdict "$(scaled 20)" "$DPID_cache" "$BENCHBIN/tiny-$t" \
			"$TOP/cache/w/fresh" >"$OUT/close_verdict_$t.json" 2>"$OUT/close_verdict_$t.err"
	done
}

phase_hash() {
	local dir=$STATE/hash
	mkdir -p "$dir" &&
		head -c 1000000 /dev/urandom >"$dir/1MB" &&
		head -c 100000000 /dev/urandom >"$dir/100MB" || return 1
	log "sha256: 1 MB and 100 MB"
	"$BENCHBIN/sha_bench" "$dir/1MB" "$(scaled 40)" "$(command -v sha256sum)" \
		>"$OUT/sha_1MB.json" &&
		"$BENCHBIN/sha_bench" "$dir/100MB" "$(scaled 5)" "$(command -v sha256sum)" \
			>"$OUT/sha_100MB.json" || return 1
	sha256sum "$dir/1MB" "$dir/100MB" | cut -d' ' -f1 >"$OUT/sha_check.txt"
	rm -f "$dir/100MB"
}

phase_startup() {
	local runs name extra
	runs=$(scaled 7)
	mount_tmpfs "$TOP/start" 64m || return 1
	log "start-up: filling a verdict store with 100k verdicts"
	"$BENCHBIN/db_fill" "$STATE/start-100k.db" 100000 >"$OUT/db_fill.txt" 2>&1 || return 1
	mkdir -p "$TOP/start/w" && write_policy start allow || return 1
	# 100k-nobpf: the same without the BPF LSM attempt, to tell its cost apart.
	for name in 100k empty 100k-nobpf; do
		log "start-up: $runs starts, $name"
		extra=${GK_BENCH_DAEMON_ARGS:-}
		[[ $name == 100k-nobpf ]] && extra="$extra --no-bpf"
		# shellcheck disable=SC2086
		"$BENCHBIN/gk_probe" startup "$runs" "$STATE/start.sock" \
			timeout -s KILL 60 "$GKD" --foreground --policy "$STATE/start.yaml" \
			--db "$STATE/start-${name%-nobpf}.db" --socket "$STATE/start.sock" \
			$extra >"$OUT/startup_$name.json" 2>"$OUT/startup_$name.err" || return 1
	done
}

keep_logs() {
	local f
	for f in "$STATE"/*.log "$OUT"/*.err; do
		[[ -s $f ]] && tail -n 20 "$f" >"$OUT/tail-$(basename "$f").txt"
	done
	return 0
}

host_facts() {
	{
		echo "kernel=$(uname -r)"
		echo "cpus=$(nproc)"
		echo "loadavg_$1=$(cut -d' ' -f1-3 /proc/loadavg)"
	} >>"$OUT/host.txt"
}

inner_main() {
	TOP=$GK_BENCH_TOP
	OUT=$GK_BENCH_OUT
	BUILD=$GK_BENCH_BUILD
	BENCHBIN=$BUILD/bench
	GKD=$BUILD/gatekeeperd
	CTL=$BUILD/gatekeeper-ctl
	STATE=$TOP/state
	ROUNDS=30
	STORM_ROUNDS=10
	trap cleanup_inner EXIT
	# A fresh tmpfs over the work dir: state, logs and sockets never touch a
	# disk. OUT (small result files) is a plain dir outside it.
	mount_tmpfs "$TOP" 1g && mkdir "$STATE" || exit 1
	{
		echo "rounds=$ROUNDS"
		echo "storm_rounds=$STORM_ROUNDS"
		echo "scale=${GK_BENCH_SCALE:-1}"
		echo "daemon_args=${GK_BENCH_DAEMON_ARGS:-}"
		echo "scan_policy=${GK_BENCH_SCAN_POLICY:-}"
	} >"$OUT/config.txt"
	host_facts start
	local failed=0
	phase_exec || { log "exec phase failed"; failed=1; }
	keep_logs
	cleanup_inner 1    # stop the daemons, keep the work tmpfs
	phase_hash || { log "hash phase failed"; failed=1; }
	phase_startup || { log "start-up phase failed"; failed=1; }
	host_facts end
	keep_logs
	exit "$failed"
}

case ${GK_BENCH_STAGE:-} in
"") outer_main "$@" ;;
inner) inner_main ;;
*) die "bad GK_BENCH_STAGE" ;;
esac
