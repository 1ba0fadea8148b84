// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntctl: the operator's view of a node. Reads the pinned maps directly,
 * so it works whether or not shuntd is running.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "kern.h"
#include "shunt_maps.h"

static const char *pin_dir = "/sys/fs/bpf/shunt";

static void usage(FILE *f)
{
	fprintf(f, "usage: shuntctl [--pin-dir DIR] COMMAND\n"
		   "\n"
		   "commands:\n"
		   "  stats      kernel-path counters (name value)\n"
		   "  services   the service VIPs the kernel captures (shunt_svc4)\n"
		   "  pairs      captured connections not yet taken by the agent (shunt_pair4)\n"
		   "  config     where captured connections are sent (shunt_cfg)\n");
}

static int open_pinned(const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr,
			"shuntctl: cannot open %s: %s (is shuntd running with --pin-dir %s?)\n",
			path, strerror(errno), pin_dir);
	return fd;
}

static const char *ip_str(__be32 ip, char *buf)
{
	return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

static int cmd_stats(void)
{
	uint64_t v[SHUNT_STAT_MAX];
	int fd, err;

	fd = open_pinned(SHUNT_MAP_STATS);
	if (fd < 0)
		return 1;
	err = kern_read_stats(fd, v);
	close(fd);
	if (err) {
		fprintf(stderr, "shuntctl: reading %s: %s\n", SHUNT_MAP_STATS, strerror(-err));
		return 1;
	}
	for (int i = 0; i < SHUNT_STAT_MAX; i++)
		printf("%s %llu\n", kern_stat_name(i), (unsigned long long)v[i]);
	return 0;
}

static int cmd_services(void)
{
	struct svc4_key key, *prev = NULL;
	struct svc4_val val;
	char ip[INET_ADDRSTRLEN];
	int fd, n = 0;

	fd = open_pinned(SHUNT_MAP_SVC4);
	if (fd < 0)
		return 1;
	printf("%-22s %-6s %-8s %-8s %s\n", "VIP:PORT", "PROTO", "SVC_ID", "BACKENDS", "PATH");
	while (n < SHUNT_SVC4_MAX && !bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* deleted while we walked */
		char vip[32];

		snprintf(vip, sizeof(vip), "%s:%u", ip_str(key.vip, ip), ntohs(key.port));
		printf("%-22s %-6s %-8u %-8u %s\n", vip, key.proto == 6 ? "tcp" : "?", val.svc_id,
		       val.n_slots,
		       val.flags & SVC4_F_L7 ? "l7 (agent; kernel while it is down)"
					     : "l4 (kernel)");
		n++;
	}
	close(fd);
	printf("%d service port(s)\n", n);
	return 0;
}

static int cmd_pairs(void)
{
	struct pair4_key key, *prev = NULL;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];
	struct orig4 val;
	int fd, n = 0;

	fd = open_pinned(SHUNT_MAP_PAIR4);
	if (fd < 0)
		return 1;
	while (n < SHUNT_PAIR4_MAX && !bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue;
		printf("%s:%u -> %s:%u (was %s:%u)\n", ip_str(key.client_ip, a),
		       ntohs(key.client_port), ip_str(key.server_ip, b), ntohs(key.server_port),
		       ip_str(val.ip, c), ntohs(val.port));
		n++;
	}
	close(fd);
	printf("%d pending connection(s)\n", n);
	return 0;
}

static int cmd_config(void)
{
	struct shunt_cfg cfg;
	char ip[INET_ADDRSTRLEN];
	__u32 key = 0;
	int fd, err;

	fd = open_pinned(SHUNT_MAP_CFG);
	if (fd < 0)
		return 1;
	err = bpf_map_lookup_elem(fd, &key, &cfg);
	close(fd);
	if (err) {
		fprintf(stderr, "shuntctl: reading %s: %s\n", SHUNT_MAP_CFG, strerror(errno));
		return 1;
	}
	if (!cfg.listen_ip)
		printf("listener: none (no agent: every service is balanced in the kernel)\n");
	else
		printf("listener: %s:%u\n", ip_str(cfg.listen_ip, ip), ntohs(cfg.listen_port));
	printf("skip_mark: 0x%x\n", cfg.skip_mark);
	if (!cfg.heartbeat_ns)
		printf("heartbeat: none (agent down or gone: fail open)\n");
	else {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		printf("heartbeat: %llu ms ago (alive while under %llu ms)\n",
		       (unsigned long long)((now - cfg.heartbeat_ns) / 1000000),
		       (unsigned long long)(cfg.alive_ns / 1000000));
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"pin-dir", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pin_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "stats"))
		return cmd_stats();
	if (!strcmp(argv[optind], "services"))
		return cmd_services();
	if (!strcmp(argv[optind], "pairs"))
		return cmd_pairs();
	if (!strcmp(argv[optind], "config"))
		return cmd_config();
	fprintf(stderr, "shuntctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
