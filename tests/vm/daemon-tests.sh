# Guest suite "daemon": gatekeeperd in bpf mode (filled in once the daemon builds).
. /gk/guest-lib.sh
if [ ! -x /gk/gatekeeperd ] || [ ! -x /gk/gatekeeper-ctl ]; then
	not_ok "daemon: gatekeeperd and gatekeeper-ctl are built" "missing from the build dir"
fi
