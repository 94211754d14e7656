# A frozen daemon (SIGSTOP) must not freeze execs: the sentinel, a process
# outside the daemon's thread group, answers every pending and every new
# exec with the policy's on_error verdict within decision_timeout_ms + 1 s;
# the daemon, resumed, carries on without a restart and answers nothing
# twice. Sourced by run.sh before its GK_IT_ONLY filter.

TESTS+=(
	frozen_daemon_answered_by_sentinel:90
)

# timed_exec PATH OUT: exec PATH, write "RESULT MS" to OUT.
timed_exec() {
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
	timed_exec "$big" "$T/r.big" &
	pids+=($!)
	sleep 0.1
	kill -STOP "$DPID" || fail "cannot stop gatekeeperd"
	# New execs while it is frozen: nobody in the daemon reads them.
	for i in 1 2 3 4 5; do
		timed_exec "$BIN/new$i" "$T/r.new$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	for f in "$T"/r.*; do
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
