// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntctl's map commands: the pinned maps read directly, so they work
 * whether or not shuntd is running. Text by default; with -o json the same
 * records as objects. `maps` prints, for every map of the pin dir, a fill
 * line "NAME  TYPE  ENTRIES/MAX  PCT%" (from column 0) and its content
 * decoded, one record per line, indented by two spaces, starting with the
 * record's kind (svc, be, slots, pair, note, cfg, stat, ...). Records are
 * sorted, so two runs over the same maps print the same.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ctl.h"
#include "kern.h"
#include "kern_fill.h"
#include "shunt_maps.h"

static const char *pin_dir = "/sys/fs/bpf/shunt";

/*
 * Where records go: printed as text lines, or gathered as JSON, one object
 * per map ({"name", "type", "entries", "max_entries", "records": [...]}).
 */
static struct {
	bool json;
	json_t *maps; /* the array of map objects */
	json_t *cur;  /* the records of the map being printed */
	json_t *rec;  /* the record being written */
} out;

static void rec_begin(const char *kind)
{
	if (!out.json) {
		printf("  %s", kind);
		return;
	}
	out.rec = json_object();
	json_object_set_new(out.rec, "kind", json_string(kind));
}

static void rec_end(void)
{
	if (!out.json) {
		printf("\n");
		return;
	}
	if (!out.cur) { /* a record before any fill line: a map of its own */
		out.cur = json_array();
		json_array_append_new(out.maps, json_pack("{s:o}", "records", out.cur));
	}
	json_array_append_new(out.cur, out.rec);
	out.rec = NULL;
}

/* A field: text " VALUE" (@show_key: " KEY=VALUE"), JSON "KEY": "VALUE". */
static void f_str(const char *key, bool show_key, const char *v)
{
	if (!out.json && show_key)
		printf(" %s=%s", key, v);
	else if (!out.json)
		printf(" %s", v);
	else
		json_object_set_new(out.rec, key, json_string(v));
}

/* A number: text " PREFIXVALUE" (@prefix NULL: " KEY=VALUE"), JSON "KEY": VALUE. */
static void f_num(const char *key, const char *prefix, unsigned long long v)
{
	if (!out.json)
		printf(" %s%s%llu", prefix ? prefix : key, prefix ? "" : "=", v);
	else
		json_object_set_new(out.rec, key, json_integer((json_int_t)v));
}

/* Words of the text line only ("->", "sees"). */
static void f_lit(const char *text)
{
	if (!out.json)
		printf(" %s", text);
}

static void out_begin(bool json)
{
	out.json = json;
	out.maps = json ? json_array() : NULL;
	out.cur = out.rec = NULL;
}

static int out_end(int rc)
{
	if (out.json) {
		json_t *root = json_pack("{s:o}", "maps", out.maps);

		json_dumpf(root, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(root);
	}
	out.maps = out.cur = NULL;
	return rc;
}

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
	m->fd = ctl_open_pinned(pin_dir, name);
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

/* How many entries @m holds (kern_map_entries(): arrays count as full, -1 for socket storage). */
static long map_entries(const struct pinned *m)
{
	return kern_map_entries(m->fd, &m->info);
}

/* The fill line of @m, which holds @entries (-1: cannot be counted); starts its records. */
static void fill_line(const struct pinned *m, long entries)
{
	const char *type = libbpf_bpf_map_type_str(m->info.type);
	char frac[32];

	if (out.json) {
		out.cur = json_array();
		json_array_append_new(out.maps,
				      json_pack("{s:s,s:s,s:o,s:i,s:o,s:o}", "name", m->name,
						"type", type ? type : "unknown", "entries",
						entries < 0 ? json_null() : json_integer(entries),
						"max_entries", (int)m->info.max_entries, "fill_pct",
						entries < 0 || !m->info.max_entries
							? json_null()
							: json_real(100.0 * (double)entries /
								    m->info.max_entries),
						"records", out.cur));
		return;
	}
	if (entries < 0 || !m->info.max_entries) {
		printf("%-15s  %-12s  %-13s  -\n", m->name, type ? type : "unknown", "-/-");
		return;
	}
	snprintf(frac, sizeof(frac), "%ld/%u", entries, m->info.max_entries);
	printf("%-15s  %-12s  %-13s  %.1f%%\n", m->name, type ? type : "unknown", frac,
	       100.0 * (double)entries / m->info.max_entries);
}

static void note(const char *text)
{
	rec_begin("note");
	f_str("text", false, text);
	rec_end();
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
static long svc_collect(const struct pinned *m, struct svc_entry **out_e)
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
	*out_e = e;
	return n;
}

struct be_group {
	struct be4_val be;
	uint32_t slots;
};

static void be_rec(const char *vip, const char *backend, uint32_t slots)
{
	rec_begin("be");
	f_str("vip", false, vip);
	f_str("backend", false, backend);
	f_num("slots", "x", slots);
	rec_end();
}

/*
 * The "be" records of service @e: its slots in shunt_be4 (@be_fd) grouped by
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
		be_rec(vip, ctl_ipport(g[i].be.ip, g[i].be.port, buf, sizeof(buf)), g[i].slots);
	if (found < e->val.n_slots)
		be_rec(vip, "missing", e->val.n_slots - found);
	free(g);
	return found;
}

/* "svc" and "svc6" records. */
static void svc_rec(const char *kind, const char *vip, const struct svc4_val *v)
{
	rec_begin(kind);
	f_str("vip", false, vip);
	f_str("path", false, v->flags & SVC4_F_L7 ? "L7" : "L4");
	f_num("n_slots", NULL, v->n_slots);
	f_num("svc_id", NULL, v->svc_id);
	rec_end();
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
		ctl_ipport(e[i].key.vip, e[i].key.port, vip, sizeof(vip));
		svc_rec("svc", vip, &e[i].val);
		used += print_backends(be.fd, &e[i], vip);
	}
	n_be = map_entries(&be);
	fill_line(&be, n_be);
	rec_begin("slots");
	f_num("total", "", (unsigned long long)n_be);
	f_num("referenced", NULL, (unsigned long long)used);
	f_num("stale", NULL, (unsigned long long)(n_be - used));
	rec_end();
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

static void be6_rec(const char *vip, uint32_t slot, const char *backend)
{
	rec_begin("be6");
	f_str("vip", false, vip);
	f_num("slot", NULL, slot);
	f_str("backend", false, backend);
	rec_end();
}

/* shunt_svc6 and shunt_be6: one "svc6" record per IPv6 VIP:port (walk order), its "be6" slots. */
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
		svc_rec("svc6", vip, &val);
		for (uint32_t sl = 0; sl < val.n_slots && sl < SHUNT_SLOTS_MAX; sl++) {
			struct be4_key bk = {.svc_id = val.svc_id, .slot = sl};
			struct be6_val bv;

			if (bpf_map_lookup_elem(be.fd, &bk, &bv)) {
				be6_rec(vip, sl, "missing");
				continue;
			}
			ip6port_str(bv.ip, bv.port, ep, sizeof(ep));
			be6_rec(vip, sl, ep);
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

static void pair_rec(const struct pair_entry *e)
{
	char a[32], b[32], c[32];

	rec_begin("pair");
	f_str("client", false, ctl_ipport(e->key.client_ip, e->key.client_port, a, sizeof(a)));
	f_lit("->");
	f_str("agent", false, ctl_ipport(e->key.server_ip, e->key.server_port, b, sizeof(b)));
	f_str("orig", true, ctl_ipport(e->val.ip, e->val.port, c, sizeof(c)));
	f_num("svc_id", NULL, e->val.svc_id);
	if (e->val.flags & ORIG4_F_DIRECT)
		f_str("direct", false, "direct");
	rec_end();
}

/* shunt_pair4 (the connections the agent has yet to accept) and shunt_orig4. */
static int maps_pairs(void)
{
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
		pair_rec(&e[i]);
	free(e);
	close(m.fd);

	if (pinned_open(SHUNT_MAP_ORIG4, &m))
		return 1;
	fill_line(&m, -1);
	note("socket storage: one entry per captured socket, freed with it; the kernel cannot "
	     "list it (" SHUNT_MAP_PAIR4 " holds those not yet accepted by the agent)");
	close(m.fd);
	return 0;
}

static void cfg_rec(const struct shunt_cfg *cfg)
{
	uint64_t age = ctl_now_ns() - cfg->heartbeat_ns;
	char buf[32], hb[24], mark[16];

	snprintf(hb, sizeof(hb), "%llu", (unsigned long long)(age / 1000000));
	snprintf(mark, sizeof(mark), "0x%x", cfg->skip_mark);
	rec_begin("cfg");
	f_str("listener", true,
	      cfg->listen_ip ? ctl_ipport(cfg->listen_ip, cfg->listen_port, buf, sizeof(buf))
			     : "none");
	f_str("mark", true, mark);
	if (cfg->heartbeat_ns)
		f_num("heartbeat_age_ms", NULL, age / 1000000);
	else
		f_str("heartbeat_age_ms", true, "none");
	f_num("alive_ms", NULL, cfg->alive_ns / 1000000);
	f_str("agent", true,
	      cfg->listen_ip && cfg->heartbeat_ns && age < cfg->alive_ns ? "alive" : "down");
	rec_end();
}

/* shunt_cfg_v2, shunt_listeners and shunt_stats_v3. */
static int maps_agent(void)
{
	uint64_t v[SHUNT_STAT_MAX];
	struct shunt_cfg cfg;
	struct pinned m;
	__u32 key = 0;
	int rc = 0;

	if (!pinned_open(SHUNT_MAP_CFG, &m)) {
		fill_line(&m, map_entries(&m));
		if (!bpf_map_lookup_elem(m.fd, &key, &cfg))
			cfg_rec(&cfg);
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
		for (int i = 0, err = kern_read_stats(m.fd, v); !err && i < SHUNT_STAT_MAX; i++) {
			rec_begin("stat");
			f_str("name", false, kern_stat_name(i));
			f_num("value", "", v[i]);
			rec_end();
		}
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

/* A pod's excluded ports and ranges: repeated words in text, arrays in JSON. */
static void pod_exclusions(const struct pod_val *val)
{
	json_t *ports = out.json ? json_array() : NULL, *ranges = out.json ? json_array() : NULL;
	char ip[INET_ADDRSTRLEN], range[32];

	for (unsigned i = 0; i < val->n_excl_ports && i < POD_EXCL_PORTS; i++) {
		if (out.json)
			json_array_append_new(ports, json_integer(val->excl_ports[i]));
		else
			printf(" exclude_port=%u", val->excl_ports[i]);
	}
	for (unsigned i = 0; i < val->n_excl_cidrs && i < POD_EXCL_CIDRS; i++) {
		inet_ntop(AF_INET, &val->excl_net[i], ip, sizeof(ip));
		snprintf(range, sizeof(range), "%s/%d", ip,
			 __builtin_popcount(ntohl(val->excl_mask[i])));
		if (out.json)
			json_array_append_new(ranges, json_string(range));
		else
			printf(" exclude_range=%s", range);
	}
	if (out.json) {
		json_object_set_new(out.rec, "exclude_ports", ports);
		json_object_set_new(out.rec, "exclude_ranges", ranges);
	}
}

/* shunt_pods: one record per pod network namespace (cookie order, as walked). */
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
		rec_begin("pod");
		f_num("netns_cookie", NULL, key);
		f_str("mesh", true, val.flags & POD_F_MESH ? "yes" : "no");
		f_str("outbound", true,
		      val.flags & POD_F_REGISTRY_ONLY ? "REGISTRY_ONLY" : "ALLOW_ANY");
		if (val.scope_id)
			f_num("egress_scope", NULL, val.scope_id);
		pod_exclusions(&val);
		rec_end();
		n++;
	}
	close(m.fd);
	return 0;
}

/* shunt_known4: the registry's addresses besides VIPs, one record each. */
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
		rec_begin("known");
		f_str("address", false, inet_ntop(AF_INET, &key, ip, sizeof(ip)));
		rec_end();
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
		rec_begin("port");
		f_num("port", "", ntohs(key.port));
		f_lit("any address -> agent, by Host header");
		rec_end();
		n++;
	}
	close(m.fd);
	return 0;
}

static void scope_rec(const char *scope, unsigned n, bool one)
{
	rec_begin("egress_scope");
	f_str("scope", false, scope);
	f_lit(one ? "sees" : "see");
	f_num("service_ports", "", n);
	f_lit("service ports");
	rec_end();
}

/* shunt_scope: per egress scope, how many service ports its pods see. */
static int maps_scope(void)
{
	struct scope_key key, prev;
	struct pinned m;
	bool first = true;
	long n = 0;
	__u32 counts[64] = {0}; /* scopes 1..63 counted; more are summed in 0 */
	char id[16];

	if (pinned_open(SHUNT_MAP_SCOPE, &m))
		return 1;
	fill_line(&m, map_entries(&m));
	while (n < SHUNT_SCOPE_MAX && !bpf_map_get_next_key(m.fd, first ? NULL : &prev, &key)) {
		first = false;
		prev = key;
		counts[key.scope_id < 64 ? key.scope_id : 0]++;
		n++;
	}
	for (unsigned i = 1; i < 64; i++) {
		if (!counts[i])
			continue;
		snprintf(id, sizeof(id), "%u", i);
		scope_rec(id, counts[i], true);
	}
	if (counts[0])
		scope_rec(">63", counts[0], false);
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

static void sock_rec(const struct sock_entry *e)
{
	char a[32], b[32];

	rec_begin("sock");
	f_str("local", false, ctl_ipport(e->key.local_ip, e->key.local_port, a, sizeof(a)));
	f_lit("->");
	f_str("remote", false, ctl_ipport(e->key.remote_ip, e->key.remote_port, b, sizeof(b)));
	f_num("cookie", NULL, e->cookie);
	rec_end();
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
	char path[PATH_MAX];
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
		sock_rec(&e[i]);
	free(e);
	close(m.fd);
	if (!pinned_open(SHUNT_MAP_MSGPATH4, &m)) {
		fill_line(&m, -1);
		note("socket storage: the path (redirect or TCP/IP) each socket of " SHUNT_MAP_SOCK4
		     " took at its first message; the kernel cannot list it");
		close(m.fd);
	}
	return 0;
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
		if (m.fd >= 0 && kern_fd_is(m.fd, "bpf-map") &&
		    !bpf_obj_get_info_by_fd(m.fd, &m.info, &len)) {
			fill_line(&m, map_entries(&m));
			note("not a map of this shuntctl (an older layout?): not decoded");
		}
		if (m.fd >= 0)
			close(m.fd);
		free(ents[i]);
	}
	free(ents);
	return 0;
}

int ctl_maps(const struct ctl_opts *o)
{
	int rc = 0;

	pin_dir = o->pin_dir;
	if (access(pin_dir, F_OK)) {
		fprintf(stderr, "shuntctl: %s: %s (is shuntd running with --pin-dir %s?)\n",
			pin_dir, strerror(errno), pin_dir);
		return 1;
	}
	out_begin(o->json);
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
	return out_end(rc);
}
