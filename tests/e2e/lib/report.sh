# shellcheck shell=bash
# What every end-to-end script reports with: one "ok - " or "not ok - " line
# per assertion (counted in passed and failed), "#   " lines under a failure,
# a loud banner and exit 77 for a skip. Source it after setting TEST_NAME;
# counter needs BUILD and NODE_PIN (lib/node.sh).

passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok - $*"
}

not_ok() {
	failed=$((failed + 1))
	echo "not ok - $*"
}

# check DESCRIPTION COMMAND...: ok if COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then
		ok "$what"
	else
		not_ok "$what"
	fi
}

# Shows a command's output (or stdin) under a failed assertion.
show() {
	sed 's/^/#   /' "$@"
}

skip() {
	echo "########################################################################"
	echo "# SKIP ${TEST_NAME:-$(basename "$0" .sh)}: $*"
	echo "########################################################################"
	exit 77
}

fatal() {
	echo "# fatal: $*"
	exit 1
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# counter NAME: one kernel counter, from shuntctl.
counter() {
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" stats 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }'
}

# unchanged A B: both are counter values (numbers) and equal.
unchanged() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" = "$2" ]
}

# grew_by A B N: both are counter values and B - A = N.
grew_by() {
	[[ $1 =~ ^[0-9]+$ ]] && [[ $2 =~ ^[0-9]+$ ]] && [ $(($2 - $1)) -eq "$3" ]
}
