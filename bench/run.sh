#!/bin/bash
# make bench: exec-gate benchmarks, as ratios against bare exec and against
# a round-trip gate. See bench/README.md for what each figure means.
#
#   bench/run.sh BUILD          (as root; BUILD holds gatekeeperd, gatekeeper-ctl, libgk.a)
#
# Environment (all optional):
#   GK_BENCH_SCALE=F            multiply every iteration count by F (e.g. 0.2 for a quick look)
#   GK_BENCH_DAEMON_ARGS="..."  extra gatekeeperd arguments for every daemon (e.g. --no-bpf)
#   GK_BENCH_CLAMAV_DB=DIR      ClamAV database for the scanning daemon (default: a
#                               one-signature database written at bench time)
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
	local b=$1
	make -s -C "$ROOT" BUILD="$b" bench-helpers || return 1
	# The static target padded with random bytes to 1 MiB: still a valid ELF
	# (the kernel maps only its segments), 1 MiB to hash and scan.
	cp "$b/bench/tiny-static" "$b/bench/tiny-static-1MB" &&
		head -c $((1048576 - $(stat -c %s "$b/bench/tiny-static"))) /dev/urandom \
			>>"$b/bench/tiny-static-1MB"
}

outer_main() {
	[[ $# -eq 1 ]] || {
		echo "usage: bench/run.sh BUILD" >&2
		exit 2
	}
	local build rc top tool
	build=$(cd "$1" 2>/dev/null && pwd) || die "build dir $1 missing (run make first)"
	[[ $EUID -eq 0 ]] || die "must run as root (fanotify permission events, mounts)"
	for tool in unshare timeout mount umount cc make od python3 sha256sum awk; do
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
# start_daemon NAME sets DPID_NAME (printf -v); these are the ones read.
DPID_scan="" DPID_mnt=""

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

# child_of TPID: the process that timeout(1) TPID started (empty: none yet).
child_of() {
	local i kids
	for ((i = 0; i < 100; i++)); do
		kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
		[[ -n $kids ]] && echo "${kids%% *}" && return 0
		sleep 0.02
	done
}

# SIGTERM the daemon, then SIGKILL both it and its timeout wrapper if needed;
# only ever the PIDs this script started.
stop_daemon_pids() { # TPID DPID
	local tpid=$1 dpid=$2 i
	alive "$tpid" || return 0
	# Without the child's PID, timeout passes the TERM on to it.
	kill -TERM "${dpid:-$tpid}" 2>/dev/null
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
	local name=$1 tpid dpid i
	shift
	# shellcheck disable=SC2086
	timeout -s KILL "$DAEMON_LIMIT" "$GKD" --foreground --policy "$STATE/$name.yaml" \
		--db "$STATE/$name.db" --socket "$STATE/$name.sock" ${GK_BENCH_DAEMON_ARGS:-} "$@" \
		>"$STATE/$name.log" 2>&1 &
	tpid=$!
	dpid=$(child_of "$tpid")
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
# New content runs when the hash list (empty) finds it clean: a verdict by
# content, which the kernel may cache (a path rule's may not: gatekeeperd(8)).
gate_daemon() { # NAME [DAEMON ARGS...]
	local name=$1 t
	shift
	: >"$STATE/none.sha256" &&
		write_policy "$name" deny "scanners:" "  hashlist: {files: [$STATE/none.sha256]}" \
			"rules:" "  - {scanner: clean, action: allow}" &&
		start_daemon "$name" "$@" || return 1
	for t in static dynamic; do
		ctl "$name" allow "$TOP/$name/w/bin/$t" >/dev/null || return 1
	done
}

# A ClamAV database of one .ndb body signature that no bench file contains:
# every scan runs the engine over the whole file and comes back clean. It
# shows what the engine costs per scan, not what a full database costs (set
# GK_BENCH_CLAMAV_DB to a real one for that).
write_clamav_db() { # DIR
	local hex
	mkdir -p "$1" || return 1
	hex=$(printf '%s' 'gk-bench: a byte string that no bench target contains' | od -An -tx1 | tr -d ' \n')
	printf 'GkBench.Test.NoMatch:0:*:%s\n' "$hex" >"$1/gk-bench.ndb"
}

# The scanning daemon: default deny, and a clean scan is the only way to be
# allowed, so every exec that runs proves that a scan ran and found nothing.
scan_daemon() {
	local db=${GK_BENCH_CLAMAV_DB:-$STATE/clamav-db} i
	[[ -n ${GK_BENCH_CLAMAV_DB:-} ]] || write_clamav_db "$db" || return 1
	setup_fs scan &&
		write_policy scan deny "scanners:" "  clamav: {enabled: true, database: $db}" \
			"rules:" "  - {scanner: clean, action: allow}" &&
		start_daemon scan || return 1
	# The engine loads in the background; until then scans answer "unavailable".
	for ((i = 0; i < 600; i++)); do
		ctl scan status 2>/dev/null | grep -q '^scanners: clamav: available' && return 0
		sleep 0.1
	done
	log "the scanning daemon's ClamAV engine did not become available: $(ctl scan status 2>&1 | grep scanners)"
	return 1
}

# The paired run (--interleave): the issue's miss and round-trip targets,
# static target, one exec of each condition per cycle. No two conditions
# run the same file (spawn_bench --copies writes each its own): the second
# exec of one file within a cycle would run warm.
write_paired_spec() { # FILE
	local f=$1 t=static n
	n=$(scaled 100)
	install -m 0755 "$BENCHBIN/tiny-static" "$TOP/rt/w/bin/static-ctl" || return 1
	{
		printf '%s\t%s\tplain\t%s\n' bare "$n" "$TOP/bare/w/bin/$t"
		printf '%s\t%s\tplain\t%s\n' bare2 "$n" "$TOP/bare2/w/bin/$t"
		printf '%s\t%s\tplain\t%s\n' raw "$n" "$TOP/raw/w/bin/$t"
		printf '%s\t%s\tplain\t%s\n' roundtrip "$n" "$TOP/rt/w/bin/$t"
		printf '%s\t%s\tflush\t%s\t%s\t--socket\t%s\tallow\t%s\n' miss "$n" \
			"$TOP/miss/w/bin/$t" "$CTL" "$STATE/miss.sock" "$STATE/unrelated"
		printf '%s\t%s\tflush\t%s\t%s\t--socket\t%s\tallow\t%s\n' barectl "$n" \
			"$TOP/barectl/w/bin/$t" "$CTL" "$STATE/miss.sock" "$STATE/unrelated"
		# the round-trip gate after the same ctl: what the ctl's after-effects
		# cost a miss, apart from the kernel cache (its own file: see above)
		printf '%s\t%s\tflush\t%s\t%s\t--socket\t%s\tallow\t%s\n' rtctl "$n" \
			"$TOP/rt/w/bin/static-ctl" "$CTL" "$STATE/rt.sock" "$STATE/unrelated"
	} >"$f"
}

# The conditions of one exec run (see bench/README.md for what each measures).
write_spawn_spec() { # FILE WITH_SCAN
	local f=$1 with_scan=$2 t plain few scan
	plain=$(scaled 250)
	few=$(scaled 30)
	scan=$(scaled 15)
	: >"$f"
	for t in static dynamic; do
		printf '%s\t%s\tplain\t%s\n' "bare-$t" "$plain" "$TOP/bare/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "bare2-$t" "$plain" "$TOP/bare2/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "cached-$t" "$plain" "$TOP/cache/w/bin/$t" >>"$f"
		printf '%s\t%s\tflush\t%s\t%s\t--socket\t%s\tallow\t%s\n' "miss-$t" "$few" \
			"$TOP/miss/w/bin/$t" "$CTL" "$STATE/miss.sock" "$STATE/unrelated" >>"$f"
		# The miss's baseline: the same untimed command, then an ungated exec.
		printf '%s\t%s\tflush\t%s\t%s\t--socket\t%s\tallow\t%s\n' "barectl-$t" "$few" \
			"$TOP/barectl/w/bin/$t" "$CTL" "$STATE/miss.sock" "$STATE/unrelated" >>"$f"
		printf '%s\t%s\tfresh\t%s\t%s\n' "fresh-$t" "$few" "$TOP/miss/w/fresh/$t" \
			"$TOP/miss/stage" >>"$f"
		printf '%s\t%s\tfresh\t%s\n' "written-$t" "$few" "$TOP/miss/w/fresh/$t" >>"$f"
		[[ $with_scan == 1 ]] &&
			printf '%s\t%s\tfresh\t%s\t%s\n' "scan-$t" "$scan" "$TOP/scan/w/fresh/$t" \
				"$TOP/scan/stage" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "roundtrip-$t" "$plain" "$TOP/rt/w/bin/$t" >>"$f"
		printf '%s\t%s\tplain\t%s\n' "raw-$t" "$plain" "$TOP/raw/w/bin/$t" >>"$f"
	done
}

# The raw fanotify round trip: a responder that allows every exec at once
# (bench/raw_responder.c), the floor under any userspace gate's miss.
raw_responder() {
	local tpid i
	setup_fs raw || return 1
	timeout -s KILL "$DAEMON_LIMIT" "$BENCHBIN/raw_responder" "$TOP/raw/w" >"$STATE/raw.out" 2>&1 &
	tpid=$!
	DAEMON_TPIDS+=("$tpid")
	# Its PID, so a stop can KILL it too: killing timeout alone would leave
	# it running, orphaned, with the bench's mount namespace.
	DAEMON_DPIDS+=("$(child_of "$tpid")")
	for ((i = 0; i < 100; i++)); do
		grep -q '^ready' "$STATE/raw.out" 2>/dev/null && return 0
		alive "$tpid" || break
		sleep 0.05
	done
	log "raw responder did not start: $(cat "$STATE/raw.out")"
	return 1
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

# close_verdict NAME DAEMON TEMPLATE ITERS: close-to-verdict of new copies of
# TEMPLATE written into DAEMON's watched tree.
close_verdict() {
	local name=$1 daemon=$2 dpid_var="DPID_$2"
	"$BENCHBIN/gk_probe" close-verdict "$(scaled "$4")" "${!dpid_var}" "$3" "$TOP/$daemon/w/fresh" \
		>"$OUT/close_verdict_$name.json" 2>"$OUT/close_verdict_$name.err"
}

# scan_daemon_memory PID: the scanning daemon's memory after its scans
# (libclamav lives in its gatekeeper-scand children, not in it), and theirs.
scan_daemon_memory() {
	local pid=$1 kid kids=() all=() grandkids=() rss=0 v
	echo "daemon_rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
	echo "daemon_hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")"
	echo "daemon_maps_libclamav=$(grep -c libclamav "/proc/$pid/maps")"
	read -ra kids <<<"$(cat /proc/"$pid"/task/*/children 2>/dev/null)"
	for kid in "${kids[@]}"; do
		# gatekeeper-scand only (the daemon has other children: its sentinel)
		[[ $(cat "/proc/$kid/comm" 2>/dev/null) == gatekeeper-scan* ]] || continue
		all+=("$kid")
		read -ra grandkids <<<"$(cat /proc/"$kid"/task/*/children 2>/dev/null)"
		all+=("${grandkids[@]}")
	done
	for kid in "${all[@]}"; do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$kid/status" 2>/dev/null)
		rss=$((rss + ${v:-0}))
	done
	echo "scanner_processes=${#all[@]}"
	echo "scanner_rss_kb_sum=$rss"
}

phase_exec() {
	local with_scan=0 name
	# bare2: a second daemon-less fs, measured like bare: the noise floor.
	# barectl: a fs of its own, so that no two conditions exec the same file
	# (the second exec of a file within a few ms runs warm: 10 us faster here)
	for name in bare bare2 barectl cache miss rt; do
		setup_fs "$name" || return 1
	done
	gate_daemon cache && gate_daemon miss && gate_daemon rt --no-kernel-cache || return 1
	raw_responder || return 1
	if scan_daemon; then
		with_scan=1
		: >"$OUT/scan_reason.txt"
	else
		echo "the scanning daemon did not start (see tail-scan.log.txt)" >"$OUT/scan_reason.txt"
		log "miss + ClamAV scan: n/a, the scanning daemon did not start"
	fi
	echo "unrelated file whose admin rule flushes the kernel cache" >"$STATE/unrelated"
	write_spawn_spec "$STATE/exec.spec" "$with_scan"
	cp "$STATE/exec.spec" "$OUT/exec.spec"
	log "exec: $ROUNDS rounds of $(wc -l <"$STATE/exec.spec") interleaved conditions"
	"$BENCHBIN/spawn_bench" --rounds "$ROUNDS" --warmup "$WARMUP" "$STATE/exec.spec" \
		>"$OUT/exec.jsonl" 2>"$OUT/exec.err" || return 1
	write_paired_spec "$STATE/paired.spec" || return 1
	log "paired: $PAIRED_ROUNDS rounds of $(scaled 100) cycles, one exec of each of 7 conditions a cycle"
	"$BENCHBIN/spawn_bench" --interleave --copies "$PAIRED_COPIES" --rounds "$PAIRED_ROUNDS" \
		--warmup "$PAIRED_COPIES" "$STATE/paired.spec" \
		>"$OUT/paired.jsonl" 2>"$OUT/paired.err" || return 1
	if [[ $with_scan == 1 ]]; then
		# Exec decisions only: the close-verdict probe below adds "prescan" lines.
		grep -c '^decision .*source=scanner' "$STATE/scan.log" >"$OUT/scan_decisions.txt"
		ctl scan --json status >"$OUT/status-scan-after-exec.json" 2>/dev/null
		scan_daemon_memory "$DPID_scan" >"$OUT/scan_daemon_memory.txt"
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
	close_verdict static cache "$BENCHBIN/tiny-static" 20
	close_verdict dynamic cache "$BENCHBIN/tiny-dynamic" 20
	close_verdict static-1MB cache "$BENCHBIN/tiny-static-1MB" 30
	[[ $with_scan == 1 ]] && close_verdict static-1MB-clamav scan "$BENCHBIN/tiny-static-1MB" 30
	return 0
}

# gen_project DIR ID N: a small C project of 2N sources: N programs, each of
# a main file and a library file, linked and then run once by its own test
# rule right after the link (compile-then-run, as `make check` does). ID
# goes into every object, so each build makes content never seen before.
gen_project() {
	local dir=$1 id=$2 n=$3 i k progs=""
	mkdir -p "$dir" || return 1
	printf '#define BENCH_BUILD_ID %s\nint step(int x);\n' "$id" >"$dir/common.h"
	for ((i = 1; i <= n; i++)); do
		printf -v k '%02d' "$i"
		progs="$progs p$k"
		printf '#include "common.h"\nint f%s(int x)\n{\n\tint acc = BENCH_BUILD_ID;\n\tfor (int i = 0; i < x; i++)\n\t\tacc = acc * 31 + i;\n\treturn acc;\n}\nint step(int x)\n{\n\treturn x + %d;\n}\n' \
			"$k" "$i" >"$dir/l$k.c"
		printf '#include <stdio.h>\n#include "common.h"\nint f%s(int x);\nint main(void)\n{\n\tprintf("ok p%s %%d %%d\\n", BENCH_BUILD_ID, f%s(step(%d)));\n\treturn 0;\n}\n' \
			"$k" "$k" "$k" "$i" >"$dir/p$k.c"
	done
	{
		echo "# generated by bench/run.sh: $n programs, each run once right after its link"
		echo "MAKEFLAGS += -r"
		echo "PROGS :=$progs"
		echo "all: \$(PROGS:%=%.ok)"
		echo "%.o: %.c common.h"
		# shellcheck disable=SC2016 # make's variables, not the shell's
		printf '\t$(CC) -O1 -c -o $@ $<\n'
		for ((i = 1; i <= n; i++)); do
			printf -v k '%02d' "$i"
			# shellcheck disable=SC2016
			printf 'p%s: p%s.o l%s.o\n\t$(CC) -o $@ p%s.o l%s.o\n' "$k" "$k" "$k" "$k" "$k"
			printf 'p%s.ok: p%s\n\t./p%s >p%s.ok\n' "$k" "$k" "$k" "$k"
		done
	} >"$dir/Makefile"
}

# build_once FS ID N [LINKER]: generate and build a project under $TOP/FS/w
# (with `cc -fuse-ld=LINKER` if given); appends one line to build.txt.
build_once() {
	local fs=$1 id=$2 n=$3 linker=${4:-} dir t0 t1 rc ran cc=cc
	dir=$TOP/$fs/w/proj.$id
	[[ -n $linker ]] && cc="cc -fuse-ld=$linker"
	gen_project "$dir" "$id" "$n" || return 1
	[[ $fs == build ]] && { ctl build --json status >"$OUT/build-$id-before.json" || return 1; }
	t0=$(date +%s%N)
	# Not the outer make's jobserver: a build of its own, -j2 as asked.
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL timeout -s KILL 120 make -C "$dir" -j2 CC="$cc" \
		>"$STATE/build-$fs-$id.out" 2>&1
	rc=$?
	t1=$(date +%s%N)
	[[ $fs == build ]] && { ctl build --json status >"$OUT/build-$id-after.json" || return 1; }
	ran=$(cat "$dir"/p*.ok 2>/dev/null | grep -c "^ok p[0-9]* $id ")
	echo "fs=$fs id=$id linker=${linker:-default} rc=$rc ms=$(((t1 - t0) / 1000000))" \
		"programs=$n ran=$ran" >>"$OUT/build.txt"
	if [[ $rc != 0 ]]; then
		log "build $fs $id failed: $(tail -n 3 "$STATE/build-$fs-$id.out" | tr '\n' ' ')"
		return 1
	fi
}

# A small C project built with make -j2 into a watched tree (default allow,
# enforcing): how many freshly linked programs were kernel hits on their
# first exec. The same builds on a daemon-less fs give the time baseline;
# the order alternates so neither side always goes first. Then the same
# gated builds linked by gold, a cross-check of the daemon's counter: GNU ld
# (bfd) chmods its output after close(), which changes the ctime the
# pre-scan recorded, and first_execs_kernel_hits counts only execs whose
# ctime still matches; gold creates the output executable, no chmod.
phase_build() {
	local runs n=20 i
	runs=$(scaled 5)
	mount_tmpfs "$TOP/build" 256m && mount_tmpfs "$TOP/buildbare" 256m &&
		mkdir -p "$TOP/build/w" "$TOP/buildbare/w" || return 1
	write_policy build allow && start_daemon build || return 1
	log "build: $runs x make -j2 of $n programs ($((2 * n)) C files), gated and bare"
	for ((i = 1; i <= runs; i++)); do
		if ((i % 2)); then
			build_once buildbare "$((100 + i))" "$n" && build_once build "$i" "$n" || return 1
		else
			build_once build "$i" "$n" && build_once buildbare "$((100 + i))" "$n" || return 1
		fi
	done
	if command -v ld.gold >/dev/null; then
		log "build: $runs x the same, gated, linked by gold"
		for ((i = 1; i <= runs; i++)); do
			build_once build "$((200 + i))" "$n" gold || return 1
		done
	fi
	# The misses, for the diagnosis: exec decisions on built files.
	grep '^decision .*/proj\.' "$STATE/build.log" >"$OUT/build_misses.txt"
	ctl build --json status >"$OUT/status-build.json"
	return 0
}

# What the privilege separation costs per scan: in process vs through
# gatekeeper-scand, in the same run (bench/scan_bench.c).
phase_scan() {
	[[ -x $BENCHBIN/scan_bench ]] || {
		log "scan_bench not built (make bench builds it)"
		return 1
	}
	log "scanner: in process vs gatekeeper-scand"
	"$BENCHBIN/scan_bench" --max-files "$(scaled 60)" --dir /usr/bin >"$OUT/scan_bench.txt" \
		2>"$OUT/scan_bench.err"
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

# Time from a mount(2) below the watch to the daemon's mark on it (every
# group: permission and pre-scan), followed by fanotify mount events or
# /proc/self/mountinfo, whichever the kernel has.
phase_mount() {
	local dpid
	mount_tmpfs "$TOP/mnt" 64m && mkdir -p "$TOP/mnt/w" || return 1
	write_policy mnt allow && start_daemon mnt || return 1
	dpid=$DPID_mnt
	log "mount to mark: $(scaled 50) tmpfs mounts under the watch"
	"$BENCHBIN/mount_mark" "$dpid" "$TOP/mnt/w" "$(scaled 50)" \
		>"$OUT/mount_mark.json" 2>"$OUT/mount_mark.err" || return 1
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
	WARMUP=5
	STORM_ROUNDS=10
	PAIRED_ROUNDS=10
	PAIRED_COPIES=${GK_BENCH_PAIRED_COPIES:-16}
	trap cleanup_inner EXIT
	# A fresh tmpfs over the work dir: state, logs and sockets never touch a
	# disk. OUT (small result files) is a plain dir outside it.
	mount_tmpfs "$TOP" 1g && mkdir "$STATE" || exit 1
	{
		echo "rounds=$ROUNDS"
		echo "warmup=$WARMUP"
		echo "storm_rounds=$STORM_ROUNDS"
		echo "paired_rounds=$PAIRED_ROUNDS"
		echo "paired_copies=$PAIRED_COPIES"
		echo "scale=${GK_BENCH_SCALE:-1}"
		echo "daemon_args=${GK_BENCH_DAEMON_ARGS:-}"
		echo "clamav_db=${GK_BENCH_CLAMAV_DB:-one-signature test database}"
	} >"$OUT/config.txt"
	host_facts start
	local failed=0
	phase_exec || { log "exec phase failed"; failed=1; }
	keep_logs
	cleanup_inner 1    # stop the daemons, keep the work tmpfs
	phase_build || { log "build phase failed"; failed=1; }
	keep_logs
	cleanup_inner 1
	phase_hash || { log "hash phase failed"; failed=1; }
	phase_scan || { log "scan phase failed"; failed=1; }
	phase_startup || { log "start-up phase failed"; failed=1; }
	phase_mount || { log "mount phase failed"; failed=1; }
	keep_logs
	cleanup_inner 1
	host_facts end
	keep_logs
	exit "$failed"
}

case ${GK_BENCH_STAGE:-} in
"") outer_main "$@" ;;
inner) inner_main ;;
*) die "bad GK_BENCH_STAGE" ;;
esac
