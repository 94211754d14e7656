# Scanner engines across policy changes: a hash list that does not load
# refuses the policy (apply, SIGHUP, start, policy check) and changes
# nothing; each engine is rebuilt only when its own configuration changed,
# and ClamAV's previous engine answers while a new one loads; every
# max_file_size the parser accepts works with ClamAV.
# Sourced by run.sh after tests_scanner.sh (its scn_ helpers); adds its own
# entries to TESTS.

TESTS+=(
	scanner_hashlist_bad_list_refused:60
	scanner_hashlist_broken_in_place_refused:40
	scanner_hashlist_fifo_refused_at_once:40
	scanner_engines_rebuilt_alone:120
	scanner_clamav_file_size_up_to_16g:60
)

# sap_policy FILE ON_ERROR CLAMAV_DB HASHLIST_FILES [EXTRA_LINE...]: like
# scn_policy, into FILE (HASHLIST_FILES "a, b" for several).
sap_policy() {
	local keep=$POLICY file=$1 on_error=$2 db=$3 lists=$4
	shift 4
	local lines=("on_error: $on_error" "scanners:")
	[[ -n $db ]] && lines+=("  clamav: {enabled: true, database: $db}")
	[[ -n $lists ]] && lines+=("  hashlist: {files: [$lists]}")
	POLICY=$file
	write_policy enforce allow "${lines[@]}" "$@"
	POLICY=$keep
}

sap_policy_sha() {
	ctl_ok policy show
	field_of "$CTL_OUT" sha256
}

# sap_expect_refused RC OUT WANT WHAT: a one-line refusal, exit 2, naming WANT.
sap_expect_refused() {
	[[ $1 -eq 2 ]] || fail "$4: exit $1, expected 2: $2"
	[[ $2 == *"$3"* ]] || fail "$4: the error does not name '$3': $2"
	[[ $(printf '%s\n' "$2" | wc -l) -eq 1 ]] || fail "$4: more than one line: $2"
}

# A list with a malformed line, added to a policy whose list denies prog:
# apply, policy check, SIGHUP and a start all refuse it with FILE:2, and the
# running policy, its list and the cached deny stay in force.
t_scanner_hashlist_bad_list_refused() {
	local good=$T/good.sha256 bad=$T/bad.sha256 new=$T/new.yaml sha out rc
	scn_new_elf "$BIN/prog" "listed in good.sha256"
	echo "$(sha_of "$BIN/prog") GkTest.Good" >"$good"
	printf '# a list with one bad line\nnot-a-hash Bad\n' >"$bad"
	sap_policy "$POLICY" allow "" "$good"
	sap_policy "$new" allow "" "$good, $bad"
	start_daemon
	expect_eperm "$BIN/prog" "listed, before the apply: "
	sha=$(sap_policy_sha)
	local want="$bad:2: expected a SHA-256 as 64 hex digits, then an optional name"

	out=$(ctl policy apply "$new" 2>&1)
	rc=$?
	sap_expect_refused "$rc" "$out" "scanners.hashlist: $want" "policy apply with a bad list"
	note "apply: $out"
	[[ $(sap_policy_sha) == "$sha" ]] || fail "a refused apply changed the policy in force"
	expect_eperm "$BIN/prog" "listed, after the refused apply: "
	scn_expect_query "$BIN/prog" deny scanner GkTest.Good
	[[ $(scn_line hashlist) == "hashlist: available, 1 signatures, generation 1" ]] ||
		fail "the list in force changed: '$(scn_line hashlist)'"

	out=$(timeout -s KILL 10 "$CTL" policy check "$new" 2>&1)
	rc=$?
	sap_expect_refused "$rc" "$out" "$new: scanners.hashlist: $want" "policy check"
	out=$(timeout -s KILL 10 "$CTL" --json policy check "$new" 2>&1)
	[[ $out == *'"ok":false'* && $out == *"$bad:2"* ]] || fail "policy check --json: $out"
	timeout -s KILL 10 "$CTL" policy check "$POLICY" >/dev/null || fail "policy check of the good policy failed"

	cp "$new" "$POLICY"
	scn_hup
	scn_log_line reload_failed "$want" >/dev/null ||
		fail "no reload_failed line names $bad:2: $(tail -n 3 "$DLOG" | tr '\n' ' ')"
	[[ $(sap_policy_sha) == "$sha" ]] || fail "a refused SIGHUP reload changed the policy in force"
	expect_eperm "$BIN/prog" "listed, after the refused SIGHUP: "
	scn_stop_checked

	out=$(timeout -s KILL 20 "$GKD" --foreground --policy "$POLICY" --db "$DB" --socket "$SOCK" 2>&1)
	rc=$?
	sap_expect_refused "$rc" "$out" "scanners.hashlist: $want" "a start with the bad list"
}

# The same list, broken in place, then the same policy applied again: its
# engine is kept (same files), yet the apply reads the list and refuses.
# Before, the apply succeeded and the list stayed broken unnoticed.
t_scanner_hashlist_broken_in_place_refused() {
	local good=$T/good.sha256 out rc
	scn_new_elf "$BIN/prog" "listed in good.sha256"
	echo "$(sha_of "$BIN/prog") GkTest.Good" >"$good"
	sap_policy "$POLICY" allow "" "$good"
	start_daemon
	expect_eperm "$BIN/prog" "listed: "
	printf 'not-a-hash Bad\n' >>"$good"
	out=$(ctl policy apply "$POLICY" 2>&1)
	rc=$?
	sap_expect_refused "$rc" "$out" "$good:2: expected a SHA-256" "policy apply of a list broken in place"
	expect_eperm "$BIN/prog" "listed, after the refused apply: "
	scn_stop_checked
}

# A FIFO named as a hash list is refused at once (it was opened, and waited
# on, while the apply lock was held); the daemon then stops on SIGTERM.
t_scanner_hashlist_fifo_refused_at_once() {
	local fifo=$T/list.fifo new=$T/new.yaml out rc
	mkfifo "$fifo" || fail "mkfifo failed"
	scn_new_elf "$BIN/prog" "unlisted"
	sap_policy "$POLICY" allow "" ""
	sap_policy "$new" allow "" "$fifo"
	start_daemon
	out=$(ctl policy apply "$new" 2>&1)
	rc=$?
	[[ $rc -ne 137 ]] || fail "policy apply with a FIFO as a hash list hung (killed after 10 s)"
	sap_expect_refused "$rc" "$out" "$fifo: cannot open hash list: a FIFO, not a regular file" \
		"policy apply with a FIFO"
	expect_runs "$BIN/prog" "after the refused apply: "
	scn_stop_checked
}

sap_loads() {
	grep -c "clamav: loaded" "$DLOG"
}

# A hash-list change keeps ClamAV's engine (no new load: a known-infected
# file is still detected straight after the apply); a limit change builds a
# new ClamAV engine, with the new limit, while the old one answers.
t_scanner_engines_rebuilt_alone() {
	local db=$T/clamdb l1=$T/one.sha256 l2=$T/two.sha256 new=$T/new.yaml i line
	mkdir "$db"
	scn_big_db "$db" 100000 50000
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	scn_new_elf "$BIN/one" "in list one"
	scn_new_elf "$BIN/two" "in list two"
	echo "$(sha_of "$BIN/one") GkTest.One" >"$l1"
	echo "$(sha_of "$BIN/two") GkTest.Two" >"$l2"
	sap_policy "$POLICY" allow "$db" "$l1"
	start_daemon
	scn_wait_available clamav 1
	[[ $(sap_loads) -eq 1 ]] || fail "expected one ClamAV load at start, log has $(sap_loads)"

	sap_policy "$new" allow "$db" "$l1, $l2"
	ctl_ok policy apply "$new"
	scn_eicar_script "$BIN/eicar-1.sh"
	scn_expect_query "$BIN/eicar-1.sh" deny scanner GkTest.Eicar
	scn_expect_query "$BIN/two" deny scanner GkTest.Two
	sleep 1.5
	[[ $(sap_loads) -eq 1 ]] || fail "a hash-list change reloaded ClamAV ($(sap_loads) loads)"

	# 70 MiB: over the 64M default, within the new 128M
	scn_eicar_script "$BIN/big.sh"
	head -c $((70 << 20)) /dev/zero >>"$BIN/big.sh"
	sap_policy "$new" allow "$db" "$l1, $l2" "scan:" "  - {path: $BIN, max_file_size: 128M}"
	ctl_ok policy apply "$new"
	scn_eicar_script "$BIN/eicar-2.sh"
	scn_expect_query "$BIN/eicar-2.sh" deny scanner GkTest.Eicar
	line=$(scn_line clamav)
	note "straight after the limit change: $line"
	for ((i = 0; i < 300; i++)); do
		[[ $(sap_loads) -ge 2 ]] && break
		sleep 0.1
	done
	[[ $(sap_loads) -eq 2 ]] || fail "a limit change did not load a new ClamAV engine ($(sap_loads) loads)"
	scn_wait_available clamav 1
	[[ $SCN_LINE != *previous* ]] || fail "the previous engine still answers after the load: $SCN_LINE"
	scn_expect_query "$BIN/big.sh" deny scanner GkTest.Eicar
	scn_expect_query "$BIN/one" deny scanner GkTest.One
	scn_stop_checked
}

# max_file_size up to the parser's 16G: the daemon starts and applies it
# (ClamAV itself is capped below 2 GiB), and scanning goes on.
t_scanner_clamav_file_size_up_to_16g() {
	local db=$T/clamdb new=$T/new.yaml
	mkdir "$db"
	scn_eicar_ndb GkTest.Eicar.Ndb >"$db/gk-test.ndb"
	sap_policy "$POLICY" deny "$db" "" "scan:" "  - {path: $BIN, max_file_size: 1G}"
	start_daemon
	scn_wait_available clamav 1
	scn_eicar_script "$BIN/eicar-1.sh"
	expect_eperm "$BIN/eicar-1.sh" "max_file_size 1G: "
	scn_expect_query "$BIN/eicar-1.sh" deny scanner GkTest.Eicar
	sap_policy "$new" deny "$db" "" "scan:" "  - {path: $BIN, max_file_size: 16G}"
	ctl_ok policy apply "$new"
	scn_wait_available clamav 1
	scn_eicar_script "$BIN/eicar-2.sh"
	expect_eperm "$BIN/eicar-2.sh" "max_file_size 16G: "
	scn_expect_query "$BIN/eicar-2.sh" deny scanner GkTest.Eicar
	scn_stop_checked
}
