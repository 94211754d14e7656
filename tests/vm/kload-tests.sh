# Guest suite "bpf": the BPF programs driven by gk-kload (kcache_bpf without
# the daemon). Verdicts are recorded directly; no permission events flow,
# so every result here is the kernel programs' own doing.
. /gk/guest-lib.sh
T=/t/bpf
mkdir -p /t && mount -t tmpfs tmpfs /t && mkdir -p $T

case ",$(cat /sys/kernel/security/lsm)," in
*,bpf,*) ok "bpf: bpf is an active LSM" ;;
*) not_ok "bpf: bpf is an active LSM" "$(cat /sys/kernel/security/lsm)" ;;
esac

mkfifo /tmp/kin /tmp/kout
timeout 300 gk-kload </tmp/kin >/tmp/kout 2>/tmp/kload.err &
KPID=$!
exec 3>/tmp/kin 4</tmp/kout
read -r KREPLY <&4
if [ "$KREPLY" != "ok loaded" ]; then
	not_ok "bpf: gk-kload loads and attaches the programs" "$KREPLY"
	GK_BPF_VERBOSE=1 timeout 60 gk-kload </dev/null 2>&1 | tail -n 40 | sed 's/^/GKTAP #   /'
	exec 3>&- 4<&-
	umount /t
	return 0
fi
ok "bpf: gk-kload loads and attaches the programs"
# A writer's release is caught before its write access is put back where
# the kernel has that hook (6.8), at the file's free before it.
rel=$(uname -r)
maj=${rel%%.*} min=${rel#*.}
min=${min%%.*}
want=absent
[ "$maj" -gt 6 ] || { [ "$maj" -eq 6 ] && [ "$min" -ge 8 ]; } && want=attached
got=absent
bpftool prog show 2>/dev/null | grep -q 'name gk_file_release' && got=attached
expect_eq "bpf: lsm/file_release is $want on $rel" "$want" "$got"
k() { echo "$*" >&3; read -r KREPLY <&4; }
counter() { k counters; echo "$KREPLY" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# --- deny ---
mkprog $T/denied DENYDENY
k deny $T/denied
d0=$(counter denies)
expect "bpf: exec of a denied file fails with EPERM" "exec-error EPERM" "$(run $T/denied)"
d1=$(counter denies)
expect "bpf: the denial is counted" "$((d0 + 1))" "$d1"
k events
expect "bpf: the denial reaches the ring buffer" " deny:1:" "$KREPLY"
expect "bpf: mmap(PROT_EXEC) of a denied file fails with EPERM" "mmap-error EPERM" \
	"$(gk-vmtool mmap-exec $T/denied)"
expect "bpf: mprotect(PROT_EXEC) of a denied file's mapping fails with EPERM" "mmap-error EPERM" \
	"$(gk-vmtool mprotect-exec $T/denied)"
out=$(timeout 20 /lib64/ld-linux-x86-64.so.2 $T/denied 2>&1; echo "rc=$?")
expect_not "bpf: ld.so /path/to/denied does not run it" "ran " "$out"
expect "bpf: ld.so /path/to/denied fails on the mapping" "rc=127" "$out"
expect "bpf: a denied file can still be read" "DENYDENY" "$(tail -c 8 $T/denied)"

# --- allow ---
mkprog $T/allowed GOODGOOD
k allow-nomark $T/allowed
a0=$(counter allows)
expect "bpf: exec of an allowed file runs" "ran GOODGOOD" "$(run $T/allowed)"
expect "bpf: the kernel allow is counted" "$((a0 + 1))" "$(counter allows)"
mkprog $T/unknown UNKNOWN1
expect "bpf: a file without a verdict runs (default allow)" "ran UNKNOWN1" "$(run $T/unknown)"

# --- every write route makes a deny stale: the new content runs ---
route_test() { # NAME TAG COMMAND...
	name=$1 tag=$2
	shift 2
	mkprog $T/r DENYDENY
	k deny $T/r
	before=$(run $T/r)
	"$@" >/tmp/route.out 2>&1
	after=$(run $T/r)
	expect "bpf: denied, then rewritten by $name: runs again" "exec-error EPERM|ran${tag:+ $tag}" \
		"$before|$after"
}
route_test "write(2)" CLEANWRI gk-vmtool pwrite $T/r CLEANWRI
route_test "open(O_TRUNC)" CLEANTRC sh -c "cat /gk/gk-hello > $T/r; printf CLEANTRC >> $T/r"
route_test "truncate(2)" ""  gk-vmtool truncate $T/r $(($(stat -c %s /gk/gk-hello) + 4))
route_test "a shared mmap" CLEANMAP gk-vmtool mmap-write $T/r CLEANMAP
route_test "fallocate" "" fallocate -o 0 -l $(($(stat -c %s /gk/gk-hello) + 16)) $T/r

# A writer opened before the verdict (O_APPEND): write(2) itself invalidates.
mkprog $T/w DENYDENY
exec 5>>$T/w
k deny $T/w
printf CLEANAPP >&5
exec 5>&-
expect "bpf: denied, then written through an fd opened before the verdict: runs" \
	"ran CLEANAPP" "$(run $T/w)"
# ftruncate through an fd opened before the verdict.
mkprog $T/f DENYDENY
exec 5>>$T/f
k deny $T/f
gk-vmtool ftruncate-fd 5 $(($(stat -c %s /gk/gk-hello) + 4))
exec 5>&-
expect "bpf: denied, then ftruncate'd: runs" "ran" "$(run $T/f)"

k events
expect "bpf: invalidations reach the ring buffer" " inval:" "$KREPLY"

# --- epoch: one bump makes every verdict stale ---
mkprog $T/e DENYDENY
k deny $T/e
before=$(run $T/e)
k bump
expect "bpf: an epoch bump makes a deny stale" "exec-error EPERM|ran DENYDENY" "$before|$(run $T/e)"
k deny $T/e
expect "bpf: a verdict recorded after the bump is fresh" "exec-error EPERM" "$(run $T/e)"

# --- the ignore-mark hold ---
mkprog $T/h GOODGOOD
k allow $T/h
expect "bpf: allowed + ignore mark runs" "ran GOODGOOD" "$(run $T/h)"
out=$(gk-vmtool mmap-write $T/h EVILEVIL exec)
expect "bpf: allowed, rewritten through a shared mmap, exec at once: refused (ETXTBSY)" \
	"exec-error ETXTBSY" "$out"
expect "bpf: the hold refusal is counted" "1" "$(counter holds)"
k events
expect "bpf: the hidden invalidation is reported (had allow, via mmap, hold)" ":AMH:" "$KREPLY"
expect "bpf: the hold stays while the ignore mark is present" "exec-error ETXTBSY" "$(run $T/h)"
k unmark
expect "bpf: once the ignore marks are dropped the file is no longer held" "ran EVILEVIL" \
	"$(run $T/h)"

mkprog $T/h2 GOODGOOD
k allow $T/h2
gk-vmtool mmap-write $T/h2 EVILEVIL >/dev/null
k bump
expect "bpf: an epoch bump alone keeps a hold (the mark still stands)" "exec-error ETXTBSY" \
	"$(run $T/h2)"
k marks-dropped
expect "bpf: the word that the marks were dropped releases it" "ran EVILEVIL" "$(run $T/h2)"

mkprog $T/p GOODGOOD
k allow $T/p
gk-vmtool pwrite $T/p NEWCONTE
expect "bpf: allowed + marked, rewritten by write(2): runs at once (no spurious hold)" \
	"ran NEWCONTE" "$(run $T/p)"
mkprog $T/p2 GOODGOOD
k allow $T/p2
mkprog $T/src COPIEDIN
cp $T/src $T/p2
expect "bpf: allowed + marked, replaced by cp: runs at once" "ran COPIEDIN" "$(run $T/p2)"

# Writers opened before the verdict. fanotify itself adds no ignore mark to
# an inode open for write, so no hold is needed; the verdict must still go
# stale when the writer (or its mapping) goes away.
mkprog $T/l DENYDENY
rm -f $T/go
gk-vmtool mmap-late $T/l CLEANLTE $T/go >/tmp/late.out 2>&1 &
LPID=$!
for i in $(seq 100); do grep -q mapped /tmp/late.out && break; usleep 50000; done
k deny $T/l
touch $T/go
wait $LPID
expect "bpf: a shared mapping made before a deny, written after: the new content runs" \
	"ran CLEANLTE" "$(cat /tmp/late.out)"
# A writer's writes are seen as they happen; its release alone changes
# nothing (else a verdict recorded while a writer's close unwinds, as the
# pre-scan's can be, would go stale for no write at all).
mkprog $T/l2 GOODGOOD
exec 6<>$T/l2
k allow $T/l2
exec 6>&-
a0=$(counter allows)
out=$(run $T/l2)
expect "bpf: an allow recorded while a writer was open stays fresh when it closes unwritten" \
	"ran GOODGOOD|$((a0 + 1))" "$out|$(counter allows)"
mkprog $T/l3 GOODGOOD
exec 6>>$T/l3
k allow $T/l3
printf 'x' >&6
exec 6>&-
a0=$(counter allows)
run $T/l3 >/dev/null
expect "bpf: ... but a write through that writer makes it stale (no kernel allow)" \
	"$a0" "$(counter allows)"
k unmark

# --- the loader dies: programs detach, nothing is denied any more ---
mkprog $T/k DENYDENY
k deny $T/k
before=$(run $T/k)
kill -9 $KPID
wait $KPID 2>/dev/null
exec 3>&- 4<&-
progs=yes
for i in $(seq 50); do
	bpftool prog show 2>/dev/null | grep -q 'name gk_' || { progs=no; break; }
	usleep 100000
done
expect "bpf: kill -9 of the loader detaches every program" "no" "$progs"
expect "bpf: after kill -9 nothing is denied any more" "exec-error EPERM|ran DENYDENY" \
	"$before|$(run $T/k)"
umount /t
