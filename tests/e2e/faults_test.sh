#!/bin/bash
# End-to-end faults and overload test (issue 8): what a client in a mesh pod
# sees when things break, and that shuntd neither crashes nor spins.
#
#   0. Privileges: once ready, every thread of shuntd holds only the
#      capabilities agent/privs.h gives its role (effective, permitted and
#      bounding sets, from /proc), with no_new_privs; serving, reloads and
#      the pod scan go on with them (the rest of this test, and every other).
#   1. Overload: shuntd --max-connections 4. Four idle connections from the
#      client pod are held open; the fifth gets a 503 "overloaded" with
#      Envoy's OM flag in the access log and is closed; once the four close,
#      requests are served again.
#   2. A backend pod killed mid-request (its server SIGKILLed while it holds
#      the request, before answering): without retries the client gets
#      Envoy's 503 "upstream connect error or disconnect/reset before headers"
#      (flag UC); on a route with retryOn reset the retry goes to the other
#      pod and the client gets its 200.
#   3. File descriptors run out: shuntd restarted under a 160-fd limit with
#      --max-connections far above it; 250 connections are opened. accept()
#      fails with EMFILE, the listener pauses instead of spinning (shuntd
#      uses under a second of CPU over 3 s of exhaustion), the agent stays
#      alive, and serves again as soon as the connections close.
#   4. bpffs unmounted under the running agent (a bpffs instance of the
#      test's own, not the host's /sys/fs/bpf): requests keep flowing, a
#      reload still applies, the agent says what happened (log, /stats
#      kernel.pins_lost 1), and it exits cleanly on SIGTERM.
#
# (A backend that hangs is routing_test's: route and per-try timeouts.)
#
#   tests/e2e/faults_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip, anything else fail. Needs root; about 25 s.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"
# shellcheck source=tests/e2e/lib/e2e.sh
source "$HERE/lib/e2e.sh"

WEB=10.96.77.70
ONE=10.96.77.71
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TMP=
AGENT_PID=
BPFFS=

e2e_require
command -v curl >/dev/null || fatal "curl is not installed (scripts/deps.sh installs it)"
command -v prlimit >/dev/null || fatal "prlimit (util-linux) is missing"
command -v ss >/dev/null || fatal "ss (iproute2) is missing"

faults_finish() {
	local rc=$?
	[ -n "$BPFFS" ] && { umount -l "$BPFFS" 2>/dev/null; rmdir "$BPFFS" 2>/dev/null; }
	(exit "$rc")
	e2e_finish
}
e2e_start faults
trap faults_finish EXIT

node_declare_pods client=10.77.0.20 web-a=10.77.0.21 web-b=10.77.0.22 one=10.77.0.23 ||
	fatal "node_declare_pods refused the pods"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG"

# A bpffs of the test's own, so that unmounting it touches nothing else.
BPFFS=$TMP/bpffs
mkdir -p "$BPFFS" && mount -t bpf bpf "$BPFFS" || fatal "cannot mount a bpffs at $BPFFS"
PIN=$BPFFS/shunt

node_start_echos "$BUILD/shunt-echo" "$TMP" web-a:3000:v1 web-b:3000:v1 one:3000:v1 ||
	fatal "the backends did not start"

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
metadata: {name: web-a, namespace: default, labels: {app: web}}
status: {podIP: 10.77.0.21}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, namespace: default, labels: {app: web}}
status: {podIP: 10.77.0.22}
---
apiVersion: v1
kind: Pod
metadata: {name: one, namespace: default, labels: {app: one}}
status: {podIP: 10.77.0.23}
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
metadata: {name: one, namespace: default}
spec:
  clusterIP: $ONE
  selector: {app: one}
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /retry}}]
    rewrite: {uri: /delay/1500}
    retries: {attempts: 2, retryOn: reset}
    route: [{destination: {host: web}}]
  - retries: {attempts: 0}
    route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: one, namespace: default}
spec:
  hosts: [one]
  http: [{retries: {attempts: 0}, route: [{destination: {host: one}}]}]
YAML

# agent LOG ARGS...: shuntd on the node (its pins in the test's bpffs), until ready.
agent() {
	local log=$1
	shift
	agent_spawn "$@" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
		--admin "$ADMIN" --pin-dir "$PIN" --dns-upstream none >"$TMP/$log" 2>&1
	AGENT_PID=$NODE_LAST_PID
	node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID" || fatal "shuntd did not become ready"
}

agent_stop() {
	kill -TERM "$AGENT_PID" 2>/dev/null
	node_wait_exit "$AGENT_PID" 50
	AGENT_STATUS=$?
	[ "$AGENT_STATUS" = 124 ] && kill -KILL "$AGENT_PID" 2>/dev/null && node_wait_exit "$AGENT_PID" 20
	AGENT_PID=
}

stat_value() {
	node_exec curl -s -m 2 "http://$ADMIN/stats" | awk -v k="$1" '$1 == k { print $2 }'
}

# hold N ADDR: N connections from the client pod to ADDR, held open by one process (its
# pid in HOLD_PID) until it is killed; "held N" in $TMP/hold.log once they are all open.
hold() {
	: >"$TMP/hold.log"
	pod_spawn client bash -c 'for ((i = 0; i < $1; i++)); do
			exec {fd}<>"/dev/tcp/${2%:*}/${2#*:}" || exit 1
		done
		echo "held $1"
		exec sleep 30' hold "$1" "$2" >"$TMP/hold.log" 2>&1
	HOLD_PID=$NODE_LAST_PID
}

wait_held() {
	local t
	for ((t = 50; t > 0; t--)); do
		grep -q "^held $1" "$TMP/hold.log" && return 0
		sleep 0.1
	done
	return 1
}

release() {
	kill -KILL "$HOLD_PID" 2>/dev/null
	node_wait_exit "$HOLD_PID" 20 2>/dev/null # bash's "Killed" job notice
	HOLD_PID=
}

# --- 1. overload --------------------------------------------------------------------------

agent shuntd.log "$BUILD/shuntd" --max-connections 4 --access-log "$TMP/access.log"
# served N: the last client call got N answers, all 200.
served() {
	[ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" = "$1" ]
}

client client --connect "$WEB:80" --path /warm
check "a request is served before the overload" served 1

# --- 0. privileges: each thread keeps what privs.h says, nothing else ---------------------

# caps TID FIELD: the thread's capability set FIELD (CapEff, CapPrm, CapBnd) from /proc.
caps() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$AGENT_PID/task/$1/status" 2>/dev/null
}
# thread COMM: the tid of the agent's thread named COMM.
thread() {
	grep -lx "$1" /proc/"$AGENT_PID"/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5
}
CAP_MAIN=0000008000201400   # CAP_BPF, CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE
CAP_WORKER=0000008000001400 # CAP_BPF, CAP_NET_ADMIN, CAP_NET_BIND_SERVICE
for ((t = 30; t > 0; t--)); do # the reload thread starts at the first heartbeat after ready
	[ -n "$(thread shunt-reload)" ] && break
	sleep 0.1
done
# NAME:EFFECTIVE-AND-PERMITTED:BOUNDING. The reload thread starts after the main thread
# dropped CAP_SETPCAP, which the bounding set needs: it keeps the main one's (and, with
# nothing permitted and no_new_privs, can never gain from it).
for spec in "shuntd:$CAP_MAIN:$CAP_MAIN" "shunt-worker0:$CAP_WORKER:$CAP_WORKER" \
	"shunt-reload:0000000000000000:$CAP_MAIN"; do
	IFS=: read -r name want want_bnd <<<"$spec"
	tid=$(thread "$name")
	eff=$(caps "$tid" CapEff) prm=$(caps "$tid" CapPrm) bnd=$(caps "$tid" CapBnd)
	nnp=$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$AGENT_PID/task/$tid/status" 2>/dev/null)
	if [ -n "$tid" ] && [ "$eff" = "$want" ] && [ "$prm" = "$want" ] && [ "$bnd" = "$want_bnd" ] &&
		[ "$nnp" = 1 ]; then
		ok "thread $name keeps capabilities $want only (bounding $want_bnd, no_new_privs)"
	else
		not_ok "thread $name keeps capabilities $want only: tid ${tid:-none}, CapEff $eff CapPrm $prm CapBnd $bnd NoNewPrivs $nnp"
	fi
done
check "the log says the capabilities were dropped" grep -q 'capabilities dropped to CAP_BPF' "$TMP/shuntd.log"

hold 4 "$WEB:80"
wait_held 4 || { not_ok "4 connections to $WEB:80 held open"; show "$TMP/hold.log"; }
for ((t = 30; t > 0; t--)); do
	[ "$(stat_value proxy.active)" = 4 ] && break
	sleep 0.1
done
check "the agent counts 4 open client connections" [ "$(stat_value proxy.active)" = 4 ]
client client --connect "$WEB:80" --path /over --show-body -n 1
if grep -q '^status=503 ' "$OUT" && grep -q '^body=overloaded' "$OUT"; then
	ok "the fifth connection gets 503 overloaded"
else
	not_ok "the fifth connection gets 503 overloaded (exit $RC)"
	show "$OUT" "$ERR"
fi
check "overload_connections counts it" [ "$(stat_value proxy.overload_connections)" = 1 ]
for ((t = 20; t > 0; t--)); do
	grep -q '"GET /over HTTP/1.1" 503 OM ' "$TMP/access.log" 2>/dev/null && break
	sleep 0.1
done
if grep -q '"GET /over HTTP/1.1" 503 OM overload ' "$TMP/access.log"; then
	ok "the access log flags it OM (overload)"
else
	not_ok "the access log flags it OM (overload)"
	show "$TMP/access.log"
fi
release
for ((t = 30; t > 0; t--)); do
	[ "$(stat_value proxy.active)" = 0 ] && break
	sleep 0.1
done
client client --connect "$WEB:80" --path /after -n 3
check "once the held connections close, requests are served again" served 3

# --- 2. a backend killed mid-request ------------------------------------------------------

# holder POD...: which of the pods holds an established connection on :3000, polled (3 s).
holder() {
	local t p
	for ((t = 30; t > 0; t--)); do
		for p in "$@"; do
			if [ -n "$(pod_exec "$p" ss -Htn state established '( sport = :3000 )')" ]; then
				echo "$p"
				return 0
			fi
		done
		sleep 0.1
	done
	return 1
}

# inflight ADDR PATH: a request in the background; its output in $TMP/inflight.out.
inflight() {
	pod_spawn client "$BUILD/shunt-client" --connect "$1" --path "$2" --show-body \
		--timeout-ms 5000 >"$TMP/inflight.out" 2>&1
	INFLIGHT_PID=$NODE_LAST_PID
}

inflight "$ONE:80" /delay/1500
if [ "$(holder one)" = one ]; then
	kill -KILL "${NODE_ECHO_PID[one]}"
	node_wait_exit "$INFLIGHT_PID" 60 2>/dev/null
	if grep -q '^status=503 ' "$TMP/inflight.out" &&
		grep -q '^body=upstream connect error or disconnect/reset before headers' "$TMP/inflight.out"; then
		ok "backend killed mid-request, no retry: the client gets 503 (reset before headers)"
	else
		not_ok "backend killed mid-request, no retry: the client gets 503"
		show "$TMP/inflight.out"
	fi
else
	not_ok "the request reached pod one"
fi

inflight "$WEB:80" /retry
victim=$(holder web-a web-b)
if [ -n "$victim" ]; then
	other=web-a
	[ "$victim" = web-a ] && other=web-b
	kill -KILL "${NODE_ECHO_PID[$victim]}"
	node_wait_exit "$INFLIGHT_PID" 60 2>/dev/null
	if grep -q "^status=200 pod=$other " "$TMP/inflight.out"; then
		ok "backend $victim killed mid-request, retryOn reset: the retry to $other answers 200"
	else
		not_ok "backend $victim killed mid-request, retryOn reset: the retry to $other answers 200"
		show "$TMP/inflight.out"
	fi
	node_start_echos "$BUILD/shunt-echo" "$TMP" "$victim:3000:v1" ||
		fatal "$victim's backend did not start again"
else
	not_ok "the /retry request reached web-a or web-b"
fi
agent_stop
check "shuntd exits 0 on SIGTERM" [ "$AGENT_STATUS" = 0 ]

# --- 3. out of file descriptors -----------------------------------------------------------

agent shuntd-fd.log prlimit --nofile=160:160 "$BUILD/shuntd" --max-connections 1000
check "shuntd warns that the fd limit runs out before --max-connections" \
	grep -q 'the fd limit (160, 1 workers) runs out first' "$TMP/shuntd-fd.log"
hold 250 "$WEB:80"
wait_held 250 || { not_ok "250 connections opened (the kernel's backlog takes what accept() cannot)"; show "$TMP/hold.log"; }
for ((t = 50; t > 0; t--)); do
	grep -q 'accept: Too many open files; pausing' "$TMP/shuntd-fd.log" && break
	sleep 0.1
done
check "accept() fails with EMFILE and the listener pauses" \
	grep -q 'accept: Too many open files; pausing the listener' "$TMP/shuntd-fd.log"
cpu() { awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat"; }
c0=$(cpu)
sleep 3
c1=$(cpu)
ticks=$(getconf CLK_TCK)
if [ $((c1 - c0)) -lt "$ticks" ]; then
	ok "out of fds, shuntd does not spin: $((c1 - c0)) of $((3 * ticks)) ticks of CPU in 3 s"
else
	not_ok "out of fds, shuntd does not spin: $((c1 - c0)) of $((3 * ticks)) ticks of CPU in 3 s"
fi
check "shuntd is still running" node_pid_running "$AGENT_PID"
release
served=0
for ((t = 30; t > 0; t--)); do
	client client --connect "$WEB:80" --path /after-fds --timeout-ms 1000
	grep -q '^status=200 ' "$OUT" && served=1 && break
	sleep 0.1
done
check "once the connections close, requests are served again" [ "$served" = 1 ]
agent_stop
check "shuntd exits 0 on SIGTERM" [ "$AGENT_STATUS" = 0 ]

# --- 4. bpffs unmounted under the agent ---------------------------------------------------

agent shuntd-bpffs.log "$BUILD/shuntd"
check "pins_lost is 0 while the pins are there" [ "$(stat_value kernel.pins_lost)" = 0 ]
umount -l "$BPFFS" || fatal "umount -l $BPFFS"
for ((t = 80; t > 0; t--)); do
	grep -q "the pin directory $PIN is gone" "$TMP/shuntd-bpffs.log" && break
	sleep 0.1
done
check "shuntd says the pin directory is gone" grep -q "the pin directory $PIN is gone (bpffs unmounted" "$TMP/shuntd-bpffs.log"
check "/stats says kernel.pins_lost 1" [ "$(stat_value kernel.pins_lost)" = 1 ]
client client --connect "$WEB:80" --path /unpinned -n 5
check "requests are still captured and served" served 5
gen=$(generation)
sed -i 's|rewrite: {uri: /delay/1500}|rewrite: {uri: /delay/10}|' "$TMP/config/mesh.yaml"
kill -HUP "$AGENT_PID"
check "a reload still applies (generation $gen -> $((gen + 1)))" wait_generation $((gen + 1))
agent_stop
check "shuntd exits 0 on SIGTERM with its pins gone" [ "$AGENT_STATUS" = 0 ]
if grep -qiE 'AddressSanitizer|runtime error|Segmentation' "$TMP"/shuntd*.log; then
	not_ok "no crash or sanitizer report in the agents' logs"
else
	ok "no crash or sanitizer report in the agents' logs"
fi
rmdir "$BPFFS" 2>/dev/null && BPFFS=

e2e_end
