#!/bin/sh
# Whole-host allowlisting, phase 2: booted with the host-allowlisting
# profile in force (see guest-enforce.sh).
. /root/gk/guest-lib.sh
export DEBIAN_FRONTEND=noninteractive
cd /root/gk
show() { systemctl show -p "$1" --value "${2:-gatekeeperd}"; }
wait_for() {
	t=$1; shift
	for i in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	return 1
}
# runs PATH...: exit status of a bounded exec, or its error text
runs() { out=$(timeout 20 "$@" 2>&1 </dev/null); echo "rc=$? $out" | flat; }
refused() { runs "$@" | grep -q 'not permitted\|Permission denied'; }

comment "rebooted into enforcement at $(elapsed)"
expect "multi-user.target reached with gatekeeper enforcing" "active active mode=enforce" \
	"$(systemctl is-active multi-user.target) $(systemctl is-active gatekeeperd) $(show StatusText)"
gk_t=$(show ActiveEnterTimestampMonotonic) mu_t=$(show ActiveEnterTimestampMonotonic multi-user.target)
[ "$gk_t" -gt 0 ] && [ "$gk_t" -le "$mu_t" ] && ok "gatekeeperd was enforcing before multi-user.target" ||
	not_ok "gatekeeperd was enforcing before multi-user.target" "gatekeeperd $gk_t, multi-user $mu_t"
expect "a login shell works" "rc=0 hello" "$(runs runuser -l root -c 'echo hello')"
expect "systemctl works" "rc=0" "$(runs systemctl is-system-running --wait)$(runs systemctl status gatekeeperd --no-pager | cut -c1-5)"
expect "apt works" "rc=0" "$(runs apt-get -s install less)"
expect "journalctl works" "rc=0" "$(runs journalctl -n 1 --no-pager)"

# programs from outside the package manager are refused, allow admits them
mkdir -p /home/u
for d in /home/u /tmp; do
	cp /usr/bin/true "$d/gk-new" && printf 'gknew001' >>"$d/gk-new"
	refused "$d/gk-new" && ok "a program copied to $d is refused" ||
		not_ok "a program copied to $d is refused" "$(runs "$d/gk-new")"
done
mkdir -p /mnt/late && mount -t tmpfs late /mnt/late
cp /usr/bin/true /mnt/late/gk-new && printf 'gknew002' >>/mnt/late/gk-new
refused /mnt/late/gk-new && ok "a program on a tmpfs mounted after boot is refused" ||
	not_ok "a program on a tmpfs mounted after boot is refused" "$(runs /mnt/late/gk-new)"
gatekeeper-ctl allow /tmp/gk-new >/dev/null 2>&1
expect "gatekeeper-ctl allow lets it run" "rc=0" "$(runs /tmp/gk-new)"

# a local package whose postinst runs its own new binary
P=/root/gk/pkg
rm -rf $P && mkdir -p $P/DEBIAN $P/usr/bin $P/etc/gk-testpkg
cp /usr/bin/true $P/usr/bin/gk-testpkg && printf 'gkpkg001' >>$P/usr/bin/gk-testpkg
cp /usr/bin/true $P/etc/gk-testpkg/hook && printf 'gkpkg002' >>$P/etc/gk-testpkg/hook
printf 'Package: gk-testpkg\nVersion: 1.0\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDescription: test\n' >$P/DEBIAN/control
echo /etc/gk-testpkg/hook >$P/DEBIAN/conffiles
printf '#!/bin/sh\nset -e\n/usr/bin/gk-testpkg\n' >$P/DEBIAN/postinst
chmod 755 $P/DEBIAN/postinst
dpkg-deb -b $P /root/gk/gk-testpkg.deb >/dev/null
if apt-get install -y /root/gk/gk-testpkg.deb >/root/gk/apt-testpkg.log 2>&1; then
	ok "apt install of a package whose postinst runs its new binary"
else
	not_ok "apt install of a package whose postinst runs its new binary" "$(tail -n 3 /root/gk/apt-testpkg.log | flat)"
fi
expect "its binary runs at once" "rc=0" "$(runs /usr/bin/gk-testpkg)"
apt-get remove -y gk-testpkg >>/root/gk/apt-testpkg.log 2>&1
refused /etc/gk-testpkg/hook && ok "after apt remove its leftovers are refused" ||
	not_ok "after apt remove its leftovers are refused" "$(runs /etc/gk-testpkg/hook)"

# a modified packaged program
printf 'gkmod001' >>/usr/bin/tac
refused /usr/bin/tac && ok "a modified /usr/bin program is refused" ||
	not_ok "a modified /usr/bin program is refused" "$(runs /usr/bin/tac)"
expect "query says why" "differ" "$(gatekeeper-ctl query /usr/bin/tac 2>&1 | flat)"
n=$(journalctl -q -u gatekeeperd GK_VERDICT=deny -o export | grep -c '^GK_VERDICT=deny')
[ "$n" -ge 4 ] && ok "journalctl -u gatekeeperd GK_VERDICT=deny shows the refusals ($n)" ||
	not_ok "journalctl -u gatekeeperd GK_VERDICT=deny shows the refusals" "$n entries"

apt-get purge -y gatekeeper >/root/gk/apt-purge2.log 2>&1
expect "after apt purge every program runs again" "rc=0 rc=0 rc=0" \
	"$(runs /home/u/gk-new) $(runs /mnt/late/gk-new) $(runs /usr/bin/tac)"
umount /mnt/late
