#!/bin/bash
# The size rules of the code base, as TAP: no C source or header over 600
# lines, no function over 80 (counted from the line of its opening brace at
# column 0 to its closing brace at column 0, as this tree's style writes them).
#   tests/lint/sizes.sh [ROOT]
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 1
n=0 failed=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^bpf/vmlinux/' || find . -name '*.[ch]' -not -path './build/*')
long_files=$(for f in $files; do
	l=$(wc -l <"$f")
	((l > 600)) && echo "$f: $l lines"
done)
n=$((n + 1))
if [[ -z $long_files ]]; then
	echo "ok $n - no source file over 600 lines"
else
	echo "not ok $n - source files over 600 lines"
	sed 's/^/# /' <<<"$long_files"
	failed=1
fi
long_funcs=$(for f in $files; do
	awk -v f="$f" '
		/^[A-Za-z_].*\(/ && !/;[ \t]*$/ { sig = $0; sigline = NR }
		/^\{/ { start = NR; name = sig }
		/^\}/ && start { len = NR - start + 1; if (len > 80) printf "%s:%d: %d lines: %s\n", f, sigline, len, name; start = 0 }
	' "$f"
done)
n=$((n + 1))
if [[ -z $long_funcs ]]; then
	echo "ok $n - no function over 80 lines"
else
	echo "not ok $n - functions over 80 lines"
	sed 's/^/# /' <<<"$long_funcs"
	failed=1
fi
echo "1..$n"
exit "$failed"
