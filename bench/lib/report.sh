# shellcheck shell=bash
# The bench's markdown: medians over rounds of the samples file, whose lines
# are "PATH CONNS ROUND RPS P50_US P99_US ERRORS".
#
#   bench_report_table SAMPLES "CONNS..." PATH...  | path | conns | req/s | p50 | p99 | errors |
#   bench_report_ratios SAMPLES "CONNS..."         fast path on/off, and each over direct

# bench_median SAMPLES PATH CONNS FIELD: the median of FIELD (4 rps, 5 p50, 6 p99) over rounds.
bench_median() {
	awk -v p="$2" -v c="$3" -v f="$4" '$1 == p && $2 == c { print $f }' "$1" | sort -g |
		awk '{ v[NR] = $1 } END {
			if (!NR) { print "-"; exit }
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# bench_sum SAMPLES PATH CONNS FIELD
bench_sum() {
	awk -v p="$2" -v c="$3" -v f="$4" '$1 == p && $2 == c { n += $f } END { print n + 0 }' "$1"
}

# A latency in microseconds, printed in us or ms.
bench_fmt_us() {
	awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v >= 1000) printf "%.2f ms\n", v / 1000; else printf "%.0f us\n", v }'
}

bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f\n", a / b }'
}

bench_report_table() {
	local samples=$1 conns=$2 path c
	shift 2
	echo "| path | conns | req/s | p50 | p99 | errors |"
	echo "|---|---:|---:|---:|---:|---:|"
	for c in $conns; do
		for path in "$@"; do
			printf '| %s | %s | %s | %s | %s | %s |\n' "$path" "$c" \
				"$(bench_median "$samples" "$path" "$c" 4 | awk '{ printf "%.0f", $1 }')" \
				"$(bench_fmt_us "$(bench_median "$samples" "$path" "$c" 5)")" \
				"$(bench_fmt_us "$(bench_median "$samples" "$path" "$c" 6)")" \
				"$(bench_sum "$samples" "$path" "$c" 7)"
		done
	done
}

bench_report_ratios() {
	local samples=$1 conns=$2 c on off direct
	echo "| conns | req/s on/off | p50 on/off | p99 on/off | req/s off/direct | req/s on/direct |"
	echo "|---:|---:|---:|---:|---:|---:|"
	for c in $conns; do
		on=$(bench_median "$samples" agent_on "$c" 4)
		off=$(bench_median "$samples" agent_off "$c" 4)
		direct=$(bench_median "$samples" direct "$c" 4)
		printf '| %s | %s | %s | %s | %s | %s |\n' "$c" "$(bench_ratio "$on" "$off")" \
			"$(bench_ratio "$(bench_median "$samples" agent_on "$c" 5)" "$(bench_median "$samples" agent_off "$c" 5)")" \
			"$(bench_ratio "$(bench_median "$samples" agent_on "$c" 6)" "$(bench_median "$samples" agent_off "$c" 6)")" \
			"$(bench_ratio "$off" "$direct")" "$(bench_ratio "$on" "$direct")"
	done
}
