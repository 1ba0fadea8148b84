# shellcheck shell=bash
# What a measured process cost, from /proc, and how many TCP connections a
# pod opened.
#
#   bench_proc_ticks PID...       utime + stime of the PIDs (all their threads), in clock
#                                 ticks, summed; gone PIDs count 0
#   bench_proc_kib FIELD PID...   a /proc/PID/status field in KiB (VmHWM: peak RSS, VmRSS),
#                                 summed over the PIDs
#   bench_proc_rollup_kib FIELD PID...
#                                 a /proc/PID/smaps_rollup field in KiB (Private_Dirty: pages
#                                 only this process has written), summed over the PIDs
#   bench_pod_opens POD           TCP ActiveOpens of the pod's network namespace
#   bench_cpu_per_10k TICKS REQUESTS
#                                 CPU seconds per 10,000 requests, "-" without requests

BENCH_CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

bench_proc_ticks() {
	local pid stat sum=0 f
	for pid in "$@"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		# after "pid (comm) ": state is field 3, utime 14, stime 15
		read -r -a f <<<"${stat##*) }"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

bench_proc_kib() {
	local field=$1 pid sum=0 v
	shift
	for pid in "$@"; do
		v=$(awk -v f="$field:" '$1 == f { print $2; exit }' "/proc/$pid/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

bench_proc_rollup_kib() {
	local field=$1 pid sum=0 v
	shift
	for pid in "$@"; do
		v=$(awk -v f="$field:" '$1 == f { print $2; exit }' "/proc/$pid/smaps_rollup" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

bench_pod_opens() {
	node_exec_in "$(node_ns "$1")" "$NODE_CG_OUT" \
		awk '$1 == "Tcp:" && $6 ~ /^[0-9]+$/ { print $6; exit }' /proc/net/snmp
}

bench_cpu_per_10k() {
	awk -v t="$1" -v n="$2" -v hz="$BENCH_CLK_TCK" \
		'BEGIN { if (n <= 0) print "-"; else printf "%.4f\n", t / hz / n * 10000 }'
}
