#!/bin/sh
# Inside the booted Debian 12 guest (bench/sys-run.sh, through
# tests/sys/guest-run.sh): the side-by-side benchmark of gatekeeper and
# Debian's fapolicyd. What this boot does comes from the kernel command line:
#   gkbench=setup  install both (started by neither postinst: policy-rc.d),
#                  give each its enforcing whole-host configuration, leave
#                  both enabled (the host masks per boot, systemd.mask=);
#   gkbench=bare|gk|fapo
#                  check which gate runs, measure, check that it enforces;
#   gkbench_scope=boot
#                  measure only the boot time (bench/sys-run.sh's boot
#                  rounds), and still check that the gate enforces.
# Results: one "GKTAP # GKBENCH {json}" line per boot; checks as TAP lines.
. /root/gk/guest-lib.sh
. /root/gk/sys-lib.sh
export DEBIAN_FRONTEND=noninteractive
cd /root/gk || exit 1
CFG=$(sed -n 's/.*gkbench=\([a-z]*\).*/\1/p' /proc/cmdline)
SCOPE=$(sed -n 's/.*gkbench_scope=\([a-z]*\).*/\1/p' /proc/cmdline)
LIB=/usr/lib/gkbench

# --- setup ---------------------------------------------------------------
# The shell workload: ROUNDS x ten /usr/bin commands, as a script (the
# packaged one: 100 rounds, 1,000 commands; the paired runs: 10).
workload() { # ROUNDS
	cat <<EOF
i=0
while [ \$i -lt $1 ]; do
	/usr/bin/true; /usr/bin/echo x; /usr/bin/cat /etc/hostname; /usr/bin/ls /usr
	/usr/bin/id -u; /usr/bin/date +%s; /usr/bin/uname -r; /usr/bin/basename /a/b
	/usr/bin/expr 1 + 1; /usr/bin/head -n 1 /etc/passwd
	i=\$((i + 1))
done >/dev/null
EOF
}
# First execs: /usr/bin programs nothing runs at boot (fapolicyd's
# ExecStartPre, fagenrules, runs ls, awk, cmp...), nor this script, nor the
# workload; each run once per boot, harmlessly (--version).
FIRST="b2sum base32 base64 basenc chcon cksum comm csplit dircolors expand factor
fmt fold join md5sum mkfifo nl numfmt od paste pathchk pinky pr ptx runcon seq
sha1sum sha224sum sha384sum sha512sum shred shuf split stdbuf sum tac tsort
truncate unexpand users vdir who diff diff3 sdiff find xargs tar"

# A dpkg package of our own tools, so that both gates trust them as they
# trust the rest of the system (dpkg-deb does not write md5sums: we do).
bench_package() {
	P=/root/gk/pkg
	rm -rf $P && mkdir -p $P/DEBIAN $P$LIB
	cp /root/gk/exec_lat $P$LIB/ && chmod 755 $P$LIB/exec_lat
	workload 100 >$P$LIB/workload.sh
	for p in $FIRST; do [ -x /usr/bin/$p ] && echo "/usr/bin/$p --version"; done >$P$LIB/first.list
	(cd $P && find usr -type f -exec md5sum {} + >DEBIAN/md5sums)
	printf 'Package: gkbench-tools\nVersion: 1.0\nArchitecture: amd64\nMaintainer: gatekeeper bench <bench@example.org>\nDescription: benchmark tools\n' >$P/DEBIAN/control
	dpkg-deb -b $P /root/gk/gkbench-tools.deb >/dev/null && dpkg -i /root/gk/gkbench-tools.deb >/dev/null
}

# fapolicyd's trust: every file dpkg installed whose content still matches
# dpkg's MD5 (so a file changed since installation is not trusted), with its
# size and SHA-256 (fapolicyd's trust file wants SHA-256; dpkg only keeps
# MD5) under the path the kernel reports: dpkg lists /bin/ls, on merged /usr
# it is /usr/bin/ls. Paths with blanks cannot be written in a trust file.
fapolicyd_trust() {
	out=$1 tmp=/root/gk/trust.tmp
	mkdir -p $tmp && cd / || return 1
	cat /var/lib/dpkg/info/*.md5sums >$tmp/md5
	md5sum -c $tmp/md5 2>/dev/null | sed -n 's/: FAILED.*$//p' >$tmp/bad
	# top-level symlinks (bin -> usr/bin, lib -> usr/lib, ...) as sed rules
	rules=""
	for d in /*; do
		[ -L "$d" ] || continue
		t=$(readlink -f "$d") && rules="$rules;s#^${d#/}/#${t#/}/#"
	done
	sed 's/^[0-9a-f]\{32\}  //' $tmp/md5 | grep -vxF -f $tmp/bad | grep -v '[[:space:]\\]' |
		sed "${rules#;}" | sed 's#^#/#' | sort -u >$tmp/paths
	xargs -d '\n' stat -L -c '%s %n' <$tmp/paths >$tmp/sizes 2>/dev/null
	xargs -d '\n' sha256sum <$tmp/paths >$tmp/sums 2>/dev/null
	awk 'NR == FNR { s = $1; sub(/^[0-9]+ /, ""); size[$0] = s; next }
	     { h = $1; p = substr($0, 67); if (p in size) print p, size[p], h }' \
		$tmp/sizes $tmp/sums >"$out"
	echo "$(wc -l <$tmp/paths) dpkg files, $(wc -l <$tmp/bad) changed since installation (left out), $(wc -l <"$out") trusted"
	cd /root/gk && rm -rf $tmp
}

if [ "$CFG" = setup ]; then
	LOG=/root/gk/apt-setup.log
	comment "setup starts at $(elapsed)"
	# neither postinst may start its daemon here: fapolicyd's shipped
	# configuration refuses every exec
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
	apt-get update >$LOG 2>&1
	if apt-get install -y ./gatekeeper_*.deb fapolicyd >>$LOG 2>&1; then
		ok "setup: apt install ./gatekeeper_*.deb fapolicyd (from the image's local repository)"
	else
		not_ok "setup: apt install ./gatekeeper_*.deb fapolicyd" "$(tail -n 3 $LOG | flat)"
	fi
	rm -f /usr/sbin/policy-rc.d
	bench_package && ok "setup: gkbench-tools (exec_lat, the workload) installed with dpkg" ||
		not_ok "setup: gkbench-tools installed with dpkg"
	# gatekeeper: the whole-host allowlisting profile of tests/sys/guest-enforce.sh
	cat >/etc/gatekeeper/policy.yaml <<'POLICY'
mode: enforce
watch: [/]
trust:
  - dpkg
default: deny
on_error: deny
scanners:
  hashlist:
    files: [/etc/gatekeeper/deny.sha256]
audit:
  log_allows: false
POLICY
	out=$(gatekeeper-ctl policy check /etc/gatekeeper/policy.yaml 2>&1) &&
		ok "setup: gatekeeper's whole-host profile passes policy check" ||
		not_ok "setup: gatekeeper's whole-host profile passes policy check" "$(echo "$out" | flat)"
	# fapolicyd: the file trust back-end (Debian's build has no rpm one) with
	# SHA-256 integrity, and upstream's recommended rule set.
	F=/etc/fapolicyd
	sed -i -e 's/^trust = .*/trust = file/' -e 's/^integrity = .*/integrity = sha256/' $F/fapolicyd.conf
	rm -f $F/rules.d/*.rules
	for r in 10-languages 30-patterns 40-bad-elf 41-shared-obj 42-trusted-elf 70-trusted-lang \
		72-shell 90-deny-execute 95-allow-open; do
		cp /usr/share/fapolicyd/sample-rules/$r.rules $F/rules.d/
	done
	# upstream's 21-updaters names rpm and dnf: here it is dpkg and apt
	printf '# the package managers open everything they install\nallow perm=open exe=/usr/bin/dpkg : all\nallow perm=open exe=/usr/bin/apt-get : all\nallow perm=open exe=/usr/bin/apt : all\n' \
		>$F/rules.d/21-updaters.rules
	comment "setup: trust generation starts at $(elapsed)"
	summary=$(fapolicyd_trust $F/trust.d/dpkg.trust)
	[ -s $F/trust.d/dpkg.trust ] && grep -q '^/usr/bin/ls ' $F/trust.d/dpkg.trust &&
		ok "setup: fapolicyd trust from dpkg: $summary" ||
		not_ok "setup: fapolicyd trust from dpkg (/usr/bin/ls listed)" "$summary"
	out=$(fagenrules 2>&1 && [ -s $F/compiled.rules ] && fapolicyd-cli --check-config 2>&1) &&
		ok "setup: fapolicyd rules compile, configuration checks" ||
		not_ok "setup: fapolicyd rules compile, configuration checks" "$(echo "$out" | flat)"
	systemctl enable gatekeeperd fapolicyd >/dev/null 2>&1
	expect "setup: both units enabled (each boot masks the other on the kernel command line)" \
		"enabled enabled" "$(systemctl is-enabled gatekeeperd fapolicyd | flat)"
	# A gate's first start builds its store (gatekeeper's verdict store and
	# trust index, fapolicyd's trust database). On a real host that happens
	# once, when the package is installed, not at a boot: start each once
	# here, so that every measured boot starts it as any later boot would.
	first=""
	for unit in gatekeeperd fapolicyd; do
		timeout 600 systemctl start $unit && timeout 120 systemctl stop $unit
		first="$first $unit=$?"
	done
	expect "setup: each gate started once and stopped (its first start's store built)" \
		" gatekeeperd=0 fapolicyd=0" "$first"
	comment "setup done at $(elapsed)"
	sync
	exit 0
fi

# --- a measured boot -------------------------------------------------------
# wait_walk: until gatekeeper is in bpf mode (the unit loads its programs
# after ready) and its walk over the packaged programs since then is done
# (at most 300 s); i: half-seconds waited.
wait_walk() {
	i=0
	while [ $i -lt 600 ] && ! walked_in_bpf; do
		sleep 0.5
		i=$((i + 1))
	done
}

case "$CFG" in
bare | gk | fapo) ;;
*) not_ok "gkbench= on the kernel command line names bare, gk or fapo" "got '$CFG'"; exit 0 ;;
esac
comment "$CFG: the suite starts at $(elapsed)"
# Let the boot transaction settle (every job but ours done), at most 60 s
# of uptime more.
until=$(($(cut -d. -f1 /proc/uptime) + 60))
while jobs=$(systemctl list-jobs --no-legend 2>/dev/null | grep -v gk-systest) && [ -n "$jobs" ]; do
	[ "$(cut -d. -f1 /proc/uptime)" -lt $until ] || { comment "$CFG: still pending: $(echo "$jobs" | flat)"; break; }
	sleep 1
done
# gatekeeper judges packaged programs in the background after its start
# (gatekeeperd(8), "Following dpkg"): measure once that walk is done, as on
# a host that has been up for a minute; its duration is reported.
if [ "$CFG" = gk ] && [ "$SCOPE" != boot ]; then
	wait_walk
	comment "gk: prejudge: $(journalctl -q -b -u gatekeeperd -o cat | grep -o 'prejudged programs=.*' | tail -n 1) (waited $((i / 2)) s)"
	comment "gk: digest store: $(gatekeeper-ctl --json status 2>&1 | grep -oE '"digest[a-z_]*":([0-9]+|"[^"]*")' | tr '\n' ' ')"
fi
first='' cached='' shell=''
if [ "$SCOPE" != boot ]; then
	comment "$CFG: measuring at $(elapsed)"
	# first: programs not run since boot
	first=$($LIB/exec_lat first each $LIB/first.list)
	cached=$($LIB/exec_lat cached repeat 100 10 /usr/bin/true)
	shell=$($LIB/exec_lat shell repeat 1 0 /bin/sh $LIB/workload.sh)
	comment "$CFG: measured at $(elapsed)"
fi
boot_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target)
# the part of it after the kernel and the initrd, the only part a gate can
# slow (it starts from the root file system): the kernel's own phases move
# by seconds from boot to boot under TCG
userspace_us=$((boot_us - $(systemctl show -p UserspaceTimestampMonotonic --value)))
analyze=$(systemd-analyze time 2>&1 | head -n 1 | tr -d '"')
state="gatekeeperd=$(systemctl is-active gatekeeperd) fapolicyd=$(systemctl is-active fapolicyd)"

# does this configuration do its job? an untrusted copy in /tmp must be
# refused (bare: it runs)
cp /usr/bin/true /tmp/gkbench-new && printf 'gkbench1' >>/tmp/gkbench-new && chmod 755 /tmp/gkbench-new
res=$(timeout 20 /tmp/gkbench-new 2>&1 </dev/null; echo "rc=$?")
case "$res" in *"not permitted"* | *"Permission denied"* | *"rc=126"*) refused=true ;; *) refused=false ;; esac
case "$CFG" in
bare) want_state="gatekeeperd=inactive fapolicyd=inactive" want_refused=false ;;
gk) want_state="gatekeeperd=active fapolicyd=inactive" want_refused=true ;;
fapo) want_state="gatekeeperd=inactive fapolicyd=active" want_refused=true ;;
esac
expect "$CFG: the gates running are $want_state" "$want_state" "$state"
[ "$refused" = "$want_refused" ] && ok "$CFG: an untrusted copy of true in /tmp is $([ $refused = true ] && echo refused || echo run)" ||
	not_ok "$CFG: an untrusted copy of true in /tmp is $([ $want_refused = true ] && echo refused || echo run)" "$res"
enforcing=$([ "$refused" = "$want_refused" ] && [ "$state" = "$want_state" ] && echo true || echo false)
# where this boot's time went (systemd-analyze refuses while our own unit
# is a boot job): when each unit of the early boot started and became
# active, in ms since the kernel started
units="systemd-journald.service systemd-udevd.service systemd-udev-trigger.service
systemd-tmpfiles-setup.service local-fs.target gatekeeperd.service fapolicyd.service
sysinit.target basic.target multi-user.target"
# shellcheck disable=SC2086
comment "$CFG: units (start-active ms): $(systemctl show -p Id -p InactiveExitTimestampMonotonic \
	-p ActiveEnterTimestampMonotonic $units 2>/dev/null | awk 'BEGIN { RS = ""; FS = "\n" } {
	id = ""; s = 0; a = 0
	for (i = 1; i <= NF; i++) {
		split($i, kv, "=")
		if (kv[1] == "Id") id = kv[2]
		if (kv[1] == "InactiveExitTimestampMonotonic") s = kv[2]
		if (kv[1] == "ActiveEnterTimestampMonotonic") a = kv[2]
	}
	if (a > 0) printf "%s %d-%d; ", id, s / 1000, a / 1000 }')"
# what sysinit.target waited for: systemd's last words before it
comment "$CFG: before sysinit.target: $(journalctl -q -b -o short-monotonic _PID=1 |
	grep -B 8 -m 1 'Reached target.*System Initialization' | sed 's/^\[ *\([0-9.]*\)\] [^:]*: /\1 /' | flat)"
# ... and multi-user.target; and when the kernel's random pool was ready
# (a unit that blocks on getrandom() waits without a word)
comment "$CFG: before multi-user.target: $(journalctl -q -b -o short-monotonic _PID=1 |
	grep -B 8 -m 1 'Reached target.*Multi-User System' | sed 's/^\[ *\([0-9.]*\)\] [^:]*: /\1 /' | flat)"
comment "$CFG: kernel: $(journalctl -q -k -b -o short-monotonic | grep -m 1 -e 'crng init done' -e 'random:' | flat)"
# the CPU each busy unit had used by now (ms): the boot runs on one CPU,
# so what a unit adds there is what the boot waits for
comment "$CFG: cpu ms by unit: $(systemctl show -p Id -p CPUUsageNSec init.scope gatekeeperd.service \
	fapolicyd.service systemd-journald.service systemd-udevd.service systemd-logind.service \
	systemd-tmpfiles-setup.service systemd-update-utmp.service 2>/dev/null | awk 'BEGIN { RS = ""; FS = "\n" } {
	id = ""; c = ""
	for (i = 1; i <= NF; i++) {
		split($i, kv, "=")
		if (kv[1] == "Id") id = kv[2]
		if (kv[1] == "CPUUsageNSec") c = kv[2]
	}
	if (c ~ /^[0-9]+$/) printf "%s %d; ", id, c / 1000000 }')"
if [ "$CFG" = gk ]; then
	comment "gk: start-up: $(journalctl -q -b -u gatekeeperd -o cat | grep -o 'start_ms=.*cpu_after_marks_ms=[0-9]*' | head -n 1)"
	# where the unit's CPU went: each process of the unit, each thread of
	# the daemon (utime + stime, clock ticks of 10 ms)
	comment "gk: cpu ms by thread: $(for p in $(cat /sys/fs/cgroup/system.slice/gatekeeperd.service/cgroup.procs 2>/dev/null); do
		for t in /proc/"$p"/task/*; do
			printf '%s/%s %s\n' "$p" "$(cat "$t/comm" 2>/dev/null)" "$(cut -d')' -f2- "$t/stat" 2>/dev/null | awk '{ print ($12 + $13) * 10 }')"
		done
	done | awk '$2 > 0' | sort -k2 -rn | head -n 16 | flat)"
	# the execs it held up longest in this boot, from the audit log (time; path(source); latency)
	comment "gk: slowest answers: $(gatekeeper-ctl log --since "@$(($(date +%s) - $(cut -d. -f1 /proc/uptime)))" 2>&1 |
		awk '{ l = ""; for (i = 1; i <= NF; i++) if ($i ~ /^latency_us=/) l = substr($i, 12)
			if (l != "") { n++; sum += l; print l, substr($1, 12, 12), $4 "(" $3 ")" } }
			END { print -1, n + 0, sum + 0 }' | sort -rn |
		awk '$1 == -1 { tail = sprintf("(%d decisions, %d us in all)", $2, $3); next }
		     shown++ < 8 { printf "%s %s %s us; ", $2, $3, $1 } END { print tail }')"
	comment "gk: bpf mode from: $(journalctl -q -b -u gatekeeperd -o short-monotonic | grep -m 1 kernel_mode_changed | cut -c1-200)"
	comment "gk status: $(gatekeeper-ctl --json status 2>&1 | flat)"
	comment "gk metrics: $(gatekeeper-ctl metrics 2>&1 | grep -v '^#' | grep -E 'latency|decision|kernel|cache|hash|prescan' | flat)"
fi
if [ "$CFG" = fapo ]; then
	ld=$(timeout 20 /lib64/ld-linux-x86-64.so.2 /tmp/gkbench-new 2>&1 </dev/null; echo "rc=$?")
	comment "fapo: through ld.so the copy gives: $(echo "$ld" | flat)"
	comment "fapo: $(grep -c . /etc/fapolicyd/trust.d/dpkg.trust) trusted files; $(grep -E '^(trust|integrity) ' /etc/fapolicyd/fapolicyd.conf | flat)"
	comment "fapo status: $(timeout 20 fapolicyd-cli --check-status 2>&1 | flat | cut -c1-1500)"
fi
rm -f /tmp/gkbench-new

# Paired, in this boot: the gate stopped and running, alternated in ABBA
# blocks (off on on off, three times), each state measured on the same
# boot, page cache and TCG state, so that the boot-to-boot noise (+-25%
# between boots of one configuration) and the drift within a boot fall out
# of the ratio. Every state is warmed the same way before it is measured:
# the programs run once (fapolicyd starts with an empty cache); after a
# start, gatekeeper's walk is done first.
MINI=$(workload 10)
median_of() { sed -n 's/.*"median_us":\([0-9.]*\).*/\1/p'; }
gate_state() { # UNIT off|on
	if [ "$2" = off ]; then
		systemctl stop "$1"
	else
		systemctl start "$1"
		[ "$1" = gatekeeperd ] && wait_walk
	fi
	sh -c "$MINI"
}
paired=null
case "$CFG" in gk) unit=gatekeeperd ;; fapo) unit=fapolicyd ;; *) unit= ;; esac
[ "$SCOPE" = boot ] && unit=
if [ -n "$unit" ]; then
	paired=""
	for gate in off on on off off on on off off on on off; do
		gate_state $unit $gate
		c=$($LIB/exec_lat cached repeat 100 10 /usr/bin/true | median_of)
		m=$($LIB/exec_lat shell repeat 3 0 /bin/sh -c "$MINI" | median_of)
		paired="$paired{\"state\":\"$gate\",\"active\":\"$(systemctl is-active $unit)\",\"cached_us\":${c:-null},\"shell100_us\":${m:-null}},"
	done
	paired="[${paired%,}]"
	comment "$CFG: paired measurements done at $(elapsed)"
fi
echo "GKTAP # GKBENCH {\"cfg\":\"$CFG\",\"scope\":\"${SCOPE:-all}\",\"boot_us\":${boot_us:-0},\"userspace_us\":${userspace_us:-0},\"analyze\":\"$analyze\",\"enforcing\":$enforcing,\"state\":\"$state\",\"first\":${first:-null},\"cached\":${cached:-null},\"shell\":${shell:-null},\"paired\":$paired}"
exit 0
