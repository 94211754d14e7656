#!/bin/sh
# Whole-host allowlisting, phase 2: booted with the host-allowlisting
# profile in force (see guest-enforce.sh).
. /root/gk/guest-lib.sh
. /root/gk/sys-lib.sh
export DEBIAN_FRONTEND=noninteractive
cd /root/gk || exit 1
# newprog PATH TAG: a program no package installed (true + an 8-byte tag)
newprog() { cp /usr/bin/true "$1" && printf '%s' "$2" >>"$1"; }
is_active() { [ "$(systemctl is-active gatekeeperd)" = active ]; }
new_pid() { [ "$(show MainPID)" != 0 ] && [ "$(show MainPID)" != "$1" ] && is_active; }

comment "rebooted into enforcement at $(elapsed); $(systemd-analyze 2>&1 | head -n1)"
expect "multi-user.target reached with gatekeeper enforcing" "|active|active|mode=enforce" \
	"|$(systemctl is-active multi-user.target)|$(systemctl is-active gatekeeperd)|$(show StatusText)"
comment "gatekeeperd: started at $(show ExecMainStartTimestampMonotonic) us, ready at $(show ActiveEnterTimestampMonotonic) us, $(show NRestarts) restarts; $(show StatusText)"

# --- early boot: ready (READY=1: marks in place) before sysinit.target,
# so before every unit with default dependencies started ---
gk_t=$(show ActiveEnterTimestampMonotonic)
order=""
for u in sysinit.target basic.target; do
	t=$(show ActiveEnterTimestampMonotonic $u)
	[ "${gk_t:-0}" -gt 0 ] && [ "${t:-0}" -ge "$gk_t" ] || order="$order $u=$t"
done
for u in dbus.service systemd-logind.service gk-probe-early.service gk-probe-ok.service gk-probe-late.service gk-systest.service; do
	t=$(show InactiveExitTimestampMonotonic $u)
	[ "${gk_t:-0}" -gt 0 ] && [ "${t:-0}" -gt "$gk_t" ] || order="$order $u=$t"
done
comment "gatekeeperd ready at $gk_t us; units that started before it:${order:- none}"
expect_eq "gatekeeperd was enforcing before sysinit.target, basic.target, dbus, logind and the probe units started" \
	"early:" "early:$order"
# The unit's Nice=-10 is for restarts: at boot the daemon drops it at once
# (it would starve PID 1 and udevd); no thread of it or child keeps it
pid=$(show MainPID)
boosted=$(for t in /proc/"$pid"/task/* $(cat /proc/"$pid"/task/*/children 2>/dev/null | sed 's#^#/proc/#'); do
	sed 's/.*) //' "$t/stat" | awk -v t="$t" '$17 < 0 { printf "%s=%s ", t, $17 }'
done)
expect "the unit starts gatekeeperd at Nice=-10; at boot it drops that at once, and no thread or child keeps it" \
	"-10 start_nice=-10 boost=dropped_at_boot boosted:[]" \
	"$(show Nice) $(journalctl -q -b -u gatekeeperd -o cat | grep -o 'start_nice=[-0-9]* boost=[a-z_]*' | head -n 1) boosted:[$boosted]"
# a unit started after it cannot run a program no package installed
expect "boot probe after sysinit.target: the unpackaged program was refused (203/EXEC)" "failed 203" \
	"$(systemctl is-failed gk-probe-early.service) $(show ExecMainStatus gk-probe-early.service)"
expect "boot probe in multi-user.target: refused (203/EXEC)" "failed 203" \
	"$(systemctl is-failed gk-probe-late.service) $(show ExecMainStatus gk-probe-late.service)"
expect "boot probe running /usr/bin/true succeeded" "success 0" \
	"$(show Result gk-probe-ok.service) $(show ExecMainStatus gk-probe-ok.service)"
# The reboot stopped the daemon cleanly: its store carries the clean mark,
# so this boot's start did not read the whole store to check it.
expect "the start after a clean shutdown skipped the store's full check" \
	"store_check=skipped_closed_cleanly" \
	"$(journalctl -q -b -u gatekeeperd -o cat | grep -o 'store_check=[a-z_]*' | head -n 1)"
# (the journal entry follows the answer: give it time)
probe_denied() { journalctl -q -b -u gatekeeperd GK_VERDICT=deny -o export | grep -qx 'GK_PATH=/usr/local/sbin/gk-probe'; }
if wait_for 30 probe_denied; then
	ok "the journal has gatekeeperd's boot-time denial of the probe"
else
	not_ok "the journal has gatekeeperd's boot-time denial of the probe" \
		"$(journalctl -q -b -u gatekeeperd -o export | grep -a '^GK_PATH=' | head -n 5 | flat)"
fi
systemctl reset-failed gk-probe-early.service gk-probe-late.service
out=$(runs systemd-run --wait --unit=gk-late-run /usr/local/sbin/gk-probe)
expect "a unit started now (systemd-run) cannot run it either" "status=203" "$out"
systemctl reset-failed gk-late-run.service 2>/dev/null
failed=$(systemctl list-units --failed --plain --no-legend 2>&1 | flat)
expect "no unit failed at boot under whole-host enforcement" "failed: ." "failed: $failed."

expect "a login shell works" "rc=0 hello" "$(runs runuser -l root -c 'echo hello')"
expect "systemctl works" "rc=0 active" "$(runs systemctl is-active gatekeeperd)"
expect "apt works (apt-get update runs its methods)" "rc=0" "$(runs apt-get update)"
expect "journalctl works" "rc=0" "$(runs journalctl -n 1 --no-pager)"

# --- packaged programs are judged before their first exec (the prejudge
# walk): the first exec since boot of one is a kernel hit ---
jnum() { gatekeeper-ctl --json status 2>/dev/null | tr -d ' \n' | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
if wait_for 300 walked_in_bpf; then
	ok "the prejudge walk finished at $(elapsed): $(journalctl -q -b -u gatekeeperd -o cat | grep -o 'prejudged programs=.*' | tail -n 1)"
else
	not_ok "the prejudge walk finished" "$(gatekeeper-ctl status 2>&1 | grep -i -e prejudge -e kernel_mode | flat)"
fi
cached=$(jnum prejudged_cached)
expect "it cached the allows of packaged programs in the kernel" "cached: many" \
	"cached: $([ "${cached:-0}" -ge 100 ] && echo many || echo "${cached:-none} of $(jnum prejudged_programs)")"
# --bpf-after-ready: the walk waited for the switch; none ran in fanotify
# mode, where it would cache nothing and take the boot's CPU
expect "one walk since boot: the one after the switch to bpf" "walks: 1" "walks: $(jnum prejudge_walks)"
# --bpf-after-ready at boot: the load waited until the boot was over (it
# slows a boot even at nice 19); fanotify mode gated the boot meanwhile
expect "during the boot, status said the BPF load waits for default.target" \
	"load once the boot has reached default.target" \
	"$(grep -o 'load once the boot has reached default.target' /run/gk-boot-status || flat </run/gk-boot-status)"
mu_t=$(show ActiveEnterTimestampMonotonic multi-user.target)
load=$(journalctl -q -b -u gatekeeperd -o export | awk -F= '/^__MONOTONIC_TIMESTAMP=/ { t = $2 }
	/^MESSAGE=bpf_load_start / { sub(/^MESSAGE=/, ""); print t, $0; exit }')
load_t=${load%% *}
# utmp told (systemd-update-utmp-runlevel.service, after the default
# target): PID 1 was not asked
expect "the BPF load began after multi-user.target was reached, once utmp had the boot's runlevel" \
	"after multi-user.target: bpf_load_start after=\"the boot reached runlevel " \
	"$([ "${load_t:-0}" -ge "${mu_t:-1}" ] && echo after || echo "before ($mu_t)") multi-user.target: ${load#* }"
# tsort: packaged (coreutils), run by nothing at boot. A decision entry is
# written for every exec the daemon judges (log_allows); the unpackaged
# program's refusal after it is a marker: its entry comes after tsort's.
logged() { journalctl -q -b -u gatekeeperd -o export | grep -qx "GK_PATH=$1"; }
before=$(logged /usr/bin/tsort && echo logged || echo none)
out=$(runs /usr/bin/tsort --version | cut -c1-4)
newprog /tmp/gk-marker gkmark01
refused /tmp/gk-marker && wait_for 30 logged /tmp/gk-marker && marker=seen || marker=missing
after=$(logged /usr/bin/tsort && echo "judged by the daemon" || echo "kernel hit")
expect "the first exec of a packaged program since boot ran as a kernel hit (no decision entry)" \
	"rc=0 none, marker seen: kernel hit" "$out $before, marker $marker: $after"

# --- programs from outside the package manager are refused, allow admits them ---
mkdir -p /home/u
for d in /home/u /tmp; do
	newprog "$d/gk-new" gknew001
	refused "$d/gk-new" && ok "a program copied to $d is refused (EPERM)" ||
		not_ok "a program copied to $d is refused (EPERM)" "$(runs "$d/gk-new")"
done
mkdir -p /mnt/late && mount -t tmpfs late /mnt/late
newprog /mnt/late/gk-new gknew002
refused /mnt/late/gk-new && ok "a program on a tmpfs mounted after boot is refused (EPERM)" ||
	not_ok "a program on a tmpfs mounted after boot is refused (EPERM)" "$(runs /mnt/late/gk-new)"
out=$(gatekeeper-ctl allow /tmp/gk-new 2>&1)
expect "gatekeeper-ctl allow lets it run" "rc=0" "$(runs /tmp/gk-new) ($out)"

# --- a user's own mounts: the profile's unmarked_filesystems: deny ---
expect "status: a user's own mounts are possible here (Debian's default)" "user_mounts: possible" \
	"$(gatekeeper-ctl status | grep '^user_mounts:')"
expect "status: unmarked_filesystems: deny is enforced in the kernel" \
	"unmarked_filesystems: deny, in the kernel (bpf)" "$(gatekeeper-ctl status | grep '^unmarked_filesystems:')"
id gkuser >/dev/null 2>&1 || useradd -m gkuser
cp /tmp/gk-new /tmp/gk-new-u && chmod 755 /tmp/gk-new-u
expect "the admin-allowed program runs for a user" "rc=0" "$(runs runuser -u gkuser -- /tmp/gk-new-u)"
out=$(runs runuser -u gkuser -- unshare -r -m sh -c 'mount -t tmpfs t /mnt/late && cp /tmp/gk-new-u /mnt/late/x && /mnt/late/x')
expect "... but not from a tmpfs the user mounts in a user namespace of its own" "not permitted" "$out"

# --- a local package whose postinst runs its own new binary ---
P=/root/gk/pkg
rm -rf $P && mkdir -p $P/DEBIAN $P/usr/bin $P/etc/gk-testpkg
mkdir -p $P/usr/lib/gk-testpkg
newprog $P/usr/bin/gk-testpkg gkpkg001
newprog $P/etc/gk-testpkg/hook gkpkg002
newprog $P/usr/lib/gk-testpkg/helper gkpkg003
printf 'Package: gk-testpkg\nVersion: 1.0\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDescription: test\n' >$P/DEBIAN/control
echo /etc/gk-testpkg/hook >$P/DEBIAN/conffiles
(cd $P && md5sum usr/bin/gk-testpkg usr/lib/gk-testpkg/helper >DEBIAN/md5sums)
printf '#!/bin/sh\nset -e\n/usr/bin/gk-testpkg\n' >$P/DEBIAN/postinst
# the old postrm of an upgrade runs the new version's program
printf '#!/bin/sh\nset -e\nif [ "$1" = upgrade ]; then /usr/bin/gk-testpkg; : >/root/gk/postrm-upgrade.ran; fi\n' >$P/DEBIAN/postrm
chmod 755 $P/DEBIAN/postinst $P/DEBIAN/postrm
dpkg-deb -b $P /root/gk/gk-testpkg.deb >/dev/null
if apt-get install -y /root/gk/gk-testpkg.deb >/root/gk/apt-testpkg.log 2>&1; then
	ok "apt install of a package whose postinst runs its new binary"
else
	not_ok "apt install of a package whose postinst runs its new binary" "$(tail -n 4 /root/gk/apt-testpkg.log | flat)"
fi
expect "its binary runs at once" "rc=0" "$(runs /usr/bin/gk-testpkg)"
# md5sums leaves conffiles out: the MD5 in dpkg's status vouches for it
expect "its executable conffile runs (trusted by the digest dpkg's status records)" "rc=0" \
	"$(runs /etc/gk-testpkg/hook)"
comment "its postinst: $(gatekeeper-ctl query /var/lib/dpkg/info/gk-testpkg.postinst 2>&1 | flat)"

# --- its upgrade: dpkg runs the new preinst while the package is
# half-installed (the old files, recorded in info/), then the old postrm
# after renaming the new files into place (recorded only in its control
# area, tmp.ci/, until dpkg is done). Neither program ran before. ---
rm -f /root/gk/preinst-upgrade.ran /root/gk/postrm-upgrade.ran
newprog $P/usr/bin/gk-testpkg gkpkg004
newprog $P/usr/lib/gk-testpkg/helper gkpkg005
sed -i 's/^Version: 1.0$/Version: 2.0/' $P/DEBIAN/control
(cd $P && md5sum usr/bin/gk-testpkg usr/lib/gk-testpkg/helper >DEBIAN/md5sums)
rm $P/DEBIAN/postrm
printf '#!/bin/sh\nset -e\nif [ "$1" = upgrade ]; then /usr/lib/gk-testpkg/helper; : >/root/gk/preinst-upgrade.ran; fi\n' >$P/DEBIAN/preinst
chmod 755 $P/DEBIAN/preinst
dpkg-deb -b $P /root/gk/gk-testpkg2.deb >/dev/null
if apt-get install -y /root/gk/gk-testpkg2.deb >>/root/gk/apt-testpkg.log 2>&1; then
	ok "apt upgrade of a package whose scripts run its programs while dpkg unpacks it"
else
	not_ok "apt upgrade of a package whose scripts run its programs while dpkg unpacks it" \
		"$(tail -n 4 /root/gk/apt-testpkg.log | flat)"
fi
expect "the new preinst ran the old version's program, the old postrm the new version's" \
	"preinst postrm install ok installed 2.0" \
	"$(for s in preinst postrm; do [ -e /root/gk/$s-upgrade.ran ] && printf '%s ' $s; done)$(dpkg-query -W -f '${Status} ${Version}' gk-testpkg)"
expect "the upgraded binary runs" "rc=0" "$(runs /usr/bin/gk-testpkg)"
expect "query: trusted as dpkg's gk-testpkg 2.0" "dpkg gk-testpkg 2.0" \
	"$(gatekeeper-ctl query /usr/bin/gk-testpkg 2>&1 | flat)"
expect "query: its conffile too, after the upgrade" "dpkg gk-testpkg 2.0" \
	"$(gatekeeper-ctl query /etc/gk-testpkg/hook 2>&1 | flat)"
# keep the inode that just ran: after remove it is back at its path
ln /usr/bin/gk-testpkg /root/gk/gk-testpkg.kept
apt-get remove -y gk-testpkg >>/root/gk/apt-testpkg.log 2>&1
ln /root/gk/gk-testpkg.kept /usr/bin/gk-testpkg
refused /usr/bin/gk-testpkg && ok "after apt remove the binary that ran a moment before is refused" ||
	not_ok "after apt remove the binary that ran a moment before is refused" "$(runs /usr/bin/gk-testpkg)"
refused /etc/gk-testpkg/hook && ok "after apt remove its leftover conffile program is refused" ||
	not_ok "after apt remove its leftover conffile program is refused" "$(runs /etc/gk-testpkg/hook)"

# --- a modified packaged program ---
printf 'gkmod001' >>/usr/bin/tac
refused /usr/bin/tac && ok "a modified /usr/bin program is refused" ||
	not_ok "a modified /usr/bin program is refused" "$(runs /usr/bin/tac)"
expect "query says why" "differ" "$(gatekeeper-ctl query /usr/bin/tac 2>&1 | flat)"

# --- SIGKILL under the whole-host profile: execs running through the kill
# and the restart all complete. Each round runs a new unpackaged program
# (no cached verdict: it asks whichever daemon is there; refused or, while
# none is, allowed) and a packaged one (must run). ---
K=/root/gk/kill.log
mkdir -p /tmp/gkl && : >$K && rm -f /tmp/gkl/stop
(
	i=0
	while [ ! -e /tmp/gkl/stop ] && [ $i -lt 3000 ]; do
		i=$((i + 1))
		newprog /tmp/gkl/p$i "$(printf 'k%07d' $i)"
		timeout 30 /tmp/gkl/p$i 2>/dev/null; a=$?
		timeout 30 /usr/bin/env true; b=$?
		echo "run $a $b" >>$K
	done
) &
loop=$!
wait_for 30 sh -c "[ \$(grep -c '^run' $K) -ge 5 ]"
pid=$(show MainPID)
echo KILL >>$K
systemctl kill -s KILL --kill-who=main gatekeeperd
if wait_for 60 new_pid "$pid"; then
	ok "SIGKILL: systemd restarted gatekeeperd under the whole-host profile (pid $pid -> $(show MainPID))"
else
	not_ok "SIGKILL: systemd restarted gatekeeperd under the whole-host profile" "$(systemctl is-active gatekeeperd) pid $(show MainPID)"
fi
echo UP >>$K
wait_for 30 sh -c "[ \$(sed -n '/^UP/,\$p' $K | grep -c '^run') -ge 5 ]"
touch /tmp/gkl/stop
timeout 120 sh -c "while kill -0 $loop 2>/dev/null; do sleep 0.2; done"
kill $loop 2>/dev/null
wait $loop 2>/dev/null
expect "after the boot, the restarted daemon kept the unit's Nice=-10 until ready" "boost=kept_until_ready" \
	"$(journalctl -q -b -u gatekeeperd -o cat | grep -o 'boost=[a-z_]*' | tail -n 1)"
# it knew without asking PID 1: the first daemon wrote this boot's ID down
# when utmp said the boot had reached its runlevel
expect "the boot's end is written down beside the store (this boot's ID)" "$(cat /proc/sys/kernel/random/boot_id)" \
	"$(cat /var/lib/gatekeeper/gatekeeper.db.boot-over 2>&1)"
expect "... and the restarted daemon loaded its BPF programs at once, knowing the boot was over" \
	'bpf_load_start after="not booting: this boot was seen to end" waited_ms=0' \
	"$(journalctl -q -b -u gatekeeperd -o cat | grep '^bpf_load_start' | tail -n 1)"
# rounds: before the kill, between the kill and the new daemon's READY=1, after
before=$(sed '/^KILL/q' $K | grep -c '^run') during=$(sed -n '/^KILL/,/^UP/p' $K | grep -c '^run')
after=$(sed -n '/^UP/,$p' $K | grep -c '^run')
bad=$(grep '^run' $K | grep -Ecv '^run (0|126) 0$')
hung=$(grep '^run' $K | grep -c ' 124\| 137')
comment "exec rounds around the kill: $before before, $during until ready, $after after; outcomes: $(grep '^run' $K | sort | uniq -c | flat)"
expect "no exec hung or failed through SIGKILL and restart (rounds before and after it)" "hung=0 bad=0 spans" \
	"hung=$hung bad=$bad $([ "$before" -gt 0 ] && [ "$after" -gt 0 ] && echo spans)"
expect_eq "every unpackaged program run after the new daemon was ready was refused" "0" \
	"$(sed -n '/^UP/,$p' $K | grep '^run' | tail -n +2 | grep -vc '^run 126 0$')"
newprog /tmp/gk-afterkill gkaftk01
refused /tmp/gk-afterkill && ok "after the restart a new unpackaged program is refused" ||
	not_ok "after the restart a new unpackaged program is refused" "$(runs /tmp/gk-afterkill)"

# --- SIGSTOP: the watchdog gets it restarted; an exec waiting on the
# stopped daemon completes once it is replaced ---
newprog /tmp/gk-stopped gkstop01
pid=$(show MainPID)
t0=$(cut -d. -f1 /proc/uptime)
systemctl kill -s STOP --kill-who=main gatekeeperd
(timeout 150 /tmp/gk-stopped 2>/dev/null; echo "rc=$?" >/root/gk/stopped.rc) &
waiter=$!
if wait_for 120 new_pid "$pid"; then
	ok "SIGSTOP under the whole-host profile: the watchdog got gatekeeperd restarted after $(($(cut -d. -f1 /proc/uptime) - t0)) s"
else
	not_ok "SIGSTOP under the whole-host profile: the watchdog got gatekeeperd restarted" \
		"$(systemctl is-active gatekeeperd) pid $(show MainPID)"
fi
timeout 60 sh -c "while kill -0 $waiter 2>/dev/null; do sleep 0.2; done"
expect "the exec that waited on the stopped daemon completed (not hung)" "rc=" \
	"$(cat /root/gk/stopped.rc 2>/dev/null | grep -v 'rc=124')"
comment "that exec ended with $(cat /root/gk/stopped.rc 2>/dev/null)"
refused /tmp/gk-afterkill && ok "after the watchdog restart the unpackaged program is still refused" ||
	not_ok "after the watchdog restart the unpackaged program is still refused" "$(runs /tmp/gk-afterkill)"

# --- ClamAV under the whole-host profile: the daemon starts its confined
# scanner processes (/usr/sbin/gatekeeper-scand, itself watched) without
# deadlocking on its own exec ---
mkdir -p /var/lib/gk-clamdb
[ -s /var/lib/gk-clamdb/gk.ndb ] || printf 'GkSys.Test:0:*:676b746573743031\n' >/var/lib/gk-clamdb/gk.ndb
sed -i 's|^scanners:$|scanners:\n  clamav: {enabled: true, database: /var/lib/gk-clamdb}|' /etc/gatekeeper/policy.yaml
clamav_reloaded 90 "whole-host profile: ClamAV loads in gatekeeper-scand (the daemon's own exec of it is not gated)"
expect "and the system still runs programs (no exec hung)" "rc=0 rc=0" "$(runs /usr/bin/env true) $(runs /tmp/gk-new)"

# Refused execs only (a pre-scan's deny of a written file is GK_KIND=prescan).
refusals() { journalctl -q -u gatekeeperd GK_VERDICT=deny GK_KIND=decision GK_KIND=kernel_deny -o export; }
n=$(refusals | grep -c '^GK_VERDICT=deny')
paths=$(refusals | sed -n 's/^GK_PATH=//p' | sort -u)
miss=""
for p in /usr/local/sbin/gk-probe /home/u/gk-new /tmp/gk-new /mnt/late/gk-new /usr/bin/gk-testpkg /usr/bin/tac /tmp/gk-afterkill; do
	echo "$paths" | grep -qx "$p" || miss="$miss $p"
done
expect "journalctl -u gatekeeperd GK_VERDICT=deny shows the refusals ($n entries)" "missing:." "missing:$miss."

# --- apt purge: every program runs again ---
if apt-get purge -y gatekeeper >/root/gk/apt-purge2.log 2>&1; then
	ok "apt purge gatekeeper under the whole-host profile"
else
	not_ok "apt purge gatekeeper under the whole-host profile" "$(tail -n 4 /root/gk/apt-purge2.log | flat)"
fi
expect "after apt purge no gatekeeperd is left" "none inactive" \
	"$(pgrep -x gatekeeperd || echo none) $(systemctl is-active gatekeeperd)"
expect "after apt purge every program runs again" "rc=0 rc=0 rc=0 rc=0 rc=0" \
	"$(runs /home/u/gk-new) $(runs /mnt/late/gk-new) $(runs /usr/bin/tac) $(runs /usr/bin/gk-testpkg) $(runs /usr/local/sbin/gk-probe)"
umount /mnt/late
# Reached the end: guest-run.sh reports a suite that stopped before it.
exit 0
