#!/bin/bash
# make bench, trust part (issue 11): the dpkg trust index and its costs.
#
#   bench/trust_run.sh BUILD        (as root)
#
# Measures, on a synthetic dpkg database of 150,000 listed paths:
#   - the index built cold (trust_bench index, a fresh store);
#   - gatekeeperd's start-up (spawn to its "ready" line) with that index
#     already stored, against the same daemon without a trust: section;
#   - the first exec of a trusted 1 MB and 50 MB program (each a new
#     packaged content: the daemon reads it once for SHA-256 + MD5) against
#     a bare exec of the same file with no daemon, and a second exec;
#   - the daemon's RSS with the index against without.
# Prints a table and writes bench/trust-results.json. Never asserts on time.
#
# Safety: a private mount namespace and a fresh tmpfs; each daemon watches
# only that tmpfs and runs under `timeout`; stopped by the PID recorded here.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
NPATHS=${GK_TRUST_BENCH_PATHS:-150000}
RUNS=${GK_TRUST_BENCH_RUNS:-7}

die() {
	echo "trust bench: $*" >&2
	exit 1
}

outer() {
	local build
	build=$(cd "${1:?usage: bench/trust_run.sh BUILD}" && pwd) || die "no build dir"
	[[ $EUID -eq 0 ]] || die "must run as root"
	[[ -x $build/bench/trust_bench && -x $build/bench/tiny-static ]] ||
		die "no $build/bench/trust_bench or tiny-static: run make bench-helpers"
	GK_TB_STAGE=inner GK_TB_BUILD=$build timeout -s KILL 900 \
		unshare -m --propagation private -- bash "$SELF"
}

T=""
TPID=""
DPID=""

cleanup() {
	stop_daemon
	[[ -n $T ]] && { umount "$T" 2>/dev/null || umount -l "$T"; rmdir "$T"; }
}

stop_daemon() {
	local i
	[[ -n $DPID ]] && kill -TERM "$DPID" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		[[ -n $TPID ]] && kill -0 "$TPID" 2>/dev/null || break
		sleep 0.1
	done
	[[ -n $TPID ]] && kill -KILL "$TPID" 2>/dev/null
	[[ -n $TPID ]] && wait "$TPID" 2>/dev/null
	TPID=""
	DPID=""
}

now_us() {
	echo $(($(date +%s%N) / 1000))
}

# start POLICY: the daemon in the foreground; STARTED_US: the microseconds
# from spawn to its "ready" log line. Leaves it running (TPID, DPID).
start() {
	local t0 line fifo=$T/log.fifo
	rm -f "$fifo" && mkfifo "$fifo"
	t0=$(now_us)
	timeout -s KILL 300 "$B/gatekeeperd" --foreground --policy "$1" --db "$T/gk.db" \
		--socket "$T/gk.sock" 2>"$fifo" >/dev/null &
	TPID=$!
	exec 3<"$fifo"
	TRUST_US=0
	while read -r -u 3 line; do
		[[ $line == *trust_started* ]] && TRUST_US=${line##*took_us=}
		[[ $line == *ready* ]] && break
		[[ $line == *error* ]] && die "daemon: $line"
	done
	STARTED_US=$(($(now_us) - t0))
	cat <&3 >/dev/null &   # keep draining its log
	exec 3<&-
	DPID=$(cat "/proc/$TPID/task/$TPID/children" 2>/dev/null | cut -d' ' -f1)
}

rss_kb() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$DPID/status"
}

median() {
	tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# pad SRC DST BYTES: an ELF padded with random bytes (the kernel maps only
# its segments), unique content.
pad() {
	cp "$1" "$2" && head -c $(($3 - $(stat -c %s "$1"))) /dev/urandom >>"$2" && chmod 0755 "$2"
}

inner() {
	local B=$GK_TB_BUILD TB=$GK_TB_BUILD/bench/trust_bench
	local cold warm_open with=() without=() trust_part=() rss_with rss_without i f
	T=$(mktemp -d /tmp/gk-trust-bench.XXXXXX) || die "mktemp"
	mount -t tmpfs -o size=1g,mode=0755 gk-trust-bench "$T" || die "mount"
	trap cleanup EXIT
	mkdir -p "$T/root/usr/bin" "$T/dpkg"

	echo "trust bench: synthetic dpkg database, $NPATHS paths" >&2
	"$TB" gen "$T/dpkg" "$NPATHS" >"$T/gen.json" || die "gen failed"
	# The programs to exec, in one extra package.
	for i in 1 2 3 4 5; do pad "$B/bench/tiny-static" "$T/root/usr/bin/p1m-$i" 1048576; done
	for i in 1 2 3; do pad "$B/bench/tiny-static" "$T/root/usr/bin/p50m-$i" 52428800; done
	{
		printf '/.\n/usr\n/usr/bin\n'
		(cd "$T/root" && ls usr/bin | sed 's|^|/usr/bin/|')
	} >"$T/dpkg/info/bench-progs.list"
	(cd "$T/root" && md5sum usr/bin/*) >"$T/dpkg/info/bench-progs.md5sums"
	printf 'Package: bench-progs\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n' \
		>>"$T/dpkg/status"

	echo "trust bench: index built cold" >&2
	cold=$("$TB" index "$T/dpkg" "$T/gk.db" 2>/dev/null) || die "index failed"
	warm_open=$("$TB" index "$T/dpkg" "$T/gk.db" 2>/dev/null) || die "index failed"

	printf 'mode: enforce\nwatch: [%s/root]\ndefault: deny\n' "$T" >"$T/plain.yaml"
	cp "$T/plain.yaml" "$T/trust.yaml"
	printf 'trust: [{dpkg: {root: %s/root, admindir: %s/dpkg}}]\n' "$T" "$T" >>"$T/trust.yaml"

	echo "trust bench: start-up, $RUNS runs each" >&2
	for ((i = 0; i < RUNS; i++)); do
		start "$T/plain.yaml"
		without+=("$STARTED_US")
		rss_without=$(rss_kb)
		stop_daemon
		start "$T/trust.yaml"
		with+=("$STARTED_US")
		trust_part+=("$TRUST_US")
		rss_with=$(rss_kb)
		stop_daemon
	done

	echo "trust bench: exec" >&2
	for f in "$T"/root/usr/bin/p*; do cat "$f" >/dev/null; done   # page cache warm for all
	local bare1 bare50 first1 first50 second1 second50 rss_after
	bare1=$("$TB" exec "$T"/root/usr/bin/p1m-*) || die "bare exec"
	bare50=$("$TB" exec "$T"/root/usr/bin/p50m-*) || die "bare exec"
	start "$T/trust.yaml"
	first1=$("$TB" exec "$T"/root/usr/bin/p1m-*) || die "trusted exec refused"
	first50=$("$TB" exec "$T"/root/usr/bin/p50m-*) || die "trusted exec refused"
	second1=$("$TB" exec "$T"/root/usr/bin/p1m-*) || die "trusted exec refused"
	second50=$("$TB" exec "$T"/root/usr/bin/p50m-*) || die "trusted exec refused"
	rss_after=$(rss_kb)
	stop_daemon

	local sw s_with wo_list w_list
	sw=$(echo "${without[*]}" | median)
	s_with=$(echo "${with[*]}" | median)
	wo_list=$(IFS=,; echo "${without[*]}")
	w_list=$(IFS=,; echo "${with[*]}")
	local tp tp_list
	tp=$(echo "${trust_part[*]}" | median)
	tp_list=$(IFS=,; echo "${trust_part[*]}")
	python3 - "$HERE/trust-results.json" <<PY
import json, sys, statistics as st
r = {
  "synthetic_db": json.loads('''$(cat "$T/gen.json")'''),
  "index_cold": json.loads('''$cold'''),
  "index_warm_open": json.loads('''$warm_open'''),
  "daemon_start_us": {"without_trust_median": $sw, "with_trust_stored_median": $s_with,
                      "without_trust_runs": [$wo_list], "with_trust_runs": [$w_list],
                      "trust_start_in_daemon_median": $tp, "trust_start_in_daemon_runs": [$tp_list]},
  "daemon_rss_kb": {"without_trust": $rss_without, "with_trust_index": $rss_with,
                    "with_trust_after_execs": $rss_after},
  "exec_us": {"bare_1MB": $bare1, "trusted_first_1MB": $first1, "trusted_second_1MB": $second1,
              "bare_50MB": $bare50, "trusted_first_50MB": $first50, "trusted_second_50MB": $second50},
}
json.dump(r, open(sys.argv[1], "w"), indent=1)
m = lambda v: st.median(v)
e = r["exec_us"]
print("trust bench (%d listed paths, %d packages)" % (r["synthetic_db"]["listed_paths"], r["synthetic_db"]["packages"]))
print("  index built cold          %8.1f ms" % r["index_cold"]["open_ms"])
print("  index opened, stored      %8.1f ms" % r["index_warm_open"]["open_ms"])
print("  daemon start, no trust    %8.1f ms (median of %d)" % ($sw / 1000, len(r["daemon_start_us"]["without_trust_runs"])))
print("  daemon start, trust       %8.1f ms  (+%.1f ms; the trust start itself, timed in the daemon: %.1f ms)" % ($s_with / 1000, ($s_with - $sw) / 1000, $tp / 1000))
print("  daemon RSS, no trust      %8d kB" % $rss_without)
print("  daemon RSS, trust index   %8d kB  (+%d kB; after the execs %d kB)" % ($rss_with, $rss_with - $rss_without, $rss_after))
for size in ("1MB", "50MB"):
    print("  exec %-4s bare %8.0f us, trusted first %8.0f us (x%.1f), second %8.0f us" % (
        size, m(e["bare_" + size]), m(e["trusted_first_" + size]),
        m(e["trusted_first_" + size]) / max(1, m(e["bare_" + size])), m(e["trusted_second_" + size])))
PY
}

case ${GK_TB_STAGE:-} in
inner) inner ;;
*) outer "$@" ;;
esac
