# Helpers for one integration test (sourced by run.sh; runs in the test's own
# process, inside the private mount namespace, with the test's tmpfs at $T).
#
# A test fails by calling `fail MESSAGE` (the message becomes the TAP
# diagnostic); reaching its end is a pass.

test_setup() {
	T=$GK_IT_T
	TOP=$GK_IT_TOP
	BINDIR=$GK_IT_BINDIR
	GKD=$BINDIR/gatekeeperd
	CTL=$BINDIR/gatekeeper-ctl
	SPAWNER=$TOP/spawner
	BIN=$T/bin
	SOCK=$T/gk.sock
	DB=$T/gk.db
	POLICY=$T/policy.yaml
	DPID=""
	TPID=""
	DLOG=""
	DSTARTS=0
	trap 'test_teardown' EXIT
	# a test's second stage, in a pid namespace: $T is set up already
	[[ -n ${GK_IT_PIDNS:-} ]] && return 0
	mkdir -m 0755 "$BIN"
	: >"$T/.pids"
}

# TEST_CLEANUP: what a test set up beyond $T (a loop device, a FUSE
# server), undone here before the daemon stops (a held FUSE read would hold
# its stop), on success as on failure (run.sh calls this after the test; a
# trap would be cleared by it).
test_teardown() {
	if [[ -n ${TEST_CLEANUP:-} ]]; then
		eval "$TEST_CLEANUP"
		TEST_CLEANUP=""
	fi
	[[ -n ${TPID:-} ]] && stop_daemon
	trap - EXIT
	return 0
}

fail() {
	printf '%s\n' "$*" >>"$T/.reason"
	exit 1
}

# note MESSAGE: a diagnostic shown with the result, pass or fail.
note() {
	printf '%s\n' "$*" >>"$T/.notes"
}

# Pids from inside a pid namespace (GK_IT_PIDNS) name other processes out
# here: not recorded (the namespace's end takes its processes with it).
record_pid() {
	[[ -n ${GK_IT_PIDNS:-} ]] && return 0
	echo "$1" >>"$T/.pids"
}

need_daemon_bins() {
	[[ -x $GKD ]] || fail "gatekeeperd missing or not executable: $GKD"
	need_ctl
}

need_ctl() {
	[[ -x $CTL ]] || fail "gatekeeper-ctl missing or not executable: $CTL"
}

need_spawner() {
	[[ -f $TOP/spawner.failed ]] && fail "$(cat "$TOP/spawner.failed")"
	[[ -x $SPAWNER ]] || fail "spawner helper was not built"
}

# alive PID: the process exists and is not a zombie.
alive() {
	local state
	[[ -r /proc/$1/stat ]] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[[ -n $state && $state != Z ]]
}

# freeze PID: SIGSTOP, then wait (up to 2 s) until every thread has stopped.
# kill(2) returns before they have: one thread takes the signal and stops
# the others, and meanwhile the reader thread could still answer an event.
freeze() {
	local i t all
	kill -STOP "$1" || return 1
	for ((i = 0; i < 200; i++)); do
		all=1
		for t in /proc/"$1"/task/*/stat; do
			[[ $(sed 's/.*) //' "$t" 2>/dev/null | cut -d' ' -f1) == T ]] || { all=0; break; }
		done
		((all)) && return 0
		sleep 0.01
	done
	return 1
}

# wait_gone PID TENTHS: wait up to TENTHS/10 s for PID to exit.
wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	! alive "$1"
}

# The first child of PID (the program a `timeout` wrapper runs).
child_of() {
	local kids i
	for ((i = 0; i < 100; i++)); do
		kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
		if [[ -n $kids ]]; then
			echo "${kids%% *}"
			return 0
		fi
		alive "$1" || return 1
		sleep 0.02
	done
	return 1
}

# write_policy MODE DEFAULT [EXTRA_YAML_LINE...]
write_policy() {
	local mode=$1 default=$2 line
	shift 2
	{
		echo "mode: $mode"
		echo "watch:"
		echo "  - $BIN"
		echo "default: $default"
		for line in "$@"; do
			echo "$line"
		done
	} >"$POLICY"
}

# mkbin NAME: $BIN/NAME, a copy of /bin/true made unique (own SHA-256) by
# trailing bytes, which the ELF loader ignores.
# mount_fusefile [HOLD]: the fusefile helper at $T/fuse, serving $T/backing
# (written by the caller) as $T/fuse/prog (mode FUSE_MODE if set, else
# 0755); with HOLD, its reads wait while that file exists; with
# FUSE_HOLD_OPEN=FILE, the daemon's opens wait while FILE exists (those
# of its threads whose names begin FUSE_HOLD_OPEN_BY, if set); with
# FUSE_DIRECT_IO=1, reads bypass the page cache; with FUSE_HOLD_LOOKUP=FILE,
# lookups of other names wait while FILE exists (with FUSE_HOLD_LOOKUP_PROGS=1,
# those of /prog0 to /prog9 too, then answered); with FUSE_BACKING9=FILE,
# /prog9 serves FILE; with FUSE_SPARE9=1, HOLD never holds /prog9's reads;
# with FUSE_ALLOW_OTHER=1, other users may use it.
# Unmounted, stopped and HOLD removed when the test ends.
mount_fusefile() {
	[[ -f $TOP/fusefile.failed ]] && fail "$(cat "$TOP/fusefile.failed")"
	[[ -x $TOP/fusefile && -c /dev/fuse ]] || fail "fusefile helper or /dev/fuse missing"
	mkdir -p "$T/fuse" || fail "mkdir $T/fuse failed"
	FUSE_HOLD=${1:-}
	env GK_FUSEFILE_BACKING="$T/backing" ${FUSE_HOLD:+GK_FUSEFILE_HOLD="$FUSE_HOLD"} \
		${FUSE_MODE:+GK_FUSEFILE_MODE="$FUSE_MODE"} \
		${FUSE_HOLD_OPEN:+GK_FUSEFILE_HOLD_OPEN="$FUSE_HOLD_OPEN"} \
		${FUSE_HOLD_OPEN_BY:+GK_FUSEFILE_HOLD_OPEN_BY="$FUSE_HOLD_OPEN_BY"} \
		${FUSE_HOLD_FLUSH:+GK_FUSEFILE_HOLD_FLUSH="$FUSE_HOLD_FLUSH"} \
		${FUSE_DIRECT_IO:+GK_FUSEFILE_DIRECT_IO=1} \
		${FUSE_HOLD_LOOKUP:+GK_FUSEFILE_HOLD_LOOKUP="$FUSE_HOLD_LOOKUP"} \
		${FUSE_HOLD_LOOKUP_PROGS:+GK_FUSEFILE_HOLD_LOOKUP_PROGS=1} \
		${FUSE_BACKING9:+GK_FUSEFILE_BACKING9="$FUSE_BACKING9"} \
		${FUSE_SPARE9:+GK_FUSEFILE_HOLD_SPARES9=1} \
		timeout -s KILL 60 "$TOP/fusefile" "$T/fuse" \
		-o "attr_timeout=0,entry_timeout=0${FUSE_ALLOW_OTHER:+,allow_other}" \
		>"$T/fusefile.log" 2>&1 &
	FUSE_PID=$!
	TEST_CLEANUP='[[ -n $FUSE_HOLD ]] && rm -f "$FUSE_HOLD"; [[ -n ${FUSE_HOLD_OPEN:-} ]] && rm -f "$FUSE_HOLD_OPEN"; [[ -n ${FUSE_HOLD_FLUSH:-} ]] && rm -f "$FUSE_HOLD_FLUSH"; [[ -n ${FUSE_HOLD_LOOKUP:-} ]] && rm -f "$FUSE_HOLD_LOOKUP"; mountpoint -q "$T/fuse" && umount -l "$T/fuse"; kill "$FUSE_PID" 2>/dev/null'
	for _ in $(seq 50); do [[ -e $T/fuse/prog ]] && break; sleep 0.1; done
	[[ -e $T/fuse/prog ]] || fail "the FUSE filesystem did not come up: $(head -c 300 "$T/fusefile.log")"
}

# wait_log REGEX: until a line of the daemon's log matches (5 s at most);
# 1 if none did.
wait_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q -- "$1" "$DLOG" && return 0
		sleep 0.1
	done
	return 1
}

mkbin() {
	local f=$BIN/$1
	cp /bin/true "$f" &&
		printf '\ngk-it unique %s %s %s\n' "$f" "$RANDOM" "$(date +%s%N)" >>"$f" &&
		chmod 0755 "$f" || fail "cannot create test binary $f"
}

# mount_ext4 DIR: a fresh ext4 image in $T loop-mounted on DIR, for what a
# tmpfs cannot show (the digest store keeps nothing of a file on tmpfs). It
# goes at teardown (lazily while the daemon holds it; the loop device with
# it).
mount_ext4() {
	local img=$T/ext4-${1//\//_}.img
	command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 missing"
	mkdir -p "$1" && truncate -s 64M "$img" && mkfs.ext4 -q -F "$img" ||
		fail "cannot make an ext4 image for $1"
	mount -o loop "$img" "$1" || fail "cannot loop-mount an ext4 image on $1"
	TEST_CLEANUP="mountpoint -q '$1' && { umount '$1' || umount -l '$1'; }${TEST_CLEANUP:+
$TEST_CLEANUP}"
}

sha_of() {
	sha256sum "$1" | cut -d' ' -f1
}

# start_daemon [EXTRA_ARGS...]: gatekeeperd in the foreground (background
# job) under timeout (GK_IT_DAEMON_LIMIT seconds, default 120), ready when
# `gatekeeper-ctl status` answers. DNICE=N: started at nice N (as the
# unit starts it).
start_daemon() {
	local i rc prefix=()
	need_daemon_bins
	DSTARTS=$((DSTARTS + 1))
	DLOG=$T/daemon.$DSTARTS.log
	[[ -n ${DNICE:-} ]] && prefix=(nice -n "$DNICE")
	# Under the unit's system call filter (run.sh: unit_filter_setup).
	if [[ -n ${GK_IT_SYSCALLS:-} ]]; then
		[[ -f $TOP/sysfilter.failed ]] && fail "$(cat "$TOP/sysfilter.failed")"
		prefix+=("$TOP/sysfilter" "$GK_IT_SYSCALLS")
	fi
	timeout -s KILL "${GK_IT_DAEMON_LIMIT:-120}" "${prefix[@]}" "$GKD" --foreground --policy "$POLICY" --db "$DB" \
		--socket "$SOCK" "$@" >"$DLOG" 2>&1 &
	TPID=$!
	record_pid "$TPID"
	DPID=$(child_of "$TPID") && record_pid "$DPID"
	for ((i = 0; i < 100; i++)); do
		if timeout -s KILL 2 "$CTL" --socket "$SOCK" status >/dev/null 2>&1; then
			return 0
		fi
		if ! alive "$TPID"; then
			wait "$TPID"
			rc=$?
			TPID=""
			fail "gatekeeperd exited ($rc) before it was ready: $(tail -n 3 "$DLOG" | tr '\n' ' ')"
		fi
		sleep 0.1
	done
	fail "gatekeeperd not ready (status did not answer) within 10 s"
}

# umount_settled DIR...: umount each, retrying for up to 2 s while it is
# busy. The daemon closes a permission event's descriptor just after the
# answer that lets the exec return, so an umount right after an exec may
# find the file open for a moment; one held for longer still fails.
umount_settled() {
	local d i
	for d in "$@"; do
		for ((i = 0; i < 20; i++)); do
			umount "$d" 2>/dev/null && continue 2
			sleep 0.1
		done
		umount "$d" || return 1
	done
}

# kill9_daemon: a crash: SIGKILL gatekeeperd and wait until it is gone.
kill9_daemon() {
	[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"
	kill -KILL "$DPID"
	wait_gone "$TPID" 30 || fail "gatekeeperd still alive 3 s after kill -9"
	wait "$TPID" 2>/dev/null
	TPID=""
	DPID=""
}

# stop_daemon: SIGTERM, then SIGKILL; the daemon's exit status lands in DRC.
stop_daemon() {
	DRC=""
	[[ -n $TPID ]] || return 0
	if [[ -n $DPID ]]; then
		kill -TERM "$DPID" 2>/dev/null
	else
		kill -TERM "$TPID" 2>/dev/null # timeout passes it on
	fi
	if ! wait_gone "$TPID" 50; then
		note "gatekeeperd ignored SIGTERM for 5 s; killed"
		[[ -n $DPID ]] && kill -KILL "$DPID" 2>/dev/null
		wait_gone "$TPID" 20 || kill -KILL "$TPID" 2>/dev/null
	fi
	wait "$TPID" 2>/dev/null
	DRC=$?
	TPID=""
	DPID=""
}

ctl() {
	timeout -s KILL 10 "$CTL" --socket "$SOCK" "$@"
}

# decisions_settled: every decision made so far has its log line and audit
# row. The audit writer gathers decisions for up to 10 ms before it logs and
# stores them; `log` first waits for what is queued (the query matches no row).
decisions_settled() {
	ctl log --until @1000000000 >/dev/null 2>&1
}

# ctl_ok ARGS...: run gatekeeper-ctl, fail the test unless it exits 0.
ctl_ok() {
	local out rc
	out=$(ctl "$@" 2>&1)
	rc=$?
	[[ $rc -eq 0 ]] || fail "gatekeeper-ctl $* exited $rc: $out"
	CTL_OUT=$out
}

# exec_result PATH: really exec PATH; prints ran:STATUS, errno:NAME or hung.
exec_result() {
	local out rc
	need_spawner
	out=$(timeout -s KILL 15 "$SPAWNER" exec "$1" 2>/dev/null)
	rc=$?
	if [[ $rc -eq 137 ]]; then
		echo hung
	elif [[ $out == errno=* ]]; then
		echo "errno:${out#errno=}"
	else
		echo "ran:$rc"
	fi
}

expect_runs() {
	local r
	r=$(exec_result "$1")
	[[ $r == ran:0 ]] || fail "${2:-}exec $1: expected it to run (exit 0), got $r"
}

expect_eperm() {
	local r
	r=$(exec_result "$1")
	[[ $r == errno:EPERM ]] || fail "${2:-}exec $1: expected EPERM, got $r"
}

# status_json: one `gatekeeper-ctl --json status` snapshot into STATUS.
status_json() {
	STATUS=$(ctl --json status 2>&1) || fail "gatekeeper-ctl --json status failed: $STATUS"
}

# jget KEY: KEY from the last STATUS snapshot.
jget() {
	"$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' \
		"$STATUS" "$1" 2>/dev/null || fail "no key '$1' in --json status: $STATUS"
}

# jget_or_zero KEY: numeric KEY from the last STATUS snapshot, 0 if absent
# (for counters the spec does not require).
jget_or_zero() {
	"$PY" -c 'import json,sys; print(int(json.loads(sys.argv[1]).get(sys.argv[2], 0)))' \
		"$STATUS" "$1" 2>/dev/null || echo 0
}

# stat_num KEY: a fresh snapshot's numeric KEY.
stat_num() {
	local v
	status_json
	v=$(jget "$1")
	[[ $v =~ ^[0-9]+$ ]] || fail "status $1 is not a number: $v"
	echo "$v"
}

# wait_num_at_least KEY N TENTHS: poll status until KEY >= N; prints KEY.
wait_num_at_least() {
	local i v
	for ((i = 0; i < $3; i++)); do
		v=$(stat_num "$1") || exit 1
		[[ $v -ge $2 ]] && break
		sleep 0.1
	done
	echo "$v"
}

# field_of TEXT KEY: the value of the "KEY: value" line in TEXT.
field_of() {
	printf '%s\n' "$1" | sed -n "s/^$2:[[:space:]]*//p" | head -n 1
}

# expect_sentinel_release PATTERN WHAT: the sentinel's line on the execs it
# released when the daemon went away matches PATTERN. It is written after
# the reply, so it may come a moment after the exec ran.
expect_sentinel_release() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q sentinel_released_on_exit "$DLOG" && break
		sleep 0.02
	done
	grep -q "$1" "$DLOG" ||
		fail "$2: no record of the sentinel's release: $(grep sentinel "$DLOG" | tail -n 3)"
}
