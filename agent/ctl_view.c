// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shuntctl's text views: the JSON of /routes, /explain and status turned
 * into aligned columns and short lines. The JSON is the contract (dump.h,
 * explain.h); these views only choose what a person reads first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define COLS_MAX 8

/* A table of strings printed with aligned columns (the last one unpadded). */
struct table {
	size_t ncols, nrows, cap;
	char **cells; /* nrows * ncols, owned */
};

static void table_row(struct table *t, ...)
{
	va_list ap;
	char **c;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;

		c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		if (!c)
			return;
		t->cells = c;
		t->cap = cap;
	}
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->nrows * t->ncols + i] = strdup(s ? s : "-");
	}
	va_end(ap);
	t->nrows++;
}

static void table_print(FILE *f, struct table *t, const char *indent)
{
	size_t w[COLS_MAX] = {0};

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t n = s ? strlen(s) : 0;

			w[i] = n > w[i] ? n : w[i];
		}
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(indent, f);
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];

			if (i + 1 < t->ncols)
				fprintf(f, "%-*s  ", (int)w[i], s ? s : "");
			else
				fprintf(f, "%s\n", s ? s : "");
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long num(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* Appends printf output to @buf (@cap bytes). */
__attribute__((format(printf, 3, 4))) static void cat(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

/* A StringMatch as istioctl writes it: "/v2*" (prefix), "/v2" (exact), "~re" (regex). */
static void sm(char *buf, size_t cap, const char *name, const char *op, const json_t *m)
{
	const char *v;

	if ((v = str(m, "exact")))
		cat(buf, cap, " %s%s%s", name, *name ? op : "", v);
	else if ((v = str(m, "prefix")))
		cat(buf, cap, " %s%s%s*", name, *name ? op : "", v);
	else if ((v = str(m, "regex")))
		cat(buf, cap, " %s%s~%s", name, *name ? op : "", v);
	else
		cat(buf, cap, " %s", name);
}

static void kvs(char *buf, size_t cap, const json_t *obj, const char *prefix)
{
	const char *k;
	json_t *v;

	CTL_OBJECT_EACH ((json_t *)obj, k, v) {
		char name[160];

		snprintf(name, sizeof(name), "%s%s", prefix, k);
		sm(buf, cap, name, "=", v);
	}
}

/* One match entry in a line: the uri first ("/" then "*" for none), then the rest. */
static void match_str(const json_t *m, char *buf, size_t cap)
{
	const json_t *v;
	const char *k;

	buf[0] = '\0';
	if ((v = json_object_get(m, "uri")))
		sm(buf, cap, "", "", v);
	else
		cat(buf, cap, " /*");
	if ((v = json_object_get(m, "method")))
		sm(buf, cap, "method", "=", v);
	if ((v = json_object_get(m, "authority")))
		sm(buf, cap, "authority", "=", v);
	kvs(buf, cap, json_object_get(m, "headers"), "");
	kvs(buf, cap, json_object_get(m, "withoutHeaders"), "!");
	kvs(buf, cap, json_object_get(m, "queryParams"), "?");
	if ((v = json_object_get(m, "port")))
		cat(buf, cap, " port=%lld", (long long)json_integer_value(v));
	CTL_OBJECT_EACH (json_object_get(m, "sourceLabels"), k, v)
		cat(buf, cap, " src:%s=%s", k, json_string_value(v));
	if (str(m, "sourceNamespace"))
		cat(buf, cap, " srcns=%s", str(m, "sourceNamespace"));
	memmove(buf, buf + 1, strlen(buf)); /* the leading space */
}

/* "reviews.default/v2" for reviews.default.svc.cluster.local subset v2. */
static void short_host(char *buf, size_t cap, const char *host, const char *subset)
{
	const char *suffix = ".svc.cluster.local";
	size_t n = host ? strlen(host) : 0, sl = strlen(suffix);

	if (n > sl && !strcmp(host + n - sl, suffix))
		n -= sl;
	cat(buf, cap, "%.*s%s%s", (int)n, host ? host : "?", subset ? "/" : "",
	    subset ? subset : "");
}

static void action_str(const json_t *a, char *buf, size_t cap)
{
	const json_t *v, *d;
	size_t i;

	buf[0] = '\0';
	CTL_ARRAY_EACH (json_object_get(a, "route"), i, d) {
		const json_t *dst = json_object_get(d, "destination");

		cat(buf, cap, "%s", i ? ", " : "");
		short_host(buf, cap, str(dst, "host"), str(dst, "subset"));
		cat(buf, cap, " %lld%%", num(d, "weight"));
	}
	if ((v = json_object_get(a, "redirect")))
		cat(buf, cap, "redirect %lld%s%s", num(v, "redirectCode"), str(v, "uri") ? " " : "",
		    str(v, "uri") ? str(v, "uri") : "");
	if (str(a, "directResponse"))
		cat(buf, cap, "404 (directResponse)");
	if ((v = json_object_get(a, "rewrite")) && str(v, "uri"))
		cat(buf, cap, "; rewrite %s", str(v, "uri"));
	if (str(a, "timeout"))
		cat(buf, cap, "; timeout %s", str(a, "timeout"));
	if ((v = json_object_get(json_object_get(a, "fault"), "abort")))
		cat(buf, cap, "; abort %lld %g%%", num(v, "httpStatus"),
		    json_number_value(json_object_get(v, "percentage")));
	if ((v = json_object_get(json_object_get(a, "fault"), "delay")))
		cat(buf, cap, "; delay %s %g%%", str(v, "fixedDelay"),
		    json_number_value(json_object_get(v, "percentage")));
	CTL_ARRAY_EACH (json_object_get(a, "mirrors"), i, d) {
		cat(buf, cap, "; mirror ");
		short_host(buf, cap, str(json_object_get(d, "destination"), "host"),
			   str(json_object_get(d, "destination"), "subset"));
	}
}

void ctl_view_routes(FILE *f, const json_t *vhosts)
{
	struct table t = {.ncols = 6};
	const json_t *vh, *r;
	char match[1024], action[1024], name[64];
	size_t i, k;

	table_row(&t, "VIRTUAL HOST", "PATH", "ROUTE", "MATCH", "ACTION", "VIRTUAL SERVICE");
	CTL_ARRAY_EACH (vhosts, i, vh) {
		CTL_ARRAY_EACH (json_object_get(vh, "routes"), k, r) {
			const char *rn = str(r, "name");

			if (!rn && json_object_get(r, "rule"))
				snprintf(name, sizeof(name), "rule %lld", num(r, "rule"));
			match_str(json_object_get(r, "match"), match, sizeof(match));
			action_str(json_object_get(r, "action"), action, sizeof(action));
			table_row(&t, str(vh, "name"), str(vh, "path"), rn ? rn : name, match,
				  action, str(r, "virtualService"));
		}
	}
	table_print(f, &t, "");
}

static void view_request(FILE *f, const json_t *x)
{
	const json_t *rq = json_object_get(x, "request"), *src = json_object_get(rq, "source");
	const json_t *svc = json_object_get(x, "service"), *h;
	char labels[512] = "";
	const char *k;
	json_t *v;
	size_t i;

	fprintf(f, "request:   %s %s (host %s, port %lld)\n", str(rq, "method"), str(rq, "path"),
		str(rq, "host"), num(rq, "port"));
	CTL_ARRAY_EACH (json_object_get(rq, "headers"), i, h)
		fprintf(f, "           %s\n", json_string_value(h));
	CTL_OBJECT_EACH (json_object_get(src, "labels"), k, v)
		cat(labels, sizeof(labels), "%s%s=%s", labels[0] ? "," : "", k,
		    json_string_value(v));
	if (str(src, "pod"))
		fprintf(f, "client:    %s, pod %s (%s)\n", str(src, "ip"), str(src, "pod"), labels);
	else
		fprintf(f, "client:    %s (no known pod)\n",
			str(src, "ip") ? str(src, "ip") : "none");
	fprintf(f, "service:   %s/%s, %s, VIP %s, through the %s\n", str(svc, "namespace"),
		str(svc, "name"), str(svc, "fqdn"), str(svc, "vip") ? str(svc, "vip") : "none",
		str(svc, "path"));
}

static void view_dests(FILE *f, const json_t *x)
{
	struct table t = {.ncols = 5};
	const json_t *d, *e;
	char dst[512], w[16], eps[16], lab[512];
	size_t i, k;

	table_row(&t, "", "WEIGHT", "DESTINATION", "CLUSTER", "ENDPOINTS");
	CTL_ARRAY_EACH (json_object_get(x, "destinations"), i, d) {
		dst[0] = '\0';
		short_host(dst, sizeof(dst), str(d, "host"), str(d, "subset"));
		snprintf(w, sizeof(w), "%lld", num(d, "weight"));
		snprintf(eps, sizeof(eps), "%zu", json_array_size(json_object_get(d, "endpoints")));
		table_row(&t, json_is_true(json_object_get(d, "chosen")) ? "*" : "", w, dst,
			  str(d, "cluster"), str(d, "problem") ? str(d, "problem") : eps);
		CTL_ARRAY_EACH (json_object_get(d, "endpoints"), k, e) {
			const char *lk;
			json_t *lv;

			lab[0] = '\0';
			CTL_OBJECT_EACH (json_object_get(e, "labels"), lk, lv)
				cat(lab, sizeof(lab), "%s%s=%s", lab[0] ? "," : "", lk,
				    json_string_value(lv));
			table_row(&t, "", "", str(e, "address"), str(e, "pod"), lab);
		}
	}
	fprintf(f, "destinations (* the one this pick took):\n");
	table_print(f, &t, "  ");
}

void ctl_view_explain(FILE *f, const json_t *x)
{
	const json_t *r, *n, *m = json_object_get(x, "matchedRule");
	size_t i;

	view_request(f, x);
	if (str(x, "virtualService"))
		fprintf(f, "virtual service: %s\n", str(x, "virtualService"));
	else if (str(x, "skippedVirtualService"))
		fprintf(f,
			"virtual service: %s applies to no entry for this client: default route\n",
			str(x, "skippedVirtualService"));
	else
		fprintf(f,
			"virtual service: none: the default route (the service's own cluster)\n");
	CTL_ARRAY_EACH (json_object_get(x, "rules"), i, r)
		fprintf(f, "  %s\n", str(r, "reason"));
	if (json_object_get(m, "index"))
		fprintf(f, "matched:   rule %lld%s%s%s\n", num(m, "index"),
			str(m, "name") ? " (" : "", str(m, "name") ? str(m, "name") : "",
			str(m, "name") ? ")" : "");
	fprintf(f, "verdict:   %s", str(x, "verdict"));
	if (num(x, "status"))
		fprintf(f, " (%lld %s)", num(x, "status"), str(x, "flag") ? str(x, "flag") : "");
	fprintf(f, "\n");
	if (json_array_size(json_object_get(x, "destinations")))
		view_dests(f, x);
	if (str(x, "endpoint"))
		fprintf(f, "endpoint:  %s %s\n", str(x, "endpoint"),
			str(x, "endpointPod") ? str(x, "endpointPod") : "");
	CTL_ARRAY_EACH (json_object_get(x, "notes"), i, n)
		fprintf(f, "note:      %s\n", json_string_value(n));
}

static void view_programs(FILE *f, const json_t *progs)
{
	struct table t = {.ncols = 6};
	const json_t *p;
	char id[24], cg[24];
	size_t i;

	fprintf(f, "programs:  %zu attached through pinned links\n", json_array_size(progs));
	table_row(&t, "PIN", "ID", "TYPE", "ATTACH", "CGROUP", "PROGRAM");
	CTL_ARRAY_EACH (progs, i, p) {
		snprintf(id, sizeof(id), "%lld", num(p, "id"));
		snprintf(cg, sizeof(cg), "%lld", num(p, "cgroup_id"));
		table_row(&t, str(p, "pin"), id, str(p, "type"), str(p, "attach_type"), cg,
			  str(p, "prog_name"));
	}
	table_print(f, &t, "  ");
}

static void view_counters(FILE *f, const char *what, const json_t *c, const char *const *keys)
{
	fprintf(f, "  %-7s", what);
	if (!json_object_size(c))
		fprintf(f, " (none: not readable)");
	for (size_t i = 0; keys[i]; i++)
		if (json_object_get(c, keys[i]))
			fprintf(f, " %s=%lld", keys[i], num(c, keys[i]));
	fprintf(f, "\n");
}

void ctl_view_status(FILE *f, const json_t *st)
{
	static const char *const kernel[] = {"captured",   "direct",	     "fail_open",
					     "no_backend", "egress_blocked", "not_ready",
					     NULL};
	static const char *const proxy[] = {"accepted",	     "requests",     "responses_5xx",
					    "local_replies", "bad_requests", NULL};
	const json_t *a = json_object_get(st, "agent"), *k = json_object_get(st, "kernel");
	const json_t *rl = json_object_get(a, "reload"), *c = json_object_get(st, "counters");

	fprintf(f, "agent:     %s (admin %s: %s)\n",
		json_is_true(json_object_get(st, "up")) ? "up" : "DOWN", str(a, "admin"),
		!json_is_true(json_object_get(a, "reachable")) ? str(a, "error")
		: json_is_true(json_object_get(a, "ready"))    ? "ready"
							       : "not ready");
	if (json_is_object(k) && json_is_null(json_object_get(k, "heartbeat_age_ms")))
		fprintf(f,
			"kernel:    listener %s, no heartbeat: every service balanced in the "
			"kernel (fail open)\n",
			str(k, "listener") ? str(k, "listener") : "none");
	else if (json_is_object(k))
		fprintf(f,
			"kernel:    listener %s, heartbeat %lld ms ago (alive under %lld ms): %s\n",
			str(k, "listener") ? str(k, "listener") : "none",
			num(k, "heartbeat_age_ms"), num(k, "alive_ms"),
			json_is_true(json_object_get(k, "alive")) ? "alive" : "down (fail open)");
	if (json_object_get(a, "generation"))
		fprintf(f, "config:    generation %lld; reloads %lld ok, %lld refused\n",
			num(a, "generation"), num(rl, "ok"), num(rl, "refused"));
	if (str(rl, "lastError"))
		fprintf(f, "refused:   %s\n", str(rl, "lastError"));
	view_programs(f, json_object_get(st, "programs"));
	fprintf(f, "counters:\n");
	view_counters(f, "kernel", json_object_get(c, "kernel"), kernel);
	view_counters(f, "proxy", json_object_get(c, "proxy"), proxy);
}
