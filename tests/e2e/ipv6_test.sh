#!/bin/bash
# End-to-end IPv6 and dual-stack test, on a dual-stack node (lib/node.sh with
# NODE_IPV6=1: every pod has 10.77.0.N and fd00:77::N, and both VIP ranges,
# 10.96.77.0/24 and fd00:96::/64, are blackholed in every namespace, so a
# connection that is not captured fails at once and never leaves the pod).
#
#   web   dual-stack, 10.96.77.20 + fd00:96::20, HTTP, a VirtualService routes
#         "x-version: v2" to subset v2 (web-b) and the rest to v1 (web-a): it
#         goes through the agent on both families and from v4-mapped sockets,
#         getpeername() answers the VIP the app asked for, in its family
#   db    dual-stack, port named tcp-db: balanced in connect6 itself, straight
#         to a backend's IPv6 address (the backend sees the pod's own address)
#   web6  IPv6 only (fd00:96::22), HTTP, with a VirtualService: balanced in the
#         kernel, and the agent says why its L7 rules do not apply
#   app-reg, a REGISTRY_ONLY pod: an IPv6 address outside the registry is
#         refused at connect(); the ALLOW_ANY pod reaches it
#   kill -9 the agent: IPv6 connections to web are balanced in the kernel
#         (fail open); a new agent on the same pins routes them again
#
#   tests/e2e/ipv6_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root; about 10 s.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
NODE_IPV6=1
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"
# shellcheck source=tests/e2e/lib/e2e.sh
source "$HERE/lib/e2e.sh"

VIP=10.96.77.20
VIP6=fd00:96::20
DB=10.96.77.21
DB6=fd00:96::21
WEB6=fd00:96::22
PORT=3000
LISTEN=$NODE_GW:15001
LISTEN6="[$NODE_GW6]:15001"
ADMIN=127.0.0.1:15000
TMP=
AGENT_PID=

# answered_by N POD [SEEN_PEER_RE]: N responses 200, all from POD, each seen by the backend
# as coming from an address matching SEEN_PEER_RE (the agent's or the pod's own).
answered_by() {
	[ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq "$1" ] &&
		[ "$(grep -c "^status=200 pod=$2 " "$OUT")" -eq "$1" ] &&
		{ [ -z "${3:-}" ] || [ "$(grep -cE "seen_peer=$3" "$OUT")" -eq "$1" ]; }
}

# peers_are N TEXT: N getpeername() lines, all "peer=TEXT".
peers_are() {
	[ "$(grep -c '^peer=' "$OUT")" -eq "$1" ] && [ "$(grep -cxF "peer=$2" "$OUT")" -eq "$1" ]
}

start_agent() { # N: the log's suffix
	agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
		--listen6 "$LISTEN6" --admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level debug \
		>"$TMP/shuntd$1.log" 2>&1
	AGENT_PID=$NODE_LAST_PID
	node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID"
}

e2e_require
[ -e /proc/sys/net/ipv6 ] || skip "the kernel has no IPv6 (no /proc/sys/net/ipv6)"

e2e_start ipv6

node_declare_pods web-a=10.77.0.30 web-b=10.77.0.31 app=10.77.0.40 app-reg=10.77.0.45 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN, dual-stack"
node_start_echos "$BUILD/shunt-echo" "$TMP" web-a:$PORT:v1 web-b:$PORT:v2 ||
	fatal "the web backends did not start"
APP6=$(node_ip6 app)
WEBA6=$(node_ip6 web-a)

mkdir -p "$TMP/config"
cat >"$TMP/config/cluster.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: $VIP
  clusterIPs: [$VIP, "$VIP6"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  selector: {app: web}
  ports: [{port: $PORT, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIPs: [$DB, "$DB6"]
  selector: {app: web}
  ports: [{port: $PORT, name: tcp-db}]
---
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: default}
spec:
  clusterIP: "$WEB6"
  selector: {app: web}
  ports: [{port: $PORT, name: http}]
YAML
for p in web-a:v1:30 web-b:v2:31 app:client:40 app-reg:locked:45; do
	IFS=: read -r name label n <<<"$p"
	cat >>"$TMP/config/cluster.yaml" <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: default
  labels: {app: $([ "$label" = v1 ] || [ "$label" = v2 ] && echo web || echo "$label"), version: $label}
status:
  podIP: 10.77.0.$n
  podIPs: [{ip: 10.77.0.$n}, {ip: "fd00:77::$n"}]
YAML
done
cat >"$TMP/config/routing.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: web, subset: v2}}]
  - route: [{destination: {host: web, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web6, namespace: default}
spec:
  hosts: [web6]
  http: [{route: [{destination: {host: web6}}]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: locked, namespace: default}
spec:
  workloadSelector: {labels: {app: locked}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
YAML

start_agent 1 || fatal "shuntd did not become ready"
if grep -q 'IPv6 VIPs: 1 L7, 2 in the kernel' "$TMP/shuntd1.log"; then
	ok "the agent programs the IPv6 VIPs: 1 through the agent (web), 2 in the kernel (db, web6)"
else
	not_ok "the agent programs the IPv6 VIPs: 1 through the agent (web), 2 in the kernel (db, web6)"
	grep 'ready:' "$TMP/shuntd1.log" | show
fi
if grep -q 'default/web6 port 3000 has only an IPv6 VIP: its L7 rules do not apply' "$TMP/shuntd1.log"; then
	ok "the agent says why web6's VirtualService does not apply (IPv6-only service)"
else
	not_ok "the agent says why web6's VirtualService does not apply"
fi

# --- L7 over IPv6 ---------------------------------------------------------------

captured0=$(counter captured)
client app --connect "[$VIP6]:$PORT" --header 'x-version: v2' -n 3 --peer --timeout-ms 3000
if answered_by 3 web-b '10\.77\.0\.1:' && peers_are 1 "[$VIP6]:$PORT"; then
	ok "app -> [$VIP6]:$PORT with x-version: v2: 3 of 3 from web-b through the agent, getpeername() says [$VIP6]:$PORT"
else
	not_ok "app -> [$VIP6]:$PORT with x-version: v2 is routed to web-b by the agent (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect "[$VIP6]:$PORT" -n 3 --new-conn --timeout-ms 3000
if answered_by 3 web-a '10\.77\.0\.1:'; then
	ok "app -> [$VIP6]:$PORT without the header: 3 of 3 from web-a (subset v1), through the agent"
else
	not_ok "app -> [$VIP6]:$PORT without the header is routed to web-a (exit $RC)"
	show "$OUT" "$ERR"
fi
captured1=$(counter captured)
check "kernel counter captured grew by 4 (1 + 3 connections): $captured0 -> $captured1" \
	grew_by "$captured0" "$captured1" 4

# --- the same service over IPv4 and v4-mapped -------------------------------------

client app --connect "$VIP:$PORT" --header 'x-version: v2' -n 2 --peer --timeout-ms 3000
if answered_by 2 web-b '10\.77\.0\.1:' && peers_are 1 "$VIP:$PORT"; then
	ok "app -> $VIP:$PORT (the same service over IPv4): routed to web-b by the agent"
else
	not_ok "app -> $VIP:$PORT is routed to web-b by the agent (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect "$VIP:$PORT" --v4mapped --header 'x-version: v2' -n 2 --peer --timeout-ms 3000
if answered_by 2 web-b && peers_are 1 "[::ffff:$VIP]:$PORT"; then
	ok "app -> [::ffff:$VIP]:$PORT from an AF_INET6 socket: routed to web-b, getpeername() keeps the mapped form"
else
	not_ok "app -> [::ffff:$VIP]:$PORT (v4-mapped) is routed to web-b (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- L4 over IPv6: balanced in connect6 -------------------------------------------

direct0=$(counter direct)
client app --connect "[$DB6]:$PORT" -n 1 --new-conn --peer --timeout-ms 3000
c1=$OUT
client app --connect "[$DB6]:$PORT" -n 5 --new-conn --timeout-ms 3000
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq 5 ] &&
	[ "$(grep -c "seen_peer=\[$APP6\]:" "$OUT")" -eq 5 ] && grep -qxF "peer=[$DB6]:$PORT" "$c1"; then
	ok "app -> [$DB6]:$PORT (no L7 rule): 5 of 5 straight to a backend, which sees [$APP6] itself; getpeername() says [$DB6]:$PORT"
else
	not_ok "app -> [$DB6]:$PORT is balanced in the kernel to a backend's IPv6 address (exit $RC)"
	show "$c1" "$OUT" "$ERR"
fi
direct1=$(counter direct)
check "kernel counter direct grew by 6: $direct0 -> $direct1" grew_by "$direct0" "$direct1" 6
client app --connect "[$WEB6]:$PORT" -n 3 --new-conn --timeout-ms 3000
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq 3 ] &&
	[ "$(grep -c "seen_peer=\[$APP6\]:" "$OUT")" -eq 3 ]; then
	ok "app -> [$WEB6]:$PORT (IPv6-only service): 3 of 3 balanced in the kernel"
else
	not_ok "app -> [$WEB6]:$PORT (IPv6-only service) is balanced in the kernel (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- egress policy over IPv6 ----------------------------------------------------------

blocked0=$(counter egress_blocked)
refused app-reg "[$WEBA6]:$PORT" "REGISTRY_ONLY, in no registry entry"
client app-reg --connect "[$VIP6]:$PORT" --timeout-ms 3000
if answered_by 1 web-a; then
	ok "app-reg (REGISTRY_ONLY) -> [$VIP6]:$PORT, a service: allowed"
else
	not_ok "app-reg (REGISTRY_ONLY) -> [$VIP6]:$PORT, a service, is allowed (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect "[$WEBA6]:$PORT" --timeout-ms 3000
if answered_by 1 web-a "\[$APP6\]:"; then
	ok "app (ALLOW_ANY) -> [$WEBA6]:$PORT passes untouched"
else
	not_ok "app (ALLOW_ANY) -> [$WEBA6]:$PORT passes untouched (exit $RC)"
	show "$OUT" "$ERR"
fi
blocked1=$(counter egress_blocked)
check "kernel counter egress_blocked grew by 1: $blocked0 -> $blocked1" grew_by "$blocked0" "$blocked1" 1

"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps >"$TMP/maps" 2>&1
check "shuntctl maps decodes shunt_svc6: [$VIP6]:$PORT through the agent" \
	grep -qE "^  svc6 \[$VIP6\]:$PORT L7 " "$TMP/maps"
check "shuntctl maps decodes shunt_svc6: [$DB6]:$PORT in the kernel, 2 backends" \
	grep -qE "^  svc6 \[$DB6\]:$PORT L4 n_slots=2 " "$TMP/maps"

# --- fail open over IPv6, and back ----------------------------------------------------

kill -KILL "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50 >/dev/null
node_forget_pid "$AGENT_PID"
failopen0=$(counter fail_open)
client app --connect "[$VIP6]:$PORT" --header 'x-version: v2' -n 4 --new-conn --timeout-ms 3000
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq 4 ] &&
	[ "$(grep -c "seen_peer=\[$APP6\]:" "$OUT")" -eq 4 ]; then
	ok "agent killed: app -> [$VIP6]:$PORT still answered 4 of 4, balanced in the kernel ($(grep -o 'pod=[^ ]*' "$OUT" | sort | uniq -c | tr -s ' \n' ' '))"
else
	not_ok "agent killed: app -> [$VIP6]:$PORT still answered, balanced in the kernel (exit $RC)"
	show "$OUT" "$ERR"
fi
failopen1=$(counter fail_open)
check "kernel counter fail_open grew by 4: $failopen0 -> $failopen1" grew_by "$failopen0" "$failopen1" 4
if start_agent 2; then
	client app --connect "[$VIP6]:$PORT" --header 'x-version: v2' -n 3 --new-conn --timeout-ms 3000
	if answered_by 3 web-b '10\.77\.0\.1:'; then
		ok "a new agent on the same pins: [$VIP6]:$PORT is routed by the VirtualService again"
	else
		not_ok "a new agent on the same pins routes [$VIP6]:$PORT again (exit $RC)"
		show "$OUT" "$ERR"
	fi
else
	not_ok "a new shuntd is ready on the same pins"
fi
kill -TERM "$AGENT_PID"
node_wait_exit "$AGENT_PID" 100 >/dev/null || not_ok "shuntd exits on SIGTERM"
node_forget_pid "$AGENT_PID"

e2e_end
