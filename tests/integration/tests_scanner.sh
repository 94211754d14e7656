# Scanner tests on real execs: ClamAV in process (databases built here, at
# run time: no network, no freshclam), hash lists, signature reloads without
# a pause, broken databases and on_error.
# Sourced by run.sh before its GK_IT_ONLY filter: this file adds its own
# entries to TESTS; each t_NAME runs in its own process (see lib.sh).

TESTS+=(
	scanner_clamav_ndb_and_hsb_detect:60
	scanner_admin_allow_overrides_detection:40
	scanner_reload_under_exec_load:90
	scanner_reload_reaches_cached_allows:60
	scanner_database_polled_without_sighup:110
	scanner_missing_database_on_error:60
	scanner_corrupt_ndb_on_error:60
	scanner_hashlist_denies_with_list_name:40
	scanner_subtree_limits_apply_on_error:60
)

# The EICAR test string, in two halves so that no file of the repository
# holds it whole (a scanner of the checkout would flag it).
SCN_EICAR_A='X5O!P%@AP[4\PZX54(P^)7CC)7}$'
SCN_EICAR_B='EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'

# ---------------------------------------------------------------- helpers

# scn_eicar_script PATH: a runnable #! script that carries EICAR in a
# comment line, plus a unique line (its own SHA-256, so it is scanned).
scn_eicar_script() {
	printf '#!/bin/sh\n# %s%s\n# gk-it %s %s\nexit 0\n' "$SCN_EICAR_A" "$SCN_EICAR_B" \
		"$RANDOM" "$(date +%s%N)" >"$1" && chmod 0755 "$1" ||
		fail "cannot write the EICAR script $1"
}

# scn_clean_script PATH: a runnable script with no signature in it.
scn_clean_script() {
	printf '#!/bin/sh\n# clean gk-it %s %s\nexit 0\n' "$RANDOM" "$(date +%s%N)" >"$1" &&
		chmod 0755 "$1" || fail "cannot write the script $1"
}

# scn_eicar_ndb NAME: one .ndb line (any target type, any offset) that
# matches the EICAR string in hex.
scn_eicar_ndb() {
	printf '%s:0:*:%s\n' "$1" "$(printf '%s%s' "$SCN_EICAR_A" "$SCN_EICAR_B" | od -An -v -tx1 | tr -d ' \n')"
}

# scn_new_elf PATH TAG: a copy of the elf helper (make helpers) with TAG
# and the time appended: it still runs, and its SHA-256 is its own.
scn_new_elf() {
	[[ -f $TOP/elf.failed ]] && fail "$(cat "$TOP/elf.failed")"
	{ cat "$TOP/elf" && printf '\n%s %s\n' "$2" "$(date +%s%N)"; } >"$1" || fail "cannot write $1"
	chmod 0755 "$1"
}

# scn_hsb PATH NAME: the .hsb line (sha256:size:name) for PATH's content.
scn_hsb() {
	printf '%s:%s:%s\n' "$(sha_of "$1")" "$(stat -c %s "$1")" "$2"
}

# scn_policy ON_ERROR CLAMAV_DB [HASHLIST_FILE]: enforce, default allow, the
# engines named (CLAMAV_DB "" for none).
scn_policy() {
	local lines=("on_error: $1" "scanners:")
	[[ -n $2 ]] && lines+=("  clamav: {enabled: true, database: $2}")
	[[ -n ${3:-} ]] && lines+=("  hashlist: {files: [$3]}")
	write_policy enforce allow "${lines[@]}"
}

# scn_line ENGINE: the engine's `scanners:` line of a fresh text status.
scn_line() {
	local out
	out=$(ctl status 2>&1) || fail "status failed (daemon unreachable?): $out"
	printf '%s\n' "$out" | sed -n "s/^scanners: \($1: .*\)$/\1/p" | head -n 1
}

scn_generation() {
	printf '%s\n' "$1" | sed -n 's/.*, generation \([0-9]*\).*/\1/p'
}

# scn_wait_available ENGINE MIN_GENERATION: until status says the engine
# serves a set of at least that generation and no reload is running. Sets
# SCN_LINE and SCN_GEN.
scn_wait_available() {
	local i
	for ((i = 0; i < 300; i++)); do
		SCN_LINE=$(scn_line "$1")
		SCN_GEN=$(scn_generation "$SCN_LINE")
		if [[ $SCN_LINE == "$1: available,"* && $SCN_LINE != *reloading* &&
			${SCN_GEN:-0} -ge $2 ]]; then
			return 0
		fi
		sleep 0.05
	done
	fail "status never showed '$1: available ... generation >= $2' (last: '$SCN_LINE')"
}

# scn_wait_failed ENGINE: until status says the engine's load failed and no
# reload is running. Sets SCN_LINE.
scn_wait_failed() {
	local i
	for ((i = 0; i < 200; i++)); do
		SCN_LINE=$(scn_line "$1")
		[[ $SCN_LINE == *"last error: "* && $SCN_LINE != *reloading* ]] && return 0
		sleep 0.05
	done
	fail "status never showed a failed load for $1 (last: '$SCN_LINE')"
}

# scn_hup: SIGHUP to the daemon (policy and signatures reload).
scn_hup() {
	[[ -n $DPID ]] || fail "cannot find gatekeeperd's PID under timeout"
	kill -HUP "$DPID" || fail "cannot send SIGHUP to gatekeeperd ($DPID)"
}

# scn_hup_policy TEXT: SIGHUP, then wait until `policy show` holds TEXT.
scn_hup_policy() {
	local i
	scn_hup
	for ((i = 0; i < 100; i++)); do
		ctl policy show 2>/dev/null | grep -qF -- "$1" && return 0
		sleep 0.05
	done
	fail "the policy reloaded by SIGHUP does not show '$1'"
}

# scn_expect_query PATH VERDICT SOURCE [DETAIL_PART]
scn_expect_query() {
	local v
	ctl_ok query "$1"
	v=$(field_of "$CTL_OUT" verdict)
	[[ $v == "$2" ]] || fail "query $1: verdict '$v', expected $2 ($(echo "$CTL_OUT" | tr '\n' ' '))"
	v=$(field_of "$CTL_OUT" source)
	[[ $v == "$3" ]] || fail "query $1: source '$v', expected $3 ($(echo "$CTL_OUT" | tr '\n' ' '))"
	v=$(field_of "$CTL_OUT" detail)
	[[ -z ${4:-} || $v == *"$4"* ]] ||
		fail "query $1: detail '$v' does not contain '$4'"
	SCN_DETAIL=$v
}

# scn_log_line FIXED...: the first daemon log line holding every FIXED
# string (waits up to 5 s for it).
scn_log_line() {
	local i line s ok
	for ((i = 0; i < 50; i++)); do
		while IFS= read -r line; do
			ok=1
			for s in "$@"; do
				[[ $line == *"$s"* ]] || ok=0
			done
			if ((ok)); then
				printf '%s\n' "$line"
				return 0
			fi
		done <"$DLOG"
		sleep 0.1
	done
	return 1
}

scn_expect_alive() {
	alive "$DPID" || fail "gatekeeperd died ($1)"
	ctl_ok status
}

# scn_stop_checked: SIGTERM; the daemon exits 0 and its log holds no
# sanitizer report (the suite may run an ASan/UBSan build; reloads free
# signature sets while scans may hold them).
scn_stop_checked() {
	stop_daemon
	grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$DLOG" &&
		fail "sanitizer report in the daemon log: $(grep -m 1 -E 'Sanitizer|runtime error:' "$DLOG")"
	[[ $DRC == 0 ]] || fail "gatekeeperd exited $DRC after SIGTERM (expected 0)"
}

# ---------------------------------------------------------------- ClamAV

# An .ndb hex signature (EICAR in a script comment) and an .hsb SHA-256
# signature (an ELF compiled here) deny the exec; the query names the
# signature; clean files run.
t_scanner_clamav_ndb_and_hsb_detect() {
	local db=$T/clamdb
	mkdir "$db"
	scn_eicar_script "$BIN/eicar.sh"
	scn_clean_script "$BIN/clean.sh"
	scn_new_elf "$BIN/bad-elf" infected
	scn_new_elf "$BIN/good-elf" clean
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	scn_hsb "$BIN/bad-elf" GkTest.Elf.Hsb >"$db/gk-test.hsb"
	scn_policy deny "$db"
	start_daemon
	scn_wait_available clamav 1
	[[ $SCN_LINE == *" 2 signatures"* ]] || fail "status after loading 2 signatures: '$SCN_LINE'"

	expect_eperm "$BIN/eicar.sh" "EICAR in a script comment (.ndb): "
	scn_expect_query "$BIN/eicar.sh" deny scanner GkTest.Eicar.Ndb
	note "eicar.sh detail: $SCN_DETAIL"
	expect_eperm "$BIN/bad-elf" "ELF listed by SHA-256 (.hsb): "
	scn_expect_query "$BIN/bad-elf" deny scanner GkTest.Elf.Hsb
	expect_runs "$BIN/clean.sh" "clean script: "
	expect_runs "$BIN/good-elf" "clean ELF: "
	expect_eperm "$BIN/eicar.sh" "EICAR script, second exec: "
	scn_log_line "path=$BIN/bad-elf " "verdict=deny" "source=scanner" "GkTest.Elf.Hsb" >/dev/null ||
		fail "no decision log line for $BIN/bad-elf with source=scanner and the signature"
	scn_stop_checked
}

# An admin allow of the infected content beats the scanner; forget gives
# the scanner's deny back.
t_scanner_admin_allow_overrides_detection() {
	local db=$T/clamdb
	mkdir "$db"
	scn_eicar_script "$BIN/eicar.sh"
	scn_new_elf "$BIN/bad-elf" infected
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	scn_hsb "$BIN/bad-elf" GkTest.Elf.Hsb >"$db/gk-test.hsb"
	scn_policy deny "$db"
	start_daemon
	scn_wait_available clamav 1
	expect_eperm "$BIN/eicar.sh" "before the admin allow: "
	expect_eperm "$BIN/bad-elf" "before the admin allow: "
	ctl_ok allow "$BIN/eicar.sh"
	ctl_ok allow "$BIN/bad-elf"
	expect_runs "$BIN/eicar.sh" "infected script, admin-allowed: "
	expect_runs "$BIN/bad-elf" "infected ELF, admin-allowed: "
	scn_expect_query "$BIN/bad-elf" allow admin
	ctl_ok forget "$BIN/bad-elf"
	expect_eperm "$BIN/bad-elf" "infected ELF after forget: "
	scn_expect_query "$BIN/bad-elf" deny scanner GkTest.Elf.Hsb
	scn_stop_checked
}

# scn_big_db DIR HSB NDB: random signatures (they match nothing) so that a
# load and compile take noticeable time.
scn_big_db() {
	"$PY" - "$1" "$2" "$3" <<-'EOF' || fail "cannot write the large database"
		import os, sys
		d, n_hsb, n_ndb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
		with open(d + "/big.hsb", "w") as f:
		    for i in range(n_hsb):
		        f.write("%s:%d:GkTest.Random.Hsb.%d\n" % (os.urandom(32).hex(), 4096 + i, i))
		with open(d + "/big.ndb", "w") as f:
		    for i in range(n_ndb):
		        f.write("GkTest.Random.Ndb.%d:0:*:%s\n" % (i, os.urandom(16).hex()))
	EOF
}

# scn_exec_loop OUT STOP: until STOP exists (at most 60 s), exec a program
# of new content (so each is scanned): one line "RESULT T0_US T1_US" each.
scn_exec_loop() {
	local out=$1 stop=$2 i f r t0 t1 deadline=$((SECONDS + 60))
	for ((i = 0; i < 5000 && SECONDS < deadline; i++)); do
		[[ -e $stop ]] && break
		f=$BIN/loop-$i
		cp /bin/true "$f" && printf '\ngk-it loop %s %s\n' "$i" "$EPOCHREALTIME" >>"$f" &&
			chmod 0755 "$f" || {
			echo "setup-failed 0 0" >>"$out"
			continue
		}
		t0=${EPOCHREALTIME/./}
		r=$(exec_result "$f")
		t1=${EPOCHREALTIME/./}
		echo "$r $t0 $t1" >>"$out"
		rm -f "$f"
	done
}

# While programs of new content run back to back, the signatures are
# reloaded several times (a new .hsb each time, SIGHUP) from a database that
# takes a noticeable time to compile: no exec fails or hangs, and each new
# signature applies at once, without a restart.
t_scanner_reload_under_exec_load() {
	local db=$T/clamdb r gen hup done_t loop_pid windows="" bad total during lat dlat loads
	mkdir "$db"
	need_spawner
	scn_big_db "$db" 100000 50000
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	for r in 1 2 3 4 5; do
		scn_new_elf "$BIN/new-$r" "reload round $r"
	done
	scn_policy deny "$db"
	start_daemon
	scn_wait_available clamav 1
	gen=$SCN_GEN
	scn_exec_loop "$T/loop.out" "$T/loop.stop" &
	loop_pid=$!
	sleep 0.5
	for r in 1 2 3 4 5; do
		scn_hsb "$BIN/new-$r" "GkTest.Reload.$r" >"$db/new-$r.hsb"
		hup=${EPOCHREALTIME/./}
		scn_hup
		scn_wait_available clamav $((gen + r))
		done_t=${EPOCHREALTIME/./}
		windows+="$hup $done_t "
		expect_eperm "$BIN/new-$r" "reload $r, a file its new signature lists: "
		scn_expect_query "$BIN/new-$r" deny scanner "GkTest.Reload.$r"
		alive "$loop_pid" || break
	done
	sleep 0.3
	touch "$T/loop.stop"
	wait "$loop_pid"
	total=$(wc -l <"$T/loop.out")
	bad=$(grep -vc '^ran:0 ' "$T/loop.out")
	# Execs whose span overlapped a reload (SIGHUP to the new set in force).
	during=$(awk -v w="$windows" 'BEGIN { n = split(w, a, " ") }
		{ for (i = 1; i < n; i += 2) if ($2 <= a[i + 1] && $3 >= a[i]) { c++; break } }
		END { print c + 0 }' "$T/loop.out")
	lat=$(awk '{ d = $3 - $2; if (d > m) m = d } END { print int(m / 1000) }' "$T/loop.out")
	# The daemon's own time per decision: a scan that waited for a compile
	# would take as long as the compile.
	dlat=$(grep -F "path=$BIN/loop-" "$DLOG" | sed -n 's/.* latency_us=\([0-9]*\) .*/\1/p' |
		sort -n | tail -n 1)
	loads=$(sed -n 's/.*clamav: loaded [0-9]* signatures in \([0-9]*\) ms.*/\1/p' "$DLOG" | tr '\n' ' ')
	note "$total execs of new content, $during during a reload; slowest exec $lat ms," \
		"slowest decision ${dlat:-?} us; loads took (ms): $loads"
	[[ $bad -eq 0 ]] || fail "$bad of $total execs during the reloads did not run: $(grep -v '^ran:0 ' "$T/loop.out" | cut -d' ' -f1 | sort | uniq -c | tr '\n' ' ')"
	[[ $total -ge 20 ]] || fail "only $total execs ran during the reloads"
	[[ $during -ge 5 ]] || fail "only $during execs overlapped a reload (the test proves nothing)"
	[[ ${dlat:-0} -lt 1000000 ]] || fail "a decision took $dlat us during the reloads (a scan waited?)"
	scn_expect_alive "after the reloads"
	scn_stop_checked
}

# A content that was judged clean and run before its signature arrived is
# denied once the new set is in force, also when it ran while that set was
# still compiling (its allow may sit in the kernel cache).
t_scanner_reload_reaches_cached_allows() {
	local db=$T/clamdb gen
	mkdir "$db"
	scn_big_db "$db" 100000 50000
	scn_new_elf "$BIN/before" "ran before the reload"
	scn_new_elf "$BIN/during" "ran during the compile"
	scn_policy deny "$db"
	start_daemon
	scn_wait_available clamav 1
	gen=$SCN_GEN
	expect_runs "$BIN/before" "no signature yet: "
	expect_runs "$BIN/during" "no signature yet: "
	expect_runs "$BIN/before" "no signature yet, again (cached): "
	{
		scn_hsb "$BIN/before" GkTest.Late.Before
		scn_hsb "$BIN/during" GkTest.Late.During
	} >"$db/late.hsb"
	scn_hup
	# Right after the SIGHUP the old set is still in force: it may run.
	exec_result "$BIN/during" >/dev/null
	SCN_LINE=$(scn_line clamav)
	[[ $SCN_LINE == *reloading* ]] || note "the exec during the compile may have missed it: '$SCN_LINE'"
	scn_wait_available clamav $((gen + 1))
	scn_expect_query "$BIN/before" deny scanner GkTest.Late.Before
	expect_eperm "$BIN/before" "signature added by a reload, ran before it: "
	expect_eperm "$BIN/during" "signature added by a reload, ran while it compiled: "
	scn_stop_checked
}

# Without a SIGHUP, the database directory's poll (every 60 s) brings in a
# new signature file: it applies to a content never seen, and to one that
# ran (and was cached as allowed) before.
t_scanner_database_polled_without_sighup() {
	local db=$T/clamdb gen
	mkdir "$db"
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	scn_new_elf "$BIN/unseen" "first run after the poll"
	scn_new_elf "$BIN/seen" "ran before the poll"
	scn_policy deny "$db"
	start_daemon
	scn_wait_available clamav 1
	gen=$SCN_GEN
	expect_runs "$BIN/seen" "no signature yet: "
	{
		scn_hsb "$BIN/unseen" GkTest.Polled.Unseen
		scn_hsb "$BIN/seen" GkTest.Polled.Seen
	} >"$db/polled.hsb"
	local i t0=$SECONDS
	for ((i = 0; i < 900; i++)); do
		SCN_LINE=$(scn_line clamav)
		[[ $(scn_generation "$SCN_LINE") -gt $gen && $SCN_LINE != *reloading* ]] && break
		sleep 0.1
	done
	[[ $(scn_generation "$SCN_LINE") -gt $gen ]] ||
		fail "no reload within $((SECONDS - t0)) s of a new file in the database directory: '$SCN_LINE'"
	note "the poll reloaded $((SECONDS - t0)) s after the new file"
	expect_eperm "$BIN/unseen" "signature brought in by the poll, first exec: "
	scn_expect_query "$BIN/unseen" deny scanner GkTest.Polled.Unseen
	expect_eperm "$BIN/seen" "signature brought in by the poll, ran (allowed) before: "
	scn_stop_checked
}

# scn_broken_db_case DB ERROR_PART FIX: the engine cannot load DB. With
# on_error deny a clean program is denied (source on-error); with on_error
# allow (SIGHUP) it runs; the daemon keeps answering; FIX (a command) and a
# SIGHUP bring the signatures in.
scn_broken_db_case() {
	local db=$1 part=$2 fix=$3 line
	scn_eicar_script "$BIN/eicar.sh"
	scn_new_elf "$BIN/clean-1" "on_error deny"
	scn_new_elf "$BIN/clean-2" "on_error allow"
	scn_new_elf "$BIN/clean-3" "after the fix"
	scn_policy deny "$db"
	start_daemon
	scn_wait_failed clamav
	[[ $SCN_LINE == *"$part"* ]] || fail "status last error does not name $part: '$SCN_LINE'"
	line=$(scn_log_line clamav "$part") || fail "no daemon log line names $part: $(tail -n 5 "$DLOG" | tr '\n' ' ')"
	note "log: $line"
	expect_eperm "$BIN/clean-1" "clean file, database broken, on_error deny: "
	scn_expect_query "$BIN/clean-1" deny on-error
	note "on-error detail: $SCN_DETAIL"
	scn_expect_alive "after a scan with a broken database"

	scn_policy allow "$db"
	scn_hup_policy "on_error: allow"
	expect_runs "$BIN/clean-2" "clean file, database broken, on_error allow: "
	scn_expect_query "$BIN/clean-2" allow on-error
	expect_runs "$BIN/eicar.sh" "EICAR, database broken, on_error allow (not scanned): "
	scn_expect_alive "after on_error allow"

	"$fix" "$db"
	scn_policy deny "$db"
	scn_hup_policy "on_error: deny"
	scn_wait_available clamav 1
	expect_eperm "$BIN/eicar.sh" "EICAR after the database was fixed: "
	scn_expect_query "$BIN/eicar.sh" deny scanner GkTest.Eicar.Ndb
	expect_runs "$BIN/clean-3" "clean file after the database was fixed: "
	expect_runs "$BIN/clean-1" "the file on_error denied, after the fix: "
}

scn_fix_create_db() {
	mkdir -p "$1" && scn_eicar_ndb GkTest.Eicar.Ndb >"$1/gk-test.ndb" || fail "cannot create $1"
}

# The database directory does not exist.
t_scanner_missing_database_on_error() {
	scn_broken_db_case "$T/nonexistent" "$T/nonexistent" scn_fix_create_db
	scn_stop_checked
}

scn_fix_corrupt_ndb() {
	scn_eicar_ndb GkTest.Eicar.Ndb >"$1/bad.ndb" || fail "cannot rewrite $1/bad.ndb"
}

# One .ndb file is corrupt: the whole load fails, naming that file. Once
# fixed and loaded, a corrupt file again (and a SIGHUP) keeps the set in
# force: detection goes on.
t_scanner_corrupt_ndb_on_error() {
	local db=$T/clamdb
	mkdir "$db"
	printf 'GkTest.Other:0:*:%s\n' "$(head -c 16 /dev/urandom | od -An -v -tx1 | tr -d ' \n')" >"$db/good.ndb"
	printf 'GkTest.Broken:this is not a signature\n' >"$db/bad.ndb"
	scn_broken_db_case "$db" "$db/bad.ndb" scn_fix_corrupt_ndb

	printf 'GkTest.Broken:0:*:zz-not-hex\n' >"$db/worse.ndb"
	scn_hup
	scn_wait_failed clamav
	[[ $SCN_LINE == "clamav: available,"* ]] || fail "a failed reload dropped the set in force: '$SCN_LINE'"
	[[ $SCN_LINE == *"$db/worse.ndb"* ]] || fail "status last error does not name $db/worse.ndb: '$SCN_LINE'"
	scn_log_line "reload failed" "$db/worse.ndb" >/dev/null || fail "no log line names $db/worse.ndb"
	scn_eicar_script "$BIN/eicar-2.sh"
	expect_eperm "$BIN/eicar-2.sh" "new EICAR content after a failed reload: "
	scn_expect_query "$BIN/eicar-2.sh" deny scanner GkTest.Eicar
	scn_expect_alive "after a failed reload"
	scn_stop_checked
}

# ---------------------------------------------------------------- hash lists

t_scanner_hashlist_denies_with_list_name() {
	local list=$T/deny.sha256
	scn_new_elf "$BIN/listed" "hash listed"
	scn_new_elf "$BIN/unnamed" "hash listed without a name"
	scn_new_elf "$BIN/unlisted" "not listed"
	{
		echo "# gatekeeper integration test list"
		echo "$(sha_of "$BIN/listed")  GkTest.HashList.Listed"
		sha_of "$BIN/unnamed"
	} >"$list"
	scn_policy deny "" "$list"
	start_daemon
	scn_wait_available hashlist 1
	expect_eperm "$BIN/listed" "listed by SHA-256: "
	scn_expect_query "$BIN/listed" deny scanner
	[[ $SCN_DETAIL == GkTest.HashList.Listed ]] || fail "detail of a listed file: '$SCN_DETAIL'"
	expect_eperm "$BIN/unnamed" "listed without a name: "
	scn_expect_query "$BIN/unnamed" deny scanner "$list"
	note "unnamed entry detail: $SCN_DETAIL"
	expect_runs "$BIN/unlisted" "not listed: "
	scn_log_line "path=$BIN/listed " "source=scanner" "GkTest.HashList.Listed" >/dev/null ||
		fail "no decision log line for $BIN/listed names the list entry"
	scn_stop_checked
}

# ---------------------------------------------------------------- limits

# Each scan: subtree holds files to its own limits: a file over
# max_file_size, or whose scan outlasts max_scan_time_ms, gets on_error
# (deny here) and the verdict says which limit; a file within them runs.
t_scanner_subtree_limits_apply_on_error() {
	local db=$T/clamdb
	mkdir "$db" "$BIN/slow" "$BIN/capped"
	printf 'GkTest.NoMatch:0:*:%s\n' "$(printf 'gk-no-such-bytes' | od -An -v -tx1 | tr -d ' \n')" >"$db/t.ndb"
	cp /bin/true "$BIN/slow/big"
	head -c 40000000 /dev/urandom >>"$BIN/slow/big"
	cp /bin/true "$BIN/capped/over"
	cp /bin/true "$BIN/within"
	printf 'within' >>"$BIN/within"
	write_policy enforce allow "on_error: deny" "scanners:" \
		"  clamav: {enabled: true, database: $db}" "scan:" \
		"  - {path: $BIN/slow, engines: [clamav], max_scan_time_ms: 10}" \
		"  - {path: $BIN/capped, engines: [clamav], max_file_size: 1K}"
	start_daemon
	scn_wait_available clamav 1
	expect_runs "$BIN/within" "a small file under the default plan: "
	expect_eperm "$BIN/slow/big" "a 40 MB scan against a 10 ms limit: "
	scn_expect_query "$BIN/slow/big" deny on-error "max_scan_time_ms"
	expect_eperm "$BIN/capped/over" "a file over a 1K max_file_size: "
	scn_expect_query "$BIN/capped/over" deny on-error "max_file_size"
	scn_stop_checked
}
