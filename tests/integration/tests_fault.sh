# Fault tests (issue 12): kill -9 with execs in flight, bounded descriptors,
# a store that is corrupt, locked or on a full disk.
# Sourced by run.sh before its GK_IT_ONLY filter: this file adds its own
# entries to TESTS; each t_NAME runs in its own process (see lib.sh).

TESTS+=(
	fault_kill9_storm_50:300
	fault_kill9_stopped_50:240
	fault_100k_executables_bounded_fds:180
	fault_store_corrupt_keeps_admin_rules:90
	fault_foreign_file_as_store_untouched:60
	fault_store_check_skipped_only_after_clean_stop:60
	fault_store_locked_30s:120
	fault_store_disk_full:90
	fault_truncate_cached_program:60
	fault_close_flood_leaves_misses_answered:90
	fault_stalled_prescan_reader_leaves_misses_answered:60
	fault_stalled_remote_open_holds_only_remote_execs:60
	fault_stalled_remote_reads_keep_local_workers:60
	fault_remote_file_not_prescanned:60
	fault_stalled_remote_read_lets_policy_change:60
	fault_foreign_path_into_stalled_fuse:60
	fault_stalled_mount_point_lookup_holds_no_lock:60
)

FAULT_ROUNDS=${GK_FAULT_ROUNDS:-50}

# fault_kill9_and_time: SIGKILL the daemon (killwait.py); KILL_WAIT_MS = how long
# until no process of session SID_WANTED waits in fanotify (999999: still
# after 3 s); KILL_WAITERS0 = how many waited at the kill.
fault_kill9_and_time() {
	local out
	out=$("$PY" "$HERE/killwait.py" "$DPID" "$SID_WANTED" 3 2>"$T/killwait.err")
	[[ -s $T/killwait.err ]] && note "$(cat "$T/killwait.err")"
	KILL_WAITERS0=$(sed -n 's/.*waiters_at_kill=\([0-9]*\).*/\1/p' <<<"$out")
	KILL_WAIT_MS=$(sed -n 's/.*wait_ms=\(-\?[0-9]*\).*/\1/p' <<<"$out")
	[[ -n $KILL_WAITERS0 && -n $KILL_WAIT_MS ]] || fail "killwait.py: $out"
	[[ $KILL_WAIT_MS -lt 0 ]] && KILL_WAIT_MS=999999
	wait_gone "$TPID" 50 || fail "gatekeeperd still alive 5 s after kill -9"
	wait "$TPID" 2>/dev/null
	TPID="" DPID=""
}

# fault_session_waiters: processes of session SID_WANTED waiting in fanotify.
fault_session_waiters() {
	"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import killwait; print(killwait.waiters(int(sys.argv[2])))' \
		"$HERE" "$SID_WANTED"
}

fault_stage() {
	mkdir -p "$T/stage"
	cp /bin/true "$T/stage/$1" &&
		printf '\ngk-it staged %s %s %s\n' "$1" "$RANDOM" "$(date +%s%N)" >>"$T/stage/$1" &&
		chmod 0755 "$T/stage/$1" || fail "cannot stage $1"
}

# Item 1: a storm of 4 spawners (a cached file, uncached files, a denied
# file, newly written files whose pre-scans are in flight) while admin rule
# changes flush the kernel cache; kill -9 mid-storm; every exec waiting on
# the daemon must return within 1 s of the kill. 50 rounds.
t_fault_kill9_storm_50() {
	local r worst=0 seen=0 total=0 hung=0 sid line
	need_spawner
	mkbin cached
	mkbin denied
	mkbin u1
	mkbin u2
	mkbin dummy
	fault_stage fresh
	write_policy enforce allow "decision_timeout_ms: 60000"
	for ((r = 1; r <= FAULT_ROUNDS; r++)); do
		start_daemon
		[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"
		[[ $r -eq 1 ]] && { ctl_ok deny "$BIN/denied"; ctl_ok allow "$BIN/cached"; }
		rm -f "$T"/storm.*.out "$BIN"/big*
		# Sparse: costs no memory, but hashing it keeps one exec waiting.
		fault_stage "big$r"
		truncate -s 4G "$T/stage/big$r" && mv "$T/stage/big$r" "$BIN/" || fail "truncate failed"
		setsid bash -c '
			S=$1 B=$2 T=$3 CTL=$4 SOCK=$5 R=$6
			$S exec $B/big$R >/dev/null &
			$S loop 1200 $B/cached >$T/storm.1.out &
			$S loop 1200 $B/u1 $B/u2 >$T/storm.2.out &
			$S loop 1200 $B/denied >$T/storm.3.out &
			( for ((i = 0; i < 100; i++)); do
				f=$B/n$RANDOM$i
				cp $T/stage/fresh $f && $S exec $f >/dev/null
				rm -f $f
			  done ) &
			( for ((i = 0; i < 30; i++)); do
				timeout -s KILL 2 $CTL --socket $SOCK allow $B/dummy >/dev/null 2>&1
				timeout -s KILL 2 $CTL --socket $SOCK forget $B/dummy >/dev/null 2>&1
			  done ) &
			wait' storm "$SPAWNER" "$BIN" "$T" "$CTL" "$SOCK" "$r" &
		sid=$!
		record_pid "$sid"
		SID_WANTED=$sid
		sleep 0.$((7 + RANDOM % 3))
		fault_kill9_and_time
		[[ $KILL_WAITERS0 -gt 0 ]] && seen=$((seen + 1))
		[[ $KILL_WAIT_MS -gt $worst ]] && worst=$KILL_WAIT_MS
		if [[ $KILL_WAIT_MS -gt 1000 ]]; then
			kill -KILL -- -"$sid" 2>/dev/null
			fail "round $r: execs still waited in fanotify ${KILL_WAIT_MS} ms after kill -9"
		fi
		wait "$sid" 2>/dev/null
		for line in $(cat "$T"/storm.*.out 2>/dev/null | sed -n 's/^execs=\([0-9]*\) .* hung=\([0-9]*\)$/\1:\2/p'); do
			total=$((total + ${line%%:*}))
			hung=$((hung + ${line##*:}))
		done
	done
	note "rounds=$FAULT_ROUNDS execs=$total hung=$hung rounds_with_waiters_at_kill=$seen longest_wait_after_kill_ms=$worst"
	[[ $hung -eq 0 ]] || fail "$hung execs hung (10 s) during the storms"
	# Under load the 4 GiB exec may not have reached the daemon yet.
	[[ $((seen * 10)) -ge $((FAULT_ROUNDS * 9)) ]] ||
		fail "only $seen of $FAULT_ROUNDS rounds had an exec waiting at the kill"
}

# Item 1: one exec pending while the daemon is SIGSTOPped, then SIGKILL.
# The file was pre-judged and run (its first exec counted), then a rule
# change flushed the cache: the state in which the pre-scan group's inode
# mark used to be pinned by the waiting exec. 50 rounds.
t_fault_kill9_stopped_50() {
	local r worst=0 epid out i f
	need_spawner
	mkbin dummy
	write_policy enforce allow "decision_timeout_ms: 60000"
	for ((r = 1; r <= FAULT_ROUNDS; r++)); do
		fault_stage "p$r"
		start_daemon
		[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"
		f=$BIN/p$r
		cp "$T/stage/p$r" "$f" || fail "cp failed"
		sleep 0.2   # the pre-scan
		expect_runs "$f" "round $r, first exec: "
		ctl_ok allow "$BIN/dummy"   # a rule change: every cached verdict goes
		freeze "$DPID" || fail "round $r: cannot stop every thread of gatekeeperd"
		setsid "$SPAWNER" exec "$f" >"$T/pending.out" 2>&1 &
		epid=$!
		record_pid "$epid"
		SID_WANTED=$epid
		for ((i = 0; i < 100; i++)); do
			[[ $(fault_session_waiters) -gt 0 ]] && break
			alive "$epid" || break
			sleep 0.02
		done
		[[ $(fault_session_waiters) -gt 0 ]] || fail "round $r: the exec never waited on the stopped daemon"
		fault_kill9_and_time
		if [[ $KILL_WAIT_MS -gt 1000 ]]; then
			kill -KILL "$epid" 2>/dev/null
			fail "round $r: the pending exec still waited ${KILL_WAIT_MS} ms after kill -9"
		fi
		[[ $KILL_WAIT_MS -gt $worst ]] && worst=$KILL_WAIT_MS
		wait "$epid"
		out=$?
		[[ $out -eq 0 ]] || fail "round $r: the released exec exited $out: $(cat "$T/pending.out")"
		# The daemon never read it: its sentinel allowed it, and says so.
		expect_sentinel_release "sentinel_released_on_exit allowed=1 read_by_daemon=0 unread=1 " "round $r"
		grep "path=$f " "$DLOG" | grep -q 'source=on-error detail="the daemon exited: allowed' ||
			fail "round $r: no decision line for the released exec: $(grep "$f" "$DLOG" | tail -n 3)"
	done
	note "rounds=$FAULT_ROUNDS pending_execs=$FAULT_ROUNDS answered=$FAULT_ROUNDS longest_wait_after_kill_ms=$worst"
}

# fault_fd_count PID: open descriptors of PID.
fault_fd_count() {
	local fds=(/proc/"$1"/fd/*)
	echo "${#fds[@]}"
}

# Item 8: 100,000 newly written executables (99 of every 100 deleted again
# after their batch). The daemon's descriptors stay within the documented
# bound (gatekeeperd(8), "Resources": 4,096 leases + 64 of its own; while a
# burst is queued, up to 4,096 in-flight events and 2,048 pre-scan fds more)
# and every exec of the survivors is answered.
t_fault_100k_executables_bounded_fds() {
	local n max=0 b out end_fds t0 ran
	need_spawner
	write_policy enforce allow
	start_daemon
	t0=$(date +%s)
	mkdir -p "$BIN/w"
	for ((b = 0; b < 100; b++)); do
		"$PY" - "$BIN/w" "$b" <<'PYEOF' || fail "writing batch $b failed"
import os, sys
d, b = sys.argv[1], int(sys.argv[2])
for i in range(1000):
    p = f"{d}/x{b}_{i}"
    with open(p, "w") as f:
        f.write(f"#!/bin/true\n# gk-it {b} {i}\n")
    os.chmod(p, 0o755)
for i in range(1000):
    if i % 100:
        os.unlink(f"{d}/x{b}_{i}")
PYEOF
		n=$(fault_fd_count "$DPID")
		[[ $n -gt $max ]] && max=$n
		[[ $n -le 10304 ]] || fail "after $(((b + 1) * 1000)) files the daemon holds $n fds"
	done
	sleep 2   # let the last pre-scans finish
	end_fds=$(fault_fd_count "$DPID")
	ls "$BIN"/w/x* >"$T/survivors"
	out=$("$SPAWNER" parallel "$T/survivors" 20000)
	ran=$(grep -c ' ran:0$' <<<"$out")
	status_json
	note "files=100000 survivors=$(wc -l <"$T/survivors") ran=$ran max_fds=$max fds_at_end=$end_fds leases_held=$(jget leases_held) prescans=$(jget prescans) prescan_dropped=$(jget prescan_dropped) seconds=$(($(date +%s) - t0))"
	[[ $ran -eq $(wc -l <"$T/survivors") ]] ||
		fail "only $ran of $(wc -l <"$T/survivors") execs ran: $(grep -v ' ran:0$' <<<"$out" | head -n 3)"
	[[ $end_fds -le 4160 ]] || fail "the daemon holds $end_fds fds at rest (bound 4160)"
}

# fault_log_count PATTERN: lines of the daemon's logs matching PATTERN.
fault_log_count() {
	cat "$T"/daemon.*.log 2>/dev/null | grep -c -- "$1"
}

# fault_timed_exec PATH: exec PATH; EXEC_MS = how long it took, EXEC_R = result.
fault_timed_exec() {
	local t0
	t0=$(date +%s%N)
	EXEC_R=$(exec_result "$1")
	EXEC_MS=$((($(date +%s%N) - t0) / 1000000))
}

# fault_corrupt_store HOW: damage $DB while the daemon is down (header: the first
# 100 bytes; pages: 8 KiB from offset 4096).
fault_corrupt_store() {
	if [[ $1 == header ]]; then
		head -c 100 /dev/urandom | dd of="$DB" bs=1 seek=0 conv=notrunc status=none
	else
		head -c 8192 /dev/urandom | dd of="$DB" bs=1 seek=4096 conv=notrunc status=none
	fi || fail "cannot corrupt $DB"
}

# Item 5: a store damaged while the daemon was down is moved aside untouched;
# the daemon starts with every admin rule (from the backup written after
# each change) and says so in one log line. Twice: a damaged header, then
# damaged pages.
t_fault_store_corrupt_keeps_admin_rules() {
	local how sum moved n r
	mkbin denied
	mkbin allowed
	mkbin other
	write_policy enforce deny
	start_daemon
	ctl_ok deny "$BIN/denied"
	ctl_ok allow "$BIN/allowed"
	for how in header pages; do
		for ((r = 0; r < 20; r++)); do exec_result "$BIN/other" >/dev/null; done
		stop_daemon
		[[ -s $DB.admin-rules ]] || fail "no admin rules backup beside the store"
		n=$(grep -c -v '^#' "$DB.admin-rules")
		[[ $n -eq 2 ]] || fail "the backup holds $n rules, expected 2"
		[[ -f $DB.clean ]] || fail "$how: no clean mark after a clean stop"
		fault_corrupt_store "$how"
		sum=$(sha256sum <"$DB")
		start_daemon
		grep -q ' store_check=read ' "$DLOG" ||
			fail "$how: a store written after its clean mark was not read: $(grep -o 'store_check=[a-z_]*' "$DLOG")"
		n=$(grep -c store_recovered "$DLOG")
		[[ $n -eq 1 ]] || fail "$how: $n store_recovered log lines, expected 1"
		moved=$(sed -n 's/.*moved_to="\([^"]*\)".*/\1/p' "$DLOG")
		[[ -f $moved ]] || fail "$how: the damaged store was not kept ($moved)"
		[[ $(sha256sum <"$moved") == "$sum" ]] || fail "$how: the damaged store was modified"
		grep -q 'admin_rules_restored=2 ' "$DLOG" || fail "$how: $(grep store_recovered "$DLOG")"
		expect_eperm "$BIN/denied" "$how: after recovery: "
		expect_runs "$BIN/allowed" "$how: after recovery: "
		expect_eperm "$BIN/other" "$how: after recovery (default deny): "
		note "$how: $(grep -o 'store_recovered.*admin_rules_restored=[0-9]*' "$DLOG" | cut -c1-300)"
		rm -f "$moved"
	done
}

# fault_refuses_store FILE: gatekeeperd --db FILE exits at once with one
# line naming FILE as not a gatekeeper store; FILE and its directory are
# left exactly as they were (nothing moved aside, nothing created).
fault_refuses_store() {
	local out rc sum before after
	sum=$(sha256sum <"$1")
	before=$(ls -la --time-style=+%s.%N "$(dirname "$1")" | grep -v ' \.\.\?$')
	out=$(timeout -s KILL 20 "$GKD" --foreground --policy "$POLICY" --db "$1" \
		--socket "$SOCK" 2>&1)
	rc=$?
	after=$(ls -la --time-style=+%s.%N "$(dirname "$1")" | grep -v ' \.\.\?$')
	[[ $rc -ne 0 && $rc -ne 137 ]] || fail "--db $1: exit $rc, expected a refusal: ${out:0:300}"
	[[ $(printf '%s\n' "$out" | grep -c .) -eq 1 ]] || fail "--db $1: not one line: ${out:0:600}"
	[[ $out == *"$1"*"not a gatekeeper store"*"refusing to touch it"* ]] ||
		fail "--db $1: the line does not say why: $out"
	[[ $(sha256sum <"$1") == "$sum" ]] || fail "--db $1: the file was modified"
	[[ $before == "$after" ]] || fail "--db $1: the directory changed: $(diff <(echo "$before") <(echo "$after"))"
	[[ ! -e $SOCK ]] || fail "--db $1: gatekeeperd left a socket behind"
	note "$(basename "$1"): $out"
}

# --db may name any file by mistake: one that is no database, or that is
# damaged, is moved aside only when it is known to be ours (its header says
# so, or our admin rules backup stands beside it); any other file is
# refused, untouched, like another program's sound SQLite database.
t_fault_foreign_file_as_store_untouched() {
	write_policy enforce allow
	mkdir -p "$T/a" "$T/b" "$T/c" "$T/d"
	printf 'shopping: milk, eggs\nnot a database\n' >"$T/a/notes.txt"
	fault_refuses_store "$T/a/notes.txt"
	head -c 65536 /dev/urandom >"$T/b/blob.db"
	fault_refuses_store "$T/b/blob.db"
	# Another program's SQLite file with damaged pages (quick_check fails).
	"$PY" - "$T/c/photos.db" <<'PYEOF' || fail "cannot make a damaged SQLite file"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
c.executemany("INSERT INTO photos (name) VALUES (?)", [("p%06d" % i * 8,) for i in range(3000)])
c.commit()
c.close()
with open(sys.argv[1], "r+b") as f:
    f.seek(4096 * 3)
    f.write(b"\xa5" * 8192)
PYEOF
	fault_refuses_store "$T/c/photos.db"
	# A backup beside it that is not ours vouches for nothing.
	printf 'notes, not admin rules\n' >"$T/d/notes.txt"
	printf '# my own notes\n' >"$T/d/notes.txt.admin-rules"
	fault_refuses_store "$T/d/notes.txt"
}

# A clean stop leaves a mark that lets the next start skip reading the
# whole store; a crash (kill -9) leaves none, and neither does a store
# changed after the stop (the corrupt-store test above): both are read.
t_fault_store_check_skipped_only_after_clean_stop() {
	local check
	mkbin allowed
	write_policy enforce deny
	start_daemon
	ctl_ok allow "$BIN/allowed"
	stop_daemon
	[[ -f $DB.clean ]] || fail "no clean mark after a clean stop"
	start_daemon
	check=$(grep -o 'store_check=[a-z_]*' "$DLOG")
	[[ $check == store_check=skipped_closed_cleanly ]] ||
		fail "after a clean stop: $check, expected the check skipped"
	[[ ! -e $DB.clean ]] || fail "the clean mark was not used up at start"
	expect_runs "$BIN/allowed" "after a start without the check: "
	kill9_daemon
	[[ ! -e $DB.clean ]] || fail "a clean mark after kill -9"
	start_daemon
	check=$(grep -o 'store_check=[a-z_]*' "$DLOG")
	[[ $check == store_check=read ]] || fail "after kill -9: $check, expected the store read"
	expect_runs "$BIN/allowed" "after kill -9 and a full check: "
}

# The store refuses writes (locked / full) for a while: execs are answered
# from memory without delay, gatekeeper-ctl deny fails within 5 s with one
# line (exit 1) and changes nothing, the audit rows wait and arrive when the
# store takes writes again. $1: a command that ends the refusal.
fault_store_refusal_checks() {
	local i worst=0 t0 rc out rows dropped
	for ((i = 1; i <= 20; i++)); do
		# Staged before the refusal began and renamed in now: no pre-scan
		# (its close was long handled, outside the watched tree), so its
		# exec is a miss with an audit row.
		mv "$T/stage/s$i" "$BIN/s$i" || fail "mv failed (the test's own tmpfs)"
		fault_timed_exec "$BIN/s$i"
		[[ $EXEC_R == ran:0 ]] || fail "exec $i while the store refused writes: $EXEC_R"
		[[ $EXEC_MS -gt $worst ]] && worst=$EXEC_MS
		fault_timed_exec "$BIN/denied"
		[[ $EXEC_R == errno:EPERM ]] || fail "denied file while the store refused writes: $EXEC_R"
		[[ $EXEC_MS -gt $worst ]] && worst=$EXEC_MS
	done
	[[ $worst -lt 1000 ]] || fail "an exec took $worst ms while the store refused writes"
	t0=$(date +%s%N)
	out=$(ctl deny "$BIN/victim" 2>&1)
	rc=$?
	t0=$((($(date +%s%N) - t0) / 1000000))
	[[ $rc -eq 1 ]] || fail "gatekeeper-ctl deny with the store refusing: exit $rc: $out"
	[[ $t0 -lt 5000 ]] || fail "gatekeeper-ctl deny took $t0 ms"
	[[ $(wc -l <<<"$out") -eq 1 ]] || fail "gatekeeper-ctl deny: more than one line: $out"
	expect_runs "$BIN/victim" "the refused deny changed something: "
	for ((i = 0; i < 50; i++)); do
		[[ $(fault_log_count audit_store_stalled) -ge 1 ]] && break
		sleep 0.1
	done
	[[ $(fault_log_count audit_store_stalled) -ge 1 ]] || fail "no audit_store_stalled log line"
	STORE_NOTE="40 execs, longest ${worst} ms; deny refused in ${t0} ms: $out"
	eval "$1"
	for ((i = 0; i < 150; i++)); do
		[[ $(fault_log_count audit_store_resumed) -ge 1 ]] && break
		sleep 0.2
	done
	[[ $(fault_log_count audit_store_resumed) -ge 1 ]] || fail "the audit writer did not resume"
	for ((i = 0; i < 50; i++)); do
		rows=$(sqlite3 "$DB" "SELECT count(*) FROM audit WHERE path LIKE '%/bin/s%'") ||
			fail "cannot read the audit table"
		[[ $rows -ge 20 ]] && break
		sleep 0.1
	done
	status_json
	dropped=$(jget audit_dropped)
	[[ $rows -eq 20 && $dropped -eq 0 ]] ||
		fail "after the store came back: $rows of 20 audit rows, audit_dropped=$dropped"
	ctl_ok deny "$BIN/victim"
	expect_eperm "$BIN/victim" "after the store came back: "
	STORE_NOTE="$STORE_NOTE; rows kept 20/20, audit_dropped 0"
}

# fault_stage_20: the 20 programs fault_store_refusal_checks runs, staged
# outside the watched tree while the store still works.
fault_stage_20() {
	local i
	for ((i = 1; i <= 20; i++)); do fault_stage "s$i"; done
	sleep 1   # their close-write events are handled while the path is still the stage
}

# Item 5: another process holds the store's write lock for 30 s.
t_fault_store_locked_30s() {
	local lpid i
	mkbin denied
	mkbin victim
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/denied"
	fault_stage_20
	timeout -s KILL 45 "$PY" -c '
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(30)
con.execute("ROLLBACK")
print("unlocked", flush=True)' "$DB" >"$T/lock.out" 2>&1 &
	lpid=$!
	record_pid "$lpid"
	for ((i = 0; i < 100; i++)); do
		grep -q locked "$T/lock.out" && break
		sleep 0.1
	done
	grep -q locked "$T/lock.out" || fail "could not lock the store: $(cat "$T/lock.out")"
	fault_store_refusal_checks "wait $lpid"
	grep -q unlocked "$T/lock.out" || fail "the locker did not finish: $(cat "$T/lock.out")"
	note "locked 30 s: $STORE_NOTE"
}

# Item 5: the store's filesystem is full (a 4 MiB tmpfs of its own).
t_fault_store_disk_full() {
	mkdir -p "$T/dbfs"
	mount -t tmpfs -o size=4m gk-it-db "$T/dbfs" || fail "cannot mount a small tmpfs"
	DB=$T/dbfs/gk.db
	mkbin denied
	mkbin victim
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/denied"
	fault_stage_20
	dd if=/dev/zero of="$T/dbfs/fill" bs=64k status=none 2>/dev/null
	[[ $(df --output=avail "$T/dbfs" | tail -n 1) -lt 64 ]] || fail "could not fill the store's disk"
	fault_store_refusal_checks 'rm -f "$T/dbfs/fill"'
	note "disk full: $STORE_NOTE"
	stop_daemon
	umount "$T/dbfs"
}

# Item 7, the documented trade-off (gatekeeperd(8), "Leases"). Default
# (fanotify_cache: leases): truncate(1) of a cached program -- a
# non-blocking open for writing -- fails once with EAGAIN, the retry
# succeeds, and the new content is judged on its next exec. fanotify_cache:
# off: the same truncate succeeds at once, and the new content is judged too.
t_fault_truncate_cached_program() {
	local setting out rc
	need_spawner
	mkbin bad
	for setting in leases off; do
		mkbin "p_$setting"
		write_policy enforce allow "fanotify_cache: $setting"
		start_daemon
		ctl_ok deny "$BIN/bad"
		expect_runs "$BIN/p_$setting" "$setting: "
		expect_runs "$BIN/p_$setting" "$setting, cached: "
		out=$(truncate -s 0 "$BIN/p_$setting" 2>&1)
		rc=$?
		if [[ $setting == leases ]]; then
			[[ $rc -ne 0 && $out == *"Resource temporarily unavailable"* ]] ||
				fail "leases: truncate of a cached program: exit $rc ($out); the documented EAGAIN changed"
			sleep 0.1
			truncate -s 0 "$BIN/p_$setting" || fail "leases: the retry of truncate failed"
		else
			[[ $rc -eq 0 ]] || fail "off: truncate of a cached program failed: $out"
		fi
		cat "$BIN/bad" >>"$BIN/p_$setting" || fail "$setting: rewrite failed"
		expect_eperm "$BIN/p_$setting" "$setting: rewritten with denied content: "
		stop_daemon
	done
}

# A user who closes files for writing in a loop keeps the pre-scan's queue
# full. Before, each miss handled that whole queue on the reading thread
# first, so it never got to the exec: every exec the kernel did not answer
# itself was refused at the decision timeout. A path rule's allow is never
# cached in the kernel, so each of its execs is a miss.
t_fault_close_flood_leaves_misses_answered() {
	local i pid
	mkbin ok
	mkbin stranger
	mkdir -m 0777 "$T/flood" || fail "mkdir failed"
	write_policy enforce deny "on_error: deny" "decision_timeout_ms: 3000" \
		"rules:" "  - {path: $BIN/ok, action: allow}"
	start_daemon
	expect_runs "$BIN/ok" "before the flood: "
	for i in 1 2; do
		timeout -s KILL 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -c '
import os, sys
d = sys.argv[1]
names = [os.path.join(d, "%s-%d" % (sys.argv[2], n)) for n in range(2000)]
for n in names:
    os.close(os.open(n, os.O_WRONLY | os.O_CREAT, 0o644))
while True:
    for n in names:
        os.close(os.open(n, os.O_WRONLY))
' "$T/flood" "$i" &
		pid=$!
		record_pid "$pid"
	done
	sleep 2
	alive "$pid" || fail "the flood did not run"
	for i in 1 2 3; do
		expect_runs "$BIN/ok" "during the flood, exec $i: "
	done
	expect_eperm "$BIN/stranger" "during the flood, an unknown program: "
}

# A FUSE server that stops answering reads held the pre-scan's reader in
# the middle of a batch (it read the head of a closed file that is not
# executable, to tell whether it is a program), and every miss waited on
# that reader, to be refused at the decision timeout. Now no filesystem a
# server serves is on the pre-scan group, and a miss waits for the
# reader's batch a few ms at most (then hashes anew on a worker).
t_fault_stalled_prescan_reader_leaves_misses_answered() {
	mkbin ok
	printf 'not a program\n' >"$T/backing"
	FUSE_MODE=0644 mount_fusefile "$T/hold"
	printf 'mode: enforce\nwatch:\n  - %s\n  - %s\ndefault: deny\non_error: deny\n' "$BIN" "$T/fuse" >"$POLICY"
	printf 'decision_timeout_ms: 3000\nrules:\n  - {path: %s, action: allow}\n' "$BIN/ok" >>"$POLICY"
	start_daemon
	expect_runs "$BIN/ok" "before the stall: "
	touch "$T/hold"
	"$PY" -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_WRONLY))' "$T/fuse/prog" ||
		fail "cannot open the FUSE file for writing"
	sleep 0.5   # the pre-scan's reader takes the close, and waits on the server
	expect_runs "$BIN/ok" "a miss while the pre-scan's reader waits on FUSE: "
	rm -f "$T/hold"
}

# remote_policy: enforce over $BIN and the FUSE filesystem, the program
# there and $BIN/ok allowed by path, everything else denied, on_error deny.
remote_policy() {
	printf 'mode: enforce\nwatch:\n  - %s\n  - %s\ndefault: deny\non_error: deny\n' "$BIN" "$T/fuse" >"$POLICY"
	printf 'decision_timeout_ms: 3000\nrules:\n  - {path: %s, action: allow}\n' "$BIN/ok" >>"$POLICY"
	printf '  - {path: %s, action: allow}\n' "$T/fuse/prog" >>"$POLICY"
}

# Reading an event opens its file for the reader; on FUSE that open asks
# the server. A server that stalls the daemon's opens holds only the
# remote group's reader: local execs are judged as ever, and the stalled
# exec goes on once the server answers. Before, every exec queued behind
# that open and was refused at the decision timeout.
t_fault_stalled_remote_open_holds_only_remote_execs() {
	mkbin ok
	mkbin other
	cp /bin/true "$T/backing" || fail "cannot write the backing file"
	FUSE_HOLD_OPEN="$T/hold-open" mount_fusefile
	remote_policy
	start_daemon
	expect_runs "$T/fuse/prog" "the FUSE program before the stall: "
	touch "$T/hold-open"
	exec_result "$T/fuse/prog" >"$T/stalled.out" &
	local stalled=$!
	sleep 0.5   # its event's open now waits on the server
	expect_runs "$BIN/ok" "a local miss while the server stalls the daemon's open: "
	expect_eperm "$BIN/other" "a local program the policy denies, meanwhile: "
	rm -f "$T/hold-open"
	wait "$stalled"
	[[ $(cat "$T/stalled.out") == ran:0 ]] ||
		fail "the FUSE program, once the server answered: $(cat "$T/stalled.out")"
	ctl_ok status
	grep -q "its execs read apart" <<<"$CTL_OUT" ||
		fail "status does not say the FUSE filesystem is read apart: $(grep -i fuse <<<"$CTL_OUT" | head -c 300)"
}

# Hashing a file on FUSE reads it from the server. Execs there whose reads
# the server stalls hold the remote workers only: a local program that
# needs hashing still gets a worker. Before, six such execs held every
# worker (four), and local misses were refused at the decision timeout.
t_fault_stalled_remote_reads_keep_local_workers() {
	mkbin ok
	cp /bin/true "$T/backing" || fail "cannot write the backing file"
	mount_fusefile "$T/hold"
	remote_policy
	start_daemon --workers 4
	touch "$T/hold"
	local pids=() i
	for i in 1 2 3 4 5 6; do   # six files: six hashes, not one that five wait for
		exec_result "$T/fuse/prog$i" >"$T/stalled.$i" &
		pids+=($!)
	done
	for ((i = 0; i < 50; i++)); do   # each one's hash now waits on the server
		[[ $(stat_num pending) -ge 6 ]] && break
		sleep 0.05
	done
	[[ $(stat_num pending) -ge 6 ]] || fail "the six FUSE execs are not pending: $(stat_num pending)"
	expect_runs "$BIN/ok" "a local miss while FUSE reads stall: "
	# A stop leaves the workers the server holds, and frees nothing they use.
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "the stop, with remote workers waiting on the server: exit status $DRC"
	grep -q "^stopped_leaving_remote " "$DLOG" || fail "no stopped_leaving_remote line at the stop"
	rm -f "$T/hold"
	wait "${pids[@]}"
}

# A file written on a filesystem a server serves is not pre-scanned: the
# pre-scan's reader would open it on the server, and a file it judged gets
# a mark of the local group that reports its first exec, whose read would
# open it on the local reader. A server that stalls that one open held
# every local exec. (A local file written beside it is pre-scanned.)
t_fault_remote_file_not_prescanned() {
	mkbin ok
	cp /bin/true "$T/backing" || fail "cannot write the backing file"
	FUSE_HOLD_OPEN="$T/hold-open" FUSE_HOLD_OPEN_BY=gk-reader mount_fusefile
	remote_policy
	start_daemon
	"$PY" -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_WRONLY))' "$T/fuse/prog" ||
		fail "cannot open the FUSE file for writing"
	mkbin local-new   # written and closed: pre-scanned
	wait_log "^prescan .*path=$BIN/local-new " || fail "the local file written was not pre-scanned"
	sleep 0.3
	! grep -q "^prescan .*path=$T/fuse/prog " "$DLOG" ||
		fail "the FUSE file written was pre-scanned: $(grep "^prescan .*path=$T/fuse/prog " "$DLOG" | head -c 300)"
	touch "$T/hold-open"
	expect_runs "$T/fuse/prog" "the written FUSE program: "
	sleep 0.3   # a report of its exec, if any, now waits on the server
	expect_runs "$BIN/ok" "a local miss after the written FUSE program ran: "
	rm -f "$T/hold-open"
}

# A group retired by a policy change is closed once its events are
# answered; a server that stalls the remote reader's open keeps the old
# remote group from draining. Changes of the watch list or mode go on
# meanwhile (up to four retired remote groups wait beside one another):
# before, each was refused as "still draining" for as long as it stalled,
# a switch to monitor mode included.
t_fault_stalled_remote_read_lets_policy_change() {
	mkbin ok
	cp /bin/true "$T/backing" || fail "cannot write the backing file"
	FUSE_HOLD_OPEN="$T/hold-open" mount_fusefile
	remote_policy
	start_daemon
	touch "$T/hold-open"
	exec_result "$T/fuse/prog" >"$T/stalled.out" &
	local stalled=$! i out
	sleep 0.5   # the remote reader waits on the server
	mkdir -p "$T/w1" "$T/w2" || fail "mkdir failed"
	for i in 1 2; do
		printf 'mode: enforce\nwatch:\n  - %s\n  - %s\n  - %s\ndefault: deny\non_error: deny\n' \
			"$BIN" "$T/fuse" "$T/w$i" >"$T/p$i.yaml"
		printf 'decision_timeout_ms: 3000\nrules:\n  - {path: %s, action: allow}\n' "$BIN/ok" >>"$T/p$i.yaml"
		out=$(ctl policy apply "$T/p$i.yaml" 2>&1) ||
			fail "policy change $i while the remote reader waits on a server: $out"
		sleep 0.2
	done
	sed 's/^mode: enforce/mode: monitor/' "$T/p2.yaml" >"$T/monitor.yaml"
	out=$(ctl policy apply "$T/monitor.yaml" 2>&1) || fail "switch to monitor mode, meanwhile: $out"
	expect_runs "$BIN/ok" "a local exec after the changes: "
	rm -f "$T/hold-open"
	wait "$stalled"
}

# The path of a local file executed through another mount namespace's
# mount is that namespace's; the daemon checks that it names the same file
# here. A user's namespace can make it lead, here, into a FUSE filesystem
# whose server stalls the lookup: the local reader walks only what the
# kernel has cached, and the path that asks a server counts as elsewhere.
# Before, the walk held the local reader, and every exec with it.
t_fault_foreign_path_into_stalled_fuse() {
	mkbin ok
	mkbin mine
	cp /bin/true "$T/backing" || fail "cannot write the backing file"
	FUSE_HOLD_LOOKUP="$T/hold-lookup" mount_fusefile
	remote_policy
	start_daemon
	touch "$T/hold-lookup"
	# There, $BIN shows at $T/fuse: its programs' path leads into FUSE here.
	unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && exec "$3" exec "$2/mine"' \
		sh "$BIN" "$T/fuse" "$SPAWNER" >"$T/foreign.out" 2>&1 &
	local foreign=$!
	sleep 0.5
	expect_runs "$BIN/ok" "a local exec while a foreign path leads into a stalled FUSE lookup: "
	rm -f "$T/hold-lookup"
	wait "$foreign"
	grep -q "errno=EPERM" "$T/foreign.out" ||
		fail "the foreign exec (denied by default, without its path): $(head -c 300 "$T/foreign.out")"
}

# The mount tracker marks a filesystem through its mount point, and the walk
# there can wait on a server for good: a FUSE server (a user's, say, mounted
# with allow_other, and another of theirs below it) stalls the lookup of a
# mount point inside its own filesystem. The tracker marks holding no lock,
# so status and a policy change go on meanwhile, and once the server answers
# it marks what was mounted meanwhile. Before, it marked holding the policy's
# lock and its own: status and the policy change hung until the server answered.
t_fault_stalled_mount_point_lookup_holds_no_lock() {
	local out
	mkbin ok
	cp /bin/true "$T/backing" || fail "cannot write the backing file"
	FUSE_HOLD_LOOKUP="$T/hold-lookup" FUSE_HOLD_LOOKUP_PROGS=1 mount_fusefile
	# A filesystem seen only through a mount point inside FUSE.
	mkdir "$T/lone" && mount -t tmpfs lone "$T/lone" && : >"$T/lone/f" &&
		mount --bind "$T/lone/f" "$T/fuse/prog5" && umount "$T/lone" ||
		fail "cannot mount a filesystem at $T/fuse/prog5"
	remote_policy
	start_daemon
	touch "$T/hold-lookup"
	# A new mount wakes the tracker, which marks every covered filesystem
	# again, through $T/fuse/prog5 before $BIN/later.
	mkdir "$BIN/later" && mount -t tmpfs later "$BIN/later" || fail "cannot mount $BIN/later"
	cp "$BIN/ok" "$BIN/later/denied" || fail "cannot copy into $BIN/later"
	sleep 1
	out=$(timeout -s KILL 5 "$CTL" --socket "$SOCK" status 2>&1) ||
		fail "status while the tracker waits on the server: $(printf '%s' "$out" | tail -n 1)"
	out=$(timeout -s KILL 5 "$CTL" --socket "$SOCK" policy apply "$POLICY" 2>&1) ||
		fail "policy apply while the tracker waits on the server: $(printf '%s' "$out" | tail -n 1)"
	rm -f "$T/hold-lookup"
	for _ in $(seq 50); do
		ctl status 2>/dev/null | grep -q "$BIN/later (dev" && break
		sleep 0.1
	done
	expect_eperm "$BIN/later/denied" "on a filesystem mounted while the tracker waited: "
	umount "$BIN/later" "$T/fuse/prog5"
}
