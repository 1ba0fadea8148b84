#!/bin/bash
# make bench: shunt against the direct path, HAProxy and nginx, in one run, on
# one node built from network namespaces (tests/e2e/lib/node.sh): a client pod
# and three shunt-echo pods (two v1, one v2). Paths (bench/lib/paths.sh):
# direct (the floor), shunt L7 (captured: a header match, then 90/10 over two
# subsets), shunt L4 (balanced by connect4, no agent on the path), HAProxy and
# nginx (in the node's namespace, the same routing, as many threads or
# processes as shuntd's --workers). Each is checked first (lib/check.sh), so
# no error page is ever measured. Then rounds: in each, every case (body size,
# connections) runs every path in turn (A B C A B C ...), each after its own
# warm-up, so a drift of the machine hits every path alike. wrk in the client
# pod (lib/wrk.sh); the proxy's CPU and peak RSS from /proc (lib/proc.sh).
# Then route selection at scale and a 10,000-service config (build/route_bench,
# and a real shuntd loading it). Prints a markdown table and writes it to
# bench/results/<date>-<hostname>.md (-2, -3, ... for later runs that day).
# Figures are information: targets are reported as pass or miss, never a
# failure.
#
#   bench/run.sh [--rounds N] [--duration S] [--warmup S] [--paths "direct l7 l4 haproxy nginx"]
#                [--conns "1 16 64 16:close"] [--big-conns "16"] [--workers N] [--no-micro]
#                [--no-load] [--out FILE] [BUILD_DIR]
#
#   --paths      any of direct l7 l7_off l4 haproxy nginx (l7_off: shunt with --fast-path off)
#   --conns      wrk connections for GET / (a 10-byte body); N:close makes every request a
#                new connection (Connection: close), N at a time
#   --big-conns  the same for GET /bytes/16384 (a 16 KiB body); "" for none
#   --workers    shuntd --workers, HAProxy nbthread, nginx worker_processes (default 1)
#   --no-micro   skip route selection and the 10,000-service config
#   --no-load    only those (no wrk, no peers)
#   --out FILE   write the markdown there instead of bench/results/ (smoke runs)
#
# The defaults take about 8 minutes on 2 CPUs. Needs root (network namespaces,
# cgroups, bpf), like the end-to-end tests; installs wrk, haproxy and nginx
# with apt-get when they are missing (their services are never started).
# Exit 0 when every measurement ran, 1 otherwise.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=3
DURATION=4
WARMUP=1
PATHS="direct l7 l4 haproxy nginx"
CONNS="1 16 64 16:close"
BIG_CONNS="16"
BENCH_WORKERS=1
MICRO=1
LOAD=1
OUT=
BUILD=build
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--paths) PATHS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--big-conns) BIG_CONNS=$2; shift 2 ;;
	--workers) BENCH_WORKERS=$2; shift 2 ;;
	--no-micro) MICRO=0; shift ;;
	--no-load) LOAD=0; shift ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,35p' "$0"; exit 0 ;;
	-*) echo "bench: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
for v in "$ROUNDS" "$DURATION" "$WARMUP"; do
	if ! [[ $v =~ ^[0-9]+$ ]] || [ "$v" -lt 1 ] || [ "$v" -gt 60 ]; then
		echo "bench: --rounds, --duration and --warmup take 1..60" >&2
		exit 2
	fi
done
if ! [[ $BENCH_WORKERS =~ ^[0-9]+$ ]] || [ "$BENCH_WORKERS" -lt 1 ] || [ "$BENCH_WORKERS" -gt 64 ]; then
	echo "bench: --workers takes 1..64" >&2
	exit 2
fi
for c in $CONNS $BIG_CONNS; do
	if ! [[ $c =~ ^([0-9]+)(:close)?$ ]] || [ "${BASH_REMATCH[1]}" -lt 1 ] || [ "${BASH_REMATCH[1]}" -gt 512 ]; then
		echo "bench: connections are N or N:close, N in 1..512, not $c" >&2
		exit 2
	fi
done

# shellcheck source=tests/e2e/lib/node.sh
source "$ROOT/tests/e2e/lib/node.sh"
# shellcheck source=bench/lib/wrk.sh
source "$HERE/lib/wrk.sh"
# shellcheck source=bench/lib/proc.sh
source "$HERE/lib/proc.sh"
# shellcheck source=bench/lib/peers.sh
source "$HERE/lib/peers.sh"
# shellcheck source=bench/lib/paths.sh
source "$HERE/lib/paths.sh"
# shellcheck source=bench/lib/check.sh
source "$HERE/lib/check.sh"
# shellcheck source=bench/lib/report.sh
source "$HERE/lib/report.sh"

for p in $PATHS; do
	bench_has_path "$p" "${BENCH_ALL_PATHS[*]}" || {
		echo "bench: no path $p (paths: ${BENCH_ALL_PATHS[*]})" >&2
		exit 2
	}
done
[ "$LOAD" = 1 ] || PATHS=""

BENCH_VIP=10.96.77.20    # service echo: L7
BENCH_VIP_L4=10.96.77.21 # service echo-l4: the same pods, no rule
BENCH_PORT=8080
BENCH_BACKENDS=(echo-a echo-b echo-c)
BENCH_V2=(echo-c)
BENCH_TMP=
BENCH_SCALE_PIN=
# The cases, "BODY CONNS" a line: small is GET / ("echo-a v1\n"), 16KiB GET /bytes/16384.
BENCH_CASES=$(for c in $CONNS; do echo "small $c"; done; for c in $BIG_CONNS; do echo "16KiB $c"; done)

[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root" >&2; exit 1; }
why=$(node_unsupported)
[ -z "$why" ] || { echo "bench: cannot build a node: $why" >&2; exit 1; }
make -C "$ROOT" --no-print-directory -j2 all >&2 || exit 1
BUILD=$(cd "$ROOT" && cd "$BUILD" && pwd)

finish() {
	local rc=$?
	trap - EXIT INT TERM
	bench_policy_rc_remove
	node_down
	[ -n "$BENCH_SCALE_PIN" ] && [ -e "$BENCH_SCALE_PIN" ] && rm -rf -- "$BENCH_SCALE_PIN"
	[ -n "$BENCH_TMP" ] && rm -rf -- "$BENCH_TMP"
	exit "$rc"
}
trap finish EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM
if [ -n "$PATHS" ]; then
	bench_wrk_install || { echo "bench: wrk is missing and apt-get could not install it" >&2; exit 1; }
	if bench_has_path haproxy "$PATHS" || bench_has_path nginx "$PATHS"; then
		bench_peers_install || { echo "bench: haproxy or nginx is missing and apt-get could not install them" >&2; exit 1; }
	fi
fi
BENCH_TMP=$(mktemp -d /tmp/shunt-bench.XXXXXX) || exit 1

pods=(client=10.77.0.10)
for ((i = 0; i < ${#BENCH_BACKENDS[@]}; i++)); do
	pods+=("${BENCH_BACKENDS[$i]}=10.77.0.$((11 + i))")
done
node_declare_pods "${pods[@]}" || exit 1
node_up || { echo "bench: node_up failed" >&2; exit 1; }
specs=()
for pod in "${BENCH_BACKENDS[@]}"; do
	version=v1
	bench_is_v2 "$pod" && version=v2
	specs+=("$pod:$BENCH_PORT:$version")
done
node_start_echos "$BUILD/shunt-echo" "$BENCH_TMP" "${specs[@]}" || exit 1
bench_write_config "$BENCH_TMP/config"
# New connections per request: the client reuses ports in TIME_WAIT and has the whole range.
node_exec_in "$(node_ns client)" "$NODE_CG_OUT" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
	net.ipv4.ip_local_port_range="1024 65535" || exit 1

# bench_stat NAME: one kernel counter (shuntctl stats).
bench_stat() {
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" stats 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }'
}

# The kernel counter that counts path $1's connections, if any.
bench_kernel_counter() {
	case $1 in
	l7 | l7_off) echo captured ;;
	l4) echo direct ;;
	esac
}

# bench_body_path BODY: the request path.
bench_body_path() {
	case $1 in
	small) echo / ;;
	16KiB) echo /bytes/16384 ;;
	esac
}

# bench_measure PATH BODY CONNS SECS: one wrk run and what it cost the path's proxy;
# prints "RPS P50 P99 P999 ERRORS REQUESTS CPU10K OPENS KCONN HWM_KIB".
bench_measure() {
	local path=$1 body=$2 spec=$3 secs=$4 conns mode=keepalive url pids kname line
	local t0 t1 o0 o1 k0=0 k1=0 reqs cpu=- hwm=- kc=- opens
	conns=${spec%%:*}
	[ "$spec" != "$conns" ] && mode=close
	url=$("bench_path_${path}_url")$(bench_body_path "$body")
	mapfile -t pids < <("bench_path_${path}_pids")
	kname=$(bench_kernel_counter "$path")
	t0=$(bench_proc_ticks "${pids[@]}")
	o0=$(bench_pod_opens client)
	[ -n "$kname" ] && k0=$(bench_stat "$kname")
	line=$(bench_wrk client "$url" "$conns" "$secs" "$mode") || return 1
	t1=$(bench_proc_ticks "${pids[@]}")
	o1=$(bench_pod_opens client)
	[ -n "$kname" ] && k1=$(bench_stat "$kname")
	read -r _ _ _ _ _ reqs <<<"$line"
	if [ ${#pids[@]} -gt 0 ]; then
		cpu=$(bench_cpu_per_10k $((t1 - t0)) "$reqs")
		hwm=$(bench_proc_kib VmHWM "${pids[@]}")
	fi
	opens=$(awk -v a="$o0" -v b="$o1" -v n="$reqs" 'BEGIN { printf "%.3f\n", (b - a) / n }')
	[ -n "$kname" ] && kc=$(awk -v a="${k0:-0}" -v b="${k1:-0}" -v n="$reqs" 'BEGIN { printf "%.3f\n", (b - a) / n }')
	echo "$line $cpu $opens $kc $hwm"
}

samples=$BENCH_TMP/samples
checks=$BENCH_TMP/checks
routes=$BENCH_TMP/routes
scale=$BENCH_TMP/scale
agent=$BENCH_TMP/agent
: >"$samples"
: >"$checks"
: >"$routes"
: >"$scale"
: >"$agent"
failures=0
t_start=$(date +%s)

# Every path answers correctly before anything is measured.
for path in $PATHS; do
	bench_path_prepare "$path" || exit 1
	if ! line=$(bench_check_path "$path"); then
		echo "bench: check failed: $line" >&2
		exit 1
	fi
	echo "bench: check $line" >&2
	echo "$line" >>"$checks"
done

if [ -n "$PATHS" ]; then
	echo "bench: $ROUNDS rounds of $PATHS; cases: $(tr '\n' ',' <<<"$BENCH_CASES" | sed 's/,$//'); ${WARMUP} s warm-up + ${DURATION} s each" >&2
fi
for ((round = 1; round <= ROUNDS && ${#PATHS} > 0; round++)); do
	while read -r body conns; do
		for path in $PATHS; do
			if ! bench_path_prepare "$path"; then
				failures=$((failures + 1))
				continue
			fi
			bench_measure "$path" "$body" "$conns" "$WARMUP" >/dev/null || true
			if line=$(bench_measure "$path" "$body" "$conns" "$DURATION"); then
				echo "$path $body $conns $round $line" >>"$samples"
				echo "bench: round $round $body c=$conns $path: $line" >&2
			else
				failures=$((failures + 1))
			fi
		done
	done <<<"$BENCH_CASES"
done
bench_peers_stop

if [ "$MICRO" = 1 ]; then
	echo "bench: route selection (build/route_bench routes)" >&2
	timeout -k 5 120 "$BUILD/route_bench" routes --ms 200 >"$routes" || {
		echo "bench: route_bench routes failed" >&2
		failures=$((failures + 1))
	}
	echo "bench: 10,000 services and 100,000 pods (build/route_bench scale)" >&2
	BENCH_SCALE_PIN=$NODE_BPFFS/shunt-$NODE_ID-scale
	timeout -k 5 300 "$BUILD/route_bench" scale --services 10000 --pods 100000 \
		--pin-dir "$BENCH_SCALE_PIN" >"$scale" || {
		echo "bench: route_bench scale failed" >&2
		failures=$((failures + 1))
	}
	# A real shuntd with 10,000 services: with 10,000 pods, then 100,000.
	BENCH_AGENT_READY=900
	for npods in 10000 100000; do
		mkdir -p "$BENCH_TMP/scale-$npods"
		"$BUILD/route_bench" gen --services 10000 --pods "$npods" "$BENCH_TMP/scale-$npods/scale.yaml" || {
			failures=$((failures + 1))
			continue
		}
		echo "bench: shuntd with 10,000 services and $npods pods" >&2
		t0=$(date +%s%N)
		if bench_agent_spawn "$BENCH_TMP/scale-$npods" "$BENCH_TMP/shuntd.scale-$npods.log" \
			--max-services 65536 --max-backends 262144; then
			{
				echo "agent $npods services 10000"
				echo "agent $npods ready_s $(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f\n", (b - a) / 1e9 }')"
				echo "agent $npods rss_kib $(bench_proc_kib VmRSS "$BENCH_AGENT_PID")"
				echo "agent $npods hwm_kib $(bench_proc_kib VmHWM "$BENCH_AGENT_PID")"
				echo "agent $npods private_dirty_kib $(bench_proc_rollup_kib Private_Dirty "$BENCH_AGENT_PID")"
			} >>"$agent"
		else
			failures=$((failures + 1))
		fi
		bench_agent_stop
		rm -rf -- "${BENCH_TMP:?}/scale-$npods"
	done
fi
bench_agent_stop
elapsed=$(($(date +%s) - t_start))

if [ -n "$OUT" ]; then
	out=$OUT
else
	mkdir -p "$HERE/results"
	# A second run on the same day does not overwrite the first: -2, -3, ...
	base=$HERE/results/$(date +%Y-%m-%d)-$(hostname -s)
	out=$base.md
	for ((i = 2; i < 100; i++)); do
		[ -e "$out" ] || break
		out=$base-$i.md
	done
fi
{
	echo "# shunt bench, $(date -u +%Y-%m-%dT%H:%MZ), $(hostname -s)"
	echo
	echo "Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')."
	if [ -n "$PATHS" ]; then
		echo "Client pod -> 3 shunt-echo pods (echo-a, echo-b v1; echo-c v2), wrk in the client pod; shuntd, HAProxy and nginx with $BENCH_WORKERS worker(s) each."
		echo "Routing on the L7 paths: x-bench-canary: yes to v2, else 90/10 over v1 and v2, round robin within (HAProxy: weighted servers 45/45/10 and an ACL; nginx: upstream weights and a map)."
		echo "$ROUNDS rounds; in each, every case runs every path in turn ($PATHS), ${WARMUP} s warm-up + ${DURATION} s measured; $elapsed s in all."
		echo "Figures are medians over the rounds; latency from wrk (coordinated omission not corrected); errors are socket errors and statuses >= 400, summed."
		echo "Conns opened / req is the client's TCP ActiveOpens per request (about 1 with a new connection per request: wrk reconnected each time, and 0 with keep-alive); kernel conns / req is connect4's captured (l7) or direct (l4) count per request, so the capture is on the measured path."
		echo "CPU is utime + stime of the proxy's process (nginx: master + workers) over the measurement; on l4 it is the idle agent's, and the kernel's work (connect4, in the client's context, and the TCP stack's softirqs) is charged to no proxy."
		echo
		echo "Paths:"
		for path in $PATHS; do
			echo "- $path: $(bench_path_describe "$path")"
		done
		echo
		echo "## Requests"
		echo
		bench_report_table "$samples" "$PATHS"
		echo
		echo "## Ratios"
		echo
		echo "Above 1 is more for shunt: read req/s as better, p99 and CPU per request as worse."
		echo
		bench_report_ratios "$samples" "$PATHS"
		echo
		echo "## Memory"
		echo
		bench_report_rss "$samples" "$PATHS"
		echo
	fi
	if [ "$MICRO" = 1 ]; then
		echo "## Route selection"
		echo
		echo "route_select() per request, one VirtualService with N rules, rule i by i mod 4: exact uri, uri prefix, uri regex, header exact (build/route_bench routes)."
		echo
		bench_report_routes "$routes"
		echo
		echo "## A config at scale"
		echo
		bench_report_scale "$scale" "$agent"
		echo
	fi
	echo "## Targets"
	echo
	echo "Figures, not tests: each is reported as pass or miss; none fails the run."
	echo
	bench_report_targets "$samples" "$routes" "$agent"
	echo
	[ "$failures" -eq 0 ] || { echo "**$failures measurement(s) failed; see the bench's stderr.**"; echo; }
	if [ -s "$checks" ]; then
		echo "## Checks before measuring"
		echo
		sed 's/^/- /' "$checks"
		echo
	fi
	if [ -s "$samples" ]; then
		echo "## Every run"
		echo
		echo '```'
		echo "path body conns round rps p50_us p99_us p999_us errors requests cpu_s_per_10k opens_per_req kernel_conns_per_req hwm_kib"
		cat "$samples"
		echo '```'
	fi
} >"$out"
cat "$out"
echo "bench: written to ${out#"$ROOT"/}" >&2
[ "$failures" -eq 0 ]
