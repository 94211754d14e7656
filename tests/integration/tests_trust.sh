# Trust tests on real execs (issue 11): a test-made dpkg database whose
# packages list files on the test tmpfs. The policy's dpkg source uses
# `root: $T/root` (like dpkg --root): the lists name /usr/bin/x, the file is
# $T/root/usr/bin/x, and $T/root/bin -> usr/bin is a merged-/usr alias as on
# Debian 12. Packages are written the way dpkg writes them: new files next
# to the old and renamed over them, status rewritten by rename.
# Sourced by run.sh before its GK_IT_ONLY filter: adds its own TESTS entries;
# each t_NAME runs in its own process (see lib.sh).

TESTS+=(
	trust_packaged_program_runs_under_default_deny:40
	trust_modified_program_denied_query_says_why:40
	trust_upgrade_runs_at_once:40
	trust_removed_package_leftover_denied:40
	trust_status_rewrite_keeps_kernel_cache:40
	trust_diversion_judged_as_dpkg:40
	trust_merged_usr_alias_either_path:40
	trust_status_and_restart_keep_index:60
	trust_prejudged_before_first_exec:60
)

# ---------------------------------------------------------------- helpers

# trust_setup: the root, the admin directory, and an enforcing policy with
# default deny that trusts dpkg.
trust_setup() {
	R=$T/root
	A=$T/dpkg
	mkdir -p "$R/usr/bin" "$A/info" "$A/updates" || fail "cannot make the dpkg tree"
	ln -s usr/bin "$R/bin" || fail "cannot make the /bin alias"
	: >"$A/status"
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\ntrust:\n  - dpkg: {root: %s, admindir: %s}\n' \
		"$R" "$R" "$A" >"$POLICY"
}

# put_prog REL: a unique runnable program at $R/REL, written beside and
# renamed into place (a new inode, as dpkg unpacks).
put_prog() {
	local f=$R/$1
	mkdir -p "$(dirname "$f")" &&
		cp /bin/true "$f.dpkg-new" &&
		printf '\ngk-it trust %s %s %s\n' "$1" "$RANDOM" "$(date +%s%N)" >>"$f.dpkg-new" &&
		chmod 0755 "$f.dpkg-new" && mv -f "$f.dpkg-new" "$f" || fail "cannot write $f"
}

# status_set NAME VERSION STATE: NAME's stanza in status, replaced by rename.
status_set() {
	awk -v RS= -v ORS='\n\n' -v p="Package: $1" '{ split($0, l, "\n"); if (l[1] != p) print }' \
		"$A/status" >"$A/status-new" || fail "cannot rewrite status"
	printf 'Package: %s\nStatus: %s\nArchitecture: amd64\nVersion: %s\n\n' "$1" "$3" "$2" \
		>>"$A/status-new" && mv -f "$A/status-new" "$A/status" || fail "cannot rewrite status"
}

# pkg_install NAME VERSION LISTED... : list, md5sums and status for files
# already on disk. A listed name /bin/x is found at $R/bin/x (the alias).
pkg_install() {
	local name=$1 ver=$2 p d
	shift 2
	{
		echo /.
		for p in "$@"; do
			d=$(dirname "$p")
			while [[ $d != / ]]; do
				echo "$d"
				d=$(dirname "$d")
			done
			echo "$p"
		done
	} | awk '!seen[$0]++' >"$A/info/$name.list-new" || fail "cannot write $name.list"
	(cd "$R" && for p in "$@"; do md5sum "${p#/}"; done) >"$A/info/$name.md5sums-new" ||
		fail "cannot write $name.md5sums"
	mv -f "$A/info/$name.md5sums-new" "$A/info/$name.md5sums" &&
		mv -f "$A/info/$name.list-new" "$A/info/$name.list" || fail "cannot install $name's lists"
	status_set "$name" "$ver" "install ok installed"
}

# pkg_remove NAME: what `apt remove` leaves: config-files, no list, no md5sums.
pkg_remove() {
	rm -f "$A/info/$1.list" "$A/info/$1.md5sums" || fail "cannot remove $1's lists"
	status_set "$1" 0 "deinstall ok config-files"
}

# query_field PATH KEY: KEY of `gatekeeper-ctl query PATH`.
query_field() {
	local out
	out=$(ctl query "$1" 2>&1) || fail "query $1 failed: $out"
	field_of "$out" "$2"
}

expect_query() {
	local got
	got=$(query_field "$1" "$2")
	[[ $got == "$3" ]] || fail "query $1: $2 is '$got', expected '$3'"
}

# wait_prejudge_walks N: STATUS once the prejudge walk has finished N
# times (it starts 2 s after the start or the last trust change).
wait_prejudge_walks() {
	local i
	for ((i = 0; i < 200; i++)); do
		status_json
		[[ $(jget prejudge_walks) -ge $1 ]] && return 0
		sleep 0.1
	done
	fail "fewer than $1 prejudge walks after 20 s: $STATUS"
}

expect_status() {
	local got
	got=$(jget "$1")
	[[ $got == "$2" ]] || fail "status $1 is '$got', expected '$2' ($3)"
}

# ---------------------------------------------------------------- tests

t_trust_packaged_program_runs_under_default_deny() {
	trust_setup
	put_prog usr/bin/hello
	put_prog usr/bin/loose
	pkg_install hello 1.0-1 /usr/bin/hello
	start_daemon
	expect_runs "$R/usr/bin/hello" "packaged and unchanged, default deny: "
	expect_eperm "$R/usr/bin/loose" "in no package, default deny: "
	expect_query "$R/usr/bin/hello" trust "dpkg hello 1.0-1"
	expect_query "$R/usr/bin/hello" source trust
	expect_query "$R/usr/bin/hello" detail "dpkg hello 1.0-1"
	expect_query "$R/usr/bin/loose" trust "not in any package"
	expect_query "$R/usr/bin/loose" source default
}

t_trust_modified_program_denied_query_says_why() {
	trust_setup
	put_prog usr/bin/hello
	pkg_install hello 1.0-1 /usr/bin/hello
	start_daemon
	expect_runs "$R/usr/bin/hello" "before the change: "
	printf 'patched\n' >>"$R/usr/bin/hello" || fail "cannot modify hello"
	expect_eperm "$R/usr/bin/hello" "content differs from dpkg's md5sums: "
	expect_query "$R/usr/bin/hello" trust "differs from the digest dpkg recorded for hello"
	expect_query "$R/usr/bin/hello" detail "differs from the digest dpkg recorded for hello"
	expect_query "$R/usr/bin/hello" source default
	grep -q 'differs from the digest dpkg recorded for hello' "$DLOG" ||
		fail "the decision's log line does not say why trust refused: $(grep -m1 verdict=deny "$DLOG")"
}

# As dpkg upgrades: new files renamed into place, new md5sums and list, the
# status; the first exec comes at once (a postinst runs its package's
# binary before any hook could refresh anything).
t_trust_upgrade_runs_at_once() {
	local n0 n1
	trust_setup
	put_prog usr/bin/hello
	pkg_install hello 1.0-1 /usr/bin/hello
	start_daemon
	expect_runs "$R/usr/bin/hello" "version 1: "
	status_json
	n0=$(jget_or_zero trust_sync_refreshes)
	put_prog usr/bin/hello
	put_prog usr/bin/hello-new
	pkg_install hello 2.0-1 /usr/bin/hello /usr/bin/hello-new
	expect_runs "$R/usr/bin/hello-new" "a new program of the upgrade, at once: "
	expect_runs "$R/usr/bin/hello" "the upgraded program, at once: "
	expect_query "$R/usr/bin/hello" trust "dpkg hello 2.0-1"
	status_json
	n1=$(jget_or_zero trust_sync_refreshes)
	note "synchronous refreshes on the miss path: $((n1 - n0))"
}

t_trust_removed_package_leftover_denied() {
	local i
	trust_setup
	put_prog usr/bin/hello
	pkg_install hello 1.0-1 /usr/bin/hello
	start_daemon
	expect_runs "$R/usr/bin/hello" "installed: "
	expect_runs "$R/usr/bin/hello" "installed, cached: "
	pkg_remove hello
	# The cached allow is flushed when the follower applies the removal
	# (inotify, 200 ms after dpkg's last write); an uncached exec applies it
	# at once.
	for ((i = 0; i < 30; i++)); do
		[[ $(exec_result "$R/usr/bin/hello") == errno:EPERM ]] && break
		sleep 0.1
	done
	[[ $i -lt 30 ]] || fail "the removed package's leftover still runs after 3 s"
	note "leftover denied after $((i * 100)) ms"
	expect_query "$R/usr/bin/hello" trust "not in any package"
}

# dpkg rewrites its status file many times in one apt run, most of them
# changing no package's files: the follower applies each, and none may
# flush the verdicts the kernel caches (every exec on the host would miss).
t_trust_status_rewrite_keeps_kernel_cache() {
	local k refreshes flushes changed perms
	trust_setup
	put_prog usr/bin/hello
	pkg_install hello 1.0-1 /usr/bin/hello
	start_daemon
	expect_runs "$R/usr/bin/hello" "installed: "
	status_json
	flushes=$(jget_or_zero kernel_cache_flushes)
	changed=$(jget_or_zero trust_refreshes_changed)
	perms=$(jget_or_zero perm_events)
	for ((k = 0; k < 6; k++)); do
		refreshes=$(jget_or_zero trust_refreshes)
		cp "$A/status" "$A/status-new" && mv -f "$A/status-new" "$A/status" ||
			fail "cannot rewrite status"
		[[ $(wait_num_at_least trust_refreshes $((refreshes + 1)) 50) -gt $refreshes ]] ||
			fail "no refresh 5 s after status was rewritten"
	done
	status_json
	expect_status trust_refreshes_changed "$changed" "an unchanged status changed trust"
	expect_status kernel_cache_flushes "$flushes" "an unchanged status flushed the kernel cache"
	expect_runs "$R/usr/bin/hello" "cached, after six rewrites of status: "
	status_json
	expect_status perm_events "$perms" "the cached allow was gone"
	pkg_remove hello
	[[ $(wait_num_at_least trust_refreshes_changed $((changed + 1)) 50) -gt $changed ]] ||
		fail "a removal did not count as a change of trust"
}

# dpkg-divert --package diverter --divert /usr/bin/tool.real /usr/bin/tool:
# diverter's own tool stays at /usr/bin/tool, owner's goes to tool.real.
t_trust_diversion_judged_as_dpkg() {
	trust_setup
	put_prog usr/bin/tool
	pkg_install diverter 1 /usr/bin/tool
	put_prog usr/bin/tool.real
	# owner lists /usr/bin/tool; its md5sums describe the file at tool.real.
	cp "$R/usr/bin/tool.real" "$T/owner-tool" || fail "copy failed"
	pkg_install owner 1 /usr/bin/tool.real
	sed -i 's|/usr/bin/tool.real|/usr/bin/tool|' "$A/info/owner.list" &&
		sed -i 's|usr/bin/tool.real|usr/bin/tool|' "$A/info/owner.md5sums" || fail "sed failed"
	printf '/usr/bin/tool\n/usr/bin/tool.real\ndiverter\n' >"$A/diversions"
	start_daemon
	expect_runs "$R/usr/bin/tool" "the diverting package's own file: "
	expect_query "$R/usr/bin/tool" trust "dpkg diverter 1"
	expect_runs "$R/usr/bin/tool.real" "the diverted package's file at the diverted-to name: "
	expect_query "$R/usr/bin/tool.real" trust "dpkg owner 1"
	# owner's content at the diverted path is not what dpkg put there.
	cp "$T/owner-tool" "$R/usr/bin/tool.new" && mv -f "$R/usr/bin/tool.new" "$R/usr/bin/tool" ||
		fail "cannot swap the tool"
	expect_eperm "$R/usr/bin/tool" "owner's copy at diverter's path: "
	expect_query "$R/usr/bin/tool" trust "differs from the digest dpkg recorded for diverter"
}

# Debian 12 lists /bin/x while the kernel reports /usr/bin/x; packages built
# after the merge list /usr/bin/y. Both are trusted through either name.
t_trust_merged_usr_alias_either_path() {
	trust_setup
	put_prog usr/bin/old
	put_prog usr/bin/new
	pkg_install oldstyle 1 /bin/old
	pkg_install newstyle 1 /usr/bin/new
	start_daemon
	expect_runs "$R/usr/bin/old" "listed /bin/old, exec'd as /usr/bin/old: "
	expect_runs "$R/bin/old" "listed /bin/old, exec'd as /bin/old: "
	expect_runs "$R/bin/new" "listed /usr/bin/new, exec'd as /bin/new: "
	expect_query "$R/usr/bin/old" trust "dpkg oldstyle 1"
	expect_query "$R/bin/new" trust "dpkg newstyle 1"
}

t_trust_status_and_restart_keep_index() {
	local out
	trust_setup
	put_prog usr/bin/hello
	put_prog usr/bin/two
	pkg_install hello 1.0-1 /usr/bin/hello /usr/bin/two
	start_daemon
	ctl_ok status
	out=$CTL_OUT
	[[ $(field_of "$out" trust) == "dpkg admindir=$A root=$R" ]] ||
		fail "status trust line: '$(field_of "$out" trust)'"
	[[ $(field_of "$out" trust_paths) == 2 ]] || fail "status trust_paths: '$(field_of "$out" trust_paths)'"
	[[ $(field_of "$out" trust_refreshed) =~ ^20[0-9-]+T ]] ||
		fail "status trust_refreshed: '$(field_of "$out" trust_refreshed)'"
	stop_daemon
	# Unchanged dpkg database: the restart reads no list (an unreadable one
	# proves it), and the index answers from the store.
	chmod 0 "$A/info/hello.list"
	start_daemon
	expect_runs "$R/usr/bin/hello" "after a restart, index from the store: "
	ctl_ok status
	[[ $(field_of "$CTL_OUT" trust_refresh_errors) == 0 ]] ||
		fail "the restart re-read the lists: $(field_of "$CTL_OUT" trust_last_error)"
}

# The walk judges what dpkg installed before anyone runs it: every listed
# regular file with an execute bit, nothing else; it caches no deny, and in
# fanotify mode no allow either (that would hold a lease on a guess).
t_trust_prejudged_before_first_exec() {
	local d0
	mount_ext4 "$T/root"   # the walk's digests are stored (none of a tmpfs file)
	trust_setup
	put_prog usr/bin/hello
	put_prog usr/bin/world
	put_prog usr/bin/changed
	put_prog usr/share/doc/hello/readme
	chmod 0644 "$R/usr/share/doc/hello/readme" || fail "cannot chmod readme"
	ln -s hello "$R/usr/bin/link" || fail "cannot make the symlink"
	pkg_install hello 1.0-1 /usr/bin/hello /usr/bin/world /usr/bin/changed \
		/usr/share/doc/hello/readme /usr/bin/link
	printf 'patched\n' >>"$R/usr/bin/changed" || fail "cannot modify changed"
	start_daemon
	status_json
	d0=$(jget digests_stored)
	wait_prejudge_walks 1
	note "after the first walk: prejudged $(jget prejudged_programs), digests_stored $d0 -> $(jget digests_stored)"
	expect_status prejudge_last_walk_programs 3 "hello, world, changed: not the readme, not the symlink"
	expect_status prejudged_cached 0 "fanotify mode: an allow cached on a guess would hold a lease"
	expect_status prejudge waiting "after its walk"
	[[ $(jget digests_stored) -ge $((d0 + 3)) ]] || fail "the walk stored no digests: $STATUS"
	expect_runs "$R/usr/bin/hello" "prejudged, packaged: "
	expect_eperm "$R/usr/bin/changed" "prejudged, differs from dpkg's MD5: "
	put_prog usr/bin/extra
	pkg_install extra 1.0-1 /usr/bin/extra
	wait_prejudge_walks 2
	expect_status prejudge_last_walk_programs 4 "a trust change walks again, with the new package"
	expect_runs "$R/usr/bin/extra" "the new package's program: "
}
