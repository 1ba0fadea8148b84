// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io VirtualService: every field of the API read into the
 * model of istio.h and validated as Istio's webhook does (pilot's
 * validation/virtualservice.go and validation.go), with Istio's messages where
 * it has one. Fields shunt cannot honour are refused when ignoring them would
 * route differently (delegate, directResponse), and ignored with a notice or a
 * warning otherwise (statPrefix). tls routes are config_istio_tls.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"
#include "regex.h"

static const struct ist_field vs_spec_fields[] = {
	{"hosts", IST_PARSED, NULL}, {"gateways", IST_PARSED, NULL}, {"http", IST_PARSED, NULL},
	{"tcp", IST_PARSED, NULL},   {"tls", IST_PARSED, NULL},	     {"exportTo", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field http_route_fields[] = {
	{"name", IST_PARSED, NULL},
	{"match", IST_PARSED, NULL},
	{"route", IST_PARSED, NULL},
	{"redirect", IST_PARSED, NULL},
	{"rewrite", IST_PARSED, NULL},
	{"timeout", IST_PARSED, NULL},
	{"retries", IST_PARSED, NULL},
	{"fault", IST_PARSED, NULL},
	{"mirror", IST_PARSED, NULL},
	{"mirrors", IST_PARSED, NULL},
	{"mirrorPercent", IST_PARSED, NULL},
	{"mirrorPercentage", IST_PARSED, NULL},
	{"corsPolicy", IST_PARSED, NULL},
	{"headers", IST_PARSED, NULL},
	{"directResponse", IST_REJECT, "directResponse is not supported yet"},
	{"delegate", IST_REJECT, "delegate (VirtualService chaining) is not supported yet"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field match_fields[] = {
	{"name", IST_PARSED, NULL},
	{"uri", IST_PARSED, NULL},
	{"scheme", IST_PARSED, NULL},
	{"method", IST_PARSED, NULL},
	{"authority", IST_PARSED, NULL},
	{"headers", IST_PARSED, NULL},
	{"withoutHeaders", IST_PARSED, NULL},
	{"queryParams", IST_PARSED, NULL},
	{"ignoreUriCase", IST_PARSED, NULL},
	{"port", IST_PARSED, NULL},
	{"sourceLabels", IST_PARSED, NULL},
	{"sourceNamespace", IST_PARSED, NULL},
	{"gateways", IST_PARSED, NULL},
	{"statPrefix", IST_NOTICE, "statPrefix is not used by shunt, ignored"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field route_dest_fields[] = {
	{"destination", IST_PARSED, NULL},
	{"weight", IST_PARSED, NULL},
	{"headers", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field headers_fields[] = {
	{"request", IST_PARSED, NULL}, {"response", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};
static const struct ist_field header_ops_fields[] = {{"set", IST_PARSED, NULL},
						     {"add", IST_PARSED, NULL},
						     {"remove", IST_PARSED, NULL},
						     {NULL, IST_PARSED, NULL}};

static const struct ist_field redirect_fields[] = {
	{"uri", IST_PARSED, NULL},    {"authority", IST_PARSED, NULL},
	{"port", IST_PARSED, NULL},   {"derivePort", IST_PARSED, NULL},
	{"scheme", IST_PARSED, NULL}, {"redirectCode", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field rewrite_fields[] = {
	{"uri", IST_PARSED, NULL},
	{"authority", IST_PARSED, NULL},
	{"uriRegexRewrite", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field regex_rewrite_fields[] = {
	{"match", IST_PARSED, NULL}, {"rewrite", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};

static const struct ist_field retry_fields[] = {
	{"attempts", IST_PARSED, NULL},
	{"perTryTimeout", IST_PARSED, NULL},
	{"retryOn", IST_PARSED, NULL},
	{"retryRemoteLocalities", IST_PARSED, NULL},
	{"retryIgnorePreviousHosts", IST_WARN, NULL},
	{"backoff", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field fault_fields[] = {
	{"delay", IST_PARSED, NULL}, {"abort", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};

static const struct ist_field delay_fields[] = {
	{"fixedDelay", IST_PARSED, NULL},
	{"exponentialDelay", IST_REJECT, "exponentialDelay not supported yet"},
	{"percentage", IST_PARSED, NULL},
	{"percent", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field abort_fields[] = {
	{"httpStatus", IST_PARSED, NULL},
	{"percentage", IST_PARSED, NULL},
	{"grpcStatus", IST_WARN, "gRPC status aborts are not supported yet, ignored"},
	{"http2Error", IST_REJECT, "HTTP/2 abort fault injection not supported yet"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field mirror_policy_fields[] = {
	{"destination", IST_PARSED, NULL},
	{"percentage", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field cors_fields[] = {
	{"allowOrigin", IST_PARSED, NULL},
	{"allowOrigins", IST_PARSED, NULL},
	{"allowMethods", IST_PARSED, NULL},
	{"allowHeaders", IST_PARSED, NULL},
	{"exposeHeaders", IST_PARSED, NULL},
	{"maxAge", IST_PARSED, NULL},
	{"allowCredentials", IST_PARSED, NULL},
	{"unmatchedPreflights", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field tcp_route_fields[] = {
	{"match", IST_PARSED, NULL}, {"route", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};

static const char l4_ignored[] = "not supported yet for TCP routes, ignored";
static const struct ist_field l4_match_fields[] = {
	{"port", IST_PARSED, NULL},
	{"destinationSubnets", IST_WARN, l4_ignored},
	{"sourceLabels", IST_WARN, l4_ignored},
	{"sourceNamespace", IST_WARN, l4_ignored},
	{"sourceSubnet", IST_WARN, l4_ignored},
	{"gateways", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field tcp_dest_fields[] = {
	{"destination", IST_PARSED, NULL}, {"weight", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};

static void lower(char *s)
{
	for (; s && *s; s++)
		*s = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
}

/* ---- release ---- */

static void kv_release(struct kv_match *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		ist_str_match_release(&v[i].m);
	}
	free(v);
}

static void match_release(struct http_match *m)
{
	free(m->name);
	ist_str_match_release(&m->uri);
	ist_str_match_release(&m->scheme);
	ist_str_match_release(&m->method);
	ist_str_match_release(&m->authority);
	kv_release(m->headers, m->n_headers);
	kv_release(m->without_headers, m->n_without_headers);
	kv_release(m->query_params, m->n_query_params);
	ist_labels_release(&m->source_labels);
	free(m->source_namespace);
	ist_str_list_free(m->gateways, m->n_gateways);
}

static void header_ops_release(struct header_ops *o)
{
	struct labels set = {o->set, o->n_set}, add = {o->add, o->n_add};

	ist_labels_release(&set);
	ist_labels_release(&add);
	ist_str_list_free(o->remove, o->n_remove);
}

static void headers_release(struct istio_headers *h)
{
	header_ops_release(&h->request);
	header_ops_release(&h->response);
}

static void route_dests_release(struct route_destination *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ist_destination_release(&v[i].dst);
		headers_release(&v[i].headers);
	}
	free(v);
}

static void cors_release(struct cors_policy *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_allow_origins; i++)
		ist_str_match_release(&c->allow_origins[i]);
	free(c->allow_origins);
	ist_str_list_free(c->allow_methods, c->n_allow_methods);
	ist_str_list_free(c->allow_headers, c->n_allow_headers);
	ist_str_list_free(c->expose_headers, c->n_expose_headers);
	free(c);
}

static void http_route_release(struct http_route *r)
{
	free(r->name);
	for (size_t i = 0; i < r->n_match; i++)
		match_release(&r->match[i]);
	free(r->match);
	route_dests_release(r->route, r->n_route);
	if (r->redirect) {
		free(r->redirect->uri);
		free(r->redirect->authority);
		free(r->redirect->scheme);
		free(r->redirect);
	}
	if (r->rewrite) {
		free(r->rewrite->uri);
		free(r->rewrite->uri_regex_match);
		free(r->rewrite->uri_regex_rewrite);
		free(r->rewrite->authority);
		free(r->rewrite);
	}
	free(r->retries.retry_on);
	free(r->fault);
	for (size_t i = 0; i < r->n_mirrors; i++)
		ist_destination_release(&r->mirrors[i].dst);
	free(r->mirrors);
	cors_release(r->cors);
	headers_release(&r->headers);
}

void istio_vs_release(struct virtual_service *v)
{
	free(v->name);
	free(v->namespace);
	free(v->creation_timestamp);
	ist_str_list_free(v->hosts, v->n_hosts);
	ist_str_list_free(v->gateways, v->n_gateways);
	ist_str_list_free(v->export_to, v->n_export_to);
	for (size_t i = 0; i < v->n_http; i++)
		http_route_release(&v->http[i]);
	free(v->http);
	for (size_t i = 0; i < v->n_tcp; i++) {
		free(v->tcp[i].match_ports);
		ist_l4_matches_release(v->tcp[i].match, v->tcp[i].n_match);
		route_dests_release(v->tcp[i].route, v->tcp[i].n_route);
	}
	free(v->tcp);
	for (size_t i = 0; i < v->n_tls; i++) {
		ist_l4_matches_release(v->tls[i].match, v->tls[i].n_match);
		route_dests_release(v->tls[i].route, v->tls[i].n_route);
	}
	free(v->tls);
}

/* ---- small pieces ---- */

/* A new zeroed array for the items of @seq. */
static void *items_alloc(struct yt *t, yaml_node_t *seq, size_t size)
{
	void *v = calloc(yt_seq_len(seq) + 1, size);

	t->oom |= !v;
	return v;
}

void ist_check_gateway_names(struct yt *t, yaml_node_t *map, const char *key, char *const *names,
			     size_t n)
{
	yaml_node_t *seq = yt_get(t, map, key, NULL);
	char why[160];

	for (size_t i = 0; i < n && seq; i++) {
		const char *g = names[i], *slash = strchr(g, '/');
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct yt_frame f;

		yt_push(t, &f, key, (long)i, item->start_mark);
		if (!slash) {
			const char *dot = strchr(g, '.');

			if (dot)
				yt_report(t, LOG_WARN, item->start_mark, NULL,
					  "using legacy gatewayName format \"%s\"; prefer the "
					  "<namespace>/<name> format: \"%s/%.*s\"",
					  g, dot + 1, (int)(dot - g), g);
			if (ist_check_fqdn(g, why, sizeof(why)))
				yt_error(t, item->start_mark, NULL, "%s", why);
		} else {
			char ns[256];
			size_t nl = (size_t)(slash - g);

			snprintf(ns, sizeof(ns), "%.*s", (int)nl, g);
			if (!nl || !slash[1])
				yt_error(t, item->start_mark, NULL,
					 "config namespace and gateway name cannot be empty");
			else if (!ist_dns1123_label(ns))
				yt_error(t, item->start_mark, NULL,
					 "invalid value for namespace: \"%s\"", ns);
			else if (!ist_dns1123_label(slash + 1))
				yt_error(t, item->start_mark, NULL,
					 "invalid value for gateway name: \"%s\"", slash + 1);
		}
		yt_pop(t, &f);
	}
}

static bool names_mesh(char *const *gateways, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(gateways[i], "mesh"))
			return true;
	return !n;
}

/* ---- HTTPMatchRequest ---- */

/* headers, withoutHeaders, queryParams: a map of names to StringMatch; null values refused. */
static void parse_kv(struct yt *t, yaml_node_t *m, const char *camel, bool header,
		     struct kv_match **out, size_t *n)
{
	const char *key = ist_key(t, m, camel);
	yaml_node_pair_t *p;
	yaml_node_t *map;
	struct yt_frame f;

	if (yt_enter_map(t, m, key, 0, &f, &map))
		return;
	*out = calloc((size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start) + 1,
		      sizeof(**out));
	if (!*out) {
		t->oom = true;
		goto pop;
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yt_node(t, p->key), *v = yt_node(t, p->value);
		struct kv_match *kv = &(*out)[*n];

		if (yt_node_str(t, k, NULL, &kv->name))
			continue;
		(*n)++;
		if (header && kv->name[0] == '@')
			yt_error(t, k->start_mark, kv->name,
				 "JWT claim based routing is only supported for gateways");
		else if (header && !ist_header_name(kv->name))
			yt_error(t, k->start_mark, kv->name,
				 "header name %s is not a valid header name", kv->name);
		if (header)
			lower(kv->name);
		if (yt_is_null(v))
			yt_error(t, v->start_mark, (const char *)k->data.scalar.value,
				 "%s match %s cannot be null", header ? "header" : "query param",
				 (const char *)k->data.scalar.value);
		else
			ist_string_match(t, v, (const char *)k->data.scalar.value, &kv->m);
	}
pop:
	yt_pop(t, &f);
}

/* uri, scheme, method, authority */
static void parse_sm_field(struct yt *t, yaml_node_t *m, const char *name, struct str_match *out)
{
	yaml_node_t *n = yt_get(t, m, name, NULL);

	if (n)
		ist_string_match(t, n, name, out);
}

static void parse_match(struct yt *t, yaml_node_t *m, struct http_match *hm)
{
	const char *key;
	yaml_node_t *n;
	long v;

	hm->loc = config_loc_of(t, m->start_mark);
	ist_check_fields(t, m, match_fields);
	yt_str(t, m, "name", 0, &hm->name);
	parse_sm_field(t, m, "uri", &hm->uri);
	parse_sm_field(t, m, "scheme", &hm->scheme);
	parse_sm_field(t, m, "method", &hm->method);
	parse_sm_field(t, m, "authority", &hm->authority);
	parse_kv(t, m, "headers", true, &hm->headers, &hm->n_headers);
	parse_kv(t, m, "withoutHeaders", true, &hm->without_headers, &hm->n_without_headers);
	parse_kv(t, m, "queryParams", false, &hm->query_params, &hm->n_query_params);
	ist_bool(t, m, "ignoreUriCase", &hm->ignore_uri_case);
	if (hm->ignore_uri_case && hm->uri.kind == SM_REGEX) {
		key = ist_key(t, m, "ignoreUriCase");
		yt_report(t, LOG_WARN, yt_get(t, m, key, NULL)->start_mark, key,
			  "does not apply to a uri regex (Envoy matches regexes case-sensitively, "
			  "and so does shunt): write (?i) in the pattern");
	}
	if (!yt_int(t, m, "port", 0, LONG_MIN, LONG_MAX, &v)) {
		if (v < 1 || v > 65535)
			yt_error(t, yt_get(t, m, "port", NULL)->start_mark, "port",
				 "port number %ld must be in the range 1..65535", v);
		else
			hm->port = (uint32_t)v;
	}
	ist_labels(t, m, "sourceLabels", true, &hm->source_labels);
	key = ist_key(t, m, "sourceNamespace");
	if (!yt_str(t, m, key, 0, &hm->source_namespace) &&
	    !ist_dns1123_label(hm->source_namespace)) {
		n = yt_get(t, m, key, NULL);
		yt_error(t, n->start_mark, key, "sourceNamespace match %s is invalid",
			 hm->source_namespace);
	}
	if (!ist_str_list(t, m, "gateways", &hm->gateways, &hm->n_gateways))
		ist_check_gateway_names(t, m, "gateways", hm->gateways, hm->n_gateways);
}

/* Whether @m matches every request (all of its fields unset). */
static bool match_is_any(const struct http_match *m)
{
	return !m->uri.kind && !m->scheme.kind && !m->method.kind && !m->authority.kind &&
	       !m->n_headers && !m->n_without_headers && !m->n_query_params && !m->port &&
	       !m->source_labels.n && !m->source_namespace && !m->n_gateways;
}

/* ---- Headers ---- */

/* What Istio refuses in a header operation name; NULL when fine. @authority_ok: request set and
 * add, where :authority and host may be set. */
static const char *bad_op_name(const char *name, bool authority_ok)
{
	bool authority = !strcasecmp(name, ":authority") || !strcasecmp(name, "host");

	if (!*name)
		return "header name cannot be empty";
	if (authority_ok && authority)
		return NULL;
	if (!strcasecmp(name, "host"))
		return "invalid header \"%s\": cannot set Host header";
	if (name[0] == ':')
		return "invalid header \"%s\": header cannot have \":\" prefix";
	return NULL;
}

static void check_header_value(struct yt *t, yaml_node_t *map, const char *name, const char *value)
{
	yaml_node_t *n = yt_get(t, map, name, NULL);

	char buf[64];

	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f) {
			yt_error(t, n->start_mark, name,
				 "header value configuration %s is invalid (a control character)",
				 yt_describe(n, buf, sizeof(buf)));
			return;
		}
	}
	if (strchr(value, '%'))
		yt_report(t, LOG_WARN, n->start_mark, name,
			  "Envoy's %%VARIABLE%% substitutions are not expanded by shunt: the value "
			  "is sent as written");
}

static void parse_header_ops(struct yt *t, yaml_node_t *h, const char *key, bool request,
			     struct header_ops *o)
{
	struct labels set = {0}, add = {0};
	struct yt_frame f, fm;
	yaml_node_t *m, *map;
	const char *why;

	if (yt_enter_map(t, h, key, 0, &f, &m))
		return;
	ist_check_fields(t, m, header_ops_fields);
	for (int pass = 0; pass < 2; pass++) {
		const char *k = pass ? "add" : "set";
		struct labels *l = pass ? &add : &set;

		if (ist_labels(t, m, k, false, l))
			continue;
		yt_map(t, m, k, 0, &map);
		yt_push(t, &fm, k, -1, map->start_mark);
		for (size_t i = 0; i < l->n; i++) {
			why = bad_op_name(l->v[i].key, request);
			if (why)
				yt_error(t, map->start_mark, l->v[i].key, why, l->v[i].key);
			check_header_value(t, map, l->v[i].key, l->v[i].value);
			lower(l->v[i].key);
		}
		yt_pop(t, &fm);
	}
	o->set = set.v;
	o->n_set = set.n;
	o->add = add.v;
	o->n_add = add.n;
	if (!ist_str_list(t, m, "remove", &o->remove, &o->n_remove)) {
		for (size_t i = 0; i < o->n_remove; i++) {
			why = bad_op_name(o->remove[i], false);
			if (why)
				yt_error(t, yt_get(t, m, "remove", NULL)->start_mark, "remove", why,
					 o->remove[i]);
			lower(o->remove[i]);
		}
	}
	yt_pop(t, &f);
}

static void parse_headers(struct yt *t, yaml_node_t *parent, struct istio_headers *h)
{
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, parent, "headers", 0, &f, &m))
		return;
	ist_check_fields(t, m, headers_fields);
	parse_header_ops(t, m, "request", true, &h->request);
	parse_header_ops(t, m, "response", false, &h->response);
	yt_pop(t, &f);
}

/* ---- destinations and weights ---- */

void ist_route_dests(struct yt *t, yaml_node_t *r, const char *ns, bool http,
		     struct route_destination **out, size_t *n)
{
	struct yt_frame f, fi;
	long long total = 0;
	bool bad = false;
	yaml_node_t *seq;
	long w;

	if (yt_enter_seq(t, r, "route", 0, &f, &seq))
		return;
	*out = items_alloc(t, seq, sizeof(**out));
	for (size_t i = 0; *out && i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct route_destination *d = &(*out)[*n];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_check_map(t, item, NULL))
			goto next;
		(*n)++;
		ist_check_fields(t, item, http ? route_dest_fields : tcp_dest_fields);
		if (!yt_get(t, item, "destination", NULL))
			yt_error(t, item->start_mark, "destination", "destination is required");
		ist_destination(t, item, "destination", ns, &d->dst);
		switch (yt_int(t, item, "weight", 0, INT32_MIN, INT32_MAX, &w)) {
		case 0:
			if (w < 0)
				yt_error(t, yt_get(t, item, "weight", NULL)->start_mark, "weight",
					 "weight %ld < 0", w);
			d->weight = w < 0 ? 0 : (uint32_t)w;
			d->has_weight = true;
			total += w;
			break;
		case -EINVAL:
			bad = true; /* no total: it would only repeat the problem */
			break;
		}
		if (http)
			parse_headers(t, item, &d->headers);
	next:
		yt_pop(t, &fi);
	}
	if (*n > 1 && total == 0 && !bad)
		yt_error(t, seq->start_mark, NULL, "total destination weight = 0");
	yt_pop(t, &f);
}

/* ---- redirect, rewrite, retries, fault ---- */

static void parse_redirect(struct yt *t, yaml_node_t *r, struct http_route *hr)
{
	struct http_redirect *rd;
	const char *key;
	yaml_node_t *m, *n;
	struct yt_frame f;
	char *derive = NULL;
	long v;

	if (yt_enter_map(t, r, "redirect", 0, &f, &m))
		return;
	rd = hr->redirect = calloc(1, sizeof(*rd));
	if (!rd) {
		t->oom = true;
		goto pop;
	}
	ist_check_fields(t, m, redirect_fields);
	rd->redirect_code = 301;
	yt_str(t, m, "uri", 0, &rd->uri);
	yt_str(t, m, "authority", 0, &rd->authority);
	if (!yt_int(t, m, "port", 0, LONG_MIN, LONG_MAX, &v)) {
		if (v < 1 || v > 65535)
			yt_error(t, yt_get(t, m, "port", NULL)->start_mark, "port",
				 "port number %ld must be in the range 1..65535", v);
		else
			rd->port = (uint32_t)v;
	}
	key = ist_key(t, m, "derivePort");
	if (!yt_str(t, m, key, 0, &derive)) {
		n = yt_get(t, m, key, NULL);
		if (!strcmp(derive, "FROM_PROTOCOL_DEFAULT"))
			rd->derive_port = true;
		else if (strcmp(derive, "FROM_REQUEST_PORT"))
			yt_error(t, n->start_mark, key,
				 "unknown value \"%s\" (expected FROM_PROTOCOL_DEFAULT or "
				 "FROM_REQUEST_PORT)",
				 derive);
		if (yt_get(t, m, "port", NULL))
			yt_error(t, n->start_mark, key,
				 "port and derivePort are mutually exclusive");
		free(derive);
	}
	if (!yt_str(t, m, "scheme", 0, &rd->scheme) && strcmp(rd->scheme, "http") &&
	    strcmp(rd->scheme, "https"))
		yt_error(t, yt_get(t, m, "scheme", NULL)->start_mark, "scheme",
			 "invalid redirect scheme, must be \"http\" or \"https\"");
	key = ist_key(t, m, "redirectCode");
	if (!yt_int(t, m, key, 0, 0, UINT32_MAX, &v) && v) {
		n = yt_get(t, m, key, NULL);
		if (v < 300 || v > 399)
			yt_error(t, n->start_mark, key,
				 "%ld is not a valid redirect code, must be 3xx", v);
		else if (v != 301 && v != 302 && v != 303 && v != 307 && v != 308)
			/* Istio accepts it, then Envoy has no such redirect: the route breaks. */
			yt_error(t, n->start_mark, key,
				 "%ld is not supported (301, 302, 303, 307 or 308, as Envoy)", v);
		else
			rd->redirect_code = (uint32_t)v;
	}
	if (!rd->uri && !rd->authority && !rd->port && !rd->scheme &&
	    !yt_get(t, m, key = ist_key(t, m, "derivePort"), NULL))
		yt_error(t, m->start_mark, NULL,
			 "redirect must specify URI, authority, scheme, or port");
pop:
	yt_pop(t, &f);
}

static void parse_regex_rewrite(struct yt *t, yaml_node_t *m, struct http_rewrite *rw)
{
	const char *key = ist_key(t, m, "uriRegexRewrite");
	struct regex *re;
	struct yt_frame f;
	yaml_node_t *rr, *n;
	char err[256];
	size_t off;

	if (yt_enter_map(t, m, key, 0, &f, &rr))
		return;
	ist_check_fields(t, rr, regex_rewrite_fields);
	yt_str(t, rr, "match", 0, &rw->uri_regex_match);
	yt_str(t, rr, "rewrite", 0, &rw->uri_regex_rewrite);
	if (!rw->uri_regex_match || !*rw->uri_regex_match || !rw->uri_regex_rewrite ||
	    !*rw->uri_regex_rewrite) {
		yt_error(t, rr->start_mark, NULL,
			 "UriRegexRewrite requires both Rewrite and Match fields to be specified");
		goto pop;
	}
	n = yt_get(t, rr, "match", NULL);
	if (strlen(rw->uri_regex_match) > 1024) {
		yt_error(t, n->start_mark, "match",
			 "regex is too large, max length allowed is 1024");
		goto pop;
	}
	if (regex_check(rw->uri_regex_match, &off, err, sizeof(err)) == -EINVAL) {
		yt_error(t, ist_mark_at(n, off), "match",
			 "invalid regex: %s (Istio uses RE2 syntax)", err);
		goto pop;
	}
	re = regex_compile_search(rw->uri_regex_match, err, sizeof(err));
	if (!re) {
		t->oom = true;
		goto pop;
	}
	/* Envoy refuses a substitution naming a group the regex does not have. */
	if (regex_check_rewrite(re, rw->uri_regex_rewrite, err, sizeof(err)))
		yt_error(t, yt_get(t, rr, "rewrite", NULL)->start_mark, "rewrite", "%s", err);
	regex_free(re);
pop:
	yt_pop(t, &f);
}

static void parse_rewrite(struct yt *t, yaml_node_t *r, struct http_route *hr)
{
	struct http_rewrite *rw;
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, r, "rewrite", 0, &f, &m))
		return;
	rw = hr->rewrite = calloc(1, sizeof(*rw));
	if (!rw) {
		t->oom = true;
		goto pop;
	}
	rw->loc = config_loc_of(t, m->start_mark);
	ist_check_fields(t, m, rewrite_fields);
	yt_str(t, m, "uri", 0, &rw->uri);
	yt_str(t, m, "authority", 0, &rw->authority);
	if (rw->uri && *rw->uri && yt_get(t, m, ist_key(t, m, "uriRegexRewrite"), NULL))
		yt_error(t, m->start_mark, NULL,
			 "rewrite may only contain one of URI or UriRegexRewrite");
	else if ((!rw->uri || !*rw->uri) && (!rw->authority || !*rw->authority) &&
		 !yt_get(t, m, ist_key(t, m, "uriRegexRewrite"), NULL))
		yt_error(t, m->start_mark, NULL,
			 "rewrite must specify at least one of URI, UriRegexRewrite, or authority. "
			 "Only one of URI or UriRegexRewrite may be specified");
	parse_regex_rewrite(t, m, rw);
pop:
	yt_pop(t, &f);
}

static const char *const retry_policies[] = {
	"5xx",
	"gateway-error",
	"reset",
	"reset-before-request",
	"connect-failure",
	"retriable-4xx",
	"refused-stream",
	"retriable-status-codes",
	"retriable-headers",
	"envoy-ratelimited",
	"http3-post-connect-failure",
	"cancelled",
	"deadline-exceeded",
	"internal",
	"resource-exhausted",
	"unavailable",
	NULL,
};

/* The status codes Go's http.StatusText knows, which Istio's retryOn check accepts. */
static bool known_status(long c)
{
	static const short codes[] = {
		100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
		302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409,
		410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428,
		429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i] == c)
			return true;
	return false;
}

static void check_retry_on(struct yt *t, yaml_node_t *m, const char *key, const char *s)
{
	const char *p = s;

	for (;;) {
		size_t n = strcspn(p, ",");
		char pol[64], *end;
		bool ok = false;
		long code;

		snprintf(pol, sizeof(pol), "%.*s", (int)n, p);
		code = strtol(pol, &end, 10);
		ok = (*pol && !*end && known_status(code));
		for (const char *const *r = retry_policies; *r && !ok; r++)
			ok = !strcmp(*r, pol);
		if (!ok)
			yt_error(t, yt_get(t, m, key, NULL)->start_mark, key,
				 "\"%s\" is not a valid retryOn policy", pol);
		if (!p[n])
			break;
		p += n + 1;
	}
}

static void parse_retries(struct yt *t, yaml_node_t *r, struct http_retry *rt)
{
	struct yt_frame f;
	yaml_node_t *m;
	const char *key;
	long v;

	if (yt_enter_map(t, r, "retries", 0, &f, &m))
		return;
	rt->set = true;
	ist_check_fields(t, m, retry_fields);
	v = 0;
	if (!yt_int(t, m, "attempts", 0, INT32_MIN, INT32_MAX, &v) && v < 0)
		yt_error(t, yt_get(t, m, "attempts", NULL)->start_mark, "attempts",
			 "attempts cannot be negative");
	rt->attempts = v > 0 ? (uint32_t)v : 0;
	ist_duration(t, m, "perTryTimeout", IST_DUR_MIN_1MS, &rt->per_try_timeout_ms);
	key = ist_key(t, m, "retryOn");
	if (!yt_str(t, m, key, 0, &rt->retry_on))
		check_retry_on(t, m, key, rt->retry_on);
	ist_bool(t, m, "retryRemoteLocalities", &rt->retry_remote_localities);
	if (!v && (yt_get(t, m, ist_key(t, m, "perTryTimeout"), NULL) ||
		   (rt->retry_on && *rt->retry_on) ||
		   yt_get(t, m, ist_key(t, m, "retryRemoteLocalities"), NULL)))
		yt_error(t, m->start_mark, NULL,
			 "http retry policy configured when attempts are set to 0 (disabled)");
	yt_pop(t, &f);
}

static void parse_delay(struct yt *t, yaml_node_t *fm, struct http_fault *fault)
{
	struct yt_frame f;
	yaml_node_t *m;
	long v;

	if (yt_enter_map(t, fm, "delay", 0, &f, &m))
		return;
	ist_check_fields(t, m, delay_fields);
	if (!ist_duration(t, m, "fixedDelay", IST_DUR_MIN_1MS, &fault->delay_ms))
		fault->has_delay = true;
	else if (!yt_get(t, m, ist_key(t, m, "fixedDelay"), NULL) &&
		 !yt_get(t, m, ist_key(t, m, "exponentialDelay"), NULL))
		yt_error(t, m->start_mark, "fixedDelay", "required field is missing");
	ist_percent(t, m, "percentage", true, &fault->delay_pct);
	/* The deprecated integer percent counts only without percentage, as in Istio. */
	if (!yt_int(t, m, "percent", 0, INT32_MIN, INT32_MAX, &v)) {
		if (v < 0 || v > 100)
			yt_error(t, yt_get(t, m, "percent", NULL)->start_mark, "percent",
				 "percentage %ld is not in range 0..100", v);
		else if (!fault->delay_pct.set)
			fault->delay_pct = (struct percent){.value = (double)v, .set = true};
	}
	yt_pop(t, &f);
}

static void parse_abort(struct yt *t, yaml_node_t *fm, struct http_fault *fault)
{
	struct yt_frame f;
	yaml_node_t *m, *n;
	const char *key;
	long v;

	if (yt_enter_map(t, fm, "abort", 0, &f, &m))
		return;
	ist_check_fields(t, m, abort_fields);
	ist_percent(t, m, "percentage", true, &fault->abort_pct);
	key = ist_key(t, m, "httpStatus");
	if (!yt_int(t, m, key, 0, INT32_MIN, INT32_MAX, &v)) {
		n = yt_get(t, m, key, NULL);
		if (v < 200 || v > 599)
			yt_error(t, n->start_mark, key, "HTTP status %ld is not in range 200-599",
				 v);
		fault->abort_status = (uint32_t)v;
		fault->has_abort = true;
	} else if (!yt_get(t, m, key, NULL) && !yt_get(t, m, ist_key(t, m, "grpcStatus"), NULL) &&
		   !yt_get(t, m, ist_key(t, m, "http2Error"), NULL)) {
		yt_report(t, LOG_WARN, m->start_mark, NULL,
			  "abort configured, but error type not set");
	}
	yt_pop(t, &f);
}

static void parse_fault(struct yt *t, yaml_node_t *r, struct http_route *hr)
{
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, r, "fault", 0, &f, &m))
		return;
	hr->fault = calloc(1, sizeof(*hr->fault));
	if (!hr->fault) {
		t->oom = true;
		goto pop;
	}
	ist_check_fields(t, m, fault_fields);
	if (!yt_get(t, m, "delay", NULL) && !yt_get(t, m, "abort", NULL))
		yt_error(t, m->start_mark, NULL,
			 "HTTP fault injection must have an abort and/or a delay");
	parse_delay(t, m, hr->fault);
	parse_abort(t, m, hr->fault);
pop:
	yt_pop(t, &f);
}

/* ---- mirrors, CORS ---- */

static bool mirror_pct_ok(struct yt *t, yaml_node_t *m, const char *key, const char *name,
			  const struct percent *p)
{
	yaml_node_t *n = yt_get(t, m, key, NULL);

	if (p->set && (p->value > 100 || p->value < 0)) {
		yt_error(t, n->start_mark, key, "%s must have a %s value of %s (it has %f)", name,
			 p->value > 100 ? "max" : "min", p->value > 100 ? "100" : "0", p->value);
		return false;
	}
	return true;
}

/* mirror + mirrorPercentage (or the deprecated mirror_percent) fold into mirrors[0]. */
static void parse_mirror(struct yt *t, yaml_node_t *r, const char *ns, struct http_route *hr)
{
	const char *kpct = ist_key(t, r, "mirrorPercentage"),
		   *kold = ist_key(t, r, "mirrorPercent");
	struct http_mirror *mi;
	struct percent pct = {0};
	long v;

	ist_percent(t, r, "mirrorPercentage", false, &pct);
	mirror_pct_ok(t, r, kpct, "mirror_percentage", &pct);
	if (!yt_int(t, r, kold, 0, 0, UINT32_MAX, &v)) {
		yaml_node_t *n = yt_get(t, r, kold, NULL);

		yt_report(t, LOG_WARN, n->start_mark, kold,
			  "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" "
			  "instead");
		if (v > 100)
			yt_error(t, n->start_mark, kold,
				 "mirror_percent must have a max value of 100 (it has %ld)", v);
		else if (!pct.set)
			pct = (struct percent){.value = (double)v, .set = true};
	}
	if (!yt_get(t, r, "mirror", NULL)) {
		const char *key = yt_get(t, r, kpct, NULL) ? kpct : kold;
		yaml_node_t *n = yt_get(t, r, key, NULL);

		if (n)
			yt_report(t, LOG_WARN, n->start_mark, key, "has no effect without mirror");
		return;
	}
	mi = hr->mirrors = calloc(2, sizeof(*mi));
	if (!mi) {
		t->oom = true;
		return;
	}
	hr->n_mirrors = 1;
	mi->legacy = true;
	mi->pct = pct;
	ist_destination(t, r, "mirror", ns, &mi->dst);
}

static void parse_mirrors(struct yt *t, yaml_node_t *r, const char *ns, struct http_route *hr)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	if (yt_get(t, r, "mirror", NULL) && yt_get(t, r, "mirrors", NULL))
		yt_error(t, yt_get(t, r, "mirrors", NULL)->start_mark, "mirrors",
			 "HTTP route cannot contain both mirror and mirrors");
	if (hr->mirrors || yt_enter_seq(t, r, "mirrors", 0, &f, &seq))
		return;
	hr->mirrors = items_alloc(t, seq, sizeof(*hr->mirrors));
	for (size_t i = 0; hr->mirrors && i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct http_mirror *mi = &hr->mirrors[hr->n_mirrors];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (!yt_check_map(t, item, NULL)) {
			hr->n_mirrors++;
			ist_check_fields(t, item, mirror_policy_fields);
			if (!yt_get(t, item, "destination", NULL))
				yt_error(t, item->start_mark, "destination",
					 "destination is required for mirrors");
			ist_destination(t, item, "destination", ns, &mi->dst);
			if (!ist_percent(t, item, "percentage", false, &mi->pct))
				mirror_pct_ok(t, item, "percentage", "mirror percentage", &mi->pct);
		}
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
}

static const char *const http_methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", NULL,
};

static void check_cors_names(struct yt *t, yaml_node_t *m, const char *camel, char **v, size_t n,
			     bool methods)
{
	const char *key = ist_key(t, m, camel);

	for (size_t i = 0; i < n; i++) {
		bool ok = false;

		for (const char *const *p = http_methods; methods && *p && !ok; p++)
			ok = !strcmp(*p, v[i]);
		if (!methods)
			ok = !strcmp(v[i], "*") || ist_header_name(v[i]);
		if (!ok && methods)
			yt_error(t, yt_get(t, m, key, NULL)->start_mark, key,
				 "\"%s\" is not a supported HTTP method", v[i]);
		else if (!ok)
			yt_error(t, yt_get(t, m, key, NULL)->start_mark, key,
				 "header name %s is not a valid header name", v[i]);
	}
}

static void parse_origins(struct yt *t, yaml_node_t *m, struct cors_policy *c)
{
	const char *key = ist_key(t, m, "allowOrigins");
	struct yt_frame f, fi;
	yaml_node_t *seq;
	char **legacy;
	size_t n;

	if (!yt_enter_seq(t, m, key, 0, &f, &seq)) {
		c->allow_origins = items_alloc(t, seq, sizeof(*c->allow_origins));
		for (size_t i = 0; c->allow_origins && i < yt_seq_len(seq); i++) {
			yaml_node_t *item = yt_seq_item(t, seq, i);
			struct str_match *sm = &c->allow_origins[c->n_allow_origins];

			yt_push(t, &fi, NULL, (long)i, item->start_mark);
			if (!ist_string_match(t, item, NULL, sm)) {
				c->n_allow_origins++;
				if (!sm->value || !*sm->value)
					yt_error(t, item->start_mark, NULL,
						 "'' is not a valid match type for CORS allow "
						 "origins");
			} else {
				ist_str_match_release(sm);
			}
			yt_pop(t, &fi);
		}
		yt_pop(t, &f);
	}
	if (ist_str_list(t, m, "allowOrigin", &legacy, &n))
		return;
	key = ist_key(t, m, "allowOrigin");
	if (c->allow_origins) {
		yt_report(t, LOG_WARN, yt_get(t, m, key, NULL)->start_mark, key,
			  "ignored: allowOrigins is set");
		ist_str_list_free(legacy, n);
		return;
	}
	/* The deprecated exact origins; "*" allows every origin. */
	c->allow_origins = calloc(n + 1, sizeof(*c->allow_origins));
	t->oom |= !c->allow_origins;
	for (size_t i = 0; c->allow_origins && i < n; i++) {
		struct str_match *sm = &c->allow_origins[c->n_allow_origins++];

		sm->loc = config_loc_of(t, yt_get(t, m, key, NULL)->start_mark);
		sm->kind = strcmp(legacy[i], "*") ? SM_EXACT : SM_PREFIX;
		sm->value = strcmp(legacy[i], "*") ? legacy[i] : strdup("");
		t->oom |= !sm->value;
		if (sm->kind == SM_PREFIX)
			free(legacy[i]);
		legacy[i] = NULL;
	}
	ist_str_list_free(legacy, n);
}

static void parse_cors(struct yt *t, yaml_node_t *r, struct http_route *hr)
{
	const char *key = ist_key(t, r, "corsPolicy");
	struct cors_policy *c;
	struct yt_frame f;
	yaml_node_t *m;
	uint64_t ms;
	bool b;

	if (yt_enter_map(t, r, key, 0, &f, &m))
		return;
	c = hr->cors = calloc(1, sizeof(*c));
	if (!c) {
		t->oom = true;
		goto pop;
	}
	c->allow_credentials = -1;
	ist_check_fields(t, m, cors_fields);
	parse_origins(t, m, c);
	if (!ist_str_list(t, m, "allowMethods", &c->allow_methods, &c->n_allow_methods))
		check_cors_names(t, m, "allowMethods", c->allow_methods, c->n_allow_methods, true);
	if (!ist_str_list(t, m, "allowHeaders", &c->allow_headers, &c->n_allow_headers))
		check_cors_names(t, m, "allowHeaders", c->allow_headers, c->n_allow_headers, false);
	if (!ist_str_list(t, m, "exposeHeaders", &c->expose_headers, &c->n_expose_headers))
		check_cors_names(t, m, "exposeHeaders", c->expose_headers, c->n_expose_headers,
				 false);
	if (!ist_duration(t, m, "maxAge", IST_DUR_MIN_1MS | IST_DUR_SECONDS, &ms))
		c->max_age_s = ms / 1000;
	if (!ist_bool(t, m, "allowCredentials", &b))
		c->allow_credentials = b;
pop:
	yt_pop(t, &f);
}

/* ---- HTTPRoute ---- */

static void parse_matches(struct yt *t, yaml_node_t *r, struct http_route *hr)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	if (yt_enter_seq(t, r, "match", 0, &f, &seq))
		return;
	hr->match = items_alloc(t, seq, sizeof(*hr->match));
	for (size_t i = 0; hr->match && i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		/* "- {}" or "- " (null) matches everything, as Istio reads it. */
		if (yt_is_null(item))
			hr->match[hr->n_match++].loc = config_loc_of(t, item->start_mark);
		else if (!yt_check_map(t, item, NULL))
			parse_match(t, item, &hr->match[hr->n_match++]);
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
}

/* rewrite.authority and a request header setting :authority or host: Istio allows one. */
static void check_authority_once(struct yt *t, yaml_node_t *r, const struct http_route *hr)
{
	const char *current = hr->rewrite ? hr->rewrite->authority : NULL;
	const struct header_ops *o = &hr->headers.request;

	for (int pass = 0; pass < 2; pass++) {
		const struct label *l = pass ? o->add : o->set;
		size_t n = pass ? o->n_add : o->n_set;

		for (size_t i = 0; i < n; i++) {
			if (strcmp(l[i].key, ":authority") && strcmp(l[i].key, "host"))
				continue;
			if (current && *current)
				yt_error(t, yt_get(t, r, "headers", NULL)->start_mark, "headers",
					 "authority header cannot be set multiple times: have "
					 "\"%s\", attempting to set \"%s\"",
					 current, l[i].value);
			current = l[i].value;
		}
	}
}

static void parse_http_route(struct yt *t, yaml_node_t *r, const char *ns, struct http_route *hr)
{
	hr->loc = config_loc_of(t, r->start_mark);
	ist_check_fields(t, r, http_route_fields);
	yt_str(t, r, "name", 0, &hr->name);
	parse_matches(t, r, hr);
	ist_route_dests(t, r, ns, true, &hr->route, &hr->n_route);
	parse_redirect(t, r, hr);
	parse_rewrite(t, r, hr);
	if (!ist_duration(t, r, "timeout", IST_DUR_MIN_1MS, &hr->timeout_ms))
		hr->has_timeout = true;
	parse_retries(t, r, &hr->retries);
	parse_fault(t, r, hr);
	parse_mirror(t, r, ns, hr);
	parse_mirrors(t, r, ns, hr);
	parse_cors(t, r, hr);
	parse_headers(t, r, &hr->headers);
	check_authority_once(t, r, hr);
	if (yt_get(t, r, "redirect", NULL)) {
		if (yt_get(t, r, "route", NULL))
			yt_error(t, r->start_mark, NULL,
				 "HTTP route cannot contain both route and redirect");
		if (yt_get(t, r, "fault", NULL))
			yt_error(t, r->start_mark, NULL,
				 "HTTP route cannot contain both fault and redirect");
		if (yt_get(t, r, "rewrite", NULL))
			yt_error(t, r->start_mark, NULL,
				 "HTTP route rule cannot contain both rewrite and redirect");
	} else if (!hr->n_route && !yt_get(t, r, ist_key(t, r, "directResponse"), NULL) &&
		   !yt_get(t, r, "delegate", NULL)) {
		yt_error(t, r->start_mark, NULL, "HTTP route or redirect is required");
	}
}

/* Istio warns about rules no request can reach: after a rule that matches everything. */
static void warn_unreachable(struct yt *t, yaml_node_t *seq, const struct virtual_service *v)
{
	for (size_t i = 0; i < v->n_http; i++) {
		const struct http_route *r = &v->http[i];
		bool any = !r->n_match;

		for (size_t m = 0; m < r->n_match && !any; m++)
			any = match_is_any(&r->match[m]);
		if (!any)
			continue;
		for (size_t j = i + 1; j < v->n_http; j++) {
			struct yt_frame f;

			yt_push(t, &f, NULL, (long)j, yt_seq_item(t, seq, j)->start_mark);
			yt_report(t, LOG_WARN, yt_seq_item(t, seq, j)->start_mark, NULL,
				  "virtualService rule #%zu not used (rule #%zu before it matches "
				  "every request)",
				  j, i);
			yt_pop(t, &f);
		}
		return;
	}
}

static void parse_http(struct yt *t, yaml_node_t *spec, struct virtual_service *v)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	if (yt_enter_seq(t, spec, "http", 0, &f, &seq))
		return;
	v->http = items_alloc(t, seq, sizeof(*v->http));
	for (size_t i = 0; v->http && i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_is_null(item))
			yt_error(t, item->start_mark, NULL, "http route may not be null");
		else if (!yt_check_map(t, item, NULL))
			parse_http_route(t, item, v->namespace, &v->http[v->n_http++]);
		yt_pop(t, &fi);
	}
	warn_unreachable(t, seq, v);
	yt_pop(t, &f);
}

/* ---- TCPRoute ---- */

static void parse_tcp_route(struct yt *t, yaml_node_t *r, const char *ns, struct tcp_route *tr)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	tr->loc = config_loc_of(t, r->start_mark);
	ist_check_fields(t, r, tcp_route_fields);
	if (!yt_enter_seq(t, r, "match", 0, &f, &seq)) {
		tr->match_ports = items_alloc(t, seq, sizeof(*tr->match_ports));
		tr->match = items_alloc(t, seq, sizeof(*tr->match));
		for (size_t i = 0; tr->match_ports && tr->match && i < yt_seq_len(seq); i++) {
			yaml_node_t *item = yt_seq_item(t, seq, i);
			struct l4_match *m = &tr->match[tr->n_match];

			yt_push(t, &fi, NULL, (long)i, item->start_mark);
			if (yt_is_null(item)) {
				tr->n_match++; /* matches every connection */
			} else if (!yt_check_map(t, item, NULL)) {
				tr->n_match++;
				ist_l4_match(t, item, l4_match_fields, m);
				if (m->port)
					tr->match_ports[tr->n_match_ports++] = m->port;
			}
			yt_pop(t, &fi);
		}
		yt_pop(t, &f);
	}
	ist_route_dests(t, r, ns, false, &tr->route, &tr->n_route);
	if (!tr->n_route)
		yt_error(t, r->start_mark, "route", "TCP route is required");
}

static void parse_tcp(struct yt *t, yaml_node_t *spec, struct virtual_service *v)
{
	struct yt_frame f, fi;
	yaml_node_t *seq;

	if (yt_enter_seq(t, spec, "tcp", 0, &f, &seq))
		return;
	v->tcp = items_alloc(t, seq, sizeof(*v->tcp));
	for (size_t i = 0; v->tcp && i < yt_seq_len(seq); i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (!yt_check_map(t, item, NULL))
			parse_tcp_route(t, item, v->namespace, &v->tcp[v->n_tcp++]);
		yt_pop(t, &fi);
	}
	yt_pop(t, &f);
}

/* ---- VirtualService ---- */

/* Istio's host.Name.Matches: equal, or one wildcard covering the other. */
static bool hosts_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (a[0] == '*' && b[0] == '*') {
		if (la < lb)
			return !strcmp(b + lb - (la - 1), a + 1);
		return !strcmp(a + la - (lb - 1), b + 1);
	}
	if (a[0] == '*')
		return lb >= la - 1 && !strcmp(b + lb - (la - 1), a + 1);
	if (b[0] == '*')
		return la >= lb - 1 && !strcmp(a + la - (lb - 1), b + 1);
	return !strcmp(a, b);
}

static bool is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* hosts: each one valid ("*" not for the mesh), no two overlapping; then resolved. */
static void parse_hosts(struct yt *t, yaml_node_t *spec, struct virtual_service *v, bool mesh)
{
	yaml_node_t *seq = yt_get(t, spec, "hosts", NULL);
	bool all_valid = true;
	char why[160];

	if (ist_str_list(t, spec, "hosts", &v->hosts, &v->n_hosts) == -ENOENT || !v->n_hosts) {
		if (!yt_get(t, spec, "hosts", NULL) || seq->type == YAML_SEQUENCE_NODE)
			yt_error(t, seq ? seq->start_mark : t->owner, "hosts",
				 "at least one host is required (delegate VirtualServices, which "
				 "have none, are not supported)");
		return;
	}
	for (size_t i = 0; i < v->n_hosts; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i);
		struct yt_frame f;

		yt_push(t, &f, "hosts", (long)i, item->start_mark);
		if (ist_check_wildcard_domain(v->hosts[i], why, sizeof(why))) {
			if (!is_ip(v->hosts[i])) {
				yt_error(t, item->start_mark, NULL, "%s", why);
				all_valid = false;
			}
		} else if (mesh && !strcmp(v->hosts[i], "*")) {
			yt_error(t, item->start_mark, NULL,
				 "wildcard host * is not allowed for virtual services bound to the "
				 "mesh gateway");
			all_valid = false;
		}
		for (size_t j = 0; all_valid && j < i; j++)
			if (hosts_overlap(v->hosts[j], v->hosts[i]))
				yt_error(t, item->start_mark, NULL,
					 "duplicate hosts in virtual service: %s & %s", v->hosts[j],
					 v->hosts[i]);
		yt_pop(t, &f);
	}
	for (size_t i = 0; i < v->n_hosts; i++) {
		char *fqdn = istio_resolve_host(v->hosts[i], v->namespace);

		if (!fqdn) {
			t->oom = true;
			return;
		}
		free(v->hosts[i]);
		v->hosts[i] = fqdn;
	}
}

int istio_parse_virtual_service(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct virtual_service v = {.loc = config_loc_of(t, obj->start_mark)};
	struct istio_config *ic = &ld->cfg->istio;
	unsigned errors = t->errors;
	struct yt_frame f;
	yaml_node_t *spec;

	ist_meta(t, obj, &v.name, &v.namespace, &v.creation_timestamp);
	if (yt_enter_map(t, obj, "spec", YT_REQUIRED, &f, &spec))
		goto check;
	ist_check_fields(t, spec, vs_spec_fields);
	/* Hosts first, in file order, though whether "*" is allowed depends on gateways. */
	ist_str_list(t, spec, "gateways", &v.gateways, &v.n_gateways);
	parse_hosts(t, spec, &v, names_mesh(v.gateways, v.n_gateways));
	ist_check_gateway_names(t, spec, "gateways", v.gateways, v.n_gateways);
	ist_export_to(t, spec, v.namespace, false, &v.export_to, &v.n_export_to);
	parse_http(t, spec, &v);
	parse_tcp(t, spec, &v);
	istio_parse_tls(t, spec, &v);
	if (!yt_get(t, spec, "http", NULL) && !yt_get(t, spec, "tcp", NULL) &&
	    !yt_get(t, spec, "tls", NULL))
		yt_error(t, spec->start_mark, NULL,
			 "http, tcp or tls must be provided in virtual service");
	yt_pop(t, &f);
check:
	if (t->errors != errors || t->oom)
		goto drop;
	if (!config_append((void **)&ic->vs, &ic->n_vs, &ld->cap_vs, &v, sizeof(v)))
		return 0;
	t->oom = true;
drop:
	istio_vs_release(&v);
	return t->oom ? -ENOMEM : 0;
}
