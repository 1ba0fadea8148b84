// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * networking.istio.io DestinationRule: trafficPolicy (loadBalancer with
 * consistent hashing, connectionPool, outlierDetection), subsets and
 * workloadSelector, validated with Istio's rules and messages. A rule that
 * parsed without a problem moves into the config's string table whole
 * (dr_compact()): configs hold one per service, so a rule is one run of that
 * table rather than a dozen allocations, and what repeats (namespaces, subset
 * names, label keys and values) is there once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "istio.h"
#include "log.h"

const struct traffic_policy istio_no_policy;

static const struct ist_field dr_spec_fields[] = {
	{"host", IST_PARSED, NULL},
	{"trafficPolicy", IST_PARSED, NULL},
	{"subsets", IST_PARSED, NULL},
	{"exportTo", IST_PARSED, NULL},
	{"workloadSelector", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field policy_fields[] = {
	{"loadBalancer", IST_PARSED, NULL},
	{"connectionPool", IST_PARSED, NULL},
	{"outlierDetection", IST_PARSED, NULL},
	{"tls", IST_NOTICE, "client TLS settings are ignored (mTLS is not shunt's business yet)"},
	{"portLevelSettings", IST_WARN,
	 "not supported yet: the rule's traffic policy applies to every port"},
	{"tunnel", IST_WARN, NULL},
	{"proxyProtocol", IST_WARN, NULL},
	{"retryBudget", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field lb_fields[] = {
	{"simple", IST_PARSED, NULL},
	{"consistentHash", IST_PARSED, NULL},
	{"localityLbSetting", IST_WARN, "locality load balancing is not supported yet, ignored"},
	{"warmupDurationSecs", IST_WARN, NULL},
	{"warmup", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field hash_fields[] = {
	{"httpHeaderName", IST_PARSED, NULL},
	{"httpCookie", IST_PARSED, NULL},
	{"useSourceIp", IST_PARSED, NULL},
	{"httpQueryParameterName", IST_PARSED, NULL},
	{"ringHash", IST_PARSED, NULL},
	{"minimumRingSize", IST_PARSED, NULL},
	{"maglev", IST_WARN, "Maglev is not supported yet: a ring hash is used"},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field cookie_fields[] = {
	{"name", IST_PARSED, NULL},	{"path", IST_PARSED, NULL}, {"ttl", IST_PARSED, NULL},
	{"attributes", IST_WARN, NULL}, {NULL, IST_PARSED, NULL},
};

static const struct ist_field ring_fields[] = {{"minimumRingSize", IST_PARSED, NULL},
					       {NULL, IST_PARSED, NULL}};

static const struct ist_field pool_fields[] = {
	{"tcp", IST_PARSED, NULL}, {"http", IST_PARSED, NULL}, {NULL, IST_PARSED, NULL}};

static const struct ist_field pool_tcp_fields[] = {
	{"maxConnections", IST_PARSED, NULL}, {"connectTimeout", IST_PARSED, NULL},
	{"tcpKeepalive", IST_WARN, NULL},     {"maxConnectionDuration", IST_WARN, NULL},
	{"idleTimeout", IST_WARN, NULL},      {NULL, IST_PARSED, NULL},
};

static const struct ist_field pool_http_fields[] = {
	{"http1MaxPendingRequests", IST_PARSED, NULL},
	{"http2MaxRequests", IST_PARSED, NULL},
	{"maxRequestsPerConnection", IST_PARSED, NULL},
	{"idleTimeout", IST_PARSED, NULL},
	{"maxRetries", IST_WARN, NULL},
	{"h2UpgradePolicy", IST_WARN, NULL},
	{"useClientProtocol", IST_WARN, NULL},
	{"maxConcurrentStreams", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field outlier_fields[] = {
	{"consecutive5xxErrors", IST_PARSED, NULL},
	{"consecutiveGatewayErrors", IST_PARSED, NULL},
	{"consecutiveErrors", IST_PARSED, NULL},
	{"interval", IST_PARSED, NULL},
	{"baseEjectionTime", IST_PARSED, NULL},
	{"maxEjectionPercent", IST_PARSED, NULL},
	{"minHealthPercent", IST_PARSED, NULL},
	{"splitExternalLocalOriginErrors", IST_WARN, NULL},
	{"consecutiveLocalOriginFailures", IST_WARN, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field subset_fields[] = {
	{"name", IST_PARSED, NULL},
	{"labels", IST_PARSED, NULL},
	{"trafficPolicy", IST_PARSED, NULL},
	{NULL, IST_PARSED, NULL},
};

static const struct ist_field selector_fields[] = {{"matchLabels", IST_PARSED, NULL},
						   {NULL, IST_PARSED, NULL}};

/* An int32 field that Istio wants non-negative, with Istio's message. */
static void nonneg(struct yt *t, yaml_node_t *map, const char *camel, const char *what,
		   uint32_t *out)
{
	const char *key = ist_key(t, map, camel);
	long v;

	if (yt_int(t, map, key, 0, INT32_MIN, INT32_MAX, &v))
		return;
	if (v < 0)
		yt_error(t, yt_get(t, map, key, NULL)->start_mark, key, "%s must be non-negative",
			 what);
	else
		*out = (uint32_t)v;
}

static void parse_cookie(struct yt *t, yaml_node_t *hash, struct lb_policy *lb)
{
	struct yt_frame f;
	yaml_node_t *c;

	if (yt_enter_map(t, hash, ist_key(t, hash, "httpCookie"), 0, &f, &c))
		return;
	ist_check_fields(t, c, cookie_fields);
	free(lb->hash_key);
	lb->hash = LB_HASH_COOKIE;
	lb->hash_key = NULL;
	if (yt_str(t, c, "name", 0, &lb->hash_key) || !*lb->hash_key)
		yt_error(t, c->start_mark, "name", "name required for HttpCookie");
	yt_str(t, c, "path", 0, &lb->cookie_path);
	ist_duration(t, c, "ttl", 0, &lb->cookie_ttl_ms);
	yt_pop(t, &f);
}

/* consistentHash: exactly one key, and at most one ring size setting. */
static void parse_hash(struct yt *t, yaml_node_t *lbm, struct lb_policy *lb)
{
	static const char *const keys[] = {"httpHeaderName", "httpCookie", "useSourceIp",
					   "httpQueryParameterName"};
	const char *first = NULL;
	struct yt_frame f, fr;
	yaml_node_t *h, *ring, *n;
	bool b;
	long v;

	if (yt_enter_map(t, lbm, ist_key(t, lbm, "consistentHash"), 0, &f, &h))
		return;
	ist_check_fields(t, h, hash_fields);
	for (size_t i = 0; i < 4; i++) {
		const char *key = ist_key(t, h, keys[i]);

		n = yt_get(t, h, key, NULL);
		if (!n)
			continue;
		if (first) {
			yt_error(t, n->start_mark, key, "only one of %s and %s may be set", first,
				 key);
			continue;
		}
		first = key;
		if (i == 0 && !yt_str(t, h, key, 0, &lb->hash_key)) {
			lb->hash = LB_HASH_HEADER;
			if (!ist_header_name(lb->hash_key))
				yt_error(t, n->start_mark, key,
					 "header name %s is not a valid header name", lb->hash_key);
			for (char *c = lb->hash_key; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		} else if (i == 1) {
			parse_cookie(t, h, lb);
		} else if (i == 2 && !yt_bool(t, h, key, 0, &b)) {
			if (b)
				lb->hash = LB_HASH_SOURCE_IP;
			else
				yt_report(t, LOG_WARN, n->start_mark, key,
					  "false hashes nothing: requests are spread as if at "
					  "random");
		} else if (i == 3 && !yt_str(t, h, key, 0, &lb->hash_key)) {
			lb->hash = LB_HASH_QUERY;
		}
	}
	if (!first)
		yt_error(t, h->start_mark, NULL,
			 "one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName "
			 "is required");
	if (!ist_int(t, h, "minimumRingSize", 0, LONG_MAX, &v)) {
		n = yt_get(t, h, ist_key(t, h, "minimumRingSize"), NULL);
		yt_report(t, LOG_WARN, n->start_mark, ist_key(t, h, "minimumRingSize"),
			  "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's "
			  "RingHash configuration instead");
		lb->minimum_ring_size = (uint64_t)v;
		n = yt_get(t, h, ist_key(t, h, "ringHash"), NULL);
		if (!n)
			n = yt_get(t, h, "maglev", NULL);
		if (n && v)
			yt_error(t, n->start_mark, NULL,
				 "only one of MinimumRingSize or Maglev/Ringhash can be specified");
	}
	if (!yt_enter_map(t, h, ist_key(t, h, "ringHash"), 0, &fr, &ring)) {
		ist_check_fields(t, ring, ring_fields);
		if (!ist_int(t, ring, "minimumRingSize", 0, LONG_MAX, &v))
			lb->minimum_ring_size = (uint64_t)v;
		yt_pop(t, &fr);
	}
	yt_pop(t, &f);
}

static const char *const lb_names[] = {
	[LB_UNSET] = "UNSPECIFIED",	      [LB_ROUND_ROBIN] = "ROUND_ROBIN",
	[LB_LEAST_REQUEST] = "LEAST_REQUEST", [LB_RANDOM] = "RANDOM",
	[LB_PASSTHROUGH] = "PASSTHROUGH",
};

static void parse_lb(struct yt *t, yaml_node_t *pol, struct lb_policy *lb)
{
	struct yt_frame f;
	yaml_node_t *m, *n;
	char *s = NULL;

	if (yt_enter_map(t, pol, ist_key(t, pol, "loadBalancer"), 0, &f, &m))
		return;
	lb->set = true;
	ist_check_fields(t, m, lb_fields);
	if (!yt_str(t, m, "simple", 0, &s)) {
		n = yt_get(t, m, "simple", NULL);
		if (!strcmp(s, "LEAST_CONN"))
			lb->simple = LB_LEAST_REQUEST; /* deprecated alias, as Istio maps it */
		for (size_t i = 0; i < sizeof(lb_names) / sizeof(lb_names[0]) && !lb->simple; i++)
			if (!strcmp(s, lb_names[i]))
				lb->simple = (enum lb_simple)i;
		if (!lb->simple && strcmp(s, "UNSPECIFIED"))
			yt_error(t, n->start_mark, "simple",
				 "unknown value \"%s\" (expected ROUND_ROBIN, LEAST_REQUEST, "
				 "LEAST_CONN, RANDOM or PASSTHROUGH)",
				 s);
		if (yt_get(t, m, ist_key(t, m, "consistentHash"), NULL))
			yt_error(t, n->start_mark, "simple",
				 "simple and consistentHash are mutually exclusive");
		free(s);
	}
	parse_hash(t, m, lb);
	yt_pop(t, &f);
}

static void parse_pool(struct yt *t, yaml_node_t *pol, struct connection_pool *cp)
{
	struct yt_frame f, fs;
	yaml_node_t *m, *s;

	if (yt_enter_map(t, pol, ist_key(t, pol, "connectionPool"), 0, &f, &m))
		return;
	cp->set = true;
	ist_check_fields(t, m, pool_fields);
	if (!yt_get(t, m, "tcp", NULL) && !yt_get(t, m, "http", NULL))
		yt_error(t, m->start_mark, NULL, "connection pool must have at least one field");
	if (!yt_enter_map(t, m, "tcp", 0, &fs, &s)) {
		ist_check_fields(t, s, pool_tcp_fields);
		nonneg(t, s, "maxConnections", "max connections", &cp->tcp_max_connections);
		ist_duration(t, s, "connectTimeout", IST_DUR_MIN_1MS, &cp->tcp_connect_timeout_ms);
		yt_pop(t, &fs);
	}
	if (!yt_enter_map(t, m, "http", 0, &fs, &s)) {
		ist_check_fields(t, s, pool_http_fields);
		nonneg(t, s, "http1MaxPendingRequests", "http1 max pending requests",
		       &cp->http1_max_pending_requests);
		nonneg(t, s, "http2MaxRequests", "http2 max requests", &cp->http2_max_requests);
		nonneg(t, s, "maxRequestsPerConnection", "max requests per connection",
		       &cp->max_requests_per_connection);
		ist_duration(t, s, "idleTimeout", IST_DUR_MIN_1MS, &cp->idle_timeout_ms);
		yt_pop(t, &fs);
	}
	yt_pop(t, &f);
}

static void percent_field(struct yt *t, yaml_node_t *m, const char *camel, void *out, bool sign)
{
	const char *key = ist_key(t, m, camel);
	long v;

	if (yt_int(t, m, key, 0, INT32_MIN, INT32_MAX, &v))
		return;
	if (v < 0 || v > 100)
		yt_error(t, yt_get(t, m, key, NULL)->start_mark, key,
			 "percentage %ld is not in range 0..100", v);
	else if (sign)
		*(int32_t *)out = (int32_t)v;
	else
		*(uint32_t *)out = (uint32_t)v;
}

static void parse_outlier(struct yt *t, yaml_node_t *pol, struct outlier_detection *od)
{
	struct yt_frame f;
	yaml_node_t *m, *n;
	uint32_t legacy = 0;
	long v;

	if (yt_enter_map(t, pol, ist_key(t, pol, "outlierDetection"), 0, &f, &m))
		return;
	/* Envoy's defaults, which Istio keeps. */
	*od = (struct outlier_detection){.set = true,
					 .consecutive_5xx_errors = 5,
					 .interval_ms = 10000,
					 .base_ejection_ms = 30000,
					 .max_ejection_percent = 10};
	ist_check_fields(t, m, outlier_fields);
	if (!ist_int(t, m, "consecutive5xxErrors", 0, UINT32_MAX, &v)) {
		od->consecutive_5xx_errors = (uint32_t)v;
		od->has_consecutive_5xx = true;
	}
	if (!ist_int(t, m, "consecutiveGatewayErrors", 0, UINT32_MAX, &v))
		od->consecutive_gateway_errors = (uint32_t)v;
	nonneg(t, m, "consecutiveErrors", "consecutive errors", &legacy);
	if (legacy) {
		/* Istio reads the deprecated field as gateway errors, 5xx not counted. */
		n = yt_get(t, m, ist_key(t, m, "consecutiveErrors"), NULL);
		yt_report(t, LOG_WARN, n->start_mark, ist_key(t, m, "consecutiveErrors"),
			  "outlier detection consecutive errors is deprecated, use "
			  "consecutiveGatewayErrors or consecutive5xxErrors instead");
		if (!od->consecutive_gateway_errors)
			od->consecutive_gateway_errors = legacy;
		if (!od->has_consecutive_5xx) {
			od->consecutive_5xx_errors = 0;
			od->has_consecutive_5xx = true;
		}
	}
	ist_duration(t, m, "interval", IST_DUR_MIN_1MS, &od->interval_ms);
	ist_duration(t, m, "baseEjectionTime", IST_DUR_MIN_1MS, &od->base_ejection_ms);
	percent_field(t, m, "maxEjectionPercent", &od->max_ejection_percent, false);
	percent_field(t, m, "minHealthPercent", &od->min_health_percent, true);
	yt_pop(t, &f);
}

/* A TrafficPolicy at field @camel of @parent. */
static void parse_policy(struct yt *t, yaml_node_t *parent, const char *camel,
			 struct traffic_policy *p)
{
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, parent, ist_key(t, parent, camel), 0, &f, &m))
		return;
	ist_check_fields(t, m, policy_fields);
	if (!m->data.mapping.pairs.top || m->data.mapping.pairs.top == m->data.mapping.pairs.start)
		yt_error(t, m->start_mark, NULL, "traffic policy must have at least one field");
	parse_lb(t, m, &p->lb);
	parse_pool(t, m, &p->pool);
	parse_outlier(t, m, &p->outlier);
	yt_pop(t, &f);
}

static void policy_release(struct traffic_policy *p)
{
	free(p->lb.hash_key);
	free(p->lb.cookie_path);
}

/* A DestinationRule being parsed: its policies in full, until dr_compact() keeps those set. */
struct dr_parse {
	struct destination_rule d; /* its policy pointers unset */
	struct traffic_policy policy;
	struct traffic_policy *subset_policies; /* [d.n_subsets] */
};

static void parse_subsets(struct yt *t, yaml_node_t *spec, struct dr_parse *p)
{
	struct destination_rule *dr = &p->d;
	struct yt_frame f, fi;
	yaml_node_t *seq;
	size_t n;

	if (yt_enter_seq(t, spec, "subsets", 0, &f, &seq))
		return;
	n = yt_seq_len(seq);
	dr->subsets = calloc(n ? n : 1, sizeof(*dr->subsets));
	p->subset_policies = calloc(n ? n : 1, sizeof(*p->subset_policies));
	if (!dr->subsets || !p->subset_policies) {
		t->oom = true;
		goto pop;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yt_seq_item(t, seq, i), *nn;
		struct subset *s = &dr->subsets[dr->n_subsets];

		yt_push(t, &fi, NULL, (long)i, item->start_mark);
		if (yt_check_map(t, item, NULL))
			goto next;
		dr->n_subsets++;
		s->loc = config_loc_of(t, item->start_mark);
		ist_check_fields(t, item, subset_fields);
		if (!yt_str(t, item, "name", YT_REQUIRED, &s->name)) {
			nn = yt_get(t, item, "name", NULL);
			if (!*s->name)
				yt_error(t, nn->start_mark, "name", "subset name cannot be empty");
			else if (!ist_dns1123_label(s->name))
				yt_error(t, nn->start_mark, "name", "subset name is invalid: %s",
					 s->name);
			for (size_t j = 0; j + 1 < dr->n_subsets; j++)
				if (dr->subsets[j].name && !strcmp(dr->subsets[j].name, s->name))
					yt_error(t, nn->start_mark, "name",
						 "duplicate subset names: %s (also subsets[%zu])",
						 s->name, j);
		}
		if (ist_labels(t, item, "labels", true, &s->labels) || !s->labels.n)
			yt_report(t, LOG_WARN, item->start_mark, "labels",
				  "a subset without labels selects every endpoint of the service");
		parse_policy(t, item, "trafficPolicy", &p->subset_policies[dr->n_subsets - 1]);
	next:
		yt_pop(t, &fi);
	}
pop:
	yt_pop(t, &f);
}

static bool parse_selector(struct yt *t, yaml_node_t *spec, struct labels *out)
{
	const char *key = ist_key(t, spec, "workloadSelector");
	struct yt_frame f;
	yaml_node_t *m;

	if (yt_enter_map(t, spec, key, 0, &f, &m))
		return yt_get(t, spec, key, NULL) != NULL;
	ist_check_fields(t, m, selector_fields);
	ist_labels(t, m, "matchLabels", false, out);
	for (size_t i = 0; i < out->n; i++) {
		if (!*out->v[i].key || strchr(out->v[i].key, '*') || strchr(out->v[i].value, '*'))
			yt_error(t, m->start_mark, ist_key(t, m, "matchLabels"),
				 "%s key or wildcard is not supported in selector: \"%s=%s\"",
				 *out->v[i].key ? "a" : "an empty", out->v[i].key, out->v[i].value);
	}
	if (!out->n)
		yt_report(t, LOG_WARN, m->start_mark, NULL,
			  "workload selector specified without labels");
	yt_pop(t, &f);
	return true;
}

/* Frees what parsing @p allocated (a DestinationRule dr_compact() did not take). */
static void dr_parse_release(struct dr_parse *p)
{
	struct destination_rule *d = &p->d;

	free(d->name);
	free(d->namespace);
	free(d->creation_timestamp);
	free(d->host);
	free(d->fqdn);
	policy_release(&p->policy);
	for (size_t i = 0; i < d->n_subsets; i++) {
		free(d->subsets[i].name);
		ist_labels_release(&d->subsets[i].labels);
		policy_release(&p->subset_policies[i]);
	}
	free(d->subsets);
	free(p->subset_policies);
	ist_str_list_free(d->export_to, d->n_export_to);
	ist_labels_release(&d->workload_selector);
}

/* ---- into the config's string table ---- */

/* A copy of @s (NULL: none) in @st, the one every equal string gets when @shared; false on
 * ENOMEM. */
static bool keep_str(struct strtab *st, const char *s, bool shared, char **out)
{
	*out = !s ? NULL : shared ? strtab_intern(st, s) : strtab_dup(st, s);
	return !s || *out;
}

/* @in's keys and values shared in @st, their array copied. false on ENOMEM. */
static bool keep_labels(struct strtab *st, const struct labels *in, struct labels *out)
{
	*out = (struct labels){0};
	if (!in->n)
		return true;
	out->v = strtab_alloc(st, in->n * sizeof(*out->v));
	if (!out->v)
		return false;
	for (; out->n < in->n; out->n++)
		if (!keep_str(st, in->v[out->n].key, true, &out->v[out->n].key) ||
		    !keep_str(st, in->v[out->n].value, true, &out->v[out->n].value))
			return false;
	return true;
}

/* exportTo entries ("*", ".", namespaces) shared in @st, their array copied. */
static bool keep_list(struct strtab *st, char *const *in, size_t n, char ***out)
{
	*out = NULL;
	if (!n)
		return true;
	*out = strtab_alloc(st, n * sizeof(**out));
	if (!*out)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!keep_str(st, in[i], true, &(*out)[i]))
			return false;
	return true;
}

/* @p when it sets a part, copied into @st (its strings too); else istio_no_policy. */
static bool keep_policy(struct strtab *st, const struct traffic_policy *p,
			const struct traffic_policy **out)
{
	struct traffic_policy *c;

	*out = &istio_no_policy;
	if (!p->lb.set && !p->pool.set && !p->outlier.set) /* unset parts are all zero */
		return true;
	c = strtab_alloc(st, sizeof(*c));
	if (!c)
		return false;
	*c = *p;
	*out = c;
	return keep_str(st, p->lb.hash_key, false, &c->lb.hash_key) &&
	       keep_str(st, p->lb.cookie_path, true, &c->lb.cookie_path);
}

/*
 * @p, parsed, as the config keeps it in *@out: everything in @st (10,000 DestinationRules take a
 * dozen allocations each otherwise), the name, host and FQDN copied, the namespace, subset names,
 * label keys and values and exportTo entries shared, the policies only where one sets a part.
 * @out then owns nothing; @p is left as parsed, also on -ENOMEM (what was copied stays in @st
 * until it is freed).
 */
static int dr_compact(struct strtab *st, const struct dr_parse *p, struct destination_rule *out)
{
	const struct destination_rule *d = &p->d;
	struct destination_rule c = *d;

	if (!keep_str(st, d->name, false, &c.name) ||
	    !keep_str(st, d->namespace, true, &c.namespace) ||
	    !keep_str(st, d->creation_timestamp, false, &c.creation_timestamp) ||
	    !keep_str(st, d->host, false, &c.host) || !keep_str(st, d->fqdn, false, &c.fqdn) ||
	    !keep_policy(st, &p->policy, &c.policy) ||
	    !keep_list(st, d->export_to, d->n_export_to, &c.export_to) ||
	    !keep_labels(st, &d->workload_selector, &c.workload_selector))
		return -ENOMEM;
	c.subsets = d->n_subsets ? strtab_alloc(st, d->n_subsets * sizeof(*c.subsets)) : NULL;
	if (d->n_subsets && !c.subsets)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_subsets; i++) {
		struct subset *s = &c.subsets[i];

		*s = d->subsets[i];
		if (!keep_str(st, d->subsets[i].name, true, &s->name) ||
		    !keep_labels(st, &d->subsets[i].labels, &s->labels) ||
		    !keep_policy(st, &p->subset_policies[i], &s->policy))
			return -ENOMEM;
	}
	*out = c;
	return 0;
}

int istio_parse_destination_rule(struct load *ld, struct yt *t, yaml_node_t *obj)
{
	struct dr_parse p = {.d = {.loc = config_loc_of(t, obj->start_mark)}};
	struct destination_rule *d = &p.d, kept;
	struct istio_config *ic = &ld->cfg->istio;
	unsigned errors = t->errors;
	yaml_node_t *spec, *n;
	struct yt_frame f;
	char why[160];
	bool selector;

	ist_meta(t, obj, &d->name, &d->namespace, &d->creation_timestamp);
	if (yt_enter_map(t, obj, "spec", YT_REQUIRED, &f, &spec))
		goto check;
	ist_check_fields(t, spec, dr_spec_fields);
	if (!yt_str(t, spec, "host", YT_REQUIRED, &d->host)) {
		n = yt_get(t, spec, "host", NULL);
		if (ist_check_wildcard_domain(d->host, why, sizeof(why)))
			yt_error(t, n->start_mark, "host", "%s", why);
		d->fqdn = istio_resolve_host(d->host, d->namespace);
		t->oom |= !d->fqdn;
	}
	parse_policy(t, spec, "trafficPolicy", &p.policy);
	parse_subsets(t, spec, &p);
	selector = parse_selector(t, spec, &d->workload_selector);
	ist_export_to(t, spec, d->namespace, selector, &d->export_to, &d->n_export_to);
	yt_pop(t, &f);
check:
	if (t->errors != errors || t->oom)
		goto drop;
	if (!dr_compact(&ld->cfg->strs, &p, &kept) &&
	    !config_append((void **)&ic->dr, &ic->n_dr, &ld->cap_dr, &kept, sizeof(kept))) {
		dr_parse_release(&p);
		return 0;
	}
	t->oom = true;
drop:
	dr_parse_release(&p);
	return t->oom ? -ENOMEM : 0;
}
