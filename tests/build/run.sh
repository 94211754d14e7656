#!/bin/bash
# The build's own promises (issue 10.5) and the command lines' (issue 14.6),
# as TAP:
#   tests/build/run.sh BUILD
# gatekeeper-ctl links only what it uses; CFLAGS on the command line add to
# the flags the code needs; quiet by default, V=1 shows commands; a failed
# step leaves no half-written target; make install puts PREFIX into the unit
# file; --help, --version and bash completion. Needs no root: scratch builds go to a temporary directory.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:?usage: tests/build/run.sh BUILD}" && pwd) || exit 1
TMP=$(mktemp -d /tmp/gk-buildtest.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
N=0 FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; shift; printf '# %s\n' "$@"; }
mk() { make -s -C "$ROOT" --no-print-directory "$@"; }

# 1. gatekeeper-ctl: no daemon library, no daemon header.
libs=$(ldd "$BUILD/gatekeeper-ctl" 2>&1)
bad=$(printf '%s\n' "$libs" | grep -E 'libclamav|libbpf|libsqlite3|libelf|libsystemd')
if [[ -x $BUILD/gatekeeper-ctl && -z $bad ]] && printf '%s\n' "$libs" | grep -q libc.so; then
	ok "gatekeeper-ctl links no libclamav, libbpf or libsqlite3"
else
	not_ok "gatekeeper-ctl links no libclamav, libbpf or libsqlite3" "$libs"
fi
incs=$(cat "$BUILD"/gatekeeper/ctl/*.d 2>/dev/null | tr ' \\:' '\n\n\n' | grep -E '^(gatekeeper|db|scanner|bpf)/' |
	grep -vxE 'gatekeeper/proto\.h|scanner/scanner\.h|gatekeeper/ctl/[a-z_]+\.(h|c)' | sort -u)
if ls "$BUILD"/gatekeeper/ctl/*.d >/dev/null 2>&1 && [[ -z $incs ]]; then
	ok "gatekeeper-ctl's sources include no daemon header (only gatekeeper/proto.h, scanner/scanner.h)"
else
	not_ok "gatekeeper-ctl's sources include no daemon header (only gatekeeper/proto.h, scanner/scanner.h)" "includes: ${incs:-no .d files}"
fi

# 2. CFLAGS from the command line cannot drop the flags the code relies on.
cmd=$(mk -n -B V=1 BUILD="$TMP/b1" CFLAGS=-O0 "$TMP/b1/gatekeeper/proto.o")
missing=""
for f in -O0 -std=c11 -Wall -Wextra -Werror -MMD -MP -I. "-I$TMP/b1"; do
	[[ " $cmd " == *" $f "* ]] || missing="$missing $f"
done
if [[ -z $missing ]]; then ok "make CFLAGS=-O0 keeps -std=c11 -Wall -Wextra -Werror, include paths, -MMD -MP"
else not_ok "make CFLAGS=-O0 keeps -std=c11 -Wall -Wextra -Werror, include paths, -MMD -MP" "missing:$missing" "$cmd"; fi
cmd=$(mk -n -B V=1 BUILD="$TMP/b1" CFLAGS="-O1 -Wno-error" LDFLAGS=-Wl,-O1 "$TMP/b1/gatekeeper-ctl")
if [[ $cmd == *"-Wno-error"*"-Werror"* && $cmd == *"-Wl,-O1"* ]]; then
	ok "user CFLAGS come before the required ones (-Werror wins), LDFLAGS are kept"
else
	not_ok "user CFLAGS come before the required ones (-Werror wins), LDFLAGS are kept" "$cmd"
fi

# 3. Quiet by default, V=1 prints the commands; both really build.
quiet=$(make -C "$ROOT" --no-print-directory BUILD="$TMP/b2" "$TMP/b2/gatekeeper/proto.o" 2>&1)
loud=$(make -C "$ROOT" --no-print-directory -B V=1 BUILD="$TMP/b2" "$TMP/b2/gatekeeper/proto.o" 2>&1)
if [[ $quiet == *"CC"*"proto.o"* && $quiet != *"-Wall"* && $loud == *"-Wall"*"proto.c"* && -f $TMP/b2/gatekeeper/proto.o ]]; then
	ok "quiet by default (one line per step), V=1 prints the commands"
else
	not_ok "quiet by default (one line per step), V=1 prints the commands" "default: $quiet" "V=1: $loud"
fi

# 4. .DELETE_ON_ERROR: a recipe that fails after its redirect created the
# target leaves no (empty) target to fool the next make. The skeleton is
# such a recipe (bpftool ... > $@); its inputs are copied in, up to date.
mkdir -p "$TMP/b3"
cp "$BUILD/vmlinux.h" "$BUILD/gatekeeper.bpf.o" "$TMP/b3/" 2>/dev/null && touch "$TMP/b3/vmlinux.h" &&
	touch "$TMP/b3/gatekeeper.bpf.o"
mk BUILD="$TMP/b3" BPFTOOL=false "$TMP/b3/gatekeeper.skel.h" >/dev/null 2>&1
rc=$?
if [[ -f $TMP/b3/gatekeeper.bpf.o && $rc -ne 0 && ! -e $TMP/b3/gatekeeper.skel.h ]]; then
	ok "a failed step leaves no half-written target (.DELETE_ON_ERROR)"
else
	not_ok "a failed step leaves no half-written target (.DELETE_ON_ERROR)" "make exit $rc; $(ls -l "$TMP/b3" 2>&1)"
fi

# 5. make install: PREFIX reaches the unit file, completion is installed.
out=$(mk install DESTDIR="$TMP/root" PREFIX=/opt/gk 2>&1)
unit=$TMP/root/lib/systemd/system/gatekeeperd.service
exec_start=$(grep '^ExecStart=' "$unit" 2>/dev/null)
if [[ $exec_start == "ExecStart=/opt/gk/sbin/gatekeeperd "* && -x $TMP/root/opt/gk/sbin/gatekeeperd &&
	! $(grep -c /usr/local "$unit") -gt 0 ]]; then
	ok "make install PREFIX=/opt/gk: the unit runs /opt/gk/sbin/gatekeeperd"
else
	not_ok "make install PREFIX=/opt/gk: the unit runs /opt/gk/sbin/gatekeeperd" "$exec_start" "$out"
fi
comp=$TMP/root/opt/gk/share/bash-completion/completions/gatekeeper-ctl
if [[ -f $comp ]] && bash -n "$comp"; then
	ok "make install: bash completion for gatekeeper-ctl"
else
	not_ok "make install: bash completion for gatekeeper-ctl" "$comp missing or not bash"
fi

# 6. The helper programs of tests and benchmarks have Makefile rules.
plan=$(mk -n -B V=1 BUILD="$TMP/b4" helpers vm-helpers bench-helpers vmbench-helpers 2>&1)
missing=""
for src in tests/integration/spawner.c tests/integration/routes.c tests/integration/tail.c \
	tests/vm/gk_vmtool.c tests/vm/gk_hello.c tests/vm/gk_kload.c bench/spawn_bench.c bench/spawn_spec.c \
	bench/gk_probe.c bench/raw_responder.c bench/sha_bench.c bench/scan_bench.c bench/tiny.c tests/bench/db_fill.c; do
	[[ $plan == *"$src"* ]] || missing="$missing $src"
done
if [[ -z $missing ]]; then ok "every test and bench helper is built by a Makefile rule"
else not_ok "every test and bench helper is built by a Makefile rule" "no rule builds:$missing"; fi

# 7. --help: every option and verb on a line of its own, and EXAMPLES;
# --version on both programs.
for prog in gatekeeperd gatekeeper-ctl; do
	help=$("$BUILD/$prog" --help 2>&1)
	rc=$?
	ver=$("$BUILD/$prog" --version 2>&1)
	missing=""
	if [[ $prog == gatekeeperd ]]; then
		items="--policy --db --socket --foreground --no-kernel-cache --no-bpf --workers --scan-workers --max-pending --subuid --help --version"
	else
		items="--socket --json --help --version status query allow deny forget"
		items="$items 'policy check' 'policy apply' 'policy show' 'policy suggest' log metrics top"
		items="$items 'suggest --since' 'suggest --by' 'log --since' 'log --until' 'log --verdict'"
		items="$items 'log --path' 'log --json' 'log -f' 'top -d' 'top -b' 'top -n' 'top --sort'"
	fi
	eval "set -- $items"
	for item; do
		[[ $(grep -c -- "^  .*$item" <<<"$help") -ge 1 ]] || missing="$missing '$item'"
	done
	grep -q '^EXAMPLES:$' <<<"$help" || missing="$missing EXAMPLES"
	if [[ $rc -eq 0 && -z $missing && $ver =~ ^$prog\ [0-9] ]]; then
		ok "$prog --help lists every option and verb and has EXAMPLES; --version: $ver"
	else
		not_ok "$prog --help lists every option and verb and has EXAMPLES; --version" \
			"exit $rc, not listed:$missing, version: '$ver'"
	fi
done

# 8. bash completion: verbs, sub-verbs, options, paths.
complete_words() { # the completions for the command line "$@" (last word: the one being typed)
	bash -c '
		complete() { :; }
		compopt() { :; }
		. "$0"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_gatekeeper_ctl
		printf "%s\n" "${COMPREPLY[@]}"' "$ROOT/packaging/gatekeeper-ctl.bash-completion" "$@" 2>&1 | sort | tr '\n' ' '
}
mkdir -p "$TMP/compl" && touch "$TMP/compl/prog-a" "$TMP/compl/prog-b"
c1=$(complete_words gatekeeper-ctl "")
c2=$(complete_words gatekeeper-ctl po)
c3=$(complete_words gatekeeper-ctl policy "")
c4=$(complete_words gatekeeper-ctl --json query "$TMP/compl/prog-")
c5=$(complete_words gatekeeper-ctl --so)
c6=$(complete_words gatekeeper-ctl log --verdict w)
if [[ $c1 == *"allow deny forget log metrics policy query status top "* && $c2 == "policy " &&
	$c3 == "apply check show suggest " && $c4 == "$TMP/compl/prog-a $TMP/compl/prog-b " &&
	$c5 == "--socket " && $c6 == "would-deny " ]]; then
	ok "bash completion: verbs, policy sub-verbs, paths, options, option values"
else
	not_ok "bash completion: verbs, policy sub-verbs, paths, options, option values" \
		"verbs: $c1" "po: $c2" "policy: $c3" "query path: $c4" "--so: $c5" "--verdict w: $c6"
fi

echo "1..$N"
[[ $FAILED -eq 0 ]]
