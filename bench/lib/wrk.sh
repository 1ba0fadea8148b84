# shellcheck shell=bash
# wrk inside a pod's network namespace and cgroup (lib/node.sh pod_exec), its
# figures reduced to one line by lib/latency.lua:
# "RPS P50_US P99_US P999_US ERRORS REQUESTS".
#
#   bench_wrk_install                   apt-get install wrk when it is missing
#   bench_wrk POD URL CONNS SECS [close]
#                                       run wrk; prints the line, 1 if wrk failed.
#                                       close: "Connection: close" on every request, so
#                                       every request is a new connection (wrk reconnects
#                                       when a response says close)
#
# Errors are socket errors (connect, read, write, timeout) plus responses with a status
# of 400 or more (wrk's "Non-2xx or 3xx responses").

BENCH_WRK_LUA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/latency.lua

bench_wrk_install() {
	command -v wrk >/dev/null && return 0
	echo "bench: installing wrk (apt-get)" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk \
		>/dev/null || return 1
	command -v wrk >/dev/null
}

bench_wrk() {
	local pod=$1 url=$2 conns=$3 secs=$4 mode=${5:-keepalive} out threads line hdr=()
	threads=$((conns < 2 ? 1 : 2)) # this harness targets 2-CPU runners; wrk needs conns >= threads
	[ "$mode" = close ] && hdr=(-H 'Connection: close')
	# Bounded twice: wrk's own duration and timeout, and timeout(1) around it.
	out=$(pod_exec "$pod" timeout -k 5 $((secs + 20)) wrk -t"$threads" -c"$conns" \
		-d"${secs}s" --timeout 5s "${hdr[@]}" -s "$BENCH_WRK_LUA" "$url" 2>&1) || {
		echo "bench: wrk failed: $out" >&2
		return 1
	}
	line=$(grep '^bench-wrk ' <<<"$out" | tail -1)
	if [ -z "$line" ]; then
		echo "bench: cannot read wrk's output: $out" >&2
		return 1
	fi
	awk '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (v["duration_us"] <= 0 || v["requests"] <= 0) exit 1
		printf "%.2f %d %d %d %d %d\n", v["requests"] * 1e6 / v["duration_us"],
			v["p50_us"], v["p99_us"], v["p999_us"],
			v["connect"] + v["read"] + v["write"] + v["status"] + v["timeout"], v["requests"]
	}' <<<"$line" || {
		echo "bench: wrk measured nothing: $line" >&2
		return 1
	}
}
