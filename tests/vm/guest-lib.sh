# Sourced by the guest suites: TAP helpers and test files.
# A test file is gk-hello plus an 8-byte trailer (its tag): running it
# prints "ran TAG", so a test sees which content actually ran.

ok() { echo "GKTAP ok - $1"; }
not_ok() {
	echo "GKTAP not ok - $1"
	[ -n "$2" ] && echo "GKTAP #   $2"
	return 0
}
# expect NAME WANT GOT: GOT contains WANT.
expect() {
	case "$3" in
	*"$2"*) ok "$1" ;;
	*) not_ok "$1" "want '$2', got '$3'" ;;
	esac
}
# expect_eq NAME WANT GOT: GOT is exactly WANT.
expect_eq() {
	if [ "$3" = "$2" ]; then ok "$1"; else not_ok "$1" "want '$2', got '$3'"; fi
}
# expect_not NAME UNWANTED GOT
expect_not() {
	case "$3" in
	*"$2"*) not_ok "$1" "got '$3'" ;;
	*) ok "$1" ;;
	esac
}
comment() { echo "GKTAP # $*"; }
# elapsed: "t=S s", seconds since boot (where a suite spends its time).
elapsed() { echo "t=$(cut -d. -f1 /proc/uptime) s"; }

# mkprog PATH TAG: a runnable test file whose content is tagged TAG (8 chars).
mkprog() {
	cp /gk/gk-hello "$1" && printf '%s' "$2" >> "$1" && chmod 755 "$1"
}
# run PATH: exec it (bounded), print what happened on one line.
run() {
	timeout 20 gk-vmtool exec "$1" 2>&1 | flat
}
# flat: join lines with spaces, trim.
flat() { tr '\n' ' ' | sed 's/ *$//'; }

# --- the daemon under test: set GK (state dir) and SOCK before use; the
# policy is $GK/policy.yaml. DPID is gatekeeperd's pid (busybox timeout
# execs its command in its own pid and watches from a child).
ctl() { timeout 20 gatekeeper-ctl --socket $SOCK "$@"; }
status_num() { ctl --json status | tr ',{}' '\n\n\n' | sed -n "s/^ *\"$1\": *\([0-9]*\).*/\1/p"; }
# write_policy DEFAULT DIR: enforce, watch DIR, default DEFAULT.
write_policy() {
	printf 'mode: enforce\nwatch:\n  - %s\ndefault: %s\n' "$2" "$1" >$GK/policy.yaml
}
start_daemon() { # extra args
	timeout 600 gatekeeperd --policy $GK/policy.yaml --db $GK/gk.db --socket $SOCK --foreground "$@" \
		2>>$GK/gkd.log &
	DPID=$!
	for i in $(seq 150); do
		ctl status >/dev/null 2>&1 && return 0
		usleep 200000
	done
	return 1
}
stop_daemon() {
	kill "$DPID" 2>/dev/null
	for i in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; usleep 100000; done
	kill -9 "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
}
# wait_num_above KEY N TENTHS: poll status until KEY > N; prints KEY.
wait_num_above() {
	for i in $(seq $3); do
		v=$(status_num "$1")
		[ "${v:-0}" -gt "$2" ] && break
		usleep 100000
	done
	echo "$v"
}
