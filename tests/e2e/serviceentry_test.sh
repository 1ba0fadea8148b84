#!/bin/bash
# End-to-end ServiceEntry and WorkloadEntry test. The "internet" is a set of
# namespaces on the node's bridge that the config declares as no pod
# (ext-a 10.77.0.200, ext-b .201, ext-c .202, ext-d .203, vm .204): only
# ServiceEntries name them. From a mesh pod:
#
#   api.example.com   STATIC, VIP 10.96.77.50:80 (HTTP), endpoints ext-a (v1) and
#                     ext-b (v2, its own port): a VirtualService routes
#                     "x-version: v2" to subset v2 and the rest to v1, injects a
#                     503 on /fail and sets a timeout: Istio's rules apply to an
#                     external host as to a Kubernetes service
#   db.example.com    STATIC, VIP 10.96.77.51:5432 (TCP): balanced in connect4,
#                     no agent on the path
#   vm.example.com    STATIC with workloadSelector: the WorkloadEntry "vm-1" is its
#                     endpoint (no VirtualService: balanced in the kernel)
#   legacy (NONE)     addresses [10.77.0.202]: a REGISTRY_ONLY pod may reach it
#                     by address; 10.77.0.203, declared nowhere, is refused
#   ext.example.com,  no addresses, HTTP port 8080: any connection to port 8080 goes
#   *.wild.example.com  to the agent, which routes on the Host header (exact, then
#                     wildcard); a host nobody declares goes to its original
#                     destination (ext-e, PassthroughCluster), or gets 502 from a
#                     REGISTRY_ONLY pod (BlackHoleCluster); with the agent killed,
#                     such connections go where they were headed
#   my-api.example.com  the seed's egress listener: app-bind's Sidecar binds
#                     127.0.0.1:8080 to it, so the pod's own loopback port reaches
#                     the external API through the agent; other pods' 127.0.0.1:8080
#                     is left alone
#
#   tests/e2e/serviceentry_test.sh BUILD_DIR
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

API=10.96.77.50
DB=10.96.77.51
VM=10.96.77.52
PORT=3000
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TMP=
AGENT_PID=

# answered N POD SEEN_PEER_RE: N responses 200, all from POD, the backend saw SEEN_PEER_RE.
answered() {
	[ "$RC" -eq 0 ] && [ "$(grep -c "^status=200 pod=$2 " "$OUT")" -eq "$1" ] &&
		[ "$(grep -cE "seen_peer=$3" "$OUT")" -eq "$1" ]
}

e2e_require

e2e_start se

node_declare_pods app=10.77.0.40 app-reg=10.77.0.45 ext-a=10.77.0.200 ext-b=10.77.0.201 \
	ext-c=10.77.0.202 ext-d=10.77.0.203 vm=10.77.0.204 ext-e=10.77.0.205 app-bind=10.77.0.47 \
	ext-f=10.77.0.206 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_echos "$BUILD/shunt-echo" "$TMP" ext-a:$PORT:v1 ext-b:9090:v2 ext-c:$PORT:legacy \
	ext-d:$PORT:stranger vm:$PORT:vm ext-e:8080:passthrough ext-f:$PORT:legacy-web ||
	fatal "the external servers did not start"

mkdir -p "$TMP/config"
cat >"$TMP/config/mesh.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: default, labels: {app: client}}
status: {podIP: 10.77.0.40}
---
apiVersion: v1
kind: Pod
metadata: {name: app-reg, namespace: default, labels: {app: locked}}
status: {podIP: 10.77.0.45}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: locked, namespace: default}
spec:
  workloadSelector: {labels: {app: locked}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
YAML
cat >"$TMP/config/external.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  addresses: [$API]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: $PORT}]
  endpoints:
  - {address: 10.77.0.200, labels: {version: v1}}
  - {address: 10.77.0.201, labels: {version: v2}, ports: {http: 9090}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: default}
spec:
  host: api.example.com
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  http:
  - match: [{uri: {prefix: /fail}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: api.example.com, subset: v1}}]
  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: api.example.com, subset: v2}}]
  - route: [{destination: {host: api.example.com, subset: v1}}]
    timeout: 2s
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: default}
spec:
  hosts: [db.example.com]
  addresses: [$DB/32]
  resolution: STATIC
  ports: [{number: 5432, name: tcp-db, protocol: TCP, targetPort: $PORT}]
  endpoints: [{address: 10.77.0.200}, {address: 10.77.0.201, ports: {tcp-db: 9090}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: default}
spec:
  hosts: [vm.example.com]
  addresses: [$VM]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: $PORT}]
  workloadSelector: {labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: default}
spec:
  address: 10.77.0.204
  labels: {app: vm}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: default}
spec:
  hosts: [legacy.example.com]
  addresses: [10.77.0.202]
  resolution: NONE
  ports: [{number: $PORT, name: tcp, protocol: TCP}]
YAML

cat >>"$TMP/config/external.yaml" <<YAML
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [ext.example.com]
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP, targetPort: $PORT}]
  endpoints: [{address: 10.77.0.200}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: default}
spec:
  hosts: ["*.wild.example.com"]
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP, targetPort: 9090}]
  endpoints: [{address: 10.77.0.201}]
---
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: external-api-example-com
spec:
  hosts:
  - my-api.example.com
  ports:
  - number: 9000
    protocol: HTTP
    targetPort: $PORT
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 10.77.0.200}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy-web, namespace: default}
spec:
  hosts: [legacy-web.example.com]
  addresses: [10.77.0.206]
  resolution: NONE
  ports: [{number: $PORT, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: legacy-web, namespace: default}
spec:
  hosts: [legacy-web.example.com]
  http:
  - match: [{uri: {prefix: /teapot}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: legacy-web.example.com}}]
  - route: [{destination: {host: legacy-web.example.com}}]
---
apiVersion: v1
kind: Pod
metadata: {name: app-bind, namespace: default, labels: {app: bind}}
status: {podIP: 10.77.0.47}
---
apiVersion: networking.istio.io/v1alpha3
kind: Sidecar
metadata: {name: bind, namespace: default}
spec:
  workloadSelector: {labels: {app: bind}}
  egress:
  - port:
      number: 8080
      protocol: HTTP
      name: egresshttp
    bind: 127.0.0.1
    hosts:
    - "*/my-api.example.com"
  - hosts: ["*/*"]
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level debug >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

# --- api.example.com: an external host with Istio's L7 rules ----------------------

client app --connect "$API:80" --host api.example.com --header 'x-version: v2' -n 3 --timeout-ms 3000
if answered 3 ext-b '10\.77\.0\.1:'; then
	ok "app -> api.example.com ($API:80) with x-version: v2: 3 of 3 from ext-b:9090 (subset v2, the endpoint's own port), through the agent"
else
	not_ok "app -> api.example.com with x-version: v2 is routed to ext-b (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect "$API:80" --host api.example.com -n 3 --new-conn --timeout-ms 3000
if answered 3 ext-a '10\.77\.0\.1:'; then
	ok "app -> api.example.com without the header: 3 of 3 from ext-a:$PORT (subset v1, targetPort)"
else
	not_ok "app -> api.example.com without the header is routed to ext-a (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect "$API:80" --host api.example.com --path /fail --timeout-ms 3000
if [ "$RC" -eq 0 ] && grep -q '^status=503 ' "$OUT"; then
	ok "app -> api.example.com/fail: 503 from the fault the VirtualService injects on an external host"
else
	not_ok "app -> api.example.com/fail gets the injected 503 (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- db.example.com: TCP, in the kernel ---------------------------------------------

direct0=$(counter direct)
client app --connect "$DB:5432" -n 1 --new-conn --timeout-ms 3000 --peer
c1=$OUT
client app --connect "$DB:5432" -n 6 --new-conn --timeout-ms 3000
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq 6 ] &&
	[ "$(grep -c 'seen_peer=10\.77\.0\.40:' "$OUT")" -eq 6 ] && grep -qx "peer=$DB:5432" "$c1"; then
	ok "app -> db.example.com ($DB:5432, TCP): 6 of 6 balanced in connect4 straight to $(grep -o 'pod=[^ ]*' "$OUT" | sort -u | tr '\n' ' '); getpeername() says $DB:5432"
else
	not_ok "app -> db.example.com is balanced in the kernel (exit $RC)"
	show "$c1" "$OUT" "$ERR"
fi
direct1=$(counter direct)
check "kernel counter direct grew by 7: $direct0 -> $direct1" grew_by "$direct0" "$direct1" 7

# --- vm.example.com: a WorkloadEntry ---------------------------------------------------

client app --connect "$VM:80" --host vm.example.com -n 2 --timeout-ms 3000
if answered 2 vm '10\.77\.0\.40:'; then
	ok "app -> vm.example.com ($VM:80): answered by the WorkloadEntry vm-1 (10.77.0.204) its workloadSelector picks, balanced in the kernel (no L7 rule names it)"
else
	not_ok "app -> vm.example.com is answered by the WorkloadEntry (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- REGISTRY_ONLY and ServiceEntry addresses ---------------------------------------

client app-reg --connect "10.77.0.202:$PORT" --timeout-ms 3000
if answered 1 ext-c '10\.77\.0\.45:'; then
	ok "app-reg (REGISTRY_ONLY) -> 10.77.0.202:$PORT, the address of ServiceEntry legacy (NONE): allowed, untouched"
else
	not_ok "app-reg (REGISTRY_ONLY) -> 10.77.0.202, a ServiceEntry address, is allowed (exit $RC)"
	show "$OUT" "$ERR"
fi
client app-reg --connect "$API:80" --host api.example.com --timeout-ms 3000
if answered 1 ext-a '10\.77\.0\.1:'; then
	ok "app-reg (REGISTRY_ONLY) -> api.example.com: allowed, routed"
else
	not_ok "app-reg (REGISTRY_ONLY) -> api.example.com is allowed (exit $RC)"
	show "$OUT" "$ERR"
fi
refused app-reg "10.77.0.203:$PORT" "REGISTRY_ONLY, declared by nothing"
client app --connect "10.77.0.203:$PORT" --timeout-ms 3000
if answered 1 ext-d '10\.77\.0\.40:'; then
	ok "app (ALLOW_ANY) -> 10.77.0.203:$PORT: passes untouched"
else
	not_ok "app (ALLOW_ANY) -> 10.77.0.203 passes untouched (exit $RC)"
	show "$OUT" "$ERR"
fi

"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps >"$TMP/maps" 2>&1
check "shuntctl maps: $API:80 through the agent" \
	grep -qE "^  svc $API:80 L7 " "$TMP/maps"
check "shuntctl maps: $DB:5432 in the kernel with 2 backends" \
	grep -qE "^  svc $DB:5432 L4 n_slots=2 " "$TMP/maps"
check "shuntctl maps: 10.77.0.202 (ServiceEntry legacy, NONE) is in shunt_known4" \
	grep -qx '  known 10.77.0.202' "$TMP/maps"

check "shuntctl maps: port 8080 is captured whatever the address" \
	grep -qx '  port 8080 any address -> agent, by Host header' "$TMP/maps"

# --- hosts without addresses: captured by port, routed on the Host header -------------

client app --connect 10.77.0.205:8080 --host ext.example.com -n 2 --timeout-ms 3000
if answered 2 ext-a '10\.77\.0\.1:'; then
	ok "app -> 10.77.0.205:8080 with Host: ext.example.com: routed by name to ext-a:$PORT, not to the address"
else
	not_ok "app -> 10.77.0.205:8080 with Host: ext.example.com is routed to ext-a (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect 10.77.0.205:8080 --host a.wild.example.com:8080 --timeout-ms 3000
if answered 1 ext-b '10\.77\.0\.1:'; then
	ok "app -> Host: a.wild.example.com:8080: matched by *.wild.example.com, routed to ext-b:9090"
else
	not_ok "app -> Host: a.wild.example.com is routed to ext-b (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect 10.77.0.205:8080 --host nobody.example.org --timeout-ms 3000
if answered 1 ext-e '10\.77\.0\.1:'; then
	ok "app (ALLOW_ANY) -> Host: nobody.example.org: PassthroughCluster, to the original destination 10.77.0.205:8080"
else
	not_ok "app (ALLOW_ANY) -> an undeclared host goes to its original destination (exit $RC)"
	show "$OUT" "$ERR"
fi
client app-reg --connect 10.77.0.205:8080 --host nobody.example.org --timeout-ms 3000
if [ "$RC" -eq 0 ] && grep -q '^status=502 ' "$OUT"; then
	ok "app-reg (REGISTRY_ONLY) -> Host: nobody.example.org: 502 (BlackHoleCluster)"
else
	not_ok "app-reg (REGISTRY_ONLY) -> an undeclared host gets 502 (exit $RC)"
	show "$OUT" "$ERR"
fi
client app-reg --connect 10.77.0.205:8080 --host ext.example.com --timeout-ms 3000
if answered 1 ext-a '10\.77\.0\.1:'; then
	ok "app-reg (REGISTRY_ONLY) -> Host: ext.example.com, declared: routed to ext-a"
else
	not_ok "app-reg (REGISTRY_ONLY) -> a declared host is routed (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- the seed's egress listener: 127.0.0.1:8080 in app-bind reaches my-api.example.com ---

client app-bind --connect 127.0.0.1:8080 -n 2 --timeout-ms 3000
if answered 2 ext-a '10\.77\.0\.1:'; then
	ok "app-bind -> 127.0.0.1:8080 (its Sidecar's egress listener): my-api.example.com answers (ext-a), through the agent"
else
	not_ok "app-bind -> 127.0.0.1:8080 reaches my-api.example.com through its egress listener (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect 127.0.0.1:8080 --timeout-ms 3000
if [ "$RC" -eq 3 ] && grep -q '^connect: Connection refused' "$ERR"; then
	ok "app -> 127.0.0.1:8080 (no such listener in its Sidecar): its own loopback, untouched: $(cat "$ERR")"
else
	not_ok "app -> 127.0.0.1:8080 is left to the pod's own loopback (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- resolution NONE with an address and an L7 rule: through the agent, to that address ---

client app --connect "10.77.0.206:$PORT" --host legacy-web.example.com --path /teapot --timeout-ms 3000
if [ "$RC" -eq 0 ] && grep -q '^status=418 ' "$OUT"; then
	ok "app -> legacy-web.example.com (NONE, 10.77.0.206)/teapot: 418 from the VirtualService's fault"
else
	not_ok "app -> legacy-web.example.com/teapot gets the injected 418 (exit $RC)"
	show "$OUT" "$ERR"
fi
client app --connect "10.77.0.206:$PORT" --host legacy-web.example.com --timeout-ms 3000
if answered 1 ext-f '10\.77\.0\.1:'; then
	ok "app -> legacy-web.example.com/: through the agent to the address the app asked (PASSTHROUGH)"
else
	not_ok "app -> legacy-web.example.com/ reaches 10.77.0.206 through the agent (exit $RC)"
	show "$OUT" "$ERR"
fi

kill -KILL "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50 >/dev/null
node_forget_pid "$AGENT_PID"
client app --connect 10.77.0.205:8080 --host ext.example.com --timeout-ms 3000
if answered 1 ext-e '10\.77\.0\.40:'; then
	ok "agent killed: app -> 10.77.0.205:8080 goes where it was headed (fail open), untouched"
else
	not_ok "agent killed: a connection captured by port goes to its address (exit $RC)"
	show "$OUT" "$ERR"
fi

client app --connect "10.77.0.206:$PORT" --host legacy-web.example.com --timeout-ms 3000
if answered 1 ext-f '10\.77\.0\.40:'; then
	ok "agent killed: app -> legacy-web.example.com (NONE) goes to its address untouched, not refused"
else
	not_ok "agent killed: a NONE entry with L7 rules goes to its address (exit $RC)"
	show "$OUT" "$ERR"
fi

e2e_end
