#!/bin/sh
# Inside the guest (gk-systest.service): run each suite named in
# /root/gk/suites, TAP lines prefixed "GKTAP " on the serial console (the
# host relays them), then "GKTAP-END" and power off. A suite's other output
# goes to the journal.
cd /root/gk || exit 1
for s in $(cat suites); do
	echo "GKTAP # suite $s"
	sh "./$s" 2>&1 | grep --line-buffered '^GKTAP' >/dev/ttyS0
done
echo "GKTAP-END" >/dev/ttyS0
systemctl poweroff --no-block
