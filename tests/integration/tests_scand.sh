# The privilege-separated scanner on real execs: libclamav runs only in
# gatekeeper-scand processes (no capabilities, an unprivileged user, their
# own network namespace, seccomp); a scanner killed mid-scan or hung past
# max_scan_time_ms makes that exec an on_error decision with the reason in
# the audit detail, and the next exec is scanned by a fresh process.
# Sourced by run.sh after tests_scanner.sh (whose helpers it uses).

TESTS+=(
	scand_daemon_never_maps_libclamav:60
	scand_kill9_mid_scan_is_on_error:60
	scand_hang_past_max_scan_time_is_on_error:60
	scand_exec_holds_writers_until_answered:60
	scand_exec_rewritten_during_scan_not_cached:60
	scand_prescan_rewritten_during_scan_not_cached:60
	scand_fuse_scan_result_never_cached:60
	scand_worker_cannot_stop_daemon_through_lease:60
	scand_stderr_cannot_forge_log_lines:60
	kernel_sent_sigterm_is_not_a_stop:40
)

# scd_children PID: the children of every thread of PID.
scd_children() {
	cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d'
}

# scd_scanners PID: the children of PID that are gatekeeper-scand (the
# daemon has other children, such as its sentinel).
scd_scanners() {
	local kid
	for kid in $(scd_children "$1"); do
		[[ $(cat "/proc/$kid/comm" 2>/dev/null) == gatekeeper-scan* ]] && echo "$kid"
	done
}

# scd_worker: sets ZPID (the zygote: the daemon's gatekeeper-scand child)
# and WPID (its first worker), waiting up to 5 s for them.
scd_worker() {
	local i
	for ((i = 0; i < 50; i++)); do
		ZPID=$(scd_scanners "$DPID" | head -n 1)
		WPID=""
		[[ -n $ZPID ]] && WPID=$(scd_scanners "$ZPID" | head -n 1)
		[[ -n $WPID ]] && return 0
		sleep 0.1
	done
	fail "no scanner worker process under gatekeeperd ($DPID): zygote '${ZPID:-}'"
}

# scd_audit_detail PATH: the detail of the newest audit row for PATH.
scd_audit_detail() {
	local i out
	for ((i = 0; i < 50; i++)); do
		out=$(sqlite3 -cmd '.timeout 3000' "$DB" \
			"SELECT source || '|' || detail FROM audit WHERE path = '$1' ORDER BY id DESC LIMIT 1;" 2>&1)
		[[ -n $out ]] && break
		sleep 0.1
	done
	printf '%s\n' "$out"
}

# scd_stage NAME MARKER: a unique script with MARKER in it, written outside
# the watched tree and renamed into it, so no pre-scan (close-write) runs.
scd_stage() {
	mkdir -p "$T/stage"
	printf '#!/bin/sh\n# %s %s %s\nexit 0\n' "$2" "$RANDOM" "$(date +%s%N)" >"$T/stage/$1" &&
		chmod 0755 "$T/stage/$1" && mv "$T/stage/$1" "$BIN/$1" || fail "cannot stage $BIN/$1"
}

scd_status_field() { # PID FIELD
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | head -n 1
}

# gatekeeperd neither links nor maps libclamav; the scanner processes run
# with no capabilities, not as root, outside the daemon's network
# namespace, under seccomp with no_new_privs; and they still detect.
t_scand_daemon_never_maps_libclamav() {
	local db=$T/clamdb p name v
	mkdir "$db"
	ldd "$BINDIR/gatekeeper-scand" | grep -q libclamav ||
		fail "gatekeeper-scand does not link libclamav (the check below would prove nothing)"
	ldd "$GKD" | grep -q libclamav && fail "gatekeeperd links libclamav: $(ldd "$GKD" | grep libclamav)"
	scn_eicar_script "$BIN/eicar.sh"
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	scn_policy deny "$db"
	start_daemon
	scn_wait_available clamav 1
	expect_eperm "$BIN/eicar.sh" "EICAR script, scanned in gatekeeper-scand: "
	scd_worker
	grep -q libclamav "/proc/$DPID/maps" && fail "gatekeeperd maps libclamav"
	grep -q libclamav "/proc/$WPID/maps" || fail "the scanner worker $WPID does not map libclamav"
	for p in "$ZPID" "$WPID"; do
		name=$(cat "/proc/$p/comm")
		for v in CapEff CapPrm CapBnd CapAmb; do
			[[ $(scd_status_field "$p" $v) == 0000000000000000 ]] ||
				fail "$name ($p): $v is $(scd_status_field "$p" $v)"
		done
		v=$(scd_status_field "$p" Uid)
		[[ $v != 0* ]] || fail "$name ($p) runs as uid 0: Uid: $v"
		[[ $(scd_status_field "$p" Seccomp) == 2 ]] || fail "$name ($p) has no seccomp filter"
		[[ $(scd_status_field "$p" NoNewPrivs) == 1 ]] || fail "$name ($p) lacks no_new_privs"
		[[ $(readlink "/proc/$p/ns/net") != "$(readlink "/proc/$DPID/ns/net")" ]] ||
			fail "$name ($p) shares the daemon's network namespace"
		[[ $(readlink "/proc/$p/ns/mnt") != "$(readlink "/proc/$DPID/ns/mnt")" ]] ||
			fail "$name ($p) shares the daemon's mount namespace"
	done
	note "gatekeeperd VmRSS $(scd_status_field "$DPID" VmRSS | tr -s ' ') with ClamAV on (its scanner processes: $(scd_status_field "$ZPID" VmRSS | tr -s ' '), $(scd_status_field "$WPID" VmRSS | tr -s ' '))"
	note "zygote $ZPID, worker $WPID: Uid $(scd_status_field "$WPID" Uid | cut -f1), CapEff 0, net $(readlink "/proc/$WPID/ns/net")"
	scn_stop_checked
}

# kill -9 of the worker while it scans: that exec gets on_error (deny here)
# with the reason in the audit detail; the next execs are scanned by a new
# worker (a clean one runs, an infected one is denied by the scanner).
t_scand_kill9_mid_scan_is_on_error() {
	local db=$T/clamdb r detail old_w
	mkdir "$db"
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	scn_policy deny "$db"
	GK_SCAND_TEST=delay:8000 start_daemon
	scn_wait_available clamav 1
	scd_stage clean1.sh clean
	expect_runs "$BIN/clean1.sh" "clean script before the kill: "
	scd_worker
	old_w=$WPID
	scd_stage slow.sh gk-scand-slow
	exec_result "$BIN/slow.sh" >"$T/slow.result" &
	sleep 1
	kill -9 "$WPID" || fail "cannot kill the scanner worker $WPID"
	wait $!
	r=$(cat "$T/slow.result")
	[[ $r == errno:EPERM ]] || fail "exec whose scanner was killed: expected EPERM (on_error deny), got $r"
	detail=$(scd_audit_detail "$BIN/slow.sh")
	[[ $detail == "on-error|"*"scanner process killed by signal 9"* ]] ||
		fail "audit row of the exec whose scanner was killed: '$detail'"
	note "audit: $detail"
	scd_stage clean2.sh clean
	expect_runs "$BIN/clean2.sh" "clean script after the kill: "
	scn_eicar_script "$T/stage/eicar.sh" && mv "$T/stage/eicar.sh" "$BIN/eicar.sh"
	expect_eperm "$BIN/eicar.sh" "EICAR after the kill: "
	scn_expect_query "$BIN/eicar.sh" deny scanner GkTest.Eicar.Ndb
	scd_worker
	[[ $WPID != "$old_w" ]] || fail "the killed worker $old_w is still listed"
	alive "$old_w" && fail "the killed worker $old_w is still alive"
	scn_stop_checked
}

# A scan that does not answer within the subtree's max_scan_time_ms: the
# daemon kills the worker, the exec gets on_error with the reason, and
# other execs are scanned at once.
t_scand_hang_past_max_scan_time_is_on_error() {
	local db=$T/clamdb r detail t0 took
	mkdir "$db"
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	write_policy enforce allow "on_error: deny" "scanners:" \
		"  clamav: {enabled: true, database: $db}" "scan:" \
		"  - {path: $BIN, engines: [clamav], max_scan_time_ms: 700}"
	GK_SCAND_TEST=delay:60000 start_daemon
	scn_wait_available clamav 1
	scd_stage slow.sh gk-scand-slow
	t0=$(date +%s%N)
	r=$(exec_result "$BIN/slow.sh")
	took=$((($(date +%s%N) - t0) / 1000000))
	[[ $r == errno:EPERM ]] || fail "exec of a file whose scan hangs: expected EPERM, got $r"
	((took < 4000)) || fail "the hung scan held the exec for $took ms (limit 700 ms)"
	detail=$(scd_audit_detail "$BIN/slow.sh")
	[[ $detail == "on-error|"*"max_scan_time_ms"*"scanner process killed"* ]] ||
		fail "audit row of the hung scan: '$detail'"
	note "exec answered in $took ms; audit: $detail"
	scd_stage clean.sh clean
	expect_runs "$BIN/clean.sh" "clean script after the timeout: "
	scn_eicar_script "$T/stage/eicar.sh" && mv "$T/stage/eicar.sh" "$BIN/eicar.sh"
	expect_eperm "$BIN/eicar.sh" "EICAR after the timeout: "
	scn_stop_checked
}

# scd_slow_scan_daemon: default allow, ClamAV with the EICAR test
# signature on $BIN, and a scanner that waits 2.5 s before it reads a file
# marked gk-scand-slow (the deadlines well past that).
scd_slow_scan_daemon() {
	local db=$T/clamdb
	mkdir -p "$db"
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	write_policy enforce allow "on_error: deny" "decision_timeout_ms: 20000" "scanners:" \
		"  clamav: {enabled: true, database: $db}" "scan:" \
		"  - {path: $BIN, engines: [clamav], max_scan_time_ms: 15000}"
	GK_SCAND_TEST=delay:2500 start_daemon
	scn_wait_available clamav 1
}

# scd_rewrite_during_scan ROUTE: a file holding X (the EICAR signature, and
# gk-scand-slow so that the scanner process waits before it reads) is
# hashed, then rewritten in place to a harmless Y while the scanner waits.
# ROUTE prescan (the judgement of its close-write): the scanner reads Y,
# clean, and that clean is Y's, not X's digest's. ROUTE exec: the exec's
# lease holds the writer out until the exec is answered, so X is what is
# judged (and refused) and what would have run; Y lands after. Then b, a
# copy of X never rewritten, must still be scanned, and denied.
scd_rewrite_during_scan() {
	local x=$T/stage/x sx r n
	mkdir -p "$T/stage"
	scd_slow_scan_daemon
	scn_eicar_script "$x" && printf '# gk-scand-slow\n' >>"$x" || fail "cannot write $x"
	sx=$(sha_of "$x")
	if [[ $1 == exec ]]; then
		cp "$x" "$T/stage/a" && mv "$T/stage/a" "$BIN/a" || fail "cannot stage $BIN/a"
		exec_result "$BIN/a" >"$T/a.result" &
	else
		n=$(stat_num prescans)
		cp "$x" "$BIN/a" || fail "cannot write $BIN/a"   # its close-write: the pre-scan
	fi
	sleep 1   # hashed, and the scanner waits (2.5 s)
	printf '#!/bin/sh\n# harmless now %s\nexit 0\n' "$RANDOM" >"$BIN/a" || fail "cannot rewrite $BIN/a"
	if [[ $1 == exec ]]; then
		wait $!
		r=$(cat "$T/a.result")
		[[ $r == errno:EPERM ]] ||
			fail "exec of a, whose writer came while it was scanned: expected X refused, got $r ($(scd_audit_detail "$BIN/a"))"
		[[ $(scd_audit_detail "$BIN/a") == "scanner|GkTest.Eicar.Ndb"* ]] ||
			fail "a's refusal is not X's scan: $(scd_audit_detail "$BIN/a")"
		grep -q 'harmless now' "$BIN/a" || fail "the rewrite of a did not land after the answer"
		note "a: $r; audit: $(scd_audit_detail "$BIN/a")"
	else
		# X's pre-scan, then Y's (a's second close-write)
		[[ $(wait_num_at_least prescans $((n + 2)) 100) -ge $((n + 2)) ]] ||
			fail "the pre-scans of a did not end within 10 s"
	fi
	cp "$x" "$T/stage/b" && mv "$T/stage/b" "$BIN/b" || fail "cannot stage $BIN/b"
	[[ $(sha_of "$BIN/b") == "$sx" ]] || fail "b does not hold X"
	expect_eperm "$BIN/b" "a copy of X after a's rewrite during its scan (a clean cached for X?): "
	scn_expect_query "$BIN/b" deny scanner GkTest.Eicar.Ndb
	n=$(sqlite3 -cmd '.timeout 3000' "$DB" \
		"SELECT count(*) FROM audit WHERE hex(sha256) = upper('$sx') AND verdict = 1;")
	[[ $n == 0 ]] || fail "$n audit rows record X's digest ($sx) as allowed"
	scn_stop_checked
}

# scd_try_writer PATH: a writer's non-blocking open of PATH: "opened", or
# its errno's name (EAGAIN while a lease holds writers out).
scd_try_writer() {
	"$PY" -c 'import errno,os,sys
try:
	os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK))
	print("opened")
except OSError as e:
	print(errno.errorcode.get(e.errno, e.errno))' "$1"
}

# While an exec is judged (its scan waits 2.5 s in the scanner), a writer
# can neither open the file nor, once its refused open has broken the
# lease, open it on a second try: it gets in only after the exec's answer,
# so nothing written after the judgement's read can run. A writer that
# holds the file open through the judgement gets the exec refused (EPERM,
# where the kernel would say ETXTBSY unless the writer closed in time).
t_scand_exec_holds_writers_until_answered() {
	local r1 r2 r3 r4 detail
	scd_slow_scan_daemon
	scd_stage slow.sh gk-scand-slow
	exec_result "$BIN/slow.sh" >"$T/slow.result" &
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(stat_num pending) -ge 1 ]] && break
		sleep 0.05
	done
	r1=$(scd_try_writer "$BIN/slow.sh")
	sleep 0.3   # the break's signal handled: an old lease would be gone now
	r2=$(scd_try_writer "$BIN/slow.sh")
	[[ -s $T/slow.result ]] && fail "the exec was answered before the writers tried ($(cat "$T/slow.result"))"
	wait $!
	r3=$(scd_try_writer "$BIN/slow.sh")
	[[ $r1 == EAGAIN && $r2 == EAGAIN ]] ||
		fail "a writer during the exec's judgement: '$r1' then '$r2', expected EAGAIN twice"
	[[ $(cat "$T/slow.result") == ran:0 ]] || fail "the judged exec: $(cat "$T/slow.result")"
	[[ $r3 == opened ]] || fail "a writer after the answer: '$r3'"
	scd_stage held.sh held
	exec 7>>"$BIN/held.sh"
	r4=$(exec_result "$BIN/held.sh")
	exec 7>&-
	[[ $r4 == errno:EPERM ]] || fail "exec of a file a writer holds open: expected EPERM, got $r4"
	detail=$(scd_audit_detail "$BIN/held.sh")
	[[ $detail == "on-error|a writer had it open while it was judged" ]] ||
		fail "audit of that refusal: '$detail'"
	expect_runs "$BIN/held.sh" "the same file, its writer gone: "
	note "writers during the judgement: $r1 $r2; after: $r3; held: $detail"
	scn_stop_checked
}

t_scand_exec_rewritten_during_scan_not_cached() { scd_rewrite_during_scan exec; }
t_scand_prescan_rewritten_during_scan_not_cached() { scd_rewrite_during_scan prescan; }

# scd_scans: the scans run so far (the metrics; cache hits are not scans).
scd_scans() {
	ctl metrics >"$T/metrics" 2>&1 || fail "metrics failed: $(head -c 300 "$T/metrics")"
	metric_value "$T/metrics" gatekeeper_scans_total || fail "no gatekeeper_scans_total in the metrics"
}

# On a filesystem whose content a server changes with no write through this
# kernel (FUSE here, as NFS), each read may serve other bytes than the
# digest's: a scan's result there is never kept. Without the kernel cache
# every exec asks the daemon: the same unchanged content is scanned at each
# exec on FUSE, and once for two execs of a settled local copy. (The hash
# list: the scanner user may not open this FUSE mount, root's alone.)
t_scand_fuse_scan_result_never_cached() {
	local list=$T/deny.sha256 s0 s1 s2
	printf '%064d  GkTest.Other\n' 0 >"$list"
	scn_clean_script "$T/backing"
	mount_fusefile
	printf 'mode: enforce\nwatch:\n  - %s\n  - %s\ndefault: allow\non_error: deny\nscanners:\n  hashlist: {files: [%s]}\n' \
		"$BIN" "$T/fuse" "$list" >"$POLICY"
	start_daemon --no-kernel-cache
	scn_wait_available hashlist 1
	s0=$(scd_scans)
	expect_runs "$T/fuse/prog" "clean content on FUSE: "
	expect_runs "$T/fuse/prog" "clean content on FUSE, again: "
	s1=$(scd_scans)
	((s1 - s0 == 2)) || fail "two execs of one content on FUSE ran $((s1 - s0)) scans (expected 2: none kept)"
	cp "$T/backing" "$T/stage.sh" && mv "$T/stage.sh" "$BIN/local.sh" || fail "cannot stage $BIN/local.sh"
	sleep 0.1   # its ctime settles: a result read then is kept
	expect_runs "$BIN/local.sh" "the same content on tmpfs: "
	expect_runs "$BIN/local.sh" "the same content on tmpfs, again: "
	s2=$(scd_scans)
	((s2 - s1 == 1)) || fail "two execs of one content on tmpfs ran $((s2 - s1)) scans (expected 1: kept)"
	scn_stop_checked
}

# scd_hostile_daemon NAME MARKER: a daemon with ClamAV whose scanner
# processes act out the "hostile" test hook (scanner/scand.h), and the
# script $BIN/NAME holding MARKER.
scd_hostile_daemon() {
	local db=$T/clamdb
	mkdir "$db"
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	scn_policy deny "$db"
	GK_SCAND_TEST=hostile start_daemon
	scn_wait_available clamav 1
	scd_stage "$1" "$2"
}

# A compromised worker (GK_SCAND_TEST=hostile) sets F_SETSIG(SIGTERM) on the
# descriptor of the file it scans, then scans it clean. Were that the
# description of the daemon's read lease, the write below would break the
# lease with a SIGTERM and the daemon would stop with exit 0 (which
# Restart=on-failure leaves stopped). It must go on, the break counted.
t_scand_worker_cannot_stop_daemon_through_lease() {
	local held breaks0 breaks1
	scd_hostile_daemon setsig.sh gk-scand-setsig
	expect_runs "$BIN/setsig.sh" "file whose scanner tampered with its descriptor: "
	expect_runs "$BIN/setsig.sh" "again (cached, leased): "
	status_json
	held=$(jget_or_zero leases_held) breaks0=$(jget_or_zero lease_breaks)
	[[ $held -ge 1 ]] || fail "leases_held=$held after a cached allow (the test needs a lease)"
	printf '\n' >>"$BIN/setsig.sh" || fail "append to $BIN/setsig.sh failed"
	sleep 0.5
	alive "$DPID" || fail "gatekeeperd ended after a write broke its lease: $(tail -n 2 "$DLOG" | tr '\n' ' ')"
	status_json
	breaks1=$(jget_or_zero lease_breaks)
	((breaks1 > breaks0)) || fail "lease_breaks $breaks0 -> $breaks1 after the write"
	expect_runs "$BIN/setsig.sh" "after the write (judged again): "
	note "leases_held=$held, lease_breaks $breaks0 -> $breaks1, daemon $DPID still running"
	scn_stop_checked
}

# What a scanner process writes to stdout or stderr never becomes a daemon
# log line of its own: stdout is /dev/null, stderr comes back escaped in a
# `scanner message="gatekeeper-scand PID: ..."` line, at most 20 lines in
# 10 s, the rest counted.
t_scand_stderr_cannot_forge_log_lines() {
	local i n
	scd_hostile_daemon forge.sh gk-scand-forge
	expect_runs "$BIN/forge.sh" "file whose scanner writes forged log lines: "
	for ((i = 0; i < 150; i++)); do
		grep -q 'more lines not logged' "$DLOG" && break
		sleep 0.1
	done
	grep -E '^(<[0-9]>)?decision .*gk-forged' "$DLOG" &&
		fail "a scanner process wrote a daemon log line: $(grep -m 1 gk-forged "$DLOG")"
	n=$(grep -c '^scanner message="gatekeeper-scand [0-9]*: decision verdict=allow source=admin path=/gk-forged"' "$DLOG")
	[[ $n == 1 ]] || fail "expected the forged stderr line once, escaped in a scanner message; found $n"
	n=$(grep -c 'gk-scand-flood' "$DLOG")
	((n >= 1 && n <= 20)) || fail "$n of 200 flood lines logged (expected 1 to 20)"
	grep -q '^scanner message="gatekeeper-scand [0-9]*: [0-9]* more lines not logged' "$DLOG" ||
		fail "no line counts the flood lines left out"
	note "$(grep -m 1 'more lines not logged' "$DLOG")"
	scn_stop_checked
}

# A SIGTERM the kernel sends (a descriptor's F_SETSIG signal: here a pipe
# whose owner is the daemon, O_ASYNC, si_code POLL_IN) is no request to
# stop: logged once, ignored. A SIGTERM from a process still stops it, 0.
t_kernel_sent_sigterm_is_not_a_stop() {
	local i n
	mkbin k1
	write_policy enforce allow
	start_daemon
	for i in 1 2; do
		"$PY" -c 'import fcntl, os, signal, sys
r, w = os.pipe()
fcntl.fcntl(r, fcntl.F_SETOWN, int(sys.argv[1]))
fcntl.fcntl(r, fcntl.F_SETSIG, signal.SIGTERM)
fcntl.fcntl(r, fcntl.F_SETFL, os.O_ASYNC)
os.write(w, b"x")' "$DPID" || fail "could not raise a kernel-sent SIGTERM"
	done
	sleep 0.5
	alive "$DPID" || fail "gatekeeperd stopped on a SIGTERM the kernel sent: $(tail -n 2 "$DLOG" | tr '\n' ' ')"
	n=$(grep -c '^signal_ignored signal=SIGTERM code=1 ' "$DLOG")
	[[ $n == 1 ]] || fail "expected one signal_ignored line for two kernel-sent SIGTERMs, found $n"
	expect_runs "$BIN/k1" "exec after the ignored SIGTERM: "
	scn_stop_checked
}
