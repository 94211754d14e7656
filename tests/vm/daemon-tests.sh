# Guest suite "daemon": gatekeeperd in bpf mode with gatekeeper-ctl, on a
# fresh tmpfs, policy: enforce, watch the test dir, default allow. Denials
# come from admin hash rules (gatekeeper-ctl deny), so a file's content
# decides its verdict. Each check is a real exec or mmap.
. /gk/guest-lib.sh
T=/t/d
GK=/tmp/gk
SOCK=/run/gk.sock
if [ ! -x /gk/gatekeeperd ] || [ ! -x /gk/gatekeeper-ctl ]; then
	not_ok "daemon: gatekeeperd and gatekeeper-ctl are built" "missing from the build dir"
	return 0
fi
mkdir -p /t && mount -t tmpfs tmpfs /t && mkdir -p $T $T/tpl $GK

write_policy allow $T
if ! start_daemon; then
	not_ok "daemon: gatekeeperd starts and answers status" "$(tail -n 5 $GK/gkd.log | flat)"
	kill $DPID 2>/dev/null
	umount /t
	return 0
fi
ok "daemon: gatekeeperd starts and answers status"
expect "daemon: kernel_mode is bpf" "kernel_mode: bpf" "$(ctl status | grep kernel_mode)"

# Templates of the denied contents (never executed themselves).
mkprog $T/tpl/evil EVILEVIL
mkprog $T/tpl/bad BADBADBA
if out=$(ctl deny $T/tpl/evil 2>&1 && ctl deny $T/tpl/bad 2>&1); then
	ok "daemon: gatekeeper-ctl deny (admin hash rules)"
else
	not_ok "daemon: gatekeeper-ctl deny (admin hash rules)" "$(echo "$out" | flat)"
fi

# --- denied: the second exec is answered by the kernel alone ---
cp $T/tpl/bad $T/bad
first=$(run $T/bad)
pe0=$(status_num perm_events)
kd0=$(status_num kernel_denies)
second=$(run $T/bad)
pe1=$(status_num perm_events)
expect "daemon: a denied file fails with EPERM" "exec-error EPERM|exec-error EPERM" "$first|$second"
expect "daemon: the second exec of a denied file raises no permission event" "$pe0" "$pe1"
comment "kernel_denies before/after: $kd0/$(status_num kernel_denies)"
# The kernel's record names only device and inode: the daemon names the file
# (the path it denied it under) and the program that asked, read from /proc
# when the record arrives (a caller that has exited by then is left out).
refused=$(gk-vmtool exec-linger $T/bad)
expect "daemon: a denied file fails with EPERM in the caller itself" "exec-error EPERM" "$refused"
kline=""
for i in $(seq 20); do
	kline=$(grep "kernel_deny " $GK/gkd.log | grep " path=$T/bad " | grep " exe=/gk/gk-vmtool " |
		tail -n 1)
	[ -n "$kline" ] && break
	usleep 100000
done
expect "daemon: the kernel's refusal is audited with the file's path and the caller" \
	"exe=/gk/gk-vmtool path=$T/bad " "$refused: $kline"
expect "daemon: and with the digest it was denied for" "digest:yes" \
	"digest:$(echo "$kline" | grep -Eq ' sha256=[0-9a-f]{64} ' && echo yes) $kline"
expect "daemon: mmap(PROT_EXEC) of a denied file fails with EPERM" "mmap-error EPERM" \
	"$(gk-vmtool mmap-exec $T/bad)"
out=$(timeout 20 /lib64/ld-linux-x86-64.so.2 $T/bad 2>&1; echo "rc=$?")
expect_not "daemon: ld.so /path/to/denied does not run it" "ran " "$out"
expect "daemon: ld.so /path/to/denied fails" "rc=127" "$out"

# --- allowed: runs, and the cached exec raises no event ---
mkprog $T/good GOODGOOD
first=$(run $T/good)
pe0=$(status_num perm_events)
second=$(run $T/good)
third=$(run $T/good)
pe1=$(status_num perm_events)
expect "daemon: an allowed file runs" "ran GOODGOOD|ran GOODGOOD|ran GOODGOOD" "$first|$second|$third"
expect "daemon: cached execs of an allowed file raise no permission event" "$pe0" "$pe1"

# --- a shared writable mapping of a program that ran (any user can make one
# of a program of their own; this guest's root directory admits only root):
# the daemon drops every ignore mark, but the kernel's denials stand, and
# with them the PROT_EXEC gate of a denied file (fanotify never asks).
mkprog $T/mine MINEMINE
run $T/mine >/dev/null
run $T/mine >/dev/null
f0=$(status_num kernel_cache_flushes)
pe0=$(status_num perm_events)
mapped=$(gk-vmtool mmap-write $T/mine MINEMAP2 2>&1)
f1=$(wait_num_above kernel_cache_flushes "$f0" 50)
expect "daemon: a shared mapping of a program that ran drops the ignore marks" \
	"flushes $((f0 + 1))" "${mapped:-mapped} flushes $f1"
expect "daemon: ... a denied file's mmap(PROT_EXEC) is still refused in the kernel" \
	"mmap-error EPERM" "$(gk-vmtool mmap-exec $T/bad)"
expect "daemon: ... and its exec too, with no permission event" "exec-error EPERM|$pe0" \
	"$(run $T/bad)|$(status_num perm_events)"

# --- a denied file rewritten with clean content is judged again and runs ---
# run_eventually PATH WANT: exec up to 5 s until WANT shows (a verdict may be
# in flight); prints every distinct outcome.
run_eventually() {
	seen=""
	for i in $(seq 25); do
		out=$(run "$1")
		case "$seen" in *"[$out]"*) ;; *) seen="$seen[$out]" ;; esac
		case "$out" in *"$2"*) break ;; esac
		usleep 200000
	done
	echo "$seen"
}
reroute() { # NAME TAG COMMAND...
	name=$1 tag=$2
	shift 2
	cp $T/tpl/bad $T/r
	before=$(run $T/r)
	"$@" >/dev/null 2>&1
	seen=$(run_eventually $T/r "ran$tag")
	expect "daemon: denied, rewritten by $name: judged again and runs" \
		"exec-error EPERM|[ran$tag]" "$before|$seen"
	expect_not "daemon: denied, rewritten by $name: never refused spuriously" "ETXTBSY" "$seen"
	rm -f $T/r
}
reroute "write(2)" " CLEANWRI" gk-vmtool pwrite $T/r CLEANWRI
reroute "open(O_TRUNC)" " CLEANTRC" sh -c "cat /gk/gk-hello > $T/r; printf CLEANTRC >> $T/r"
reroute "truncate(2)" "" gk-vmtool truncate $T/r $(($(stat -c %s /gk/gk-hello) + 4))
reroute "a shared mmap" " CLEANMAP" gk-vmtool mmap-write $T/r CLEANMAP

# --- an allowed file gets bad content through a shared mmap, exec at once ---
mkprog $T/victim GOODGOOD
run $T/victim >/dev/null
before=$(run $T/victim)
at_once=$(gk-vmtool mmap-write $T/victim EVILEVIL exec)
later=$(run_eventually $T/victim "exec-error EPERM")
expect "daemon: allowed file runs before the mmap rewrite" "ran GOODGOOD" "$before"
expect_not "daemon: rewritten through a shared mmap, exec at once: the new content does not run" \
	"ran EVILEVIL" "$at_once"
comment "mmap rewrite, exec at once: $at_once; then: $later"
expect "daemon: ... and it is judged (denied) on a following exec" "[exec-error EPERM]" "$later"
expect_not "daemon: ... and it never runs unjudged" "ran EVILEVIL" "$later"

# --- an exec's lease holds writers out until its answer, bpf mode too ---
# A 40 MiB program takes a while to hash under the emulator: meanwhile a
# writer's non-blocking open fails, and fails again once its break was
# handled; after the answer it opens. Staged outside and renamed in, so no
# pre-scan judges it first. A writer holding a new file open gets its exec
# refused (EPERM): the kernel's ETXTBSY comes only after the answer.
printf 'decision_timeout_ms: 120000\n' >>$GK/policy.yaml
ctl policy apply $GK/policy.yaml >/dev/null 2>&1
mkdir -p /t/stage
cp /gk/gk-hello /t/stage/big && dd if=/dev/zero bs=1M count=40 2>/dev/null >>/t/stage/big &&
	printf BIGBIGBI >>/t/stage/big && chmod 755 /t/stage/big && mv /t/stage/big $T/big
gk-vmtool exec $T/big >$GK/big.out 2>&1 &
BPID=$!
for i in $(seq 200); do
	[ "$(status_num pending)" -ge 1 ] 2>/dev/null && break
	usleep 20000
done
w1=$(gk-vmtool open-write-nb $T/big)
usleep 300000
w2=$(gk-vmtool open-write-nb $T/big)
early=$(cat $GK/big.out)
wait $BPID
w3=$(gk-vmtool open-write-nb $T/big)
expect_eq "daemon: a writer during an exec's judgement waits for the answer" \
	"open-error EAGAIN|open-error EAGAIN|(not answered yet)|opened" \
	"$w1|$w2|${early:-(not answered yet)}|$w3"
expect "daemon: ... and the judged exec ran" "ran BIGBIGBI" "$(flat <$GK/big.out)"
mkprog /t/stage/held HELDHELD && mv /t/stage/held $T/held
# (not inherited: busybox timeout's watcher would hold it open a while)
exec 7>>$T/held
held=$(run $T/held 7>&-)
exec 7>&-
expect "daemon: an exec of a file a writer holds open is refused (EPERM)" "exec-error EPERM" "$held"
expect "daemon: ... and runs once the writer is gone" "ran HELDHELD" "$(run $T/held)"

# --- the moment between the answer and the kernel's refusal of writers: a
# listener of the test's own holds the exec there while the file is written
# and closed. Enforce mode fails that exec (ETXTBSY, as if the writer were
# still there); monitor mode refuses nothing, so there the new content runs,
# which shows the helper makes the race real.
written_denials() { grep "kernel_deny " $GK/gkd.log | grep -c "written during its exec"; }
mkprog /t/stage/raced RACEDOLD && mv /t/stage/raced $T/raced
first=$(run $T/raced)
second=$(run $T/raced)
held=$(timeout 20 gk-vmtool exec-raced $T/raced - 2>&1 | flat)
wd0=$(written_denials)
raced=$(timeout 20 gk-vmtool exec-raced $T/raced RACEDNEW 2>&1 | flat)
expect_eq "daemon: an exec another listener holds (nothing written) runs" \
	"ran RACEDOLD|ran RACEDOLD|ran RACEDOLD" "$first|$second|$held"
expect_eq "daemon: an exec whose file is written after the answer, before the kernel refuses writers, fails (ETXTBSY)" \
	"exec-error ETXTBSY" "$raced"
expect "daemon: ... the new content is judged and runs at the next exec" "ran RACEDNEW" \
	"$(run_eventually $T/raced "ran RACEDNEW")"
expect_eq "daemon: ... written through a shared mapping instead: fails (ETXTBSY)" "exec-error ETXTBSY" \
	"$(timeout 20 gk-vmtool exec-raced $T/raced mmap:RACEDMAP 2>&1 | flat)"
# A mapping made before the exec, written and released while the exec waits
# for the test's listener, which is asked first (a pre-content group): the
# daemon then judges the new content, but the write came after the exec's
# open. Its release stamps the file (6.8 and later; before, the live
# mapping at the exec's open does).
mkprog /t/stage/raced2 RACEDPRE && mv /t/stage/raced2 $T/raced2
expect_eq "daemon: ... a mapping made before the exec, written and released in that moment: fails (ETXTBSY)" \
	"exec-error ETXTBSY" "$(timeout 20 gk-vmtool exec-raced $T/raced2 premapped:RACEDPR2 2>&1 | flat)"
# A reader's shared writable mapping, which the kernel refuses (EACCES),
# changes nothing, so it must stamp nothing: the held exec runs.
mkprog /t/stage/raced3 RACEDRO1 && mv /t/stage/raced3 $T/raced3
expect_eq "daemon: ... a reader's refused shared writable mapping in that moment: the exec runs" \
	"ran RACEDRO1|ran RACEDRO1" \
	"$(run $T/raced3)|$(timeout 20 gk-vmtool exec-raced $T/raced3 romap 2>&1 | flat)"
# A first exec, which the daemon judges: the guard's clock starts at the
# exec's open, before any listener is asked, so the order of the two
# listeners' turns changes nothing.
mkprog /t/stage/raced1 RACEDONE && mv /t/stage/raced1 $T/raced1
expect_eq "daemon: ... also on a first exec, which the daemon judges" "exec-error ETXTBSY" \
	"$(timeout 20 gk-vmtool exec-raced $T/raced1 RACEDTWO 2>&1 | flat)"
# The ELF interpreter: the exec opens it too, but the kernel checks only the
# program; its mapping is checked instead, past the point of no return.
mkdir -p /t/interp && cp -L /lib64/ld-linux-x86-64.so.2 /t/interp/ld.so && chmod 755 /t/interp/ld.so
cp /gk/gk-hello-interp $T/viainterp && printf VIAINTRP >>$T/viainterp && chmod 755 $T/viainterp
expect_eq "daemon: a program with an interpreter of its own runs (the interpreter held, not written)" \
	"ran VIAINTRP|ran VIAINTRP" \
	"$(run $T/viainterp)|$(timeout 20 gk-vmtool exec-raced $T/viainterp - /t/interp/ld.so 2>&1 | flat)"
expect_eq "daemon: ... its interpreter written in that moment: the exec is killed" "exec-killed" \
	"$(timeout 20 gk-vmtool exec-raced $T/viainterp INTERPWR /t/interp/ld.so 2>&1 | flat)"
wd1=$wd0
for i in $(seq 20); do
	wd1=$(written_denials)
	[ "$wd1" -ge $((wd0 + 5)) ] && break
	usleep 100000
done
expect_eq "daemon: ... and each refusal is audited" "$((wd0 + 5))" "$wd1"
sed 's/^mode: enforce/mode: monitor/' $GK/policy.yaml >$GK/monitor.yaml
applied=$(ctl policy apply $GK/monitor.yaml 2>&1 | flat)
raced=$(timeout 20 gk-vmtool exec-raced $T/raced RACEDMON 2>&1 | flat)
for i in $(seq 20); do   # "try again" while the retired group drains
	out=$(ctl policy apply $GK/policy.yaml 2>&1) && break
	applied="$applied / $(echo "$out" | flat)"
	usleep 200000
done
expect_eq "daemon: in monitor mode the written content runs (the race is real)" "ran RACEDMON" \
	"$raced$(ctl status | grep -q '^mode: enforce' || echo " (mode not restored: $applied)")"

# --- the daemon dies: programs detach, nothing is denied, no exec hangs ---
# busybox timeout execs the command in its own pid and watches from a child.
GKD_PID=$DPID
[ "$(cat /proc/$DPID/comm 2>/dev/null)" = gatekeeperd ] ||
	GKD_PID=$(cat /proc/$DPID/task/$DPID/children 2>/dev/null | cut -d' ' -f1)
before=$(run $T/bad)
kill -9 "$GKD_PID"
for i in $(seq 50); do kill -0 "$GKD_PID" 2>/dev/null || break; usleep 100000; done
kill "$DPID" 2>/dev/null
progs=yes
for i in $(seq 50); do
	bpftool prog show 2>/dev/null | grep -q 'name gk_' || { progs=no; break; }
	usleep 100000
done
expect "daemon: kill -9 of gatekeeperd detaches the programs" "no" "$progs"
expect "daemon: after kill -9 a denied file runs (nothing is denied any more)" \
	"exec-error EPERM|ran BADBADBA" "$before|$(run $T/bad)"
expect "daemon: after kill -9 an allowed file runs (no exec hangs)" "ran GOODGOOD" "$(run $T/good)"

# --- bench: cached exec latency, no gatekeeper vs bpf mode (fanotify mode for
# reference), in this boot. Host load drifts, so the modes take turns in
# short rounds and each mode's samples are pooled.
cp /gk/gk-hello-static $T/bench && chmod 755 $T/bench
ROUNDS=${GK_BENCH_ROUNDS:-4}
PER_ROUND=${GK_BENCH_N:-100}
rm -f $GK/none.us $GK/bpf.us $GK/fan.us
bench_mode() { # MODE DAEMON-ARGS...: one round of one mode
	mode=$1
	shift
	if [ "$mode" != none ]; then
		start_daemon "$@" || return 1
		run $T/bench >/dev/null
		run $T/bench >/dev/null
	fi
	gk-vmtool bench $PER_ROUND $T/bench $GK/$mode.us >/dev/null
	rc=$?
	if [ "$mode" = bpf ]; then
		BENCH_EVENTS=$(status_num events)
		BENCH_HITS=$(status_num kernel_allows)
	fi
	if [ "$mode" != none ]; then
		kill "$DPID" 2>/dev/null
		for i in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; usleep 100000; done
	fi
	return $rc
}
median_of() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
bench_ok=yes
gk-vmtool bench 30 $T/bench >/dev/null    # warm-up, not counted
for r in $(seq $ROUNDS); do
	bench_mode none && bench_mode bpf && bench_mode fan --no-bpf || bench_ok=no
done
m_none=$(median_of $GK/none.us)
m_bpf=$(median_of $GK/bpf.us)
m_fan=$(median_of $GK/fan.us)
if [ "$bench_ok" = yes ] && [ -n "$m_none" ] && [ -n "$m_bpf" ]; then
	echo "GKTAP # bench: kernel $(uname -r): cached exec latency, median of" \
		"$((ROUNDS * PER_ROUND)) fork+exec+wait per mode, $ROUNDS interleaved rounds, one TCG" \
		"guest boot: no gatekeeper ${m_none}us, bpf mode ${m_bpf}us," \
		"ratio $(awk "BEGIN { printf \"%.2f\", $m_bpf / $m_none }");" \
		"fanotify mode ${m_fan}us, ratio $(awk "BEGIN { printf \"%.2f\", $m_fan / $m_none }");" \
		"last bpf round: events=${BENCH_EVENTS:-?} kernel_allows=${BENCH_HITS:-?}"
	ok "daemon: exec latency measured (no gatekeeper, bpf mode, fanotify mode)"
else
	not_ok "daemon: exec latency measured (no gatekeeper, bpf mode, fanotify mode)" \
		"$(tail -n 3 $GK/gkd.log | flat)"
fi
umount /t
