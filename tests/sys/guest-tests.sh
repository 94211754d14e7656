#!/bin/sh
# The package on a booted Debian 12 system, as an admin meets it: apt
# install (offline, from the image's local repository), the unit under
# systemd (notify, status, reload, watchdog), journald's structured entries,
# restarts after SIGKILL and SIGSTOP, apt purge.
. /root/gk/guest-lib.sh
. /root/gk/sys-lib.sh
export DEBIAN_FRONTEND=noninteractive
cd /root/gk || exit 1
LOG=/root/gk/apt.log
is_active() { [ "$(systemctl is-active gatekeeperd)" = active ]; }
new_pid() { [ "$(show MainPID)" != 0 ] && [ "$(show MainPID)" != "$1" ] && is_active; }
journal_has() { # FIELD=VALUE...: a gatekeeperd entry with all these fields
	journalctl -q -u gatekeeperd "$@" -o export | grep -q '^GK_VERDICT='
}
tail_log() { tail -n "${2:-15}" "$1" | sed 's/^/GKTAP #   /'; }

comment "$(uname -r), lsm=$(cat /sys/kernel/security/lsm), booted to multi-user in $(elapsed)"

# --- install ---
comment "install at $(elapsed)"
apt-get update >$LOG 2>&1
comment "apt-get update done at $(elapsed)"
if apt-get install -y ./gatekeeper_*.deb >>$LOG 2>&1; then
	ok "apt install ./gatekeeper_*.deb from the local repository (no network)"
else
	not_ok "apt install ./gatekeeper_*.deb from the local repository (no network)"
	tail_log $LOG
fi
comment "apt-get install done at $(elapsed); gatekeeperd ready $(show ExecMainStartTimestampMonotonic) -> $(show ActiveEnterTimestampMonotonic) us"
wait_for 30 is_active
expect_eq "the service is active after install" active "$(systemctl is-active gatekeeperd)"
# The unit's --bpf-after-ready: ready in fanotify mode, bpf once loaded.
expect "the unit's daemon is ready before its BPF programs load (--bpf-after-ready)" \
	'kernel_mode=fanotify why="BPF LSM programs loading after ready' \
	"$(journalctl -q -u gatekeeperd -o cat | grep '^ready ' | tail -n 1)"
bpf_mode() { gatekeeper-ctl status 2>/dev/null | grep -q '^kernel_mode: bpf'; }
wait_for 120 bpf_mode
comment "kernel mode bpf at $(elapsed): $(journalctl -q -u gatekeeperd -o cat | grep '^kernel_mode_changed' | tail -n 1)"
expect "it is enabled" enabled "$(systemctl is-enabled gatekeeperd 2>&1)"
expect_eq "the installed daemon reports the package's version" \
	"gatekeeperd $(dpkg-query -W -f '${Version}' gatekeeper)" "$(gatekeeperd --version 2>&1)"
st=$(gatekeeper-ctl --json status 2>&1 | tr -d ' \n')
expect "gatekeeper-ctl status: monitor mode" '"mode":"monitor"' "$st"
expect "gatekeeper-ctl status: kernel mode bpf" '"kernel_mode":"bpf"' "$st"
expect "Type=notify, READY=1 sent: STATUS= names mode and kernel mode" \
	"notify mode=monitor kernel_mode=bpf" "$(show Type) $(show StatusText)"
expect "WatchdogSec= is in force" "20s" "$(show WatchdogUSec)"
cf=$(dpkg-query -W -f='${Conffiles}' gatekeeper)
expect "conffile: policy.yaml" /etc/gatekeeper/policy.yaml "$cf"
expect "conffile: deny.sha256" /etc/gatekeeper/deny.sha256 "$cf"
missing=""
for f in /usr/sbin/gatekeeperd /usr/sbin/gatekeeper-ctl /usr/share/man/man8/gatekeeperd.8.gz \
	/usr/share/man/man8/gatekeeper-ctl.8.gz /usr/share/man/man5/gatekeeper-policy.5.gz \
	/usr/share/bash-completion/completions/gatekeeper-ctl /lib/systemd/system/gatekeeperd.service; do
	[ -e "$f" ] || missing="$missing $f"
done
expect_eq "the package installs daemon, ctl, man pages, completion, unit" "missing:" "missing:$missing"
if out=$(systemd-analyze verify --man=no gatekeeperd.service 2>&1); then
	ok "systemd-analyze verify gatekeeperd.service"
else
	not_ok "systemd-analyze verify gatekeeperd.service" "$(echo "$out" | flat)"
fi
sec=$(systemd-analyze security --no-pager gatekeeperd.service 2>&1)
{ echo "$sec" | grep 'Overall exposure'; echo "$sec" | grep -E '✗ (Capability|Private|Protect|Restrict|System)' | head -n 30; } |
	sed 's/^/GKTAP # security: /'

# --- journald, monitor mode: a decision is one structured entry ---
comment "journald at $(elapsed)"
# Written under unwatched /root and renamed into /tmp: a close-write in /tmp
# would be pre-scanned, and in bpf mode the exec could then be answered by the
# kernel's cached allow, which by design writes no decision entry.
cp /usr/bin/true /root/gk/gk-mon && printf 'gkmon001' >>/root/gk/gk-mon
mv /root/gk/gk-mon /tmp/gk-mon
[ "$(stat -c %d /root/gk)" = "$(stat -c %d /tmp)" ] ||
	comment "/root and /tmp are on different filesystems: mv copied, the exec may race the pre-scan"
/tmp/gk-mon
if wait_for 20 journal_has GK_PATH=/tmp/gk-mon GK_VERDICT=allow GK_MODE=monitor; then
	ok "journalctl -u gatekeeperd GK_PATH=... GK_VERDICT=allow finds the monitor decision"
else
	not_ok "journalctl -u gatekeeperd GK_PATH=... GK_VERDICT=allow finds the monitor decision"
	journalctl -q -u gatekeeperd -n 8 --no-pager | sed 's/^/GKTAP #   /'
fi
# the field names of that entry (export format: one paragraph per entry)
journalctl -q -u gatekeeperd -o export >/root/gk/journal.export 2>&1
fields=$(awk 'BEGIN { RS = ""; FS = "\n" }
	{ hit = 0; for (i = 1; i <= NF; i++) if ($i == "GK_PATH=/tmp/gk-mon") hit = 1 }
	hit { for (i = 1; i <= NF; i++) if ($i ~ /^GK_/) { sub(/=.*/, "=", $i); print $i } }' \
	/root/gk/journal.export | sort -u | flat)
if [ -z "$fields" ]; then
	comment "journal export: $(wc -l </root/gk/journal.export) lines; entries with GK_PATH:"
	grep -a '^GK_PATH=' /root/gk/journal.export | head -n 5 | sed 's/^/GKTAP #   /'
fi
expect "the entry carries GK_SHA256, GK_PID, GK_EXE, GK_LATENCY_US, GK_SOURCE, GK_DETAIL" \
	"GK_DETAIL= GK_EXE= GK_KIND= GK_LATENCY_US= GK_MODE= GK_PATH= GK_PID= GK_SHA256= GK_SOURCE= GK_VERDICT= GK_WOULD_DENY=" "$fields"

# --- reload into enforce (RELOADING=1 ... READY=1), a denial in the journal ---
cp /usr/bin/true /tmp/gk-bad && printf 'gkbad001' >>/tmp/gk-bad
cp /usr/bin/true /tmp/gk-ok && printf 'gkok0001' >>/tmp/gk-ok
bad_sha=$(sha256sum /tmp/gk-bad | cut -d' ' -f1)
echo "$bad_sha gk-bad" >>/etc/gatekeeper/deny.sha256
sed -i 's/^mode: monitor/mode: enforce/' /etc/gatekeeper/policy.yaml
systemctl reload gatekeeperd
wait_for 30 sh -c 'systemctl show -p StatusText --value gatekeeperd | grep -q mode=enforce'
expect "systemctl reload: STATUS= says enforce, unit active again" "|active|mode=enforce" \
	"|$(systemctl is-active gatekeeperd)|$(show StatusText)"
# A policy that does not parse: the reload keeps the running one and says
# why at priority err (the journal reads the line's "<3>" prefix).
cp /etc/gatekeeper/policy.yaml /root/gk/policy.good
echo "gk_no_such_key: 1" >>/etc/gatekeeper/policy.yaml
systemctl reload gatekeeperd
reload_refused() { journalctl -q -u gatekeeperd -p err -o cat | grep -q '^reload_failed .*gk_no_such_key'; }
wait_for 30 reload_refused
expect_eq "a refused reload is logged at priority err, with no raw <N> prefix" "refused:yes raw:0" \
	"refused:$(reload_refused && echo yes) raw:$(journalctl -q -u gatekeeperd -o cat | grep -c '^<[0-9]>')"
# ... and a reinstall (an upgrade's configure) stops before the restart:
# the daemon goes on with the policy in force, dpkg says what to fix.
pid=$(show MainPID)
apt-get install -y --reinstall ./gatekeeper_*.deb >/root/gk/apt-reinstall.log 2>&1
rc=$?
expect "a reinstall with a policy the new version refuses fails, names the file, keeps the daemon" \
	"rc=100 gk_no_such_key /etc/gatekeeper/policy.yaml is not valid active $pid" \
	"rc=$rc $(grep -o 'gk_no_such_key' /root/gk/apt-reinstall.log | head -n 1) $(grep -o '/etc/gatekeeper/policy.yaml is not valid' /root/gk/apt-reinstall.log | head -n 1) $(systemctl is-active gatekeeperd) $(show MainPID)"
cp /root/gk/policy.good /etc/gatekeeper/policy.yaml
dpkg --configure -a >>/root/gk/apt-reinstall.log 2>&1
expect "fixed, dpkg --configure -a finishes and the daemon restarts" \
	"rc=0 install ok installed active" \
	"rc=$? $(dpkg-query -W -f '${Status}' gatekeeper) $(systemctl is-active gatekeeperd)"
wait_for 30 sh -c 'systemctl show -p StatusText --value gatekeeperd | grep -q mode=enforce'
wait_for 120 bpf_mode   # the restarted daemon loads its programs after READY=1
out=$(timeout 20 /tmp/gk-bad 2>&1; echo "rc=$?")
expect "enforce: a program on the deny list is refused (EPERM)" "not permitted" "$out"
if wait_for 20 journal_has GK_VERDICT=deny GK_PATH=/tmp/gk-bad GK_SHA256=$bad_sha; then
	ok "journalctl -u gatekeeperd GK_VERDICT=deny lists the denial, with its SHA-256"
else
	not_ok "journalctl -u gatekeeperd GK_VERDICT=deny lists the denial, with its SHA-256"
	journalctl -q -u gatekeeperd -n 8 --no-pager | sed 's/^/GKTAP #   /'
fi
# Its second exec is refused by the kernel alone (bpf mode); the entry still
# names the file and its content.
out=$(timeout 20 /tmp/gk-bad 2>&1; echo "rc=$?")
if wait_for 20 journal_has GK_KIND=kernel_deny GK_VERDICT=deny GK_PATH=/tmp/gk-bad GK_SHA256=$bad_sha; then
	ok "the kernel's own refusal is in the journal under the file's path and digest"
else
	not_ok "the kernel's own refusal is in the journal under the file's path and digest" "$out"
	journalctl -q -u gatekeeperd -n 8 --no-pager | sed 's/^/GKTAP #   /'
fi
out=$(timeout 20 /tmp/gk-ok; echo "rc=$?")
expect "enforce: an unlisted program still runs" "rc=0" "$out"

# --- ClamAV in gatekeeper-scand, confined by itself under the unit's sandbox ---
# EICAR in two halves: no file of the repository holds it whole.
A='X5O!P%@AP[4\PZX54(P^)7CC)7}$' B='EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
mkdir -p /var/lib/gk-clamdb
printf 'GkSys.Eicar:0:*:%s\n' "$(printf '%s%s' "$A" "$B" | od -An -v -tx1 | tr -d ' \n')" \
	>/var/lib/gk-clamdb/gk.ndb
sed -i 's|database: /var/lib/clamav|database: /var/lib/gk-clamdb|' /etc/gatekeeper/policy.yaml
clamav_reloaded 60 "ClamAV loads in gatekeeper-scand under the unit"
printf '#!/bin/sh\n# %s%s\nexit 0\n' "$A" "$B" >/tmp/gk-eicar.sh && chmod 0755 /tmp/gk-eicar.sh
out=$(timeout 20 /tmp/gk-eicar.sh 2>&1; echo "rc=$?")
expect "enforce: a script carrying EICAR is refused by ClamAV" "not permitted" "$out"
expect "gatekeeper-ctl query names the signature" "GkSys.Eicar" \
	"$(gatekeeper-ctl query /tmp/gk-eicar.sh 2>&1 | flat)"
expect_eq "gatekeeperd maps no libclamav" "0" "$(grep -c libclamav /proc/"$(show MainPID)"/maps)"
expect "the package made the scanner user" "gatekeeper-scan" "$(getent passwd gatekeeper-scan | cut -d: -f1)"
sp=$(pgrep -x gatekeeper-scan | tail -n 1)
st=$(grep -E '^(Uid|CapEff|CapBnd|Seccomp|NoNewPrivs):' "/proc/${sp:-0}/status" 2>/dev/null | flat)
u=$(id -u gatekeeper-scan 2>/dev/null)
expect "a scanner process: the scanner user, no capabilities, seccomp, no_new_privs" \
	"Uid: $u $u $u $u CapEff: 0000000000000000 CapBnd: 0000000000000000 NoNewPrivs: 1 Seccomp: 2" \
	"$(echo "$st" | tr -s '\t ' ' ' | sed 's/ *$//')"
expect "a scanner process has a network namespace of its own" "other" \
	"$([ -n "$sp" ] && [ "$(readlink /proc/"$sp"/ns/net)" != "$(readlink /proc/"$(show MainPID)"/ns/net)" ] && echo other)"

# --- the watchdog is fed while the daemon idles ---
pid=$(show MainPID) restarts=$(show NRestarts)
sleep 25
expect "the watchdog (20 s) is fed while idle: same pid after 25 s" "$pid $restarts" \
	"$(show MainPID) $(show NRestarts)"

# --- SIGKILL: systemd restarts it, no exec hangs meanwhile ---
comment "SIGKILL at $(elapsed)"
# new programs (no cached verdict: each exec asks whichever daemon is there)
for i in $(seq 30); do cp /usr/bin/true /tmp/gk-k$i && printf 'gkk%05d' $i >>/tmp/gk-k$i; done
pid=$(show MainPID)
systemctl kill -s KILL --kill-who=main gatekeeperd
hung=0 failed=0
for i in $(seq 30); do
	timeout 10 /tmp/gk-k$i
	case $? in 0) ;; 124) hung=$((hung + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
expect "no exec hung or failed while gatekeeperd was killed and restarted" "hung=0 failed=0" \
	"hung=$hung failed=$failed"
if wait_for 60 new_pid "$pid"; then
	ok "SIGKILL: systemd restarted gatekeeperd (pid $pid -> $(show MainPID))"
else
	not_ok "SIGKILL: systemd restarted gatekeeperd" "$(systemctl is-active gatekeeperd) pid $(show MainPID)"
fi
out=$(timeout 20 /tmp/gk-bad 2>&1; echo "rc=$?")
expect "after the restart the denial still holds" "not permitted" "$out"

# --- SIGSTOP: a wedged daemon stops feeding the watchdog and is restarted ---
pid=$(show MainPID)
t0=$(cut -d. -f1 /proc/uptime)
systemctl kill -s STOP --kill-who=main gatekeeperd
if wait_for 120 new_pid "$pid"; then
	ok "SIGSTOP: the watchdog got gatekeeperd restarted after $(($(cut -d. -f1 /proc/uptime) - t0)) s"
else
	not_ok "SIGSTOP: the watchdog got gatekeeperd restarted" "$(systemctl is-active gatekeeperd) pid $(show MainPID)"
fi
expect "systemd logged the watchdog timeout" "atchdog timeout" \
	"$(journalctl -q -u gatekeeperd --no-pager | grep -i 'watchdog timeout' | tail -n1)"

# --- a metrics textfile first: the purge must take it too ---
prom=/var/lib/prometheus/node-exporter/gatekeeper.prom
mkdir -p "${prom%/*}"    # before the start: the unit makes it writable only if it exists
printf 'metrics: {textfile: %s, interval_s: 1}\n' "$prom" >>/etc/gatekeeper/policy.yaml
systemctl restart gatekeeperd
wait_for 30 test -s "$prom"
expect_eq "the daemon writes the metrics textfile the policy names" "gatekeeper_permission_events_total" \
	"$(grep -m1 -o '^gatekeeper_permission_events_total' "$prom" 2>&1)"

# --- apt purge: nothing left, every program runs ---
comment "purge at $(elapsed)"
files=$(dpkg -L gatekeeper | while read -r f; do [ -d "$f" ] || echo "$f"; done)
if apt-get purge -y gatekeeper >>$LOG 2>&1; then
	ok "apt purge gatekeeper"
else
	not_ok "apt purge gatekeeper"
	tail_log $LOG
fi
left=""
for f in $files /etc/gatekeeper /var/lib/gatekeeper /run/gatekeeper /usr/share/doc/gatekeeper \
	/etc/systemd/system/sysinit.target.wants/gatekeeperd.service "$prom"; do
	[ -e "$f" ] && left="$left $f"
done
expect_eq "purge leaves no file of the package, no store, no runtime directory" "left:" "left:$left"
expect "the unit is gone" "not-found" "$(show LoadState)"
expect "no gatekeeperd process is left" "none" "$(pgrep -x gatekeeperd || echo none)"
out=$(timeout 20 /tmp/gk-bad; echo "rc=$?")
expect "after purge the once-denied program runs" "rc=0" "$out"
comment "guest suite done at $(elapsed)"
# Reached the end: guest-run.sh reports a suite that stopped before it.
exit 0
