-- wrk script of bench/lib/wrk.sh: wrk's own --latency stops at p99, so at the
-- end this prints one line with everything the bench reads, p99.9 included
-- (latencies in microseconds, as wrk records them; duration in microseconds).
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"bench-wrk requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f p999_us=%.0f " ..
		"connect=%d read=%d write=%d status=%d timeout=%d\n",
		summary.requests, summary.duration, latency:percentile(50),
		latency:percentile(99), latency:percentile(99.9),
		e.connect, e.read, e.write, e.status, e.timeout))
end
