#!/bin/bash
# End-to-end Gateway test: shuntd serves, on the node, the Gateways whose
# selector matches its labels (--gateway-labels istio=ingressgateway), and a
# client outside every pod ("visitor", a namespace on the bridge that no pod
# of the config owns) calls the node's address:
#
#   the seed tutorial's flow: Gateway (port 80 here 8080) and VirtualService
#   for Host helloweb.dev reach helloweb, an app that calls greeter-service
#   by name (shunt answers the DNS query, captures the VIP, and applies the
#   tutorial's mesh rules: a Firefox User-Agent to v2, the rest 90/10 over
#   v1/v2); Host greeter.dev reaches greeter-service with the same rules
#   bound to the Gateway
#   Bookinfo's bookinfo-gateway.yaml as shipped: its five paths reach
#   productpage, any other gets 404; a host no VirtualService binds: 404
#   a server with tls.httpsRedirect: 301 to https://host/path
#   a Gateway whose selector does not match the agent: its port is closed
#   a reload that adds a Gateway on a new port serves it at once, and one
#   that removes it closes the port again, without a restart; the other
#   ports serve throughout
#
#   tests/e2e/gateway_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root; about 5 s.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
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

# visit ARGS...: shunt-client from the visitor namespace; sets OUT, ERR, RC.
visit() {
	OUT=$TMP/out.$((++calls))
	ERR=$TMP/err.$calls
	pod_exec_outside visitor "$BUILD/shunt-client" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}
calls=0

e2e_require

e2e_start gw

node_declare_pods helloweb=10.77.0.10 greeter-v1=10.77.0.11 greeter-v2=10.77.0.13 \
	productpage=10.77.0.20 visitor=10.77.0.90 || fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_echos "$BUILD/shunt-echo" "$TMP" greeter-v1:3000:v1 greeter-v2:3000:v2 \
	productpage:9080:v1 || fatal "the backends did not start"
# helloweb is the tutorial's web app: each request it gets, it passes on to greeter-service by
# name (DNS through shunt, the VIP captured, the mesh's VirtualService applied).
pod_spawn helloweb "$BUILD/shunt-echo" --listen 10.77.0.10:3000 --name helloweb --version v1 \
	--call greeter-service.default.svc.cluster.local:3000 >"$TMP/helloweb.log" 2>&1
for ((i = 0; i < 50; i++)); do
	grep -q "listening on" "$TMP/helloweb.log" && break
	sleep 0.1
done
grep -q "listening on" "$TMP/helloweb.log" || fatal "helloweb did not start: $(cat "$TMP/helloweb.log")"

mkdir -p "$TMP/config"
cp "$SRC/tests/e2e/routing/istio-bookinfo/bookinfo-gateway.yaml" "$TMP/config/" ||
	fatal "bookinfo-gateway.yaml not found"
cat >"$TMP/config/cluster.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: helloweb, namespace: default}
spec: {clusterIP: 10.96.77.10, selector: {app: helloweb}, ports: [{port: 3000, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: greeter-service, namespace: default}
spec: {clusterIP: 10.96.77.11, selector: {app: greeter}, ports: [{port: 3000, name: http}]}
---
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: default}
spec: {clusterIP: 10.96.77.20, selector: {app: productpage}, ports: [{port: 9080, name: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: helloweb, namespace: default, labels: {app: helloweb}}
status: {podIP: 10.77.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-v1, namespace: default, labels: {app: greeter, version: v1}}
status: {podIP: 10.77.0.11}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-v2, namespace: default, labels: {app: greeter, version: v2}}
status: {podIP: 10.77.0.13}
---
apiVersion: v1
kind: Pod
metadata: {name: productpage, namespace: default, labels: {app: productpage}}
status: {podIP: 10.77.0.20}
YAML
# The seed tutorial's Gateway and VirtualServices (port 80 moved to 8080: the bookinfo one
# takes 8080 too, and one listener serves both Gateways).
cat >"$TMP/config/seed.yaml" <<'YAML'
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: gateway
spec:
  selector:
    istio: ingressgateway
  servers:
    - port:
        number: 8080
        name: http
        protocol: HTTP
      hosts:
        - 'helloweb.dev'
        - 'greeter.dev'
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: helloweb
spec:
  hosts:
    - 'helloweb.dev'
  gateways:
    - gateway
  http:
    - route:
      - destination:
          host: helloweb.default.svc.cluster.local
          port:
            number: 3000
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: greeter-service
spec:
  hosts:
    - greeter.dev
  gateways:
    - gateway
  http:
  - match:
    - headers:
        user-agent:
          regex: '.*Firefox.*'
    route:
    - destination:
        host: greeter-service.default.svc.cluster.local
        port:
          number: 3000
        subset: v2
  - route:
    - destination:
        host: greeter-service.default.svc.cluster.local
        port:
          number: 3000
        subset: v1
      weight: 90
    - destination:
        host: greeter-service.default.svc.cluster.local
        port:
          number: 3000
        subset: v2
      weight: 10
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: greeter-service-mesh
spec:
  hosts:
    - greeter-service.default.svc.cluster.local
  http:
  - match:
    - headers:
        user-agent:
          regex: '.*Firefox.*'
    route:
    - destination:
        host: greeter-service.default.svc.cluster.local
        port:
          number: 3000
        subset: v2
  - route:
    - destination:
        host: greeter-service.default.svc.cluster.local
        port:
          number: 3000
        subset: v1
      weight: 90
    - destination:
        host: greeter-service.default.svc.cluster.local
        port:
          number: 3000
        subset: v2
      weight: 10
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: greeter-service
spec:
  host: greeter-service.default.svc.cluster.local
  subsets:
    - name: v1
      labels:
        version: v1
    - name: v2
      labels:
        version: v2
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: redirect}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8081, name: http-redirect, protocol: HTTP}
    hosts: ['*']
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress-only}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 8082, name: http, protocol: HTTP}
    hosts: ['*']
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--gateway-labels istio=ingressgateway --dns-upstream none --admin "$ADMIN" --pin-dir "$NODE_PIN" \
	--log-level debug >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"
GW=$NODE_GW:8080

visit --connect "$GW" --host helloweb.dev --header 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' -n 3 --timeout-ms 5000
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 pod=helloweb .* upstream=greeter-v2$' "$OUT")" -eq 3 ]; then
	ok "the seed's flow: visitor -> $GW Host: helloweb.dev (Firefox): helloweb answers, having called greeter-service by name, answered by greeter-v2 (3 of 3)"
else
	not_ok "the seed's flow: helloweb.dev with Firefox reaches helloweb, whose call greeter-v2 answers (exit $RC)"
	show "$OUT" "$ERR" "$TMP/helloweb.log"
fi
visit --connect "$GW" --host helloweb.dev -n 100 --timeout-ms 5000
v1=$(grep -c '^status=200 pod=helloweb .* upstream=greeter-v1$' "$OUT")
v2=$(grep -c '^status=200 pod=helloweb .* upstream=greeter-v2$' "$OUT")
if [ "$RC" -eq 0 ] && [ "$v1" -eq 90 ] && [ "$v2" -eq 10 ]; then
	ok "the seed's flow, 100 visits to helloweb.dev: helloweb's calls went $v1 to greeter-v1, $v2 to greeter-v2 (the mesh's 90/10 split)"
else
	not_ok "the seed's flow splits helloweb's calls 90/10: v1=$v1 v2=$v2 (exit $RC)"
	head -5 "$OUT" | show
fi
visit --connect "$GW" --host greeter.dev --header 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' -n 5 --timeout-ms 3000
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 pod=greeter-v2 ' "$OUT")" -eq 5 ]; then
	ok "visitor -> greeter.dev with a Firefox User-Agent: 5 of 5 from greeter-v2 (the regex rule)"
else
	not_ok "visitor -> greeter.dev with Firefox goes to v2 (exit $RC)"
	show "$OUT" "$ERR"
fi
visit --connect "$GW" --host greeter.dev -n 100 --timeout-ms 5000
v1=$(grep -c '^status=200 pod=greeter-v1 ' "$OUT")
v2=$(grep -c '^status=200 pod=greeter-v2 ' "$OUT")
if [ "$RC" -eq 0 ] && [ "$v1" -eq 90 ] && [ "$v2" -eq 10 ]; then
	ok "visitor -> greeter.dev, 100 requests: $v1 from v1, $v2 from v2 (the 90/10 split, exact over 100)"
else
	not_ok "visitor -> greeter.dev splits 90/10 over 100 requests: v1=$v1 v2=$v2 (exit $RC)"
	head -5 "$OUT" | show
fi

n_ok=0
for path in /productpage /static/css/style.css /login /logout /api/v1/products/1; do
	visit --connect "$GW" --host bookinfo.example.com --path "$path" --timeout-ms 3000
	if [ "$RC" -eq 0 ] && grep -q '^status=200 pod=productpage ' "$OUT"; then
		n_ok=$((n_ok + 1))
	else
		show "$OUT" "$ERR"
	fi
done
check "bookinfo-gateway.yaml as shipped: the five paths (/productpage, /static, /login, /logout, /api/v1/products) reach productpage ($n_ok of 5)" \
	test "$n_ok" -eq 5
visit --connect "$GW" --host bookinfo.example.com --path /admin --timeout-ms 3000
if [ "$RC" -eq 0 ] && grep -q '^status=404 ' "$OUT"; then
	ok "bookinfo: /admin, which no rule matches, gets 404"
else
	not_ok "bookinfo: /admin gets 404 (exit $RC)"
	show "$OUT" "$ERR"
fi

visit --connect "$NODE_GW:8081" --host shop.example.com --path '/cart?x=1' --show-headers --timeout-ms 3000
if [ "$RC" -eq 0 ] && grep -q '^status=301 ' "$OUT" &&
	grep -qx 'header=location: https://shop.example.com/cart?x=1' "$OUT"; then
	ok "a server with tls.httpsRedirect: 301 to https://shop.example.com/cart?x=1"
else
	not_ok "a server with tls.httpsRedirect answers 301 to https (exit $RC)"
	show "$OUT" "$ERR"
fi
visit --connect "$NODE_GW:8082" --timeout-ms 2000
if [ "$RC" -eq 3 ] && grep -q '^connect: Connection refused' "$ERR"; then
	ok "the Gateway whose selector (istio=egressgateway) does not match the agent is not served: $(cat "$ERR")"
else
	not_ok "a Gateway for another workload is not served (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- Gateways come and go with the config, without a restart -------------------

gen=$(generation)
cat >"$TMP/late.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: late, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8083, name: http, protocol: HTTP}
    hosts: [late.dev]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: late, namespace: default}
spec:
  hosts: [late.dev]
  gateways: [late]
  http:
  - route:
    - destination: {host: greeter-service.default.svc.cluster.local, subset: v1, port: {number: 3000}}
YAML
visit --connect "$NODE_GW:8083" --host late.dev --timeout-ms 2000
check "before the reload, port 8083 is closed (exit $RC)" test "$RC" -eq 3
mv "$TMP/late.yaml" "$TMP/config/late.yaml"
if wait_generation $((gen + 1)); then
	visit --connect "$NODE_GW:8083" --host late.dev -n 3 --timeout-ms 3000
	if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 pod=greeter-v1 ' "$OUT")" -eq 3 ]; then
		ok "a reload adding Gateway late on port 8083: late.dev answered by greeter-v1 (3 of 3), no restart"
	else
		not_ok "a reload adding a Gateway serves its new port (exit $RC)"
		show "$OUT" "$ERR"
	fi
else
	not_ok "the config with Gateway late is applied (generation $(generation), want $((gen + 1)))"
fi
visit --connect "$GW" --host greeter.dev -n 5 --timeout-ms 3000
check "port 8080 serves on through the reload (exit $RC)" test "$RC" -eq 0 -a "$(grep -c '^status=200 ' "$OUT")" -eq 5
rm -f "$TMP/config/late.yaml"
if wait_generation $((gen + 2)); then
	visit --connect "$NODE_GW:8083" --host late.dev --timeout-ms 2000
	if [ "$RC" -eq 3 ] && grep -q '^connect: Connection refused' "$ERR"; then
		ok "a reload removing Gateway late closes port 8083 again: $(cat "$ERR")"
	else
		not_ok "a reload removing a Gateway closes its port (exit $RC)"
		show "$OUT" "$ERR"
	fi
else
	not_ok "the config without Gateway late is applied (generation $(generation), want $((gen + 2)))"
fi
visit --connect "$GW" --host greeter.dev -n 5 --timeout-ms 3000
check "port 8080 serves on after the second reload (exit $RC)" test "$RC" -eq 0 -a "$(grep -c '^status=200 ' "$OUT")" -eq 5

e2e_end
