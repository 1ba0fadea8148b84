#!/bin/bash
# End-to-end metrics and access log test. A client pod (a Deployment's, by its
# ownerReferences) sends a known mix of requests through the agent:
#
#   web (10.96.77.60:80)   /v1 x6 to subset v1 (web-v1), /v2 x4 to subset v2 (web-v2),
#                          /nothing x3: no rule matches (404 NR), /abort x2: the
#                          VirtualService injects a 503 (FI)
#   dead (10.96.77.61:80)  x2: its pod listens on nothing (503 UF, retried: UF,URX)
#   db (10.96.77.62:5432)  x3: a tcp route, balanced in the kernel (no agent on the path)
#   Gateway TCP port 9000  x2 connections: a tcp route to db, proxied raw by the agent
#
# then scrapes GET /stats/prometheus and checks the page with shunt-promcheck, a
# strict parser of the text format (every line, HELP/TYPE before samples,
# cumulative buckets, _count equal to +Inf), and the counts per label set
# against what was sent; and the access log: one line per request, Envoy's
# flags, Istio's field order, the upstream host and route name. Also that the
# agent writes no line per request at the default log level, and that after a
# reload (SIGHUP) the old series keep the labels of the config that is gone.
#
#   tests/e2e/metrics_test.sh BUILD_DIR
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

WEB=10.96.77.60
DEAD=10.96.77.61
DB=10.96.77.62
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TMP=
PAGE=
SVC_WEB=web.default.svc.cluster.local

# scrape NAME: GET /stats/prometheus into $TMP/NAME (PAGE), its head into $TMP/NAME.head.
scrape() {
	PAGE=$TMP/$1
	node_exec curl -s -m 5 -D "$TMP/$1.head" -o "$PAGE" "http://$ADMIN/stats/prometheus"
}

# metric QUERY: the sum of the samples QUERY names on PAGE (empty if the page does not parse).
metric() {
	"$BUILD/shunt-promcheck" "$PAGE" "$1" 2>/dev/null | sed -n '2s/ .*//p'
}

# series QUERY: how many samples QUERY names on PAGE.
series() {
	"$BUILD/shunt-promcheck" "$PAGE" "$1" 2>/dev/null | sed -n '2s/.* //p'
}

# is QUERY VALUE: ok when the sum of QUERY's samples is VALUE.
is() {
	local v
	v=$(metric "$1")
	if [ "$v" = "$2" ]; then
		ok "$1 = $2"
	else
		not_ok "$1 = $2 (the page says ${v:-nothing})"
		grep -F "${1%%\{*}" "$PAGE" | head -20 | show
	fi
}

# sent POD N STATUS ARGS...: the client's N responses all had STATUS.
sent() {
	local pod=$1 n=$2 status=$3
	shift 3
	client "$pod" "$@" -n "$n" --timeout-ms 3000
	if [ "$RC" -eq 0 ] && [ "$(grep -c "^status=$status " "$OUT")" -eq "$n" ]; then
		ok "$pod $*: $n of $n answered $status"
	else
		not_ok "$pod $*: $n of $n answered $status (exit $RC)"
		show "$OUT" "$ERR"
	fi
}

e2e_require
[ -x "$BUILD/shunt-promcheck" ] || fatal "$BUILD/shunt-promcheck is missing: run make first"
command -v curl >/dev/null || fatal "curl is not installed (scripts/deps.sh installs it)"

e2e_start metrics

node_declare_pods client=10.77.0.20 web-v1=10.77.0.21 web-v2=10.77.0.22 dead=10.77.0.23 \
	db=10.77.0.24 || fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_echos "$BUILD/shunt-echo" "$TMP" web-v1:3000:v1 web-v2:3000:v2 db:3000:db ||
	fatal "the backends did not start"

mkdir -p "$TMP/config"
cat >"$TMP/config/mesh.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Pod
metadata:
  name: sleep-7d9f8c6b5-q2w3e
  generateName: sleep-7d9f8c6b5-
  namespace: default
  labels: {app: sleep, pod-template-hash: 7d9f8c6b5}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: sleep-7d9f8c6b5, uid: 1, controller: true}
status: {podIP: 10.77.0.20}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-v1-6f8d9c7b4-xk2lp
  namespace: default
  labels: {app: web, version: v1, pod-template-hash: 6f8d9c7b4}
spec: {containers: [{name: web, ports: [{containerPort: 3000}]}]}
status: {podIP: 10.77.0.21}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-v2-5c4b3a2d1-mn8bv
  generateName: web-v2-5c4b3a2d1-
  namespace: default
  labels: {app: web, version: v2, pod-template-hash: 5c4b3a2d1}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-v2-5c4b3a2d1, uid: 2, controller: true}
status: {podIP: 10.77.0.22}
---
apiVersion: v1
kind: Pod
metadata: {name: dead, namespace: default, labels: {app: dead}}
status: {podIP: 10.77.0.23}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: default, labels: {app: db}}
status: {podIP: 10.77.0.24}
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
metadata: {name: dead, namespace: default}
spec:
  clusterIP: $DEAD
  selector: {app: dead}
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: $DB
  selector: {app: db}
  ports: [{name: tcp-db, port: 5432, targetPort: 3000}]
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
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - name: canary
    match: [{name: v2-prefix, uri: {prefix: /v2}}]
    route: [{destination: {host: web, subset: v2}}]
  - name: stable
    match: [{uri: {prefix: /v1}}]
    route: [{destination: {host: web, subset: v1}}]
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: web, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: dead, namespace: default}
spec:
  hosts: [dead]
  http: [{route: [{destination: {host: dead}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: [db]
  tcp: [{route: [{destination: {host: db}}]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 9000, name: tcp, protocol: TCP}, hosts: ['*']}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db-gw, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  tcp: [{route: [{destination: {host: db, port: {number: 5432}}}]}]
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--admin "$ADMIN" --pin-dir "$NODE_PIN" --access-log "$TMP/access.log" \
	--gateway-labels istio=ingressgateway --dns-upstream none \
	>"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

scrape before
direct0=$(metric shunt_kernel_direct_total)
log0=$(wc -l <"$TMP/shuntd.log")

# --- the mix -----------------------------------------------------------------------------

sent client 6 200 --connect "$WEB:80" --path /v1/hello
sent client 4 200 --connect "$WEB:80" --path /v2/hello --new-conn
sent client 3 404 --connect "$WEB:80" --path /nothing
sent client 2 503 --connect "$WEB:80" --path /abort --new-conn
sent client 2 503 --connect "$DEAD:80" --path /
sent client 3 200 --connect "$DB:5432" --path /tcp --new-conn
HTTP=17 # through the agent; the 3 to db are not
sent client 2 200 --connect "$NODE_GW:9000" --path /raw --new-conn
TCP=2 # the Gateway's TCP port: raw connections through the agent

# a request is counted just after its response went out, a raw connection once both
# sides closed: give them a moment
for ((i = 0; i < 30; i++)); do
	scrape after
	[ "$(metric istio_requests_total)" = "$HTTP" ] &&
		[ "$(metric istio_tcp_connections_closed_total)" = "$TCP" ] && break
	sleep 0.1
done

# --- the page --------------------------------------------------------------------------

if "$BUILD/shunt-promcheck" "$PAGE" >"$TMP/check" 2>&1; then
	ok "the page parses as the exposition format: $(cat "$TMP/check") (samples, families)"
else
	not_ok "the page parses as the exposition format"
	show "$TMP/check"
fi
check "served as text/plain; version=0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' \
	"$TMP/after.head"
for f in istio_requests_total:counter istio_request_duration_milliseconds:histogram \
	istio_request_bytes:histogram istio_response_bytes:histogram \
	istio_tcp_connections_opened_total:counter shunt_config_reloads_total:counter \
	shunt_map_entries:gauge; do
	t=$("$BUILD/shunt-promcheck" "$PAGE" "type:${f%%:*}" 2>/dev/null | sed -n 2p)
	check "${f%%:*} is a ${f#*:}" [ "$t" = "${f#*:}" ]
done

is istio_requests_total "$HTTP"
is "istio_requests_total{reporter=\"source\",source_workload=\"sleep\",source_workload_namespace=\"default\",source_app=\"sleep\",destination_workload=\"web-v1\",destination_version=\"v1\",destination_app=\"web\",destination_service=\"$SVC_WEB\",destination_service_name=\"web\",destination_service_namespace=\"default\",request_protocol=\"http\",response_code=\"200\",response_flags=\"-\"}" 6
is "istio_requests_total{destination_workload=\"web-v2\",destination_version=\"v2\",destination_canonical_service=\"web\",destination_canonical_revision=\"v2\",response_code=\"200\"}" 4
is "istio_requests_total{destination_service=\"$SVC_WEB\",destination_workload=\"unknown\",response_code=\"404\",response_flags=\"NR\"}" 3
is "istio_requests_total{destination_service=\"$SVC_WEB\",response_code=\"503\",response_flags=\"FI\"}" 2
is "istio_requests_total{destination_service=\"dead.default.svc.cluster.local\",destination_workload=\"dead\",response_code=\"503\",response_flags=\"UF,URX\"}" 2
is "istio_request_duration_milliseconds_count{destination_version=\"v1\"}" 6
is "istio_request_duration_milliseconds_bucket{destination_version=\"v2\",le=\"+Inf\"}" 4
is "istio_response_bytes_count{response_code=\"404\"}" 3
check "istio_request_bytes counts heads: more than 0 bytes for the 6 to v1" \
	[ "$(metric "istio_request_bytes_sum{destination_version=\"v1\"}" | cut -d. -f1)" -gt 300 ]
DB_TCP="destination_service=\"db.default.svc.cluster.local\",destination_workload=\"db-0\",source_workload=\"sleep\",request_protocol=\"tcp\",response_flags=\"-\""
is "istio_tcp_connections_opened_total{$DB_TCP}" "$TCP"
is "istio_tcp_connections_closed_total{$DB_TCP}" "$TCP"
check "istio_tcp_received_bytes_total and sent: both ways, more than the requests' heads" \
	[ "$(metric "istio_tcp_received_bytes_total{$DB_TCP}")" -gt 100 ] && \
	[ "$(metric "istio_tcp_sent_bytes_total{$DB_TCP}")" -gt 100 ]
check "the raw connections are no HTTP requests" \
	[ "$(series "istio_requests_total{destination_service_name=\"db\"}")" = 0 ]
direct1=$(metric shunt_kernel_direct_total)
check "shunt_kernel_direct_total grew by 3 (the tcp route): $direct0 -> $direct1" \
	grew_by "$direct0" "$direct1" 3
is shunt_proxy_requests_total "$HTTP"
is "shunt_config_reloads_total{result=\"ok\"}" 1
is "shunt_config_reloads_total{result=\"refused\"}" 0
is shunt_config_generation 1
is "shunt_map_entries{map=\"shunt_svc4_v2\"}" 3
is "shunt_map_max_entries{map=\"shunt_svc4_v2\"}" 65536
is shunt_metrics_overflow_total 0
is shunt_access_log_lines_total $((HTTP + TCP))
is shunt_access_log_dropped_total 0

# --- the access log ------------------------------------------------------------------

ALOG=$TMP/access.log
check "the access log has one line per request and raw connection through the agent ($((HTTP + TCP)))" \
	[ "$(wc -l <"$ALOG")" -eq $((HTTP + TCP)) ]
# [START] "METHOD PATH PROTO" CODE FLAGS DETAILS TERM "FAILURE" IN OUT DURATION SVCTIME "XFF"
# "UA" "ID" "AUTHORITY" "UPSTREAM" CLUSTER UP_LOCAL DOWN_LOCAL DOWN_REMOTE SNI ROUTE
LINE_RE='^\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\] "GET [^ ]+ HTTP/1\.1" [0-9]{3} [A-Z,-]+ [a-z_{},]+ - "-" [0-9]+ [0-9]+ [0-9]+ ([0-9]+|-) "[^"]*" "shunt-client" "[0-9a-f-]{36}" "[^"]+" "[^"]+" [^ ]+ [^ ]+ 10\.96\.77\.6[01]:80 10\.77\.0\.20:[0-9]+ - [^ ]+$'
if [ "$(grep -cE "$LINE_RE" "$ALOG")" -eq "$HTTP" ]; then
	ok "every request's line has Istio's fields in Istio's order"
else
	not_ok "every request's line has Istio's fields in Istio's order"
	grep -F '"GET ' "$ALOG" | grep -vE "$LINE_RE" | show
fi
TCP_RE='^\[[-0-9T:.Z]+\] "- - -" 0 - - - "-" [1-9][0-9]* [1-9][0-9]* [0-9]+ - "-" "-" "-" "-" "10\.77\.0\.24:3000" outbound\|5432\|\|db\.default\.svc\.cluster\.local 10\.77\.0\.1:[0-9]+ 10\.77\.0\.1:9000 10\.77\.0\.20:[0-9]+ - -$'
if [ "$(grep -cE "$TCP_RE" "$ALOG")" -eq "$TCP" ]; then
	ok "a line per raw connection, as Envoy's tcp_proxy logs it (bytes both ways, upstream host, cluster)"
else
	not_ok "a line per raw connection, as Envoy's tcp_proxy logs it"
	grep -vF '"GET ' "$ALOG" | show
fi
check "3 lines 404 NR route_not_found, upstream host -" \
	[ "$(grep -c '" 404 NR route_not_found .* "-" - - 10\.96\.77\.60:80 ' "$ALOG")" -eq 3 ]
check "2 lines 503 FI fault_filter_abort" [ "$(grep -c '" 503 FI fault_filter_abort ' "$ALOG")" -eq 2 ]
check "2 lines 503 UF,URX for the dead upstream, naming it" \
	[ "$(grep -c '" 503 UF,URX upstream_reset_before_response_started{connection_failure} .* "10\.77\.0\.23:3000" outbound|80||dead\.default\.svc\.cluster\.local ' "$ALOG")" -eq 2 ]
check "4 lines GET /v2/hello 200 via web-v2 (10.77.0.22:3000), cluster of subset v2, route canary.v2-prefix" \
	[ "$(grep -c '"GET /v2/hello HTTP/1\.1" 200 - via_upstream .* "10\.77\.0\.22:3000" outbound|80|v2|web\.default\.svc\.cluster\.local 10\.77\.0\.1:[0-9]* .* canary\.v2-prefix$' "$ALOG")" -eq 4 ]
check "6 lines GET /v1/hello 200 via web-v1, route stable" \
	[ "$(grep -c '"GET /v1/hello HTTP/1\.1" 200 - via_upstream .* "10\.77\.0\.21:3000" .* stable$' "$ALOG")" -eq 6 ]
check "an upstream service time on each of the 10 forwarded 200s" \
	[ "$(grep -cE '" 200 - via_upstream - "-" [0-9]+ [0-9]+ [0-9]+ [0-9]+ ' "$ALOG")" -eq 10 ]

# --- logs ---------------------------------------------------------------------------------

sed -n "$((log0 + 1)),\$p" "$TMP/shuntd.log" >"$TMP/during"
check "no log line for any of the requests at the default level" [ ! -s "$TMP/during" ]
[ -s "$TMP/during" ] && show "$TMP/during"

# --- a reload: the old series keep their labels, new requests get the new config's --------

sed -i 's/labels: {app: sleep, pod-template-hash/labels: {app: sleep2, pod-template-hash/' \
	"$TMP/config/mesh.yaml"
kill -HUP "$AGENT_PID"
for ((i = 0; i < 50; i++)); do
	scrape reloaded
	[ "$(metric shunt_config_generation)" = 2 ] && break
	sleep 0.1
done
is shunt_config_generation 2
sent client 2 200 --connect "$WEB:80" --path /v1/again
for ((i = 0; i < 20; i++)); do
	scrape reloaded
	[ "$(metric istio_requests_total)" = $((HTTP + 2)) ] && break
	sleep 0.1
done
check "the page parses after the reload" "$BUILD/shunt-promcheck" "$PAGE" >/dev/null
is "shunt_config_reloads_total{result=\"ok\"}" 2
is "istio_requests_total{source_app=\"sleep\",destination_version=\"v1\",response_code=\"200\"}" 6
is "istio_requests_total{source_app=\"sleep2\",source_workload=\"sleep\",destination_version=\"v1\",response_code=\"200\"}" 2

# --- stop ---------------------------------------------------------------------------------

kill -TERM "$AGENT_PID"
node_wait_exit "$AGENT_PID" 100
rc=$?
check "shuntd exits 0 on SIGTERM (exit $rc)" [ "$rc" -eq 0 ]
node_forget_pid "$AGENT_PID"

e2e_end
