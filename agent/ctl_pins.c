// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntctl's small map commands (stats, services, pairs, config), the pinned
 * links for status, and what the map commands share. The pinned maps are read
 * directly, so they work whether or not shuntd is running.
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
#include "kern_fill.h"
#include "kern.h"
#include "shunt_maps.h"

int ctl_open_pinned(const char *pin_dir, const char *name)
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

const char *ctl_ipport(__u32 ip, __u16 port, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s:%u", ip_str(ip, a), ntohs(port));
	return buf;
}

uint64_t ctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void dump_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(v);
}

json_t *ctl_kernel_stats_json(const struct ctl_opts *o)
{
	uint64_t v[SHUNT_STAT_MAX];
	json_t *j;
	int fd, err;

	fd = ctl_open_pinned(o->pin_dir, SHUNT_MAP_STATS);
	if (fd < 0)
		return NULL;
	err = kern_read_stats(fd, v);
	close(fd);
	if (err) {
		fprintf(stderr, "shuntctl: reading %s: %s\n", SHUNT_MAP_STATS, strerror(-err));
		return NULL;
	}
	j = json_object();
	for (int i = 0; i < SHUNT_STAT_MAX; i++)
		json_object_set_new(j, kern_stat_name(i), json_integer((json_int_t)v[i]));
	return j;
}

int ctl_stats(const struct ctl_opts *o)
{
	json_t *j = ctl_kernel_stats_json(o), *v;
	const char *name;

	if (!j)
		return 1;
	if (o->json) {
		dump_json(j);
		return 0;
	}
	/* "name value" lines in counter order: tests and scripts read them with awk */
	for (int i = 0; i < SHUNT_STAT_MAX; i++) {
		name = kern_stat_name(i);
		v = json_object_get(j, name);
		printf("%s %lld\n", name, (long long)json_integer_value(v));
	}
	json_decref(j);
	return 0;
}

int ctl_services(const struct ctl_opts *o)
{
	struct svc4_key key, *prev = NULL;
	struct svc4_val val;
	char ip[INET_ADDRSTRLEN], vip[32];
	json_t *arr = json_array();
	int fd, n = 0;

	fd = ctl_open_pinned(o->pin_dir, SHUNT_MAP_SVC4);
	if (fd < 0) {
		json_decref(arr);
		return 1;
	}
	if (!o->json)
		printf("%-22s %-6s %-8s %-8s %s\n", "VIP:PORT", "PROTO", "SVC_ID", "BACKENDS",
		       "PATH");
	while (n < SHUNT_SVC4_MAX && !bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* deleted while we walked */
		snprintf(vip, sizeof(vip), "%s:%u", ip_str(key.vip, ip), ntohs(key.port));
		if (o->json)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:i,s:s}", "vip", vip,
							     "proto", key.proto == 6 ? "tcp" : "?",
							     "svc_id", (int)val.svc_id, "backends",
							     (int)val.n_slots, "path",
							     val.flags & SVC4_F_L7 ? "l7" : "l4"));
		else
			printf("%-22s %-6s %-8u %-8u %s\n", vip, key.proto == 6 ? "tcp" : "?",
			       val.svc_id, val.n_slots,
			       val.flags & SVC4_F_L7 ? "l7 (agent; kernel while it is down)"
						     : "l4 (kernel)");
		n++;
	}
	close(fd);
	if (o->json)
		dump_json(json_pack("{s:o}", "services", arr));
	else
		printf("%d service port(s)\n", n);
	if (!o->json)
		json_decref(arr);
	return 0;
}

int ctl_pairs(const struct ctl_opts *o)
{
	struct pair4_key key, *prev = NULL;
	char a[32], b[32], c[32];
	json_t *arr = json_array();
	struct orig4 val;
	int fd, n = 0;

	fd = ctl_open_pinned(o->pin_dir, SHUNT_MAP_PAIR4);
	if (fd < 0) {
		json_decref(arr);
		return 1;
	}
	while (n < SHUNT_PAIR4_MAX && !bpf_map_get_next_key(fd, prev, &key)) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue;
		ctl_ipport(key.client_ip, key.client_port, a, sizeof(a));
		ctl_ipport(key.server_ip, key.server_port, b, sizeof(b));
		ctl_ipport(val.ip, val.port, c, sizeof(c));
		if (o->json)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "client", a, "agent",
							     b, "orig", c));
		else
			printf("%s -> %s (was %s)\n", a, b, c);
		n++;
	}
	close(fd);
	if (o->json)
		dump_json(json_pack("{s:o}", "pairs", arr));
	else
		printf("%d pending connection(s)\n", n);
	if (!o->json)
		json_decref(arr);
	return 0;
}

json_t *ctl_agent_cfg_json(const struct ctl_opts *o)
{
	struct shunt_cfg cfg;
	char buf[32], mark[16];
	__u32 key = 0;
	uint64_t age;
	int fd, err;

	fd = ctl_open_pinned(o->pin_dir, SHUNT_MAP_CFG);
	if (fd < 0)
		return NULL;
	err = bpf_map_lookup_elem(fd, &key, &cfg);
	close(fd);
	if (err) {
		fprintf(stderr, "shuntctl: reading %s: %s\n", SHUNT_MAP_CFG, strerror(errno));
		return NULL;
	}
	age = ctl_now_ns() - cfg.heartbeat_ns;
	ctl_ipport(cfg.listen_ip, cfg.listen_port, buf, sizeof(buf));
	snprintf(mark, sizeof(mark), "0x%x", cfg.skip_mark);
	return json_pack("{s:o,s:s,s:o,s:I,s:b}", "listener",
			 cfg.listen_ip ? json_string(buf) : json_null(), "skip_mark", mark,
			 "heartbeat_age_ms",
			 cfg.heartbeat_ns ? json_integer((json_int_t)(age / 1000000)) : json_null(),
			 "alive_ms", (json_int_t)(cfg.alive_ns / 1000000), "alive",
			 cfg.listen_ip && cfg.heartbeat_ns && age < cfg.alive_ns);
}

int ctl_config(const struct ctl_opts *o)
{
	json_t *j = ctl_agent_cfg_json(o), *hb;

	if (!j)
		return 1;
	if (o->json) {
		dump_json(j);
		return 0;
	}
	if (json_is_null(json_object_get(j, "listener")))
		printf("listener: none (no agent: every service is balanced in the kernel)\n");
	else
		printf("listener: %s\n", json_string_value(json_object_get(j, "listener")));
	printf("skip_mark: %s\n", json_string_value(json_object_get(j, "skip_mark")));
	hb = json_object_get(j, "heartbeat_age_ms");
	if (json_is_null(hb))
		printf("heartbeat: none (agent down or gone: fail open)\n");
	else
		printf("heartbeat: %lld ms ago (alive while under %lld ms)\n",
		       (long long)json_integer_value(hb),
		       (long long)json_integer_value(json_object_get(j, "alive_ms")));
	json_decref(j);
	return 0;
}

/* One pinned link, bpftool-style: its id, type, attach type, cgroup, and its program. */
static json_t *link_json(const char *name, int fd)
{
	struct bpf_link_info li = {0};
	struct bpf_prog_info pi = {0};
	__u32 len = sizeof(li), plen = sizeof(pi);
	const char *type, *attach;
	json_t *j;
	int pfd;

	if (bpf_obj_get_info_by_fd(fd, &li, &len))
		return json_pack("{s:s,s:s}", "pin", name, "error", strerror(errno));
	type = libbpf_bpf_link_type_str(li.type);
	j = json_pack("{s:s,s:I,s:s}", "pin", name, "id", (json_int_t)li.id, "type",
		      type ? type : "unknown");
	if (li.type == BPF_LINK_TYPE_CGROUP) {
		attach = libbpf_bpf_attach_type_str(li.cgroup.attach_type);
		json_object_set_new(j, "attach_type", json_string(attach ? attach : "unknown"));
		json_object_set_new(j, "cgroup_id", json_integer((json_int_t)li.cgroup.cgroup_id));
	}
	json_object_set_new(j, "prog_id", json_integer(li.prog_id));
	pfd = bpf_prog_get_fd_by_id(li.prog_id);
	if (pfd >= 0 && !bpf_obj_get_info_by_fd(pfd, &pi, &plen)) {
		json_object_set_new(j, "prog_name", json_string(pi.name));
		type = libbpf_bpf_prog_type_str(pi.type);
		json_object_set_new(j, "prog_type", json_string(type ? type : "unknown"));
	}
	if (pfd >= 0)
		close(pfd);
	return j;
}

json_t *ctl_links_json(const struct ctl_opts *o)
{
	struct dirent **ents;
	char path[PATH_MAX];
	json_t *arr;
	int n, fd;

	n = scandir(o->pin_dir, &ents, NULL, alphasort);
	if (n < 0)
		return NULL;
	arr = json_array();
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", o->pin_dir, ents[i]->d_name);
		fd = strncmp(ents[i]->d_name, "link_", 5) ? -1 : bpf_obj_get(path);
		if (fd >= 0 && kern_fd_is(fd, "bpf-link"))
			json_array_append_new(arr, link_json(ents[i]->d_name, fd));
		if (fd >= 0)
			close(fd);
		free(ents[i]);
	}
	free(ents);
	return arr;
}
