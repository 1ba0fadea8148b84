# shellcheck shell=bash
# The bench's markdown. The samples file has one line per measurement:
#   PATH BODY CONNS ROUND RPS P50_US P99_US P999_US ERRORS REQUESTS CPU10K OPENS KCONN HWM_KIB
# (CONNS "16" keep-alive, "16:close" a new connection per request; CPU10K the proxy's CPU
# seconds per 10,000 requests; OPENS the client's TCP connections per request; KCONN the
# kernel's captured (l7) or direct (l4) connections per request; HWM_KIB the proxy's
# VmHWM; "-" where a path has no proxy or no such counter).
#
#   bench_report_table SAMPLES PATHS            every figure, medians over rounds
#   bench_report_ratios SAMPLES PATHS           shunt over each peer
#   bench_report_rss SAMPLES PATHS              peak RSS per path's process
#   bench_report_routes ROUTES                  route_bench routes' lines as a table
#   bench_report_scale SCALE AGENT              route_bench scale's lines and the real agent's
#   bench_report_targets SAMPLES ROUTES AGENT   pass or miss, never a failure
# Bodies and connection counts come from BENCH_CASES ("BODY CONNS" words, in order).

F_RPS=5 F_P50=6 F_P99=7 F_P999=8 F_ERR=9 F_CPU=11 F_OPENS=12 F_KCONN=13 F_HWM=14

# bench_median SAMPLES PATH BODY CONNS FIELD: the median of FIELD over rounds ("-": none).
bench_median() {
	awk -v p="$2" -v b="$3" -v c="$4" -v f="$5" \
		'$1 == p && $2 == b && $3 == c && $f != "-" { print $f }' "$1" | sort -g |
		awk '{ v[NR] = $1 } END {
			if (!NR) { print "-"; exit }
			print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# bench_sum SAMPLES PATH BODY CONNS FIELD
bench_sum() {
	awk -v p="$2" -v b="$3" -v c="$4" -v f="$5" \
		'$1 == p && $2 == b && $3 == c { n += $f; seen = 1 } END { print seen ? n : "-" }' "$1"
}

# A latency in microseconds, printed in us or ms.
bench_fmt_us() {
	awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else if (v >= 1000) printf "%.2f ms\n", v / 1000; else printf "%.0f us\n", v }'
}

# bench_fmt NUM PRINTF_FORMAT: "-" stays "-".
bench_fmt() {
	awk -v v="$1" -v f="$2" 'BEGIN { if (v == "-") print "-"; else printf f "\n", v }'
}

bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f\n", a / b }'
}

# A ratio as "1.23x", "-" as it is.
bench_times() {
	[ "$1" = - ] && echo - || echo "${1}x"
}

# "16" -> "16", "16:close" -> "16, new conn/req".
bench_fmt_conns() {
	case $1 in
	*:close) echo "${1%%:*} (new conn/req)" ;;
	*) echo "$1" ;;
	esac
}

bench_has_path() {
	local p
	for p in $2; do
		[ "$p" = "$1" ] && return 0
	done
	return 1
}

bench_report_table() {
	local samples=$1 paths=$2 body conns path
	echo "| body | conns | path | req/s | p50 | p99 | p99.9 | errors | CPU s / 10k req | conns opened / req | kernel conns / req |"
	echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	while read -r body conns; do
		for path in $paths; do
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$body" \
				"$(bench_fmt_conns "$conns")" "$path" \
				"$(bench_fmt "$(bench_median "$samples" "$path" "$body" "$conns" $F_RPS)" %.0f)" \
				"$(bench_fmt_us "$(bench_median "$samples" "$path" "$body" "$conns" $F_P50)")" \
				"$(bench_fmt_us "$(bench_median "$samples" "$path" "$body" "$conns" $F_P99)")" \
				"$(bench_fmt_us "$(bench_median "$samples" "$path" "$body" "$conns" $F_P999)")" \
				"$(bench_sum "$samples" "$path" "$body" "$conns" $F_ERR)" \
				"$(bench_fmt "$(bench_median "$samples" "$path" "$body" "$conns" $F_CPU)" %.3f)" \
				"$(bench_fmt "$(bench_median "$samples" "$path" "$body" "$conns" $F_OPENS)" %.2f)" \
				"$(bench_fmt "$(bench_median "$samples" "$path" "$body" "$conns" $F_KCONN)" %.2f)"
		done
	done <<<"$BENCH_CASES"
}

# bench_r SAMPLES A B BODY CONNS FIELD: median of A over median of B.
bench_r() {
	bench_ratio "$(bench_median "$1" "$2" "$4" "$5" "$6")" "$(bench_median "$1" "$3" "$4" "$5" "$6")"
}

bench_report_ratios() {
	local samples=$1 paths=$2 body conns peer row head sep
	head="| body | conns |"
	sep="|---|---:|"
	for peer in haproxy nginx; do
		bench_has_path "$peer" "$paths" || continue
		head+=" L7/$peer req/s | L7/$peer p99 | L7/$peer CPU per req |"
		sep+="---:|---:|---:|"
	done
	bench_has_path direct "$paths" && {
		head+=" L4/direct req/s | L4/direct p99 | L7/direct req/s |"
		sep+="---:|---:|---:|"
	}
	bench_has_path l7_off "$paths" && {
		head+=" L7 fast path on/off req/s | on/off p99 |"
		sep+="---:|---:|"
	}
	echo "$head"
	echo "$sep"
	while read -r body conns; do
		row="| $body | $(bench_fmt_conns "$conns") |"
		for peer in haproxy nginx; do
			bench_has_path "$peer" "$paths" || continue
			row+=" $(bench_r "$samples" l7 "$peer" "$body" "$conns" $F_RPS) |"
			row+=" $(bench_r "$samples" l7 "$peer" "$body" "$conns" $F_P99) |"
			row+=" $(bench_r "$samples" l7 "$peer" "$body" "$conns" $F_CPU) |"
		done
		if bench_has_path direct "$paths"; then
			row+=" $(bench_r "$samples" l4 direct "$body" "$conns" $F_RPS) |"
			row+=" $(bench_r "$samples" l4 direct "$body" "$conns" $F_P99) |"
			row+=" $(bench_r "$samples" l7 direct "$body" "$conns" $F_RPS) |"
		fi
		if bench_has_path l7_off "$paths"; then
			row+=" $(bench_r "$samples" l7 l7_off "$body" "$conns" $F_RPS) |"
			row+=" $(bench_r "$samples" l7 l7_off "$body" "$conns" $F_P99) |"
		fi
		echo "$row"
	done <<<"$BENCH_CASES"
}

bench_report_rss() {
	local samples=$1 paths=$2 path peak
	echo "| path | process | peak RSS (VmHWM) |"
	echo "|---|---|---:|"
	for path in $paths; do
		peak=$(awk -v p="$path" -v f=$F_HWM '$1 == p && $f != "-" && $f > m { m = $f } END { print m ? m : "-" }' "$samples")
		case $path in
		direct) continue ;;
		l7 | l7_off) printf '| %s | shuntd | %s |\n' "$path" "$(bench_fmt_mib "$peak")" ;;
		l4) printf '| %s | shuntd (idle: the kernel balances) | %s |\n' "$path" "$(bench_fmt_mib "$peak")" ;;
		haproxy) printf '| %s | haproxy | %s |\n' "$path" "$(bench_fmt_mib "$peak")" ;;
		nginx) printf '| %s | nginx master + workers (summed) | %s |\n' "$path" "$(bench_fmt_mib "$peak")" ;;
		esac
	done
}

# KiB -> "12.3 MiB".
bench_fmt_mib() {
	awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.1f MiB\n", v / 1024 }'
}

# route_bench's "route RULES CASE NS ITERS" lines.
bench_report_routes() {
	local routes=$1
	[ -s "$routes" ] || {
		echo "(not measured)"
		return
	}
	echo "| rules | first rule matches | last rule matches | no rule matches |"
	echo "|---:|---:|---:|---:|"
	awk '$1 == "route" { ns[$2 " " $3] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
		function f(v) { if (v == "") return "-"; return v >= 1000 ? sprintf("%.2f us", v / 1000) : sprintf("%.0f ns", v) }
		END { for (i = 1; i <= n; i++) { r = order[i]
			printf "| %s | %s | %s | %s |\n", r, f(ns[r " first"]), f(ns[r " last"]), f(ns[r " miss"]) } }' "$routes"
}

# bench_scale_get FILE KEY
bench_scale_get() {
	awk -v k="$2" '$1 == "scale" && $2 == k { print $3; exit }' "$1" 2>/dev/null
}

# bench_agent_get FILE PODS KEY: from the real agent runs' "agent PODS KEY VALUE" lines.
bench_agent_get() {
	awk -v p="$2" -v k="$3" '$1 == "agent" && $2 == p && $3 == k { print $4; exit }' "$1" 2>/dev/null
}

# bench_scale_g KEY: bench_scale_get of bench_report_scale's file, "-" when missing.
bench_scale_g() {
	local v
	v=$(bench_scale_get "$scale" "$1")
	echo "${v:--}"
}

bench_report_scale() {
	local scale=$1 agent=$2 pods
	if [ -s "$scale" ]; then
		echo "In one process (build/route_bench scale): $(bench_scale_g services) services (a DestinationRule with two subsets each, a VirtualService every 10th: header match, 90/10), $(bench_scale_g pods) pods; $(bench_scale_g yaml_mib) MiB of YAML."
		echo
		echo "| step | time | heap (malloc) | RSS growth |"
		echo "|---|---:|---:|---:|"
		echo "| config load (YAML -> config) | $(bench_scale_g config_load_ms) ms | $(bench_scale_g config_heap_mib) MiB | $(bench_scale_g config_rss_mib) MiB |"
		echo "| route table build ($(bench_scale_g clusters) clusters) | $(bench_scale_g table_build_ms) ms | $(bench_scale_g table_heap_mib) MiB | $(bench_scale_g table_rss_mib) MiB |"
		echo "| kern_open (load programs, pin maps) | $(bench_scale_g kern_open_ms) ms | | |"
		echo "| kern_sync_services into empty maps ($(bench_scale_g kern_l7) L7 + $(bench_scale_g kern_direct) L4 service ports, $(bench_scale_g kern_slots) backend slots) | $(bench_scale_g kern_sync_first_ms) ms | | |"
		echo "| kern_sync_services again, unchanged | $(bench_scale_g kern_sync_again_ms) ms | | |"
	else
		echo "(route_bench scale not run)"
	fi
	echo
	if [ -s "$agent" ]; then
		echo "A real shuntd on the bench node with that config (build/route_bench gen), from start to /ready 200, then its memory (Private_Dirty, from smaps_rollup: what is the agent's own, not shared libraries' pages):"
		echo
		echo "| services | pods | start to ready | VmRSS | VmHWM (peak) | Private_Dirty |"
		echo "|---:|---:|---:|---:|---:|---:|"
		for pods in $(awk '$1 == "agent" { print $2 }' "$agent" | sort -un); do
			printf '| %s | %s | %s s | %s | %s | %s |\n' "$(bench_agent_get "$agent" "$pods" services)" \
				"$pods" "$(bench_agent_get "$agent" "$pods" ready_s)" \
				"$(bench_fmt_mib "$(bench_agent_get "$agent" "$pods" rss_kib)")" \
				"$(bench_fmt_mib "$(bench_agent_get "$agent" "$pods" hwm_kib)")" \
				"$(bench_fmt_mib "$(bench_agent_get "$agent" "$pods" private_dirty_kib)")"
		done
	fi
}

# bench_target LABEL FIGURE OK: one row; OK is 1 (pass), 0 (miss) or "-" (not measured).
bench_target() {
	local verdict=miss
	[ "$3" = 1 ] && verdict=pass
	[ "$3" = - ] && verdict="not measured"
	printf '| %s | %s | %s |\n' "$1" "$2" "$verdict"
}

# awk's verdict on a comparison of two figures ("-" when either is missing).
bench_cmp() {
	awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
		if (a == "-" || b == "-" || a == "" || b == "") { print "-"; exit }
		print (op == ">=" ? a >= b : a <= b) ? 1 : 0 }'
}

bench_report_targets() {
	local samples=$1 routes=$2 agent=$3 c r l7 hp worst hwm conns
	echo "| target | figure | |"
	echo "|---|---|---|"
	for c in 16 64; do
		l7=$(bench_median "$samples" l7 small "$c" $F_RPS)
		hp=$(bench_median "$samples" haproxy small "$c" $F_RPS)
		r=$(bench_ratio "$l7" "$hp")
		bench_target "shunt L7 req/s >= 1.2x HAProxy's, $c conns" "$(bench_times "$r")" "$(bench_cmp "$r" ">=" 1.2)"
		l7=$(bench_median "$samples" l7 small "$c" $F_P99)
		hp=$(bench_median "$samples" haproxy small "$c" $F_P99)
		if [ "$l7" = - ] || [ "$hp" = - ]; then r=-; else r="$(bench_fmt_us "$l7") vs $(bench_fmt_us "$hp")"; fi
		bench_target "shunt L7 p99 <= HAProxy's, $c conns" "$r" "$(bench_cmp "$l7" "<=" "$hp")"
	done
	conns=$(awk '$1 == "small" { print $2 }' <<<"$BENCH_CASES")
	for c in $conns; do
		r=$(bench_r "$samples" l4 direct small "$c" $F_RPS)
		bench_target "shunt L4 req/s >= 0.95x direct, $(bench_fmt_conns "$c") conns" "$(bench_times "$r")" "$(bench_cmp "$r" ">=" 0.95)"
	done
	worst=$(awk '$1 == "route" && $2 == 1000 && $4 > w { w = $4; c = $3 } END { if (c != "") print w, c }' "$routes" 2>/dev/null)
	if [ -n "$worst" ]; then
		bench_target "route selection <= 1 us per request at 1,000 routes (worst of first, last, miss)" \
			"$(awk '{ printf "%.0f ns", $1 }' <<<"$worst") (${worst#* })" \
			"$(bench_cmp "${worst%% *}" "<=" 1000)"
	else
		bench_target "route selection <= 1 us per request at 1,000 routes" "-" -
	fi
	hwm=$(bench_agent_get "$agent" 100000 hwm_kib)
	bench_target "agent RSS <= 30 MiB with 10,000 services (and 100,000 pods; VmHWM)" \
		"$(bench_fmt_mib "${hwm:--}")" "$(bench_cmp "${hwm:--}" "<=" $((30 * 1024)))"
}
