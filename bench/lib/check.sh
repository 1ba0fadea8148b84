# shellcheck shell=bash
# Before anything is measured: each path answers what it should, so the bench
# never measures an error page or a proxy that routes elsewhere. With
# shunt-client from the client pod (every wait bounded by --timeout-ms):
#   - 200 requests for / on one connection: every one 200 from a backend pod;
#     on the split paths (l7, l7_off, haproxy, nginx) 5-15% from v2 (90/10) and
#     every pod seen; direct: every one from the first backend;
#   - split paths: 20 requests with x-bench-canary: yes, every one from v2;
#   - l4: every one from the first backend (its only endpoint), and 30 requests on a new
#     connection each, every one balanced by connect4 (the kernel's direct counter);
#   - /bytes/16384: 16,384 bytes of shunt-echo's pattern.
#
#   bench_check_path NAME   prints one line saying what was seen; 1 if something is wrong
#
# Needs lib/node.sh, lib/paths.sh, and bench_stat and BUILD from bench/run.sh.

# bench_check_client NAME ARG...: shunt-client to path NAME's address, its lines.
bench_check_client() {
	local hostport
	hostport=$("bench_path_${1}_url")
	hostport=${hostport#http://}
	shift
	pod_exec client timeout 30 "$BUILD/shunt-client" --connect "$hostport" --timeout-ms 3000 "$@"
}

bench_check_path() {
	local name=$1 out n ok v2 pods canary big d0 d1
	out=$(bench_check_client "$name" -n 200 --path /) || {
		echo "$name: shunt-client failed: $(tail -2 <<<"$out")"
		return 1
	}
	n=$(grep -c '^status=' <<<"$out")
	ok=$(grep -c '^status=200 ' <<<"$out")
	v2=$(grep -c ' version=v2 ' <<<"$out")
	pods=$(grep -o ' pod=[^ ]*' <<<"$out" | sort -u | cut -d= -f2 | tr '\n' ' ')
	pods=${pods% }
	if [ "$n" -ne 200 ] || [ "$ok" -ne 200 ]; then
		echo "$name: $ok of $n answers 200 (of 200 sent): $(grep -v '^status=200 ' <<<"$out" | head -1)"
		return 1
	fi
	case $name in
	direct | l4)
		if [ "$pods" != "${BENCH_BACKENDS[0]}" ]; then
			echo "$name: answered by $pods, not ${BENCH_BACKENDS[0]} alone"
			return 1
		fi
		;;&
	l4)
		d0=$(bench_stat direct)
		out=$(bench_check_client "$name" -n 30 --new-conn --path /) || {
			echo "$name: shunt-client --new-conn failed"
			return 1
		}
		d1=$(bench_stat direct)
		if [ "$(grep -c '^status=200 ' <<<"$out")" -ne 30 ] || [ $((d1 - d0)) -lt 30 ]; then
			echo "$name: 30 new connections: $(grep -c '^status=200 ' <<<"$out") answered 200, $((d1 - d0)) balanced in the kernel"
			return 1
		fi
		;;
	direct) ;;
	*)
		if [ "$v2" -lt 10 ] || [ "$v2" -gt 30 ]; then
			echo "$name: $v2 of 200 from v2, not about 10%"
			return 1
		fi
		if [ "$(wc -w <<<"$pods")" -ne ${#BENCH_BACKENDS[@]} ]; then
			echo "$name: answered by [$pods], not every pod"
			return 1
		fi
		out=$(bench_check_client "$name" -n 20 --path / --header 'x-bench-canary: yes') || {
			echo "$name: shunt-client with the canary header failed"
			return 1
		}
		canary=$(grep -c '^status=200 .* version=v2 ' <<<"$out")
		if [ "$canary" -ne 20 ]; then
			echo "$name: x-bench-canary: yes went to v2 $canary times of 20"
			return 1
		fi
		;;
	esac
	out=$(bench_check_client "$name" -n 1 --path /bytes/16384) || {
		echo "$name: GET /bytes/16384 failed"
		return 1
	}
	big=$(grep -c '^status=200 .* bytes=16384 .*pattern=ok' <<<"$out")
	if [ "$big" -ne 1 ]; then
		echo "$name: GET /bytes/16384: $out"
		return 1
	fi
	case $name in
	direct) echo "$name: 200/200 answered 200 by $pods; 16 KiB body ok" ;;
	l4) echo "$name: 200/200 answered 200 by $pods; 30 new connections, $((d1 - d0)) balanced by connect4; 16 KiB body ok" ;;
	*) echo "$name: 200/200 answered 200, $v2 from v2 ($((v2 / 2))%), by [$pods]; x-bench-canary: 20/20 to v2; 16 KiB body ok" ;;
	esac
}
