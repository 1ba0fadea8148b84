// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Building the route table: namespaces interned, a client index by IP,
 * exportTo as bitsets, VirtualService rules compiled (regexes once), every
 * service's VirtualService and DestinationRule candidates in Istio's order of
 * precedence, and one cluster per (service port, DestinationRule, subset) with
 * its merged policy, ready endpoints and hash ring. route_select.c reads it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route_int.h"

#define ISTIO(cfg) (&(cfg)->istio)

static uint16_t next_tag;

static bool strmap_get(const struct rt_strmap *m, const char *key, uint32_t *val)
{
	return key && rt_strmap_get(m, key, strlen(key), val);
}

static int intern_ns(struct route_table *rt, const char *ns, uint32_t *id)
{
	if (!ns)
		ns = "";
	if (strmap_get(&rt->ns_ids, ns, id))
		return 0;
	*id = (uint32_t)rt->n_ns;
	rt->ns_names[rt->n_ns++] = ns;
	rt_strmap_put(&rt->ns_ids, ns, *id);
	return 0;
}

/* Sized for every object having a namespace of its own, the map and the names shrink to the
 * namespaces there are (a few, where pods are many). 0 or -ENOMEM. */
static int shrink_namespaces(struct route_table *rt)
{
	struct rt_strmap m;
	const char **names;

	if (rt_strmap_init(&m, rt->n_ns))
		return -ENOMEM;
	for (size_t i = 0; i < rt->n_ns; i++)
		rt_strmap_put(&m, rt->ns_names[i], (uint32_t)i);
	rt_strmap_free(&rt->ns_ids);
	rt->ns_ids = m;
	names = realloc(rt->ns_names, (rt->n_ns + 1) * sizeof(*names));
	if (names)
		rt->ns_names = names;
	return 0;
}

static int build_namespaces(struct route_table *rt)
{
	const struct config *cfg = rt->cfg;
	const struct istio_config *ic = ISTIO(cfg);
	size_t max = cfg->n_pods + cfg->n_services + ic->n_vs + ic->n_dr + ic->n_gws + 1;
	uint32_t id;
	int err;

	err = rt_strmap_init(&rt->ns_ids, max);
	if (err)
		return err;
	rt->ns_names = calloc(max, sizeof(*rt->ns_names));
	if (!rt->ns_names)
		return -ENOMEM;
	intern_ns(rt, ROUTE_ROOT_NAMESPACE, &rt->root_ns);
	for (size_t i = 0; i < cfg->n_pods; i++)
		intern_ns(rt, cfg->pods[i].namespace, &id);
	for (size_t i = 0; i < cfg->n_services; i++)
		intern_ns(rt, cfg->services[i].namespace, &id);
	for (size_t i = 0; i < ic->n_vs; i++)
		intern_ns(rt, ic->vs[i].namespace, &id);
	for (size_t i = 0; i < ic->n_dr; i++)
		intern_ns(rt, ic->dr[i].namespace, &id);
	for (size_t i = 0; i < ic->n_gws; i++)
		intern_ns(rt, ic->gws[i].namespace, &id);
	return shrink_namespaces(rt);
}

static int pod_rank(const struct pod *p)
{
	if (p->terminating ||
	    (p->phase && (!strcmp(p->phase, "Succeeded") || !strcmp(p->phase, "Failed"))))
		return 0;
	return 1;
}

/*
 * IP -> client. Several pods may share an address (hostNetwork pods, a pod
 * terminating while its IP is reused): a live pod beats a finished one; two
 * live pods leave the client without pod (no labels), and without namespace
 * unless they share it.
 */
static int build_clients(struct route_table *rt)
{
	const struct config *cfg = rt->cfg;
	uint8_t *ranks; /* of each slot's client, while building */
	size_t cap = 16;

	while (cap < cfg->n_pods * 2)
		cap <<= 1;
	rt->clients = calloc(cap, sizeof(*rt->clients));
	ranks = calloc(cap, sizeof(*ranks));
	if (!rt->clients || !ranks) {
		free(ranks);
		return -ENOMEM;
	}
	rt->clients_mask = cap - 1;
	for (size_t i = 0; i < cfg->n_pods; i++) {
		const struct pod *p = &cfg->pods[i];
		struct rt_client *c, now;
		uint8_t rank = (uint8_t)pod_rank(p);
		size_t h;

		if (!p->ip.s_addr)
			continue;
		now = (struct rt_client){.ip = p->ip.s_addr, .pod = p};
		strmap_get(&rt->ns_ids, p->namespace ? p->namespace : "", &now.ns);
		for (h = lb_hash(&p->ip.s_addr, 4);; h++) {
			c = &rt->clients[h & rt->clients_mask];
			if (!c->ip || c->ip == p->ip.s_addr)
				break;
		}
		if (!c->ip || rank > ranks[h & rt->clients_mask]) {
			*c = now;
			ranks[h & rt->clients_mask] = rank;
		} else if (rank == ranks[h & rt->clients_mask]) {
			c->pod = NULL;
			if (c->ns != now.ns)
				c->ns = RT_NS_NONE;
		}
	}
	free(ranks);
	return 0;
}

const struct rt_client *rt_client_find(const struct route_table *rt, struct in_addr ip)
{
	static const struct rt_client unknown = {.ns = RT_NS_NONE};

	if (!ip.s_addr)
		return &unknown;
	for (size_t h = lb_hash(&ip.s_addr, 4);; h++) {
		const struct rt_client *c = &rt->clients[h & rt->clients_mask];

		if (c->ip == ip.s_addr)
			return c;
		if (!c->ip)
			return &unknown;
	}
}

const struct pod *route_client_pod(const struct route_table *rt, struct in_addr ip)
{
	return rt_client_find(rt, ip)->pod;
}

bool rt_labels_subset(const struct labels *want, const struct labels *have)
{
	for (size_t i = 0; i < want->n; i++) {
		const char *v = have ? labels_get(have, want->v[i].key) : NULL;

		if (!v || strcmp(v, want->v[i].value))
			return false;
	}
	return true;
}

bool rt_host_matches(const char *pattern, const char *fqdn, size_t *specificity)
{
	size_t pl = strlen(pattern), fl = strlen(fqdn);

	if (pattern[0] != '*') {
		if (strcmp(pattern, fqdn))
			return false;
		*specificity = SIZE_MAX;
		return true;
	}
	/* "*" matches everything; "*.example.com" any name ending in ".example.com". */
	if (fl < pl || strcmp(fqdn + fl - (pl - 1), pattern + 1))
		return false;
	*specificity = pl;
	return true;
}

/* Who is older in Istio's eyes: creation time, then name, then namespace. */
static int age_cmp(const char *ta, const char *na, const char *nsa, const char *tb, const char *nb,
		   const char *nsb)
{
	int c = strcmp(ta ? ta : "", tb ? tb : "");

	if (!c)
		c = strcmp(na ? na : "", nb ? nb : "");
	if (!c)
		c = strcmp(nsa ? nsa : "", nsb ? nsb : "");
	return c;
}

/* exportTo as Istio reads it; @ns NULL is a client in no namespace: only "*" (or none) shows. */
static bool exported(char *const *to, size_t n, const char *own, const char *ns)
{
	if (!ns) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(to[i], "*"))
				return true;
		return n == 0;
	}
	return istio_exported_to(to, n, own, ns);
}

static const uint64_t *visibility(struct route_table *rt, size_t idx, char *const *to, size_t n,
				  const char *own)
{
	size_t words = (rt->n_ns + 1 + 63) / 64;
	uint64_t *vis = rt->bits + idx * words;

	for (size_t i = 0; i <= rt->n_ns; i++)
		if (exported(to, n, own, i < rt->n_ns ? rt->ns_names[i] : NULL))
			vis[i / 64] |= 1ULL << (i % 64);
	return vis;
}

static bool private_only(char *const *to, size_t n, const char *own)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(to[i], ".") && strcmp(to[i], "~") && strcmp(to[i], own ? own : ""))
			return false;
	return true;
}

/* The FQDN of @s in the table's string table. NULL on ENOMEM. */
static char *svc_fqdn(struct route_table *rt, const struct service *s)
{
	char *out, *copy;

	if (s->fqdn)
		return strtab_dup(&rt->strs, s->fqdn);
	if (asprintf(&out, "%s.%s.svc.cluster.local", s->name, s->namespace) < 0)
		return NULL;
	copy = strtab_dup(&rt->strs, out);
	free(out);
	return copy;
}

static int build_services(struct route_table *rt)
{
	const struct config *cfg = rt->cfg;
	int err;

	rt->svcs = calloc(cfg->n_services + 1, sizeof(*rt->svcs));
	if (!rt->svcs)
		return -ENOMEM;
	err = rt_strmap_init(&rt->svc_by_fqdn, cfg->n_services);
	if (err)
		return err;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];
		struct rt_svc *rs = &rt->svcs[i];

		rs->svc = s;
		/* A ServiceEntry's host is its own FQDN; a Kubernetes service's is built. */
		rs->fqdn = svc_fqdn(rt, s);
		if (!rs->fqdn)
			return -ENOMEM;
		strmap_get(&rt->ns_ids, s->namespace, &rs->ns);
		rt_strmap_put(&rt->svc_by_fqdn, rs->fqdn, (uint32_t)i);
	}
	return 0;
}

static bool names_mesh(char *const *gw, size_t n)
{
	if (!n)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(gw[i], "mesh"))
			return true;
	return false;
}

static int compile_kv(struct rt_kv *kv, const struct kv_match *src, bool invert, bool query,
		      const char *what)
{
	static const struct {
		const char *name;
		enum rt_field field;
	} pseudo[] = {
		{":authority", RF_AUTHORITY}, {"host", RF_AUTHORITY}, {":method", RF_METHOD},
		{":scheme", RF_SCHEME},	      {":path", RF_PATH},
	};

	kv->name = src->name;
	kv->name_len = strlen(src->name);
	kv->invert = invert;
	kv->field = RF_HEADER;
	for (size_t i = 0; !query && i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
		if (!strcasecmp(src->name, pseudo[i].name))
			kv->field = pseudo[i].field;
	return rt_str_compile(&kv->m, &src->m, false, true, what);
}

/* method, authority, scheme: Istio makes them header matchers on Envoy's pseudo-headers. */
static int compile_pseudo(struct rt_kv *kv, const struct str_match *sm, enum rt_field field,
			  const char *what)
{
	kv->name = what;
	kv->name_len = strlen(what);
	kv->field = field;
	kv->invert = false;
	return rt_str_compile(&kv->m, sm, false, true, what);
}

/* A regex that does not compile was reported: note it and go on, to report every one. */
static int note(struct route_table *rt, int err)
{
	if (err == -EINVAL) {
		rt->bad_regex = true;
		return 0;
	}
	return err;
}

static int compile_match(struct route_table *rt, struct rt_match *m, const struct http_match *src,
			 const struct virtual_service *vs)
{
	size_t n = src->n_headers + src->n_without_headers + (src->method.kind != SM_NONE) +
		   (src->authority.kind != SM_NONE) + (src->scheme.kind != SM_NONE);
	int err;

	m->mesh = names_mesh(src->gateways, src->n_gateways);
	m->by_gateways = src->n_gateways > 0;
	m->gws = src->n_gateways ? src->gateways : vs->gateways;
	m->n_gws = src->n_gateways ? src->n_gateways : vs->n_gateways;
	m->vs_ns = vs->namespace;
	m->port = src->port;
	m->src_labels = src->source_labels.n ? &src->source_labels : NULL;
	m->src_ns = RT_NS_ANY;
	if (src->source_namespace && !strmap_get(&rt->ns_ids, src->source_namespace, &m->src_ns))
		m->src_ns = RT_NS_MISSING;

	/* Arrays of the table live in its string table, exactly as long as they need to be. */
	m->hdrs = n ? strtab_alloc(&rt->strs, n * sizeof(*m->hdrs)) : NULL;
	m->qps = src->n_query_params
			 ? strtab_alloc(&rt->strs, src->n_query_params * sizeof(*m->qps))
			 : NULL;
	if ((n && !m->hdrs) || (src->n_query_params && !m->qps))
		return -ENOMEM;
	/* ignoreUriCase: Envoy's case_sensitive applies to exact and prefix paths, not regexes. */
	err = note(rt, rt_str_compile(&m->uri, &src->uri, src->ignore_uri_case, false, "uri"));
	if (!err && src->method.kind != SM_NONE)
		err = note(rt, compile_pseudo(&m->hdrs[m->n_hdrs++], &src->method, RF_METHOD,
					      "method"));
	if (!err && src->authority.kind != SM_NONE)
		err = note(rt, compile_pseudo(&m->hdrs[m->n_hdrs++], &src->authority, RF_AUTHORITY,
					      "authority"));
	if (!err && src->scheme.kind != SM_NONE)
		err = note(rt, compile_pseudo(&m->hdrs[m->n_hdrs++], &src->scheme, RF_SCHEME,
					      "scheme"));
	for (size_t i = 0; !err && i < src->n_headers; i++)
		err = note(rt, compile_kv(&m->hdrs[m->n_hdrs++], &src->headers[i], false, false,
					  "headers"));
	for (size_t i = 0; !err && i < src->n_without_headers; i++)
		err = note(rt, compile_kv(&m->hdrs[m->n_hdrs++], &src->without_headers[i], true,
					  false, "withoutHeaders"));
	for (size_t i = 0; !err && i < src->n_query_params; i++)
		err = note(rt, compile_kv(&m->qps[m->n_qps++], &src->query_params[i], false, true,
					  "queryParams"));
	return err;
}

void rt_resolve(const struct route_table *rt, const struct istio_destination *dst,
		struct rt_svc **svc, int *port)
{
	const char *host = dst->fqdn ? dst->fqdn : dst->host;
	uint32_t idx;

	*svc = host && strmap_get(&rt->svc_by_fqdn, host, &idx) ? &rt->svcs[idx] : NULL;
	*port = RT_PORT_MISSING;
	if (!*svc)
		return;
	if (dst->port) {
		for (size_t i = 0; i < (*svc)->svc->n_ports; i++)
			if ((*svc)->svc->ports[i].port == dst->port)
				*port = (int)i;
	} else if ((*svc)->svc->n_ports == 1) {
		*port = 0;
	} else {
		*port = RT_PORT_REQUEST;
	}
}

static void resolve_dest(struct route_table *rt, struct rt_dest *d,
			 const struct route_destination *src)
{
	d->src = src;
	d->subset = src->dst.subset;
	rt_resolve(rt, &src->dst, &d->svc, &d->port);
}

/* Compiles @src into @r, its match entries into @m (room for src->n_match). */
static int compile_rule(struct route_table *rt, struct rt_rule *r, struct rt_match *m,
			const struct http_route *src, size_t index,
			const struct virtual_service *vs)
{
	int err;

	r->src = src;
	r->index = index;
	r->m = m;
	r->d = strtab_alloc(&rt->strs, (src->n_route + 1) * sizeof(*r->d));
	r->w = strtab_alloc(&rt->strs, (src->n_route + 1) * sizeof(*r->w));
	if (!r->d || !r->w)
		return -ENOMEM;
	for (size_t i = 0; i < src->n_match; i++) {
		r->n_m++;
		err = compile_match(rt, &r->m[i], &src->match[i], vs);
		if (err)
			return err;
	}
	/* One destination takes everything whatever its weight; among several, zero means none. */
	for (size_t i = 0; i < src->n_route; i++) {
		uint32_t w = src->n_route == 1 ? 1 : src->route[i].weight;

		if (!w)
			continue;
		resolve_dest(rt, &r->d[r->n_d], &src->route[i]);
		r->w[r->n_d++] = w;
		r->total += w;
	}
	if (r->n_d > 1) {
		r->wrr_base = rt->n_wrr;
		rt->n_wrr += (uint32_t)r->n_d;
	}
	return note(rt, rt_actions_build(rt, r));
}

static int compile_vs(struct route_table *rt)
{
	const struct istio_config *ic = ISTIO(rt->cfg);
	int err;

	rt->vs = calloc(ic->n_vs + 1, sizeof(*rt->vs));
	if (!rt->vs)
		return -ENOMEM;
	for (size_t i = 0; i < ic->n_vs; i++) {
		const struct virtual_service *src = &ic->vs[i];
		struct rt_vs *vs = &rt->vs[i];
		size_t n_m = 0;

		vs->src = src;
		vs->vis = visibility(rt, i, src->export_to, src->n_export_to, src->namespace);
		/* Every VirtualService is compiled: the mesh's candidates are chosen below, the
		 * Gateways' per request (route_select_gateway()). */
		for (size_t j = 0; j < src->n_http; j++)
			n_m += src->http[j].n_match;
		/* rules and their entries each in one array, in order: a scan walks memory forward
		 */
		vs->rules = strtab_alloc(&rt->strs, (src->n_http + 1) * sizeof(*vs->rules));
		vs->matches = strtab_alloc(&rt->strs, (n_m + 1) * sizeof(*vs->matches));
		if (!vs->rules || !vs->matches)
			return -ENOMEM;
		n_m = 0;
		for (size_t j = 0; j < src->n_http; j++) {
			vs->n_rules++;
			rt->n_rules++;
			err = compile_rule(rt, &vs->rules[j], vs->matches + n_m, &src->http[j], j,
					   src);
			if (err)
				return err;
			n_m += src->http[j].n_match;
		}
		vs->n_matches = n_m;
		err = rt_vs_index(vs);
		if (err)
			return err;
		if (vs->ix.max_cursors > rt->max_cursors)
			rt->max_cursors = vs->ix.max_cursors;
	}
	return 0;
}

/* A resource (VirtualService or DestinationRule @idx) whose host covers service @svc. */
struct cand {
	uint32_t svc, idx;
	size_t spec; /* the most specific of its hosts that covers the service */
	const char *ts, *name, *ns;
};

struct cands {
	struct cand *v;
	size_t n, cap;
	uint32_t *last;	 /* per service: 1 + the resource of its latest pair, 0: none */
	size_t *last_at; /* per service: where that pair is */
};

/* Candidates by service, most specific host first, then oldest. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->svc != y->svc)
		return x->svc < y->svc ? -1 : 1;
	if (x->spec != y->spec)
		return x->spec > y->spec ? -1 : 1;
	return age_cmp(x->ts, x->name, x->ns, y->ts, y->name, y->ns);
}

/* Notes that host @host of resource @c->idx covers what it covers: exact hosts through the FQDN
 * map, wildcards against every service. One pair per (service, resource), the best host. */
static int cands_add(struct route_table *rt, struct cands *cs, const char *host,
		     const struct cand *c)
{
	uint32_t first = 0, end = (uint32_t)rt->cfg->n_services;
	size_t spec;

	if (host[0] != '*') {
		if (!strmap_get(&rt->svc_by_fqdn, host, &first))
			return 0;
		end = first + 1;
	}
	for (uint32_t s = first; s < end; s++) {
		if (!rt_host_matches(host, rt->svcs[s].fqdn, &spec))
			continue;
		if (cs->last[s] == c->idx + 1) {
			struct cand *prev = &cs->v[cs->last_at[s]];

			prev->spec = spec > prev->spec ? spec : prev->spec;
			continue;
		}
		if (cs->n == cs->cap) {
			size_t cap = cs->cap ? cs->cap * 2 : 64;
			struct cand *v = realloc(cs->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			cs->v = v;
			cs->cap = cap;
		}
		cs->v[cs->n] = *c;
		cs->v[cs->n].svc = s;
		cs->v[cs->n].spec = spec;
		cs->last[s] = c->idx + 1;
		cs->last_at[s] = cs->n++;
	}
	return 0;
}

static int cands_init(struct cands *cs, size_t n_services)
{
	memset(cs, 0, sizeof(*cs));
	cs->last = calloc(n_services + 1, sizeof(*cs->last));
	cs->last_at = calloc(n_services + 1, sizeof(*cs->last_at));
	return cs->last && cs->last_at ? 0 : -ENOMEM;
}

static void cands_free(struct cands *cs)
{
	free(cs->v);
	free(cs->last);
	free(cs->last_at);
}

/* Every service's VirtualService candidates (bound to the mesh, not shadowed). */
static int attach_vs(struct route_table *rt)
{
	const struct istio_config *ic = ISTIO(rt->cfg);
	struct cands cs;
	int err = cands_init(&cs, rt->cfg->n_services);

	for (size_t i = 0; !err && i < ic->n_vs; i++) {
		const struct virtual_service *v = &ic->vs[i];
		struct cand c = {.idx = (uint32_t)i,
				 .ts = v->creation_timestamp,
				 .name = v->name,
				 .ns = v->namespace};

		if (v->shadowed || !names_mesh(v->gateways, v->n_gateways))
			continue;
		for (size_t h = 0; !err && h < v->n_hosts; h++)
			err = cands_add(rt, &cs, v->hosts[h], &c);
	}
	if (!err && cs.n)
		qsort(cs.v, cs.n, sizeof(*cs.v), cand_cmp);
	if (!err && !(rt->vs_refs = calloc(cs.n + 1, sizeof(*rt->vs_refs))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < cs.n; i++) {
		struct rt_svc *rs = &rt->svcs[cs.v[i].svc];

		if (!rs->n_vs)
			rs->vs = rt->vs_refs + i;
		rs->vs[rs->n_vs++] = &rt->vs[cs.v[i].idx];
	}
	cands_free(&cs);
	return err;
}

/* Every service's DestinationRule candidates. */
static int attach_drs(struct route_table *rt)
{
	const struct istio_config *ic = ISTIO(rt->cfg);
	size_t words = (rt->n_ns + 1 + 63) / 64;
	struct cands cs;
	int err = cands_init(&cs, rt->cfg->n_services);

	for (size_t i = 0; !err && i < ic->n_dr; i++) {
		const struct destination_rule *d = &ic->dr[i];
		struct cand c = {.idx = (uint32_t)i,
				 .ts = d->creation_timestamp,
				 .name = d->name,
				 .ns = d->namespace};

		if (d->fqdn || d->host)
			err = cands_add(rt, &cs, d->fqdn ? d->fqdn : d->host, &c);
	}
	if (!err && cs.n)
		qsort(cs.v, cs.n, sizeof(*cs.v), cand_cmp);
	if (!err && !(rt->drcs = calloc(cs.n + 1, sizeof(*rt->drcs))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < cs.n; i++) {
		struct rt_svc *rs = &rt->svcs[cs.v[i].svc];
		const struct destination_rule *d = &ic->dr[cs.v[i].idx];
		struct rt_drc *dc;

		if (!rs->n_drs)
			rs->drs = rt->drcs + i;
		dc = &rs->drs[rs->n_drs++];
		*dc = (struct rt_drc){
			.src = d,
			.selector = d->workload_selector.n > 0,
			.private_only = private_only(d->export_to, d->n_export_to, d->namespace),
			.vis = rt->bits + (ic->n_vs + cs.v[i].idx) * words,
		};
		strmap_get(&rt->ns_ids, d->namespace ? d->namespace : "", &dc->ns);
	}
	cands_free(&cs);
	return err;
}

int route_table_build(const struct config *cfg, struct route_table **out)
{
	const struct istio_config *ic = ISTIO(cfg);
	struct route_table *rt = calloc(1, sizeof(*rt));
	size_t words;
	int err;

	if (!rt)
		return -ENOMEM;
	rt->cfg = cfg;
	rt->tag = (uint16_t)(__atomic_add_fetch(&next_tag, 2, __ATOMIC_RELAXED) | 1);
	err = build_namespaces(rt);
	if (err)
		goto free_rt;
	words = (rt->n_ns + 1 + 63) / 64;
	rt->bits = calloc((ic->n_vs + ic->n_dr) * words + 1, sizeof(*rt->bits));
	if (!rt->bits) {
		err = -ENOMEM;
		goto free_rt;
	}
	for (size_t i = 0; i < ic->n_dr; i++)
		visibility(rt, ic->n_vs + i, ic->dr[i].export_to, ic->dr[i].n_export_to,
			   ic->dr[i].namespace);
	err = build_clients(rt);
	if (!err)
		err = build_services(rt);
	if (!err)
		err = compile_vs(rt);
	if (!err)
		err = attach_vs(rt);
	if (!err)
		err = attach_drs(rt);
	if (!err)
		err = rt_clusters_build(rt);
	if (!err)
		err = rt_l4_build(rt);
	if (!err && rt->bad_regex)
		err = -EINVAL;
	if (err)
		goto free_rt;
	*out = rt;
	return 0;
free_rt:
	route_table_free(rt);
	return err;
}

size_t route_table_n_clusters(const struct route_table *rt)
{
	return rt->n_clusters;
}

static void free_match(struct rt_match *m)
{
	rt_str_release(&m->uri);
	for (size_t i = 0; m->hdrs && i < m->n_hdrs; i++)
		rt_str_release(&m->hdrs[i].m);
	for (size_t i = 0; m->qps && i < m->n_qps; i++)
		rt_str_release(&m->qps[i].m);
}

static void free_vs(struct rt_vs *vs)
{
	for (size_t j = 0; j < vs->n_rules; j++) {
		struct rt_rule *r = &vs->rules[j];

		for (size_t k = 0; k < r->n_m; k++)
			free_match(&r->m[k]);
		rt_actions_free(r); /* the arrays are in the table's string table */
	}
	rt_vs_index_free(vs);
}

void route_table_free(struct route_table *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; rt->vs && i < ISTIO(rt->cfg)->n_vs; i++)
		free_vs(&rt->vs[i]);
	rt_clusters_free(rt);
	rt_l4_free(rt);
	free(rt->vs);
	free(rt->vs_refs);
	free(rt->drcs);
	free(rt->svcs);
	rt_strmap_free(&rt->ns_ids);
	free(rt->ns_names);
	rt_strmap_free(&rt->svc_by_fqdn);
	strtab_free(&rt->strs);
	free(rt->clients);
	free(rt->bits);
	free(rt);
}

/* Whether requests under @p need the agent: per-request balancing state or policy. */
static bool policy_needs_l7(const struct traffic_policy *p)
{
	return p->lb.hash != LB_HASH_NONE || p->lb.simple == LB_PASSTHROUGH || p->outlier.set ||
	       p->pool.set;
}

bool route_port_needs_l7(const struct route_table *rt, size_t svc_index)
{
	const struct rt_svc *rs;

	if (svc_index >= rt->cfg->n_services)
		return false;
	rs = &rt->svcs[svc_index];
	for (size_t i = 0; i < rs->n_vs; i++)
		if (rs->vs[i]->src->n_http)
			return true;
	for (size_t i = 0; i < rs->n_drs; i++) {
		const struct destination_rule *dr = rs->drs[i].src;

		if (policy_needs_l7(dr->policy))
			return true;
		for (size_t j = 0; j < dr->n_subsets; j++)
			if (policy_needs_l7(dr->subsets[j].policy))
				return true;
	}
	return false;
}
