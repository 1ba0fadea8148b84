# shellcheck shell=bash
# wrk inside a pod's network namespace and cgroup (lib/node.sh pod_exec), and
# its --latency output reduced to one line: "RPS P50_US P99_US ERRORS".
#
#   bench_wrk_install             apt-get install wrk when it is missing
#   bench_wrk POD URL CONNS SECS  run wrk; prints the line, 1 if wrk failed

bench_wrk_install() {
	command -v wrk >/dev/null && return 0
	echo "bench: installing wrk (apt-get)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk \
		>/dev/null || return 1
	command -v wrk >/dev/null
}

# A wrk duration ("123.45us", "1.20ms", "2.00s", "1.00m") in microseconds.
bench_wrk_us() {
	awk -v d="$1" 'BEGIN {
		n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
		f = u == "us" ? 1 : u == "ms" ? 1000 : u == "s" ? 1000000 : u == "m" ? 60000000 : -1
		if (f < 0) exit 1
		printf "%.1f\n", n * f
	}'
}

bench_wrk() {
	local pod=$1 url=$2 conns=$3 secs=$4 out threads rps p50 p99 errs
	threads=$((conns < 2 ? 1 : 2)) # this harness targets 2-CPU runners; wrk needs conns >= threads
	# Bounded twice: wrk's own duration and timeout, and timeout(1) around it.
	out=$(pod_exec "$pod" timeout -k 5 $((secs + 20)) wrk -t"$threads" -c"$conns" \
		-d"${secs}s" --timeout 5s --latency "$url" 2>&1) || {
		echo "bench: wrk failed: $out" >&2
		return 1
	}
	rps=$(awk '$1 == "Requests/sec:" { print $2 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	# "Non-2xx or 3xx responses: N" and "Socket errors: connect A, read B, write C, timeout D"
	errs=$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
		/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
		END { print n + 0 }' <<<"$out")
	if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then
		echo "bench: cannot read wrk's output: $out" >&2
		return 1
	fi
	echo "$rps $(bench_wrk_us "$p50") $(bench_wrk_us "$p99") $errs"
}
