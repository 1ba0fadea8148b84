#!/bin/bash
# The routing suite: Istio VirtualService/DestinationRule routing end to end,
# table-driven. A node of network namespaces (lib/node.sh) runs the pods of
# routing/cluster.yaml (the greeter tutorial and Bookinfo), each a shunt-echo
# named after its pod; for every config set (routing/sets/<name>/, the
# cluster plus the Istio YAML of the case, as users kubectl apply it) shuntd
# is started on the node, the set's rows of routing/cases.tsv are sent from
# the pods by their service's clusterIP, and shuntd is stopped again.
# routing/cases.tsv says what the columns and expectations mean.
#
#   SHUNT_ROUTING_E2E=1 tests/e2e/routing_test.sh BUILD_DIR
#
# Runs when tests/e2e/routing/ENABLED exists (it does since the router
# was integrated) or SHUNT_ROUTING_E2E=1; SHUNT_ROUTING_E2E=0 skips it.
# SHUNT_ROUTING_SETS="set ..." runs only those sets' rows (for debugging).
#
# The table is checked before anything runs: a split row's n must make its
# tolerance 4 standard deviations wide, an every= row's n must make a missed
# pod unlikely (1e-6), and a pod(s)= row's n must make it unlikely (1e-3) that
# a router ignoring the rule passes by luck.
#
# One "ok - " or "not ok - " line per row, then "# N passed, N failed, N todo".
# A row marked todo still runs: passing, it says so ("todo passes now: remove
# the marker"); failing, it prints "not ok - TODO" and does not fail the
# suite. Failing rows show the client's output and the set's shuntd log.
# Exit 0 if every other row passed, 77 skip, anything else fail. Needs root;
# about 25 s (7 of them Bookinfo's fault delay). Everything of the node is
# removed at the end, also on failure or interrupt (SIGINT, SIGTERM), and the
# script checks that nothing is left.
set -u

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROUTING=$HERE/routing
TABLE=$ROUTING/cases.tsv
CLUSTER=$ROUTING/cluster.yaml
# shellcheck source=tests/e2e/lib/node.sh
source "$HERE/lib/node.sh"
# shellcheck source=tests/e2e/lib/report.sh
source "$HERE/lib/report.sh"

LISTEN=$NODE_GW:15001
ADMIN=127.0.0.1:15000
TIMEOUT_MS=5000 # per response, unless took>= asks for more
MIN_Z=4         # a split row's tolerance must be this many standard deviations
MISS_MAX=1e-6   # an every= row may miss a pod by chance at most this often
LUCK_MAX=1e-3   # a pod(s)= row may pass by chance (a router that ignores the rule) at most this often

passed=0
failed=0
todo=0
TMP=
AGENT_PID=
AGENT_RC=0
AGENT_LOG=/dev/null
SET_FAILED=0

# --- output ---------------------------------------------------------------

# --- the cluster: pods and services from cluster.yaml ----------------------

declare -A POD_IP=() POD_PORT=() POD_APP=() POD_VERSION=() SVC_VIP=() SVC_PORT=()
PODS=()

# Reads the Pods (name, podIP, containerPort, labels app and version) and
# Services (name, clusterIP, port) of cluster.yaml. The file is this suite's
# own and regular: one document per object, the layout kubectl prints.
read_cluster() {
	local kind name a b c d
	while read -r kind name a b c d; do
		case $kind in
		pod)
			PODS+=("$name")
			POD_IP[$name]=$a
			POD_PORT[$name]=$b
			POD_APP[$name]=$c
			POD_VERSION[$name]=$d
			;;
		svc)
			SVC_VIP[$name]=$a
			SVC_PORT[$name]=$b
			;;
		esac
	done < <(awk '
		function flush() {
			if (kind == "Pod") print "pod", name, ip, port, app, version
			if (kind == "Service") print "svc", name, ip, port
			kind = name = ip = port = app = version = ""
		}
		/^---/ { flush(); next }
		/^kind:/ { kind = $2 }
		/^  name:/ { name = $2 }
		/^    app:/ { app = $2 }
		/^    version:/ { version = $2 }
		/^  (podIP|clusterIP):/ { ip = $2 }
		/^ *- (containerPort|port):/ { if (port == "") port = $3 }
		END { flush() }' "$CLUSTER")
	if [ ${#PODS[@]} -eq 0 ] || [ ${#SVC_VIP[@]} -eq 0 ]; then
		fatal "no pods or services read from $CLUSTER"
	fi
	for name in "${PODS[@]}"; do
		if [ -z "${POD_IP[$name]}" ] || [ -z "${POD_PORT[$name]}" ] || [ -z "${POD_APP[$name]}" ] ||
			[ -z "${POD_VERSION[$name]}" ]; then
			fatal "$CLUSTER: pod $name: podIP, containerPort, app or version missing"
		fi
	done
	for name in "${!SVC_VIP[@]}"; do
		if [[ ${SVC_VIP[$name]} != 10.96.77.* ]] || [ -z "${SVC_PORT[$name]}" ]; then
			fatal "$CLUSTER: service $name: clusterIP (in $NODE_VIP_NET) or port missing"
		fi
	done
}

# --- the table ------------------------------------------------------------

ROW_LINE=() ROW_SET=() ROW_FROM=() ROW_METHOD=() ROW_URL=() ROW_HDRS=() ROW_EXPECT=() ROW_TODO=()
SETS=() # in the order of their first row

# split_list STRING: SPLIT=(the parts of STRING between unescaped ";", "\;" made ";").
split_list() {
	local s=$1 part=
	SPLIT=()
	[ -n "$s" ] || return 0
	while [ -n "$s" ]; do
		case $s in
		'\;'*)
			part+=";"
			s=${s:2}
			;;
		';'*)
			SPLIT+=("$part")
			part=
			s=${s:1}
			;;
		*)
			part+=${s:0:1}
			s=${s:1}
			;;
		esac
	done
	SPLIT+=("$part")
}

# parse_url URL: U_SVC, U_HOST (the Host header), U_PATH, U_VIP, U_PORT; 1 if invalid.
parse_url() {
	local host port
	[[ $1 =~ ^http://([a-z0-9.-]+)(:([0-9]+))?(/[^[:space:]]*)?$ ]] || return 1
	host=${BASH_REMATCH[1]}
	port=${BASH_REMATCH[3]:-80}
	U_PATH=${BASH_REMATCH[4]:-/}
	U_HOST=$host${BASH_REMATCH[2]}
	U_SVC=${host%%.*}
	case ${host#"$U_SVC"} in
	"" | .default | .default.svc | .default.svc.cluster.local) ;;
	*) return 1 ;;
	esac
	[ -n "${SVC_VIP[$U_SVC]:-}" ] && [ "${SVC_PORT[$U_SVC]}" = "$port" ] || return 1
	U_VIP=${SVC_VIP[$U_SVC]}
	U_PORT=$port
}

# pods_of SERVICE: the pods whose app label is SERVICE (the services select by app).
pods_of() {
	local p
	for p in "${PODS[@]}"; do
		[ "${POD_APP[$p]}" = "$1" ] && echo "$p"
	done
}

# parse_expect EXPECT SERVICE: the E_* variables; prints why and returns 1 if invalid.
parse_expect() {
	local clause key val p q k pct sum=0
	E_N=1 E_STATUS='' E_POD='' E_PODS='' E_EVERY='' E_SPLIT='' E_TOL=3 E_UPATH='' E_TOOK=0
	E_MIRRORED='' E_SAME_POD='' E_NEW_CONN=''
	E_HDRS=() E_UHDRS=() E_NO_HDRS=() E_NO_UHDRS=() E_BODY=() E_LOG=()
	split_list "$1"
	for clause in "${SPLIT[@]}"; do
		case $clause in
		n=* | pod=* | pods=* | every=* | split=* | tol=* | status=* | upstream_path=* | took\>=* | mirrored=*)
			key=${clause%%=*}
			val=${clause#*=}
			;;
		header:*=* | upstream_header:*=* | header:*~* | upstream_header:*~* | no_header:* | no_upstream_header:*)
			key=${clause%%:*}
			val=${clause#*:}
			;;
		same_pod | new_conn)
			key=$clause
			val=
			;;
		body~* | agent_log~*)
			key=${clause%%~*}
			val=${clause#*~}
			;;
		*)
			echo "unknown expectation '$clause'"
			return 1
			;;
		esac
		case $key in
		n)
			[[ $val =~ ^[1-9][0-9]{0,4}$ ]] || {
				echo "n=$val: 1 to 99999"
				return 1
			}
			E_N=$val
			;;
		pod) E_POD=$val ;;
		pods) E_PODS=$val ;;
		every) E_EVERY=$val ;;
		split) E_SPLIT=$val ;;
		tol)
			[[ $val =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
				echo "tol=$val: a number of points"
				return 1
			}
			E_TOL=$val
			;;
		status)
			[[ $val =~ ^[1-5][0-9][0-9]$ ]] || {
				echo "status=$val: a status code"
				return 1
			}
			E_STATUS=$val
			;;
		upstream_path) E_UPATH=$val ;;
		took\>)
			[[ $val =~ ^[0-9]{1,6}$ ]] || {
				echo "took>=$val: milliseconds"
				return 1
			}
			E_TOOK=$val
			;;
		mirrored) E_MIRRORED=$val ;;
		same_pod) E_SAME_POD=1 ;;
		new_conn) E_NEW_CONN=1 ;;
		header) E_HDRS+=("$val") ;;
		upstream_header) E_UHDRS+=("$val") ;;
		no_header) E_NO_HDRS+=("$val") ;;
		no_upstream_header) E_NO_UHDRS+=("$val") ;;
		body) E_BODY+=("$val") ;;
		agent_log) E_LOG+=("$val") ;;
		esac
	done
	# shellcheck disable=SC2086 # the lists are words
	for p in $E_POD ${E_PODS//|/ } ${E_EVERY//|/ } $E_MIRRORED; do
		[ -n "${POD_IP[$p]:-}" ] || {
			echo "no pod $p in cluster.yaml"
			return 1
		}
	done
	for p in "${E_HDRS[@]}" "${E_UHDRS[@]}"; do
		[[ $p =~ ^[a-z0-9-]+[=~].*$ ]] || {
			echo "header check '$p': want lowercase-name=value or lowercase-name~regex"
			return 1
		}
		# the regex must compile in the awk that evaluates it
		if [[ $p =~ ^[a-z0-9-]+~(.*)$ ]] &&
			! X_RE=${BASH_REMATCH[1]} awk 'BEGIN { x = "" ~ ENVIRON["X_RE"] }' 2>/dev/null; then
			echo "header check '$p': awk cannot compile the regex"
			return 1
		fi
	done
	for p in "${E_NO_HDRS[@]}" "${E_NO_UHDRS[@]}"; do
		[[ $p =~ ^[a-z0-9-]+$ ]] || {
			echo "header absence check '$p': want a lowercase name"
			return 1
		}
	done
	if [ -n "$E_POD$E_PODS" ]; then
		# chance that a router ignoring the rule (any pod of the service, uniformly)
		# lands on the expected pods n times in a row
		p=$(awk -v a="$(tr '|' '\n' <<<"${E_POD:-$E_PODS}" | wc -l)" -v k="$(pods_of "$2" | wc -l)" \
			-v n="$E_N" -v max="$LUCK_MAX" 'BEGIN { l = (a / k) ^ n; print (a >= k || l <= max) ? "" : l }')
		[ -z "$p" ] || {
			echo "n=$E_N: a router that ignores the rule passes this row with probability $p: raise n"
			return 1
		}
	fi
	if [ -n "$E_EVERY" ]; then
		# chance that a pod of k, picked uniformly, never answers n requests
		p=$(awk -v k="$(tr '|' '\n' <<<"$E_EVERY" | wc -l)" -v n="$E_N" -v max="$MISS_MAX" \
			'BEGIN { m = k * (1 - 1 / k) ^ n; print (m <= max) ? "" : m }')
		[ -z "$p" ] || {
			echo "every=$E_EVERY;n=$E_N: a pod misses out by chance with probability $p: raise n"
			return 1
		}
	fi
	if [ -n "$E_SPLIT" ]; then
		for p in ${E_SPLIT//,/ }; do
			k=${p%%:*}
			pct=${p#*:}
			if [[ $p != *:* ]] || ! [[ $pct =~ ^[0-9]{1,3}$ ]] || [ "$pct" -gt 100 ]; then
				echo "split share '$p': want KEY:PERCENT"
				return 1
			fi
			val=
			for q in $(pods_of "$2"); do
				[ "$q" = "$k" ] || [ "${POD_VERSION[$q]}" = "$k" ] && val=1
			done
			[ -n "$val" ] || {
				echo "split key $k: neither a pod nor a version of $2"
				return 1
			}
			sum=$((sum + pct))
			# the tolerance must be MIN_Z standard deviations of the share at n
			val=$(awk -v p="$pct" -v n="$E_N" -v tol="$E_TOL" -v min="$MIN_Z" 'BEGIN {
				sd = sqrt(p * (100 - p) / n); if (sd == 0 || tol / sd >= min) exit
				printf "%.1f", tol / sd }')
			[ -z "$val" ] || {
				echo "split $k:$pct with n=$E_N: +-$E_TOL points is only $val standard deviations (want $MIN_Z): raise n"
				return 1
			}
		done
		[ "$sum" -eq 100 ] || {
			echo "split shares add up to $sum, not 100"
			return 1
		}
	fi
	return 0
}

# Reads and checks the whole table; every problem is printed, then exit 1.
read_table() {
	local line=0 text set from method url hdrs expect note extra why bad=0 h s
	while IFS= read -r text || [ -n "$text" ]; do
		line=$((line + 1))
		[[ $text =~ ^[[:space:]]*(#|$) ]] && continue
		IFS=$'\t' read -r set from method url hdrs expect note extra <<<"$text"
		why=
		if [ -n "$extra" ] || [ -z "$expect" ]; then
			why="want 6 or 7 tab-separated columns"
		elif [ ! -d "$ROUTING/sets/$set" ]; then
			why="no config set $ROUTING/sets/$set"
		elif [ -z "${POD_IP[$from]:-}" ]; then
			why="no pod $from in cluster.yaml"
		elif ! [[ $method =~ ^[A-Z]+$ ]]; then
			why="method $method"
		elif ! parse_url "$url"; then
			why="url $url: want http://SERVICE[.default[.svc[.cluster.local]]]:PORT/path for a service of cluster.yaml"
		elif [ -n "$note" ] && ! [[ $note =~ ^todo( .*)?$ ]]; then
			why="the 7th column is 'todo <why>' or nothing"
		else
			why=$(parse_expect "$expect" "$U_SVC")
		fi
		if [ -z "$why" ] && [ "$hdrs" != - ]; then
			split_list "$hdrs"
			for h in "${SPLIT[@]}"; do
				[[ $h =~ ^[A-Za-z0-9!#$%\&\'*+.^_\`|~-]+=.*$ ]] || why="header '$h': want name=value"
			done
		fi
		if [ -n "$why" ]; then
			echo "not ok - table $TABLE:$line: $why"
			bad=1
			continue
		fi
		if [ -n "$ONLY_SETS" ] && [[ " $ONLY_SETS " != *" $set "* ]]; then
			continue
		fi
		ROW_LINE+=("$line")
		ROW_SET+=("$set")
		ROW_FROM+=("$from")
		ROW_METHOD+=("$method")
		ROW_URL+=("$url")
		ROW_HDRS+=("$hdrs")
		ROW_EXPECT+=("$expect")
		ROW_TODO+=("${note#todo}")
		[ -n "$note" ] && [ -z "${ROW_TODO[-1]}" ] && ROW_TODO[-1]=" (no reason given)"
		for s in "${SETS[@]}"; do
			[ "$s" = "$set" ] && continue 2
		done
		SETS+=("$set")
	done <"$TABLE"
	[ "$bad" -eq 0 ] || fatal "the table has errors (see above)"
	[ ${#ROW_LINE[@]} -gt 0 ] || fatal "no rows to run${ONLY_SETS:+ in sets $ONLY_SETS}"
}

# --- the agent, once per config set ------------------------------------------

# start_agent SET: shuntd on the set's config, fresh pins; 0 once /ready says 200.
start_agent() {
	AGENT_LOG=$TMP/shuntd.$1.log
	agent_spawn "$BUILD/shuntd" --config "$ROUTING/sets/$1" --cgroup "$NODE_CG" --listen "$LISTEN" \
		--admin "$ADMIN" --pin-dir "$NODE_PIN" --unpin-on-exit --log-level info >"$AGENT_LOG" 2>&1
	AGENT_PID=$NODE_LAST_PID
	node_wait_ready "$BUILD/shunt-client" "$ADMIN" 100 "$AGENT_PID"
}

# stop_agent: SIGTERM, 10 s, then SIGKILL; AGENT_RC is its exit status.
stop_agent() {
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	node_wait_exit "$AGENT_PID" 100
	AGENT_RC=$?
	if [ "$AGENT_RC" -eq 124 ] && node_pid_running "$AGENT_PID"; then
		kill -KILL "$AGENT_PID" 2>/dev/null
		node_wait_exit "$AGENT_PID" 30
		AGENT_RC=124
	fi
	node_forget_pid "$AGENT_PID"
	AGENT_PID=
}

show_agent_log() {
	[ -s "$AGENT_LOG" ] || {
		echo "# shuntd ($1) wrote nothing"
		return
	}
	echo "# shuntd log ($1, $(wc -l <"$AGENT_LOG") lines, the last 200 at most):"
	tail -n 200 "$AGENT_LOG" | show
}

# --- one row ----------------------------------------------------------------

# row_text I: the row as the table has it, columns two spaces apart.
row_text() {
	local t="${ROW_SET[$1]}  ${ROW_FROM[$1]}  ${ROW_METHOD[$1]}  ${ROW_URL[$1]}  ${ROW_HDRS[$1]}  ${ROW_EXPECT[$1]}"
	if [ -n "${ROW_TODO[$1]}" ]; then
		echo "$t  [todo${ROW_TODO[$1]}]"
	else
		echo "$t"
	fi
}

# report I VERDICT DETAIL: the row's line; counts it.
report() {
	local i=$1 verdict=$2 detail=$3 text
	text="$(row_text "$i") (table line ${ROW_LINE[$i]})"
	if [ -n "${ROW_TODO[$i]}" ]; then
		if [ "$verdict" = pass ]; then
			passed=$((passed + 1))
			echo "ok - $text (todo passes now: remove the marker) -- $detail"
		else
			todo=$((todo + 1))
			echo "not ok - TODO${ROW_TODO[$i]}: $text -- $detail"
		fi
	elif [ "$verdict" = pass ]; then
		passed=$((passed + 1))
		echo "ok - $text -- $detail"
	else
		failed=$((failed + 1))
		SET_FAILED=1
		echo "not ok - $text -- $detail"
	fi
}

# mirror_count POD CASE: requests of CASE in POD's shunt-echo log.
mirror_count() {
	grep -c -- " case=$2\$" "$TMP/$1.log" 2>/dev/null
}

# Evaluates a client's output against the E_* expectations of a row for
# service $1; prints "pass DETAIL" or "fail DETAIL".
evaluate() {
	local svc=$1 versions='' p
	for p in $(pods_of "$svc"); do
		versions+="$p=${POD_VERSION[$p]} "
	done
	# strings go through the environment: awk -v would interpret backslashes
	X_N=$E_N X_STATUS=${E_STATUS:-200} X_POD=$E_POD X_PODS=$E_PODS X_EVERY=$E_EVERY \
		X_SPLIT=$E_SPLIT X_TOL=$E_TOL X_UPATH=$E_UPATH X_VERSIONS=$versions \
		X_HDRS="$(printf '%s\n' "${E_HDRS[@]}")" X_UHDRS="$(printf '%s\n' "${E_UHDRS[@]}")" \
		X_NO_HDRS="$(printf '%s\n' "${E_NO_HDRS[@]}")" X_NO_UHDRS="$(printf '%s\n' "${E_NO_UHDRS[@]}")" \
		X_SAME_POD=$E_SAME_POD X_BODIES="$(printf '%s\n' "${E_BODY[@]}")" awk '
	function field(line, name,   i, f) {
		for (i = 1; i <= split(line, f, " "); i++)
			if (index(f[i], name "=") == 1) return substr(f[i], length(name) + 2)
		return ""
	}
	# spec: NAME=VALUE (equal), NAME~ERE (matches), or NAME alone (absent)
	function add_check(where, kind, spec,   eq) {
		nchecks++
		ck_kind[nchecks] = kind
		eq = match(spec, /[=~]/)
		if (!eq) {
			ck_op[nchecks] = "absent"
			ck_name[nchecks] = where spec
			return
		}
		ck_op[nchecks] = substr(spec, eq, 1)
		ck_name[nchecks] = where substr(spec, 1, eq - 1)
		ck_val[nchecks] = substr(spec, eq + 1)
	}
	BEGIN {
		n = ENVIRON["X_N"] + 0; want_status = ENVIRON["X_STATUS"]; pod = ENVIRON["X_POD"]
		pods = ENVIRON["X_PODS"]; every = ENVIRON["X_EVERY"]; shares_spec = ENVIRON["X_SPLIT"]
		tol = ENVIRON["X_TOL"] + 0; upath = ENVIRON["X_UPATH"]; versions = ENVIRON["X_VERSIONS"]
		hdrs = ENVIRON["X_HDRS"]; uhdrs = ENVIRON["X_UHDRS"]; bodies = ENVIRON["X_BODIES"]
		no_hdrs = ENVIRON["X_NO_HDRS"]; no_uhdrs = ENVIRON["X_NO_UHDRS"]; same_pod = ENVIRON["X_SAME_POD"]
		nchecks = 0
		m = split(hdrs, a, "\n"); for (i = 1; i <= m; i++) if (a[i] != "") add_check("", "header", a[i])
		m = split(uhdrs, a, "\n"); for (i = 1; i <= m; i++) if (a[i] != "") add_check("x-shunt-req-", "upstream header", a[i])
		m = split(no_hdrs, a, "\n"); for (i = 1; i <= m; i++) if (a[i] != "") add_check("", "header", a[i])
		m = split(no_uhdrs, a, "\n"); for (i = 1; i <= m; i++) if (a[i] != "") add_check("x-shunt-req-", "upstream header", a[i])
		if (upath != "") add_check("", "upstream path", "x-shunt-path=" upath)
		m = split(bodies, a, "\n"); for (i = 1; i <= m; i++) if (a[i] != "") { nchecks++; ck_kind[nchecks] = "body"; ck_val[nchecks] = a[i] }
		m = split(versions, a, " "); for (i = 1; i <= m; i++) { split(a[i], kv, "="); version_of[kv[1]] = kv[2] }
		r = 0
	}
	/^status=/ {
		r++
		st = field($0, "status"); p = field($0, "pod")
		status[st]++; answered[p]++
		rp[r] = p; rs[r] = st
		next
	}
	# a field sent more than once is compared as one, its values joined with ", " (RFC 9110 5.3)
	/^header=/ {
		h = substr($0, 8); c = index(h, ": "); hn = substr(h, 1, c - 1)
		if ((r, hn) in hv) hv[r, hn] = hv[r, hn] ", " substr(h, c + 2)
		else hv[r, hn] = substr(h, c + 2)
		next
	}
	/^body=/ { body[r] = substr($0, 6); next }
	function hist(arr,   k, s) {
		s = ""
		for (k in arr) s = s (s == "" ? "" : " ") k "x" arr[k]
		return s
	}
	function in_list(x, list,   a, m, i) {
		m = split(list, a, "[|]")
		for (i = 1; i <= m; i++) if (a[i] == x) return 1
		return 0
	}
	END {
		why = ""
		if (r != n) why = why sprintf("; %d responses, want %d", r, n)
		bad = 0
		for (i = 1; i <= r; i++) if (rs[i] != want_status) bad++
		if (bad) why = why sprintf("; %d of %d not status %s", bad, r, want_status)
		set = pod != "" ? pod : pods != "" ? pods : every
		if (set != "") {
			bad = 0
			for (i = 1; i <= r; i++) if (!in_list(rp[i], set)) bad++
			if (bad) why = why sprintf("; %d of %d answered by others than %s", bad, r, set)
		}
		if (every != "") {
			m = split(every, a, "[|]")
			for (i = 1; i <= m; i++) if (!(a[i] in answered)) why = why "; " a[i] " never answered"
		}
		if (same_pod != "") {
			c = 0
			for (p in answered) c++
			if (c != 1 || ("-" in answered)) why = why "; not all answered by one and the same pod"
		}
		if (shares_spec != "") {
			m = split(shares_spec, sh, ",")
			delete counted
			for (i = 1; i <= m; i++) {
				key = substr(sh[i], 1, index(sh[i], ":") - 1); want = substr(sh[i], index(sh[i], ":") + 1)
				c = 0
				for (j = 1; j <= r; j++)
					if (rs[j] == "200" && (rp[j] == key || version_of[rp[j]] == key)) { c++; counted[j] = 1 }
				got = r ? 100 * c / r : 0
				shares = shares sprintf(" %s %.1f%% (want %s+-%s)", key, got, want, tol)
				if (got < want - tol || got > want + tol) why = why sprintf("; %s has %.1f%%, want %s+-%s", key, got, want, tol)
			}
			c = 0
			for (j = 1; j <= r; j++) if (!(j in counted)) c++
			if (c) why = why sprintf("; %d responses from none of the split keys", c)
		}
		for (k = 1; k <= nchecks; k++) {
			bad = 0; first = ""
			for (i = 1; i <= r; i++) {
				if (ck_kind[k] == "body") ok = index(body[i], ck_val[k]) > 0
				else if (ck_op[k] == "absent") ok = !((i, ck_name[k]) in hv)
				else if (ck_op[k] == "~") ok = ((i, ck_name[k]) in hv) && hv[i, ck_name[k]] ~ ck_val[k]
				else ok = ((i, ck_name[k]) in hv) && hv[i, ck_name[k]] == ck_val[k]
				if (!ok) { bad++; if (first == "") first = ck_kind[k] == "body" ? body[i] : ((i, ck_name[k]) in hv) ? hv[i, ck_name[k]] : "(absent)" }
			}
			if (bad) {
				if (ck_kind[k] == "body") why = why sprintf("; %d of %d bodies lack \"%s\" (first: \"%s\")", bad, r, ck_val[k], first)
				else if (ck_op[k] == "absent") why = why sprintf("; %s %s: present in %d of %d (first: \"%s\")", ck_kind[k], ck_name[k], bad, r, first)
				else why = why sprintf("; %s %s: %d of %d not %s\"%s\" (first: \"%s\")", ck_kind[k], ck_name[k], bad, r, ck_op[k] == "~" ? "matching " : "", ck_val[k], first)
			}
		}
		detail = sprintf("%d responses: status %s; answered by %s%s", r, hist(status), hist(answered), shares)
		if (why != "") print "fail " substr(why, 3) " [" detail "]"
		else print "pass " detail
	}' "$OUT"
}

# run_row I: sends the row's requests and reports the verdict.
run_row() {
	local i=$1 from args=() h t0 ms rc verdict detail bound timeout_ms case_id='' tenths s
	from=${ROW_FROM[$i]}
	parse_url "${ROW_URL[$i]}"
	parse_expect "${ROW_EXPECT[$i]}" "$U_SVC" >/dev/null
	timeout_ms=$TIMEOUT_MS
	[ "$E_TOOK" -gt 0 ] && timeout_ms=$((E_TOOK + 3000))
	args=(--connect "$U_VIP:$U_PORT" --host "$U_HOST" --path "$U_PATH" --method "${ROW_METHOD[$i]}"
		-n "$E_N" --timeout-ms "$timeout_ms")
	case ${ROW_METHOD[$i]} in POST | PUT | PATCH) args+=(--body-size 64) ;; esac
	if [ "${ROW_HDRS[$i]}" != - ]; then
		split_list "${ROW_HDRS[$i]}"
		for h in "${SPLIT[@]}"; do
			args+=(--header "${h%%=*}: ${h#*=}")
		done
	fi
	if [ ${#E_HDRS[@]} -gt 0 ] || [ ${#E_UHDRS[@]} -gt 0 ] || [ ${#E_NO_HDRS[@]} -gt 0 ] ||
		[ ${#E_NO_UHDRS[@]} -gt 0 ] || [ -n "$E_UPATH" ]; then
		args+=(--show-headers)
	fi
	[ -n "$E_NEW_CONN" ] && args+=(--new-conn)
	if [ ${#E_BODY[@]} -gt 0 ]; then
		args+=(--show-body)
	fi
	if [ -n "$E_MIRRORED" ]; then
		case_id=row-${ROW_LINE[$i]}-$RANDOM
		args+=(--header "x-shunt-case: $case_id")
	fi
	# the client bounds every wait; this bounds the row even if it does not
	bound=$((2 * timeout_ms / 1000 + E_N / 200 + 5))
	OUT=$TMP/row.${ROW_LINE[$i]}.out
	ERR=$TMP/row.${ROW_LINE[$i]}.err
	t0=$(now_ms)
	pod_exec "$from" timeout -k 1 "$bound" "$BUILD/shunt-client" "${args[@]}" >"$OUT" 2>"$ERR" </dev/null
	rc=$?
	ms=$(($(now_ms) - t0))
	read -r verdict detail < <(evaluate "$U_SVC")
	if [ "$rc" -ne 0 ]; then
		verdict=fail
		detail="shunt-client exit $rc: $(head -c 300 "$ERR" | tr '\n' ' ')[$detail]"
	fi
	if [ "$E_TOOK" -gt 0 ]; then
		if [ "$ms" -lt "$E_TOOK" ]; then
			verdict=fail
			detail="took $ms ms, want >= $E_TOOK; $detail"
		else
			detail="took $ms ms; $detail"
		fi
	fi
	if [ -n "$E_MIRRORED" ]; then
		# mirrors are sent on the side: give them up to 2 s to arrive
		for ((tenths = 20; tenths > 0; tenths--)); do
			[ "$(mirror_count "$E_MIRRORED" "$case_id")" -ge "$E_N" ] && break
			sleep 0.1
		done
		s=$(mirror_count "$E_MIRRORED" "$case_id")
		if [ "${s:-0}" -lt "$E_N" ]; then
			verdict=fail
			detail="$E_MIRRORED saw ${s:-0} of $E_N mirrored requests; $detail"
		else
			detail="$E_MIRRORED saw $s mirrored requests; $detail"
		fi
	fi
	for s in "${E_LOG[@]}"; do
		# the message, not the file names in it (sets/x/destination-rule-all-mtls.yaml)
		if sed -E 's#/[^[:space:]:]+##g' "$AGENT_LOG" | grep -qiF -- "$s"; then
			detail="the agent log mentions \"$s\"; $detail"
		else
			verdict=fail
			detail="the agent log does not mention \"$s\"; $detail"
		fi
	done
	report "$i" "$verdict" "$detail ($ms ms)"
	if [ "$verdict" != pass ] && [ -z "${ROW_TODO[$i]}" ]; then
		echo "#   shunt-client ${args[*]} (from $from):"
		head -n 12 "$OUT" | show
		show "$ERR"
	fi
}

# run_set SET: the agent on SET's config, its rows, the agent stopped.
run_set() {
	local set=$1 i
	SET_FAILED=0
	echo "# set $set: $(cd "$ROUTING/sets/$set" && printf '%s ' *)"
	if ! start_agent "$set"; then
		for i in "${!ROW_LINE[@]}"; do
			[ "${ROW_SET[$i]}" = "$set" ] && report "$i" fail "shuntd did not become ready on sets/$set"
		done
		SET_FAILED=1
	else
		for i in "${!ROW_LINE[@]}"; do
			[ "${ROW_SET[$i]}" = "$set" ] && run_row "$i"
		done
	fi
	stop_agent
	if [ "$AGENT_RC" -ne 0 ]; then
		failed=$((failed + 1))
		SET_FAILED=1
		echo "not ok - set $set: shuntd exits 0 on SIGTERM (exit $AGENT_RC)"
	fi
	[ "$SET_FAILED" -eq 0 ] || show_agent_log "$set"
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	node_down
	[ -n "$TMP" ] && rm -rf -- "$TMP"
	exit "$rc"
}

# --- may it run, can it run? ---------------------------------------------------

case ${SHUNT_ROUTING_E2E:-} in
1) ;;
0) skip "SHUNT_ROUTING_E2E=0" ;;
*)
	[ -e "$ROUTING/ENABLED" ] ||
		skip "tests/e2e/routing/ENABLED is missing: run with SHUNT_ROUTING_E2E=1"
	;;
esac
ONLY_SETS=${SHUNT_ROUTING_SETS:-}

grep -qw cgroup2 /proc/filesystems || skip "the kernel has no cgroup2 filesystem"
grep -qw bpf /proc/filesystems || skip "the kernel has no bpf filesystem (no CONFIG_BPF_SYSCALL)"
[ -e /sys/kernel/btf/vmlinux ] || skip "the kernel has no BTF (/sys/kernel/btf/vmlinux), CO-RE programs cannot load"
[ "$(id -u)" -eq 0 ] || fatal "must run as root (network namespaces, cgroups, bpf)"
why=$(node_unsupported)
[ -z "$why" ] || fatal "cannot build a node: $why"
for type in cgroup_sock_addr sock_ops; do
	if timeout 30 bpftool feature probe kernel 2>/dev/null |
		grep -q "program_type $type is NOT available"; then
		skip "the kernel cannot run $type programs (CONFIG_CGROUP_BPF?)"
	fi
done
for f in shuntd shunt-echo shunt-client; do
	[ -x "$BUILD/$f" ] || fatal "$BUILD/$f is missing: run make first"
done
BUILD=$(cd "$BUILD" && pwd)
"$BUILD/shunt-client" --help | grep -q -- --show-headers ||
	fatal "$BUILD/shunt-client has no --header/--show-headers: run make first"

read_cluster
read_table
echo "# ${#ROW_LINE[@]} rows in ${#SETS[@]} config sets, from $TABLE"

TMP=$(mktemp -d /tmp/shunt-routing.XXXXXX) || fatal "mktemp"
trap finish EXIT
trap 'echo "# interrupted"; exit 130' INT
trap 'echo "# terminated"; exit 143' TERM

specs=()
for p in "${PODS[@]}"; do
	specs+=("$p=${POD_IP[$p]}")
done
node_declare_pods "${specs[@]}" || fatal "node_declare_pods refused the pods of $CLUSTER"
node_up || fatal "node_up failed"
echo "# node $NODE_ID: cgroup $NODE_CG, netns shunt-$NODE_ID-*, pins $NODE_PIN"
specs=()
for p in "${PODS[@]}"; do
	specs+=("$p:${POD_PORT[$p]}:${POD_VERSION[$p]}")
done
node_start_echos "$BUILD/shunt-echo" "$TMP" "${specs[@]}" -- --log-requests ||
	fatal "the backends did not start"

t0=$(now_ms)
for set in "${SETS[@]}"; do
	run_set "$set"
done
echo "# rows took $((($(now_ms) - t0) / 1000)) s"

node_down
if node_leftovers >"$TMP/left"; then
	passed=$((passed + 1))
	echo "ok - after teardown nothing of node $NODE_ID is left (netns, interfaces, routes, cgroups, pins)"
else
	failed=$((failed + 1))
	echo "not ok - after teardown nothing of node $NODE_ID is left"
	show "$TMP/left"
fi

echo "# $passed passed, $failed failed, $todo todo"
[ "$failed" -eq 0 ]
