#!/bin/bash
# Runs every libFuzzer harness of BUILD_DIR/fuzz for SECS seconds on a copy of
# its corpus (tests/fuzz/corpus/NAME, seeds that stay as committed), one after
# the other, each bounded by timeout(1) as well. A crash, leak, sanitizer
# report or timeout fails the run; the input that caused it is kept in
# tests/fuzz/crashes/ and printed in hex. One summary line per harness:
# executions, corpus size, and the CPU seconds it ran (for docs/security.md).
#   tests/fuzz/run.sh BUILD_DIR SECS
set -u
build=${1:?BUILD_DIR}
secs=${2:-60}
cd "$(dirname "$0")/../.." || exit 2
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] && [ "$secs" -le 86400 ] || {
	echo "fuzz: SECS must be 1..86400" >&2
	exit 2
}
work=$(mktemp -d /tmp/shunt-fuzz.XXXXXX) || exit 2
trap 'rm -rf -- "$work"' EXIT
failed=0 ran=0
for bin in "$build"/fuzz/*_fuzz; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin" _fuzz)
	mkdir -p "$work/$name" "$work/$name.art"
	t0=$(awk '{ print $14 + $15 + $16 + $17 }' /proc/$$/stat)
	timeout -k 10 $((secs + 60)) "$bin" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$name.art/" \
		"$work/$name" "tests/fuzz/corpus/$name" >"$work/$name.log" 2>&1
	rc=$?
	ran=$((ran + 1))
	cpu=$(awk -v t0="$t0" -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15 + $16 + $17 - t0) / hz }' /proc/$$/stat)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
	units=$(find "$work/$name" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz: $name: ok, ${execs:-?} runs in ${secs} s, $units new inputs, ${cpu} CPU s"
		continue
	fi
	failed=$((failed + 1))
	echo "fuzz: $name: FAILED (exit $rc) after ${execs:-?} runs"
	grep -E 'ERROR|SUMMARY|runtime error|Test unit written|#[0-9]+ 0x' "$work/$name.log" | head -40
	mkdir -p tests/fuzz/crashes
	for a in "$work/$name.art"/*; do
		[ -f "$a" ] || continue
		cp "$a" "tests/fuzz/crashes/$name-$(basename "$a")"
		echo "fuzz: $name: input kept in tests/fuzz/crashes/$name-$(basename "$a"):"
		od -An -c "$a" | head -20
	done
done
[ "$ran" -gt 0 ] || { echo "fuzz: no harness in $build/fuzz" >&2; exit 1; }
echo "fuzz: $ran harnesses, $failed failed"
[ "$failed" -eq 0 ]
