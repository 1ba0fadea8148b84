#!/bin/bash
# The shunt demo: builds a small node out of network namespaces and cgroups
# (lib/node.sh), starts the greeter backends and shuntd, sends requests from
# helloweb to greeter-service by its VIP, explains what happened, and takes
# everything down again (also on Ctrl-C). Needs root; no input; a few seconds.
#
#   tests/e2e/demo.sh BUILD_DIR        (make demo)
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/e2e.sh
source "$HERE/lib/e2e.sh" # generation, wait_generation

VIP=10.96.77.10
SVC_PORT=3000
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
REQUESTS=12

TMP=
AGENT_PID=

if [ -t 1 ]; then
	B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'
else
	B='' G='' R='' D='' N=''
fi

say() {
	printf '%s\n' "$*"
}

title() {
	printf '\n%s%s%s\n' "$B" "$*" "$N"
}

die() {
	printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2
	exit 1
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$rc" -ne 0 ] && [ -n "$TMP" ] && [ -s "$TMP/shuntd.log" ]; then
		say "shuntd's log:"
		sed 's/^/    /' "$TMP/shuntd.log"
	fi
	if [ "$NODE_IS_UP" = 1 ]; then
		node_down
		if node_leftovers >/dev/null; then
			say "${D}Node $NODE_ID taken down: namespaces, bridge, cgroups and pins removed.$N"
		else
			say "${R}Node $NODE_ID: some pieces are left:$N"
			node_leftovers
		fi
	fi
	[ -n "$TMP" ] && rm -rf -- "$TMP"
	exit "$rc"
}

# The value of kernel counter $1.
counter() {
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" stats 2>/dev/null | awk -v n="$1" '$1 == n { print $2 }'
}

# The description of a shuntctl counter.
counter_help() {
	case $1 in
	captured) echo "connect() calls to a service VIP sent to shuntd (L7 rules apply)" ;;
	direct) echo "connects balanced in the kernel straight to a pod: no L7 rule, no hop" ;;
	fail_open) echo "connects to L7 services balanced in the kernel while shuntd was down" ;;
	no_backend) echo "connects refused at once: the service had no ready pod" ;;
	listener_closed) echo "times the kernel saw shuntd's listener close (exit or crash)" ;;
	skipped_mark) echo "connects to a VIP left alone: shuntd's own (marked) sockets" ;;
	not_ready) echo "connects to L7 services while shuntd was not alive" ;;
	pair_indexed) echo "captured connections indexed by 4-tuple for shuntd's accept()" ;;
	pair_failed) echo "captured connections that could not be indexed" ;;
	peer_rewritten) echo "getpeername() answers changed back to the VIP" ;;
	not_mesh) echo "connects to a service from a pod not in the mesh: left alone" ;;
	excluded) echo "connects a pod excludes by port or range (Istio's annotations)" ;;
	egress_blocked) echo "connects refused: outboundTrafficPolicy REGISTRY_ONLY, not in the registry" ;;
	fastpath_indexed) echo "pod<->shuntd sockets on the same-node fast path (sk_msg)" ;;
	fastpath_failed) echo "such sockets that could not be put on it" ;;
	fastpath_redirected) echo "messages handed socket to socket, no TCP/IP stack" ;;
	fastpath_passed) echo "messages of those sockets that went through TCP/IP" ;;
	dns_captured) echo "DNS queries from pods answered by shuntd's resolver" ;;
	esac
}

[ "$(id -u)" -eq 0 ] || die "run me as root (network namespaces, cgroups and eBPF need it)"
why=$(node_unsupported)
[ -z "$why" ] || die "this machine cannot run the demo: $why"
for f in shuntd shuntctl shunt-echo shunt-client; do
	[ -x "$BUILD/$f" ] || die "$BUILD/$f is missing: run make first"
done
BUILD=$(cd "$BUILD" && pwd)
TMP=$(mktemp -d /tmp/shunt-demo.XXXXXX) || die "mktemp failed"
trap finish EXIT
trap 'say; say "Interrupted: cleaning up."; exit 130' INT
trap 'exit 143' TERM

title "shunt demo: a pod calls a Kubernetes service; eBPF and shuntd do the rest"

node_up </dev/null || die "could not build the node"
say "Node $NODE_ID built from network namespaces (nothing on this host's own network changes):"
say "  helloweb       ${NODE_POD_IP[helloweb]}   the app: calls greeter-service"
for pod in "${NODE_GREETERS[@]}"; do
	printf '  %-14s %-12s %s\n' "$pod" "${NODE_POD_IP[$pod]}" "a greeter-service backend"
done
say "  node           $NODE_GW    the bridge; shuntd listens on $LISTEN"
say "  Pods have no default route, and the service range 10.96.77.0/24 is blackholed:"
say "  a connection to a VIP only works if shuntd's eBPF programs capture it."
say "  Mesh cgroup: $NODE_CG (the pods and shuntd itself live in it)"

node_start_greeters "$BUILD/shunt-echo" "$TMP" </dev/null || die "the greeter backends did not start"

# The config directory is a copy: the demo applies the tutorial's rules to it while shuntd runs.
mkdir -p "$TMP/config" && cp "$HERE/greeter/"*.yaml "$TMP/config/" || die "cannot copy the config"
agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--dns-upstream none --admin "$ADMIN" --pin-dir "$NODE_PIN" >"$TMP/shuntd.log" 2>&1 </dev/null
AGENT_PID=$NODE_LAST_PID
t0=$(date +%s%N)
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" ||
	die "shuntd did not become ready within 15 s"
say "shuntd is ready after $((($(date +%s%N) - t0) / 1000000)) ms: config from $HERE/greeter (copied)," \
	"programs attached to the mesh cgroup."

title "helloweb connects to greeter-service.default.svc.cluster.local:$SVC_PORT, $REQUESTS times (one connection each)"
say "  The name is resolved as any app resolves it; shuntd's DNS answers it with the VIP, $VIP."
pod_exec helloweb "$BUILD/shunt-client" --connect "greeter-service.default.svc.cluster.local:$SVC_PORT" \
	--host "greeter-service:$SVC_PORT" \
	-n "$REQUESTS" --new-conn --peer --timeout-ms 5000 >"$TMP/requests" 2>"$TMP/requests.err" </dev/null
rc=$?
printf '  %-4s %-22s %-8s %-14s %-9s %s\n' "#" "getpeername() in app" "status" "answered by" "version" \
	"the backend saw the client as"
awk '
	/^peer=/ { peer = substr($1, 6); next }
	/^status=/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "  %-4d %-22s %-8s %-14s %-9s %s\n", ++n, peer, f["status"], f["pod"], f["version"], f["seen_peer"]
	}' "$TMP/requests"
[ "$rc" -eq 0 ] || die "shunt-client failed (exit $rc): $(cat "$TMP/requests.err")"
say
say "  The app asked for $VIP:$SVC_PORT and getpeername() still says so, but every backend"
say "  saw $NODE_GW, shuntd: cgroup/connect4 sent the connection to shuntd, which picked"
say "  a greeter pod (no VirtualService: the whole service, least request as Istio balances"
say "  by default) and opened its own (marked, never re-captured) connection."
say "  The backends see few distinct ports: shuntd keeps its upstream connections alive and reuses them."
printf '  Answers per pod:'
grep -o ' pod=[^ ]*' "$TMP/requests" | cut -d= -f2 | sort | uniq -c |
	awk '{ printf "  %s %s", $2, $1 }'
say

title "Kernel counters (shuntctl --pin-dir $NODE_PIN stats)"
"$BUILD/shuntctl" --pin-dir "$NODE_PIN" stats >"$TMP/stats" 2>&1 || die "shuntctl stats failed: $(cat "$TMP/stats")"
while read -r name value; do
	printf '  %-19s %6s   %s%s%s\n' "$name" "$value" "$D" "$(counter_help "$name")" "$N"
done <"$TMP/stats"

title "What the kernel looks up at connect() (shuntctl services)"
"$BUILD/shuntctl" --pin-dir "$NODE_PIN" services 2>&1 | sed 's/^/  /'
say "  ${D}(from greeter.yaml: 10.96.77.10 greeter-service, 10.96.77.11 helloweb, 10.96.77.12 dead-service)$N"

title "The same entry as bpftool shows it (bpftool map dump pinned $NODE_PIN/shunt_svc4_v2)"
# The VIP and port are stored in network byte order; as bpftool prints the raw
# integers on this little-endian machine, find greeter-service's entry by them.
vip_le=$(awk -F. '{ print $1 + $2 * 256 + $3 * 65536 + $4 * 16777216 }' <<<"$VIP")
port_le=$(((SVC_PORT >> 8) + ((SVC_PORT & 255) << 8)))
bpftool map dump pinned "$NODE_PIN/shunt_svc4_v2" >"$TMP/svc4" 2>&1 || die "bpftool failed: $(cat "$TMP/svc4")"
if grep -q "\"vip\": $vip_le," "$TMP/svc4"; then
	# entries are separated by "[{", "},{" and "}" lines: print the one with our VIP
	awk -v vip="\"vip\": $vip_le," '
		/^(\[\{|    \},\{|    \}|\])$/ {
			if (hit) { printf "  {\n%s  }\n", buf; exit }
			buf = ""
			next
		}
		{ sub(/^    /, ""); buf = buf "  " $0 "\n" }
		index($0, vip) { hit = 1 }' "$TMP/svc4"
	say "  ${D}(vip $vip_le is $VIP and port $port_le is $SVC_PORT, both in network byte order)$N"
else
	sed -n '1,24s/^/  /p' "$TMP/svc4"
fi

title "The tutorial's rules, applied while shuntd runs (hot reload, no restart)"
say "  A DestinationRule with subsets v1 and v2 and a VirtualService: Firefox to v2, the rest 90/10,"
say "  written into the config directory as kubectl apply would update a ConfigMap."
gen0=$(generation)
cat >"$TMP/routes.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter-service, namespace: default}
spec:
  host: greeter-service
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter-service, namespace: default}
spec:
  hosts: [greeter-service]
  http:
  - name: firefox
    match: [{headers: {user-agent: {regex: ".*Firefox.*"}}}]
    route: [{destination: {host: greeter-service, subset: v2}}]
  - name: split
    route:
    - {destination: {host: greeter-service, subset: v1}, weight: 90}
    - {destination: {host: greeter-service, subset: v2}, weight: 10}
YAML
mv "$TMP/routes.yaml" "$TMP/config/greeter-routes.yaml"
wait_generation $((${gen0:-0} + 1)) || die "shuntd did not apply the new config: $(tail -3 "$TMP/shuntd.log")"
gen=$(generation)
say "  shuntd reloaded it: config generation ${gen0:-?} -> $gen (inotify on the directory)."
pod_exec helloweb "$BUILD/shunt-client" --connect "$VIP:$SVC_PORT" -n 100 --timeout-ms 5000 \
	>"$TMP/split" 2>&1 </dev/null || die "the split requests failed: $(cat "$TMP/split")"
pod_exec helloweb "$BUILD/shunt-client" --connect "$VIP:$SVC_PORT" -n 5 --timeout-ms 5000 \
	--header 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0' \
	>"$TMP/firefox" 2>&1 </dev/null || die "the Firefox requests failed: $(cat "$TMP/firefox")"
say "  100 requests: $(grep -c ' version=v1 ' "$TMP/split") answered by v1, $(grep -c ' version=v2 ' "$TMP/split") by v2;" \
	"5 with a Firefox User-Agent: $(grep -c ' version=v2 ' "$TMP/firefox") by v2."
say "  Why a request goes where it goes (shuntctl explain):"
# From the node's namespace: the admin API listens on its loopback.
node_exec "$BUILD/shuntctl" explain --admin "$ADMIN" --host greeter-service --port "$SVC_PORT" \
	--path / -H 'user-agent: curl/8' >"$TMP/explain" 2>&1 || die "shuntctl explain failed: $(cat "$TMP/explain")"
sed -n '1,20s/^/    /p' "$TMP/explain"
say "  And what Prometheus scrapes (GET /stats/prometheus, istio_requests_total):"
node_exec curl -s -m 5 "http://$ADMIN/stats/prometheus" |
	grep '^istio_requests_total{' |
	sed -E 's/^istio_requests_total\{.*destination_workload="([^"]*)".*destination_version="([^"]*)".*response_code="([^"]*)".*\} (.*)$/    destination_workload=\1 destination_version=\2 response_code=\3: \4/' |
	sort | head -6

title "Stopping shuntd (SIGTERM)"
kill -TERM "$AGENT_PID"
node_wait_exit "$AGENT_PID" 100
agent_rc=$?
node_forget_pid "$AGENT_PID"
if [ "$agent_rc" -eq 0 ]; then
	say "  shuntd exited 0. Its programs stay attached (pinned links): nothing is black-holed."
else
	say "  ${R}shuntd exited $agent_rc$N"
fi
if pod_exec helloweb "$BUILD/shunt-client" --connect "$VIP:$SVC_PORT" --timeout-ms 2000 \
	>"$TMP/after" 2>"$TMP/after.err" </dev/null; then
	say "  helloweb -> $VIP:$SVC_PORT still works without shuntd: $(grep -o 'pod=[^ ]*' "$TMP/after"),"
	say "  balanced in the kernel (fail open: L7 rules skipped until an agent is back)."
	say "  Kernel counter fail_open: $(counter fail_open)."
else
	say "  ${R}helloweb -> $VIP:$SVC_PORT failed without shuntd: $(cat "$TMP/after.err")$N"
fi
say
say "${G}Demo done.$N"
