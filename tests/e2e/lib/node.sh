# shellcheck shell=bash
# A Kubernetes node built from network namespaces, a bridge and cgroups, for
# the end-to-end test and the demo. Source it; it runs nothing by itself.
#
#   node_declare_pods NAME=IP...  before node_up: the node's pods are these instead of
#                                 the greeter ones below (IPs 10.77.0.2-254)
#   node_up                       build the node (returns non-zero if it cannot)
#   node_traps                    node_down on EXIT, INT and TERM (INT/TERM then exit)
#   node_down                     tear everything down; idempotent, bounded
#   node_leftovers                print what of this run still exists; 1 if anything
#   pod_exec POD CMD...           run CMD in the pod's netns and the pod's cgroup
#   pod_exec_outside POD CMD...   the pod's netns, the uncaptured sibling cgroup
#   pod_spawn POD CMD...          pod_exec in the background; PID in NODE_LAST_PID
#   node_exec CMD...              the node's netns (where the agent listens), uncaptured
#   agent_spawn CMD...            the node's netns and the agent's cgroup, in the
#                                 background; PID in NODE_LAST_PID
#   node_start_echos ECHO LOGDIR POD:PORT:VERSION [ARG]...
#                                 a shunt-echo per pod; waits until all listen;
#                                 NODE_ECHO_PID[POD] is its pid
#   NODE_IPV6=1                   before node_up: dual-stack. The bridge also has
#                                 fd00:77::1/64, each pod fd00:77::N besides 10.77.0.N
#                                 (node_ip6 POD prints it), and fd00:96::/64, the
#                                 IPv6 VIP range, is blackholed like 10.96.77.0/24
#
# Layout (<id> is unique per run, so runs can overlap):
#   netns shunt-<id>-node         stands in for the node's root netns: bridge
#                                 sh<id>br 10.77.0.1/24, blackhole 10.96.77.0/24
#                                 and 240.240.0.0/16 (auto-allocated VIPs).
#                                 The real host's network is never touched, and
#                                 two nodes (a test and a demo) can both own
#                                 10.77.0.1:15001 without meeting.
#   netns shunt-<id>-<pod>        eth0 (a veth into the bridge), lo, the pod IP
#                                 on the on-link /24 and nothing else: no default
#                                 route, blackhole 10.96.77.0/24, so a connection
#                                 to a VIP that is not captured fails at once and
#                                 never leaves the pod.
#   <cg2>/shunt-<id>/             the captured cgroup (shuntd --cgroup), with a
#     <pod>/ ... agent/           child per pod and one for the agent
#   <cg2>/shunt-<id>-outside/     an uncaptured sibling
#   <bpffs>/shunt-<id>            the agent's pin dir (removed by node_down)
#
# Processes enter a netns with nsenter --net, not ip netns exec: the latter
# remounts /sys, which would hide the cgroup2 and bpf filesystems from the agent.

NODE_PODS=(helloweb greeter-v1-a greeter-v1-b greeter-v2 dead)
declare -A NODE_POD_IP=(
	[helloweb]=10.77.0.10
	[greeter-v1-a]=10.77.0.11
	[greeter-v1-b]=10.77.0.12
	[greeter-v2]=10.77.0.13
	[dead]=10.77.0.14
)
NODE_GW=10.77.0.1
NODE_PREFIX=24
NODE_VIP_NET=10.96.77.0/24
NODE_AUTO_VIP_NET=240.240.0.0/16
NODE_IPV6=${NODE_IPV6:-0}
NODE_GW6=fd00:77::1
NODE_VIP6_NET=fd00:96::/64

NODE_ID=
NODE_CG2=
NODE_CG=
NODE_CG_OUT=
NODE_BPFFS=
NODE_PIN=
NODE_NS=
NODE_BR=
NODE_PIDS=()
NODE_LAST_PID=
declare -A NODE_ECHO_PID=() # node_start_echos: pod -> its (IPv4) shunt-echo's pid
NODE_ALIVE=()
NODE_IS_UP=0

node_log() {
	echo "node: $*" >&2
}

# The cgroup2 mount point, from /proc/mounts.
node_find_cgroup2() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}

# The bpf filesystem mount point, from /proc/mounts.
node_find_bpffs() {
	awk '$3 == "bpf" { print $2; exit }' /proc/mounts
}

# Why this machine cannot build a node, or nothing if it can.
node_unsupported() {
	[ "$(id -u)" -eq 0 ] || {
		echo "not root"
		return
	}
	[ -n "$(node_find_cgroup2)" ] || {
		echo "no cgroup2 filesystem mounted (see /proc/mounts)"
		return
	}
	[ -n "$(node_find_bpffs)" ] || [ -d /sys/fs/bpf ] || {
		echo "no bpf filesystem and no /sys/fs/bpf to mount it on"
		return
	}
	grep -qw bpf /proc/filesystems || {
		echo "the kernel has no bpf filesystem (CONFIG_BPF_SYSCALL)"
		return
	}
	for tool in ip nsenter bpftool; do
		command -v "$tool" >/dev/null || {
			echo "$tool is not installed"
			return
		}
	done
}

node_ns() {
	echo "shunt-$NODE_ID-$1"
}

# A fresh id: 6 hex digits from our PID, the time and $RANDOM, not in use yet.
node_pick_id() {
	local id i
	for ((i = 0; i < 10; i++)); do
		id=$(printf '%s-%s-%s' "$$" "$(date +%s%N)" "$RANDOM" | md5sum | cut -c1-6)
		if [ ! -e "/run/netns/shunt-$id-node" ] && [ ! -e "$NODE_CG2/shunt-$id" ] &&
			[ ! -e "$NODE_CG2/shunt-$id-outside" ] &&
			[ ! -e "${NODE_BPFFS:-/sys/fs/bpf}/shunt-$id" ]; then
			echo "$id"
			return 0
		fi
	done
	return 1
}

# node_declare_pods NAME=IP...: the pods node_up builds, instead of the
# default ones. Names are DNS labels (they name netns and cgroups), IPs are
# distinct hosts of the on-link /24 other than the bridge's. 1 if refused.
node_declare_pods() {
	local arg name ip pods=() seen=" "
	local -A ips=()
	if [ "$NODE_IS_UP" = 1 ]; then
		node_log "node_declare_pods: the node is already up"
		return 1
	fi
	if [ $# -eq 0 ] || [ $# -gt 100 ]; then
		node_log "node_declare_pods: 1 to 100 pods, not $#"
		return 1
	fi
	for arg in "$@"; do
		name=${arg%%=*}
		ip=${arg#*=}
		if ! [[ $name =~ ^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$ ]] || [ "$name" = node ] ||
			[ "$name" = agent ] || [ -n "${ips[$name]:-}" ]; then
			node_log "node_declare_pods: $arg: a pod name must be a new DNS label, not node or agent"
			return 1
		fi
		if ! [[ $ip =~ ^10\.77\.0\.([0-9]{1,3})$ ]] || [ "${BASH_REMATCH[1]}" -lt 2 ] ||
			[ "${BASH_REMATCH[1]}" -gt 254 ] || [[ $seen == *" $ip "* ]]; then
			node_log "node_declare_pods: $arg: the IP must be a free host of 10.77.0.0/24 (2-254)"
			return 1
		fi
		seen+="$ip "
		ips[$name]=$ip
		pods+=("$name")
	done
	NODE_PODS=("${pods[@]}")
	NODE_POD_IP=()
	for name in "${pods[@]}"; do
		NODE_POD_IP[$name]=${ips[$name]}
	done
}

# Runs a command, logging it when it fails.
node_run() {
	local out
	if ! out=$("$@" 2>&1); then
		node_log "failed: $* : $out"
		return 1
	fi
}

node_up() {
	local ns pod i=0 why
	why=$(node_unsupported)
	if [ -n "$why" ]; then
		node_log "cannot build a node: $why"
		return 1
	fi
	NODE_CG2=$(node_find_cgroup2)
	NODE_BPFFS=$(node_find_bpffs)
	if [ -z "$NODE_BPFFS" ]; then
		# as the agent's DaemonSet would; left mounted, like on any node
		node_run mount -t bpf bpf /sys/fs/bpf || return 1
		NODE_BPFFS=/sys/fs/bpf
	fi
	NODE_ID=$(node_pick_id) || {
		node_log "no free id"
		return 1
	}
	NODE_CG=$NODE_CG2/shunt-$NODE_ID
	NODE_CG_OUT=$NODE_CG2/shunt-$NODE_ID-outside
	NODE_NS=$(node_ns node)
	NODE_BR=sh${NODE_ID}br
	NODE_PIN=$NODE_BPFFS/shunt-$NODE_ID
	NODE_IS_UP=1

	# cgroups
	node_run mkdir "$NODE_CG" "$NODE_CG_OUT" "$NODE_CG/agent" || return 1
	for pod in "${NODE_PODS[@]}"; do
		node_run mkdir "$NODE_CG/$pod" || return 1
	done

	# the node's own netns: loopback, the bridge, the VIP blackhole
	node_run ip netns add "$NODE_NS" || return 1
	node_netns_base "$NODE_NS" || return 1
	node_run ip -n "$NODE_NS" link add "$NODE_BR" type bridge || return 1
	node_run ip -n "$NODE_NS" addr add "$NODE_GW/$NODE_PREFIX" dev "$NODE_BR" || return 1
	if [ "$NODE_IPV6" = 1 ]; then
		node_run ip -n "$NODE_NS" addr add "$NODE_GW6/64" dev "$NODE_BR" nodad || return 1
	fi
	node_run ip -n "$NODE_NS" link set "$NODE_BR" up || return 1

	# the pods
	for pod in "${NODE_PODS[@]}"; do
		ns=$(node_ns "$pod")
		node_run ip netns add "$ns" || return 1
		node_netns_base "$ns" || return 1
		node_run ip -n "$NODE_NS" link add "sh${NODE_ID}v$i" type veth peer name eth0 \
			netns "$ns" || return 1
		node_run ip -n "$NODE_NS" link set "sh${NODE_ID}v$i" master "$NODE_BR" up || return 1
		node_run ip -n "$ns" addr add "${NODE_POD_IP[$pod]}/$NODE_PREFIX" dev eth0 || return 1
		if [ "$NODE_IPV6" = 1 ]; then
			node_run ip -n "$ns" addr add "$(node_ip6 "$pod")/64" dev eth0 nodad || return 1
		fi
		node_run ip -n "$ns" link set eth0 up || return 1
		i=$((i + 1))
	done
}

# Loopback up, the VIP range blackholed; IPv6 off (nothing to say on the
# bridge) unless NODE_IPV6=1, then on without duplicate address detection (the
# addresses are ours, and usable at once) and its VIP range blackholed too.
node_netns_base() {
	local ns=$1
	node_run ip -n "$ns" link set lo up || return 1
	if [ "$NODE_IPV6" = 1 ]; then
		node_run nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
			net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_ra=0 \
			net.ipv6.conf.default.accept_ra=0 || return 1
		node_run ip -n "$ns" -6 route add blackhole "$NODE_VIP6_NET" || return 1
	else
		nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
	fi
	node_run ip -n "$ns" route add blackhole "$NODE_VIP_NET" || return 1
	# the VIPs the agent allocates to ServiceEntry hosts without addresses
	node_run ip -n "$ns" route add blackhole "$NODE_AUTO_VIP_NET" || return 1
}

# The IPv6 address of pod $1 with NODE_IPV6=1: fd00:77::N for 10.77.0.N.
node_ip6() {
	node_check_pod "$1" || return
	echo "fd00:77::${NODE_POD_IP[$1]##*.}"
}

# Runs "$@" in netns $1 and cgroup directory $2 (in the foreground).
node_exec_in() {
	local ns=$1 cg=$2
	shift 2
	(echo "$BASHPID" >"$cg/cgroup.procs" && exec nsenter --net="/run/netns/$ns" -- "$@")
}

# The same in the background; the PID (of CMD itself: nothing forks) is recorded.
node_spawn_in() {
	local ns=$1 cg=$2
	shift 2
	(echo "$BASHPID" >"$cg/cgroup.procs" && exec nsenter --net="/run/netns/$ns" -- "$@") &
	NODE_LAST_PID=$!
	NODE_PIDS+=("$NODE_LAST_PID")
}

node_check_pod() {
	[ -n "${NODE_POD_IP[$1]:-}" ] || {
		node_log "no pod $1"
		return 2
	}
}

pod_exec() {
	node_check_pod "$1" || return
	local pod=$1
	shift
	node_exec_in "$(node_ns "$pod")" "$NODE_CG/$pod" "$@"
}

pod_exec_outside() {
	node_check_pod "$1" || return
	local pod=$1
	shift
	node_exec_in "$(node_ns "$pod")" "$NODE_CG_OUT" "$@"
}

pod_spawn() {
	node_check_pod "$1" || return
	local pod=$1
	shift
	node_spawn_in "$(node_ns "$pod")" "$NODE_CG/$pod" "$@"
}

node_exec() {
	node_exec_in "$NODE_NS" "$NODE_CG_OUT" "$@"
}

agent_spawn() {
	node_spawn_in "$NODE_NS" "$NODE_CG/agent" "$@"
}

# True while $1 runs and is one of ours: our child (a spawn that may not have
# moved into its cgroup yet) or a process in this node's cgroups. A zombie does
# not run, and a PID that bash already reaped and the kernel then gave to
# someone else is not ours.
node_pid_running() {
	local stat state ppid
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # after "pid (comm) ": state ppid ...
	state=${stat%% *}
	stat=${stat#* }
	ppid=${stat%% *}
	[ "$state" != Z ] || return 1
	[ "$ppid" = "$$" ] && return 0
	grep -q "^0::.*/shunt-$NODE_ID" "/proc/$1/cgroup" 2>/dev/null
}

# The same, and an exited child is reaped. wait is only called once the
# process no longer runs, so it never blocks.
node_pid_alive() {
	node_pid_running "$1" && return 0
	wait "$1" 2>/dev/null
	return 1
}

# Waits up to $1 tenths of a second for the PIDs that follow to be gone,
# reaping them; those still running are left in NODE_ALIVE. 0 if none is.
node_wait_pids() {
	local tenths=$1 p still
	shift
	NODE_ALIVE=("$@")
	while :; do
		still=()
		for p in "${NODE_ALIVE[@]}"; do
			node_pid_alive "$p" && still+=("$p")
		done
		NODE_ALIVE=("${still[@]}")
		[ ${#NODE_ALIVE[@]} -eq 0 ] && return 0
		[ "$tenths" -le 0 ] && return 1
		sleep 0.1
		tenths=$((tenths - 1))
	done
}

# Drops $1 from the recorded PIDs (after the caller reaped it with wait).
node_forget_pid() {
	local p keep=()
	for p in "${NODE_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	NODE_PIDS=("${keep[@]}")
}

# Waits up to $2 tenths of a second for child $1 to exit, reaps it and
# returns its exit status; 124 (and nothing reaped) if it is still running.
node_wait_exit() {
	local pid=$1 tenths=$2
	while :; do
		if ! node_pid_running "$pid"; then
			wait "$pid"
			return
		fi
		[ "$tenths" -le 0 ] && return 124
		sleep 0.1
		tenths=$((tenths - 1))
	done
}

# Stops the recorded PIDs: SIGTERM, up to 5 s, then SIGKILL. Only PIDs that
# node_pid_running says are ours are signalled.
node_stop_pids() {
	local p
	[ ${#NODE_PIDS[@]} -gt 0 ] || return 0
	node_wait_pids 0 "${NODE_PIDS[@]}"
	for p in "${NODE_ALIVE[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	if ! node_wait_pids 50 "${NODE_ALIVE[@]}"; then
		for p in "${NODE_ALIVE[@]}"; do
			kill -KILL "$p" 2>/dev/null
		done
		node_wait_pids 30 "${NODE_ALIVE[@]}" || node_log "still running: ${NODE_ALIVE[*]}"
	fi
	NODE_PIDS=()
}

# Kills whatever is left in cgroup $1 (only our own processes can be there)
# and removes it. Bounded.
node_empty_cgroup() {
	local cg=$1 pids tries
	case $cg in
	"$NODE_CG2/shunt-$NODE_ID" | "$NODE_CG2/shunt-$NODE_ID"[/-]*) ;;
	*)
		node_log "refusing to empty $cg: not this run's cgroup"
		return 1
		;;
	esac
	[ -d "$cg" ] || return 0
	for ((tries = 0; tries < 30; tries++)); do
		pids=$(cat "$cg/cgroup.procs" 2>/dev/null)
		[ -z "$pids" ] && break
		if [ -e "$cg/cgroup.kill" ]; then
			echo 1 >"$cg/cgroup.kill" 2>/dev/null
		else
			# shellcheck disable=SC2086 # one PID per word
			kill -KILL $pids 2>/dev/null
		fi
		sleep 0.1
	done
	rmdir "$cg" 2>/dev/null || node_log "cannot remove cgroup $cg: pids $(tr '\n' ' ' <"$cg/cgroup.procs")"
}

# Kills the processes still inside netns $1 (only ours can have entered it).
node_empty_netns() {
	local ns=$1 pids
	[ -e "/run/netns/$ns" ] || return 0
	pids=$(ip netns pids "$ns" 2>/dev/null)
	[ -n "$pids" ] || return 0
	node_log "killing processes left in $ns: ${pids//$'\n'/ }"
	# shellcheck disable=SC2086 # one PID per word
	kill -KILL $pids 2>/dev/null
	# shellcheck disable=SC2086
	node_wait_pids 20 $pids
}

node_down() {
	local pod ns cg
	[ "$NODE_IS_UP" = 1 ] || return 0
	NODE_IS_UP=0
	trap '' INT TERM # finish tearing down even if interrupted again
	node_stop_pids
	for cg in "$NODE_CG"/*/; do
		[ -d "$cg" ] && node_empty_cgroup "${cg%/}"
	done
	node_empty_cgroup "$NODE_CG"
	node_empty_cgroup "$NODE_CG_OUT"
	for pod in node "${NODE_PODS[@]}"; do
		ns=$(node_ns "$pod")
		node_empty_netns "$ns"
		[ -e "/run/netns/$ns" ] && ip netns delete "$ns" 2>/dev/null
	done
	case $NODE_PIN in
	*/shunt-"$NODE_ID") [ -e "$NODE_PIN" ] && rm -rf -- "$NODE_PIN" ;;
	esac
	trap - INT TERM
	return 0
}

# Lists what of this run is left (netns, interfaces, routes, cgroups, pins).
node_leftovers() {
	local left=0 what
	[ -n "$NODE_ID" ] || return 0
	what=$(ip netns list 2>/dev/null | grep -- "shunt-$NODE_ID-")
	[ -n "$what" ] && echo "left: netns: $what" && left=1
	what=$(ip -o link show 2>/dev/null | grep -- "sh$NODE_ID")
	[ -n "$what" ] && echo "left: host interface: $what" && left=1
	what=$(ip route show table all 2>/dev/null | grep -- "sh$NODE_ID")
	[ -n "$what" ] && echo "left: host route: $what" && left=1
	for what in "$NODE_CG" "$NODE_CG_OUT" "$NODE_PIN"; do
		[ -e "$what" ] && echo "left: $what" && left=1
	done
	return $left
}

node_traps() {
	trap node_down EXIT
	trap 'node_down; exit 130' INT
	trap 'node_down; exit 143' TERM
}

# --- the greeter scenario (tests/e2e/greeter/greeter.yaml) ---

NODE_GREETERS=(greeter-v1-a greeter-v1-b greeter-v2)

# Starts shunt-echo ($1) on port 3000 in each greeter pod, logs in directory $2,
# and waits (5 s at most) until every one prints that it listens.
node_start_greeters() {
	local echo=$1 logdir=$2 pod version tenths
	for pod in "${NODE_GREETERS[@]}"; do
		version=${pod#greeter-}
		version=${version%%-*}
		pod_spawn "$pod" "$echo" --listen "${NODE_POD_IP[$pod]}:3000" --name "$pod" \
			--version "$version" >"$logdir/$pod.log" 2>&1
	done
	for pod in "${NODE_GREETERS[@]}"; do
		for ((tenths = 50; tenths > 0; tenths--)); do
			grep -q "listening on" "$logdir/$pod.log" 2>/dev/null && break
			sleep 0.1
		done
		if [ "$tenths" -eq 0 ]; then
			node_log "$pod did not start listening: $(cat "$logdir/$pod.log")"
			return 1
		fi
	done
}

# node_start_echos ECHO LOGDIR POD:PORT:VERSION... [-- ARG...]: starts shunt-echo
# (ECHO) in each pod on its IP and PORT, named after the pod, with that
# version and the ARGs after "--", output in LOGDIR/POD.log; waits (5 s at
# most) until every one prints that it listens. 1 if one does not.
node_start_echos() {
	local echo=$1 logdir=$2 spec pod port version tenths specs=() args=()
	shift 2
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then
			shift
			args=("$@")
			break
		fi
		specs+=("$1")
		shift
	done
	local logs=() log
	for spec in "${specs[@]}"; do
		IFS=: read -r pod port version <<<"$spec"
		node_check_pod "$pod" || return 1
		pod_spawn "$pod" "$echo" --listen "${NODE_POD_IP[$pod]}:$port" --name "$pod" \
			--version "$version" "${args[@]}" >"$logdir/$pod.log" 2>&1
		NODE_ECHO_PID[$pod]=$NODE_LAST_PID
		logs+=("$logdir/$pod.log")
		# dual-stack: the same server on the pod's IPv6 address, a second process
		if [ "$NODE_IPV6" = 1 ]; then
			pod_spawn "$pod" "$echo" --listen "[$(node_ip6 "$pod")]:$port" --name "$pod" \
				--version "$version" "${args[@]}" >"$logdir/$pod.v6.log" 2>&1
			logs+=("$logdir/$pod.v6.log")
		fi
	done
	for log in "${logs[@]}"; do
		for ((tenths = 50; tenths > 0; tenths--)); do
			grep -q "listening on" "$log" 2>/dev/null && break
			sleep 0.1
		done
		if [ "$tenths" -eq 0 ]; then
			node_log "${log##*/} did not start listening: $(cat "$log")"
			return 1
		fi
	done
}

# Waits until GET /ready on admin address $2 answers 200, asked with client $1
# from the node's netns; gives up after $3 tenths of a second, or as soon as
# process $4 (the agent) is gone.
node_wait_ready() {
	local client=$1 admin=$2 tenths=$3 pid=${4:-}
	while [ "$tenths" -gt 0 ]; do
		if node_exec "$client" --connect "$admin" --path /ready --timeout-ms 1000 \
			2>/dev/null | grep -q '^status=200 '; then
			return 0
		fi
		if [ -n "$pid" ] && ! node_pid_running "$pid"; then
			node_log "the agent (pid $pid) exited before it was ready"
			return 1
		fi
		sleep 0.1
		tenths=$((tenths - 1))
	done
	return 1
}
