#!/bin/bash
# End-to-end TLS routing by SNI, never terminated by shuntd. The "internet" is a
# set of namespaces on the node's bridge that the config declares as no pod,
# each running openssl s_server with a certificate of a throwaway CA made in
# the test's temporary directory (every client checks the server's real
# certificate and name: nothing in between can have terminated TLS):
#
#   ext-a 10.77.0.200  a.example.com      ServiceEntry ext: hosts a.example.com and
#   ext-b 10.77.0.201  b.example.com        b.example.com, no addresses, port 443 TLS,
#                                           resolution NONE: captured by port, the SNI
#                                           names the entry
#   ext-c 10.77.0.202  b.example.com (v1) ServiceEntry backends.internal (STATIC): a
#   ext-d 10.77.0.203  b.example.com (v2)   VirtualService tls route steers SNI
#                                           b.example.com there, 75/25 over subsets
#   web   10.77.0.50   web.secure.dev     Service web (VIP 10.96.77.60, port https) with a
#                                           mesh tls route, and a pod behind a Gateway
#                                           PASSTHROUGH server (port 8443, *.secure.dev):
#                                           shuntd forwards the raw TLS by SNI, the pod
#                                           terminates it
#
# From the mesh pod app (ALLOW_ANY) and app-reg (its Sidecar says REGISTRY_ONLY):
# a.example.com reaches ext-a; b.example.com, asked of ext-b's address, is answered
# by ext-c and ext-d, exactly 6 and 2 of 8; a name nothing declares goes to the
# address asked (ALLOW_ANY) or is closed (REGISTRY_ONLY); web's VIP goes through
# shuntd because a tls route names its TLS port; from a visitor outside
# the mesh, https://web.secure.dev:8443 through the Gateway reaches the pod, and a
# name no tls route has is closed. shuntd's counters say it read SNIs and did no
# TLS handshake.
#
#   tests/e2e/tls_routing_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root, curl and openssl; about 10 s.
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
calls=0

# pod_curl POD|visitor ARGS...: curl from a mesh pod (captured), or from the visitor
# outside the mesh; bounded. Sets OUT, ERR, RC.
pod_curl() {
	local pod=$1 run=pod_exec
	shift
	[ "$pod" = visitor ] && run=pod_exec_outside
	OUT=$TMP/out.$((++calls))
	ERR=$TMP/err.$calls
	$run "$pod" curl -sS --max-time 5 --cacert "$TMP/ca.crt" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}
# subject POD ADDR SNI: the subject of the certificate POD is shown at ADDR for SNI.
subject() {
	pod_exec "$1" timeout 5 openssl s_client -connect "$2" -servername "$3" \
		-CAfile "$TMP/ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null
}
stat_of() {
	node_exec curl -s --max-time 5 "http://$ADMIN/stats" | awk -v n="proxy.$1" '$1 == n {print $2}'
}

e2e_require
command -v curl >/dev/null || fatal "curl is missing (make deps)"
command -v openssl >/dev/null || fatal "openssl is missing (make deps)"

e2e_start tlsroute

# A throwaway CA and one certificate per name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=ca \
	-keyout "$TMP/ca.key" -out "$TMP/ca.crt" 2>/dev/null || fatal "openssl could not make the CA"
for h in a.example.com b.example.com web.secure.dev; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$h" \
		-keyout "$TMP/$h.key" -out "$TMP/$h.csr" 2>/dev/null &&
		printf 'subjectAltName=DNS:%s\n' "$h" >"$TMP/$h.ext" &&
		openssl x509 -req -in "$TMP/$h.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" \
			-CAcreateserial -days 1 -extfile "$TMP/$h.ext" -out "$TMP/$h.crt" 2>/dev/null ||
		fatal "openssl could not make the certificate of $h"
done

node_declare_pods app=10.77.0.40 app-reg=10.77.0.45 web=10.77.0.50 ext-a=10.77.0.200 \
	ext-b=10.77.0.201 ext-c=10.77.0.202 ext-d=10.77.0.203 visitor=10.77.0.90 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"

# tls_server POD CERT ID PORT: openssl s_server on POD's address, serving /id.txt = ID.
tls_server() {
	local pod=$1 dir=$TMP/www-$1
	mkdir -p "$dir" && echo "$3" >"$dir/id.txt"
	pod_spawn "$pod" sh -c "cd '$dir' && exec openssl s_server -quiet -WWW \
		-accept ${NODE_POD_IP[$pod]}:$4 -cert '$TMP/$2.crt' -key '$TMP/$2.key'" \
		>"$TMP/$pod.log" 2>&1
}
tls_server ext-a a.example.com a 443
tls_server ext-b b.example.com b 443
tls_server ext-c b.example.com v1 443
tls_server ext-d b.example.com v2 443
tls_server web web.secure.dev web 9443
for s in 10.77.0.200:443 10.77.0.201:443 10.77.0.202:443 10.77.0.203:443 10.77.0.50:9443; do
	for ((tenths = 50; tenths > 0; tenths--)); do
		pod_exec_outside visitor timeout 1 bash -c ">/dev/tcp/${s%:*}/${s#*:}" 2>/dev/null && break
		sleep 0.1
	done
	[ "$tenths" -gt 0 ] || fatal "the TLS server on $s did not start: $(cat "$TMP"/*.log)"
done

mkdir -p "$TMP/config"
cat >"$TMP/config/mesh.yaml" <<'YAML'
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
metadata: {name: app-reg, namespace: default, labels: {app: reg}}
status: {podIP: 10.77.0.45}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reg, namespace: default}
spec:
  workloadSelector: {labels: {app: reg}}
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [a.example.com, b.example.com]
  resolution: NONE
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backends, namespace: default}
spec:
  hosts: [backends.internal]
  resolution: STATIC
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints:
  - {address: 10.77.0.202, labels: {version: v1}}
  - {address: 10.77.0.203, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backends, namespace: default}
spec:
  host: backends.internal
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: steer-b, namespace: default}
spec:
  hosts: [b.example.com]
  tls:
  - match: [{port: 443, sniHosts: [b.example.com]}]
    route:
    - {destination: {host: backends.internal, subset: v1}, weight: 75}
    - {destination: {host: backends.internal, subset: v2}, weight: 25}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
status: {podIP: 10.77.0.50}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.77.60
  selector: {app: web}
  ports: [{port: 443, name: https, targetPort: 9443}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-mesh, namespace: default}
spec:
  hosts: [web, web.secure.dev]
  tls:
  - match: [{sniHosts: [web.secure.dev]}]
    route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: tls, protocol: TLS}
    hosts: ['*.secure.dev']
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-sni, namespace: default}
spec:
  hosts: ['*.secure.dev']
  gateways: [gw]
  tls:
  - match: [{port: 8443, sniHosts: [web.secure.dev]}]
    route: [{destination: {host: web, port: {number: 443}}}]
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--workers 1 --gateway-labels istio=ingressgateway --dns-upstream none --admin "$ADMIN" \
	--pin-dir "$NODE_PIN" --log-level debug >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

if "$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps 2>/dev/null | grep -q 'port 443 any address'; then
	ok "port 443 is captured whatever the address (hosts without addresses serve TLS there)"
else
	not_ok "port 443 is in shunt_ports"
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps 2>&1 | show
fi

# --- ServiceEntry hosts without addresses, by SNI ---------------------------------

pod_curl app --resolve a.example.com:443:10.77.0.200 https://a.example.com/id.txt
if [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = a ]; then
	ok "app -> https://a.example.com (10.77.0.200:443, captured): ext-a answered, its own certificate verified"
else
	not_ok "app -> https://a.example.com reaches ext-a (exit $RC)"
	show "$OUT" "$ERR"
fi

seq=""
for i in 1 2 3 4 5 6 7 8; do
	pod_curl app --resolve b.example.com:443:10.77.0.201 https://b.example.com/id.txt
	[ "$RC" -eq 0 ] || {
		show "$ERR"
		break
	}
	seq+="$(cat "$OUT") "
done
v1=$(grep -o v1 <<<"$seq" | wc -l)
v2=$(grep -o v2 <<<"$seq" | wc -l)
if [ "$v1" -eq 6 ] && [ "$v2" -eq 2 ]; then
	ok "app -> https://b.example.com asked of ext-b: the tls route sends 75/25 to backends.internal v1/v2, 6 and 2 of 8 ($seq)"
else
	not_ok "b.example.com is steered 75/25 to subsets v1/v2 (got: $seq)"
fi

subj=$(subject app 10.77.0.200:443 nobody.example.net)
check "app, SNI nobody.example.net (declared nowhere) to 10.77.0.200:443: PassthroughCluster, the address asked answered ($subj)" \
	test "$subj" = "subject=CN = a.example.com"

pod_curl app-reg --resolve nobody.example.net:443:10.77.0.200 https://nobody.example.net/id.txt
if [ "$RC" -ne 0 ] && [ ! -s "$OUT" ]; then
	ok "app-reg (REGISTRY_ONLY), SNI nobody.example.net: closed before any TLS (curl exit $RC: $(head -c 80 "$ERR"))"
else
	not_ok "app-reg's undeclared SNI is closed (exit $RC)"
	show "$OUT" "$ERR"
fi
pod_curl app-reg --resolve a.example.com:443:10.77.0.200 https://a.example.com/id.txt
if [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = a ]; then
	ok "app-reg (REGISTRY_ONLY) -> https://a.example.com: declared, answered by ext-a"
else
	not_ok "app-reg reaches a declared SNI (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- a Kubernetes TLS port with a tls route -----------------------------------------

before=$(stat_of sni_read)
pod_curl app --resolve web.secure.dev:443:10.96.77.60 https://web.secure.dev/id.txt
if [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = web ] && [ "$(stat_of sni_read)" -eq $((before + 1)) ] &&
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps 2>/dev/null | grep -q 'svc 10.96.77.60:443 L7'; then
	ok "app -> web's VIP 10.96.77.60:443 (port https, a tls route names it): sent to shuntd (L7 in shunt_svc4_v2), routed by SNI web.secure.dev, the pod answered"
else
	not_ok "a TLS port with a tls route goes through shuntd's SNI routing (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- a Gateway PASSTHROUGH server --------------------------------------------------

pod_curl visitor --resolve "web.secure.dev:8443:$NODE_GW" https://web.secure.dev:8443/id.txt
if [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = web ]; then
	ok "visitor -> https://web.secure.dev:8443 (Gateway PASSTHROUGH): the web pod terminated TLS and answered"
else
	not_ok "the Gateway forwards web.secure.dev to the web pod (exit $RC)"
	show "$OUT" "$ERR"
fi
pod_curl visitor --resolve "other.secure.dev:8443:$NODE_GW" https://other.secure.dev:8443/id.txt
if [ "$RC" -ne 0 ] && [ ! -s "$OUT" ]; then
	ok "visitor, SNI other.secure.dev (the server's, but no tls route): closed (curl exit $RC)"
else
	not_ok "a name without a tls route is closed at the Gateway (exit $RC)"
	show "$OUT" "$ERR"
fi

read_sni=$(stat_of sni_read)
refused=$(stat_of l4_refused)
hs=$(stat_of tls_handshakes)
check "shuntd read the SNIs (sni_read $read_sni), closed 2 (l4_refused $refused) and terminated no TLS (tls_handshakes $hs)" \
	test "${read_sni:-0}" -ge 14 -a "${refused:-0}" -eq 2 -a "${hs:-1}" -eq 0

e2e_end
