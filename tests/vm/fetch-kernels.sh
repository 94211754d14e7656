#!/bin/sh
# fetch-kernels.sh VMDIR: download Debian's cloud kernels (bookworm 6.1 and
# bookworm-backports 6.12) with a private apt state under VMDIR, extract each
# vmlinuz to VMDIR/vmlinuz-<suite>. The mirror is the one this machine's apt
# already uses (read from /etc/apt at run time, never written into the repo).
# Already extracted kernels are reused.
set -eu
VMDIR=${1:?usage: fetch-kernels.sh VMDIR}
mkdir -p "$VMDIR/apt/state/lists/partial" "$VMDIR/apt/cache/archives/partial" "$VMDIR/debs"

have_all() {
	[ -s "$VMDIR/vmlinuz-bookworm" ] && [ -s "$VMDIR/vmlinuz-bookworm-backports" ]
}
if have_all; then exit 0; fi

URI=$("$(dirname "$0")/../sys/apt-mirror.sh" || true)
[ -n "$URI" ] || { echo "fetch-kernels: no Debian mirror found in /etc/apt" >&2; exit 1; }

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
LIST="$VMDIR/apt/sources.list"
cat > "$LIST" <<LIST_EOF
deb [signed-by=$KEYRING] $URI bookworm main
deb [signed-by=$KEYRING] $URI bookworm-backports main
LIST_EOF

apt_private() {
	apt-get -q -o Dir::Etc::sourcelist="$LIST" -o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State="$VMDIR/apt/state" -o Dir::State::status=/var/lib/dpkg/status \
		-o Dir::Cache="$VMDIR/apt/cache" -o Debug::NoLocking=1 "$@"
}
apt_cache_private() {
	apt-cache -o Dir::Etc::sourcelist="$LIST" -o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State="$VMDIR/apt/state" -o Dir::State::status=/var/lib/dpkg/status \
		-o Dir::Cache="$VMDIR/apt/cache" "$@"
}

apt_private update >"$VMDIR/apt/update.log" 2>&1 || { cat "$VMDIR/apt/update.log" >&2; exit 1; }

# The meta package linux-image-cloud-amd64 of a suite -> its versioned image package.
fetch_suite() {
	suite=$1
	[ -s "$VMDIR/vmlinuz-$suite" ] && return 0
	ver=$(apt_cache_private madison linux-image-cloud-amd64 | awk -v s="$suite/" '$0 ~ s {print $3; exit}')
	[ -n "$ver" ] || { echo "fetch-kernels: no linux-image-cloud-amd64 in $suite" >&2; return 1; }
	pkg=$(apt_cache_private show "linux-image-cloud-amd64=$ver" |
		sed -n 's/^Depends: //p' | head -n1 | tr ',' '\n' | sed 's/^ *//; s/ .*//' |
		grep '^linux-image-.*-cloud-amd64' | head -n1)
	[ -n "$pkg" ] || { echo "fetch-kernels: cannot resolve the image of $suite" >&2; return 1; }
	rel=$(apt_cache_private policy "$pkg" | awk '/Candidate:/ {print $2}')
	(cd "$VMDIR/debs" && ls "${pkg}_"*.deb >/dev/null 2>&1 || apt_private download "$pkg=$rel") \
		>"$VMDIR/apt/download-$suite.log" 2>&1 || { cat "$VMDIR/apt/download-$suite.log" >&2; return 1; }
	deb=$(ls "$VMDIR/debs/${pkg}_"*.deb | head -n1)
	rm -rf "$VMDIR/x-$suite"
	dpkg-deb -x "$deb" "$VMDIR/x-$suite"
	cp "$VMDIR/x-$suite"/boot/vmlinuz-* "$VMDIR/vmlinuz-$suite.tmp"
	mv "$VMDIR/vmlinuz-$suite.tmp" "$VMDIR/vmlinuz-$suite"
	echo "${pkg#linux-image-}" > "$VMDIR/release-$suite"
	rm -rf "$VMDIR/x-$suite"
}
fetch_suite bookworm
fetch_suite bookworm-backports
