// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * core/v1 Pod: metadata, the exclusion annotations, container ports and
 * status, read as the API server would validate them. A pod without
 * problems is appended to the config compacted: its strings and labels move
 * into the config's string table, shared with every pod that has the same
 * namespace, label key or value, or phase.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "log.h"

/* Frees what a parsed pod owns before it moves into the string table. */
static void pod_release_parsed(struct pod *p)
{
	free(p->name);
	free(p->namespace);
	k8s_labels_release(&p->labels);
	free(p->phase);
	for (size_t i = 0; i < p->n_cports; i++)
		free(p->cports[i].name);
	free(p->cports);
	free(p->generate_name);
	free(p->owner_kind);
	free(p->owner_name);
}

/*
 * metadata.generateName and the controller of metadata.ownerReferences (the
 * entry with controller: true), which name the pod's workload. A hand-written
 * pod usually has neither; an entry without kind or name is passed over.
 */
static void parse_owner(struct yt *t, yaml_node_t *md, struct pod *p)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	if (!md)
		return;
	yt_str(t, md, "generateName", 0, &p->generate_name);
	if (yt_enter_seq(t, md, "ownerReferences", 0, &f, &seq))
		return;
	for (size_t i = 0; i < yt_seq_len(seq) && !p->owner_name; i++) {
		yaml_node_t *ref = yt_seq_item(t, seq, i);
		bool ctl = false;

		yt_push(t, &fi, NULL, (long)i, ref->start_mark);
		if (ref->type == YAML_MAPPING_NODE && !yt_bool(t, ref, "controller", 0, &ctl) &&
		    ctl && !yt_str(t, ref, "kind", 0, &p->owner_kind) &&
		    yt_str(t, ref, "name", 0, &p->owner_name)) {
			free(p->owner_kind);
			p->owner_kind = NULL;
		}
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
}

/* One item of a comma-separated annotation value, spaces around it trimmed. */
struct list_item {
	const char *s;
	size_t len;
	size_t off; /* of s in the value, for ist_mark_at() */
};

/* The next item of @list after *@pos; false past the end. Items may be empty. */
static bool next_item(const char *list, size_t *pos, struct list_item *it)
{
	size_t i = *pos, end;

	if (i > strlen(list))
		return false;
	end = i + strcspn(list + i, ",");
	*pos = end + 1;
	while (i < end && list[i] == ' ')
		i++;
	while (end > i && list[end - 1] == ' ')
		end--;
	*it = (struct list_item){.s = list + i, .len = end - i, .off = i};
	return true;
}

/* A blank value is an empty list, as Istio reads it. */
static bool blank(const char *s)
{
	return !s[strspn(s, " ")];
}

static bool item_is(const struct list_item *it, const char *s)
{
	return it->len == strlen(s) && !memcmp(it->s, s, it->len);
}

/* A decimal number of at most @digits digits, or -1. */
static long item_number(const struct list_item *it, size_t digits)
{
	long v = 0;

	if (!it->len || it->len > digits)
		return -1;
	for (size_t i = 0; i < it->len; i++) {
		if (it->s[i] < '0' || it->s[i] > '9')
			return -1;
		v = v * 10 + (it->s[i] - '0');
	}
	return v;
}

/* Reports list item @it of annotation @key, found at @at, as not being @what. */
static void report_item(struct yt *t, yaml_mark_t at, const char *key, const struct list_item *it,
			const char *what)
{
	if (!it->len)
		yt_error(t, at, key, "empty entry (entries are separated by single commas)");
	else
		yt_error(t, at, key, "\"%.*s\" is not %s", (int)it->len, it->s, what);
}

/* CONFIG_EXCL_PORTS_ANN: "5432, 6379". Repeated ports are kept once. */
static void parse_excl_ports(struct yt *t, yaml_node_t *n, struct pod *p)
{
	struct list_item it;
	size_t pos = 0;
	char *list;

	if (yt_node_str(t, n, CONFIG_EXCL_PORTS_ANN, &list))
		return;
	while (!blank(list) && next_item(list, &pos, &it)) {
		yaml_mark_t at = ist_mark_at(n, it.off);
		long v = item_number(&it, 5);
		bool seen = false;

		if (v < 1 || v > 65535) {
			report_item(t, at, CONFIG_EXCL_PORTS_ANN, &it, "a port number (1-65535)");
			continue;
		}
		for (size_t i = 0; i < p->n_excl_ports; i++)
			seen |= p->excl_ports[i] == v;
		if (seen)
			continue;
		if (p->n_excl_ports == POD_EXCL_PORTS_MAX) {
			yt_error(t, at, CONFIG_EXCL_PORTS_ANN,
				 "more than %d ports: shunt excludes at most %d per pod",
				 POD_EXCL_PORTS_MAX, POD_EXCL_PORTS_MAX);
			break;
		}
		p->excl_ports[p->n_excl_ports++] = (uint16_t)v;
	}
	free(list);
}

/* One IPv4 range: "*", ADDRESS or ADDRESS/LEN. 0, -EAFNOSUPPORT for an IPv6 range, -EINVAL. */
static int parse_cidr4(const struct list_item *it, struct cidr4 *c)
{
	const char *slash = memchr(it->s, '/', it->len);
	size_t alen = slash ? (size_t)(slash - it->s) : it->len;
	struct list_item len_item;
	struct in6_addr a6;
	char addr[INET6_ADDRSTRLEN];
	long len;

	if (item_is(it, "*")) {
		*c = (struct cidr4){.len = 0};
		return 0;
	}
	if (alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, it->s, alen);
	addr[alen] = '\0';
	len = 32;
	if (slash) {
		len_item = (struct list_item){.s = slash + 1, .len = it->len - alen - 1};
		len = item_number(&len_item, 3);
	}
	if (inet_pton(AF_INET, addr, &c->net) == 1) {
		if (len < 0 || len > 32)
			return -EINVAL;
		c->len = (uint8_t)len;
		c->net.s_addr &= len ? htonl(~0u << (32 - len)) : 0;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &a6) == 1 && len >= 0 && len <= 128)
		return -EAFNOSUPPORT;
	return -EINVAL;
}

/* CONFIG_EXCL_CIDRS_ANN: "10.96.0.0/16, 192.168.1.5". Ranges equal once masked are kept once. */
static void parse_excl_cidrs(struct yt *t, yaml_node_t *n, struct pod *p)
{
	struct list_item it;
	size_t pos = 0;
	char *list;

	if (yt_node_str(t, n, CONFIG_EXCL_CIDRS_ANN, &list))
		return;
	while (!blank(list) && next_item(list, &pos, &it)) {
		yaml_mark_t at = ist_mark_at(n, it.off);
		struct cidr4 c = {0};
		bool seen = false;
		int err = parse_cidr4(&it, &c);

		if (err == -EAFNOSUPPORT) {
			yt_report(t, LOG_WARN, at, CONFIG_EXCL_CIDRS_ANN,
				  "IPv6 range %.*s skipped (excluded ranges are IPv4): pod %s/%s",
				  (int)it.len, it.s, p->namespace, p->name ? p->name : "?");
			continue;
		}
		if (err) {
			report_item(t, at, CONFIG_EXCL_CIDRS_ANN, &it,
				    "an IPv4 range (ADDRESS, ADDRESS/0-32 or *)");
			continue;
		}
		for (size_t i = 0; i < p->n_excl_cidrs; i++)
			seen |= p->excl_cidrs[i].net.s_addr == c.net.s_addr &&
				p->excl_cidrs[i].len == c.len;
		if (seen)
			continue;
		if (p->n_excl_cidrs == POD_EXCL_CIDRS_MAX) {
			yt_error(t, at, CONFIG_EXCL_CIDRS_ANN,
				 "more than %d ranges: shunt excludes at most %d per pod",
				 POD_EXCL_CIDRS_MAX, POD_EXCL_CIDRS_MAX);
			break;
		}
		p->excl_cidrs[p->n_excl_cidrs++] = c;
	}
	free(list);
}

/* The exclusion annotations of a Pod; other annotations are not read. */
static void parse_exclusions(struct yt *t, const struct k8s_meta *m, struct pod *p)
{
	struct yt_frame f, fa;
	yaml_node_t *ann, *n;

	if (!m->md)
		return;
	yt_push(t, &f, "metadata", -1, m->md_owner);
	if (!yt_enter_map(t, m->md, "annotations", 0, &fa, &ann)) {
		n = yt_get(t, ann, CONFIG_EXCL_PORTS_ANN, NULL);
		if (n)
			parse_excl_ports(t, n, p);
		n = yt_get(t, ann, CONFIG_EXCL_CIDRS_ANN, NULL);
		if (n)
			parse_excl_cidrs(t, n, p);
		yt_pop(t, &fa);
	}
	yt_pop(t, &f);
}

/* Appends the ports of one spec.containers[] item to p->cports. */
static void parse_container(struct yt *t, yaml_node_t *ctr, struct pod *p, size_t *cap)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	if (yt_check_map(t, ctr, NULL) || yt_enter_seq(t, ctr, "ports", 0, &f, &seq))
		return;
	for (size_t i = 0; i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i), *n;
		struct container_port cp = {0};
		long v;

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_check_map(t, item, NULL))
			goto next;
		if (!yt_int(t, item, "containerPort", YT_REQUIRED, 1, 65535, &v))
			cp.port = (uint16_t)v;
		k8s_parse_protocol(t, item, "protocol", &cp.protocol);
		if (!yt_str(t, item, "name", 0, &cp.name) && !k8s_valid_port_name(cp.name)) {
			n = yt_get(t, item, "name", NULL);
			yt_error(t, n->start_mark, "name",
				 "\"%s\" is not a valid port name (1-15 of a-z, 0-9 and '-', "
				 "with a letter)",
				 cp.name);
		}
		if (!cp.port ||
		    config_append((void **)&p->cports, &p->n_cports, cap, &cp, sizeof(cp))) {
			t->oom |= cp.port != 0; /* else the problem was reported */
			free(cp.name);
		}
	next:
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
}

static void parse_pod_status(struct yt *t, yaml_node_t *status, struct pod *p)
{
	struct yt_frame f, fi;
	yaml_node_t *conds;

	k8s_parse_dual(t, status, "podIP", "podIPs", true, &p->ip, &p->ip6, &p->has_ip6, NULL);
	yt_str(t, status, "phase", 0, &p->phase);
	p->ready = true; /* no Ready condition: see struct pod */
	if (yt_enter_seq(t, status, "conditions", 0, &f, &conds))
		return;
	for (size_t i = 0; i < yt_seq_len(conds); i++) {
		yaml_node_t *c = yt_seq_item(t, conds, i);
		char *type = NULL, *st = NULL;

		yt_push(t, &fi, NULL, (long)i, c->start_mark);
		if (!yt_check_map(t, c, NULL) && !yt_str(t, c, "type", YT_REQUIRED, &type) &&
		    !yt_str(t, c, "status", YT_REQUIRED, &st) && !strcmp(type, "Ready"))
			p->ready = !strcmp(st, "True"); /* "Unknown" is not ready either */
		free(type);
		free(st);
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
}

/* @s copied into @st (interned when @shared); NULL stays NULL. False on ENOMEM. */
static bool st_copy(struct strtab *st, const char *s, bool shared, char **out)
{
	*out = NULL;
	if (!s)
		return true;
	*out = shared ? strtab_intern(st, s) : strtab_dup(st, s);
	return *out != NULL;
}

/* The labels and container ports of @p copied into @st, into *@c. 0 or -ENOMEM. */
static int pod_arrays(struct strtab *st, const struct pod *p, struct pod *c)
{
	c->labels.v = strtab_alloc(st, (p->labels.n + 1) * sizeof(*c->labels.v));
	c->cports = strtab_alloc(st, (p->n_cports + 1) * sizeof(*c->cports));
	if (!c->labels.v || !c->cports)
		return -ENOMEM;
	for (size_t i = 0; i < p->labels.n; i++)
		if (!st_copy(st, p->labels.v[i].key, true, &c->labels.v[i].key) ||
		    !st_copy(st, p->labels.v[i].value, true, &c->labels.v[i].value))
			return -ENOMEM;
	for (size_t i = 0; i < p->n_cports; i++) {
		c->cports[i] = p->cports[i];
		if (!st_copy(st, p->cports[i].name, true, &c->cports[i].name))
			return -ENOMEM;
	}
	return 0;
}

/*
 * Moves the strings and arrays of parsed pod @p into @st: its name copied, its namespace, label
 * keys and values, phase, port names and owner interned. All or nothing: on -ENOMEM @p is left as
 * parsed (what was copied stays in @st until it is freed).
 */
static int pod_compact(struct strtab *st, struct pod *p)
{
	struct pod c = *p;

	if (!st_copy(st, p->name, false, &c.name) ||
	    !st_copy(st, p->namespace, true, &c.namespace) ||
	    !st_copy(st, p->phase, true, &c.phase) ||
	    !st_copy(st, p->generate_name, true, &c.generate_name) ||
	    !st_copy(st, p->owner_kind, true, &c.owner_kind) ||
	    !st_copy(st, p->owner_name, true, &c.owner_name) || pod_arrays(st, p, &c))
		return -ENOMEM;
	pod_release_parsed(p);
	*p = c;
	return 0;
}

int k8s_parse_pod(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct pod p = {.loc = config_loc_of(t, obj->start_mark), .ready = true};
	unsigned errors = t->errors;
	yaml_node_t *spec, *ctrs, *status;
	struct k8s_meta m = {0};
	struct yt_frame f, fc, fi;
	size_t cap = 0;

	k8s_parse_meta(t, obj, &m);
	k8s_check_mesh_label(t, &m);
	p.name = m.name;
	p.namespace = m.ns;
	p.labels = m.labels;
	p.terminating = m.deleting;
	free(m.created);
	parse_exclusions(t, &m, &p);
	parse_owner(t, m.md, &p);
	if (!yt_enter_map(t, obj, "spec", 0, &f, &spec)) {
		if (!yt_enter_seq(t, spec, "containers", 0, &fc, &ctrs)) {
			for (size_t i = 0; i < yt_seq_len(ctrs); i++) {
				yaml_node_t *ctr = yt_seq_item(t, ctrs, i);

				yt_push(t, &fi, NULL, (long)i, ctr->start_mark);
				parse_container(t, ctr, &p, &cap);
				yt_pop(t, &fi);
			}
			yt_pop(t, &fc);
		}
		yt_pop(t, &f);
	}
	if (!yt_enter_map(t, obj, "status", 0, &f, &status)) {
		parse_pod_status(t, status, &p);
		yt_pop(t, &f);
	}
	if (t->errors != errors || t->oom)
		goto drop;
	if (!pod_compact(&ld->cfg->strs, &p) &&
	    !config_append((void **)&ld->cfg->pods, &ld->cfg->n_pods, &ld->cap_pods, &p, sizeof(p)))
		return 0;
	t->oom = true;
drop:
	pod_release_parsed(&p);
	return t->oom ? -ENOMEM : 0;
}
