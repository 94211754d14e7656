# make vmbench, inside the guest (a suite of tests/vm/init.sh): exec latency
# of bpf mode against bare exec, the round-trip gate and fanotify-only mode,
# measured by bench/spawn_bench in interleaved, shuffled rounds in one boot.
#
# Each condition has its own tmpfs, so each daemon watches only its own:
#   bare, bare2  no daemon marks this fs (bare2: the noise floor)
#   cached       gatekeeperd in bpf mode: the BPF map + ignore mark answer
#   roundtrip    gatekeeperd --no-kernel-cache: every exec asks the daemon
#   fanotify     gatekeeperd --no-bpf: ignore marks only (the no-BPF-LSM host)
# Every daemon enforces default deny with the two targets admitted by an
# admin rule, so an exec that missed its verdict would fail and be counted.
# The daemons run side by side, so bare and bare2 run with the BPF programs
# attached (what an unwatched file costs on a host running gatekeeper); the
# control row bare-noprog runs before any daemon starts.
#
# Output on the console: "GKBENCH KIND JSON" lines (spawn_bench's objects,
# daemon status), relayed and tabulated by bench/vm-run.sh; plus TAP lines.
# Knobs (kernel command line, see tests/vm/run.sh GK_VM_APPEND):
# GK_VMBENCH_ROUNDS, GK_VMBENCH_ITERS, GK_VMBENCH_STORM_ROUNDS.
. /gk/guest-lib.sh
B=/b
# Under TCG a dynamic exec (ld.so, libc) costs ~8 static ones: it gets
# fewer execs per block, so both take about the same share of the time.
ROUNDS=${GK_VMBENCH_ROUNDS:-10}
ITERS=${GK_VMBENCH_ITERS:-80}
WARMUP=3
STORM_ROUNDS=${GK_VMBENCH_STORM_ROUNDS:-2}
STORM_ITERS=20
DAEMONS="cached roundtrip fanotify"
FSES="bare bare2 $DAEMONS"
TARGETS="static dynamic"

emit() { # KIND FILE: each line of FILE as one GKBENCH line
	while IFS= read -r line; do echo "GKBENCH $1 $line"; done <"$2"
}
daemon_args() {
	case "$1" in
	roundtrip) echo --no-kernel-cache ;;
	fanotify) echo --no-bpf ;;
	esac
}
# Per-daemon state: guest-lib.sh's helpers read GK and SOCK.
use() { GK=$B/state/$1 SOCK=/run/gkb-$1.sock; }

mkdir -p $B && mount -t tmpfs tmpfs $B && mkdir -p $B/state
for fs in $FSES; do
	mkdir -p $B/$fs && mount -t tmpfs tmpfs $B/$fs && mkdir -p $B/$fs/w/bin $B/state/$fs
	for t in $TARGETS; do cp /gk/tiny-$t $B/$fs/w/bin/$t && chmod 755 $B/$fs/w/bin/$t; done
done
spec() { # FILE ITERS FS...: ITERS static execs per block, 3/8 of it dynamic
	f=$1 n=$2
	shift 2
	: >"$f"
	for t in $TARGETS; do
		[ $t = dynamic ] && n=$(((n * 3 + 7) / 8))
		for fs in "$@"; do printf '%s-%s\t%s\tplain\t%s\n' $fs $t $n $B/$fs/w/bin/$t >>"$f"; done
	done
}
bench_ok=yes
comment "vmbench: kernel $(uname -r), $(nproc) vCPU, $ROUNDS rounds, $ITERS static execs per block, $(elapsed)"

# Control: bare before any program is loaded.
spec $B/state/control.spec $ITERS bare
spawn_bench --rounds 3 --warmup $WARMUP $B/state/control.spec >$B/state/control.jsonl || bench_ok=no
emit control $B/state/control.jsonl

for name in $DAEMONS; do
	use $name
	write_policy deny $B/$name/w
	# shellcheck disable=SC2046
	if ! start_daemon $(daemon_args $name); then
		not_ok "vmbench: gatekeeperd ($name) starts" "$(tail -n 3 $GK/gkd.log | flat)"
		bench_ok=no
		continue
	fi
	eval "PID_$name=\$DPID"
	for t in $TARGETS; do ctl allow $B/$name/w/bin/$t >/dev/null || bench_ok=no; done
	echo "GKBENCH mode $name $(ctl status | sed -n 's/^kernel_mode: //p')"
	ctl --json status >$GK/before.json
done

comment "vmbench: exec rounds start, $(elapsed)"
spec $B/state/exec.spec $ITERS $FSES
spawn_bench --rounds $ROUNDS --warmup $WARMUP $B/state/exec.spec >$B/state/exec.jsonl || bench_ok=no
emit exec $B/state/exec.jsonl
for name in $DAEMONS; do
	use $name
	echo "GKBENCH before $name $(cat $GK/before.json 2>/dev/null)"
	echo "GKBENCH after $name $(ctl --json status)"
done

comment "vmbench: storm (4 spawners at once) starts, $(elapsed)"
spec $B/state/storm.spec $STORM_ITERS $FSES
spawn_bench --rounds $STORM_ROUNDS --warmup 2 --storm 4 $B/state/storm.spec \
	>$B/state/storm.jsonl || bench_ok=no
emit storm $B/state/storm.jsonl
comment "vmbench: done, $(elapsed)"

for name in $DAEMONS; do
	use $name
	eval "DPID=\$PID_$name"
	[ -n "$DPID" ] && stop_daemon
done
failed=$(cat $B/state/*.jsonl | sed -n 's/.*"failed":\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
expect "vmbench: every condition measured, no exec failed" "yes, 0 failed" "$bench_ok, $failed failed"
for fs in $FSES; do umount $B/$fs; done
umount $B
