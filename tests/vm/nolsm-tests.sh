# Guest suite "nolsm": the same kernel booted without bpf in lsm=. Loading
# must fail with a one-line reason naming the active LSMs, and gatekeeperd
# must fall back to fanotify mode and still deny through permission events.
. /gk/guest-lib.sh
T=/t/n
GK=/tmp/gkn
SOCK=/run/gkn.sock
mkdir -p /t && mount -t tmpfs tmpfs /t && mkdir -p $T $GK
lsm=$(cat /sys/kernel/security/lsm)
expect_not "nolsm: bpf is not an active LSM in this boot" ",bpf" ",$lsm"
out=$(echo quit | timeout 60 gk-kload 2>&1 | head -n 1)
expect "nolsm: loading reports that bpf is not an active LSM" "bpf is not in the active LSM list" "$out"
expect "nolsm: ... and names the active LSMs" "$lsm" "$out"
comment "$out"

if [ -x /gk/gatekeeperd ] && [ -x /gk/gatekeeper-ctl ]; then
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: allow\n' $T >$GK/policy.yaml
	timeout 300 gatekeeperd --policy $GK/policy.yaml --db $GK/gk.db --socket $SOCK --foreground \
		2>>$GK/gkd.log &
	DPID=$!
	for i in $(seq 150); do
		timeout 20 gatekeeper-ctl --socket $SOCK status >/dev/null 2>&1 && break
		usleep 200000
	done
	st=$(timeout 20 gatekeeper-ctl --socket $SOCK status 2>&1)
	expect "nolsm: gatekeeperd falls back to fanotify mode" "kernel_mode: fanotify" "$st"
	expect "nolsm: ... and says why" "bpf is not in the active LSM list" \
		"$(echo "$st" | grep kernel_mode_why)"
	mkprog $T/bad BADBADBA
	timeout 20 gatekeeper-ctl --socket $SOCK deny $T/bad >/dev/null 2>&1
	expect "nolsm: a denied file is still denied (round trip)" "exec-error EPERM" "$(run $T/bad)"
	# unmarked_filesystems: deny needs the kernel programs: said, not faked
	printf 'mode: enforce\nwatch: [/]\ndefault: allow\nunmarked_filesystems: deny\n' >$GK/unmarked.yaml
	timeout 20 gatekeeper-ctl --socket $SOCK policy apply $GK/unmarked.yaml >/dev/null 2>&1
	expect "nolsm: unmarked_filesystems: deny is reported as not enforced" \
		"unmarked_filesystems: deny: not enforced (needs kernel mode bpf)" \
		"$(timeout 20 gatekeeper-ctl --socket $SOCK status 2>&1 | grep '^unmarked_filesystems:')"
	expect "nolsm: ... and the daemon logs why" "unmarked_filesystems: deny is not enforced" "$(cat $GK/gkd.log)"
	kill "$DPID" 2>/dev/null
	for i in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; usleep 100000; done
else
	not_ok "nolsm: gatekeeperd and gatekeeper-ctl are built" "missing from the build dir"
fi
umount /t
