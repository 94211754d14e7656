# Operators' tools on a real daemon: metrics (promtool), the metrics
# textfile, the audit log, policy suggest, top.
# Sourced by run.sh before its GK_IT_ONLY filter: this file adds its own
# entries to TESTS; each t_NAME runs in its own process (see lib.sh).

TESTS+=(
	metrics_promtool_and_values:40
	metrics_textfile_atomic_updates:40
	log_filters_and_order:60
	log_follow_fake_server:40
	query_never_run_file:40
	policy_suggest_monitor_to_enforce:60
	policy_suggest_merges_any_rules_shape:60
	top_under_tmux:60
	top_batch_snapshots:40
	log_follow_live:60
	top_live_tmux:60
)

need_promtool() {
	command -v promtool >/dev/null || fail "promtool not found (Debian's prometheus package; packaging/install-deps.sh)"
}

# metric_value FILE NAME{LABELS}: the sample's value.
metric_value() {
	awk -v k="$2" '$1 == k { print $2; found = 1 } END { exit !found }' "$1"
}

t_metrics_promtool_and_values() {
	local out v i
	need_promtool
	mkbin ok1
	mkbin bad1
	write_policy enforce allow
	start_daemon --no-kernel-cache
	ctl_ok deny "$BIN/bad1"
	for i in 1 2 3; do
		expect_runs "$BIN/ok1"
		expect_eperm "$BIN/bad1"
	done
	ctl metrics >"$T/m.prom" 2>"$T/m.err" || fail "gatekeeper-ctl metrics failed: $(cat "$T/m.err")"
	out=$(promtool check metrics <"$T/m.prom" 2>&1) || fail "promtool check metrics: $out"
	[[ -z $out ]] || fail "promtool check metrics has remarks: $out"
	v=$(metric_value "$T/m.prom" 'gatekeeper_decisions_total{verdict="deny"}') || fail "no deny counter: $(head -c 600 "$T/m.prom")"
	[[ $v == 3 ]] || fail "decisions_total{deny}=$v after 3 denied execs"
	v=$(metric_value "$T/m.prom" 'gatekeeper_decisions_total{verdict="allow"}')
	[[ $v -ge 3 ]] || fail "decisions_total{allow}=$v after 3 allowed execs"
	v=$(metric_value "$T/m.prom" gatekeeper_decision_latency_seconds_count)
	[[ $v -ge 6 ]] || fail "latency histogram count $v < 6 decisions"
	[[ $(metric_value "$T/m.prom" 'gatekeeper_decision_latency_seconds_bucket{le="+Inf"}') == "$v" ]] ||
		fail "latency +Inf bucket differs from _count"
	# Buckets are cumulative: never decreasing.
	awk '/^gatekeeper_decision_latency_seconds_bucket/ { if ($2 < last) bad = 1; last = $2 } END { exit bad }' \
		"$T/m.prom" || fail "latency buckets decrease: $(grep _bucket "$T/m.prom" | tr '\n' ' ')"
	for v in gatekeeper_queue_depth gatekeeper_scan_seconds_total gatekeeper_scans_total \
		gatekeeper_kernel_cache_ignore_marks_total gatekeeper_info \
		gatekeeper_digest_store_hits_total gatekeeper_digest_store_misses_total; do
		grep -q "^$v" "$T/m.prom" || fail "no $v in the metrics"
	done
	[[ $(metric_value "$T/m.prom" gatekeeper_digest_store_read) == 1 ]] ||
		fail "gatekeeper_digest_store_read is not 1: $(grep digest_store "$T/m.prom" | tr '\n' ' ')"
	ctl --json metrics | "$PY" -c 'import json,sys; assert "gatekeeper_info" in json.load(sys.stdin)["text"]' ||
		fail "--json metrics is not JSON carrying the text"
}

# textfile_record_is WANT WHAT: within 3 s the daemon's list of the
# textfiles it wrote (beside the store) reads WANT. The path goes on it just
# after the textfile's rename, so a written file alone does not mean it is
# there yet.
textfile_record_is() {
	local i
	for ((i = 0; i < 30; i++)); do
		[[ $(cat "$DB.metrics-textfiles" 2>/dev/null) == "$1" ]] && return 0
		sleep 0.1
	done
	fail "$2: $(cat "$DB.metrics-textfiles" 2>&1)"
}

t_metrics_textfile_atomic_updates() {
	local out v i prom=$T/textfile/gatekeeper.prom
	need_promtool
	mkdir -p "$T/textfile"
	mkbin ok1
	write_policy enforce allow "metrics: {textfile: $prom, interval_s: 1}"
	start_daemon
	for ((i = 0; i < 30; i++)); do
		[[ -s $prom ]] && break
		sleep 0.1
	done
	[[ -s $prom ]] || fail "no textfile $prom 3 s after the start"
	out=$(promtool check metrics <"$prom" 2>&1) && [[ -z $out ]] || fail "promtool on the textfile: $out"
	v=$(metric_value "$prom" gatekeeper_permission_events_total)
	expect_runs "$BIN/ok1"
	for ((i = 0; i < 30; i++)); do
		[[ $(metric_value "$prom" gatekeeper_permission_events_total) -gt $v ]] && break
		sleep 0.1
	done
	[[ $i -lt 30 ]] || fail "the textfile did not follow an exec within 3 s (still $v events)"
	ls "$T/textfile" | grep -qv '^gatekeeper.prom$' && fail "left behind: $(ls "$T/textfile")"
	# On record beside the store, once, for the package's purge to remove.
	textfile_record_is "$prom" "textfile record"
	write_policy enforce allow "metrics: {textfile: $T/textfile/other.prom, interval_s: 1}"
	ctl_ok policy apply "$POLICY"
	textfile_record_is "$prom"$'\n'"$T/textfile/other.prom" "textfile record after a new path"
	rm -f "$T/textfile/other.prom"
	# A policy without metrics: the file is no longer rewritten.
	write_policy enforce allow
	ctl_ok policy apply "$POLICY"
	sleep 1.2
	v=$(stat -c %y "$prom" 2>/dev/null)
	sleep 1.5
	[[ $(stat -c %y "$prom") == "$v" ]] || fail "textfile still rewritten after metrics: was removed"
}

# log_wait_rows N [ARGS]: wait (up to 5 s) until `log ARGS` prints N lines
# (the audit writer commits in batches); LOG_OUT holds the output.
log_wait_rows() {
	local want=$1 i
	shift
	for ((i = 0; i < 50; i++)); do
		LOG_OUT=$(ctl log "$@" 2>&1) || fail "gatekeeper-ctl log $*: $LOG_OUT"
		[[ $(grep -c . <<<"$LOG_OUT") -ge $want ]] && return 0
		sleep 0.1
	done
	fail "log $* printed $(grep -c . <<<"$LOG_OUT") lines, expected $want: $LOG_OUT"
}

t_log_filters_and_order() {
	local out rc
	mkbin ok1
	mkbin bad1
	mkbin ok2
	write_policy enforce allow
	start_daemon --no-kernel-cache
	ctl_ok deny "$BIN/bad1"
	expect_runs "$BIN/ok1"
	expect_eperm "$BIN/bad1"
	expect_runs "$BIN/ok2"
	write_policy monitor deny
	ctl_ok policy apply "$POLICY"
	mkbin mon1
	expect_runs "$BIN/mon1"
	log_wait_rows 4
	# newest last: the execs in the order they ran
	out=$(awk '{ print $4 }' <<<"$LOG_OUT" | grep -F "$BIN" | tr '\n' ' ')
	[[ $out == "$BIN/ok1 $BIN/bad1 $BIN/ok2 $BIN/mon1 " ]] || fail "log order: $out ($LOG_OUT)"
	grep -q "^20[0-9-]*T[0-9:]*\.[0-9]\{6\}Z deny  *admin  *$BIN/bad1 exe=" <<<"$LOG_OUT" ||
		fail "log line format: $LOG_OUT"
	out=$(ctl log --verdict deny | awk '{ print $4 }' | tr '\n' ' ')
	[[ $out == "$BIN/bad1 " ]] || fail "log --verdict deny: '$out'"
	out=$(ctl log --verdict would-deny | awk '{ print $2, $4 }' | tr '\n' ' ')
	[[ $out == "would-deny $BIN/mon1 " ]] || fail "log --verdict would-deny: '$out'"
	out=$(ctl log --verdict allow | awk '{ print $4 }' | grep -F "$BIN" | tr '\n' ' ')
	[[ $out == "$BIN/ok1 $BIN/ok2 " ]] || fail "log --verdict allow: '$out'"
	out=$(ctl log --path "$BIN/ok*" | awk '{ print $4 }' | tr '\n' ' ')
	[[ $out == "$BIN/ok1 $BIN/ok2 " ]] || fail "log --path $BIN/ok*: '$out'"
	out=$(ctl log --since '1h ago' --until now | grep -c .)
	[[ $out -ge 4 ]] || fail "log --since '1h ago' --until now: $out lines"
	out=$(ctl log --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S)")
	[[ -z $out ]] || fail "log --since an hour ahead printed: $out"
	out=$(ctl log --until @1000000000)
	[[ -z $out ]] || fail "log --until 2001 printed: $out"
	# last=N (where log -f starts): only the N newest rows, oldest first
	out=$("$PY" - "$SOCK" <<-'EOF2'
		import socket, sys
		s = socket.socket(socket.AF_UNIX)
		s.connect(sys.argv[1])
		s.sendall(b"log after=0 since=0 until=0 match=any last=2\n")
		data = b""
		while chunk := s.recv(65536):
		    data += chunk
		print(" ".join(l.split()[2].rsplit("/", 1)[1] for l in data.decode().splitlines()
		               if l.startswith("s path ")))
	EOF2
	)
	[[ $out == "ok2 mon1" ]] || fail "log last=2: '$out'"
	# hostile queries: a usage error each, and the daemon carries on
	out=$("$PY" - "$SOCK" <<-'EOF2'
		import socket, sys
		for q in [b"log bogus", b"log match=maybe", b"log since=abc", b"log frob=1",
		          b"log limit=-5", b"log after= path=", b"log since=99999999999999999999"]:
		    s = socket.socket(socket.AF_UNIX)
		    s.connect(sys.argv[1])
		    s.sendall(q + b"\n")
		    data = b""
		    while chunk := s.recv(65536):
		        data += chunk
		    ok = b"n ok 0\n" in data and b"n code 2\n" in data
		    print("refused" if ok else "ACCEPTED:" + q.decode())
	EOF2
	)
	[[ $(grep -c '^refused$' <<<"$out") -eq 7 ]] || fail "hostile log queries: $out"
	ctl_ok status
	ctl log --json --verdict deny | "$PY" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert len(rows) == 1 and rows[0]["verdict"] == "deny" and rows[0]["source"] == "admin", rows
assert isinstance(rows[0]["time_us"], int) and len(rows[0]["sha256"]) == 64, rows' ||
		fail "log --json is not one JSON object per decision"
	for bad in "--verdict maybe" "--since yesterdayish" "--until 5x" "--bogus" "extra"; do
		# shellcheck disable=SC2086
		out=$(ctl log $bad 2>&1)
		rc=$?
		[[ $rc -eq 2 ]] || fail "log $bad: exit $rc, expected 2: $out"
	done
}

t_log_follow_fake_server() {
	local now out err rc
	now=$(($(date +%s) * 1000000))
	cat >"$T/script.json" <<-EOF2
		{"history": [
		  {"id": 1, "time_us": $((now - 3000000)), "kind": "exec", "verdict": "allow", "would_deny": 0,
		   "source": "default", "detail": "", "path": "/w/old1", "exe": "/bin/sh", "sha256": "", "pid": 10, "latency_us": 50},
		  {"id": 2, "time_us": $((now - 2000000)), "kind": "exec", "verdict": "deny", "would_deny": 0,
		   "source": "admin", "detail": "", "path": "/w/old2", "exe": "/bin/sh", "sha256": "", "pid": 11, "latency_us": 60},
		  {"id": 3, "time_us": $((now - 1000000)), "kind": "exec", "verdict": "allow", "would_deny": 0,
		   "source": "default", "detail": "", "path": "/w/old3", "exe": "/bin/sh", "sha256": "", "pid": 12, "latency_us": 70}],
		 "live": [
		  {"delay": 0.2, "time_us": $((now - 1000000)), "kind": "exec", "verdict": "allow", "would_deny": 0,
		   "source": "default", "detail": "", "path": "/w/old3", "exe": "/bin/sh", "sha256": "", "pid": 12,
		   "latency_us": 70, "dropped": 0},
		  {"delay": 0.1, "time_us": $((now + 1000000)), "kind": "exec", "verdict": "deny", "would_deny": 0,
		   "source": "scanner", "detail": "Eicar\\nline2", "path": "/w/new1", "exe": "/bin/bash", "sha256": "ab", "pid": 13,
		   "latency_us": 900, "dropped": 2},
		  {"delay": 0.1, "time_us": $((now + 2000000)), "kind": "kernel", "verdict": "allow", "would_deny": 1,
		   "source": "default", "detail": "", "path": "/w/new2", "exe": "/bin/bash", "sha256": "", "pid": 14,
		   "latency_us": 0, "dropped": 0}],
		 "hold": 0.3}
	EOF2
	timeout -s KILL 20 "$PY" "$HERE/fake_stream.py" "$T/fake.sock" "$T/script.json" &
	record_pid $!
	for ((i = 0; i < 50; i++)); do [[ -S $T/fake.sock ]] && break; sleep 0.1; done
	out=$(timeout -s KILL 10 "$CTL" --socket "$T/fake.sock" log -f 2>"$T/err")
	rc=$?
	err=$(cat "$T/err")
	[[ $rc -eq 3 ]] || fail "log -f: exit $rc when the stream closed, expected 3 ($err)"
	[[ $(awk '{ print $4 }' <<<"$out" | tr '\n' ' ') == "/w/old1 /w/old2 /w/old3 /w/new1 /w/new2 " ]] ||
		fail "log -f printed (history, then live without repeats): $out"
	grep -q 'would-deny .*/w/new2' <<<"$out" || fail "log -f: the live would-deny: $out"
	grep -qF 'detail="Eicar' <<<"$out" || fail "log -f: the live record's detail: $out"
	grep -q '2 decisions not shown' <<<"$err" || fail "log -f did not report the 2 dropped records: $err"
	out=$(timeout -s KILL 10 "$CTL" --socket "$T/fake.sock" log -f --verdict deny --json 2>/dev/null)
	[[ $(grep -c . <<<"$out") -eq 2 ]] || fail "log -f --verdict deny --json: $out"
	"$PY" -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <<<"$out" || fail "log -f --json: $out"
}

# query answers for files that never ran, with the rule that decides them,
# and running nothing: no permission event, no audit row.
t_query_never_run_file() {
	local out v f
	mkdir -p "$BIN/tools" "$T/outside"
	mkbin tools/t1
	mkbin evil
	mkbin unknown
	cp /bin/true "$T/outside/x"
	write_policy enforce deny "rules:" "  - {path: $BIN/tools, action: allow}" \
		"  - {sha256: $(sha_of "$BIN/evil"), action: deny}"
	start_daemon
	for f in "tools/t1 allow policy-path yes" "evil deny policy-hash no" "unknown deny default no"; do
		set -- $f
		ctl_ok query "$BIN/$1"
		out=$CTL_OUT
		[[ $(field_of "$out" verdict) == "$2" && $(field_of "$out" source) == "$3" &&
			$(field_of "$out" would_run) == "$4" && $(field_of "$out" watched) == yes &&
			$(field_of "$out" decided) == never ]] ||
			fail "query $1: expected verdict $2, source $3, would_run $4, watched, never decided: $out"
	done
	ctl_ok query "$BIN/tools/t1"
	[[ $(field_of "$CTL_OUT" detail) == *line* || $(field_of "$CTL_OUT" detail) == *rule* ]] ||
		fail "query of a path-rule file does not name the rule: $CTL_OUT"
	ctl_ok query "$T/outside/x"
	[[ $(field_of "$CTL_OUT" watched) == no && $(field_of "$CTL_OUT" would_run) == yes ]] ||
		fail "query of an unwatched file: $CTL_OUT"
	status_json
	[[ $(jget perm_events) == 0 ]] || fail "queries raised $(jget perm_events) permission events"
	sleep 0.5
	[[ -z $(ctl log) ]] || fail "queries left audit rows: $(ctl log)"
	write_policy monitor deny
	ctl_ok policy apply "$POLICY"
	ctl_ok query "$BIN/unknown"
	[[ $(field_of "$CTL_OUT" would_run) == "yes (monitor mode: logged as would-deny)" ]] ||
		fail "query in monitor mode: $CTL_OUT"
	expect_runs "$BIN/unknown"
}

# Learning mode end to end: a workload under monitor mode with default deny,
# the suggestion applied with mode: enforce, the same workload: no deny.
t_policy_suggest_monitor_to_enforce() {
	local i out rc
	for i in 1 2 3 4; do
		mkbin "w$i"
	done
	mkdir -p "$BIN/sub dir"
	mkbin "sub dir/w5"
	write_policy monitor deny "rules:" "  - {path: $BIN/w4, action: allow}"
	start_daemon --no-kernel-cache
	for i in w1 w2 w3 w4 w1 w2 "sub dir/w5"; do
		expect_runs "$BIN/$i"
	done
	for ((i = 0; i < 50; i++)); do
		[[ $(ctl log --verdict would-deny | grep -c .) -ge 6 ]] && break
		sleep 0.1
	done
	ctl policy suggest >"$T/s.yaml" 2>"$T/s.err" || fail "policy suggest failed: $(cat "$T/s.err")"
	grep -q '^# 4 rules suggested from 6 would-deny decisions' "$T/s.err" || fail "suggest summary: $(cat "$T/s.err")"
	out=$(ctl policy check "$T/s.yaml" 2>&1) || fail "policy check of the suggestion: $out"
	for i in w1 w2 w3 "sub dir/w5"; do
		grep -qF "sha256: \"$(sha_of "$BIN/$i")\"" "$T/s.yaml" || fail "no rule for $i: $(cat "$T/s.yaml")"
		grep -qF "# $BIN/$i: first seen 20" "$T/s.yaml" || fail "no comment for $i: $(cat "$T/s.yaml")"
	done
	# the exe: a path, or said to be unknown (the process may be gone when
	# the daemon looks it up, after answering)
	grep -qF "# $BIN/w1: first seen" "$T/s.yaml" &&
		grep -qE 'w1: first seen .*, 2 runs, run by (/|\(exe not known)' "$T/s.yaml" ||
		fail "comment for w1 (2 runs, the exe): $(grep w1 "$T/s.yaml")"
	[[ $(grep -c "$(sha_of "$BIN/w4")" "$T/s.yaml") -eq 0 ]] || fail "w4 (already allowed) got a rule"
	# --by path: path rules instead
	ctl policy suggest --by path >"$T/p.yaml" 2>/dev/null || fail "suggest --by path failed"
	grep -qF "path: \"$BIN/sub dir/w5\"" "$T/p.yaml" || fail "suggest --by path: $(cat "$T/p.yaml")"
	ctl policy check "$T/p.yaml" >/dev/null 2>&1 || fail "policy check of --by path: $(cat "$T/p.yaml")"
	out=$(ctl policy suggest --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M)" 2>&1 >/dev/null)
	[[ $out == *"0 rules suggested"* ]] || fail "suggest --since the future: $out"
	# enforce with the suggestion: the workload runs, nothing is denied
	sed 's/^mode: monitor$/mode: enforce/' "$T/s.yaml" >"$T/e.yaml"
	ctl_ok policy apply "$T/e.yaml"
	status_json
	local before
	before=$(jget denies)
	for i in w1 w2 w3 w4 w1 w2 "sub dir/w5"; do
		expect_runs "$BIN/$i" "enforce with the suggested rules: "
	done
	mkbin new1
	expect_eperm "$BIN/new1" "a program the workload never ran: "
	status_json
	[[ $(($(jget denies) - before)) -eq 1 ]] || fail "denies went from $before to $(jget denies), expected only new1"
}

# The rules land in any shape of rules: (none, empty, block list, flow list).
t_policy_suggest_merges_any_rules_shape() {
	local shape i out
	local head="mode: monitor\nwatch: [/tmp]\ndefault: deny\n"
	local -a shapes=(
		"${head}"
		"${head}rules:\n"
		"${head}rules:\n  # mine\n  - {path: /w/a, action: allow}\n\naudit: {log_allows: true}\n"
		"${head}rules:\n- {path: /w/a, action: allow}\n"
		"${head}rules: []\noverload: allow\n"
		"${head}rules: [{path: /w/a, action: allow}]\n"
	)
	for ((i = 0; i < ${#shapes[@]}; i++)); do
		"$PY" - "${shapes[i]}" "$T/script$i.json" <<-'EOF2'
			import json, sys
			text = sys.argv[1].encode().decode("unicode_escape")
			rec = lambda i, p, sha: {"id": i, "time_us": 1700000000000000 + i, "kind": "exec",
			    "verdict": "allow", "would_deny": 1, "source": "default", "detail": "",
			    "path": p, "exe": "/bin/sh", "sha256": sha, "pid": 5, "latency_us": 9}
			json.dump({"policy": text, "history": [rec(1, "/w/x", "a" * 64), rec(2, '/w/q"uote', "b" * 64),
			    rec(3, "/w/x", "a" * 64), rec(4, "/w/nohash", "")]}, open(sys.argv[2], "w"))
		EOF2
		rm -f "$T/fake$i.sock"
		timeout -s KILL 20 "$PY" "$HERE/fake_stream.py" "$T/fake$i.sock" "$T/script$i.json" &
		record_pid $!
		for ((k = 0; k < 50; k++)); do [[ -S $T/fake$i.sock ]] && break; sleep 0.1; done
		out=$(timeout -s KILL 10 "$CTL" --socket "$T/fake$i.sock" policy suggest 2>&1 >"$T/s$i.yaml") ||
			fail "shape $i: suggest failed: $out"
		out=$("$CTL" policy check "$T/s$i.yaml" 2>&1) || fail "shape $i: $out: $(cat "$T/s$i.yaml")"
		[[ $(grep -c "sha256: \"aaaa" "$T/s$i.yaml") -eq 1 && $(grep -c "sha256: \"bbbb" "$T/s$i.yaml") -eq 1 &&
			$(grep -c 'path: "/w/nohash"' "$T/s$i.yaml") -eq 1 ]] || fail "shape $i: rules missing: $(cat "$T/s$i.yaml")"
		grep -q '# /w/x: first seen 2023-11-14T22:13:20Z, 2 runs, run by /bin/sh' "$T/s$i.yaml" ||
			fail "shape $i: comment: $(cat "$T/s$i.yaml")"
	done
}

# top_script FILE HOLD: the fake server's live records for the top tests.
top_script() {
	"$PY" - "$1" "$2" <<-'EOF2'
		import json, sys, time
		now = int(time.time() * 1e6)
		def rec(i, path, verdict, wd=0, kind="exec", lat=100, src="default", dropped=0):
		    return {"delay": 0.05, "time_us": now + i, "kind": kind, "verdict": verdict,
		            "would_deny": wd, "source": src, "detail": "", "path": path, "exe": "/bin/sh",
		            "sha256": "", "pid": 100 + i, "latency_us": lat, "dropped": dropped}
		live = [rec(1, "/w/a", "allow"), rec(2, "/w/a", "allow", lat=3000), rec(3, "/w/a", "allow"),
		        rec(4, "/w/b", "deny", src="admin"), rec(5, "/w/b", "deny", kind="kernel", lat=0),
		        rec(6, "/v/c", "allow", wd=1, dropped=3), rec(7, "/w/s", "allow", src="scanner", lat=20000)]
		json.dump({"live": live, "hold": float(sys.argv[2])}, open(sys.argv[1], "w"))
	EOF2
}

start_fake_stream() { # SCRIPT SOCKET
	timeout -s KILL 40 "$PY" "$HERE/fake_stream.py" "$2" "$1" &
	record_pid $!
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -S $2 ]] && return 0
		sleep 0.1
	done
	fail "the fake server did not start"
}

# The first PROGRAM row of a capture.
first_program() {
	awk '/ PROGRAM$/ { getline; print $NF; exit }' <<<"$1"
}

t_top_under_tmux() {
	local tm=(tmux -S "$T/tmux.sock") i screen
	command -v tmux >/dev/null || fail "tmux not found (packaging/install-deps.sh)"
	top_script "$T/top.json" 25
	start_fake_stream "$T/top.json" "$T/fake.sock"
	TEST_CLEANUP='tmux -S "$T/tmux.sock" kill-server 2>/dev/null'
	"${tm[@]}" new-session -d -s top -x 150 -y 40 "$CTL --socket $T/fake.sock top -d 0.3" ||
		fail "tmux new-session failed"
	for ((i = 0; i < 50; i++)); do
		screen=$("${tm[@]}" capture-pane -p -t top 2>/dev/null)
		grep -q '/w/s$' <<<"$screen" && break
		sleep 0.2
	done
	grep -q '^gatekeeper top - 7 decisions since .*, sorted by execs' <<<"$screen" ||
		fail "top header after 7 decisions: $screen"
	grep -qE '^ +3 +0 +3 +0 +0 +[0-9]+ +4095 +0\.0 +/w/a$' <<<"$screen" || fail "top row /w/a: $screen"
	grep -qE '^ +2 +1 +1 +2 +0 .* +/w/b$' <<<"$screen" || fail "top row /w/b (1 kernel, 2 denies): $screen"
	grep -qE '^ +6 +1 +5 +2 +0 .* 20\.0 +/w$' <<<"$screen" || fail "top directory row /w: $screen"
	grep -q '3 decisions lost' <<<"$screen" || fail "top does not show the 3 lost decisions: $screen"
	[[ $(first_program "$screen") == /w/a ]] || fail "sorted by execs, first program: $(first_program "$screen")"
	"${tm[@]}" send-keys -t top d
	sleep 0.5
	screen=$("${tm[@]}" capture-pane -p -t top)
	grep -q 'sorted by deny' <<<"$screen" && [[ $(first_program "$screen") == /w/b ]] ||
		fail "after 'd' (sort by deny): $screen"
	"${tm[@]}" send-keys -t top n
	sleep 0.5
	screen=$("${tm[@]}" capture-pane -p -t top)
	[[ $(first_program "$screen") == /v/c ]] || fail "after 'n' (sort by name): $screen"
	"${tm[@]}" send-keys -t top w
	sleep 0.5
	screen=$("${tm[@]}" capture-pane -p -t top)
	[[ $(first_program "$screen") == /v/c ]] && grep -q 'sorted by would-deny' <<<"$screen" ||
		fail "after 'w' (sort by would-deny): $screen"
	"${tm[@]}" send-keys -t top q
	for ((i = 0; i < 20; i++)); do
		"${tm[@]}" has-session -t top 2>/dev/null || break
		sleep 0.1
	done
	[[ $i -lt 20 ]] || fail "top did not quit on 'q'"
}

t_top_batch_snapshots() {
	local out rc
	top_script "$T/top.json" 5
	start_fake_stream "$T/top.json" "$T/fake.sock"
	out=$(timeout -s KILL 10 "$CTL" --socket "$T/fake.sock" top -b -n 3 -d 0.4 --sort deny 2>&1)
	rc=$?
	[[ $rc -eq 0 ]] || fail "top -b -n 3: exit $rc: $out"
	[[ $(grep -c '^gatekeeper top - ' <<<"$out") -eq 3 ]] || fail "top -b -n 3 printed: $out"
	[[ $out != *$'\033'* ]] || fail "top -b printed terminal escapes"
	[[ $(first_program "$(awk '/^gatekeeper top - 7/,0' <<<"$out")") == /w/b ]] ||
		fail "top -b --sort deny: the last snapshot's first program: $out"
	out=$(timeout -s KILL 10 "$CTL" --socket "$T/fake.sock" top -d 0 2>&1)
	[[ $? -eq 2 ]] || fail "top -d 0: expected exit 2: $out"
}

# ---- live views against the real daemon's subscribe stream ----

t_log_follow_live() {
	local i out
	mkbin old1
	mkbin new1
	mkbin bad1
	write_policy enforce allow
	start_daemon --no-kernel-cache
	ctl_ok deny "$BIN/bad1"
	expect_runs "$BIN/old1"
	timeout -s KILL 30 "$CTL" --socket "$SOCK" log -f --path "$BIN/*" >"$T/follow.out" 2>"$T/follow.err" &
	record_pid $!
	for ((i = 0; i < 50; i++)); do
		grep -q "$BIN/old1" "$T/follow.out" && break
		sleep 0.1
	done
	grep -q "$BIN/old1" "$T/follow.out" || fail "log -f did not print the history: $(cat "$T/follow.out" "$T/follow.err")"
	expect_runs "$BIN/new1"
	expect_eperm "$BIN/bad1"
	for ((i = 0; i < 50; i++)); do
		grep -q "$BIN/bad1" "$T/follow.out" && break
		sleep 0.1
	done
	out=$(awk '{ print $2, $4 }' "$T/follow.out" | tr '\n' ' ')
	[[ $out == "allow $BIN/old1 allow $BIN/new1 deny $BIN/bad1 " ]] ||
		fail "log -f: history then live, each once: '$out' ($(cat "$T/follow.err"))"
}

t_top_live_tmux() {
	local tm=(tmux -S "$T/tmux.sock") i screen
	command -v tmux >/dev/null || fail "tmux not found (packaging/install-deps.sh)"
	mkbin a1
	mkbin d1
	write_policy enforce allow
	start_daemon --no-kernel-cache
	ctl_ok deny "$BIN/d1"
	TEST_CLEANUP='tmux -S "$T/tmux.sock" kill-server 2>/dev/null'
	"${tm[@]}" new-session -d -s top -x 150 -y 40 \
		"$CTL --socket $SOCK top -d 0.3 2>$T/top.err; echo exit \$? >>$T/top.err; sleep 30" ||
		fail "tmux new-session failed"
	# top shows only what its stream brings: runs before it subscribed
	# would be missing.
	wait_num_at_least subscribers 1 100 >/dev/null
	for i in 1 2 3; do
		expect_runs "$BIN/a1"
	done
	expect_eperm "$BIN/d1"
	# Allows from memory reach the stream through the recorder, later than
	# the deny: wait for every row, not for the last run's.
	for ((i = 0; i < 50; i++)); do
		screen=$("${tm[@]}" capture-pane -p -t top)
		grep -qE "^ +3 +0 +3 +0 +0 .* +$BIN/a1\$" <<<"$screen" &&
			grep -qE "^ +1 +0 +1 +1 +0 .* +$BIN/d1\$" <<<"$screen" && break
		sleep 0.2
	done
	[[ -s $T/top.err ]] && note "top ended: $(head -c 2000 "$T/top.err")"
	grep -qE "^ +3 +0 +3 +0 +0 .* +$BIN/a1\$" <<<"$screen" || fail "top row a1 (3 daemon allows): $screen"
	grep -qE "^ +1 +0 +1 +1 +0 .* +$BIN/d1\$" <<<"$screen" || fail "top row d1 (1 deny): $screen"
	grep -qE "^ +4 .* +$BIN\$" <<<"$screen" || fail "top directory row: $screen"
	"${tm[@]}" send-keys -t top d
	sleep 0.5
	[[ $(first_program "$("${tm[@]}" capture-pane -p -t top)") == "$BIN/d1" ]] || fail "top sorted by deny"
	"${tm[@]}" send-keys -t top q
}
