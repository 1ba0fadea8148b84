// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * discovery.k8s.io/v1 EndpointSlice, and the endpoints of the services that
 * have no selector, taken from the slices that name them as kube-proxy takes
 * them: the slice ports whose name and protocol are the service port's, each
 * endpoint's first address, terminating endpoints left out, ready ones
 * first. A service with a selector keeps the endpoints computed from its
 * pods (config_eps.c): the endpoints controller writes its slices from the
 * same pods, and the pods carry what slices do not (labels for subsets).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "log.h"

/* The API's limits (validation of discovery.k8s.io/v1). */
#define SLICE_EPS_MAX	1000
#define SLICE_PORTS_MAX 100

void k8s_slice_release(struct endpoint_slice *s)
{
	free(s->name);
	free(s->namespace);
	free(s->service);
	for (size_t i = 0; i < s->n_eps; i++)
		free(s->eps[i].pod_name);
	free(s->eps);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
}

/* endpoints[i].addresses[0] of a slice of family @ipv6 into @e. */
static void parse_addresses(struct yt *t, yaml_node_t *ep, bool ipv6, struct slice_endpoint *e)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;
	char *s = NULL;

	if (yt_enter_seq(t, ep, "addresses", YT_REQUIRED, &f, &seq))
		return;
	if (!yt_seq_len(seq) || yt_seq_len(seq) > 100) {
		yt_error(t, seq->start_mark, NULL, "must hold 1 to 100 addresses, got %zu",
			 yt_seq_len(seq));
		goto pop;
	}
	yt_push(t, &fi, NULL, 0, yt_seq_item(t, seq, 0)->start_mark);
	if (!yt_node_str(t, yt_seq_item(t, seq, 0), NULL, &s)) {
		int ok = ipv6 ? inet_pton(AF_INET6, s, &e->ip6) : inet_pton(AF_INET, s, &e->ip);

		if (ok != 1)
			yt_error(t, yt_seq_item(t, seq, 0)->start_mark, NULL,
				 "\"%s\" is not an %s address (addressType)", s,
				 ipv6 ? "IPv6" : "IPv4");
		e->has_ip6 = ipv6;
	}
	free(s);
	yt_pop(t, &fi);
pop:
	yt_pop(t, &f);
}

/* endpoints[i] into @e. */
static void parse_endpoint(struct yt *t, yaml_node_t *ep, bool ipv6, struct slice_endpoint *e)
{
	struct yt_frame f;
	yaml_node_t *n;
	char *kind = NULL;

	if (yt_check_map(t, ep, NULL))
		return;
	parse_addresses(t, ep, ipv6, e);
	e->ready = true;
	if (!yt_enter_map(t, ep, "conditions", 0, &f, &n)) {
		yt_bool(t, n, "ready", 0, &e->ready);
		yt_bool(t, n, "terminating", 0, &e->terminating);
		yt_pop(t, &f);
	}
	if (!yt_enter_map(t, ep, "targetRef", 0, &f, &n)) {
		if (!yt_str(t, n, "kind", 0, &kind) && !strcmp(kind, "Pod"))
			yt_str(t, n, "name", 0, &e->pod_name);
		free(kind);
		yt_pop(t, &f);
	}
}

static void parse_endpoints(struct yt *t, yaml_node_t *obj, struct endpoint_slice *s)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	if (yt_enter_seq(t, obj, "endpoints", 0, &f, &seq))
		return;
	if (yt_seq_len(seq) > SLICE_EPS_MAX) {
		yt_error(t, seq->start_mark, NULL, "at most %d endpoints, got %zu", SLICE_EPS_MAX,
			 yt_seq_len(seq));
		goto pop;
	}
	s->eps = calloc(yt_seq_len(seq) + 1, sizeof(*s->eps));
	if (!s->eps) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < yt_seq_len(seq); i++) {
		yaml_node_t *ep = yt_seq_item(t, seq, i);

		yt_push(t, &fi, NULL, (long)i, ep->start_mark);
		parse_endpoint(t, ep, s->ipv6, &s->eps[s->n_eps++]);
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
}

static void parse_ports(struct yt *t, yaml_node_t *obj, struct endpoint_slice *s)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;
	long v;

	if (yt_enter_seq(t, obj, "ports", 0, &f, &seq))
		return;
	if (yt_seq_len(seq) > SLICE_PORTS_MAX) {
		yt_error(t, seq->start_mark, NULL, "at most %d ports, got %zu", SLICE_PORTS_MAX,
			 yt_seq_len(seq));
		goto pop;
	}
	s->ports = calloc(yt_seq_len(seq) + 1, sizeof(*s->ports));
	if (!s->ports) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct slice_port *p = &s->ports[s->n_ports++];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (!yt_check_map(t, item, NULL)) {
			if (yt_str(t, item, "name", 0, &p->name) == -ENOENT) {
				p->name = strdup("");
				t->oom |= !p->name;
			}
			if (!yt_int(t, item, "port", 0, 1, 65535, &v))
				p->port = (uint16_t)v;
			k8s_parse_protocol(t, item, "protocol", &p->protocol);
		}
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
}

int k8s_parse_endpoint_slice(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct endpoint_slice s = {.loc = config_loc_of(t, obj->start_mark)};
	unsigned errors = t->errors;
	struct k8s_meta m = {0};
	const char *svc;
	yaml_node_t *n;
	char *type = NULL;

	k8s_parse_meta(t, obj, &m);
	s.name = m.name;
	s.namespace = m.ns;
	m.name = m.ns = NULL;
	svc = labels_get(&m.labels, CONFIG_SLICE_SERVICE_LABEL);
	if (svc) {
		s.service = strdup(svc);
		t->oom |= !s.service;
	}
	k8s_meta_release(&m);
	if (!yt_str(t, obj, "addressType", YT_REQUIRED, &type)) {
		n = yt_get(t, obj, "addressType", NULL);
		if (!strcmp(type, "IPv6")) {
			s.ipv6 = true;
		} else if (!strcmp(type, "FQDN")) {
			config_report(ld, LOG_INFO,
				      "%s:%d:%d: addressType: FQDN slices are not used by shunt",
				      s.loc.file, s.loc.line, s.loc.col);
			free(type);
			goto drop;
		} else if (strcmp(type, "IPv4")) {
			yt_error(t, n->start_mark, "addressType",
				 "\"%s\" is not IPv4, IPv6 or FQDN", type);
		}
		free(type);
	}
	parse_endpoints(t, obj, &s);
	parse_ports(t, obj, &s);
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ld->cfg->slices, &ld->cfg->n_slices, &ld->cap_slices, &s,
			   sizeof(s)))
		return 0;
	t->oom = true;
drop:
	k8s_slice_release(&s);
	return t->oom ? -ENOMEM : 0;
}

static int cmp_ns_name(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
	int c = strcmp(ns1, ns2);

	return c ? c : strcmp(n1, n2);
}

/* The pod @ns/@name in @cfg, found in @pod_order (sorted by namespace, name), or NULL. */
static const struct pod *find_pod(const struct config *cfg, const size_t *pod_order, const char *ns,
				  const char *name)
{
	size_t lo = 0, hi = cfg->n_pods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pod *p = &cfg->pods[pod_order[mid]];
		int c = cmp_ns_name(p->namespace, p->name, ns, name);

		if (!c)
			return p;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cmp_slice_svc(const void *a, const void *b)
{
	const struct endpoint_slice *x = *(const struct endpoint_slice *const *)a,
				    *y = *(const struct endpoint_slice *const *)b;
	int c = cmp_ns_name(x->namespace, x->service, y->namespace, y->service);

	return c ? c : (x > y) - (x < y); /* file order among a service's slices */
}

/* The range [*@lo, *@hi) of @v (@n slices sorted by namespace, service) that serves @s. */
static void slices_of(const struct endpoint_slice *const *v, size_t n, const struct service *s,
		      size_t *lo, size_t *hi)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (cmp_ns_name(v[mid]->namespace, v[mid]->service, s->namespace, s->name) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = *hi = a;
	while (*hi < n && !cmp_ns_name(v[*hi]->namespace, v[*hi]->service, s->namespace, s->name))
		(*hi)++;
}

/* The port of @sl that carries service port @sp (same name, "" for none, and protocol). */
static const struct slice_port *slice_port_of(const struct endpoint_slice *sl,
					      const struct svc_port *sp)
{
	for (size_t i = 0; i < sl->n_ports; i++)
		if (!strcmp(sl->ports[i].name, sp->name ? sp->name : "") &&
		    sl->ports[i].protocol == sp->protocol && sl->ports[i].port)
			return &sl->ports[i];
	return NULL;
}

/* Ready ones first, then by address: duplicates (a pod in two slices) end up side by side. */
static int cmp_ep(const void *a, const void *b)
{
	const struct endpoint *x = a, *y = b;
	int c = (int)y->ready - (int)x->ready;

	if (!c)
		c = memcmp(&x->ip, &y->ip, sizeof(x->ip));
	if (!c)
		c = memcmp(&x->ip6, &y->ip6, sizeof(x->ip6));
	return c ? c : (int)x->port - (int)y->port;
}

static const struct labels no_labels;

/* The endpoints of port @sp from slices @v (@n of them, all serving its service). 0 or
 * -ENOMEM. */
static int fill_port(const struct config *cfg, const size_t *pod_order,
		     const struct endpoint_slice *const *v, size_t n_slices, struct svc_port *sp)
{
	size_t m = 0, n = 0;

	for (size_t i = 0; i < n_slices; i++)
		if (slice_port_of(v[i], sp))
			m += v[i]->n_eps;
	sp->eps = calloc(m + 1, sizeof(*sp->eps));
	if (!sp->eps)
		return -ENOMEM;
	for (size_t i = 0; i < n_slices; i++) {
		const struct endpoint_slice *sl = v[i];
		const struct slice_port *p = slice_port_of(sl, sp);

		for (size_t j = 0; p && j < sl->n_eps; j++) {
			const struct slice_endpoint *e = &sl->eps[j];
			const struct pod *pod =
				e->pod_name ? find_pod(cfg, pod_order, sl->namespace, e->pod_name)
					    : NULL;

			if (e->terminating)
				continue;
			sp->eps[n++] = (struct endpoint){.ip = e->ip,
							 .ip6 = e->ip6,
							 .has_ip6 = e->has_ip6,
							 .port = p->port,
							 .ready = e->ready,
							 .pod = pod,
							 .labels = pod ? &pod->labels : &no_labels};
		}
	}
	if (n)
		qsort(sp->eps, n, sizeof(*sp->eps), cmp_ep);
	sp->n_eps = 0;
	for (size_t i = 0; i < n; i++) {
		if (sp->n_eps && !cmp_ep(&sp->eps[sp->n_eps - 1], &sp->eps[i]))
			continue;
		sp->eps[sp->n_eps] = sp->eps[i];
		sp->n_ready += sp->eps[sp->n_eps++].ready;
	}
	return 0;
}

int config_slice_endpoints(struct config *cfg, const size_t *pod_order)
{
	const struct endpoint_slice **v = calloc(cfg->n_slices + 1, sizeof(*v));
	size_t n = 0, lo, hi;
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_slices; i++)
		if (cfg->slices[i].service)
			v[n++] = &cfg->slices[i];
	if (n)
		qsort(v, n, sizeof(*v), cmp_slice_svc);
	for (size_t i = 0; i < cfg->n_services && !err; i++) {
		struct service *s = &cfg->services[i];

		if (s->has_selector || s->se)
			continue;
		slices_of(v, n, s, &lo, &hi);
		s->eps_from_slices = hi > lo;
		for (size_t j = 0; s->eps_from_slices && j < s->n_ports && !err; j++)
			err = fill_port(cfg, pod_order, v + lo, hi - lo, &s->ports[j]);
	}
	free(v);
	return err;
}
