#!/bin/bash
# Runs every test: the cmocka unit binaries and the unit scripts
# (tests/unit/*_test.py, given BUILD_DIR), then the end-to-end scripts
# (tests/e2e/*_test.sh). A script exits 0 (pass), 77 (skip: it must say
# why, loudly) or anything else (fail). Ends with one summary line.
# With SHUNT_REQUIRE_E2E=1 (CI sets it), a skipped end-to-end test fails the
# run, and so does a run in which no end-to-end test executed.
# With --sanitizers (BUILD_DIR built with ASan and UBSan), every process of the
# run writes its sanitizer reports (leaks at exit included) to a directory of
# its own, and any report fails the run, whatever the tests said.
#   tests/run.sh [--unit-only|--e2e-only] [--sanitizers] BUILD_DIR
set -u
mode=all san=0
while [ $# -gt 1 ]; do
	case $1 in
	--unit-only) mode=unit ;;
	--e2e-only) mode=e2e ;;
	--sanitizers) san=1 ;;
	*) break ;;
	esac
	shift
done
build=${1:-build}
cd "$(dirname "$0")/.." || exit 2
san_dir=
if [ "$san" = 1 ]; then
	san_dir=$(mktemp -d /tmp/shunt-san.XXXXXX) || exit 2
	export ASAN_OPTIONS="detect_leaks=1:log_path=$san_dir/asan:strip_path_prefix=$PWD/"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$san_dir/ubsan"
	echo "=== sanitizers: ASan and UBSan reports go to $san_dir"
fi

passed=0 failed=0 skipped=0 failures=() e2e_ran=0
require_e2e=${SHUNT_REQUIRE_E2E:-0}
run_one() { # name, command...
	local name=$1 rc
	shift
	echo "=== $name"
	"$@"
	rc=$?
	if [ "$rc" = 77 ] && [ "$require_e2e" = 1 ] && [[ $name == e2e/* ]]; then
		echo "$name skipped, but SHUNT_REQUIRE_E2E=1: the end-to-end tests must run here"
		rc=1
	fi
	[[ $name == e2e/* ]] && [ "$rc" != 77 ] && e2e_ran=$((e2e_ran + 1))
	case $rc in
	0) passed=$((passed + 1)); echo "--- PASS $name" ;;
	77) skipped=$((skipped + 1)); echo "--- SKIP $name" ;;
	*) failed=$((failed + 1)); failures+=("$name"); echo "--- FAIL $name (exit $rc)" ;;
	esac
}

if [ "$mode" != e2e ]; then
	for t in "$build"/tests/*_test; do
		[ -x "$t" ] || continue
		run_one "unit/$(basename "$t")" "$t"
	done
	for t in tests/unit/*_test.py; do
		[ -f "$t" ] || continue
		run_one "unit/$(basename "$t" .py)" python3 "$t" "$build"
	done
fi
if [ "$mode" != unit ]; then
	for t in tests/e2e/*_test.sh; do
		[ -f "$t" ] || continue
		run_one "e2e/$(basename "$t" .sh)" timeout -k 10 600 bash "$t" "$build"
	done
fi

if [ "$mode" != unit ] && [ "$require_e2e" = 1 ] && [ "$e2e_ran" -eq 0 ]; then
	echo "no end-to-end test executed, but SHUNT_REQUIRE_E2E=1"
	failed=$((failed + 1))
	failures+=("e2e (none ran)")
fi
if [ -n "$san_dir" ]; then
	reports=$(find "$san_dir" -type f | sort)
	if [ -n "$reports" ]; then
		for f in $reports; do
			echo "=== sanitizer report $(basename "$f"):"
			head -60 "$f"
		done
		failed=$((failed + 1))
		failures+=("sanitizers ($(wc -l <<<"$reports") report(s))")
	else
		echo "=== sanitizers: no report"
	fi
	rm -rf -- "$san_dir"
fi
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
