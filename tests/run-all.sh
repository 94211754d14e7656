#!/bin/bash
# Run every test suite and close with the line CI reads: "N passed, N failed".
#   tests/run-all.sh [--only unit|host|tsan|build|vm|fuzz|sys] BUILD
# unit: the size rules (tests/lint), cmocka tests built with ASan/UBSan
#       (BUILD/san/tests/test_*), as TAP.
# host: real execs on this machine's kernel, fanotify mode (tests/integration).
# tsan: the unit tests and the host suite's concurrency tests built with
#       ThreadSanitizer (BUILD/tsan); any report fails the test.
# build: the Makefile's promises (tests/build/run.sh).
# vm:   real execs in qemu guests running Debian's kernels, bpf mode (tests/vm).
# fuzz: the policy and control-request parsers under libFuzzer (FUZZ_SECONDS
#       in all, default 60).
# sys:  the Debian package on a booted Debian 12 system under qemu (tests/sys).
# A suite that runs no test is a failure: a skipped kernel test is not a pass.
set -u
only=""
if [ "${1:-}" = "--only" ]; then only=$2; shift 2; fi
build=${1:?usage: tests/run-all.sh [--only unit|host|vm|fuzz|sys] BUILD}
build=$(cd "$build" 2>/dev/null && pwd) || { echo "not ok - no build directory '$1'"; echo "0 passed, 1 failed"; exit 1; }
cd "$(dirname "$0")/.." || exit 1

passed=0 failed=0
# Every failure again at the end, above the summary: CI may keep only the
# output's tail, and a failure must be named there.
failures=()
# failure WHAT: a failure no suite's TAP reported, printed and counted.
failure() {
	echo "not ok - $1"
	failures+=("$1")
	failed=$((failed + 1))
}
# Count TAP results from a suite's output file; a suite with none fails once.
tally() {
	local name=$1 out=$2 rc=$3
	local ok line bad=()
	ok=$(grep -cE '^ok ' "$out")
	mapfile -t bad < <(grep -E '^not ok ' "$out")
	for line in "${bad[@]}"; do failures+=("$name: $line"); done
	passed=$((passed + ok))
	failed=$((failed + ${#bad[@]}))
	if [ "$ok" -eq 0 ] && [ ${#bad[@]} -eq 0 ]; then
		failure "$name: ran no test (exit $rc)"
	elif [ "$rc" -ne 0 ] && [ ${#bad[@]} -eq 0 ]; then
		failure "$name: exited $rc after its tests"
	fi
}

run_suite() {
	local name=$1; shift
	local out
	out=$(mktemp)
	echo "# suite $name"
	"$@" 2>&1 | tee "$out"
	local rc=${PIPESTATUS[0]}
	tally "$name" "$out" "$rc"
	rm -f "$out"
}

if [ -z "$only" ] || [ "$only" = unit ]; then
	run_suite lint tests/lint/sizes.sh
	shopt -s nullglob
	units=("$build"/san/tests/test_*)
	[ ${#units[@]} -gt 0 ] || failure "unit: no unit test binaries in $build/san/tests"
	for t in "${units[@]}"; do
		run_suite "unit/$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
	done
fi
if [ -z "$only" ] || [ "$only" = host ]; then
	bindir=$build/san
	[ -x "$bindir/gatekeeperd" ] || bindir=$build
	run_suite host env GK_IT_HELPERS="${GK_IT_HELPERS:-$build/helpers}" tests/integration/run.sh "$bindir"
fi
# ThreadSanitizer: a report makes the program exit 66 (unit tests) and is
# found in the daemon's log (run.sh fails a test whose daemon log has one).
# The storms race the event path's threads; the trust tests race the
# prejudge walk and its workers against execs, upgrades and a restart.
TSAN_HOST_TESTS='^(parallel_200_execs_.*|policy_apply_during_exec_storm|compile_then_run_200|restart_during_exec_storm|trust_prejudged_before_first_exec|trust_upgrade_runs_at_once|trust_status_and_restart_keep_index)$'
tsan_unit() {
	local t=$1 out rc
	out=$(env CMOCKA_MESSAGE_OUTPUT=TAP TSAN_OPTIONS="exitcode=66 halt_on_error=0" "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	if grep -q 'WARNING: ThreadSanitizer' <<<"$out"; then
		echo "not ok - $(basename "$t"): ThreadSanitizer report (above)"
		return 1
	fi
	return "$rc"
}
if [ "$only" = tsan ] || [ -z "$only" ]; then
	shopt -s nullglob
	tsans=("$build"/tsan/tests/test_*)
	[ ${#tsans[@]} -gt 0 ] || failure "tsan: no unit test binaries in $build/tsan/tests"
	for t in "${tsans[@]}"; do
		run_suite "tsan/unit/$(basename "$t")" tsan_unit "$t"
	done
	if [ -x "$build/tsan/gatekeeperd" ]; then
		run_suite tsan/host env GK_IT_ONLY="$TSAN_HOST_TESTS" GK_IT_HELPERS="$build/helpers" \
			TSAN_OPTIONS="exitcode=66 halt_on_error=0 second_deadlock_stack=1" \
			tests/integration/run.sh "$build/tsan"
	else
		failure "tsan: no $build/tsan/gatekeeperd (make tsan builds it)"
	fi
fi
if [ "$only" = build ] || [ -z "$only" ]; then
	run_suite build tests/build/run.sh "$build"
fi
# fuzz_target NAME CORPUS SECONDS N: one libFuzzer target as TAP test N.
fuzz_target() {
	local name=$1 seeds=$2 secs=$3 n=$4 corpus
	corpus=$(mktemp -d)
	if [ ! -x "$build/fuzz_$name" ]; then
		echo "not ok $n - $name parser: $build/fuzz_$name not built"
	elif "$build/fuzz_$name" -max_total_time="$secs" -rss_limit_mb=2048 \
		-print_final_stats=1 "$corpus" "$seeds" > "$corpus.log" 2>&1; then
		echo "ok $n - $name parser fuzzed for $secs s: $(grep -o 'Done [0-9]* runs' "$corpus.log")"
	else
		tail -40 "$corpus.log" | sed 's/^/# /'
		echo "not ok $n - $name parser fuzzing found a crash or leak"
	fi
	rm -rf "$corpus" "$corpus.log"
}
# Both targets share the budget (FUZZ_SECONDS, default 60).
fuzz_all() {
	local total=${FUZZ_SECONDS:-60} half
	half=$(( total / 2 > 0 ? total / 2 : 1 ))
	fuzz_target policy tests/fuzz/corpus "$half" 1
	fuzz_target control tests/fuzz/corpus-control "$(( total - half > 0 ? total - half : 1 ))" 2
}
if [ -z "$only" ] || [ "$only" = fuzz ]; then
	run_suite fuzz fuzz_all
fi
if [ -z "$only" ] || [ "$only" = vm ]; then
	run_suite vm tests/vm/run.sh "$build"
fi
if [ -z "$only" ] || [ "$only" = sys ]; then
	run_suite sys tests/sys/run.sh "$build"
fi

for line in "${failures[@]}"; do echo "# FAILED $line"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
