#!/bin/sh
# Whole-host allowlisting on a booted Debian 12 (issue 13.4), phase 1:
# install, switch to the host-allowlisting profile (enforce, watch: [/],
# dpkg trust, default: deny) and ask for a reboot; guest-enforce2.sh goes
# on after it. Needs the dpkg trust source and mount following; run it with
#   GK_SYS_SUITES=guest-tests.sh,guest-enforce.sh make systest
. /root/gk/guest-lib.sh
export DEBIAN_FRONTEND=noninteractive
cd /root/gk
LOG=/root/gk/apt-enforce.log
apt-get update >$LOG 2>&1
if apt-get install -y ./gatekeeper_*.deb >>$LOG 2>&1; then
	ok "enforce profile: apt install ./gatekeeper_*.deb"
else
	not_ok "enforce profile: apt install ./gatekeeper_*.deb" "$(tail -n 3 $LOG | flat)"
fi
# The host-allowlisting profile. The trust: syntax is the whole-host
# issue's; adjust it here if that lands differently.
cat >/etc/gatekeeper/policy.yaml <<'POLICY'
mode: enforce
watch: [/]
trust:
  - dpkg
default: deny
on_error: deny
scanners:
  hashlist:
    files: [/etc/gatekeeper/deny.sha256]
audit:
  log_allows: false
POLICY
if out=$(gatekeeper-ctl policy check /etc/gatekeeper/policy.yaml 2>&1); then
	ok "the host-allowlisting profile passes policy check"
else
	not_ok "the host-allowlisting profile passes policy check" "$(echo "$out" | flat)"
fi
# Reboot into it: guest-run.sh resumes with phase 2.
echo guest-enforce2.sh >/root/gk/resume
