# Scanner engines across policy changes: every max_file_size the parser
# accepts works with ClamAV.
# Sourced by run.sh after tests_scanner.sh (its scn_ helpers); adds its own
# entries to TESTS.

TESTS+=(
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
