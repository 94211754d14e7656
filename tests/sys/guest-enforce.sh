#!/bin/sh
# Whole-host allowlisting on a booted Debian 12 (issue 13.4), phase 1:
# install (again: guest-tests.sh ends with apt purge), switch to the
# host-allowlisting profile (enforce, watch: [/], dpkg trust, default: deny)
# and ask for a reboot; guest-enforce2.sh goes on after it.
. /root/gk/guest-lib.sh
export DEBIAN_FRONTEND=noninteractive
cd /root/gk || exit 1
LOG=/root/gk/apt-enforce.log
comment "whole-host phase 1 at $(elapsed)"
apt-get update >$LOG 2>&1
if apt-get install -y ./gatekeeper_*.deb >>$LOG 2>&1; then
	ok "enforce profile: apt install ./gatekeeper_*.deb"
else
	not_ok "enforce profile: apt install ./gatekeeper_*.deb" "$(tail -n 3 $LOG | flat)"
fi
# the unit starts in early boot: enabled through sysinit.target
expect "the unit is enabled through sysinit.target.wants" "enabled link" \
	"$(systemctl is-enabled gatekeeperd 2>&1) $([ -L /etc/systemd/system/sysinit.target.wants/gatekeeperd.service ] && echo link)"

# Boot probes, judged after the reboot: a program that no package
# installed, run by a unit that starts right after sysinit.target
# (WantedBy=basic.target) and by one in multi-user.target; a packaged
# program by a third, to tell a refusal from a broken unit.
cp /usr/bin/true /usr/local/sbin/gk-probe && printf 'gkprobe1' >>/usr/local/sbin/gk-probe
expect "the probe program runs before enforcement" "rc=0" "rc=$(timeout 20 /usr/local/sbin/gk-probe; echo $?)"
probe_unit() { # NAME WANTEDBY PROGRAM
	printf '[Unit]\nDescription=gatekeeper boot probe\n[Service]\nType=oneshot\nExecStart=%s\n[Install]\nWantedBy=%s\n' \
		"$3" "$2" >/etc/systemd/system/$1.service
	systemctl enable $1.service >/dev/null 2>&1
}
probe_unit gk-probe-early basic.target /usr/local/sbin/gk-probe
probe_unit gk-probe-late multi-user.target /usr/local/sbin/gk-probe
probe_unit gk-probe-ok basic.target /usr/bin/true
# What `status` says while the boot is under way (a unit in
# multi-user.target runs before that target is reached).
probe_unit gk-probe-status multi-user.target "/bin/sh -c 'gatekeeper-ctl status >/run/gk-boot-status 2>&1'"

# The host-allowlisting profile as the package ships it, commented out, in
# /etc/gatekeeper/policy.yaml: its lines without their "# ", from "mode:"
# on, with mode: enforce.
P=/etc/gatekeeper/policy.yaml
sed -n '/^# ---- host allowlisting profile (begin)/,/^# ---- host allowlisting profile (end)/p' $P |
	sed -n 's/^# //p' | sed -n '/^mode: /,/^----/p' | sed -e '/^----/d' -e 's/^mode: monitor.*/mode: enforce/' >/root/gk/profile.yaml
expect "the shipped policy carries the host-allowlisting profile" "mode: enforce watch: [/] trust: [dpkg] default: deny" \
	"$(grep -E '^(mode|watch|trust|default):' /root/gk/profile.yaml | flat)"
cp /root/gk/profile.yaml $P
if out=$(gatekeeper-ctl policy check /etc/gatekeeper/policy.yaml 2>&1); then
	ok "the host-allowlisting profile passes policy check"
else
	not_ok "the host-allowlisting profile passes policy check" "$(echo "$out" | flat)"
fi
sync
comment "rebooting into the whole-host profile at $(elapsed)"
# Reboot into it: guest-run.sh resumes with phase 2.
echo guest-enforce2.sh >/root/gk/resume
# Reached the end: guest-run.sh reports a suite that stopped before it.
exit 0
