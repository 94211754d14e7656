#!/bin/sh
# Inside the guest (gk-systest.service): run each suite named in
# /root/gk/suites, TAP lines prefixed "GKTAP " on the serial console (the
# host relays them), then "GKTAP-END" and power off. A suite that needs a
# reboot writes the suites to go on with into /root/gk/resume: the guest
# prints "GKTAP-REBOOT" and reboots (qemu exits; the host boots the same
# image again) and the next boot starts with them. A suite's other output
# goes to the journal.
cd /root/gk || exit 1
if [ -s resume ]; then list=$(cat resume); rm -f resume; else list=$(cat suites); fi
set -- $list
while [ $# -gt 0 ]; do
	s=$1
	shift
	echo "GKTAP # suite $s"
	rm -f suite.rc
	{ sh "./$s" 2>&1; echo $? >suite.rc; } | grep --line-buffered '^GKTAP' >/dev/ttyS0
	# Every suite ends with exit 0: anything else stopped it half-way.
	rc=$(cat suite.rc 2>/dev/null)
	if [ "$rc" = 0 ]; then
		echo "GKTAP ok - suite $s ran to its end" >/dev/ttyS0
	else
		echo "GKTAP not ok - suite $s ran to its end (exit ${rc:-unknown})" >/dev/ttyS0
	fi
	if [ -s resume ]; then
		echo "$(cat resume) $*" >resume
		sync
		echo "GKTAP-REBOOT" >/dev/ttyS0
		systemctl reboot --no-block
		exit 0
	fi
done
echo "GKTAP-END" >/dev/ttyS0
systemctl poweroff --no-block
