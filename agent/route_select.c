// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The request path: service by original destination, VirtualService by
 * visibility, first matching rule, weighted destination (smooth weighted
 * round robin per worker and rule), DestinationRule for the client, cluster,
 * endpoint. Reads the table, writes only the worker's state.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "route_int.h"

static bool dr_selects(const struct rt_drc *d, const struct rt_client *c)
{
	return c->pod && rt_labels_subset(&d->src->workload_selector, &c->pod->labels);
}

/*
 * The DestinationRule that applies to @rs for client @c, as Istio chooses it:
 * 1. the client's namespace, every rule there whatever its exportTo: the most
 *    specific host; among its rules one whose workloadSelector selects the
 *    client, else one without selector (the oldest); none: no rule at all;
 * 2. the service's namespace, then 3. the root namespace: the most specific
 *    host among the rules exported beyond their namespace (no selector), used
 *    only if it is exported to the client.
 * Returns 0 (none) or 1 + the index in rs->drs.
 */
static size_t choose_dr(const struct route_table *rt, const struct rt_svc *rs,
			const struct rt_client *c)
{
	uint32_t steps[2] = {rs->ns, rt->root_ns};
	size_t i, j, plain = 0;

	if (c->ns != RT_NS_NONE) {
		for (i = 0; i < rs->n_drs && rs->drs[i].ns != c->ns; i++)
			;
		if (i < rs->n_drs) {
			const char *host = rs->drs[i].src->fqdn;

			for (j = i; j < rs->n_drs; j++) {
				const struct rt_drc *d = &rs->drs[j];

				if (d->ns != c->ns ||
				    (host && d->src->fqdn && strcmp(host, d->src->fqdn)))
					continue;
				if (d->selector && dr_selects(d, c))
					return j + 1;
				if (!d->selector && !plain)
					plain = j + 1;
			}
			return plain;
		}
	}
	for (size_t s = 0; s < 2; s++) {
		if (steps[s] == c->ns || (s && steps[1] == steps[0]))
			continue;
		for (i = 0; i < rs->n_drs; i++) {
			const struct rt_drc *d = &rs->drs[i];

			if (d->ns != steps[s] || d->selector || d->private_only)
				continue;
			if (rt_visible(d->vis, c->ns, rt->n_ns))
				return i + 1;
			break;
		}
	}
	return 0;
}

size_t rt_choose_dr(const struct route_table *rt, const struct rt_svc *rs,
		    const struct rt_client *c)
{
	return choose_dr(rt, rs, c);
}

static void cluster_name(struct route_result *out, const struct rt_dest *d, uint32_t port)
{
	snprintf(out->cluster, sizeof(out->cluster), "outbound|%u|%s|%s", port,
		 d->subset ? d->subset : "",
		 d->svc ? d->svc->fqdn : (d->src->dst.fqdn ? d->src->dst.fqdn : d->src->dst.host));
}

/* The cluster (port index @port of @rs, @subset) the client reaches; NULL: none exists. */
static const struct rt_cluster *find_cluster(const struct route_table *rt, const struct rt_svc *rs,
					     size_t port, const char *subset,
					     const struct rt_client *c)
{
	size_t slot = choose_dr(rt, rs, c);
	const struct rt_cluster *cl = &rt->clusters[rs->cl_first + port * rs->cl_stride];
	const struct destination_rule *dr;

	if (!slot) /* without a rule: the service's own cluster, if built (none: never chosen) */
		return !subset && rs->cl_plain ? cl : NULL;
	cl += rs->drs[slot - 1].cl_off;
	if (!subset)
		return cl;
	dr = rs->drs[slot - 1].src;
	for (size_t i = 0; i < dr->n_subsets; i++)
		if (dr->subsets[i].name && !strcmp(dr->subsets[i].name, subset))
			return cl + 1 + i;
	return NULL;
}

/* A quick look at the path alone, before the calls: most rules differ there. */
static inline bool uri_rejects(const struct rt_str *u, const struct rt_reqview *v)
{
	if (u->caseless)
		return false;
	if (u->kind == SM_PREFIX)
		return v->pathq_len < u->len || memcmp(v->pathq, u->s, u->len);
	if (u->kind == SM_EXACT)
		return v->path_len != u->len || memcmp(v->path, u->s, u->len);
	return false;
}

/* Tells the trace (explain.c), if any, how entry @k of @r went. */
static inline void trace(const struct rt_reqview *v, const struct rt_rule *r, size_t k,
			 enum rt_miss miss, size_t cond)
{
	if (__builtin_expect(v->rq->trace != NULL, 0))
		v->rq->trace->entry(v->rq->trace, r, k, miss, cond);
}

/* Whether rule @r matches, and with which entry (*@entry, SIZE_MAX: the rule has none): *@applies
 * is set when one of its entries applies to the client (once set, entries are rejected by path
 * first). */
static bool rule_matches(struct route_worker *w, const struct rt_rule *r,
			 const struct rt_reqview *v, uint16_t port, bool *applies, size_t *entry)
{
	enum rt_miss miss;
	size_t cond = 0;

	*entry = SIZE_MAX;
	if (!r->n_m) {
		*applies = true;
		trace(v, r, SIZE_MAX, RT_MISS_NONE, 0);
		return true;
	}
	for (size_t k = 0; k < r->n_m; k++) {
		const struct rt_match *m = &r->m[k];

		if (*applies && uri_rejects(&m->uri, v)) {
			trace(v, r, k, RT_MISS_URI, 0);
			continue;
		}
		miss = rt_match_applies_why(m, v, port);
		if (miss) {
			trace(v, r, k, miss, 0);
			continue;
		}
		*applies = true;
		miss = rt_match_request_why(w, m, v, &cond);
		trace(v, r, k, miss, cond);
		if (!miss) {
			*entry = k;
			return true;
		}
	}
	return false;
}

/* Only the rules the index names as candidates for this request are tried, in order: the others
 * cannot match. */
static const struct rt_rule *match_indexed(struct route_worker *w, const struct rt_vs *vs,
					   const struct rt_reqview *v, uint16_t port, bool *applies,
					   size_t *entry)
{
	struct rt_cands c;
	uint32_t r;

	rt_cands_init(&c, w, vs, v);
	while (rt_cands_next(&c, &r))
		if (rule_matches(w, &vs->rules[r], v, port, applies, entry))
			return &vs->rules[r];
	/* Some skipped entry may apply to this client (sourceLabels, port): look, rarely. Through
	 * a Gateway it makes no difference. */
	if (!*applies && !v->gw)
		*applies = rt_vs_applies(vs, v, port);
	return NULL;
}

/* First rule with a matching entry (*@entry, as rule_matches()); *@applies tells whether any
 * entry applied to the client. */
static const struct rt_rule *match_rules(struct route_worker *w, const struct rt_vs *vs,
					 const struct rt_reqview *v, uint16_t port, bool *applies,
					 size_t *entry)
{
	*applies = vs->always_applies;
	if (vs->indexed && !v->rq->trace) /* explain wants every rule tried: see route_trace */
		return match_indexed(w, vs, v, port, applies, entry);
	for (size_t i = 0; i < vs->n_rules; i++)
		if (rule_matches(w, &vs->rules[i], v, port, applies, entry))
			return &vs->rules[i];
	return NULL;
}

static int pick_endpoint(const struct route_table *rt, struct route_worker *w,
			 const struct rt_cluster *c, const struct rt_reqview *v,
			 struct route_result *out)
{
	const struct route_req *rq = v->rq;
	uint32_t id = rt_cluster_id(rt, c);
	const struct endpoint *e;
	uint64_t h;
	bool has_hash = false;
	size_t n;
	int host;

	out->svc = c->svc;
	out->policy = c->policy;
	out->dr = c->dr;
	out->cluster_id = id;
	n = strlen(c->name);
	n = n < sizeof(out->cluster) ? n : sizeof(out->cluster) - 1;
	memcpy(out->cluster, c->name, n);
	out->cluster[n] = '\0';
	if (c->lb.simple == LB_PASSTHROUGH && c->lb.hash == LB_HASH_NONE) {
		out->verdict = RV_PASSTHROUGH;
		out->ep.sin_family = AF_INET;
		out->ep.sin_addr = rq->dst_ip;
		out->ep.sin_port = htons(rq->dst_port);
		return 0;
	}
	if (c->lb.hash != LB_HASH_NONE && c->lb.n_hosts)
		has_hash = rt_hash_key(w, &c->policy->lb, v, &h, &out->set_cookie);
	out->has_hash = has_hash;
	out->hash = has_hash ? h : 0;
	host = lb_pick(&c->lb, &w->cs[id], &w->hs[c->host_base], &w->rng, w->now_ms,
		       has_hash ? &h : NULL, w->scratch);
	if (host < 0) {
		out->verdict = RV_NO_HEALTHY;
		return 0;
	}
	e = rt_cluster_ep(rt, c, (uint32_t)host);
	out->verdict = RV_FORWARD;
	out->ep.sin_family = AF_INET;
	out->ep.sin_addr = e->ip;
	out->ep.sin_port = htons(e->port);
	out->ep_pod = e->pod;
	if (id <= TOKEN_ID_MAX && (uint32_t)host <= TOKEN_ID_MAX)
		out->lb_token =
			(uint64_t)rt->tag << 48 | (uint64_t)id << TOKEN_ID_BITS | (uint32_t)host;
	return 0;
}

/* The port index of destination port @port of @rs for a request to @req_port; false: none. */
static bool dest_port(const struct rt_svc *rs, int port, uint16_t req_port, size_t *out)
{
	if (port == RT_PORT_MISSING)
		return false;
	if (port != RT_PORT_REQUEST) {
		*out = (size_t)port;
		return true;
	}
	for (size_t i = 0; i < rs->svc->n_ports; i++) {
		if (rs->svc->ports[i].port == req_port) {
			*out = i;
			return true;
		}
	}
	return false;
}

/* A rule matched (with entry @entry): its action, its weighted destination, that destination's
 * cluster. */
static int route_rule(const struct route_table *rt, struct route_worker *w, const struct rt_rule *r,
		      size_t entry, const struct rt_reqview *v, struct route_result *out)
{
	size_t i;

	out->rule = r->src;
	out->rule_index = r->index;
	out->match = entry < r->src->n_match ? &r->src->match[entry] : NULL;
	if (r->src->redirect) {
		out->verdict = RV_REDIRECT;
		return 0;
	}
	if (!r->src->n_route) { /* no action shunt knows (directResponse is not modelled) */
		out->verdict = RV_NO_ROUTE;
		return 0;
	}
	out->verdict = RV_NO_CLUSTER;
	if (!r->n_d) /* every weight 0: Envoy would get no cluster at all */
		return 0;
	i = r->n_d == 1 ? 0 : lb_swrr_pick(w->wrr + r->wrr_base, r->w, r->n_d, r->total);
	return rt_dest_forward(rt, w, &r->d[i], v, out);
}

int rt_dest_forward(const struct route_table *rt, struct route_worker *w, const struct rt_dest *d,
		    const struct rt_reqview *v, struct route_result *out)
{
	const struct rt_cluster *c;
	size_t port;

	out->verdict = RV_NO_CLUSTER;
	out->rdst = d->src;
	if (!d->svc || d->port == RT_PORT_MISSING) {
		cluster_name(out, d, d->src->dst.port ? d->src->dst.port : v->rq->dst_port);
		return 0;
	}
	if (!dest_port(d->svc, d->port, v->rq->dst_port, &port)) {
		cluster_name(out, d, v->rq->dst_port);
		return 0;
	}
	c = find_cluster(rt, d->svc, port, d->subset, v->client);
	if (!c) {
		cluster_name(out, d, d->svc->svc->ports[port].port);
		return 0;
	}
	return pick_endpoint(rt, w, c, v, out);
}

/* The request's host (Host header or absolute-form authority) lowercased, without a port, in
 * @buf; NULL when there is none or it does not fit. */
static const char *host_of(const struct rt_reqview *v, char *buf, size_t size)
{
	const char *colon;
	size_t len = v->authority_len;

	if (!v->authority || !len)
		return NULL;
	colon = memrchr(v->authority, ':', len);
	if (colon && v->authority[0] != '[')
		len = (size_t)(colon - v->authority);
	if (len >= size)
		return NULL;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)v->authority[i]);
	buf[len] = '\0';
	return buf;
}

/*
 * A connection captured by its port (shunt_ports), not its address: the
 * service is the registry host its Host header names, exactly or by a
 * ServiceEntry's wildcard, that serves @port. NULL when none does.
 */
static const struct svc_port *by_host(const struct route_table *rt, const struct rt_reqview *v,
				      uint16_t port, const struct service **svc)
{
	char host[256];
	size_t len;
	uint32_t idx;

	if (!host_of(v, host, sizeof(host)))
		return NULL;
	len = strlen(host);
	*svc = NULL;
	if (rt_strmap_get(&rt->svc_by_fqdn, host, len, &idx)) {
		*svc = &rt->cfg->services[idx];
	} else {
		size_t best = 0, spec;

		/* The longest wildcard that matches, as Istio's host matching prefers. */
		for (size_t i = 0; i < rt->cfg->n_services; i++)
			if (rt->cfg->services[i].se && rt->svcs[i].fqdn[0] == '*' &&
			    rt_host_matches(rt->svcs[i].fqdn, host, &spec) && spec > best) {
				best = spec;
				*svc = &rt->cfg->services[i];
			}
	}
	/* Outside the client's egress scope (its Sidecar's hosts), the host is unknown. */
	if (*svc && v->client->pod &&
	    !config_sidecar_sees(config_pod_sidecar(rt->cfg, v->client->pod), *svc))
		return NULL;
	for (size_t j = 0; *svc && j < (*svc)->n_ports; j++)
		if ((*svc)->ports[j].port == port && (*svc)->ports[j].protocol == IPPROTO_TCP)
			return &(*svc)->ports[j];
	return NULL;
}

/* The port of @svc an egress listener on @port reaches: the same number, else its only port. */
static const struct svc_port *listener_port(const struct service *svc, uint16_t port)
{
	for (size_t j = 0; j < svc->n_ports; j++)
		if (svc->ports[j].port == port && svc->ports[j].protocol == IPPROTO_TCP)
			return &svc->ports[j];
	return svc->n_ports == 1 && svc->ports[0].protocol == IPPROTO_TCP ? &svc->ports[0] : NULL;
}

/*
 * A connection to a Sidecar egress listener's bind address (shunt_binds4):
 * the service is the one of the listener's hosts that the Host header names,
 * else the listener's only host. NULL when the client has no such listener,
 * or none of its hosts applies.
 */
static const struct svc_port *by_bind(const struct route_table *rt, const struct rt_reqview *v,
				      const struct service **svc)
{
	const struct route_req *rq = v->rq;
	const struct sidecar *sc;
	const struct sidecar_egress *e = NULL;
	const struct service *only = NULL;
	const char *host;
	size_t n_seen = 0, spec;
	char ip[INET_ADDRSTRLEN], hbuf[256];

	if (!v->client->pod)
		return NULL;
	sc = config_pod_sidecar(rt->cfg, v->client->pod);
	inet_ntop(AF_INET, &rq->dst_ip, ip, sizeof(ip));
	for (size_t i = 0; sc && i < sc->n_egress && !e; i++)
		if (sc->egress[i].has_port && sc->egress[i].port == rq->dst_port &&
		    sc->egress[i].bind && !strcmp(sc->egress[i].bind, ip))
			e = &sc->egress[i];
	if (!e)
		return NULL;
	host = host_of(v, hbuf, sizeof(hbuf));
	for (size_t i = 0; i < rt->cfg->n_services; i++) {
		const struct service *s = &rt->cfg->services[i];

		if (!config_listener_sees(e, sc->namespace, s))
			continue;
		n_seen++;
		only = s;
		if (host && rt_host_matches(rt->svcs[i].fqdn, host, &spec) &&
		    listener_port(s, rq->dst_port)) {
			*svc = s;
			return listener_port(s, rq->dst_port);
		}
	}
	if (n_seen != 1)
		return NULL;
	*svc = only;
	return listener_port(only, rq->dst_port);
}

/*
 * No service for the request: Istio's PassthroughCluster (to the original
 * destination) for a pod with outboundTrafficPolicy ALLOW_ANY, its
 * BlackHoleCluster (502) for a REGISTRY_ONLY one.
 */
static int unknown_host(const struct route_table *rt, const struct rt_reqview *v,
			struct route_result *out)
{
	enum outbound_policy policy = (enum outbound_policy)rt->cfg->mesh_outbound;
	const char *name;

	if (v->client->pod)
		policy = config_pod_outbound(rt->cfg, v->client->pod, policy);
	/* Never to the agent's own loopback: a pod's 127.0.0.1 is not the node's. */
	out->verdict =
		policy == OUTBOUND_REGISTRY_ONLY || (ntohl(v->rq->dst_ip.s_addr) >> 24) == 127
			? RV_BLACKHOLE
			: RV_PASSTHROUGH;
	name = out->verdict == RV_BLACKHOLE ? "BlackHoleCluster" : "PassthroughCluster";
	memcpy(out->cluster, name, strlen(name) + 1);
	if (out->verdict == RV_PASSTHROUGH) {
		out->ep.sin_family = AF_INET;
		out->ep.sin_addr = v->rq->dst_ip;
		out->ep.sin_port = htons(v->rq->dst_port);
	}
	return 0;
}

static void result_reset(struct route_result *out)
{
	out->verdict = RV_NO_ROUTE;
	out->vs = NULL;
	out->rule = NULL;
	out->rule_index = 0;
	out->match = NULL;
	out->rdst = NULL;
	out->svc = NULL;
	out->policy = NULL;
	out->dr = NULL;
	out->cluster_id = 0;
	memset(&out->ep, 0, sizeof(out->ep));
	out->cluster[0] = '\0';
	out->ep_pod = NULL;
	out->lb_token = 0;
	out->has_hash = false;
	out->hash = 0;
	out->set_cookie = NULL;
}

/* Whether Gateway server host @sh ("[ns/]dnsName") admits host @h of a VirtualService in
 * @vs_ns, @g being the server's Gateway. */
static bool server_admits(const char *sh, const struct gateway *g, const char *vs_ns, const char *h)
{
	const char *slash = strchr(sh, '/'), *dns = slash ? slash + 1 : sh;
	size_t spec;

	if (slash) {
		size_t n = (size_t)(slash - sh);
		const char *ns = n == 1 && sh[0] == '.' ? g->namespace : sh;
		size_t ln = ns == g->namespace ? strlen(ns) : n;

		if (!(n == 1 && sh[0] == '*') && (strlen(vs_ns) != ln || strncmp(vs_ns, ns, ln)))
			return false;
	}
	return !strcmp(dns, "*") || rt_host_matches(dns, h, &spec) ||
	       rt_host_matches(h, dns, &spec);
}

/* Whether @host matches one of @sv's hosts (its dnsName parts). */
static bool server_serves(const struct gw_server *sv, const char *host)
{
	size_t spec;

	for (size_t i = 0; i < sv->n_hosts; i++) {
		const char *slash = strchr(sv->hosts[i], '/');
		const char *dns = slash ? slash + 1 : sv->hosts[i];

		if (!strcmp(dns, "*") || rt_host_matches(dns, host, &spec))
			return true;
	}
	return false;
}

int route_select_gateway(const struct route_table *rt, struct route_worker *w,
			 const struct route_req *rq, struct route_result *out)
{
	const struct istio_config *ic = &rt->cfg->istio;
	const struct rt_vs *best = NULL;
	const struct rt_rule *r;
	const struct gw_server *via = NULL;
	size_t best_spec = 0, entry;
	struct rt_client gwc = {.ns = RT_NS_NONE};
	struct rt_reqview v;
	char hbuf[256], sbuf[256];
	const char *host, *sni = NULL;
	bool applies = false;

	if (w->rt != rt)
		return -EINVAL;
	result_reset(out);
	rt_reqview_init(&v, rq, &gwc);
	host = host_of(&v, hbuf, sizeof(hbuf));
	if (!host)
		host = "";
	if (rq->sni) { /* names are matched lowercased */
		size_t n = strnlen(rq->sni, sizeof(sbuf) - 1);

		for (size_t i = 0; i < n; i++)
			sbuf[i] = (char)tolower((unsigned char)rq->sni[i]);
		sbuf[n] = '\0';
		sni = sbuf;
	}
	/* The servers of this agent's Gateways on that port that serve the host; then, among the
	 * VirtualServices bound to their Gateway, the most specific host match, oldest first. */
	for (size_t g = 0; g < ic->n_gws; g++) {
		const struct gateway *gw = &ic->gws[g];

		if (!config_gateway_selects(gw, rt->cfg->agent_labels))
			continue;
		for (size_t k = 0; k < gw->n_servers; k++) {
			const struct gw_server *sv = &gw->servers[k];

			if (sv->port != rq->dst_port || !server_serves(sv, host) ||
			    (sni && !server_serves(sv, sni)))
				continue;
			if (!via)
				via = sv;
			for (size_t i = 0; i < ic->n_vs; i++) {
				const struct virtual_service *vs = &ic->vs[i];
				uint32_t gns;

				if (!config_binds_gateway(vs->gateways, vs->n_gateways,
							  vs->namespace, gw))
					continue;
				if (!rt_strmap_get(&rt->ns_ids, gw->namespace,
						   strlen(gw->namespace), &gns) ||
				    !rt_visible(rt->vs[i].vis, gns, rt->n_ns))
					continue;
				for (size_t h = 0; h < vs->n_hosts; h++) {
					bool admitted = false;
					size_t spec;

					for (size_t x = 0; x < sv->n_hosts && !admitted; x++)
						admitted =
							server_admits(sv->hosts[x], gw,
								      vs->namespace, vs->hosts[h]);
					if (!admitted)
						continue;
					if (!rt_host_matches(vs->hosts[h], host, &spec) ||
					    spec <= best_spec)
						continue;
					best = &rt->vs[i];
					best_spec = spec;
					via = sv;
					v.gw = gw;
					gwc.ns = gns;
				}
			}
		}
	}
	if (via && via->https_redirect) {
		out->verdict = RV_HTTPS_REDIRECT;
		return 0;
	}
	if (!best)
		return 0; /* 404: no VirtualService for that host on this Gateway */
	out->vs = best->src;
	r = match_rules(w, best, &v, rq->dst_port, &applies, &entry);
	return r ? route_rule(rt, w, r, entry, &v, out) : 0;
}

int route_select(const struct route_table *rt, struct route_worker *w, const struct route_req *rq,
		 struct route_result *out)
{
	const struct service *svc;
	const struct svc_port *sp;
	const struct rt_svc *rs;
	const struct rt_vs *vs = NULL;
	const struct rt_rule *r;
	struct rt_reqview v;
	size_t entry;
	bool applies;

	if (w->rt != rt)
		return -EINVAL;
	result_reset(out);
	rt_reqview_init(&v, rq, rt_client_find(rt, rq->src_ip));
	sp = config_find_vip(rt->cfg, rq->dst_ip, htons(rq->dst_port), IPPROTO_TCP, &svc);
	if (!sp)
		sp = by_bind(rt, &v, &svc);
	if (!sp)
		sp = by_host(rt, &v, rq->dst_port, &svc);
	if (!sp)
		return unknown_host(rt, &v, out);
	rs = &rt->svcs[svc - rt->cfg->services];
	for (size_t i = 0; i < rs->n_vs; i++) {
		if (rt_visible(rs->vs[i]->vis, v.client->ns, rt->n_ns)) {
			vs = rs->vs[i];
			break;
		}
	}
	if (vs) {
		r = match_rules(w, vs, &v, rq->dst_port, &applies, &entry);
		if (r) {
			out->vs = vs->src;
			return route_rule(rt, w, r, entry, &v, out);
		}
		/* Rules apply to this client and none matched: 404. None applies (sourceLabels,
		 * port...): Istio builds no route from this VirtualService, the default route
		 * serves. */
		if (applies) {
			out->vs = vs->src;
			return 0;
		}
	}
	return pick_endpoint(rt, w, find_cluster(rt, rs, (size_t)(sp - svc->ports), NULL, v.client),
			     &v, out);
}

const struct rt_cluster *rt_dest_cluster(const struct route_table *rt, const struct rt_dest *d,
					 uint16_t req_port, const struct rt_client *c)
{
	size_t port;

	if (!d->svc || !dest_port(d->svc, d->port, req_port, &port))
		return NULL;
	return find_cluster(rt, d->svc, port, d->subset, c);
}

void route_done_token(struct route_worker *w, uint64_t lb_token, int status)
{
	const struct route_table *rt = w->rt;
	uint32_t id = (uint32_t)(lb_token >> TOKEN_ID_BITS) & TOKEN_ID_MAX;
	const struct rt_cluster *c;

	if (!lb_token || (uint16_t)(lb_token >> 48) != rt->tag || id >= rt->n_clusters)
		return;
	c = &rt->clusters[id];
	lb_done(&c->lb, &w->cs[id], &w->hs[c->host_base], (uint32_t)lb_token & TOKEN_ID_MAX, status,
		w->now_ms);
}

void route_done(struct route_worker *w, const struct route_result *res, int status)
{
	if (res->verdict == RV_FORWARD)
		route_done_token(w, res->lb_token, status);
}

bool rt_mirror_pick(const struct route_table *rt, struct route_worker *w, const struct rt_mirror *m,
		    const struct rt_reqview *v, struct sockaddr_in *ep)
{
	const struct rt_cluster *c;
	const struct endpoint *e;
	size_t port;
	int host;

	if (!m->svc || !dest_port(m->svc, m->port, v->rq->dst_port, &port))
		return false;
	c = find_cluster(rt, m->svc, port, m->subset, v->client);
	if (!c || !c->lb.n_hosts || c->lb.simple == LB_PASSTHROUGH)
		return false;
	host = lb_pick(&c->lb, &w->cs[rt_cluster_id(rt, c)], &w->hs[c->host_base], &w->rng,
		       w->now_ms, NULL, w->scratch);
	if (host < 0)
		return false;
	/* Nobody reports the end of a mirrored copy: it is not an active request. */
	if (w->hs[c->host_base + (uint32_t)host].active)
		w->hs[c->host_base + (uint32_t)host].active--;
	e = rt_cluster_ep(rt, c, (uint32_t)host);
	memset(ep, 0, sizeof(*ep));
	ep->sin_family = AF_INET;
	ep->sin_addr = e->ip;
	ep->sin_port = htons(e->port);
	return true;
}

/* Whether a match entry with gateways @gw binds to the mesh (none given: its VirtualService's,
 * which are the mesh's for the candidates of a service). */
static bool binds_mesh(char *const *gw, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(gw[i], "mesh"))
			return true;
	return !n;
}

/*
 * The backends of a VirtualService tcp route for service port @port of
 * service @svc_index, as the kernel balances them: each endpoint of each
 * weighted destination with weight (destination weight) * 1e6 / (its
 * endpoints). Istio picks the VirtualService for the client's namespace; the
 * kernel cannot, so the first candidate (the most specific host, then the
 * oldest) serves everyone, with the DestinationRule of the service's own
 * namespace.
 */
int route_l4_backends(const struct route_table *rt, size_t svc_index, size_t port,
		      struct route_l4_backend *out, size_t cap, size_t *n)
{
	const struct rt_svc *rs;
	const struct tcp_route *tr = NULL;
	uint16_t svc_port;

	*n = 0;
	if (svc_index >= rt->cfg->n_services)
		return -ENOENT;
	rs = &rt->svcs[svc_index];
	if (port >= rs->svc->n_ports)
		return -ENOENT;
	svc_port = rs->svc->ports[port].port;
	for (size_t i = 0; i < rs->n_vs && !tr; i++) {
		const struct virtual_service *vs = rs->vs[i]->src;

		for (size_t j = 0; j < vs->n_tcp && !tr; j++) {
			const struct tcp_route *t = &vs->tcp[j];
			bool hit = !t->n_match;

			/* entries bound to gateways only are not the mesh's */
			for (size_t k = 0; k < t->n_match && !hit; k++)
				hit = binds_mesh(t->match[k].gateways, t->match[k].n_gateways) &&
				      (!t->match[k].port || t->match[k].port == svc_port);
			if (hit)
				tr = t;
		}
	}
	if (!tr)
		return -ENOENT;
	for (size_t i = 0; i < tr->n_route; i++) {
		const struct route_destination *d = &tr->route[i];
		uint64_t w = d->has_weight ? d->weight : tr->n_route == 1 ? 100 : 0;
		struct rt_client self = {.ns = rs->ns};
		const struct rt_cluster *c;
		struct rt_svc *ds;
		int dport;

		if (!w)
			continue;
		rt_resolve(rt, &d->dst, &ds, &dport);
		if (!ds)
			continue;
		if (dport == RT_PORT_REQUEST)
			dport = (int)port < (int)ds->svc->n_ports ? (int)port : RT_PORT_MISSING;
		if (dport < 0)
			continue;
		c = find_cluster(rt, ds, (size_t)dport, d->dst.subset, &self);
		if (!c)
			continue;
		for (uint32_t e = 0; e < c->lb.n_hosts; e++) {
			const struct endpoint *ep = rt_cluster_ep(rt, c, e);

			if (*n == cap)
				return -ENOSPC;
			out[*n].ip = ep->ip;
			out[*n].ip6 = ep->ip6;
			out[*n].has_ip6 = ep->has_ip6;
			out[*n].port = ep->port;
			out[*n].weight = w * 1000000 / c->lb.n_hosts;
			(*n)++;
		}
	}
	return 0;
}

/* What raw TLS and TCP connections (route_tls.c) share with the request path. */

void rt_result_reset(struct route_result *out)
{
	result_reset(out);
}

int rt_service_forward(const struct route_table *rt, struct route_worker *w,
		       const struct rt_svc *rs, size_t port, const struct rt_reqview *v,
		       struct route_result *out)
{
	return pick_endpoint(rt, w, find_cluster(rt, rs, port, NULL, v->client), v, out);
}

int rt_unknown_host(const struct route_table *rt, const struct rt_reqview *v,
		    struct route_result *out)
{
	return unknown_host(rt, v, out);
}

bool rt_server_admits(const char *sh, const struct gateway *g, const char *vs_ns, const char *h)
{
	return server_admits(sh, g, vs_ns, h);
}

bool rt_server_serves(const struct gw_server *sv, const char *host)
{
	return server_serves(sv, host);
}
