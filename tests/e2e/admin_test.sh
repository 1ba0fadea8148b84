#!/bin/bash
# End-to-end test of the admin API's config endpoints and shuntctl against a
# running agent on the namespace node. The config: greeter (VIP
# 10.96.77.60:3000, pods greeter-v1 and greeter-v2) with a VirtualService of
# three rules (beta: header x-beta: yes -> v2; v2-path: uri prefix /v2 -> v2;
# the rest -> v1) and web (10.96.77.61:80, no rule: balanced in the kernel).
#
#   /config_dump   parses as JSON (jq) and holds the services, endpoints with
#                  labels and health, the routes in order, the DestinationRule
#   /routes        ?host=greeter lists the rules in order; an unknown host is 404
#   /logging       POST ?level=debug makes per-request debug lines appear in the
#                  agent's log, ?level=info makes them stop; a bad level is 400
#   /explain       and shuntctl explain (text, JSON, and offline with --config)
#                  name the rule and the subset; a real request through the
#                  agent is answered by the pod explain named, for each case
#   shuntctl       status, routes, maps in text and JSON; validate exits 0 on the
#                  config and 1 with file:line:col on a broken copy; status says
#                  DOWN once the agent is gone
#
#   tests/e2e/admin_test.sh BUILD_DIR
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

GREETER=10.96.77.60
WEB=10.96.77.61
PORT=3000
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TMP=
AGENT_PID=

e2e_require
command -v jq >/dev/null || fatal "jq is missing: make deps installs it"
command -v curl >/dev/null || fatal "curl is missing: make deps installs it"

# admin METHOD PATH: curl from the node's netns, where the agent's admin API listens;
# the body in $TMP/body, the status in CODE.
admin() {
	CODE=$(node_exec curl -s -m 5 -X "$1" -o "$TMP/body" -w '%{http_code}' "http://$ADMIN$2")
}

# ctl ARGS...: shuntctl against this node's agent and pins, from the node's netns;
# output in $TMP/ctl.out, exit status in CTL_RC.
ctl() {
	node_exec "$BUILD/shuntctl" --pin-dir "$NODE_PIN" --admin "$ADMIN" "$@" >"$TMP/ctl.out" 2>&1
	CTL_RC=$?
}

# jcheck WHAT FILE FILTER: ok when jq -e FILTER holds on FILE.
jcheck() {
	if jq -e "$3" "$2" >/dev/null 2>&1; then
		ok "$1"
	else
		not_ok "$1 (jq -e '$3')"
		head -c 3000 "$2" | show
	fi
}

e2e_start admin

node_declare_pods client=10.77.0.40 greeter-v1=10.77.0.41 greeter-v2=10.77.0.42 web=10.77.0.43 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN"
node_start_echos "$BUILD/shunt-echo" "$TMP" greeter-v1:$PORT:v1 greeter-v2:$PORT:v2 web:$PORT:web ||
	fatal "the backends did not start"

mkdir -p "$TMP/config"
cat >"$TMP/config/mesh.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {shunt.io/mesh: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec:
  clusterIP: $GREETER
  selector: {app: greeter}
  ports: [{name: http, port: $PORT}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: $WEB
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: $PORT}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 10.77.0.40}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-v1, namespace: default, labels: {app: greeter, version: v1}}
status: {podIP: 10.77.0.41}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-v2, namespace: default, labels: {app: greeter, version: v2}}
status: {podIP: 10.77.0.42}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
status: {podIP: 10.77.0.43}
YAML
cat >"$TMP/config/routing.yaml" <<YAML
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: default}
spec:
  host: greeter
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: default}
spec:
  hosts: [greeter]
  http:
  - name: beta
    match: [{headers: {x-beta: {exact: "yes"}}}]
    route: [{destination: {host: greeter, subset: v2}}]
  - name: v2-path
    match: [{uri: {prefix: /v2}}]
    route: [{destination: {host: greeter, subset: v2}}]
  - route: [{destination: {host: greeter, subset: v1}}]
    timeout: 3s
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--admin "$ADMIN" --pin-dir "$NODE_PIN" >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

# --- /config_dump ------------------------------------------------------------------

admin GET /config_dump
cp "$TMP/body" "$TMP/dump.json"
check "/config_dump: 200, application/json that jq parses" \
	test "$CODE" = 200 -a -s "$TMP/dump.json"
jcheck "/config_dump: generation 1, one config published, none refused" "$TMP/dump.json" \
	'.generation == 1 and .reload.ok == 1 and .reload.refused == 0'
jcheck "/config_dump: greeter with VIP $GREETER, port $PORT through the agent, 2 ready endpoints with their version labels" \
	"$TMP/dump.json" '.services[] | select(.name == "greeter") |
	.vips == ["'$GREETER'"] and .ports[0].path == "agent" and .ports[0].l7 and
	([.ports[0].endpoints[] | .labels.version] | sort) == ["v1", "v2"] and
	([.ports[0].endpoints[] | .health.ready] | unique) == ["true"]'
jcheck "/config_dump: web (no rule) balanced in the kernel" "$TMP/dump.json" \
	'.services[] | select(.name == "web") | .ports[0].path == "kernel" and .ports[0].l7 == false'
jcheck "/config_dump: greeter's routes in evaluation order (beta, v2-path, the rest)" "$TMP/dump.json" \
	'[.routes[] | select(.service == "default/greeter") | .routes[] | .rule] == [0, 1, 2] and
	 [.routes[] | select(.service == "default/greeter") | .routes[] | .name] == ["beta", "v2-path", null]'
jcheck "/config_dump: the DestinationRule's subsets and the VirtualService" "$TMP/dump.json" \
	'([.destinationRules[0].subsets[].name] == ["v1", "v2"]) and .virtualServices[0].http == 3'
admin GET '/config_dump?resource=reload,services'
jcheck "/config_dump?resource=reload,services: only those sections" "$TMP/body" \
	'has("services") and (has("routes") | not) and .reload.ok == 1'
admin GET '/config_dump?resource=bogus'
check "/config_dump?resource=bogus: 400 naming the sections ($(head -c 60 "$TMP/body"))" \
	grep -q "^resource bogus: one of reload, services" "$TMP/body"

# --- /routes -------------------------------------------------------------------------

admin GET '/routes?host=greeter'
jcheck "/routes?host=greeter: one virtual host, 3 routes in order with match and action" "$TMP/body" \
	'length == 1 and .[0].name == "greeter.default.svc.cluster.local:'$PORT'" and
	 (.[0].domains | index("'$GREETER:$PORT'")) != null and
	 .[0].routes[0].match.headers["x-beta"].exact == "yes" and
	 .[0].routes[1].match.uri.prefix == "/v2" and
	 .[0].routes[2].action.route[0].destination.subset == "v1" and
	 .[0].routes[2].action.timeout == "3s"'
admin GET '/routes?host=nosuch.example'
check "/routes?host=nosuch.example: 404 ($CODE)" test "$CODE" = 404

# --- /logging -------------------------------------------------------------------------

debug_lines() { grep -c ' debug route: GET /logcheck' "$TMP/shuntd.log"; }
admin GET /logging
check "GET /logging: the level is info ($(cat "$TMP/body"))" grep -qx 'level: info' "$TMP/body"
client client --connect "$GREETER:$PORT" --path /logcheck --timeout-ms 3000
check "at level info a request logs no debug line" test "$(debug_lines)" = 0
admin POST '/logging?level=debug'
check "POST /logging?level=debug: 200 ($(cat "$TMP/body"))" test "$CODE" = 200
client client --connect "$GREETER:$PORT" --path /logcheck -n 3 --timeout-ms 3000
check "at level debug each request logs its route (3 lines: $(debug_lines))" test "$(debug_lines)" = 3
admin POST '/logging?level=info'
client client --connect "$GREETER:$PORT" --path /logcheck -n 3 --timeout-ms 3000
check "back at level info no more debug lines ($(debug_lines))" test "$(debug_lines)" = 3
admin POST '/logging?level=loud'
check "POST /logging?level=loud: 400 naming the levels" \
	grep -q 'one of debug, info, warn, error' "$TMP/body"
admin GET '/logging?level=debug'
check "GET /logging?level=debug: 405, GET does not change it ($CODE)" test "$CODE" = 405

# --- explain agrees with what the agent does --------------------------------------------

# path | header | rule explain must name | subset | the pod that must answer
CASES=$(
	cat <<'TSV'
/v2/hello|-|1|v2|greeter-v2
/hello|x-beta: yes|0|v2|greeter-v2
/hello|x-beta: no|2|v1|greeter-v1
/|-|2|v1|greeter-v1
TSV
)
while IFS='|' read -r path hdr rule subset pod; do
	hargs=()
	[ "$hdr" = - ] || hargs=(-H "$hdr")
	ctl -o json explain --host greeter --path "$path" "${hargs[@]}" --source-labels app=client
	cp "$TMP/ctl.out" "$TMP/explain.json"
	jcheck "explain $path ${hdr#-}: rule $rule, subset $subset, endpoint pod default/$pod" "$TMP/explain.json" \
		'.matchedRule.index == '"$rule"' and
		 ([.destinations[] | select(.chosen) | .subset] == ["'"$subset"'"]) and
		 .endpointPod == "default/'"$pod"'" and .request.source.pod == "default/client"'
	cargs=()
	[ "$hdr" = - ] || cargs=(--header "$hdr")
	client client --connect "$GREETER:$PORT" --path "$path" "${cargs[@]}" -n 4 --timeout-ms 3000
	if [ "$RC" -eq 0 ] && [ "$(grep -c "^status=200 pod=$pod " "$OUT")" -eq 4 ]; then
		ok "a real request for $path ${hdr#-} through the agent: 4 of 4 answered by $pod, as explain said"
	else
		not_ok "a real request for $path ${hdr#-} is answered by $pod, as explain said (exit $RC)"
		show "$OUT" "$ERR"
	fi
done <<<"$CASES"

ctl -o json explain --host greeter --path /hello --source-labels app=client
jcheck "explain: earlier rules say why they did not match" "$TMP/ctl.out" \
	'.rules[0].reason == "rule 0 (beta): header x-beta exact \"yes\": the request has none" and
	 .rules[1].reason == "rule 1 (v2-path): uri prefix /v2 does not match /hello" and
	 .rules[2].matched'
ctl explain --host greeter --path /hello --source-labels app=client
check "explain (text): the reasons and the chosen destination" \
	grep -q '^  rule 1 (v2-path): uri prefix /v2 does not match /hello$' "$TMP/ctl.out"
check "explain (text): the endpoint of subset v1" \
	grep -q '^endpoint:  10.77.0.41:3000 default/greeter-v1$' "$TMP/ctl.out"
node_exec "$BUILD/shuntctl" --config "$TMP/config" -o json explain --host greeter \
	--path /v2/x --source-labels app=client >"$TMP/offline.json" 2>&1
jcheck "explain --config DIR (offline, no agent): the same rule and subset" "$TMP/offline.json" \
	'.matchedRule.index == 1 and .destinations[0].subset == "v2"'
admin GET '/explain?host=greeter&path=/v2/x&header=x-beta:%20yes&source=10.77.0.40'
jcheck "GET /explain with header= and source=: rule 0 for the header" "$TMP/body" \
	'.matchedRule.index == 0 and .request.source.pod == "default/client"'
ctl explain --host nosuch
check "explain --host nosuch: exit 1 and the reason ($(head -c 80 "$TMP/ctl.out"))" \
	test "$CTL_RC" = 1 -a -n "$(grep 'no service is named nosuch' "$TMP/ctl.out")"

# --- shuntctl routes, status, maps ----------------------------------------------------

ctl routes greeter
check "shuntctl routes greeter (text): 3 routes, beta first" \
	test "$(grep -c '^greeter.default.svc.cluster.local:3000 ' "$TMP/ctl.out")" = 3 -a \
	"$(sed -n 2p "$TMP/ctl.out" | awk '{print $3}')" = beta
ctl -o json routes
jcheck "shuntctl -o json routes: every service port, greeter's rules in order" "$TMP/ctl.out" \
	'length == 2 and ([.[] | select(.service == "default/greeter") | .routes[].rule] == [0, 1, 2])'

ctl status
check "shuntctl status (text): up, generation 1 (exit $CTL_RC)" \
	test "$CTL_RC" = 0 -a -n "$(grep '^agent:     up' "$TMP/ctl.out")" -a \
	-n "$(grep '^config:    generation 1;' "$TMP/ctl.out")"
ctl -o json status
jcheck "shuntctl -o json status: up, heartbeat fresh, connect4 attached by a pinned link, counters" \
	"$TMP/ctl.out" '.up and .agent.ready and .agent.generation == 1 and .kernel.alive and
	 ([.programs[] | select(.pin == "link_connect4") | .attach_type] == ["cgroup_inet4_connect"]) and
	 (.programs | length) >= 7 and .counters.kernel.captured >= 7 and .counters.proxy.requests >= 20'

ctl maps
check "shuntctl maps (text): greeter through the agent" grep -qE "^  svc $GREETER:$PORT L7 " "$TMP/ctl.out"
ctl -o json maps
jcheck "shuntctl -o json maps: shunt_svc4_v2 holds greeter (L7) and web (L4, 1 slot)" "$TMP/ctl.out" \
	'[.maps[] | select(.name == "shunt_svc4_v2") | .records[] | select(.kind == "svc") |
	  {vip, path}] == [{"vip": "'$GREETER:$PORT'", "path": "L7"}, {"vip": "'$WEB':80", "path": "L4"}]'
ctl -o json stats
jcheck "shuntctl -o json stats: the kernel counters by name" "$TMP/ctl.out" '.captured >= 7 and has("direct")'

# --- validate ---------------------------------------------------------------------------

ctl validate "$TMP/config"
check "shuntctl validate CONFIG: exit 0, valid ($(tail -1 "$TMP/ctl.out"))" \
	test "$CTL_RC" = 0 -a -n "$(grep ': valid: 2 services, 4 pods, 1 VirtualServices' "$TMP/ctl.out")"
mkdir -p "$TMP/broken"
cp "$TMP/config/"*.yaml "$TMP/broken/"
cat >"$TMP/broken/bad.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: default}
spec:
  hosts: [web]
  http:
  - route:
    - {destination: {host: web}, weight: "50"}
YAML
ctl validate "$TMP/broken"
check "shuntctl validate BROKEN: exit 1, the reason at bad.yaml:LINE:COL ($(grep -m1 bad.yaml "$TMP/ctl.out"))" \
	test "$CTL_RC" = 1 -a -n "$(grep -E "^$TMP/broken/bad.yaml:8:[0-9]+: " "$TMP/ctl.out")"
ctl -o json validate "$TMP/broken"
jcheck "shuntctl -o json validate BROKEN: valid false, the diagnostic's file and line" "$TMP/ctl.out" \
	'.valid == false and .errors >= 1 and
	 (.diagnostics[] | select(.level == "error") | .file | endswith("bad.yaml")) and
	 ([.diagnostics[] | select(.level == "error") | .line] | index(8)) != null'

# --- the agent gone ----------------------------------------------------------------------

kill -TERM "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50 >/dev/null
node_forget_pid "$AGENT_PID"
ctl status
check "shuntctl status with the agent gone: exit 1, DOWN, the admin API unreachable" \
	test "$CTL_RC" = 1 -a -n "$(grep '^agent:     DOWN' "$TMP/ctl.out")"

e2e_end
