#!/bin/bash
# End-to-end test of the same-node fast path (shuntd --fast-path on|off): a
# node of network namespaces and cgroups (lib/node.sh), the greeter backends,
# shuntd in the mesh cgroup and helloweb calling greeter-service (an L7
# VirtualService route, so every connection goes through the agent). With the
# fast path on, the pod<->agent bytes go through sk_msg redirects: requests
# and bodies both ways still arrive whole, and fastpath_redirected grows. A
# restart with it on adopts the pinned sk_msg link; a restart with it off
# removes it, and the counters stay still while requests keep working.
#
#   tests/e2e/fastpath_test.sh BUILD_DIR
#
# Exit 0 pass, 77 skip (the kernel lacks what the fast path needs), anything
# else fail. Every assertion prints "ok - ..." or "not ok - ...". Needs root.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"
TEST_NAME=fastpath_test

VIP=10.96.77.10
SVC_PORT=3000
LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
N=20

TMP=
AGENT_PID=
calls=0

# client ARGS...: shunt-client from helloweb (in the mesh). Sets OUT, ERR, RC.
client() {
	OUT=$TMP/out.$((++calls))
	ERR=$TMP/err.$calls
	pod_exec helloweb "$BUILD/shunt-client" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
		for f in "$TMP"/shuntd.*.log; do
			[ -s "$f" ] && echo "# $(basename "$f"):" && show "$f"
		done
	fi
	node_down
	[ -n "$TMP" ] && rm -rf -- "$TMP"
	exit "$rc"
}

# agent_start MODE: shuntd --fast-path MODE, waited for (15 s at most). Log in
# $TMP/shuntd.<n>.log, its name in AGENT_LOG.
agents=0
agent_start() {
	AGENT_LOG=$TMP/shuntd.$((++agents)).log
	agent_spawn "$BUILD/shuntd" --config "$TMP/config" --cgroup "$NODE_CG" --listen "$LISTEN" \
		--admin "$ADMIN" --pin-dir "$NODE_PIN" --fast-path "$1" --log-level debug \
		>"$AGENT_LOG" 2>&1
	AGENT_PID=$NODE_LAST_PID
	node_wait_ready "$BUILD/shunt-client" "$ADMIN" 150 "$AGENT_PID"
}

# agent_stop: SIGTERM, then its exit status (10 s at most).
agent_stop() {
	kill -TERM "$AGENT_PID"
	node_wait_exit "$AGENT_PID" 100
	local rc=$?
	node_forget_pid "$AGENT_PID"
	return $rc
}

# sock4_entries: how many sockets shunt_sock4 holds, from shuntctl maps' fill line.
sock4_entries() {
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps 2>/dev/null |
		awk '$1 == "shunt_sock4" { split($3, f, "/"); print f[1] }'
}

# sock4_drains: shunt_sock4 is empty within 2 s (sockets leave it on close).
sock4_drains() {
	local i
	for ((i = 0; i < 20; i++)); do
		[ "$(sock4_entries)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# Requests, bodies both ways, keep-alive: the table every mode runs.
# description | client arguments | lines | pattern every response line must match
CASES=(
	"$N GETs on one keep-alive connection|-n $N|$N|^status=200 "
	"10 GETs, one connection each|-n 10 --new-conn|10|^status=200 "
	"GET /bytes/1048576 (1 MiB response body)|--path /bytes/1048576|1|^status=200 .* bytes=1048576 .*pattern=ok\$"
	"3 GET /chunked/1048576 on one connection|--path /chunked/1048576 -n 3|3|^status=200 .* bytes=1048576 .*pattern=ok\$"
	"POST 1 MiB (Content-Length)|--body-size 1048576|1|^status=200 .* received=1048576 sum=ok\$"
	"5 POST 64 KiB chunked on one connection|--body-size 65536 --chunked -n 5|5|^status=200 .* received=65536 sum=ok\$"
)

# run_cases LABEL: every row of CASES against greeter-service, each one an assertion.
run_cases() {
	local label=$1 row what args lines want
	for row in "${CASES[@]}"; do
		IFS='|' read -r what args lines want <<<"$row"
		# shellcheck disable=SC2086 # the arguments are words
		client --connect "$VIP:$SVC_PORT" $args --timeout-ms 10000
		if [ "$RC" -eq 0 ] && [ "$(grep -c -- "$want" "$OUT")" -eq "$lines" ] &&
			[ "$(wc -l <"$OUT")" -eq "$lines" ]; then
			ok "$label $what: $(head -1 "$OUT" | cut -c1-100)"
		else
			not_ok "$label $what (exit $RC, want $lines lines matching $want)"
			show "$OUT" "$ERR"
		fi
	done
}

# --- can this machine run it at all? -----------------------------------------

grep -qw cgroup2 /proc/filesystems || skip "the kernel has no cgroup2 filesystem"
grep -qw bpf /proc/filesystems || skip "the kernel has no bpf filesystem (no CONFIG_BPF_SYSCALL)"
[ -e /sys/kernel/btf/vmlinux ] || skip "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
[ "$(id -u)" -eq 0 ] || fatal "must run as root (network namespaces, cgroups, bpf)"
why=$(node_unsupported)
[ -z "$why" ] || fatal "cannot build a node: $why"
for f in shuntd shuntctl shunt-echo shunt-client; do
	[ -x "$BUILD/$f" ] || fatal "$BUILD/$f is missing: run make first"
done
BUILD=$(cd "$BUILD" && pwd)
if ! "$BUILD/shuntd" --check-kernel >/dev/null 2>&1 ||
	"$BUILD/shuntd" --check-kernel 2>&1 | grep -q 'fast path needs'; then
	skip "this kernel lacks what the fast path needs: $("$BUILD/shuntd" --check-kernel 2>&1 | grep missing | head -1)"
fi

TMP=$(mktemp -d /tmp/shunt-e2e.XXXXXX) || fatal "mktemp"
trap finish EXIT
trap 'echo "# interrupted"; exit 130' INT
trap 'echo "# terminated"; exit 143' TERM

node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, netns shunt-$NODE_ID-*, pins $NODE_PIN"
node_start_greeters "$BUILD/shunt-echo" "$TMP" || fatal "the greeter backends did not start"
mkdir -p "$TMP/config"
cp "$HERE"/greeter/*.yaml "$TMP/config/"

# --- 1. on: the link and the map ----------------------------------------------

if agent_start on; then
	ok "1 shuntd --fast-path on is ready"
else
	not_ok "1 shuntd --fast-path on is ready within 15 s"
	fatal "no agent, nothing else can pass"
fi
check "1 the sk_msg link is pinned ($NODE_PIN/link_skmsg)" [ -e "$NODE_PIN/link_skmsg" ]
"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps >"$TMP/maps" 2>&1
if grep -qE '^shunt_sock4 +sockhash +0/[0-9]+ +0\.0%$' "$TMP/maps"; then
	ok "1 shuntctl maps: $(grep '^shunt_sock4 ' "$TMP/maps")"
else
	not_ok "1 shuntctl maps shows shunt_sock4, empty before any connection"
	show "$TMP/maps"
fi

# --- 2. on: everything arrives whole, through redirects ----------------------

redirected0=$(counter fastpath_redirected)
indexed0=$(counter fastpath_indexed)
captured0=$(counter captured)
run_cases "2 on:"
redirected1=$(counter fastpath_redirected)
indexed1=$(counter fastpath_indexed)
captured1=$(counter captured)
conns=$((captured1 - captured0))
if [[ $redirected1 =~ ^[0-9]+$ ]] && [ $((redirected1 - redirected0)) -ge $((2 * conns)) ]; then
	ok "2 on: fastpath_redirected grew by $((redirected1 - redirected0)) over $conns connections (at least a request and a response each)"
else
	not_ok "2 on: fastpath_redirected grew by at least $((2 * conns)) ($redirected0 -> $redirected1 over $conns connections)"
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" stats 2>&1 | show
fi
if grew_by "$indexed0" "$indexed1" $((2 * conns)) && [ "$conns" -gt 0 ]; then
	ok "2 on: fastpath_indexed grew by $((2 * conns)): both sockets of each of the $conns connections"
else
	not_ok "2 on: fastpath_indexed grew by $((2 * conns)) ($indexed0 -> $indexed1)"
fi
if sock4_drains; then
	ok "2 on: shunt_sock4 is empty once the connections are closed"
else
	not_ok "2 on: shunt_sock4 is empty once the connections are closed ($(sock4_entries) left)"
	"$BUILD/shuntctl" --pin-dir "$NODE_PIN" maps 2>&1 | grep -A5 '^shunt_sock4' | show
fi

# The backends saw the agent, not helloweb: the fast path is the pod<->agent leg only.
client --connect "$VIP:$SVC_PORT" -n 3 --timeout-ms 5000
check "2 on: the backends still see the agent ($NODE_GW) as their peer" \
	[ "$(grep -cE " seen_peer=${NODE_GW//./\\.}:[0-9]+( |\$)" "$OUT")" -eq 3 ]

# --- 3. a restart with it on adopts the pinned link -------------------------

check "3 shuntd exits 0 on SIGTERM" agent_stop
check "3 the sk_msg link stays pinned while no agent runs" [ -e "$NODE_PIN/link_skmsg" ]
if agent_start on && grep -q "adopted $NODE_PIN/link_skmsg" "$AGENT_LOG"; then
	ok "3 a new shuntd --fast-path on adopted $NODE_PIN/link_skmsg"
else
	not_ok "3 a new shuntd --fast-path on adopted $NODE_PIN/link_skmsg"
fi
redirected0=$(counter fastpath_redirected)
client --connect "$VIP:$SVC_PORT" -n 5 --timeout-ms 5000
redirected1=$(counter fastpath_redirected)
if [ "$RC" -eq 0 ] && [ "$(grep -c '^status=200 ' "$OUT")" -eq 5 ] &&
	[ $((redirected1 - redirected0)) -ge 10 ]; then
	ok "3 after adoption: 5 of 5 answered 200, fastpath_redirected +$((redirected1 - redirected0))"
else
	not_ok "3 after adoption: 5 of 5 answered 200 through redirects (exit $RC, fastpath_redirected $redirected0 -> $redirected1)"
	show "$OUT" "$ERR"
fi

# --- 4. a restart with it off detaches it; the counters stay still ----------

check "4 shuntd exits 0 on SIGTERM" agent_stop
if agent_start off; then
	ok "4 shuntd --fast-path off is ready"
else
	not_ok "4 shuntd --fast-path off is ready within 15 s"
fi
check "4 off: the sk_msg link an earlier agent pinned is gone" [ ! -e "$NODE_PIN/link_skmsg" ]
if ! bpftool link show 2>/dev/null | grep -q 'name shunt_msg '; then
	ok "4 off: no sk_msg link named shunt_msg left in the kernel (bpftool link show)"
else
	not_ok "4 off: no sk_msg link left in the kernel"
	bpftool link show 2>&1 | grep -B1 -A3 shunt_msg | show
fi
redirected0=$(counter fastpath_redirected)
indexed0=$(counter fastpath_indexed)
passed0=$(counter fastpath_passed)
captured0=$(counter captured)
run_cases "4 off:"
redirected1=$(counter fastpath_redirected)
indexed1=$(counter fastpath_indexed)
passed1=$(counter fastpath_passed)
captured1=$(counter captured)
if unchanged "$redirected0" "$redirected1" && unchanged "$indexed0" "$indexed1" &&
	unchanged "$passed0" "$passed1" && [ $((captured1 - captured0)) -gt 0 ]; then
	ok "4 off: $((captured1 - captured0)) connections through the agent, fastpath_redirected stays $redirected1, fastpath_indexed stays $indexed1"
else
	not_ok "4 off: the fast path counters stay still (redirected $redirected0 -> $redirected1, indexed $indexed0 -> $indexed1, passed $passed0 -> $passed1, captured $captured0 -> $captured1)"
fi
check "4 off: shunt_sock4 holds no socket" [ "$(sock4_entries)" = 0 ]
check "4 shuntd exits 0 on SIGTERM" agent_stop

# --- 5. nothing left ---------------------------------------------------------

node_down
if node_leftovers >"$TMP/left"; then
	ok "5 after teardown nothing of node $NODE_ID is left (netns, interfaces, routes, cgroups, pins)"
else
	not_ok "5 after teardown nothing of node $NODE_ID is left"
	show "$TMP/left"
fi

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
