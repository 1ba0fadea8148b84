#!/bin/bash
# End-to-end hot reload: 100 reloads of the config directory, alternating good
# and broken configs, under a request loop, on the namespace node.
#
# The good configs alternate between A (every greeter-service request to
# subset v1) and B (every request to v2, and a second Service, greeter-b, on
# its own VIP). The broken ones are what users break: a YAML syntax error, a
# VirtualService field of the wrong type, a regex that does not compile, a
# destination subset no DestinationRule defines. Each config is moved into
# the directory with rename(2), as kubectl cp / ConfigMap updates do; every
# tenth reload is asked for with SIGHUP instead, and a few with POST /reload.
#
# Checked, for every reload: a good config is applied (the admin API's
# generation grows by one) and the next request follows it; a broken one is
# refused (reloads_refused grows, the reason names file and line) and the
# previous good config keeps routing; a directory that did not change is not
# reloaded. Over all of it, a background loop of keep-alive and new-connection
# requests sees zero failures: in-flight requests finish, no connection drops.
# greeter-b's VIP is captured exactly while B is active (the kernel maps follow).
# Then the directory itself is removed: refused, the old config serves; a new
# one and SIGHUP: applied, and watched from then on.
#
#   tests/e2e/reload_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip (the kernel lacks cgroup2 or bpf), anything else fail.
# Needs root; about a minute.
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
VIP_B=10.96.77.20
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
RELOADS=100
LOOP_MAX_S=240 # the background loop stops after this long in any case
WAIT_TENTHS=80 # how long one reload may take to show, in tenths of a second

e2e_require
e2e_start reload
LOOP_PID=

stop_loop() {
	[ -n "$LOOP_PID" ] || return 0
	touch "$TMP/stop"
	node_wait_exit "$LOOP_PID" 100 >/dev/null
	node_forget_pid "$LOOP_PID"
	LOOP_PID=
}
trap 'stop_loop; e2e_finish' EXIT

node_up || fatal "node_up failed"
node_start_greeters "$BUILD/shunt-echo" "$TMP" || fatal "the greeter backends did not start"

mkdir -p "$TMP/config" "$TMP/staging"
cp "$HERE/greeter/greeter.yaml" "$TMP/config/"
cat >"$TMP/config/dr.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter-service, namespace: default}
spec:
  host: greeter-service
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
YAML

# The routing file, in its good and broken forms: good_a, good_b, broken_N.
good_a() {
	cat <<'YAML'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter-service, namespace: default}
spec:
  hosts: [greeter-service]
  http:
    - name: all-to-v1
      route:
        - destination: {host: greeter-service, subset: v1}
YAML
}
good_b() {
	cat <<YAML
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter-service, namespace: default}
spec:
  hosts: [greeter-service]
  http:
    - name: all-to-v2
      route:
        - destination: {host: greeter-service, subset: v2}
---
apiVersion: v1
kind: Service
metadata: {name: greeter-b, namespace: default}
spec:
  clusterIP: $VIP_B
  selector: {app: greeter-service, version: v2}
  ports: [{port: 3000, name: http}]
YAML
}
# What each broken form must be refused for (a piece of the reason).
BROKEN_WHY=("" "routing.yaml:4:" "routing.yaml:8:" "routing.yaml:8:" "routing.yaml:9:")
broken() {
	case $1 in
	1) printf 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\n' ;;
	2) good_a | sed 's/^      route:$/      timeout: soon\n      route:/' ;;
	3) good_a | sed 's/^      route:$/      match: [{uri: {regex: "([a-z"}}]\n      route:/' ;;
	4) good_a | sed 's/{host: greeter-service, subset: v1}/{subset: v1}/' ;;
	esac
}

# Installs routing content from stdin the way kubelet updates a ConfigMap: a
# complete file renamed over the old one.
install_routing() {
	cat >"$TMP/staging/routing.yaml"
	mv -f "$TMP/staging/routing.yaml" "$TMP/config/routing.yaml"
}

# reload_body: GET /reload from the node (the agent's admin API is on its loopback).
reload_body() {
	node_exec curl -s --max-time 2 "http://$ADMIN/reload"
}

# wait_field NAME VALUE: until GET /reload shows NAME >= VALUE; 1 after WAIT_TENTHS.
wait_field() {
	local t v
	sleep 0.2 # the reload waits this long for the writes to settle anyway
	for ((t = WAIT_TENTHS; t > 0; t--)); do
		v=$(reload_body | sed -n "s/^$1 //p")
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# version_now: the version that answers a fresh request from helloweb.
version_now() {
	client helloweb --connect "$VIP:3000" --timeout-ms 3000
	sed -n 's/.* version=\([^ ]*\) .*/\1/p' "$OUT" | head -1
}

# The background loop: batches of 40 keep-alive requests and 10 new-connection
# ones, every response line kept; a batch that fails leaves a "fail" line.
request_loop() {
	local end=$(($(date +%s) + LOOP_MAX_S)) b=0
	while [ ! -e "$TMP/stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		if [ $((b++ % 2)) = 0 ]; then
			set -- -n 40
		else
			set -- -n 10 --new-conn
		fi
		pod_exec helloweb "$BUILD/shunt-client" --connect "$VIP:3000" "$@" \
			--timeout-ms 3000 >>"$TMP/loop" 2>"$TMP/loop.err" ||
			echo "fail rc=$? batch=$b $(tr '\n' ' ' <"$TMP/loop.err")" >>"$TMP/loop"
	done
}

install_routing < <(good_a)
agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
	--admin "$ADMIN" --pin-dir "$NODE_PIN" --log-level info >"$TMP/shuntd.log" 2>&1
AGENT_PID=$NODE_LAST_PID
node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"
# The reloader starts with the first heartbeat after ready.
wait_field generation 1 || fatal "GET /reload does not answer"
check "before any reload, A routes to v1" [ "$(version_now)" = v1 ]

: >"$TMP/loop"
request_loop &
LOOP_PID=$!
NODE_PIDS+=("$LOOP_PID")

gen=$(reload_body | sed -n 's/^generation //p')
refused=$(reload_body | sed -n 's/^reloads_refused //p')
last_good=a
bad_apply=0 bad_refuse=0 bad_route=0 bad_why=0 bad_vip=0 applied=0 refusals=0
for ((i = 1; i <= RELOADS; i++)); do
	if [ $((i % 2)) = 1 ]; then # good: A and B by turns
		if [ "$last_good" = a ]; then want=b; else want=a; fi
		"good_$want" | install_routing
	else
		kind=$(((i / 2) % 4 + 1))
		broken "$kind" | install_routing
	fi
	if [ $((i % 10)) = 0 ]; then
		kill -HUP "$AGENT_PID"
	elif [ $((i % 25)) = 3 ]; then
		node_exec curl -s --max-time 2 -X POST "http://$ADMIN/reload" >/dev/null
	fi
	if [ $((i % 2)) = 1 ]; then
		if wait_field generation $((gen + 1)); then
			gen=$((gen + 1))
			applied=$((applied + 1))
			last_good=$want
		else
			bad_apply=$((bad_apply + 1))
			echo "# reload $i: good config $want not applied: $(reload_body | tr '\n' ' ')"
		fi
	else
		if wait_field reloads_refused $((refused + 1)); then
			refused=$((refused + 1))
			refusals=$((refusals + 1))
			reload_body >"$TMP/why"
			if ! grep -q "${BROKEN_WHY[$kind]}" "$TMP/why"; then
				bad_why=$((bad_why + 1))
				echo "# reload $i: broken form $kind refused without '${BROKEN_WHY[$kind]}':"
				show "$TMP/why"
			fi
		else
			bad_refuse=$((bad_refuse + 1))
			echo "# reload $i: broken form $kind not refused: $(reload_body | tr '\n' ' ')"
		fi
		# The generation did not move: the old config serves.
		[ "$(reload_body | sed -n 's/^generation //p')" = "$gen" ] || bad_refuse=$((bad_refuse + 1))
	fi
	if [ "$last_good" = a ]; then want_v=v1; else want_v=v2; fi
	got=$(version_now)
	if [ "$got" != "$want_v" ]; then
		bad_route=$((bad_route + 1))
		echo "# reload $i: config $last_good is current, but $got answered (want $want_v)"
	fi
	if [ $((i % 8)) -lt 2 ]; then # greeter-b's VIP: captured exactly while B is current
		client helloweb --connect "$VIP_B:3000" --timeout-ms 1500
		if [ "$last_good" = b ]; then
			grep -q '^status=200 .*version=v2 ' "$OUT" || {
				bad_vip=$((bad_vip + 1))
				echo "# reload $i: B is current, but $VIP_B:3000 does not answer: rc=$RC $(cat "$OUT" "$ERR")"
			}
		elif [ "$RC" = 0 ]; then
			bad_vip=$((bad_vip + 1))
			echo "# reload $i: A is current, but $VIP_B:3000 still answers: $(cat "$OUT")"
		fi
	fi
done

check "all $((RELOADS / 2)) good configs were applied, one generation each ($applied)" [ "$bad_apply" = 0 ]
check "all $((RELOADS / 2)) broken configs were refused, the generation unchanged ($refusals)" [ "$bad_refuse" = 0 ]
check "every refusal names the file and line of the fault" [ "$bad_why" = 0 ]
check "after each of the $RELOADS reloads, requests follow the last good config" [ "$bad_route" = 0 ]
check "greeter-b's VIP is captured while B is current, and only then" [ "$bad_vip" = 0 ]

# The same content again: no new generation (a reload would reset the balancers).
"good_$last_good" | install_routing
sleep 1
check "a rewrite with unchanged content is not reloaded" [ "$(reload_body | sed -n 's/^generation //p')" = "$gen" ]

# The directory itself goes away (a ConfigMap volume unmounted, an operator's rm -r): the
# reload that follows is refused with the reason and the last good config keeps serving;
# when a directory is back, SIGHUP reloads it and the agent watches the new one.
cp -a "$TMP/config" "$TMP/config.gone"
rm -rf "$TMP/config"
kill -HUP "$AGENT_PID"
if wait_field reloads_refused $((refused + 1)); then
	refused=$((refused + 1))
	check "a missing config directory is refused, saying so" grep -q 'cannot read config directory' <(reload_body)
else
	not_ok "a missing config directory is refused"
fi
check "without its directory, the last good config ($last_good) still routes" \
	test "$(version_now)" = "$([ "$last_good" = a ] && echo v1 || echo v2)"
mv "$TMP/config.gone" "$TMP/config"
if [ "$last_good" = a ]; then want=b; else want=a; fi
"good_$want" | install_routing
kill -HUP "$AGENT_PID"
if wait_field generation $((gen + 1)); then
	gen=$((gen + 1))
	last_good=$want
	ok "the directory back and SIGHUP: config $want applied (generation $gen)"
else
	not_ok "the directory back and SIGHUP: config $want applied"
fi
check "requests follow it" test "$(version_now)" = "$([ "$last_good" = a ] && echo v1 || echo v2)"
# A new directory at the path (another inode): watched again after that reload.
if [ "$last_good" = a ]; then want=b; else want=a; fi
"good_$want" | install_routing
if wait_field generation $((gen + 1)); then
	gen=$((gen + 1))
	last_good=$want
	ok "the new directory is watched: a change in it is applied without SIGHUP (generation $gen)"
else
	not_ok "the new directory is watched: a change in it is applied without SIGHUP"
fi

stop_loop
total=$(grep -c '^status=' "$TMP/loop")
nfail=$(grep -c '^fail ' "$TMP/loop")
nbad=$(grep '^status=' "$TMP/loop" | grep -vc '^status=200 ')
echo "# the loop: $total responses, $nfail failed batches, $nbad non-200 responses"
check "the request loop ran throughout ($total responses)" [ "$total" -ge 500 ]
if [ "$nfail" = 0 ] && [ "$nbad" = 0 ]; then
	ok "zero failed requests across $RELOADS reloads ($total keep-alive and new-connection requests)"
else
	not_ok "zero failed requests across $RELOADS reloads ($nfail failed batches, $nbad non-200)"
	grep -v '^status=200 ' "$TMP/loop" | head -5 | show
fi
check "shuntd logged each refusal with its reason" grep -q 'reload: the config in .* is refused' "$TMP/shuntd.log"
check "shuntd is still running" node_pid_running "$AGENT_PID"

kill -TERM "$AGENT_PID"
node_wait_exit "$AGENT_PID" 50 >/dev/null
node_forget_pid "$AGENT_PID"
e2e_end
