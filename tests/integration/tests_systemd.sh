# systemd's notify protocol (Type=notify, WatchdogSec=), spoken to a
# listener on the test's tmpfs in place of systemd: READY=1 with STATUS=,
# watchdog pings while idle, RELOADING=1 then READY=1 around SIGHUP,
# STOPPING=1. (journald's structured entries need a journal: tests/sys.)

# notify_listener FILE SOCKET: record each datagram as "MONO_MS<TAB>text".
notify_listener() {
	timeout -s KILL 60 "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[2])
with open(sys.argv[1], "a", buffering=1) as out:
    while True:
        m = s.recv(4096).decode(errors="replace").replace("\n", "|")
        out.write("%d\t%s\n" % (time.monotonic() * 1000, m))
' "$1" "$2" &
	record_pid $!
	local i
	for ((i = 0; i < 50; i++)); do [[ -S $2 ]] && return 0; sleep 0.1; done
	fail "the notify listener did not start"
}

# wait_notify PATTERN: until a recorded message matches (5 s).
wait_notify() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q -- "$1" "$T/notify.log" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no notify message matching '$1' in 5 s; got: $(cut -f2 "$T/notify.log" | sort | uniq -c | tr '\n' ' ')"
}

t_sd_notify_ready_reload_watchdog_stopping() {
	mkbin prog
	write_policy enforce allow
	: >"$T/notify.log"
	notify_listener "$T/notify.log" "$T/notify.sock"
	export NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000
	start_daemon
	unset NOTIFY_SOCKET WATCHDOG_USEC
	wait_notify 'READY=1|STATUS=mode=enforce kernel_mode='
	# READY=1 came once the marks stood: the first exec is already gated
	expect_runs "$BIN/prog" "after READY=1: "
	[[ $(grep -c 'READY=1' "$T/notify.log") -eq 1 ]] || fail "READY=1 sent more than once at start"
	sleep 2
	local pings
	pings=$(grep -c 'WATCHDOG=1' "$T/notify.log")
	((pings >= 4)) || fail "WatchdogSec=1s: $pings pings in 2 s of idling (want >= 4)"
	note "$pings watchdog pings in 2 s (WATCHDOG_USEC=1000000)"

	kill -HUP "$DPID"
	wait_notify 'RELOADING=1|MONOTONIC_USEC='
	# READY=1 again after the reload, and after the RELOADING=1
	local reloading_line ready_lines
	reloading_line=$(grep -n 'RELOADING=1' "$T/notify.log" | head -n1 | cut -d: -f1)
	for ((i = 0; i < 50; i++)); do
		ready_lines=$(awk -v r="$reloading_line" 'NR > r && /READY=1/' "$T/notify.log" | wc -l)
		((ready_lines >= 1)) && break
		sleep 0.1
	done
	((ready_lines >= 1)) || fail "no READY=1 after RELOADING=1"

	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC on SIGTERM"
	wait_notify 'STOPPING=1'
}

t_sd_notify_absent_is_silent() {
	# Outside systemd (no NOTIFY_SOCKET) nothing changes: same start, same exit.
	mkbin prog
	write_policy enforce allow
	unset NOTIFY_SOCKET WATCHDOG_USEC
	start_daemon
	expect_runs "$BIN/prog" ""
	grep -q '^ready mode=enforce' "$DLOG" || fail "no plain 'ready' line on stderr: $(head -n 3 "$DLOG" | tr '\n' ' ')"
	# and each decision stays one key=value line on stderr
	wait_log "^decision .*path=$BIN/prog " || fail "no plain decision line for $BIN/prog on stderr"
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC on SIGTERM"
}

# nice_of PID/TID path: the nice field of /proc/.../stat (after the comm,
# which may hold blanks and parentheses).
nice_of() {
	sed 's/.*) //' "$1/stat" 2>/dev/null | awk '{ print $17 }'
}

t_start_boost_ends_when_ready() {
	# The unit starts the daemon at Nice=-10 so that the boot waits less for
	# its READY=1; once ready, none of its threads nor its sentinel keeps the
	# boost (the walk's thread, had it one, would stay at 19).
	mkbin prog
	write_policy enforce allow
	DNICE=-10 start_daemon
	local i t boosted kid
	# not booting (no systemd here): the boost is kept until ready
	grep -q ' start_nice=-10 boost=kept_until_ready$' "$DLOG" ||
		fail "the ready line does not say start_nice=-10 boost=kept_until_ready: $(grep '^ready' "$DLOG")"
	# where the start's time and CPU went, from the exec on: all present, in ms
	local ready before
	ready=$(grep '^ready' "$DLOG")
	[[ $ready =~ \ before_ms=([0-9]+)\ cpu_before_ms=[0-9]+\ cpu_store_ms=[0-9]+\ cpu_trust_ms=[0-9]+\ cpu_threads_marks_ms=[0-9]+\ cpu_after_marks_ms=[0-9]+\  ]] ||
		fail "the ready line lacks the start's time before the store and its CPU by phase: $ready"
	before=${BASH_REMATCH[1]}
	# the exec came before the store: not 0 unless the clock tick hid it, not minutes
	[[ $before -lt 60000 ]] || fail "before_ms=$before: the daemon's exec is not minutes before its store"
	for ((i = 0; i < 50; i++)); do
		boosted=""
		for t in /proc/"$DPID"/task/*; do
			[[ $(nice_of "$t") -lt 0 ]] && boosted+="$(cat "$t/comm")($(nice_of "$t")) "
		done
		for kid in $(cat /proc/"$DPID"/task/*/children 2>/dev/null); do
			[[ $(nice_of "/proc/$kid") -lt 0 ]] && boosted+="child $kid($(nice_of "/proc/$kid")) "
		done
		[[ -z $boosted ]] && break
		sleep 0.1
	done
	[[ -z $boosted ]] || fail "still at a negative nice 5 s after ready: $boosted"
	[[ $(ls /proc/"$DPID"/task | wc -l) -gt 3 ]] || fail "gatekeeperd has no threads to check"
	[[ -n $(cat /proc/"$DPID"/task/*/children 2>/dev/null) ]] || fail "gatekeeperd has no sentinel to check"
	expect_runs "$BIN/prog" "after the boost: "
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC on SIGTERM"
}

# The unit's SystemCallFilter= stands in front of every daemon of this
# suite (run.sh: unit_filter_setup), and a call it refuses fails the test
# (refused_calls). That proves something only if the filter is in place
# and a refusal does reach the kernel log where refused_calls looks.
t_unit_syscall_filter_applied() {
	[[ -n ${GK_IT_SYSCALLS:-} ]] || fail "the suite runs without the unit's filter (GK_IT_UNIT_FILTER=0)"
	[[ -f $TOP/sysfilter.failed ]] && fail "$(cat "$TOP/sysfilter.failed")"
	local name
	for name in fanotify_init fanotify_mark bpf exit_group futex; do
		grep -qx "$name" "$GK_IT_SYSCALLS" || fail "$name is not in the unit's list ($GK_IT_SYSCALLS)"
	done
	grep -qx sync "$GK_IT_SYSCALLS" && fail "the unit's list allows sync(2): the probe below would prove nothing"
	mkbin prog
	write_policy enforce allow
	start_daemon
	local seccomp
	seccomp=$(awk '$1 == "Seccomp:" {print $2}' "/proc/$DPID/status")
	[[ $seccomp == 2 ]] || fail "gatekeeperd ($DPID) runs without a seccomp filter (Seccomp: $seccomp)"
	expect_runs "$BIN/prog" "under the unit's filter: "
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC on SIGTERM under the unit's filter"
	# After the daemon: its own refused calls (openat2) would crowd the
	# console's audit records.
	# A refused call, and refused_calls finds its record.
	cp /bin/sync "$BIN/gatekeeper-probe" || fail "cannot copy /bin/sync"
	local mark
	mark="gk-it: probe $$ $(date +%s%N)"
	echo "$mark" >/dev/kmsg
	# The kernel rate-limits audit records on the console (printk: "kauditd_printk_skb:
	# N callbacks suppressed", 5 s windows) after a busy suite: the probe
	# runs again in the next window rather than count a suppressed record.
	local seen i run
	for ((run = 0; run < 3; run++)); do
		"$TOP/sysfilter" "$GK_IT_SYSCALLS" "$BIN/gatekeeper-probe" || fail "the probe did not run"
		for ((i = 0; i < 30; i++)); do
			seen=$(refused_calls "$mark" "$BIN/gatekeeper-probe")
			[[ $seen == *"exe=\"$BIN/gatekeeper-probe\" syscall=162"* ]] && break 2
			sleep 0.2
		done
	done
	[[ $seen == *"exe=\"$BIN/gatekeeper-probe\" syscall=162"* ]] ||
		fail "sync(2) refused by the filter left no record the suite would find: '$seen'"
}
