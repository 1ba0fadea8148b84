#!/bin/bash
# End-to-end discovery from the Kubernetes API: shuntd --kubeconfig against a
# fake API server (tests/tools/fake_kube_api.py, the API's wire format:
# paged lists, chunked watch streams, bookmarks, 410s) on the node's loopback,
# over TLS with a CA and a bearer token from the kubeconfig.
#
# Checked through real captured requests from the helloweb pod:
# - Istio not installed (networking.istio.io answers 404) is not fatal: the
#   agent is ready and greeter-service is balanced over all its pods; a
#   selectorless service gets its endpoint from its EndpointSlice;
# - once Istio's group is served, the VirtualService from the API routes
#   (all to v2), and an injected change takes effect (all to v1);
# - a dropped watch, an ERROR 410 event, an HTTP 410, a slow stream cut into
#   7-byte chunks: each loses nothing (the change made meanwhile arrives,
#   relists happen where they must) and a background loop of keep-alive and
#   new-connection requests sees zero failures throughout;
# - a bookmark changes no config (no new generation);
# - a bad VirtualService from the API is refused with a reason naming the
#   object and the field, and the old snapshot keeps routing; deleted, the
#   config is good again;
# - a deleted Service stops being captured;
# - a Gateway's credentialName resolves from a TLS Secret served by the API
#   (Secrets asked for with fieldSelector type=kubernetes.io/tls only);
# - every watcher thread holds CAP_NET_ADMIN and no other capability;
# - SIGTERM stops the agent promptly with its watches open.
#
#   tests/e2e/kubernetes_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip (the kernel lacks cgroup2 or bpf), anything else fail.
# Needs root, python3 and openssl; about a minute.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"
# shellcheck source=tests/e2e/lib/e2e.sh
source "$HERE/lib/e2e.sh"

VIP=10.96.77.10
VIP_EXT=10.96.77.30
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
API=127.0.0.1:16443
TOKEN=shunt-test-token-$$
LOOP_MAX_S=180
FAKE=$(cd "$HERE/../tools" && pwd)/fake_kube_api.py

e2e_require
command -v python3 >/dev/null || fatal "python3 is missing (scripts/deps.sh installs it)"
command -v openssl >/dev/null || fatal "openssl is missing"
e2e_start kubernetes
LOOP_PID=

stop_loop() {
	[ -n "$LOOP_PID" ] || return 0
	touch "$TMP/stop"
	node_wait_exit "$LOOP_PID" 100 >/dev/null
	node_forget_pid "$LOOP_PID"
	LOOP_PID=
}
trap 'rc=$?; stop_loop; (exit $rc); e2e_finish' EXIT # e2e_finish exits with $?

node_up || fatal "node_up failed"
node_start_greeters "$BUILD/shunt-echo" "$TMP" || fatal "the greeter backends did not start"

# A CA and the API server's certificate for 127.0.0.1, as a cluster has.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=shunt-test-ca \
	-keyout "$TMP/ca.key" -out "$TMP/ca.pem" >/dev/null 2>&1 || fatal "openssl: CA"
openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$TMP/api.key" \
	-out "$TMP/api.csr" >/dev/null 2>&1 || fatal "openssl: CSR"
printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/san.ext"
openssl x509 -req -in "$TMP/api.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -extfile "$TMP/san.ext" -out "$TMP/api.pem" >/dev/null 2>&1 || fatal "openssl: cert"

cat >"$TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: test
contexts:
  - name: other
    context: {cluster: nowhere, user: nobody}
  - name: test
    context: {cluster: fake, user: shuntd}
clusters:
  - name: fake
    cluster:
      server: https://$API
      certificate-authority: ca.pem
users:
  - name: shuntd
    user:
      token: $TOKEN
EOF

node_spawn_in "$NODE_NS" "$NODE_CG_OUT" python3 "$FAKE" --listen "$API" \
	--fixtures "$HERE/kubernetes/fixtures.json" --token "$TOKEN" --cert "$TMP/api.pem" \
	--key "$TMP/api.key" --istio 0 >"$TMP/fake.log" 2>&1
FAKE_PID=$NODE_LAST_PID
for ((t = 50; t > 0; t--)); do
	grep -q "listening on" "$TMP/fake.log" 2>/dev/null && break
	sleep 0.1
done
[ "$t" -gt 0 ] || fatal "the fake API server did not start: $(cat "$TMP/fake.log")"

# ctl PATH [BODY]: the fake's control API (plain POST, or GET for stats).
ctl() {
	if [ $# -ge 2 ]; then
		node_exec curl -sk --max-time 5 -X POST --data-binary "$2" "https://$API$1"
	else
		node_exec curl -sk --max-time 5 -X POST "https://$API$1"
	fi
}
lists() { # lists completed of resource $1
	node_exec curl -sk --max-time 5 "https://$API/_fake/stats" | jq -r ".lists.$1 // 0"
}
vs() { # a VirtualService sending every greeter-service request to subset $1 [extra http fields]
	printf '{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"%s","namespace":"default"},"spec":{"hosts":["greeter-service"],"http":[{"name":"to-%s",%s"route":[{"destination":{"host":"greeter-service","subset":"%s"}}]}]}}' \
		"${3:-greeter-service}" "$1" "${2:-}" "$1"
}
reload_body() {
	node_exec curl -s --max-time 2 "http://$ADMIN/reload"
}
# version_now: the version that answers 10 fresh requests, or "mixed".
version_now() {
	client helloweb --connect "$VIP:3000" -n 10 --new-conn --timeout-ms 3000
	sed -n 's/.* version=\([^ ]*\) .*/\1/p' "$OUT" | sort -u | awk '{ v = v ? "mixed" : $1 } END { print v }'
}
# wait_version V: until 10 fresh requests are all answered by version V (15 s at most).
wait_version() {
	local t
	for ((t = 150; t > 0; t--)); do
		[ "$(version_now)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

agent_spawn "$BUILD/shuntd" --kubeconfig "$TMP/kubeconfig" --node-name node-1 --cgroup "$NODE_CG" \
	--listen "$LISTEN" --admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level info \
	--gateway-labels istio=ingressgateway >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
t0=$(now_ms)
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"
echo "# ready $(($(now_ms) - t0)) ms after start"
check "Istio's group not served is not fatal: ready, and said once" \
	test "$(grep -c 'networking.istio.io is not served' "$TMP/shuntd.log")" = 1

# Without Istio: Istio's default, every ready pod of the service.
client helloweb --connect "$VIP:3000" -n 30 --new-conn --timeout-ms 3000
check "without a VirtualService, greeter-service is balanced over v1 and v2 (30 new connections)" \
	bash -c "grep -q 'version=v1 ' '$OUT' && grep -q 'version=v2 ' '$OUT' && [ \$(grep -c '^status=200 ' '$OUT') = 30 ]"
client helloweb --connect "$VIP_EXT:3000" --timeout-ms 3000
check "a service without a selector is balanced to its EndpointSlice's endpoint (greeter-v2)" \
	grep -q '^status=200 .*version=v2 ' "$OUT"

# Istio comes: the discovery finds it within its period (10 s).
ctl "/_fake/istio?on=1" >/dev/null
check "once Istio's group is served, the VirtualService from the API routes (all to v2)" wait_version v2
check "the agent found the Istio kinds at networking.istio.io/v1" \
	grep -q 'watching virtualservices as networking.istio.io/v1' "$TMP/shuntd.log"
ctl /_fake/apply "$(vs v1)" >/dev/null
check "an injected VirtualService change takes effect (all to v1)" wait_version v1

: >"$TMP/loop"
request_loop() {
	local end=$(($(date +%s) + LOOP_MAX_S)) b=0
	while [ ! -e "$TMP/stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		if [ $((b++ % 2)) = 0 ]; then
			set -- -n 20
		else
			set -- -n 5 --new-conn
		fi
		pod_exec helloweb "$BUILD/shunt-client" --connect "$VIP:3000" "$@" \
			--timeout-ms 3000 >>"$TMP/loop" 2>"$TMP/loop.err" ||
			echo "fail rc=$? batch=$b $(tr '\n' ' ' <"$TMP/loop.err")" >>"$TMP/loop"
	done
}
request_loop &
LOOP_PID=$!
NODE_PIDS+=("$LOOP_PID")

# A dropped watch: the agent watches again from its resourceVersion; a change made
# while it was away arrives.
ctl /_fake/drop >/dev/null
ctl /_fake/apply "$(vs v2)" >/dev/null
check "a watch cut mid-stream: the change made meanwhile arrives (all to v2)" wait_version v2

# An ERROR 410 event (compaction): relist, nothing lost.
before=$(lists virtualservices)
ctl /_fake/expire >/dev/null
ctl /_fake/apply "$(vs v1)" >/dev/null
check "an ERROR 410 event: the agent relists and the change arrives (all to v1)" wait_version v1
check "  it relisted virtualservices (lists: $before -> $(lists virtualservices))" \
	test "$(lists virtualservices)" -gt "$before"

# An HTTP 410 to the next watch of services: relist.
before=$(lists services)
ctl "/_fake/gone?n=1&resource=services" >/dev/null
ctl /_fake/drop >/dev/null
ctl /_fake/apply "$(vs v2)" >/dev/null
check "HTTP 410 on watch: the agent relists and the change arrives (all to v2)" wait_version v2
for ((t = 50; t > 0; t--)); do
	[ "$(lists services)" -gt "$before" ] && break
	sleep 0.1
done
check "  it relisted services (lists: $before -> $(lists services))" test "$(lists services)" -gt "$before"

# A slow stream: each event in 7-byte chunks, 20 ms apart.
ctl "/_fake/slow?ms=20" >/dev/null
ctl /_fake/apply "$(vs v1)" >/dev/null
check "a slow stream cut into 7-byte chunks: the event arrives whole (all to v1)" wait_version v1
ctl "/_fake/slow?ms=0" >/dev/null

# A bookmark moves the resourceVersion and nothing else.
sleep 0.5
gen=$(generation)
ctl /_fake/bookmark >/dev/null
sleep 1
check "a bookmark is no change: the generation stays $gen" test "$(generation)" = "$gen"

# A bad object: refused with the object and the field named; the old snapshot routes.
refused=$(reload_body | sed -n 's/^reloads_refused //p')
ctl /_fake/apply "$(vs v2 '"timeout":"soon",' greeter-bad)" >/dev/null
for ((t = 50; t > 0; t--)); do
	[ "$(reload_body | sed -n 's/^reloads_refused //p')" -gt "$refused" ] && break
	sleep 0.1
done
reload_body >"$TMP/why"
check "a bad VirtualService from the API is refused" test "$t" -gt 0
check "  the reason names the object and the field" \
	grep -q '^k8s:VirtualService/default/greeter-bad:.*spec.http\[0\].timeout' "$TMP/why"
show "$TMP/why" | grep greeter-bad
check "  the old snapshot keeps routing (v1)" test "$(version_now)" = v1
gen=$(generation)
ctl /_fake/delete "$(vs v2 '' greeter-bad)" >/dev/null
check "the bad object deleted, the config is good again (a new generation)" \
	wait_generation $((gen + 1))

# A deleted Service stops being captured.
ctl /_fake/delete '{"apiVersion":"v1","kind":"Service","metadata":{"name":"greeter-ext","namespace":"default"}}' >/dev/null
for ((t = 50; t > 0; t--)); do
	client helloweb --connect "$VIP_EXT:3000" --timeout-ms 500
	[ "$RC" != 0 ] && break
	sleep 0.1
done
check "a deleted Service's VIP is no longer captured" test "$RC" != 0

stop_loop
total=$(grep -c '^status=' "$TMP/loop")
nfail=$(grep -c '^fail ' "$TMP/loop")
nbad=$(grep '^status=' "$TMP/loop" | grep -vc '^status=200 ')
echo "# the loop: $total responses, $nfail failed batches, $nbad non-200 responses"
check "the request loop ran throughout ($total responses)" [ "$total" -ge 100 ]
if [ "$nfail" = 0 ] && [ "$nbad" = 0 ]; then
	ok "zero failed requests across watch drops, 410s and a slow stream ($total requests)"
else
	not_ok "zero failed requests across watch drops, 410s and a slow stream ($nfail failed batches, $nbad non-200)"
	grep -v '^status=200 ' "$TMP/loop" | head -5 | show
fi
check "shuntd is still running" node_pid_running "$AGENT_PID"

# A Gateway's credentialName, from a TLS Secret in the API. Secrets are listed and watched
# with fieldSelector type=kubernetes.io/tls: an Opaque one of the same name never arrives.
openssl req -newkey rsa:2048 -nodes -subj /CN=greeter.example.test -keyout "$TMP/gw.key" \
	-out "$TMP/gw.csr" >/dev/null 2>&1 || fatal "openssl: gateway CSR"
printf 'subjectAltName=DNS:greeter.example.test\n' >"$TMP/gw.ext"
openssl x509 -req -in "$TMP/gw.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 2 -extfile "$TMP/gw.ext" -out "$TMP/gw.pem" >/dev/null 2>&1 || fatal "openssl: gateway cert"
secret() { # NAMESPACE TYPE: a Secret named greeter-credential holding the gateway's pair
	printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"greeter-credential","namespace":"%s"},"type":"%s","data":{"tls.crt":"%s","tls.key":"%s"}}' \
		"$1" "$2" "$(base64 -w0 "$TMP/gw.pem")" "$(base64 -w0 "$TMP/gw.key")"
}
ctl /_fake/apply "$(secret istio-system Opaque)" >/dev/null
ctl /_fake/apply "$(secret default kubernetes.io/tls)" >/dev/null
ctl /_fake/apply '{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":{"name":"gw","namespace":"default"},"spec":{"selector":{"istio":"ingressgateway"},"servers":[{"port":{"number":8443,"name":"https","protocol":"HTTPS"},"hosts":["greeter.example.test"],"tls":{"mode":"SIMPLE","credentialName":"greeter-credential"}}]}}' >/dev/null
ctl /_fake/apply '{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"greeter-gw","namespace":"default"},"spec":{"hosts":["greeter.example.test"],"gateways":["gw"],"http":[{"route":[{"destination":{"host":"greeter-service","subset":"v2"}}]}]}}' >/dev/null
code=
for ((t = 50; t > 0; t--)); do
	code=$(node_exec curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$TMP/ca.pem" \
		--resolve "greeter.example.test:8443:$NODE_GW" https://greeter.example.test:8443/)
	[ "$code" = 200 ] && break
	sleep 0.1
done
check "a Gateway's credentialName resolves from a TLS Secret in the API: https://greeter.example.test:8443/ answers 200 ($code)" \
	test "$code" = 200
check "Secrets are listed and watched with fieldSelector type=kubernetes.io/tls" \
	test "$(node_exec curl -sk --max-time 5 "https://$API/_fake/stats" | jq -r .selectors.secrets)" = type=kubernetes.io/tls

# The watchers keep CAP_NET_ADMIN (SO_MARK on each connection) and nothing else (privs.h).
watchers=0 wrong=
for comm in /proc/"$AGENT_PID"/task/*/comm; do
	case $(cat "$comm" 2>/dev/null) in k8s-*) ;; *) continue ;; esac
	watchers=$((watchers + 1))
	eff=$(awk '$1 == "CapEff:" { print $2 }' "${comm%/comm}/status")
	[ "$eff" = 0000000000001000 ] || wrong="$wrong $(cat "$comm")=$eff"
done
check "11 watcher threads, each with CAP_NET_ADMIN only ($watchers;${wrong:- none other})" \
	test "$watchers" = 11 -a -z "$wrong"

t0=$(now_ms)
kill -TERM "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50 >/dev/null
rc=$?
ms=$(($(now_ms) - t0))
node_forget_pid "$AGENT_PID"
check "SIGTERM with 11 watches open: shuntd exits 0 within 3 s ($ms ms)" test "$rc" = 0 -a "$ms" -lt 3000
kill -TERM "$FAKE_PID" 2>/dev/null
node_wait_exit "$FAKE_PID" 50 >/dev/null
node_forget_pid "$FAKE_PID"
e2e_end
