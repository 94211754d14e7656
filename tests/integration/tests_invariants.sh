# Invariant 1 of DESIGN.md on the real kernel (a verdict never outlives the
# content it judged, for every write route; compile-then-run never fails
# spuriously) and the CLOSE_WRITE pre-scan.
# Sourced by run.sh; each t_NAME runs in its own process (see lib.sh).

INV1_ROUTES="write otrunc truncate fallocate copy_file_range aio splice mmap mmap_close_first
rename old_writer mmap_old_writer mmap_old_writer_touch mmap_hidden_writer"
INV1_ROUNDS=50

need_routes() {
	[[ -f $TOP/routes.failed ]] && fail "$(cat "$TOP/routes.failed")"
	[[ -x $TOP/routes ]] || fail "routes helper was not built"
}

# The two contents of every route test, of one size. GOOD runs and exits 0;
# BAD is GOOD's first lines padded with NULs (what truncate(2) and a punched
# hole leave behind): dash skips the NULs and its EXIT trap exits 7.
inv1_contents() {
	printf '#!/bin/sh\ntrap "exit 7" EXIT\ntrap - EXIT\nexit 0\n' >"$T/good.sh"
	"$PY" - "$T/good.sh" "$T/bad.sh" <<-'EOF' || fail "cannot write the bad content"
		import sys
		good = open(sys.argv[1], "rb").read()
		prefix = good[:good.index(b"trap - EXIT")]
		open(sys.argv[2], "wb").write(prefix + b"\0" * (len(good) - len(prefix)))
	EOF
	chmod 0755 "$T/good.sh" "$T/bad.sh"
}

# inv1_case ROUTE EXPECT_HIT [DAEMON_ARGS...]: INV1_ROUNDS rounds of routes
# (see routes.c) under default deny with GOOD's content admin-allowed.
inv1_case() {
	local route=$1 expect_hit=$2 out=$T/routes.out rc summary v
	shift 2
	need_spawner
	need_routes
	inv1_contents
	# INV1_OWNER: the target, made before the rounds rewrite it in place, owned so
	[[ -z ${INV1_OWNER:-} ]] ||
		{ : >"$BIN/target" && chmod 0755 "$BIN/target" && chown "$INV1_OWNER" "$BIN/target"; } ||
		fail "cannot make the target owned by $INV1_OWNER"
	# INV1_POLICY: one more line of policy
	write_policy enforce deny ${INV1_POLICY:+"$INV1_POLICY"}
	start_daemon "$@"
	ctl_ok allow "$T/good.sh"
	# The test means something only if the two contents get these verdicts.
	cp "$T/good.sh" "$BIN/good-ref" && cp "$T/bad.sh" "$BIN/bad-ref" || fail "cp failed"
	expect_runs "$BIN/good-ref" "reference copy of the good content: "
	local r
	r=$(exec_result "$BIN/bad-ref")
	[[ $r == errno:EPERM ]] || fail "reference copy of the bad content: expected EPERM, got $r"
	timeout -s KILL 150 "$TOP/routes" "$route" "$BIN/target" "$T/good.sh" "$T/bad.sh" \
		"$INV1_ROUNDS" "$expect_hit" "$CTL" "$SOCK" >"$out" 2>&1
	rc=$?
	[[ $rc -ne 137 ]] || fail "routes $route was killed after 150 s: $(tail -n 2 "$out")"
	summary=$(grep '^rounds=' "$out")
	[[ -n $summary ]] || fail "routes $route printed no summary (exit $rc): $(tail -n 3 "$out")"
	note "$route: $summary"
	v=$(printf '%s' "$summary" | sed -n 's/.* bad_ran=\([0-9]*\).*/\1/p')
	if [[ $v != 0 ]]; then
		grep -m 3 'RAN' "$out" >>"$T/.reason"
		fail "route $route: the bad content ran in $v of $INV1_ROUNDS rounds"
	fi
	if [[ $rc -ne 0 ]]; then
		grep -v '^rounds=' "$out" | head -n 4 >>"$T/.reason"
		fail "route $route: not every round ended in EPERM ($summary)"
	fi
	v=$(printf '%s' "$summary" | sed -n 's/.* misses=\([0-9]*\).*/\1/p')
	if [[ $expect_hit == 1 && $v != 0 ]]; then
		grep -m 3 'second exec' "$out" >>"$T/.reason"
		fail "route $route: the cached allow was missing before the write in $v rounds"
	fi
	alive "$DPID" || fail "gatekeeperd died during the route test"
}

# The old_* routes (and the hidden writer) open their writer before the
# verdict exists: whether the daemon may cache an allow then is its choice,
# so no kernel hit is required.
inv1_define_tests() {
	local route hit
	for route in $INV1_ROUTES; do
		hit=1
		[[ $route == *old_writer* || $route == *hidden_writer* ]] && hit=0
		eval "t_inv1_${route}() { inv1_case $route $hit; }"
		eval "t_inv1_${route}_no_kcache() { inv1_case $route 0 --no-kernel-cache; }"
	done
}
inv1_define_tests

# mount_overlay_on_bin: $BIN becomes an overlay (lower, upper and work dirs
# on the test's tmpfs), gone at teardown.
mount_overlay_on_bin() {
	mkdir -p "$T/ovl/lower" "$T/ovl/upper" "$T/ovl/work" || fail "mkdir failed"
	mount -t overlay gk-it-ovl -o "lowerdir=$T/ovl/lower,upperdir=$T/ovl/upper,workdir=$T/ovl/work" \
		"$BIN" || fail "cannot mount an overlay on $BIN"
	TEST_CLEANUP="mountpoint -q '$BIN' && umount -l '$BIN'${TEST_CLEANUP:+
$TEST_CLEANUP}"
}

# On overlayfs a shared writable mapping whose descriptor is closed writes
# the file beneath: no lease on the overlay's file sees it, its writes need
# not move the ctime, and the kernel refuses no exec for it. So nothing of
# a file there is kept, in memory or in the kernel: every exec is judged
# anew, and the content written through such a mapping after a verdict
# never runs. Root's file by default; a user's with overlayfs_cache:
# root_owned, which keeps only what root alone may write.
t_inv1_mmap_hidden_writer_overlay() {
	mount_overlay_on_bin
	inv1_case mmap_hidden_writer 0
}

t_inv1_mmap_hidden_writer_overlay_no_kcache() {
	mount_overlay_on_bin
	inv1_case mmap_hidden_writer 0 --no-kernel-cache
}

t_inv1_mmap_hidden_writer_overlay_root_owned() {
	mount_overlay_on_bin
	INV1_OWNER=65534 INV1_POLICY="overlayfs_cache: root_owned" inv1_case mmap_hidden_writer 0
}

# overlay_second_exec_cached NAME: two execs of $BIN/NAME, true when the
# second raised no permission event (a kernel hit).
overlay_second_exec_cached() {
	local p1 p2
	expect_runs "$BIN/$1" "$1, first exec: "
	p1=$(settle_num perm_events) || exit 1
	expect_runs "$BIN/$1" "$1, second exec: "
	p2=$(settle_num perm_events) || exit 1
	[[ $p2 -eq $p1 ]]
}

# By default nothing is kept on overlayfs, root's files included; with
# overlayfs_cache: root_owned, what only root may write is cached as
# anywhere else, and a user's file, or one its group may write, is not.
t_overlay_cache_keeps_only_what_policy_trusts() {
	mount_overlay_on_bin
	mkbin rootprog
	mkbin userprog
	mkbin groupprog
	chown 65534 "$BIN/userprog" || fail "chown failed"
	chmod 0775 "$BIN/groupprog" || fail "chmod failed"
	write_policy enforce allow
	start_daemon
	sleep 0.1   # the ctimes settled: a verdict on any of them could be kept
	overlay_second_exec_cached rootprog && fail "root's file on overlayfs was cached by default"
	write_policy enforce allow "overlayfs_cache: root_owned"
	ctl_ok policy apply "$POLICY"
	overlay_second_exec_cached rootprog || fail "overlayfs_cache: root_owned did not cache root's file"
	overlay_second_exec_cached userprog && fail "a user's file on overlayfs was cached"
	overlay_second_exec_cached groupprog && fail "a group-writable file on overlayfs was cached"
	write_policy enforce allow
	ctl_ok policy apply "$POLICY"
	overlay_second_exec_cached rootprog && fail "root's file stayed cached once the policy dropped root_owned"
	return 0
}

# ------------------------------------------------------------ compile-then-run

# A compiler writes a new binary, the shell runs it at once: 200 times, each
# one a new content, none may fail.
t_compile_then_run_200() {
	local i out rc bad=0
	command -v cc >/dev/null || fail "cc not found"
	write_policy enforce allow
	start_daemon
	for ((i = 1; i <= 200; i++)); do
		printf '#include <stdio.h>\nint main(void) { printf("%%d\\n", %d); return 0; }\n' \
			"$i" >"$BIN/x.c"
		out=$(cd "$BIN" && timeout -s KILL 30 cc -o x x.c 2>&1 && timeout -s KILL 15 ./x 2>&1)
		rc=$?
		if [[ $rc -ne 0 || $out != "$i" ]]; then
			bad=$((bad + 1))
			[[ $bad -le 3 ]] && note "round $i: exit $rc, output '${out:0:200}'"
		fi
	done
	[[ $bad -eq 0 ]] || fail "compile-then-run failed $bad of 200 times"
	alive "$DPID" || fail "gatekeeperd died"
}

# The variant program (tail.c) prints the last 16 bytes of its own file, so each
# appended tail is both a new content and a proof of which content ran.
write_tail_printer() {
	[[ -f $TOP/tail.failed ]] && fail "$(cat "$TOP/tail.failed")"
	install -m 0755 "$TOP/tail" "$T/tail" || fail "cannot copy the tail printer"
}

t_copy_then_run_200() {
	local i out rc bad=0
	write_tail_printer
	mkdir "$T/variants" || fail "mkdir failed"
	"$PY" - "$T/tail" "$T/variants" <<-'EOF' || fail "cannot write the variants"
		import os, sys
		base = open(sys.argv[1], "rb").read()
		for i in range(1, 201):
		    path = os.path.join(sys.argv[2], str(i))
		    open(path, "wb").write(base + b"gkv:%011d\n" % i)
		    os.chmod(path, 0o755)
	EOF
	write_policy enforce allow
	start_daemon
	for ((i = 1; i <= 200; i++)); do
		out=$(cp "$T/variants/$i" "$BIN/x" && timeout -s KILL 15 "$BIN/x" 2>&1)
		rc=$?
		if [[ $rc -ne 0 || $out != "$(printf 'gkv:%011d' "$i")" ]]; then
			bad=$((bad + 1))
			[[ $bad -le 3 ]] && note "round $i: exit $rc, output '${out:0:200}'"
		fi
	done
	[[ $bad -eq 0 ]] || fail "cp-then-run failed $bad of 200 times"
	alive "$DPID" || fail "gatekeeperd died"
}

# ------------------------------------------------------------ pre-scan

# quiet_num KEY TENTHS: KEY once it has not moved for TENTHS/10 s (max 30 s).
quiet_num() {
	local prev cur still=0 i
	prev=$(stat_num "$1") || exit 1
	for ((i = 0; i < 300 && still < $2; i++)); do
		sleep 0.1
		cur=$(stat_num "$1") || exit 1
		if [[ $cur == "$prev" ]]; then
			still=$((still + 1))
		else
			still=0
			prev=$cur
		fi
	done
	echo "$prev"
}

# stage_bin NAME: a unique /bin/true copy outside the watched subtree (same
# filesystem), to be put in place with one cp: exactly one close-after-write.
stage_bin() {
	mkdir -p "$T/stage"
	cp /bin/true "$T/stage/$1" &&
		printf '\ngk-it staged %s %s %s\n' "$1" "$RANDOM" "$(date +%s%N)" >>"$T/stage/$1" &&
		chmod 0755 "$T/stage/$1" || fail "cannot stage $1"
}

t_prescan_first_exec_kernel_hit() {
	local s0 s1 pe0 pe1 h0 h1 j0 j1
	stage_bin fresh
	write_policy enforce allow
	start_daemon
	status_json
	s0=$(jget prescans) h0=$(jget first_execs_kernel_hits) j0=$(jget first_execs_prejudged)
	cp "$T/stage/fresh" "$BIN/fresh" || fail "cp failed"
	s1=$(wait_num_at_least prescans $((s0 + 1)) 50) || exit 1
	[[ $s1 -gt $s0 ]] || fail "prescans stayed at $s0 for 5 s after a new binary was written"
	pe0=$(stat_num perm_events) || exit 1
	expect_runs "$BIN/fresh" "first exec of a pre-scanned binary: "
	pe1=$(stat_num perm_events) || exit 1
	[[ $pe1 -eq $pe0 ]] ||
		fail "first exec of a pre-scanned binary raised $((pe1 - pe0)) permission events"
	h1=$(wait_num_at_least first_execs_kernel_hits $((h0 + 1)) 30) || exit 1
	status_json
	j1=$(jget first_execs_prejudged)
	note "prescans $s0 -> $s1, first_execs_kernel_hits $h0 -> $h1, prejudged $j0 -> $j1"
	[[ $h1 -eq $((h0 + 1)) ]] || fail "first_execs_kernel_hits $h0 -> $h1, expected +1"
	[[ $j1 -eq $((j0 + 1)) ]] || fail "first_execs_prejudged $j0 -> $j1, expected +1"
}

# 100 closes of one 48 MiB binary in a burst, one scan worker: fewer scans
# than closes, and the verdict that stands is the final content's (denied by
# hash beforehand, under default allow).
t_prescan_burst_coalesces() {
	local s0 c0 d0 s1 c1 d1 scans i
	need_spawner
	write_policy enforce allow
	start_daemon --scan-workers 1
	"$PY" - "$T/base" "$T/final" <<-'EOF' || fail "cannot build the burst contents"
		import sys
		base = open("/bin/true", "rb").read() + b"\0" * (48 << 20)
		open(sys.argv[1], "wb").write(base)
		open(sys.argv[2], "wb").write(base + b"".join(b"chunk %03d\n" % i for i in range(1, 100)))
	EOF
	ctl_ok deny "$T/final"
	status_json
	s0=$(jget prescans) c0=$(jget prescan_coalesced) d0=$(jget prescan_dropped)
	cp "$T/base" "$BIN/burst" && chmod 0755 "$BIN/burst" || fail "cp failed"
	# One process per close: fanotify merges identical events from one
	# process while they wait in its queue, and the daemon's own coalescing
	# is what is tested here.
	for ((i = 1; i < 100; i++)); do
		(printf 'chunk %03d\n' "$i" >>"$BIN/burst") || fail "append $i failed"
	done
	cmp -s "$BIN/burst" "$T/final" || fail "test setup: the burst's final content differs from $T/final"
	s1=$(quiet_num prescans 10) || exit 1
	status_json
	c1=$(jget prescan_coalesced) d1=$(jget prescan_dropped)
	scans=$((s1 - s0))
	note "100 closes: prescans +$scans, prescan_coalesced +$((c1 - c0)), prescan_dropped +$((d1 - d0))"
	[[ $scans -ge 1 ]] || fail "100 closes of an executable were never scanned"
	[[ $scans -lt 100 ]] || fail "100 closes were scanned $scans times: no coalescing"
	[[ $((c1 - c0)) -gt 0 ]] || fail "prescan_coalesced did not move ($c0 -> $c1)"
	expect_eperm "$BIN/burst" "the final content (denied by hash) after the burst: "
	expect_eperm "$BIN/burst" "the final content, second exec: "
}

t_prescan_skips_text_files() {
	local s0 s1 s2
	stage_bin after
	write_policy enforce allow
	start_daemon
	s0=$(stat_num prescans) || exit 1
	printf 'just some notes, %s\n' "$RANDOM" >"$BIN/notes.txt"
	chmod 0644 "$BIN/notes.txt"
	# An executable written after it: once its scan is counted, the text
	# file's close was handled too (one reader, events in order).
	cp "$T/stage/after" "$BIN/after" || fail "cp failed"
	s1=$(wait_num_at_least prescans $((s0 + 1)) 50) || exit 1
	[[ $s1 -gt $s0 ]] || fail "the executable written after the text file was never scanned"
	sleep 0.5
	s2=$(stat_num prescans) || exit 1
	note "prescans $s0 -> $s1 -> $s2"
	[[ $s2 -eq $((s0 + 1)) ]] ||
		fail "prescans $s0 -> $s2 after one text file and one executable: the text file was scanned"
}

# ------------------------------------------------------------ read leases

# ms_now: a monotonic-enough clock in milliseconds.
ms_now() {
	echo $(($(date +%s%N) / 1000000))
}

# fanotify mode holds a read lease on each cached allow: a writer's open
# breaks it and must go on at once while the daemon is healthy, and at once
# after the daemon is gone.
t_lease_breaks_do_not_stall_writers() {
	local i t0 t1 worst=0 held breaks0 breaks1
	for ((i = 0; i < 20; i++)); do
		mkbin "l$i"
	done
	write_policy enforce allow
	start_daemon
	for ((i = 0; i < 20; i++)); do
		expect_runs "$BIN/l$i" "first exec: "
		expect_runs "$BIN/l$i" "second exec: "
	done
	status_json
	held=$(jget_or_zero leases_held) breaks0=$(jget_or_zero lease_breaks)
	[[ $held -ge 20 ]] || fail "leases_held=$held after 20 cached allows (expected >= 20)"
	for ((i = 0; i < 20; i++)); do
		t0=$(ms_now)
		printf x >>"$BIN/l$i" || fail "append to $BIN/l$i failed"
		t1=$(ms_now)
		((t1 - t0 > worst)) && worst=$((t1 - t0))
	done
	status_json
	breaks1=$(jget_or_zero lease_breaks)
	note "leases_held=$held, lease_breaks +$((breaks1 - breaks0)), slowest writer open $worst ms"
	[[ $worst -lt 1000 ]] || fail "a writer waited $worst ms for the daemon to give up its lease"
	[[ $((breaks1 - breaks0)) -ge 20 ]] || fail "lease_breaks +$((breaks1 - breaks0)) after 20 writers"
	expect_runs "$BIN/l0" "after the write (default allow): "
	expect_runs "$BIN/l0" "after the write, cached again: "
	kill9_daemon
	t0=$(ms_now)
	printf x >>"$BIN/l0" || fail "append after kill -9 failed"
	t1=$(ms_now)
	[[ $((t1 - t0)) -lt 1000 ]] || fail "a writer waited $((t1 - t0)) ms after the daemon was killed"
}

# Content read within two clock ticks of the file's last change may be
# rewritten (same size, same ctime) before the kernel cache entry is made.
# Enforce mode (fanotify): the worker leases the file before it reads it,
# so such content is cached at once (a writer would break the lease).
# Monitor mode holds no leases: such a verdict is not cached in the kernel
# (kernel_cache_unsettled), so the next exec raises an event again. chmod
# moves the ctime without a close-write (no pre-scan); a monitor round
# whose exec came too late to read an unsettled ctime proves nothing.
t_unsettled_content_not_cached_in_kernel() {
	local i u0 u1 e1 e2 pe0 pe1 rounds=0
	for ((i = 0; i < 30; i++)); do
		mkbin "u$i"
	done
	write_policy enforce allow
	start_daemon
	for ((i = 0; i < 5; i++)); do
		chmod 0700 "$BIN/u$i" || fail "chmod $BIN/u$i failed"
		expect_runs "$BIN/u$i" "enforce, round $i, first exec: "
		pe0=$(stat_num perm_events)
		expect_runs "$BIN/u$i" "enforce, round $i, second exec: "
		pe1=$(stat_num perm_events)
		[[ $pe1 -eq $pe0 ]] ||
			fail "enforce, round $i: the second exec raised $((pe1 - pe0)) events (the leased read was not cached)"
	done
	stop_daemon
	write_policy monitor allow
	start_daemon
	for ((i = 5; i < 30 && rounds < 3; i++)); do
		u0=$(stat_num kernel_cache_unsettled)
		chmod 0700 "$BIN/u$i" || fail "chmod $BIN/u$i failed"
		expect_runs "$BIN/u$i" "monitor, round $i, first exec: "
		u1=$(wait_num_at_least kernel_cache_unsettled $((u0 + 1)) 10) || exit 1
		[[ $u1 -gt $u0 ]] || continue
		rounds=$((rounds + 1))
		e1=$(stat_num events)
		expect_runs "$BIN/u$i" "monitor, round $i, second exec: "
		e2=$(wait_num_at_least events $((e1 + 1)) 20) || exit 1
		[[ $e2 -gt $e1 ]] ||
			fail "monitor, round $i: read before its ctime settled, yet the second exec raised no event (cached in the kernel)"
	done
	note "monitor rounds that read unsettled content: $rounds of $((i - 5))"
	[[ $rounds -ge 3 ]] || fail "only $rounds of $((i - 5)) monitor rounds read content before its ctime settled"
}
