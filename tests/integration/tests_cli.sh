# Control-plane tests: gatekeeper-ctl output and exit codes, privilege
# checks, hostile requests, policy errors and reloads.
# Sourced by run.sh; each t_NAME runs in its own process (see lib.sh).

STATUS_KEYS="mode kernel_mode kernel_mode_why watch events perm_events allows denies
would_deny timeouts pending kernel_hits latency_p50_us latency_p99_us"
STATUS_NUMERIC_KEYS="events perm_events allows denies would_deny timeouts pending
latency_p50_us latency_p99_us"

t_query_shows_verdict_source_sha256() {
	local out v
	mkbin denied
	mkbin unknown
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/denied"
	ctl_ok query "$BIN/denied"
	out=$CTL_OUT
	v=$(field_of "$out" path)
	[[ $v == "$BIN/denied" ]] || fail "query path: '$v' (output: $out)"
	v=$(field_of "$out" sha256)
	[[ $v == "$(sha_of "$BIN/denied")" ]] || fail "query sha256 '$v' != sha256sum $(sha_of "$BIN/denied")"
	v=$(field_of "$out" verdict)
	[[ $v == deny ]] || fail "query verdict after deny: '$v' (output: $out)"
	v=$(field_of "$out" source)
	[[ $v == admin ]] || fail "query source after deny: '$v' (output: $out)"
	local key
	for key in detail decided; do
		printf '%s\n' "$out" | grep -q "^$key:" || fail "query output has no '$key:' line: $out"
	done

	ctl_ok query "$BIN/unknown"
	out=$CTL_OUT
	v=$(field_of "$out" sha256)
	[[ $v == "$(sha_of "$BIN/unknown")" ]] || fail "query sha256 of unknown file '$v' != sha256sum"
	v=$(field_of "$out" verdict)
	[[ $v == allow ]] || fail "query verdict of unknown file under default allow: '$v'"
	v=$(field_of "$out" source)
	[[ -n $v && $v != admin ]] || fail "query source of unknown file: '$v'"
}

# allow/deny of a file: only a regular file is opened to be read (a FIFO
# would wait for a writer); the record names the file opened, not where a
# symlink points; a file someone else can rewrite gets a one-line warning
# (the rule is for its content now, not as the admin reviewed it).
t_ctl_file_checks() {
	local out err rc
	mkbin mine
	mkbin theirs
	mkbin open_to_all
	chown 65534 "$BIN/theirs"
	chmod 0777 "$BIN/open_to_all"
	mkfifo "$T/fifo"
	ln -s "$BIN/mine" "$T/link"
	write_policy enforce allow
	start_daemon
	err=$(ctl allow "$T/fifo" 2>&1 >/dev/null)
	rc=$?
	[[ $rc -eq 2 && $err == *"$T/fifo: not a regular file"* ]] ||
		fail "allow of a FIFO: exit $rc (want 2, not a hang: 137), stderr: $err"
	err=$(ctl deny "$T" 2>&1 >/dev/null)
	[[ $? -eq 2 && $err == *"not a regular file"* ]] || fail "deny of a directory: $err"
	out=$(ctl allow "$T/link" 2>"$T/err")
	[[ $? -eq 0 && ! -s $T/err ]] || fail "allow of root's own file through a symlink: $out $(cat "$T/err")"
	[[ $(field_of "$out" path) == "$BIN/mine" ]] || fail "allow through a symlink: path is not the file's: $out"
	out=$(ctl allow "$BIN/theirs" 2>"$T/err")
	rc=$?
	err=$(cat "$T/err")
	[[ $rc -eq 0 && $(field_of "$out" sha256) == "$(sha_of "$BIN/theirs")" ]] ||
		fail "allow of a file uid 65534 owns: exit $rc: $out $err"
	[[ $(grep -c . "$T/err") -eq 1 && $err == *"warning: $BIN/theirs: its owner, uid 65534, can rewrite it"* ]] ||
		fail "allow of a file uid 65534 owns: want one warning line naming the owner, got: $err"
	err=$(ctl deny "$BIN/open_to_all" 2>&1 >/dev/null)
	[[ $err == *"warning: $BIN/open_to_all: anyone can rewrite it"* ]] ||
		fail "deny of a world-writable file: no warning: $err"
	err=$(ctl query "$BIN/theirs" 2>&1 >/dev/null)
	[[ -z $err ]] || fail "query warns (it sets no rule): $err"
}

t_status_text_fields() {
	local out key v
	write_policy enforce allow
	start_daemon
	ctl_ok status
	out=$CTL_OUT
	for key in $STATUS_KEYS; do
		printf '%s\n' "$out" | grep -q "^$key:" || fail "status has no '$key:' line: $out"
	done
	v=$(field_of "$out" mode)
	[[ $v == enforce ]] || fail "status mode: '$v'"
	v=$(field_of "$out" kernel_mode)
	[[ $v == fanotify ]] || fail "status kernel_mode on this host: '$v' (expected fanotify)"
	v=$(field_of "$out" kernel_hits)
	[[ $v == n/a ]] || fail "status kernel_hits in fanotify mode: '$v' (expected n/a)"
	printf '%s\n' "$out" | grep -qF "$BIN" || fail "status watch does not name $BIN: $out"
}

# The unit's --bpf-after-ready on a host whose kernel refuses BPF LSM (this
# one): the cheap checks at start settle it, nothing loads later.
t_bpf_after_ready_without_bpf_lsm() {
	local out v
	mkbin prog
	write_policy enforce allow
	start_daemon --bpf-after-ready
	ctl_ok status
	out=$CTL_OUT
	v=$(field_of "$out" kernel_mode)
	[[ $v == fanotify ]] || fail "--bpf-after-ready: kernel_mode '$v' (expected fanotify)"
	v=$(field_of "$out" kernel_mode_why)
	[[ $v == *"refused by the kernel (EPERM)"* ]] || fail "--bpf-after-ready: kernel_mode_why '$v'"
	"$BIN/prog" || fail "an allowed program did not run"
	sleep 1
	! grep -q kernel_mode_changed "$DLOG" || fail "a load after ready ran: $(cat "$DLOG")"
}

t_json_output_parses() {
	local key
	mkbin prog
	write_policy enforce allow
	start_daemon
	status_json
	printf '%s' "$STATUS" | "$PY" -c 'import json,sys; json.load(sys.stdin)' ||
		fail "--json status is not JSON: $STATUS"
	for key in $STATUS_KEYS; do
		jget "$key" >/dev/null || exit 1
	done
	"$PY" - "$STATUS" "$STATUS_NUMERIC_KEYS" <<-'EOF' || fail "--json status numbers: $STATUS"
		import json, sys
		obj = json.loads(sys.argv[1])
		bad = [k for k in sys.argv[2].split()
		       if not isinstance(obj[k], int) or isinstance(obj[k], bool)]
		sys.exit(1 if bad else 0)
	EOF
	ctl_ok --json query "$BIN/prog"
	printf '%s' "$CTL_OUT" | "$PY" -c '
import json, sys
obj = json.load(sys.stdin)
sys.exit(0 if obj["sha256"] == sys.argv[1] and obj["verdict"] == "allow" else 1)' \
		"$(sha_of "$BIN/prog")" || fail "--json query: not JSON or wrong sha256/verdict: $CTL_OUT"
	ctl_ok --json policy show
	printf '%s' "$CTL_OUT" | "$PY" -c 'import json,sys; json.load(sys.stdin)' ||
		fail "--json policy show is not JSON: $CTL_OUT"
}

# check_exit WANT DESCRIPTION CMD...: run CMD, record a mismatch in BAD.
check_exit() {
	local want=$1 what=$2 err rc
	shift 2
	err=$(timeout -s KILL 10 "$@" 2>&1 >/dev/null)
	rc=$?
	if [[ $rc -ne $want ]]; then
		BAD+=("$what: exit $rc, expected $want (stderr: ${err:0:200})")
	elif [[ $want -ne 0 ]]; then
		local lines
		lines=$(printf '%s' "$err" | grep -c .)
		[[ $lines -ge 1 ]] || BAD+=("$what: no error message on stderr")
	fi
	LAST_ERR=$err
}

t_ctl_exit_codes() {
	local BAD=() lines
	write_policy enforce allow
	start_daemon
	check_exit 1 "deny /no/such/file" "$CTL" --socket "$SOCK" deny /no/such/file
	lines=$(printf '%s\n' "$LAST_ERR" | grep -c .)
	[[ $lines -eq 1 ]] || BAD+=("deny /no/such/file: error is $lines lines, expected 1: $LAST_ERR")
	[[ $LAST_ERR == */no/such/file* ]] || BAD+=("deny /no/such/file: error does not name the path: $LAST_ERR")
	check_exit 3 "status on a missing socket" "$CTL" --socket "$T/absent.sock" status
	check_exit 3 "deny on a missing socket" "$CTL" --socket "$T/absent.sock" deny "$POLICY"
	check_exit 2 "no command" "$CTL" --socket "$SOCK"
	check_exit 2 "unknown command" "$CTL" --socket "$SOCK" frobnicate
	check_exit 2 "deny without PATH" "$CTL" --socket "$SOCK" deny
	check_exit 2 "unknown option" "$CTL" --socket "$SOCK" --no-such-option status
	check_exit 2 "policy without subcommand" "$CTL" --socket "$SOCK" policy
	check_exit 0 "status" "$CTL" --socket "$SOCK" status
	if [[ ${#BAD[@]} -gt 0 ]]; then
		printf '%s\n' "${BAD[@]}" >>"$T/.reason"
		exit 1
	fi
}

# nobody_ctl ARGS...: gatekeeper-ctl as uid/gid 65534 with no groups.
nobody_ctl() {
	timeout -s KILL 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$TOP/ctl-nobody" --socket "$SOCK" "$@"
}

t_nonroot_client_refused() {
	local rc err
	[[ -x $TOP/ctl-nobody ]] || fail "no copy of gatekeeper-ctl for the unprivileged user"
	mkbin open
	mkbin closed
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/closed"

	# The daemon's own socket permissions must already keep nobody out.
	err=$(nobody_ctl deny "$BIN/open" 2>&1)
	rc=$?
	[[ $rc -ne 0 ]] || fail "non-root deny succeeded on the socket as created: $err"
	expect_runs "$BIN/open" "after non-root deny (socket as created): "

	# With the socket opened up, SO_PEERCRED is what must refuse.
	chmod 0666 "$SOCK" || fail "chmod socket failed"
	err=$(nobody_ctl deny "$BIN/open" 2>&1)
	rc=$?
	[[ $rc -eq 1 ]] || fail "non-root deny via 0666 socket: exit $rc, expected 1: $err"
	[[ $(printf '%s\n' "$err" | grep -c .) -eq 1 ]] || fail "non-root refusal is not one line: $err"
	expect_runs "$BIN/open" "after refused non-root deny: "
	err=$(nobody_ctl allow "$BIN/closed" 2>&1)
	rc=$?
	[[ $rc -eq 1 ]] || fail "non-root allow via 0666 socket: exit $rc, expected 1: $err"
	err=$(nobody_ctl forget "$BIN/closed" 2>&1)
	rc=$?
	[[ $rc -eq 1 ]] || fail "non-root forget via 0666 socket: exit $rc, expected 1: $err"
	expect_eperm "$BIN/closed" "after refused non-root allow/forget: "
	err=$(nobody_ctl policy apply "$POLICY" 2>&1)
	rc=$?
	[[ $rc -eq 1 ]] || fail "non-root policy apply via 0666 socket: exit $rc, expected 1: $err"
}

t_bad_control_requests_survived() {
	local kind out
	write_policy enforce allow
	start_daemon
	for kind in big-noeol big-line garbage nul-line partial unknown-verb; do
		out=$(timeout -s KILL 15 "$PY" "$HERE/rawreq.py" "$SOCK" "$kind" 2>&1) ||
			fail "raw request '$kind': $out"
		alive "$DPID" || fail "gatekeeperd died after raw request '$kind' ($out)"
		ctl status >/dev/null 2>&1 ||
			fail "gatekeeperd stopped answering status after raw request '$kind' ($out)"
	done
}

# expect_policy_error WANT_LINE WANT_COL FILE MESSAGE_WORD CMD...: CMD exits 2
# with "FILE:LINE:COL: message" on stderr (LINE/COL "" = any number).
expect_policy_error() {
	local line=${1:-[0-9]+} col=${2:-[0-9]+} file=$3 word=$4 err rc
	local shown="$3:${1:-LINE}:${2:-COL}: message"
	shift 4
	err=$(timeout -s KILL 10 "$@" 2>&1 >/dev/null)
	rc=$?
	[[ $rc -ne 124 && $rc -ne 137 ]] || fail "$* kept running with a bad policy (killed after 10 s)"
	[[ $rc -eq 2 ]] || fail "$*: exit $rc, expected 2 (stderr: $err)"
	local re="^${file//./\\.}:${line}:${col}: .+"
	printf '%s\n' "$err" | grep -Eq "$re" ||
		fail "$*: no '$shown' line on stderr: $err"
	[[ -z $word ]] || printf '%s\n' "$err" | grep -q "$word" ||
		fail "$*: error does not mention '$word': $err"
}

write_malformed_policy() {
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: [allow\n' "$BIN" >"$1"
}

write_unknown_key_policy() {
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: allow\nfrobnicate: yes\n' "$BIN" >"$1"
}

# daemon_refuses FILE LINE COL WORD: gatekeeperd exits 2 and never starts.
daemon_refuses() {
	need_daemon_bins
	expect_policy_error "$2" "$3" "$1" "$4" \
		"$GKD" --foreground --policy "$1" --db "$DB" --socket "$SOCK"
	[[ ! -e $SOCK ]] || fail "gatekeeperd left a socket behind after refusing $1"
}

t_malformed_yaml_refused() {
	write_malformed_policy "$T/malformed.yaml"
	daemon_refuses "$T/malformed.yaml" "" "" ""
}

t_unknown_policy_key_refused() {
	write_unknown_key_policy "$T/unknown-key.yaml"
	daemon_refuses "$T/unknown-key.yaml" 5 1 frobnicate
}

t_daemon_usage_error() {
	local err rc
	need_daemon_bins
	write_policy enforce allow
	err=$(timeout -s KILL 10 "$GKD" --foreground --no-such-option --policy "$POLICY" \
		--db "$DB" --socket "$SOCK" 2>&1)
	rc=$?
	[[ $rc -eq 2 ]] || fail "gatekeeperd --no-such-option: exit $rc, expected 2: ${err:0:300}"
	[[ ! -e $SOCK ]] || fail "gatekeeperd left a socket behind after a usage error"
}

t_policy_check_good_and_bad() {
	local out rc
	need_ctl
	write_policy enforce deny "on_error: deny" "decision_timeout_ms: 2000" \
		"rules:" "  - {path: $BIN/trusted, action: allow}" \
		"  - {sha256: $(printf '%064d' 0), action: deny}"
	out=$(timeout -s KILL 10 "$CTL" --socket "$T/absent.sock" policy check "$POLICY" 2>&1)
	rc=$?
	[[ $rc -eq 0 ]] || fail "policy check of a good policy (no daemon running): exit $rc: $out"
	write_malformed_policy "$T/malformed.yaml"
	expect_policy_error "" "" "$T/malformed.yaml" "" \
		"$CTL" --socket "$T/absent.sock" policy check "$T/malformed.yaml"
	write_unknown_key_policy "$T/unknown-key.yaml"
	expect_policy_error 5 1 "$T/unknown-key.yaml" frobnicate \
		"$CTL" --socket "$T/absent.sock" policy check "$T/unknown-key.yaml"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: maybe\n' "$BIN" >"$T/bad-value.yaml"
	expect_policy_error 4 "" "$T/bad-value.yaml" "" \
		"$CTL" --socket "$T/absent.sock" policy check "$T/bad-value.yaml"
	# a watch path that is gone: the daemon would refuse to start with it
	# (the package's upgrade check relies on this), and says the same
	printf 'mode: enforce\nwatch:\n  - %s\n  - %s\ndefault: deny\n' "$BIN" "$T/gone" >"$T/gone.yaml"
	out=$(timeout -s KILL 10 "$CTL" --socket "$T/absent.sock" policy check "$T/gone.yaml" 2>&1)
	rc=$?
	[[ $rc -eq 2 && $out == "$T/gone.yaml: watch $T/gone: No such file or directory" ]] ||
		fail "policy check of a policy watching a missing path: exit $rc: $out"
	out=$(timeout -s KILL 10 "$GKD" --foreground --policy "$T/gone.yaml" --db "$DB" \
		--socket "$SOCK" 2>&1)
	rc=$?
	[[ $rc -eq 2 && $out == *"$T/gone.yaml: watch $T/gone: No such file or directory"* ]] ||
		fail "gatekeeperd with a policy watching a missing path: exit $rc: ${out:0:300}"
}

t_policy_apply_bad_changes_nothing() {
	mkbin first
	mkbin second
	write_policy enforce allow
	start_daemon
	write_unknown_key_policy "$T/unknown-key.yaml"
	expect_policy_error 5 1 "$T/unknown-key.yaml" frobnicate \
		"$CTL" --socket "$SOCK" policy apply "$T/unknown-key.yaml"
	expect_runs "$BIN/first" "after a refused policy apply: "
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\n' "$BIN" >"$T/deny.yaml"
	ctl_ok policy apply "$T/deny.yaml"
	expect_eperm "$BIN/second" "unknown file after applying default deny: "
	ctl_ok policy show
	printf '%s\n' "$CTL_OUT" | grep -q 'default: deny' ||
		fail "policy show does not show the applied policy: $CTL_OUT"
}

t_sighup_reloads_policy() {
	local i r
	mkbin prog
	write_policy enforce allow
	start_daemon
	[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"
	write_policy enforce deny
	kill -HUP "$DPID"
	for ((i = 0; i < 30; i++)); do
		ctl policy show 2>/dev/null | grep -q 'default: deny' && break
		sleep 0.1
	done
	alive "$DPID" || fail "gatekeeperd died on SIGHUP"
	r=$(exec_result "$BIN/prog")
	[[ $r == errno:EPERM ]] || fail "unknown file after SIGHUP reload to default deny: $r"
}

# Applies run one at a time: a SIGHUP that arrives while a control apply is
# still loading its scanners waits for it, and its policy (the later one)
# is the one in force; neither apply builds on what the other frees.
t_sighup_waits_for_control_apply() {
	local i t0 t1 ms apid rc out
	write_policy enforce allow
	start_daemon
	[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"
	timeout -s KILL 60 "$PY" -c 'import os, sys
with open(sys.argv[1], "w") as f:
    for _ in range(40):
        f.write("".join(os.urandom(32).hex() + "\n" for _ in range(25000)))' "$T/big.list" ||
		fail "cannot write the hash list"
	cp "$POLICY" "$T/a.yaml"
	printf 'scanners:\n  hashlist: {files: [%s]}\n' "$T/big.list" >>"$T/a.yaml"
	t0=$(date +%s%N)
	ctl_ok policy apply "$T/a.yaml"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	((ms >= 400)) || fail "the hash list loads in $ms ms: too fast to overlap a SIGHUP"
	ctl_ok policy apply "$POLICY"   # back to no scanner: the next apply loads again
	write_policy enforce deny        # what SIGHUP reads
	timeout -s KILL 30 "$CTL" --socket "$SOCK" policy apply "$T/a.yaml" >"$T/apply.out" 2>&1 &
	apid=$!
	# The apply holds the hash list open while it loads it, under apply_lock:
	# only then may the SIGHUP come.
	for ((i = 0; i < 2000; i++)); do
		ls -l /proc/"$DPID"/fd 2>/dev/null | grep -qF "$T/big.list" && break
		kill -0 "$apid" 2>/dev/null || fail "the control apply ended before its load was seen"
		sleep 0.005
	done
	((i < 2000)) || fail "the control apply never opened the hash list"
	kill -HUP "$DPID"
	wait "$apid"
	rc=$?
	[[ $rc -eq 0 ]] || fail "control apply beside SIGHUP exited $rc: $(head -c 300 "$T/apply.out")"
	for ((i = 0; i < 100; i++)); do
		[[ $(grep -c '^policy_applied ' "$DLOG") -ge 4 ]] && break
		sleep 0.1
	done
	alive "$DPID" || fail "gatekeeperd died"
	out=$(grep '^policy_applied ' "$DLOG" | tail -n 2)
	[[ $(grep -c . <<<"$out") -eq 2 && $(tail -n 1 <<<"$out") == *"policy=\"$POLICY\""* ]] ||
		fail "the SIGHUP reload did not apply after the control apply: $out"
	ctl policy show 2>/dev/null | cmp -s - "$POLICY" ||
		fail "the policy in force is not the one SIGHUP read: $(ctl policy show 2>&1 | head -c 300)"
}

# A file too large to hash over the control socket (sparse, 100 TiB) is
# refused at once with one line naming it; the daemon goes on answering.
t_huge_file_refused_at_once() {
	local cmd out rc t0 ms
	mkbin small
	truncate -s 100T "$T/huge" || fail "cannot make a sparse 100 TiB file"
	write_policy enforce allow
	start_daemon
	for cmd in allow deny forget query; do
		t0=$(date +%s%N)
		out=$(ctl "$cmd" "$T/huge" 2>&1)
		rc=$?
		ms=$((($(date +%s%N) - t0) / 1000000))
		[[ $rc -eq 1 && $(grep -c . <<<"$out") -eq 1 && $out == *"$T/huge"*"too large to hash"* ]] ||
			fail "$cmd of a 100 TiB file: exit $rc: $out"
		((ms < 2000)) || fail "$cmd of a 100 TiB file took $ms ms to refuse"
	done
	ctl_ok allow "$BIN/small"
	ctl_ok status
}

# admin_group A, then B (apply), A (SIGHUP), B (restart), then none: the
# socket and its directory follow, so the current group's members can
# connect (the old group's no longer), and at the end only root can.
t_admin_group_change_moves_access() {
	local i dir=$T/run
	[[ -x $TOP/ctl-nobody ]] || fail "no copy of gatekeeper-ctl for the unprivileged user"
	getent group staff >/dev/null && getent group users >/dev/null ||
		fail "needs the groups staff and users"
	SOCK=$dir/gk.sock
	write_policy enforce allow "admin_group: staff"
	start_daemon
	expect_access "$dir" "$SOCK" "root:staff 750" "root:staff 660" "at start"
	group_ctl 50 status >/dev/null 2>&1 || fail "a member of staff cannot connect at start"
	# A stream outlives the request that the check let in: a staff
	# member's log -f must end with the apply, root's must not.
	local staff_log root_log
	group_ctl 50 log -f >"$T/staff.log" 2>&1 &
	staff_log=$!
	timeout -s KILL 20 "$CTL" --socket "$SOCK" log -f >"$T/root.log" 2>&1 &
	root_log=$!
	for ((i = 0; i < 50; i++)); do
		[[ $(ctl status | sed -n 's/^subscribers: *//p') == 2* ]] && break
		sleep 0.1
	done
	[[ $(ctl status | sed -n 's/^subscribers: *//p') == 2* ]] ||
		fail "the two log -f streams did not start: $(ctl status | grep subscribers) $(cat "$T/staff.log" "$T/root.log")"
	write_policy enforce allow "admin_group: users"
	ctl_ok policy apply "$POLICY"
	expect_access "$dir" "$SOCK" "root:users 750" "root:users 660" "after apply to users"
	for ((i = 0; i < 30; i++)); do
		kill -0 "$staff_log" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$staff_log" 2>/dev/null && fail "a staff member's log -f still streams after the apply to users"
	kill -0 "$root_log" 2>/dev/null || fail "root's log -f ended with the apply: $(cat "$T/root.log")"
	kill "$root_log" 2>/dev/null
	wait "$staff_log" "$root_log" 2>/dev/null
	group_ctl 100 status >/dev/null 2>&1 || fail "a member of users cannot connect after the apply"
	group_ctl 50 status >/dev/null 2>&1 && fail "a member of staff still connects after the apply"
	write_policy enforce allow "admin_group: staff"
	kill -HUP "$DPID"
	for ((i = 0; i < 50; i++)); do
		[[ $(stat -c %G "$dir") == staff ]] && break
		sleep 0.1
	done
	expect_access "$dir" "$SOCK" "root:staff 750" "root:staff 660" "after SIGHUP to staff"
	stop_daemon   # the directory keeps staff; a restart with users takes it over
	write_policy enforce allow "admin_group: users"
	start_daemon
	expect_access "$dir" "$SOCK" "root:users 750" "root:users 660" "after a restart with users"
	group_ctl 100 status >/dev/null 2>&1 || fail "a member of users cannot connect after the restart"
	write_policy enforce allow
	ctl_ok policy apply "$POLICY"
	expect_access "$dir" "$SOCK" "root:root 700" "root:root 600" "without admin_group"
	group_ctl 50 status >/dev/null 2>&1 && fail "a member of staff connects without admin_group"
	return 0
}

# A command that may not run beside another waits for its turn in the
# queue, not in one of the four workers. A query of a file whose FUSE
# server stopped answering reads hashes and waits; four allows of ordinary
# files wait for their turn behind it; status still answers, and all five
# finish once reads answer. (One FUSE file only: a second open of it would
# wait in the kernel, behind the first read, before reaching the daemon.)
t_slow_commands_leave_status_answering() {
	local i rc pids=()
	cp /bin/true "$T/backing" && : >"$T/hold" || fail "setup failed"
	mount_fusefile "$T/hold"
	write_policy enforce allow
	start_daemon
	timeout -s KILL 30 "$CTL" --socket "$SOCK" query "$T/fuse/prog" >"$T/q1" 2>&1 &
	pids+=("$!")
	sleep 1   # the query is hashing, held by the server
	for i in 2 3 4 5; do
		mkbin "ok$i"
		timeout -s KILL 30 "$CTL" --socket "$SOCK" allow "$BIN/ok$i" >"$T/q$i" 2>&1 &
		pids+=("$!")
	done
	sleep 1   # the allows wait for their turn
	for i in 1 2 3 4 5; do
		kill -0 "${pids[i - 1]}" 2>/dev/null ||
			fail "request $i did not wait for the stalled read: $(head -c 300 "$T/q$i")"
	done
	timeout -s KILL 5 "$CTL" --socket "$SOCK" status >"$T/status" 2>&1 ||
		fail "status did not answer while five commands waited on a stalled read: $(head -c 200 "$T/status")"
	rm -f "$T/hold"
	for i in 1 2 3 4 5; do
		wait "${pids[i - 1]}"
		rc=$?
		[[ $rc -eq 0 ]] || fail "request $i exited $rc once reads answered: $(head -c 300 "$T/q$i")"
	done
}

# At boot a group served by a directory service may not resolve yet: the
# daemon gates anyway, its socket root's alone, and says why in its log.
# An apply that still names the group is refused, naming it.
t_unresolved_admin_group_at_start_gates() {
	local out
	mkbin prog
	write_policy enforce allow "admin_group: gk-no-such-group"
	start_daemon
	[[ $(stat -c '%U:%G %a' "$SOCK") == "root:root 600" ]] ||
		fail "socket with an unresolved admin_group: $(stat -c '%U:%G %a' "$SOCK"), want root:root 600"
	grep -q "admin_group 'gk-no-such-group': no such group; the control socket is root's alone" "$DLOG" ||
		fail "no warning naming the group in the log: $(tail -n 5 "$DLOG")"
	ctl_ok deny "$BIN/prog"
	expect_eperm "$BIN/prog" "gating with the group unresolved: "
	out=$(ctl policy apply "$POLICY" 2>&1) && fail "an apply naming an unknown group was accepted: $out"
	[[ $out == *"gk-no-such-group': no such group"* ]] || fail "apply error does not name the group: $out"
}

# group_ctl GID ARGS...: gatekeeper-ctl as nobody with the one extra group.
group_ctl() {
	local gid=$1
	shift
	timeout -s KILL 10 setpriv --reuid=65534 --regid=65534 --groups="$gid" \
		"$TOP/ctl-nobody" --socket "$SOCK" "$@"
}

# expect_access DIR SOCK DIR_WANT SOCK_WANT WHEN: "owner:group octal-mode".
expect_access() {
	local d s
	d=$(stat -c '%U:%G %a' "$1") s=$(stat -c '%U:%G %a' "$2")
	[[ $d == "$3" && $s == "$4" ]] ||
		fail "$5: directory $d (want $3), socket $s (want $4)"
}

# Issue 12 item 6: 2,000 garbage requests of up to 2 MB, 200 idle and 50
# half-sent connections held open; meanwhile status answers within 1 s and
# real execs keep being answered (allowed ones run, denied ones get EPERM).
t_control_flood_keeps_serving() {
	local out
	need_spawner
	mkbin ok
	mkbin bad
	write_policy enforce allow
	start_daemon
	ctl_ok deny "$BIN/bad"
	expect_eperm "$BIN/bad" "before the flood: "
	out=$(timeout -s KILL 240 "$PY" "$HERE/flood.py" "$SOCK" "$CTL" "$SPAWNER" \
		"$BIN/ok" "$BIN/bad" 2>&1) || fail "flood.py failed: ${out:0:600}"
	note "flood: $out"
	alive "$DPID" || fail "gatekeeperd died under the flood"
	"$PY" - "$out" <<'PYEOF' || fail "under the flood: $out"
import json, sys
r = json.loads(sys.argv[1])
bad = []
if r["sent"] + r["connect_failed"] != 2000 or r["connect_failed"]:
    bad.append("garbage sent %d, connect failures %d" % (r["sent"], r["connect_failed"]))
if r["status_calls"] < 3 or r["status_failed"]:
    bad.append("status: %d calls, %d failed" % (r["status_calls"], r["status_failed"]))
if r["status_max_s"] >= 1.0:
    bad.append("status took %.2f s" % r["status_max_s"])
if r["exec_wrong"] or r["execs"] < 6:
    bad.append("execs %d, wrong %s" % (r["execs"], r["exec_wrong"]))
if r["held_errors"] or r["held_reopened"] < 250:
    bad.append("held connections: %d reopened (the daemon's deadlines close each one), %d failed to open"
               % (r["held_reopened"], r["held_errors"]))
if bad:
    print("; ".join(bad), file=sys.stderr)
    sys.exit(1)
PYEOF
	local t0 t1
	t0=$(date +%s%N)
	ctl_ok status
	t1=$(date +%s%N)
	(((t1 - t0) / 1000000 < 1000)) || fail "status after the flood took $(((t1 - t0) / 1000000)) ms"
	expect_runs "$BIN/ok" "after the flood: "
	expect_eperm "$BIN/bad" "after the flood: "
}

# Issue 12 item 6: 1,000 generated malformed policies; each is refused by
# policy check and policy apply (exit 2, FILE:LINE:COLUMN), and no refused
# apply changes the running policy (policy show, with its applied time, is
# the same before, every 100 files, and after). Enforcement goes on.
t_malformed_policies_1000_refused() {
	local kinds out verb limit
	mkbin prog
	mkbin bad
	write_policy enforce allow
	mkdir "$T/bad" || fail "mkdir"
	kinds=$("$PY" "$HERE/bad_policies.py" gen "$T/bad" 1000 "$BIN" 2>&1) ||
		fail "generator failed: $kinds"
	note "generated: $kinds"
	# check needs no daemon, so it runs first; the applies (and their daemon,
	# given more than the usual 120 s on a loaded host) come after
	for verb in check apply; do
		[[ $verb == apply ]] && GK_IT_DAEMON_LIMIT=235 start_daemon && ctl_ok deny "$BIN/bad"
		limit=200
		[[ $verb == apply ]] && limit=220
		out=$(timeout -s KILL "$limit" \
			"$PY" "$HERE/bad_policies.py" "$verb" "$T/bad" "$CTL" "$SOCK" 2>&1) ||
			fail "policy $verb of the malformed policies: ${out:0:600}"
		note "$out"
		"$PY" - "$out" <<'PYEOF' || fail "malformed policies: ${out:0:1500}"
import json, sys
r = json.loads(sys.argv[1])
sys.exit(0 if r["files"] == 1000 and not r["wrong"] and r["show_changed"] == 0 else 1)
PYEOF
	done
	expect_runs "$BIN/prog" "after 1,000 refused policies: "
	expect_eperm "$BIN/bad" "after 1,000 refused policies: "
}

# Issue 12 item 6: paths with newlines, tabs, quotes, invalid UTF-8 and
# 4,095-byte names, really executed (every exec a miss: no kernel cache),
# come out escaped in the log (each line parses, each path decodes back to
# its bytes, nothing forged), as valid JSON (--json query), and exact in the
# audit table.
t_hostile_paths_escaped() {
	local out
	need_spawner
	write_policy enforce allow "audit:" "  log_allows: true"
	start_daemon --no-kernel-cache
	out=$(timeout -s KILL 100 "$PY" "$HERE/hostile_paths.py" "$BIN" "$SPAWNER" "$CTL" \
		"$SOCK" "$DB" "$DLOG" 2>&1) || fail "hostile paths: ${out:0:1500}"
	note "$out"
	alive "$DPID" || fail "gatekeeperd died"
}

# gatekeeper-ctl policy check: every error is one line that shows no control
# character, C1 control, line or paragraph separator or byte that is not
# UTF-8 raw, whether it comes from the file's name (here: a newline, U+2028,
# NEL, 0xff, ESC) or from a quoted value; a watch path holding U+2028 or NEL
# is refused at its line.
t_policy_messages_one_safe_line() {
	local name out rc
	need_ctl
	name=$(printf '%s/p\nverdict=allow\xe2\x80\xa8x\xc2\x85y\xff\x1b[8m.yaml' "$T")
	printf '%s\n' 'mode: "en\Lfor\Nce"' 'watch: ["/tmp/a\Lb", "/tmp/c\Nd"]' \
		'default: allow' >"$name" || fail "cannot write the policy"
	out=$(timeout -s KILL 10 "$CTL" --socket "$T/absent.sock" policy check "$name" 2>&1)
	rc=$?
	[[ $rc -eq 2 ]] || fail "policy check: exit $rc, expected 2: ${out:0:600}"
	"$PY" - "$name" "$out" <<'PYEOF' || fail "policy check output: ${out:0:900}"
import os, re, sys
name, out = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
lines = out.split(b"\n")
if len(lines) != 3:
    sys.exit("%d lines, expected one per error (3): %r" % (len(lines), out))
raw = re.compile(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")
# every non-ASCII byte of this name is one to escape
shown = re.sub(rb"[\x00-\x1f\x7f\x80-\xff]", lambda m: b"\\x%02x" % m.group()[0], name)
for line in lines:
    if raw.search(line) or not line.decode("utf-8", "strict"):
        sys.exit("raw bytes in %r" % line)
want = [b":1:7: ", b":2:9: ", b":2:22: "]
for line, loc in zip(lines, want):
    if not line.startswith(shown + loc):
        sys.exit("%r does not start with %r" % (line, shown + loc))
if b"'en\\xe2\\x80\\xa8for\\xc2\\x85ce'" not in lines[0]:
    sys.exit("the mode value is not shown escaped: %r" % lines[0])
for line, path in zip(lines[1:], (b"/tmp/a\\xe2\\x80\\xa8b", b"/tmp/c\\xc2\\x85d")):
    if b"watch path '" + path + b"' contains a control character or line separator" not in line:
        sys.exit("not refused as it should be: %r" % line)
PYEOF
	note "$(printf '%s' "$out" | head -n 1 | cut -c1-300)"
}

# The live decision stream (`subscribe`, for gatekeeper-ctl top and log -f):
# a header record, then one record per decision with every key; the stream
# ends when the daemon stops, and a non-root client is refused.
t_subscribe_streams_decisions() {
	local out
	need_spawner
	mkbin ok
	mkbin bad
	write_policy enforce allow
	start_daemon --no-kernel-cache
	ctl_ok deny "$BIN/bad"
	out=$(timeout -s KILL 30 "$PY" "$HERE/subscribe.py" "$SOCK" "$SPAWNER" "$BIN/ok" "$BIN/bad" 2>&1) ||
		fail "subscribe: ${out:0:800}"
	note "$out"
	chmod 0666 "$SOCK"   # let nobody reach SO_PEERCRED
	out=$(timeout -s KILL 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$PY" -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"subscribe\n")
print(s.recv(4096).decode())' "$SOCK" 2>&1)
	[[ $out == *"n ok 0"*"permission denied"* ]] || fail "non-root subscribe was not refused: $out"
}
