#!/bin/busybox sh
# Guest /init: mount the pseudo filesystems, run the kernel suites, power off.
# Every result line on the serial console starts with "GKTAP " (the host
# relays those as TAP); "GKTAP-END" marks a complete run.
/bin/busybox --install -s /bin
export PATH=/gk:/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security
mount -t tmpfs tmpfs /tmp
mkdir -p /run /var/lib
mount -t tmpfs tmpfs /run
echo "GKTAP # kernel $(uname -r) lsm=$(cat /sys/kernel/security/lsm)"
# gk.suites=a.sh,b.sh on the kernel command line picks the suites of this boot.
suites=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^gk\.suites=//p' | tr ',' ' ')
for suite in ${suites:-$(cat /gk/suites)}; do
	echo "GKTAP # $suite starts at t=$(cut -d. -f1 /proc/uptime) s"
	sh "/gk/$suite"
done
echo "GKTAP # suites done at t=$(cut -d. -f1 /proc/uptime) s"
echo "GKTAP-END"
sync
poweroff -f
