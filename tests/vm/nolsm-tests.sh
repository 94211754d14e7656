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

# fanotify mode on this kernel: a cached allow holds a read lease, and a
# writer's open must break it (the daemon drops the ignore mark first). The
# host suite's route driver (routes.c), a few rounds of the routes that open
# a writer: the second exec of the good content must be a kernel hit (a
# lease and mark in place), and the bad content written after it never runs.
if [ -x /gk/gatekeeperd ] && [ -x /gk/gk-routes ]; then
	rm -f $GK/gk.db*
	mkdir -p /t/tpl
	printf '#!/bin/sh\ntrap "exit 7" EXIT\ntrap - EXIT\nexit 0\n' >/t/tpl/good.sh
	printf '#!/bin/sh\ntrap "exit 7" EXIT\n' >/t/tpl/bad.sh
	head -c $(($(stat -c %s /t/tpl/good.sh) - $(stat -c %s /t/tpl/bad.sh))) /dev/zero >>/t/tpl/bad.sh
	chmod 755 /t/tpl/good.sh /t/tpl/bad.sh
	write_policy deny $T
	if start_daemon; then
		ctl allow /t/tpl/good.sh >/dev/null
		for route in write otrunc mmap; do
			timeout 120 gk-routes $route $T/lease-$route /t/tpl/good.sh /t/tpl/bad.sh 6 1 \
				/gk/gatekeeper-ctl $SOCK >$GK/routes-$route.out 2>&1
			summary=$(grep '^rounds=' $GK/routes-$route.out)
			comment "nolsm: lease route $route: ${summary:-no summary}"
			expect "nolsm: $route into a leased, cached allow: a kernel hit before, EPERM after, never ran" \
				"rounds=6 eperm=6 bad_ran=0 other=0 hits=6 misses=0 setup_errors=0" "$summary"
		done
		breaks=$(status_num lease_breaks)
		expect "nolsm: ... and every write broke a lease (lease_breaks >= 18)" "yes" \
			"$([ "${breaks:-0}" -ge 18 ] && echo yes || echo "no: $breaks")"
		stop_daemon
	else
		not_ok "nolsm: gatekeeperd starts for the lease routes" "$(tail -n 5 $GK/gkd.log | flat)"
	fi
fi
umount /t
