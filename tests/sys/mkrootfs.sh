#!/bin/sh
# mkrootfs.sh SYSDIR DEB: the Debian 12 system the package is tested on,
# built with mmdebstrap from this machine's configured mirror into
# SYSDIR/rootfs and reused while DEB's dependencies stay the same.
#   - minbase + systemd as init + Debian's cloud kernel (its own initrd),
#     copied out to SYSDIR/vmlinuz and SYSDIR/initrd.img;
#   - /var/local/gk-repo: a local apt repository holding every package that
#     `apt install ./DEB` needs and the image lacks (the guest has no
#     network), plus Debian's fapolicyd and its dependencies (make vmbench
#     measures it side by side), the only apt source in the image;
#   - gk-systest.service: runs /root/gk/guest-run.sh once multi-user.target
#     is reached.
set -eu
SYSDIR=${1:?usage: mkrootfs.sh SYSDIR DEB}
DEB=${2:?usage: mkrootfs.sh SYSDIR DEB}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOTFS=$SYSDIR/rootfs
KEY="$(dpkg-deb -f "$DEB" Depends) | $(sha256sum "$HERE/mkrootfs.sh" | cut -c1-16)"
if [ -s "$SYSDIR/rootfs.key" ] && [ "$(cat "$SYSDIR/rootfs.key")" = "$KEY" ] &&
   [ -s "$SYSDIR/vmlinuz" ] && [ -s "$SYSDIR/initrd.img" ]; then
	echo "mkrootfs: reusing $ROOTFS"
	exit 0
fi
URI=$("$HERE/apt-mirror.sh") || { echo "mkrootfs: no Debian mirror found in /etc/apt" >&2; exit 1; }
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
rm -rf "$ROOTFS" "$SYSDIR/rootfs.key"
mkdir -p "$SYSDIR"
cp "$DEB" "$SYSDIR/deps-of.deb"

mmdebstrap --mode=root --format=directory --variant=minbase \
	--include=systemd-sysv,udev,dbus,linux-image-cloud-amd64,procps,kmod,less \
	--aptopt='Acquire::Languages "none"' \
	--customize-hook='echo gk-systest > "$1/etc/hostname"' \
	--customize-hook='printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\n" > "$1/etc/fstab"' \
	--customize-hook='mkdir -p "$1/var/local/gk-repo" "$1/tmp/gk-deps"' \
	--customize-hook="cp '$SYSDIR/deps-of.deb' \"\$1/tmp/gk-deps/gatekeeper.deb\"" \
	--customize-hook='chroot "$1" apt-get install -y -q --download-only --no-install-recommends -o Dir::Cache::archives=/tmp/gk-deps/ /tmp/gk-deps/gatekeeper.deb fapolicyd' \
	--customize-hook='mv "$1"/tmp/gk-deps/*.deb "$1/var/local/gk-repo/"; rm -f "$1/var/local/gk-repo/gatekeeper.deb"; rm -rf "$1/tmp/gk-deps"' \
	--customize-hook='cd "$1/var/local/gk-repo" && apt-ftparchive packages . > Packages' \
	--customize-hook='rm -f "$1"/etc/apt/sources.list.d/*; echo "deb [trusted=yes] file:/var/local/gk-repo ./" > "$1/etc/apt/sources.list"' \
	--customize-hook='for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer e2scrub_reap.service getty@tty1.service serial-getty@ttyS0.service; do ln -sf /dev/null "$1/etc/systemd/system/$u"; done' \
	--customize-hook='mkdir -p "$1/root/gk" "$1/etc/systemd/system/multi-user.target.wants"' \
	--customize-hook="cp '$HERE/gk-systest.service' \"\$1/etc/systemd/system/\"" \
	--customize-hook='ln -sf ../gk-systest.service "$1/etc/systemd/system/multi-user.target.wants/gk-systest.service"' \
	bookworm "$ROOTFS" "deb [signed-by=$KEYRING] $URI bookworm main"

ls "$ROOTFS"/var/local/gk-repo/*.deb >/dev/null
cp "$(ls "$ROOTFS"/boot/vmlinuz-* | tail -n1)" "$SYSDIR/vmlinuz"
cp "$(ls "$ROOTFS"/boot/initrd.img-* | tail -n1)" "$SYSDIR/initrd.img"
rm -f "$SYSDIR/deps-of.deb"
echo "$KEY" > "$SYSDIR/rootfs.key"
echo "mkrootfs: built $ROOTFS ($(du -sm "$ROOTFS" | cut -f1) MB)"
