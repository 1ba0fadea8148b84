// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Routes as the router evaluates them, for /routes, /config_dump and
 * explain: per service port, the VirtualService that applies (the first
 * candidate: most specific host, then oldest; a client that cannot see it
 * gets the next one it can see, listed as "otherVirtualServices"), its http
 * rules in order, one route per match entry as Envoy's route table has them.
 * Written from the model the router compiled (istio.h) and the compiled
 * table's choices (route_int.h), so the order is the router's.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "kern_int.h"
#include "route_int.h"

void dump_duration(struct jw *w, const char *key, uint64_t ms)
{
	if (ms % 1000)
		jw_strf(w, key, "%" PRIu64 "ms", ms);
	else
		jw_strf(w, key, "%" PRIu64 "s", ms / 1000);
}

void dump_labels(struct jw *w, const char *key, const struct labels *l)
{
	jw_obj(w, key);
	for (size_t i = 0; l && i < l->n; i++)
		jw_str(w, l->v[i].key, l->v[i].value);
	jw_end(w);
}

void dump_str_match(struct jw *w, const char *key, const struct str_match *m)
{
	static const char *const kinds[] = {
		[SM_EXACT] = "exact", [SM_PREFIX] = "prefix", [SM_REGEX] = "regex"};

	jw_obj(w, key);
	if (m->kind != SM_NONE && (size_t)m->kind < sizeof(kinds) / sizeof(kinds[0]))
		jw_str(w, kinds[m->kind], m->value);
	jw_end(w);
}

static void kv_matches(struct jw *w, const char *key, const struct kv_match *kv, size_t n)
{
	if (!n)
		return;
	jw_obj(w, key);
	for (size_t i = 0; i < n; i++)
		dump_str_match(w, kv[i].name, &kv[i].m);
	jw_end(w);
}

static void str_list(struct jw *w, const char *key, char *const *v, size_t n)
{
	jw_arr(w, key);
	for (size_t i = 0; i < n; i++)
		jw_str(w, NULL, v[i]);
	jw_end(w);
}

void dump_http_match(struct jw *w, const char *key, const struct http_match *m)
{
	jw_obj(w, key);
	if (!m) { /* a rule without match entries: Envoy's prefix "/" */
		jw_end(w);
		return;
	}
	if (m->name)
		jw_str(w, "name", m->name);
	if (m->uri.kind != SM_NONE)
		dump_str_match(w, "uri", &m->uri);
	if (m->method.kind != SM_NONE)
		dump_str_match(w, "method", &m->method);
	if (m->authority.kind != SM_NONE)
		dump_str_match(w, "authority", &m->authority);
	if (m->scheme.kind != SM_NONE)
		dump_str_match(w, "scheme", &m->scheme);
	kv_matches(w, "headers", m->headers, m->n_headers);
	kv_matches(w, "withoutHeaders", m->without_headers, m->n_without_headers);
	kv_matches(w, "queryParams", m->query_params, m->n_query_params);
	if (m->ignore_uri_case)
		jw_bool(w, "ignoreUriCase", true);
	if (m->port)
		jw_u64(w, "port", m->port);
	if (m->source_labels.n)
		dump_labels(w, "sourceLabels", &m->source_labels);
	if (m->source_namespace)
		jw_str(w, "sourceNamespace", m->source_namespace);
	if (m->n_gateways)
		str_list(w, "gateways", m->gateways, m->n_gateways);
	jw_end(w);
}

/* "outbound|PORT|SUBSET|FQDN" of destination @d for a request to port @port, as the router
 * names it; the port is the destination's, the service's only one, or the request's. */
static void cluster_name(const struct route_table *rt, const struct istio_destination *d,
			 uint16_t port, char *buf, size_t len)
{
	struct rt_svc *rs;
	int idx;

	rt_resolve(rt, d, &rs, &idx);
	if (d->port)
		port = (uint16_t)d->port;
	else if (rs && idx >= 0)
		port = rs->svc->ports[idx].port;
	snprintf(buf, len, "outbound|%u|%s|%s", port, d->subset ? d->subset : "",
		 rs ? rs->fqdn : (d->fqdn ? d->fqdn : d->host));
}

static void destination(struct jw *w, const char *key, const struct istio_destination *d)
{
	jw_obj(w, key);
	jw_str(w, "host", d->fqdn ? d->fqdn : d->host);
	if (d->subset)
		jw_str(w, "subset", d->subset);
	if (d->port)
		jw_u64(w, "port", d->port);
	jw_end(w);
}

static void route_dests(struct jw *w, const struct route_table *rt, const struct http_route *r,
			uint16_t port)
{
	char cl[ROUTE_CLUSTER_MAX];

	jw_arr(w, "route");
	for (size_t i = 0; i < r->n_route; i++) {
		const struct route_destination *d = &r->route[i];

		jw_obj(w, NULL);
		destination(w, "destination", &d->dst);
		/* Istio: a single destination takes everything; among several, 0 means none. */
		jw_u64(w, "weight", r->n_route == 1 ? 100 : d->weight);
		cluster_name(rt, &d->dst, port, cl, sizeof(cl));
		jw_str(w, "cluster", cl);
		jw_end(w);
	}
	jw_end(w);
}

static void redirect(struct jw *w, const struct http_redirect *rd)
{
	jw_obj(w, "redirect");
	if (rd->uri)
		jw_str(w, "uri", rd->uri);
	if (rd->authority)
		jw_str(w, "authority", rd->authority);
	if (rd->port)
		jw_u64(w, "port", rd->port);
	if (rd->derive_port)
		jw_str(w, "derivePort", "FROM_PROTOCOL_DEFAULT");
	if (rd->scheme)
		jw_str(w, "scheme", rd->scheme);
	jw_u64(w, "redirectCode", rd->redirect_code ? rd->redirect_code : 301);
	jw_end(w);
}

static void rewrite(struct jw *w, const struct http_rewrite *rw)
{
	jw_obj(w, "rewrite");
	if (rw->uri)
		jw_str(w, "uri", rw->uri);
	if (rw->uri_regex_match) {
		jw_obj(w, "uriRegexRewrite");
		jw_str(w, "match", rw->uri_regex_match);
		jw_str(w, "rewrite", rw->uri_regex_rewrite);
		jw_end(w);
	}
	if (rw->authority)
		jw_str(w, "authority", rw->authority);
	jw_end(w);
}

static void percent(struct jw *w, const char *key, const struct percent *p, double unset)
{
	jw_dbl(w, key, p->set ? p->value : unset);
}

static void fault(struct jw *w, const struct http_fault *f)
{
	jw_obj(w, "fault");
	if (f->has_delay) {
		jw_obj(w, "delay");
		dump_duration(w, "fixedDelay", f->delay_ms);
		percent(w, "percentage", &f->delay_pct, 0);
		jw_end(w);
	}
	if (f->has_abort) {
		jw_obj(w, "abort");
		jw_u64(w, "httpStatus", f->abort_status);
		percent(w, "percentage", &f->abort_pct, 0);
		jw_end(w);
	}
	jw_end(w);
}

static void retries(struct jw *w, const struct http_retry *r)
{
	if (!r->set) { /* what route_action.c applies then */
		jw_obj(w, "retries");
		jw_u64(w, "attempts", 2);
		jw_str(w, "retryOn", "connect-failure,retriable-status-codes(503)");
		jw_bool(w, "default", true);
		jw_end(w);
		return;
	}
	jw_obj(w, "retries");
	jw_u64(w, "attempts", r->attempts);
	if (r->per_try_timeout_ms)
		dump_duration(w, "perTryTimeout", r->per_try_timeout_ms);
	if (r->retry_on)
		jw_str(w, "retryOn", r->retry_on);
	jw_end(w);
}

static void mirrors(struct jw *w, const struct route_table *rt, const struct http_route *r,
		    uint16_t port)
{
	char cl[ROUTE_CLUSTER_MAX];

	if (!r->n_mirrors)
		return;
	jw_arr(w, "mirrors");
	for (size_t i = 0; i < r->n_mirrors; i++) {
		jw_obj(w, NULL);
		destination(w, "destination", &r->mirrors[i].dst);
		percent(w, "percentage", &r->mirrors[i].pct, 100);
		cluster_name(rt, &r->mirrors[i].dst, port, cl, sizeof(cl));
		jw_str(w, "cluster", cl);
		jw_end(w);
	}
	jw_end(w);
}

void dump_rule_action(struct jw *w, const struct route_table *rt, const struct http_route *r,
		      uint16_t port)
{
	jw_obj(w, "action");
	if (r->redirect)
		redirect(w, r->redirect);
	else if (r->n_route)
		route_dests(w, rt, r, port);
	else
		jw_str(w, "directResponse", "not modelled: 404 (NR)");
	if (r->rewrite)
		rewrite(w, r->rewrite);
	if (r->has_timeout)
		dump_duration(w, "timeout", r->timeout_ms);
	retries(w, &r->retries);
	if (r->fault)
		fault(w, r->fault);
	mirrors(w, rt, r, port);
	if (r->cors)
		jw_bool(w, "corsPolicy", true);
	if (r->headers.request.n_set + r->headers.request.n_add + r->headers.request.n_remove +
	    r->headers.response.n_set + r->headers.response.n_add + r->headers.response.n_remove)
		jw_bool(w, "headers", true);
	jw_end(w);
}

/* Istio's route name: the rule's name, ".match" when the entry has one too. */
static void route_name(struct jw *w, const struct http_route *r, const struct http_match *m)
{
	if (r->name && m && m->name)
		jw_strf(w, "name", "%s.%s", r->name, m->name);
	else if (r->name || (m && m->name))
		jw_str(w, "name", r->name ? r->name : m->name);
	else
		jw_null(w, "name");
}

/* The routes of @vs for port @port: one per rule and match entry, in the router's order. */
static void vs_routes(struct jw *w, const struct route_table *rt, const struct rt_vs *vs,
		      uint16_t port)
{
	const struct virtual_service *v = vs->src;

	for (size_t i = 0; i < vs->n_rules; i++) {
		const struct http_route *r = vs->rules[i].src;
		size_t n = r->n_match ? r->n_match : 1;

		for (size_t k = 0; k < n; k++) {
			const struct http_match *m = r->n_match ? &r->match[k] : NULL;

			if (m && m->port && m->port != port)
				continue; /* Envoy's route table for this port has no such route */
			jw_obj(w, NULL);
			route_name(w, r, m);
			jw_strf(w, "virtualService", "%s/%s", v->namespace, v->name);
			jw_u64(w, "rule", i);
			if (r->name)
				jw_str(w, "ruleName", r->name);
			if (m)
				jw_u64(w, "entry", k);
			dump_http_match(w, "match", m);
			dump_rule_action(w, rt, r, port);
			jw_end(w);
		}
	}
}

/* The default route of a port no VirtualService serves: the service's own cluster. */
static void default_route(struct jw *w, const struct rt_svc *rs, uint16_t port)
{
	jw_obj(w, NULL);
	jw_str(w, "name", "default");
	jw_null(w, "virtualService");
	dump_http_match(w, "match", NULL);
	jw_obj(w, "action");
	jw_arr(w, "route");
	jw_obj(w, NULL);
	jw_obj(w, "destination");
	jw_str(w, "host", rs->fqdn);
	jw_end(w);
	jw_u64(w, "weight", 100);
	jw_strf(w, "cluster", "outbound|%u||%s", port, rs->fqdn);
	jw_end(w);
	jw_end(w);
	jw_end(w);
	jw_end(w);
}

/* The names a client may use for @rs on @port, as Istio lists a virtual host's domains. */
static void domains(struct jw *w, const struct rt_svc *rs, uint16_t port)
{
	const struct service *s = rs->svc;
	char ip[INET6_ADDRSTRLEN];

	jw_arr(w, "domains");
	jw_str(w, NULL, rs->fqdn);
	jw_strf(w, NULL, "%s:%u", rs->fqdn, port);
	if (!s->se) {
		jw_str(w, NULL, s->name);
		jw_strf(w, NULL, "%s.%s", s->name, s->namespace);
		jw_strf(w, NULL, "%s.%s.svc", s->name, s->namespace);
	}
	if (s->cluster_ip.s_addr && inet_ntop(AF_INET, &s->cluster_ip, ip, sizeof(ip)))
		jw_strf(w, NULL, "%s:%u", ip, port);
	if (s->has_ip6 && inet_ntop(AF_INET6, &s->cluster_ip6, ip, sizeof(ip)))
		jw_strf(w, NULL, "[%s]:%u", ip, port);
	jw_end(w);
}

/* How connections to port @sp of service @idx travel: through the agent, in the kernel, or not
 * balanced by shunt at all (kube-proxy's), as kern_sync_services() writes shunt_svc4_v2. */
static const char *port_path(const struct route_table *rt, size_t idx, const struct svc_port *sp)
{
	const struct service *s = &rt->cfg->services[idx];

	if (!kern_balanced(s, sp))
		return "not balanced by shunt";
	return kern_port_flags(rt->cfg, rt, idx, (size_t)(sp - s->ports)) & SVC4_F_L7 ? "agent"
										      : "kernel";
}

static void virtual_host(struct jw *w, const struct route_table *rt, size_t idx,
			 const struct svc_port *sp)
{
	const struct rt_svc *rs = &rt->svcs[idx];
	const struct rt_vs *vs = rs->n_vs ? rs->vs[0] : NULL;

	jw_obj(w, NULL);
	jw_strf(w, "name", "%s:%u", rs->fqdn, sp->port);
	jw_strf(w, "service", "%s/%s", rs->svc->namespace, rs->svc->name);
	jw_u64(w, "port", sp->port);
	jw_str(w, "path", port_path(rt, idx, sp));
	domains(w, rs, sp->port);
	if (vs)
		jw_strf(w, "virtualService", "%s/%s", vs->src->namespace, vs->src->name);
	else
		jw_null(w, "virtualService");
	if (rs->n_vs > 1) {
		jw_arr(w, "otherVirtualServices");
		for (size_t i = 1; i < rs->n_vs; i++)
			jw_strf(w, NULL, "%s/%s", rs->vs[i]->src->namespace, rs->vs[i]->src->name);
		jw_end(w);
	}
	jw_arr(w, "routes");
	if (vs && vs->n_rules)
		vs_routes(w, rt, vs, sp->port);
	else
		default_route(w, rs, sp->port);
	jw_end(w);
	jw_end(w);
}

/* Whether @host names service @s (@fqdn): see dump_find_services(). */
static bool names_service(const struct service *s, const char *fqdn, const char *host)
{
	char ip[INET6_ADDRSTRLEN], buf[512];

	if (!strcmp(host, fqdn) || (!s->se && !strcmp(host, s->name)))
		return true;
	if (!s->se) {
		snprintf(buf, sizeof(buf), "%s.%s", s->name, s->namespace);
		if (!strcmp(host, buf))
			return true;
		snprintf(buf, sizeof(buf), "%s.%s.svc", s->name, s->namespace);
		if (!strcmp(host, buf))
			return true;
	}
	if (s->cluster_ip.s_addr && inet_ntop(AF_INET, &s->cluster_ip, ip, sizeof(ip)) &&
	    !strcmp(host, ip))
		return true;
	return s->has_ip6 && inet_ntop(AF_INET6, &s->cluster_ip6, ip, sizeof(ip)) &&
	       !strcmp(host, ip);
}

size_t dump_find_services(const struct route_table *rt, const char *host, const char *ns,
			  size_t *out, size_t cap)
{
	const struct config *cfg = rt->cfg;
	size_t n = 0;

	/* A short name in the client's namespace first, as Istio resolves it. */
	if (ns && !strchr(host, '.')) {
		const struct service *s = config_find_service(cfg, ns, host);

		if (s && !s->se && cap) {
			out[0] = (size_t)(s - cfg->services);
			return 1;
		}
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		if (!names_service(&cfg->services[i], rt->svcs[i].fqdn, host))
			continue;
		if (n < cap)
			out[n] = i;
		n++;
	}
	return n;
}

size_t dump_routes(struct jw *w, const char *key, const struct route_table *rt, const char *host,
		   uint16_t port)
{
	const struct config *cfg = rt->cfg;
	size_t n = 0;

	jw_arr(w, key);
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service *s = &cfg->services[i];

		if (host && !names_service(s, rt->svcs[i].fqdn, host))
			continue;
		for (size_t p = 0; p < s->n_ports; p++) {
			if (s->ports[p].protocol != IPPROTO_TCP ||
			    (port && s->ports[p].port != port))
				continue;
			virtual_host(w, rt, i, &s->ports[p]);
			n++;
		}
	}
	jw_end(w);
	return n;
}
