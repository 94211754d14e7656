# Shared by the booted system's suites (sourced after tests/vm/guest-lib.sh).
# show PROP [UNIT]: a property of gatekeeperd (or UNIT)
show() { systemctl show -p "$1" --value "${2:-gatekeeperd}"; }
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	t=$1; shift
	for i in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	return 1
}
# runs PATH...: exit status of a bounded exec, and its output
runs() { out=$(timeout 20 "$@" 2>&1 </dev/null); echo "rc=$? $out" | flat; }
refused() { runs "$@" | grep -q 'not permitted'; }
# clamav_reloaded SECONDS NAME: after a policy edit, reload and check that
# ClamAV comes up in gatekeeper-scand within SECONDS (test NAME).
clamav_reloaded() {
	systemctl reload gatekeeperd
	if wait_for "$1" sh -c 'gatekeeper-ctl status | grep -q "^scanners: clamav: available"'; then
		ok "$2"
	else
		not_ok "$2" "$(gatekeeper-ctl status 2>&1 | grep -i clamav | flat)"
		journalctl -q -u gatekeeperd -n 8 --no-pager | sed 's/^/GKTAP #   /'
	fi
}
# walked_in_bpf: gatekeeperd is in bpf mode and its walk over the packaged
# programs has finished since (--bpf-after-ready: the switch asks for another
# walk, which caches in the map; status reads kernel_mode before prejudge).
walked_in_bpf() {
	st=$(gatekeeper-ctl --json status 2>/dev/null | tr -d ' \n')
	case "$st" in *'"kernel_mode":"bpf"'*'"prejudge":"waiting"'*) ;; *) return 1 ;; esac
	case "$st" in *'"prejudge_walks":0'[,}]*) return 1 ;; esac
}
