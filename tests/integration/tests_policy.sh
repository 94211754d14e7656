# Policy tests on real execs (issue 6): subtree scoping, show/apply round
# trip, applies in the middle of an exec storm.
# Sourced by run.sh; each t_NAME runs in its own process (see lib.sh).

# mkbin_at PATH: like mkbin, anywhere.
mkbin_at() {
	mkdir -p "$(dirname "$1")" &&
		cp /bin/true "$1" &&
		printf '\ngk-it unique %s %s %s\n' "$1" "$RANDOM" "$(date +%s%N)" >>"$1" &&
		chmod 0755 "$1" || fail "cannot create test binary $1"
}

# policy_sha TEXT: the sha256 that `policy show` or `policy check` reports.
policy_sha() {
	printf '%s\n' "$1" | sed -n 's/^# sha256: *//p; s/^.*: ok (sha256 \([0-9a-f]*\)).*$/\1/p' | head -n 1
}

shown_sha() {
	local out
	out=$(ctl policy show 2>&1) || fail "policy show failed: $out"
	policy_sha "$out"
}

# Only the watched subtree is judged: a program elsewhere on the same
# (marked) filesystem runs, raising one permission event per exec (its allow
# is not cached on the file: see t_policy_unwatched_moved_in).
t_policy_subtree_scoping() {
	local pe0 pe1 pe2 pe3
	mkbin_at "$T/sub/x"
	mkbin_at "$T/other/x"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\n' "$T/sub" >"$POLICY"
	start_daemon
	expect_eperm "$T/sub/x" "watched subtree, default deny: "
	pe0=$(stat_num perm_events) || exit 1
	expect_runs "$T/other/x" "outside the watched subtree: "
	pe1=$(stat_num perm_events) || exit 1
	expect_runs "$T/other/x" "outside the watched subtree, second exec: "
	pe2=$(stat_num perm_events) || exit 1
	expect_eperm "$T/sub/x" "watched subtree, second exec: "
	pe3=$(stat_num perm_events) || exit 1
	note "perm_events: unwatched exec +$((pe1 - pe0)), again +$((pe2 - pe1)); watched deny +$((pe3 - pe2))"
	[[ $((pe1 - pe0)) -eq 1 ]] || fail "one unwatched exec raised $((pe1 - pe0)) permission events"
	[[ $((pe2 - pe1)) -eq 1 ]] || fail "the second unwatched exec raised $((pe2 - pe1)) permission events"
	[[ $pe3 -eq $((pe2 + 1)) ]] || fail "a watched denied exec raised $((pe3 - pe2)) permission events"
}

# A watch or a rule written through a symbolic link (as /bin is on a
# merged-/usr system) is judged under the path the kernel reports: before,
# the watch matched nothing and every exec below it ran as unwatched.
t_policy_paths_through_links() {
	mkbin_at "$T/real/prog"
	mkbin_at "$T/real/bad"
	ln -s real "$T/link" || fail "ln failed"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\n' "$T/link" >"$POLICY"
	ctl_ok policy check "$POLICY"
	[[ $CTL_OUT == *"watch '$T/link' goes through a symbolic link: judged as '$T/real'"* ]] ||
		fail "policy check did not note the link: $CTL_OUT"
	start_daemon
	expect_eperm "$T/real/prog" "watch through a link, default deny: "
	expect_eperm "$T/link/prog" "the same file by the link's name: "
	grep -q "policy_path note=.*watch '$T/link' goes through a symbolic link" "$DLOG" ||
		fail "the daemon did not log the rewritten watch: $(grep policy_path "$DLOG")"
	# a rule through the link, by apply
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: allow\nrules:\n  - {path: %s, action: deny}\n' \
		"$T/real" "$T/link/bad" >"$T/p2.yaml"
	ctl_ok policy apply "$T/p2.yaml"
	expect_runs "$T/real/prog" "default allow after apply: "
	expect_eperm "$T/real/bad" "a path rule through a link, after apply: "
}

# A program allowed because it lies outside the watched subtree, then renamed
# or hard-linked into it (same filesystem, same inode), is judged there: no
# allow of it was left in the kernel for the watched name to find.
t_policy_unwatched_moved_in() {
	mkbin_at "$T/other/t"
	mkbin_at "$T/other/u"
	mkdir -p "$T/sub" || fail "mkdir failed"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\n' "$T/sub" >"$POLICY"
	start_daemon
	expect_runs "$T/other/t" "outside the watched subtree: "
	expect_runs "$T/other/t" "outside the watched subtree, again: "
	mv "$T/other/t" "$T/sub/t" || fail "mv failed"
	expect_eperm "$T/sub/t" "renamed into the watched subtree: "
	expect_runs "$T/other/u" "outside the watched subtree: "
	ln "$T/other/u" "$T/sub/u" || fail "ln failed"
	expect_eperm "$T/sub/u" "hard-linked into the watched subtree: "
	expect_runs "$T/other/u" "its other name, outside: "
}

# The same for a program a path rule allows: renamed out of that path into
# the rest of the watched subtree, where the default denies, it is judged
# there; a program an admin rule allows (its content) keeps its cached allow.
t_policy_path_allowed_moved_out() {
	local pe0 pe1 im0
	mkbin_at "$T/sub/ci/p"
	mkbin_at "$T/sub/ci/a"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\nrules:\n  - {path: %s, action: allow}\n' \
		"$T/sub" "$T/sub/ci" >"$POLICY"
	start_daemon
	ctl_ok allow "$T/sub/ci/a"
	expect_runs "$T/sub/ci/p" "allowed by the path rule: "
	expect_runs "$T/sub/ci/p" "allowed by the path rule, again: "
	mv "$T/sub/ci/p" "$T/sub/p" || fail "mv failed"
	expect_eperm "$T/sub/p" "renamed out of the allowed path: "
	im0=$(stat_num ignore_marks_added) || exit 1
	expect_runs "$T/sub/ci/a" "allowed by an admin rule: "
	# an allow from memory is cached in the kernel by the recorder, later
	wait_num_at_least ignore_marks_added $((im0 + 1)) 100 >/dev/null
	pe0=$(stat_num perm_events) || exit 1
	mv "$T/sub/ci/a" "$T/sub/a" || fail "mv failed"
	expect_runs "$T/sub/a" "allowed by an admin rule, renamed: "
	pe1=$(stat_num perm_events) || exit 1
	[[ $pe1 -eq $pe0 ]] || fail "the admin-allowed program lost its kernel cache: $((pe1 - pe0)) permission events"
}

# The text `policy show` prints after its three "# key: value" lines (the
# policy as it was loaded, gatekeeper-ctl(8)) goes back through `policy
# apply` unchanged: same sha256, same text, same verdicts.
t_policy_show_apply_roundtrip() {
	local sha0 sha1 sha2 sha3 out
	mkbin trusted
	write_policy enforce deny "on_error: deny" "decision_timeout_ms: 2500" \
		"rules:" "  - {path: $BIN/trusted, action: allow}  # a comment" \
		"  - {glob: '$BIN/*.sh', action: deny}" \
		"  - {sha256: $(printf '%064d' 7), action: deny}"
	start_daemon
	sha0=$(shown_sha) || exit 1
	[[ $sha0 =~ ^[0-9a-f]{64}$ ]] || fail "policy show gives no sha256: $(ctl policy show 2>&1 | head -n 5)"
	[[ $sha0 == "$(sha_of "$POLICY")" ]] || fail "policy show sha256 $sha0 is not the policy file's"
	ctl policy show >"$T/shown.out" 2>&1 || fail "policy show failed"
	head -n 3 "$T/shown.out" | grep -c '^# [a-z0-9_]*: ' | grep -qx 3 ||
		fail "policy show does not start with three '# key: value' lines: $(head -n 4 "$T/shown.out")"
	tail -n +4 "$T/shown.out" >"$T/shown.yaml"
	cmp -s "$T/shown.yaml" "$POLICY" || fail "policy show text differs from the loaded file: $(diff "$POLICY" "$T/shown.yaml" | head -n 4)"
	ctl_ok --json policy show
	printf '%s' "$CTL_OUT" | "$PY" -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["text"])' \
		>"$T/json.yaml" || fail "--json policy show has no text: $CTL_OUT"
	cmp -s "$T/json.yaml" "$POLICY" || fail "--json policy show text differs from the loaded file"
	out=$(timeout -s KILL 10 "$CTL" policy check "$T/shown.yaml" 2>&1) ||
		fail "policy check of the shown policy failed: $out"
	sha1=$(policy_sha "$out")
	ctl_ok policy apply "$T/shown.yaml"
	sha2=$(shown_sha) || exit 1
	[[ $sha1 == "$sha0" ]] || fail "policy check of the shown text gives sha256 $sha1, the daemon showed $sha0"
	[[ $sha2 == "$sha0" ]] || fail "after applying the shown text the sha256 is $sha2, was $sha0"
	expect_runs "$BIN/trusted" "path rule after the round trip: "
	mkbin stranger
	expect_eperm "$BIN/stranger" "default deny after the round trip: "
	# The whole output, headers included, is still a valid policy (they
	# are comments), though a different text: its sha256 differs.
	ctl_ok policy apply "$T/shown.out"
	sha3=$(shown_sha) || exit 1
	note "sha256: running $sha0, shown text $sha1, after apply $sha2, whole show output $sha3"
	expect_runs "$BIN/trusted" "after applying the whole show output: "
}

# storm_policies: four valid policies, all of which let $BIN/s0..s3 run, that
# differ in default, rules, watch list and mode (so applying them in turn
# also replaces the fanotify groups).
storm_policies() {
	local i sha_rules=()
	mkdir -p "$T/extra"
	for ((i = 0; i < 4; i++)); do
		sha_rules+=("  - {sha256: $(sha_of "$BIN/s$i"), action: allow}")
	done
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: allow\n' "$BIN" >"$T/p0.yaml"
	{
		printf 'mode: enforce\nwatch:\n  - %s\n  - %s\ndefault: deny\nrules:\n' "$BIN" "$T/extra"
		printf '%s\n' "${sha_rules[@]}"
	} >"$T/p1.yaml"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\non_error: deny\ndecision_timeout_ms: 3000\nrules:\n  - {path: %s, action: allow}\n' \
		"$BIN" "$BIN" >"$T/p2.yaml"
	printf 'mode: monitor\nwatch:\n  - %s\ndefault: deny\n' "$BIN" >"$T/p3.yaml"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: allow\nfrobnicate: 1\n' "$BIN" >"$T/bad.yaml"
	for i in 0 1 2 3; do
		STORM_SHA[i]=$(policy_sha "$(timeout -s KILL 10 "$CTL" policy check "$T/p$i.yaml" 2>&1)")
		[[ ${STORM_SHA[i]} =~ ^[0-9a-f]{64}$ ]] || fail "test setup: p$i.yaml does not check"
	done
}

# apply_retrying FILE: policy apply; a refusal because the previous change
# is still draining is retried for up to 3 s (counted in DRAIN_RETRIES).
# Returns 1 with the refusal in APPLY_ERR when it never went through.
apply_retrying() {
	local out rc i
	for ((i = 0; i < 60; i++)); do
		out=$(ctl policy apply "$1" 2>&1)
		rc=$?
		[[ $rc -eq 0 ]] && return 0
		APPLY_ERR="policy apply $(basename "$1"): exit $rc: $out"
		[[ $out == *draining* ]] || return 1
		DRAIN_RETRIES=$((DRAIN_RETRIES + 1))
		sleep 0.05
	done
	APPLY_ERR="$APPLY_ERR (still, after 3 s of retries)"
	return 1
}

# Four exec loops for ~5 s while 20 valid policies are applied in turn and
# one bad one in the middle: no exec fails or hangs, the bad one changes
# nothing.
t_policy_apply_during_exec_storm() {
	local i k pids=() out rc bad=0 total=0 sha err STORM_SHA=() DRAIN_RETRIES=0
	local APPLY_ERR="" apply_errors=() applied=0 bad_done=""
	need_spawner
	for ((i = 0; i < 4; i++)); do
		mkbin "s$i"
	done
	mkbin probe
	storm_policies
	cp "$T/p0.yaml" "$POLICY"
	start_daemon
	for ((i = 0; i < 4; i++)); do
		timeout -s KILL 40 "$SPAWNER" loop 5500 "$BIN/s$i" "$BIN/s$(((i + 1) % 4))" \
			>"$T/storm$i.out" 2>&1 &
		pids+=($!)
		record_pid "$!"
	done
	sleep 0.2
	for ((k = 1; k <= 20; k++)); do
		i=$((k % 4))
		if ! apply_retrying "$T/p$i.yaml"; then
			apply_errors+=("apply $k: $APPLY_ERR")
			continue
		fi
		applied=$((applied + 1))
		if [[ $k -ge 9 && $i -eq 1 && -z $bad_done ]]; then
			# p1 (default deny, hash rules) is in force: a refused apply must leave it so.
			bad_done=1
			err=$(ctl policy apply "$T/bad.yaml" 2>&1)
			rc=$?
			[[ $rc -eq 2 ]] || fail "bad policy apply during the storm: exit $rc, expected 2: $err"
			sha=$(shown_sha) || exit 1
			[[ $sha == "${STORM_SHA[1]}" ]] ||
				fail "after a refused apply the running policy is $sha, expected p1 ${STORM_SHA[1]}"
			expect_eperm "$BIN/probe" "unknown file under p1 after a refused apply: "
		fi
		sleep 0.2
	done
	for ((i = 0; i < 4; i++)); do
		wait "${pids[i]}"
		rc=$?
		out=$(tail -n 1 "$T/storm$i.out")
		[[ $out =~ ^execs=([0-9]+)\ ok=([0-9]+) ]] || fail "exec loop $i: exit $rc: $(head -n 3 "$T/storm$i.out")"
		total=$((total + BASH_REMATCH[1]))
		if [[ $rc -ne 0 ]]; then
			bad=$((bad + 1))
			grep -m 3 '^fail' "$T/storm$i.out" >>"$T/.reason"
			echo "exec loop $i: $out" >>"$T/.reason"
		fi
	done
	status_json
	note "$total execs in 4 loops, $applied of 20 applies went through ($DRAIN_RETRIES retried while draining), timeouts=$(jget timeouts)"
	[[ ${#apply_errors[@]} -eq 0 ]] || printf '%s\n' "${apply_errors[@]:0:3}" >>"$T/.reason"
	if [[ $bad -ne 0 ]]; then
		grep -E 'bin/s[0-3] .*verdict=deny|reply failed|sentinel' "$DLOG" | head -n 5 >>"$T/.reason"
		fail "$bad of 4 exec loops saw a failed or hung exec during the policy applies"
	fi
	[[ -n $bad_done ]] || fail "the bad apply was never tried (p1 never applied after apply 9)"
	[[ ${#apply_errors[@]} -eq 0 ]] || fail "${#apply_errors[@]} of 20 valid policy applies were refused"
	[[ $total -ge 100 ]] || fail "only $total execs ran in the storm"
	sha=$(shown_sha) || exit 1
	[[ $sha == "${STORM_SHA[0]}" ]] || fail "after the storm the running policy is $sha, expected p0 (the last one applied)"
	[[ $(jget timeouts) == 0 ]] || fail "status timeouts=$(jget timeouts) after the storm"
	alive "$DPID" || fail "gatekeeperd died"
}
