#!/bin/sh
# make-deb.sh OUTDIR: build gatekeeper's Debian package with dpkg-buildpackage
# (debhelper compat 13) from packaging/debian. The sources (tracked and new,
# not ignored, files) are copied to OUTDIR/src/gatekeeper-VERSION with
# packaging/debian as its ./debian, so the build never touches the working
# tree's build/ or writes outside OUTDIR. Results in OUTDIR: the .deb, its
# -dbgsym .deb, .buildinfo, .changes; then lintian runs on the .changes.
set -eu
OUT=${1:?usage: packaging/make-deb.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
VERSION=$(dpkg-parsechangelog -l "$ROOT/packaging/debian/changelog" -S Version)
SRC=$OUT/src/gatekeeper-$VERSION

cd "$OUT"
rm -rf "$OUT/src"
mkdir -p "$SRC"
cd "$ROOT"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z -co --exclude-standard | grep -zv '^debian/' | cpio -0pdm --quiet "$SRC"
else
	tar --exclude=./build --exclude=./debian -cf - . | tar -C "$SRC" -xf -
fi
rm -rf "$SRC/debian"
cp -a packaging/debian "$SRC/debian"

rm -f "$OUT"/gatekeeper*_"$VERSION"_*.deb "$OUT"/gatekeeper_"$VERSION"_*.buildinfo \
	"$OUT"/gatekeeper_"$VERSION"_*.changes
cd "$SRC"
# Run from make (make sysbench BUILD=DIR), the package's own make would
# inherit BUILD=DIR through MAKEFLAGS, and its clean step remove that DIR.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$OUT/build.log" 2>&1 ||
	{ tail -n 40 "$OUT/build.log" >&2; echo "make-deb: dpkg-buildpackage failed (log: $OUT/build.log)" >&2; exit 1; }
mv "$OUT/src"/gatekeeper*_"$VERSION"_* "$OUT/"
cd "$OUT"
rm -rf "$OUT/src"
ls -1 "$OUT"/*.deb
if command -v lintian >/dev/null; then
	# lintian leaves directories of its caches in TMPDIR: ours, then gone
	rm -rf "$OUT/lintian-tmp"
	mkdir "$OUT/lintian-tmp"
	rc=0
	TMPDIR=$OUT/lintian-tmp lintian --allow-root --fail-on error,warning --info \
		"$OUT/gatekeeper_${VERSION}_amd64.changes" || rc=$?
	rm -rf "$OUT/lintian-tmp"
	exit "$rc"
else
	echo "make-deb: lintian is not installed: the package was not checked" >&2
fi
