#!/bin/bash
# Host-kernel integration suite for gatekeeper (fanotify mode).
#
#   tests/integration/run.sh BINDIR      (as root)
#
# BINDIR holds gatekeeperd and gatekeeper-ctl, and BINDIR/helpers (or
# $GK_IT_HELPERS) the test helpers that `make helpers` builds. Prints TAP; exits non-zero if
# any test failed. A missing prerequisite is a failure, never a skip.
#
# Safety: the suite re-executes itself inside `unshare -m --propagation
# private`; every test gets its own fresh tmpfs, and the daemon watches only
# that tmpfs (its policy, db and socket live there too). Every daemon, exec
# and test runs under `timeout`; daemons are stopped by the PIDs this suite
# recorded, never by name.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

# name:seconds -- the per-test time limit (the test is killed past it).
TESTS=(
	deny_gives_eperm:40
	allow_runs_under_default_deny:40
	forget_returns_to_default:60
	unknown_file_default_allow:40
	unknown_file_default_deny:40
	allow_then_deny_applies_next_exec:40
	monitor_mode_runs_and_logs_would_deny:40
	monitor_mode_never_waits_for_daemon:40
	audit_never_names_the_program_as_its_caller:60
	restart_keeps_admin_verdicts:60
	cached_allow_raises_no_event_until_write:40
	write_makes_verdict_stale:40
	kill9_releases_pending_exec:90
	restart_after_kill9_keeps_verdicts:60
	parallel_200_execs_kernel_cache:90
	parallel_200_execs_no_kernel_cache:90
	restart_during_exec_storm:90
	query_shows_verdict_source_sha256:40
	status_text_fields:40
	bpf_after_ready_without_bpf_lsm:40
	json_output_parses:40
	hostile_paths_escaped:120
	policy_messages_one_safe_line:40
	subscribe_streams_decisions:60
	ctl_exit_codes:40
	nonroot_client_refused:40
	bad_control_requests_survived:60
	control_flood_keeps_serving:300
	malformed_yaml_refused:30
	unknown_policy_key_refused:30
	daemon_usage_error:30
	policy_check_good_and_bad:30
	policy_apply_bad_changes_nothing:40
	malformed_policies_1000_refused:480
	sighup_reloads_policy:40
	sighup_waits_for_control_apply:90
	admin_group_change_moves_access:40
	unresolved_admin_group_at_start_gates:30
	ctl_file_checks:30
	slow_commands_leave_status_answering:60
	huge_file_refused_at_once:40
	sd_notify_ready_reload_watchdog_stopping:40
	sd_notify_absent_is_silent:30
	start_boost_ends_when_ready:30
	unit_syscall_filter_applied:30
)
# Invariant 1, one test per write route, with and without the kernel cache.
for _route in write otrunc truncate fallocate copy_file_range aio splice mmap \
	mmap_close_first rename old_writer mmap_old_writer mmap_old_writer_touch mmap_hidden_writer; do
	TESTS+=("inv1_$_route:120" "inv1_${_route}_no_kcache:120")
done
unset _route
TESTS+=(
	inv1_mmap_hidden_writer_overlay:120
	inv1_mmap_hidden_writer_overlay_no_kcache:120
	inv1_mmap_hidden_writer_overlay_root_owned:120
	overlay_cache_keeps_only_what_policy_trusts:60
	compile_then_run_200:120
	copy_then_run_200:90
	prescan_first_exec_kernel_hit:40
	prescan_burst_coalesces:90
	prescan_skips_text_files:40
	lease_breaks_do_not_stall_writers:40
	unsettled_content_not_cached_in_kernel:60
	policy_subtree_scoping:40
	policy_paths_through_links:60
	policy_unwatched_moved_in:40
	policy_path_allowed_moved_out:40
	policy_show_apply_roundtrip:40
	policy_apply_during_exec_storm:90
)
. "$HERE/tests_scanner.sh" # scanner tests: adds its own TESTS entries
. "$HERE/tests_scanapply.sh" # scanner engines across policy changes: likewise
. "$HERE/tests_trust.sh"   # trust tests: adds its own TESTS entries
. "$HERE/tests_ops.sh"     # operators' tools (metrics, log, top, suggest): likewise
. "$HERE/tests_scand.sh"   # the scanner process: adds its own TESTS entries
. "$HERE/tests_frozen.sh"  # a frozen daemon and the sentinel
. "$HERE/tests_fault.sh"   # fault tests (issue 12): adds its own TESTS entries
. "$HERE/tests_fair.sh"    # one user, or a few together, against the others: likewise
. "$HERE/tests_host.sh"    # mounts, fileless, AT_EXECVE_CHECK: adds its own TESTS entries
# GK_IT_ONLY=REGEX runs only the tests whose names match (for development).
# GK_IT_KEEP_LOGS=DIR keeps a copy of every failed test's daemon logs in DIR.
if [[ -n ${GK_IT_ONLY:-} ]]; then
	_all=("${TESTS[@]}")
	TESTS=()
	for _t in "${_all[@]}"; do
		[[ ${_t%%:*} =~ $GK_IT_ONLY ]] && TESTS+=("$_t")
	done
	unset _all _t
fi

# ---------------------------------------------------------------- outer stage

fail_all() {
	unit_filter_setup
	echo "1..${#TESTS[@]}"
	local i=0 t
	for t in "${TESTS[@]}"; do
		i=$((i + 1))
		echo "not ok $i - ${t%%:*}"
		echo "# $1"
	done
	exit 1
}

outer_main() {
	if [[ $# -ne 1 ]]; then
		echo "usage: $0 BINDIR" >&2
		exit 2
	fi
	local bindir=$1
	[[ -d $bindir ]] && bindir=$(cd "$bindir" && pwd)
	[[ $EUID -eq 0 ]] || fail_all "the host-kernel suite must run as root"
	local tool
	for tool in unshare timeout mount umount cc setpriv sqlite3 sha256sum truncate "$PY"; do
		command -v "$tool" >/dev/null || fail_all "required tool missing: $tool"
	done
	TOP=$(mktemp -d /tmp/gk-it.XXXXXX) || fail_all "mktemp failed"
	# 0755: the non-root client test must reach files below it.
	chmod 0755 "$TOP"
	# The mounts live only in the private namespace; nothing is mounted here.
	trap 'rm -rf --one-file-system "$TOP"' EXIT
	# The test helpers (make helpers): beside the binaries unless named.
	local helpers=${GK_IT_HELPERS:-$bindir/helpers}
	[[ -d $helpers ]] && helpers=$(cd "$helpers" && pwd)
	GK_IT_STAGE=inner GK_IT_TOP=$TOP GK_IT_BINDIR=$bindir GK_IT_HELPERS=$helpers \
		timeout -s KILL 1800 unshare -m --propagation private -- bash "$SELF"
	local rc=$?
	if [[ $rc -eq 137 ]]; then
		echo "not ok - suite killed after 1800 s"
	elif [[ $rc -ne 0 && $rc -ne 1 ]]; then
		echo "not ok - suite runner failed (exit $rc)"
	fi
	exit $rc
}

# ---------------------------------------------------------------- inner stage

# Stop every process a test recorded, by PID, after checking the PID still
# names a process of ours (it may have exited and been reused).
kill_recorded() {
	local pidfile=$1 dir=$2 pid sig cmd
	[[ -f $pidfile ]] || return 0
	for sig in TERM KILL; do
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] || continue
			cmd=$( { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || continue
			# ours only if it carries this test's GK_IT_T: a reused PID may
			# be another suite's daemon (parallel runs on one machine)
			tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "GK_IT_T=$dir" || continue
			case $cmd in
			*gatekeeper* | *spawner* | *routes* | timeout*) kill -"$sig" "$pid" 2>/dev/null ;;
			esac
		done <"$pidfile"
		[[ $sig == TERM ]] && sleep 0.3
	done
}

print_diagnostics() {
	local dir=$1 f
	[[ -s $dir/.notes ]] && sed 's/^/# /' "$dir/.notes"
	[[ -s $dir/.reason ]] && sed 's/^/# /' "$dir/.reason"
	for f in "$dir"/daemon.*.log; do
		[[ -s $f ]] || continue
		echo "# --- last lines of $(basename "$f"):"
		[[ -n ${GK_IT_KEEP_LOGS:-} ]] && cp "$f" "$GK_IT_KEEP_LOGS/$(basename "$dir").$$.$(basename "$f")"
		tail -n 6 "$f" | cut -c1-300 | sed 's/^/#   /'
	done
}

# Every daemon of the suite runs under the system call filter of the unit
# it ships in (packaging/gatekeeperd.service), its groups expanded by
# systemd's own tables: a test whose daemon makes a call the unit refuses
# fails and names the call (refused_calls). The ThreadSanitizer build
# needs nothing more; GK_IT_UNIT_FILTER=0 turns the filter off (a build
# with other instrumentation).
unit_filter_setup() {
	[[ ${GK_IT_UNIT_FILTER:-1} == 0 ]] && return 0
	local unit=$HERE/../../packaging/gatekeeperd.service entry
	export GK_IT_SYSCALLS=$TOP/unit-syscalls
	[[ -f $TOP/sysfilter.failed ]] && return 0
	local entries
	entries=$(sed -n 's/^SystemCallFilter=//p' "$unit")
	if [[ -z $entries || $entries == *'~'* ]]; then
		echo "$unit: no SystemCallFilter= allow list to test" >"$TOP/sysfilter.failed"
		return 0
	fi
	for entry in $entries; do
		syscall_names "$entry" || {
			echo "systemd-analyze syscall-filter $entry failed (systemd's tables)" >"$TOP/sysfilter.failed"
			return 0
		}
	done >"$GK_IT_SYSCALLS"
	# The ASan and UBSan runtime in make test's daemon: it lists the threads
	# with getdents, and LeakSanitizer stops them with ptrace for its leak
	# check at exit (found with GK_SYSFILTER_LOG_ONLY=1: sysfilter.c).
	if ldd "$GK_IT_BINDIR/gatekeeperd" 2>/dev/null | grep -q -E 'lib(asan|ubsan)'; then
		echo "getdents ptrace" >>"$GK_IT_SYSCALLS"
	fi
}

# syscall_names NAME|@GROUP: the system calls, groups expanded.
syscall_names() {
	local table name
	case $1 in
	@*)
		table=$(systemd-analyze syscall-filter "$1") || return 1
		for name in $(awk 'NR > 1 && /^ +[@a-z]/ {print $1}' <<<"$table"); do
			syscall_names "$name" || return 1
		done
		;;
	*) echo "$1" ;;
	esac
}

# refused_calls MARK [PROGRAM] [PLAYED]: the kernel's records (audit
# type=1326, sysfilter.c) of calls the unit's filter refused gatekeeperd or
# its scanners (or PROGRAM, a path) since MARK was written to the kernel
# log; returns 1 when there is any. Not the calls named in the file PLAYED:
# a test made them fail on purpose (GK_SYSFILTER_EACCES; the test lists them in $T/.played).
# Nor openat2, which the unit's RestrictSUIDSGID= makes fail (sysfilter.c).
refused_calls() {
	[[ -n ${GK_IT_SYSCALLS:-} ]] || return 0
	local lines exe='exe="[^"]*/gatekeeper(d|-scand)"'
	[[ -n ${2:-} ]] && exe="exe=\"$2\""
	lines=$(dmesg | awk -v m="$1" 'index($0, m) {on = 1; next} on' |
		grep 'type=1326' | grep -E "$exe" |
		sed -E 's/.*(comm="[^"]*").*(exe="[^"]*").*(syscall=[0-9]+).*/\1 \2 \3/' |
		awk -v t=/usr/include/x86_64-linux-gnu/asm/unistd_64.h -v played="${3:-/dev/null}" '
			BEGIN {
				while ((getline l < t) > 0) if (split(l, a, " ") == 3 && a[2] ~ /^__NR_/) nr[a[3]] = substr(a[2], 6)
				while ((getline l < played) > 0) skip[l] = 1
				skip["openat2"] = 1
			}
			match($0, /syscall=[0-9]+$/) { n = substr($0, RSTART + 8); if (nr[n] in skip) next; if (n in nr) $0 = $0 " (" nr[n] ")" }
			{ print }')
	[[ -z $lines ]] && return 0
	echo "system calls refused by the unit's SystemCallFilter=:"
	sort <<<"$lines" | uniq -c | head -n 20
	return 1
}

run_one() {
	local n=$1 name=$2 limit=$3
	local dir=$TOP/t$n rc
	mkdir -m 0755 "$dir"
	if ! mount -t tmpfs -o size=16g,mode=0755 gk-it "$dir"; then
		echo "not ok $n - $name"
		echo "# could not mount a tmpfs on $dir"
		return 1
	fi
	local mark
	mark="gk-it: test $n $name $$ $(date +%s%N)"
	echo "$mark" >/dev/kmsg
	GK_IT_STAGE=test GK_IT_T=$dir timeout -s KILL "$limit" bash "$SELF" "$name" \
		>"$TOP/t$n.out" 2>&1
	rc=$?
	kill_recorded "$dir/.pids" "$dir"
	refused_calls "$mark" "" "$dir/.played" >>"$dir/.reason" || rc=1
	# A sanitizer report (ASan, UBSan, TSan) in a daemon's log fails the test
	# even when its assertions held, and is shown either way. A scanner
	# process's report comes relayed, one escaped line at a time
	# (scanner/scand_io.c): after that prefix.
	local san f
	san=$(grep -l -E '^(scanner message="gatekeeper-scand [0-9]+: )?(WARNING|ERROR): (Thread|Address|UndefinedBehavior|Leak)Sanitizer|runtime error:' \
		"$dir"/daemon.*.log 2>/dev/null)
	if [[ -n $san ]]; then
		rc=1
		for f in $san; do
			echo "sanitizer report in $(basename "$f"):"
			sed -n -E '/^(scanner message="gatekeeper-scand [0-9]+: )?(WARNING|ERROR): .*Sanitizer|runtime error:/,/^(SUMMARY|=====)/p' "$f" |
				grep -v '^decision ' | head -n 60
		done >>"$dir/.reason"
	fi
	if [[ $rc -eq 0 ]]; then
		echo "ok $n - $name"
		[[ -s $dir/.notes ]] && sed 's/^/# /' "$dir/.notes"
	else
		echo "not ok $n - $name"
		[[ $rc -eq 137 ]] && echo "# test killed after its $limit s limit"
		print_diagnostics "$dir"
		if [[ -s $TOP/t$n.out ]]; then
			echo "# --- test output:"
			tail -n 6 "$TOP/t$n.out" | cut -c1-300 | sed 's/^/#   /'
		fi
	fi
	umount "$dir" 2>/dev/null || umount -l "$dir"
	rmdir "$dir"
	return $((rc != 0))
}

unmount_leftovers() {
	local d
	for d in "$TOP"/t*/; do
		mountpoint -q "$d" && umount -l "$d"
	done
	return 0
}

inner_main() {
	TOP=$GK_IT_TOP
	trap unmount_leftovers EXIT
	# The helpers are built by the Makefile (make helpers); copies here, where
	# the unprivileged user can surely execute them (BINDIR may be private).
	local helper
	for helper in spawner routes tail fileless elf fusefile sysfilter; do
		if ! install -m 0755 "$GK_IT_HELPERS/$helper" "$TOP/$helper" 2>"$TOP/$helper.err"; then
			echo "$helper: not built (make helpers): $(head -n 1 "$TOP/$helper.err")" >"$TOP/$helper.failed"
		fi
	done
	# A copy the unprivileged user can surely execute (BINDIR may be private).
	if [[ -f $GK_IT_BINDIR/gatekeeper-ctl ]]; then
		install -m 0755 "$GK_IT_BINDIR/gatekeeper-ctl" "$TOP/ctl-nobody"
	fi
	unit_filter_setup
	echo "1..${#TESTS[@]}"
	local n=0 failed=0 t
	for t in "${TESTS[@]}"; do
		n=$((n + 1))
		run_one "$n" "${t%%:*}" "${t##*:}" || failed=$((failed + 1))
	done
	echo "# $((n - failed)) passed, $failed failed"
	[[ $failed -eq 0 ]]
}

# ---------------------------------------------------------------- test stage
# shellcheck source=lib.sh
. "$HERE/lib.sh"
. "$HERE/tests_basic.sh"
. "$HERE/tests_kernel.sh"
. "$HERE/tests_cli.sh"
. "$HERE/tests_invariants.sh"
. "$HERE/tests_policy.sh"
. "$HERE/tests_systemd.sh"

case ${GK_IT_STAGE:-} in
"") outer_main "$@" ;;
inner) inner_main ;;
test)
	test_setup
	"t_$1"
	test_teardown
	;;
*)
	echo "bad GK_IT_STAGE" >&2
	exit 2
	;;
esac
