// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntctl: the operator's view of a node. Reads the pinned maps directly,
 * so it works whether or not shuntd is running.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kern.h"
#include "shunt_maps.h"

static const char *pin_dir = "/sys/fs/bpf/shunt";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shuntctl [--pin-dir DIR] COMMAND\n"
		"\n"
		"commands:\n"
		"  stats      kernel-path counters (name value)\n"
		"  services   the service VIPs the kernel captures (shunt_svc4)\n"
		"  pairs      captured connections not yet taken by the agent (shunt_pair4)\n"
		"  config     where captured connections are sent (shunt_cfg)\n"
		"  maps       every pinned map: its fill level and its content, decoded\n"
		"\n"
		"maps prints, for each map, a fill line starting in column 0:\n"
		"  NAME  TYPE  ENTRIES/MAX  PCT%%      (socket storage: -/-  -)\n"
		"then its content, one record per line, indented, first word its kind:\n"
		"  svc VIP:PORT L7|L4 n_slots=N svc_id=N   (%s; L7: agent while alive)\n"
		"  be VIP:PORT BACKEND:PORT xSLOTS        (its slots in %s, by backend)\n"
		"  slots N referenced=N stale=N            (%s)\n"
		"  pair CLIENT:PORT -> AGENT:PORT orig=VIP:PORT svc_id=N   (%s)\n"
		"  cfg listener=IP:PORT|none mark=0xN heartbeat_age_ms=N|none alive_ms=N "
		"agent=alive|down\n"
		"  stat NAME VALUE                         (%s, summed over CPUs)\n"
		"  note TEXT\n"
		"Records are sorted; hash maps are walked, arrays always count as full.\n",
		SHUNT_MAP_SVC4, SHUNT_MAP_BE4, SHUNT_MAP_BE4, SHUNT_MAP_PAIR4, SHUNT_MAP_STATS);
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

/*
 * shuntctl maps. Every map of the pin dir gets one fill line,
 * "NAME  TYPE  ENTRIES/MAX  PCT%" (starting in column 0 with the map's name),
 * followed by its content decoded, one record per line, indented by two
 * spaces and starting with the record's kind (svc, be, slots, pair, note, cfg,
 * stat). Records are sorted, so two runs over the same maps print the same.
 */

/* A pinned map and what the kernel says about it. */
struct pinned {
	const char *name;
	int fd;
	struct bpf_map_info info;
};

static int pinned_open(const char *name, struct pinned *m)
{
	__u32 len = sizeof(m->info);

	m->name = name;
	m->fd = open_pinned(name);
	if (m->fd < 0)
		return -1;
	memset(&m->info, 0, sizeof(m->info));
	if (bpf_obj_get_info_by_fd(m->fd, &m->info, &len)) {
		fprintf(stderr, "shuntctl: %s: cannot read its info: %s\n", name, strerror(errno));
		close(m->fd);
		return -1;
	}
	return 0;
}

/*
 * How many entries @m holds: arrays hold all of theirs; hash maps are walked;
 * socket storage cannot be listed (-1).
 */
static long map_entries(const struct pinned *m)
{
	char *key, *next;
	long n = 0;

	if (m->info.type == BPF_MAP_TYPE_ARRAY || m->info.type == BPF_MAP_TYPE_PERCPU_ARRAY)
		return m->info.max_entries;
	if (m->info.type == BPF_MAP_TYPE_SK_STORAGE || !m->info.key_size)
		return -1;
	key = calloc(2, m->info.key_size);
	if (!key)
		return -1;
	next = key + m->info.key_size;
	/* A key deleted under the walk restarts it: never count past max_entries. */
	while (n < (long)m->info.max_entries &&
	       !bpf_map_get_next_key(m->fd, n ? key : NULL, next)) {
		memcpy(key, next, m->info.key_size);
		n++;
	}
	free(key);
	return n;
}

/* The fill line of @m, which holds @entries (-1: cannot be counted). */
static void fill_line(const struct pinned *m, long entries)
{
	const char *type = libbpf_bpf_map_type_str(m->info.type);
	char frac[32];

	if (entries < 0 || !m->info.max_entries) {
		printf("%-15s  %-12s  %-13s  -\n", m->name, type ? type : "unknown", "-/-");
		return;
	}
	snprintf(frac, sizeof(frac), "%ld/%u", entries, m->info.max_entries);
	printf("%-15s  %-12s  %-13s  %.1f%%\n", m->name, type ? type : "unknown", frac,
	       100.0 * (double)entries / m->info.max_entries);
}

static const char *ipport_str(__be32 ip, __be16 port, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u", ip_str(ip, a), ntohs(port));
	return buf;
}

struct svc_entry {
	struct svc4_key key;
	struct svc4_val val;
};

static int svc_cmp(const void *a, const void *b)
{
	const struct svc4_key *x = &((const struct svc_entry *)a)->key;
	const struct svc4_key *y = &((const struct svc_entry *)b)->key;

	if (x->vip != y->vip)
		return ntohl(x->vip) < ntohl(y->vip) ? -1 : 1;
	if (x->port != y->port)
		return ntohs(x->port) < ntohs(y->port) ? -1 : 1;
	return (int)x->proto - (int)y->proto;
}

/* Every entry of shunt_svc4_v2, sorted by VIP and port, in *@out; the count, or -1. */
static long svc_collect(const struct pinned *m, struct svc_entry **out)
{
	struct svc4_key key, *prev = NULL;
	struct svc_entry *e;
	long n = 0;

	e = calloc(m->info.max_entries ? m->info.max_entries : 1, sizeof(*e));
	if (!e)
		return -1;
	while (n < (long)m->info.max_entries && !bpf_map_get_next_key(m->fd, prev, &key)) {
		e[n].key = key;
		prev = &e[n].key;
		if (!bpf_map_lookup_elem(m->fd, &key, &e[n].val))
			n++; /* else deleted while we walked */
	}
	qsort(e, (size_t)n, sizeof(*e), svc_cmp);
	*out = e;
	return n;
}

struct be_group {
	struct be4_val be;
	uint32_t slots;
};

/*
 * The "be" lines of service @e: its slots in shunt_be4 (@be_fd) grouped by
 * backend, in slot order. Returns how many of its slots exist.
 */
static uint32_t print_backends(int be_fd, const struct svc_entry *e, const char *vip)
{
	struct be_group *g = calloc(e->val.n_slots ? e->val.n_slots : 1, sizeof(*g));
	uint32_t n_groups = 0, found = 0;
	char buf[32];

	if (!g)
		return 0;
	for (uint32_t s = 0; s < e->val.n_slots; s++) {
		struct be4_key key = {.svc_id = e->val.svc_id, .slot = s};
		struct be4_val val;
		uint32_t i;

		if (bpf_map_lookup_elem(be_fd, &key, &val))
			continue;
		found++;
		/* Weighted slots are written backend by backend: look at the last group first. */
		for (i = n_groups; i > 0; i--)
			if (g[i - 1].be.ip == val.ip && g[i - 1].be.port == val.port)
				break;
		if (i > 0)
			g[i - 1].slots++;
		else
			g[n_groups++] = (struct be_group){.be = val, .slots = 1};
	}
	for (uint32_t i = 0; i < n_groups; i++)
		printf("  be %s %s x%u\n", vip,
		       ipport_str(g[i].be.ip, g[i].be.port, buf, sizeof(buf)), g[i].slots);
	if (found < e->val.n_slots)
		printf("  be %s missing x%u\n", vip, e->val.n_slots - found);
	free(g);
	return found;
}

/* shunt_svc4_v2 and shunt_be4: the services, each with its backends, then the slot count. */
static int maps_services(void)
{
	struct pinned svc, be;
	struct svc_entry *e = NULL;
	long n, n_be, used = 0;
	char vip[32];

	if (pinned_open(SHUNT_MAP_SVC4, &svc))
		return 1;
	if (pinned_open(SHUNT_MAP_BE4, &be)) {
		close(svc.fd);
		return 1;
	}
	n = svc_collect(&svc, &e);
	fill_line(&svc, n);
	for (long i = 0; i < n; i++) {
		ipport_str(e[i].key.vip, e[i].key.port, vip, sizeof(vip));
		printf("  svc %s %s n_slots=%u svc_id=%u\n", vip,
		       e[i].val.flags & SVC4_F_L7 ? "L7" : "L4", e[i].val.n_slots, e[i].val.svc_id);
		used += print_backends(be.fd, &e[i], vip);
	}
	n_be = map_entries(&be);
	fill_line(&be, n_be);
	printf("  slots %ld referenced=%ld stale=%ld\n", n_be, used, n_be - used);
	free(e);
	close(svc.fd);
	close(be.fd);
	return n < 0 || n_be < 0;
}

static void ip6port_str(const __be32 ip[4], __be16 port, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, ip, a, sizeof(a));
	snprintf(buf, len, "[%s]:%u", a, ntohs(port));
}

/* shunt_svc6 and shunt_be6: one "svc6" line per IPv6 VIP:port (walk order), its "be6" slots. */
static int maps_services6(void)
{
	struct pinned svc, be;
	struct svc6_key key, *prev = NULL;
	struct svc4_val val;
	char vip[64], ep[64];
	long n = 0, n_be;

	if (pinned_open(SHUNT_MAP_SVC6, &svc))
		return 1;
	if (pinned_open(SHUNT_MAP_BE6, &be)) {
		close(svc.fd);
		return 1;
	}
	fill_line(&svc, map_entries(&svc));
	while (n < (long)svc.info.max_entries && !bpf_map_get_next_key(svc.fd, prev, &key)) {
		static struct svc6_key cur;

		cur = key;
		prev = &cur;
		if (bpf_map_lookup_elem(svc.fd, &key, &val))
			continue;
		n++;
		ip6port_str(key.vip, key.port, vip, sizeof(vip));
		printf("  svc6 %s %s n_slots=%u svc_id=%u\n", vip,
		       val.flags & SVC4_F_L7 ? "L7" : "L4", val.n_slots, val.svc_id);
		for (uint32_t sl = 0; sl < val.n_slots && sl < SHUNT_SLOTS_MAX; sl++) {
			struct be4_key bk = {.svc_id = val.svc_id, .slot = sl};
			struct be6_val bv;

			if (bpf_map_lookup_elem(be.fd, &bk, &bv)) {
				printf("  be6 %s slot=%u missing\n", vip, sl);
				continue;
			}
			ip6port_str(bv.ip, bv.port, ep, sizeof(ep));
			printf("  be6 %s slot=%u %s\n", vip, sl, ep);
		}
	}
	n_be = map_entries(&be);
	fill_line(&be, n_be);
	close(svc.fd);
	close(be.fd);
	return n_be < 0;
}

struct pair_entry {
	struct pair4_key key;
	struct orig4 val;
};

static int pair_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct pair_entry *)a)->key, &((const struct pair_entry *)b)->key,
		      sizeof(struct pair4_key));
}

/* shunt_pair4 (the connections the agent has yet to accept) and shunt_orig4. */
static int maps_pairs(void)
{
	char a[32], b[32], c[32];
	struct pair4_key key, *prev = NULL;
	struct pair_entry *e;
	struct pinned m;
	long n = 0;

	if (pinned_open(SHUNT_MAP_PAIR4, &m))
		return 1;
	e = calloc(m.info.max_entries ? m.info.max_entries : 1, sizeof(*e));
	if (!e) {
		close(m.fd);
		return 1;
	}
	while (n < (long)m.info.max_entries && !bpf_map_get_next_key(m.fd, prev, &key)) {
		e[n].key = key;
		prev = &e[n].key;
		if (!bpf_map_lookup_elem(m.fd, &key, &e[n].val))
			n++;
	}
	qsort(e, (size_t)n, sizeof(*e), pair_cmp);
	fill_line(&m, n);
	for (long i = 0; i < n; i++)
		printf("  pair %s -> %s orig=%s svc_id=%u%s\n",
		       ipport_str(e[i].key.client_ip, e[i].key.client_port, a, sizeof(a)),
		       ipport_str(e[i].key.server_ip, e[i].key.server_port, b, sizeof(b)),
		       ipport_str(e[i].val.ip, e[i].val.port, c, sizeof(c)), e[i].val.svc_id,
		       e[i].val.flags & ORIG4_F_DIRECT ? " direct" : "");
	free(e);
	close(m.fd);

	if (pinned_open(SHUNT_MAP_ORIG4, &m))
		return 1;
	fill_line(&m, -1);
	printf("  note socket storage: one entry per captured socket, freed with it; the kernel "
	       "cannot list it (%s holds those not yet accepted by the agent)\n",
	       SHUNT_MAP_PAIR4);
	close(m.fd);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* shunt_cfg_v2, shunt_listeners and shunt_stats_v3. */
static int maps_agent(void)
{
	uint64_t v[SHUNT_STAT_MAX], age;
	struct shunt_cfg cfg;
	char buf[32], hb[24];
	struct pinned m;
	__u32 key = 0;
	int rc = 0;

	if (!pinned_open(SHUNT_MAP_CFG, &m)) {
		fill_line(&m, map_entries(&m));
		if (!bpf_map_lookup_elem(m.fd, &key, &cfg)) {
			age = now_ns() - cfg.heartbeat_ns;
			snprintf(hb, sizeof(hb), "%llu", (unsigned long long)(age / 1000000));
			printf("  cfg listener=%s mark=0x%x heartbeat_age_ms=%s alive_ms=%llu "
			       "agent=%s\n",
			       cfg.listen_ip ? ipport_str(cfg.listen_ip, cfg.listen_port, buf,
							  sizeof(buf))
					     : "none",
			       cfg.skip_mark, cfg.heartbeat_ns ? hb : "none",
			       (unsigned long long)(cfg.alive_ns / 1000000),
			       cfg.listen_ip && cfg.heartbeat_ns && age < cfg.alive_ns ? "alive"
										       : "down");
		}
		close(m.fd);
	} else {
		rc = 1;
	}
	if (!pinned_open(SHUNT_MAP_LSN, &m)) {
		fill_line(&m, map_entries(&m));
		close(m.fd);
	} else {
		rc = 1;
	}
	if (!pinned_open(SHUNT_MAP_STATS, &m)) {
		fill_line(&m, map_entries(&m));
		if (!kern_read_stats(m.fd, v))
			for (int i = 0; i < SHUNT_STAT_MAX; i++)
				printf("  stat %s %llu\n", kern_stat_name(i),
				       (unsigned long long)v[i]);
		close(m.fd);
	} else {
		rc = 1;
	}
	return rc;
}

static const char *const known_maps[] = {
	SHUNT_MAP_SVC4,	 SHUNT_MAP_BE4,	  SHUNT_MAP_PAIR4,  SHUNT_MAP_ORIG4,  SHUNT_MAP_CFG,
	SHUNT_MAP_LSN,	 SHUNT_MAP_STATS, SHUNT_MAP_PODS,   SHUNT_MAP_KNOWN4, SHUNT_MAP_SVC6,
	SHUNT_MAP_BE6,	 SHUNT_MAP_PAIR6, SHUNT_MAP_ORIG6,  SHUNT_MAP_LSN6,   SHUNT_MAP_KNOWN6,
	SHUNT_MAP_PORTS, SHUNT_MAP_SCOPE, SHUNT_MAP_BINDS4, SHUNT_MAP_SOCK4,  SHUNT_MAP_MSGPATH4};

/* shunt_pods: one line per pod network namespace (cookie order, as walked). */
static int maps_pods(void)
{
	__u64 key, prev = 0;
	struct pod_val val;
	struct pinned m;
	bool first = true;
	int n = 0;

	if (pinned_open(SHUNT_MAP_PODS, &m))
		return 1;
	fill_line(&m, map_entries(&m));
	while (n < SHUNT_PODS_MAX && !bpf_map_get_next_key(m.fd, first ? NULL : &prev, &key)) {
		first = false;
		prev = key;
		if (bpf_map_lookup_elem(m.fd, &key, &val))
			continue;
		printf("  pod netns_cookie=%llu mesh=%s outbound=%s", (unsigned long long)key,
		       val.flags & POD_F_MESH ? "yes" : "no",
		       val.flags & POD_F_REGISTRY_ONLY ? "REGISTRY_ONLY" : "ALLOW_ANY");
		if (val.scope_id)
			printf(" egress_scope=%u", val.scope_id);
		for (unsigned i = 0; i < val.n_excl_ports && i < POD_EXCL_PORTS; i++)
			printf(" exclude_port=%u", val.excl_ports[i]);
		for (unsigned i = 0; i < val.n_excl_cidrs && i < POD_EXCL_CIDRS; i++) {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &val.excl_net[i], ip, sizeof(ip));
			printf(" exclude_range=%s/%d", ip,
			       __builtin_popcount(ntohl(val.excl_mask[i])));
		}
		printf("\n");
		n++;
	}
	close(m.fd);
	return 0;
}

/* shunt_known4: the registry's addresses besides VIPs, one line each. */
static int maps_known4(void)
{
	__be32 key, prev = 0;
	struct pinned m;
	bool first = true;
	int n = 0;

	if (pinned_open(SHUNT_MAP_KNOWN4, &m))
		return 1;
	fill_line(&m, map_entries(&m));
	while (n < SHUNT_KNOWN4_MAX && !bpf_map_get_next_key(m.fd, first ? NULL : &prev, &key)) {
		char ip[INET_ADDRSTRLEN];

		first = false;
		prev = key;
		inet_ntop(AF_INET, &key, ip, sizeof(ip));
		printf("  known %s\n", ip);
		n++;
	}
	close(m.fd);
	return 0;
}

/* shunt_ports: the ports captured whatever the address. */
static int maps_ports(void)
{
	struct port_key key, prev;
	struct pinned m;
	bool first = true;
	int n = 0;

	if (pinned_open(SHUNT_MAP_PORTS, &m))
		return 1;
	fill_line(&m, map_entries(&m));
	while (n < SHUNT_PORTS_MAX && !bpf_map_get_next_key(m.fd, first ? NULL : &prev, &key)) {
		first = false;
		prev = key;
		printf("  port %u any address -> agent, by Host header\n", ntohs(key.port));
		n++;
	}
	close(m.fd);
	return 0;
}

/* shunt_scope: per egress scope, how many service ports its pods see. */
static int maps_scope(void)
{
	struct scope_key key, prev;
	struct pinned m;
	bool first = true;
	long n = 0;
	__u32 counts[64] = {0}; /* scopes 1..63 counted; more are summed in 0 */

	if (pinned_open(SHUNT_MAP_SCOPE, &m))
		return 1;
	fill_line(&m, map_entries(&m));
	while (n < SHUNT_SCOPE_MAX && !bpf_map_get_next_key(m.fd, first ? NULL : &prev, &key)) {
		first = false;
		prev = key;
		counts[key.scope_id < 64 ? key.scope_id : 0]++;
		n++;
	}
	for (unsigned i = 1; i < 64; i++)
		if (counts[i])
			printf("  egress_scope %u sees %u service ports\n", i, counts[i]);
	if (counts[0])
		printf("  egress_scope >63 see %u service ports\n", counts[0]);
	close(m.fd);
	return 0;
}

/* One socket of shunt_sock4, for sorting. */
struct sock_entry {
	struct sock4_key key;
	__u64 cookie;
};

static int sock_cmp(const void *a, const void *b)
{
	const struct sock_entry *x = a, *y = b;

	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/*
 * shunt_sock4 (the fast path's sockets, by their own 4-tuple) and
 * shunt_msgpath4 (socket storage: a note). Absent pins are not an error: an
 * agent older than the fast path never made them.
 */
static int maps_fast(void)
{
	struct sock_entry *e;
	struct sock4_key key;
	char a[32], b[32], path[PATH_MAX];
	struct pinned m;
	long n = 0;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, SHUNT_MAP_SOCK4);
	if (access(path, F_OK) || pinned_open(SHUNT_MAP_SOCK4, &m))
		return 0;
	n = map_entries(&m);
	fill_line(&m, n);
	e = n > 0 ? calloc((size_t)n, sizeof(*e)) : NULL;
	for (long i = 0; e && i < n; i++) {
		if (bpf_map_get_next_key(m.fd, i ? &key : NULL, &key)) {
			n = i;
			break;
		}
		e[i].key = key;
		if (bpf_map_lookup_elem(m.fd, &key, &e[i].cookie))
			e[i].cookie = 0;
	}
	if (e)
		qsort(e, (size_t)n, sizeof(*e), sock_cmp);
	for (long i = 0; e && i < n; i++)
		printf("  sock %s -> %s cookie=%llu\n",
		       ipport_str(e[i].key.local_ip, e[i].key.local_port, a, sizeof(a)),
		       ipport_str(e[i].key.remote_ip, e[i].key.remote_port, b, sizeof(b)),
		       (unsigned long long)e[i].cookie);
	free(e);
	close(m.fd);
	if (!pinned_open(SHUNT_MAP_MSGPATH4, &m)) {
		fill_line(&m, -1);
		printf("  note socket storage: the path (redirect or TCP/IP) each socket of %s "
		       "took at its first message; the kernel cannot list it\n",
		       SHUNT_MAP_SOCK4);
		close(m.fd);
	}
	return 0;
}

/* Whether @fd is a map (the pin dir also holds links). */
static bool is_map(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:bpf-map");
}

/* Maps pinned in the pin dir that this shuntctl does not know (an older layout, ...). */
static int maps_others(void)
{
	struct dirent **ents;
	struct pinned m;
	char path[PATH_MAX];
	int n;

	n = scandir(pin_dir, &ents, NULL, alphasort);
	if (n < 0)
		return 1;
	for (int i = 0; i < n; i++) {
		bool known = ents[i]->d_name[0] == '.';
		__u32 len = sizeof(m.info);

		for (size_t j = 0; j < sizeof(known_maps) / sizeof(known_maps[0]); j++)
			known |= !strcmp(ents[i]->d_name, known_maps[j]);
		snprintf(path, sizeof(path), "%s/%s", pin_dir, ents[i]->d_name);
		m.name = ents[i]->d_name;
		m.fd = known ? -1 : bpf_obj_get(path);
		memset(&m.info, 0, sizeof(m.info));
		if (m.fd >= 0 && is_map(m.fd) && !bpf_obj_get_info_by_fd(m.fd, &m.info, &len)) {
			fill_line(&m, map_entries(&m));
			printf("  note not a map of this shuntctl (an older layout?): not "
			       "decoded\n");
		}
		if (m.fd >= 0)
			close(m.fd);
		free(ents[i]);
	}
	free(ents);
	return 0;
}

static int cmd_maps(void)
{
	int rc = 0;

	if (access(pin_dir, F_OK)) {
		fprintf(stderr, "shuntctl: %s: %s (is shuntd running with --pin-dir %s?)\n",
			pin_dir, strerror(errno), pin_dir);
		return 1;
	}
	rc |= maps_services();
	rc |= maps_services6();
	rc |= maps_pairs();
	rc |= maps_agent();
	rc |= maps_pods();
	rc |= maps_known4();
	rc |= maps_ports();
	rc |= maps_scope();
	rc |= maps_fast();
	rc |= maps_others();
	return rc;
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
	if (!strcmp(argv[optind], "maps"))
		return cmd_maps();
	fprintf(stderr, "shuntctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return 2;
}
