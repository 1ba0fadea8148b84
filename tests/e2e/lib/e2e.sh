# shellcheck shell=bash
# What the end-to-end scripts built on the namespace node share. Source it
# after lib/node.sh and lib/report.sh; it runs nothing by itself.
#
#   e2e_require               skip (77) where the kernel lacks what a node needs,
#                             fail where this machine cannot build one, fail when
#                             $BUILD lacks a binary; makes BUILD absolute
#   e2e_start NAME            TMP=$(mktemp -d /tmp/shunt-NAME.XXXXXX), and the traps:
#                             on exit the agent logs ($TMP/shuntd*.log) are shown when
#                             something failed, the node is taken down, TMP removed
#   client POD ARGS...        shunt-client from POD (its cgroup); sets OUT, ERR, RC, MS
#   refused POD ADDR WHAT     ok when POD's connect() to ADDR fails with EPERM at once (the
#                             kernel refused it), not_ok otherwise; WHAT says why it should
#   e2e_require_dns           skip unless a pod's glibc would ask a nameserver (getent,
#                             an IPv4 nameserver in /etc/resolv.conf, hosts: dns); sets NS_IP
#   resolve POD NAME          getent ahostsv4 NAME in POD (its cgroup: its query is
#                             captured); sets OUT, RC, MS; first_ip prints the first address
#   generation                the config generation the agent on $ADMIN serves (GET /reload,
#                             asked from the node); "" when it does not answer
#   wait_generation N         until that is N (5 s at most); 1 otherwise
#   e2e_end                   node_down, a check that nothing of the node is left,
#                             the summary line; returns 0 when nothing failed

e2e_require() {
	local f why
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
}

e2e_finish() {
	local rc=$? f
	trap - EXIT INT TERM
	if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
		for f in "$TMP"/shuntd*.log; do
			[ -s "$f" ] && echo "# $(basename "$f"):" && show "$f"
		done
	fi
	node_down
	[ -n "$TMP" ] && rm -rf -- "$TMP"
	exit "$rc"
}

e2e_start() {
	TMP=$(mktemp -d "/tmp/shunt-$1.XXXXXX") || fatal "mktemp"
	trap e2e_finish EXIT
	trap 'echo "# interrupted"; exit 130' INT
	trap 'echo "# terminated"; exit 143' TERM
}

client() {
	local pod=$1 t0
	shift
	OUT=$TMP/out.$((++E2E_CALLS))
	ERR=$TMP/err.$E2E_CALLS
	t0=$(now_ms)
	pod_exec "$pod" "$BUILD/shunt-client" "$@" >"$OUT" 2>"$ERR"
	RC=$?
	MS=$(($(now_ms) - t0))
}
E2E_CALLS=0

refused() {
	client "$1" --connect "$2" --timeout-ms 3000
	if [ "$RC" -eq 3 ] && grep -q '^connect: Operation not permitted' "$ERR" && [ "$MS" -lt 1000 ]; then
		ok "$1 -> $2 ($3) is refused at connect(): $(cat "$ERR") after $MS ms"
	else
		not_ok "$1 -> $2 ($3) is refused at connect() (exit $RC after $MS ms)"
		show "$OUT" "$ERR"
	fi
}

e2e_require_dns() {
	command -v getent >/dev/null || fatal "getent (libc-bin) is missing"
	NS_IP=$(awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ { print $2; exit }' /etc/resolv.conf)
	[ -n "$NS_IP" ] || skip "/etc/resolv.conf names no IPv4 nameserver: glibc would not ask one"
	grep -qE '^[^#]*hosts:.*dns' /etc/nsswitch.conf 2>/dev/null ||
		skip "/etc/nsswitch.conf does not resolve hosts by dns"
}

resolve() {
	local t0
	OUT=$TMP/out.$((++E2E_CALLS))
	t0=$(now_ms)
	node_exec_in "$(node_ns "$1")" "$NODE_CG/$1" timeout 8 getent ahostsv4 "$2" >"$OUT" 2>&1
	RC=$?
	MS=$(($(now_ms) - t0))
}

first_ip() {
	awk 'NR == 1 { print $1 }' "$OUT"
}

generation() {
	node_exec curl -s --max-time 2 "http://$ADMIN/reload" | sed -n 's/^generation //p'
}

wait_generation() {
	local t
	for ((t = 50; t > 0; t--)); do
		[ "$(generation)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

e2e_end() {
	node_down
	if node_leftovers >"$TMP/left"; then
		ok "after teardown nothing of node $NODE_ID is left (netns, interfaces, routes, cgroups, pins)"
	else
		not_ok "after teardown nothing of node $NODE_ID is left"
		show "$TMP/left"
	fi
	echo "# $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
