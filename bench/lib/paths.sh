# shellcheck shell=bash
# The paths the bench compares, one function per path: bench_path_<name>
# CONNS SECS prints wrk's "RPS P50_US P99_US ERRORS" line for CONNS keep-alive
# connections during SECS seconds (after bench_path_<name>_prepare, if the
# path has one, set it up). Another proxy (issue 7: HAProxy, nginx) is one
# more pair of functions and one more name in BENCH_PATHS.
#
# Needs lib/node.sh (the node is up), lib/wrk.sh, and from bench/run.sh:
# BUILD, BENCH_TMP, BENCH_VIP, BENCH_PORT, BENCH_REQ_PATH, BENCH_BACKENDS.

BENCH_LISTEN=$NODE_GW:15001
BENCH_ADMIN=127.0.0.1:15000
BENCH_AGENT_PID=
BENCH_AGENT_MODE=

# The client, the service with its two backend pods, an L7 route (so every
# connection goes through the agent), all in the mesh.
bench_write_config() {
	local dir=$1 pod
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
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: bench}
spec:
  hosts: [echo]
  http: [{route: [{destination: {host: echo}}]}]
YAML
	for pod in client "${BENCH_BACKENDS[@]}"; do
		cat >>"$dir/bench.yaml" <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: $pod, namespace: bench, labels: {app: $([ "$pod" = client ] && echo client || echo echo)}}
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

# bench_agent_start MODE: shuntd --fast-path MODE, ready within 15 s, or 1.
bench_agent_start() {
	[ "$BENCH_AGENT_MODE" = "$1" ] && return 0
	bench_agent_stop
	agent_spawn "$BUILD/shuntd" --config "$BENCH_TMP/config" --cgroup "$NODE_CG" \
		--listen "$BENCH_LISTEN" --admin "$BENCH_ADMIN" --pin-dir "$NODE_PIN" \
		--fast-path "$1" >"$BENCH_TMP/shuntd.$1.log" 2>&1
	BENCH_AGENT_PID=$NODE_LAST_PID
	if ! node_wait_ready "$BUILD/shunt-client" "$BENCH_ADMIN" 150 "$BENCH_AGENT_PID"; then
		echo "bench: shuntd --fast-path $1 did not become ready:" >&2
		cat "$BENCH_TMP/shuntd.$1.log" >&2
		return 1
	fi
	BENCH_AGENT_MODE=$1
}

# The floor: the client straight to one backend pod's IP, no service, no agent.
bench_path_direct() {
	bench_wrk client "http://${NODE_POD_IP[${BENCH_BACKENDS[0]}]}:$BENCH_PORT$BENCH_REQ_PATH" "$@"
}

# Through the agent (L7 route), pod<->agent over TCP/IP on the node.
bench_path_agent_off_prepare() {
	bench_agent_start off
}
bench_path_agent_off() {
	bench_wrk client "http://$BENCH_VIP:$BENCH_PORT$BENCH_REQ_PATH" "$@"
}

# Through the agent, pod<->agent bytes redirected by sk_msg.
bench_path_agent_on_prepare() {
	bench_agent_start on
}
bench_path_agent_on() {
	bench_wrk client "http://$BENCH_VIP:$BENCH_PORT$BENCH_REQ_PATH" "$@"
}
