# Operators' tools on a real daemon: metrics (promtool), the metrics
# textfile, the audit log, policy suggest, top.
# Sourced by run.sh before its GK_IT_ONLY filter: this file adds its own
# entries to TESTS; each t_NAME runs in its own process (see lib.sh).

TESTS+=(
	metrics_promtool_and_values:40
	metrics_textfile_atomic_updates:40
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
		gatekeeper_kernel_cache_ignore_marks_total gatekeeper_info; do
		grep -q "^$v" "$T/m.prom" || fail "no $v in the metrics"
	done
	ctl --json metrics | "$PY" -c 'import json,sys; assert "gatekeeper_info" in json.load(sys.stdin)["text"]' ||
		fail "--json metrics is not JSON carrying the text"
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
	# A policy without metrics: the file is no longer rewritten.
	write_policy enforce allow
	ctl_ok policy apply "$POLICY"
	sleep 1.2
	v=$(stat -c %y "$prom" 2>/dev/null)
	sleep 1.5
	[[ $(stat -c %y "$prom") == "$v" ]] || fail "textfile still rewritten after metrics: was removed"
}
