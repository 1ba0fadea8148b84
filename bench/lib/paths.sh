# shellcheck shell=bash
# The paths the bench compares. Each path NAME has
#   bench_path_NAME_url       the base URL the client pod's wrk asks (no path)
#   bench_path_NAME_pids      the pids of the proxy process on that path (none: the floor)
#   bench_path_NAME_prepare   set it up (start the agent or the peer), 1 if it cannot
# and a line in bench_path_describe. Paths:
#   direct    the client straight to one backend pod's IP: the floor
#   l7        shunt, captured: service echo has a VirtualService (a header match in front,
#             then 90/10 over two DestinationRule subsets), so connect4 sends every
#             connection to shuntd; same-node fast path on (shunt's default)
#   l7_off    the same with --fast-path off (pod<->agent over TCP/IP)
#   l4        shunt in the kernel: service echo-l4 has no L7 rule, so connect4 picks its
#             endpoint and the agent is not on the path (its pid is measured all the same:
#             idle). Its one endpoint is the direct path's pod, so l4/direct is the cost of
#             the kernel path alone, not of a load spread over more backends (connect4's
#             cost does not depend on the number of endpoints: one lookup, one slot)
#   haproxy   HAProxy in the node's namespace, the client to its address (lib/peers.sh)
#   nginx     nginx likewise
#
# Needs lib/node.sh (the node is up), lib/peers.sh, and from bench/run.sh: BUILD,
# BENCH_TMP, BENCH_VIP, BENCH_VIP_L4, BENCH_PORT, BENCH_BACKENDS, BENCH_WORKERS.

BENCH_LISTEN=$NODE_GW:15001
BENCH_ADMIN=127.0.0.1:15000
BENCH_AGENT_PID=
BENCH_AGENT_MODE=
# shellcheck disable=SC2034 # run.sh checks --paths against it
BENCH_ALL_PATHS=(direct l7 l7_off l4 haproxy nginx)

# What a path is, in a few words, for the report.
bench_path_describe() {
	case $1 in
	direct) echo "client -> backend pod IP (the floor)" ;;
	l7) echo "shunt L7: captured, VirtualService + DestinationRule subsets, fast path on" ;;
	l7_off) echo "shunt L7 with --fast-path off" ;;
	l4) echo "shunt L4: connect4 picks the endpoint (the direct path's pod), no agent on the path" ;;
	haproxy) echo "HAProxy $(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }'), nbthread $BENCH_WORKERS" ;;
	nginx) echo "nginx $(nginx -v 2>&1 | awk -F/ '{ print $2 }'), worker_processes $BENCH_WORKERS" ;;
	esac
}

# Whether backend pod $1 is in subset v2.
bench_is_v2() {
	local p
	for p in "${BENCH_V2[@]}"; do
		[ "$p" = "$1" ] && return 0
	done
	return 1
}

# The client, service echo (L7: a header match to v2, then 90/10 over v1 and v2, round
# robin within, as the peers are configured), service echo-l4 with no rule (balanced in the
# kernel) over the first backend pod, all in the mesh.
bench_write_config() {
	local dir=$1 pod app version
	mkdir -p "$dir"
	cat >"$dir/bench.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: bench, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: bench}
spec:
  clusterIP: $BENCH_VIP
  selector: {app: echo}
  ports: [{port: $BENCH_PORT, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-l4, namespace: bench}
spec:
  clusterIP: $BENCH_VIP_L4
  selector: {bench.shunt.io/l4: "yes"}
  ports: [{port: $BENCH_PORT, name: http}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: bench}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-bench-canary: {exact: "yes"}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - route:
    - {destination: {host: echo, subset: v1}, weight: 90}
    - {destination: {host: echo, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: bench}
spec:
  host: echo
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
YAML
	for pod in client "${BENCH_BACKENDS[@]}"; do
		app=echo version=v1 l4=no
		[ "$pod" = client ] && app=client
		[ "$pod" = "${BENCH_BACKENDS[0]}" ] && l4=yes
		bench_is_v2 "$pod" && version=v2
		cat >>"$dir/bench.yaml" <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: $pod, namespace: bench, labels: {app: $app, version: $version, bench.shunt.io/l4: "$l4"}}
spec: {containers: [{name: c, image: c, ports: [{containerPort: $BENCH_PORT, name: http}]}]}
status: {phase: Running, podIP: ${NODE_POD_IP[$pod]}, conditions: [{type: Ready, status: "True"}]}
YAML
	done
}

# bench_agent_stop: SIGTERM the agent this bench started (by its pid), 10 s at most.
bench_agent_stop() {
	[ -n "$BENCH_AGENT_PID" ] || return 0
	kill -TERM "$BENCH_AGENT_PID" 2>/dev/null
	node_wait_exit "$BENCH_AGENT_PID" 100
	node_forget_pid "$BENCH_AGENT_PID"
	BENCH_AGENT_PID=
	BENCH_AGENT_MODE=
}

# bench_agent_spawn CONFIG_DIR LOG ARG...: shuntd on the bench node with the bench's
# listener, admin address and pin dir, no DNS forwarding (nothing leaves the node), ready
# within $BENCH_AGENT_READY tenths of a second, or 1. Sets BENCH_AGENT_PID.
BENCH_AGENT_READY=150
bench_agent_spawn() {
	local config=$1 log=$2
	shift 2
	bench_agent_stop
	agent_spawn "$BUILD/shuntd" --config "$config" --cgroup "$NODE_CG" \
		--listen "$BENCH_LISTEN" --admin "$BENCH_ADMIN" --pin-dir "$NODE_PIN" \
		--dns-upstream none --workers "$BENCH_WORKERS" "$@" >"$log" 2>&1
	BENCH_AGENT_PID=$NODE_LAST_PID
	if ! node_wait_ready "$BUILD/shunt-client" "$BENCH_ADMIN" "$BENCH_AGENT_READY" "$BENCH_AGENT_PID"; then
		echo "bench: shuntd $* did not become ready:" >&2
		tail -20 "$log" >&2
		return 1
	fi
}

# bench_agent_start MODE: the bench's shuntd with --fast-path MODE (restarted if it runs
# with the other mode).
bench_agent_start() {
	[ "$BENCH_AGENT_MODE" = "$1" ] && return 0
	bench_agent_spawn "$BENCH_TMP/config" "$BENCH_TMP/shuntd.$1.log" --fast-path "$1" || return 1
	BENCH_AGENT_MODE=$1
}

bench_agent_pids() {
	[ -n "$BENCH_AGENT_PID" ] && echo "$BENCH_AGENT_PID"
}

bench_path_direct_url() {
	echo "http://${NODE_POD_IP[${BENCH_BACKENDS[0]}]}:$BENCH_PORT"
}
bench_path_direct_pids() {
	:
}

bench_path_l7_prepare() {
	bench_agent_start on
}
bench_path_l7_url() {
	echo "http://$BENCH_VIP:$BENCH_PORT"
}
bench_path_l7_pids() {
	bench_agent_pids
}

bench_path_l7_off_prepare() {
	bench_agent_start off
}
bench_path_l7_off_url() {
	bench_path_l7_url
}
bench_path_l7_off_pids() {
	bench_agent_pids
}

# Any agent will do: the kernel balances echo-l4 whatever the fast path.
bench_path_l4_prepare() {
	[ -n "$BENCH_AGENT_MODE" ] || bench_agent_start on
}
bench_path_l4_url() {
	echo "http://$BENCH_VIP_L4:$BENCH_PORT"
}
bench_path_l4_pids() {
	bench_agent_pids
}

bench_path_haproxy_prepare() {
	bench_peer_start haproxy
}
bench_path_haproxy_url() {
	echo "http://$BENCH_HAPROXY_ADDR"
}
bench_path_haproxy_pids() {
	bench_peer_pids haproxy
}

bench_path_nginx_prepare() {
	bench_peer_start nginx
}
bench_path_nginx_url() {
	echo "http://$BENCH_NGINX_ADDR"
}
bench_path_nginx_pids() {
	bench_peer_pids nginx
}

# bench_path_prepare NAME: its _prepare, if it has one.
bench_path_prepare() {
	declare -F "bench_path_${1}_prepare" >/dev/null || return 0
	"bench_path_${1}_prepare"
}
