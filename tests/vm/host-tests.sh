# Guest suite "host" (bpf mode): the whole host watched (`watch: [/]`) with
# mounts that come and go after start, fileless execs refused in the kernel,
# and a library written after start refused at mmap(PROT_EXEC) under
# `default: deny`. Denials by content come from admin hash rules.
. /gk/guest-lib.sh
GK=/tmp/gkh
SOCK=/run/gkh.sock
if [ ! -x /gk/gatekeeperd ] || [ ! -x /gk/gk-fileless ] || [ ! -f /gk/gk-preload.so ]; then
	not_ok "host: gatekeeperd, gk-fileless and gk-preload.so are built" "missing from /gk"
	return 0
fi
mkdir -p $GK/tpl /mnt/late

# --- watch: [/], default allow, fileless: deny ---
printf 'mode: enforce\nwatch: [/]\ndefault: allow\nfileless: deny\n' >$GK/policy.yaml
if ! start_daemon; then
	not_ok "host: gatekeeperd starts with watch: [/]" "$(tail -n 5 $GK/gkd.log | flat)"
	kill $DPID 2>/dev/null
	return 0
fi
ok "host: gatekeeperd starts with watch: [/]"
st=$(ctl status)
expect "host: kernel_mode is bpf" "kernel_mode: bpf" "$st"
expect "host: the root filesystem is marked" "filesystems: / (dev" "$st"
expect "host: /tmp is marked" "filesystems: /tmp (dev" "$st"
expect "host: /proc is skipped as a pseudo filesystem" "/proc (dev" "$(echo "$st" | grep '^skipped:.*pseudo filesystem')"
comment "$(echo "$st" | grep -E '^(filesystems|skipped|mounts_followed_by):' | flat)"

mkprog $GK/tpl/evil EVILHOST
ctl deny $GK/tpl/evil >/dev/null 2>&1 || not_ok "host: gatekeeper-ctl deny" "$(ctl deny $GK/tpl/evil 2>&1 | flat)"
mkprog /gk/rootprog ROOTPROG
expect "host: a program on the root filesystem runs" "ran ROOTPROG" "$(run /gk/rootprog)"
cp $GK/tpl/evil /gk/evil-on-root
expect "host: a denied content on the root filesystem is refused" "exec-error EPERM" "$(run /gk/evil-on-root)"

# a tmpfs mounted after start, anywhere: gated before its first exec
mount -t tmpfs tmpfs /mnt/late && cp $GK/tpl/evil /mnt/late/evil
expect "host: first exec on a tmpfs mounted after start is refused" "exec-error EPERM" "$(run /mnt/late/evil)"
mkprog /mnt/late/good LATEGOOD
expect "host: a clean program on the late tmpfs runs" "ran LATEGOOD" "$(run /mnt/late/good)"
expect "host: status lists the late tmpfs" "filesystems: /mnt/late (dev" "$(ctl status)"
umount /mnt/late
for i in $(seq 30); do ctl status | grep -q '/mnt/late' || break; usleep 100000; done
expect_not "host: umount drops the late tmpfs from status" "/mnt/late" "$(ctl status)"

# A user's own mounts: what status says is what an unprivileged user can do.
# uid 1000 makes a user and a mount namespace (no privilege needed where the
# kernel allows it), mounts a tmpfs there and runs the denied content from it.
chmod 755 /   # the initramfs root is 0700: uid 1000 could reach nothing
VMTOOL=$(command -v gk-vmtool)
userns_run() {
	"$VMTOOL" as-user 1000 /bin/busybox unshare -r -m /bin/busybox sh -c \
		"/bin/busybox mount -t tmpfs t /mnt/late && /bin/busybox cp $GK/tpl/evil /mnt/late/evil && $VMTOOL exec /mnt/late/evil" 2>&1 | flat
}
expect "host: a denied content copied to /tmp by uid 1000 is refused" "exec-error EPERM" \
	"$(cp $GK/tpl/evil /tmp/evil-u && chmod 755 /tmp/evil-u && "$VMTOOL" as-user 1000 "$VMTOOL" exec /tmp/evil-u)"
rm -f /tmp/evil-u
expect "host: status says user mounts are possible (Debian's default)" \
	"user_mounts: possible: any user can mount a filesystem in a user namespace of their own, where programs run unjudged; sysctl kernel.unprivileged_userns_clone=0 closes it" \
	"$(ctl status | grep '^user_mounts:')"
expect "host: ... and they are: uid 1000 runs the denied content from a tmpfs of its own" "ran EVILHOST" "$(userns_run)"
echo 0 >/proc/sys/kernel/unprivileged_userns_clone
expect "host: with kernel.unprivileged_userns_clone=0 status says user mounts are refused" \
	"user_mounts: refused (kernel.unprivileged_userns_clone=0)" "$(ctl status | grep '^user_mounts:')"
out=$(userns_run)
expect "host: ... and they are: uid 1000 cannot make the namespaces" "unshare(" "$out"
expect_not "host: ... nor run the denied content" "ran EVILHOST" "$out"
echo 1 >/proc/sys/kernel/unprivileged_userns_clone

# unmarked_filesystems: deny closes it in the kernel, for anything on a
# filesystem without the daemon's mark; ours stay as they were.
printf 'mode: enforce\nwatch: [/]\ndefault: allow\nfileless: deny\nunmarked_filesystems: deny\n' >$GK/unmarked.yaml
out=$(ctl policy apply $GK/unmarked.yaml 2>&1)
expect "host: unmarked_filesystems: deny applies and is in force in the kernel" \
	"unmarked_filesystems: deny, in the kernel (bpf)" "$(echo "$out" | flat) $(ctl status | grep '^unmarked_filesystems:')"
expect "host: ... uid 1000 cannot run the denied content from a tmpfs of its own" "exec-error EPERM" "$(userns_run)"
mkprog $GK/tpl/clean CLEANUNS && chmod 755 $GK/tpl/clean
out=$("$VMTOOL" as-user 1000 /bin/busybox unshare -r -m /bin/busybox sh -c \
	"/bin/busybox mount -t tmpfs t /mnt/late && /bin/busybox cp $GK/tpl/clean /mnt/late/c && $VMTOOL exec /mnt/late/c; $VMTOOL mmap-exec /mnt/late/c" 2>&1 | flat)
expect "host: ... nor a clean program (exec, then mmap PROT_EXEC)" "exec-error EPERM mmap-error EPERM" "$out"
out=$(/bin/busybox unshare -m /bin/busybox sh -c \
	"/bin/busybox mount -t tmpfs t /mnt/late && /bin/busybox cp $GK/tpl/clean /mnt/late/c && $VMTOOL exec /mnt/late/c" 2>&1 | flat)
expect "host: ... nor can root from a tmpfs in another mount namespace" "exec-error EPERM" "$out"
expect "host: ... a program on the root filesystem still runs" "ran ROOTPROG" "$(run /gk/rootprog)"
mount -t tmpfs tmpfs /mnt/late && mkprog /mnt/late/good LATEGOOD
for i in $(seq 30); do ctl status | grep -q 'filesystems: /mnt/late' && break; usleep 100000; done
expect "host: ... a clean program on a tmpfs of ours runs once it is marked" "ran LATEGOOD" "$(run /mnt/late/good)"
umount /mnt/late
ctl log --until @1000000000 >/dev/null 2>&1
expect "host: ... the kernel's refusals are audited" "(unmarked_filesystems: deny)" "$(cat $GK/gkd.log)"
ctl policy apply $GK/policy.yaml >/dev/null 2>&1
expect "host: back to unmarked_filesystems: allow (status)" "unmarked_filesystems: allow" "$(ctl status | grep '^unmarked_filesystems:')"
expect "host: ... and the user's own tmpfs runs its programs again" "ran EVILHOST" "$(userns_run)"
chmod 700 /

# fileless: deny, in the kernel
expect "host: status says fileless is refused in the kernel" "deny, in the kernel (bpf)" "$(ctl status | grep '^fileless:')"
expect "host: memfd exec refused in the kernel (fileless: deny)" "refused exec errno=EPERM" \
	"$(timeout 20 gk-fileless memfd /gk/gk-hello 2>&1)"
expect "host: O_TMPFILE exec refused in the kernel (fileless: deny)" "refused exec errno=EPERM" \
	"$(timeout 20 gk-fileless tmpfile /tmp /gk/gk-hello 2>&1)"
# the audit writer gathers for up to 10 ms; `log` waits for what is queued
ctl log --until @1000000000 >/dev/null 2>&1
expect "host: the kernel's fileless denial is audited" "(fileless: deny)" "$(cat $GK/gkd.log)"
printf 'mode: enforce\nwatch: [/]\ndefault: allow\nfileless: allow\n' >$GK/allow.yaml
ctl policy apply $GK/allow.yaml >/dev/null 2>&1
out=$(timeout 20 gk-fileless memfd /gk/gk-hello 2>&1; echo "rc=$?")
expect "host: memfd exec runs under fileless: allow" "rc=0" "$out"
# Under unmarked_filesystems: deny the daemon stops: its groups, and their
# marks, go before its programs are detached; meanwhile nothing may be
# refused for want of a mark (the programs then see the daemon's own root
# filesystem unmarked too, and stand down).
ctl policy apply $GK/unmarked.yaml >/dev/null 2>&1
expect "host: unmarked_filesystems: deny in force again" "unmarked_filesystems: deny, in the kernel (bpf)" \
	"$(ctl status | grep '^unmarked_filesystems:')"
(for i in $(seq 300); do "$VMTOOL" exec /gk/rootprog; done >$GK/stop.out 2>&1) &
LOOP=$!
usleep 300000
stop_daemon
wait $LOOP
comment "stop under unmarked_filesystems: deny: $(sort $GK/stop.out | uniq -c | flat)"
expect "host: ... its stop refuses no exec while its programs detach (300 execs around it all ran)" "300" \
	"$(grep -c '^ran ROOTPROG$' $GK/stop.out)"
rm -f /gk/rootprog /gk/evil-on-root

# --- a library written after start, default: deny (watch /t/h) ---
mkdir -p /t && mount -t tmpfs tmpfs /t && mkdir -p /t/h /t/tpl
printf 'mode: enforce\nwatch: [/t/h]\ndefault: deny\n' >$GK/policy.yaml
if ! start_daemon; then
	not_ok "host: gatekeeperd starts (default: deny)" "$(tail -n 5 $GK/gkd.log | flat)"
	kill $DPID 2>/dev/null
	umount /t
	return 0
fi
cp /gk/gk-preload.so /t/tpl/good.so && printf 'ALLOWLIB' >>/t/tpl/good.so
ctl allow /t/tpl/good.so >/dev/null 2>&1
p0=$(status_num prescans)
cp /gk/gk-preload.so /t/h/evil.so && printf 'USERLIB1' >>/t/h/evil.so
cp /t/tpl/good.so /t/h/good.so
p1=$(wait_num_above prescans $((p0 + 1)) 100)
comment "prescans $p0 -> $p1"
out=$(LD_PRELOAD=/t/h/evil.so timeout 20 /gk/gk-hello 2>&1)
expect "host: LD_PRELOAD of a library written after start: ld.so cannot map it" "cannot be preloaded" "$out"
expect_not "host: LD_PRELOAD of a library written after start: never loaded" "PRELOADED" "$out"
out=$(LD_PRELOAD=/t/h/good.so timeout 20 /gk/gk-hello 2>&1)
expect "host: LD_PRELOAD of an allowed library loads it" "PRELOADED" "$out"
expect "host: mmap(PROT_EXEC) of the denied library fails with EPERM" "mmap-error EPERM" \
	"$(gk-vmtool mmap-exec /t/h/evil.so)"
expect "host: status says how libraries are gated" "gated at mmap(PROT_EXEC)" "$(ctl status | grep '^libraries:')"
stop_daemon
umount /t

# --- --bpf-after-ready (the unit's way): ready in fanotify mode, then bpf ---
mkdir -p /t && mount -t tmpfs tmpfs /t && mkdir -p /t/l
printf 'mode: enforce\nwatch: [/t/l]\ndefault: allow\nfileless: deny\n' >$GK/policy.yaml
memfd_noexec=$(cat /proc/sys/vm/memfd_noexec 2>/dev/null || echo none)
: >$GK/gkd.log
if ! start_daemon --bpf-after-ready; then
	not_ok "host: gatekeeperd --bpf-after-ready starts" "$(tail -n 5 $GK/gkd.log | flat)"
	kill $DPID 2>/dev/null
	umount /t
	return 0
fi
expect "host: --bpf-after-ready: ready in fanotify mode, the load pending" \
	'kernel_mode=fanotify why="BPF LSM programs loading after ready' "$(grep '^ready ' $GK/gkd.log)"
mkprog /t/l/early EARLY001
early=$(run /t/l/early)
early_mode=$(ctl status | sed -n 's/^kernel_mode: //p')
mkprog $GK/tpl/late-evil LATEEVIL
ctl deny $GK/tpl/late-evil >/dev/null 2>&1
for i in $(seq 300); do
	[ "$(ctl status | sed -n 's/^kernel_mode: //p')" = bpf ] && break
	usleep 100000
done
comment "--bpf-after-ready: first exec '$early' in kernel mode $early_mode; bpf after $i tenths of a second"
expect "host: --bpf-after-ready: the kernel mode becomes bpf" "kernel_mode: bpf" "$(ctl status | grep '^kernel_mode:')"
expect "host: --bpf-after-ready: the switch is logged" \
	'kernel_mode_changed kernel_mode=bpf why="BPF LSM programs attached (after ready)"' \
	"$(grep kernel_mode_changed $GK/gkd.log)"
expect "host: --bpf-after-ready: fileless: deny moves into the kernel" "deny, in the kernel (bpf)" \
	"$(ctl status | grep '^fileless:')"
expect "host: --bpf-after-ready: vm.memfd_noexec is as it was before the start" "$memfd_noexec" \
	"$(cat /proc/sys/vm/memfd_noexec 2>/dev/null || echo none)"
expect "host: --bpf-after-ready: memfd exec refused in the kernel" "refused exec errno=EPERM" \
	"$(timeout 20 gk-fileless memfd /gk/gk-hello 2>&1)"
p0=$(status_num prescans)
cp $GK/tpl/late-evil /t/l/early
expect "host: --bpf-after-ready: a file run before the switch, rewritten after it, is refused" \
	"exec-error EPERM|exec-error EPERM" "$(run /t/l/early)|$(run /t/l/early)"
# Written in one go with its final mode (cp keeps it): a chmod after the
# close could move the ctime after the pre-scan recorded the verdict. Both
# closes' pre-scans counted, the rewrite's and this one's.
mkprog $GK/tpl/late-good LATEGOOD
cp $GK/tpl/late-good /t/l/late
p1=$(wait_num_above prescans $((p0 + 1)) 100)
first=$(run /t/l/late)
pe0=$(status_num perm_events)
ka0=$(status_num kernel_allows)
second=$(run /t/l/late)
expect "host: --bpf-after-ready: bpf mode answers the second exec in the kernel" \
	"ran LATEGOOD|ran LATEGOOD|$pe0|more" \
	"$first|$second|$(status_num perm_events)|$([ "$(status_num kernel_allows)" -gt "${ka0:-0}" ] && echo more)"
comment "--bpf-after-ready: prescans $p0 -> $p1 before the first exec of late"
stop_daemon
umount /t
