# shellcheck shell=bash
# The peers shunt is measured against: HAProxy and nginx from Debian's
# packages, each run by the bench in the node's network namespace (where
# shuntd runs), outside the captured cgroup, with its own config file, in the
# foreground, stopped by the pid the bench started. The client connects to
# the proxy's own address on the node bridge: nothing is captured. Both get
# the same routing as shunt's L7 service (a header match to v2, else 90/10
# over v1 and v2 by weights, round robin within) and as many worker threads
# or processes as shuntd has (BENCH_WORKERS).
#
#   bench_peers_install       apt-get install haproxy and nginx when missing, their
#                             services never started on the host
#   bench_peer_start NAME     haproxy or nginx: write its config, start it, wait until
#                             it answers (10 s at most); 1 if it does not
#   bench_peer_pids NAME      the pids whose CPU and memory are the peer's
#   bench_peers_stop          SIGTERM the peers this bench started, by pid
#
# Needs lib/node.sh (the node is up) and from bench/run.sh: BUILD, BENCH_TMP,
# BENCH_WORKERS, BENCH_BACKENDS, BENCH_PORT, BENCH_V2 (the v2 backend pods).

BENCH_HAPROXY_ADDR=$NODE_GW:15002
BENCH_NGINX_ADDR=$NODE_GW:15003
declare -A BENCH_PEER_PID=()  # name -> the pid the bench started
declare -A BENCH_PEER_PIDS=() # name -> that pid and its workers' (nginx), once it answered
BENCH_POLICY_RC= # the policy-rc.d this bench wrote, to remove

# The packages' services must not start on the host: Debian's maintainer
# scripts ask policy-rc.d, and 101 means "not now". An existing one is left
# as it is (and used); one written here is removed after the install.
bench_peers_install() {
	local pkgs=() rc=0
	command -v haproxy >/dev/null || pkgs+=(haproxy)
	command -v nginx >/dev/null || pkgs+=(nginx)
	[ ${#pkgs[@]} -eq 0 ] && return 0
	echo "bench: installing ${pkgs[*]} (apt-get; their services are not started)" >&2
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# shunt bench/run.sh: no service starts during its apt-get install\nexit 101\n' \
			>/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && BENCH_POLICY_RC=/usr/sbin/policy-rc.d
	fi
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${pkgs[@]}" >/dev/null 2>&1; then
		# stale package lists: once more after an update
		apt-get update -qq >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${pkgs[@]}" >/dev/null || rc=1
	fi
	bench_policy_rc_remove
	# With systemd, the units the packages enabled stay off (by unit name).
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		local p
		for p in "${pkgs[@]}"; do
			systemctl disable --now "$p.service" >/dev/null 2>&1
		done
	fi
	[ "$rc" -eq 0 ] && command -v haproxy >/dev/null && command -v nginx >/dev/null
}

bench_policy_rc_remove() {
	[ -n "$BENCH_POLICY_RC" ] || return 0
	rm -f -- "$BENCH_POLICY_RC"
	BENCH_POLICY_RC=
}

# One "server" line per backend pod: the v1 pods share 90 of the weight, the v2 pods 10
# (up to 9 v1 pods and 10 v2 ones). $1 is the format with %s (name), %s (ip:port), %d (weight).
bench_peer_servers() {
	local fmt=$1 pod n1=0 n2=0 w
	for pod in "${BENCH_BACKENDS[@]}"; do
		if bench_is_v2 "$pod"; then n2=$((n2 + 1)); else n1=$((n1 + 1)); fi
	done
	for pod in "${BENCH_BACKENDS[@]}"; do
		if bench_is_v2 "$pod"; then w=$((10 / n2)); else w=$((90 / n1)); fi
		# shellcheck disable=SC2059 # the format is the caller's
		printf "$fmt" "$pod" "${NODE_POD_IP[$pod]}:$BENCH_PORT" "$w"
	done
}

# HAProxy: one process, nbthread threads, weighted round robin over the pods (45/45/10 for
# 90/10 by subset), an ACL on the header in front. http-reuse always: idle server connections
# are shared by every client connection, as shunt's pool and nginx's keepalive do (HAProxy's
# default, safe, opens a new one for each client connection's first request).
bench_haproxy_config() {
	cat <<CFG
global
	nbthread $BENCH_WORKERS
	maxconn 4096

defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	timeout http-keep-alive 30s
	http-reuse always

frontend bench
	bind $BENCH_HAPROXY_ADDR
	acl canary req.hdr(x-bench-canary) -m str yes
	use_backend echo_v2 if canary
	default_backend echo_split

backend echo_split
	balance roundrobin
$(bench_peer_servers '	server %s %s weight %d\n')

backend echo_v2
	balance roundrobin
$(for pod in "${BENCH_V2[@]}"; do printf '\tserver %s %s:%s\n' "$pod" "${NODE_POD_IP[$pod]}" "$BENCH_PORT"; done)
CFG
}

# nginx: worker_processes as many as shuntd's workers, each with its own SO_REUSEPORT
# listener (as shuntd's), upstream keepalive, a map on the header picking the upstream;
# keep-alive limits raised so that neither side closes a connection during a run.
bench_nginx_config() {
	local dir=$1
	cat <<CFG
worker_processes $BENCH_WORKERS;
user root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	keepalive_requests 100000000;
	keepalive_timeout 60s;
	upstream echo_split {
$(bench_peer_servers '\t\tserver %.0s%s weight=%d;\n')
		keepalive 128;
		keepalive_requests 100000000;
	}
	upstream echo_v2 {
$(for pod in "${BENCH_V2[@]}"; do printf '\t\tserver %s:%s;\n' "${NODE_POD_IP[$pod]}" "$BENCH_PORT"; done)
		keepalive 128;
		keepalive_requests 100000000;
	}
	map \$http_x_bench_canary \$echo_pool {
		yes echo_v2;
		default echo_split;
	}
	server {
		listen $BENCH_NGINX_ADDR reuseport backlog=4096;
		location / {
			proxy_pass http://\$echo_pool;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
CFG
}

# The address a peer listens on.
bench_peer_addr() {
	case $1 in
	haproxy) echo "$BENCH_HAPROXY_ADDR" ;;
	nginx) echo "$BENCH_NGINX_ADDR" ;;
	esac
}

# Waits up to $2 tenths of a second for GET / through $1 (IP:PORT) to answer 200 from the
# client pod, or for process $3 to be gone.
bench_wait_answer() {
	local addr=$1 tenths=$2 pid=$3
	while [ "$tenths" -gt 0 ]; do
		pod_exec client "$BUILD/shunt-client" --connect "$addr" --path / --timeout-ms 1000 \
			2>/dev/null | grep -q '^status=200 ' && return 0
		node_pid_running "$pid" || return 1
		sleep 0.1
		tenths=$((tenths - 1))
	done
	return 1
}

bench_peer_start() {
	local name=$1 dir=$BENCH_TMP/$1
	[ -n "${BENCH_PEER_PID[$name]:-}" ] && return 0
	mkdir -p "$dir"
	case $name in
	haproxy)
		bench_haproxy_config >"$dir/haproxy.cfg"
		haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1 || {
			echo "bench: haproxy refuses its config:" >&2
			cat "$dir/check.log" >&2
			return 1
		}
		node_spawn_in "$NODE_NS" "$NODE_CG_OUT" haproxy -db -f "$dir/haproxy.cfg" \
			>"$dir/haproxy.log" 2>&1
		;;
	nginx)
		bench_nginx_config "$dir" >"$dir/nginx.conf"
		node_spawn_in "$NODE_NS" "$NODE_CG_OUT" nginx -p "$dir" -e "$dir/error.log" \
			-c "$dir/nginx.conf" -g 'daemon off;' >"$dir/nginx.log" 2>&1
		;;
	*)
		echo "bench: no peer $name" >&2
		return 1
		;;
	esac
	BENCH_PEER_PID[$name]=$NODE_LAST_PID
	if ! bench_wait_answer "$(bench_peer_addr "$name")" 100 "$NODE_LAST_PID"; then
		echo "bench: $name did not answer on $(bench_peer_addr "$name"):" >&2
		cat "$dir"/*.log >&2
		return 1
	fi
	BENCH_PEER_PIDS[$name]=$(bench_peer_find_pids "$name" | tr '\n' ' ')
}

# The pids of peer $1 (see bench_peer_find_pids), one a line.
bench_peer_pids() {
	local p
	for p in ${BENCH_PEER_PIDS[$1]:-}; do
		echo "$p"
	done
}

# The pid of the peer and, for nginx, its workers (children of the master).
bench_peer_find_pids() {
	local pid=${BENCH_PEER_PID[$1]:-} f stat
	[ -n "$pid" ] || return 0
	echo "$pid"
	[ "$1" = nginx ] || return 0
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		stat=${stat##*) }
		stat=${stat#* }
		[ "${stat%% *}" = "$pid" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
	done
}

bench_peers_stop() {
	local name pid
	for name in "${!BENCH_PEER_PID[@]}"; do
		pid=${BENCH_PEER_PID[$name]}
		kill -TERM "$pid" 2>/dev/null
		node_wait_exit "$pid" 50 >/dev/null
		node_forget_pid "$pid"
		unset "BENCH_PEER_PID[$name]" "BENCH_PEER_PIDS[$name]"
	done
}
