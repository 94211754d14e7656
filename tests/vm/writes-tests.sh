# Guest suite "writes": invariant 1 of DESIGN.md with the real daemon in bpf
# mode. Newly written binaries are judged before their first exec, and a
# verdict never outlives the content it judged:
#   - every write route puts denied content into an allowed, kernel-cached
#     file, and the exec right after it must not run that content;
#   - cp-then-run never fails spuriously;
#   - the CLOSE_WRITE pre-scan makes a new binary's first exec a kernel hit.
# The route rounds are tests/integration/routes.c (gk-routes), the host
# suite's own driver, so both kernels prove the same thing.
. /gk/guest-lib.sh
T=/t/w
GK=/tmp/gkw
SOCK=/run/gkw.sock
ROUTE_ROUNDS=${GK_VM_ROUTE_ROUNDS:-20}
CP_RUNS=${GK_VM_CP_RUNS:-200}
if [ ! -x /gk/gatekeeperd ] || [ ! -x /gk/gatekeeper-ctl ] || [ ! -x /gk/gk-routes ]; then
	not_ok "writes: gatekeeperd, gatekeeper-ctl and gk-routes are built" "missing from the build dir"
	return 0
fi
# /t/tpl: the route templates, on the watched filesystem (copy_file_range
# copies within one) but outside the watched tree.
mkdir -p /t && mount -t tmpfs tmpfs /t && mkdir -p $T /t/tpl $GK
# started_daemon NAME: start it or say why not (and stop the suite's part).
started_daemon() {
	start_daemon && [ "$(ctl status | sed -n 's/^kernel_mode: //p')" = bpf ] && return 0
	not_ok "writes: $1: gatekeeperd starts in bpf mode" "$(tail -n 5 $GK/gkd.log | flat)"
	stop_daemon
	return 1
}

# --- 1. every write route, under default deny with the good content allowed.
# GOOD runs and exits 0; BAD (same size) is GOOD's first two lines padded
# with NULs, what truncate(2) and a punched hole leave behind: busybox sh
# skips the NULs, and BAD's EXIT trap exits 7, so BAD that ran is seen.
printf '#!/bin/sh\ntrap "exit 7" EXIT\ntrap - EXIT\nexit 0\n' >/t/tpl/good.sh
printf '#!/bin/sh\ntrap "exit 7" EXIT\n' >/t/tpl/bad.sh
pad=$(($(stat -c %s /t/tpl/good.sh) - $(stat -c %s /t/tpl/bad.sh)))
head -c $pad /dev/zero >>/t/tpl/bad.sh
# NUL: GOOD's size of NULs, no program at all: an exec the gate lets through
# fails with ENOEXEC, which tells it from the gate's refusals.
head -c "$(stat -c %s /t/tpl/good.sh)" /dev/zero >/t/tpl/nul.sh
chmod 755 /t/tpl/good.sh /t/tpl/bad.sh /t/tpl/nul.sh

# route_check ROUTE HIT: ROUTE_ROUNDS rounds of gk-routes (see routes.c).
# Every exec right after the write must fail with EPERM; for the routes that
# raise no FS_MODIFY (the shared mappings, AIO, splice before Linux 6.5) the
# kernel's hold (ETXTBSY) is an acceptable refusal too.
# A round whose freshly written good content was refused (ETXTBSY) before the
# route ran tests nothing: it is counted apart (SPURIOUS) and checked below.
SPURIOUS=0 SPURIOUS_AT="" FREEZE=""
route_check() { # ROUTE HIT [BAD NAME]
	route=$1 hit=$2 bad=${3:-/t/tpl/bad.sh} tag=${4:-$1}
	out=$GK/routes-$tag.out
	f0=$(status_num kernel_cache_flushes)
	timeout 150 env ${FREEZE:+GK_ROUTES_FREEZE_PID=$FREEZE} \
		gk-routes "$route" $T/target-$tag /t/tpl/good.sh "$bad" $ROUTE_ROUNDS "$hit" \
		/gk/gatekeeper-ctl $SOCK >"$out" 2>&1
	summary=$(grep '^rounds=' "$out")
	num() { echo "$summary" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	held=0 note=""
	case "$route" in
	mmap | mmap_close_first | aio | splice)
		held=$(grep -c "after route $route gave errno:ETXTBSY," "$out")
		note=" (of which ETXTBSY: $held)"
		;;
	esac
	refused=$(grep -c 'setup: good content gave .*errno:ETXTBSY.*(want ran:0)' "$out")
	[ "$refused" -gt 0 ] && SPURIOUS_AT="$SPURIOUS_AT $tag:$refused"
	SPURIOUS=$((SPURIOUS + refused))
	tested=$((ROUTE_ROUNDS - refused))
	comment "writes: $tag: ${summary:-no summary}$note"
	[ -n "$FREEZE" ] && comment "writes: $tag: $(grep -m 3 'daemon stopped' "$out" | flat)"
	name="writes: $tag: bad content written into an allowed file never runs unjudged"
	if [ -z "$summary" ]; then
		not_ok "$name" "gk-routes printed no summary: $(tail -n 3 "$out" | flat)"
	elif [ "$(num bad_ran)" != 0 ]; then
		not_ok "$name" "the bad content RAN: $(grep -m 3 RAN "$out" | flat)"
	elif [ "$(num setup_errors)" != "$refused" ] || [ "$(num other)" != "$held" ] ||
		[ $(($(num eperm) + held)) != "$tested" ] || [ $((2 * tested)) -lt "$ROUTE_ROUNDS" ]; then
		not_ok "$name" "$tested rounds tested: $(grep -v '^rounds=' "$out" | head -n 3 | flat)"
	else
		ok "$name ($tested rounds)"
	fi
	[ "$hit" = 1 ] || return 0
	name="writes: $tag: the allowed file was a kernel hit before each write"
	case "$summary " in
	*" misses=0 "*) ok "$name" ;;
	*) not_ok "$name" "$(grep -m 2 'second exec' "$out" | flat); kernel_cache_flushes $f0->$(status_num kernel_cache_flushes) over the route" ;;
	esac
}
write_policy deny $T
if started_daemon "default deny"; then
	ctl allow /t/tpl/good.sh >/dev/null
	cp /t/tpl/good.sh $T/good-ref && cp /t/tpl/bad.sh $T/bad-ref
	expect "writes: the good content runs, the bad one is denied (references)" \
		"rc=0|exec-error EPERM" "$(timeout 20 gk-vmtool exec $T/good-ref; echo rc=$?)|$(run $T/bad-ref)"
	# The old_* routes open their writer before the verdict: whether an
	# allow is cached then is the daemon's choice, so no hit is required.
	for route in write otrunc truncate fallocate copy_file_range aio splice mmap mmap_close_first rename; do
		route_check $route 1
	done
	# AIO with the daemon stopped for the exec after the write (routes.c:
	# GK_ROUTES_FREEZE_PID): no pre-scan can answer first, so each refusal is
	# the kernel's hold, and an exec sent to the daemon would hang. (Not
	# splice: from Linux 6.5 it raises FS_MODIFY, and its exec goes there.)
	FREEZE=$(tr -d ' ' </proc/"$DPID"/task/"$DPID"/children 2>/dev/null)
	[ -n "$FREEZE" ] || not_ok "writes: the daemon's pid (the child of timeout $DPID)" "none"
	route_check aio 1 /t/tpl/nul.sh aio-frozen
	FREEZE=
	route_check old_writer 0
	route_check mmap_old_writer 0
	# A writer that mapped the file before its verdict and moved the ctime
	# (as a write fault does on ext4): the map's allow is not fresh at its
	# release, and fanotify added no ignore mark while it was open.
	route_check mmap_old_writer_touch 0
	comment "writes: routes: kernel_hold_refusals $(status_num kernel_hold_refusals)," \
		"kernel_cache_flushes $(status_num kernel_cache_flushes)," \
		"kernel_invalidations $(status_num kernel_invalidations), $(elapsed)"
	expect "writes: allowed content freshly rewritten is never refused on its next exec" \
		"0 of" "$SPURIOUS of $((13 * ROUTE_ROUNDS)) rounds refused ETXTBSY${SPURIOUS_AT:+ (route:rounds$SPURIOUS_AT)}"
	stop_daemon
fi

# --- 2 and 3 under default allow.
rm -f $GK/gk.db*
write_policy allow $T
if started_daemon "default allow"; then
	# The pre-scan: a new binary closed in the watched dir is judged before
	# anyone runs it; its first exec raises no permission event. Three
	# binaries, one at a time: the first exec of each waits for its scan.
	h0=$(status_num first_execs_kernel_hits)
	f0=$(status_num kernel_cache_flushes)
	scanned=0 quiet=0 ran=0 seen=""
	for n in 1 2 3; do
		mkprog $GK/fresh$n "FRESHBI$n"
		s0=$(status_num prescans)
		cp $GK/fresh$n $T/fresh$n
		s1=$(wait_num_above prescans "$s0" 100)
		pe0=$(status_num perm_events)
		out=$(run $T/fresh$n)
		pe1=$(status_num perm_events)
		[ "$s1" -gt "$s0" ] && scanned=$((scanned + 1))
		[ "$pe1" = "$pe0" ] && quiet=$((quiet + 1))
		[ "$out" = "ran FRESHBI$n" ] && ran=$((ran + 1))
		seen="$seen [$n: prescans $s0->$s1, perm_events $pe0->$pe1, $out]"
	done
	h1=$(wait_num_above first_execs_kernel_hits $((h0 + 2)) 30)
	f1=$(status_num kernel_cache_flushes)
	comment "writes: pre-scan:$seen first_execs_kernel_hits $h0->$h1," \
		"kernel_invalidations $(status_num kernel_invalidations), kernel_cache_flushes $f0->$f1"
	expect "writes: a new binary in the watched dir is pre-scanned (prescans increases)" \
		"3 of 3" "$scanned of 3"
	expect "writes: ... its first exec runs and raises no permission event" \
		"3 of 3 ran, 3 of 3" "$ran of 3 ran, $quiet of 3"
	expect "writes: ... and counts as a first-exec kernel hit (first_execs_kernel_hits +3)" \
		"=$((h0 + 3))=" "=$h1="
	expect "writes: ... and drops no other cached verdict (kernel_cache_flushes unchanged)" \
		"=$f0=" "=$f1="

	# cp-then-run: each round a new content (gk-hello + its round as tag),
	# copied over the same file and run at once.
	mkdir -p $GK/v
	for i in $(seq $CP_RUNS); do
		mkprog $GK/v/$i "$(printf 'V%07d' $i)"
	done
	comment "writes: $CP_RUNS contents prepared, $(elapsed)"
	bad=0 first_bad=""
	for i in $(seq $CP_RUNS); do
		want=$(printf 'ran V%07d' $i)
		out=$(cp $GK/v/$i $T/x && timeout 15 $T/x 2>&1)
		if [ "$out" != "$want" ]; then
			bad=$((bad + 1))
			[ -z "$first_bad" ] && first_bad="round $i: '$out'"
		fi
	done
	expect "writes: cp new x && ./x $CP_RUNS times, each a new content: no failure" \
		"0 failed" "$bad failed $first_bad"
	comment "writes: cp-then-run: prescans $(status_num prescans)," \
		"kernel_cache_flushes $(status_num kernel_cache_flushes)," \
		"first_execs_kernel_hits $(status_num first_execs_kernel_hits), perm_events $(status_num perm_events)," \
		"$(elapsed)"
	expect "writes: gatekeeperd survived the suite" "running" \
		"$(kill -0 "$DPID" 2>/dev/null && echo running)"
	stop_daemon
fi
umount /t
