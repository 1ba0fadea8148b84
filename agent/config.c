// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Config loader: YAML files → Services and Pods → endpoints and a VIP index.
 *
 * Each document is dispatched on (apiVersion group, kind) through kind_parsers[];
 * a new kind is a new parse function and a row in that table. Parsers report
 * problems through a struct yt cursor and keep going, so one run lists every
 * problem; only objects without problems are kept, and any problem rejects the
 * whole config. Cross-object checks (duplicates, clusterIPs) and endpoints are
 * computed once every file is read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "yaml_tree.h"

struct config_vip_slot {
	uint32_t vip;	  /* network order; 0 marks a free slot (0.0.0.0 is never a VIP) */
	uint16_t port_be; /* network order */
	uint8_t proto;
	uint32_t svc;  /* index into config->services */
	uint32_t port; /* index into service->ports */
};

/* Where diagnostics go besides the log, per thread so concurrent loads do not mix. */
static __thread void (*diag_fn)(enum log_level level, const char *line, void *arg);
static __thread void *diag_arg;

/* One load in progress. */
struct load {
	struct config *cfg;
	size_t cap_services, cap_pods, cap_files;
	unsigned errors; /* problems reported so far, every file */
	struct yt_sink sink;
};

struct kind_parser {
	const char *group; /* "" for the core group */
	const char *kind;
	const char *const *versions; /* NULL-terminated */
	/* Parses @obj and appends it to the config when it has no problem. 0 or -ENOMEM. */
	int (*parse)(struct load *ld, struct yt *t, yaml_node_t *obj);
};

static int parse_service(struct load *ld, struct yt *t, yaml_node_t *obj);
static int parse_pod(struct load *ld, struct yt *t, yaml_node_t *obj);

static const char *const core_v1[] = {"v1", NULL};

static const struct kind_parser kind_parsers[] = {
	{"", "Service", core_v1, parse_service},
	{"", "Pod", core_v1, parse_pod},
};

void config_set_diag_sink(void (*fn)(enum log_level level, const char *line, void *arg), void *arg)
{
	diag_fn = fn;
	diag_arg = arg;
}

static void emit(void *arg, enum log_level level, const char *line)
{
	log_at(level, "%s", line);
	if (diag_fn)
		diag_fn(level, line, diag_arg);
}

/* A diagnostic that is not about a field (I/O, syntax, notices). */
__attribute__((format(printf, 3, 4))) static void load_report(struct load *ld, enum log_level level,
							      const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level == LOG_ERROR)
		ld->errors++;
	emit(NULL, level, line);
}

const char *labels_get(const struct labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

const char *config_proto_str(uint8_t protocol)
{
	switch (protocol) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	}
	return "?";
}

static struct src_loc loc_of(const struct yt *t, yaml_mark_t m)
{
	return (struct src_loc){.file = t->file, .line = (int)m.line + 1, .col = (int)m.column + 1};
}

/* Grows *@v (of @size-byte elements) so that one more fits after @n. 0 or -ENOMEM. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
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

static void labels_release(struct labels *l)
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
static bool valid_port_name(const char *s)
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
static void parse_protocol(struct yt *t, yaml_node_t *map, const char *key, uint8_t *out)
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

/* Field @key of @map as an IPv4 address for @what. 0 with *@ip set (s_addr 0 when the field is
 * absent, "" or IPv6: that one gets a warning, shunt does not capture IPv6 yet), else -EINVAL.
 * *@v6 (when non-NULL) tells that an IPv6 address was skipped. */
static int parse_ipv4(struct yt *t, yaml_node_t *map, const char *key, const char *what,
		      struct in_addr *ip, bool *v6)
{
	yaml_node_t *n = yt_get(t, map, key, NULL);
	struct in6_addr a6;
	char *s, buf[64];
	int err = 0;

	ip->s_addr = 0;
	if (!n || yt_node_str(t, n, key, &s))
		return n ? -EINVAL : 0;
	if (!*s)
		goto out;
	if (inet_pton(AF_INET, s, ip) == 1) {
		if (!ip->s_addr) {
			yt_error(t, n->start_mark, key, "0.0.0.0 is not a usable address");
			err = -EINVAL;
		}
	} else if (inet_pton(AF_INET6, s, &a6) == 1) {
		yt_report(t, LOG_WARN, n->start_mark, key,
			  "IPv6 address %s is not captured yet (shunt is IPv4-only): %s", s, what);
		if (v6)
			*v6 = true;
	} else {
		yt_error(t, n->start_mark, key, "expected an IPv4 address, got %s",
			 yt_describe(n, buf, sizeof(buf)));
		err = -EINVAL;
	}
out:
	free(s);
	return err;
}

struct meta {
	char *name, *ns, *created;
	struct labels labels;
	bool deleting;
};

static void meta_release(struct meta *m)
{
	free(m->name);
	free(m->ns);
	free(m->created);
	labels_release(&m->labels);
}

static void parse_meta(struct yt *t, yaml_node_t *obj, struct meta *m)
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
	yt_pop(t, &f);
}

static void svc_port_release(struct svc_port *p)
{
	free(p->name);
	free(p->target_port_name);
	free(p->eps);
}

static void service_release(struct service *s)
{
	free(s->name);
	free(s->namespace);
	free(s->type);
	free(s->creation_timestamp);
	labels_release(&s->selector);
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
	if (!valid_port_name(p->target_port_name))
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
	parse_protocol(t, item, "protocol", &p->protocol);
	parse_target_port(t, item, p);
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
		return;
	s->cluster_ip_loc = loc_of(t, n->start_mark);
	if (n->type == YAML_SCALAR_NODE && !strcmp((const char *)n->data.scalar.value, "None")) {
		s->headless = true;
		return;
	}
	parse_ipv4(t, spec, "clusterIP", "the service gets no VIP", &s->cluster_ip,
		   &s->cluster_ip_v6);
}

/* Moves @v (of @size bytes) to the end of *@arr. 0 or -ENOMEM. */
static int append(void **arr, size_t *n, size_t *cap, const void *v, size_t size)
{
	if (grow(arr, cap, *n, size))
		return -ENOMEM;
	memcpy((char *)*arr + *n * size, v, size);
	(*n)++;
	return 0;
}

static int parse_service(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct service s = {.loc = loc_of(t, obj->start_mark)};
	unsigned errors = t->errors;
	struct meta m = {0};
	struct yt_frame f;
	yaml_node_t *spec;

	parse_meta(t, obj, &m);
	s.name = m.name;
	s.namespace = m.ns;
	s.creation_timestamp = m.created;
	m.name = m.ns = m.created = NULL;
	meta_release(&m);
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
	if (!append((void **)&ld->cfg->services, &ld->cfg->n_services, &ld->cap_services, &s,
		    sizeof(s)))
		return 0;
	t->oom = true;
drop:
	service_release(&s);
	return t->oom ? -ENOMEM : 0;
}

static void pod_release(struct pod *p)
{
	free(p->name);
	free(p->namespace);
	labels_release(&p->labels);
	free(p->phase);
	for (size_t i = 0; i < p->n_cports; i++)
		free(p->cports[i].name);
	free(p->cports);
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
		parse_protocol(t, item, "protocol", &cp.protocol);
		if (!yt_str(t, item, "name", 0, &cp.name) && !valid_port_name(cp.name)) {
			n = yt_get(t, item, "name", NULL);
			yt_error(t, n->start_mark, "name",
				 "\"%s\" is not a valid port name (1-15 of a-z, 0-9 and '-', "
				 "with a letter)",
				 cp.name);
		}
		if (!cp.port || append((void **)&p->cports, &p->n_cports, cap, &cp, sizeof(cp))) {
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

	parse_ipv4(t, status, "podIP", "the pod is not an endpoint", &p->ip, NULL);
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

static int parse_pod(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct pod p = {.loc = loc_of(t, obj->start_mark), .ready = true};
	unsigned errors = t->errors;
	yaml_node_t *spec, *ctrs, *status;
	struct meta m = {0};
	struct yt_frame f, fc, fi;
	size_t cap = 0;

	parse_meta(t, obj, &m);
	p.name = m.name;
	p.namespace = m.ns;
	p.labels = m.labels;
	p.terminating = m.deleting;
	free(m.created);
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
	if (!append((void **)&ld->cfg->pods, &ld->cfg->n_pods, &ld->cap_pods, &p, sizeof(p)))
		return 0;
	t->oom = true;
drop:
	pod_release(&p);
	return t->oom ? -ENOMEM : 0;
}

static const struct kind_parser *find_parser(const char *group, const char *kind)
{
	for (size_t i = 0; i < sizeof(kind_parsers) / sizeof(kind_parsers[0]); i++)
		if (!strcmp(kind_parsers[i].group, group) && !strcmp(kind_parsers[i].kind, kind))
			return &kind_parsers[i];
	return NULL;
}

static bool served_as(const struct kind_parser *kp, const char *version)
{
	for (const char *const *v = kp->versions; *v; v++)
		if (!strcmp(*v, version))
			return true;
	return false;
}

static int parse_object(struct load *ld, struct yt *t, yaml_node_t *obj, bool in_list);

/* kind: List (or FooList) with items[]: each item is an object of its own. */
static int parse_list(struct load *ld, struct yt *t, yaml_node_t *obj, bool in_list)
{
	struct yt_frame f, fi;
	yaml_node_t *items;
	int err = 0;

	if (in_list) {
		yt_error(t, yt_get(t, obj, "kind", NULL)->start_mark, "kind",
			 "a List inside a List is not supported");
		return 0;
	}
	if (yt_enter_seq(t, obj, "items", 0, &f, &items))
		return 0;
	for (size_t i = 0; i < yt_seq_len(items) && !err; i++) {
		yaml_node_t *item = yt_seq_item(t, items, i);

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (!yt_check_map(t, item, NULL))
			err = parse_object(ld, t, item, true);
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
	return err;
}

static bool is_list_kind(const char *kind)
{
	size_t n = strlen(kind);

	return n >= 4 && !strcmp(kind + n - 4, "List");
}

/* Dispatches one object (a mapping) on its apiVersion group and kind. 0 or -ENOMEM. */
static int parse_object(struct load *ld, struct yt *t, yaml_node_t *obj, bool in_list)
{
	char *api = NULL, *kind = NULL;
	const struct kind_parser *kp;
	const char *slash, *group = "", *version;
	int err = 0;

	yt_str(t, obj, "apiVersion", YT_REQUIRED, &api);
	yt_str(t, obj, "kind", YT_REQUIRED, &kind);
	if (!api || !kind)
		goto out;
	slash = strchr(api, '/');
	version = slash ? slash + 1 : api;
	if (slash) {
		group = api;
		api[slash - api] = '\0';
	}
	if (!strcmp(kind, "List") || (is_list_kind(kind) && yt_get(t, obj, "items", NULL))) {
		err = parse_list(ld, t, obj, in_list);
		goto out;
	}
	kp = find_parser(group, kind);
	if (!kp) {
		load_report(ld, LOG_INFO, "%s:%zu: ignoring kind %s (not used by shunt)", t->file,
			    obj->start_mark.line + 1, kind);
		goto out;
	}
	if (!served_as(kp, version)) {
		yt_error(t, yt_get(t, obj, "apiVersion", NULL)->start_mark, "apiVersion",
			 "%s%s%s is not a known version of %s", group, *group ? "/" : "", version,
			 kind);
		goto out;
	}
	err = kp->parse(ld, t, obj);
out:
	free(api);
	free(kind);
	return err;
}

/* One document: an object, or a List of them. 0 or -ENOMEM. */
static int load_document(void *arg, struct yt *t)
{
	yaml_node_t *root = yaml_document_get_root_node(t->doc);

	if (yt_check_map(t, root, NULL))
		return 0;
	return parse_object(arg, t, root, false);
}

static int load_stream(struct load *ld, const char *file, const char *buf, size_t len)
{
	return yt_load_stream(file, buf, len, &ld->sink, load_document, ld, &ld->errors);
}

/* Keeps a copy of @name in the config, for src_loc.file. NULL on ENOMEM. */
static const char *add_file(struct load *ld, const char *name)
{
	char *copy = strdup(name);

	if (!copy || append((void **)&ld->cfg->files, &ld->cfg->n_files, &ld->cap_files, &copy,
			    sizeof(copy))) {
		free(copy);
		return NULL;
	}
	return copy;
}

static int cmp_ns_name(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
	int c = strcmp(ns1, ns2);

	return c ? c : strcmp(n1, n2);
}

/* Sort orders over index arrays; ties keep file order so the first definition comes first. */
static int cmp_svc_name(const void *a, const void *b, void *arg)
{
	const struct service *s = arg, *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
	int c = cmp_ns_name(x->namespace, x->name, y->namespace, y->name);

	return c ? c : (x > y) - (x < y);
}

static int cmp_pod_name(const void *a, const void *b, void *arg)
{
	const struct pod *p = arg, *x = &p[*(const size_t *)a], *y = &p[*(const size_t *)b];
	int c = cmp_ns_name(x->namespace, x->name, y->namespace, y->name);

	return c ? c : (x > y) - (x < y);
}

static int cmp_svc_ip(const void *a, const void *b, void *arg)
{
	const struct service *s = arg, *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
	uint32_t ix = ntohl(x->cluster_ip.s_addr), iy = ntohl(y->cluster_ip.s_addr);

	if (ix != iy)
		return (ix > iy) - (ix < iy);
	return (x > y) - (x < y);
}

/* Indexes 0..@n-1 sorted by @cmp over @base. NULL on ENOMEM. */
static size_t *sorted_index(size_t n, int (*cmp)(const void *, const void *, void *), void *base)
{
	size_t *idx = calloc(n + 1, sizeof(*idx));

	if (!idx)
		return NULL;
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp, base);
	return idx;
}

static void report_dup(struct load *ld, const char *kind, const char *ns, const char *name,
		       const struct src_loc *dup, const struct src_loc *first)
{
	load_report(ld, LOG_ERROR,
		    "%s:%d:%d: metadata.name: duplicate %s %s/%s (first defined at %s:%d:%d)",
		    dup->file, dup->line, dup->col, kind, ns, name, first->file, first->line,
		    first->col);
}

/* Reports objects of one kind defined twice and clusterIPs used twice. 0 or -ENOMEM. */
static int check_unique(struct load *ld, const size_t *pod_order)
{
	struct config *cfg = ld->cfg;
	struct service *sv = cfg->services;
	size_t *by_ip, n = cfg->n_services;

	for (size_t i = 1; i < n; i++) {
		const struct service *a = &sv[cfg->svc_by_name[i - 1]],
				     *b = &sv[cfg->svc_by_name[i]];

		if (!cmp_ns_name(a->namespace, a->name, b->namespace, b->name))
			report_dup(ld, "Service", b->namespace, b->name, &b->loc, &a->loc);
	}
	for (size_t i = 1; i < cfg->n_pods; i++) {
		const struct pod *a = &cfg->pods[pod_order[i - 1]], *b = &cfg->pods[pod_order[i]];

		if (!cmp_ns_name(a->namespace, a->name, b->namespace, b->name))
			report_dup(ld, "Pod", b->namespace, b->name, &b->loc, &a->loc);
	}
	by_ip = sorted_index(n, cmp_svc_ip, sv);
	if (!by_ip)
		return -ENOMEM;
	for (size_t i = 1; i < n; i++) {
		const struct service *a = &sv[by_ip[i - 1]], *b = &sv[by_ip[i]];
		char ip[INET_ADDRSTRLEN];

		if (!b->cluster_ip.s_addr || a->cluster_ip.s_addr != b->cluster_ip.s_addr)
			continue;
		inet_ntop(AF_INET, &b->cluster_ip, ip, sizeof(ip));
		load_report(
			ld, LOG_ERROR,
			"%s:%d:%d: spec.clusterIP: %s is also the clusterIP of Service %s/%s at "
			"%s:%d:%d",
			b->cluster_ip_loc.file, b->cluster_ip_loc.line, b->cluster_ip_loc.col, ip,
			a->namespace, a->name, a->cluster_ip_loc.file, a->cluster_ip_loc.line,
			a->cluster_ip_loc.col);
	}
	free(by_ip);
	return 0;
}

static bool selects(const struct service *s, const struct pod *p)
{
	for (size_t i = 0; i < s->selector.n; i++) {
		const char *v = labels_get(&p->labels, s->selector.v[i].key);

		if (!v || strcmp(v, s->selector.v[i].value))
			return false;
	}
	return true;
}

/* What the endpoints controller skips: no address, being deleted, or finished. */
static bool may_serve(const struct pod *p)
{
	return p->ip.s_addr && !p->terminating &&
	       !(p->phase && (!strcmp(p->phase, "Succeeded") || !strcmp(p->phase, "Failed")));
}

/* The pod port @sp reaches on @p, or 0: a named targetPort needs a container port of that
 * name and protocol (the first one, as Kubernetes' FindPort takes). */
static uint16_t target_on(const struct svc_port *sp, const struct pod *p)
{
	if (!sp->target_port_name)
		return sp->target_port;
	for (size_t i = 0; i < p->n_cports; i++)
		if (p->cports[i].name && !strcmp(p->cports[i].name, sp->target_port_name) &&
		    p->cports[i].protocol == sp->protocol)
			return p->cports[i].port;
	return 0;
}

/* Fills sp->eps from @pods (the service's pods, ready ones first, each group by name). */
static int fill_port(struct svc_port *sp, const struct pod *const *pods, size_t n)
{
	sp->eps = calloc(n + 1, sizeof(*sp->eps));
	if (!sp->eps)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint16_t port = target_on(sp, pods[i]);

		if (!port)
			continue;
		sp->eps[sp->n_eps++] = (struct endpoint){
			.ip = pods[i]->ip, .port = port, .ready = pods[i]->ready, .pod = pods[i]};
		sp->n_ready += pods[i]->ready;
	}
	return 0;
}

/* The first position in @pod_order (pods sorted by namespace, name) of namespace @ns. */
static size_t ns_start(const struct config *cfg, const size_t *pod_order, const char *ns)
{
	size_t lo = 0, hi = cfg->n_pods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(cfg->pods[pod_order[mid]].namespace, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Endpoints of every service with a selector, from the pods of its namespace. 0 or -ENOMEM. */
static int compute_endpoints(struct config *cfg, const size_t *pod_order)
{
	const struct pod **pods = calloc(cfg->n_pods + 1, sizeof(*pods));
	int err = 0;

	if (!pods)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_services && !err; i++) {
		struct service *s = &cfg->services[i];
		size_t n = 0, start = ns_start(cfg, pod_order, s->namespace);

		if (!s->has_selector)
			continue;
		/* Two passes over the namespace in name order: ready pods first, then the rest. */
		for (int pass = 1; pass >= 0; pass--) {
			for (size_t k = start; k < cfg->n_pods; k++) {
				const struct pod *p = &cfg->pods[pod_order[k]];

				if (strcmp(p->namespace, s->namespace))
					break;
				if (p->ready == pass && may_serve(p) && selects(s, p))
					pods[n++] = p;
			}
		}
		for (size_t j = 0; j < s->n_ports && !err; j++)
			err = fill_port(&s->ports[j], pods, n);
	}
	free(pods);
	return err;
}

static size_t vip_hash(uint32_t vip, uint16_t port_be, uint8_t proto)
{
	uint64_t x = ((uint64_t)vip << 32) | ((uint64_t)port_be << 8) | proto;

	/* splitmix64's finaliser: every input bit moves every output bit. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x;
}

/* Open addressing, linear probing, at most half full. 0 or -ENOMEM. */
static int build_vip_index(struct config *cfg)
{
	size_t n = 0, size = 16;

	for (size_t i = 0; i < cfg->n_services; i++)
		if (cfg->services[i].cluster_ip.s_addr)
			n += cfg->services[i].n_ports;
	while (size < 2 * n)
		size *= 2;
	cfg->vip_slots = calloc(size, sizeof(*cfg->vip_slots));
	if (!cfg->vip_slots)
		return -ENOMEM;
	cfg->vip_mask = size - 1;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];

		for (size_t j = 0; s->cluster_ip.s_addr && j < s->n_ports; j++) {
			uint16_t port_be = htons(s->ports[j].port);
			size_t h = vip_hash(s->cluster_ip.s_addr, port_be, s->ports[j].protocol);

			while (cfg->vip_slots[h & cfg->vip_mask].vip)
				h++;
			cfg->vip_slots[h & cfg->vip_mask] = (struct config_vip_slot){
				.vip = s->cluster_ip.s_addr,
				.port_be = port_be,
				.proto = s->ports[j].protocol,
				.svc = (uint32_t)i,
				.port = (uint32_t)j,
			};
		}
	}
	return 0;
}

/* Everything that needs all files: uniqueness checks (even after other problems, so that all
 * are reported), then endpoints and indexes. @err is the load's I/O error so far. Returns it,
 * or -EINVAL when a problem was reported, or -ENOMEM. */
static int finish(struct load *ld, int err)
{
	struct config *cfg = ld->cfg;
	size_t *pod_order;
	int ierr;

	cfg->svc_by_name = sorted_index(cfg->n_services, cmp_svc_name, cfg->services);
	pod_order = sorted_index(cfg->n_pods, cmp_pod_name, cfg->pods);
	if (!cfg->svc_by_name || !pod_order) {
		err = -ENOMEM;
		goto free_order;
	}
	ierr = check_unique(ld, pod_order);
	if (ierr || err || ld->errors) {
		err = ierr ? ierr : err ? err : -EINVAL;
		goto free_order;
	}
	err = compute_endpoints(cfg, pod_order);
	if (!err)
		err = build_vip_index(cfg);
free_order:
	free(pod_order);
	return err;
}

static int load_begin(struct load *ld)
{
	memset(ld, 0, sizeof(*ld));
	ld->sink.emit = emit;
	ld->cfg = calloc(1, sizeof(*ld->cfg));
	return ld->cfg ? 0 : -ENOMEM;
}

/* Hands the config over on success, frees it otherwise. Returns @err. */
static int load_end(struct load *ld, int err, struct config **out)
{
	if (err != -ENOMEM)
		err = finish(ld, err);
	if (err) {
		if (ld->errors)
			log_error("config: %u problem%s, config rejected", ld->errors,
				  ld->errors == 1 ? "" : "s");
		config_free(ld->cfg);
		return err;
	}
	*out = ld->cfg;
	return 0;
}

int config_load_buf(const char *name, const char *buf, size_t len, struct config **out)
{
	const char *file;
	struct load ld;
	int err;

	err = load_begin(&ld);
	if (err)
		return err;
	file = add_file(&ld, name);
	err = file ? load_stream(&ld, file, buf, len) : -ENOMEM;
	return load_end(&ld, err, out);
}

int config_load_dir(const char *dir, struct config **out)
{
	size_t n_paths = 0;
	char **paths;
	struct load ld;
	int err, io_err = 0;

	err = yt_list_dir(dir, &paths, &n_paths);
	if (err) {
		char line[1024];

		snprintf(line, sizeof(line), "%s: cannot read config directory: %s", dir,
			 strerror(-err));
		emit(NULL, LOG_ERROR, line);
		return err;
	}
	err = load_begin(&ld);
	for (size_t i = 0; i < n_paths && !err; i++) {
		const char *file = add_file(&ld, paths[i]);
		char *buf = NULL;
		size_t len = 0;
		int rerr;

		if (!file) {
			err = -ENOMEM;
			break;
		}
		rerr = yt_read_file(file, &buf, &len);
		if (rerr) {
			load_report(&ld, LOG_ERROR, "%s: cannot read: %s", file, strerror(-rerr));
			io_err = io_err ? io_err : rerr;
			continue;
		}
		err = load_stream(&ld, file, buf, len);
		free(buf);
	}
	if (ld.cfg)
		err = load_end(&ld, err ? err : io_err, out);
	yt_free_paths(paths, n_paths);
	return err;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_services; i++)
		service_release(&cfg->services[i]);
	free(cfg->services);
	for (size_t i = 0; i < cfg->n_pods; i++)
		pod_release(&cfg->pods[i]);
	free(cfg->pods);
	for (size_t i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->svc_by_name);
	free(cfg->vip_slots);
	free(cfg);
}

const struct svc_port *config_find_vip(const struct config *cfg, struct in_addr vip,
				       uint16_t port_be, uint8_t protocol,
				       const struct service **svc)
{
	const struct config_vip_slot *e;
	size_t h;

	if (!vip.s_addr)
		return NULL;
	for (h = vip_hash(vip.s_addr, port_be, protocol);; h++) {
		e = &cfg->vip_slots[h & cfg->vip_mask];
		if (!e->vip)
			return NULL;
		if (e->vip == vip.s_addr && e->port_be == port_be && e->proto == protocol)
			break;
	}
	if (svc)
		*svc = &cfg->services[e->svc];
	return &cfg->services[e->svc].ports[e->port];
}

const struct service *config_find_service(const struct config *cfg, const char *namespace,
					  const char *name)
{
	size_t lo = 0, hi = cfg->n_services;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct service *s = &cfg->services[cfg->svc_by_name[mid]];
		int c = cmp_ns_name(s->namespace, s->name, namespace, name);

		if (!c)
			return s;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
