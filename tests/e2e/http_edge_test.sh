#!/bin/bash
# End-to-end HTTP edge cases through the kernel's capture (the unit test
# tests/unit/http_edge_test.c has the whole table against the proxy alone):
# what needs real timers, a real tunnel or the captured path. A client pod
# calls two services whose connections the kernel hands to the agent:
#
#   web (10.96.77.60:80)  shunt-echo, logging every request it gets
#   ws  (10.96.77.61:80)  shunt-raw --upgrade-echo: 101, then echoes until the FIN, "bye"
#
# and shuntd runs with --header-timeout 1s --idle-timeout 2s. Checked:
#   1 a WebSocket upgrade tunnels after the 101: bytes both ways, a pause longer
#     than both timeouts (a tunnel is no idle request), the client's half-close
#     reaching the backend, which still answers after it;
#   2 a head sent a byte every 100 ms (slowloris) gets its 408 a second after its
#     first byte, and the connection is closed;
#   3 a keep-alive connection left idle is closed after 2 s;
#   4 request smuggling attempts (Content-Length with chunked, "Transfer-Encoding :")
#     get a 400 and the close, and the request hidden in their body never reaches
#     the backend; a head over 60 KiB gets a 431.
#
#   tests/e2e/http_edge_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root; about 10 s.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"
# shellcheck source=tests/e2e/lib/e2e.sh
source "$HERE/lib/e2e.sh"

WEB=10.96.77.60
WS=10.96.77.61
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TMP=

# raw POD ARGS...: shunt-raw from POD; sets OUT (its output), RC.
raw() {
	local pod=$1
	shift
	OUT=$TMP/raw.$((++E2E_CALLS))
	pod_exec "$pod" "$BUILD/shunt-raw" "$@" >"$OUT" 2>&1
	RC=$?
}

# step_ms N: the ms= of step N in OUT.
step_ms() {
	sed -n "s/^step $1 [a-z]* ok ms=\([0-9]*\).*/\1/p" "$OUT"
}

# received TEXT: what shunt-raw received (escaped as it prints it) contains TEXT.
received() {
	grep '^recv=' "$OUT" | grep -qF -- "$1"
}

e2e_require
[ -x "$BUILD/shunt-raw" ] || fatal "$BUILD/shunt-raw is missing: run make first"

e2e_start http-edge

node_declare_pods client=10.77.0.20 web=10.77.0.21 ws=10.77.0.22 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_echos "$BUILD/shunt-echo" "$TMP" web:3000:v1 -- --log-requests ||
	fatal "the web backend did not start"
pod_spawn ws "$BUILD/shunt-raw" --listen 10.77.0.22:3000 --upgrade-echo >"$TMP/ws.log" 2>&1
for ((t = 50; t > 0; t--)); do
	grep -q "listening on" "$TMP/ws.log" 2>/dev/null && break
	sleep 0.1
done
[ "$t" -gt 0 ] || fatal "the ws backend did not start: $(cat "$TMP/ws.log")"

mkdir -p "$TMP/config"
cat >"$TMP/config/mesh.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 10.77.0.20}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web, version: v1}}
status: {podIP: 10.77.0.21}
---
apiVersion: v1
kind: Pod
metadata: {name: ws, namespace: default, labels: {app: ws}}
status: {podIP: 10.77.0.22}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: $WEB
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: v1
kind: Service
metadata: {name: ws, namespace: default}
spec:
  clusterIP: $WS
  selector: {app: ws}
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http: [{route: [{destination: {host: web}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ws, namespace: default}
spec:
  hosts: [ws]
  http: [{route: [{destination: {host: ws}}]}]
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--admin "$ADMIN" --pin-dir "$NODE_PIN" --dns-upstream none \
	--header-timeout 1s --idle-timeout 2s >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

# --- 1. WebSocket ------------------------------------------------------------------------

raw client --connect "$WS:80" --timeout-ms 8000 \
	'send:GET /chat HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' \
	'wait:\r\n\r\n' 'send:\x81\x04ping' 'wait:ping' 'sleep:2500' 'send:pong' 'wait:pong' \
	shut 'wait:bye' eof
if [ "$RC" -eq 0 ] && received 'HTTP/1.1 101 Switching Protocols' &&
	received 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=' && received 'pingpongbye'; then
	ok "1 a WebSocket upgrade tunnels after the 101 through the capture: echoed both ways after a 2.5 s pause, the client's FIN passed on and answered (bye), then closed"
else
	not_ok "1 a WebSocket upgrade tunnels after the 101 (exit $RC)"
	show "$OUT"
fi
check "1 the ws backend saw the tunnel end after its 10 bytes" grep -q "^tunnel echoed=10 then bye" "$TMP/ws.log"

# --- 2. slowloris ------------------------------------------------------------------------

raw client --connect "$WEB:80" --timeout-ms 8000 \
	'slow:100:GET /slow HTTP/1.1\r\nHost: web\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' \
	'wait:HTTP/1.1 408 Request Timeout\r\n' eof
ms=$(step_ms 3)
if [ "$RC" -eq 0 ] && received 'connection: close' && [ -n "$ms" ] && [ "$ms" -ge 900 ] &&
	[ "$ms" -lt 3000 ]; then
	ok "2 a head trickling in a byte per 100 ms got its 408 and the close after $ms ms ($(sed -n 's/^step 1 slow ok .* \(sent=.*\)/\1/p' "$OUT") bytes)"
else
	not_ok "2 a head trickling in gets a 408 and the close after the 1 s header timeout (exit $RC, ${ms:-?} ms)"
	show "$OUT"
fi

# --- 3. idle keep-alive --------------------------------------------------------------------

raw client --connect "$WEB:80" --timeout-ms 8000 \
	'send:GET /idle HTTP/1.1\r\nHost: web\r\n\r\n' 'wait:web v1' eof
ms=$(($(step_ms 3) - $(step_ms 2)))
if [ "$RC" -eq 0 ] && received 'HTTP/1.1 200 ' && [ "$ms" -ge 1800 ] && [ "$ms" -lt 4000 ]; then
	ok "3 a keep-alive connection left idle after its answer was closed $ms ms later"
else
	not_ok "3 a keep-alive connection left idle is closed after the 2 s idle timeout (exit $RC, $ms ms)"
	show "$OUT"
fi

# --- 4. malformed requests -----------------------------------------------------------------

smuggle() { # WHAT HEAD: HEAD, then a body that hides a request for /smuggled
	raw client --connect "$WEB:80" --timeout-ms 5000 \
		"send:$2\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: web\r\n\r\n" \
		'wait:HTTP/1.1 400 Bad Request\r\n' eof
	if [ "$RC" -eq 0 ] && ! received 'HTTP/1.1 200'; then
		ok "4 $1: 400, closed"
	else
		not_ok "4 $1: 400, closed (exit $RC)"
		show "$OUT"
	fi
}
smuggle "Content-Length with Transfer-Encoding: chunked" \
	'POST /a HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n'
smuggle "Transfer-Encoding : chunked (space before the colon)" \
	'POST /b HTTP/1.1\r\nHost: web\r\nTransfer-Encoding : chunked\r\n'
smuggle "a chunk longer than its size" \
	'POST /c HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd'
check "4 the backend never saw /smuggled, nor the refused requests" \
	bash -c "! grep -E 'path=/(smuggled|a|b|c) ' '$TMP/web.log'"
check "4 the backend saw the requests that were fine (/idle)" grep -q 'path=/idle ' "$TMP/web.log"

big=$(head -c 70000 /dev/zero | tr '\0' a)
raw client --connect "$WEB:80" --timeout-ms 5000 \
	"send:GET /big HTTP/1.1\r\nHost: web\r\nX-Big: $big\r\n\r\n" \
	'wait:HTTP/1.1 431 Request Header Fields Too Large\r\n' eof
check "4 a head over the default 60 KiB: 431, closed" [ "$RC" -eq 0 ]

e2e_end
