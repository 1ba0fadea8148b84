// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* shuntd's command line. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "addr.h"
#include "gateway.h"
#include "log.h"
#include "podns.h"
#include "shuntd.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shuntd --config DIR|--kubernetes|--kubeconfig PATH --cgroup DIR\n"
		"              --listen IP:PORT [options]\n"
		"\n"
		"  --config DIR       read Kubernetes and Istio YAML from DIR (*.yaml, *.yml)\n"
		"  --kubernetes       list and watch them in the Kubernetes API instead, as the\n"
		"                     pod's service account (docs/kubernetes.md)\n"
		"  --kubeconfig PATH  the same, out of a cluster: the API and credentials of\n"
		"                     PATH's current context (implies --kubernetes)\n"
		"  --node-name NAME   this node's name (default: $NODE_NAME), for the log\n"
		"  --cgroup DIR       cgroup v2 directory whose processes are captured\n"
		"                     (absolute, or relative to the cgroup2 mount)\n"
		"  --listen IP:PORT   where captured connections are sent (a concrete address\n"
		"                     the pods can reach)\n"
		"  --listen6 [IP6]:PORT  where native IPv6 connections to L7 services are sent;\n"
		"                     without it they are balanced in the kernel\n"
		"  --gateway-labels K=V[,K=V]  this agent's labels: it serves the Gateways whose\n"
		"                     selector they match (e.g. istio=ingressgateway)\n"
		"  --gateway-address IP  where those Gateways' ports listen (default: --listen's)\n"
		"  --dns-listen IP:PORT|none  the resolver mesh pods' DNS queries go to\n"
		"                     (default: --listen's address, port 15053)\n"
		"  --dns-upstream IP:PORT|none  where names outside the registry are asked,\n"
		"                     and DNS ServiceEntries' names resolved (default: the\n"
		"                     first nameserver of /etc/resolv.conf)\n"
		"  --admin IP:PORT    admin API (default 127.0.0.1:15000)\n"
		"  --pin-dir DIR      bpffs directory for the pinned maps (default "
		"/sys/fs/bpf/shunt)\n"
		"  --netns-dir DIR    where the pods' network namespaces are, to tell mesh pods\n"
		"                     from the others (default " PODNS_DIR_DEFAULT ")\n"
		"  --outbound-traffic-policy ALLOW_ANY|REGISTRY_ONLY\n"
		"                     the mesh's default, as Istio's meshConfig\n"
		"                     outboundTrafficPolicy.mode (default ALLOW_ANY); a pod's\n"
		"                     Sidecar overrides it\n"
		"  --workers N        proxy threads (default 1)\n"
		"  --max-connections N  client connections per worker; over it a connection\n"
		"                     gets a 503 (flag OM) and is closed (default: what the fd\n"
		"                     limit allows, at most %u)\n"
		"  --max-requests N   requests in flight upstream per worker, over it a 503\n"
		"                     (flag OM); 0: no limit (default)\n"
		"  --fast-path on|off redirect pod<->agent data between sockets on this node\n"
		"                     with sk_msg, skipping TCP/IP (default %s where the\n"
		"                     kernel has what it needs, else off)\n"
		"  --mark N           SO_MARK of the agent's own sockets (default 0x%x)\n"
		"  --unpin-on-exit    remove the pinned maps when exiting\n"
		"  --max-services N   max_entries of %s: service ports (default %d)\n"
		"  --max-backends N   max_entries of %s: backend slots, all services (default %d)\n"
		"  --max-pairs N      max_entries of %s: not yet accepted (default %d)\n"
		"                     (a pinned map of another size is recreated at start-up)\n"
		"  --log-level LEVEL  error, warn, info (default) or debug\n"
		"  --access-log PATH|-|off  one line per request (Istio's format) to a file,\n"
		"                     standard output (-) or nowhere (off, the default)\n"
		"  --check-kernel     probe this kernel for every feature shunt needs, print one\n"
		"                     line per feature and exit 0 (all there) or 1\n",
		(unsigned)MAX_CONNECTIONS_DEFAULT, FAST_PATH_DEFAULT ? "on" : "off",
		SHUNT_DEFAULT_MARK, SHUNT_MAP_SVC4, SHUNT_SVC4_MAX, SHUNT_MAP_BE4, SHUNT_BE4_MAX,
		SHUNT_MAP_PAIR4, SHUNT_PAIR4_MAX);
}

int shuntd_parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"kubernetes", no_argument, NULL, 'k'},
		{"kubeconfig", required_argument, NULL, 'C'},
		{"node-name", required_argument, NULL, 'N'},
		{"cgroup", required_argument, NULL, 'g'},
		{"listen", required_argument, NULL, 'l'},
		{"listen6", required_argument, NULL, '6'},
		{"gateway-labels", required_argument, NULL, 'G'},
		{"dns-listen", required_argument, NULL, 'D'},
		{"dns-upstream", required_argument, NULL, 'U'},
		{"gateway-address", required_argument, NULL, 'A'},
		{"admin", required_argument, NULL, 'a'},
		{"pin-dir", required_argument, NULL, 'p'},
		{"netns-dir", required_argument, NULL, 'n'},
		{"outbound-traffic-policy", required_argument, NULL, 'o'},
		{"workers", required_argument, NULL, 'w'},
		{"max-connections", required_argument, NULL, 'X'},
		{"max-requests", required_argument, NULL, 'R'},
		{"fast-path", required_argument, NULL, 'f'},
		{"mark", required_argument, NULL, 'm'},
		{"unpin-on-exit", no_argument, NULL, 'u'},
		{"max-services", required_argument, NULL, 'S'},
		{"max-backends", required_argument, NULL, 'B'},
		{"max-pairs", required_argument, NULL, 'P'},
		{"log-level", required_argument, NULL, 'v'},
		{"access-log", required_argument, NULL, 'L'},
		{"check-kernel", no_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	bool have_listen = false;
	unsigned long v;
	char *end;
	int c;

	o->pin_dir = "/sys/fs/bpf/shunt";
	o->netns_dir = PODNS_DIR_DEFAULT;
	o->outbound = OUTBOUND_ALLOW_ANY; /* Istio's meshConfig default */
	o->workers = 1;
	o->kern.fast_path = FAST_PATH_DEFAULT;
	o->mark = SHUNT_DEFAULT_MARK;
	addr_parse_ipv4_port("127.0.0.1:15000", &o->admin);

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_dir = optarg;
			break;
		case 'C':
			o->kubeconfig = optarg;
			/* fall through */
		case 'k':
			o->kubernetes = true;
			break;
		case 'N':
			o->node_name = optarg;
			break;
		case 'g':
			o->cgroup = optarg;
			break;
		case 'l':
			if (addr_parse_ipv4_port(optarg, &o->listen) ||
			    !o->listen.sin_addr.s_addr) {
				fprintf(stderr,
					"shuntd: --listen %s: expected a concrete IPv4:PORT "
					"(the kernel rewrites connections to it)\n",
					optarg);
				return -EINVAL;
			}
			if ((ntohl(o->listen.sin_addr.s_addr) >> 24) == 127)
				fprintf(stderr,
					"shuntd: warning: --listen %s is a loopback address: pods "
					"in "
					"their own network namespace cannot reach it\n",
					optarg);
			have_listen = true;
			break;
		case 'D':
		case 'U': {
			struct sockaddr_in *dst = c == 'D' ? &o->dns : &o->dns_upstream;

			*(c == 'D' ? &o->dns_given : &o->dns_upstream_given) = true;
			memset(dst, 0, sizeof(*dst));
			if (strcmp(optarg, "none") && addr_parse_ipv4_port(optarg, dst)) {
				fprintf(stderr, "shuntd: --%s %s: expected IPv4:PORT or none\n",
					c == 'D' ? "dns-listen" : "dns-upstream", optarg);
				return -EINVAL;
			}
			break;
		}
		case 'G':
			gateway_labels_release(&o->gw_labels);
			if (gateway_labels_parse(optarg, &o->gw_labels)) {
				fprintf(stderr,
					"shuntd: --gateway-labels %s: expected K=V[,K=V]...\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'A':
			if (inet_pton(AF_INET, optarg, &o->gw_address) != 1) {
				fprintf(stderr,
					"shuntd: --gateway-address %s: expected an IPv4 "
					"address\n",
					optarg);
				return -EINVAL;
			}
			break;
		case '6':
			if (addr_parse_ipv6_port(optarg, &o->listen6) ||
			    IN6_IS_ADDR_UNSPECIFIED(&o->listen6.sin6_addr) ||
			    IN6_IS_ADDR_V4MAPPED(&o->listen6.sin6_addr)) {
				fprintf(stderr,
					"shuntd: --listen6 %s: expected a concrete [IPv6]:PORT "
					"(the kernel rewrites connections to it)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'a':
			if (addr_parse_ipv4_port(optarg, &o->admin)) {
				fprintf(stderr, "shuntd: --admin %s: expected IPv4:PORT\n", optarg);
				return -EINVAL;
			}
			break;
		case 'p':
			o->pin_dir = optarg;
			break;
		case 'n':
			o->netns_dir = optarg;
			break;
		case 'o':
			if (!strcmp(optarg, "ALLOW_ANY")) {
				o->outbound = OUTBOUND_ALLOW_ANY;
			} else if (!strcmp(optarg, "REGISTRY_ONLY")) {
				o->outbound = OUTBOUND_REGISTRY_ONLY;
			} else {
				fprintf(stderr,
					"shuntd: --outbound-traffic-policy %s: ALLOW_ANY or "
					"REGISTRY_ONLY\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'w':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 1 || v > WORKERS_MAX) {
				fprintf(stderr, "shuntd: --workers %s: expected 1..%d\n", optarg,
					WORKERS_MAX);
				return -EINVAL;
			}
			o->workers = (unsigned)v;
			break;
		case 'X':
		case 'R':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || (c == 'X' && !v) || v > LIMIT_MAX) {
				fprintf(stderr, "shuntd: --max-%s %s: expected %u..%u\n",
					c == 'X' ? "connections" : "requests", optarg,
					(unsigned)(c == 'X'), (unsigned)LIMIT_MAX);
				return -EINVAL;
			}
			*(c == 'X' ? &o->max_connections : &o->max_requests) = (uint32_t)v;
			break;
		case 'f':
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "shuntd: --fast-path %s: on or off\n", optarg);
				return -EINVAL;
			}
			o->kern.fast_path = !strcmp(optarg, "on");
			o->fast_path_given = true;
			break;
		case 'm':
			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || !v || v > UINT32_MAX) {
				fprintf(stderr,
					"shuntd: --mark %s: expected a non-zero 32-bit value\n",
					optarg);
				return -EINVAL;
			}
			o->mark = (uint32_t)v;
			break;
		case 'u':
			o->unpin_on_exit = true;
			break;
		case 'S':
		case 'B':
		case 'P': {
			enum kern_sized_map m = c == 'S'   ? KERN_MAP_SVC4
						: c == 'B' ? KERN_MAP_BE4
							   : KERN_MAP_PAIR4;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !v || v > MAP_ENTRIES_MAX) {
				fprintf(stderr, "shuntd: %s %s: expected 1..%u\n",
					kern_sized_flag(m), optarg, MAP_ENTRIES_MAX);
				return -EINVAL;
			}
			o->kern.max_entries[m] = (__u32)v;
			break;
		}
		case 'v':
			if (log_set_level_str(optarg)) {
				fprintf(stderr,
					"shuntd: --log-level %s: expected error, warn, info or "
					"debug\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'K':
			o->check_kernel = true;
			break;
		case 'L':
			o->access_log = strcmp(optarg, "off") ? optarg : NULL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!o->node_name && getenv("NODE_NAME") && *getenv("NODE_NAME"))
		o->node_name = getenv("NODE_NAME");
	if (o->config_dir && o->kubernetes) {
		fprintf(stderr, "shuntd: --config and --kubernetes (or --kubeconfig) exclude each "
				"other: the config comes from one source\n");
		return -EINVAL;
	}
	if (optind < argc || (!o->check_kernel &&
			      ((!o->config_dir && !o->kubernetes) || !o->cgroup || !have_listen))) {
		fprintf(stderr, "shuntd: --config (or --kubernetes), --cgroup and --listen are "
				"required\n");
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* File descriptors kept back from the connection budget: maps, links, listeners, the admin
 * API, the resolver, inotify, pods' namespace scans, the access log. */
#define FD_RESERVE 256

void shuntd_fd_limits(struct options *o)
{
	struct rlimit rl;
	uint64_t budget;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		rl.rlim_cur = rl.rlim_max = 1024;
	}
	/* Like Envoy and HAProxy: take the hard limit, which systemd and containerd set high
	 * (select() is never used, so FD_SETSIZE does not matter). */
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};

		if (!setrlimit(RLIMIT_NOFILE, &want))
			rl.rlim_cur = rl.rlim_max;
		else
			log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s",
				 (unsigned long long)rl.rlim_max, strerror(errno));
	}
	/* Each client connection may hold an upstream one (pooled ones come on top, bounded
	 * by the pool): half of what is left, shared by the workers. */
	budget = rl.rlim_cur > FD_RESERVE + 2 * 64 ? (rl.rlim_cur - FD_RESERVE) / 2 : 64;
	budget /= o->workers ? o->workers : 1;
	if (!o->max_connections)
		o->max_connections =
			(uint32_t)(budget < MAX_CONNECTIONS_DEFAULT ? budget
								    : MAX_CONNECTIONS_DEFAULT);
	else if (o->max_connections > budget)
		log_warn("--max-connections %u per worker: the fd limit (%llu, %u workers) runs "
			 "out first, accept() will pause instead of answering 503",
			 o->max_connections, (unsigned long long)rl.rlim_cur, o->workers);
	log_info("limits per worker: %u connections, %u requests in flight (0: no limit); fd "
		 "limit %llu",
		 o->max_connections, o->max_requests, (unsigned long long)rl.rlim_cur);
}
