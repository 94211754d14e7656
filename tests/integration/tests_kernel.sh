# Kernel-path tests: the ignore-mark cache, staleness after a write, a daemon
# killed while an exec waits, and many racing execs.
# Sourced by run.sh; each t_NAME runs in its own process (see lib.sh).

# settle_num KEY: KEY from status once it has stopped moving (counters may be
# bumped just after the kernel got its answer).
settle_num() {
	local prev cur i
	prev=$(stat_num "$1") || exit 1
	for ((i = 0; i < 20; i++)); do
		sleep 0.1
		cur=$(stat_num "$1") || exit 1
		if [[ $cur == "$prev" ]]; then
			echo "$cur"
			return 0
		fi
		prev=$cur
	done
	echo "$cur"
}

# A write(2) makes the cached allow stale: the new content is judged again,
# either on its next exec (a permission event) or, as DESIGN.md has it, by the
# CLOSE_WRITE prescan before anyone runs it (then the exec is a kernel hit).
t_cached_allow_raises_no_event_until_write() {
	local p1 p2 p3 s2 s3 newsha
	mkbin prog
	write_policy enforce allow
	start_daemon
	expect_runs "$BIN/prog" "first exec: "
	p1=$(settle_num perm_events) || exit 1
	[[ $p1 -ge 1 ]] || note "(first exec raised no permission event: perm_events=$p1)"
	expect_runs "$BIN/prog" "second exec: "
	p2=$(settle_num perm_events) || exit 1
	[[ $p2 -eq $p1 ]] ||
		fail "second exec of an allowed file raised a permission event: perm_events $p1 -> $p2"
	status_json
	s2=$(jget_or_zero prescans)
	printf x >>"$BIN/prog" || fail "cannot append to $BIN/prog"
	newsha=$(sha_of "$BIN/prog")
	expect_runs "$BIN/prog" "exec after a write: "
	p3=$(settle_num perm_events) || exit 1
	status_json
	s3=$(jget_or_zero prescans)
	note "after the write: perm_events $p2 -> $p3, prescans $s2 -> $s3"
	[[ $p3 -le $((p2 + 1)) ]] || fail "one exec after a write raised $((p3 - p2)) permission events"
	[[ $p3 -eq $((p2 + 1)) || $s3 -gt $s2 ]] ||
		fail "exec after write(2) was not judged again: no permission event, no prescan"
	decisions_settled
	grep -F "path=$BIN/prog " "$DLOG" | grep -qF "sha256=$newsha" ||
		fail "no decision or prescan log line for the new content (sha256=$newsha)"
}

# The content written into a cached-allowed file is denied by hash: the next
# exec must see the new content's verdict, never the stale cached allow.
t_write_makes_verdict_stale() {
	mkbin prog
	cp "$BIN/prog" "$BIN/prog-plus-x" && printf x >>"$BIN/prog-plus-x" || fail "cp failed"
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/prog-plus-x"
	expect_runs "$BIN/prog" "first exec: "
	expect_runs "$BIN/prog" "cached exec: "
	printf x >>"$BIN/prog" || fail "cannot append to $BIN/prog"
	[[ $(sha_of "$BIN/prog") == $(sha_of "$BIN/prog-plus-x") ]] || fail "test setup: contents differ"
	expect_eperm "$BIN/prog" "exec after write turned it into a denied content: "
}

# wchan_of PID: where PID sleeps in the kernel.
wchan_of() {
	cat "/proc/$1/wchan" 2>/dev/null
}

t_kill9_releases_pending_exec() {
	local big=$BIN/big epid spid i seen="" pending t0 t1 rc out
	need_spawner
	mkbin big
	# Sparse: costs no memory, but hashing 4 GiB takes the daemon seconds.
	truncate -s 4G "$big" || fail "truncate failed"
	write_policy enforce allow "decision_timeout_ms: 60000"
	start_daemon
	[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"

	timeout -s KILL 40 "$SPAWNER" exec "$big" >"$T/big.out" 2>&1 &
	epid=$!
	record_pid "$epid"
	spid=$(child_of "$epid") && record_pid "$spid"
	for ((i = 0; i < 100; i++)); do
		alive "$epid" || break
		if [[ -n $spid && $(wchan_of "$spid") == *fanotify* ]]; then
			seen="exec blocked in $(wchan_of "$spid")"
			break
		fi
		if STATUS=$(timeout -s KILL 1 "$CTL" --socket "$SOCK" --json status 2>/dev/null); then
			pending=$(jget pending)
			if [[ $pending =~ ^[0-9]+$ && $pending -ge 1 ]]; then
				seen="status pending=$pending"
				break
			fi
		fi
		sleep 0.05
	done
	if [[ -z $seen ]]; then
		alive "$epid" &&
			fail "exec of the 4 GiB file never showed as pending (wchan=$(wchan_of "$spid"))"
		wait "$epid"
		fail "exec finished (exit $?, $(cat "$T/big.out")) before the daemon could be killed"
	fi
	t0=$(date +%s%N)
	kill -KILL "$DPID"
	wait_gone "$epid" 50
	t1=$(date +%s%N)
	if alive "$epid"; then
		fail "exec still blocked 5 s after kill -9 of gatekeeperd ($seen; wchan=$(wchan_of "$spid"))"
	fi
	wait "$epid"
	rc=$?
	out=$(cat "$T/big.out")
	wait_gone "$TPID" 20 || fail "gatekeeperd's timeout wrapper still alive after kill -9"
	wait "$TPID" 2>/dev/null
	TPID=""
	DPID=""
	[[ $rc -eq 0 ]] ||
		fail "exec released by the daemon's death did not run: exit $rc $out ($seen)"
	# The sentinel allowed it and says so; once status counted it pending,
	# the daemon had read it (it was hashing), and its slot names no path.
	local want='sentinel_released_on_exit allowed=1 '
	[[ $seen == status* ]] && want+='read_by_daemon=1 unread=0 '
	expect_sentinel_release "$want" "$seen"
	note "released $(((t1 - t0) / 1000000)) ms after kill -9 ($seen)"
}

# parallel_case EXTRA_DAEMON_ARGS...: 50 distinct files, the even ones denied
# by admin rule, 200 execs released at once. Sets P_EVENTS, P_ALLOWS, P_DENIES.
parallel_case() {
	local i rep list=$T/execs.list out=$T/execs.out rc bad=0 hung expect
	need_spawner
	for ((i = 0; i < 50; i++)); do
		mkbin "p$i"
	done
	write_policy enforce allow
	start_daemon "$@"
	for ((i = 0; i < 50; i += 2)); do
		ctl_ok deny "$BIN/p$i"
	done
	local e0 a0 d0
	status_json
	e0=$(jget perm_events) a0=$(jget allows) d0=$(jget denies)
	: >"$list"
	for ((rep = 0; rep < 4; rep++)); do
		for ((i = 0; i < 50; i++)); do
			echo "$BIN/p$i" >>"$list"
		done
	done
	timeout -s KILL 60 "$SPAWNER" parallel "$list" 30000 >"$out" 2>&1
	rc=$?
	[[ $rc -ne 137 ]] || fail "the parallel spawner itself hung"
	hung=$(grep -c ' hung$' "$out")
	[[ $hung -eq 0 ]] || fail "$hung of 200 execs hung for 30 s"
	[[ $(grep -c . "$out") -eq 200 ]] || fail "expected 200 results, got: $(head -n 3 "$out")"
	while read -r i path result; do
		i=${path##*/p}
		if ((i % 2 == 0)); then expect=errno:EPERM; else expect=ran:0; fi
		if [[ $result != "$expect" ]]; then
			bad=$((bad + 1))
			[[ $bad -le 3 ]] && note "exec $path: got $result, expected $expect"
		fi
	done <"$out"
	[[ $bad -eq 0 ]] || fail "$bad of 200 exec results did not match their file's verdict"
	P_EVENTS=$(settle_num perm_events) || exit 1
	status_json
	P_ALLOWS=$(jget allows) P_DENIES=$(jget denies)
	local timeouts
	timeouts=$(jget timeouts)
	P_EVENTS=$((P_EVENTS - e0)) P_ALLOWS=$((P_ALLOWS - a0)) P_DENIES=$((P_DENIES - d0))
	note "perm_events=$P_EVENTS allows=$P_ALLOWS denies=$P_DENIES timeouts=$timeouts"
	[[ $timeouts == 0 ]] || fail "status timeouts=$timeouts (expected 0)"
	[[ $P_EVENTS -eq $((P_ALLOWS + P_DENIES)) ]] ||
		fail "perm_events ($P_EVENTS) != allows ($P_ALLOWS) + denies ($P_DENIES)"
	# Without BPF a deny is never cached in the kernel: every denied exec asks.
	[[ $P_DENIES -eq 100 ]] || fail "denies=$P_DENIES, expected 100 (one per denied exec)"
}

t_parallel_200_execs_kernel_cache() {
	parallel_case
	[[ $P_EVENTS -ge 125 && $P_EVENTS -le 200 ]] ||
		fail "perm_events=$P_EVENTS, expected 125..200 (100 denies + 25..100 allows)"
}

t_parallel_200_execs_no_kernel_cache() {
	parallel_case --no-kernel-cache
	[[ $P_EVENTS -eq 200 ]] || fail "--no-kernel-cache: perm_events=$P_EVENTS, expected exactly 200"
	[[ $P_ALLOWS -eq 100 ]] || fail "--no-kernel-cache: allows=$P_ALLOWS, expected 100"
}
