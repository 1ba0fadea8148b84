// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dump.h"
#include "explain.h"
#include "kern_int.h"
#include "route_int.h"

#define TRACE_MAX 4096 /* entries recorded; a VirtualService with more says "truncated" */

struct trace_rec {
	const struct rt_rule *r;
	size_t entry; /* SIZE_MAX: a rule without match entries */
	enum rt_miss miss;
	size_t cond;
};

/* One explanation in the making. */
struct xp {
	struct route_trace trace; /* first: the callback gets it back */
	struct trace_rec *recs;
	size_t n_recs, cap_recs;
	bool truncated, oom;
	const struct route_table *rt;
	const struct explain_query *q;
	struct http_hdr hdrs[EXPLAIN_HDRS_MAX + 1];
	struct http_req req;
	struct route_req rq;
	char host[256];		  /* q->host without its port */
	char *hdr_copy;		  /* q->headers split into names and values */
	const struct pod *client; /* NULL: no known pod */
	size_t svc;		  /* index in cfg->services */
	const struct svc_port *sp;
};

static void on_entry(const struct route_trace *t, const struct rt_rule *r, size_t entry,
		     enum rt_miss miss, size_t cond)
{
	struct xp *x = (struct xp *)t; /* trace is the first member */
	struct trace_rec *v;

	if (x->n_recs == TRACE_MAX) {
		x->truncated = true;
		return;
	}
	if (x->n_recs == x->cap_recs) {
		size_t cap = x->cap_recs ? 2 * x->cap_recs : 16;

		v = realloc(x->recs, cap * sizeof(*v));
		if (!v) {
			x->oom = true;
			return;
		}
		x->recs = v;
		x->cap_recs = cap;
	}
	x->recs[x->n_recs++] = (struct trace_rec){r, entry, miss, cond};
}

/* Parses "k=v,k2=v2" into @l, pointing into @s (modified). -EINVAL for an item without '='. */
static int parse_labels(char *s, struct labels *l)
{
	size_t n = 1;

	for (const char *p = s; *p; p++)
		n += *p == ',';
	l->v = calloc(n, sizeof(*l->v));
	l->n = 0;
	if (!l->v)
		return -ENOMEM;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');

		while (*tok == ' ')
			tok++;
		if (!eq || eq == tok)
			return -EINVAL;
		*eq = '\0';
		l->v[l->n].key = tok;
		l->v[l->n++].value = eq + 1;
	}
	return 0;
}

/* The client: the pod of q->source_ip, or the first mesh pod (then any pod) with the labels
 * and namespace asked. */
static int find_client(struct xp *x, char *err, size_t errlen)
{
	const struct config *cfg = x->rt->cfg;
	const struct explain_query *q = x->q;
	struct labels want = {0};
	char *copy = NULL;
	int ret = 0;

	if (q->source_ip) {
		if (inet_pton(AF_INET, q->source_ip, &x->rq.src_ip) != 1) {
			snprintf(err, errlen, "source %s: not an IPv4 address", q->source_ip);
			return -EINVAL;
		}
		x->client = rt_client_find(x->rt, x->rq.src_ip)->pod;
		return 0;
	}
	if (!q->source_labels && !q->source_namespace)
		return 0;
	if (q->source_labels) {
		copy = strdup(q->source_labels);
		ret = copy ? parse_labels(copy, &want) : -ENOMEM;
		if (ret == -EINVAL)
			snprintf(err, errlen, "source_labels %s: expected k=v[,k=v...]",
				 q->source_labels);
		if (ret)
			goto out;
	}
	for (int pass = 0; pass < 2 && !x->client; pass++)
		for (size_t i = 0; i < cfg->n_pods && !x->client; i++) {
			const struct pod *p = &cfg->pods[i];

			if ((!pass && !p->in_mesh) || !p->ip.s_addr || p->terminating ||
			    (q->source_namespace && strcmp(p->namespace, q->source_namespace)) ||
			    !rt_labels_subset(&want, &p->labels))
				continue;
			x->client = p;
			x->rq.src_ip = p->ip;
		}
	if (!x->client) {
		snprintf(err, errlen, "no pod with labels %s in namespace %s",
			 q->source_labels ? q->source_labels : "(any)",
			 q->source_namespace ? q->source_namespace : "(any)");
		ret = -ENOENT;
	}
out:
	free(want.v);
	free(copy);
	return ret;
}

/* The service port asked for: q->port, the host's ":PORT", the only port, or the first HTTP one. */
static int find_port(struct xp *x, uint16_t port, char *err, size_t errlen)
{
	const struct service *s = &x->rt->cfg->services[x->svc];

	for (size_t i = 0; i < s->n_ports; i++) {
		const struct svc_port *sp = &s->ports[i];

		if (sp->protocol != IPPROTO_TCP)
			continue;
		if (port ? sp->port == port : s->n_ports == 1 || kern_captured_as_http(s, sp)) {
			x->sp = sp;
			return 0;
		}
	}
	if (port)
		snprintf(err, errlen, "service %s/%s has no TCP port %u", s->namespace, s->name,
			 port);
	else
		snprintf(err, errlen, "service %s/%s has no HTTP port: give the port", s->namespace,
			 s->name);
	return -ENOENT;
}

/* The service q->host names (and its port), and the request's destination: its VIP, or none
 * for a host captured by port (routed on the Host header, as the proxy does). */
static int find_service(struct xp *x, char *err, size_t errlen)
{
	const struct config *cfg = x->rt->cfg;
	const char *colon = strrchr(x->q->host, ':'), *ns = x->q->source_namespace;
	unsigned long port = x->q->port;
	size_t idx[8], n;
	char *end;

	snprintf(x->host, sizeof(x->host), "%s", x->q->host);
	if (colon && !strchr(colon, ']') && colon == strchr(x->q->host, ':')) {
		port = strtoul(colon + 1, &end, 10);
		if (*end || !port || port > 65535 || (x->q->port && x->q->port != port)) {
			snprintf(err, errlen, "host %s: bad port", x->q->host);
			return -EINVAL;
		}
		x->host[colon - x->q->host] = '\0';
	}
	if (!ns && x->client)
		ns = x->client->namespace;
	n = dump_find_services(x->rt, x->host, ns, idx, 8);
	if (!n) {
		snprintf(err, errlen, "no service is named %s", x->host);
		return -ENOENT;
	}
	if (n > 1) {
		snprintf(err, errlen, "%s names %zu services (%s/%s, %s/%s%s): give its FQDN",
			 x->host, n, cfg->services[idx[0]].namespace, cfg->services[idx[0]].name,
			 cfg->services[idx[1]].namespace, cfg->services[idx[1]].name,
			 n > 2 ? ", ..." : "");
		return -EINVAL;
	}
	x->svc = idx[0];
	if (find_port(x, (uint16_t)port, err, errlen))
		return -ENOENT;
	x->rq.dst_ip = cfg->services[x->svc].cluster_ip;
	x->rq.dst_port = x->sp->port;
	return 0;
}

/* The request head: method, target, Host (q->host unless a header gives one), the headers. */
static int build_request(struct xp *x, char *err, size_t errlen)
{
	const struct explain_query *q = x->q;
	size_t n = 0, total = 0;
	bool has_host = false;
	char *p;

	for (size_t i = 0; i < q->n_headers; i++)
		total += strlen(q->headers[i]) + 1;
	x->hdr_copy = malloc(total + 1);
	if (!x->hdr_copy)
		return -ENOMEM;
	p = x->hdr_copy;
	for (size_t i = 0; i < q->n_headers && i < EXPLAIN_HDRS_MAX; i++) {
		char *colon, *v;

		strcpy(p, q->headers[i]);
		colon = strchr(p, ':');
		if (!colon || colon == p) {
			snprintf(err, errlen, "header \"%s\": expected \"name: value\"",
				 q->headers[i]);
			return -EINVAL;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		x->hdrs[n++] = (struct http_hdr){p, strlen(p), v, strlen(v)};
		has_host |= !strcasecmp(p, "host");
		p = v + strlen(v) + 1;
	}
	if (!has_host)
		x->hdrs[n++] = (struct http_hdr){"host", 4, q->host, strlen(q->host)};
	x->req.method = q->method ? q->method : "GET";
	x->req.method_len = strlen(x->req.method);
	x->req.url = q->path ? q->path : "/";
	x->req.url_len = strlen(x->req.url);
	x->req.hdrs = x->hdrs;
	x->req.n_hdrs = n;
	x->req.http_major = x->req.http_minor = 1;
	x->rq.req = &x->req;
	x->rq.trace = &x->trace;
	return 0;
}

/* "exact \"v\"", "prefix v", "regex v" or "present". */
static const char *sm_desc(const struct str_match *m, char *buf, size_t len)
{
	switch (m->kind) {
	case SM_EXACT:
		snprintf(buf, len, "exact \"%s\"", m->value);
		break;
	case SM_PREFIX:
		snprintf(buf, len, "prefix %s", m->value);
		break;
	case SM_REGEX:
		snprintf(buf, len, "regex %s", m->value);
		break;
	default:
		snprintf(buf, len, "present");
	}
	return buf;
}

/* The request's value of header @name (repeated ones joined with ","), into @buf; NULL when
 * it has none. For the message only: the matcher read the request itself. */
static const char *hdr_value(const struct xp *x, const char *name, char *buf, size_t len)
{
	size_t off = 0;
	bool found = false;

	for (size_t i = 0; i < x->req.n_hdrs && off + 1 < len; i++) {
		const struct http_hdr *h = &x->hdrs[i];

		if (strcasecmp(h->name, name))
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", found ? "," : "", h->value);
		found = true;
	}
	return found ? buf : NULL;
}

/* The request's value of query parameter @name, for the message. */
static const char *query_value(const struct xp *x, const char *name, char *buf, size_t len)
{
	const char *q = strchr(x->req.url, '?');
	size_t n = strlen(name);

	for (const char *p = q ? q + 1 : NULL; p && *p;
	     p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		size_t seg = strcspn(p, "&#");

		if (!strncmp(p, name, n) && (p[n] == '=' || p + n == p + seg)) {
			size_t vl = p[n] == '=' ? seg - n - 1 : 0;

			snprintf(buf, len, "%.*s", (int)vl, p + n + (p[n] == '='));
			return buf;
		}
	}
	return NULL;
}

static void kv_reason(const struct xp *x, const char *what, const struct kv_match *kv, bool query,
		      bool invert, char *out, size_t len)
{
	char d[300], v[512];
	const char *have = query ? query_value(x, kv->name, v, sizeof(v))
				 : hdr_value(x, kv->name, v, sizeof(v));

	sm_desc(&kv->m, d, sizeof(d));
	if (invert && have)
		snprintf(out, len, "%s %s %s: the request has it (\"%s\")", what, kv->name, d,
			 have);
	else if (invert)
		snprintf(out, len, "%s %s %s: a missing header counts as \"\", which matches", what,
			 kv->name, d);
	else if (!have)
		snprintf(out, len, "%s %s %s: the request has none", what, kv->name, d);
	else
		snprintf(out, len, "%s %s %s does not match \"%s\"", what, kv->name, d, have);
}

/* Which condition m->hdrs[@cond] was, as route.c compiles them: method, authority, scheme
 * (each when set), then headers, then withoutHeaders. */
static void header_reason(const struct xp *x, const struct http_match *m, size_t cond, char *out,
			  size_t len)
{
	const struct str_match *pseudo[3] = {&m->method, &m->authority, &m->scheme};
	static const char *const names[3] = {"method", "authority", "scheme"};
	char d[300], v[512];

	for (size_t i = 0; i < 3; i++) {
		const char *have;

		if (pseudo[i]->kind == SM_NONE)
			continue;
		if (cond--)
			continue;
		have = i == 0	? x->req.method
		       : i == 1 ? hdr_value(x, "host", v, sizeof(v))
				: "http";
		snprintf(out, len, "%s %s does not match %s", names[i],
			 sm_desc(pseudo[i], d, sizeof(d)), have ? have : "(none)");
		return;
	}
	if (cond < m->n_headers)
		kv_reason(x, "header", &m->headers[cond], false, false, out, len);
	else if (cond - m->n_headers < m->n_without_headers)
		kv_reason(x, "withoutHeaders", &m->without_headers[cond - m->n_headers], false,
			  true, out, len);
	else
		snprintf(out, len, "a header condition does not match");
}

static void labels_str(const struct labels *l, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; l && i < l->n && off + 1 < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? "," : "", l->v[i].key,
					l->v[i].value);
}

/* Why entry @rec of its rule did not match (or "matches"), in @out. */
static void reason(const struct xp *x, const struct trace_rec *rec, char *out, size_t len)
{
	const struct http_match *m =
		rec->entry < rec->r->src->n_match ? &rec->r->src->match[rec->entry] : NULL;
	char d[300], l1[256], l2[256];

	if (!m || rec->miss == RT_MISS_NONE) {
		snprintf(out, len, m ? "matches" : "matches (no match conditions)");
		return;
	}
	switch (rec->miss) {
	case RT_MISS_PORT:
		snprintf(out, len, "port %u: the request is to port %u", m->port, x->rq.dst_port);
		break;
	case RT_MISS_GATEWAY:
	case RT_MISS_NOT_MESH:
		snprintf(out, len, "gateways: the entry applies to Gateway traffic, not the mesh");
		break;
	case RT_MISS_SOURCE_LABELS:
		labels_str(&m->source_labels, l1, sizeof(l1));
		labels_str(x->client ? &x->client->labels : NULL, l2, sizeof(l2));
		if (x->client)
			snprintf(out, len, "sourceLabels %s: the client %s/%s has %s", l1,
				 x->client->namespace, x->client->name, l2);
		else
			snprintf(out, len, "sourceLabels %s: the client is no known pod", l1);
		break;
	case RT_MISS_SOURCE_NS:
		snprintf(out, len, "sourceNamespace %s: the client is in %s", m->source_namespace,
			 x->client ? x->client->namespace : "no known namespace");
		break;
	case RT_MISS_URI:
		snprintf(out, len, "uri %s%s does not match %s", sm_desc(&m->uri, d, sizeof(d)),
			 m->ignore_uri_case ? " (ignoreUriCase)" : "", x->req.url);
		break;
	case RT_MISS_HEADER:
		header_reason(x, m, rec->cond, out, len);
		break;
	case RT_MISS_QUERY:
		if (rec->cond < m->n_query_params)
			kv_reason(x, "queryParams", &m->query_params[rec->cond], true, false, out,
				  len);
		break;
	default:
		snprintf(out, len, "does not match");
	}
}

static const struct rt_vs *vs_of(const struct route_table *rt, const struct rt_rule *r)
{
	for (size_t i = 0; i < rt->cfg->istio.n_vs; i++)
		if (r >= rt->vs[i].rules && r < rt->vs[i].rules + rt->vs[i].n_rules)
			return &rt->vs[i];
	return NULL;
}

/* One rule's trace records, recs[0..n): its entries, and one line for the text view. */
static void write_rule(struct jw *w, const struct xp *x, const struct trace_rec *recs, size_t n)
{
	const struct http_route *r = recs[0].r->src;
	char why[1024], line[2048];
	size_t off;
	bool matched = false;

	off = (size_t)snprintf(line, sizeof(line), "rule %zu%s%s%s: ", recs[0].r->index,
			       r->name ? " (" : "", r->name ? r->name : "", r->name ? ")" : "");
	jw_obj(w, NULL);
	jw_u64(w, "index", recs[0].r->index);
	jw_str(w, "name", r->name);
	jw_arr(w, "entries");
	for (size_t i = 0; i < n; i++) {
		reason(x, &recs[i], why, sizeof(why));
		matched |= recs[i].miss == RT_MISS_NONE;
		jw_obj(w, NULL);
		if (recs[i].entry == SIZE_MAX)
			jw_null(w, "index");
		else
			jw_u64(w, "index", recs[i].entry);
		jw_bool(w, "matched", recs[i].miss == RT_MISS_NONE);
		jw_str(w, "reason", why);
		jw_end(w);
		if (off < sizeof(line) && r->n_match > 1)
			off += (size_t)snprintf(line + off, sizeof(line) - off, "%sentry %zu: %s",
						i ? "; " : "", recs[i].entry, why);
		else if (off < sizeof(line))
			off += (size_t)snprintf(line + off, sizeof(line) - off, "%s", why);
	}
	jw_end(w);
	jw_bool(w, "matched", matched);
	jw_str(w, "reason", line);
	jw_end(w);
}

/* The rules the router tried, in order, each with its entries. */
static void write_rules(struct jw *w, const struct xp *x, const struct rt_vs **vs)
{
	size_t i = 0, j;

	*vs = NULL;
	jw_arr(w, "rules");
	while (i < x->n_recs) {
		for (j = i; j < x->n_recs && x->recs[j].r == x->recs[i].r; j++)
			;
		if (!*vs)
			*vs = vs_of(x->rt, x->recs[i].r);
		write_rule(w, x, &x->recs[i], j - i);
		i = j;
	}
	jw_end(w);
}

static void write_endpoints(struct jw *w, const struct route_table *rt, const struct rt_cluster *c)
{
	char ip[INET_ADDRSTRLEN];

	jw_arr(w, "endpoints");
	for (uint32_t h = 0; c && h < c->lb.n_hosts; h++) {
		const struct endpoint *e = rt_cluster_ep(rt, c, h);

		jw_obj(w, NULL);
		jw_strf(w, "address", "%s:%u", inet_ntop(AF_INET, &e->ip, ip, sizeof(ip)), e->port);
		if (e->pod)
			jw_strf(w, "pod", "%s/%s", e->pod->namespace, e->pod->name);
		else
			jw_null(w, "pod");
		dump_labels(w, "labels", e->labels);
		jw_bool(w, "ready", e->ready);
		jw_end(w);
	}
	jw_end(w);
}

/* One destination: its host, subset, weight, cluster and that cluster's endpoints. */
static void write_dest(struct jw *w, const struct route_table *rt, const char *host,
		       const char *subset, uint64_t weight, const char *cluster,
		       const struct rt_cluster *c, bool chosen)
{
	jw_obj(w, NULL);
	jw_str(w, "host", host);
	jw_str(w, "subset", subset);
	jw_u64(w, "weight", weight);
	jw_str(w, "cluster", c ? c->name : cluster);
	jw_bool(w, "chosen", chosen);
	if (!c)
		jw_str(w, "problem", "no such cluster (host, port or subset unknown): 503 NC");
	write_endpoints(w, rt, c);
	jw_end(w);
}

/* The weighted destinations of the rule that matched, or the default route's cluster. */
static void write_dests(struct jw *w, const struct xp *x, const struct rt_rule *cr,
			const struct route_result *res)
{
	const struct rt_client *cl = rt_client_find(x->rt, x->rq.src_ip);

	jw_arr(w, "destinations");
	if (cr) {
		for (size_t i = 0; i < cr->src->n_route; i++) {
			const struct route_destination *d = &cr->src->route[i];
			const struct rt_dest *cd = NULL;
			uint64_t weight = 0;

			for (size_t k = 0; k < cr->n_d; k++)
				if (cr->d[k].src == d) {
					cd = &cr->d[k];
					weight = cr->n_d == 1 ? 100 : cr->w[k];
				}
			write_dest(w, x->rt, d->dst.fqdn ? d->dst.fqdn : d->dst.host, d->dst.subset,
				   weight, NULL,
				   cd ? rt_dest_cluster(x->rt, cd, x->rq.dst_port, cl) : NULL,
				   res->rdst == d);
		}
	} else if (res->svc && res->verdict != RV_BLACKHOLE &&
		   res->cluster_id < x->rt->n_clusters) {
		const struct rt_cluster *c = &x->rt->clusters[res->cluster_id];

		write_dest(w, x->rt, x->rt->svcs[res->svc - x->rt->cfg->services].fqdn, NULL, 100,
			   NULL, c, true);
	}
	jw_end(w);
}

static void write_request(struct jw *w, const struct xp *x)
{
	char ip[INET_ADDRSTRLEN];

	jw_obj(w, "request");
	jw_str(w, "host", x->q->host);
	jw_u64(w, "port", x->rq.dst_port);
	jw_str(w, "method", x->req.method);
	jw_str(w, "path", x->req.url);
	jw_arr(w, "headers");
	for (size_t i = 0; i < x->req.n_hdrs; i++)
		jw_strf(w, NULL, "%s: %s", x->hdrs[i].name, x->hdrs[i].value);
	jw_end(w);
	jw_obj(w, "source");
	if (x->rq.src_ip.s_addr)
		jw_str(w, "ip", inet_ntop(AF_INET, &x->rq.src_ip, ip, sizeof(ip)));
	else
		jw_null(w, "ip");
	if (x->client) {
		jw_strf(w, "pod", "%s/%s", x->client->namespace, x->client->name);
		jw_str(w, "namespace", x->client->namespace);
		dump_labels(w, "labels", &x->client->labels);
	} else {
		jw_null(w, "pod");
	}
	jw_end(w);
	jw_end(w);
}

static void write_service(struct jw *w, const struct xp *x)
{
	const struct service *s = &x->rt->cfg->services[x->svc];
	bool l7 =
		kern_port_flags(x->rt->cfg, x->rt, x->svc, (size_t)(x->sp - s->ports)) & SVC4_F_L7;
	char ip[INET_ADDRSTRLEN];

	jw_obj(w, "service");
	jw_str(w, "name", s->name);
	jw_str(w, "namespace", s->namespace);
	jw_str(w, "fqdn", x->rt->svcs[x->svc].fqdn);
	if (s->cluster_ip.s_addr)
		jw_strf(w, "vip", "%s:%u", inet_ntop(AF_INET, &s->cluster_ip, ip, sizeof(ip)),
			x->sp->port);
	else
		jw_null(w, "vip");
	jw_str(w, "path",
	       !kern_balanced(s, x->sp) ? "not balanced by shunt"
	       : l7			? "agent"
					: "kernel");
	jw_end(w);
}

static void write_result(struct jw *w, const struct xp *x, const struct route_result *res)
{
	const struct rt_rule *cr = NULL;
	const struct rt_vs *vs;
	char ip[INET_ADDRSTRLEN];

	write_rules(w, x, &vs);
	for (size_t i = 0; i < x->n_recs; i++)
		if (x->recs[i].miss == RT_MISS_NONE && res->rule == x->recs[i].r->src)
			cr = x->recs[i].r;
	if (res->vs)
		jw_strf(w, "virtualService", "%s/%s", res->vs->namespace, res->vs->name);
	else
		jw_null(w, "virtualService");
	if (!res->vs && vs) /* rules were tried, none applies to this client: the default route */
		jw_strf(w, "skippedVirtualService", "%s/%s", vs->src->namespace, vs->src->name);
	jw_obj(w, "matchedRule");
	if (cr) {
		jw_u64(w, "index", cr->index);
		jw_str(w, "name", cr->src->name);
		if (res->match)
			jw_u64(w, "entry", (uint64_t)(res->match - cr->src->match));
	}
	jw_end(w);
	jw_str(w, "verdict", route_verdict_str(res->verdict));
	jw_u64(w, "status", route_verdict_status(res->verdict));
	jw_str(w, "flag", route_verdict_flag(res->verdict));
	if (cr)
		dump_rule_action(w, x->rt, cr->src, x->rq.dst_port);
	write_dests(w, x, cr, res);
	jw_str(w, "cluster", res->cluster[0] ? res->cluster : NULL);
	if (res->verdict == RV_FORWARD || res->verdict == RV_PASSTHROUGH)
		jw_strf(w, "endpoint", "%s:%u",
			inet_ntop(AF_INET, &res->ep.sin_addr, ip, sizeof(ip)),
			ntohs(res->ep.sin_port));
	else
		jw_null(w, "endpoint");
	if (res->ep_pod)
		jw_strf(w, "endpointPod", "%s/%s", res->ep_pod->namespace, res->ep_pod->name);
	else
		jw_null(w, "endpointPod");
}

static void write_notes(struct jw *w, const struct xp *x)
{
	const struct service *s = &x->rt->cfg->services[x->svc];

	jw_arr(w, "notes");
	if (!(kern_port_flags(x->rt->cfg, x->rt, x->svc, (size_t)(x->sp - s->ports)) & SVC4_F_L7))
		jw_str(w, NULL,
		       "no L7 rule needs the agent for this port: connect() is balanced in "
		       "the kernel over the ready endpoints and no request reaches the router");
	jw_str(w, NULL,
	       "endpoint: one pick of a fresh balancer; the next request may get another "
	       "endpoint of the same cluster");
	if (x->truncated)
		jw_str(w, NULL, "trace truncated: more entries were tried than recorded");
	jw_end(w);
}

int explain_write(struct jw *w, const struct route_table *rt, const struct explain_query *q,
		  char *err, size_t errlen)
{
	struct xp x = {.trace = {.entry = on_entry}, .rt = rt, .q = q};
	struct route_result res;
	struct route_worker *rw = NULL;
	int ret;

	snprintf(err, errlen, "out of memory");
	if (!q->host || !*q->host) {
		snprintf(err, errlen, "host: missing");
		return -EINVAL;
	}
	ret = find_client(&x, err, errlen);
	if (!ret)
		ret = find_service(&x, err, errlen);
	if (!ret)
		ret = build_request(&x, err, errlen);
	if (ret)
		goto out;
	rw = route_worker_new(rt, 1);
	ret = rw ? route_select(rt, rw, &x.rq, &res) : -ENOMEM;
	if (!ret && x.oom)
		ret = -ENOMEM;
	if (ret)
		goto out;
	jw_obj(w, NULL);
	write_request(w, &x);
	write_service(w, &x);
	write_result(w, &x, &res);
	write_notes(w, &x);
	jw_end(w);
out:
	route_worker_free(rw);
	free(x.recs);
	free(x.hdr_copy);
	return ret;
}
