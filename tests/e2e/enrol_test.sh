#!/bin/bash
# End-to-end enrolment test: one node holds mesh pods and other pods side by
# side, in the same captured cgroup. Which pods are in the mesh comes from
# labels (the Namespace's shunt.io/mesh, a pod's own label, Istio's
# sidecar.istio.io/inject opt-out), and a mesh pod's exclusions from Istio's
# traffic.sidecar.istio.io annotations. The agent finds each pod's network
# namespace by its address and keys shunt_pods_v2 by the namespace's cookie.
#
#   pod        labels / annotations                       connects to web (VIP)
#   app-in     (namespace enrolled)                       steered: 200
#   app-out    shunt.io/mesh: disabled                    untouched: refused at once
#   app-noinj  sidecar.istio.io/inject: "false"           untouched
#   app-excl   excludeOutboundPorts: 3000                 untouched on 3000
#   app-cidr   excludeOutboundIPRanges: 10.96.77.21/32    untouched to web2, steered to web
#   app-reg    a Sidecar with outboundTrafficPolicy REGISTRY_ONLY selects it: services and
#              a headless service's endpoints reachable, any other address refused at
#              connect() (EPERM at once, counter egress_blocked); app-in (ALLOW_ANY, the
#              default) reaches the same address
#   app-scope  a Sidecar's egress hosts [./web.default.svc.cluster.local, istio-system/*]:
#              web is steered, web2 (outside its scope) is unknown to it: untouched;
#              app-reg's Sidecar also lists only web: web2 is refused (REGISTRY_ONLY)
#
# A connection that is not steered goes to the VIP, which is blackholed in
# every pod: it fails at once (and never leaves the pod).
#
#   tests/e2e/enrol_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root; about 3 s.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"
# shellcheck source=tests/e2e/lib/e2e.sh
source "$HERE/lib/e2e.sh"

VIP=10.96.77.20
VIP2=10.96.77.21
PORT=3000
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TMP=
AGENT_PID=

# steered POD VIP WHY: the pod's connection to VIP:PORT was answered by a web pod.
steered() {
	client "$1" --connect "$2:$PORT" -n 3 --new-conn --timeout-ms 3000
	if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq 3 ]; then
		ok "$1 -> $2:$PORT is steered ($3): 3 of 3 answered by $(grep -o 'pod=[^ ]*' "$OUT" | sort -u | tr '\n' ' ')"
	else
		not_ok "$1 -> $2:$PORT is steered ($3) (exit $RC)"
		show "$OUT" "$ERR"
	fi
}

# untouched POD VIP WHY: the connection went to the VIP itself and failed at once.
untouched() {
	client "$1" --connect "$2:$PORT" --timeout-ms 3000
	if [ "$RC" -eq 3 ] && grep -q '^connect: ' "$ERR" && [ "$MS" -lt 1000 ]; then
		ok "$1 -> $2:$PORT is untouched ($3): $(cat "$ERR") after $MS ms"
	else
		not_ok "$1 -> $2:$PORT is untouched ($3) (exit $RC after $MS ms)"
		show "$OUT" "$ERR"
	fi
}

e2e_require

e2e_start enrol

node_declare_pods web-a=10.77.0.30 web-b=10.77.0.31 app-in=10.77.0.40 app-out=10.77.0.41 \
	app-noinj=10.77.0.42 app-excl=10.77.0.43 app-cidr=10.77.0.44 app-reg=10.77.0.45 \
	app-scope=10.77.0.46 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_echos "$BUILD/shunt-echo" "$TMP" web-a:$PORT:v1 web-b:$PORT:v1 ||
	fatal "the web backends did not start"

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
  selector: {app: web}
  ports: [{port: $PORT, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web2, namespace: default}
spec:
  clusterIP: $VIP2
  selector: {app: web}
  ports: [{port: $PORT, name: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, namespace: default, labels: {app: web}}
status: {podIP: 10.77.0.30}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, namespace: default, labels: {app: web, pod: b}}
status: {podIP: 10.77.0.31}
---
apiVersion: v1
kind: Pod
metadata: {name: app-in, namespace: default, labels: {app: client}}
status: {podIP: 10.77.0.40}
---
apiVersion: v1
kind: Pod
metadata: {name: app-out, namespace: default, labels: {app: client, shunt.io/mesh: disabled}}
status: {podIP: 10.77.0.41}
---
apiVersion: v1
kind: Pod
metadata: {name: app-noinj, namespace: default, labels: {app: client, sidecar.istio.io/inject: "false"}}
status: {podIP: 10.77.0.42}
---
apiVersion: v1
kind: Pod
metadata:
  name: app-excl
  namespace: default
  labels: {app: client}
  annotations: {traffic.sidecar.istio.io/excludeOutboundPorts: "5432, $PORT"}
status: {podIP: 10.77.0.43}
---
apiVersion: v1
kind: Pod
metadata:
  name: app-cidr
  namespace: default
  labels: {app: client}
  annotations: {traffic.sidecar.istio.io/excludeOutboundIPRanges: "$VIP2/32"}
status: {podIP: 10.77.0.44}
---
apiVersion: v1
kind: Pod
metadata: {name: app-reg, namespace: default, labels: {app: locked}}
status: {podIP: 10.77.0.45}
---
apiVersion: v1
kind: Service
metadata: {name: web-b-headless, namespace: default}
spec:
  clusterIP: None
  selector: {app: web, pod: b}
  ports: [{port: $PORT, name: http}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: locked, namespace: default}
spec:
  workloadSelector: {labels: {app: locked}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  egress: [{hosts: [./web.default.svc.cluster.local]}]
---
apiVersion: v1
kind: Pod
metadata: {name: app-scope, namespace: default, labels: {app: scoped}}
status: {podIP: 10.77.0.46}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: scoped, namespace: default}
spec:
  workloadSelector: {labels: {app: scoped}}
  egress: [{hosts: [./web.default.svc.cluster.local, istio-system/*]}]
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level debug >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"
if grep -qE 'hold [0-9]+ pods of the config, 7 of them in the mesh, 1 with REGISTRY_ONLY' "$TMP/shuntd.log"; then
	ok "the agent found the pods' network namespaces: $(grep -oE '[0-9]+ network namespaces in [^ ]+ hold [0-9]+ pods of the config, 7 of them in the mesh, 1 with REGISTRY_ONLY' "$TMP/shuntd.log" | head -1)"
else
	not_ok "the agent found the pods' network namespaces, 7 pods in the mesh (web-a, web-b, app-in, app-excl, app-cidr, app-reg, app-scope), 1 REGISTRY_ONLY"
	grep 'network namespaces' "$TMP/shuntd.log" | show
fi

not_mesh0=$(counter not_mesh)
excluded0=$(counter excluded)
steered app-in "$VIP" "its namespace is enrolled"
untouched app-out "$VIP" "shunt.io/mesh: disabled"
untouched app-noinj "$VIP" "sidecar.istio.io/inject: false"
untouched app-excl "$VIP" "excludeOutboundPorts $PORT"
steered app-cidr "$VIP" "only $VIP2/32 is excluded"
untouched app-cidr "$VIP2" "excludeOutboundIPRanges $VIP2/32"
steered app-in "$VIP2" "no exclusion"
blocked0=$(counter egress_blocked)
steered app-reg "$VIP" "a service is in the registry"
refused app-reg "10.77.0.30:$PORT" "REGISTRY_ONLY, a pod address in no registry entry"
client app-reg --connect "10.77.0.31:$PORT" --timeout-ms 3000
if [ "$RC" -eq 0 ] && grep -q '^status=200 .*pod=web-b ' "$OUT"; then
	ok "app-reg (REGISTRY_ONLY) -> 10.77.0.31:$PORT (an endpoint of the headless service web-b-headless) is allowed"
else
	not_ok "app-reg (REGISTRY_ONLY) -> 10.77.0.31:$PORT (headless endpoint) is allowed (exit $RC)"
	show "$OUT" "$ERR"
fi
client app-in --connect "10.77.0.30:$PORT" --timeout-ms 3000
if [ "$RC" -eq 0 ] && grep -q '^status=200 .*pod=web-a ' "$OUT"; then
	ok "app-in (ALLOW_ANY) -> 10.77.0.30:$PORT passes through untouched"
else
	not_ok "app-in (ALLOW_ANY) -> 10.77.0.30:$PORT passes through (exit $RC)"
	show "$OUT" "$ERR"
fi
refused app-reg "$VIP2:$PORT" "REGISTRY_ONLY, web2 is outside its Sidecar's egress hosts"
blocked1=$(counter egress_blocked)
check "kernel counter egress_blocked grew by 2: $blocked0 -> $blocked1" grew_by "$blocked0" "$blocked1" 2
steered app-scope "$VIP" "web is in its Sidecar's egress hosts"
untouched app-scope "$VIP2" "web2 is outside its Sidecar's egress hosts: unknown to it"

not_mesh1=$(counter not_mesh)
excluded1=$(counter excluded)
check "kernel counter not_mesh grew by 2 (app-out, app-noinj): $not_mesh0 -> $not_mesh1" \
	grew_by "$not_mesh0" "$not_mesh1" 2
check "kernel counter excluded grew by 2 (app-excl, app-cidr): $excluded0 -> $excluded1" \
	grew_by "$excluded0" "$excluded1" 2
"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps >"$TMP/maps" 2>&1
check "shuntctl maps lists shunt_pods_v2" grep -q '^shunt_pods_v2 ' "$TMP/maps"
check "shuntctl maps shows two pods with an egress scope" \
	test "$(grep -c '^  pod .* egress_scope=' "$TMP/maps")" = 2
check "shuntctl maps shows one pod with outbound=REGISTRY_ONLY" \
	test "$(grep -c '^  pod .* mesh=yes outbound=REGISTRY_ONLY' "$TMP/maps")" = 1
check "shuntctl maps lists the headless endpoint 10.77.0.31 in shunt_known4" \
	grep -qx '  known 10.77.0.31' "$TMP/maps"

e2e_end
