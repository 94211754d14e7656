# Faults of load and freezing.
#
# A frozen daemon (SIGSTOP) must not freeze execs: the sentinel, a process
# outside the daemon's thread group, answers every pending and every new
# exec with the policy's on_error verdict within decision_timeout_ms + 1 s;
# the daemon, resumed, carries on without a restart and answers nothing
# twice. Sourced by run.sh before its GK_IT_ONLY filter.

TESTS+=(
	frozen_daemon_answered_by_sentinel:90
	overload_keeps_known_verdicts:90
	overload_keeps_known_verdicts_on_a_busy_cpu:60
	idle_daemon_sleeps:60
	sentinel_takes_new_deadline_at_once:60
)

# frozen_exec PATH OUT: exec PATH, write "RESULT MS" to OUT.
frozen_exec() {
	local t0 t1 r
	t0=$(date +%s%N)
	r=$(exec_result "$1")
	t1=$(date +%s%N)
	echo "$r $(((t1 - t0) / 1000000))" >"$2"
}

t_frozen_daemon_answered_by_sentinel() {
	local big=$BIN/big i pids=() r ms worst=0 limit_ms=1300 answers reads
	need_spawner
	mkbin big
	# Sparse: no memory, but hashing 4 GiB keeps a worker busy for seconds.
	truncate -s 4G "$big" || fail "truncate failed"
	for i in 1 2 3 4 5; do mkbin "new$i"; done
	mkbin after
	write_policy enforce allow "on_error: deny" "decision_timeout_ms: 300"
	start_daemon
	[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"

	# One exec pending in a worker, then the daemon freezes.
	frozen_exec "$big" "$T/r.big" 2>>"$T/timed.err" &
	pids+=($!)
	# held by the daemon before it freezes, or the sentinel reads it
	wait_num_at_least pending 1 100 >/dev/null
	freeze "$DPID" || fail "cannot stop every thread of gatekeeperd"
	# New execs while it is frozen: nobody in the daemon reads them.
	for i in 1 2 3 4 5; do
		frozen_exec "$BIN/new$i" "$T/r.new$i" 2>>"$T/timed.err" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	[[ -s $T/timed.err ]] && note "exec errors: $(head -c 600 "$T/timed.err")"
	for f in "$T"/r.*; do
		[[ -f $f ]] || { kill -CONT "$DPID"; fail "no exec reported a result"; }
		read -r r ms <"$f"
		note "${f##*/r.}: $r in $ms ms"
		[[ $r == errno:EPERM ]] || { kill -CONT "$DPID"; fail "${f##*/r.}: expected on_error's EPERM while frozen, got $r"; }
		((ms > worst)) && worst=$ms
	done
	((worst <= limit_ms)) || { kill -CONT "$DPID"; fail "slowest exec took $worst ms (limit $limit_ms)"; }

	kill -CONT "$DPID" || fail "cannot resume gatekeeperd"
	expect_runs "$BIN/after" "resumed daemon, new program: "
	expect_runs "$BIN/new1" "resumed daemon, a program the sentinel refused: "
	answers=$(stat_num sentinel_answers)
	reads=$(stat_num sentinel_reads)
	note "sentinel answered $answers read event(s), read and answered $reads; worst wait $worst ms"
	((answers >= 1)) || fail "the pending exec was not answered by the sentinel (sentinel_answers=$answers)"
	((reads >= 5)) || fail "the execs made while frozen were not all read by the sentinel (sentinel_reads=$reads)"
	# what the sentinel read and refused is on record, as the daemon's decisions are
	grep -F "path=$BIN/new" "$DLOG" | grep -F 'verdict=deny source=on-error' |
		grep -qF 'answered by its sentinel' ||
		fail "no decision line for an exec the sentinel read and refused: $(grep -m2 -F sentinel "$DLOG")"
	# The worker that hashed the big file finishes later: its answer must
	# not reach the kernel a second time.
	sleep 1
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC"
	if grep -q 'fanotify reply failed' "$DLOG"; then
		fail "a second answer was written: $(grep 'fanotify reply failed' "$DLOG" | head -n 2)"
	fi
	grep -q 'answered by the sentinel' "$DLOG" ||
		fail "no decision recorded as answered by the sentinel"
}

# A full queue turns only unknown files into the overload verdict: with the
# one worker slot held by a slow hash, 8 spawners exec a file whose verdict
# is known (an admin rule, its digest in memory) and new files. Every exec
# of the known file runs; the new ones get the overload verdict at once.
t_overload_keeps_known_verdicts() {
	local big=$BIN/big i out bad=0 execs=0 overloads pids=()
	need_spawner
	mkbin big
	truncate -s 4G "$big" || fail "truncate failed"
	mkbin known
	for i in $(seq 1 8); do mkbin "new$i"; done
	write_policy enforce deny "overload: deny" "decision_timeout_ms: 20000"
	start_daemon --workers 1 --max-pending 1 --no-kernel-cache
	ctl_ok allow "$BIN/known"
	timeout -s KILL 30 "$SPAWNER" exec "$big" >/dev/null 2>&1 &
	record_pid $!
	sleep 0.2
	for i in $(seq 1 8); do
		timeout -s KILL 30 "$SPAWNER" loop 1500 "$BIN/known" >"$T/known$i.out" 2>&1 &
		pids+=($!)
		record_pid $!
	done
	printf '%s\n' "$BIN"/new* >"$T/new.list"
	timeout -s KILL 30 "$SPAWNER" parallel "$T/new.list" 5000 >"$T/new.out" 2>&1
	for i in "${pids[@]}"; do wait "$i"; done
	for i in $(seq 1 8); do
		out=$(tail -n 1 "$T/known$i.out")
		[[ $out =~ execs=([0-9]+)\ ok=([0-9]+)\ failed=([0-9]+)\ hung=([0-9]+) ]] ||
			fail "spawner $i: $(cat "$T/known$i.out")"
		execs=$((execs + BASH_REMATCH[1]))
		bad=$((bad + BASH_REMATCH[3] + BASH_REMATCH[4]))
	done
	overloads=$(stat_num overloads)
	note "known file: $execs execs, $bad refused or hung; overloads=$overloads; new files: $(awk '{print $3}' "$T/new.out" | sort | uniq -c | tr '\n' ' ')"
	((execs > 0)) || fail "no exec of the known file ran"
	((bad == 0)) || fail "$bad execs of a file with a known verdict were refused or hung under overload"
	((overloads >= 1)) || fail "the queue never overflowed (overloads=0): the test proved nothing"
	grep -q 'errno:EPERM' "$T/new.out" || fail "no new file got the overload verdict: $(cat "$T/new.out")"
	# each such refusal is a decision on record, naming the overload and the file
	decisions_settled
	grep -F "path=$BIN/new" "$DLOG" | grep -F 'verdict=deny source=on-error' |
		grep -qF 'detail="overload: 1 decisions already queued' ||
		fail "no decision line names an overload refusal of a new file: $(grep -m2 -F 'overload:' "$DLOG")"
}

# A busy CPU must not turn a known verdict into the overload verdict. The
# daemon's close reader alone shares a CPU with a program of the highest
# priority that runs 10 ms of every 15, so the reader waits up to 10 ms
# for the CPU at times, while a file is written and closed on its filesystem
# every few ms. Before, a miss gave that reader
# 2 ms, then distrusted the cached digest: the known file went to the one
# worker, which a slow hash holds, and got the overload verdict.
t_overload_keeps_known_verdicts_on_a_busy_cpu() {
	local big=$BIN/big out hog closer tid
	need_spawner
	(($(nproc) >= 2)) || fail "needs two CPUs (the close reader on one, the execs on another)"
	mkbin big
	truncate -s 4G "$big" || fail "truncate failed"
	mkbin known
	write_policy enforce deny "overload: deny" "decision_timeout_ms: 20000"
	start_daemon --workers 1 --max-pending 1 --no-kernel-cache
	tid=$(grep -lx gk-prescan-rd /proc/"$DPID"/task/*/comm | cut -d/ -f5)
	[[ $tid =~ ^[0-9]+$ ]] || fail "no close reader thread (gk-prescan-rd) in gatekeeperd"
	taskset -a -p -c 1 "$DPID" >/dev/null && taskset -p -c 0 "$tid" >/dev/null ||
		fail "cannot move the daemon to CPU 1 and its close reader to CPU 0"
	ctl_ok allow "$BIN/known"
	expect_runs "$BIN/known" "before the load: "
	timeout -s KILL 30 "$SPAWNER" exec "$big" >/dev/null 2>&1 &
	record_pid $!
	sleep 0.2
	timeout -s KILL 30 taskset -c 0 nice -n -20 "$PY" -c '
import time
while True:
    end = time.monotonic() + 0.010
    while time.monotonic() < end:
        pass
    time.sleep(0.005)
' &
	hog=$!
	record_pid "$hog"
	timeout -s KILL 30 taskset -c 1 bash -c 'while :; do echo x >"$1"; sleep 0.002; done' _ \
		"$T/closed" &
	closer=$!
	record_pid "$closer"
	timeout -s KILL 20 taskset -c 1 "$SPAWNER" loop 3000 "$BIN/known" >"$T/known.out" 2>&1
	kill "$hog" "$closer" 2>/dev/null
	out=$(tail -n 1 "$T/known.out")
	[[ $out =~ execs=([0-9]+)\ ok=([0-9]+)\ failed=([0-9]+)\ hung=([0-9]+) ]] ||
		fail "spawner: $(cat "$T/known.out")"
	status_json
	note "known file on a busy CPU: $out; overloads=$(jget overloads)" \
		"miss_close_waits=$(jget miss_close_waits)" \
		"long=$(jget miss_close_waits_long) rehashed=$(jget miss_digests_rehashed)"
	((BASH_REMATCH[1] > 0)) || fail "no exec of the known file ran"
	((BASH_REMATCH[3] + BASH_REMATCH[4] == 0)) ||
		fail "execs of a file with a known verdict were refused or hung: $out"
	(($(jget miss_close_waits_long) > 0)) ||
		fail "no miss waited past 2 ms for the close reader: the test proved nothing"
	(($(jget miss_digests_rehashed) == 0)) || fail "a miss gave up on a close reader that was not held"
}

# wakeups PID...: context switches so far of every thread of each process.
wakeups() {
	local p n=0 v
	for p in "$@"; do
		for v in $(cat /proc/"$p"/task/*/status 2>/dev/null |
			sed -n 's/^\(non\)\{0,1\}voluntary_ctxt_switches:[[:space:]]*//p'); do
			n=$((n + v))
		done
	done
	echo "$n"
}

# An idle daemon, and one whose execs the kernel answers from its cache,
# sleeps: its watchdog wakes about once a second, the sentinel not at all
# (each used to tick every 10 and 20 ms: 150 wake-ups a second, taken from
# the execs on a small or emulated machine). The kernel hits are proved
# too: no permission event reached the daemon meanwhile.
t_idle_daemon_sleeps() {
	local sentinel before after events_before events_after i n
	mkbin cached
	write_policy enforce allow
	start_daemon
	sentinel=$(pgrep -P "$DPID" | head -n 1)
	[[ -n $sentinel ]] || fail "no sentinel process under gatekeeperd $DPID"
	expect_runs "$BIN/cached" "first exec (a miss): "
	# the audit writer lingers a second after the last decision; the
	# sentinel waits a second after the last event read
	sleep 2.5
	events_before=$(stat_num perm_events)
	before=$(wakeups "$DPID" "$sentinel")
	for ((i = 0; i < 20; i++)); do
		expect_runs "$BIN/cached" "cached exec $i: "
	done
	sleep 3
	after=$(wakeups "$DPID" "$sentinel")
	events_after=$(stat_num perm_events)
	n=$((after - before))
	note "20 cached execs and 3 s idle: $n context switches of the daemon and its sentinel; perm events $events_before -> $events_after"
	((events_after == events_before)) ||
		fail "cached execs reached the daemon ($events_before -> $events_after perm events)"
	((n <= 25)) || fail "the idle daemon woke $n times in about 3 s (a ticking watchdog or sentinel: 150 a second)"
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC"
}

# An applied policy's deadline and on_error reach the sentinel at once, not
# at the idle watchdog's next tick (a second away): frozen right after the
# apply, the daemon's new exec is refused within the new 300 ms deadline,
# not held for the old 60 s.
t_sentinel_takes_new_deadline_at_once() {
	local r ms
	mkbin fresh
	write_policy enforce allow "on_error: allow" "decision_timeout_ms: 60000"
	start_daemon
	sleep 1.5 # idle: the watchdog now sleeps a second at a time
	write_policy enforce allow "on_error: deny" "decision_timeout_ms: 300"
	ctl_ok policy apply "$POLICY"
	freeze "$DPID" || fail "cannot stop every thread of gatekeeperd"
	frozen_exec "$BIN/fresh" "$T/r.fresh"
	kill -CONT "$DPID" || fail "cannot resume gatekeeperd"
	read -r r ms <"$T/r.fresh"
	note "exec while frozen just after the apply: $r in $ms ms"
	[[ $r == errno:EPERM ]] || fail "expected the new on_error (EPERM) within the new deadline, got $r"
	((ms <= 1300)) || fail "the exec took $ms ms: the sentinel still used the old deadline"
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC"
}
