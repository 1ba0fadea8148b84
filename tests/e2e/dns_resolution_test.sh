#!/bin/bash
# End-to-end DNS resolution of ServiceEntries (resolution DNS and
# DNS_ROUND_ROBIN). The "internet" is namespaces on the node's bridge that no
# pod of the config owns: ns1 (10.77.0.210) runs shunt-dns, shuntd's
# --dns-upstream, answering from a zone file the test rewrites; ext-1..ext-4
# (10.77.0.200-203) are the backends those names lead to. A mesh pod calls the
# hosts by name, through the agent's DNS (which answers their allocated VIP)
# and capture:
#
#   api.example.test    DNS, no endpoints, no addresses: the host itself is
#                       resolved. TTL 1 s; the zone moves it from ext-1 to ext-2
#                       and requests follow without a restart; the zone then
#                       fails (SERVFAIL, then no answer at all) and requests keep
#                       reaching ext-2, the last good answer, with one log line
#                       for the failure and one for the recovery
#   rr.example.test     DNS_ROUND_ROBIN, one endpoint www.rr.example.test, a
#                       CNAME to two addresses: the first one (ext-3) serves
#   split.example.test  DNS, two endpoints by name with labels version v1/v2,
#                       a DestinationRule's subsets and a 75/25 VirtualService
#
#   tests/e2e/dns_resolution_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root; about 15 s.
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
DNS_IP=10.77.0.210
TMP=
AGENT_PID=

# zone LINE...: the zone shunt-dns answers from, replaced at once (it reads it per query).
zone() {
	printf '%s\n' "$@" >"$TMP/zone.new" && mv "$TMP/zone.new" "$TMP/zone"
}

# only POD: every response of the last client call came from POD, and there was one.
only() {
	[ "$RC" -eq 0 ] && [ -s "$OUT" ] && ! grep -qv "^status=200 pod=$1 " "$OUT"
}

# until_pod POD HOST TENTHS: calls HOST:80 from app (a new connection each time) until POD
# answers; sets WAITED (ms); 1 if it did not within TENTHS tenths of a second.
until_pod() {
	local t0 i
	t0=$(now_ms)
	for ((i = 0; i < $3; i++)); do
		client app --connect "$2:80" --new-conn --timeout-ms 2000
		if only "$1"; then
			WAITED=$(($(now_ms) - t0))
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# log_lines RE: how many lines of the agent's log match RE.
log_lines() {
	grep -cE "$1" "$TMP/shuntd.log"
}

# dns_queries NAME: A queries for NAME shunt-dns saw.
dns_queries() {
	grep -c "^query $1 A " "$TMP/shunt-dns.log"
}

e2e_require
e2e_require_dns
[ -x "$BUILD/shunt-dns" ] || fatal "$BUILD/shunt-dns is missing: run make first"

e2e_start dnsres

node_declare_pods app=10.77.0.40 ns1=$DNS_IP ext-1=10.77.0.200 ext-2=10.77.0.201 \
	ext-3=10.77.0.202 ext-4=10.77.0.203 || fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, pins $NODE_PIN; the pods' nameserver: $NS_IP"
node_start_echos "$BUILD/shunt-echo" "$TMP" ext-1:3000:one ext-2:3000:two ext-3:3000:three \
	ext-4:3000:four || fatal "the backends did not start"

zone "api.example.test 1 A 10.77.0.200" \
	"www.rr.example.test 1 CNAME backend.rr.example.test" \
	"backend.rr.example.test 1 A 10.77.0.202" \
	"backend.rr.example.test 1 A 10.77.0.203" \
	"v1.split.example.test 30 A 10.77.0.200" \
	"v2.split.example.test 30 A 10.77.0.201"
pod_spawn ns1 "$BUILD/shunt-dns" --listen "$DNS_IP:53" --zone "$TMP/zone" >"$TMP/shunt-dns.log" 2>&1
for ((i = 0; i < 50; i++)); do
	grep -q "listening on" "$TMP/shunt-dns.log" && break
	sleep 0.1
done
grep -q "listening on" "$TMP/shunt-dns.log" || fatal "shunt-dns did not start: $(cat "$TMP/shunt-dns.log")"

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
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3000}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: rr, namespace: default}
spec:
  hosts: [rr.example.test]
  resolution: DNS_ROUND_ROBIN
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 3000}]
  endpoints: [{address: www.rr.example.test}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: split, namespace: default}
spec:
  hosts: [split.example.test]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints:
  - {address: v1.split.example.test, labels: {version: v1}, ports: {http: 3000}}
  - {address: v2.split.example.test, labels: {version: v2}, ports: {http: 3000}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: split, namespace: default}
spec:
  host: split.example.test
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: split, namespace: default}
spec:
  hosts: [split.example.test]
  http:
  - route:
    - {destination: {host: split.example.test, subset: v1}, weight: 75}
    - {destination: {host: split.example.test, subset: v2}, weight: 25}
YAML

agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--dns-upstream "$DNS_IP:53" --admin "$ADMIN" --pin-dir "$NODE_PIN" >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"

check "the first config was built with the answers: 4 names asked before it was published, 4 answered" \
	grep -q "dns: the config resolves 4 names, asked before it is published: 4 answered" "$TMP/shuntd.log"

# --- api.example.test: the host resolved, its VIP from the agent's DNS ----------------

resolve app api.example.test
vip=$(first_ip)
if [ "$RC" -eq 0 ] && [[ $vip == 240.240.* ]]; then
	ok "app: api.example.test (DNS, no addresses) is $vip, a VIP the agent allocated and answers"
else
	not_ok "app: api.example.test resolves to an allocated VIP (exit $RC)"
	show "$OUT"
fi
resolve app backend.rr.example.test
check "app: backend.rr.example.test (no ServiceEntry host) is forwarded to the upstream: $(first_ip)" \
	test "$RC" = 0 -a "$(first_ip)" = 10.77.0.202
client app --connect api.example.test:80 -n 3 --new-conn --timeout-ms 3000
if only ext-1 && [ "$(grep -c 'seen_peer=10\.77\.0\.40:' "$OUT")" -eq 3 ]; then
	ok "app -> http://api.example.test by name: 3 of 3 from ext-1 (10.77.0.200:3000), balanced in the kernel"
else
	not_ok "app -> api.example.test reaches ext-1 (exit $RC)"
	show "$OUT" "$ERR"
fi

gen0=$(generation)
zone "api.example.test 1 A 10.77.0.201" \
	"www.rr.example.test 1 CNAME backend.rr.example.test" \
	"backend.rr.example.test 1 A 10.77.0.202" \
	"backend.rr.example.test 1 A 10.77.0.203" \
	"v1.split.example.test 30 A 10.77.0.200" \
	"v2.split.example.test 30 A 10.77.0.201"
if until_pod ext-2 api.example.test 100; then
	ok "the zone moves api.example.test to 10.77.0.201 (TTL 1 s): requests reach ext-2 after $WAITED ms, the agent not restarted"
else
	not_ok "requests follow api.example.test to 10.77.0.201 within 10 s"
	show "$OUT" "$ERR"
fi
check "shuntd still runs as pid $AGENT_PID" node_pid_running "$AGENT_PID"
check "the change came from a reload forced by the answer" \
	grep -q "reload: a DNS answer changed: reading" "$TMP/shuntd.log"
gen1=$(generation)
check "the config generation moved ($gen0 -> $gen1)" test "${gen1:-0}" -gt "${gen0:-0}"

# --- the refresh fails: the last good answer keeps serving ------------------------------

zone "api.example.test servfail" \
	"www.rr.example.test 1 CNAME backend.rr.example.test" \
	"backend.rr.example.test 1 A 10.77.0.202" \
	"backend.rr.example.test 1 A 10.77.0.203" \
	"v1.split.example.test 30 A 10.77.0.200" \
	"v2.split.example.test 30 A 10.77.0.201"
q0=$(dns_queries api.example.test)
sleep 3
client app --connect api.example.test:80 -n 3 --new-conn --timeout-ms 3000
if only ext-2; then
	ok "api.example.test answers SERVFAIL for 3 s: 3 of 3 still reach ext-2, its last good address"
else
	not_ok "with SERVFAIL, requests keep reaching the last good address (exit $RC)"
	show "$OUT" "$ERR"
fi
sed -i 's/^api.example.test servfail$/api.example.test drop/' "$TMP/zone"
sleep 3
client app --connect api.example.test:80 -n 3 --new-conn --timeout-ms 3000
if only ext-2; then
	ok "api.example.test gets no answer at all for 3 s more: 3 of 3 still reach ext-2"
else
	not_ok "with the upstream silent, requests keep reaching the last good address (exit $RC)"
	show "$OUT" "$ERR"
fi
q1=$(dns_queries api.example.test)
if [ $((q1 - q0)) -ge 2 ] && [ $((q1 - q0)) -le 6 ]; then
	ok "6 s of failure cost $((q1 - q0)) queries for api.example.test (retries back off: 1 s, 2 s, 4 s)"
else
	not_ok "failing retries back off: $((q1 - q0)) queries in 6 s"
fi
check "one log line says api.example.test started failing, keeping 10.77.0.201" \
	test "$(log_lines 'dns: api.example.test \(A\): (SERVFAIL|timed out)')" = 1 -a \
	"$(log_lines 'SERVFAIL: keeping its last good answer \(10.77.0.201\)')" = 1
# The resolver's own metrics say the same: failures counted, a name failing now.
node_exec curl -s -m 5 -o "$TMP/prom" "http://$ADMIN/stats/prometheus"
fails=$("$BUILD/shunt-promcheck" "$TMP/prom" shunt_dns_resolver_failures_total 2>/dev/null | sed -n '2s/ .*//p')
failing=$("$BUILD/shunt-promcheck" "$TMP/prom" shunt_dns_resolver_names_failing 2>/dev/null | sed -n '2s/ .*//p')
check "/stats/prometheus parses and counts the failed refreshes (failures_total $fails, names_failing $failing)" \
	test "${fails:-0}" -ge 2 -a "${failing:-0}" -ge 1
zone "api.example.test 1 A 10.77.0.200" \
	"www.rr.example.test 1 CNAME backend.rr.example.test" \
	"backend.rr.example.test 1 A 10.77.0.202" \
	"backend.rr.example.test 1 A 10.77.0.203" \
	"v1.split.example.test 30 A 10.77.0.200" \
	"v2.split.example.test 30 A 10.77.0.201"
if until_pod ext-1 api.example.test 200; then
	ok "the zone answers again (10.77.0.200): requests reach ext-1 after $WAITED ms"
else
	not_ok "after the failure, a new answer is followed within 20 s"
	show "$OUT" "$ERR"
fi
check "one log line says api.example.test answers again" \
	test "$(log_lines 'dns: api.example.test \(A\) answers again')" = 1

# --- DNS_ROUND_ROBIN: one endpoint name, through a CNAME: the first address ------------

client app --connect rr.example.test:80 -n 6 --new-conn --timeout-ms 3000
if only ext-3 && [ "$(grep -c '^status=200 ' "$OUT")" -eq 6 ]; then
	ok "app -> rr.example.test (DNS_ROUND_ROBIN, www.rr.example.test -> CNAME -> .202, .203): 6 of 6 from ext-3, the first address"
else
	not_ok "DNS_ROUND_ROBIN serves the first address of its endpoint's name (exit $RC)"
	show "$OUT" "$ERR"
fi

# --- subsets over DNS endpoints with labels, a weighted route -------------------------

client app --connect split.example.test:80 -n 200 --timeout-ms 3000
v1=$(grep -c '^status=200 pod=ext-1 ' "$OUT")
v2=$(grep -c '^status=200 pod=ext-2 ' "$OUT")
if [ "$RC" -eq 0 ] && [ $((v1 + v2)) -eq 200 ] && [ "$v1" -ge 125 ] && [ "$v1" -le 175 ] &&
	[ "$(grep -c 'seen_peer=10\.77\.0\.1:' "$OUT")" -eq 200 ]; then
	ok "app -> split.example.test, 75/25 over subsets v1/v2 of two DNS endpoints: $v1 from ext-1 (v1), $v2 from ext-2 (v2), through the agent"
else
	not_ok "the weighted route over DNS endpoint subsets splits about 75/25 ($v1/$v2, exit $RC)"
	show "$ERR"
fi

# The resolver's thread starts before the signals are blocked: it must not take SIGTERM.
kill -TERM "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50
rc=$?
node_forget_pid "$AGENT_PID"
check "shuntd, with its resolver running, exits 0 on SIGTERM (exit $rc)" test "$rc" = 0

e2e_end
