# Whole-host coverage on this kernel (fanotify mode): filesystems mounted
# after start under a watched path, unmounts, fileless programs, and the
# interpreter's AT_EXECVE_CHECK question. Only filesystems the test makes
# (tmpfs, a loop-mounted ext4 image) are mounted and marked, inside the
# suite's private mount namespace; vm.memfd_noexec is changed only inside a
# pid namespace of the test's own.
# Sourced by run.sh before its GK_IT_ONLY filter: adds its own TESTS entries.

TESTS+=(
	host_tmpfs_mounted_later_gated_first_exec:40
	host_tmpfs_swapped_on_same_dev_gated:40
	host_loop_ext4_mounted_later_gated:60
	host_whole_second_ctime_not_settled:60
	host_remounted_device_digests_forgotten:60
	host_digest_store_read_despite_written_files:60
	host_mounts_marked_at_start_and_after_apply:60
	host_fileless_fanotify_memfd_noexec:60
	host_fileless_not_raised_where_unsealed_memfds_fail:40
	host_execve_check_gets_verdict:40
	host_foreign_namespace_path_is_no_path:40
	host_foreign_namespace_unlinked_file_is_no_path:40
	host_fuse_content_changed_elsewhere_judged:40
)

FILELESS=${GK_IT_TOP:-}/fileless

need_fileless() {
	[[ -f $TOP/fileless.failed ]] && fail "$(cat "$TOP/fileless.failed")"
	[[ -x $FILELESS ]] || fail "fileless helper was not built"
}

# host_deny_template NAME: $T/tpl/NAME, a program outside the watch whose
# content an admin rule denies (copies of it anywhere watched are denied).
host_deny_template() {
	mkdir -p "$T/tpl"
	cp /bin/true "$T/tpl/$1" && printf '\ngk-it deny %s %s\n' "$1" "$EPOCHREALTIME" >>"$T/tpl/$1" &&
		chmod 0755 "$T/tpl/$1" || fail "cannot create $T/tpl/$1"
	ctl_ok deny "$T/tpl/$1"
}

# dev_of DIR: "major:minor" of the filesystem mounted on DIR (mountinfo).
dev_of() {
	awk -v mp="$1" '$5 == mp { d = $3 } END { print d }' /proc/self/mountinfo
}

# daemon_marks_dev MAJ:MIN: does any fanotify group of the daemon hold a
# filesystem mark on that superblock? (fdinfo "fanotify sdev:HEX", the
# kernel's dev_t: major << 20 | minor.)
daemon_marks_dev() {
	local maj=${1%%:*} min=${1##*:} sdev
	sdev=$(printf '%x' $(((maj << 20) | min)))
	grep -qs "^fanotify sdev:$sdev " /proc/"$DPID"/fdinfo/*
}

# status_lists KEY TEXT: does the text status have a KEY line containing TEXT?
status_lists() {
	ctl status 2>/dev/null | grep -F "$1: " | grep -qF "$2"
}

# A tmpfs mounted under the watched directory after the daemon started is
# marked before anything on it can run: the first exec of a denied content
# copied there at once is refused. A noexec mount is marked all the same:
# `mount -o remount,exec` raises no mount event, and a program copied there
# after it is refused. An unmount drops the marks.
t_host_tmpfs_mounted_later_gated_first_exec() {
	local dev
	write_policy enforce allow
	start_daemon
	host_deny_template evil
	mkdir "$BIN/late" "$BIN/nx" || fail "mkdir failed"
	mount -t tmpfs -o mode=0755 gk-it-late "$BIN/late" || fail "cannot mount a tmpfs on $BIN/late"
	cp "$T/tpl/evil" "$BIN/late/evil" || fail "cp failed"
	expect_eperm "$BIN/late/evil" "first exec on a tmpfs mounted after start: "
	mkbin late/good
	expect_runs "$BIN/late/good" "clean program on the late tmpfs: "
	dev=$(dev_of "$BIN/late")
	daemon_marks_dev "$dev" || fail "no fanotify filesystem mark on the late tmpfs (dev $dev)"
	status_lists filesystems "$BIN/late (dev $dev, tmpfs)" ||
		fail "status does not list $BIN/late as marked: $(ctl status | grep -E 'filesystems|skipped')"
	mount -t tmpfs -o noexec,mode=0755 gk-it-nx "$BIN/nx" || fail "cannot mount a noexec tmpfs"
	for _ in $(seq 50); do status_lists filesystems "$BIN/nx" && break; sleep 0.1; done
	status_lists filesystems "$BIN/nx (dev $(dev_of "$BIN/nx"), tmpfs)" ||
		fail "status does not list the noexec mount as marked: $(ctl status | grep -E 'filesystems|skipped')"
	mount -o remount,exec "$BIN/nx" || fail "cannot remount $BIN/nx exec"
	cp "$T/tpl/evil" "$BIN/nx/evil" || fail "cp failed"
	expect_eperm "$BIN/nx/evil" "on a noexec tmpfs remounted exec: "
	umount_settled "$BIN/late" "$BIN/nx" || fail "umount failed"
	for _ in $(seq 50); do status_lists filesystems "$BIN/late" || break; sleep 0.1; done
	! status_lists filesystems "$BIN/late" || fail "status still lists $BIN/late after umount"
	! status_lists filesystems "$BIN/nx" || fail "status still lists $BIN/nx after umount"
	note "mounts followed by: $(ctl status | sed -n 's/^mounts_followed_by: //p')"
}

# A filesystem unmounted and another mounted on the same device number
# between two reads of the mount table (anonymous devices are handed out
# lowest first): the kernel dropped the old one's mark with it, and the new
# one is marked all the same. gatekeeperd is frozen across the swap, so its
# tracker reads the table once, after both.
t_host_tmpfs_swapped_on_same_dev_gated() {
	local dev dev2 reconciles rc
	write_policy enforce allow
	start_daemon
	host_deny_template evil
	mkdir "$BIN/swap" || fail "mkdir failed"
	mount -t tmpfs -o mode=0755 gk-it-swap "$BIN/swap" || fail "cannot mount a tmpfs on $BIN/swap"
	cp "$T/tpl/evil" "$BIN/swap/evil" || fail "cp failed"
	expect_eperm "$BIN/swap/evil" "on the first tmpfs: "
	dev=$(dev_of "$BIN/swap")
	decisions_settled
	status_json
	reconciles=$(jget_or_zero mount_reconciles)
	freeze "$DPID" || fail "cannot freeze gatekeeperd"
	umount "$BIN/swap" && mount -t tmpfs -o mode=0755 gk-it-swap2 "$BIN/swap"
	rc=$?
	kill -CONT "$DPID"
	[[ $rc == 0 ]] || fail "cannot swap the tmpfs on $BIN/swap"
	dev2=$(dev_of "$BIN/swap")
	[[ $dev2 == "$dev" ]] ||
		fail "the new tmpfs got dev $dev2, not $dev: the device number was not reused"
	[[ $(wait_num_at_least mount_reconciles $((reconciles + 1)) 50) -gt $reconciles ]] ||
		fail "no read of the mount table 5 s after the swap"
	cp "$T/tpl/evil" "$BIN/swap/evil" || fail "cp failed"
	expect_eperm "$BIN/swap/evil" "on a new tmpfs of the same device number: "
	daemon_marks_dev "$dev" || fail "no fanotify filesystem mark on the new tmpfs (dev $dev)"
	umount_settled "$BIN/swap" || fail "umount failed"
}

# The same on a disk filesystem: an ext4 image on a loop device, mounted
# under the watched path after start. Its marks go with the unmount.
t_host_loop_ext4_mounted_later_gated() {
	local dev
	command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 missing"
	truncate -s 32M "$T/disk.img" && mkfs.ext4 -q -F "$T/disk.img" ||
		fail "cannot make an ext4 image"
	write_policy enforce allow
	start_daemon
	host_deny_template evil
	mkdir "$BIN/disk" || fail "mkdir failed"
	# autoclear: the loop device goes with the unmount, here or at teardown
	trap 'mountpoint -q "$BIN/disk" && umount "$BIN/disk"; test_teardown' EXIT
	mount -o loop "$T/disk.img" "$BIN/disk" || fail "cannot loop-mount the ext4 image"
	cp "$T/tpl/evil" "$BIN/disk/evil" || fail "cp failed"
	expect_eperm "$BIN/disk/evil" "first exec on an ext4 mounted after start: "
	mkbin disk/good
	expect_runs "$BIN/disk/good" "clean program on the ext4: "
	dev=$(dev_of "$BIN/disk")
	status_lists filesystems "$BIN/disk (dev $dev, ext4)" ||
		fail "status does not list $BIN/disk: $(ctl status | grep -E 'filesystems|skipped')"
	daemon_marks_dev "$dev" || fail "no fanotify filesystem mark on the ext4 (dev $dev)"
	umount_settled "$BIN/disk" || fail "umount failed"
	for _ in $(seq 50); do status_lists filesystems "$BIN/disk" || break; sleep 0.1; done
	! status_lists filesystems "$BIN/disk" || fail "status still lists $BIN/disk after umount"
	! daemon_marks_dev "$dev" || fail "the daemon still marks dev $dev after umount"
}

# ext4 with 128-byte inodes stamps whole seconds: a same-size rewrite within
# the second keeps the ctime, so a digest read then may not be kept for the
# content that follows. A miss 0.3 s after the write (the kernel cache
# flushed by an unrelated admin rule) keeps no digest; one 3 s after does.
t_host_whole_second_ctime_not_settled() {
	local stored0 stored1 stored2 z
	command -v mkfs.ext4 >/dev/null || fail "mkfs.ext4 missing"
	truncate -s 32M "$T/disk.img" && mkfs.ext4 -q -F -I 128 "$T/disk.img" 2>/dev/null ||
		fail "cannot make an ext4 image with 128-byte inodes"
	write_policy enforce allow
	start_daemon
	mkdir "$BIN/disk" || fail "mkdir failed"
	trap 'mountpoint -q "$BIN/disk" && umount "$BIN/disk"; test_teardown' EXIT
	mount -o loop "$T/disk.img" "$BIN/disk" || fail "cannot loop-mount the ext4 image"
	: >"$T/unrelated1" && : >"$T/unrelated2" || fail "cannot write the unrelated files"
	status_json
	stored0=$(jget_or_zero digests_stored)
	mkbin disk/prog
	z=$(stat -c %z "$BIN/disk/prog")
	[[ $z == *.000000000* ]] || fail "the ctime has nanoseconds ($z): not a whole-second filesystem"
	sleep 0.3
	ctl_ok allow "$T/unrelated1"
	expect_runs "$BIN/disk/prog" "a miss 0.3 s after the write: "
	decisions_settled
	stored1=$(stat_num digests_stored) || exit 1
	[[ $stored1 == "$stored0" ]] ||
		fail "a digest read 0.3 s after a whole-second ctime was kept ($stored0 -> $stored1)"
	sleep 3
	ctl_ok allow "$T/unrelated2"
	expect_runs "$BIN/disk/prog" "a miss 3 s after the write: "
	decisions_settled
	stored2=$(stat_num digests_stored) || exit 1
	[[ $stored2 -gt $stored1 ]] || fail "a digest read 3 s after the write was not kept ($stored1 -> $stored2)"
	umount_settled "$BIN/disk" || fail "umount failed"
}

# A digest is cached by device, inode, size and ctime. A user's USB stick or
# loop image can be unmounted, changed elsewhere with all four kept, and
# mounted again on the same device: its digests must not outlive the
# unmount. Here the last byte of an allowed program is changed in the
# image itself, which moves no ctime; before, the remounted program still
# ran as the content the admin allowed.
t_host_remounted_device_digests_forgotten() {
	local size blk off sha0 sha1
	command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null || fail "e2fsprogs missing"
	truncate -s 32M "$T/disk.img" && mkfs.ext4 -q -F -b 4096 "$T/disk.img" ||
		fail "cannot make an ext4 image"
	LOOPDEV=$(losetup --find --show "$T/disk.img") || fail "losetup failed"
	# the mount (lazily, if the daemon holds a file there), then the device
	# (detached once that mount is gone)
	TEST_CLEANUP='mountpoint -q "$BIN/disk" && { umount "$BIN/disk" || umount -l "$BIN/disk"; }
		losetup -d "$LOOPDEV"'
	mkdir "$BIN/disk" && mount "$LOOPDEV" "$BIN/disk" || fail "cannot mount $LOOPDEV"
	mkbin disk/prog
	write_policy enforce deny
	start_daemon
	ctl_ok allow "$BIN/disk/prog"
	expect_runs "$BIN/disk/prog" "allowed, before the unmount: "
	sha0=$(sha_of "$BIN/disk/prog")
	size=$(stat -c %s "$BIN/disk/prog")
	umount_settled "$BIN/disk" || fail "umount failed"
	for _ in $(seq 50); do status_lists filesystems "$BIN/disk" || break; sleep 0.1; done
	blk=$(debugfs -R "bmap /prog $(((size - 1) / 4096))" "$T/disk.img" 2>/dev/null)
	[[ $blk =~ ^[0-9]+$ ]] || fail "debugfs bmap: '$blk'"
	off=$((blk * 4096 + (size - 1) % 4096))
	printf 'X' | dd of="$T/disk.img" bs=1 seek="$off" conv=notrunc status=none || fail "dd failed"
	blockdev --flushbufs "$LOOPDEV" || fail "blockdev --flushbufs failed"
	mount "$LOOPDEV" "$BIN/disk" || fail "cannot mount $LOOPDEV again"
	sha1=$(sha_of "$BIN/disk/prog")
	[[ $sha1 != "$sha0" ]] || fail "the change in the image did not show (sha $sha1)"
	for _ in $(seq 50); do status_lists filesystems "$BIN/disk" && break; sleep 0.1; done
	expect_eperm "$BIN/disk/prog" "changed while unmounted, same inode, size and ctime: "
	decisions_settled
	grep -q "path=$BIN/disk/prog sha256=$sha1 verdict=deny source=default" "$DLOG" ||
		fail "no default deny of the new content: $(grep "disk/prog" "$DLOG" | tail -n 2)"
}

# The digests of judged files are kept in the store for the next start
# (on ext4 here: none of a tmpfs file is kept). A
# file written on a watched filesystem is forgotten there when it is closed
# (a write through a shared mapping need not move its ctime). Before, once
# two written files met in one slot of the list of forgotten files, the
# store was not read again for the run: on a busy host, soon after start.
t_host_digest_store_read_despite_written_files() {
	local i h0
	write_policy enforce allow
	mount_ext4 "$BIN/disk"
	mkbin disk/prog
	start_daemon
	expect_runs "$BIN/disk/prog" "first start: "
	status_json
	[[ $(jget digests_stored) -ge 1 ]] || fail "the first exec stored no digest: $STATUS"
	stop_daemon
	start_daemon
	mkdir "$BIN/disk/written" || fail "mkdir failed"
	for ((i = 0; i < 400; i++)); do
		printf '%s\n' "$i" >"$BIN/disk/written/f$i" || fail "cannot write f$i"
	done
	# a new program: its close is handled after the 400 before it
	mkbin disk/marker
	for ((i = 0; i < 100; i++)); do
		status_json
		[[ $(jget prescans) -ge 1 ]] && break
		sleep 0.1
	done
	[[ $(jget prescans) -ge 1 ]] || fail "the new program's close was not handled in 10 s: $STATUS"
	h0=$(jget digest_store_hits)
	expect_runs "$BIN/disk/prog" "after a restart and 400 files written: "
	status_json
	[[ $(jget digest_store_hits) -gt $h0 ]] ||
		fail "the exec did not find the stored digest (hits $h0 -> $(jget digest_store_hits)): $STATUS"
	[[ $(jget digest_store) == read ]] || fail "digest_store is not 'read': $STATUS"
}

# A filesystem mounted below the watch before the daemon starts is marked
# at start; a policy change that replaces the fanotify groups (a new watch
# list) marks it on the new groups before they take over, and a mount made
# after the change is marked on them too.
t_host_mounts_marked_at_start_and_after_apply() {
	mkdir "$BIN/pre" "$BIN/post" "$T/other" || fail "mkdir failed"
	mount -t tmpfs -o mode=0755 gk-it-pre "$BIN/pre" || fail "cannot mount a tmpfs on $BIN/pre"
	write_policy enforce allow
	start_daemon
	host_deny_template evil
	cp "$T/tpl/evil" "$BIN/pre/evil" || fail "cp failed"
	expect_eperm "$BIN/pre/evil" "a tmpfs mounted below the watch before start: "
	status_lists filesystems "$BIN/pre (dev" || fail "status does not list $BIN/pre"
	{
		echo "mode: enforce"
		echo "watch: [$BIN, $T/other]"
		echo "default: allow"
	} >"$T/policy2.yaml"
	ctl_ok policy apply "$T/policy2.yaml"
	cp "$T/tpl/evil" "$BIN/pre/evil2" || fail "cp failed"
	expect_eperm "$BIN/pre/evil2" "after a policy change of the watch list: "
	mount -t tmpfs -o mode=0755 gk-it-post "$BIN/post" || fail "cannot mount a tmpfs on $BIN/post"
	cp "$T/tpl/evil" "$BIN/post/evil" || fail "cp failed"
	expect_eperm "$BIN/post/evil" "a tmpfs mounted after the policy change: "
	umount_settled "$BIN/pre" "$BIN/post" || fail "umount failed"
}

# fileless in fanotify mode: vm.memfd_noexec=2 under `fileless: deny`, put
# back when the policy allows again and when the daemon stops. The sysctl is
# per pid namespace: all of it runs in a pid namespace of its own (with its
# own /proc), so this host's value never moves (checked).
t_host_fileless_fanotify_memfd_noexec() {
	local host0 host1 rc
	need_fileless
	[[ -r /proc/sys/vm/memfd_noexec ]] || fail "this kernel has no vm.memfd_noexec (Linux < 6.3)"
	host0=$(cat /proc/sys/vm/memfd_noexec)
	GK_IT_STAGE=test GK_IT_T=$T GK_IT_PIDNS=1 timeout -s KILL 50 \
		unshare --pid --fork --kill-child --mount-proc -- bash "$SELF" host_fileless_in_pidns
	rc=$?
	host1=$(cat /proc/sys/vm/memfd_noexec)
	[[ $host1 == "$host0" ]] || fail "the host's vm.memfd_noexec moved: $host0 -> $host1"
	[[ $rc -eq 0 ]] || exit 1
}

# fileless_run WHAT: memfd or tmpfile exec of a fresh copy of /bin/true.
fileless_run() {
	local out rc
	if [[ $1 == memfd ]]; then
		out=$(timeout -s KILL 10 "$FILELESS" memfd /bin/true 2>&1)
	else
		out=$(timeout -s KILL 10 "$FILELESS" tmpfile "$BIN" /bin/true 2>&1)
	fi
	rc=$?
	[[ $rc -eq 0 ]] && echo ran || echo "${out:-exit $rc}"
}

apply_fileless() {
	write_policy enforce allow "fileless: $1"
	ctl_ok policy apply "$POLICY"
}

t_host_fileless_in_pidns() {
	local v
	[[ $$ -lt 10 ]] || fail "not in a fresh pid namespace (pid $$)"
	[[ $(cat /proc/sys/vm/memfd_noexec) == 0 ]] ||
		fail "vm.memfd_noexec is $(cat /proc/sys/vm/memfd_noexec) before the daemon starts"
	write_policy enforce allow "fileless: allow"
	start_daemon
	[[ $(fileless_run memfd) == ran ]] || fail "fileless: allow: memfd exec: $(fileless_run memfd)"
	[[ $(fileless_run tmpfile) == ran ]] || fail "fileless: allow: O_TMPFILE exec: $(fileless_run tmpfile)"
	apply_fileless deny
	v=$(cat /proc/sys/vm/memfd_noexec)
	[[ $v == 2 ]] || fail "fileless: deny: vm.memfd_noexec is $v, not 2"
	v=$(fileless_run memfd)
	[[ $v == "refused memfd_create errno=EACCES" ]] || fail "fileless: deny: memfd exec: $v"
	v=$(fileless_run tmpfile)
	[[ $v == "refused exec errno=EPERM" ]] || fail "fileless: deny: O_TMPFILE exec on a marked fs: $v"
	decisions_settled
	grep -q 'verdict=deny source=fileless' "$DLOG" || fail "no source=fileless decision in the log"
	status_lists fileless "vm.memfd_noexec=2" || fail "status: $(ctl status | grep fileless)"
	apply_fileless allow
	v=$(cat /proc/sys/vm/memfd_noexec)
	[[ $v == 0 ]] || fail "fileless: allow again: vm.memfd_noexec is $v, not restored to 0"
	[[ $(fileless_run memfd) == ran ]] || fail "fileless: allow again: memfd exec: $(fileless_run memfd)"
	apply_fileless deny
	stop_daemon
	v=$(cat /proc/sys/vm/memfd_noexec)
	[[ $v == 0 ]] || fail "daemon stopped: vm.memfd_noexec is $v, not restored to 0"
}

# Linux 6.3 to 6.5 took vm.memfd_noexec=2 to refuse every memfd_create
# without MFD_NOEXEC_SEAL, in every program of the namespace. Played here by
# the suite's filter (memfd_create fails with EACCES for the daemon only):
# the daemon puts the sysctl back at once, says why, and asks only once.
t_host_fileless_not_raised_where_unsealed_memfds_fail() {
	local rc
	[[ -r /proc/sys/vm/memfd_noexec ]] || fail "this kernel has no vm.memfd_noexec (Linux < 6.3)"
	[[ -n ${GK_IT_SYSCALLS:-} ]] || fail "needs the suite's system call filter (GK_IT_UNIT_FILTER=0)"
	GK_IT_STAGE=test GK_IT_T=$T GK_IT_PIDNS=1 timeout -s KILL 30 \
		unshare --pid --fork --kill-child --mount-proc -- bash "$SELF" host_fileless_refused_in_pidns
	rc=$?
	[[ $rc -eq 0 ]] || exit 1
}

t_host_fileless_refused_in_pidns() {
	local v n
	[[ $$ -lt 10 ]] || fail "not in a fresh pid namespace (pid $$)"
	[[ $(cat /proc/sys/vm/memfd_noexec) == 0 ]] ||
		fail "vm.memfd_noexec is $(cat /proc/sys/vm/memfd_noexec) before the daemon starts"
	write_policy enforce allow "fileless: deny"
	echo memfd_create >>"$T/.played"   # not a gap in the unit's list (run.sh)
	GK_SYSFILTER_EACCES=memfd_create start_daemon
	v=$(cat /proc/sys/vm/memfd_noexec)
	[[ $v == 0 ]] || fail "vm.memfd_noexec is $v: raised where every unsealed memfd_create fails"
	grep -q 'error="vm.memfd_noexec=2 makes this kernel refuse every memfd_create' "$DLOG" ||
		fail "no error line says why vm.memfd_noexec was put back: $(grep -i memfd "$DLOG" | head -n 3)"
	status_lists fileless "NOT enforced for memfd (vm.memfd_noexec=2 would refuse every unsealed memfd" ||
		fail "status: $(ctl status | grep fileless)"
	ctl_ok policy apply "$POLICY"
	n=$(grep -c 'error="vm.memfd_noexec=2 makes' "$DLOG")
	[[ $n == 1 ]] || fail "the kernel was asked $n times (want once: each ask flips the sysctl)"
	stop_daemon
	[[ $DRC -eq 0 ]] || fail "gatekeeperd exited $DRC on SIGTERM"
	[[ $(cat /proc/sys/vm/memfd_noexec) == 0 ]] || fail "vm.memfd_noexec moved after the stop"
}

# foreign_namespace_setup: $BIN/allowed, which a path rule allows (ok in
# it runs), and $BIN/mine, a user's directory; under default deny.
foreign_namespace_setup() {
	mkdir -m 0777 "$BIN/allowed" "$BIN/mine" || fail "mkdir failed"
	mkbin ok && mv "$BIN/ok" "$BIN/allowed/ok" || fail "cannot place allowed/ok"
	write_policy enforce deny "rules:" "  - {path: $BIN/allowed, action: allow}"
	start_daemon
	expect_runs "$BIN/allowed/ok" "the rule's own file: "
}

# foreign_bind_exec CMD: the attack, as an unprivileged user where the
# kernel lets one make namespaces, else as root (the same foreign mount
# either way): bind $BIN/mine over $BIN/allowed, then exec CMD. Sets OUT, RC.
foreign_bind_exec() {
	local as=(setpriv --reuid=65534 --regid=65534 --clear-groups unshare -rm)
	timeout -s KILL 10 "${as[@]}" true 2>/dev/null || as=(unshare -m --propagation private)
	OUT=$(timeout -s KILL 10 "${as[@]}" sh -c "mount --bind '$BIN/mine' '$BIN/allowed' && exec $1" 2>&1)
	RC=$?
	note "${as[0]}: exit $RC: $OUT"
}

# fanotify gives the path of the mount the exec came through. In a mount
# namespace of their own (unshare -rm: no privilege on Debian), a user can
# bind-mount their directory over one a rule allows: the exec then arrives
# under the allowed name. A path counts only if it names the same file in
# the daemon's namespace; otherwise the exec is judged without one (here:
# the default, deny), and nothing of that judgement is cached.
t_host_foreign_namespace_path_is_no_path() {
	mkbin prog
	foreign_namespace_setup
	mv "$BIN/prog" "$BIN/mine/prog" || fail "cannot place mine/prog"
	expect_eperm "$BIN/mine/prog" "outside the rule: "
	foreign_bind_exec "'$BIN/allowed/prog'"
	[[ $RC -eq 126 && $OUT == *"Operation not permitted"* ]] ||
		fail "a user's file bind-mounted over the allowed path ran, or failed otherwise (exit $RC: $OUT)"
	decisions_settled
	grep -q "path=$BIN/allowed/prog .*verdict=deny source=default detail=\"path of another mount namespace: judged without it\"" "$DLOG" ||
		fail "no default deny recorded for the foreign name: $(grep 'allowed/prog' "$DLOG" | tail -n 2)"
	# the file's own name still runs what the rule allows, the cache unharmed
	expect_runs "$BIN/allowed/ok" "after the attack, the rule's own file: "
	expect_eperm "$BIN/mine/prog" "after the attack, outside the rule: "
}

# The same attack with a file that no name links to (an O_TMPFILE file
# made in the user's directory, seen under the allowed name): its path
# cannot be checked against the daemon's namespace, so it counts for
# nothing. Before, the path rule allowed it.
t_host_foreign_namespace_unlinked_file_is_no_path() {
	need_fileless
	mkbin prog
	foreign_namespace_setup
	foreign_bind_exec "'$FILELESS' tmpfile '$BIN/allowed' '$BIN/prog'"
	[[ $OUT == "refused exec errno=EPERM" ]] ||
		fail "an unlinked file under the allowed name ran, or failed otherwise (exit $RC: $OUT)"
	decisions_settled
	grep -q "path=\"\?$BIN/allowed/.*verdict=deny source=default detail=\"no name links to it: judged without its path\"" "$DLOG" ||
		fail "no default deny recorded for the unlinked file: $(grep 'allowed/' "$DLOG" | tail -n 2)"
	expect_runs "$BIN/allowed/ok" "after the attack, the rule's own file: "
}

# An interpreter that asks first, execveat(fd, "", AT_EMPTY_PATH |
# AT_EXECVE_CHECK), gets gatekeeper's verdict (the check raises
# FAN_OPEN_EXEC_PERM): a denied content and a #! script under default deny
# are refused with EPERM, an allowed program is not.
t_host_execve_check_gets_verdict() {
	local out
	need_fileless
	mkbin good
	cp "$BIN/good" "$T/good-tpl" || fail "cp failed"
	write_policy enforce deny
	start_daemon
	ctl_ok allow "$T/good-tpl"
	printf '#!/bin/sh\necho gk-it %s\n' "$EPOCHREALTIME" >"$BIN/script.sh" && chmod 0755 "$BIN/script.sh"
	printf 'echo gk-it %s\n' "$EPOCHREALTIME" >"$BIN/plain.sh"
	out=$(timeout -s KILL 10 "$FILELESS" check "$BIN/good")
	[[ $out == allowed ]] || fail "AT_EXECVE_CHECK of an allowed program: $out"
	out=$(timeout -s KILL 10 "$FILELESS" check "$BIN/script.sh")
	[[ $out == "refused check errno=EPERM" ]] || fail "AT_EXECVE_CHECK of a #! script under default deny: $out"
	chmod 0755 "$BIN/plain.sh"
	out=$(timeout -s KILL 10 "$FILELESS" check "$BIN/plain.sh")
	[[ $out == "refused check errno=EPERM" ]] ||
		fail "AT_EXECVE_CHECK of a script without #! under default deny: $out"
	decisions_settled
	grep -F "path=$BIN/script.sh " "$DLOG" | grep -q 'verdict=deny source=default' ||
		fail "no default-deny decision for the checked script in the log"
}

# A FUSE filesystem (as a network one) changes a file's content with no write
# through this kernel: no lease break, no FS_MODIFY to drop an ignore mark.
# So no allow on it is cached in the kernel: an admin-allowed content served
# twice, then another of the same size at the same name, is judged again.
t_host_fuse_content_changed_elsewhere_judged() {
	local dev
	mkdir -p "$T/tpl" || fail "mkdir failed"
	cp /bin/true "$T/tpl/good" && printf '\ngk-it fuse good %s\n' "$EPOCHREALTIME" >>"$T/tpl/good" &&
		sed 's/gk-it fuse good/gk-it fuse BAD!/' "$T/tpl/good" >"$T/tpl/bad" &&
		cp "$T/tpl/good" "$T/backing" || fail "cannot write the contents"
	mount_fusefile
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: deny\n' "$T/fuse" >"$POLICY"
	start_daemon
	ctl_ok allow "$T/tpl/good"
	expect_runs "$T/fuse/prog" "the allowed content on FUSE: "
	expect_runs "$T/fuse/prog" "the allowed content on FUSE, again: "
	dev=$(dev_of "$T/fuse")
	status_lists filesystems "$T/fuse (dev $dev, fuse.fusefile): no kernel cache" ||
		fail "status does not say FUSE gets no kernel cache: $(ctl status | grep -E 'filesystems')"
	cp "$T/tpl/bad" "$T/backing.new" && mv "$T/backing.new" "$T/backing" || fail "cannot switch"
	expect_eperm "$T/fuse/prog" "another content served at the same name: "
}
