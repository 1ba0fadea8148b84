#!/bin/bash
# End-to-end Gateway TLS test (tls.mode SIMPLE): shuntd terminates TLS on a
# Gateway port with certificates from kubernetes.io/tls Secrets (base64 data)
# or from files, the SNI choosing the server, and routes by Host as on a plain
# port. A throwaway CA and server certificates are made with openssl in the
# test's temporary directory; a client outside every pod ("visitor") calls
# the node's address with curl and openssl s_client:
#
#   https://helloweb.dev:8443 and https://greeter.dev:8443 (one Secret each)
#   reach their backends; each name gets its own certificate; without SNI the
#   first server's; an unknown name, a wrong CA and plain HTTP on the TLS port
#   fail; keep-alive, a 4 MB download and a 2 MB upload through TLS; a
#   server with serverCertificate/privateKey files; a credentialName without
#   its Secret is warned about and not served; the HTTP port still works.
#   A rotated Secret (cert-manager renewing a certificate) is served after the
#   reload it triggers, without a restart, and the other host keeps its own.
#
#   tests/e2e/gateway_tls_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root, curl and openssl; about 5 s.
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

# tls_curl ARGS...: curl from the visitor namespace, bounded; sets OUT, ERR, RC.
tls_curl() {
	OUT=$TMP/out.$((++calls))
	ERR=$TMP/err.$calls
	pod_exec_outside visitor curl -sS --max-time 5 "$@" >"$OUT" 2>"$ERR"
	RC=$?
}
# subject_of NAME|-: the subject of the certificate the TLS port presents for SNI NAME (- : none).
subject_of() {
	local sni=(-servername "$1")
	[ "$1" = - ] && sni=(-noservername)
	pod_exec_outside visitor timeout 5 openssl s_client -connect "$NODE_GW:8443" "${sni[@]}" \
		-CAfile "$TMP/ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null
}
calls=0

e2e_require
command -v curl >/dev/null || fatal "curl is missing (make deps)"
command -v openssl >/dev/null || fatal "openssl is missing (make deps)"

e2e_start gwtls

# A throwaway CA, a second one that signed nothing here, and one certificate per host.
mkca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj "/CN=$1" -keyout "$TMP/$1.key" -out "$TMP/$1.crt" 2>/dev/null
}
mkcert() { # HOST
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
		-keyout "$TMP/$1.key" -out "$TMP/$1.csr" 2>/dev/null &&
		printf 'subjectAltName=DNS:%s\n' "$1" >"$TMP/$1.ext" &&
		openssl x509 -req -in "$TMP/$1.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" \
			-CAcreateserial -days 1 -extfile "$TMP/$1.ext" -out "$TMP/$1.crt" 2>/dev/null
}
mkca ca && mkca otherca || fatal "openssl could not make the CAs"
for h in helloweb.dev greeter.dev files.dev; do
	mkcert "$h" || fatal "openssl could not make the certificate of $h"
done

node_declare_pods helloweb=10.77.0.10 greeter=10.77.0.11 visitor=10.77.0.90 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_echos "$BUILD/shunt-echo" "$TMP" helloweb:3000:v1 greeter:3000:v1 ||
	fatal "the backends did not start"

mkdir -p "$TMP/config"
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
metadata: {name: greeter, namespace: default}
spec: {clusterIP: 10.96.77.11, selector: {app: greeter}, ports: [{port: 3000, name: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: helloweb, namespace: default, labels: {app: helloweb}}
status: {podIP: 10.77.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter, namespace: default, labels: {app: greeter}}
status: {podIP: 10.77.0.11}
YAML
for h in helloweb greeter; do
	cat >>"$TMP/config/secrets.yaml" <<YAML
---
apiVersion: v1
kind: Secret
metadata: {name: $h-credential, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$TMP/$h.dev.crt")
  tls.key: $(base64 -w0 "$TMP/$h.dev.key")
YAML
done
cat >>"$TMP/config/secrets.yaml" <<'YAML'
---
apiVersion: v1
kind: Secret
metadata: {name: some-token, namespace: default}
type: Opaque
data: {token: c2VjcmV0}
YAML
cat >"$TMP/config/gateway.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https-helloweb, protocol: HTTPS}
    hosts: [helloweb.dev]
    tls: {mode: SIMPLE, credentialName: helloweb-credential}
  - port: {number: 8443, name: https-greeter, protocol: HTTPS}
    hosts: ['*.greeter.dev', greeter.dev]
    tls: {mode: SIMPLE, credentialName: greeter-credential}
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [helloweb.dev, greeter.dev]
  - port: {number: 8444, name: https-missing, protocol: HTTPS}
    hosts: [missing.dev]
    tls: {mode: SIMPLE, credentialName: no-such-secret}
  - port: {number: 8445, name: https-files, protocol: HTTPS}
    hosts: [files.dev]
    tls: {mode: SIMPLE, serverCertificate: $TMP/files.dev.crt, privateKey: $TMP/files.dev.key}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: helloweb, namespace: default}
spec:
  hosts: [helloweb.dev, files.dev]
  gateways: [gateway]
  http:
  - route:
    - destination: {host: helloweb.default.svc.cluster.local, port: {number: 3000}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: default}
spec:
  hosts: [greeter.dev]
  gateways: [gateway]
  http:
  - route:
    - destination: {host: greeter.default.svc.cluster.local, port: {number: 3000}}
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--gateway-labels istio=ingressgateway --dns-upstream none --admin "$ADMIN" --pin-dir "$NODE_PIN" \
	--log-level debug >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

for h in helloweb greeter; do
	tls_curl --cacert "$TMP/ca.crt" --resolve "$h.dev:8443:$NODE_GW" "https://$h.dev:8443/"
	if [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = "$h v1" ]; then
		ok "https://$h.dev:8443/ (curl, the test CA, SNI $h.dev): answered by $h through TLS"
	else
		not_ok "https://$h.dev:8443/ is answered by $h (exit $RC)"
		show "$OUT" "$ERR"
	fi
done
# Istio gives each server its own routes: the Host must be one the SNI's server serves.
tls_curl --cacert "$TMP/ca.crt" --resolve "helloweb.dev:8443:$NODE_GW" -H 'Host: greeter.dev' \
	-w '%{http_code}' "https://helloweb.dev:8443/"
if [ "$RC" -eq 0 ] && [ "$(tail -c 3 "$OUT")" = 404 ]; then
	ok "SNI helloweb.dev with Host greeter.dev: 404, greeter.dev is another server's (its routes are not this one's)"
else
	not_ok "SNI helloweb.dev with Host greeter.dev gets 404 (exit $RC)"
	show "$OUT" "$ERR"
fi
for sni in helloweb.dev greeter.dev - ; do
	want=$sni
	[ "$sni" = - ] && want=helloweb.dev
	subj=$(subject_of "$sni")
	check "SNI ${sni/#-/(none)}: the certificate presented is $want's ($subj)" \
		test "$subj" = "subject=CN = $want"
done
subj=$(subject_of api.greeter.dev)
check "SNI api.greeter.dev: *.greeter.dev's server answers, with greeter.dev's certificate ($subj)" \
	test "$subj" = "subject=CN = greeter.dev"

tls_curl --cacert "$TMP/otherca.crt" --resolve "helloweb.dev:8443:$NODE_GW" https://helloweb.dev:8443/
if [ "$RC" -eq 60 ] && [ ! -s "$OUT" ]; then
	ok "with another CA, curl refuses the certificate (exit 60: $(head -c 120 "$ERR"))"
else
	not_ok "a wrong CA fails verification (exit $RC)"
	show "$OUT" "$ERR"
fi
tls_curl --cacert "$TMP/ca.crt" --resolve "other.dev:8443:$NODE_GW" https://other.dev:8443/
if [ "$RC" -ne 0 ] && [ ! -s "$OUT" ]; then
	ok "SNI other.dev, which no server of the port has: the handshake fails (curl exit $RC)"
else
	not_ok "an unknown SNI fails the handshake (exit $RC)"
	show "$OUT" "$ERR"
fi
tls_curl --resolve "helloweb.dev:8443:$NODE_GW" http://helloweb.dev:8443/
if [ "$RC" -ne 0 ] && ! grep -q helloweb "$OUT"; then
	ok "plain HTTP to the TLS port gets no answer (curl exit $RC: $(head -c 80 "$ERR"))"
else
	not_ok "plain HTTP to the TLS port fails (exit $RC)"
	show "$OUT" "$ERR"
fi
failed_hs=$(node_exec curl -s --max-time 5 "http://$ADMIN/stats" | awk '/tls_handshake_failed/ {print $NF; exit}')
check "the failed handshakes are counted (tls_handshake_failed $failed_hs)" test "${failed_hs:-0}" -ge 3

tls_curl -v --cacert "$TMP/ca.crt" --resolve "greeter.dev:8443:$NODE_GW" https://greeter.dev:8443/ \
	https://greeter.dev:8443/
if [ "$RC" -eq 0 ] && [ "$(grep -c '^greeter v1$' "$OUT")" -eq 2 ] &&
	grep -qi 're-using existing connection' "$ERR"; then
	ok "keep-alive through TLS: two requests on one connection, both answered by greeter"
else
	not_ok "keep-alive through TLS (exit $RC)"
	show "$OUT" "$ERR"
fi
tls_curl --cacert "$TMP/ca.crt" --resolve "helloweb.dev:8443:$NODE_GW" -o /dev/null \
	-w '%{http_code} %{size_download}' https://helloweb.dev:8443/bytes/4000000
check "a 4 MB response through TLS arrives whole ($(cat "$OUT"), exit $RC)" \
	test "$(cat "$OUT")" = "200 4000000"
head -c 2000000 /dev/zero >"$TMP/upload"
tls_curl --cacert "$TMP/ca.crt" --resolve "helloweb.dev:8443:$NODE_GW" --data-binary "@$TMP/upload" \
	https://helloweb.dev:8443/upload
check "a 2 MB upload through TLS arrives whole ($(cat "$OUT"), exit $RC)" \
	grep -q '^helloweb v1 received=2000000 ' "$OUT"

tls_curl --cacert "$TMP/ca.crt" --resolve "files.dev:8445:$NODE_GW" https://files.dev:8445/
if [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = "helloweb v1" ]; then
	ok "a server with serverCertificate/privateKey files: https://files.dev:8445/ answered by helloweb"
else
	not_ok "a server with certificate files is served (exit $RC)"
	show "$OUT" "$ERR"
fi
tls_curl --cacert "$TMP/ca.crt" --resolve "missing.dev:8444:$NODE_GW" https://missing.dev:8444/
if [ "$RC" -eq 7 ] && grep -q 'no kubernetes.io/tls Secret default/no-such-secret' "$TMP/shuntd.log"; then
	ok "credentialName without its Secret: warned about at load, port 8444 not served (curl exit 7)"
else
	not_ok "a server whose Secret is missing is warned about and not served (exit $RC)"
	show "$OUT" "$ERR"
fi
if ! grep -q 'c2VjcmV0\|BEGIN.*PRIVATE KEY' "$TMP/shuntd.log" &&
	grep -q 'Secret default/some-token: type Opaque is not kubernetes.io/tls, ignored' "$TMP/shuntd.log"; then
	ok "the Opaque Secret is ignored with a notice; no Secret data in the log"
else
	not_ok "the Opaque Secret is ignored with a notice, no Secret data in the log"
fi

tls_curl --resolve "helloweb.dev:8080:$NODE_GW" http://helloweb.dev:8080/
if [ "$RC" -eq 0 ] && [ "$(cat "$OUT")" = "helloweb v1" ]; then
	ok "the plain HTTP port of the same Gateway still works: http://helloweb.dev:8080/"
else
	not_ok "the HTTP port still works (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- certificate rotation: a new Secret is served after the reload it triggers ---

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj "/CN=helloweb.dev/O=rotated" -keyout "$TMP/rot.key" -out "$TMP/rot.csr" 2>/dev/null &&
	openssl x509 -req -in "$TMP/rot.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" \
		-CAcreateserial -days 1 -extfile "$TMP/helloweb.dev.ext" -out "$TMP/rot.crt" 2>/dev/null ||
	fatal "openssl could not make the rotated certificate"
gen=$(generation)
sed -e "s|$(base64 -w0 "$TMP/helloweb.dev.crt")|$(base64 -w0 "$TMP/rot.crt")|" \
	-e "s|$(base64 -w0 "$TMP/helloweb.dev.key")|$(base64 -w0 "$TMP/rot.key")|" \
	"$TMP/config/secrets.yaml" >"$TMP/secrets.new"
mv "$TMP/secrets.new" "$TMP/config/secrets.yaml"
wait_generation $((gen + 1))
check "the rotated Secret is loaded (generation $(generation), was $gen)" test "$(generation)" = $((gen + 1))
subj=$(subject_of helloweb.dev)
check "after the rotation, helloweb.dev presents the new certificate ($subj)" grep -q 'O *= *rotated' <<<"$subj"
tls_curl --cacert "$TMP/ca.crt" --resolve "helloweb.dev:8443:$NODE_GW" https://helloweb.dev:8443/
check "https://helloweb.dev:8443/ verifies and answers with the new certificate (exit $RC)" test "$RC" -eq 0 -a "$(cat "$OUT")" = "helloweb v1"
subj=$(subject_of greeter.dev)
check "greeter.dev keeps its own certificate ($subj)" grep -q 'CN *= *greeter.dev' <<<"$subj"

e2e_end
