#!/bin/bash
# End-to-end capture test: a node of network namespaces and cgroups
# (lib/node.sh), the greeter backends (shunt-echo), shuntd attached to the
# node's mesh cgroup, and helloweb calling greeter-service by its VIP: a
# service with L7 rules goes through the agent, one without is balanced in
# the kernel, and after the agent is gone every service is (fail open).
#
#   tests/e2e/capture_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip (the kernel lacks cgroup2 or bpf), anything else fail.
# Every assertion prints "ok - ..." or "not ok - ...". Needs root.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"

VIP=10.96.77.10
DEAD_VIP=10.96.77.12
L4_VIP=10.96.77.13 # greeter-l4: the greeter pods, no L7 rule
SVC_PORT=3000
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
MARK=0x5e4e0000
N=30
HELLOWEB_IP=10.77.0.10

TMP=
AGENT_PID=

# client WHERE ARGS...: runs shunt-client from helloweb (WHERE=pod), helloweb's
# netns in the outside cgroup (WHERE=outside) or the node (WHERE=node).
# Sets OUT (stdout file), ERR (stderr file), RC and MS (elapsed milliseconds).
client() {
	local where=$1 t0
	shift
	OUT=$TMP/out.$((++calls))
	ERR=$TMP/err.$calls
	t0=$(now_ms)
	case $where in
	pod) pod_exec helloweb "$BUILD/shunt-client" "$@" >"$OUT" 2>"$ERR" ;;
	outside) pod_exec_outside helloweb "$BUILD/shunt-client" "$@" >"$OUT" 2>"$ERR" ;;
	node) node_exec "$BUILD/shunt-client" "$@" >"$OUT" 2>"$ERR" ;;
	esac
	RC=$?
	MS=$(($(now_ms) - t0))
}
calls=0

# A connection to VIP:port that is not captured must fail at once on the
# blackhole route (exit 3, well under the client's 3 s timeout).
refused_at_once() {
	[ "$RC" -eq 3 ] && grep -q '^connect: ' "$ERR" && [ "$MS" -lt 1000 ]
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
		if [ -n "$TMP" ] && [ -s "$TMP/shuntd.log" ]; then
			echo "# shuntd log:"
			show "$TMP/shuntd.log"
		fi
		for f in "$TMP"/greeter-*.log; do
			[ -s "$f" ] && echo "# $(basename "$f"):" && show "$f"
		done
	fi
	node_down
	[ -n "$TMP" ] && rm -rf -- "$TMP"
	exit "$rc"
}

# --- can this machine run it at all? -----------------------------------------

grep -qw cgroup2 /proc/filesystems || skip "the kernel has no cgroup2 filesystem"
grep -qw bpf /proc/filesystems || skip "the kernel has no bpf filesystem (no CONFIG_BPF_SYSCALL)"
[ -e /sys/kernel/btf/vmlinux ] || skip "the kernel has no BTF (/sys/kernel/btf/vmlinux), CO-RE programs cannot load"
[ "$(id -u)" -eq 0 ] || fatal "must run as root (network namespaces, cgroups, bpf)"
why=$(node_unsupported)
[ -z "$why" ] || fatal "cannot build a node: $why"
for type in cgroup_sock_addr sock_ops; do
	if timeout 30 bpftool feature probe kernel 2>/dev/null |
		grep -q "program_type $type is NOT available"; then
		skip "the kernel cannot run $type programs (CONFIG_CGROUP_BPF?)"
	fi
done
for f in shuntd shuntctl shunt-echo shunt-client; do
	[ -x "$BUILD/$f" ] || fatal "$BUILD/$f is missing: run make first"
done
BUILD=$(cd "$BUILD" && pwd)

TMP=$(mktemp -d /tmp/shunt-e2e.XXXXXX) || fatal "mktemp"
trap finish EXIT
trap 'echo "# interrupted"; exit 130' INT
trap 'echo "# terminated"; exit 143' TERM

node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, netns shunt-$NODE_ID-*, pins $NODE_PIN"
node_start_greeters "$BUILD/shunt-echo" "$TMP" || fatal "the greeter backends did not start"

# --- 1. shuntd becomes ready -------------------------------------------------

# The user's config, plus a Service whose clusterIP:port is greeter-v1-a's own
# address: the agent's upstream connections to that pod then go to a captured
# address, and only their mark keeps them from looping back to the agent.
mkdir -p "$TMP/config"
cp "$HERE"/greeter/*.yaml "$TMP/config/"
cat >"$TMP/config/alias.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: greeter-v1-a-alias, namespace: default}
spec:
  clusterIP: 10.77.0.11
  selector: {app: greeter-service, version: v1}
  ports: [{port: 3000, name: http}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter-v1-a-alias, namespace: default}
spec:
  hosts: [greeter-v1-a-alias]
  http: [{route: [{destination: {host: greeter-v1-a-alias}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: greeter-l4, namespace: default}
spec:
  clusterIP: 10.96.77.13
  selector: {app: greeter-service}
  ports: [{port: 3000, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: greeter-tcp, namespace: default}
spec:
  clusterIP: 10.96.77.14
  selector: {app: greeter-service}
  ports: [{port: 3000, name: tcp-greeter}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter-tcp, namespace: default}
spec:
  host: greeter-tcp
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter-tcp, namespace: default}
spec:
  hosts: [greeter-tcp]
  tcp:
    - match: [{port: 3000}]
      route:
        - {destination: {host: greeter-tcp, subset: v1}, weight: 0}
        - {destination: {host: greeter-tcp, subset: v2}, weight: 100}
YAML
agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level debug >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
t0=$(now_ms)
if node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID"; then
	ok "1 shuntd is ready (/ready 200) after $(($(now_ms) - t0)) ms"
else
	not_ok "1 shuntd is ready (/ready 200) within 15 s"
	fatal "no agent, nothing else can pass"
fi
bpftool cgroup show "$NODE_CG" >"$TMP/progs.before" 2>&1
for prog in cgroup_inet4_connect:shunt_connect4 cgroup_inet4_getpeername:shunt_peername4 \
	cgroup_sock_ops:shunt_sockops; do
	check "1 ${prog#*:} attached to the mesh cgroup as ${prog%%:*}" \
		grep -qE "^[0-9]+[[:space:]]+${prog%%:*}[[:space:]].*[[:space:]]${prog#*:}[[:space:]]*\$" \
		"$TMP/progs.before"
done
agent_cg=$(sed -n 's/^0:://p' "/proc/$AGENT_PID/cgroup")
check "6 the agent runs inside the captured cgroup ($agent_cg)" \
	[ "$NODE_CG2$agent_cg" = "$NODE_CG/agent" ]

# --- 2-4. capture, round robin, getpeername, the agent in the middle -----------

captured0=$(counter captured)
skipped_before=$(counter skipped_mark)
client pod --connect "$VIP:$SVC_PORT" -n "$N" --peer --timeout-ms 5000
cp "$OUT" "$TMP/keepalive.out"
rc_ka=$RC
err_ka=$ERR
client pod --connect "$VIP:$SVC_PORT" -n "$N" --new-conn --peer --timeout-ms 5000
cp "$OUT" "$TMP/newconn.out"
rc_nc=$RC
err_nc=$ERR
captured1=$(counter captured)
skipped_after=$(counter skipped_mark)
cat "$TMP/keepalive.out" "$TMP/newconn.out" >"$TMP/both.out"

n200=$(grep -c '^status=200 ' "$TMP/both.out")
if [ "$rc_ka" -eq 0 ] && [ "$rc_nc" -eq 0 ] && [ "$n200" -eq $((2 * N)) ]; then
	ok "2 $((2 * N)) requests to greeter-service $VIP:$SVC_PORT (keep-alive and new connections): all 200"
else
	not_ok "2 $((2 * N)) requests to greeter-service: all 200 (exit $rc_ka/$rc_nc, $n200 times 200)"
	show "$TMP/both.out" "$err_ka" "$err_nc"
fi
spread=$(grep -o ' pod=[^ ]*' "$TMP/both.out" | sort | uniq -c | awk '{ printf "%s%s:%s", s, substr($2, 5), $1; s = " " }')
for pod in "${NODE_GREETERS[@]}"; do
	check "2 $pod answered (spread: $spread)" grep -q " pod=$pod " "$TMP/both.out"
done

npeer=$(grep -c "^peer=$VIP:$SVC_PORT\$" "$TMP/both.out")
if [ "$npeer" -eq $((N + 1)) ] && [ "$(grep -c '^peer=' "$TMP/both.out")" -eq $((N + 1)) ]; then
	ok "3 getpeername() in the app says $VIP:$SVC_PORT on all $((N + 1)) connections"
else
	not_ok "3 getpeername() in the app says $VIP:$SVC_PORT ($npeer of $((N + 1)))"
	grep '^peer=' "$TMP/both.out" | sort | uniq -c | show
fi

nseen=$(grep -cE " seen_peer=${NODE_GW//./\\.}:[0-9]+( |\$)" "$TMP/both.out")
if [ "$nseen" -eq $((2 * N)) ]; then
	ok "4 every backend saw the agent ($NODE_GW) as its peer"
else
	not_ok "4 every backend saw the agent ($NODE_GW) as its peer ($nseen of $((2 * N)))"
	grep -o ' seen_peer=[^ :]*' "$TMP/both.out" | sort | uniq -c | show
fi
if grew_by "$captured0" "$captured1" $((N + 1)); then
	ok "4 kernel counter captured grew by $((N + 1)), one per client connection"
else
	not_ok "4 kernel counter captured grew by $((N + 1)) (from '$captured0' to '$captured1')"
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" stats 2>&1 | show
fi

# The agent reached greeter-v1-a (a captured address, see alias.yaml) only because
# connect4 skipped its marked sockets; captured grew by the clients alone (above).
if [ "$skipped_after" -gt "$skipped_before" ] && grep -q ' pod=greeter-v1-a ' "$TMP/both.out"; then
	ok "6 the agent's own connections to a captured address were not re-captured (skipped_mark $skipped_before -> $skipped_after)"
else
	not_ok "6 the agent's own connections to a captured address were not re-captured (skipped_mark $skipped_before -> $skipped_after)"
fi

# --- 5. the same netns outside the mesh cgroup is not captured ---------------

captured0=$(counter captured)
client outside --connect "$VIP:$SVC_PORT" --timeout-ms 3000
captured1=$(counter captured)
if refused_at_once && unchanged "$captured0" "$captured1"; then
	ok "5 outside the mesh cgroup: not captured, $(cat "$ERR") after $MS ms, captured stays $captured1"
else
	not_ok "5 outside the mesh cgroup: not captured (exit $RC after $MS ms, captured $captured0 -> $captured1)"
	show "$OUT" "$ERR"
fi

# --- 5. a port the service does not declare is not captured -------------------

captured0=$(counter captured)
client pod --connect "$VIP:$((SVC_PORT + 1))" --timeout-ms 3000
captured1=$(counter captured)
if refused_at_once && unchanged "$captured0" "$captured1"; then
	ok "5 $VIP:$((SVC_PORT + 1)) (no such service port) is not captured: $(cat "$ERR")"
else
	not_ok "5 $VIP:$((SVC_PORT + 1)) (no such service port) is not captured (exit $RC after $MS ms, captured $captured0 -> $captured1)"
	show "$OUT" "$ERR"
fi

# --- 6. a socket with the agent's mark is not captured ------------------------

captured0=$(counter captured)
skipped0=$(counter skipped_mark)
client pod --connect "$VIP:$SVC_PORT" --mark "$MARK" --timeout-ms 3000
captured1=$(counter captured)
skipped1=$(counter skipped_mark)
if refused_at_once && unchanged "$captured0" "$captured1" && grew_by "$skipped0" "$skipped1" 1; then
	ok "6 a socket marked $MARK in the mesh cgroup: untouched ($(cat "$ERR")), skipped_mark $skipped0 -> $skipped1"
else
	not_ok "6 a socket marked $MARK: untouched (exit $RC after $MS ms, captured $captured0 -> $captured1, skipped_mark $skipped0 -> $skipped1)"
	show "$OUT" "$ERR"
fi

# --- 11. a service no L7 rule touches: balanced in the kernel, no agent -------

captured0=$(counter captured)
direct0=$(counter direct)
client pod --connect "$L4_VIP:$SVC_PORT" -n "$N" --new-conn --peer --timeout-ms 5000
captured1=$(counter captured)
direct1=$(counter direct)
n200=$(grep -c '^status=200 ' "$OUT")
nseen=$(grep -cE " seen_peer=${HELLOWEB_IP//./\\.}:[0-9]+( |\$)" "$OUT")
npeer=$(grep -c "^peer=$L4_VIP:$SVC_PORT\$" "$OUT")
if [ "$RC" -eq 0 ] && [ "$n200" -eq "$N" ] && [ "$nseen" -eq "$N" ]; then
	ok "11 greeter-l4 $L4_VIP:$SVC_PORT (no L7 rule): $N new connections, all 200, every backend saw helloweb ($HELLOWEB_IP) itself, not the agent"
else
	not_ok "11 greeter-l4 (no L7 rule): all 200 straight from helloweb (exit $RC, $n200 times 200, $nseen seen from $HELLOWEB_IP)"
	show "$OUT" "$ERR"
fi
check "11 getpeername() says $L4_VIP:$SVC_PORT on the kernel-balanced connections ($npeer of $N)" [ "$npeer" -eq "$N" ]
if unchanged "$captured0" "$captured1" && grew_by "$direct0" "$direct1" "$N"; then
	ok "11 kernel counters: direct grew by $N, captured unchanged: the agent was not on the path"
else
	not_ok "11 kernel counters: direct $direct0 -> $direct1 (want +$N), captured $captured0 -> $captured1 (want unchanged)"
fi
for pod in "${NODE_GREETERS[@]}"; do
	check "11 $pod answered on the kernel path" grep -q " pod=$pod " "$OUT"
done

# --- 7, 8. bodies both ways, and a service with no listener -------------------
# Table: description | client arguments | pattern every response line must match

cases=(
	"7 POST 1 MiB (Content-Length)|--connect $VIP:$SVC_PORT --body-size 1048576|^status=200 .* received=1048576 sum=ok\$"
	"7 POST 1 MiB (chunked)|--connect $VIP:$SVC_PORT --body-size 1048576 --chunked|^status=200 .* received=1048576 sum=ok\$"
	"7 GET /bytes/1048576|--connect $VIP:$SVC_PORT --path /bytes/1048576|^status=200 .* bytes=1048576 .*pattern=ok\$"
	"7 GET /chunked/1048576|--connect $VIP:$SVC_PORT --path /chunked/1048576|^status=200 .* bytes=1048576 .*pattern=ok\$"
	"8 dead-service $DEAD_VIP:$SVC_PORT (no listener) answers 503|--connect $DEAD_VIP:$SVC_PORT|^status=503 "
)
for row in "${cases[@]}"; do
	IFS='|' read -r what args want <<<"$row"
	# shellcheck disable=SC2086 # the arguments are words
	client pod $args --timeout-ms 5000
	if [ "$RC" -eq 0 ] && [ -s "$OUT" ] && ! grep -qv -- "$want" "$OUT"; then
		ok "$what: $(head -c 120 "$OUT")"
	else
		not_ok "$what (exit $RC, want $want)"
		show "$OUT" "$ERR"
	fi
done

# --- 13. a dual-stack socket: ::ffff:VIP is the same service --------------------

captured0=$(counter captured)
client pod --connect "$VIP:$SVC_PORT" --v4mapped -n 5 --new-conn --peer --timeout-ms 5000
captured1=$(counter captured)
npeer=$(grep -c "^peer=\[::ffff:$VIP\]:$SVC_PORT\$" "$OUT")
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq 5 ] && [ "$npeer" -eq 5 ] &&
	grew_by "$captured0" "$captured1" 5; then
	ok "13 an AF_INET6 socket to [::ffff:$VIP]:$SVC_PORT is captured like an IPv4 one (5 of 5 through the agent, getpeername [::ffff:$VIP]:$SVC_PORT)"
else
	not_ok "13 an AF_INET6 socket to [::ffff:$VIP]:$SVC_PORT is captured (exit $RC, $npeer peers right, captured $captured0 -> $captured1)"
	show "$OUT" "$ERR"
fi
direct0=$(counter direct)
client pod --connect "$L4_VIP:$SVC_PORT" --v4mapped --peer --timeout-ms 5000
direct1=$(counter direct)
if [ "$RC" -eq 0 ] && grep -q '^status=200 ' "$OUT" && grew_by "$direct0" "$direct1" 1 &&
	grep -q "^peer=\[::ffff:$L4_VIP\]:$SVC_PORT\$" "$OUT"; then
	ok "13 an AF_INET6 socket to [::ffff:$L4_VIP]:$SVC_PORT is balanced in the kernel (direct +1)"
else
	not_ok "13 an AF_INET6 socket to [::ffff:$L4_VIP]:$SVC_PORT is balanced in the kernel (exit $RC, direct $direct0 -> $direct1)"
	show "$OUT" "$ERR"
fi

# --- 12. a VirtualService tcp route: weighted in the kernel ------------------

TCP_VIP=10.96.77.14
captured0=$(counter captured)
direct0=$(counter direct)
client pod --connect "$TCP_VIP:$SVC_PORT" -n 20 --new-conn --peer --timeout-ms 5000
captured1=$(counter captured)
direct1=$(counter direct)
spread=$(grep -o ' pod=[^ ]*' "$OUT" | sort | uniq -c | awk '{ printf "%s%s:%s", s, substr($2, 5), $1; s = " " }')
if [ "$RC" -eq 0 ] && [ "$(grep -cE '^status=200 (.* )?pod=greeter-v2 ' "$OUT")" -eq 20 ]; then
	ok "12 greeter-tcp (tcp route, v1 weight 0, v2 weight 100): all 20 new connections to greeter-v2 ($spread)"
else
	not_ok "12 greeter-tcp (tcp route 0/100): all 20 new connections to greeter-v2 (exit $RC, $spread)"
	show "$OUT" "$ERR"
fi
if unchanged "$captured0" "$captured1" && grew_by "$direct0" "$direct1" 20; then
	ok "12 the tcp route was applied in the kernel: direct +20, captured unchanged"
else
	not_ok "12 the tcp route was applied in the kernel (direct $direct0 -> $direct1, captured $captured0 -> $captured1)"
fi

# --- 9. SIGTERM: exit 0; the programs stay, connections are balanced in the kernel

kill -TERM "$AGENT_PID"
t0=$(now_ms)
node_wait_exit "$AGENT_PID" 100
agent_rc=$?
node_forget_pid "$AGENT_PID"
check "9 shuntd exits 0 on SIGTERM (exit $agent_rc after $(($(now_ms) - t0)) ms)" [ "$agent_rc" -eq 0 ]
bpftool cgroup show "$NODE_CG" >"$TMP/progs.after" 2>&1
check "9 the programs stay attached after exit (pinned links): no black hole while no agent runs" \
	grep -q shunt_connect4 "$TMP/progs.after"
captured0=$(counter captured)
failopen0=$(counter fail_open)
client pod --connect "$VIP:$SVC_PORT" --peer --timeout-ms 3000
captured1=$(counter captured)
failopen1=$(counter fail_open)
if [ "$RC" -eq 0 ] && grep -qE "^status=200 .* seen_peer=${HELLOWEB_IP//./\\.}:" "$OUT" &&
	unchanged "$captured0" "$captured1" && grew_by "$failopen0" "$failopen1" 1; then
	ok "9 after exit helloweb -> $VIP:$SVC_PORT still works, balanced in the kernel ($(grep -o 'pod=[^ ]*' "$OUT"), fail_open $failopen0 -> $failopen1)"
else
	not_ok "9 after exit helloweb -> $VIP:$SVC_PORT is balanced in the kernel (exit $RC after $MS ms, captured $captured0 -> $captured1, fail_open $failopen0 -> $failopen1)"
	show "$OUT" "$ERR"
fi

# --- maps: shuntctl maps decodes the pins and their fill (the agent is gone; the maps stay)

"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps >"$TMP/maps" 2>&1
maps_rc=$?
if [ "$maps_rc" -eq 0 ] && grep -qE '^shunt_svc4_v2 +hash +[0-9]+/[0-9]+ +[0-9.]+%$' "$TMP/maps" &&
	grep -q "^  svc $VIP:$SVC_PORT L7 " "$TMP/maps"; then
	ok "maps shuntctl maps: shunt_svc4_v2 fill line and greeter-service $VIP:$SVC_PORT (L7)"
else
	not_ok "maps shuntctl maps: shunt_svc4_v2 fill line and greeter-service $VIP:$SVC_PORT (exit $maps_rc)"
	show "$TMP/maps"
fi

# --- 10. nothing left ---------------------------------------------------------

node_down
if node_leftovers >"$TMP/left"; then
	ok "10 after teardown nothing of node $NODE_ID is left (netns, interfaces, routes, cgroups, pins)"
else
	not_ok "10 after teardown nothing of node $NODE_ID is left"
	show "$TMP/left"
fi

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
