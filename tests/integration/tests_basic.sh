# Verdict tests: admin rules, policy default, monitor mode, restart.
# Sourced by run.sh; each t_NAME runs in its own process (see lib.sh).

t_deny_gives_eperm() {
	mkbin victim
	mkbin bystander
	write_policy enforce allow
	start_daemon
	expect_runs "$BIN/bystander" "before any rule: "
	ctl_ok deny "$BIN/victim"
	expect_eperm "$BIN/victim" "after deny: "
	expect_runs "$BIN/bystander" "unrelated file after deny: "
}

t_allow_runs_under_default_deny() {
	mkbin trusted
	mkbin stranger
	write_policy enforce deny
	start_daemon
	ctl_ok allow "$BIN/trusted"
	expect_runs "$BIN/trusted" "after allow: "
	expect_eperm "$BIN/stranger" "unknown file under default deny: "
}

t_forget_returns_to_default() {
	mkbin a
	mkbin b
	write_policy enforce deny
	start_daemon
	ctl_ok allow "$BIN/a"
	expect_runs "$BIN/a" "default deny, after allow: "
	ctl_ok forget "$BIN/a"
	expect_eperm "$BIN/a" "default deny, after allow+forget: "
	stop_daemon

	DB=$T/gk2.db
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/b"
	expect_eperm "$BIN/b" "default allow, after deny: "
	ctl_ok forget "$BIN/b"
	expect_runs "$BIN/b" "default allow, after deny+forget: "
}

t_unknown_file_default_allow() {
	mkbin unknown
	write_policy enforce allow
	start_daemon
	expect_runs "$BIN/unknown" "first exec: "
	expect_runs "$BIN/unknown" "second exec: "
}

t_unknown_file_default_deny() {
	mkbin unknown
	printf '#!/bin/sh\necho script-%s\n' "$RANDOM" >"$BIN/unknown.sh"
	chmod 0755 "$BIN/unknown.sh"
	write_policy enforce deny
	start_daemon
	expect_eperm "$BIN/unknown" "first exec: "
	expect_eperm "$BIN/unknown" "second exec: "
	expect_eperm "$BIN/unknown.sh" "a #! script: "
}

# A content allowed (and cached by the kernel) and then denied is denied on
# its very next exec, in every inode that holds that content.
t_allow_then_deny_applies_next_exec() {
	mkbin prog
	cp "$BIN/prog" "$BIN/prog-twin" || fail "cp failed"
	write_policy enforce allow
	start_daemon
	expect_runs "$BIN/prog" "unknown, default allow: "
	expect_runs "$BIN/prog-twin" "same content, second inode: "
	expect_runs "$BIN/prog" "cached: "
	ctl_ok allow "$BIN/prog"
	expect_runs "$BIN/prog" "after allow: "
	ctl_ok deny "$BIN/prog"
	expect_eperm "$BIN/prog" "the exec right after deny: "
	expect_eperm "$BIN/prog-twin" "the twin inode right after deny: "
	ctl_ok allow "$BIN/prog"
	expect_runs "$BIN/prog" "the exec right after allow again: "
}

# wait_log_line PATH: a decision line for PATH with would_deny=1 in the log.
wait_log_would_deny() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -F "path=$1 " "$DLOG" | grep -Eq '(^| )would_deny=1( |$)' && return 0
		sleep 0.1
	done
	return 1
}

# audit_would_deny PATH: rows in the audit table for PATH with would_deny=1.
audit_would_deny() {
	sqlite3 -cmd '.timeout 3000' "$DB" \
		"SELECT count(*) FROM audit WHERE would_deny = 1 AND path = '$1';" 2>&1
}

wait_audit_would_deny() {
	local i out
	for ((i = 0; i < 50; i++)); do
		out=$(audit_would_deny "$1")
		[[ $out =~ ^[0-9]+$ && $out -ge 1 ]] && return 0
		sleep 0.1
	done
	fail "no audit row with would_deny=1 for $1 (sqlite3 said: $out)"
}

t_monitor_mode_runs_and_logs_would_deny() {
	mkbin unknown
	mkbin denied
	write_policy monitor deny
	start_daemon
	ctl_ok deny "$BIN/denied"
	expect_runs "$BIN/unknown" "monitor, default deny, unknown file: "
	expect_runs "$BIN/denied" "monitor, admin-denied file: "
	wait_log_would_deny "$BIN/unknown" ||
		fail "no decision log line with path=$BIN/unknown and would_deny=1 on stderr"
	wait_log_would_deny "$BIN/denied" ||
		fail "no decision log line with path=$BIN/denied and would_deny=1 on stderr"
	wait_audit_would_deny "$BIN/unknown"
	wait_audit_would_deny "$BIN/denied"
	local wd
	wd=$(stat_num would_deny) || exit 1
	[[ $wd -ge 2 ]] || fail "status would_deny is $wd after two would-be denials"
}

# An allow from memory is answered before the caller's exe is read, so the
# exec often replaces (or ends) the process first. The audit must then name
# no caller rather than the program as its own: with the link read blindly,
# about 6 % of these rows did on the 2-vCPU CI machine.
t_audit_never_names_the_program_as_its_caller() {
	mkbin prog
	write_policy enforce deny
	start_daemon --no-kernel-cache
	ctl_ok allow "$BIN/prog"
	local i n out self empty caller callers
	caller=$(readlink "/proc/$$/exe")
	for ((i = 0; i < 200; i++)); do
		"$BIN/prog" || fail "exec $i of an allowed program failed"
	done
	for ((i = 0; i < 50; i++)); do
		n=$(sqlite3 -cmd '.timeout 3000' "$DB" "SELECT count(*) FROM audit WHERE path = '$BIN/prog';")
		[[ $n =~ ^[0-9]+$ && $n -ge 200 ]] && break
		sleep 0.1
	done
	[[ $n -ge 200 ]] || fail "only $n audit rows for 200 execs of $BIN/prog"
	out=$(sqlite3 -cmd '.timeout 3000' "$DB" \
		"SELECT sum(exe = path), sum(exe = ''), sum(exe = '$caller') FROM audit WHERE path = '$BIN/prog';")
	IFS='|' read -r self empty callers <<<"$out"
	note "200 allows from memory: exe = $caller (the caller) $callers, empty $empty, the program itself $self"
	[[ $self -eq 0 ]] || fail "$self audit rows name $BIN/prog as the exe that ran it"
	[[ $((callers + empty)) -eq $n ]] || fail "rows with another exe than $caller or empty: $out of $n"
}

t_restart_keeps_admin_verdicts() {
	local rc1 rc2 rc3 backup0 backup1
	mkbin allowed
	mkbin denied
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/denied"
	ctl_ok allow "$BIN/allowed"
	expect_eperm "$BIN/denied" "before restart: "
	stop_daemon
	rc1=$DRC
	backup0=$(stat -c %i "$DB.admin-rules") || fail "no admin rules backup beside the store"

	start_daemon
	expect_eperm "$BIN/denied" "after restart (default allow): "
	stop_daemon
	rc2=$DRC
	# A start with the same rules leaves the backup alone (no synced rewrite).
	backup1=$(stat -c %i "$DB.admin-rules")
	[[ $backup1 == "$backup0" ]] || fail "the admin rules backup was rewritten by a start that changed no rule"
	[[ $(grep -c ' deny$' "$DB.admin-rules") == 1 && $(grep -c ' allow$' "$DB.admin-rules") == 1 ]] ||
		fail "the admin rules backup does not hold the deny and the allow: $(cat "$DB.admin-rules")"

	# Under default deny only the stored admin allow can let it run.
	write_policy enforce deny
	start_daemon
	expect_runs "$BIN/allowed" "after restart (default deny): "
	expect_eperm "$BIN/denied" "after restart (default deny): "
	stop_daemon
	rc3=$DRC
	[[ $rc1 == 0 && $rc2 == 0 && $rc3 == 0 ]] ||
		fail "gatekeeperd exit status after SIGTERM: $rc1 $rc2 $rc3 (spec: 0)"
}

# monitor mode may not depend on the daemon answering: with gatekeeperd
# stopped (SIGSTOP), execs still run at once.
t_monitor_mode_never_waits_for_daemon() {
	local r t0 t1
	mkbin unknown
	mkbin denied
	write_policy monitor deny
	start_daemon
	ctl_ok deny "$BIN/denied"
	[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"
	freeze "$DPID" || fail "cannot stop every thread of gatekeeperd"
	t0=$(date +%s%N)
	r=$(exec_result "$BIN/unknown")
	t1=$(date +%s%N)
	local r2
	r2=$(exec_result "$BIN/denied")
	kill -CONT "$DPID"
	[[ $r == ran:0 ]] || fail "monitor mode, daemon stopped: unknown file gave $r"
	[[ $r2 == ran:0 ]] || fail "monitor mode, daemon stopped: admin-denied file gave $r2"
	(((t1 - t0) / 1000000 < 3000)) ||
		fail "monitor mode, daemon stopped: exec took $(((t1 - t0) / 1000000)) ms"
	ctl status >/dev/null 2>&1 || fail "gatekeeperd does not answer status after SIGCONT"
}

# After a crash (kill -9, stale socket left behind) a restart restores
# service with every stored verdict.
t_restart_after_kill9_keeps_verdicts() {
	local rc err
	mkbin denied
	mkbin allowed
	write_policy enforce deny
	start_daemon
	ctl_ok deny "$BIN/denied"
	ctl_ok allow "$BIN/allowed"
	kill9_daemon
	err=$(ctl status 2>&1)
	rc=$?
	[[ $rc -eq 3 ]] || fail "status with the daemon dead (stale socket): exit $rc, expected 3: $err"
	expect_runs "$BIN/denied" "no daemon (group gone), admin-denied file: "
	start_daemon
	expect_eperm "$BIN/denied" "after restart: "
	expect_runs "$BIN/allowed" "after restart (default deny): "
}

# Restarts while execs stream in: no exec fails or hangs (while the daemon is
# down the kernel gates nothing), SIGTERM answers what was read and exits 0,
# and each restart comes back with the stored admin verdicts.
t_restart_during_exec_storm() {
	local i k pids=() rc out bad=0 total=0
	need_spawner
	for ((i = 0; i < 4; i++)); do
		mkbin "s$i"
	done
	mkbin denied
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/denied"
	for ((i = 0; i < 4; i++)); do
		timeout -s KILL 50 "$SPAWNER" loop 6000 "$BIN/s$i" "$BIN/s$(((i + 1) % 4))" \
			>"$T/storm$i.out" 2>&1 &
		pids+=($!)
		record_pid "$!"
	done
	for ((k = 1; k <= 3; k++)); do
		sleep 0.5
		stop_daemon
		[[ $DRC == 0 ]] || fail "restart $k: gatekeeperd exited $DRC on SIGTERM during the storm"
		start_daemon
		expect_eperm "$BIN/denied" "after restart $k: "
	done
	for ((i = 0; i < 4; i++)); do
		wait "${pids[i]}"
		rc=$?
		out=$(tail -n 1 "$T/storm$i.out")
		[[ $out =~ ^execs=([0-9]+)\ ok=([0-9]+) ]] || fail "exec loop $i: exit $rc: $(head -n 3 "$T/storm$i.out")"
		total=$((total + BASH_REMATCH[1]))
		if [[ $rc -ne 0 ]]; then
			bad=$((bad + 1))
			grep -m 3 '^fail' "$T/storm$i.out" >>"$T/.reason"
			echo "exec loop $i: $out" >>"$T/.reason"
		fi
	done
	note "$total execs in 4 loops across 3 restarts"
	[[ $bad -eq 0 ]] || fail "$bad of 4 exec loops saw a failed or hung exec across the restarts"
	[[ $total -ge 100 ]] || fail "only $total execs ran in the storm"
	alive "$DPID" || fail "gatekeeperd died"
}
