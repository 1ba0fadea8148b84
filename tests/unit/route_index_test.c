// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The candidate index against a reference: random VirtualServices with rich matches (uri
 * exact, prefix and regex with and without literal prefixes, anchored or not, alternations,
 * ignoreUriCase; method, authority, headers exact/prefix/regex/present, withoutHeaders,
 * queryParams, port, sourceLabels, sourceNamespace; match[] ORs; catch-alls) are written as
 * YAML, loaded and built, and for thousands of random requests route_select() must pick the
 * rule that a plain in-order evaluation of the generated rules picks, Istio's way (first
 * rule with a matching entry; NR when some entry applies to the client and none matches;
 * the default route when none applies). The reference here knows nothing of the router: it
 * reads the generated model, not the compiled table.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "config.h"
#include "gateway.h"
#include "log.h"
#include "regex.h"
#include "route.h"
#include "route_int.h"
#include "route_base.h"

#define MAX_ENTRIES  3
#define MAX_KV	     3
#define MAX_RULES    400
#define REQ_HDRS     8
#define NO_ROUTE     (-1) /* NR: entries apply, none matched */
#define DEFAULT	     (-2) /* nothing applies: the service itself */
#define GREETER_FQDN "greeter.default.svc.cluster.local"

enum { K_NONE, K_EXACT, K_PREFIX, K_REGEX, K_PRESENT };

struct g_str {
	int kind;
	char v[48];
	struct regex *re;
};

struct g_kv {
	char name[16];
	struct g_str m;
};

struct g_entry {
	struct g_str uri, method, authority;
	bool ignore_case;
	struct g_kv hdrs[MAX_KV], without[MAX_KV], qps[MAX_KV];
	int n_hdrs, n_without, n_qps;
	unsigned port;
	int labels; /* 0: none; else an index in label_sets */
	int ns;	    /* 0: none; else an index in namespaces */
};

struct g_rule {
	struct g_entry e[MAX_ENTRIES];
	int n_e; /* 0: a catch-all */
};

/* A generated VirtualService and what the test needs to route against it. */
static struct {
	struct g_rule rules[MAX_RULES];
	int n_rules;
	int n_names; /* header names in use: few (shared keys) or many (past the field cap) */
	uint32_t client_pct; /* how often an entry has each client condition */
	bool port_all;	     /* every entry names a port */
	bool gateway;	     /* through the agent\'s Gateway (route_select_gateway()) */
	uint64_t rng;
	struct labels agent; /* this agent serves the Gateway */
	long checked, matched, no_route, dflt;
} g;

static const char *const segs[] = {"api", "v1", "v2", "users", "Items", "x", "a", "b", "x.y", "v"};
static const char *const names[] = {"x-a", "x-b", "X-Mixed", "user-agent", "x-c", "x-d",
				    "x-e", "x-f", "x-g",     "x-h",	   "x-i", "x-j"};
static const char *const values[] = {"1", "2", "alpha", "beta", "al", "12"};
static const char *const qnames[] = {"q", "page", "Debug"};
static const char *const methods[] = {"GET", "POST", "PUT", "get"};
/* Regexes: literal prefixes, none, anchors, alternations, escapes, quantifiers. */
static const char *const uri_res[] = {
	"/api/v[0-9]+/.*", "^/api/(users|Items)",
	"/a|/b",	   "(?i)/API/.*",
	"/x\\.y.*",	   "/v1?/.*",
	".*users",	   "/[ab]/.*",
	"/api/v1/users",   "/Items/.+",
	"/a+/b",	   "^/api/v2$",
	"/api/v2/?",	   "/(api|x)/v1/.*",
	"/a\\|b|/x.*",	   "/a[|]b|/b.*",
	"/api/v{1}.*",
};
static const char *const val_res[] = {"al.*", "[0-9]+", "beta|1", ".*", "a?"};
static const char *const client_ips[] = {"10.0.9.1", "10.0.9.2", "10.0.9.3", "10.0.99.99"};
/* The clients' pods (base.yaml): labels and namespace; the last is no pod at all. */
static const char *const client_labels[][2] = {
	{"app=client", "tier=front"}, {"app=shopper", ""}, {"app=ops", ""}, {"", ""}};
static const char *const client_ns[] = {"default", "shop", "ops", NULL};
static const char *const label_sets[] = {NULL, "app=client", "app=shopper", "tier=front"};
static const char *const namespaces[] = {NULL, "default", "shop", "nowhere"};

static uint32_t rnd(uint32_t n)
{
	g.rng ^= g.rng << 13;
	g.rng ^= g.rng >> 7;
	g.rng ^= g.rng << 17;
	return (uint32_t)(g.rng % n);
}

static bool chance(uint32_t pct)
{
	return rnd(100) < pct;
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

/* A path of 1..3 segments, or a prefix of one. */
static void gen_path(char *out, size_t cap, bool cut)
{
	size_t n = 0;
	int segs_n = 1 + (int)rnd(3);

	for (int i = 0; i < segs_n; i++)
		n += (size_t)snprintf(out + n, cap - n, "/%s", PICK(segs));
	if (cut && n > 2 && chance(50))
		out[1 + rnd((uint32_t)n - 1)] = '\0';
	else if (chance(15))
		snprintf(out + n, cap - n, "/");
}

static void compile_re(struct g_str *s)
{
	char err[128];

	assert_int_equal(regex_compile(s->v, false, &s->re, err, sizeof(err)), 0);
}

static void gen_str(struct g_str *s, bool uri, bool present_ok)
{
	s->kind = 1 + (int)rnd(present_ok ? 4 : 3);
	if (uri) {
		if (s->kind == K_REGEX)
			snprintf(s->v, sizeof(s->v), "%s", PICK(uri_res));
		else
			gen_path(s->v, sizeof(s->v), s->kind == K_PREFIX);
		if (s->kind == K_PREFIX && chance(5))
			snprintf(s->v, sizeof(s->v), "/api?q");
	} else {
		snprintf(s->v, sizeof(s->v), "%s",
			 s->kind == K_REGEX ? PICK(val_res) : PICK(values));
	}
	if (s->kind == K_PRESENT)
		s->v[0] = '\0';
	else if (s->kind == K_REGEX)
		compile_re(s);
}

static void gen_kvs(struct g_kv *kv, int *n, int pct, bool query)
{
	while (*n < MAX_KV && chance(pct)) {
		const char *name = query ? PICK(qnames) : names[rnd((uint32_t)g.n_names)];
		bool dup = false;

		for (int i = 0; i < *n; i++)
			dup |= !strcasecmp(kv[i].name, name); /* one YAML map: names unique */
		if (dup)
			break;
		snprintf(kv[*n].name, sizeof(kv[*n].name), "%s", name);
		gen_str(&kv[(*n)++].m, false, true);
	}
}

static void gen_entry(struct g_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (chance(80))
		gen_str(&e->uri, true, false);
	e->ignore_case = e->uri.kind && e->uri.kind != K_REGEX && chance(20);
	if (chance(15)) {
		e->method.kind = chance(70) ? K_EXACT : K_PREFIX;
		snprintf(e->method.v, sizeof(e->method.v), "%s",
			 e->method.kind == K_EXACT ? PICK(methods) : "P");
	}
	if (chance(8)) {
		e->authority.kind = chance(50) ? K_EXACT : K_PREFIX;
		snprintf(e->authority.v, sizeof(e->authority.v), "%s",
			 e->authority.kind == K_EXACT ? "greeter" : "greet");
	}
	gen_kvs(e->hdrs, &e->n_hdrs, e->uri.kind ? 35 : 70, false);
	gen_kvs(e->without, &e->n_without, 10, false);
	gen_kvs(e->qps, &e->n_qps, 12, true);
	if (!e->uri.kind && !e->n_hdrs && !e->method.kind && chance(95))
		gen_str(&e->uri, true, false); /* entries that match everything: rarely */
	e->port = chance(g.client_pct) || g.port_all ? (chance(50) ? 3000 : 3001) : 0;
	e->labels = chance(g.client_pct) ? 1 + (int)rnd(3) : 0;
	e->ns = chance(g.client_pct) ? 1 + (int)rnd(3) : 0;
	if (g.gateway) { /* the Gateway's port is 8080; client conditions are the mesh's */
		e->port = e->port ? (chance(50) ? 8080 : 3001) : 0;
		e->labels = e->ns = 0;
	}
}

static void gen_vs(int n_rules)
{
	g.n_rules = n_rules;
	g.n_names = chance(30) ? 12 : 4;
	/* Some VirtualServices are mostly for some clients or ports: misses then take the
	 * default route for the others. */
	g.client_pct = chance(25) ? 60 : 7;
	g.port_all = chance(15);
	for (int r = 0; r < n_rules; r++) {
		struct g_rule *rule = &g.rules[r];
		bool last = r == n_rules - 1;

		rule->n_e = chance(last ? 20 : 0) || rnd(1000) < 2 ? 0 : 1 + (int)rnd(MAX_ENTRIES);
		for (int k = 0; k < rule->n_e; k++)
			gen_entry(&rule->e[k]);
	}
}

static void free_vs(void)
{
	for (int r = 0; r < g.n_rules; r++)
		for (int k = 0; k < g.rules[r].n_e; k++) {
			struct g_entry *e = &g.rules[r].e[k];

			regex_free(e->uri.re);
			for (int i = 0; i < e->n_hdrs; i++)
				regex_free(e->hdrs[i].m.re);
			for (int i = 0; i < e->n_without; i++)
				regex_free(e->without[i].m.re);
			for (int i = 0; i < e->n_qps; i++)
				regex_free(e->qps[i].m.re);
		}
	memset(g.rules, 0, sizeof(g.rules));
}

/* ---- the VirtualService as YAML ---- */

struct yb {
	char *p;
	size_t len, cap;
};

static void yp(struct yb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void yp(struct yb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->cap - b->len < 512) {
		b->cap = b->cap * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < b->cap - b->len);
	b->len += (size_t)n;
}

static void y_str(struct yb *b, const char *key, const struct g_str *s)
{
	static const char *const kinds[] = {"", "exact", "prefix", "regex"};

	if (s->kind == K_PRESENT)
		yp(b, "%s: {}", key);
	else
		yp(b, "%s: {%s: '%s'}", key, kinds[s->kind], s->v);
}

static void y_kvs(struct yb *b, const char *key, const struct g_kv *kv, int n)
{
	if (!n)
		return;
	yp(b, "      %s: {", key);
	for (int i = 0; i < n; i++) {
		yp(b, "%s", i ? ", " : "");
		y_str(b, kv[i].name, &kv[i].m);
	}
	yp(b, "}\n");
}

static void y_entry(struct yb *b, const struct g_entry *e)
{
	yp(b, "    - name: e\n");
	if (e->uri.kind) {
		yp(b, "      ");
		y_str(b, "uri", &e->uri);
		yp(b, "\n");
	}
	if (e->ignore_case)
		yp(b, "      ignoreUriCase: true\n");
	if (e->method.kind) {
		yp(b, "      ");
		y_str(b, "method", &e->method);
		yp(b, "\n");
	}
	if (e->authority.kind) {
		yp(b, "      ");
		y_str(b, "authority", &e->authority);
		yp(b, "\n");
	}
	y_kvs(b, "headers", e->hdrs, e->n_hdrs);
	y_kvs(b, "withoutHeaders", e->without, e->n_without);
	y_kvs(b, "queryParams", e->qps, e->n_qps);
	if (e->port)
		yp(b, "      port: %u\n", e->port);
	if (e->labels) {
		const char *l = label_sets[e->labels], *eq = strchr(l, '=');

		yp(b, "      sourceLabels: {%.*s: %s}\n", (int)(eq - l), l, eq + 1);
	}
	if (e->ns)
		yp(b, "      sourceNamespace: %s\n", namespaces[e->ns]);
}

/* Loads base.yaml and the generated VirtualService; builds the table and a worker. */
static void load_vs(struct config **cfg, struct route_table **rt, struct route_worker **w)
{
	struct yb b = {0};

	yp(&b,
	   "%s\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	   "metadata: {name: greeter, namespace: default}\nspec:\n  hosts: [greeter]\n"
	   "  gateways: [mesh, gw]\n  http:\n",
	   base);
	for (int r = 0; r < g.n_rules; r++) {
		yp(&b, "  - name: r%d\n", r);
		if (g.rules[r].n_e)
			yp(&b, "    match:\n");
		for (int k = 0; k < g.rules[r].n_e; k++)
			y_entry(&b, &g.rules[r].e[k]);
		yp(&b, "    route: [{destination: {host: greeter}}]\n");
	}
	yp(&b, "---\napiVersion: networking.istio.io/v1\nkind: Gateway\n"
	       "metadata: {name: gw, namespace: default}\nspec:\n"
	       "  selector: {istio: ingressgateway}\n"
	       "  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}]\n");
	if (config_load_buf("gen.yaml", b.p, b.len, cfg))
		fail_msg("the generated config does not load:\n%s", b.p);
	free(b.p);
	(*cfg)->agent_labels = &g.agent;
	assert_int_equal(route_table_build(*cfg, rt), 0);
	*w = route_worker_new(*rt, 7);
	assert_non_null(*w);
	route_worker_set_now(*w, 1000000);
}

/* ---- requests and the reference ---- */

static bool ref_applies(const struct g_entry *e, int client);

struct g_req {
	char url[128];
	const char *method;
	struct http_hdr hdrs[REQ_HDRS];
	char names[REQ_HDRS][16];
	size_t n_hdrs;
	int client;
};

/* What the reference reads of a request, parsed its own way. */
struct g_view {
	const char *path, *pathq, *query, *authority;
	size_t path_len, pathq_len, query_len, authority_len;
};

static void add_hdr(struct g_req *q, const char *name, const char *value)
{
	size_t i = q->n_hdrs++;

	snprintf(q->names[i], sizeof(q->names[i]), "%s", name);
	for (char *c = q->names[i]; *c; c++) /* names in any case */
		if (chance(20))
			*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	q->hdrs[i] = (struct http_hdr){q->names[i], strlen(q->names[i]), value, strlen(value)};
}

static void gen_req(struct g_req *q)
{
	static const char *const hvals[] = {"1", "2", "alpha", "beta", "al", "12", "", "gamma"};
	static const char *const queries[] = {
		"?q=1", "?q", "?page=2&q=alpha", "?Debug=x", "?q=12&q=1", "?", "?x=1"};
	char path[64];
	size_t n = 0;

	memset(q, 0, sizeof(*q));
	q->client = (int)rnd(4);
	q->method = chance(85) ? PICK(methods) : "DELETE";
	gen_path(path, sizeof(path), chance(20));
	for (char *c = path; *c; c++)
		if (chance(5))
			*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	if (chance(5) && !g.gateway)
		n += (size_t)snprintf(q->url, sizeof(q->url), "http://greeter:3000");
	n += (size_t)snprintf(q->url + n, sizeof(q->url) - n, "%s%s%s", path,
			      chance(30) ? PICK(queries) : "", chance(5) ? "#frag" : "");
	if (g.gateway) /* the Gateway picks the VirtualService by its host */
		add_hdr(q, "host", chance(80) ? GREETER_FQDN : GREETER_FQDN ":8080");
	else if (chance(90))
		add_hdr(q, "host",
			chance(80)   ? "greeter"
			: chance(50) ? "greeter:3000"
				     : "Greeter");
	while (q->n_hdrs < REQ_HDRS && chance(60))
		add_hdr(q, chance(85) ? names[rnd((uint32_t)g.n_names)] : "accept", PICK(hvals));
}

/* A value that @m likely matches (regexes: a guess). */
static const char *aimed_value(const struct g_str *m, char *buf, size_t cap)
{
	if (m->kind == K_EXACT)
		return m->v;
	if (m->kind == K_PREFIX) {
		snprintf(buf, cap, "%.40s%s", m->v, chance(50) ? "" : "zz");
		return buf;
	}
	return m->kind == K_REGEX && chance(50) ? "alpha" : "12";
}

/* A request meant to match entry @e (a client it applies to, its path, method, headers and
 * query), with a little noise: other rules and entries may still win, or it may miss. */
static void aim_req(struct g_req *q, const struct g_entry *e, char bufs[][48])
{
	size_t n = 0;
	int b = 0;

	for (int c = 0; c < 4; c++)
		if (ref_applies(e, c) && chance(70))
			q->client = c;
	if (e->uri.kind == K_EXACT || e->uri.kind == K_PREFIX)
		n = (size_t)snprintf(q->url, sizeof(q->url), "%s%s", e->uri.v,
				     e->uri.kind == K_PREFIX && chance(50) ? "/x" : "");
	else
		n = strcspn(q->url, "?#");
	for (int i = 0; i < e->n_qps && n < sizeof(q->url) - 40; i++)
		n += (size_t)snprintf(q->url + n, sizeof(q->url) - n, "%c%s=%s", i ? '&' : '?',
				      e->qps[i].name, aimed_value(&e->qps[i].m, bufs[b++], 48));
	if (e->method.kind == K_EXACT)
		q->method = e->method.v;
	for (int i = 0; i < e->n_hdrs && q->n_hdrs < REQ_HDRS; i++)
		add_hdr(q, e->hdrs[i].name, aimed_value(&e->hdrs[i].m, bufs[b++], 48));
}

static void view_of(const struct g_req *q, struct g_view *v)
{
	const char *u = q->url, *end, *p;
	const struct http_hdr *host = NULL;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < q->n_hdrs && !host; i++)
		if (!strcasecmp(q->names[i], "host"))
			host = &q->hdrs[i];
	if (!strncasecmp(u, "http://", 7)) {
		u += 7;
		v->authority = u;
		while (*u && *u != '/' && *u != '?' && *u != '#')
			u++;
		v->authority_len = (size_t)(u - v->authority);
	} else if (host) {
		v->authority = host->value;
		v->authority_len = host->value_len;
	}
	end = u + strcspn(u, "#");
	v->pathq = u;
	v->pathq_len = (size_t)(end - u);
	p = memchr(u, '?', v->pathq_len);
	v->path = u;
	v->path_len = p ? (size_t)(p - u) : v->pathq_len;
	if (p) {
		v->query = p + 1;
		v->query_len = (size_t)(end - p - 1);
	}
	if (!v->pathq_len) {
		v->path = v->pathq = "/";
		v->path_len = v->pathq_len = 1;
	}
}

static bool ref_str(const struct g_str *m, const char *s, size_t len, bool caseless)
{
	size_t vl = strlen(m->v);

	switch (m->kind) {
	case K_EXACT:
		return len == vl && (caseless ? !strncasecmp(s, m->v, vl) : !memcmp(s, m->v, vl));
	case K_PREFIX:
		return len >= vl && (caseless ? !strncasecmp(s, m->v, vl) : !memcmp(s, m->v, vl));
	case K_REGEX:
		return regex_full_match(m->re, s, len);
	default:
		return true;
	}
}

/* Header @name's values joined with "," into @buf; NULL when absent. */
static const char *ref_header(const struct g_req *q, const char *name, char *buf, size_t *len)
{
	size_t n = 0;
	bool seen = false;

	for (size_t i = 0; i < q->n_hdrs; i++) {
		if (strcasecmp(q->names[i], name))
			continue;
		if (seen)
			buf[n++] = ',';
		memcpy(buf + n, q->hdrs[i].value, q->hdrs[i].value_len);
		n += q->hdrs[i].value_len;
		seen = true;
	}
	*len = n;
	return seen ? buf : NULL;
}

/* The first raw value of query parameter @name, "" for a bare name; NULL when absent. */
static const char *ref_query(const struct g_view *v, const char *name, size_t *len)
{
	const char *p = v->query, *end = v->query + v->query_len;

	while (p && p <= end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *seg = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(seg - p));
		size_t klen = (size_t)((eq ? eq : seg) - p);

		if (klen == strlen(name) && !memcmp(p, name, klen)) {
			*len = eq ? (size_t)(seg - eq - 1) : 0;
			return eq ? eq + 1 : "";
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static bool has_label(int client, const char *label)
{
	return !strcmp(client_labels[client][0], label) || !strcmp(client_labels[client][1], label);
}

static bool ref_applies(const struct g_entry *e, int client)
{
	if (g.gateway)
		return !e->port || e->port == 8080;
	if (e->port && e->port != 3000)
		return false;
	if (e->labels && (client == 3 || !has_label(client, label_sets[e->labels])))
		return false;
	return !e->ns || (client_ns[client] && !strcmp(client_ns[client], namespaces[e->ns]));
}

static bool ref_kvs_hold(const struct g_req *q, const struct g_kv *kv, int n, bool invert)
{
	char buf[256];
	size_t len;

	for (int i = 0; i < n; i++) {
		const char *val = ref_header(q, kv[i].name, buf, &len);

		if (!invert && (!val || !ref_str(&kv[i].m, val, len, false)))
			return false;
		if (invert && !val && kv[i].m.kind != K_PRESENT && ref_str(&kv[i].m, "", 0, false))
			return false; /* withoutHeaders: a missing header counts as "" */
		if (invert && val &&
		    (kv[i].m.kind == K_PRESENT || ref_str(&kv[i].m, val, len, false)))
			return false;
	}
	return true;
}

static bool ref_matches(const struct g_entry *e, const struct g_req *q, const struct g_view *v)
{
	const char *val;
	size_t len;

	if (e->uri.kind == K_PREFIX ? !ref_str(&e->uri, v->pathq, v->pathq_len, e->ignore_case)
				    : !ref_str(&e->uri, v->path, v->path_len, e->ignore_case))
		return false;
	if (e->method.kind && !ref_str(&e->method, q->method, strlen(q->method), false))
		return false;
	if (e->authority.kind &&
	    (!v->authority || !ref_str(&e->authority, v->authority, v->authority_len, false)))
		return false;
	if (!ref_kvs_hold(q, e->hdrs, e->n_hdrs, false) ||
	    !ref_kvs_hold(q, e->without, e->n_without, true))
		return false;
	for (int i = 0; i < e->n_qps; i++) {
		val = ref_query(v, e->qps[i].name, &len);
		if (!val || !ref_str(&e->qps[i].m, val, len, false))
			return false;
	}
	return true;
}

/* Istio's decision: the first rule with a matching entry that applies, else NO_ROUTE when some
 * entry applies to the client, else DEFAULT. */
static int reference(const struct g_req *q)
{
	struct g_view v;
	bool applies = false;

	view_of(q, &v);
	for (int r = 0; r < g.n_rules; r++) {
		const struct g_rule *rule = &g.rules[r];

		if (!rule->n_e)
			return r;
		for (int k = 0; k < rule->n_e; k++) {
			if (!ref_applies(&rule->e[k], q->client))
				continue;
			applies = true;
			if (ref_matches(&rule->e[k], q, &v))
				return r;
		}
	}
	return applies || g.gateway ? NO_ROUTE : DEFAULT; /* a Gateway has no default route */
}

/* ---- the tests ---- */

/* What route_select() decided: the rule, NO_ROUTE or DEFAULT. */
static int routed(const struct route_table *rt, struct route_worker *w, const struct g_req *q)
{
	struct http_req req = {.method = q->method,
			       .method_len = strlen(q->method),
			       .url = q->url,
			       .url_len = strlen(q->url),
			       .hdrs = q->hdrs,
			       .n_hdrs = q->n_hdrs};
	struct route_req rq = {.req = &req, .dst_port = g.gateway ? 8080 : 3000};
	struct route_result res;

	assert_int_equal(inet_pton(AF_INET, client_ips[q->client], &rq.src_ip), 1);
	assert_int_equal(inet_pton(AF_INET, g.gateway ? "10.0.0.1" : "10.96.0.10", &rq.dst_ip), 1);
	if (g.gateway)
		assert_int_equal(route_select_gateway(rt, w, &rq, &res), 0);
	else
		assert_int_equal(route_select(rt, w, &rq, &res), 0);
	if (res.verdict == RV_FORWARD)
		route_done(w, &res, 200);
	if (res.rule)
		return (int)res.rule_index;
	return res.vs ? NO_ROUTE : DEFAULT;
}

/* @configs VirtualServices of @n_rules rules, @reqs requests each (@aimed percent aimed at an
 * entry), from @seed. */
static void differential(uint64_t seed, int configs, int n_rules, int reqs, uint32_t aimed)
{
	struct config *cfg;
	struct route_table *rt;
	struct route_worker *w;
	struct g_req q;

	g.rng = seed;
	for (int c = 0; c < configs; c++) {
		gen_vs(n_rules);
		load_vs(&cfg, &rt, &w);
		for (int i = 0; i < reqs; i++) {
			const struct g_rule *aim = &g.rules[rnd((uint32_t)g.n_rules)];
			char bufs[2 * MAX_KV][48];
			int want, got;

			gen_req(&q);
			if (aim->n_e && chance(aimed))
				aim_req(&q, &aim->e[rnd((uint32_t)aim->n_e)], bufs);
			want = reference(&q);
			got = routed(rt, w, &q);
			if (want != got)
				fail_msg(
					"seed %llu config %d (%d rules) request %d: %s %s from %s: "
					"route_select() %d, reference %d",
					(unsigned long long)seed, c, n_rules, i, q.method, q.url,
					client_ips[q.client], got, want);
			g.checked++;
			g.matched += want >= 0;
			g.no_route += want == NO_ROUTE;
			g.dflt += want == DEFAULT;
		}
		route_worker_free(w);
		route_table_free(rt);
		config_free(cfg);
		free_vs();
	}
}

static void small_virtual_services_scan_like_the_reference(void **state)
{
	differential(0x5eed0001, 30, 6, 400, 50); /* below the index threshold: a scan */
}

static void indexed_virtual_services_pick_the_reference_rule(void **state)
{
	differential(0x5eed0002, 12, 40, 800, 30);
	differential(0x5eed0003, 6, 150, 800, 30);
	differential(0x5eed0004, 3, 400, 1000, 30);
}

static void gateway_requests_pick_the_reference_rule(void **state)
{
	g.gateway = true;
	differential(0x5eed0006, 6, 60, 800, 50);
	differential(0x5eed0007, 6, 5, 300, 50);
	g.gateway = false;
}

/* Requests for the rules of a big VirtualService: each must match its own rule or an earlier
 * one, as the reference says, so that far more than misses are checked. */
static void requests_aimed_at_rules_agree(void **state)
{
	differential(0x5eed0005, 4, MAX_RULES, 1500, 90);
	print_message("%ld requests checked: %ld matched a rule, %ld no route, %ld default route\n",
		      g.checked, g.matched, g.no_route, g.dflt);
	/* every outcome was seen, often */
	assert_true(g.matched > g.checked / 4);
	assert_true(g.no_route > g.checked / 20);
	assert_true(g.dflt > 50);
}

/* A request no candidate matches must still tell NR from the default route by the entries the
 * index skipped: those for its port, those for its client. */
static void misses_see_skipped_entries_for_the_port_and_client(void **state)
{
	static const struct {
		unsigned port; /* of rules 0..9 */
		int client;
		int want;
	} cases[] = {
		{3000, 0, NO_ROUTE}, /* the port's entries apply */
		{3001, 0, DEFAULT},  /* none for this port, sourceLabels not the client's */
		{3001, 1, NO_ROUTE}, /* the shopper's entries apply */
		{3001, 3, DEFAULT},  /* no pod: no labels */
	};
	struct config *cfg;
	struct route_table *rt;
	struct route_worker *w;
	struct g_req q = {.url = "/nothing", .method = "GET"};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memset(g.rules, 0, sizeof(g.rules));
		g.n_rules = 20;
		for (int r = 0; r < g.n_rules; r++) {
			struct g_entry *e = &g.rules[r].e[0];

			g.rules[r].n_e = 1;
			e->uri.kind = K_EXACT;
			snprintf(e->uri.v, sizeof(e->uri.v), "/e%d", r);
			e->port = r < 10 ? cases[c].port : 0;
			e->labels = r < 10 ? 0 : 2; /* app=shopper */
		}
		load_vs(&cfg, &rt, &w);
		q.client = cases[c].client;
		assert_int_equal(routed(rt, w, &q), cases[c].want);
		snprintf(q.url, sizeof(q.url), "/e3");
		assert_int_equal(routed(rt, w, &q), cases[c].port == 3000 ? 3 : cases[c].want);
		snprintf(q.url, sizeof(q.url), "/nothing");
		route_worker_free(w);
		route_table_free(rt);
		config_free(cfg);
	}
}

static void regex_literal_prefixes(void **state)
{
	static const struct {
		const char *re, *prefix;
	} cases[] = {
		{"/api/v[0-9]+/", "/api/v"},
		{"^/api/v1/users$", "/api/v1/users"},
		{"/api/v1/users", "/api/v1/users"},
		{"/a|/b", ""},
		{"/api/(users|items)", "/api/"},
		{"(?i)/API", ""},
		{"/x\\.y.*", "/x.y"},
		{"/v1?/", "/v"},
		{"/v1*", "/v"},
		{"/v1+/", "/v1"},
		{"/v1{2}", "/v"},
		{".*users", ""},
		{"/a\\|b|/c", ""},
		{"/a[|]b|/c", ""},
		{"/a[|]b", "/a"},
		{"/[[:alpha:]]|x", ""},
		{"/\\d+", "/"},
		{"/caf\xc3\xa9/x", "/caf"},
		{"", ""},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = rt_regex_prefix(cases[i].re, out, sizeof(out));

		out[n] = '\0';
		if (strcmp(out, cases[i].prefix))
			fail_msg("regex \"%s\": prefix \"%s\", want \"%s\"", cases[i].re, out,
				 cases[i].prefix);
	}
}

static int group_setup(void **state)
{
	if (route_base_read())
		return -1;
	return gateway_labels_parse("istio=ingressgateway", &g.agent);
}

static int group_teardown(void **state)
{
	free(base);
	gateway_labels_release(&g.agent);
	regex_thread_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(regex_literal_prefixes),
		cmocka_unit_test(misses_see_skipped_entries_for_the_port_and_client),
		cmocka_unit_test(small_virtual_services_scan_like_the_reference),
		cmocka_unit_test(indexed_virtual_services_pick_the_reference_rule),
		cmocka_unit_test(gateway_requests_pick_the_reference_rule),
		cmocka_unit_test(requests_aimed_at_rules_agree),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
