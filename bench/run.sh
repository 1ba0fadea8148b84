#!/bin/bash
# make bench: request throughput and latency through shunt on one node,
# measured with wrk from a client pod: the agent with the same-node fast
# path off and on (shuntd --fast-path), and the client straight to a backend
# pod as the floor. Paths are interleaved round by round (off, on, direct,
# off, on, direct, ...), each measurement after its own warm-up, so a drift of
# the machine hits every path alike. Prints a markdown table and writes it to
# bench/results/<date>-<hostname>.md (-2, -3, ... for later runs that day). Figures are information, never a pass
# or a fail.
#
#   bench/run.sh [--rounds N] [--duration S] [--warmup S] [--conns "1 16"] [BUILD_DIR]
#
# Needs root (network namespaces, cgroups, bpf), like the end-to-end tests.
# Exit 0 when every measurement ran, 1 otherwise.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=3
DURATION=5
WARMUP=2
CONNS="1 16"
BUILD=build
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
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

# shellcheck source=tests/e2e/lib/node.sh
source "$ROOT/tests/e2e/lib/node.sh"
# shellcheck source=bench/lib/wrk.sh
source "$HERE/lib/wrk.sh"
# shellcheck source=bench/lib/report.sh
source "$HERE/lib/report.sh"
# shellcheck source=bench/lib/paths.sh
source "$HERE/lib/paths.sh"

BENCH_PATHS=(agent_off agent_on direct)
BENCH_VIP=10.96.77.20
BENCH_PORT=8080
BENCH_REQ_PATH=/ # a 16-byte greeting: small bodies, the fast path's worst case
BENCH_BACKENDS=(echo-a echo-b)
BENCH_TMP=

[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root" >&2; exit 1; }
why=$(node_unsupported)
[ -z "$why" ] || { echo "bench: cannot build a node: $why" >&2; exit 1; }
make -C "$ROOT" --no-print-directory -j2 all >&2 || exit 1
BUILD=$(cd "$ROOT" && cd "$BUILD" && pwd)
bench_wrk_install || { echo "bench: wrk is missing and apt-get could not install it" >&2; exit 1; }

finish() {
	local rc=$?
	trap - EXIT INT TERM
	node_down
	[ -n "$BENCH_TMP" ] && rm -rf -- "$BENCH_TMP"
	exit "$rc"
}
BENCH_TMP=$(mktemp -d /tmp/shunt-bench.XXXXXX) || exit 1
trap finish EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'echo "bench: terminated" >&2; exit 143' TERM

node_declare_pods client=10.77.0.10 echo-a=10.77.0.11 echo-b=10.77.0.12 || exit 1
node_up || { echo "bench: node_up failed" >&2; exit 1; }
specs=()
for pod in "${BENCH_BACKENDS[@]}"; do
	specs+=("$pod:$BENCH_PORT:v1")
done
node_start_echos "$BUILD/shunt-echo" "$BENCH_TMP" "${specs[@]}" || exit 1
bench_write_config "$BENCH_TMP/config"

# bench_stat NAME: one kernel counter (shuntctl stats).
bench_stat() {
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" stats 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }'
}

samples=$BENCH_TMP/samples
: >"$samples"
redirected=0 passed=0 failures=0
t_start=$(date +%s)
echo "bench: $ROUNDS rounds of ${BENCH_PATHS[*]} at $CONNS connection(s), ${WARMUP} s warm-up + ${DURATION} s each" >&2
for ((round = 1; round <= ROUNDS; round++)); do
	for path in "${BENCH_PATHS[@]}"; do
		if declare -F "bench_path_${path}_prepare" >/dev/null && ! "bench_path_${path}_prepare"; then
			failures=$((failures + 1))
			continue
		fi
		r0=$(bench_stat fastpath_redirected) p0=$(bench_stat fastpath_passed)
		for c in $CONNS; do
			"bench_path_$path" "$c" "$WARMUP" >/dev/null || true
			if line=$("bench_path_$path" "$c" "$DURATION"); then
				echo "$path $c $round $line" >>"$samples"
				echo "bench: round $round $path c=$c: $line (rps p50_us p99_us errors)" >&2
			else
				failures=$((failures + 1))
			fi
		done
		if [ "$path" = agent_on ]; then
			redirected=$((redirected + $(bench_stat fastpath_redirected) - r0))
			passed=$((passed + $(bench_stat fastpath_passed) - p0))
		fi
	done
done
bench_agent_stop
elapsed=$(($(date +%s) - t_start))

mkdir -p "$HERE/results"
# A second run on the same day does not overwrite the first: -2, -3, ...
base=$HERE/results/$(date +%Y-%m-%d)-$(hostname -s)
out=$base.md
for ((i = 2; i < 100; i++)); do
	[ -e "$out" ] || break
	out=$base-$i.md
done
{
	echo "# shunt bench, $(date -u +%Y-%m-%dT%H:%MZ), $(hostname -s)"
	echo
	echo "Linux $(uname -r), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')."
	echo "GET $BENCH_REQ_PATH (16-byte body) from pod client to service echo ($BENCH_VIP:$BENCH_PORT, an L7 route, 2 shunt-echo pods) through shuntd (1 worker), keep-alive."
	echo "$ROUNDS rounds, interleaved (${BENCH_PATHS[*]}), each run ${WARMUP} s warm-up + ${DURATION} s measured; $elapsed s in all."
	echo "Figures are medians over the rounds; latency from wrk --latency (coordinated omission not corrected)."
	echo
	bench_report_table "$samples" "$CONNS" "${BENCH_PATHS[@]}"
	echo
	bench_report_ratios "$samples" "$CONNS"
	echo
	echo "With the fast path on, sk_msg redirected $redirected messages and passed $passed to TCP/IP (kernel counters fastpath_redirected, fastpath_passed)."
	[ "$failures" -eq 0 ] || echo "**$failures measurement(s) failed; see the bench's stderr.**"
	echo
	echo "Every run:"
	echo
	echo '```'
	echo "path conns round rps p50_us p99_us errors"
	cat "$samples"
	echo '```'
} >"$out"
cat "$out"
echo "bench: written to ${out#"$ROOT"/}" >&2
[ "$failures" -eq 0 ]
