#!/bin/sh
# apt-mirror.sh: print the first Debian archive URI that this machine's apt
# uses for bookworm's main component (a source whose suites include
# "bookworm" itself: not the security archive, not a third party's suite
# such as "cloud-sdk-bookworm"), read from /etc/apt at run time. The
# mirror's name is never written into the repository. Used by
# tests/sys/mkrootfs.sh and tests/vm/fetch-kernels.sh.
for f in /etc/apt/sources.list.d/*.sources; do
	[ -r "$f" ] || continue
	awk 'BEGIN{RS=""; FS="\n"}
	     { uri=""; suite=0; main=0; deb=0;
	       for (i=1;i<=NF;i++) {
	         if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb=1
	         if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri=u[1] }
	         if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) suite=1
	         if ($i ~ /^Components:/ && $i ~ /[ \t]main([ \t]|$)/) main=1 }
	       if (deb && uri != "" && suite && main) { print uri; exit } }' "$f"
done | head -n1 | grep . && exit 0
# One-line style: deb [options] URI SUITE COMPONENT...
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -r "$f" ] || continue
	awk '$1 == "deb" {
	       i = 2
	       if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
	       if ($(i + 1) != "bookworm") next
	       for (c = i + 2; c <= NF; c++) if ($c == "main") { print $i; exit } }' "$f"
done | head -n1 | grep .
