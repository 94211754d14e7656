#!/bin/sh
# apt-mirror.sh: print the first Debian archive URI (not the security
# archive) that this machine's apt uses for bookworm, read from /etc/apt at
# run time (the same rule as tests/vm/fetch-kernels.sh). The mirror's name is
# never written into the repository.
for f in /etc/apt/sources.list.d/*.sources; do
	[ -r "$f" ] || continue
	awk 'BEGIN{RS=""; FS="\n"}
	     { uri=""; suites="";
	       for (i=1;i<=NF;i++) {
	         if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri=u[1] }
	         if ($i ~ /^Suites:/) suites=$i }
	       if (uri != "" && uri !~ /security/ && suites ~ /bookworm/) { print uri; exit } }' "$f"
done | head -n1 | grep . && exit 0
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -r "$f" ] || continue
	awk '$1=="deb" && $0 !~ /security/ {
	       for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i ~ /:\/\//) { print $i; exit } }' "$f"
done | head -n1 | grep .
