# Sourced by the guest suites: TAP helpers and test files.
# A test file is gk-hello plus an 8-byte trailer (its tag): running it
# prints "ran TAG", so a test sees which content actually ran.

ok() { echo "GKTAP ok - $1"; }
not_ok() {
	echo "GKTAP not ok - $1"
	[ -n "$2" ] && echo "GKTAP #   $2"
	return 0
}
# expect NAME WANT GOT: GOT contains WANT.
expect() {
	case "$3" in
	*"$2"*) ok "$1" ;;
	*) not_ok "$1" "want '$2', got '$3'" ;;
	esac
}
# expect_not NAME UNWANTED GOT
expect_not() {
	case "$3" in
	*"$2"*) not_ok "$1" "got '$3'" ;;
	*) ok "$1" ;;
	esac
}
comment() { echo "GKTAP # $*"; }

# mkprog PATH TAG: a runnable test file whose content is tagged TAG (8 chars).
mkprog() {
	cp /gk/gk-hello "$1" && printf '%s' "$2" >> "$1" && chmod 755 "$1"
}
# run PATH: exec it (bounded), print what happened on one line.
run() {
	timeout 20 gk-vmtool exec "$1" 2>&1 | flat
}
# flat: join lines with spaces, trim.
flat() { tr '\n' ' ' | sed 's/ *$//'; }
