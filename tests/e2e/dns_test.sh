#!/bin/bash
# End-to-end DNS for mesh pods: a pod's resolver (glibc, through getent) asks
# the nameserver of /etc/resolv.conf on port 53; the kernel sends the query to
# shuntd's resolver instead (connect4/sendmsg4 for UDP port 53, recvmsg4 makes
# the answer seem to come from the nameserver asked), which answers registry
# names from the config. Every query stays in the test's namespaces: the
# nameserver's address is unroutable in every pod, so a query that is not
# captured fails at once.
#
#   app      (mesh)  web.default.svc.cluster.local -> its VIP, a headless
#                    service -> its pod, a ServiceEntry host -> its address, a
#                    missing service -> NXDOMAIN; then connects by the name; a TCP
#                    ServiceEntry without addresses -> a VIP allocated for it, which
#                    connect4 balances
#   app-out  (shunt.io/mesh: disabled) its query is not captured
#   kill -9 the agent: queries go to the nameserver asked again (fail open)
#
#   tests/e2e/dns_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root; about 5 s.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"
# shellcheck source=tests/e2e/lib/e2e.sh
source "$HERE/lib/e2e.sh"

LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TMP=
AGENT_PID=

e2e_require
e2e_require_dns

e2e_start dns

node_declare_pods web-a=10.77.0.30 app=10.77.0.40 app-out=10.77.0.41 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN; the pods' nameserver: $NS_IP"
node_start_echos "$BUILD/shunt-echo" "$TMP" web-a:3000:v1 || fatal "the web backend did not start"

mkdir -p "$TMP/config"
cat >"$TMP/config/cluster.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.77.20, selector: {app: web}, ports: [{port: 3000, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-headless, namespace: default}
spec: {clusterIP: None, selector: {app: web}, ports: [{port: 3000, name: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, namespace: default, labels: {app: web}}
status: {podIP: 10.77.0.30}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default, labels: {app: client}}
status: {podIP: 10.77.0.40}
---
apiVersion: v1
kind: Pod
metadata: {name: app-out, namespace: default, labels: {app: client, shunt.io/mesh: disabled}}
status: {podIP: 10.77.0.41}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  addresses: [10.96.77.50]
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3000}]
  endpoints: [{address: 10.77.0.30}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: tcp-db, namespace: default}
spec:
  hosts: [db.example.com]
  resolution: STATIC
  ports: [{number: 5432, name: tcp, protocol: TCP, targetPort: 3000}]
  endpoints: [{address: 10.77.0.30}]
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--dns-upstream none --admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level debug \
	>"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

captured0=$(counter dns_captured)
resolve app web.default.svc.cluster.local
if [ "$RC" -eq 0 ] && [ "$(first_ip)" = 10.96.77.20 ]; then
	ok "app: web.default.svc.cluster.local is 10.96.77.20, its VIP (answered by shuntd for $NS_IP, in $MS ms)"
else
	not_ok "app: web.default.svc.cluster.local resolves to its VIP (exit $RC, $MS ms)"
	show "$OUT"
fi
resolve app web-headless.default.svc.cluster.local
if [ "$RC" -eq 0 ] && [ "$(first_ip)" = 10.77.0.30 ]; then
	ok "app: web-headless.default.svc.cluster.local (headless) is its pod, 10.77.0.30"
else
	not_ok "app: a headless service resolves to its pod (exit $RC)"
	show "$OUT"
fi
resolve app api.example.com
if [ "$RC" -eq 0 ] && [ "$(first_ip)" = 10.96.77.50 ]; then
	ok "app: api.example.com (a ServiceEntry) is 10.96.77.50, its address"
else
	not_ok "app: a ServiceEntry host resolves to its address (exit $RC)"
	show "$OUT"
fi
resolve app nothere.default.svc.cluster.local
if [ "$RC" -eq 2 ] && [ "$MS" -lt 2000 ]; then
	ok "app: nothere.default.svc.cluster.local does not exist (NXDOMAIN, getent exit 2 after $MS ms)"
else
	not_ok "app: a missing service is NXDOMAIN at once (exit $RC after $MS ms)"
	show "$OUT"
fi
captured1=$(counter dns_captured)
if [[ $captured1 =~ ^[0-9]+$ ]] && [ "$captured1" -ge $((captured0 + 4)) ]; then
	ok "kernel counter dns_captured grew by at least 4: $captured0 -> $captured1"
else
	not_ok "kernel counter dns_captured grew by at least 4: $captured0 -> $captured1"
fi

# By name, then by the address it resolved to.
resolve app web.default.svc.cluster.local
ip=$(first_ip)
OUT2=$TMP/conn
pod_exec app "$BUILD/shunt-client" --connect "$ip:3000" --host web.default.svc.cluster.local \
	--timeout-ms 3000 >"$OUT2" 2>&1
check "app: http://web.default.svc.cluster.local:3000 by name: answered by web-a" \
	grep -q '^status=200 pod=web-a ' "$OUT2"

# A ServiceEntry without addresses: a VIP allocated from 240.240.0.0/16, so TCP works by name.
resolve app db.example.com
auto=$(first_ip)
if [ "$RC" -eq 0 ] && [[ $auto == 240.240.* ]]; then
	ok "app: db.example.com (a TCP ServiceEntry without addresses) is $auto, an allocated VIP"
else
	not_ok "app: db.example.com resolves to an allocated VIP in 240.240.0.0/16 (exit $RC)"
	show "$OUT"
fi
pod_exec app "$BUILD/shunt-client" --connect db.example.com:5432 -n 2 --new-conn \
	--timeout-ms 3000 >"$OUT2" 2>&1
check "app -> db.example.com:5432 by name: balanced in the kernel to its endpoint (web-a), which sees the pod itself" \
	test "$(grep -c '^status=200 pod=web-a .*seen_peer=10\.77\.0\.40:' "$OUT2")" = 2

resolve app-out web.default.svc.cluster.local
if [ "$RC" -ne 0 ] && [ "$MS" -lt 8000 ]; then
	ok "app-out (not in the mesh): its query is not captured, $NS_IP is unreachable from it (getent exit $RC after $MS ms)"
else
	not_ok "app-out's query is not captured (exit $RC after $MS ms)"
	show "$OUT"
fi

kill -KILL "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50 >/dev/null
node_forget_pid "$AGENT_PID"
resolve app web.default.svc.cluster.local
if [ "$RC" -ne 0 ]; then
	ok "agent killed: app's query goes to $NS_IP as asked (fail open; unreachable here, getent exit $RC)"
else
	not_ok "agent killed: app's query is not captured any more"
	show "$OUT"
fi

e2e_end
