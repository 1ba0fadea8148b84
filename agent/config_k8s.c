// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * core/v1 Namespace, Service and Pod, read field by field as the API server
 * would validate them. Endpoints and enrolment are computed later, in
 * config.c, once every file is read; a Pod's exclusion annotations are read
 * here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "log.h"

struct src_loc config_loc_of(const struct yt *t, yaml_mark_t m)
{
	return (struct src_loc){.file = t->file, .line = (int)m.line + 1, .col = (int)m.column + 1};
}

/* Grows *@v (of @size-byte elements) so that one more fits after @n. 0 or -ENOMEM. */
int config_grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 8;
	void *nv;

	if (n < *cap)
		return 0;
	nv = reallocarray(*v, ncap, size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

void k8s_labels_release(struct labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* A null value reads as "", as the JSON decoder behind kubectl would make it. */
static void parse_labels(struct yt *t, yaml_node_t *parent, const char *key, struct labels *out)
{
	yaml_node_pair_t *p;
	yaml_node_t *map;
	struct yt_frame f;

	if (yt_enter_map(t, parent, key, 0, &f, &map))
		return;
	out->v = calloc((size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start) + 1,
			sizeof(*out->v));
	if (!out->v) {
		t->oom = true;
		goto pop;
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		struct label *l = &out->v[out->n];
		yaml_node_t *v = yt_node(t, p->value);

		if (yt_node_str(t, yt_node(t, p->key), NULL, &l->key))
			continue;
		if (yt_is_null(v)) {
			l->value = strdup("");
			t->oom |= !l->value;
		} else {
			yt_node_str(t, v, l->key, &l->value);
		}
		if (!l->value) {
			free(l->key);
			continue;
		}
		out->n++;
	}
pop:
	yt_pop(t, &f);
}

/* Kubernetes' IANA_SVC_NAME, what a named port must be: 1-15 of [a-z0-9-], a letter among
 * them, no '-' at either end and no "--". */
bool k8s_valid_port_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n &&
	       strpbrk(s, "abcdefghijklmnopqrstuvwxyz");
}

/* Kubernetes' DNS_LABEL, what a service port name must be. */
static bool valid_dns_label(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Field @key of @map as a protocol; TCP when absent. */
void k8s_parse_protocol(struct yt *t, yaml_node_t *map, const char *key, uint8_t *out)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP};
	yaml_node_t *n = yt_get(t, map, key, NULL);
	char *s;

	*out = IPPROTO_TCP;
	if (!n || yt_node_str(t, n, key, &s))
		return;
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcmp(s, config_proto_str(protos[i]))) {
			*out = protos[i];
			goto out;
		}
	}
	yt_error(t, n->start_mark, key, "unsupported protocol \"%s\" (expected TCP, UDP or SCTP)",
		 s);
out:
	free(s);
}

/* An address of either family: which one @fam tells (AF_INET, AF_INET6). */
struct ip_any {
	int fam; /* 0: absent or "" */
	struct in_addr v4;
	struct in6_addr v6;
};

/* Node @n (field @key, for messages) as an IPv4 or IPv6 address. 0 with @out->fam 0 for "",
 * else -EINVAL (reported). */
static int node_ip(struct yt *t, yaml_node_t *n, const char *key, struct ip_any *out)
{
	char *s, buf[64];
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (yt_node_str(t, n, key, &s))
		return -EINVAL;
	if (!*s)
		goto out;
	if (inet_pton(AF_INET, s, &out->v4) == 1) {
		out->fam = AF_INET;
		if (!out->v4.s_addr) {
			yt_error(t, n->start_mark, key, "0.0.0.0 is not a usable address");
			err = -EINVAL;
		}
	} else if (inet_pton(AF_INET6, s, &out->v6) == 1) {
		out->fam = AF_INET6;
		if (IN6_IS_ADDR_UNSPECIFIED(&out->v6) || IN6_IS_ADDR_V4MAPPED(&out->v6)) {
			yt_error(t, n->start_mark, key, "%s is not a usable address", s);
			err = -EINVAL;
		}
	} else {
		yt_error(t, n->start_mark, key, "expected an IPv4 or IPv6 address, got %s",
			 yt_describe(n, buf, sizeof(buf)));
		err = -EINVAL;
	}
out:
	free(s);
	return err;
}

/*
 * A dual-stack address pair: field @one of @map (clusterIP, podIP) and the list @many
 * (clusterIPs, podIPs; its items are strings, or maps with "ip" when @items_are_maps), as
 * Kubernetes validates them: at most two, one per family, the first equal to @one when both
 * are set. Fills *@v4 / *@v6 (*@has6). @none: the list may hold "None" (headless), which
 * sets *@none. 0 or -EINVAL (reported).
 */
int k8s_parse_dual(struct yt *t, yaml_node_t *map, const char *one, const char *many,
		   bool items_are_maps, struct in_addr *v4, struct in6_addr *v6, bool *has6,
		   bool *none)
{
	yaml_node_t *n = yt_get(t, map, one, NULL), *seq;
	struct ip_any first = {0}, a;
	struct yt_frame f, fi;
	int fams = 0, err = 0;

	v4->s_addr = 0;
	*has6 = false;
	if (n && !(none && n->type == YAML_SCALAR_NODE &&
		   !strcmp((const char *)n->data.scalar.value, "None"))) {
		if (node_ip(t, n, one, &first))
			return -EINVAL;
		if (first.fam == AF_INET)
			*v4 = first.v4;
		else if (first.fam == AF_INET6)
			*v6 = first.v6, *has6 = true;
		fams = first.fam == AF_INET ? 1 : first.fam == AF_INET6 ? 2 : 0;
	}
	if (yt_enter_seq(t, map, many, 0, &f, &seq))
		return 0;
	if (yt_seq_len(seq) > 2) {
		yt_error(t, seq->start_mark, NULL, "at most two addresses, one per family, got %zu",
			 yt_seq_len(seq));
		err = -EINVAL;
		goto pop;
	}
	for (size_t i = 0; i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i), *ipn = item;
		int bit;

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (items_are_maps) {
			ipn = NULL;
			if (!yt_check_map(t, item, NULL))
				ipn = yt_get(t, item, "ip", NULL);
			if (!ipn) {
				yt_error(t, item->start_mark, "ip", "required field is missing");
				err = -EINVAL;
				goto next;
			}
		}
		if (none && ipn->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)ipn->data.scalar.value, "None")) {
			*none = true;
			goto next;
		}
		if (node_ip(t, ipn, items_are_maps ? "ip" : NULL, &a)) {
			err = -EINVAL;
			goto next;
		}
		if (!a.fam)
			goto next;
		bit = a.fam == AF_INET ? 1 : 2;
		if (i == 0 && first.fam &&
		    (first.fam != a.fam || (a.fam == AF_INET ? first.v4.s_addr != a.v4.s_addr
							     : memcmp(&first.v6, &a.v6, 16)))) {
			yt_error(t, ipn->start_mark, items_are_maps ? "ip" : NULL,
				 "must match %s, the first address", one);
			err = -EINVAL;
		} else if (i > 0 && (fams & bit)) {
			yt_error(t, ipn->start_mark, items_are_maps ? "ip" : NULL,
				 "a second %s address: dual-stack takes one IPv4 and one IPv6",
				 a.fam == AF_INET ? "IPv4" : "IPv6");
			err = -EINVAL;
		}
		fams |= bit;
		if (a.fam == AF_INET)
			*v4 = a.v4;
		else
			*v6 = a.v6, *has6 = true;
	next:
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
	return err;
}

void k8s_meta_release(struct k8s_meta *m)
{
	free(m->name);
	free(m->ns);
	free(m->created);
	k8s_labels_release(&m->labels);
}

void k8s_parse_meta(struct yt *t, yaml_node_t *obj, struct k8s_meta *m)
{
	yaml_node_t *md, *n;
	struct yt_frame f;

	if (yt_enter_map(t, obj, "metadata", 0, &f, &md)) {
		if (!yt_get(t, obj, "metadata", NULL))
			yt_error(t, t->owner, "metadata.name", "required field is missing");
		return;
	}
	if (!yt_str(t, md, "name", YT_REQUIRED, &m->name) && !*m->name) {
		yt_error(t, yt_get(t, md, "name", NULL)->start_mark, "name", "must not be empty");
	}
	yt_str(t, md, "namespace", 0, &m->ns);
	if (!m->ns || !*m->ns) {
		free(m->ns);
		m->ns = strdup("default");
		t->oom |= !m->ns;
	}
	yt_str(t, md, "creationTimestamp", 0, &m->created);
	n = yt_get(t, md, "deletionTimestamp", NULL);
	m->deleting = n != NULL;
	parse_labels(t, md, "labels", &m->labels);
	m->md = md;
	m->md_owner = t->owner;
	yt_pop(t, &f);
}

/* CONFIG_MESH_LABEL takes two values: anything else is a typo that would silently leave a pod
 * out of (or in) the mesh. */
void k8s_check_mesh_label(struct yt *t, const struct k8s_meta *m)
{
	const char *v = labels_get(&m->labels, CONFIG_MESH_LABEL);
	yaml_node_t *labels, *n, *key = NULL;
	struct yt_frame f;
	char buf[64];

	if (!v || !strcmp(v, "enabled") || !strcmp(v, "disabled"))
		return;
	yt_push(t, &f, "metadata", -1, m->md_owner);
	labels = yt_get(t, m->md, "labels", NULL);
	n = yt_get(t, labels, CONFIG_MESH_LABEL, &key);
	yt_error(t, n ? n->start_mark : key->start_mark, "labels." CONFIG_MESH_LABEL,
		 "unknown value %s (expected enabled or disabled)",
		 n ? yt_describe(n, buf, sizeof(buf)) : "null");
	yt_pop(t, &f);
}

void k8s_namespace_release(struct k8s_namespace *ns)
{
	free(ns->name);
	k8s_labels_release(&ns->labels);
}

/* Namespaces are cluster-scoped: metadata.namespace, if any, is not looked at. */
int k8s_parse_namespace(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct k8s_namespace ns = {.loc = config_loc_of(t, obj->start_mark)};
	unsigned errors = t->errors;
	struct k8s_meta m = {0};

	k8s_parse_meta(t, obj, &m);
	k8s_check_mesh_label(t, &m);
	ns.name = m.name;
	ns.labels = m.labels;
	m.name = NULL;
	m.labels = (struct labels){0};
	k8s_meta_release(&m);
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ld->cfg->namespaces, &ld->cfg->n_namespaces,
			   &ld->cap_namespaces, &ns, sizeof(ns)))
		return 0;
	t->oom = true;
drop:
	k8s_namespace_release(&ns);
	return t->oom ? -ENOMEM : 0;
}

static void svc_port_release(struct svc_port *p)
{
	free(p->name);
	free(p->target_port_name);
	free(p->eps);
}

void k8s_service_release(struct service *s)
{
	free(s->name);
	free(s->namespace);
	free(s->type);
	free(s->creation_timestamp);
	k8s_labels_release(&s->selector);
	for (size_t i = 0; i < s->n_ports; i++)
		svc_port_release(&s->ports[i]);
	free(s->ports);
}

/* targetPort is IntOrString: a plain decimal is a number, anything else a port name. */
static void parse_target_port(struct yt *t, yaml_node_t *item, struct svc_port *p)
{
	yaml_node_t *n = yt_get(t, item, "targetPort", NULL);
	char buf[64];
	long v;

	if (!n) {
		p->target_port = p->port;
		return;
	}
	if (yt_is_int(n)) {
		if (!yt_node_int(t, n, "targetPort", 1, 65535, &v))
			p->target_port = (uint16_t)v;
		return;
	}
	if (n->type != YAML_SCALAR_NODE || yt_looks_number(n)) {
		yt_error(t, n->start_mark, "targetPort", "expected a port number or name, got %s",
			 yt_describe(n, buf, sizeof(buf)));
		return;
	}
	if (yt_node_str(t, n, "targetPort", &p->target_port_name))
		return;
	if (!k8s_valid_port_name(p->target_port_name))
		yt_error(t, n->start_mark, "targetPort",
			 "%s is not a valid port name (1-15 of a-z, 0-9 and '-', with a letter; "
			 "a port number is written unquoted)",
			 yt_describe(n, buf, sizeof(buf)));
}

/* Compares port @i with the earlier ones: names and port/protocol pairs must be unique. */
static void check_port_unique(struct yt *t, yaml_node_t *seq, struct service *s, size_t i)
{
	const struct svc_port *p = &s->ports[i];
	yaml_node_t *item = yt_seq_item(t, seq, i);
	struct yt_frame f;

	yt_push(t, &f, NULL, (long)i, item->start_mark);
	for (size_t j = 0; j < i; j++) {
		const struct svc_port *q = &s->ports[j];

		if (p->name && q->name && !strcmp(p->name, q->name))
			yt_error(t, yt_get(t, item, "name", NULL)->start_mark, "name",
				 "duplicate port name \"%s\" (also used by ports[%zu])", p->name,
				 j);
		if (p->port == q->port && p->protocol == q->protocol)
			yt_error(t, yt_get(t, item, "port", NULL)->start_mark, "port",
				 "duplicate port %u/%s (also used by ports[%zu])", p->port,
				 config_proto_str(p->protocol), j);
	}
	yt_pop(t, &f);
}

/* appProtocol, where Istio reads it before the port name: the protocols shunt tells apart
 * (HTTP, TLS ones, TCP). Others (kubernetes.io/h2c, ...) leave the name to decide. */
static void parse_app_protocol(struct yt *t, yaml_node_t *item, struct svc_port *p)
{
	static const char *const known[] = {"HTTP", "HTTPS", "TLS", "TCP"};
	char *ap;

	if (yt_str(t, item, "appProtocol", 0, &ap))
		return;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(ap, known[i]))
			p->app_protocol = known[i];
	free(ap);
}

/* Parses spec.ports[i] into @p. 0 when it has no problem, else -EINVAL (reported). */
static int parse_svc_port(struct yt *t, yaml_node_t *item, struct svc_port *p)
{
	unsigned errors = t->errors;
	yaml_node_t *n;
	long v;

	if (yt_check_map(t, item, NULL))
		return -EINVAL;
	if (!yt_str(t, item, "name", 0, &p->name) && !valid_dns_label(p->name)) {
		n = yt_get(t, item, "name", NULL);
		yt_error(t, n->start_mark, "name",
			 "\"%s\" is not a valid port name (a DNS label: a-z, 0-9 and '-')",
			 p->name);
	}
	if (!yt_int(t, item, "port", YT_REQUIRED, 1, 65535, &v))
		p->port = (uint16_t)v;
	k8s_parse_protocol(t, item, "protocol", &p->protocol);
	parse_target_port(t, item, p);
	parse_app_protocol(t, item, p);
	return t->errors == errors && !t->oom && p->port ? 0 : -EINVAL;
}

static void parse_svc_ports(struct yt *t, yaml_node_t *spec, struct service *s)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;
	size_t n;

	if (yt_enter_seq(t, spec, "ports", 0, &f, &seq))
		return;
	n = yt_seq_len(seq);
	s->ports = calloc(n + 1, sizeof(*s->ports));
	if (!s->ports) {
		t->oom = true;
		goto pop;
	}
	/* Every slot is kept, even a bad one, so that messages can name ports by index. */
	s->n_ports = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		int err;

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		err = parse_svc_port(t, item, &s->ports[i]);
		/* As the API server: ports must be named when there is more than one. */
		if (!err && n > 1 && !s->ports[i].name) {
			yt_error(t, item->start_mark, "name",
				 "required when a Service has more than one port");
			err = -EINVAL;
		}
		yt_pop(t, &fi);
		if (!err)
			check_port_unique(t, seq, s, i);
		else
			s->ports[i].port = 0; /* not compared by check_port_unique() */
	}
pop:
	yt_pop(t, &f);
}

static void parse_cluster_ip(struct yt *t, yaml_node_t *spec, struct service *s)
{
	yaml_node_t *n = yt_get(t, spec, "clusterIP", NULL);

	if (!n)
		n = yt_get(t, spec, "clusterIPs", NULL);
	if (!n)
		return;
	s->cluster_ip_loc = config_loc_of(t, n->start_mark);
	if (n->type == YAML_SCALAR_NODE && !strcmp((const char *)n->data.scalar.value, "None"))
		s->headless = true;
	k8s_parse_dual(t, spec, "clusterIP", "clusterIPs", false, &s->cluster_ip, &s->cluster_ip6,
		       &s->has_ip6, &s->headless);
}

/* Moves @v (of @size bytes) to the end of *@arr. 0 or -ENOMEM. */
int config_append(void **arr, size_t *n, size_t *cap, const void *v, size_t size)
{
	if (config_grow(arr, cap, *n, size))
		return -ENOMEM;
	memcpy((char *)*arr + *n * size, v, size);
	(*n)++;
	return 0;
}

int k8s_parse_service(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct service s = {.loc = config_loc_of(t, obj->start_mark)};
	unsigned errors = t->errors;
	struct k8s_meta m = {0};
	struct yt_frame f;
	yaml_node_t *spec;

	k8s_parse_meta(t, obj, &m);
	s.name = m.name;
	s.namespace = m.ns;
	s.creation_timestamp = m.created;
	m.name = m.ns = m.created = NULL;
	k8s_meta_release(&m);
	if (!yt_enter_map(t, obj, "spec", 0, &f, &spec)) {
		parse_cluster_ip(t, spec, &s);
		yt_str(t, spec, "type", 0, &s.type);
		/* An empty selector gets no endpoints from the controller: same as none. */
		parse_labels(t, spec, "selector", &s.selector);
		s.has_selector = s.selector.n > 0;
		parse_svc_ports(t, spec, &s);
		yt_pop(t, &f);
	}
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ld->cfg->services, &ld->cfg->n_services, &ld->cap_services, &s,
			   sizeof(s)))
		return 0;
	t->oom = true;
drop:
	k8s_service_release(&s);
	return t->oom ? -ENOMEM : 0;
}
