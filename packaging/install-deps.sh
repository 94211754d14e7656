#!/bin/sh
# Install what gatekeeper needs to build, run and test, from Debian's
# packages. Idempotent: installs only what is missing.
set -e
pkgs="build-essential pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
libssl-dev libsqlite3-dev libyaml-dev libclamav-dev libseccomp-dev libcmocka-dev libfuse3-dev
sqlite3 python3
qemu-system-x86 busybox-static cpio util-linux kmod prometheus tmux
libsystemd-dev debhelper dpkg-dev fakeroot lintian mmdebstrap apt-utils e2fsprogs
debian-archive-keyring"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
