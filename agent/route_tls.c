// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Raw connections: Istio's tls routes (chosen by the ClientHello's SNI, the
 * TLS never terminated) and tcp routes, for the connections the agent sees
 * whole rather than request by request: TLS ports that tls routes name, the
 * TLS and TCP ports of ServiceEntry hosts without addresses (captured by port,
 * told apart by SNI), and Gateway servers with tls.mode PASSTHROUGH or
 * protocol TCP. The kernel applies the tcp routes of VIP ports itself
 * (route_l4_backends()). Reads the table, writes only the worker's state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route_int.h"

/* What rt->l4_ports holds for a port, most important first (HTTP wins a port over TLS). */
enum { L4P_NONE, L4P_HTTP, L4P_TLS, L4P_TCP };

enum port_kind { PK_HTTP, PK_TLS, PK_TCP, PK_OTHER };

/* One tls or tcp route of a VirtualService. */
struct rt_l4_route {
	const struct l4_match *m; /* n_m == 0: every connection (tcp only) */
	size_t n_m;
	struct rt_dest *d; /* weight > 0 only; no header edits: the bytes are no HTTP */
	uint32_t *w;
	size_t n_d;
	uint64_t total;
	uint32_t wrr_base; /* first slot of its SWRR state in a worker (n_d > 1) */
	size_t index;	   /* in the VirtualService's tls or tcp list */
};

struct rt_l4_vs {
	struct rt_l4_route *tls, *tcp;
	size_t n_tls, n_tcp;
};

/* What the matchers know of one connection. */
struct l4_ctx {
	const struct route_table *rt;
	const struct route_conn *c;
	const struct rt_client *client;
	const struct gateway *gw; /* NULL: the mesh */
	const struct virtual_service *vs;
};

/* Whether port name @name declares protocol @proto: "<proto>" or "<proto>-<suffix>". */
static bool name_is(const char *name, const char *proto)
{
	size_t n = strlen(proto);

	return !strncmp(name, proto, n) && (name[n] == '\0' || name[n] == '-');
}

static enum port_kind port_kind(const struct svc_port *sp)
{
	static const char *const other[] = {"http2", "grpc", "mongo", "mysql",
					    "redis", "udp",  "h2c"};
	const char *p = sp->app_protocol;

	if (sp->protocol != IPPROTO_TCP)
		return PK_OTHER;
	if (p) {
		if (!strcasecmp(p, "HTTP"))
			return PK_HTTP;
		if (!strcasecmp(p, "TLS") || !strcasecmp(p, "HTTPS"))
			return PK_TLS;
		return !strcasecmp(p, "TCP") ? PK_TCP : PK_OTHER;
	}
	if (!sp->name)
		return PK_HTTP;
	if (name_is(sp->name, "tls") || name_is(sp->name, "https"))
		return PK_TLS;
	if (name_is(sp->name, "tcp"))
		return PK_TCP;
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (name_is(sp->name, other[i]))
			return PK_OTHER;
	return PK_HTTP;
}

bool route_port_is_tls(const struct svc_port *sp)
{
	return port_kind(sp) == PK_TLS;
}

bool route_port_by_port_l4(const struct service *svc, const struct svc_port *sp)
{
	enum port_kind k = port_kind(sp);

	return svc->se && !svc->se->n_addresses && (k == PK_TLS || k == PK_TCP);
}

/* ---- building ---- */

static int compile_route(struct route_table *rt, struct rt_l4_route *r, const struct l4_match *m,
			 size_t n_m, const struct route_destination *d, size_t n_d, size_t index)
{
	r->m = m;
	r->n_m = n_m;
	r->index = index;
	r->d = calloc(n_d + 1, sizeof(*r->d));
	r->w = calloc(n_d + 1, sizeof(*r->w));
	if (!r->d || !r->w)
		return -ENOMEM;
	/* As for http routes: one destination takes all; among several, zero means none. */
	for (size_t i = 0; i < n_d; i++) {
		uint32_t w = n_d == 1 ? 1 : d[i].weight;
		struct rt_dest *o = &r->d[r->n_d];

		if (!w)
			continue;
		o->src = &d[i];
		o->subset = d[i].dst.subset;
		rt_resolve(rt, &d[i].dst, &o->svc, &o->port);
		r->w[r->n_d++] = w;
		r->total += w;
	}
	if (r->n_d > 1) {
		r->wrr_base = rt->n_wrr;
		rt->n_wrr += (uint32_t)r->n_d;
	}
	return 0;
}

static int compile_vs(struct route_table *rt, const struct virtual_service *v, struct rt_l4_vs *o)
{
	int err = 0;

	o->tls = calloc(v->n_tls + 1, sizeof(*o->tls));
	o->tcp = calloc(v->n_tcp + 1, sizeof(*o->tcp));
	if (!o->tls || !o->tcp)
		return -ENOMEM;
	for (size_t j = 0; !err && j < v->n_tls; j++, o->n_tls++)
		err = compile_route(rt, &o->tls[j], v->tls[j].match, v->tls[j].n_match,
				    v->tls[j].route, v->tls[j].n_route, j);
	for (size_t j = 0; !err && j < v->n_tcp; j++, o->n_tcp++)
		err = compile_route(rt, &o->tcp[j], v->tcp[j].match, v->tcp[j].n_match,
				    v->tcp[j].route, v->tcp[j].n_route, j);
	return err;
}

/* How each port that hosts without addresses serve is captured: HTTP over TLS over TCP. */
static void build_ports(struct route_table *rt)
{
	static const uint8_t by_kind[] = {[PK_HTTP] = L4P_HTTP,
					  [PK_TLS] = L4P_TLS,
					  [PK_TCP] = L4P_TCP,
					  [PK_OTHER] = L4P_NONE};

	for (size_t i = 0; i < rt->cfg->n_services; i++) {
		const struct service *s = &rt->cfg->services[i];

		if (!s->se || s->se->n_addresses)
			continue;
		for (size_t j = 0; j < s->n_ports; j++) {
			uint8_t k = by_kind[port_kind(&s->ports[j])];
			uint8_t *cur = &rt->l4_ports[s->ports[j].port];

			if (k != L4P_NONE && (*cur == L4P_NONE || k < *cur))
				*cur = k;
		}
	}
}

int rt_l4_build(struct route_table *rt)
{
	const struct istio_config *ic = &rt->cfg->istio;
	int err = 0;

	rt->l4 = calloc(ic->n_vs + 1, sizeof(*rt->l4));
	rt->l4_ports = calloc(65536, 1);
	if (!rt->l4 || !rt->l4_ports)
		return -ENOMEM;
	for (size_t i = 0; !err && i < ic->n_vs; i++)
		err = compile_vs(rt, &ic->vs[i], &rt->l4[i]);
	build_ports(rt);
	return err;
}

static void free_routes(struct rt_l4_route *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].d);
		free(r[i].w);
	}
	free(r);
}

void rt_l4_free(struct route_table *rt)
{
	for (size_t i = 0; rt->l4 && i < rt->cfg->istio.n_vs; i++) {
		free_routes(rt->l4[i].tls, rt->l4[i].n_tls);
		free_routes(rt->l4[i].tcp, rt->l4[i].n_tcp);
	}
	free(rt->l4);
	free(rt->l4_ports);
	rt->l4 = NULL;
	rt->l4_ports = NULL;
}

/* ---- matching ---- */

static bool in_subnets(const struct l4_match *m, struct in_addr ip)
{
	for (size_t i = 0; i < m->n_dst_subnets; i++) {
		const struct ip_subnet *s = &m->dst_subnets[i];
		uint32_t net, mask;

		if (s->family != AF_INET) /* the agent routes IPv4 destinations */
			continue;
		memcpy(&net, s->addr, 4);
		mask = s->prefix ? htonl(~0u << (32 - s->prefix)) : 0;
		if (!((ip.s_addr ^ net) & mask))
			return true;
	}
	return !m->n_dst_subnets;
}

/* Whether @m binds to where the connection came in: its gateways, else its VirtualService's. */
static bool binds(const struct l4_ctx *x, const struct l4_match *m)
{
	char *const *g = m->n_gateways ? m->gateways : x->vs->gateways;
	size_t n = m->n_gateways ? m->n_gateways : x->vs->n_gateways;

	if (x->gw)
		return config_binds_gateway(g, n, x->vs->namespace, x->gw);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(g[i], "mesh"))
			return true;
	return !n;
}

static bool applies(const struct l4_ctx *x, const struct l4_match *m)
{
	const struct route_table *rt = x->rt;
	const struct pod *pod = x->client->pod;

	if (!binds(x, m) || (m->port && m->port != x->c->dst_port) || !in_subnets(m, x->c->dst_ip))
		return false;
	if (x->gw) /* the gateway workload is the source */
		return rt_labels_subset(&m->source_labels, rt->cfg->agent_labels);
	if (m->source_labels.n && (!pod || !rt_labels_subset(&m->source_labels, &pod->labels)))
		return false;
	return !m->source_namespace || (x->client->ns < rt->n_ns &&
					!strcmp(rt->ns_names[x->client->ns], m->source_namespace));
}

/* The most specific of @m's sniHosts that @sni matches: SIZE_MAX exact, else the wildcard's
 * length; 0 for none. */
static size_t sni_spec(const struct l4_match *m, const char *sni)
{
	size_t best = 0, spec;

	for (size_t i = 0; sni && i < m->n_sni_hosts; i++)
		if (rt_host_matches(m->sni_hosts[i], sni, &spec) && spec > best)
			best = spec;
	return best;
}

/* The tls route of @l4 whose applying match names the SNI more specifically than *@best (the
 * first one on a tie), which is updated; NULL when none beats it. */
static const struct rt_l4_route *best_tls(const struct l4_ctx *x, const struct rt_l4_vs *l4,
					  size_t *best)
{
	const struct rt_l4_route *r = NULL;

	for (size_t i = 0; i < l4->n_tls; i++)
		for (size_t k = 0; k < l4->tls[i].n_m; k++) {
			size_t spec = sni_spec(&l4->tls[i].m[k], x->c->sni);

			if (spec > *best && applies(x, &l4->tls[i].m[k])) {
				*best = spec;
				r = &l4->tls[i];
			}
		}
	return r;
}

/* The first tcp route of @l4 with a match that applies (or none at all), or NULL. */
static const struct rt_l4_route *first_tcp(const struct l4_ctx *x, const struct rt_l4_vs *l4)
{
	for (size_t i = 0; i < l4->n_tcp; i++) {
		if (!l4->tcp[i].n_m)
			return &l4->tcp[i];
		for (size_t k = 0; k < l4->tcp[i].n_m; k++)
			if (applies(x, &l4->tcp[i].m[k]))
				return &l4->tcp[i];
	}
	return NULL;
}

/* ---- choosing ---- */

/* Route @r of VirtualService @vs applies: its weighted destination, cluster and endpoint. */
static int forward(const struct route_table *rt, struct route_worker *w,
		   const struct virtual_service *vs, const struct rt_l4_route *r,
		   const struct rt_reqview *v, struct route_result *out)
{
	size_t i;

	out->vs = vs;
	out->rule_index = r->index;
	out->verdict = RV_NO_CLUSTER;
	if (!r->n_d)
		return 0;
	i = r->n_d == 1 ? 0 : lb_swrr_pick(w->wrr + r->wrr_base, r->w, r->n_d, r->total);
	return rt_dest_forward(rt, w, &r->d[i], v, out);
}

/* The port of @s numbered @port that is served as @want (L4P_TLS or L4P_TCP), or NULL. */
static const struct svc_port *port_as(const struct service *s, uint16_t port, uint8_t want)
{
	for (size_t j = 0; j < s->n_ports; j++)
		if (s->ports[j].port == port &&
		    port_kind(&s->ports[j]) == (want == L4P_TLS ? PK_TLS : PK_TCP))
			return &s->ports[j];
	return NULL;
}

/*
 * A connection captured by its port: the ServiceEntry host without addresses that serves the
 * port and that the SNI names (exact, else the longest wildcard), or for TCP the first that
 * serves it, among those the client's Sidecar lets it see. NULL: none.
 */
static const struct svc_port *by_name(const struct route_table *rt, const struct rt_client *cl,
				      const struct route_conn *c, const struct service **svc)
{
	const struct sidecar *sc = cl->pod ? config_pod_sidecar(rt->cfg, cl->pod) : NULL;
	uint8_t want = rt->l4_ports[c->dst_port];
	size_t best = 0, spec;

	*svc = NULL;
	if (want != L4P_TCP && (want != L4P_TLS || !c->sni))
		return NULL;
	for (size_t i = 0; i < rt->cfg->n_services; i++) {
		const struct service *s = &rt->cfg->services[i];

		if (!s->se || s->se->n_addresses || !port_as(s, c->dst_port, want) ||
		    (cl->pod && !config_sidecar_sees(sc, s)))
			continue;
		if (want == L4P_TCP) {
			*svc = s;
			break;
		}
		if (rt_host_matches(rt->svcs[i].fqdn, c->sni, &spec) && spec > best) {
			best = spec;
			*svc = s;
		}
	}
	return *svc ? port_as(*svc, c->dst_port, want) : NULL;
}

/* What the request path's helpers read of a raw connection: no request, its addresses. */
static struct route_req l4_req(const struct route_conn *c)
{
	static const struct http_req no_request = {.method = "", .url = "/", .url_len = 1};

	return (struct route_req){.req = &no_request,
				  .dst_ip = c->dst_ip,
				  .dst_port = c->dst_port,
				  .src_ip = c->src_ip,
				  .sni = c->sni};
}

static int select_mesh(const struct route_table *rt, struct route_worker *w,
		       const struct route_conn *c, struct route_result *out)
{
	const struct route_req rq = l4_req(c);
	const struct rt_vs *vs = NULL;
	const struct service *svc;
	const struct svc_port *sp;
	const struct rt_svc *rs;
	struct rt_reqview v;

	rt_reqview_init(&v, &rq, rt_client_find(rt, c->src_ip));
	sp = config_find_vip(rt->cfg, c->dst_ip, htons(c->dst_port), IPPROTO_TCP, &svc);
	if (!sp)
		sp = by_name(rt, v.client, c, &svc);
	if (!sp)
		return rt_unknown_host(rt, &v, out);
	rs = &rt->svcs[svc - rt->cfg->services];
	for (size_t i = 0; i < rs->n_vs && !vs; i++)
		if (rt_visible(rs->vs[i]->vis, v.client->ns, rt->n_ns))
			vs = rs->vs[i];
	if (vs) {
		const struct rt_l4_vs *l4 = &rt->l4[vs - rt->vs];
		struct l4_ctx x = {.rt = rt, .c = c, .client = v.client, .vs = vs->src};
		size_t best = 0;
		const struct rt_l4_route *r = best_tls(&x, l4, &best);

		if (!r)
			r = first_tcp(&x, l4);
		if (r)
			return forward(rt, w, vs->src, r, &v, out);
	}
	return rt_service_forward(rt, w, rs, (size_t)(sp - svc->ports), &v, out);
}

/* How Gateway server @sv is served raw: L4P_TLS (PASSTHROUGH), L4P_TCP, or L4P_NONE (HTTP). */
static uint8_t server_raw(const struct gw_server *sv)
{
	const char *p = sv->protocol ? sv->protocol : "";

	if ((!strcasecmp(p, "TLS") || !strcasecmp(p, "HTTPS")) &&
	    sv->tls_mode == GW_TLS_PASSTHROUGH)
		return L4P_TLS;
	return !strcasecmp(p, "TCP") ? L4P_TCP : L4P_NONE;
}

/* Whether Gateway server @sv is served as HTTP (plain, or TLS terminated with SIMPLE). */
static bool server_http(const struct gw_server *sv)
{
	const char *p = sv->protocol ? sv->protocol : "";

	return !strcasecmp(p, "HTTP") || (!strcasecmp(p, "HTTPS") && sv->tls_mode == GW_TLS_SIMPLE);
}

/* Whether server @sv admits a host of VirtualService @vs (of Gateway @gw). */
static bool admits_vs(const struct gw_server *sv, const struct gateway *gw,
		      const struct virtual_service *vs)
{
	for (size_t h = 0; h < vs->n_hosts; h++)
		for (size_t x = 0; x < sv->n_hosts; x++)
			if (rt_server_admits(sv->hosts[x], gw, vs->namespace, vs->hosts[h]))
				return true;
	return false;
}

/* The best route so far among a Gateway's candidates. */
struct gw_pick {
	const struct rt_l4_route *r;
	const struct virtual_service *vs;
	uint32_t ns; /* the Gateway's namespace: its DestinationRules apply */
	size_t spec; /* of a tls route; 0 with a tcp route */
};

/* Among the VirtualServices bound to server @sv of @gw: a tls route more specific than *@tls
 * into it, the first tcp route that applies into *@tcp if it has none yet. */
static void gw_server_routes(const struct route_table *rt, const struct route_conn *c,
			     const struct gateway *gw, const struct gw_server *sv,
			     struct gw_pick *tls, struct gw_pick *tcp)
{
	const struct istio_config *ic = &rt->cfg->istio;
	struct rt_client gwc = {.ns = RT_NS_NONE};
	const struct rt_l4_route *r;
	uint32_t gns;

	if (!rt_strmap_get(&rt->ns_ids, gw->namespace, strlen(gw->namespace), &gns))
		return;
	gwc.ns = gns;
	for (size_t i = 0; i < ic->n_vs; i++) {
		const struct virtual_service *vs = &ic->vs[i];
		struct l4_ctx x = {.rt = rt, .c = c, .client = &gwc, .gw = gw, .vs = vs};

		if (!config_binds_gateway(vs->gateways, vs->n_gateways, vs->namespace, gw) ||
		    !rt_visible(rt->vs[i].vis, gns, rt->n_ns) || !admits_vs(sv, gw, vs))
			continue;
		if (server_raw(sv) == L4P_TLS && (r = best_tls(&x, &rt->l4[i], &tls->spec))) {
			*tls = (struct gw_pick){.r = r, .vs = vs, .ns = gns, .spec = tls->spec};
		}
		if (!tcp->r && (r = first_tcp(&x, &rt->l4[i])))
			*tcp = (struct gw_pick){.r = r, .vs = vs, .ns = gns};
	}
}

static int select_gateway(const struct route_table *rt, struct route_worker *w,
			  const struct route_conn *c, struct route_result *out)
{
	const struct route_req rq = l4_req(c);
	const struct istio_config *ic = &rt->cfg->istio;
	struct gw_pick tls = {0}, tcp = {0}, *p;
	struct rt_client gwc = {.ns = RT_NS_NONE};
	struct rt_reqview v;
	int err;

	for (size_t g = 0; g < ic->n_gws; g++) {
		const struct gateway *gw = &ic->gws[g];

		if (!config_gateway_selects(gw, rt->cfg->agent_labels))
			continue;
		for (size_t k = 0; k < gw->n_servers; k++) {
			const struct gw_server *sv = &gw->servers[k];

			/* Without SNI only a "*" server can be had, as Envoy's filter chains go. */
			if (sv->port != c->dst_port || !server_raw(sv) ||
			    (server_raw(sv) == L4P_TLS &&
			     !rt_server_serves(sv, c->sni ? c->sni : "")))
				continue;
			gw_server_routes(rt, c, gw, sv, &tls, &tcp);
		}
	}
	p = tls.r ? &tls : &tcp;
	if (!p->r)
		return 0; /* NO_ROUTE: nothing routes it, the connection is closed */
	gwc.ns = p->ns;
	rt_reqview_init(&v, &rq, &gwc);
	err = forward(rt, w, p->vs, p->r, &v, out);
	if (!err && out->verdict == RV_PASSTHROUGH)
		out->verdict = RV_NO_HEALTHY; /* the "original destination" is this gateway */
	return err;
}

int route_select_l4(const struct route_table *rt, struct route_worker *w,
		    const struct route_conn *c, struct route_result *out)
{
	if (w->rt != rt)
		return -EINVAL;
	rt_result_reset(out);
	return c->gateway ? select_gateway(rt, w, c, out) : select_mesh(rt, w, c, out);
}

/* Whether the client's Sidecar binds an egress listener to the destination (HTTP, routed by
 * Host: route_select()). */
static bool is_bind(const struct route_table *rt, const struct route_conn *c)
{
	const struct rt_client *cl = rt_client_find(rt, c->src_ip);
	const struct sidecar *sc = cl->pod ? config_pod_sidecar(rt->cfg, cl->pod) : NULL;
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &c->dst_ip, ip, sizeof(ip));
	for (size_t i = 0; sc && i < sc->n_egress; i++)
		if (sc->egress[i].has_port && sc->egress[i].port == c->dst_port &&
		    sc->egress[i].bind && !strcmp(sc->egress[i].bind, ip))
			return true;
	return false;
}

enum route_conn_mode route_conn_mode(const struct route_table *rt, const struct route_conn *c)
{
	const struct istio_config *ic = &rt->cfg->istio;
	const struct service *svc;
	const struct svc_port *sp;

	if (c->gateway) {
		for (size_t g = 0; g < ic->n_gws; g++) {
			const struct gateway *gw = &ic->gws[g];

			if (!config_gateway_selects(gw, rt->cfg->agent_labels))
				continue;
			/* The first server of the port that is served decides, as in gateway.c. */
			for (size_t k = 0; k < gw->n_servers; k++) {
				const struct gw_server *sv = &gw->servers[k];
				uint8_t raw = server_raw(sv);

				if (sv->port != c->dst_port)
					continue;
				if (raw)
					return raw == L4P_TLS ? ROUTE_CONN_TLS : ROUTE_CONN_TCP;
				if (server_http(sv))
					return ROUTE_CONN_HTTP;
			}
		}
		return ROUTE_CONN_HTTP;
	}
	sp = config_find_vip(rt->cfg, c->dst_ip, htons(c->dst_port), IPPROTO_TCP, &svc);
	if (sp)
		return route_port_needs_sni(rt, (size_t)(svc - rt->cfg->services),
					    (size_t)(sp - svc->ports))
			       ? ROUTE_CONN_TLS
			       : ROUTE_CONN_HTTP;
	if (is_bind(rt, c))
		return ROUTE_CONN_HTTP;
	switch (rt->l4_ports[c->dst_port]) {
	case L4P_TLS:
		return ROUTE_CONN_TLS;
	case L4P_TCP:
		return ROUTE_CONN_TCP;
	default:
		return ROUTE_CONN_HTTP;
	}
}

bool route_port_needs_sni(const struct route_table *rt, size_t svc_index, size_t port)
{
	const struct rt_svc *rs;
	const struct svc_port *sp;

	if (svc_index >= rt->cfg->n_services)
		return false;
	rs = &rt->svcs[svc_index];
	if (port >= rs->svc->n_ports || !route_port_is_tls(&rs->svc->ports[port]))
		return false;
	sp = &rs->svc->ports[port];
	for (size_t i = 0; i < rs->n_vs; i++) {
		const struct rt_l4_vs *l4 = &rt->l4[rs->vs[i] - rt->vs];
		struct l4_ctx x = {.rt = rt, .vs = rs->vs[i]->src};

		for (size_t r = 0; r < l4->n_tls; r++)
			for (size_t k = 0; k < l4->tls[r].n_m; k++)
				if (binds(&x, &l4->tls[r].m[k]) &&
				    (!l4->tls[r].m[k].port || l4->tls[r].m[k].port == sp->port))
					return true;
	}
	return false;
}
