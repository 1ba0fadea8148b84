#!/bin/bash
# End-to-end fail-open test: the agent dies under load and nothing is
# black-holed. A node (lib/node.sh) runs the greeter pods; a VirtualService
# sends every request for greeter-service to subset v2, so an answer from a
# v1 pod proves L7 rules were skipped. helloweb opens one new connection per
# request, in a loop, while:
#
#   1. shuntd serves: every answer comes from greeter-v2 (L7 rules apply);
#   2. shuntd is killed with SIGKILL: its listener's release voids the
#      heartbeat in the kernel at once, so every new connection is balanced
#      in connect4 over all greeter pods (fail_open counts them);
#   3. shuntd starts again on the same pins: it adopts the pinned links and
#      maps, and L7 rules apply again.
#
# No request may fail but, at most, the one whose connection was open to the
# agent at the instant it was killed (it was not a new connection).
#
#   tests/e2e/failopen_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip (the kernel lacks cgroup2 or bpf), anything else fail.
# Needs root; about 10 s. Everything of the node is removed at the end.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"

VIP=10.96.77.10
SVC_PORT=3000
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
PHASE_MIN=40	 # requests per phase at least
LOOP_MAX=3000	 # requests in all, at most
LOOP_MAX_S=60	 # seconds the loop may run, at most

TMP=
AGENT_PID=
LOOP_PID=

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$LOOP_PID" ]; then
		touch "$TMP/stop"
		node_wait_exit "$LOOP_PID" 50 >/dev/null
	fi
	if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
		for f in "$TMP"/shuntd*.log; do
			[ -s "$f" ] && echo "# $(basename "$f"):" && show "$f"
		done
	fi
	node_down
	[ -n "$TMP" ] && rm -rf -- "$TMP"
	exit "$rc"
}

# The request loop, in the background: one new connection per request, one
# line per request in $TMP/loop ("status=... pod=..." or "fail rc=N ..."),
# until $TMP/stop exists, LOOP_MAX requests or LOOP_MAX_S seconds.
request_loop() {
	local i=0 end=$(($(date +%s) + LOOP_MAX_S)) out
	while [ ! -e "$TMP/stop" ] && [ "$i" -lt "$LOOP_MAX" ] && [ "$(date +%s)" -lt "$end" ]; do
		if out=$(pod_exec helloweb "$BUILD/shunt-client" --connect "$VIP:$SVC_PORT" \
			--timeout-ms 2000 2>&1); then
			echo "${out%%$'\n'*}" >>"$TMP/loop"
		else
			echo "fail rc=$? ${out//$'\n'/ }" >>"$TMP/loop"
		fi
		i=$((i + 1))
	done
}

# Waits (10 s at most) until the loop has written $1 more lines than it has now.
loop_advance() {
	local want=$(($(wc -l <"$TMP/loop") + $1)) tenths=100
	while [ "$(wc -l <"$TMP/loop")" -lt "$want" ] && [ "$tenths" -gt 0 ]; do
		sleep 0.1
		tenths=$((tenths - 1))
	done
	[ "$(wc -l <"$TMP/loop")" -ge "$want" ]
}

# --- can this machine run it at all? -----------------------------------------

grep -qw cgroup2 /proc/filesystems || skip "the kernel has no cgroup2 filesystem"
grep -qw bpf /proc/filesystems || skip "the kernel has no bpf filesystem (no CONFIG_BPF_SYSCALL)"
[ -e /sys/kernel/btf/vmlinux ] || skip "the kernel has no BTF (/sys/kernel/btf/vmlinux), CO-RE programs cannot load"
[ "$(id -u)" -eq 0 ] || fatal "must run as root (network namespaces, cgroups, bpf)"
why=$(node_unsupported)
[ -z "$why" ] || fatal "cannot build a node: $why"
for f in shuntd shuntctl shunt-echo shunt-client; do
	[ -x "$BUILD/$f" ] || fatal "$BUILD/$f is missing: run make first"
done
BUILD=$(cd "$BUILD" && pwd)

TMP=$(mktemp -d /tmp/shunt-failopen.XXXXXX) || fatal "mktemp"
trap finish EXIT
trap 'echo "# interrupted"; exit 130' INT
trap 'echo "# terminated"; exit 143' TERM

node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_greeters "$BUILD/shunt-echo" "$TMP" || fatal "the greeter backends did not start"

mkdir -p "$TMP/config"
cp "$HERE/greeter/greeter.yaml" "$TMP/config/"
cat >"$TMP/config/all-to-v2.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter-service, namespace: default}
spec:
  host: greeter-service
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter-service, namespace: default}
spec:
  hosts: [greeter-service]
  http:
    - route:
        - destination: {host: greeter-service, subset: v2}
YAML

start_agent() {
	agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
		--admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level info >"$TMP/shuntd.$1.log" 2>&1
	AGENT_PID=$NODE_LAST_PID
	node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID"
}

# --- 1. the agent serves: L7 rules apply ---------------------------------------

start_agent 1 || fatal "shuntd did not become ready"
: >"$TMP/loop"
request_loop &
LOOP_PID=$!
NODE_PIDS+=("$LOOP_PID")
loop_advance "$PHASE_MIN" || fatal "the request loop does not advance"
mark1=$(wc -l <"$TMP/loop")
failopen0=$(counter fail_open)

# --- 2. kill -9 under the loop ---------------------------------------------------

kill -KILL "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50 >/dev/null
node_forget_pid "$AGENT_PID"
mark2=$(wc -l <"$TMP/loop")
loop_advance "$PHASE_MIN" || not_ok "2 the request loop went on after the kill"
mark3=$(wc -l <"$TMP/loop")
failopen1=$(counter fail_open)
closed=$(counter listener_closed)

# --- 3. a new agent adopts the pins ----------------------------------------------

if start_agent 2; then
	ok "3 a new shuntd is ready on the same pins"
else
	not_ok "3 a new shuntd is ready on the same pins"
fi
mark4=$(wc -l <"$TMP/loop")
loop_advance "$PHASE_MIN" || not_ok "3 the request loop went on after the restart"
touch "$TMP/stop"
node_wait_exit "$LOOP_PID" 50 >/dev/null
node_forget_pid "$LOOP_PID"
LOOP_PID=

# --- what the loop saw -------------------------------------------------------------

total=$(wc -l <"$TMP/loop")
echo "# $total requests: $mark1 before the kill, $((mark3 - mark2)) counted after it while no agent ran, $((total - mark4)) after the restart"

# Phase 1: up to the kill, only v2 answered.
sed -n "1,${mark1}p" "$TMP/loop" >"$TMP/p1"
if ! grep -qv ' pod=greeter-v2 ' "$TMP/p1"; then
	ok "1 with the agent, all $mark1 requests answered by greeter-v2 (the VirtualService applies)"
else
	not_ok "1 with the agent, every request answered by greeter-v2"
	grep -v ' pod=greeter-v2 ' "$TMP/p1" | head -5 | show
fi

# Every request but the one in flight at the kill succeeded.
nfail=$(grep -c '^fail ' "$TMP/loop")
if [ "$nfail" -le 1 ]; then
	ok "2 $((total - nfail)) of $total requests answered 200 across kill -9 and restart ($nfail failed: the connection open at the kill)"
else
	not_ok "2 every new connection succeeds across kill -9 and restart: $nfail of $total failed"
	grep '^fail ' "$TMP/loop" | head -5 | show
fi
if [ "$nfail" -gt 0 ] && grep -n '^fail ' "$TMP/loop" | cut -d: -f1 | awk -v a="$mark1" -v b="$((mark2 + 1))" '$1 < a || $1 > b { bad = 1 } END { exit !bad }'; then
	not_ok "2 the failed request was the one in flight at the kill (lines $mark1..$((mark2 + 1)))"
	grep -n '^fail ' "$TMP/loop" | show
fi

# Phase 2: without an agent, the kernel balanced over every greeter pod.
sed -n "$((mark2 + 1)),${mark3}p" "$TMP/loop" >"$TMP/p2"
spread=$(grep -o ' pod=[^ ]*' "$TMP/p2" | sort | uniq -c | awk '{ printf "%s%s:%s", s, substr($2, 5), $1; s = " " }')
if grep -q ' pod=greeter-v1-' "$TMP/p2"; then
	ok "2 without the agent, the kernel balanced over all pods, L7 rules skipped ($spread)"
else
	not_ok "2 without the agent, the kernel balanced over all pods ($spread)"
fi
if [[ $failopen0 =~ ^[0-9]+$ ]] && [[ $failopen1 =~ ^[0-9]+$ ]] && [ "$failopen1" -gt "$failopen0" ]; then
	ok "2 kernel counter fail_open grew by $((failopen1 - failopen0)) while no agent ran"
else
	not_ok "2 kernel counter fail_open grew while no agent ran ('$failopen0' -> '$failopen1')"
fi
if [[ $closed =~ ^[0-9]+$ ]] && [ "$closed" -ge 1 ]; then
	ok "2 the kernel saw the agent's listener close (listener_closed $closed): fail open at once, not after the heartbeat's timeout"
else
	not_ok "2 the kernel saw the agent's listener close (listener_closed '$closed')"
fi

# Phase 3: after the restart, L7 rules again (skip what was in flight while it started).
sed -n "$((mark4 + 1)),\$p" "$TMP/loop" >"$TMP/p3"
if [ -s "$TMP/p3" ] && ! grep -qv ' pod=greeter-v2 ' "$TMP/p3"; then
	ok "3 after the restart, all $(wc -l <"$TMP/p3") requests answered by greeter-v2 again"
else
	not_ok "3 after the restart, every request answered by greeter-v2 again"
	grep -v ' pod=greeter-v2 ' "$TMP/p3" | head -5 | show
fi
if grep -q 'adopted' "$TMP/shuntd.2.log"; then
	ok "3 the new agent adopted the pinned links ($(grep -c adopted "$TMP/shuntd.2.log") of them)"
else
	not_ok "3 the new agent adopted the pinned links"
fi

# --- nothing left ------------------------------------------------------------------

node_down
if node_leftovers >"$TMP/left"; then
	ok "4 after teardown nothing of node $NODE_ID is left (netns, interfaces, routes, cgroups, pins)"
else
	not_ok "4 after teardown nothing of node $NODE_ID is left"
	show "$TMP/left"
fi

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
