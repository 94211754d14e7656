# Fairness tests: one user, or users acting together, must not take the
# workers or the slots every other user's misses need.
# Sourced by run.sh before its GK_IT_ONLY filter: this file adds its own
# entries to TESTS; each t_NAME runs in its own process (see lib.sh).

TESTS+=(
	fault_remote_user_cannot_starve_remote_execs:60
	fault_one_user_cannot_starve_the_workers:60
	fault_subordinate_ids_count_as_one_user:60
	fault_users_together_cannot_starve_the_workers:60
	fault_remote_workers_held_by_servers_are_replaced:60
	fault_remote_workers_held_after_their_answers_are_replaced:60
	fault_remote_user_held_after_an_answer_holds_one_worker:60
)

# Remote execs wait their user's turn too. uid 65534's 16 execs of huge
# FUSE programs (each hashed until its deadline) held every remote slot
# (a quarter of 64), and root's FUSE program got the overload verdict; now
# they hold half, the rest get the overload verdict naming uid 65534, and
# root's program is judged by the remote worker kept for other users. The
# server says root owns every file: the user who asks is who counts.
t_fault_remote_user_cannot_starve_remote_execs() {
	local i
	need_spawner
	cp /bin/true "$T/backing" && truncate -s 100G "$T/backing" || fail "cannot write the backing file"
	cp /bin/true "$T/backing9" && printf '\ngk-it %s\n' "$RANDOM$(date +%s%N)" >>"$T/backing9" ||
		fail "cannot write the second backing file"
	FUSE_ALLOW_OTHER=1 FUSE_BACKING9="$T/backing9" mount_fusefile
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: allow\non_error: deny\n' "$T/fuse" >"$POLICY"
	echo "decision_timeout_ms: 20000" >>"$POLICY"
	start_daemon --max-pending 64
	for i in 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7; do echo "$T/fuse/prog$i"; done >"$T/hog.list"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		timeout -s KILL 40 "$SPAWNER" parallel "$T/hog.list" 30000 >"$T/hog.out" 2>&1 &
	record_pid $!
	wait_log "path=$T/fuse/prog.*overload: 8 decisions asked by uid 65534 already queued or running (a user's share: half of the remote quarter of max_pending)\"" ||
		fail "uid 65534's remote execs beyond its share were not refused as its overload: $(head -c 300 "$T/hog.out")"
	expect_runs "$T/fuse/prog9" "root's FUSE program, beside uid 65534's huge ones: "
	[[ $(stat_num pending) -ge 8 ]] ||
		fail "uid 65534's share of remote execs is no longer pending: the test proved nothing"
}

# hog_workers BASE [DAEMON_ARGS...]: uid 65534 execs 20 huge programs at
# once (sparse: they cost nothing to make; each is hashed until its
# deadline; made apart and moved in, so that no pre-scan judges them
# first), with 2 workers and 16 slots; with a BASE, every
# other exec runs as id BASE+i instead (as processes in a user namespace
# of subordinate ids do). Once those hold what they may, root execs
# programs never judged before (no digest known): they must be judged,
# not refused. In one queue for all, the hog held every slot and root got
# the overload verdict; now the hog holds half the slots and one worker,
# and those of its execs beyond get the overload verdict naming uid 65534.
hog_workers() {
	local base=$1 i r bad uid pids=()
	shift
	need_spawner
	mkdir -m 0777 "$BIN/u" "$T/su" || fail "mkdir failed"
	for r in 1 2 3; do mkbin "r$r"; done
	write_policy enforce allow "on_error: deny" "decision_timeout_ms: 6000"
	start_daemon --workers 2 --max-pending 16 "$@"
	setpriv --reuid=65534 --regid=65534 --clear-groups bash -c '
		for ((i = 1; i <= 20; i++)); do
			cp /bin/true "$1/h$i" && truncate -s 100G "$1/h$i" && mv "$1/h$i" "$2/" || exit 1
		done' hog "$T/su" "$BIN/u" || fail "uid 65534 cannot make its huge programs"
	for i in $(seq 1 20); do
		uid=65534
		[[ -n $base ]] && ((i % 2 == 0)) && uid=$((base + i))
		setpriv --reuid="$uid" --regid=65534 --clear-groups \
			timeout -s KILL 30 "$SPAWNER" exec "$BIN/u/h$i" >/dev/null 2>&1 &
		pids+=($!)
		record_pid $!
	done
	wait_log "path=$BIN/u/h.*overload:" || fail "the huge programs never filled their share"
	for r in 1 2 3; do
		expect_runs "$BIN/r$r" "with the huge programs queued until their deadline: "
	done
	for i in "${pids[@]}"; do wait "$i"; done
	decisions_settled
	grep -q "path=$BIN/u/h.*detail=\"decision timeout\"" "$DLOG" ||
		fail "no huge program held a worker until its deadline: the test proved nothing"
	grep -q "path=$BIN/u/h.*overload: 8 decisions asked by uid 65534 already queued or running" \
		"$DLOG" || fail "uid 65534's execs beyond its half of the slots were not refused as its overload"
	bad=$(grep -c "path=$BIN/r.*source=on-error" "$DLOG")
	[[ $bad -eq 0 ]] || fail "$bad of root's execs got the on_error or overload verdict"
}

# One user's huge programs must not starve the execs of other users.
t_fault_one_user_cannot_starve_the_workers() {
	hog_workers "" --subuid "$T/no-subuid"
}

# Nor when the user runs them as thousands of ids: the subordinate ids
# subuid(5) gives a user count as that user (nobody: 65534, from
# /etc/passwd).
t_fault_subordinate_ids_count_as_one_user() {
	printf '%s\n' "# ranges" "root:100000:65536" "nobody:300000:65536" >"$T/subuid"
	hog_workers 300000 --subuid "$T/subuid"
	grep -q 'subids_read path=.* ranges=2' "$DLOG" || fail "the daemon did not read both ranges"
}

# Two users act together: uid 65534 and uid 65533 each exec 10 huge
# programs at once, with 2 workers and 16 slots. Each stays within its own
# share (one worker, half the slots), so together they held both workers and
# every slot: root's programs got the overload verdict, or waited for a
# worker until a huge one's deadline. Now huge programs run on one worker
# at a time, whoever asks, and the last 2 slots are kept for users who hold
# none: root's programs are judged before any huge one's deadline.
t_fault_users_together_cannot_starve_the_workers() {
	local r i uid pids=() first_timeout first_root bad
	need_spawner
	mkdir -m 0777 "$BIN/u" "$T/su" || fail "mkdir failed"
	for r in 1 2 3; do mkbin "r$r"; done
	write_policy enforce allow "on_error: deny" "decision_timeout_ms: 15000"
	start_daemon --workers 2 --max-pending 16 --subuid "$T/no-subuid"
	setpriv --reuid=65534 --regid=65534 --clear-groups bash -c '
		for ((i = 1; i <= 20; i++)); do
			cp /bin/true "$1/h$i" && truncate -s 100G "$1/h$i" && mv "$1/h$i" "$2/" || exit 1
		done' hog "$T/su" "$BIN/u" || fail "uid 65534 cannot make the huge programs"
	for i in $(seq 1 20); do
		uid=$((65533 + i % 2))
		setpriv --reuid="$uid" --regid=65534 --clear-groups \
			timeout -s KILL 30 "$SPAWNER" exec "$BIN/u/h$i" >/dev/null 2>&1 &
		pids+=($!)
		record_pid $!
	done
	for ((i = 0; i < 120; i++)); do   # 12 s: the spawns may be slow on a busy host
		grep -q "path=$BIN/u/h.*the last 2 slots (an eighth of max_pending) are kept for users with fewer than 1\"" "$DLOG" && break
		sleep 0.1
	done
	((i < 120)) || fail "the two users' huge programs never reached the reserve: $(stat_num pending) pending, $(grep -c "path=$BIN/u/h" "$DLOG") decided"
	for r in 1 2 3; do
		expect_runs "$BIN/r$r" "with two users' huge programs queued until their deadline: "
	done
	for i in "${pids[@]}"; do wait "$i"; done
	decisions_settled
	first_timeout=$(grep -n "path=$BIN/u/h.*detail=\"decision timeout\"" "$DLOG" | head -1 | cut -d: -f1)
	[[ -n $first_timeout ]] ||
		fail "no huge program held a worker until its deadline: the test proved nothing"
	grep -q "path=$BIN/u/h.*overload: [0-9]* decisions asked by uid 6553[34] already queued" "$DLOG" ||
		fail "no exec of the two users was refused beyond their shares: the test proved nothing"
	bad=$(grep -c "path=$BIN/r.*source=on-error" "$DLOG")
	[[ $bad -eq 0 ]] || fail "$bad of root's execs got the on_error or overload verdict"
	# A worker was free for root all along: its programs were judged while
	# the first huge ones still ran (not on a worker their deadline freed).
	for r in 1 2 3; do
		first_root=$(grep -n "path=$BIN/r$r " "$DLOG" | head -1 | cut -d: -f1)
		[[ -n $first_root ]] || fail "no decision of $BIN/r$r on record"
		((first_root < first_timeout)) ||
			fail "$BIN/r$r was judged only after a huge program's deadline freed a worker"
	done
}

# users_held_on_fuse [HOLD|--one-user]: a FUSE filesystem held as
# HOLD and the FUSE_HOLD_* variables say while $T/hold exists, but for
# /prog9 (another server's file, as it were); a daemon watching it, 3 s
# deadlines; and uids 65533 and 65534 exec /prog1 and /prog2 there (two
# users: a user's remote execs take one worker at a time), or with
# --one-user uid 65534 /prog1. Their pids: HELD_PIDS.
users_held_on_fuse() {
	local i users=(1 2)
	[[ ${1:-} == --one-user ]] && users=(1) && shift
	need_spawner
	cp /bin/true "$T/backing" || fail "cannot write the backing file"
	cp /bin/true "$T/backing9" && printf '\ngk-it %s\n' "$RANDOM$(date +%s%N)" >>"$T/backing9" ||
		fail "cannot write the second backing file"
	FUSE_ALLOW_OTHER=1 FUSE_SPARE9=1 FUSE_BACKING9="$T/backing9" mount_fusefile "$@"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: allow\non_error: deny\n' "$T/fuse" >"$POLICY"
	echo "decision_timeout_ms: 3000" >>"$POLICY"
	start_daemon
	touch "$T/hold"
	HELD_PIDS=()
	for i in "${users[@]}"; do
		setpriv --reuid=$((65535 - i)) --regid=65534 --clear-groups \
			timeout -s KILL 30 "$SPAWNER" exec "$T/fuse/prog$i" >"$T/held.$i" 2>&1 &
		HELD_PIDS+=($!)
		record_pid $!
	done
}

# A server that stalls reads holds the remote worker that hashes for one
# of its execs. Two users' execs there held both remote workers, and every
# other remote exec (another server's) waited out its deadline and got
# on_error. Now a worker held past its job's deadline is replaced: root's
# program on a file the server still serves is judged and runs.
t_fault_remote_workers_held_by_servers_are_replaced() {
	local i
	users_held_on_fuse "$T/hold"
	for ((i = 0; i < 50; i++)); do   # both hashes now wait on the server
		[[ $(stat_num pending) -ge 2 ]] && break
		sleep 0.05
	done
	[[ $(stat_num pending) -ge 2 ]] || fail "the two held execs are not pending: $(stat_num pending)"
	sleep 1   # root's deadline comes a second after theirs
	expect_runs "$T/fuse/prog9" "root's program, with both remote workers held by the server: "
	# at one deadline or at each of the two
	wait_log "^remote_workers_added added=[12] workers=4 held_by_servers=2" ||
		fail "no remote worker was added for the two held: $(grep remote_workers "$DLOG" | head -c 300)"
	rm -f "$T/hold"
	for i in "${HELD_PIDS[@]}"; do wait "$i"; done
}

# A server may serve the judging and stall what comes after the answer:
# the daemon's close of the file waits on the server's flush. Two users'
# execs there ran, and held both remote workers; they did not count as held
# (no deadline of theirs was missed), so no worker was added and root's
# program waited out its deadline and got on_error. Now a remote worker
# counts as held until its file is closed: root's program is judged.
t_fault_remote_workers_held_after_their_answers_are_replaced() {
	local i
	FUSE_HOLD_FLUSH=$T/hold   # global: the teardown lets go of it too
	users_held_on_fuse
	for i in "${HELD_PIDS[@]}"; do
		wait "$i" || fail "an exec whose close the server holds did not run: $(cat "$T"/held.*)"
	done
	[[ $(stat_num pending) -ge 2 ]] ||
		fail "the two remote workers are not held after their answers: $(stat_num pending) pending"
	sleep 1   # root's deadline comes a second after theirs
	expect_runs "$T/fuse/prog9" "root's program, with both remote workers held after their answers: "
	wait_log "^remote_workers_added added=[12] workers=4 held_by_servers=2" ||
		fail "no remote worker was added for the two held: $(grep remote_workers "$DLOG" | head -c 300)"
	grep -q "path=$T/fuse/prog9 .*source=on-error" "$DLOG" && fail "root's program got on_error"
	rm -f "$T/hold"
}

# And one user's: its remote execs run one at a time until the close of
# each is over, not just its answer. Its first exec's worker held in the
# flush, its second waited for the other worker, and was held there too:
# root's program waited for a worker added for them. Now the second waits
# its turn (to its deadline: its first holds the turn), and root's
# program is judged on the other worker at once.
t_fault_remote_user_held_after_an_answer_holds_one_worker() {
	local pid root_at added_at
	FUSE_HOLD_FLUSH=$T/hold
	users_held_on_fuse --one-user
	for pid in "${HELD_PIDS[@]}"; do
		wait "$pid" || fail "uid 65534's first exec did not run: $(cat "$T"/held.*)"
	done
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		timeout -s KILL 30 "$SPAWNER" exec "$T/fuse/prog2" >"$T/second" 2>&1 &
	pid=$!
	record_pid $pid
	[[ $(wait_num_at_least pending 2 50) -ge 2 ]] ||
		fail "uid 65534's second exec is not pending beside its held first"
	expect_runs "$T/fuse/prog9" "root's program, beside uid 65534's held worker: "
	wait_log "path=$T/fuse/prog9 " || fail "no decision of root's program on record"
	root_at=$(grep -n "path=$T/fuse/prog9 " "$DLOG" | head -1 | cut -d: -f1)
	added_at=$(grep -n "^remote_workers_added" "$DLOG" | head -1 | cut -d: -f1)
	[[ -z $added_at || $root_at -lt $added_at ]] ||
		fail "root's program waited for a worker added for uid 65534's held ones"
	# refused at its deadline (on_error); judged, it would have run
	wait "$pid"
	grep -q "errno=EPERM" "$T/second" ||
		fail "uid 65534's second exec was judged on another worker while its first held one: $(cat "$T/second")"
	rm -f "$T/hold"
}
