#!/bin/bash
# Run every test suite and close with the line CI reads: "N passed, N failed".
#   tests/run-all.sh [--only unit|host|vm] BUILD
# unit: the size rules (tests/lint), cmocka tests built with ASan/UBSan
#       (BUILD/san/tests/test_*), as TAP.
# host: real execs on this machine's kernel, fanotify mode (tests/integration).
# vm:   real execs in qemu guests running Debian's kernels, bpf mode (tests/vm).
# fuzz: the policy parser under libFuzzer (FUZZ_SECONDS, default 60).
# A suite that runs no test is a failure: a skipped kernel test is not a pass.
set -u
only=""
if [ "${1:-}" = "--only" ]; then only=$2; shift 2; fi
build=${1:?usage: tests/run-all.sh [--only unit|host|vm] BUILD}
build=$(cd "$build" 2>/dev/null && pwd) || { echo "not ok - no build directory '$1'"; echo "0 passed, 1 failed"; exit 1; }
cd "$(dirname "$0")/.."

passed=0 failed=0
# Count TAP results from a suite's output file; a suite with none fails once.
tally() {
	local name=$1 out=$2 rc=$3
	local ok notok
	ok=$(grep -cE '^ok ' "$out")
	notok=$(grep -cE '^not ok ' "$out")
	if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ]; then
		echo "not ok - $name: ran no test (exit $rc)"
		notok=1
	elif [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		echo "not ok - $name: exited $rc after its tests"
		notok=1
	fi
	passed=$((passed + ok))
	failed=$((failed + notok))
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
	[ ${#units[@]} -gt 0 ] || { echo "not ok - unit: no unit test binaries in $build/san/tests"; failed=$((failed + 1)); }
	for t in "${units[@]}"; do
		run_suite "unit/$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
	done
fi
if [ -z "$only" ] || [ "$only" = host ]; then
	bindir=$build/san
	[ -x "$bindir/gatekeeperd" ] || bindir=$build
	run_suite host tests/integration/run.sh "$bindir"
fi
fuzz_policy() {
	local corpus
	corpus=$(mktemp -d)
	if "$build/fuzz_policy" -max_total_time="${FUZZ_SECONDS:-60}" -rss_limit_mb=2048 \
		-print_final_stats=1 "$corpus" tests/fuzz/corpus > "$corpus.log" 2>&1; then
		echo "ok 1 - policy parser fuzzed for ${FUZZ_SECONDS:-60} s: $(grep -o 'Done [0-9]* runs' "$corpus.log")"
	else
		tail -40 "$corpus.log" | sed 's/^/# /'
		echo "not ok 1 - policy parser fuzzing found a crash or leak"
	fi
	rm -rf "$corpus" "$corpus.log"
}
if [ -z "$only" ] || [ "$only" = fuzz ]; then
	run_suite fuzz fuzz_policy
fi
if [ -z "$only" ] || [ "$only" = vm ]; then
	run_suite vm tests/vm/run.sh "$build"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
